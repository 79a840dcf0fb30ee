//! Connections: one account connected to an instance (OAuth tokens or an API key).
//!
//! Table `ConnectionsTable`, key `pk` = connection id (`conn_<hash of instance and account>`,
//! so reconnecting the same account updates its connection). A connection owned by a person
//! (`owner`, from a start link issued `--for` them) has the id [`owner_connection_id`] of the
//! instance and the owner instead: that key is the (instance, owner) index a per-user tool call
//! reads with one consistent `GetItem`, and a user reconnecting replaces their own connection. Access patterns: get by id (every
//! token request, consistent read), conditional updates for the refresh lease and the rotated
//! tokens (both guarded by `version`), list and "expiring soon" (admin and the scheduled
//! refresher: scans, never on a request path).
//!
//! Tokens exist only as a KMS envelope (`sealed`, context `connection_id`); `status` is
//! `active`, `needs_reauth` (the provider said `invalid_grant`) or `revoked` (disconnected; the
//! ciphertext is deleted).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::crypto::Envelope;
use crate::dynamo::{n, s};
use crate::error::{chain, is_conditional_check_failed};

/// Why a connection operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("connection store unavailable: {0}")]
    Unavailable(String),
    #[error("connection {id} is corrupt: {detail}")]
    Corrupt { id: String, detail: String },
}

fn unavailable(e: impl std::error::Error) -> ConnectionError {
    ConnectionError::Unavailable(chain(&e))
}

/// A connection's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    NeedsReauth,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "needs_reauth" => Some(Self::NeedsReauth),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// A stored connection (never the token values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    pub id: String,
    pub instance_id: String,
    pub provider: String,
    pub workspace: String,
    /// `oauth2` or `api_key`.
    pub auth_type: String,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub account_email: Option<String>,
    /// The person this connection belongs to (user id or email); `None`: the instance's shared
    /// connection.
    pub owner: Option<String>,
    pub scopes: Vec<String>,
    pub status: Status,
    /// When the access token expires (unix seconds); `None`: it does not.
    pub token_expires_at: Option<u64>,
    /// When the current access token was issued (its lifetime is `token_expires_at - this`).
    pub token_issued_at: Option<u64>,
    pub has_refresh_token: bool,
    #[serde(skip)]
    pub sealed: Option<Envelope>,
    pub version: u64,
    pub lease_until: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
    pub last_refreshed_at: Option<u64>,
    pub last_error: Option<String>,
}

/// The connection id for an account of an instance: stable, so a reconnect updates it.
pub fn connection_id(instance_id: &str, account: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(instance_id.as_bytes());
    h.update([0]);
    h.update(account.as_bytes());
    format!("conn_{}", &hex::encode(h.finalize())[..24])
}

/// The connection id of `owner`'s connection to an instance: one per (instance, owner), so it
/// is also how a per-user call finds it.
pub fn owner_connection_id(instance_id: &str, owner: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"owner\0");
    h.update(instance_id.as_bytes());
    h.update([0]);
    h.update(owner.as_bytes());
    format!("conn_{}", &hex::encode(h.finalize())[..24])
}

