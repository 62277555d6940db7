//! Routing becomes explicit: the relay no longer sends a model family (`gpt-…`,
//! `claude-…`, …) to a provider because of its name or its kind, which let a newly
//! added provider take a tenant's traffic without anyone saying so. What the old
//! rule did for each existing tenant is written down here as routes, so no
//! traffic moves on upgrade:
//!
//! - per family, the provider the old rule chose: the one named like the family,
//!   else one of the family's kind (the oldest when several: the old choice among
//!   them was arbitrary);
//! - as pattern routes (`claude-*`) and, for OpenAI's `o1`/`o3`/`o4`, the exact
//!   name and `o1-*`;
//! - unless that provider is the tenant's default (the default still catches
//!   those models) or a route for that name or pattern exists.
//!
//! Down removes nothing: the routes are the tenant's now, and routes are valid
//! under both rules.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each family: its name, the provider kind that served it, the route names
/// that cover what the old rule matched.
const FAMILIES: [(&str, Option<&str>, &[&str]); 5] = [
    (
        "openai",
        Some("openai"),
        &[
            "gpt-*",
            "chatgpt-*",
            "text-embedding-*",
            "o1",
            "o1-*",
            "o3",
            "o3-*",
            "o4",
            "o4-*",
        ],
    ),
    ("anthropic", Some("anthropic"), &["claude-*"]),
    ("gemini", Some("gemini"), &["gemini-*"]),
    ("deepseek", None, &["deepseek-*"]),
    ("mock", Some("mock"), &["mock*"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let query = |sql: &str| Statement::from_string(backend, sql.to_owned());
        let mut defaults: BTreeMap<uuid::Uuid, Option<String>> = BTreeMap::new();
        for row in db
            .query_all_raw(query("SELECT id, default_provider FROM tenants"))
            .await?
        {
            defaults.insert(row.try_get("", "id")?, row.try_get("", "default_provider")?);
        }
        // (tenant) → providers in creation order, as (name, kind).
        let mut providers: BTreeMap<uuid::Uuid, Vec<(String, String)>> = BTreeMap::new();
        for row in db
            .query_all_raw(query(
                "SELECT tenant_id, name, kind FROM provider_credentials ORDER BY created_at, name",
            ))
            .await?
        {
            providers
                .entry(row.try_get("", "tenant_id")?)
                .or_default()
                .push((row.try_get("", "name")?, row.try_get("", "kind")?));
        }
        let mut routed: BTreeSet<(uuid::Uuid, String)> = BTreeSet::new();
        for row in db
            .query_all_raw(query("SELECT tenant_id, model FROM model_routes"))
            .await?
        {
            routed.insert((row.try_get("", "tenant_id")?, row.try_get("", "model")?));
        }
        let now = chrono::Utc::now();
        for (tenant_id, default) in defaults {
            let Some(tenant_providers) = providers.get(&tenant_id) else {
                continue;
            };
            for (family, kind, names) in FAMILIES {
                let chosen = tenant_providers
                    .iter()
                    .find(|(name, _)| name == family)
                    .or_else(|| {
                        kind.and_then(|kind| tenant_providers.iter().find(|(_, k)| k == kind))
                    });
                let Some((provider, _)) = chosen else {
                    continue;
                };
                if default.as_deref() == Some(provider.as_str()) {
                    continue;
                }
                for name in names {
                    if !routed.insert((tenant_id, (*name).to_owned())) {
                        continue;
                    }
                    let insert = Query::insert()
                        .into_table(Alias::new("model_routes"))
                        .columns(
                            [
                                "id",
                                "tenant_id",
                                "model",
                                "provider_name",
                                "upstream_model",
                                "created_at",
                                "updated_at",
                            ]
                            .map(Alias::new),
                        )
                        .values([
                            uuid::Uuid::now_v7().into(),
                            tenant_id.into(),
                            (*name).into(),
                            provider.clone().into(),
                            Option::<String>::None.into(),
                            now.into(),
                            now.into(),
                        ])
                        .map_err(|e| DbErr::Custom(e.to_string()))?
                        .to_owned();
                    manager.exec_stmt(insert).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
