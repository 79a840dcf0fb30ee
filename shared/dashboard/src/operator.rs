//! Operator credentials: operator tokens (`syo_…`) and the browser sessions they open.
//!
//! An operator token is made by `switchyard operator token create`, printed once and stored only
//! as its SHA-256 in the agents table, under keys of its own (`operator#<hash>` / `#operator`
//! for the lookup, `operators` / `token#<id>` for listing and revocation). Agent tokens live
//! under `hash#…`, so an agent token can never be found here and never opens the dashboard.
//!
//! A browser logs in once with the token (`POST /dashboard/login`) and gets a session cookie:
//! `v1.<token id>.<expires_at>.<HMAC-SHA256>` keyed by the stack's link key (with a label of
//! its own, so a session MAC can never pass for a start-link MAC). Verifying it reads nothing
//! but the token's listing item, to honour revocation; the dashboard function needs no write.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_aws::dynamo::{n, s};
use switchyard_aws::dynamodb::types::AttributeValue;
use switchyard_aws::dynamodb::Client;
use switchyard_aws::error::chain;
use switchyard_core::secret::SecretString;

/// The prefix of operator tokens (agent tokens are `sya_`).
pub const OPERATOR_TOKEN_PREFIX: &str = "syo_";
/// An operator token's lifetime unless the operator says otherwise.
pub const DEFAULT_OPERATOR_TOKEN_DAYS: u64 = 30;
/// The longest lifetime an operator token may have.
pub const MAX_OPERATOR_TOKEN_DAYS: u64 = 366;
/// How long a browser session lasts (never past its token's expiry).
pub const SESSION_SECS: u64 = 12 * 3600;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sy_dashboard";

const LOOKUP_SK: &str = "#operator";
const LISTING_PK: &str = "operators";
/// Domain separation: the link key also signs OAuth start links.
const SESSION_LABEL: &[u8] = b"switchyard-dashboard-session\0";

/// Why an operator credential was not accepted, or the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("no operator credential")]
    Missing,
    #[error("not an operator token")]
    Malformed,
    #[error("unknown operator token")]
    Unknown,
    #[error("the operator token expired")]
    Expired,
    #[error("the operator token was revoked")]
    Revoked,
    #[error("the dashboard session is invalid or expired")]
    BadSession,
    #[error("an operator token lives 1 to {MAX_OPERATOR_TOKEN_DAYS} days, not {0}")]
    BadTtl(u64),
    #[error("operator token {0} does not exist")]
    NotFound(String),
    #[error("operator store unavailable: {0}")]
    Unavailable(String),
}

impl OperatorError {
    /// 401 for the caller's credential, 503 when it could not be checked.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unavailable(_) => 503,
            Self::BadTtl(_) => 400,
            Self::NotFound(_) => 404,
            _ => 401,
        }
    }
}

fn unavailable(e: impl std::error::Error) -> OperatorError {
    OperatorError::Unavailable(chain(&e))
}

/// An operator token's metadata (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorToken {
    pub token_id: String,
    #[serde(skip)]
    pub hash: String,
    /// Who it was made for (free text, shown in listings).
    pub label: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
}

impl OperatorToken {
    fn check(&self, now: u64) -> Result<(), OperatorError> {
        if self.revoked_at.is_some() {
            return Err(OperatorError::Revoked);
        }
        if self.expires_at <= now {
            return Err(OperatorError::Expired);
        }
        Ok(())
    }
}

/// The hex SHA-256 of an operator token, the only form stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{OPERATOR_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Operator tokens in the agents table.
#[derive(Debug, Clone)]
pub struct OperatorStore {
    client: Client,
    table: String,
}

