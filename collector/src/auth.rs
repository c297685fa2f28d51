//! Bearer tokens: `frt_<id>_<secret>`.
//!
//! The id (16 hex digits) finds the stored record; the secret (64 hex
//! digits, 256 random bits) is checked against its stored SHA-256 in
//! constant time. The secret itself is printed once by `token create` and
//! never stored. Roles:
//! - `device`: uploads rows (`POST /v1/rows`) for devices that are not
//!   enrolled, and enrols boards (`POST /v1/enrol`); one device token may
//!   enrol many boards.
//! - `board`: the credential an enrolment returns, bound to one device id:
//!   uploads that device's rows only. Rows for an enrolled device are
//!   accepted with its credential alone.
//! - `reader`: reads (`GET /v1/rows`, `GET /v1/devices`).
//! - `operator`: reads, and manages the fleet.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Device,
    Reader,
    Operator,
    Board,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Reader => "reader",
            Role::Operator => "operator",
            Role::Board => "board",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "device" => Some(Role::Device),
            "reader" => Some(Role::Reader),
            "operator" => Some(Role::Operator),
            "board" => Some(Role::Board),
            _ => None,
        }
    }
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id (the 16 hex digits after `frt_`).
    pub token_id: String,
    pub role: Role,
    /// For a board's credential, the device it is bound to.
    pub device_id: Option<String>,
}

/// Why an enrolment was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("device {device_id} is enrolled already (credential {credential_id}); fix: revoke that credential with `frontier-collector token revoke {credential_id}`, then enrol again")]
    Enrolled {
        device_id: String,
        credential_id: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

const PREFIX: &str = "frt_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n_bytes` from the OS's random source, as hex: token ids and secrets,
/// job ids, lease tokens.
pub fn random_hex(n_bytes: usize) -> String {
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
/// Board credentials come from [`enrol`] only.
pub async fn create(store: &Store, role: Role, note: Option<&str>) -> Result<String, StoreError> {
    let id = random_hex(ID_HEX / 2);
    let secret = random_hex(SECRET_HEX / 2);
    store
        .insert_token(&id, &secret_hash(&secret), role.as_str(), note)
        .await?;
    Ok(format!("{PREFIX}{id}_{secret}"))
}

/// Enrol a board: record what it says of itself and create its credential,
/// bound to `board.device_id`, in one transaction. Returns (credential
/// text, shown once; credential id). Refused while the device has an
/// active credential, whoever asks.
pub async fn enrol(
    store: &Store,
    board: &crate::store::Enrolment,
    enrolled_by: &str,
) -> Result<(String, String), EnrolError> {
    let id = random_hex(ID_HEX / 2);
    let secret = random_hex(SECRET_HEX / 2);
    let note = format!(
        "board {} (enrolled by token {enrolled_by})",
        board.device_id
    );
    match store
        .enrol(board, &id, &secret_hash(&secret), &note)
        .await?
    {
        None => Ok((format!("{PREFIX}{id}_{secret}"), id)),
        Some(existing) => Err(EnrolError::Enrolled {
            device_id: board.device_id.clone(),
            credential_id: existing,
        }),
    }
}

/// Who an active token speaks for, or `None` for a malformed, unknown or
/// revoked one. Errors only when the database cannot answer.
pub async fn verify(store: &Store, token: &str) -> Result<Option<Principal>, StoreError> {
    let Some((id, secret)) = split(token) else {
        return Ok(None);
    };
    let Some(stored) = store.active_token(id).await? else {
        return Ok(None);
    };
    let given = secret_hash(secret);
    if !bool::from(given.as_bytes().ct_eq(stored.secret_sha256.as_bytes())) {
        return Ok(None);
    }
    Ok(Role::parse(&stored.role).map(|role| Principal {
        token_id: id.to_string(),
        role,
        device_id: stored.device_id,
    }))
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
