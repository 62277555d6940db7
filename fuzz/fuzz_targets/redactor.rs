//! Any text through the scanner, the redactor and the restorer: no panic,
//! findings in bounds and in order, and restore(redact(x)) == x when PII is
//! redacted and secrets are left alone, streamed in two pieces at any cut.
#![no_main]

use airlock_core::redact::{ContentAction, Redaction, RedactionPolicy};
use airlock_core::scan::scan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, u16)| {
    let (text, cut) = input;
    let mut end = 0;
    for finding in scan(text) {
        assert!(finding.start >= end && finding.end > finding.start && finding.end <= text.len());
        assert!(text.is_char_boundary(finding.start) && text.is_char_boundary(finding.end));
        end = finding.end;
    }
    let policy = RedactionPolicy {
        pii: ContentAction::Redact,
        secrets: ContentAction::Allow,
    };
    let mut redaction = Redaction::new(policy, [text]);
    let redacted = redaction
        .apply(text)
        .expect("nothing is blocked")
        .unwrap_or_else(|| text.to_owned());
    let restorer = redaction.restorer();
    assert_eq!(restorer.restore(&redacted), text);

    let mut at = usize::from(cut) % (redacted.len() + 1);
    while !redacted.is_char_boundary(at) {
        at -= 1;
    }
    let mut streaming = redaction.restorer();
    let mut out = streaming.push(&redacted[..at]).into_owned();
    out.push_str(&streaming.push(&redacted[at..]));
    out.push_str(&streaming.finish());
    assert_eq!(out, text);
});