impl OperatorStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Issues a token valid `ttl_days` from `now`; the secret is returned once, only its hash
    /// is stored.
    pub async fn create(
        &self,
        label: &str,
        ttl_days: u64,
        now: u64,
    ) -> Result<(OperatorToken, SecretString), OperatorError> {
        if !(1..=MAX_OPERATOR_TOKEN_DAYS).contains(&ttl_days) {
            return Err(OperatorError::BadTtl(ttl_days));
        }
        let token = new_token();
        let record = OperatorToken {
            token_id: format!("op_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            hash: token_hash(&token),
            label: label.to_owned(),
            created_at: now,
            expires_at: now + ttl_days * 86_400,
            revoked_at: None,
        };
        // The lookup item first: a token that exists only in the listing could never be used.
        for (pk, sk) in [
            (format!("operator#{}", record.hash), LOOKUP_SK.to_owned()),
            (LISTING_PK.to_owned(), format!("token#{}", record.token_id)),
        ] {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk))
                .item("sk", s(sk))
                .item("token_id", s(&record.token_id))
                .item("hash", s(&record.hash))
                .item("label", s(&record.label))
                .item("created_at", n(record.created_at))
                .item("expires_at", n(record.expires_at))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok((record, SecretString::from(token)))
    }

    /// Every operator token (metadata), newest first.
    pub async fn list(&self) -> Result<Vec<OperatorToken>, OperatorError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :t)")
            .expression_attribute_values(":pk", s(LISTING_PK))
            .expression_attribute_values(":t", s("token#"))
            .send()
            .await
            .map_err(unavailable)?;
        let mut all: Vec<OperatorToken> = out.items().iter().filter_map(from_item).collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(all)
    }

    /// Revokes `token_id` at `now`: the lookup item first (what authentication reads), then
    /// the listing item (what sessions read).
    pub async fn revoke(&self, token_id: &str, now: u64) -> Result<(), OperatorError> {
        let record = self
            .by_id(token_id)
            .await?
            .ok_or_else(|| OperatorError::NotFound(token_id.to_owned()))?;
        for (pk, sk) in [
            (format!("operator#{}", record.hash), LOOKUP_SK.to_owned()),
            (LISTING_PK.to_owned(), format!("token#{token_id}")),
        ] {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .update_expression("SET revoked_at = :now")
                .expression_attribute_values(":now", n(now))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn get(&self, pk: String, sk: String) -> Result<Option<OperatorToken>, OperatorError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.as_ref().and_then(from_item))
    }

    async fn by_id(&self, token_id: &str) -> Result<Option<OperatorToken>, OperatorError> {
        self.get(LISTING_PK.to_owned(), format!("token#{token_id}"))
            .await
    }

    /// The operator token `token` (with or without `Bearer `), if stored, unexpired and
    /// unrevoked. Agent tokens (`sya_…`) are malformed here.
    pub async fn authenticate(
        &self,
        token: &str,
        now: u64,
    ) -> Result<OperatorToken, OperatorError> {
        let token = bearer(token).unwrap_or(token.trim());
        if !token.starts_with(OPERATOR_TOKEN_PREFIX) || token.len() > 128 {
            return Err(OperatorError::Malformed);
        }
        let hash = token_hash(token);
        let record = self
            .get(format!("operator#{hash}"), LOOKUP_SK.to_owned())
            .await?
            .ok_or(OperatorError::Unknown)?;
        // Found by key; compared once more without early exit.
        if !bool::from(record.hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(OperatorError::Unknown);
        }
        record.check(now)?;
        Ok(record)
    }

    /// The token a session cookie value was issued for, if the MAC verifies, the session has
    /// not expired and the token is still valid.
    pub async fn session(
        &self,
        key: &SecretString,
        cookie: &str,
        now: u64,
    ) -> Result<OperatorToken, OperatorError> {
        let token_id = verify_session(key, cookie, now)?;
        let record = self
            .by_id(&token_id)
            .await?
            .ok_or(OperatorError::BadSession)?;
        record.check(now)?;
        Ok(record)
    }
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Option<OperatorToken> {
    let get_s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let get_n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(OperatorToken {
        token_id: get_s("token_id")?,
        hash: get_s("hash")?,
        label: get_s("label").unwrap_or_default(),
        created_at: get_n("created_at").unwrap_or(0),
        expires_at: get_n("expires_at")?,
        revoked_at: get_n("revoked_at"),
    })
}

