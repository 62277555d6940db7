//! Reversible redaction: PII and secrets in a request are replaced by numbered
//! placeholders (`[EMAIL_1]`, `[OPENAI_KEY_1]`) before the request leaves, and the
//! PII placeholders are put back into the answer. Secrets are never put back: a
//! model has no business handing a credential to anyone.
//!
//! One [`Redaction`] spans a whole request, so the same value gets the same
//! placeholder in every message. Placeholder numbers that already occur literally in
//! the request are skipped, so restoring never turns text the user typed into a
//! value they did not.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::scan::{Finding, Kind, scan_into};

/// What to do with one family of findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentAction {
    /// Let it through unchanged (still counted).
    Allow,
    /// Replace it with a placeholder.
    Redact,
    /// Refuse the request.
    Block,
}

/// The actions of a request's data class for personal data and for secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedactionPolicy {
    /// For e-mails, phones, SSNs, cards, IBANs, IP addresses.
    pub pii: ContentAction,
    /// For keys, tokens, passwords and private keys.
    pub secrets: ContentAction,
}

impl RedactionPolicy {
    /// The action for one kind of finding.
    pub fn action_for(&self, kind: Kind) -> ContentAction {
        if kind.is_secret() {
            self.secrets
        } else {
            self.pii
        }
    }

    /// True when nothing would be changed or refused (the scan still counts).
    pub fn allows_everything(&self) -> bool {
        self.pii == ContentAction::Allow && self.secrets == ContentAction::Allow
    }
}

/// A request refused because it holds a kind of value its policy blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request contains a {kind} value, which the data policy blocks")]
pub struct Blocked {
    /// The first blocked kind found.
    pub kind: Kind,
}

/// The redaction state of one request.
#[derive(Debug)]
pub struct Redaction {
    policy: RedactionPolicy,
    /// Placeholder text → original value, for PII only.
    restore: HashMap<String, String>,
    /// Original value → placeholder, for every redacted value.
    placeholders: HashMap<(Kind, String), String>,
    next_number: HashMap<Kind, u32>,
    /// Placeholder-shaped text already present in the request.
    taken: HashSet<String>,
    counts: BTreeMap<Kind, u32>,
    /// PII values seen in the request, redacted or not (for the output check).
    seen_pii: HashSet<String>,
    findings: Vec<Finding>,
}

