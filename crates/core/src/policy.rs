//! A tenant's data-classification policy and the decision "may this request, of
//! this class, go to this provider?".
//!
//! Each data class has a policy: which providers may receive it (empty = any),
//! which agreements the provider needs (DPA, zero data retention, BAA), and what to
//! do with PII, secrets, injection attempts and doubtful answers. A tenant that has
//! not written a policy for a class gets [`ClassPolicy::default_for`], which is
//! strict where it matters: internal data needs a DPA, confidential data a DPA and
//! zero retention, and restricted data never leaves (self-hosted providers only).

use std::fmt;
use std::str::FromStr;

use crate::class::DataClass;
use crate::redact::{ContentAction, RedactionPolicy};

/// What to do when a screen or check finds something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckAction {
    /// Do not run the check.
    Off,
    /// Run it, record the result and report it in a response header.
    Flag,
    /// Refuse the request (injection) or replace the answer with a refusal (output).
    Block,
}

/// A policy word that is not one of the allowed values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of {expected}")]
pub struct UnknownAction {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl FromStr for CheckAction {
    type Err = UnknownAction;
    /// Case-insensitive; `none` and `replace` are accepted as aliases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let alias = if s.eq_ignore_ascii_case("none") {
            Some(CheckAction::Off)
        } else if s.eq_ignore_ascii_case("replace") {
            Some(CheckAction::Block)
        } else {
            None
        };
        CheckAction::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .or(alias)
            .ok_or_else(|| UnknownAction {
                what: "check action",
                value: s.chars().take(32).collect(),
                expected: "off, flag, block",
            })
    }
}

/// What to do with what the injection screen finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InjectionAction {
    /// Do not screen.
    Off,
    /// Screen, record the result and report it in response headers.
    Flag,
    /// Refuse what the screen finds (`injection_blocked`).
    Block,
    /// Refuse what the screen finds, and ask the class's [judge](JudgeSettings)
    /// about requests it scores as uncertain; refuse those the judge calls an
    /// injection.
    Judge,
}

impl InjectionAction {
    /// Every action.
    pub const ALL: [InjectionAction; 4] = [
        InjectionAction::Off,
        InjectionAction::Flag,
        InjectionAction::Block,
        InjectionAction::Judge,
    ];

    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            InjectionAction::Off => "off",
            InjectionAction::Flag => "flag",
            InjectionAction::Block => "block",
            InjectionAction::Judge => "judge",
        }
    }

    /// Whether what the screen finds is refused.
    pub fn blocks(self) -> bool {
        matches!(self, InjectionAction::Block | InjectionAction::Judge)
    }
}

impl FromStr for InjectionAction {
    type Err = UnknownAction;
    /// Case-insensitive; `none` is accepted for `off`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("none") {
            return Ok(InjectionAction::Off);
        }
        InjectionAction::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAction {
                what: "injection action",
                value: s.chars().take(32).collect(),
                expected: "off, flag, block, judge",
            })
    }
}

impl fmt::Display for InjectionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens when the judge does not answer in time or answers nonsense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JudgeFailure {
    /// Refuse the request (`injection_judge_unavailable`).
    Closed,
    /// Let it through, flagged (`x-airlock-injection: judge_unavailable`).
    Open,
}

impl JudgeFailure {
    /// Both modes.
    pub const ALL: [JudgeFailure; 2] = [JudgeFailure::Closed, JudgeFailure::Open];

    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeFailure::Closed => "closed",
            JudgeFailure::Open => "open",
        }
    }
}

impl FromStr for JudgeFailure {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        JudgeFailure::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAction {
                what: "judge failure mode",
                value: s.chars().take(32).collect(),
                expected: "closed, open",
            })
    }
}

impl fmt::Display for JudgeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The judge of a class: a model of one of the tenant's own providers, asked
/// with a fixed classification prompt whether an uncertain request is an
/// injection. There is no default failure mode: the admin chooses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeSettings {
    /// The name of one of the tenant's providers.
    pub provider: String,
    /// The model to ask, as that provider names it.
    pub model: String,
    /// How long to wait for the answer.
    pub timeout_ms: u32,
    /// What a timeout or a nonsense answer means.
    pub on_failure: JudgeFailure,
}

impl JudgeSettings {
    /// The shortest and longest timeouts an admin may set.
    pub const TIMEOUT_MS: std::ops::RangeInclusive<u32> = 100..=30_000;
    /// The timeout a form proposes.
    pub const DEFAULT_TIMEOUT_MS: u32 = 2_000;
}

impl FromStr for ContentAction {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        ContentAction::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAction {
                what: "content action",
                value: s.chars().take(32).collect(),
                expected: "allow, redact, block",
            })
    }
}

