//! `shown_once`: secrets just made (relay keys, API tokens, invitation links),
//! held sealed for the one page that shows them (post-redirect-get), found by the
//! SHA-256 of a one-time ticket, bound to the session that made them, for ten
//! minutes at most. See the entity for the rules.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ShownOnce::Table)
                    .col(pk_uuid(ShownOnce::Id))
                    .col(string_len(ShownOnce::TicketHash, 64).unique_key())
                    .col(string_len(ShownOnce::SessionHash, 64))
                    .col(uuid(ShownOnce::UserId))
                    .col(integer(ShownOnce::KeyVersion))
                    .col(blob(ShownOnce::Nonce))
                    .col(blob(ShownOnce::Ciphertext))
                    .col(timestamp_with_time_zone(ShownOnce::CreatedAt))
                    .col(timestamp_with_time_zone(ShownOnce::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_shown_once_user_id")
                            .from(ShownOnce::Table, ShownOnce::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_shown_once_expires_at")
                    .table(ShownOnce::Table)
                    .col(ShownOnce::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ShownOnce::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ShownOnce {
    Table,
    Id,
    TicketHash,
    SessionHash,
    UserId,
    KeyVersion,
    Nonce,
    Ciphertext,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
