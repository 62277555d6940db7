//! Envelope encryption of provider credentials at rest: AES-256-GCM under a
//! versioned master key that lives outside the database.
//!
//! Decides:
//!
//! - which master key seals (the highest version) and which opens (the version
//!   stored beside the ciphertext), so the master key can be rotated without a
//!   flag day: add a new version, re-seal at leisure, drop the old one last;
//! - what the ciphertext is bound to. The associated data is a fixed context
//!   string, the key version and the tenant id, so a ciphertext copied into
//!   another tenant's row, or relabelled with another key version, fails to open
//!   instead of decrypting under the wrong owner;
//! - how a master key is written in config (see [`MasterKeys::parse`]).
//!
//! Nonces are 12 random bytes from the caller's CSPRNG. Random 96-bit nonces are
//! safe for far more than 2^32 seals under one key; provider credentials number in
//! the thousands.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::{CryptoRng, RngCore};

/// First part of the associated data. Bumping its `v1` makes every existing
/// ciphertext unreadable, so it changes only with a re-sealing migration.
const AAD_CONTEXT: &[u8] = b"airlock/provider-credential/v1";
/// AES-GCM nonce length, in bytes.
pub const NONCE_LEN: usize = 12;
/// Master key length, in bytes (AES-256).
pub const MASTER_KEY_LEN: usize = 32;

/// Why a credential could not be sealed, opened, or a master key read.
///
/// No variant ever carries key bytes or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The ciphertext names a master key version that is not configured.
    #[error(
        "the credential was sealed with master key version {0}, which is not configured; keep every old version in the master key list until all credentials are re-sealed"
    )]
    UnknownKeyVersion(u32),
    /// Authentication failed. One variant on purpose: telling "tampered" from
    /// "wrong tenant" from "wrong key" would only help someone probing.
    #[error(
        "the credential could not be decrypted: it was altered, belongs to another tenant, or the master key for its version has changed"
    )]
    Undecryptable,
    /// The stored nonce is not 12 bytes.
    #[error("the stored nonce is not 12 bytes long; the row is corrupt")]
    BadNonce,
    /// The master key configuration could not be read; the text says why.
    #[error("invalid master key: {0}")]
    InvalidMasterKey(String),
}