/// The token of `Bearer <token>` (scheme case-insensitive).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn session_mac(key: &SecretString, payload: &str) -> Vec<u8> {
    // HMAC takes keys of any length; the link key is checked for strength where it is read.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(SESSION_LABEL);
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A session cookie value for `token` at `now`: [`SESSION_SECS`], never past the token's expiry.
pub fn sign_session(key: &SecretString, token: &OperatorToken, now: u64) -> String {
    let expires_at = (now + SESSION_SECS).min(token.expires_at);
    let payload = format!("v1.{}.{expires_at}", token.token_id);
    let mac = URL_SAFE_NO_PAD.encode(session_mac(key, &payload));
    format!("{payload}.{mac}")
}

/// The token id of a session cookie value whose MAC verifies and which has not expired.
pub fn verify_session(key: &SecretString, value: &str, now: u64) -> Result<String, OperatorError> {
    let (payload, mac) = value.rsplit_once('.').ok_or(OperatorError::BadSession)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| OperatorError::BadSession)?;
    let expected = session_mac(key, payload);
    if expected.is_empty() || !bool::from(expected.as_slice().ct_eq(&mac)) {
        return Err(OperatorError::BadSession);
    }
    let mut parts = payload.split('.');
    let (Some("v1"), Some(token_id), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OperatorError::BadSession);
    };
    let expires: u64 = expires.parse().map_err(|_| OperatorError::BadSession)?;
    if expires <= now {
        return Err(OperatorError::BadSession);
    }
    Ok(token_id.to_owned())
}

/// The `Set-Cookie` value of a session: HttpOnly (no script reads it), SameSite=Strict (no
/// other site's page sends it), scoped to the dashboard's paths, and Secure unless the page is
/// served on loopback over plain HTTP (the local host).
pub fn session_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={value}; Path=/dashboard; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Strict{secure}")
}

/// The session cookie's value in a `Cookie` header, if sent.
pub fn session_from_cookies(cookies: &str) -> Option<&str> {
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from("0123456789abcdef0123456789abcdef0123456789abcdef")
    }

    fn token(expires_at: u64) -> OperatorToken {
        OperatorToken {
            token_id: "op_1".into(),
            hash: "h".into(),
            label: "ops".into(),
            created_at: 0,
            expires_at,
            revoked_at: None,
        }
    }

    #[test]
    fn a_session_verifies_until_it_expires_and_never_outlives_its_token() {
        let now = 1_000_000;
        let value = sign_session(&key(), &token(now + 10 * SESSION_SECS), now);
        assert_eq!(verify_session(&key(), &value, now).as_deref(), Ok("op_1"));
        assert_eq!(
            verify_session(&key(), &value, now + SESSION_SECS),
            Err(OperatorError::BadSession)
        );
        let short = sign_session(&key(), &token(now + 60), now);
        assert!(verify_session(&key(), &short, now + 59).is_ok());
        assert!(verify_session(&key(), &short, now + 60).is_err());
    }

    #[test]
    fn a_tampered_or_foreign_session_is_refused() {
        let now = 1_000_000;
        let value = sign_session(&key(), &token(now + SESSION_SECS * 2), now);
        let other_key = SecretString::from("another-key-another-key-another-key-0000");
        assert!(verify_session(&other_key, &value, now).is_err());
        let forged = value.replace("op_1", "op_2");
        assert!(verify_session(&key(), &forged, now).is_err());
        let later = value.replacen(&format!("{}", now + SESSION_SECS), "99999999999", 1);
        assert!(verify_session(&key(), &later, now).is_err());
        for garbage in ["", "v1", "v1.op_1.5", "a.b.c.d.e"] {
            assert!(verify_session(&key(), garbage, now).is_err(), "{garbage}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_off_loopback() {
        let cookie = session_cookie("v", true);
        assert!(cookie.starts_with("sy_dashboard=v;"), "{cookie}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/dashboard"] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!session_cookie("v", false).contains("Secure"));
        assert_eq!(
            session_from_cookies("a=1; sy_dashboard=abc.def; b=2"),
            Some("abc.def")
        );
        assert_eq!(session_from_cookies("a=1"), None);
    }

    #[test]
    fn operator_tokens_have_their_own_prefix() {
        let t = new_token();
        assert!(t.starts_with(OPERATOR_TOKEN_PREFIX));
        assert_eq!(t.len(), OPERATOR_TOKEN_PREFIX.len() + 43);
        assert_ne!(t, new_token());
    }
}
