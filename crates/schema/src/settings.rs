//! Stored settings read as the domain types of `airlock_core`, in one place, so
//! the relay (which enforces them) and the console (which previews them) read a
//! row the same way.

use airlock_core::policy::{AgreementTerms, CheckAction, ClassPolicy};
use airlock_core::redact::{ContentAction, RedactionPolicy};

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

/// A policy row as the relay applies it. A word Airlock does not know (only a
/// hand-edited row has one) is read as the strictest choice: block.
pub fn class_policy(row: &classification_policy::Model) -> ClassPolicy {
    let content = |s: &str| s.parse().unwrap_or(ContentAction::Block);
    let check = |s: &str| s.parse().unwrap_or(CheckAction::Block);
    ClassPolicy {
        allowed_providers: crate::json_strings(&row.allowed_providers),
        require_dpa: row.require_dpa,
        require_zdr: row.require_zdr,
        require_baa: row.require_baa,
        redaction: RedactionPolicy {
            pii: content(&row.pii_action),
            secrets: content(&row.secret_action),
        },
        injection: check(&row.injection_action),
        output: check(&row.output_action),
        block_code: row.block_code,
    }
}

/// Whether data sent to this provider stays on the tenant's infrastructure: marked
/// self-hosted, or the in-process mock (nothing leaves the relay).
pub fn is_self_hosted(row: &provider_credential::Model) -> bool {
    row.self_hosted || row.kind == "mock"
}
