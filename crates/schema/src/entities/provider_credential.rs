// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `provider_credentials`: an upstream provider account of a tenant. The secret is stored
//! only as AES-256-GCM ciphertext under the master key (which never lives in the
//! database), with the tenant id as authenticated data. Unique per (tenant, name).

use airlock_core::provider::ProviderKind;
use sea_orm::entity::prelude::*;

use crate::stored::Stored;

/// `Debug` is written by hand: ciphertext and nonce are printed as lengths only.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique per tenant, e.g. `openai`, `deepseek`, `mock`.
    pub name: String,
    /// openai | anthropic | gemini | mock; `openai` covers any OpenAI-compatible base URL.
    pub kind: Stored<ProviderKind>,
    pub base_url: Option<String>,
    /// AES-256-GCM ciphertext of the provider secret; NULL for the `mock` kind.
    #[sea_orm(column_type = "Blob", nullable)]
    pub ciphertext: Option<Vec<u8>>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub nonce: Option<Vec<u8>>,
    /// Version of the master key that sealed `ciphertext`.
    pub key_version: Option<i32>,
    /// Last four characters of the secret, the only part ever shown.
    pub last4: Option<String>,
    pub self_hosted: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub rotated_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("provider_credential::Model")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("ciphertext_len", &self.ciphertext.as_ref().map(Vec::len))
            .field("nonce_len", &self.nonce.as_ref().map(Vec::len))
            .field("key_version", &self.key_version)
            .field("last4", &self.last4)
            .field("self_hosted", &self.self_hosted)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("rotated_at", &self.rotated_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_lengths_not_ciphertext() {
        let at = DateTimeUtc::default();
        let cred = Model {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: "openai".to_owned(),
            kind: Stored(ProviderKind::OpenAi),
            base_url: None,
            ciphertext: Some(vec![0xAB; 40]),
            nonce: Some(vec![0xCD; 12]),
            key_version: Some(1),
            last4: Some("wxyz".to_owned()),
            self_hosted: false,
            created_at: at,
            updated_at: at,
            rotated_at: None,
        };
        let shown = format!("{cred:?}");
        assert!(shown.contains("ciphertext_len: Some(40)"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }
}