/// Connections in DynamoDB.
#[derive(Debug, Clone)]
pub struct ConnectionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl ConnectionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a newly authorized connection, or replaces the tokens of a reconnected one
    /// (status back to active, version bumped so in-flight refreshes of the old grant lose).
    pub async fn upsert(&self, c: &Connection, now: u64) -> Result<u64, ConnectionError> {
        let sealed = c
            .sealed
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ConnectionError::Corrupt {
                id: c.id.clone(),
                detail: e.to_string(),
            })?;
        let mut expr = vec![
            "instance_id = :instance",
            "provider = :provider",
            "workspace = :workspace",
            "auth_type = :auth",
            "scopes = :scopes",
            "#status = :active",
            "has_refresh_token = :has_refresh",
            "version = if_not_exists(version, :zero) + :one",
            "created_at = if_not_exists(created_at, :now)",
            "token_issued_at = :now",
            "updated_at = :now",
        ];
        let mut remove = vec!["lease_owner", "lease_until", "last_error"];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&c.id))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":instance", s(&c.instance_id))
            .expression_attribute_values(":provider", s(&c.provider))
            .expression_attribute_values(":workspace", s(&c.workspace))
            .expression_attribute_values(":auth", s(&c.auth_type))
            .expression_attribute_values(
                ":scopes",
                AttributeValue::L(c.scopes.iter().map(s).collect()),
            )
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":has_refresh", AttributeValue::Bool(c.has_refresh_token))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now));
        let optional = [
            ("account_id", ":account_id", c.account_id.clone()),
            ("account_name", ":account_name", c.account_name.clone()),
            ("account_email", ":account_email", c.account_email.clone()),
            ("owned_by", ":owned_by", c.owner.clone()),
            ("sealed", ":sealed", sealed),
            (
                "token_expires_at",
                ":expires",
                c.token_expires_at.map(|e| e.to_string()),
            ),
        ];
        let mut sets: Vec<String> = expr.drain(..).map(str::to_owned).collect();
        for (attr, placeholder, value) in optional {
            match value {
                Some(v) => {
                    sets.push(format!("{attr} = {placeholder}"));
                    let value = if attr == "token_expires_at" {
                        AttributeValue::N(v)
                    } else {
                        s(v)
                    };
                    update = update.expression_attribute_values(placeholder, value);
                }
                None => remove.push(attr),
            }
        }
        let out = update
            .update_expression(format!(
                "SET {} REMOVE {}",
                sets.join(", "),
                remove.join(", ")
            ))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .attributes
            .and_then(|a| a.get("version").and_then(|v| v.as_n().ok()?.parse().ok()))
            .unwrap_or(1))
    }

    /// The connection `id` (strongly consistent), or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Connection>, ConnectionError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|item| from_item(&item)).transpose()
    }

    /// `owner`'s connection to `instance_id` (strongly consistent), or `None`.
    pub async fn for_owner(
        &self,
        instance_id: &str,
        owner: &str,
    ) -> Result<Option<Connection>, ConnectionError> {
        Ok(self
            .get(&owner_connection_id(instance_id, owner))
            .await?
            .filter(|c| c.instance_id == instance_id && c.owner.as_deref() == Some(owner)))
    }

    /// Every connection, sorted by id (admin; scans the table).
    pub async fn list(&self) -> Result<Vec<Connection>, ConnectionError> {
        let items = crate::dynamo::all_items(self.client.scan().table_name(&self.table))
            .await
            .map_err(unavailable)?;
        let mut all = items.iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Takes the refresh lease if nobody holds a live one and the tokens are still `version`.
    pub async fn try_lease(
        &self,
        id: &str,
        owner: &str,
        version: u64,
        now: u64,
        lease_secs: u64,
    ) -> Result<bool, ConnectionError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "version = :v AND #status = :active AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + lease_secs))
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":now", n(now));
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Persists refreshed tokens if they still replace `version`; releases the lease.
    pub async fn store_refreshed(
        &self,
        id: &str,
        version: u64,
        sealed: &Envelope,
        expires_at: Option<u64>,
        has_refresh_token: bool,
        now: u64,
    ) -> Result<bool, ConnectionError> {
        let sealed = serde_json::to_string(sealed).map_err(|e| ConnectionError::Corrupt {
            id: id.to_owned(),
            detail: e.to_string(),
        })?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":sealed", s(sealed))
            .expression_attribute_values(":has_refresh", AttributeValue::Bool(has_refresh_token))
            .expression_attribute_values(":now", n(now));
        let expression = match expires_at {
            Some(at) => {
                update = update.expression_attribute_values(":expires", n(at));
                "SET sealed = :sealed, version = :next, has_refresh_token = :has_refresh, \
                 token_expires_at = :expires, token_issued_at = :now, last_refreshed_at = :now, \
                 updated_at = :now REMOVE lease_owner, lease_until, last_error"
            }
            None => {
                "SET sealed = :sealed, version = :next, has_refresh_token = :has_refresh, \
                 token_issued_at = :now, last_refreshed_at = :now, updated_at = :now \
                 REMOVE lease_owner, lease_until, last_error, token_expires_at"
            }
        };
        match update.update_expression(expression).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Gives up a lease this owner holds (after a failed refresh), noting why.
    pub async fn release_lease(
        &self,
        id: &str,
        owner: &str,
        error: &str,
    ) -> Result<(), ConnectionError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .update_expression("SET last_error = :error REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":error", s(truncate(error)));
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Marks the connection `needs_reauth` only while it is still `version` and `owner` holds
    /// its refresh lease: a refresher whose lease ran out, or that lost a race to a fresher
    /// refresh or a reconnect, must not disable a good connection. `false`: it moved on.
    pub async fn set_needs_reauth(
        &self,
        id: &str,
        version: u64,
        owner: &str,
        reason: &str,
        now: u64,
    ) -> Result<bool, ConnectionError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .update_expression(
                "SET #status = :status, last_error = :reason, updated_at = :now, \
                 version = version + :one REMOVE lease_owner, lease_until",
            )
            .condition_expression("version = :v AND lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(Status::NeedsReauth.as_str()))
            .expression_attribute_values(":reason", s(truncate(reason)))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":owner", s(owner));
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Sets `status` with a reason. `revoked` also deletes the token ciphertext.
    pub async fn set_status(
        &self,
        id: &str,
        status: Status,
        reason: &str,
        now: u64,
    ) -> Result<(), ConnectionError> {
        let expression = if status == Status::Revoked {
            "SET #status = :status, last_error = :reason, updated_at = :now, version = version + :one \
             REMOVE sealed, lease_owner, lease_until, token_expires_at"
        } else {
            "SET #status = :status, last_error = :reason, updated_at = :now, version = version + :one \
             REMOVE lease_owner, lease_until"
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":reason", s(truncate(reason)))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Connection, ConnectionError> {
    let get_s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let get_n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let id = get_s("pk").unwrap_or_default();
    let corrupt = |detail: &str| ConnectionError::Corrupt {
        id: id.clone(),
        detail: detail.to_owned(),
    };
    let status = get_s("status")
        .as_deref()
        .and_then(Status::parse)
        .ok_or_else(|| corrupt("status"))?;
    let sealed = get_s("sealed")
        .map(|s| serde_json::from_str(&s).map_err(|_| corrupt("sealed")))
        .transpose()?;
    Ok(Connection {
        instance_id: get_s("instance_id").ok_or_else(|| corrupt("instance_id"))?,
        provider: get_s("provider").ok_or_else(|| corrupt("provider"))?,
        workspace: get_s("workspace").unwrap_or_default(),
        auth_type: get_s("auth_type").unwrap_or_else(|| "oauth2".into()),
        account_id: get_s("account_id"),
        account_name: get_s("account_name"),
        account_email: get_s("account_email"),
        owner: get_s("owned_by"),
        scopes: item
            .get("scopes")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        status,
        token_expires_at: get_n("token_expires_at"),
        token_issued_at: get_n("token_issued_at"),
        has_refresh_token: item
            .get("has_refresh_token")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        sealed,
        version: get_n("version").unwrap_or(0),
        lease_until: get_n("lease_until"),
        created_at: get_n("created_at").unwrap_or(0),
        updated_at: get_n("updated_at").unwrap_or(0),
        last_refreshed_at: get_n("last_refreshed_at"),
        last_error: get_s("last_error"),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_stable_per_instance_and_account() {
        assert_eq!(connection_id("i", "alice"), connection_id("i", "alice"));
        assert_ne!(connection_id("i", "alice"), connection_id("j", "alice"));
        assert_ne!(connection_id("i", "alice"), connection_id("i", "bob"));
        assert!(connection_id("i", "alice").starts_with("conn_"));
    }

    #[test]
    fn owner_connection_ids_are_per_instance_and_owner_and_apart_from_account_ids() {
        let ada = owner_connection_id("i", "ada@example.com");
        assert_eq!(ada, owner_connection_id("i", "ada@example.com"));
        assert_ne!(ada, owner_connection_id("j", "ada@example.com"));
        assert_ne!(ada, owner_connection_id("i", "bob@example.com"));
        assert_ne!(ada, connection_id("i", "ada@example.com"));
    }
}
