//! Scoring the scanner on a set of texts with planted values: recall per kind of
//! planted value, and precision over everything the scanner found. The held-out
//! test and `cargo run -p airlock_core --example pii_eval -- FILE` use it.
//!
//! A set is JSON lines `{"text", "planted": [{"kind", "value"}]}`; every value
//! is a substring of its text, and the kinds are the set writer's names (they
//! need not be the scanner's). A planted value is *found* when findings cover all
//! of its bytes; a finding is *correct* when it overlaps a planted value.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::scan;

/// One planted value.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Planted {
    /// The set writer's name for its kind.
    pub kind: String,
    /// The value as it appears in the text.
    pub value: String,
}

/// One text of a set.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct PlantedText {
    /// The text scanned.
    pub text: String,
    /// What must be found (empty for a text with nothing to find).
    #[serde(default)]
    pub planted: Vec<Planted>,
    /// The text's format (`env`, `yaml`, `prose`…), when given.
    #[serde(default)]
    pub format: String,
}

/// Parses a set.
pub fn parse_set(jsonl: &str) -> Result<Vec<PlantedText>, String> {
    crate::jsonl::parse(jsonl)
}

/// Planted values found, of all planted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recall {
    /// Planted values.
    pub planted: u32,
    /// Of those, found.
    pub found: u32,
}

impl Recall {
    /// Share found, 0–1.
    pub fn rate(&self) -> f64 {
        if self.planted == 0 {
            1.0
        } else {
            f64::from(self.found) / f64::from(self.planted)
        }
    }
}

/// The scanner's figures on a set.
#[derive(Debug, Default)]
pub struct Report {
    /// Every planted value.
    pub recall: Recall,
    /// Per planted kind.
    pub by_kind: BTreeMap<String, Recall>,
    /// Findings that overlap a planted value.
    pub correct: u32,
    /// Findings that overlap none (false positives).
    pub wrong: u32,
    /// False positives per scanner kind.
    pub wrong_by_kind: BTreeMap<&'static str, u32>,
    /// Missed values and false positives, as `(kind, value, context)`, for reading.
    pub errors: Vec<(String, String, String)>,
}

impl Report {
    /// Share of findings that are correct, 0–1.
    pub fn precision(&self) -> f64 {
        let all = self.correct + self.wrong;
        if all == 0 {
            1.0
        } else {
            f64::from(self.correct) / f64::from(all)
        }
    }

    /// The figures as a table.
    pub fn render(&self, name: &str) -> String {
        let mut out = format!(
            "{name}: recall {}/{} ({:.1} %), precision {}/{} ({:.1} %)\n  by planted kind:\n",
            self.recall.found,
            self.recall.planted,
            self.recall.rate() * 100.0,
            self.correct,
            self.correct + self.wrong,
            self.precision() * 100.0
        );
        for (kind, r) in &self.by_kind {
            let _ = writeln!(out, "    {kind:<22} {}/{}", r.found, r.planted);
        }
        if !self.wrong_by_kind.is_empty() {
            let _ = writeln!(out, "  false positives by scanner kind:");
            for (kind, n) in &self.wrong_by_kind {
                let _ = writeln!(out, "    {kind:<22} {n}");
            }
        }
        out
    }
}

/// Scans every text of `set` and scores the findings.
pub fn evaluate(set: &[PlantedText]) -> Report {
    let mut report = Report::default();
    for item in set {
        let findings = scan(&item.text);
        // Where each planted value is (its first occurrence not yet taken).
        let mut spans = Vec::new();
        for p in &item.planted {
            let mut from = 0;
            let span = loop {
                match item.text[from..].find(&p.value) {
                    Some(at) => {
                        let start = from + at;
                        if !spans
                            .iter()
                            .any(|&(s, _, _): &(usize, usize, &Planted)| s == start)
                        {
                            break Some(start);
                        }
                        from = start + 1;
                    }
                    None => break None,
                }
            };
            if let Some(start) = span {
                spans.push((start, start + p.value.len(), p));
            }
        }
        for &(start, end, p) in &spans {
            let covered = (start..end).all(|i| findings.iter().any(|f| f.start <= i && i < f.end));
            let entry = report.by_kind.entry(p.kind.clone()).or_default();
            entry.planted += 1;
            report.recall.planted += 1;
            if covered {
                entry.found += 1;
                report.recall.found += 1;
            } else {
                report.errors.push((
                    format!("missed {}", p.kind),
                    p.value.clone(),
                    context(&item.text, start, end),
                ));
            }
        }
        for f in &findings {
            if spans.iter().any(|&(s, e, _)| f.start < e && s < f.end) {
                report.correct += 1;
            } else {
                report.wrong += 1;
                *report.wrong_by_kind.entry(f.kind.name()).or_default() += 1;
                report.errors.push((
                    format!("false {}", f.kind.name()),
                    f.value(&item.text).to_owned(),
                    context(&item.text, f.start, f.end),
                ));
            }
        }
    }
    report
}

fn context(text: &str, start: usize, end: usize) -> String {
    let mut from = start.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end + 40).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    text[from..to].to_owned()
}