impl Redaction {
    /// Starts a request's redaction. `texts` are all the texts that will be passed
    /// to [`Redaction::apply`], looked at once for placeholder-shaped text.
    pub fn new<'a>(policy: RedactionPolicy, texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut redaction = Self {
            policy,
            restore: HashMap::new(),
            placeholders: HashMap::new(),
            next_number: HashMap::new(),
            taken: HashSet::new(),
            counts: BTreeMap::new(),
            seen_pii: HashSet::new(),
            findings: Vec::new(),
        };
        texts
            .into_iter()
            .for_each(|text| redaction.note_existing(text));
        redaction
    }

    /// Looks at a text that will be passed to [`Redaction::apply`] for
    /// placeholder-shaped text already in it (for callers that cannot hand every
    /// text to [`Redaction::new`] at once). Call it for every text before the
    /// first `apply`.
    pub fn note_existing(&mut self, text: &str) {
        if !text.contains('[') {
            return;
        }
        for_each_placeholder(text, |p| {
            self.taken.insert(p.to_owned());
        });
    }

    /// Scans one text. Returns the redacted text when something was replaced, `None`
    /// when the text may go as it is, or [`Blocked`] when the policy refuses it.
    pub fn apply(&mut self, text: &str) -> Result<Option<String>, Blocked> {
        let mut findings = std::mem::take(&mut self.findings);
        scan_into(text, &mut findings);
        let result = self.apply_findings(text, &findings);
        self.findings = findings;
        result
    }

    /// Scans an identifier that cannot be rewritten without breaking the request (a
    /// tool's name, a tool call's id, a JSON-schema property name): any finding the
    /// policy does not allow refuses the request, since a placeholder there would
    /// change what the model calls.
    pub fn check_identifier(&mut self, text: &str) -> Result<(), Blocked> {
        let mut findings = std::mem::take(&mut self.findings);
        scan_into(text, &mut findings);
        let mut result = Ok(());
        for f in &findings {
            *self.counts.entry(f.kind).or_default() += 1;
            if !f.kind.is_secret() {
                self.seen_pii.insert(f.value(text).to_owned());
            }
            if result.is_ok() && self.policy.action_for(f.kind) != ContentAction::Allow {
                result = Err(Blocked { kind: f.kind });
            }
        }
        self.findings = findings;
        result
    }

    fn apply_findings(
        &mut self,
        text: &str,
        findings: &[Finding],
    ) -> Result<Option<String>, Blocked> {
        if findings.is_empty() {
            return Ok(None);
        }
        for f in findings {
            *self.counts.entry(f.kind).or_default() += 1;
            if !f.kind.is_secret() {
                self.seen_pii.insert(f.value(text).to_owned());
            }
            if self.policy.action_for(f.kind) == ContentAction::Block {
                return Err(Blocked { kind: f.kind });
            }
        }
        if !findings
            .iter()
            .any(|f| self.policy.action_for(f.kind) == ContentAction::Redact)
        {
            return Ok(None);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in findings {
            if self.policy.action_for(f.kind) != ContentAction::Redact {
                continue;
            }
            out.push_str(&text[at..f.start]);
            out.push_str(&self.placeholder_for(f.kind, f.value(text)));
            at = f.end;
        }
        out.push_str(&text[at..]);
        Ok(Some(out))
    }

    fn placeholder_for(&mut self, kind: Kind, value: &str) -> String {
        let key = (kind, value.to_owned());
        if let Some(existing) = self.placeholders.get(&key) {
            return existing.clone();
        }
        let next = self.next_number.entry(kind).or_insert(1);
        let placeholder = loop {
            let candidate = format!("[{}_{}]", kind.label(), next);
            *next += 1;
            if !self.taken.contains(&candidate) {
                break candidate;
            }
        };
        if !kind.is_secret() {
            self.restore.insert(placeholder.clone(), key.1.clone());
        }
        self.placeholders.insert(key, placeholder.clone());
        placeholder
    }

    /// How many values of each kind the request held (redacted, allowed or blocked).
    pub fn counts(&self) -> &BTreeMap<Kind, u32> {
        &self.counts
    }

    /// A restorer for the answer (PII placeholders only).
    pub fn restorer(&self) -> Restorer {
        Restorer {
            map: self.restore.clone(),
            pending: String::new(),
        }
    }

    /// What the answer needs once the request is redacted: the restorer and the
    /// prompt's PII values, without copying them.
    pub fn into_answer_parts(self) -> (Restorer, HashSet<String>) {
        let restorer = Restorer {
            map: self.restore,
            pending: String::new(),
        };
        (restorer, self.seen_pii)
    }

    /// `email=2, openai_key=1`: the value of the `X-Airlock-Redactions` header.
    pub fn header_value(&self) -> String {
        let mut out = String::new();
        for (kind, count) in &self.counts {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(kind.name());
            out.push('=');
            out.push_str(&count.to_string());
        }
        out
    }
}

/// The longest placeholder: `[` + longest label + `_` + a u32 + `]`.
const MAX_PLACEHOLDER: usize = 1 + 14 + 1 + 10 + 1;

/// Calls `f` for every `[LABEL_n]` in `text`.
fn for_each_placeholder(text: &str, mut f: impl FnMut(&str)) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(open) = memchr::memchr(b'[', &b[from..]).map(|p| p + from) {
        match placeholder_len(&b[open..]) {
            Some(len) => {
                f(&text[open..open + len]);
                from = open + len;
            }
            None => from = open + 1,
        }
    }
}

/// Length of the placeholder at the start of `b` (`[A-Z_]+_[0-9]+]`), if any.
fn placeholder_len(b: &[u8]) -> Option<usize> {
    let limit = b.len().min(MAX_PLACEHOLDER);
    let close = b[..limit].iter().position(|&c| c == b']')?;
    let inner = &b[1..close];
    let underscore = inner.iter().rposition(|&c| c == b'_')?;
    let (label, number) = (&inner[..underscore], &inner[underscore + 1..]);
    let ok = !label.is_empty()
        && label.iter().all(|c| c.is_ascii_uppercase() || *c == b'_')
        && !number.is_empty()
        && number.iter().all(u8::is_ascii_digit);
    ok.then_some(close + 1)
}

