//! Values recognised by how they start: provider and cloud keys, JWTs, IBANs, PEM
//! blocks, and e-mail addresses (recognised by their `@`).

use super::{
    Finding, Kind, ends_token, holds, holds_ignoring_case, is_word_byte, line_before, run_end,
};
use crate::key::{Env, RelayKey};

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// A token of `ok` bytes starting at `i` with `prefix`, at least `min_body` bytes
/// after the prefix and no more than `max_len` in all, ending at a token boundary.
fn token(
    b: &[u8],
    i: usize,
    prefix: &[u8],
    min_body: usize,
    max_len: usize,
    ok: impl Fn(u8) -> bool,
    kind: Kind,
) -> Option<Finding> {
    if !b[i..].starts_with(prefix) {
        return None;
    }
    let end = run_end(b, i + prefix.len(), max_len - prefix.len(), ok);
    (end - i - prefix.len() >= min_body && ends_token(b, end) && end < i + max_len).then_some(
        Finding {
            kind,
            start: i,
            end,
        },
    )
}

/// Words starting with an upper-case letter: AWS access key ids, Google API keys,
/// IBANs.
pub(super) fn upper(b: &[u8], i: usize) -> Option<Finding> {
    let rest = &b[i..];
    if rest.len() >= 20 {
        for prefix in [b"AKIA", b"ASIA", b"AGPA", b"AIDA", b"AROA", b"ANPA"] {
            if rest.starts_with(prefix)
                && rest[4..20]
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && ends_token(b, i + 20)
            {
                return Some(Finding {
                    kind: Kind::AwsAccessKey,
                    start: i,
                    end: i + 20,
                });
            }
        }
    }
    if let Some(found) = token(b, i, b"AIza", 35, 4 + 36, is_key_byte, Kind::GoogleApiKey) {
        return Some(found);
    }
    match b[i] {
        b'B' | b'T' => authorization(b, i),
        b'S' => sendgrid(b, i).or_else(|| hex_token(b, i, b"SK", 32, Kind::TwilioKey)),
        b'A' => hex_token(b, i, b"AC", 32, Kind::TwilioKey).or_else(|| {
            token(
                b,
                i,
                b"ATATT",
                100,
                400,
                |c| is_key_byte(c) || c == b'=',
                Kind::AtlassianToken,
            )
        }),
        _ => None,
    }
    .or_else(|| iban(b, i))
}

/// `Bearer <token>`, and `Basic <base64>` or `Token <token>` after an
/// `Authorization` header name: the credential after the scheme.
fn authorization(b: &[u8], i: usize) -> Option<Finding> {
    let (scheme, needs_header): (&[u8], bool) = if b[i..].starts_with(b"Bearer ") {
        (b"Bearer ", false)
    } else if b[i..].starts_with(b"Basic ") {
        (b"Basic ", true)
    } else if b[i..].starts_with(b"Token ") {
        (b"Token ", true)
    } else {
        return None;
    };
    if needs_header {
        let from = i.saturating_sub(24);
        if !holds_ignoring_case(&b[from..i], b"authorization") {
            return None;
        }
    }
    let start = i + scheme.len();
    if b[start..].starts_with(b"eyJ") {
        // A JWT: its own rule names it.
        return None;
    }
    let end = run_end(b, start, 4096, |c| {
        c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)
    });
    let token = &b[start..end];
    let mixed = token.iter().any(u8::is_ascii_digit) && token.iter().any(u8::is_ascii_alphabetic);
    (token.len() >= 16 && mixed && ends_token(b, end)).then_some(Finding {
        kind: Kind::Secret,
        start,
        end,
    })
}

/// Mailgun's newer keys: 32 hex digits, then two groups of 8 (`…-2ba04293-89a4a054`).
pub(super) fn mailgun_key(b: &[u8], i: usize) -> Option<Finding> {
    if b.get(i + 32) != Some(&b'-') || b.get(i + 41) != Some(&b'-') {
        return None;
    }
    let hex = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|r| r.iter().all(u8::is_ascii_hexdigit))
    };
    (hex(i..i + 32) && hex(i + 33..i + 41) && hex(i + 42..i + 50) && ends_token(b, i + 50))
        .then_some(Finding {
            kind: Kind::MailgunKey,
            start: i,
            end: i + 50,
        })
}