impl CheckAction {
    /// Every action.
    pub const ALL: [CheckAction; 3] = [CheckAction::Off, CheckAction::Flag, CheckAction::Block];

    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckAction::Off => "off",
            CheckAction::Flag => "flag",
            CheckAction::Block => "block",
        }
    }
}

impl ContentAction {
    /// Every action.
    pub const ALL: [ContentAction; 3] = [
        ContentAction::Allow,
        ContentAction::Redact,
        ContentAction::Block,
    ];

    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentAction::Allow => "allow",
            ContentAction::Redact => "redact",
            ContentAction::Block => "block",
        }
    }
}

/// The policy of one data class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassPolicy {
    /// Provider names that may receive this class; empty means any provider.
    pub allowed_providers: Vec<String>,
    /// The provider needs a current DPA.
    pub require_dpa: bool,
    /// The provider needs a zero-data-retention agreement.
    pub require_zdr: bool,
    /// The provider needs a BAA (also required for any request flagged as PHI).
    pub require_baa: bool,
    /// What to do with personal data and with secrets.
    pub redaction: RedactionPolicy,
    /// The injection screen.
    pub injection: InjectionAction,
    /// The judge asked about uncertain requests; required when `injection` is
    /// `judge`, kept (unused) otherwise.
    pub judge: Option<JudgeSettings>,
    /// The output checks.
    pub output: CheckAction,
    /// Output containing script or shell-execution markers is a finding.
    pub block_code: bool,
}

impl ClassPolicy {
    /// The policy of a class the tenant has not configured.
    pub fn default_for(class: DataClass) -> ClassPolicy {
        let base = ClassPolicy {
            allowed_providers: Vec::new(),
            require_dpa: false,
            require_zdr: false,
            require_baa: false,
            redaction: RedactionPolicy {
                pii: ContentAction::Redact,
                secrets: ContentAction::Redact,
            },
            injection: InjectionAction::Flag,
            judge: None,
            output: CheckAction::Flag,
            block_code: false,
        };
        match class {
            DataClass::Public => base,
            DataClass::Internal => ClassPolicy {
                require_dpa: true,
                ..base
            },
            DataClass::Confidential => ClassPolicy {
                require_dpa: true,
                require_zdr: true,
                ..base
            },
            // Restricted data goes only to self-hosted providers whatever the
            // policy says; `check_destination` enforces that by class.
            DataClass::Restricted => base,
        }
    }
}

/// What the tenant has on file with a provider, as of today.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgreementStatus {
    /// A DPA is signed and not expired.
    pub dpa: bool,
    /// Zero data retention is agreed and the agreement is not expired.
    pub zero_retention: bool,
    /// A BAA is signed and the agreement is not expired.
    pub baa: bool,
}

/// The terms on file with a provider, with their dates, so "expired" is decided
/// on the day a request (or a page) asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgreementTerms {
    /// When the DPA was signed; none on file without it.
    pub dpa_signed_on: Option<chrono::NaiveDate>,
    /// A BAA is signed.
    pub baa: bool,
    /// The provider keeps no request data.
    pub zero_data_retention: bool,
    /// The last day the agreement holds.
    pub expires_on: Option<chrono::NaiveDate>,
}

impl AgreementTerms {
    /// What the agreement gives on `today`: nothing once it has expired, and no
    /// DPA before the day it was signed.
    pub fn status_on(&self, today: chrono::NaiveDate) -> AgreementStatus {
        if self.expires_on.is_some_and(|end| end < today) {
            return AgreementStatus::default();
        }
        AgreementStatus {
            dpa: self.dpa_signed_on.is_some_and(|signed| signed <= today),
            zero_retention: self.zero_data_retention,
            baa: self.baa,
        }
    }
}

/// The provider a request would go to.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    /// The provider's name in the tenant (e.g. `openai`, `azure-eu`).
    pub name: &'a str,
    /// Runs on the tenant's own infrastructure (or is the in-process mock).
    pub self_hosted: bool,
    /// The agreements on file.
    pub agreements: AgreementStatus,
}

/// Why a class may not go to a provider. The message names the class, the provider
/// and what is missing, and nothing else.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClassBlocked {
    /// The provider is not on the class's list.
    #[error(
        "{class} data may not be sent to provider {provider}: it is not on the allowed list for {class}"
    )]
    ProviderNotAllowed {
        /// The request's class.
        class: DataClass,
        /// The provider's name.
        provider: String,
    },
    /// Only self-hosted providers may receive the class.
    #[error("{class} data never leaves: provider {provider} is not self-hosted")]
    NotSelfHosted {
        /// The request's class.
        class: DataClass,
        /// The provider's name.
        provider: String,
    },
    /// A required agreement is missing or expired.
    #[error(
        "{class} data needs a {missing} with provider {provider}, and none is on file (or it expired)"
    )]
    MissingAgreement {
        /// The request's class.
        class: DataClass,
        /// The provider's name.
        provider: String,
        /// `DPA`, `zero data retention agreement` or `BAA`.
        missing: &'static str,
    },
}

