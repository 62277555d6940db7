//! What a `:` or `=` can start: the password of a connection string, an IPv6
//! address, or a secret assigned to a key-like name (`api_key = "…"`,
//! `"password": "…"`, `AWS_SECRET_ACCESS_KEY=…`).

use std::net::Ipv6Addr;

use super::{Finding, Kind, holds, holds_ignoring_case, is_word_byte, line_before, run_end};

/// Names whose value is a credential: matched as lower-case substrings of the
/// name, in English, German, French, Spanish and Portuguese spellings.
const SECRET_NAMES: [&[u8]; 17] = [
    b"secret",
    b"token",
    b"apikey",
    b"api_key",
    b"api-key",
    b"access_key",
    b"accesskey",
    b"private_key",
    b"privatekey",
    b"credential",
    b"auth_key",
    b"signing_key",
    b"geheim",
    b"schluessel",
    b"schl\xC3\xBCssel",
    b"secreto",
    b"sharedaccesskey",
];
/// Substrings that make a name a password's.
const PASSWORD_NAMES: [&[u8]; 12] = [
    b"password",
    b"passwd",
    b"passwort",
    b"kennwort",
    b"passphrase",
    b"passcode",
    b"contrase",
    b"senha",
    b"motdepasse",
    b"mot_de_passe",
    b"mot-de-passe",
    b"losung",
];
/// Whole parts of a name (split at `_`, `-`, `.` and camelCase) that make it a
/// password's: `db_pw`, `SMTP_PASS`, `adminPwd`, `mdp`, `clave`.
const PASSWORD_PARTS: [&[u8]; 7] = [b"pass", b"pw", b"pwd", b"pword", b"mdp", b"clave", b"passw"];
/// A last part that makes a name a key's: `DD_APP_KEY`, `license_key`.
const KEY_PARTS: [&[u8]; 5] = [b"key", b"token", b"secret", b"auth", b"appid"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Password,
    Secret,
    AzureAccountKey,
    /// `ssn`, `social_security_number`: nine digits written without dashes.
    Ssn,
}

fn name_kind(name: &[u8]) -> Option<NameKind> {
    let contains = |needle: &[u8]| holds_ignoring_case(name, needle);
    if contains(b"accountkey") || contains(b"account-key") || contains(b"account_key") {
        return Some(NameKind::AzureAccountKey);
    }
    // `private_key_id`, `accessKeyId`, `token_uri`: the name of an identifier or
    // an address, not of a secret.
    if name_parts(name).last().is_some_and(|part| {
        [
            b"id".as_slice(),
            b"uri",
            b"url",
            b"endpoint",
            b"file",
            b"path",
        ]
        .iter()
        .any(|p| part.eq_ignore_ascii_case(p))
    }) {
        return None;
    }
    if PASSWORD_NAMES.iter().any(|n| contains(n)) {
        return Some(NameKind::Password);
    }
    if contains(b"social_security") || name_parts(name).any(|p| p.eq_ignore_ascii_case(b"ssn")) {
        return Some(NameKind::Ssn);
    }
    if SECRET_NAMES.iter().any(|n| contains(n)) {
        return Some(NameKind::Secret);
    }
    let mut last = None;
    let mut password = false;
    for part in name_parts(name) {
        password |= PASSWORD_PARTS.iter().any(|p| part.eq_ignore_ascii_case(p));
        last = Some(part);
    }
    if password {
        return Some(NameKind::Password);
    }
    last.filter(|part| KEY_PARTS.iter().any(|p| part.eq_ignore_ascii_case(p)))
        .map(|_| NameKind::Secret)
}

/// The parts of an identifier: split at `_`, `-`, `.` and lower-to-upper changes.
fn name_parts(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < name.len() {
            let c = name[i];
            let boundary = matches!(c, b'_' | b'-' | b'.');
            let camel = i > start && c.is_ascii_uppercase() && name[i - 1].is_ascii_lowercase();
            if boundary || camel {
                let part = &name[start..i];
                start = if boundary { i + 1 } else { i };
                i += 1;
                if !part.is_empty() {
                    return Some(part);
                }
                continue;
            }
            i += 1;
        }
        if start < name.len() {
            let part = &name[start..];
            start = name.len();
            return Some(part);
        }
        None
    })
}

