//! Numbers that are personal data: payment cards, US SSNs, phone numbers and IPv4
//! addresses. A number is read as a *run*: digits joined by single separators
//! (space, `-`, `.`, parentheses), then classified by its digit groups.

use super::{Finding, Kind, ends_token, is_word_byte};

/// Longest run looked at: a 19-digit card with separators, or a long phone number.
const MAX_RUN: usize = 40;

/// A run of digit groups.
struct Run {
    start: usize,
    end: usize,
    /// Digit count of each group, in order.
    groups: [u8; 12],
    group_count: usize,
    /// The separators between groups (`0` when groups touch through parentheses).
    seps: [u8; 11],
    digits: [u8; 24],
    digit_count: usize,
    /// Byte offset where the second group starts, to retry from on failure.
    second_group: Option<usize>,
}

impl Run {
    fn groups(&self) -> &[u8] {
        &self.groups[..self.group_count]
    }
    fn seps(&self) -> &[u8] {
        &self.seps[..self.group_count.saturating_sub(1)]
    }
    fn digits(&self) -> &[u8] {
        &self.digits[..self.digit_count]
    }
}

/// A number starting at a word boundary.
pub(super) fn starting_with_digit(b: &[u8], i: usize) -> Option<Finding> {
    // `v1.2.3`, `x86` and the like: a digit right after a dot is part of something else.
    if i > 0 && b[i - 1] == b'.' {
        return None;
    }
    let mut start = i;
    loop {
        let run = read_run(b, start)?;
        if let Some(kind) = classify(&run, b) {
            return Some(Finding {
                kind,
                start: run.start,
                end: run.end,
            });
        }
        // `Order 12 555-123-4567`: try again from the next space-separated group.
        start = run.second_group?;
    }
}

/// A phone number led by `+` or `(`.
pub(super) fn phone_with_lead(b: &[u8], i: usize) -> Option<Finding> {
    if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if i > 0 && is_word_byte(b[i - 1]) {
        return None;
    }
    let run = read_run(b, i)?;
    let lead_plus = b[i] == b'+';
    let is_phone = if lead_plus {
        (8..=15).contains(&run.digit_count)
    } else {
        is_north_american(&run) || is_national(&run)
    };
    is_phone.then_some(Finding {
        kind: Kind::Phone,
        start: run.start,
        end: run.end,
    })
}

fn read_run(b: &[u8], start: usize) -> Option<Run> {
    let mut run = Run {
        start,
        end: start,
        groups: [0; 12],
        group_count: 0,
        seps: [0; 11],
        digits: [0; 24],
        digit_count: 0,
        second_group: None,
    };
    let limit = b.len().min(start + MAX_RUN);
    let mut j = start;
    // An optional lead: `+` or `(`.
    if j < limit && (b[j] == b'+' || b[j] == b'(') {
        j += 1;
    }
    let mut pending_sep: u8 = 0;
    loop {
        // One group of digits.
        let group_start = j;
        while j < limit && b[j].is_ascii_digit() {
            if run.digit_count == run.digits.len() {
                return None;
            }
            run.digits[run.digit_count] = b[j];
            run.digit_count += 1;
            j += 1;
        }
        let len = j - group_start;
        if len == 0 || run.group_count == run.groups.len() {
            return None;
        }
        if run.group_count > 0 {
            run.seps[run.group_count - 1] = pending_sep;
            if pending_sep == b' ' && run.second_group.is_none() {
                run.second_group = Some(group_start);
            }
        }
        run.groups[run.group_count] = u8::try_from(len).unwrap_or(u8::MAX);
        run.group_count += 1;
        run.end = j;
        // Close a `(415)`.
        let mut k = j;
        if k < limit && b[k] == b')' {
            k += 1;
        }
        // A separator, then an optional `(`, must lead to another digit.
        let sep = match b.get(k) {
            Some(&c @ (b' ' | b'-' | b'.')) if k < limit => {
                k += 1;
                c
            }
            _ => 0,
        };
        if k < limit && b[k] == b'(' {
            k += 1;
        }
        if k == j || !(k < limit && b[k].is_ascii_digit()) {
            break;
        }
        pending_sep = if sep == 0 { b')' } else { sep };
        j = k;
    }
    // The number must not run on into a word (`12345abc`), nor be the start of a
    // dotted version (`1.2.3.4.5`).
    if !ends_token(b, run.end) {
        return None;
    }
    Some(run)
}

