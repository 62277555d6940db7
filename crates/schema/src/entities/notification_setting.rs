// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `notification_settings`: which alert mail a person wants, for every tenant
//! they are in. A person without a row gets all of it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Budget alerts.
    pub budget: bool,
    /// Rotation reminders.
    pub rotation: bool,
    /// Unusual use of a key.
    pub anomaly: bool,
    /// Incident reports.
    pub incident: bool,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
