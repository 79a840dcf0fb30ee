//! Agent sessions and their append-only numbered checkpoints.
//!
//! Table `SessionsTable`, key (`pk`, `sk`). Items, all in the session's partition
//! `session#<id>`:
//! - `#session`: the session (owning agent, workspace, status, context JSON, group id,
//!   created/updated, `last_checkpoint`);
//! - `checkpoint#<number, 10 digits>`: one checkpoint (state JSON, created_at).
//!
//! A checkpoint is a conditional put of its item (`attribute_not_exists`), so two writers with
//! the same number cannot both succeed and no number is ever overwritten; the session's counter
//! then moves forward with a conditional update (only ever forward).
//! Every read is by key or a query of one partition.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::dynamo::{n, s, Item};
use crate::error::{chain, is_conditional_check_failed};

const SESSION_SK: &str = "#session";
const CHECKPOINT_PREFIX: &str = "checkpoint#";

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Running,
    Paused,
    Completed,
    Failed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "paused" => Some(Self::Paused),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// Completed and failed sessions take no more checkpoints or status changes.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub id: String,
    pub agent_id: String,
    pub workspace: String,
    pub status: SessionStatus,
    /// The context JSON, as the agent gave it (size-capped by the API).
    pub context: serde_json::Value,
    pub group_id: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// The number of the last checkpoint; 0 before the first.
    pub last_checkpoint: u64,
}

/// One checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub number: u64,
    pub state: serde_json::Value,
    pub created_at: u64,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session {0} does not exist")]
    NotFound(String),
    #[error("session {0} already exists")]
    AlreadyExists(String),
    /// The checkpoint number is not the next one (stale or duplicate writer).
    #[error("checkpoint {given} is not the next one: the session is at {current}")]
    StaleCheckpoint { given: u64, current: u64 },
    /// The session has ended (completed or failed).
    #[error("session is {}: it takes no more changes", .0.as_str())]
    Ended(SessionStatus),
    /// The status changed under us (a concurrent status write).
    #[error("session status changed concurrently")]
    Conflict,
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("session item {key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
}

fn unavailable(e: impl std::error::Error) -> SessionError {
    SessionError::Unavailable(chain(&e))
}

fn pk(id: &str) -> String {
    format!("session#{id}")
}

fn checkpoint_sk(number: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{number:010}")
}