/// Looks at a `:`: `scheme://user:password@host`, then IPv6, then `name: value`.
pub(super) fn after_colon(b: &[u8], i: usize, floor: usize) -> Option<Finding> {
    if b[i + 1..].starts_with(b"//") {
        return webhook_url(b, i, floor).or_else(|| connection_password(b, i, floor));
    }
    ipv6(b, i, floor).or_else(|| assignment(b, i, floor))
}

/// `postgres://app:s3cret@db:5432/x`: only the password is a finding, so the
/// user, host and database stay readable to the model.
fn connection_password(b: &[u8], colon: usize, floor: usize) -> Option<Finding> {
    let scheme_start = {
        let mut s = colon;
        while s > floor && colon - s < 32 && is_scheme_byte(b[s - 1]) {
            s -= 1;
        }
        s
    };
    if colon - scheme_start < 2 {
        return None;
    }
    let authority = colon + 3;
    let end = run_end(b, authority, 256, |c| {
        !c.is_ascii_whitespace() && !b"/?#\"'<>`".contains(&c)
    });
    let at = b[authority..end].iter().rposition(|&c| c == b'@')? + authority;
    let user_end = b[authority..at].iter().position(|&c| c == b':')? + authority;
    let password_start = user_end + 1;
    (at > password_start).then_some(Finding {
        kind: Kind::ConnectionPassword,
        start: password_start,
        end: at,
    })
}

/// Hosts and paths of incoming-webhook URLs: whoever has the URL can post.
const WEBHOOKS: [(&[u8], &[u8]); 6] = [
    // Teams' "Workflows" webhooks (Power Automate), signed in the query.
    (b".logic.azure.com", b"/workflows/"),
    (b"hooks.slack.com", b"/services/"),
    (b"hooks.slack.com", b"/workflows/"),
    (b"discord.com", b"/api/webhooks/"),
    (b"discordapp.com", b"/api/webhooks/"),
    (b".webhook.office.com", b"/webhook"),
];

/// `https://hooks.slack.com/services/T…/B…/…` and the like: the whole URL.
fn webhook_url(b: &[u8], colon: usize, floor: usize) -> Option<Finding> {
    let scheme = |len: usize, name: &[u8]| {
        colon
            .checked_sub(len)
            .filter(|&s| s >= floor && b[s..colon].eq_ignore_ascii_case(name))
    };
    let scheme_start = scheme(5, b"https").or_else(|| scheme(4, b"http"))?;
    let host_start = colon + 3;
    let host_end = run_end(b, host_start, 253, |c| {
        c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
    });
    let host = &b[host_start..host_end];
    // An explicit port (`:443`) before the path.
    let host_end = if b.get(host_end) == Some(&b':') {
        run_end(b, host_end + 1, 6, |c| c.is_ascii_digit())
    } else {
        host_end
    };
    let end = run_end(b, host_end, 1024, |c| {
        !c.is_ascii_whitespace() && !b"\"'<>`)]},;".contains(&c)
    });
    // A URL as long as the look-ahead is not one this rule understands (and a
    // cut there could fall inside a character).
    if end - host_end >= 1024 {
        return None;
    }
    let path = &b[host_end..end];
    let known = WEBHOOKS.iter().any(|(h, p)| {
        (host.eq_ignore_ascii_case(h)
            || (h.starts_with(b".")
                && host.len() > h.len()
                && host[host.len() - h.len()..].eq_ignore_ascii_case(h)))
            && path.starts_with(p)
    }) || (host.eq_ignore_ascii_case(b"outlook.office.com")
        && path.starts_with(b"/webhook/"));
    // The URL must carry more than the bare path: the token part.
    (known && path.len() >= 20).then_some(Finding {
        kind: Kind::WebhookUrl,
        start: scheme_start,
        end,
    })
}

