//! `notification_settings`: which alert mail a person wants. No row: all of it.

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
                    .table(NotificationSettings::Table)
                    .col(pk_uuid(NotificationSettings::UserId))
                    .col(boolean(NotificationSettings::Budget).default(true))
                    .col(boolean(NotificationSettings::Rotation).default(true))
                    .col(boolean(NotificationSettings::Anomaly).default(true))
                    .col(boolean(NotificationSettings::Incident).default(true))
                    .col(timestamp_with_time_zone(NotificationSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_settings_user_id")
                            .from(NotificationSettings::Table, NotificationSettings::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NotificationSettings::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum NotificationSettings {
    Table,
    UserId,
    Budget,
    Rotation,
    Anomaly,
    Incident,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
