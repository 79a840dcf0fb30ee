//! Agents: who may call tools, how they authenticate, and which instances they are granted.
//!
//! Table `AgentsTable`, key (`pk`, `sk`). Items:
//! - `agent#<id>` / `#agent`: the agent (workspace, IAM principal ARNs, `may_act_for_users`,
//!   status, created_at);
//! - `agent#<id>` / `token#<token id>`: an agent token's metadata (hash, expiry, revocation), for
//!   `agent token list|revoke`;
//! - `agent#<id>` / `grant#<instance id>`: the grant index, written with every grant so discovery
//!   is one query of the agent's partition instead of a scan of the instances table;
//! - `hash#<sha256 of the token>` / `#token`: the token lookup an authenticator reads (the token
//!   itself is never stored);
//! - `iam#<principal ARN>` / `#iam`: which agent an IAM principal is.
//!
//! Request paths read by key or query one partition only; `list_agents` scans (admin only).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dynamo::{n, s, Item};
use crate::error::{chain, is_conditional_check_failed};
use crate::secret::SecretString;

/// The prefix of every agent token, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "sya_";
/// An agent token's lifetime unless the operator says otherwise.
pub const DEFAULT_TOKEN_TTL_DAYS: u64 = 90;
/// The longest lifetime a token may have.
pub const MAX_TOKEN_TTL_DAYS: u64 = 366;

const AGENT_SK: &str = "#agent";
const HASH_SK: &str = "#token";
const IAM_SK: &str = "#iam";

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent {0} already exists")]
    AlreadyExists(String),
    #[error("agent {0} does not exist")]
    NotFound(String),
    #[error("token {0} does not exist")]
    TokenNotFound(String),
    #[error("agent id {0:?} must be 1-64 characters of A-Z a-z 0-9 _ - . @ :")]
    BadId(String),
    #[error("the IAM principal {arn} is already mapped to agent {agent}")]
    IamArnTaken { arn: String, agent: String },
    #[error("a token lives 1 to {MAX_TOKEN_TTL_DAYS} days, not {0}")]
    BadTtl(u64),
    #[error("agent store unavailable: {0}")]
    Unavailable(String),
    #[error("agent item {key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
}

fn unavailable(e: impl std::error::Error) -> AgentError {
    AgentError::Unavailable(chain(&e))
}

/// Whether an agent may call anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Active,
    Disabled,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub id: String,
    pub workspace: String,
    /// IAM principal ARNs that authenticate as this agent (SigV4 routes).
    pub iam_arns: Vec<String>,
    /// Whether the agent may name the user it acts for (`on_behalf_of`) without that user's
    /// own token: only for trusted headless agents.
    pub may_act_for_users: bool,
    pub status: AgentStatus,
    pub created_at: u64,
}

/// An agent token's metadata (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub token_id: String,
    pub agent_id: String,
    /// Hex SHA-256 of the token.
    #[serde(skip)]
    pub hash: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
}

/// A freshly issued token: the only time the secret exists outside the caller's hands.
#[derive(Debug)]
pub struct IssuedToken {
    pub record: TokenRecord,
    pub token: SecretString,
}

/// The hex SHA-256 of an agent token, the only form in which it is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new agent token: the prefix and 32 random bytes, base64url.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Checks an agent id (it appears in keys, grants and receipts).
pub fn check_id(id: &str) -> Result<(), AgentError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AgentError::BadId(id.to_owned()))
    }
}

fn agent_pk(id: &str) -> String {
    format!("agent#{id}")
}

