//! Model prices: the list prices every tenant starts from (the operator's, from
//! the `model_prices` rows without a tenant) and a tenant's own prices, which win
//! for its requests. The relay reads both within a second of a change and
//! refuses a model with no price whenever a budget applies, so a price missing
//! here is a request refused there, never a request made free.

use airlock_core::money::MicroDollars;
use airlock_core::pricing::{alias_matches, family_of};
use airlock_schema::entities::model_price;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, ModelTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// The most a price may be per million tokens ($100,000): a typo guard.
const MAX_PER_MTOK: MicroDollars = MicroDollars::new(100_000 * 1_000_000);

/// A price as the prices page shows it.
#[derive(Clone, Debug)]
pub struct PriceRow {
    pub model: String,
    pub input_per_mtok: MicroDollars,
    pub output_per_mtok: MicroDollars,
    pub aliases: Vec<String>,
    /// The tenant's own price (else the list price).
    pub own: bool,
    /// A list price the tenant's own price replaces.
    pub overridden: bool,
}

/// Every price that applies to the tenant: its own, then the list prices, by
/// model name.
pub async fn list(store: &Store, scope: &TenantScope) -> Result<Vec<PriceRow>, ConsoleError> {
    scope.require(Permission::ReadKeys)?;
    let rows = model_price::Entity::find()
        .filter(
            Condition::any()
                .add(model_price::Column::TenantId.is_null())
                .add(model_price::Column::TenantId.eq(scope.tenant_id())),
        )
        .order_by_asc(model_price::Column::Model)
        .all(store.db())
        .await?;
    let own: Vec<&model_price::Model> = rows.iter().filter(|r| r.tenant_id.is_some()).collect();
    let mut out: Vec<PriceRow> = rows
        .iter()
        .map(|row| PriceRow {
            model: row.model.clone(),
            input_per_mtok: MicroDollars::new(row.input_per_mtok_micros),
            output_per_mtok: MicroDollars::new(row.output_per_mtok_micros),
            aliases: airlock_schema::json_strings(&row.aliases),
            own: row.tenant_id.is_some(),
            overridden: row.tenant_id.is_none() && own.iter().any(|o| o.model == row.model),
        })
        .collect();
    out.sort_by(|a, b| (a.model.as_str(), !a.own).cmp(&(b.model.as_str(), !b.own)));
    Ok(out)
}

/// A tenant price as an admin or finance member enters it.
#[derive(Clone, Debug)]
pub struct NewPrice {
    pub model: String,
    pub input_per_mtok: MicroDollars,
    pub output_per_mtok: MicroDollars,
    /// Other names at this price; `{date}` stands for a release date.
    pub aliases: Vec<String>,
}

fn check(new: &NewPrice) -> Result<(String, Vec<String>), ConsoleError> {
    let model = new.model.trim().to_ascii_lowercase();
    let printable = |s: &str| !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_control);
    if !printable(&model) || model.contains("{date}") {
        return Err(ConsoleError::Invalid(
            "a model name is 1–200 printable characters".into(),
        ));
    }
    for price in [new.input_per_mtok, new.output_per_mtok] {
        if price < MicroDollars::ZERO || price > MAX_PER_MTOK {
            return Err(ConsoleError::Invalid(format!(
                "a price is between $0 and {MAX_PER_MTOK} per million tokens"
            )));
        }
    }
    let aliases: Vec<String> = new
        .aliases
        .iter()
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    if aliases.len() > 50 || !aliases.iter().all(|a| printable(a)) {
        return Err(ConsoleError::Invalid(
            "aliases are at most 50 names of 1–200 printable characters".into(),
        ));
    }
    if aliases.iter().any(|a| a.matches("{date}").count() > 1) {
        return Err(ConsoleError::Invalid(
            "an alias holds `{date}` at most once".into(),
        ));
    }
    // A pattern that matched its own model would hide a typo; say so.
    if aliases
        .iter()
        .any(|a| a.contains("{date}") && alias_matches(a, &model))
    {
        return Err(ConsoleError::Invalid(
            "an alias pattern must not match the model's own name".into(),
        ));
    }
    Ok((model, aliases))
}