/// Puts PII placeholders back into an answer, whole or streamed in pieces.
#[derive(Clone, Debug, Default)]
pub struct Restorer {
    map: HashMap<String, String>,
    pending: String,
}

impl Restorer {
    /// True when there is nothing to restore (the answer can pass untouched).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The same restorer for text that is itself inside a JSON string (a
    /// structured answer, or a tool call's arguments written as JSON): each value
    /// comes back escaped for that string, so the JSON stays valid whatever the
    /// value holds.
    pub fn for_json_strings(&self) -> Restorer {
        let escape = |value: &String| {
            let quoted = serde_json::to_string(value).unwrap_or_default();
            quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_default()
                .to_owned()
        };
        Restorer {
            map: self
                .map
                .iter()
                .map(|(placeholder, value)| (placeholder.clone(), escape(value)))
                .collect(),
            pending: String::new(),
        }
    }

    /// Restores every placeholder in a complete text.
    pub fn restore<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.map.is_empty() || !text.contains('[') {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for_each_placeholder(text, |p| {
            if let Some(value) = self.map.get(p) {
                // `p` is a slice of `text`: its offset tells where it sits.
                let start = p.as_ptr() as usize - text.as_ptr() as usize;
                out.push_str(&text[at..start]);
                out.push_str(value);
                at = start + p.len();
            }
        });
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// Takes the next piece of a streamed answer and returns what can be sent now.
    /// A piece that ends inside what may be a placeholder is held back until the
    /// placeholder is complete (or clearly is not one).
    /// With nothing to restore the piece passes through borrowed.
    pub fn push<'p>(&mut self, piece: &'p str) -> Cow<'p, str> {
        if self.map.is_empty() {
            return Cow::Borrowed(piece);
        }
        self.pending.push_str(piece);
        let hold_from = self.open_placeholder_start();
        let held = self.pending.split_off(hold_from);
        let ready = std::mem::replace(&mut self.pending, held);
        Cow::Owned(self.restore_owned(ready))
    }

    /// Everything still held, at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.restore_owned(rest)
    }

    /// [`Restorer::restore`] for a text already owned: unchanged text is returned
    /// as it is, not copied.
    fn restore_owned(&self, text: String) -> String {
        match self.restore(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(restored) => restored,
        }
    }

    /// Where the pending text must be cut: at a trailing `[` that may still become a
    /// placeholder, or at the end.
    fn open_placeholder_start(&self) -> usize {
        let b = self.pending.as_bytes();
        let Some(open) = memchr::memrchr(b'[', b) else {
            return b.len();
        };
        let tail = &b[open + 1..];
        let could_be = tail.len() < MAX_PLACEHOLDER
            && tail
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_');
        if could_be { open } else { b.len() }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const REDACT_ALL: RedactionPolicy = RedactionPolicy {
        pii: ContentAction::Redact,
        secrets: ContentAction::Redact,
    };

    fn redact(text: &str) -> (String, Redaction) {
        let mut r = Redaction::new(REDACT_ALL, [text]);
        let out = r.apply(text).unwrap().unwrap_or_else(|| text.to_owned());
        (out, r)
    }

    #[test]
    fn same_value_same_placeholder_across_messages() {
        let a = "Mail bob@example.com and amy@example.com";
        let b = "Did bob@example.com answer?";
        let mut r = Redaction::new(REDACT_ALL, [a, b]);
        assert_eq!(r.apply(a).unwrap().unwrap(), "Mail [EMAIL_1] and [EMAIL_2]");
        assert_eq!(r.apply(b).unwrap().unwrap(), "Did [EMAIL_1] answer?");
        assert_eq!(r.counts()[&Kind::Email], 3);
        assert_eq!(r.header_value(), "email=3");
    }

    #[test]
    fn secrets_are_redacted_but_never_restored() {
        let text = "key sk-proj-AbCdEf0123456789AbCdEf0123456789 for bob@example.com";
        let (out, r) = redact(text);
        assert_eq!(out, "key [OPENAI_KEY_1] for [EMAIL_1]");
        let restorer = r.restorer();
        assert_eq!(
            restorer.restore("I used [OPENAI_KEY_1] to mail [EMAIL_1]"),
            "I used [OPENAI_KEY_1] to mail bob@example.com"
        );
    }

    #[test]
    fn block_refuses_and_names_the_kind_but_not_the_value() {
        let policy = RedactionPolicy {
            pii: ContentAction::Redact,
            secrets: ContentAction::Block,
        };
        let text = "token ghp_0123456789abcdefABCDEF0123456789abcd";
        let err = Redaction::new(policy, [text]).apply(text).unwrap_err();
        assert_eq!(err.kind, Kind::GithubToken);
        assert!(!err.to_string().contains("ghp_"));
    }

    #[test]
    fn allow_counts_without_changing() {
        let policy = RedactionPolicy {
            pii: ContentAction::Allow,
            secrets: ContentAction::Allow,
        };
        let text = "call +44 20 7946 0958";
        let mut r = Redaction::new(policy, [text]);
        assert_eq!(r.apply(text).unwrap(), None);
        assert_eq!(r.counts()[&Kind::Phone], 1);
        assert!(r.into_answer_parts().1.contains("+44 20 7946 0958"));
    }

    #[test]
    fn literal_placeholders_in_the_request_are_not_reused() {
        let text = "Template says [EMAIL_1]; real one is eve@example.net";
        let (out, r) = redact(text);
        assert_eq!(out, "Template says [EMAIL_1]; real one is [EMAIL_2]");
        assert_eq!(r.restorer().restore(&out), text);
    }

    #[test]
    fn a_placeholder_split_across_stream_pieces_is_restored() {
        let (_, r) = redact("write to zoe@example.com");
        let mut restorer = r.restorer();
        let mut out = String::new();
        for piece in [
            "Sure, ",
            "[EM",
            "AIL",
            "_1",
            "] is ",
            "set. [not a placeholder",
            "]",
        ] {
            out.push_str(&restorer.push(piece));
        }
        out.push_str(&restorer.finish());
        assert_eq!(out, "Sure, zoe@example.com is set. [not a placeholder]");
    }

    fn pii_text() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            4 => "[a-zA-Z]{1,8}",
            1 => Just("bob@example.com".to_owned()),
            1 => Just("+1 415 555 0132".to_owned()),
            1 => Just("4111 1111 1111 1111".to_owned()),
            1 => Just("GB82 WEST 1234 5698 7654 32".to_owned()),
            1 => Just("10.0.0.1".to_owned()),
            1 => Just("2001:db8::1".to_owned()),
            1 => Just("123-45-6789".to_owned()),
            1 => Just("[EMAIL_1]".to_owned()),
            1 => Just("[".to_owned()),
            1 => "[A-Z_0-9\\[\\]]{1,6}",
        ];
        prop::collection::vec(word, 0..24).prop_map(|w| w.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn restore_undoes_redact_for_pii(text in pii_text()) {
            let policy = RedactionPolicy { pii: ContentAction::Redact, secrets: ContentAction::Allow };
            let mut r = Redaction::new(policy, [text.as_str()]);
            let redacted = r.apply(&text).unwrap().unwrap_or_else(|| text.clone());
            prop_assert_eq!(r.restorer().restore(&redacted), text.as_str());
        }

        #[test]
        fn streams_split_anywhere_restore_the_same(text in pii_text(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let (redacted, r) = redact(&text);
            let whole = r.restorer().restore(&redacted).into_owned();
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(redacted.len() + 1)).collect();
            points.push(0);
            points.push(redacted.len());
            points.sort_unstable();
            points.dedup();
            let mut restorer = r.restorer();
            let mut out = String::new();
            for w in points.windows(2) {
                // All generated text is ASCII, so every byte offset is a char boundary.
                out.push_str(&restorer.push(&redacted[w[0]..w[1]]));
            }
            out.push_str(&restorer.finish());
            prop_assert_eq!(out, whole);
        }
    }

    #[test]
    fn every_byte_boundary_split_restores_the_same() {
        let text = "Ask bob@example.com or call +1 415 555 0132, card 4111 1111 1111 1111.";
        let (redacted, r) = redact(text);
        for cut in 0..=redacted.len() {
            let mut restorer = r.restorer();
            let mut out = restorer.push(&redacted[..cut]).into_owned();
            out.push_str(&restorer.push(&redacted[cut..]));
            out.push_str(&restorer.finish());
            assert_eq!(out, text, "cut at {cut}");
        }
    }
}
