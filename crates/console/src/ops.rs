//! Control-plane operations: create tenants, users, memberships, relay keys and
//! provider credentials. The `airlock admin` CLI calls these today; the console
//! pages and the management API will call the same functions. Every change sets
//! `updated_at`, which is how the relays learn of it within a second.

use airlock_core::envelope::MasterKeys;
use airlock_core::key::{Env, KeyHasher, RelayKey};
use airlock_core::provider::ProviderKind;
use airlock_core::role::Role;
use airlock_schema::entities::{
    env_default, membership, provider_credential, relay_key, tenant, user,
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::password::{self, PasswordError};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("no tenant with slug `{0}`")]
    UnknownTenant(String),
    #[error("no user with email `{0}`")]
    UnknownUser(String),
    #[error("no active key starting with `{0}` in this tenant")]
    UnknownKey(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// Environment defaults from DESIGN.md: (env, RPM, monthly budget in dollars).
const ENV_DEFAULTS: [(Env, i32, i64); 4] = [
    (Env::Dev, 10, 5),
    (Env::Stg, 100, 50),
    (Env::Prod, 600, 500),
    (Env::Ci, 50, 20),
];
pub const DEFAULT_MAX_KEY_AGE_DAYS: i32 = 90;

fn valid_slug(slug: &str) -> bool {
    (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

/// Creates a tenant with its environment defaults.
pub async fn create_tenant(
    db: &impl ConnectionTrait,
    slug: &str,
    name: &str,
) -> Result<tenant::Model, OpsError> {
    if !valid_slug(slug) {
        return Err(OpsError::Invalid(
            "a tenant slug is 2–40 characters of a-z, 0-9 and '-'".into(),
        ));
    }
    if name.trim().is_empty() {
        return Err(OpsError::Invalid("a tenant needs a name".into()));
    }
    let now = Utc::now();
    let tenant = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug.to_owned()),
        name: Set(name.trim().to_owned()),
        default_provider: Set(None),
        monthly_budget_micros: Set(None),
        rpm_limit: Set(None),
        tpm_limit: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    for (env, rpm, dollars) in ENV_DEFAULTS {
        env_default::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.id),
            env: Set(env.as_str().to_owned()),
            rpm_limit: Set(rpm),
            tpm_limit: Set(None),
            monthly_budget_micros: Set(dollars * 1_000_000),
            max_key_age_days: Set(DEFAULT_MAX_KEY_AGE_DAYS),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    Ok(tenant)
}

pub async fn find_tenant(db: &impl ConnectionTrait, slug: &str) -> Result<tenant::Model, OpsError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or_else(|| OpsError::UnknownTenant(slug.to_owned()))
}

/// Creates a user with an Argon2id password hash; the email is stored lowercased.
pub async fn create_user(
    db: &impl ConnectionTrait,
    email: &str,
    display_name: &str,
    password: SecretString,
) -> Result<user::Model, OpsError> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(OpsError::Invalid("that is not an email address".into()));
    }
    let hash = password::hash_password(password).await?;
    let now = Utc::now();
    Ok(user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email),
        password_hash: Set(hash),
        display_name: Set(display_name.trim().to_owned()),
        session_version: Set(0),
        disabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

pub async fn find_user(db: &impl ConnectionTrait, email: &str) -> Result<user::Model, OpsError> {
    let email = email.trim().to_lowercase();
    user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .ok_or(OpsError::UnknownUser(email))
}

pub async fn add_member(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<membership::Model, OpsError> {
    Ok(membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?)
}

pub struct NewKey {
    pub tenant_id: Uuid,
    pub env: Env,
    pub name: String,
    pub owner_user_id: Option<Uuid>,
    pub allowed_models: Vec<String>,
    /// Defaults to now + the environment's maximum key age.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a key with its environment's default limits. The returned
/// [`RelayKey`] is the only time the full key exists outside the client: show it
/// once, store nothing but the hash.
pub async fn create_key(
    db: &impl ConnectionTrait,
    hasher: &KeyHasher,
    new: NewKey,
) -> Result<(relay_key::Model, RelayKey), OpsError> {
    if new.name.trim().is_empty() || new.name.len() > 100 {
        return Err(OpsError::Invalid(
            "a key needs a name of 1–100 characters".into(),
        ));
    }
    let defaults = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(new.tenant_id))
        .filter(env_default::Column::Env.eq(new.env.as_str()))
        .one(db)
        .await?;
    let key = RelayKey::generate(new.env, &mut rand::rngs::OsRng);
    let now = Utc::now();
    let max_age = defaults
        .as_ref()
        .map_or(DEFAULT_MAX_KEY_AGE_DAYS, |d| d.max_key_age_days);
    let row = relay_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(new.tenant_id),
        env: Set(new.env.as_str().to_owned()),
        name: Set(new.name.trim().to_owned()),
        display_prefix: Set(key.display_prefix()),
        key_hash: Set(hasher.hash(&key).to_hex()),
        owner_user_id: Set(new.owner_user_id),
        created_at: Set(now),
        updated_at: Set(now),
        expires_at: Set(Some(
            new.expires_at
                .unwrap_or(now + Duration::days(i64::from(max_age))),
        )),
        revoked_at: Set(None),
        last_used_at: Set(None),
        rotated_from_id: Set(None),
        grace_until: Set(None),
        rpm_limit: Set(defaults.as_ref().map(|d| d.rpm_limit)),
        tpm_limit: Set(defaults.as_ref().and_then(|d| d.tpm_limit)),
        daily_budget_micros: Set(None),
        monthly_budget_micros: Set(defaults.as_ref().map(|d| d.monthly_budget_micros)),
        per_request_cap_micros: Set(None),
        allowed_models: Set(serde_json::json!(new.allowed_models)),
        ip_allowlist: Set(serde_json::json!([])),
        max_data_class: Set("internal".to_owned()),
        default_data_class: Set("internal".to_owned()),
        max_tokens_ceiling: Set(None),
        reject_over_ceiling: Set(false),
    }
    .insert(db)
    .await?;
    Ok((row, key))
}

