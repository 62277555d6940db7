//! Relay keys: what a well-formed key is, how a new one is drawn, and what the
//! database stores in its place.
//!
//! A key reads `<env>_<body>`, with `env` one of `dev`, `stg`, `prod`, `ci` and a
//! body of exactly 38 base62 characters (`0-9A-Za-z`): 32 random ones (about 190
//! bits) followed by a 6-character checksum. The checksum is CRC32 over the text
//! `<env>_<32 random chars>`, written as a zero-padded base62 number, so:
//!
//! - a typo or a truncated paste is rejected by [`RelayKey::parse`] without a
//!   database hit, and a secret scanner can recognise a leaked key;
//! - moving the random part under another environment prefix breaks the checksum.
//!
//! The checksum is not a MAC: anyone can compute it. A key is only *valid* if its
//! [`KeyHash`] is on file. That hash is an HMAC-SHA-256 under a server pepper
//! ([`KeyHasher`]), so a copy of the database alone does not allow testing guesses.
//!
//! Changing the alphabet, the lengths, the checksum or the hash domain below
//! invalidates every key ever issued.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The base62 alphabet, in the order that gives a checksum its digit values.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a key body: 32 × log2(62) ≈ 190 bits.
const RANDOM_LEN: usize = 32;
/// Base62 digits of the checksum: 62^6 > 2^32, so any CRC32 fits.
const CHECKSUM_LEN: usize = 6;
/// Everything after `<env>_`.
const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
/// Random characters shown in the display prefix. 8 base62 characters (~47 bits)
/// tell keys apart in a list while leaving ~143 unknown bits in the rest.
const DISPLAY_RANDOM_LEN: usize = 8;

/// The smallest pepper [`KeyHasher::new`] accepts, in bytes.
pub const MIN_PEPPER_LEN: usize = 32;

/// Domain-separation prefixes: the same pepper keys both HMACs, so a content
/// digest must never be able to equal a key hash (and vice versa). The two
/// prefixes differ early and neither is a prefix of the other.
const KEY_HASH_DOMAIN: &[u8] = b"airlock/relay-key-hash/v1\0";
const CONTENT_DIGEST_DOMAIN: &[u8] = b"airlock/content-digest/v1\0";

/// The environment a relay key belongs to; also the first part of the key text.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// Development.
    Dev,
    /// Staging.
    Stg,
    /// Production.
    Prod,
    /// Continuous integration.
    Ci,
}

impl Env {
    /// Every environment, in order.
    pub const ALL: [Env; 4] = [Env::Dev, Env::Stg, Env::Prod, Env::Ci];

    /// The lowercase name, which is also the key prefix before `_`.
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Dev => "dev",
            Env::Stg => "stg",
            Env::Prod => "prod",
            Env::Ci => "ci",
        }
    }

    /// Exact, case-sensitive match, as used inside a key: `PROD_…` is not a key.
    fn from_key_prefix(prefix: &str) -> Option<Env> {
        Env::ALL.into_iter().find(|env| env.as_str() == prefix)
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Env {
    type Err = KeyError;

    /// Parses an environment *name* (from a form, the CLI or config): surrounding
    /// whitespace is ignored and case does not matter. Key parsing does not go
    /// through here; it is strict.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Env::ALL
            .into_iter()
            .find(|env| env.as_str().eq_ignore_ascii_case(s))
            .ok_or(KeyError::UnknownEnvironment)
    }
}

/// Why a text is not a relay key. The messages never echo the text: it may be a
/// real key pasted into the wrong place.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Nothing was given.
    #[error("no relay key was given")]
    Empty,
    /// The part before `_` is not an environment.
    #[error(
        "the environment is not one of dev, stg, prod, ci (a relay key starts with dev_, stg_, prod_ or ci_)"
    )]
    UnknownEnvironment,
    /// Wrong length or a character outside `0-9A-Za-z` after the prefix.
    #[error(
        "the relay key is malformed: after the environment prefix it must have exactly 38 characters from 0-9, A-Z, a-z (was it truncated or padded?)"
    )]
    Malformed,
    /// Well-formed, but the checksum does not match the rest.
    #[error("the relay key's checksum does not match: it was mistyped or altered")]
    BadChecksum,
}

