// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `shown_once`: a secret just made (a relay key, an API token, an invitation
//! link), held for the one page that shows it. The secret is sealed with the
//! master key, bound to its ticket; the row is found only by the SHA-256 of that
//! one-time ticket, answers only the session that made it, lives ten minutes at
//! most and is deleted when shown. So a reload, the back button or a second tab
//! shows "already shown", never the secret again and never a second secret.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shown_once")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Hex SHA-256 of the ticket in the page's address.
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub ticket_hash: String,
    /// Hex SHA-256 of the session's CSRF token (derived from the sign-in).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub session_hash: String,
    pub user_id: Uuid,
    /// Version of the master key that sealed `ciphertext`.
    pub key_version: i32,
    #[sea_orm(column_type = "Blob")]
    pub nonce: Vec<u8>,
    /// AES-256-GCM ciphertext of the page's data (the secret among it).
    #[sea_orm(column_type = "Blob")]
    pub ciphertext: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

/// Lengths only: nothing of a held secret belongs in a log.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShownOnce")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .field("expires_at", &self.expires_at)
            .finish()
    }
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
