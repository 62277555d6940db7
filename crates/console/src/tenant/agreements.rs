//! Agreements with providers: what is on file (DPA with its date and reference,
//! BAA, zero data retention, training opt-out, region, expiry). The relay reads
//! them through the class policies; an expired agreement counts as none.

use airlock_schema::entities::provider_agreement;
use chrono::{NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// Agreements ending within this many days are highlighted.
pub const WARNING_DAYS: i64 = 30;

/// Where an agreement stands today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Current,
    /// Ends within [`WARNING_DAYS`].
    Expiring,
    Expired,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Current => "current",
            Standing::Expiring => "expiring",
            Standing::Expired => "expired",
        }
    }

    pub fn of(expires_on: Option<NaiveDate>, today: NaiveDate) -> Standing {
        match expires_on {
            Some(end) if end < today => Standing::Expired,
            Some(end) if (end - today).num_days() <= WARNING_DAYS => Standing::Expiring,
            _ => Standing::Current,
        }
    }
}

pub struct AgreementRow {
    pub agreement: provider_agreement::Model,
    pub standing: Standing,
}

pub async fn list(
    store: &Store,
    scope: &TenantScope,
    today: NaiveDate,
) -> Result<Vec<AgreementRow>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    Ok(rows(store.db(), scope)
        .await?
        .into_iter()
        .map(|agreement| AgreementRow {
            standing: Standing::of(agreement.expires_on, today),
            agreement,
        })
        .collect())
}

/// Agreement rows for the policy preview (the tenant layer only).
pub(crate) async fn rows(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<Vec<provider_agreement::Model>, ConsoleError> {
    Ok(provider_agreement::Entity::find()
        .filter(provider_agreement::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(provider_agreement::Column::ProviderName)
        .all(db)
        .await?)
}

/// What is on file with a provider.
#[derive(Clone, Debug, Default)]
pub struct NewAgreement {
    pub provider: String,
    pub dpa_signed_on: Option<NaiveDate>,
    pub dpa_reference: Option<String>,
    pub baa: bool,
    pub zero_data_retention: bool,
    pub training_opt_out: bool,
    pub region: Option<String>,
    pub expires_on: Option<NaiveDate>,
}

fn snapshot(row: &provider_agreement::Model) -> Value {
    json!({
        "provider": row.provider_name,
        "dpa_signed_on": row.dpa_signed_on,
        "dpa_reference": row.dpa_reference,
        "baa": row.baa,
        "zero_data_retention": row.zero_data_retention,
        "training_opt_out": row.training_opt_out,
        "region": row.region,
        "expires_on": row.expires_on,
    })
}

fn check(new: &NewAgreement) -> Result<String, ConsoleError> {
    let provider = new.provider.trim().to_ascii_lowercase();
    if provider.is_empty() || provider.len() > 64 || provider.chars().any(char::is_control) {
        return Err(ConsoleError::Invalid(
            "a provider name is 1–64 printable characters".into(),
        ));
    }
    if new
        .dpa_reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > 200)
        || new.region.as_ref().is_some_and(|r| r.chars().count() > 64)
    {
        return Err(ConsoleError::Invalid(
            "a document reference is at most 200 characters and a region at most 64".into(),
        ));
    }
    if let (Some(signed), Some(expires)) = (new.dpa_signed_on, new.expires_on)
        && expires < signed
    {
        return Err(ConsoleError::Invalid(
            "the agreement expires before it was signed".into(),
        ));
    }
    Ok(provider)
}

/// Records (or replaces) what is on file with a provider.
pub async fn save(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    new: NewAgreement,
) -> Result<provider_agreement::Model, ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let provider = check(&new)?;
    let txn = store.db().begin().await?;
    let existing = provider_agreement::Entity::find()
        .filter(provider_agreement::Column::TenantId.eq(scope.tenant_id()))
        .filter(provider_agreement::Column::ProviderName.eq(provider.as_str()))
        .one(&txn)
        .await?;
    let now = Utc::now();
    let mut active = match &existing {
        Some(row) => row.clone().into(),
        None => provider_agreement::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(scope.tenant_id()),
            provider_name: Set(provider),
            created_at: Set(now),
            ..Default::default()
        },
    };
    active.dpa_signed_on = Set(new.dpa_signed_on);
    active.dpa_reference = Set(new.dpa_reference);
    active.baa = Set(new.baa);
    active.zero_data_retention = Set(new.zero_data_retention);
    active.training_opt_out = Set(new.training_opt_out);
    active.region = Set(new.region);
    active.expires_on = Set(new.expires_on);
    active.updated_at = Set(now);
    let saved = if existing.is_some() {
        active.update(&txn).await?
    } else {
        active.insert(&txn).await?
    };
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "agreement.save",
            target_type: "agreement",
            target_id: Some(saved.provider_name.clone()),
            before: existing.as_ref().map(snapshot),
            after: Some(snapshot(&saved)),
        },
    )
    .await?;
    Ok(saved)
}

/// Deletes what is on file with a provider (it then has no agreement).
pub async fn delete(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    provider: &str,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let txn = store.db().begin().await?;
    let row = provider_agreement::Entity::find()
        .filter(provider_agreement::Column::TenantId.eq(scope.tenant_id()))
        .filter(provider_agreement::Column::ProviderName.eq(provider.trim().to_ascii_lowercase()))
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let before = snapshot(&row);
    let name = row.provider_name.clone();
    row.delete(&txn).await?;
    super::touch(&txn, scope).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "agreement.delete",
            target_type: "agreement",
            target_id: Some(name),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestStore;
    use super::*;

    #[test]
    fn agreements_are_flagged_before_and_after_they_end() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let day = |n: i64| today + chrono::Duration::days(n);
        assert_eq!(Standing::of(None, today), Standing::Current);
        assert_eq!(Standing::of(Some(day(31)), today), Standing::Current);
        assert_eq!(Standing::of(Some(day(30)), today), Standing::Expiring);
        assert_eq!(Standing::of(Some(today), today), Standing::Expiring);
        assert_eq!(Standing::of(Some(day(-1)), today), Standing::Expired);
    }

    #[tokio::test]
    async fn an_agreement_cannot_end_before_it_began_and_can_be_deleted() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let day = |d| NaiveDate::from_ymd_opt(2026, 1, d);
        let backwards = NewAgreement {
            provider: "openai".into(),
            dpa_signed_on: day(10),
            expires_on: day(9),
            ..Default::default()
        };
        let err = save(&store, &scope, &Actor::cli(), backwards)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("expires before"));
        let ok = NewAgreement {
            provider: "OpenAI".into(),
            dpa_signed_on: day(1),
            ..Default::default()
        };
        assert_eq!(
            save(&store, &scope, &Actor::cli(), ok)
                .await
                .unwrap()
                .provider_name,
            "openai"
        );
        delete(&store, &scope, &Actor::cli(), "openai")
            .await
            .unwrap();
        assert!(matches!(
            delete(&store, &scope, &Actor::cli(), "openai").await,
            Err(ConsoleError::NotFound)
        ));
    }
}