/// A well-formed relay key. The only ways to get one are [`RelayKey::generate`] and
/// [`RelayKey::parse`].
///
/// It has no `Display` and no `Serialize` on purpose: the full text leaves only
/// through [`RelayKey::expose`], and `Debug` shows the display prefix alone.
#[derive(Clone)]
pub struct RelayKey {
    env: Env,
    /// The full key text; ASCII by construction.
    text: String,
}

impl RelayKey {
    /// Draws a new key for `env`. Pass `rand::rngs::OsRng` outside tests.
    pub fn generate(env: Env, rng: &mut (impl RngCore + CryptoRng)) -> RelayKey {
        let mut text = String::with_capacity(env.as_str().len() + 1 + BODY_LEN);
        text.push_str(env.as_str());
        text.push('_');
        push_random_base62(&mut text, RANDOM_LEN, rng);
        let checksum = checksum_chars(crc32fast::hash(text.as_bytes()));
        text.extend(checksum.iter().map(|&b| char::from(b)));
        RelayKey { env, text }
    }

    /// Checks that `s` is a well-formed key, without a database: known
    /// environment prefix, exactly 38 base62 characters after it, and a matching
    /// checksum. Nothing is trimmed; a key with surrounding whitespace is
    /// malformed (the caller decides whether to trim a header value).
    pub fn parse(s: &str) -> Result<RelayKey, KeyError> {
        if s.is_empty() {
            return Err(KeyError::Empty);
        }
        let Some((prefix, body)) = s.split_once('_') else {
            return Err(KeyError::UnknownEnvironment);
        };
        let env = Env::from_key_prefix(prefix).ok_or(KeyError::UnknownEnvironment)?;
        // `len` counts bytes; together with the all-ASCII check it also counts chars,
        // which makes the byte-index splits below safe.
        if body.len() != BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyError::Malformed);
        }
        let signed_len = prefix.len() + 1 + RANDOM_LEN;
        let (signed, checksum) = s.split_at(signed_len);
        if checksum.as_bytes() != checksum_chars(crc32fast::hash(signed.as_bytes())) {
            return Err(KeyError::BadChecksum);
        }
        Ok(RelayKey {
            env,
            text: s.to_owned(),
        })
    }

    /// The environment the key belongs to.
    pub fn env(&self) -> Env {
        self.env
    }

    /// The full key text. Use it only to show the key once, at creation, and to
    /// send it (as a bearer token, or to [`KeyHasher::hash`]). Never log it, store
    /// it or put it in an error.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The public part kept beside the hash and shown in lists: the environment,
    /// `_` and the first 8 random characters, e.g. `prod_A1b2C3d4`.
    pub fn display_prefix(&self) -> String {
        let end = self.env.as_str().len() + 1 + DISPLAY_RANDOM_LEN;
        // Always in range and on a char boundary (the text is ASCII and longer);
        // `get` keeps this free of a panic path anyway.
        self.text.get(..end).unwrap_or_default().to_owned()
    }
}

impl fmt::Debug for RelayKey {
    /// Only the display prefix: a key in a log line or a test failure must not be
    /// usable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.display_prefix())
    }
}

impl PartialEq for RelayKey {
    /// Constant time in the contents, so comparing against a secret key does not
    /// leak how much of it matched.
    fn eq(&self, other: &Self) -> bool {
        self.text.as_bytes().ct_eq(other.text.as_bytes()).into()
    }
}

impl Eq for RelayKey {}

