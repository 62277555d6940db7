//! Scoring the screen on a labelled set: attacks caught and benign texts flagged,
//! per language, per kind, and per layer on its own. The held-out tests and
//! `cargo run -p airlock_core --example injection_eval -- FILE` both use it.
//!
//! A set is JSON lines `{"text", "label": "attack"|"benign", "kind", "lang",
//! "role": "user"|"tool"}`; a `tool` text is screened as a document (a tool
//! result), a `user` text as a message.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Origin, assess, decode, learned, screen};

/// One labelled text.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Labelled {
    /// The text screened.
    pub text: String,
    /// `attack` or `benign`.
    pub label: String,
    /// The kind of attack or of benign text.
    #[serde(default)]
    pub kind: String,
    /// The language, `en` when absent.
    #[serde(default = "english")]
    pub lang: String,
    /// `user` (a message) or `tool` (a document).
    #[serde(default = "user")]
    pub role: String,
}

fn english() -> String {
    "en".into()
}

fn user() -> String {
    "user".into()
}

impl Labelled {
    fn is_attack(&self) -> bool {
        self.label == "attack"
    }

    fn origin(&self) -> Origin {
        if self.role == "tool" {
            Origin::Document
        } else {
            Origin::Message
        }
    }
}

/// Parses a set; `None` names the first line that is not a labelled text.
pub fn parse_set(jsonl: &str) -> Result<Vec<Labelled>, String> {
    crate::jsonl::parse(jsonl)
}

/// Attacks caught and benign texts flagged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// Attacks in the set.
    pub attacks: u32,
    /// Attacks the screen flagged.
    pub caught: u32,
    /// Benign texts in the set.
    pub benign: u32,
    /// Benign texts the screen flagged.
    pub flagged: u32,
}

impl Tally {
    fn add(&mut self, attack: bool, hit: bool) {
        if attack {
            self.attacks += 1;
            self.caught += u32::from(hit);
        } else {
            self.benign += 1;
            self.flagged += u32::from(hit);
        }
    }

    /// Share of attacks caught, 0–1 (1 when there are none).
    pub fn detection(&self) -> f64 {
        if self.attacks == 0 {
            1.0
        } else {
            f64::from(self.caught) / f64::from(self.attacks)
        }
    }

    /// Share of benign texts flagged, 0–1.
    pub fn false_positives(&self) -> f64 {
        if self.benign == 0 {
            0.0
        } else {
            f64::from(self.flagged) / f64::from(self.benign)
        }
    }

    fn line(&self) -> String {
        format!(
            "attacks {}/{} ({:.1} %), benign flagged {}/{} ({:.1} %)",
            self.caught,
            self.attacks,
            self.detection() * 100.0,
            self.flagged,
            self.benign,
            self.false_positives() * 100.0
        )
    }
}

/// The screen's figures on a set.
#[derive(Debug, Default)]
pub struct Report {
    /// The whole set.
    pub total: Tally,
    /// Per language.
    pub by_language: BTreeMap<String, Tally>,
    /// Attack kinds, and the benign kinds (`benign`, `hard_benign`…).
    pub by_kind: BTreeMap<String, Tally>,
    /// Each layer on its own: rules, learned, decoded.
    pub by_layer: BTreeMap<&'static str, Tally>,
    /// Texts the screen got wrong, for reading (never for tuning a held-out set).
    pub errors: Vec<Labelled>,
}

/// Screens every text of `set` with the whole screen and with each layer alone.
pub fn evaluate(set: &[Labelled]) -> Report {
    let mut report = Report::default();
    let model = learned::model().ok();
    for item in set {
        let found = assess(&item.text, item.origin())
            .map(|a| !a.verdict.is_clean())
            .unwrap_or(false);
        let attack = item.is_attack();
        report.total.add(attack, found);
        report
            .by_language
            .entry(item.lang.clone())
            .or_default()
            .add(attack, found);
        report
            .by_kind
            .entry(item.kind.clone())
            .or_default()
            .add(attack, found);
        if found != attack {
            report.errors.push(item.clone());
        }
        // The layers alone.
        let rules = screen(&item.text).is_ok_and(|v| !v.is_clean());
        let threshold = model.map_or(1.0, |m| match item.origin() {
            Origin::Message => m.direct_threshold,
            Origin::Document => m.indirect_threshold,
        });
        let learned = learned::score(&item.text).is_ok_and(|s| s >= threshold);
        let mut decoded = false;
        let _complete = decode::for_each_decoded(&item.text, |d| {
            decoded |= screen(d).is_ok_and(|v| !v.is_clean())
                || model.is_some_and(|m| learned::score(d).is_ok_and(|s| s >= m.uncertain_from));
        });
        for (layer, hit) in [("rules", rules), ("learned", learned), ("decoded", decoded)] {
            report.by_layer.entry(layer).or_default().add(attack, hit);
        }
    }
    report
}

impl Report {
    /// The figures as a table for a terminal or a note.
    pub fn render(&self, name: &str) -> String {
        let mut out = format!("{name}: {}\n", self.total.line());
        for (heading, rows) in [("language", &self.by_language), ("kind", &self.by_kind)] {
            let _ = writeln!(out, "  by {heading}:");
            for (key, tally) in rows {
                let _ = writeln!(out, "    {key:<14} {}", tally.line());
            }
        }
        let _ = writeln!(out, "  each layer alone:");
        for (layer, tally) in &self.by_layer {
            let _ = writeln!(out, "    {layer:<14} {}", tally.line());
        }
        out
    }
}