/// Revokes a tenant's key by its display prefix; effective on every relay within
/// the poll interval.
pub async fn revoke_key(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    display_prefix: &str,
) -> Result<relay_key::Model, OpsError> {
    let row = relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(tenant_id))
        .filter(relay_key::Column::DisplayPrefix.eq(display_prefix))
        .filter(relay_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| OpsError::UnknownKey(display_prefix.to_owned()))?;
    revoke(db, row).await
}

/// Revokes a key row the caller has already loaded (and checked).
pub async fn revoke(
    db: &impl ConnectionTrait,
    row: relay_key::Model,
) -> Result<relay_key::Model, OpsError> {
    let now = Utc::now();
    let mut active: relay_key::ActiveModel = row.into();
    active.revoked_at = Set(Some(now));
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}

pub struct NewCredential<'a> {
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub kind: ProviderKind,
    pub base_url: Option<&'a str>,
    pub secret: Option<SecretString>,
}

/// Adds or replaces (rotates) a provider credential. The secret is sealed with
/// the current master key and the tenant id as associated data; only its last 4
/// characters are kept in clear, for display.
pub async fn set_credential(
    db: &impl ConnectionTrait,
    master_keys: &MasterKeys,
    new: NewCredential<'_>,
) -> Result<provider_credential::Model, OpsError> {
    if !valid_slug(new.name) {
        return Err(OpsError::Invalid(
            "a provider name is 2–40 characters of a-z, 0-9 and '-'".into(),
        ));
    }
    if let Some(url) = new.base_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(OpsError::Invalid(
            "a base URL starts with https:// or http://".into(),
        ));
    }
    if new.kind.needs_credential() && new.secret.is_none() {
        return Err(OpsError::Invalid(format!(
            "a `{}` provider needs an API key",
            new.kind.as_str()
        )));
    }
    let sealed = new.secret.as_ref().map(|secret| {
        master_keys.seal(
            new.tenant_id.as_bytes(),
            secret.expose_secret().as_bytes(),
            &mut rand::rngs::OsRng,
        )
    });
    let last4 = new.secret.as_ref().map(|s| {
        let chars: Vec<char> = s.expose_secret().chars().collect();
        chars[chars.len().saturating_sub(4)..]
            .iter()
            .collect::<String>()
    });
    let now = Utc::now();
    let existing = provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(new.tenant_id))
        .filter(provider_credential::Column::Name.eq(new.name))
        .one(db)
        .await?;
    let mut active = match &existing {
        Some(row) => {
            let mut active: provider_credential::ActiveModel = row.clone().into();
            active.rotated_at = Set(Some(now));
            active
        }
        None => provider_credential::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(new.tenant_id),
            name: Set(new.name.to_owned()),
            self_hosted: Set(false),
            created_at: Set(now),
            rotated_at: Set(None),
            ..Default::default()
        },
    };
    active.kind = Set(new.kind.as_str().to_owned());
    active.base_url = Set(new.base_url.map(str::to_owned));
    active.key_version = Set(sealed
        .as_ref()
        .map(|s| i32::try_from(s.key_version).unwrap_or(i32::MAX)));
    active.nonce = Set(sealed.as_ref().map(|s| s.nonce.clone()));
    active.ciphertext = Set(sealed.map(|s| s.ciphertext));
    active.last4 = Set(last4);
    active.updated_at = Set(now);
    Ok(if existing.is_some() {
        active.update(db).await?
    } else {
        active.insert(db).await?
    })
}

/// Sets the provider that answers models no other rule routes.
pub async fn set_default_provider(
    db: &impl ConnectionTrait,
    tenant: tenant::Model,
    provider_name: &str,
) -> Result<tenant::Model, OpsError> {
    let mut active: tenant::ActiveModel = tenant.into();
    active.default_provider = Set(Some(provider_name.to_owned()));
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}
