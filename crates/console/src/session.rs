//! Console sessions: a short-lived HS256 JWT in an HttpOnly, Secure,
//! SameSite=Strict cookie, renewed while the user is active.
//!
//! - The algorithm is pinned: a token whose header names any other algorithm
//!   (`none` included) is refused before its signature is looked at.
//! - A token carries the user's `session_version`; signing out bumps it, so every
//!   token issued before, stolen or not, stops working at once.
//! - The CSRF token of a session is derived from its `jti` with the same secret, so
//!   it needs no storage and dies with the session.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

pub const SESSION_COOKIE: &str = "airlock_session";
/// A session lives this long without activity.
pub const SESSION_SECONDS: i64 = 30 * 60;
/// A request on a token older than this gets a fresh one.
const RENEW_AFTER_SECONDS: i64 = 5 * 60;

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The user's `session_version` when the token was issued.
    pub sv: i32,
    /// Random per sign-in; the CSRF token is derived from it.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn should_renew(&self, now: i64) -> bool {
        now - self.iat >= RENEW_AFTER_SECONDS
    }
}

/// Signs and checks session tokens and CSRF tokens with one server secret.
#[derive(Clone)]
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Keyed with the same secret; cloned per CSRF token.
    csrf_mac: Hmac<Sha256>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the session is missing, expired or invalid")]
pub struct InvalidSession;

impl SessionKeys {
    /// Keys from the server's JWT secret (`AIRLOCK_JWT_SECRET`, at least 32 bytes).
    pub fn new(secret: &SecretString) -> Result<Self, InvalidSession> {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < 32 {
            return Err(InvalidSession);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            csrf_mac: Hmac::new_from_slice(bytes).map_err(|_| InvalidSession)?,
        })
    }

    /// A new session for a user: a fresh `jti`.
    pub fn issue(
        &self,
        user_id: Uuid,
        session_version: i32,
    ) -> Result<(String, Claims), InvalidSession> {
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        self.sign(Claims {
            sub: user_id,
            sv: session_version,
            jti: hex::encode(jti),
            iat: 0,
            exp: 0,
        })
    }

    /// The same session (same `jti`, so the same CSRF token) with a new expiry.
    pub fn renew(&self, claims: &Claims) -> Result<(String, Claims), InvalidSession> {
        self.sign(Claims {
            sub: claims.sub,
            sv: claims.sv,
            jti: claims.jti.clone(),
            iat: 0,
            exp: 0,
        })
    }

    fn sign(&self, mut claims: Claims) -> Result<(String, Claims), InvalidSession> {
        let now = Utc::now().timestamp();
        claims.iat = now;
        claims.exp = now + SESSION_SECONDS;
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| InvalidSession)?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm and expiry. The session version is checked
    /// against the user row by the caller.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidSession> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| InvalidSession)
    }

    /// The CSRF token of a session: HMAC-SHA-256(secret, "csrf|" + jti), hex.
    pub fn csrf_token(&self, claims: &Claims) -> String {
        let mut mac = self.csrf_mac.clone();
        mac.update(b"csrf|");
        mac.update(claims.jti.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The session cookie. `Secure` always: browsers accept it on `https://` and on
/// `http://localhost`/`127.0.0.1`, which is where an unencrypted console belongs.
pub fn session_cookie(token: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(SESSION_SECONDS))
        .finish()
}

/// Removes the session cookie on the client.
pub fn cleared_session_cookie() -> Cookie<'static> {
    let mut cookie = session_cookie(String::new());
    cookie.make_removal();
    cookie
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> SessionKeys {
        SessionKeys::new(&SecretString::from(
            "a-test-secret-that-is-long-enough-0123456789".to_owned(),
        ))
        .unwrap()
    }

    #[test]
    fn an_issued_token_verifies_and_carries_the_user_and_version() {
        let keys = keys();
        let user = Uuid::now_v7();
        let (token, claims) = keys.issue(user, 3).unwrap();
        let verified = keys.verify(&token).unwrap();
        assert_eq!((verified.sub, verified.sv), (user, 3));
        assert_eq!(verified.jti, claims.jti);
        assert_eq!(keys.csrf_token(&verified), keys.csrf_token(&claims));
        let (_, other) = keys.issue(user, 3).unwrap();
        assert_ne!(keys.csrf_token(&other), keys.csrf_token(&claims));
    }

    #[test]
    fn tampered_foreign_and_unsigned_tokens_are_refused() {
        let keys = keys();
        let (token, _) = keys.issue(Uuid::now_v7(), 0).unwrap();
        // Another user id in the payload, old signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
        payload["sub"] = serde_json::json!(Uuid::now_v7());
        parts[1] = b64.encode(payload.to_string());
        assert_eq!(keys.verify(&parts.join(".")), Err(InvalidSession));
        // alg none, no signature.
        let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            keys.verify(&format!("{none_header}.{}.", parts[1])),
            Err(InvalidSession)
        );
        // Signed with another secret.
        let other = SessionKeys::new(&SecretString::from(
            "another-secret-0123456789abcdef0123".to_owned(),
        ))
        .unwrap();
        let (foreign, _) = other.issue(Uuid::now_v7(), 0).unwrap();
        assert_eq!(keys.verify(&foreign), Err(InvalidSession));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = keys();
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::now_v7(),
            sv: 0,
            jti: "x".into(),
            iat: now - 3600,
            exp: now - 1,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert_eq!(keys.verify(&token), Err(InvalidSession));
    }

    #[test]
    fn the_cookie_is_http_only_secure_and_strict() {
        let cookie = session_cookie("t".into()).to_string();
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
    }
}