fn classify(run: &Run, b: &[u8]) -> Option<Kind> {
    if is_ipv4(run) {
        // Four-part version numbers are not addresses: a fifth part, a
        // pre-release suffix, or a version word just before say so.
        let fifth_part = b
            .get(run.end)
            .is_some_and(|&c| c == b'.' && next_is_digit(b, run.end));
        let suffix = b.get(run.end).is_some_and(|&c| c == b'-' || c == b'+')
            && b.get(run.end + 1).is_some_and(u8::is_ascii_alphabetic);
        if fifth_part || suffix || after_version_word(b, run.start) {
            return None;
        }
        // A network (`10.0.0.0/8`) is not a host.
        if b.get(run.end) == Some(&b'/') && b.get(run.end + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        // Loopback and "any" name no one: `127.0.0.1`, `0.0.0.0`.
        let first = &run.digits()[..usize::from(run.groups()[0])];
        if first == b"127" || run.digits().iter().all(|&d| d == b'0') {
            return None;
        }
        return Some(Kind::IpAddress);
    }
    if is_ssn(run) {
        return Some(Kind::Ssn);
    }
    if is_card(run) {
        return Some(Kind::Card);
    }
    if is_north_american(run) || is_national(run) {
        return Some(Kind::Phone);
    }
    None
}

/// Words that, right before a dotted number, make it a version.
const VERSION_WORDS: [&[u8]; 16] = [
    b"version",
    b"versions",
    b"ver",
    b"release",
    b"build",
    b"firmware",
    b"fw",
    b"patch",
    b"update",
    b"revision",
    b"rev",
    b"versi\xC3\xB3n",
    b"vers\xC3\xA3o",
    b"versione",
    b"v",
    b"sdk",
];

/// The word before `start` (past spaces, `:`, `=`, quotes, `#`) is a version word.
fn after_version_word(b: &[u8], start: usize) -> bool {
    let mut end = start;
    while end > 0 && start - end < 8 && b" :=\"'#(>".contains(&b[end - 1]) {
        end -= 1;
    }
    let mut word_start = end;
    while word_start > 0
        && end - word_start < 24
        && (b[word_start - 1].is_ascii_alphabetic() || b[word_start - 1] >= 0x80)
    {
        word_start -= 1;
    }
    let word = &b[word_start..end];
    // `AssemblyVersion`, `FileVersion`, `productVersion`.
    let ends_in_version = word.len() > 7 && word[word.len() - 7..].eq_ignore_ascii_case(b"version");
    ends_in_version || VERSION_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

fn next_is_digit(b: &[u8], i: usize) -> bool {
    b.get(i + 1).is_some_and(u8::is_ascii_digit)
}

fn is_ipv4(run: &Run) -> bool {
    if run.group_count != 4 || run.seps().iter().any(|&s| s != b'.') {
        return false;
    }
    let mut at = 0;
    run.groups().iter().all(|&len| {
        let octet = &run.digits()[at..at + usize::from(len)];
        at += usize::from(len);
        len <= 3 && octet.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0')) <= 255
    })
}

/// Nine digits that make a valid SSN (area not 000, 666 or 9xx; group and serial
/// not zero), for a value assigned to an `ssn` name.
pub(crate) fn is_ssn_digits(value: &[u8]) -> bool {
    if value.len() != 9 || !value.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = &value[..3];
    area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && &value[3..5] != b"00"
        && &value[5..] != b"0000"
}

fn is_ssn(run: &Run) -> bool {
    if run.groups() != [3, 2, 4] {
        return false;
    }
    let [a, b] = [run.seps()[0], run.seps()[1]];
    if a != b || !(a == b'-' || a == b' ') {
        return false;
    }
    let d = run.digits();
    let area = &d[0..3];
    area != b"000" && area != b"666" && area[0] != b'9' && &d[3..5] != b"00" && &d[5..9] != b"0000"
}

fn is_card(run: &Run) -> bool {
    let count = run.digit_count;
    if !(13..=19).contains(&count) || !(b'2'..=b'6').contains(&run.digits()[0]) {
        return false;
    }
    let grouped_ok = match run.group_count {
        1 => true,
        _ => {
            let sep = run.seps()[0];
            let same_sep = (sep == b' ' || sep == b'-') && run.seps().iter().all(|&s| s == sep);
            let groups = run.groups();
            let fours = groups[..groups.len() - 1].iter().all(|&g| g == 4)
                && (1..=4).contains(groups.last().unwrap_or(&0));
            same_sep && (fours || groups == [4, 6, 5] || groups == [4, 6, 4])
        }
    };
    grouped_ok && luhn(run.digits())
}

/// The Luhn check digit test of ISO/IEC 7812.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(n, d)| {
            let v = u32::from(d - b'0');
            if n % 2 == 1 {
                let doubled = v * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `(415) 555-0132`, `415-555-0132`, `415.555.0132`, `1 415 555 0132`.
fn is_north_american(run: &Run) -> bool {
    let groups = run.groups();
    groups == [3, 3, 4] || (groups == [1, 3, 3, 4] && run.digits()[0] == b'1')
}

/// National formats: with a trunk `0` (`020 7946 0958`, `030-901820-12`,
/// `0711 36503446`, the French `01.94.55.20.87`), and Spain's nine digits without
/// one, grouped as people write them (`612 34 56 78`, `984 470 810`).
fn is_national(run: &Run) -> bool {
    let groups = run.groups();
    let seps = run.seps();
    let first = run.digits()[0];
    // Twelve digits only with spaces (`0711 36503446`): dashed, they are part numbers.
    let spaced = seps.iter().all(|&s| s == b' ');
    let trunk = run.group_count >= 2
        && first == b'0'
        && (10..=11).contains(&run.digit_count) | (run.digit_count == 12 && spaced)
        && groups[0] >= 2
        && seps.iter().all(|&s| s == b' ' || s == b'-' || s == b')');
    let french_dots = first == b'0' && groups == [2, 2, 2, 2, 2] && seps.iter().all(|&s| s == b'.');
    let spanish = (b'6'..=b'9').contains(&first)
        && (groups == [3, 2, 2, 2]
            || groups == [3, 3, 3]
            || (first == b'9' && groups == [2, 3, 2, 2]))
        && seps.iter().all(|&s| s == b' ');
    trunk || french_dots || spanish
}
