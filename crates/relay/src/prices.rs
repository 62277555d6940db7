//! Model prices as the relay applies them: the `model_prices` table (list prices,
//! and each tenant's own, which win), loaded at startup and reloaded by the poller
//! when the table changes. Prices are data an admin edits in the console; nothing
//! here is built in.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use airlock_core::pricing::{Price, PriceTable};
use airlock_schema::entities::model_price;
use airlock_schema::{json_strings, queries};
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

#[derive(Default)]
struct Prices {
    list: PriceTable,
    tenants: HashMap<Uuid, PriceTable>,
}

type Stamp = (i64, Option<DateTime<Utc>>);

pub struct PriceBook {
    prices: RwLock<Arc<Prices>>,
    stamp: RwLock<Stamp>,
}

fn build(rows: &[model_price::Model]) -> Prices {
    let mut prices = Prices::default();
    for row in rows {
        let table = match row.tenant_id {
            None => &mut prices.list,
            Some(tenant) => prices.tenants.entry(tenant).or_default(),
        };
        let aliases = json_strings(&row.aliases);
        table.insert(
            &row.model,
            Price::from_micros(row.input_per_mtok_micros, row.output_per_mtok_micros),
            aliases.iter().map(String::as_str),
        );
    }
    prices
}

impl PriceBook {
    /// Reads every price from the database.
    pub async fn load(db: &DatabaseConnection) -> Result<PriceBook, DbErr> {
        let stamp = queries::model_prices_stamp(db).await?;
        let rows = queries::all_model_prices(db).await?;
        Ok(PriceBook {
            prices: RwLock::new(Arc::new(build(&rows))),
            stamp: RwLock::new(stamp),
        })
    }

    /// Reloads the prices if the table changed since the last load (or always,
    /// with `force`: the periodic full resync, which also catches an edit written
    /// with a clock behind the last one seen).
    pub async fn refresh(&self, db: &DatabaseConnection, force: bool) -> Result<(), DbErr> {
        let stamp = queries::model_prices_stamp(db).await?;
        let unchanged = self.stamp.read().map(|s| *s == stamp).unwrap_or(false);
        if unchanged && !force {
            return Ok(());
        }
        let rows = queries::all_model_prices(db).await?;
        if let Ok(mut prices) = self.prices.write() {
            *prices = Arc::new(build(&rows));
        }
        if let Ok(mut current) = self.stamp.write() {
            *current = stamp;
        }
        Ok(())
    }

    fn current(&self) -> Arc<Prices> {
        match self.prices.read() {
            Ok(prices) => prices.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The tenant's price for a model, else the list price; `None` when neither
    /// table knows the model.
    pub fn lookup(&self, tenant: Uuid, model: &str) -> Option<Price> {
        let prices = self.current();
        prices
            .tenants
            .get(&tenant)
            .and_then(|own| own.lookup(model))
            .or_else(|| prices.list.lookup(model))
    }

    /// Every model with a price for this tenant, sorted and without repeats.
    pub fn models(&self, tenant: Uuid) -> Vec<String> {
        let prices = self.current();
        let mut models: Vec<String> = prices
            .list
            .entries()
            .chain(
                prices
                    .tenants
                    .get(&tenant)
                    .into_iter()
                    .flat_map(|t| t.entries()),
            )
            .map(|(model, _)| model.to_owned())
            .collect();
        models.sort();
        models.dedup();
        models
    }
}