fn is_scheme_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'.' || c == b'-'
}

fn is_ipv6_byte(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':'
}

/// An IPv6 address around the `:` at `i` (`2001:db8::1`, `fe80::1ff:fe23:4567:890a`,
/// `::ffff:192.0.2.1`).
fn ipv6(b: &[u8], i: usize, floor: usize) -> Option<Finding> {
    let mut start = i;
    while start > floor && i - start < 39 && is_ipv6_byte(b[start - 1]) {
        start -= 1;
    }
    if start > 0 && (is_word_byte(b[start - 1]) || b[start - 1] == b'.') {
        return None;
    }
    let end = run_end(b, i, 45, |c| is_ipv6_byte(c) || c == b'.');
    // A sentence may end right after the address.
    let mut end = end;
    while end > i && b[end - 1] == b'.' {
        end -= 1;
    }
    if end < b.len() && is_word_byte(b[end]) {
        return None;
    }
    let candidate = &b[start..end];
    let colons = candidate.iter().filter(|&&c| c == b':').count();
    let hex_digits = candidate.iter().filter(|c| c.is_ascii_hexdigit()).count();
    if colons < 2 || hex_digits < 2 {
        return None;
    }
    let text = std::str::from_utf8(candidate).ok()?;
    // A network (`2001:db8::/32`) is not a host; `::1` and `::` name no one.
    if b.get(end) == Some(&b'/') {
        return None;
    }
    text.parse::<Ipv6Addr>()
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map(|_| Finding {
            kind: Kind::IpAddress,
            start,
            end,
        })
}

/// `name = value` or `name: value` where the name looks like it holds a
/// credential and the value looks like one (and not like a reference to one:
/// `${DB_PASSWORD}`, `os.environ["X"]`, `{{ secrets.X }}`).
pub(super) fn assignment(b: &[u8], op: usize, floor: usize) -> Option<Finding> {
    let mut name = name_before(b, op, floor)?;
    // `arn:aws:secretsmanager:…`, `urn:…`: a colon-separated identifier, not
    // `name: value`.
    if b[op] == b':' {
        let name_start = name.as_ptr() as usize - b.as_ptr() as usize;
        if name_start > 0 && b[name_start - 1] == b':' {
            return None;
        }
    }
    // `<add key="DbPassword" value="…"/>`, `<property name="authToken" value="…"/>`:
    // the name is another attribute of the same tag.
    if name.eq_ignore_ascii_case(b"value") {
        name = attribute_name_in_tag(b, op, floor).unwrap_or(name);
    }
    let name_kind = name_kind(name)?;
    let (mut start, mut end, mut quoted) = value_after(b, op)?;
    // `bytes.fromhex("…")`, `Buffer.from('…')`: the literal inside the call.
    if !quoted && b.get(end) == Some(&b'(') {
        let call = &b[start..end];
        let (s, e, q) = value_after(b, end)?;
        let env_lookup = [b"env".as_slice(), b"get", b"secret", b"vault", b"config"]
            .iter()
            .any(|w| holds_ignoring_case(call, w));
        if !q || env_lookup || !looks_random(&b[s..e]) {
            return None;
        }
        (start, end, quoted) = (s, e, q);
    }
    let value = &b[start..end];
    if is_reference_or_placeholder(value, quoted) {
        return None;
    }
    let contains = |needle: &[u8]| holds_ignoring_case(name, needle);
    let kind = if name_kind == NameKind::Secret
        && contains(b"aws")
        && contains(b"secret")
        && value.len() == 40
    {
        Kind::AwsSecretKey
    } else {
        name_kind.judge(value)?
    };
    Some(Finding { kind, start, end })
}

impl NameKind {
    /// What a value assigned to a name of this kind is, if it looks like one:
    /// the same judgement wherever the name and the value were found.
    fn judge(self, value: &[u8]) -> Option<Kind> {
        match self {
            NameKind::Password => looks_like_password(value).then_some(Kind::Secret),
            NameKind::AzureAccountKey => (value.len() >= 40).then_some(Kind::AzureStorageKey),
            NameKind::Ssn => super::numbers::is_ssn_digits(value).then_some(Kind::Ssn),
            NameKind::Secret => looks_random(value).then_some(Kind::Secret),
        }
    }
}