/// Sessions in DynamoDB.
#[derive(Debug, Clone)]
pub struct SessionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl SessionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a new session (its id must be fresh).
    pub async fn create(&self, session: &Session) -> Result<(), SessionError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk(&session.id)))
            .item("sk", s(SESSION_SK))
            .item("agent_id", s(&session.agent_id))
            .item("workspace", s(&session.workspace))
            .item("status", s(session.status.as_str()))
            .item("context", s(session.context.to_string()))
            .item("created_at", n(session.created_at))
            .item("updated_at", n(session.updated_at))
            .item("last_checkpoint", n(session.last_checkpoint))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(group) = &session.group_id {
            put = put.item("group_id", s(group));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => {
                Err(SessionError::AlreadyExists(session.id.clone()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The session `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, SessionError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(id)))
            .key("sk", s(SESSION_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|item| session_of(id, &item)).transpose()
    }

    /// Appends checkpoint `number` (which must be `last_checkpoint + 1`) to a session that has
    /// not ended. The checkpoint item's conditional put (`attribute_not_exists`) is the arbiter:
    /// of two writers of one number exactly one creates it; the session's counter then moves
    /// forward to it (conditional on being behind, so it never moves back). A writer that finds
    /// the number taken rolls the counter forward too (in case the winner stopped between its
    /// put and its update), so the counter never stays behind a stored checkpoint.
    pub async fn append_checkpoint(
        &self,
        id: &str,
        number: u64,
        state: &serde_json::Value,
        now: u64,
    ) -> Result<Checkpoint, SessionError> {
        let session = self
            .get(id)
            .await?
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        if session.status.is_terminal() {
            return Err(SessionError::Ended(session.status));
        }
        if number != session.last_checkpoint + 1 {
            return Err(SessionError::StaleCheckpoint {
                given: number,
                current: session.last_checkpoint,
            });
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk(id)))
            .item("sk", s(checkpoint_sk(number)))
            .item("number", n(number))
            .item("state", s(state.to_string()))
            .item("created_at", n(now))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {
                self.advance(id, number, now).await?;
                Ok(Checkpoint {
                    number,
                    state: state.clone(),
                    created_at: now,
                })
            }
            Err(e) if is_conditional_check_failed(&e) => {
                self.advance(id, number, now).await?;
                let current = self
                    .get(id)
                    .await?
                    .map_or(number, |s| s.last_checkpoint.max(number));
                Err(SessionError::StaleCheckpoint {
                    given: number,
                    current,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Moves the session's counter forward to `number` if it is behind (never back).
    async fn advance(&self, id: &str, number: u64, now: u64) -> Result<(), SessionError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(id)))
            .key("sk", s(SESSION_SK))
            .update_expression("SET last_checkpoint = :n, updated_at = :now")
            .condition_expression("attribute_exists(pk) AND last_checkpoint < :n")
            .expression_attribute_values(":n", n(number))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already there (or past): another writer moved it.
            Err(e) if is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Checkpoint `number` of session `id`.
    pub async fn checkpoint(
        &self,
        id: &str,
        number: u64,
    ) -> Result<Option<Checkpoint>, SessionError> {
        let key = checkpoint_sk(number);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(id)))
            .key("sk", s(&key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|item| checkpoint_of(&key, &item)).transpose()
    }

    /// Moves session `id` from `from` to `to`, conditional on it still being `from`.
    pub async fn set_status(
        &self,
        id: &str,
        from: SessionStatus,
        to: SessionStatus,
        now: u64,
    ) -> Result<(), SessionError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(id)))
            .key("sk", s(SESSION_SK))
            .update_expression("SET #st = :to, updated_at = :now")
            .condition_expression("attribute_exists(pk) AND #st = :from")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => Err(SessionError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn corrupt(key: &str, detail: impl Into<String>) -> SessionError {
    SessionError::Corrupt {
        key: key.to_owned(),
        detail: detail.into(),
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn json(item: &Item, key: &str, name: &str) -> Result<serde_json::Value, SessionError> {
    let raw = text(item, name).ok_or_else(|| corrupt(key, format!("no {name}")))?;
    serde_json::from_str(raw).map_err(|e| corrupt(key, format!("{name}: {e}")))
}

fn session_of(id: &str, item: &Item) -> Result<Session, SessionError> {
    let key = pk(id);
    let need = |name: &str| {
        text(item, name)
            .map(str::to_owned)
            .ok_or_else(|| corrupt(&key, format!("no {name}")))
    };
    let status = text(item, "status")
        .and_then(SessionStatus::parse)
        .ok_or_else(|| corrupt(&key, "bad status"))?;
    Ok(Session {
        id: id.to_owned(),
        agent_id: need("agent_id")?,
        workspace: need("workspace")?,
        status,
        context: json(item, &key, "context")?,
        group_id: text(item, "group_id").map(str::to_owned),
        created_at: number(item, "created_at").unwrap_or_default(),
        updated_at: number(item, "updated_at").unwrap_or_default(),
        last_checkpoint: number(item, "last_checkpoint")
            .ok_or_else(|| corrupt(&key, "no last_checkpoint"))?,
    })
}

fn checkpoint_of(key: &str, item: &Item) -> Result<Checkpoint, SessionError> {
    Ok(Checkpoint {
        number: number(item, "number").ok_or_else(|| corrupt(key, "no number"))?,
        state: json(item, key, "state")?,
        created_at: number(item, "created_at").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::SessionStatus::*;

    #[test]
    fn only_completed_and_failed_are_terminal() {
        for status in [Running, Paused, Completed, Failed] {
            let parsed = super::SessionStatus::parse(status.as_str());
            assert_eq!(parsed, Some(status));
            assert_eq!(status.is_terminal(), matches!(status, Completed | Failed));
        }
    }

    #[test]
    fn checkpoint_keys_sort_by_number() {
        assert!(super::checkpoint_sk(9) < super::checkpoint_sk(10));
    }
}
