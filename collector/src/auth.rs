//! Bearer tokens: `frt_<id>_<secret>`.
//!
//! The id (16 hex digits) finds the stored record; the secret (64 hex
//! digits, 256 random bits) is checked against its stored SHA-256 in
//! constant time. The secret itself is printed once by `token create` and
//! never stored. Roles: `device` may only `POST /v1/rows`; `reader` may only
//! read (`GET /v1/rows`, `GET /v1/devices`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Device,
    Reader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Reader => "reader",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "device" => Some(Role::Device),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
}

const PREFIX: &str = "frt_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    hex(&buf)
}

fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Split a token into (id, secret) if it has the token's form.
fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (ok(id, ID_HEX) && ok(secret, SECRET_HEX)).then_some((id, secret))
}

/// Create a token with `role`; returns the full token text (shown once).
pub async fn create(store: &Store, role: Role, note: Option<&str>) -> Result<String, StoreError> {
    let id = random_hex(ID_HEX / 2);
    let secret = random_hex(SECRET_HEX / 2);
    store
        .insert_token(&id, &secret_hash(&secret), role.as_str(), note)
        .await?;
    Ok(format!("{PREFIX}{id}_{secret}"))
}

/// The role of an active token, or `None` for a malformed, unknown or
/// revoked one. Errors only when the database cannot answer.
pub async fn verify(store: &Store, token: &str) -> Result<Option<Role>, StoreError> {
    let Some((id, secret)) = split(token) else {
        return Ok(None);
    };
    let Some((stored, role)) = store.active_token(id).await? else {
        return Ok(None);
    };
    let given = secret_hash(secret);
    if bool::from(given.as_bytes().ct_eq(stored.as_bytes())) {
        Ok(Role::parse(&role))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_form() {
        let t = format!("frt_{}_{}", "a".repeat(16), "b".repeat(64));
        assert_eq!(
            split(&t),
            Some(("a".repeat(16).as_str(), "b".repeat(64).as_str()))
        );
        for bad in [
            "",
            "frt_",
            "Bearer x",
            &format!("frt_{}_{}", "a".repeat(15), "b".repeat(64)),
            &format!("frt_{}_{}", "g".repeat(16), "b".repeat(64)),
            &format!("xyz_{}_{}", "a".repeat(16), "b".repeat(64)),
        ] {
            assert_eq!(split(bad), None, "{bad}");
        }
        assert_ne!(random_hex(8), random_hex(8));
    }
}