/// The value of a `name="…"` or `key="…"` attribute earlier in the tag around `op`.
fn attribute_name_in_tag(b: &[u8], op: usize, floor: usize) -> Option<&[u8]> {
    let from = op.saturating_sub(160).max(floor);
    let tag_start = b[from..op].iter().rposition(|&c| c == b'<')? + from;
    let tag = &b[tag_start..op];
    for attr in [b"name=\"".as_slice(), b"key=\""] {
        if let Some(at) = tag
            .windows(attr.len())
            .position(|w| w.eq_ignore_ascii_case(attr))
        {
            let start = at + attr.len();
            let len = tag[start..].iter().position(|&c| c == b'"')?;
            return Some(&tag[start..start + len]);
        }
    }
    None
}

/// A value that stands for a secret without being one: a variable reference, a
/// template, an environment lookup, a member access, or a placeholder word.
fn is_reference_or_placeholder(value: &[u8], quoted: bool) -> bool {
    const STARTS: [&[u8]; 9] = [
        b"$",
        b"%",
        b"{{",
        b"<",
        b"#{",
        b"@",
        // Secret-manager references and Stripe's publishable (public) keys.
        b"arn:",
        b"pk_live_",
        b"pk_test_",
    ];
    const CONTAINS: [&[u8]; 9] = [
        b"environ",
        b"process.env",
        b"getenv",
        b"env(",
        b"env[",
        b"env.",
        b"secrets.",
        b"vault:",
        b"ssm:",
    ];
    // Words that mark an example value: `your-api-key-here`, `<token>`, `xxx`.
    const PLACEHOLDER_PARTS: [&[u8]; 6] = [
        b"your",
        b"here",
        b"placeholder",
        b"xxxx",
        b"replace",
        b"dummy",
    ];
    const PLACEHOLDERS: [&[u8]; 14] = [
        b"changeme",
        b"change_me",
        b"change-me",
        b"password",
        b"secret",
        b"required",
        b"optional",
        b"redacted",
        b"your_password",
        b"your-password",
        b"yourpassword",
        b"null",
        b"none",
        b"example",
    ];
    if STARTS.iter().any(|s| value.starts_with(s)) {
        return true;
    }
    let lower_contains = |needle: &[u8]| holds_ignoring_case(value, needle);
    if CONTAINS.iter().any(|n| lower_contains(n)) || lower_contains(b"/secrets/") {
        return true;
    }
    // `redis-password`, `settings.SECRET_KEY`: a value that names a secret is a
    // reference to one (a generated value does not spell these words).
    if !looks_random_strict(value)
        && [
            b"password".as_slice(),
            b"secret",
            b"token",
            b"apikey",
            b"api_key",
        ]
        .iter()
        .any(|w| lower_contains(w))
    {
        return true;
    }
    if PLACEHOLDERS.iter().any(|p| value.eq_ignore_ascii_case(p))
        || value.iter().all(|&c| c == value[0])
        || PLACEHOLDER_PARTS.iter().any(|p| lower_contains(p))
    {
        return true;
    }
    // `self.password`, `config.db.pass`, `db_password`: a member access or a
    // variable in code, not a value (lower-case identifiers without digits).
    let identifier = |part: &[u8]| {
        part.first()
            .is_some_and(|c| c.is_ascii_lowercase() || *c == b'_')
            && part.iter().all(|&c| c.is_ascii_lowercase() || c == b'_')
    };
    if !quoted
        && (value.contains(&b'.') || value.contains(&b'_'))
        && value.split(|&c| c == b'.').all(identifier)
    {
        return true;
    }
    // A URL is an endpoint, not a credential (`token_uri`); credentials inside
    // URLs are found as connection-string passwords.
    lower_contains(b"://")
}