/// `prefix` then exactly `len` hexadecimal digits (either case), a whole token.
fn hex_token(b: &[u8], i: usize, prefix: &[u8], len: usize, kind: Kind) -> Option<Finding> {
    if !b[i..].starts_with(prefix) {
        return None;
    }
    let body = i + prefix.len();
    let end = run_end(b, body, len + 1, |c| c.is_ascii_hexdigit());
    (end - body == len && ends_token(b, end)).then_some(Finding {
        kind,
        start: i,
        end,
    })
}

/// `SG.` + 22 + `.` + 43 base64url characters.
fn sendgrid(b: &[u8], i: usize) -> Option<Finding> {
    if !b[i..].starts_with(b"SG.") {
        return None;
    }
    let first = run_end(b, i + 3, 23, is_key_byte);
    if first - (i + 3) != 22 || b.get(first) != Some(&b'.') {
        return None;
    }
    let end = run_end(b, first + 1, 44, is_key_byte);
    (end - (first + 1) == 43 && ends_token(b, end)).then_some(Finding {
        kind: Kind::SendgridKey,
        start: i,
        end,
    })
}

/// `GB82 WEST 1234 5698 7654 32` or `GB82WEST12345698765432`, mod-97 checked.
fn iban(b: &[u8], i: usize) -> Option<Finding> {
    let head = b.get(i..i + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    // Collect up to 34 alphanumerics, allowing single spaces between groups of 4.
    let mut chars = [0u8; 34];
    let mut count = 0;
    let mut j = i;
    let mut end = i;
    while j < b.len() && count < chars.len() {
        let c = b[j];
        if c.is_ascii_uppercase() || c.is_ascii_digit() {
            chars[count] = c;
            count += 1;
            j += 1;
            end = j;
        } else if c == b' '
            && count.is_multiple_of(4)
            && b.get(j + 1)
                .is_some_and(|n| n.is_ascii_uppercase() || n.is_ascii_digit())
        {
            j += 1;
        } else {
            break;
        }
    }
    if !(15..=34).contains(&count) || !ends_token(b, end) {
        return None;
    }
    iban_checksum_ok(&chars[..count]).then_some(Finding {
        kind: Kind::Iban,
        start: i,
        end,
    })
}

/// ISO 13616: move the first four characters to the end, read letters as 10..35,
/// and the number mod 97 must be 1.
pub(crate) fn iban_checksum_ok(chars: &[u8]) -> bool {
    let mut remainder: u32 = 0;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        let value = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Words starting with one of `c d e g h k n p r s x`: Airlock, OpenAI,
/// Anthropic, Stripe, GitHub, Slack, Shopify, PyPI, npm, Hugging Face, Mailgun,
/// Docker Hub and DigitalOcean tokens, and JWTs.
pub(super) fn lower(b: &[u8], i: usize) -> Option<Finding> {
    let rest = &b[i..];
    if airlock_prefix(rest)
        && let Some(found) = airlock_key(b, i)
    {
        return Some(found);
    }
    match b[i] {
        b's' => token(b, i, b"sk-ant-", 20, 200, is_key_byte, Kind::AnthropicKey)
            .or_else(|| token(b, i, b"sk-", 20, 200, is_key_byte, Kind::OpenAiKey))
            .or_else(|| stripe(b, i, b"sk_"))
            .or_else(|| {
                [b"shpat_", b"shpca_", b"shppa_", b"shpss_"]
                    .into_iter()
                    .find_map(|p| hex_token(b, i, p, 32, Kind::ShopifyToken))
            }),
        b'p' => token(b, i, b"pypi-", 50, 400, is_key_byte, Kind::PypiToken),
        b'n' => token(
            b,
            i,
            b"npm_",
            36,
            4 + 37,
            |c| c.is_ascii_alphanumeric(),
            Kind::NpmToken,
        ),
        b'h' => token(
            b,
            i,
            b"hf_",
            30,
            3 + 41,
            |c| c.is_ascii_alphanumeric(),
            Kind::HuggingFaceToken,
        ),
        b'k' => token(
            b,
            i,
            b"key-",
            32,
            4 + 33,
            |c| c.is_ascii_alphanumeric(),
            Kind::MailgunKey,
        ),
        b'd' => token(
            b,
            i,
            b"dckr_pat_",
            20,
            120,
            is_key_byte,
            Kind::DockerHubToken,
        )
        .or_else(|| {
            [b"dop_v1_", b"doo_v1_", b"dor_v1_"]
                .into_iter()
                .find_map(|p| hex_token(b, i, p, 64, Kind::DigitalOceanToken))
        }),
        b'r' => stripe(b, i, b"rk_"),
        b'g' => [b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"]
            .into_iter()
            .find_map(|p| token(b, i, p, 30, 255, is_key_byte, Kind::GithubToken))
            .or_else(|| {
                token(
                    b,
                    i,
                    b"github_pat_",
                    22,
                    255,
                    is_key_byte,
                    Kind::GithubToken,
                )
            }),
        b'x' => [b"xoxb-", b"xoxp-", b"xoxa-", b"xoxr-", b"xoxs-", b"xapp-"]
            .into_iter()
            .find_map(|p| token(b, i, p, 10, 255, is_key_byte, Kind::SlackToken)),
        b'e' => jwt(b, i),
        _ => None,
    }
}

/// `<env>_` for any environment. [`super::at_word_start`] routes words to
/// [`lower`] by their first letter, so each environment's first letter must be
/// one of its letters (a test checks a key of every environment is found).
fn airlock_prefix(rest: &[u8]) -> bool {
    Env::ALL.iter().any(|env| {
        let name = env.as_str().as_bytes();
        rest.starts_with(name) && rest.get(name.len()) == Some(&b'_')
    })
}

/// An Airlock key whose checksum is right: that cannot be an accident.
fn airlock_key(b: &[u8], i: usize) -> Option<Finding> {
    let end = run_end(b, i, 48, |c| c.is_ascii_alphanumeric() || c == b'_');
    if !ends_token(b, end) {
        return None;
    }
    let text = std::str::from_utf8(&b[i..end]).ok()?;
    RelayKey::parse(text).ok().map(|_| Finding {
        kind: Kind::AirlockKey,
        start: i,
        end,
    })
}

fn stripe(b: &[u8], i: usize, prefix: &[u8]) -> Option<Finding> {
    if !b[i..].starts_with(prefix) {
        return None;
    }
    let rest = &b[i + prefix.len()..];
    let mode_len = if rest.starts_with(b"live_") || rest.starts_with(b"test_") {
        5
    } else {
        return None;
    };
    let body = i + prefix.len() + mode_len;
    let end = run_end(b, body, 255, |c| c.is_ascii_alphanumeric());
    (end - body >= 16 && ends_token(b, end)).then_some(Finding {
        kind: Kind::StripeKey,
        start: i,
        end,
    })
}

/// `eyJ…`.`eyJ…`.`…`: a base64url JSON header and payload, and a signature.
fn jwt(b: &[u8], i: usize) -> Option<Finding> {
    if !b[i..].starts_with(b"eyJ") {
        return None;
    }
    let mut j = i;
    for segment in 0..3 {
        let end = run_end(b, j, 8192, is_key_byte);
        let min = if segment == 2 { 0 } else { 10 };
        if end - j < min {
            return None;
        }
        j = end;
        if segment < 2 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    // The payload is JSON too.
    let payload_start = b[i..j].iter().position(|&c| c == b'.')? + i + 1;
    if !b[payload_start..].starts_with(b"eyJ") {
        return None;
    }
    Some(Finding {
        kind: Kind::Jwt,
        start: i,
        end: j,
    })
}

/// `-----BEGIN … PRIVATE KEY-----` through its `-----END … -----` line (or the end
/// of the text when the block was cut off: half a key is still a secret).
pub(super) fn pem_private_key(b: &[u8], i: usize) -> Option<Finding> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    if !b[i..].starts_with(BEGIN) {
        return None;
    }
    let label_start = i + BEGIN.len();
    let label_end = run_end(b, label_start, 64, |c| c != b'-' && c != b'\n');
    if !b[label_start..label_end].ends_with(b"PRIVATE KEY") || !b[label_end..].starts_with(b"-----")
    {
        return None;
    }
    let body = label_end + 5;
    let end = find(&b[body..], b"-----END ")
        .and_then(|at| {
            let tail = body + at + 9;
            find(&b[tail..], b"-----").map(|close| tail + close + 5)
        })
        .unwrap_or(b.len());
    // Inside a JSON string (a service-account file), the key is the string's
    // whole content: its trailing `\n` escape goes too.
    let end = if i > 0 && b[i - 1] == b'"' {
        let close = run_end(b, end, 8, |c| c != b'"' && c != b'\n');
        if b.get(close) == Some(&b'"') {
            close
        } else {
            end
        }
    } else {
        end
    };
    Some(Finding {
        kind: Kind::PrivateKey,
        start: i,
        end,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The line before `at` runs `ssh`, `scp`, `sftp` or `rsync`: `user@host` there
/// is a login, not an address.
fn ssh_command_before(b: &[u8], at: usize) -> bool {
    let line = line_before(b, at, 128);
    [b"ssh ".as_slice(), b"scp ", b"sftp ", b"rsync "]
        .iter()
        .any(|cmd| holds(line, cmd))
}

/// `local@domain.tld`, found from its `@`. The local part is looked for backwards
/// (at most 64 bytes, never before `floor`).
pub(super) fn email(b: &[u8], at: usize, floor: usize) -> Option<Finding> {
    email_around(b, at, at + 1, floor)
}

/// An address whose `@` is written `%40` (in a URL or a form body).
pub(super) fn percent_encoded_email(b: &[u8], percent: usize, floor: usize) -> Option<Finding> {
    if b.get(percent + 1..percent + 3) != Some(b"40".as_slice()) {
        return None;
    }
    email_around(b, percent, percent + 3, floor)
}

/// The local part ends at `at`; the domain starts at `domain`.
fn email_around(b: &[u8], at: usize, domain: usize, floor: usize) -> Option<Finding> {
    let is_local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let mut start = at;
    while start > floor && at - start < 64 && is_local(b[start - 1]) {
        start -= 1;
    }
    while start < at && b[start] == b'.' {
        start += 1;
    }
    if start == at || (start > 0 && is_word_byte(b[start - 1])) {
        return None;
    }
    // `postgres://app@db.internal:5432`: the user part of a URL, not an address.
    if start >= 3 && &b[start - 3..start] == b"://" {
        return None;
    }
    // Domain: labels of [A-Za-z0-9-] joined by dots, the last one alphabetic.
    let mut j = domain;
    let mut labels = 0;
    let mut last_label = (j, j);
    loop {
        let label_start = j;
        let end = run_end(b, j, 63, |c| c.is_ascii_alphanumeric() || c == b'-');
        if end == label_start {
            break;
        }
        labels += 1;
        last_label = (label_start, end);
        j = end;
        if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) {
            j += 1;
        } else {
            break;
        }
    }
    let tld = &b[last_label.0..last_label.1];
    // `git@github.com:org/repo.git`, `deploy@web-03:/srv`: a host path, not mail;
    // `ssh ubuntu@bastion.example.dev`: a login.
    let host_path = b.get(last_label.1) == Some(&b':') && {
        let rest = &b[last_label.1..b.len().min(last_label.1 + 256)];
        let token_end = rest
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(rest.len());
        rest[..token_end].contains(&b'/')
    };
    if host_path || ssh_command_before(b, start) {
        return None;
    }
    if labels < 2 || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    Some(Finding {
        kind: Kind::Email,
        start,
        end: last_label.1,
    })
}