/// Appends `n` uniformly random base62 characters.
fn push_random_base62(out: &mut String, n: usize, rng: &mut (impl RngCore + CryptoRng)) {
    // 248 = 4 × 62: each byte below it maps onto 0..62 exactly four times, so
    // `b % 62` is uniform. The 8 bytes above are rejected rather than folded in,
    // which would make the first 8 characters slightly more likely (modulo bias).
    const ACCEPT_BELOW: u8 = 248;
    let mut pushed = 0;
    let mut buf = [0u8; 64];
    while pushed < n {
        rng.fill_bytes(&mut buf);
        for &b in buf.iter().filter(|&&b| b < ACCEPT_BELOW) {
            out.push(char::from(BASE62[usize::from(b % 62)]));
            pushed += 1;
            if pushed == n {
                break;
            }
        }
    }
}

/// A CRC32 as 6 base62 digits, most significant first, zero-padded.
fn checksum_chars(crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    let mut rest = crc;
    for digit in out.iter_mut().rev() {
        *digit = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    out
}

/// Where a key is in its life at a moment: the one rule the relay enforces and the
/// console shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Works, and is not being rotated out.
    Active,
    /// Rotated out; works until its grace period ends.
    Grace,
    /// Past its expiry, or past the grace period of a rotation.
    Expired,
    /// Revoked by an admin; never works again.
    Revoked,
    /// Suspended in an incident: refused until a person releases it.
    Suspended,
}

impl KeyState {
    /// The state at `now` of a key with these timestamps.
    /// Revoked and expired are final and win; a suspension holds a key that would
    /// otherwise work.
    pub fn at(
        now: chrono::DateTime<chrono::Utc>,
        revoked_at: Option<chrono::DateTime<chrono::Utc>>,
        suspended_at: Option<chrono::DateTime<chrono::Utc>>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        grace_until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> KeyState {
        if revoked_at.is_some_and(|t| t <= now) {
            KeyState::Revoked
        } else if expires_at.is_some_and(|t| t <= now) || grace_until.is_some_and(|t| t <= now) {
            KeyState::Expired
        } else if suspended_at.is_some_and(|t| t <= now) {
            KeyState::Suspended
        } else if grace_until.is_some() {
            KeyState::Grace
        } else {
            KeyState::Active
        }
    }

    /// Active and grace keys work.
    pub fn works(self) -> bool {
        matches!(self, KeyState::Active | KeyState::Grace)
    }

    /// The lowercase name, as pages show it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Grace => "grace",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
            KeyState::Suspended => "suspended",
        }
    }
}

/// The pepper given to [`KeyHasher::new`] is too short to be a secret worth having.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error(
    "the key pepper must be at least 32 bytes (it has {len}); generate one with `openssl rand -base64 48`"
)]
pub struct PepperTooShort {
    /// The length that was given, in bytes.
    pub len: usize,
}

/// Hashes relay keys (and request content) with HMAC-SHA-256 under the server
/// pepper.
///
/// A keyed hash, not a plain one: relay keys have enough entropy that a plain
/// SHA-256 would resist guessing too, but the pepper lives outside the database,
/// so a leaked database does not even let an attacker confirm a key found
/// elsewhere. The same holds for [`KeyHasher::content_digest`], whose inputs
/// (prompts) have little entropy.
#[derive(Clone)]
pub struct KeyHasher {
    /// HMAC state with the pepper already absorbed; cloned per hash.
    mac: Hmac<Sha256>,
}

impl KeyHasher {
    /// A hasher keyed with `pepper`, which must be at least
    /// [`MIN_PEPPER_LEN`] (32) bytes.
    pub fn new(pepper: &[u8]) -> Result<KeyHasher, PepperTooShort> {
        let too_short = PepperTooShort { len: pepper.len() };
        if pepper.len() < MIN_PEPPER_LEN {
            return Err(too_short);
        }
        // HMAC accepts keys of any length, so this error cannot happen; mapping it
        // keeps the constructor free of a panic path.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper).map_err(|_| too_short)?;
        Ok(KeyHasher { mac })
    }