/// The identifier before `op`, skipping spaces and one closing quote.
fn name_before(b: &[u8], op: usize, floor: usize) -> Option<&[u8]> {
    let mut end = op;
    while end > floor && b[end - 1] == b' ' {
        end -= 1;
    }
    if end > floor && (b[end - 1] == b'"' || b[end - 1] == b'\'') {
        end -= 1;
    }
    let mut start = end;
    while start > floor
        && end - start < 48
        && (is_word_byte(b[start - 1])
            || b[start - 1] >= 0x80
            || b[start - 1] == b'-'
            || b[start - 1] == b'.')
    {
        start -= 1;
    }
    (start < end).then(|| &b[start..end])
}

/// The value after `op`: optional spaces, then a quoted string or a bare token
/// (start, end, quoted).
fn value_after(b: &[u8], op: usize) -> Option<(usize, usize, bool)> {
    let mut j = op + 1;
    // Go's `:=`.
    if b.get(op) == Some(&b':') && b.get(j) == Some(&b'=') {
        j += 1;
    }
    while j < b.len() && j - op < 16 && b[j] == b' ' {
        j += 1;
    }
    // `b"…"`, `r'…'`: a string prefix before the quote.
    if matches!(b.get(j), Some(b'b' | b'r' | b'u' | b'f'))
        && matches!(b.get(j + 1), Some(b'"' | b'\''))
    {
        j += 1;
    }
    let quote = match b.get(j) {
        Some(&q @ (b'"' | b'\'' | b'`')) => {
            j += 1;
            Some(q)
        }
        _ => None,
    };
    let end = match quote {
        Some(q) => run_end(b, j, 512, |c| c != q && c != b'\n'),
        None => {
            let mut end = j;
            while end < b.len() && end - j < 512 {
                let c = b[end];
                // `a,b` is one value (`e,LFPt5:B6`); `a, b` is a list.
                let list_comma =
                    c == b',' && b.get(end + 1).is_none_or(|n| n.is_ascii_whitespace());
                if c.is_ascii_whitespace() || list_comma || b";\"'`()[]{}<>".contains(&c) {
                    break;
                }
                end += 1;
            }
            end
        }
    };
    // A sentence-ending period is not part of the value.
    let mut end = end;
    while end > j && quote.is_none() && b[end - 1] == b'.' {
        end -= 1;
    }
    // Already a placeholder (`[SECRET_1]`): leave it. A value as long as the
    // look-ahead, or a JWT, is left to the rules that know its shape (a cut
    // finding would leave the rest of it in clear).
    (end > j && b[j] != b'[' && end - j < 512 && !b[j..].starts_with(b"eyJ")).then_some((
        j,
        end,
        quote.is_some(),
    ))
}

/// Someone's password: at least 6 bytes of at least two character classes, so that
/// `password: required` or `password: ******` is not taken for one.
fn looks_like_password(value: &[u8]) -> bool {
    value.len() >= 6 && value.len() <= 128 && char_classes(value) >= 2
}

/// A generated credential: long, several character classes, and high entropy.
fn looks_random(value: &[u8]) -> bool {
    // 32 or more hex digits with letters and digits: a generated key, whatever
    // its entropy per character (hex tops out at 4 bits).
    if value.len() >= 32
        && value.iter().all(u8::is_ascii_hexdigit)
        && value.iter().any(u8::is_ascii_digit)
        && value.iter().any(u8::is_ascii_alphabetic)
    {
        return true;
    }
    value.len() >= 16
        && value.len() <= 512
        && !value.contains(&b' ')
        && char_classes(value) >= 2
        && shannon_entropy_bits(value) >= 3.5
}

/// Random beyond doubt: long, three character classes, high entropy.
fn looks_random_strict(value: &[u8]) -> bool {
    value.len() >= 20 && char_classes(value) >= 3 && shannon_entropy_bits(value) >= 4.0
}

fn char_classes(value: &[u8]) -> usize {
    let lower = value.iter().any(u8::is_ascii_lowercase);
    let upper = value.iter().any(u8::is_ascii_uppercase);
    let digit = value.iter().any(u8::is_ascii_digit);
    let other = value.iter().any(|c| !c.is_ascii_alphanumeric());
    [lower, upper, digit, other].iter().filter(|&&x| x).count()
}