/// Decides whether a request of `class` (with PHI or not) may go to `dest`.
/// Self-hosted providers meet every agreement requirement: the data does not leave.
pub fn check_destination(
    class: DataClass,
    phi: bool,
    policy: &ClassPolicy,
    dest: Destination<'_>,
) -> Result<(), ClassBlocked> {
    let provider = || dest.name.to_owned();
    if !policy.allowed_providers.is_empty()
        && !policy
            .allowed_providers
            .iter()
            .any(|p| p.eq_ignore_ascii_case(dest.name))
    {
        return Err(ClassBlocked::ProviderNotAllowed {
            class,
            provider: provider(),
        });
    }
    if dest.self_hosted {
        return Ok(());
    }
    if class == DataClass::Restricted {
        return Err(ClassBlocked::NotSelfHosted {
            class,
            provider: provider(),
        });
    }
    let missing = if policy.require_dpa && !dest.agreements.dpa {
        Some("DPA")
    } else if policy.require_zdr && !dest.agreements.zero_retention {
        Some("zero data retention agreement")
    } else if (policy.require_baa || phi) && !dest.agreements.baa {
        Some("BAA")
    } else {
        None
    };
    match missing {
        Some(missing) => Err(ClassBlocked::MissingAgreement {
            class,
            provider: provider(),
            missing,
        }),
        None => Ok(()),
    }
}

impl fmt::Display for CheckAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(self_hosted: bool, agreements: AgreementStatus) -> Destination<'static> {
        Destination {
            name: "openai",
            self_hosted,
            agreements,
        }
    }

    const NONE: AgreementStatus = AgreementStatus {
        dpa: false,
        zero_retention: false,
        baa: false,
    };
    const DPA: AgreementStatus = AgreementStatus {
        dpa: true,
        zero_retention: false,
        baa: false,
    };
    const ALL: AgreementStatus = AgreementStatus {
        dpa: true,
        zero_retention: true,
        baa: true,
    };

    fn check(class: DataClass, phi: bool, a: AgreementStatus) -> Result<(), ClassBlocked> {
        check_destination(class, phi, &ClassPolicy::default_for(class), dest(false, a))
    }

    #[test]
    fn defaults_require_more_agreements_as_the_class_rises() {
        assert_eq!(check(DataClass::Public, false, NONE), Ok(()));
        assert!(check(DataClass::Internal, false, NONE).is_err());
        assert_eq!(check(DataClass::Internal, false, DPA), Ok(()));
        let err = check(DataClass::Confidential, false, DPA).unwrap_err();
        assert_eq!(
            err.to_string(),
            "confidential data needs a zero data retention agreement with provider openai, and none is on file (or it expired)"
        );
        assert_eq!(check(DataClass::Confidential, false, ALL), Ok(()));
        assert!(matches!(
            check(DataClass::Restricted, false, ALL),
            Err(ClassBlocked::NotSelfHosted { .. })
        ));
    }

    #[test]
    fn phi_needs_a_baa_whatever_the_class() {
        let err = check(DataClass::Public, true, DPA).unwrap_err();
        assert!(err.to_string().contains("BAA"), "{err}");
        assert_eq!(check(DataClass::Public, true, ALL), Ok(()));
    }

    #[test]
    fn self_hosted_providers_receive_every_class() {
        for class in DataClass::ALL {
            let policy = ClassPolicy::default_for(class);
            assert_eq!(
                check_destination(class, true, &policy, dest(true, NONE)),
                Ok(())
            );
        }
    }

    #[test]
    fn the_allowed_list_is_checked_first_and_case_insensitively() {
        let policy = ClassPolicy {
            allowed_providers: vec!["Anthropic".into()],
            ..ClassPolicy::default_for(DataClass::Public)
        };
        let err =
            check_destination(DataClass::Public, false, &policy, dest(true, ALL)).unwrap_err();
        assert!(matches!(err, ClassBlocked::ProviderNotAllowed { .. }));
        let to_anthropic = Destination {
            name: "anthropic",
            ..dest(false, NONE)
        };
        assert_eq!(
            check_destination(DataClass::Public, false, &policy, to_anthropic),
            Ok(())
        );
    }

    #[test]
    fn actions_parse_and_reject_unknown_words() {
        assert_eq!("Flag".parse(), Ok(CheckAction::Flag));
        assert_eq!("replace".parse(), Ok(CheckAction::Block));
        assert_eq!(" redact ".parse(), Ok(ContentAction::Redact));
        let err = "maybe".parse::<ContentAction>().unwrap_err();
        assert!(err.to_string().contains("allow, redact, block"));
    }
}
