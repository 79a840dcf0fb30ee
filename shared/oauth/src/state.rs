//! Pending authorizations: `state` → instance, provider and the sealed PKCE verifier.
//!
//! Table `OAuthStatesTable`, key `pk` = state (256 random bits), TTL `expires_at`. Written by
//! the start function, taken exactly once by the callback with a conditional delete that
//! returns the item; an expired item is refused even if TTL has not removed it yet. Spent start
//! links leave a `link#<nonce>` marker in the same table until the link's expiry.

use switchyard_aws::dynamodb::types::{AttributeValue, ReturnValue};

use crate::crypto::Envelope;
use crate::error::{chain, is_conditional_check_failed};

/// How long a user has to finish consenting.
pub const STATE_TTL_SECS: u64 = 600;

/// Why a state could not be stored or taken.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("unknown or already used state")]
    Unknown,
    #[error("state expired")]
    Expired,
    #[error("state store unavailable: {0}")]
    Unavailable(String),
}

/// A pending authorization.
#[derive(Debug, Clone)]
pub struct PendingAuth {
    pub state: String,
    pub instance_id: String,
    pub provider: String,
    /// The PKCE verifier, sealed with the state as encryption context.
    pub sealed_verifier: Option<Envelope>,
    /// SHA-256 (hex) of the random value set as a cookie in the browser that started the flow:
    /// the callback must come from that browser.
    pub browser_hash: String,
    /// Who the start link was issued for, if anyone.
    pub principal: Option<String>,
    pub expires_at: u64,
}

/// Pending authorizations in DynamoDB.
#[derive(Debug, Clone)]
pub struct StateStore {
    client: switchyard_aws::dynamodb::Client,
    table: String,
}

impl StateStore {
    pub fn new(client: switchyard_aws::dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a new pending authorization.
    pub async fn put(&self, pending: &PendingAuth) -> Result<(), StateError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pending.state.clone()))
            .item(
                "instance_id",
                AttributeValue::S(pending.instance_id.clone()),
            )
            .item("provider", AttributeValue::S(pending.provider.clone()))
            .item("browser", AttributeValue::S(pending.browser_hash.clone()))
            .item(
                "expires_at",
                AttributeValue::N(pending.expires_at.to_string()),
            )
            .condition_expression("attribute_not_exists(pk)");
        if let Some(principal) = &pending.principal {
            put = put.item("principal", AttributeValue::S(principal.clone()));
        }
        if let Some(sealed) = &pending.sealed_verifier {
            let json = serde_json::to_string(sealed)
                .map_err(|e| StateError::Unavailable(e.to_string()))?;
            put = put.item("verifier", AttributeValue::S(json));
        }
        put.send()
            .await
            .map(|_| ())
            .map_err(|e| StateError::Unavailable(chain(&e)))
    }

    /// Takes `state` (single use): deletes it and returns what it held.
    pub async fn take(&self, state: &str, now: u64) -> Result<PendingAuth, StateError> {
        // States are base64url; `#` only appears in the spent-link markers, never taken here.
        if state.is_empty() || state.len() > 128 || state.contains('#') {
            return Err(StateError::Unknown);
        }
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(state.to_owned()))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld);
        let item = match delete.send().await {
            Ok(out) => out.attributes.ok_or(StateError::Unknown)?,
            Err(e) if is_conditional_check_failed(&e) => return Err(StateError::Unknown),
            Err(e) => return Err(StateError::Unavailable(chain(&e))),
        };
        let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let expires_at = item
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if expires_at <= now {
            return Err(StateError::Expired);
        }
        Ok(PendingAuth {
            state: state.to_owned(),
            instance_id: get("instance_id").ok_or(StateError::Unknown)?,
            provider: get("provider").ok_or(StateError::Unknown)?,
            sealed_verifier: get("verifier").and_then(|v| serde_json::from_str(&v).ok()),
            browser_hash: get("browser").ok_or(StateError::Unknown)?,
            principal: get("principal"),
            expires_at,
        })
    }

    /// Spends a start link's nonce: `true` the first time, `false` ever after (until the
    /// marker's TTL, which is the link's own expiry, so an expired link is refused anyway).
    pub async fn spend_link(&self, nonce: &str, expires_at: u64) -> Result<bool, StateError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("link#{nonce}")))
            .item("expires_at", AttributeValue::N(expires_at.to_string()))
            .condition_expression("attribute_not_exists(pk)");
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(StateError::Unavailable(chain(&e))),
        }
    }
}