/// Bits per byte of the value's own byte distribution.
pub(crate) fn shannon_entropy_bits(value: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in value {
        counts[usize::from(c)] += 1;
    }
    let len = value.len() as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum()
}

/// `<password>hunter2!</password>`: an XML element whose name holds a credential.
pub(super) fn xml_element(b: &[u8], gt: usize, floor: usize) -> Option<Finding> {
    // The tag name: back to `<`, no spaces or attributes.
    let mut lt = gt;
    while lt > floor && gt - lt < 48 && b[lt - 1] != b'<' {
        lt -= 1;
        if !(is_word_byte(b[lt]) || b[lt] == b'-' || b[lt] == b'.' || b[lt] == b':') {
            return None;
        }
    }
    if lt == floor || lt == gt || b[lt - 1] != b'<' {
        return None;
    }
    let name_kind = name_kind(&b[lt..gt])?;
    let start = gt + 1;
    let end = run_end(b, start, 512, |c| c != b'<' && c != b'\n');
    if b.get(end) != Some(&b'<') || end == start {
        return None;
    }
    let value = &b[start..end];
    if is_reference_or_placeholder(value, true) {
        return None;
    }
    let kind = name_kind.judge(value)?;
    Some(Finding { kind, start, end })
}

/// Words that name a password or a key in prose, and what may join them to the value.
const PROSE_NAMES: [(&[u8], NameKind); 18] = [
    (b"identified by", NameKind::Password),
    (b"requirepass", NameKind::Password),
    (b"password", NameKind::Password),
    (b"passwort", NameKind::Password),
    (b"kennwort", NameKind::Password),
    (b"passphrase", NameKind::Password),
    (b"contrase\xC3\xB1a", NameKind::Password),
    (b"senha", NameKind::Password),
    (b"mot de passe", NameKind::Password),
    (b"secret access key", NameKind::Secret),
    (b"secret key", NameKind::Secret),
    (b"access key", NameKind::Secret),
    (b"api key", NameKind::Secret),
    (b"api-key", NameKind::Secret),
    (b"auth_token", NameKind::Secret),
    (b"token", NameKind::Secret),
    (b"secret", NameKind::Secret),
    (b"schl\xC3\xBCssel", NameKind::Secret),
];
const COPULAS: [&[u8]; 9] = [
    b" is ",
    b" is: ",
    b" ist ",
    b" lautet ",
    b" est ",
    b" es ",
    b" \xC3\xA9 ",
    b" was ",
    b" \xE2\x80\x93 ",
];

/// "The wifi password is Sunflower#2024", "Passwort Alca%zar290Z", "the API key is
/// 4pBzc…": a password or key named in a sentence. With no joining word at all,
/// the value must look generated (three character classes). `name = value` and
/// `name: value` are assignments, not prose.
pub(super) fn prose_credential(b: &[u8], i: usize) -> Option<Finding> {
    // Most words start otherwise: three bytes rule them out.
    let head = b.get(i..i + 3)?;
    let head = [head[0] | 0x20, head[1] | 0x20, head[2] | 0x20];
    if !matches!(
        &head,
        b"pas"
            | b"ken"
            | b"con"
            | b"sen"
            | b"mot"
            | b"sec"
            | b"acc"
            | b"api"
            | b"aut"
            | b"tok"
            | b"sch"
            | b"ide"
            | b"req"
    ) {
        return None;
    }
    let (name, kind) = PROSE_NAMES
        .iter()
        .find(|(n, _)| b.len() >= i + n.len() && b[i..i + n.len()].eq_ignore_ascii_case(n))?;
    let after_name = i + name.len();
    if matches!(b.get(after_name), Some(b'=' | b':' | b'"' | b'\'' | b'_')) {
        return None;
    }
    // The name right before the value, or up to a few words (`für den
    // Testserver`) and a joining word; the first place that holds a value wins.
    let search_end = b.len().min(after_name + 48);
    let tail = &b[after_name..search_end];
    let mut joins: Vec<(usize, usize)> = COPULAS
        .iter()
        .flat_map(|c| {
            tail.windows(c.len())
                .enumerate()
                .filter(|(_, w)| w.eq_ignore_ascii_case(c))
                .map(|(at, _)| (at, c.len()))
                .collect::<Vec<_>>()
        })
        .collect();
    if tail.first() == Some(&b' ') {
        joins.push((0, 1));
    }
    joins.sort_unstable();
    joins.into_iter().find_map(|(at, len)| {
        if tail[..at].contains(&b'\n') || tail[..at].contains(&b'.') {
            return None;
        }
        prose_value(b, after_name + at + len, *kind, at == 0 && len == 1, name)
    })
}

