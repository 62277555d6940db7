//! The console lists a tenant's keys of one environment newest first, 50 a page.
//! With (tenant, env) alone the database sorts every key of the environment for
//! each page; with (tenant, env, created_at, id) it walks the index in order and
//! stops, so a tenant with 100,000 keys pages as fast as one with 100.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_relay_keys_tenant_env_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Alias::new("relay_keys"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("env"))
                    .col(Alias::new("created_at"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Alias::new("relay_keys"))
                    .to_owned(),
            )
            .await
    }
}
