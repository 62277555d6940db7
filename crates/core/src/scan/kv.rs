//! What a `:` or `=` can start: the password of a connection string, an IPv6
//! address, or a secret assigned to a key-like name (`api_key = "…"`,
//! `"password": "…"`, `AWS_SECRET_ACCESS_KEY=…`).

use std::net::Ipv6Addr;

use super::{Finding, Kind, is_word_byte, run_end};

/// Names whose value is a credential. Matched as lower-case substrings of the name.
const SECRET_NAMES: [&[u8]; 12] = [
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
];
const PASSWORD_NAMES: [&[u8]; 3] = [b"password", b"passwd", b"pwd"];

/// Looks at a `:`: `scheme://user:password@host`, then IPv6, then `name: value`.
pub(super) fn after_colon(b: &[u8], i: usize, floor: usize) -> Option<Finding> {
    if b[i + 1..].starts_with(b"//") {
        return connection_password(b, i, floor);
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
    text.parse::<Ipv6Addr>().ok().map(|_| Finding {
        kind: Kind::IpAddress,
        start,
        end,
    })
}

/// `name = value` or `name: value` where the name looks like it holds a
/// credential and the value looks like one.
pub(super) fn assignment(b: &[u8], op: usize, floor: usize) -> Option<Finding> {
    let name = name_before(b, op, floor)?;
    // The needles are lowercase; compare in place rather than copy the name.
    let contains = |needle: &[u8]| {
        name.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    let is_password = PASSWORD_NAMES.iter().any(|n| contains(n));
    if !is_password && !SECRET_NAMES.iter().any(|n| contains(n)) {
        return None;
    }
    let (start, end) = value_after(b, op)?;
    let value = &b[start..end];
    let kind = if is_password {
        looks_like_password(value).then_some(Kind::Secret)?
    } else if contains(b"aws") && contains(b"secret") && value.len() == 40 {
        Kind::AwsSecretKey
    } else {
        looks_random(value).then_some(Kind::Secret)?
    };
    Some(Finding { kind, start, end })
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
        && (is_word_byte(b[start - 1]) || b[start - 1] == b'-' || b[start - 1] == b'.')
    {
        start -= 1;
    }
    (start < end).then(|| &b[start..end])
}

/// The value after `op`: optional spaces, then a quoted string or a bare token.
fn value_after(b: &[u8], op: usize) -> Option<(usize, usize)> {
    let mut j = op + 1;
    while j < b.len() && j - op < 8 && b[j] == b' ' {
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
        None => run_end(b, j, 512, |c| {
            !c.is_ascii_whitespace() && !b",;\"'`)]}<>".contains(&c)
        }),
    };
    // A sentence-ending period is not part of the value.
    let mut end = end;
    while end > j && quote.is_none() && b[end - 1] == b'.' {
        end -= 1;
    }
    // Already a placeholder (`[SECRET_1]`): leave it.
    (end > j && b[j] != b'[').then_some((j, end))
}

/// Someone's password: at least 6 bytes of at least two character classes, so that
/// `password: required` or `password: ******` is not taken for one.
fn looks_like_password(value: &[u8]) -> bool {
    value.len() >= 6 && value.len() <= 128 && char_classes(value) >= 2
}

/// A generated credential: long, several character classes, and high entropy.
fn looks_random(value: &[u8]) -> bool {
    value.len() >= 16
        && value.len() <= 512
        && !value.contains(&b' ')
        && char_classes(value) >= 2
        && shannon_entropy_bits(value) >= 3.5
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
