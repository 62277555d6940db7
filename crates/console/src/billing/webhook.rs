//! Stripe's webhooks: the signature is checked (`Stripe-Signature`, HMAC-SHA-256
//! of `"{t}.{body}"` with the endpoint's `whsec_…` secret, five minutes of
//! tolerance), each event is applied once (its id is recorded in the same
//! transaction), and events older than the status they would change are ignored
//! (Stripe does not promise order).
//!
//! `invoice.paid` makes a tenant `active`, `invoice.payment_failed` `past_due`,
//! `customer.subscription.deleted` `canceled`. Whether a status suspends the
//! tenant's keys is the operator's policy (`billing.suspend_when`); the relay
//! reads `tenants.billing_suspended` within a second of the change.

use airlock_schema::entities::{stripe_webhook_event, tenant, tenant_billing};
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::Deserialize;
use sha2::Sha256;

use super::{BillingStatus, short_message};

/// How far a signature's timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused (all are 400s: Stripe shows them to the operator).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing or malformed Stripe-Signature header")]
    MalformedSignature,
    #[error("the signature's timestamp is more than five minutes from now")]
    Stale,
    #[error(
        "no signature matches (is AIRLOCK_STRIPE_WEBHOOK_SECRET the endpoint's signing secret?)"
    )]
    BadSignature,
    #[error("the body is not a Stripe event")]
    NotAnEvent,
}

/// Checks `Stripe-Signature` against the raw body. Accepts any of the `v1`
/// signatures (Stripe sends several while a secret is being rolled).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse().ok(),
            Some(("v1", value)) => {
                if let Ok(bytes) = hex::decode(value) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::MalformedSignature)?;
    if signatures.is_empty() {
        return Err(WebhookError::MalformedSignature);
    }
    if (now.timestamp() - timestamp).abs() > TOLERANCE_SECS {
        return Err(WebhookError::Stale);
    }
    for signature in signatures {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::BadSignature)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::BadSignature)
}

/// The `Stripe-Signature` header for a body: what Stripe sends (tests and the
/// README's curl example use it).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: EventObject,
}

#[derive(Deserialize)]
struct EventObject {
    /// A customer id, or an expanded customer object.
    #[serde(default)]
    customer: Option<serde_json::Value>,
}

/// What applying an event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The tenant's status changed (and maybe its suspension).
    Status {
        tenant_id: uuid::Uuid,
        status: BillingStatus,
        suspended: bool,
    },
    /// Seen before: nothing changed.
    Replay,
    /// Not an event Airlock acts on, or for a customer it does not know.
    Ignored,
    /// Older than the status it would change.
    Outdated,
}

fn status_of(kind: &str) -> Option<BillingStatus> {
    match kind {
        "invoice.paid" => Some(BillingStatus::Active),
        "invoice.payment_failed" => Some(BillingStatus::PastDue),
        "customer.subscription.deleted" => Some(BillingStatus::Canceled),
        _ => None,
    }
}

/// Applies a verified event once.
pub async fn apply(
    db: &DatabaseConnection,
    body: &[u8],
    suspend_when: &[BillingStatus],
) -> Result<Applied, ApplyError> {
    let event: Event = serde_json::from_slice(body).map_err(|_| ApplyError::NotAnEvent)?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(ApplyError::NotAnEvent);
    }
    let created = Utc
        .timestamp_opt(event.created, 0)
        .single()
        .ok_or(ApplyError::NotAnEvent)?;
    let txn = db.begin().await?;
    if stripe_webhook_event::Entity::find_by_id(event.id.clone())
        .one(&txn)
        .await?
        .is_some()
    {
        return Ok(Applied::Replay);
    }
    stripe_webhook_event::ActiveModel {
        id: Set(event.id.clone()),
        event_type: Set(short_message(&event.kind).chars().take(64).collect()),
        received_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let customer = match &event.data.object.customer {
        Some(serde_json::Value::String(id)) => Some(id.clone()),
        Some(serde_json::Value::Object(object)) => {
            object.get("id").and_then(|v| v.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    let (Some(status), Some(customer)) = (status_of(&event.kind), customer) else {
        txn.commit().await?;
        return Ok(Applied::Ignored);
    };
    let Some(billing) = tenant_billing::Entity::find()
        .filter(tenant_billing::Column::StripeCustomerId.eq(customer))
        .one(&txn)
        .await?
    else {
        txn.commit().await?;
        return Ok(Applied::Ignored);
    };
    if billing.status_changed_at.is_some_and(|at| at > created) {
        txn.commit().await?;
        return Ok(Applied::Outdated);
    }
    let now = Utc::now();
    let tenant_id = billing.tenant_id;
    let mut row: tenant_billing::ActiveModel = billing.into();
    row.status = Set(status.as_str().to_owned());
    row.status_changed_at = Set(Some(created));
    row.updated_at = Set(now);
    row.update(&txn).await?;
    let suspended = suspend_when.contains(&status);
    // `updated_at` is what the relays poll: the change reaches them within a second.
    tenant::Entity::update_many()
        .col_expr(
            tenant::Column::BillingSuspended,
            sea_orm::sea_query::Expr::value(suspended),
        )
        .col_expr(
            tenant::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Applied::Status {
        tenant_id,
        status,
        suspended,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the body is not a Stripe event")]
    NotAnEvent,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";

    #[test]
    fn a_signed_body_verifies_and_anything_else_does_not() {
        let now = Utc::now();
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, now.timestamp(), body);
        assert_eq!(verify(SECRET, &header, body, now), Ok(()));
        // Another body, another secret, a stale or future time, garbage.
        assert_eq!(
            verify(SECRET, &header, br#"{"id":"evt_2"}"#, now),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"whsec_other", &header, body, now),
            Err(WebhookError::BadSignature)
        );
        let old = sign(SECRET, now.timestamp() - TOLERANCE_SECS - 1, body);
        assert_eq!(verify(SECRET, &old, body, now), Err(WebhookError::Stale));
        let future = sign(SECRET, now.timestamp() + TOLERANCE_SECS + 1, body);
        assert_eq!(verify(SECRET, &future, body, now), Err(WebhookError::Stale));
        assert_eq!(
            verify(SECRET, "v1=abc", body, now),
            Err(WebhookError::MalformedSignature)
        );
        assert_eq!(
            verify(SECRET, "", body, now),
            Err(WebhookError::MalformedSignature)
        );
        // A second, valid signature among stale ones (a secret being rolled).
        let rolled = format!("{header},v1=00ff");
        assert_eq!(verify(SECRET, &rolled, body, now), Ok(()));
    }
}
