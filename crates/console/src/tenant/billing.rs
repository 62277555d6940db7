//! A tenant's billing, for the billing page and the API: its status, what is
//! waiting to be reported, its Stripe invoices; owners turn it on or off, link
//! or create the Stripe customer, and set the markup and the billing email.
//! Owners, admins and finance read it; only owners change it (audited).

use airlock_schema::entities::{billing_report, tenant_billing};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::audit::{self, Event};
use super::usage::sum_i64;
use super::{Actor, Permission, Store, TenantScope};
use crate::billing::stripe::InvoiceLine;
use crate::billing::{Billing, StripeFailure, parse_markup_percent};
use crate::error::ConsoleError;

/// The billing page's facts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BillingView {
    /// The operator connected Stripe (a secret key is set).
    pub stripe_configured: bool,
    pub enabled: bool,
    pub stripe_customer_id: Option<String>,
    /// Markup over provider cost, in percent (`12.5`).
    pub markup_percent: String,
    pub billing_email: Option<String>,
    /// active | past_due | canceled.
    pub status: String,
    /// The relay refuses the tenant's keys (`billing_suspended`).
    pub suspended: bool,
    pub bill_from: Option<NaiveDate>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_error: Option<String>,
    /// Reports written but not yet accepted by Stripe.
    pub unsent_reports: u64,
    pub unsent_value_micros: i64,
    /// What Stripe accepted for this month so far (after markup).
    pub reported_this_month_micros: i64,
    /// The newest error of an unsent report.
    pub last_report_error: Option<String>,
}

