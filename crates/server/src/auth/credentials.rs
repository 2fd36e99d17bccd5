//! Checking credentials against a [`WebConfig`]: `Authorization: Basic` against the
//! bcrypt hashes of `basic_auth_users`, `Authorization: Bearer` against the SHA-256
//! digests of `bearer_tokens`.
//!
//! As exporter-toolkit does (`web/handler.go`): bcrypt runs one at a time (it is
//! CPU-bound by design, ~50–250 ms at cost 10–12), a result is cached under a digest of
//! user, hash and password (so an edited web.yml never matches an old entry and no
//! password is kept in memory), and an unknown user is checked against a real hash
//! anyway, so response times do not tell which users exist.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::WebConfig;
use super::audit::AuthFailure;

/// Credentials from an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    /// `Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `Bearer <token>`.
    Bearer(String),
}

impl Credentials {
    /// Parses an `Authorization` header value; `None` when it is neither form.
    pub fn parse(header: &[u8]) -> Option<Credentials> {
        let text = std::str::from_utf8(header).ok()?.trim();
        let (scheme, rest) = text.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, password) = decoded.split_once(':')?;
            Some(Credentials::Basic { user: user.to_string(), password: password.to_string() })
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Some(Credentials::Bearer(rest.to_string()))
        } else {
            None
        }
    }
}

/// Verifies credentials, with the bcrypt cache.
#[derive(Clone)]
pub struct Verifier {
    cache: moka::sync::Cache<[u8; 32], bool>,
    bcrypt: Arc<Semaphore>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            // The hash is part of the key, so an edited web.yml never hits an old
            // entry; the bounds only keep the cache small.
            cache: moka::sync::Cache::builder().max_capacity(1024).time_to_idle(Duration::from_secs(3600)).build(),
            bcrypt: Arc::new(Semaphore::new(1)),
        }
    }
}

impl Verifier {
    /// The name `credentials` authenticate as, or why they do not.
    pub async fn verify(&self, config: &WebConfig, credentials: &Credentials) -> Result<String, AuthFailure> {
        match credentials {
            Credentials::Bearer(token) => {
                let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                // Every entry is compared, in constant time, so timing tells nothing.
                let mut found = None;
                for (name, want) in &config.tokens {
                    if constant_time_eq(&digest, want) {
                        found = Some(name.clone());
                    }
                }
                found.ok_or(AuthFailure::InvalidToken)
            }
            Credentials::Basic { user, password } => {
                let (hash, known) = match config.users.get(user) {
                    Some(h) => (h.clone(), true),
                    // A decoy with a real cost: the first user's hash.
                    None => match config.users.values().next() {
                        Some(h) => (h.clone(), false),
                        None => return Err(AuthFailure::UnknownUser),
                    },
                };
                let ok = self.bcrypt_cached(user, &hash, password).await;
                match (known, ok) {
                    (true, true) => Ok(user.clone()),
                    (true, false) => Err(AuthFailure::WrongPassword),
                    (false, _) => Err(AuthFailure::UnknownUser),
                }
            }
        }
    }

    async fn bcrypt_cached(&self, user: &str, hash: &str, password: &str) -> bool {
        let mut h = Sha256::new();
        for part in [user, hash, password] {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(ok) = self.cache.get(&key) {
            return ok;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else { return false };
        // Another request may have verified the same credentials while this one waited.
        if let Some(ok) = self.cache.get(&key) {
            return ok;
        }
        let (hash, password) = (hash.to_string(), password.to_string());
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        self.cache.insert(key, ok);
        ok
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::parse_web_config;
    use std::path::Path;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn parses_headers() {
        let basic = format!("Basic {}", b64("alice:pa:ss"));
        assert_eq!(
            Credentials::parse(basic.as_bytes()),
            Some(Credentials::Basic { user: "alice".into(), password: "pa:ss".into() })
        );
        assert_eq!(Credentials::parse(b"bearer abc"), Some(Credentials::Bearer("abc".into())));
        assert_eq!(Credentials::parse(b"Basic !!!"), None);
        assert_eq!(Credentials::parse(b"Digest x"), None);
        assert_eq!(Credentials::parse(b"Bearer "), None);
    }

    #[tokio::test]
    async fn verifies_users_and_tokens() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let token_digest: String = Sha256::digest(b"tok").iter().map(|b| format!("{b:02x}")).collect();
        let yaml = format!("basic_auth_users:\n  alice: {hash}\nbearer_tokens:\n  bot: sha256:{token_digest}\n");
        let config = parse_web_config("web.yml", &yaml, Path::new(".")).unwrap();
        let v = Verifier::default();
        let basic = |u: &str, p: &str| Credentials::Basic { user: u.into(), password: p.into() };
        assert_eq!(v.verify(&config, &basic("alice", "secret")).await, Ok("alice".into()));
        // Cached now: the same answer again.
        assert_eq!(v.verify(&config, &basic("alice", "secret")).await, Ok("alice".into()));
        assert_eq!(v.verify(&config, &basic("alice", "nope")).await, Err(AuthFailure::WrongPassword));
        assert_eq!(v.verify(&config, &basic("mallory", "secret")).await, Err(AuthFailure::UnknownUser));
        assert_eq!(v.verify(&config, &Credentials::Bearer("tok".into())).await, Ok("bot".into()));
        assert_eq!(v.verify(&config, &Credentials::Bearer("tok2".into())).await, Err(AuthFailure::InvalidToken));
    }
}