fn snapshot(row: &model_price::Model) -> Value {
    json!({
        "model": row.model,
        "input_per_mtok_micros": row.input_per_mtok_micros,
        "output_per_mtok_micros": row.output_per_mtok_micros,
        "aliases": row.aliases,
    })
}

/// Sets the tenant's own price for a model (adding or replacing it).
pub async fn save(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    new: NewPrice,
) -> Result<model_price::Model, ConsoleError> {
    scope.require(Permission::ManagePrices)?;
    let (model, aliases) = check(&new)?;
    let txn = store.db().begin().await?;
    let existing = model_price::Entity::find()
        .filter(model_price::Column::TenantId.eq(scope.tenant_id()))
        .filter(model_price::Column::Model.eq(model.as_str()))
        .one(&txn)
        .await?;
    let now = Utc::now();
    let before = existing.as_ref().map(snapshot);
    let mut active = match existing {
        Some(row) => row.into(),
        None => model_price::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(Some(scope.tenant_id())),
            model: Set(model.clone()),
            provider_family: Set(family_of(&model).unwrap_or("unknown").to_owned()),
            created_at: Set(now),
            ..Default::default()
        },
    };
    active.input_per_mtok_micros = Set(new.input_per_mtok.as_micros());
    active.output_per_mtok_micros = Set(new.output_per_mtok.as_micros());
    active.aliases = Set(json!(aliases));
    active.updated_at = Set(now);
    let saved = if before.is_some() {
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
            action: "price.save",
            target_type: "price",
            target_id: Some(saved.model.clone()),
            before,
            after: Some(snapshot(&saved)),
        },
    )
    .await?;
    Ok(saved)
}

/// Removes the tenant's own price for a model (the list price applies again, or
/// none).
pub async fn remove(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    model: &str,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManagePrices)?;
    let txn = store.db().begin().await?;
    let row = model_price::Entity::find()
        .filter(model_price::Column::TenantId.eq(scope.tenant_id()))
        .filter(model_price::Column::Model.eq(model.trim().to_ascii_lowercase()))
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let before = snapshot(&row);
    let name = row.model.clone();
    row.delete(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "price.remove",
            target_type: "price",
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
    use airlock_core::role::Role;

    fn price(model: &str, input: i64) -> NewPrice {
        NewPrice {
            model: model.into(),
            input_per_mtok: MicroDollars::new(input),
            output_per_mtok: MicroDollars::new(input * 2),
            aliases: vec![],
        }
    }

    #[tokio::test]
    async fn a_tenant_price_overrides_the_list_price_and_finance_may_set_it() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let (_, finance) = store.member(&scope, Role::Finance).await;
        save(&store, &finance, &Actor::cli(), price("GPT-4o", 1_000_000))
            .await
            .unwrap();
        let rows = list(&store, &scope).await.unwrap();
        let own = rows.iter().find(|r| r.model == "gpt-4o" && r.own).unwrap();
        assert_eq!(own.input_per_mtok, MicroDollars::new(1_000_000));
        assert!(
            rows.iter()
                .any(|r| r.model == "gpt-4o" && !r.own && r.overridden)
        );
        remove(&store, &finance, &Actor::cli(), "gpt-4o")
            .await
            .unwrap();
        let (_, developer) = store.member(&scope, Role::Developer).await;
        assert!(matches!(
            save(&store, &developer, &Actor::cli(), price("x", 1)).await,
            Err(ConsoleError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn prices_and_aliases_are_checked() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        for (new, expected) in [
            (price("", 1), "model name"),
            (price("m", -1), "between $0"),
            (price("m", 200_000_000_000), "between $0"),
            (
                NewPrice {
                    aliases: vec!["m-{date}-{date}".into()],
                    ..price("m", 1)
                },
                "at most once",
            ),
        ] {
            let err = save(&store, &scope, &Actor::cli(), new)
                .await
                .err()
                .unwrap();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