/// Basis points as a percentage: 1250 → `12.5`.
pub fn percent_text(basis_points: i32) -> String {
    let text = format!("{}.{:02}", basis_points / 100, basis_points % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(crate) async fn row(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<Option<tenant_billing::Model>, ConsoleError> {
    Ok(tenant_billing::Entity::find_by_id(scope.tenant_id())
        .one(db)
        .await?)
}

pub async fn view(
    store: &Store,
    scope: &TenantScope,
    billing: Option<&Billing>,
) -> Result<BillingView, ConsoleError> {
    scope.require(Permission::ReadBilling)?;
    view_of(store.db(), scope, billing).await
}

pub(crate) async fn view_of(
    db: &DatabaseConnection,
    scope: &TenantScope,
    billing: Option<&Billing>,
) -> Result<BillingView, ConsoleError> {
    let row = row(db, scope).await?;
    let unsent: Option<(i64, i64)> = billing_report::Entity::find()
        .select_only()
        .column_as(
            sea_orm::sea_query::Expr::cust("CAST(COUNT(*) AS BIGINT)"),
            "n",
        )
        .column_as(sum_i64("value_micros"), "value")
        .filter(billing_report::Column::TenantId.eq(scope.tenant_id()))
        .filter(billing_report::Column::SentAt.is_null())
        .into_tuple()
        .one(db)
        .await?;
    let (unsent_reports, unsent_value) = unsent.unwrap_or((0, 0));
    let today = Utc::now().date_naive();
    let month_start = today.with_day(1).unwrap_or(today);
    let reported: Option<i64> = billing_report::Entity::find()
        .select_only()
        .column_as(sum_i64("value_micros"), "value")
        .filter(billing_report::Column::TenantId.eq(scope.tenant_id()))
        .filter(billing_report::Column::SentAt.is_not_null())
        .filter(billing_report::Column::Day.gte(month_start))
        .into_tuple()
        .one(db)
        .await?;
    let last_report_error: Option<Option<String>> = billing_report::Entity::find()
        .select_only()
        .column(billing_report::Column::LastError)
        .filter(billing_report::Column::TenantId.eq(scope.tenant_id()))
        .filter(billing_report::Column::SentAt.is_null())
        .filter(billing_report::Column::LastError.is_not_null())
        .order_by_desc(billing_report::Column::CreatedAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(BillingView {
        stripe_configured: billing.is_some(),
        enabled: row.as_ref().is_some_and(|r| r.enabled),
        stripe_customer_id: row.as_ref().and_then(|r| r.stripe_customer_id.clone()),
        markup_percent: percent_text(row.as_ref().map_or(0, |r| r.markup_basis_points)),
        billing_email: row.as_ref().and_then(|r| r.billing_email.clone()),
        status: row
            .as_ref()
            .map_or_else(|| "active".to_owned(), |r| r.status.clone()),
        suspended: scope.tenant().billing_suspended,
        bill_from: row.as_ref().and_then(|r| r.bill_from),
        last_sync_at: row.as_ref().and_then(|r| r.last_sync_at),
        last_sync_error: row.as_ref().and_then(|r| r.last_sync_error.clone()),
        unsent_reports: u64::try_from(unsent_reports).unwrap_or(0),
        unsent_value_micros: unsent_value,
        reported_this_month_micros: reported.unwrap_or(0),
        last_report_error: last_report_error.flatten(),
    })
}

/// New billing settings. `customer`: link this existing `cus_…`; `None` while
/// turning billing on with no customer yet creates one in Stripe.
#[derive(Clone, Debug, Default)]
pub struct BillingInput {
    pub enabled: bool,
    pub customer: Option<String>,
    /// A percentage with at most two decimals (`12.5`); `None` keeps the current one.
    pub markup_percent: Option<String>,
    pub billing_email: Option<String>,
}

fn stripe_error(failure: StripeFailure) -> ConsoleError {
    ConsoleError::Stripe(format!(
        "Stripe: {}",
        crate::billing::short_message(&failure.message)
    ))
}

fn check_customer_id(id: &str) -> Result<String, ConsoleError> {
    let id = id.trim();
    let valid = id.starts_with("cus_")
        && id.len() <= 64
        && id.len() > 4
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(id.to_owned())
    } else {
        Err(ConsoleError::InvalidParam(
            "customer",
            "a Stripe customer id looks like cus_NffrFeUfNV2Hib".into(),
        ))
    }
}

fn check_email(email: Option<&str>) -> Result<Option<String>, ConsoleError> {
    match email.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(None),
        Some(e) if e.len() <= 254 && e.contains('@') && !e.contains(char::is_whitespace) => {
            Ok(Some(e.to_owned()))
        }
        Some(_) => Err(ConsoleError::InvalidParam(
            "billing_email",
            "the billing email must be an address like finance@example.com".into(),
        )),
    }
}

fn snapshot(row: &tenant_billing::Model) -> Value {
    json!({
        "enabled": row.enabled,
        "stripe_customer_id": row.stripe_customer_id,
        "markup_percent": percent_text(row.markup_basis_points),
        "billing_email": row.billing_email,
    })
}

/// Validates the input and talks to Stripe (outside any transaction), then
/// writes the row in `txn`. Returns the row before and after.
async fn apply(
    txn: &DatabaseTransaction,
    scope: &TenantScope,
    billing: &Billing,
    input: BillingInput,
) -> Result<(Option<tenant_billing::Model>, tenant_billing::Model), ConsoleError> {
    let existing = row(txn, scope).await?;
    let markup = match input.markup_percent.as_deref().map(str::trim) {
        None | Some("") => existing.as_ref().map_or(0, |r| r.markup_basis_points),
        Some(text) => parse_markup_percent(text)
            .map_err(|m| ConsoleError::InvalidParam("markup_percent", m))?,
    };
    let email = match input.billing_email.as_deref() {
        None => existing.as_ref().and_then(|r| r.billing_email.clone()),
        Some(text) => check_email(Some(text))?,
    };
    let customer = match input
        .customer
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(id) => {
            let id = check_customer_id(id)?;
            billing.api.check_customer(&id).await.map_err(|failure| {
                if failure.not_found {
                    ConsoleError::InvalidParam(
                        "customer",
                        format!(
                            "Stripe has no customer {id} (is it from this Stripe account and mode?)"
                        ),
                    )
                } else {
                    stripe_error(failure)
                }
            })?;
            Some(id)
        }
        None => match existing.as_ref().and_then(|r| r.stripe_customer_id.clone()) {
            Some(id) => Some(id),
            None if input.enabled => Some(
                billing
                    .api
                    .create_customer(
                        &scope.tenant().name,
                        email.as_deref(),
                        scope.slug(),
                        scope.tenant_id(),
                    )
                    .await
                    .map_err(stripe_error)?,
            ),
            None => None,
        },
    };
    let now = Utc::now();
    let today = now.date_naive();
    let saved = match existing.clone() {
        Some(row) => {
            let was_enabled = row.enabled;
            let mut active: tenant_billing::ActiveModel = row.into();
            active.enabled = Set(input.enabled);
            active.stripe_customer_id = Set(customer);
            active.markup_basis_points = Set(markup);
            active.billing_email = Set(email);
            if input.enabled && !was_enabled {
                // Usage is billed from the day billing is turned on.
                active.bill_from = Set(Some(today));
            }
            active.updated_at = Set(now);
            active.update(txn).await?
        }
        None => {
            tenant_billing::ActiveModel {
                tenant_id: Set(scope.tenant_id()),
                enabled: Set(input.enabled),
                stripe_customer_id: Set(customer),
                markup_basis_points: Set(markup),
                billing_email: Set(email),
                bill_from: Set(input.enabled.then_some(today)),
                status: Set("active".into()),
                status_changed_at: Set(None),
                last_sync_at: Set(None),
                last_sync_error: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?
        }
    };
    Ok((existing, saved))
}

/// Changes billing settings from the console or the API (owners; audited).
pub async fn configure(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    billing: Option<&Billing>,
    input: BillingInput,
) -> Result<tenant_billing::Model, ConsoleError> {
    scope.require(Permission::ManageBilling)?;
    let billing = billing.ok_or_else(not_configured)?;
    let txn = store.db().begin().await?;
    let (before, saved) = apply(&txn, scope, billing, input).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "billing.update",
            target_type: "billing",
            target_id: saved.stripe_customer_id.clone(),
            before: before.as_ref().map(snapshot),
            after: Some(snapshot(&saved)),
        },
    )
    .await?;
    Ok(saved)
}