    /// The hash stored for `key` and looked up when it is presented.
    pub fn hash(&self, key: &RelayKey) -> KeyHash {
        let mut mac = self.mac.clone();
        mac.update(KEY_HASH_DOMAIN);
        mac.update(key.expose().as_bytes());
        KeyHash(mac.finalize().into_bytes().into())
    }

    /// Lowercase hex HMAC of `data`, the "salted hash of the input" in usage
    /// records: equal inputs can be recognised as equal within one deployment,
    /// but the text cannot be recovered or confirmed without the pepper. Domain
    /// separated from [`KeyHasher::hash`].
    pub fn content_digest(&self, data: &[u8]) -> String {
        self.content_digest_parts([data])
    }

    /// [`content_digest`](Self::content_digest) of the concatenated parts, without
    /// copying them into one buffer first (the relay digests every prompt).
    pub fn content_digest_parts<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
        let mut mac = self.mac.clone();
        mac.update(CONTENT_DIGEST_DOMAIN);
        for part in parts {
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for KeyHasher {
    /// The pepper is the one secret that makes stored hashes unguessable: never
    /// print it, nor the HMAC state derived from it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher { pepper: <redacted> }")
    }
}

/// The stored form of a relay key: HMAC-SHA-256 of the key under the pepper.
#[derive(Clone, Copy, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Wraps raw hash bytes (e.g. read from a binary column).
    pub fn from_bytes(bytes: [u8; 32]) -> KeyHash {
        KeyHash(bytes)
    }

    /// The raw hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters (either case); `None` for anything else.
    pub fn from_hex(s: &str) -> Option<KeyHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(KeyHash(bytes))
    }

    /// Constant-time equality, so a lookup that compares a presented key's hash
    /// with a stored one does not leak how many leading bytes matched.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

