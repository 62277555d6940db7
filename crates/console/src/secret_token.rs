//! Bearer secrets the console hands out (invitation links, API tokens): 256
//! random bits as hex, stored only as their SHA-256. A fast hash is enough for
//! values this random; nothing can be guessed from the stored digest.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// 64 hex characters of fresh randomness.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored for a token: hex SHA-256.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