/// The same for the operator's CLI (`airlock billing enable`) when it holds the
/// database and the Stripe key but not the audit chain's key (a server secret):
/// the change is not in the tenant's audit log, and the CLI says so.
pub async fn configure_as_operator(
    db: &DatabaseConnection,
    scope: &TenantScope,
    billing: &Billing,
    input: BillingInput,
) -> Result<tenant_billing::Model, ConsoleError> {
    scope.require(Permission::ManageBilling)?;
    let txn = db.begin().await?;
    let (_, saved) = apply(&txn, scope, billing, input).await?;
    txn.commit().await?;
    Ok(saved)
}

pub fn not_configured() -> ConsoleError {
    ConsoleError::Invalid(
        "billing is off on this Airlock: the operator sets AIRLOCK_STRIPE_SECRET_KEY to connect Stripe".into(),
    )
}

/// A customer's Stripe invoices, newest first, and the upcoming one.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Invoices {
    pub invoices: Vec<InvoiceLine>,
    pub upcoming: Option<InvoiceLine>,
}

pub async fn invoices(
    store: &Store,
    scope: &TenantScope,
    billing: Option<&Billing>,
) -> Result<Invoices, ConsoleError> {
    scope.require(Permission::ReadBilling)?;
    let billing = billing.ok_or_else(not_configured)?;
    let Some(customer) = row(store.db(), scope)
        .await?
        .and_then(|r| r.stripe_customer_id)
    else {
        return Ok(Invoices {
            invoices: Vec::new(),
            upcoming: None,
        });
    };
    let invoices = billing
        .api
        .invoices(&customer)
        .await
        .map_err(stripe_error)?;
    let upcoming = billing
        .api
        .upcoming_invoice(&customer)
        .await
        .map_err(stripe_error)?;
    Ok(Invoices { invoices, upcoming })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_back_as_typed() {
        assert_eq!(percent_text(0), "0");
        assert_eq!(percent_text(1250), "12.5");
        assert_eq!(percent_text(1205), "12.05");
        assert_eq!(percent_text(2000), "20");
    }

    #[test]
    fn customer_ids_and_emails_are_checked_before_stripe_is_asked() {
        assert!(check_customer_id("cus_NffrFeUfNV2Hib").is_ok());
        for bad in ["", "cus_", "sub_123", "cus_123; drop", "cus_../../x"] {
            assert!(
                matches!(
                    check_customer_id(bad),
                    Err(ConsoleError::InvalidParam("customer", _))
                ),
                "{bad}"
            );
        }
        assert_eq!(check_email(Some(" ")).ok(), Some(None));
        assert!(check_email(Some("no at sign")).is_err());
    }
}
