//! What every console handler shares, built once at startup.

use std::sync::Arc;

use airlock_core::egress::EgressPolicy;
use airlock_core::envelope::MasterKeys;
use airlock_core::key::KeyHasher;
use sea_orm::DatabaseConnection;

use crate::error::ConsoleError;
use crate::session::SessionKeys;
use crate::tenant::{AuditKey, Store};
use crate::throttle::SignInThrottle;

/// The console's settings (the binary fills them from its configuration).
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// The console's address as people open it (for links in mail); without it,
    /// the address the request came to.
    pub public_url: Option<String>,
    /// The relay's address as apps call it, shown to developers with snippets.
    pub relay_public_url: Option<String>,
    /// Whether anyone may make an account (`false`: by invitation only).
    pub allow_signup: bool,
    /// The operator's egress policy, which provider base URLs must fit (the relay
    /// enforces it on every connection; the console refuses what it would refuse).
    pub egress: EgressPolicy,
    /// The longest a client may take to send a request body (then 408).
    pub body_read_timeout: std::time::Duration,
    /// Stripe billing, when the operator connected it.
    pub billing: Option<Arc<crate::billing::Billing>>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            relay_public_url: None,
            allow_signup: true,
            egress: EgressPolicy::default(),
            body_read_timeout: std::time::Duration::from_secs(10),
            billing: None,
        }
    }
}

/// The secrets the console needs.
pub struct ConsoleSecrets {
    /// Hashes new relay keys (the same pepper the relays look them up with).
    pub hasher: KeyHasher,
    pub sessions: SessionKeys,
    /// Seals provider credentials (the relays open them with the same keys).
    pub master_keys: MasterKeys,
    /// Signs the audit chain.
    pub audit_key: AuditKey,
}

pub struct ConsoleState {
    pub store: Store,
    pub hasher: KeyHasher,
    pub sessions: SessionKeys,
    pub master_keys: MasterKeys,
    pub throttle: SignInThrottle,
    /// Sends mail; without one, links are shown to the person instead (where that
    /// is safe: never a password reset).
    pub mailer: Option<crate::mail::Mailer>,
    pub settings: ConsoleSettings,
    /// A real Argon2id hash of a random password: checked when an email is unknown,
    /// so a sign-in takes as long for an unknown address as for a known one.
    pub decoy_hash: String,
}

impl ConsoleState {
    /// The state, after re-keying audit chains written before chains were keyed.
    pub async fn new(
        db: DatabaseConnection,
        secrets: ConsoleSecrets,
        mailer: Option<crate::mail::Mailer>,
        settings: ConsoleSettings,
    ) -> Result<Arc<Self>, ConsoleError> {
        let decoy_hash = crate::password::hash_password(crate::password::generate_password())
            .await
            .map_err(ConsoleError::internal)?;
        let store = Store::new(db, secrets.audit_key);
        let rekeyed = crate::tenant::audit::rekey_legacy_chains(&store).await?;
        if rekeyed > 0 {
            tracing::info!(
                tenants = rekeyed,
                "audit chains written before keyed chains were re-keyed"
            );
        }
        Ok(Arc::new(Self {
            store,
            hasher: secrets.hasher,
            sessions: secrets.sessions,
            master_keys: secrets.master_keys,
            mailer,
            settings,
            throttle: SignInThrottle::default(),
            decoy_hash,
        }))
    }

    pub fn db(&self) -> &DatabaseConnection {
        self.store.db()
    }

    /// Stripe billing, when connected.
    pub fn billing(&self) -> Option<&crate::billing::Billing> {
        self.settings.billing.as_deref()
    }

    /// The console's address for links in mail: configured, or the one this
    /// request came to.
    pub fn link_base(&self, req: &actix_web::HttpRequest) -> String {
        self.settings.public_url.clone().unwrap_or_else(|| {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        })
    }
}