/// A sealed credential, as stored: the master key version, the nonce and the
/// AES-GCM ciphertext (with its 16-byte tag at the end).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Version of the master key that sealed it.
    pub key_version: u32,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the authentication tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    /// Lengths only: the ciphertext is harmless without the master key, but there
    /// is no reason to spill it into logs either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_version", &self.key_version)
            .field("nonce_len", &self.nonce.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// The configured master keys by version. The highest version is current: it
/// seals; every version opens what it sealed.
#[derive(Clone)]
pub struct MasterKeys {
    // The current key is kept apart from the rest so that "there is always a
    // current key" holds by construction and sealing has no missing-key path.
    current_version: u32,
    current: Aes256Gcm,
    older: BTreeMap<u32, Aes256Gcm>,
}

impl MasterKeys {
    /// One master key, which is therefore current.
    pub fn new(version: u32, key: [u8; MASTER_KEY_LEN]) -> Self {
        MasterKeys {
            current_version: version,
            current: cipher(key),
            older: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the key for `version`. If `version` is higher than the
    /// current one it becomes current.
    pub fn with_key(mut self, version: u32, key: [u8; MASTER_KEY_LEN]) -> Self {
        let new = cipher(key);
        if version > self.current_version {
            let previous = std::mem::replace(&mut self.current, new);
            self.older.insert(self.current_version, previous);
            self.current_version = version;
        } else if version == self.current_version {
            self.current = new;
        } else {
            self.older.insert(version, new);
        }
        self
    }

    /// Reads master keys from config text (env var or file contents). Either:
    ///
    /// - one standard-base64 32-byte key, which is version 1
    ///   (`openssl rand -base64 32`), or
    /// - comma-separated `VERSION:BASE64` items, e.g. `2:…=,1:…=`; versions
    ///   start at 1 and the highest is current.
    ///
    /// Whitespace around the whole text and around items is ignored (files end
    /// with a newline). Errors say which item is wrong and why, never what it
    /// contained.
    pub fn parse(spec: &str) -> Result<MasterKeys, EnvelopeError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(invalid(
                "it is empty; give one base64 32-byte key or VERSION:BASE64 items separated by commas",
            ));
        }
        // Standard base64 has no ':', so a colon means the versioned form.
        if !spec.contains(':') {
            return Ok(MasterKeys::new(1, decode_key(spec, "the key")?));
        }
        let mut keys = BTreeMap::new();
        for (index, item) in spec.split(',').enumerate() {
            let n = index + 1;
            let item = item.trim();
            if item.is_empty() {
                return Err(invalid(format!("item {n} is empty (a stray comma?)")));
            }
            let Some((version, key)) = item.split_once(':') else {
                return Err(invalid(format!(
                    "item {n} is not VERSION:BASE64; when several keys are given, every key needs a version"
                )));
            };
            // The version text is not echoed: a mangled item may have key text in it.
            let version: u32 = version.trim().parse().map_err(|_| {
                invalid(format!(
                    "item {n}: the version before ':' is not a whole number"
                ))
            })?;
            if version == 0 {
                return Err(invalid(format!(
                    "item {n}: version 0 is not allowed; versions start at 1"
                )));
            }
            let key = decode_key(key.trim(), &format!("item {n} (version {version})"))?;
            if keys.insert(version, key).is_some() {
                return Err(invalid(format!("version {version} appears more than once")));
            }
        }
        let mut keys = keys.into_iter();
        let Some((version, key)) = keys.next() else {
            return Err(invalid("no keys were given"));
        };
        Ok(
            keys.fold(MasterKeys::new(version, key), |all, (version, key)| {
                all.with_key(version, key)
            }),
        )
    }

    /// The version new seals use: the highest configured.
    pub fn current_version(&self) -> u32 {
        self.current_version
    }

    /// Every configured version, ascending.
    pub fn versions(&self) -> Vec<u32> {
        let mut versions: Vec<u32> = self.older.keys().copied().collect();
        versions.push(self.current_version);
        versions.sort_unstable();
        versions
    }

    /// Seals `plaintext` for `tenant_id` under the current master key with a fresh
    /// random nonce. Pass `rand::rngs::OsRng` outside tests.
    pub fn seal(
        &self,
        tenant_id: &[u8],
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let aad = associated_data(self.current_version, tenant_id);
        let payload = Payload {
            msg: plaintext,
            aad: &aad,
        };
        #[expect(
            clippy::expect_used,
            reason = "AES-GCM encryption fails only for a plaintext or associated data over 64 GiB; credentials and tenant ids are bytes long"
        )]
        let ciphertext = self
            .current
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM input limits exceeded");
        Sealed {
            key_version: self.current_version,
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens what [`MasterKeys::seal`] sealed for the same `tenant_id`.
    pub fn open(&self, tenant_id: &[u8], sealed: &Sealed) -> Result<Vec<u8>, EnvelopeError> {
        let cipher = self
            .cipher_for(sealed.key_version)
            .ok_or(EnvelopeError::UnknownKeyVersion(sealed.key_version))?;
        let nonce: [u8; NONCE_LEN] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::BadNonce)?;
        let aad = associated_data(sealed.key_version, tenant_id);
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: &aad,
        };
        cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| EnvelopeError::Undecryptable)
    }

    /// A fixed key for this crate's tests only.
    #[cfg(test)]
    pub fn for_testing() -> Self {
        MasterKeys::new(1, [0x42; MASTER_KEY_LEN])
    }

    fn cipher_for(&self, version: u32) -> Option<&Aes256Gcm> {
        if version == self.current_version {
            Some(&self.current)
        } else {
            self.older.get(&version)
        }
    }
}

impl fmt::Debug for MasterKeys {
    /// Versions only; the keys never leave this type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("versions", &self.versions())
            .field("current_version", &self.current_version)
            .finish()
    }
}

fn cipher(key: [u8; MASTER_KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))
}

/// Context ‖ version (4 bytes, big-endian) ‖ tenant id. The first two parts have
/// fixed lengths, so the encoding is unambiguous without a length prefix.
fn associated_data(version: u32, tenant_id: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 4 + tenant_id.len());
    aad.extend_from_slice(AAD_CONTEXT);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(tenant_id);
    aad
}

fn invalid(why: impl Into<String>) -> EnvelopeError {
    EnvelopeError::InvalidMasterKey(why.into())
}