// Written by hand only because `PartialEq` is; it hashes exactly the bytes that
// `eq` compares, so equal values hash equally.
impl Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyHash {
    /// Enough to tell hashes apart in a log, not enough to look a key up by.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        write!(f, "KeyHash({}…)", hex.get(..8).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_of_parts_equals_the_digest_of_their_concatenation() {
        let hasher = KeyHasher::new(&[3u8; 32]).unwrap();
        let parts: [&[u8]; 4] = [b"user", b"\0", b"hello", b"\0"];
        assert_eq!(
            hasher.content_digest_parts(parts),
            hasher.content_digest(b"user\0hello\0")
        );
        assert_ne!(
            hasher.content_digest_parts(parts),
            hasher.content_digest(b"user\0hello")
        );
    }
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const PEPPER: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    fn key(env: Env, seed: u64) -> RelayKey {
        RelayKey::generate(env, &mut StdRng::seed_from_u64(seed))
    }

    fn random_part(key: &RelayKey) -> &str {
        &key.expose()[key.env().as_str().len() + 1..][..RANDOM_LEN]
    }

    // --- format ---

    #[test]
    fn a_generated_key_is_env_underscore_and_38_base62_characters() {
        for env in Env::ALL {
            let key = key(env, 7);
            let (prefix, body) = key.expose().split_once('_').unwrap();
            assert_eq!(prefix, env.as_str());
            assert_eq!(body.len(), 38);
            assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(key.env(), env);
        }
    }

    #[test]
    fn the_checksum_is_crc32_of_env_and_random_part_in_base62() {
        let key = key(Env::Prod, 1);
        let (signed, checksum) = key.expose().split_at("prod_".len() + 32);
        let decoded = checksum.bytes().fold(0u64, |acc, b| {
            let digit = BASE62.iter().position(|&c| c == b).unwrap() as u64;
            acc * 62 + digit
        });
        assert_eq!(decoded, u64::from(crc32fast::hash(signed.as_bytes())));
    }

    #[test]
    fn checksum_digits_are_zero_padded_base62() {
        assert_eq!(&checksum_chars(0), b"000000");
        assert_eq!(&checksum_chars(61), b"00000z");
        assert_eq!(&checksum_chars(62), b"000010");
        // The largest CRC32 still fits in six digits.
        assert_eq!(&checksum_chars(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn two_generated_keys_differ() {
        let mut rng = StdRng::seed_from_u64(3);
        let a = RelayKey::generate(Env::Dev, &mut rng);
        let b = RelayKey::generate(Env::Dev, &mut rng);
        assert_ne!(a, b);
    }

    #[test]
    fn random_characters_are_roughly_uniform_over_the_alphabet() {
        // 62 * 32 * 100 draws: each character expected 3200 times. A modulo bias of
        // 256 % 62 would put the first 8 characters ~25% above the rest.
        let mut rng = StdRng::seed_from_u64(11);
        let mut counts = [0u32; 62];
        for _ in 0..62 * 100 {
            let key = RelayKey::generate(Env::Ci, &mut rng);
            for b in random_part(&key).bytes() {
                counts[BASE62.iter().position(|&c| c == b).unwrap()] += 1;
            }
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 2900 && *max < 3500, "min {min}, max {max}");
    }

    #[test]
    fn display_prefix_is_env_and_first_eight_random_characters() {
        let key = key(Env::Prod, 5);
        let prefix = key.display_prefix();
        assert_eq!(prefix, format!("prod_{}", &random_part(&key)[..8]));
        assert!(key.expose().starts_with(&prefix));
    }

    #[test]
    fn debug_shows_only_the_display_prefix() {
        let key = key(Env::Stg, 9);
        let debug = format!("{key:?}");
        assert_eq!(debug, format!("{}…", key.display_prefix()));
        assert!(!debug.contains(&random_part(&key)[8..]));
        assert!(!format!("{:#?}", Some(&key)).contains(key.expose()));
    }

    // --- parsing ---

    #[test]
    fn a_generated_key_parses_back_to_itself() {
        for env in Env::ALL {
            let key = key(env, 42);
            let parsed = RelayKey::parse(key.expose()).unwrap();
            assert_eq!(parsed, key);
            assert_eq!(parsed.env(), env);
            assert_eq!(parsed.display_prefix(), key.display_prefix());
        }
    }

    #[test]
    fn empty_text_is_rejected_as_empty() {
        assert_eq!(RelayKey::parse(""), Err(KeyError::Empty));
    }

    #[test]
    fn unknown_or_differently_cased_prefixes_are_rejected() {
        let key = key(Env::Prod, 2);
        let body = &key.expose()["prod_".len()..];
        for prefix in ["PROD", "Prod", "test", "live", "", "sk", " prod", "prod "] {
            let text = format!("{prefix}_{body}");
            assert_eq!(
                RelayKey::parse(&text),
                Err(KeyError::UnknownEnvironment),
                "{prefix:?}"
            );
        }
        assert_eq!(
            RelayKey::parse("sk-proj-abcdef"),
            Err(KeyError::UnknownEnvironment)
        );
    }

    #[test]
    fn wrong_length_or_characters_are_malformed() {
        let key = key(Env::Dev, 4);
        let text = key.expose();
        let malformed = [
            "dev_".to_owned(),
            text[..text.len() - 1].to_owned(),
            format!("{text}A"),
            format!("{text}\n"),
            format!("{}-{}", &text[..10], &text[11..]),
            format!("{}_{}", &text[..10], &text[11..]),
            format!("{}é{}", &text[..10], &text[12..]),
        ];
        for text in malformed {
            assert_eq!(RelayKey::parse(&text), Err(KeyError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let key = key(Env::Prod, 8);
        let text = key.expose();
        for i in "prod_".len()..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(
                RelayKey::parse(&changed),
                Err(KeyError::BadChecksum),
                "position {i}"
            );
        }
    }

    #[test]
    fn moving_a_key_to_another_environment_fails_the_checksum() {
        for seed in 0..50 {
            for from in Env::ALL {
                let key = key(from, seed);
                let body = &key.expose()[from.as_str().len() + 1..];
                for to in Env::ALL.into_iter().filter(|&to| to != from) {
                    let moved = format!("{to}_{body}");
                    assert_eq!(RelayKey::parse(&moved), Err(KeyError::BadChecksum));
                }
            }
        }
    }

    #[test]
    fn error_messages_do_not_echo_the_key() {
        let key = key(Env::Prod, 12);
        let attempts = [
            format!("{}x", key.expose()),
            format!("prox{}", &key.expose()[4..]),
            format!("{}a", &key.expose()[..key.expose().len() - 1]),
        ];
        for attempt in attempts {
            let message = RelayKey::parse(&attempt).unwrap_err().to_string();
            assert!(!message.contains(random_part(&key)), "{message}");
            assert!(!message.contains(&key.display_prefix()), "{message}");
        }
    }

    #[test]
    fn env_names_round_trip_and_parse_leniently_outside_keys() {
        for env in Env::ALL {
            assert_eq!(env.to_string().parse::<Env>(), Ok(env));
            let shouted = format!("  {}\n", env.as_str().to_uppercase());
            assert_eq!(shouted.parse::<Env>(), Ok(env));
            let json = serde_json::to_string(&env).unwrap();
            assert_eq!(json, format!("\"{}\"", env.as_str()));
            assert_eq!(serde_json::from_str::<Env>(&json).unwrap(), env);
        }
        assert_eq!(
            "production".parse::<Env>(),
            Err(KeyError::UnknownEnvironment)
        );
    }

    // --- hashing ---

    #[test]
    fn a_short_pepper_is_refused() {
        let err = KeyHasher::new(&[7u8; 31]).unwrap_err();
        assert_eq!(err, PepperTooShort { len: 31 });
        assert!(
            err.to_string()
                .contains("the key pepper must be at least 32 bytes")
        );
        assert!(KeyHasher::new(&[]).is_err());
        assert!(KeyHasher::new(&[7u8; 32]).is_ok());
    }

    #[test]
    fn the_same_key_hashes_the_same_and_different_keys_differently() {
        let hasher = KeyHasher::new(PEPPER).unwrap();
        let a = key(Env::Prod, 1);
        let b = key(Env::Prod, 2);
        let reparsed = RelayKey::parse(a.expose()).unwrap();
        assert_eq!(hasher.hash(&a), hasher.hash(&reparsed));
        assert!(hasher.hash(&a).ct_eq(&hasher.hash(&reparsed)));
        assert_ne!(hasher.hash(&a), hasher.hash(&b));
        assert!(!hasher.hash(&a).ct_eq(&hasher.hash(&b)));
    }

    #[test]
    fn a_different_pepper_gives_a_different_hash() {
        let key = key(Env::Dev, 1);
        let one = KeyHasher::new(PEPPER).unwrap();
        let other = KeyHasher::new(b"another pepper of at least 32 bytes").unwrap();
        assert_ne!(one.hash(&key), other.hash(&key));
        assert_ne!(one.content_digest(b"hi"), other.content_digest(b"hi"));
    }

    #[test]
    fn the_hash_is_hmac_sha256_of_a_domain_prefix_and_the_key() {
        let hasher = KeyHasher::new(PEPPER).unwrap();
        let key = key(Env::Ci, 1);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(PEPPER).unwrap();
        mac.update(b"airlock/relay-key-hash/v1\0");
        mac.update(key.expose().as_bytes());
        assert_eq!(
            hasher.hash(&key).to_hex(),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn content_digests_are_lowercase_hex_and_domain_separated_from_key_hashes() {
        let hasher = KeyHasher::new(PEPPER).unwrap();
        let key = key(Env::Prod, 3);
        let digest = hasher.content_digest(key.expose().as_bytes());
        assert_eq!(digest.len(), 64);
        assert!(
            digest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_ne!(digest, hasher.hash(&key).to_hex());
        assert_eq!(digest, hasher.content_digest(key.expose().as_bytes()));
        assert_ne!(digest, hasher.content_digest(b"something else"));
    }

    #[test]
    fn hasher_debug_shows_no_key_material() {
        let hasher = KeyHasher::new(PEPPER).unwrap();
        let debug = format!("{hasher:?} {hasher:#?}");
        assert!(!debug.contains("0123456789abcdef"));
        assert!(!debug.contains(&hex::encode(PEPPER)));
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn key_hash_hex_round_trips_and_debug_is_short() {
        let hasher = KeyHasher::new(PEPPER).unwrap();
        let hash = hasher.hash(&key(Env::Prod, 4));
        let hex = hash.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(KeyHash::from_hex(&hex), Some(hash));
        assert_eq!(KeyHash::from_hex(&hex.to_uppercase()), Some(hash));
        assert_eq!(KeyHash::from_bytes(*hash.as_bytes()), hash);
        assert_eq!(KeyHash::from_hex(&hex[..62]), None);
        assert_eq!(KeyHash::from_hex(&format!("{hex}00")), None);
        assert_eq!(KeyHash::from_hex(&format!("{}zz", &hex[..62])), None);
        assert_eq!(format!("{hash:?}"), format!("KeyHash({}…)", &hex[..8]));
    }

    #[test]
    fn equal_key_hashes_hash_equally() {
        use std::collections::HashSet;
        let hasher = KeyHasher::new(PEPPER).unwrap();
        let key = key(Env::Prod, 6);
        let set: HashSet<KeyHash> = [hasher.hash(&key), hasher.hash(&key)].into();
        assert_eq!(set.len(), 1);
    }

    // --- properties ---

    proptest! {
        #[test]
        fn generated_keys_always_parse_back_to_the_same_key(seed: u64, env_index in 0usize..4) {
            let env = Env::ALL[env_index];
            let key = key(env, seed);
            let parsed = RelayKey::parse(key.expose());
            prop_assert_eq!(parsed, Ok(key));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
            let _ = RelayKey::parse(&text);
        }

        #[test]
        fn parsing_key_like_text_never_panics(text in "(dev|stg|prod|ci|x)_[0-9A-Za-z_é-]{0,45}") {
            if let Ok(key) = RelayKey::parse(&text) {
                prop_assert_eq!(key.expose(), text.as_str());
            }
        }

        #[test]
        fn any_single_character_change_is_rejected(
            seed: u64,
            env_index in 0usize..4,
            position: prop::sample::Index,
            replacement: char,
        ) {
            let key = key(Env::ALL[env_index], seed);
            let mut chars: Vec<char> = key.expose().chars().collect();
            let i = position.index(chars.len());
            prop_assume!(chars[i] != replacement);
            chars[i] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(RelayKey::parse(&changed).is_err());
        }

        #[test]
        fn any_single_base62_substitution_in_the_body_fails_the_checksum(
            seed: u64,
            position in 0usize..BODY_LEN,
            replacement in 0usize..62,
        ) {
            let key = key(Env::Prod, seed);
            let mut bytes = key.expose().as_bytes().to_vec();
            let i = "prod_".len() + position;
            prop_assume!(bytes[i] != BASE62[replacement]);
            bytes[i] = BASE62[replacement];
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(RelayKey::parse(&changed), Err(KeyError::BadChecksum));
        }

        #[test]
        fn dropping_or_inserting_a_character_is_rejected(
            seed: u64,
            position: prop::sample::Index,
            inserted in "[0-9A-Za-z]",
        ) {
            let key = key(Env::Stg, seed);
            let text = key.expose();
            let i = position.index(text.len());
            let dropped = format!("{}{}", &text[..i], &text[i + 1..]);
            prop_assert!(RelayKey::parse(&dropped).is_err());
            let grown = format!("{}{}{}", &text[..i], inserted, &text[i..]);
            prop_assert!(RelayKey::parse(&grown).is_err());
        }
    }
}