/// Agents, their tokens and grant index in DynamoDB.
#[derive(Debug, Clone)]
pub struct AgentStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl AgentStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, AgentError> {
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
        Ok(out.item)
    }

    async fn query_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, AgentError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Registers `agent` and maps its IAM principals to it; an ARN already mapped to another
    /// agent is refused (one principal is one agent).
    pub async fn create_agent(&self, agent: &Agent) -> Result<(), AgentError> {
        check_id(&agent.id)?;
        for arn in &agent.iam_arns {
            if let Some(other) = self.agent_for_iam(arn).await? {
                if other != agent.id {
                    return Err(AgentError::IamArnTaken {
                        arn: arn.clone(),
                        agent: other,
                    });
                }
            }
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(agent_pk(&agent.id)))
            .item("sk", s(AGENT_SK))
            .item("workspace", s(&agent.workspace))
            .item(
                "iam_arns",
                AttributeValue::L(agent.iam_arns.iter().map(s).collect()),
            )
            .item(
                "may_act_for_users",
                AttributeValue::Bool(agent.may_act_for_users),
            )
            .item("status", s(agent.status.as_str()))
            .item("created_at", n(agent.created_at))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e) if is_conditional_check_failed(&e) => {
                return Err(AgentError::AlreadyExists(agent.id.clone()))
            }
            Err(e) => return Err(unavailable(e)),
        }
        for arn in &agent.iam_arns {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("iam#{arn}")))
                .item("sk", s(IAM_SK))
                .item("agent_id", s(&agent.id))
                .condition_expression("attribute_not_exists(pk) OR agent_id = :agent")
                .expression_attribute_values(":agent", s(&agent.id))
                .send()
                .await;
            match put {
                Ok(_) => {}
                Err(e) if is_conditional_check_failed(&e) => {
                    return Err(AgentError::IamArnTaken {
                        arn: arn.clone(),
                        agent: self.agent_for_iam(arn).await?.unwrap_or_default(),
                    })
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(())
    }

    /// The agent `id`, or `None`.
    pub async fn agent(&self, id: &str) -> Result<Option<Agent>, AgentError> {
        self.get(&agent_pk(id), AGENT_SK)
            .await?
            .map(|item| agent_from_item(&item))
            .transpose()
    }

    /// Every agent, sorted by id (admin; scans the table).
    pub async fn list_agents(&self) -> Result<Vec<Agent>, AgentError> {
        let items = crate::dynamo::all_items(
            self.client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :sk")
                .expression_attribute_values(":sk", s(AGENT_SK)),
        )
        .await
        .map_err(unavailable)?;
        let mut all = items
            .iter()
            .map(agent_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Sets an agent's status (`agent disable|enable`).
    pub async fn set_status(&self, id: &str, status: AgentStatus) -> Result<(), AgentError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(agent_pk(id)))
            .key("sk", s(AGENT_SK))
            .update_expression("SET #status = :status")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => Err(AgentError::NotFound(id.to_owned())),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The agent an IAM principal ARN is mapped to.
    pub async fn agent_for_iam(&self, arn: &str) -> Result<Option<String>, AgentError> {
        Ok(self
            .get(&format!("iam#{arn}"), IAM_SK)
            .await?
            .and_then(|item| item.get("agent_id")?.as_s().ok().cloned()))
    }

    /// Issues a token for `agent_id`, valid for `ttl_days` from `now`. Only its hash is stored.
    pub async fn create_token(
        &self,
        agent_id: &str,
        ttl_days: u64,
        now: u64,
    ) -> Result<IssuedToken, AgentError> {
        if !(1..=MAX_TOKEN_TTL_DAYS).contains(&ttl_days) {
            return Err(AgentError::BadTtl(ttl_days));
        }
        self.store_token(agent_id, &new_token(), ttl_days, now)
            .await
    }

    /// Stores `token` (its hash) for `agent_id`. Production tokens come from [`Self::create_token`];
    /// this is for the local stack's documented demo token only.
    pub async fn store_token(
        &self,
        agent_id: &str,
        token: &str,
        ttl_days: u64,
        now: u64,
    ) -> Result<IssuedToken, AgentError> {
        if !(1..=MAX_TOKEN_TTL_DAYS).contains(&ttl_days) {
            return Err(AgentError::BadTtl(ttl_days));
        }
        if self.agent(agent_id).await?.is_none() {
            return Err(AgentError::NotFound(agent_id.to_owned()));
        }
        let token = token.to_owned();
        let record = TokenRecord {
            token_id: format!("tok_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            agent_id: agent_id.to_owned(),
            hash: token_hash(&token),
            created_at: now,
            expires_at: now + ttl_days * 86_400,
            revoked_at: None,
        };
        // The lookup item first: a token that exists only in the listing could never be used.
        for (pk, sk) in [
            (format!("hash#{}", record.hash), HASH_SK.to_owned()),
            (agent_pk(agent_id), format!("token#{}", record.token_id)),
        ] {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk))
                .item("sk", s(sk))
                .item("token_id", s(&record.token_id))
                .item("agent_id", s(agent_id))
                .item("hash", s(&record.hash))
                .item("created_at", n(record.created_at))
                .item("expires_at", n(record.expires_at))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(IssuedToken {
            record,
            token: SecretString::from(token),
        })
    }

    /// The token whose hash is `hash` (what an authenticator reads).
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, AgentError> {
        self.get(&format!("hash#{hash}"), HASH_SK)
            .await?
            .map(|item| token_from_item(&item))
            .transpose()
    }

    /// An agent's tokens (metadata only), newest first.
    pub async fn list_tokens(&self, agent_id: &str) -> Result<Vec<TokenRecord>, AgentError> {
        let items = self.query_prefix(&agent_pk(agent_id), "token#").await?;
        let mut all = items
            .iter()
            .map(token_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(all)
    }

    /// Revokes `token_id` of `agent_id` at `now`: the lookup item the authenticator reads first.
    pub async fn revoke_token(
        &self,
        agent_id: &str,
        token_id: &str,
        now: u64,
    ) -> Result<(), AgentError> {
        let listing = (agent_pk(agent_id), format!("token#{token_id}"));
        let record = self
            .get(&listing.0, &listing.1)
            .await?
            .map(|item| token_from_item(&item))
            .transpose()?
            .ok_or_else(|| AgentError::TokenNotFound(token_id.to_owned()))?;
        for (pk, sk) in [
            (format!("hash#{}", record.hash), HASH_SK.to_owned()),
            listing,
        ] {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .update_expression("SET revoked_at = if_not_exists(revoked_at, :now)")
                .expression_attribute_values(":now", n(now))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Records that `agent_id` is granted `instance_id` (the grant index discovery reads).
    pub async fn index_grant(&self, agent_id: &str, instance_id: &str) -> Result<(), AgentError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(agent_pk(agent_id)))
            .item("sk", s(format!("grant#{instance_id}")))
            .item("instance_id", s(instance_id))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Removes `instance_id` from `agent_id`'s grant index.
    pub async fn unindex_grant(&self, agent_id: &str, instance_id: &str) -> Result<(), AgentError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(agent_pk(agent_id)))
            .key("sk", s(format!("grant#{instance_id}")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The instance ids `agent_id` is granted, from the index (one query, no scan).
    pub async fn granted_instances(&self, agent_id: &str) -> Result<Vec<String>, AgentError> {
        let items = self.query_prefix(&agent_pk(agent_id), "grant#").await?;
        Ok(items
            .iter()
            .filter_map(|item| item.get("instance_id")?.as_s().ok().cloned())
            .collect())
    }
}

fn key_of(item: &HashMap<String, AttributeValue>) -> String {
    let get = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    format!("{}/{}", get("pk"), get("sk"))
}

fn agent_from_item(item: &Item) -> Result<Agent, AgentError> {
    let corrupt = |detail: &str| AgentError::Corrupt {
        key: key_of(item),
        detail: detail.to_owned(),
    };
    let get_s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let id = get_s("pk")
        .and_then(|pk| pk.strip_prefix("agent#").map(str::to_owned))
        .ok_or_else(|| corrupt("pk"))?;
    Ok(Agent {
        id,
        workspace: get_s("workspace").ok_or_else(|| corrupt("workspace"))?,
        iam_arns: item
            .get("iam_arns")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        may_act_for_users: item
            .get("may_act_for_users")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        status: get_s("status")
            .as_deref()
            .and_then(AgentStatus::parse)
            .ok_or_else(|| corrupt("status"))?,
        created_at: number(item, "created_at").unwrap_or(0),
    })
}

fn number(item: &Item, key: &str) -> Option<u64> {
    item.get(key)?.as_n().ok()?.parse().ok()
}

fn token_from_item(item: &Item) -> Result<TokenRecord, AgentError> {
    let corrupt = |detail: &str| AgentError::Corrupt {
        key: key_of(item),
        detail: detail.to_owned(),
    };
    let get_s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    Ok(TokenRecord {
        token_id: get_s("token_id").ok_or_else(|| corrupt("token_id"))?,
        agent_id: get_s("agent_id").ok_or_else(|| corrupt("agent_id"))?,
        hash: get_s("hash").ok_or_else(|| corrupt("hash"))?,
        created_at: number(item, "created_at").unwrap_or(0),
        expires_at: number(item, "expires_at").ok_or_else(|| corrupt("expires_at"))?,
        revoked_at: number(item, "revoked_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_prefix_and_256_random_bits() {
        let a = new_token();
        let b = new_token();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn agent_ids_are_checked() {
        assert!(check_id("agent-1").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a#b").is_err());
        assert!(check_id(&"a".repeat(65)).is_err());
    }
}