fn decode_key(text: &str, what: &str) -> Result<[u8; MASTER_KEY_LEN], EnvelopeError> {
    // The decoder's own error names the offending byte and offset, i.e. part of
    // the key: report only that decoding failed.
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| invalid(format!("{what} is not valid standard base64")))?;
    <[u8; MASTER_KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        invalid(format!(
            "{what} decodes to {} bytes; a master key must be exactly 32 bytes (generate one with `openssl rand -base64 32`)",
            bytes.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const TENANT: &[u8] = b"tenant-0001";
    const SECRET: &[u8] = b"sk-live-very-secret-provider-key";

    fn rng() -> StdRng {
        StdRng::seed_from_u64(1)
    }

    fn b64(key: [u8; 32]) -> String {
        STANDARD.encode(key)
    }

    #[test]
    fn a_sealed_secret_opens_to_the_same_bytes() {
        let keys = MasterKeys::for_testing();
        let sealed = keys.seal(TENANT, SECRET, &mut rng());
        assert_eq!(sealed.key_version, 1);
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(sealed.ciphertext.len(), SECRET.len() + 16);
        assert_eq!(keys.open(TENANT, &sealed).unwrap(), SECRET);
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let keys = MasterKeys::for_testing();
        let sealed = keys.seal(TENANT, b"", &mut rng());
        assert_eq!(keys.open(TENANT, &sealed).unwrap(), b"");
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let keys = MasterKeys::for_testing();
        let mut rng = rng();
        let a = keys.seal(TENANT, SECRET, &mut rng);
        let b = keys.seal(TENANT, SECRET, &mut rng);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!a.ciphertext.windows(SECRET.len()).any(|w| w == SECRET));
    }

    #[test]
    fn a_tampered_ciphertext_is_undecryptable() {
        let keys = MasterKeys::for_testing();
        let sealed = keys.seal(TENANT, SECRET, &mut rng());
        for i in 0..sealed.ciphertext.len() {
            let mut tampered = sealed.clone();
            tampered.ciphertext[i] ^= 0x01;
            assert_eq!(
                keys.open(TENANT, &tampered),
                Err(EnvelopeError::Undecryptable)
            );
        }
        let mut truncated = sealed.clone();
        truncated.ciphertext.pop();
        assert_eq!(
            keys.open(TENANT, &truncated),
            Err(EnvelopeError::Undecryptable)
        );
        let mut empty = sealed;
        empty.ciphertext.clear();
        assert_eq!(keys.open(TENANT, &empty), Err(EnvelopeError::Undecryptable));
    }

    #[test]
    fn a_tampered_nonce_is_undecryptable() {
        let keys = MasterKeys::for_testing();
        let mut sealed = keys.seal(TENANT, SECRET, &mut rng());
        sealed.nonce[0] ^= 0x80;
        assert_eq!(
            keys.open(TENANT, &sealed),
            Err(EnvelopeError::Undecryptable)
        );
    }

    #[test]
    fn a_nonce_of_the_wrong_length_is_rejected() {
        let keys = MasterKeys::for_testing();
        let sealed = keys.seal(TENANT, SECRET, &mut rng());
        for len in [0, 11, 13, 16] {
            let mut bad = sealed.clone();
            bad.nonce.resize(len, 0);
            assert_eq!(keys.open(TENANT, &bad), Err(EnvelopeError::BadNonce));
        }
    }

    #[test]
    fn another_tenant_cannot_open_it() {
        let keys = MasterKeys::for_testing();
        let sealed = keys.seal(TENANT, SECRET, &mut rng());
        for other in [&b"tenant-0002"[..], b"tenant-000", b"tenant-00011", b""] {
            assert_eq!(keys.open(other, &sealed), Err(EnvelopeError::Undecryptable));
        }
    }

    #[test]
    fn an_unknown_key_version_is_named() {
        let keys = MasterKeys::for_testing();
        let mut sealed = keys.seal(TENANT, SECRET, &mut rng());
        sealed.key_version = 7;
        assert_eq!(
            keys.open(TENANT, &sealed),
            Err(EnvelopeError::UnknownKeyVersion(7))
        );
    }

    #[test]
    fn relabelling_the_version_fails_even_when_both_keys_are_the_same() {
        // Same key bytes under two versions: only the associated data can tell
        // them apart, and it must.
        let keys = MasterKeys::new(1, [9; 32]).with_key(2, [9; 32]);
        let mut sealed = keys.seal(TENANT, SECRET, &mut rng());
        assert_eq!(sealed.key_version, 2);
        sealed.key_version = 1;
        assert_eq!(
            keys.open(TENANT, &sealed),
            Err(EnvelopeError::Undecryptable)
        );
    }

    #[test]
    fn a_different_master_key_cannot_open_it() {
        let sealed = MasterKeys::for_testing().seal(TENANT, SECRET, &mut rng());
        let other = MasterKeys::new(1, [0x43; 32]);
        assert_eq!(
            other.open(TENANT, &sealed),
            Err(EnvelopeError::Undecryptable)
        );
    }

    #[test]
    fn after_rotation_old_seals_open_and_new_seals_use_the_new_version() {
        let v1 = MasterKeys::new(1, [1; 32]);
        let old = v1.seal(TENANT, SECRET, &mut rng());
        let rotated = v1.with_key(2, [2; 32]);
        assert_eq!(rotated.current_version(), 2);
        assert_eq!(rotated.open(TENANT, &old).unwrap(), SECRET);
        let new = rotated.seal(TENANT, SECRET, &mut rng());
        assert_eq!(new.key_version, 2);
        assert_eq!(rotated.open(TENANT, &new).unwrap(), SECRET);
        // Once v1 is dropped, old seals name the missing version.
        let v2_only = MasterKeys::new(2, [2; 32]);
        assert_eq!(
            v2_only.open(TENANT, &old),
            Err(EnvelopeError::UnknownKeyVersion(1))
        );
        assert_eq!(v2_only.open(TENANT, &new).unwrap(), SECRET);
    }

    #[test]
    fn adding_a_lower_version_keeps_the_current_one() {
        let keys = MasterKeys::new(3, [3; 32]).with_key(1, [1; 32]);
        assert_eq!(keys.current_version(), 3);
        assert_eq!(keys.versions(), vec![1, 3]);
        assert_eq!(keys.seal(TENANT, SECRET, &mut rng()).key_version, 3);
    }

    #[test]
    fn debug_shows_versions_and_lengths_only() {
        let keys = MasterKeys::new(1, [0xAB; 32]).with_key(2, [0xCD; 32]);
        assert_eq!(
            format!("{keys:?}"),
            "MasterKeys { versions: [1, 2], current_version: 2 }"
        );
        let sealed = keys.seal(TENANT, SECRET, &mut rng());
        assert_eq!(
            format!("{sealed:?}"),
            format!(
                "Sealed {{ key_version: 2, nonce_len: 12, ciphertext_len: {} }}",
                SECRET.len() + 16
            )
        );
    }

    #[test]
    fn parse_reads_a_single_key_as_version_one() {
        let keys = MasterKeys::parse(&format!("  {}\n", b64([5; 32]))).unwrap();
        assert_eq!(keys.versions(), vec![1]);
        let sealed = keys.seal(TENANT, SECRET, &mut rng());
        assert_eq!(
            MasterKeys::new(1, [5; 32]).open(TENANT, &sealed).unwrap(),
            SECRET
        );
    }

    #[test]
    fn parse_reads_a_versioned_list_in_any_order() {
        let spec = format!(
            " 2:{} , 1:{},10 : {} ",
            b64([2; 32]),
            b64([1; 32]),
            b64([10; 32])
        );
        let keys = MasterKeys::parse(&spec).unwrap();
        assert_eq!(keys.versions(), vec![1, 2, 10]);
        assert_eq!(keys.current_version(), 10);
        let old = MasterKeys::new(2, [2; 32]).seal(TENANT, SECRET, &mut rng());
        assert_eq!(keys.open(TENANT, &old).unwrap(), SECRET);
    }

    fn parse_error(spec: &str) -> String {
        match MasterKeys::parse(spec) {
            Err(EnvelopeError::InvalidMasterKey(why)) => why,
            other => panic!("expected InvalidMasterKey, got {other:?}"),
        }
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let good = b64([1; 32]);
        let short = STANDARD.encode([1u8; 16]);
        assert!(parse_error("").contains("empty"));
        assert!(parse_error("  \n").contains("empty"));
        assert!(parse_error("not base64!").contains("not valid standard base64"));
        assert!(parse_error(&short).contains("decodes to 16 bytes"));
        assert!(parse_error(&short).contains("exactly 32 bytes"));
        assert!(
            parse_error(&format!("1:{good},1:{good}")).contains("version 1 appears more than once")
        );
        assert!(parse_error(&format!("0:{good}")).contains("version 0 is not allowed"));
        assert!(parse_error(&format!("x:{good}")).contains("not a whole number"));
        assert!(parse_error(&format!("-1:{good}")).contains("not a whole number"));
        assert!(parse_error(&format!("1:{good},")).contains("item 2 is empty"));
        assert!(parse_error(&format!("2:{good},{good}")).contains("item 2 is not VERSION:BASE64"));
        assert!(parse_error(&format!("1:{good},2:{short}")).contains("item 2 (version 2)"));
        assert!(parse_error(&format!("1:{good},2:???")).contains("not valid standard base64"));
    }

    #[test]
    fn parse_errors_never_contain_key_text() {
        let short = STANDARD.encode([0x5A; 16]);
        let good = b64([0x77; 32]);
        let specs = [
            short.clone(),
            format!("1:{short}"),
            format!("1:{good},1:{good}"),
            format!("{good}:1"),
            format!("{}#", &good[..20]),
        ];
        for spec in specs {
            let why = MasterKeys::parse(&spec).unwrap_err().to_string();
            assert!(!why.contains(&short), "{why}");
            assert!(!why.contains(&good[..12]), "{why}");
        }
    }
}
