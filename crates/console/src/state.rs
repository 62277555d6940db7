//! What every console handler shares.

use std::sync::Arc;

use airlock_core::envelope::MasterKeys;
use airlock_core::key::KeyHasher;
use sea_orm::DatabaseConnection;

use crate::session::SessionKeys;
use crate::throttle::SignInThrottle;

pub struct ConsoleState {
    pub db: DatabaseConnection,
    /// Hashes new relay keys (the same pepper the relays use to look them up).
    pub hasher: KeyHasher,
    pub sessions: SessionKeys,
    /// Seals provider credentials (the relays open them with the same keys).
    pub master_keys: MasterKeys,
    pub throttle: SignInThrottle,
    /// Sends invitations; without one, the inviter is shown the link to pass on.
    pub mailer: Option<crate::mail::Mailer>,
    /// The console's address as people open it (for links in mail); without it,
    /// the address the inviter's request came to.
    pub public_url: Option<String>,
    /// A real Argon2id hash of a random password: checked when an email is unknown,
    /// so a sign-in takes as long for an unknown address as for a known one.
    pub decoy_hash: String,
}

impl ConsoleState {
    /// The console's address for links in mail: configured, or the one this
    /// request came to.
    pub fn link_base(&self, req: &actix_web::HttpRequest) -> String {
        self.public_url.clone().unwrap_or_else(|| {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        })
    }

    pub async fn new(
        db: DatabaseConnection,
        hasher: KeyHasher,
        sessions: SessionKeys,
        master_keys: MasterKeys,
        mailer: Option<crate::mail::Mailer>,
        public_url: Option<String>,
    ) -> Result<Arc<Self>, crate::password::PasswordError> {
        let decoy_hash =
            crate::password::hash_password(crate::password::generate_password()).await?;
        Ok(Arc::new(Self {
            db,
            hasher,
            sessions,
            master_keys,
            mailer,
            public_url,
            throttle: SignInThrottle::default(),
            decoy_hash,
        }))
    }
}