fn prose_value(
    b: &[u8],
    mut start: usize,
    kind: NameKind,
    bare_join: bool,
    name: &[u8],
) -> Option<Finding> {
    let quote = match b.get(start) {
        Some(&q @ (b'"' | b'\'' | b'`')) => {
            start += 1;
            Some(q)
        }
        _ => None,
    };
    let mut end = match quote {
        Some(q) => run_end(b, start, 4096, |c| c != q && c != b'\n'),
        None => run_end(b, start, 4096, |c| {
            !c.is_ascii_whitespace() && !b",;\"'`()]}<>".contains(&c)
        }),
    };
    while end > start && quote.is_none() && matches!(b[end - 1], b'.' | b',' | b':') {
        end -= 1;
    }
    let value = &b[start..end];
    // Long values, JWTs and prefixed tokens are left to the rules that know
    // their shape.
    if value.len() > 128
        || super::known_token_at(b, start)
        || value.starts_with(b"eyJ")
        || b.get(end) == Some(&b'(')
        || is_reference_or_placeholder(value, quote.is_some())
    {
        return None;
    }
    let ok = if bare_join {
        value.len() >= 8 && char_classes(value) >= 3
    } else if kind == NameKind::Password {
        looks_like_password(value)
    } else {
        looks_random(value)
    };
    let kind = if name.eq_ignore_ascii_case(b"secret access key") && value.len() == 40 {
        Kind::AwsSecretKey
    } else {
        Kind::Secret
    };
    ok.then_some(Finding { kind, start, end })
}

/// `--password hunter2!`, `--account-key "…"`, and `-p` after `mysql`,
/// `mariadb` or `sshpass` (`-pS3cret`, `-p 'S3cret'`): a credential on a command
/// line. (`--password=…` is an assignment.)
pub(super) fn cli_flag(b: &[u8], i: usize, floor: usize) -> Option<Finding> {
    if i > floor && !b[i - 1].is_ascii_whitespace() {
        return None;
    }
    let short_p = b.get(i + 1) == Some(&b'p');
    // `mysql -pSECRET` (with a space, mysql prompts and the word is a database);
    // `sshpass -p SECRET`.
    let (name_end, kind, spaced) = if short_p {
        // The command, on the same line and not far back (bounded: linear time).
        let line = line_before(b, i, 160);
        let has = |tool: &[u8]| holds(line, tool);
        if has(b"sshpass") {
            (i + 2, NameKind::Password, true)
        } else if has(b"mysql") || has(b"mariadb") {
            (i + 2, NameKind::Password, false)
        } else {
            return None;
        }
    } else if b[i..].starts_with(b"--") {
        let end = run_end(b, i + 2, 48, |c| is_word_byte(c) || c == b'-');
        (end, name_kind(&b[i + 2..end])?, true)
    } else {
        return None;
    };
    let mut start = name_end;
    if spaced {
        if b.get(start) != Some(&b' ') {
            return None;
        }
        start += 1;
    } else if b.get(start).is_none_or(u8::is_ascii_whitespace) {
        return None;
    }
    let quote = match b.get(start) {
        Some(&q @ (b'"' | b'\'')) => {
            start += 1;
            Some(q)
        }
        _ => None,
    };
    let end = match quote {
        Some(q) => run_end(b, start, 512, |c| c != q && c != b'\n'),
        None => run_end(b, start, 512, |c| {
            !c.is_ascii_whitespace() && c != b'"' && c != b'\''
        }),
    };
    // Cut by the look-ahead, or a quote never closed: not a value this rule
    // understands (and the cut could fall inside a character).
    if end - start >= 512 || quote.is_some_and(|q| b.get(end) != Some(&q)) {
        return None;
    }
    let value = &b[start..end];
    if value.starts_with(b"-") || is_reference_or_placeholder(value, quote.is_some()) {
        return None;
    }
    let kind = kind.judge(value)?;
    Some(Finding { kind, start, end })
}

