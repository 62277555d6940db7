//! Stored settings read as the domain types of `airlock_core`, in one place, so
//! the relay (which enforces them) and the console (which previews them) read a
//! row the same way.

use airlock_core::policy::{AgreementTerms, ClassPolicy, JudgeSettings};
use airlock_core::provider::ProviderKind;
use airlock_core::redact::RedactionPolicy;

use crate::entities::{classification_policy, provider_agreement, provider_credential};

/// The terms of an agreement row.
pub fn agreement_terms(row: &provider_agreement::Model) -> AgreementTerms {
    AgreementTerms {
        dpa_signed_on: row.dpa_signed_on,
        baa: row.baa,
        zero_data_retention: row.zero_data_retention,
        expires_on: row.expires_on,
    }
}

/// A policy row as the relay applies it.
pub fn class_policy(row: &classification_policy::Model) -> ClassPolicy {
    ClassPolicy {
        allowed_providers: crate::json_strings(&row.allowed_providers),
        require_dpa: row.require_dpa,
        require_zdr: row.require_zdr,
        require_baa: row.require_baa,
        redaction: RedactionPolicy {
            pii: *row.pii_action,
            secrets: *row.secret_action,
        },
        injection: *row.injection_action,
        judge: judge_settings(row),
        output: *row.output_action,
        block_code: row.block_code,
    }
}

/// The judge a policy row names, when all its parts are there and valid (the
/// console and the CLI refuse to save `judge` without them).
fn judge_settings(row: &classification_policy::Model) -> Option<JudgeSettings> {
    Some(JudgeSettings {
        provider: row.judge_provider.clone()?,
        model: row.judge_model.clone()?,
        timeout_ms: u32::try_from(row.judge_timeout_ms?)
            .ok()
            .filter(|ms| JudgeSettings::TIMEOUT_MS.contains(ms))?,
        on_failure: row.judge_on_failure.as_deref()?.parse().ok()?,
    })
}

/// Whether data sent to this provider stays on the tenant's infrastructure: marked
/// self-hosted, or the in-process mock (nothing leaves the relay).
pub fn is_self_hosted(row: &provider_credential::Model) -> bool {
    row.self_hosted || *row.kind == ProviderKind::Mock
}