/// `define('DB_PASSWORD', 'x')`, `("SECRET_KEY", "…")`: a quoted name, a comma,
/// and a quoted value.
pub(super) fn positional_pair(b: &[u8], comma: usize, floor: usize) -> Option<Finding> {
    let mut close = comma;
    while close > floor && b[close - 1] == b' ' {
        close -= 1;
    }
    let quote = *b.get(close.checked_sub(1)?)?;
    if quote != b'\'' && quote != b'"' || close - 1 <= floor {
        return None;
    }
    let from = (close - 1).saturating_sub(64).max(floor);
    let open = b[from..close - 1].iter().rposition(|&c| c == quote)? + from;
    let name = &b[open + 1..close - 1];
    if name.is_empty() || name.len() > 48 || !name.iter().all(|&c| is_word_byte(c) || c == b'-') {
        return None;
    }
    let kind = name_kind(name)?;
    let (start, end, quoted) = value_after(b, comma)?;
    if !quoted || is_reference_or_placeholder(&b[start..end], true) {
        return None;
    }
    let value = &b[start..end];
    let kind = kind.judge(value)?;
    Some(Finding { kind, start, end })
}

/// Calls that take credentials as positional arguments: `DriverManager.
/// getConnection(url, "user", "pass")`, `new NetworkCredential("u", "p")`,
/// `new PDO($dsn, 'u', 'p')`, `Client('AC…', 'token')`, `login("u", "p")`.
const CREDENTIAL_CALLS: [&[u8]; 6] = [
    b"credential",
    b"connect",
    b"pdo",
    b"login",
    b"client",
    b"auth",
];

/// At a quote that opens an argument after the first of a credential call: the
/// argument, when it looks generated (or like a password of three character
/// classes), is a secret. Earlier arguments are scanned as usual.
pub(super) fn positional_credential(b: &[u8], quote: usize, floor: usize) -> Option<Finding> {
    let mut k = quote;
    while k > floor && b[k - 1] == b' ' {
        k -= 1;
    }
    if k == floor || b[k - 1] != b',' {
        return None;
    }
    // Back to the call's `(` on the same line. This look-back may cross earlier
    // findings (the call's first argument may be one): it reads, never claims.
    let from = k.saturating_sub(256);
    let open = b[from..k].iter().rposition(|&c| c == b'(' || c == b'\n')? + from;
    if b[open] != b'(' {
        return None;
    }
    let mut name_start = open;
    while name_start > 0
        && open - name_start < 48
        && (is_word_byte(b[name_start - 1])
            || b[name_start - 1] == b'.'
            || b[name_start - 1] == b':')
    {
        name_start -= 1;
    }
    let name = &b[name_start..open];
    if name.is_empty()
        || !CREDENTIAL_CALLS
            .iter()
            .any(|c| holds_ignoring_case(name, c))
    {
        return None;
    }
    let q = b[quote];
    let start = quote + 1;
    let end = run_end(b, start, 256, |c| c != q && c != b'\n');
    if b.get(end) != Some(&q) {
        return None;
    }
    let value = &b[start..end];
    (!is_reference_or_placeholder(value, true)
        && (looks_random(value) || (looks_like_password(value) && char_classes(value) >= 3)))
        .then_some(Finding {
            kind: Kind::Secret,
            start,
            end,
        })
}
