//! Open live-event connections (WebSocket clients of agents).
//!
//! Table `LiveConnectionsTable`, key (`pk`, `sk`), two items per connection, written together:
//! - (`agent#<agent id>`, `<connection id>`): the listing the fan-out queries for an event's
//!   agent (the local emulator provisions no GSIs, and a query on the agent's partition is one
//!   read per event);
//! - (`conn#<connection id>`, `conn`): the pointer `$disconnect` reads, since API Gateway tells
//!   it only the connection id.
//!
//! Both carry `expires_at` (DynamoDB TTL): a connection whose `$disconnect` never ran (API
//! Gateway drops idle sockets after 10 minutes and any socket after 2 hours) goes away by
//! itself, and the fan-out skips expired items before TTL deletes them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::dynamo::{n, s, Item};
use crate::error::chain;

/// How long a connection record lives without `$disconnect`: API Gateway's maximum connection
/// duration.
pub const CONNECTION_TTL_SECS: u64 = 2 * 60 * 60;

const POINTER_SK: &str = "conn";

/// Why a live-connection operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("live connections store unavailable: {0}")]
    Unavailable(String),
    #[error("live connection item {pk} is corrupt: {detail}")]
    Corrupt { pk: String, detail: String },
}

fn unavailable(e: impl std::error::Error) -> LiveError {
    LiveError::Unavailable(chain(&e))
}

/// What a connection asked to receive besides integration events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Subscriptions {
    /// The agent's PlatformEvents (`?events=platform`).
    pub platform: bool,
}

impl Subscriptions {
    /// From the `events` query parameter: a comma-separated list; `platform` subscribes to
    /// PlatformEvents, `integration` (always delivered) and unknown names are ignored.
    pub fn parse(events: Option<&str>) -> Self {
        Self {
            platform: events
                .unwrap_or_default()
                .split(',')
                .any(|name| name.trim() == "platform"),
        }
    }
}

/// One open connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveConnection {
    pub connection_id: String,
    pub agent_id: String,
    pub workspace: String,
    pub subscriptions: Subscriptions,
    pub connected_at: u64,
    pub expires_at: u64,
}

/// The live connections table.
#[derive(Debug, Clone)]
pub struct LiveConnectionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn agent_pk(agent_id: &str) -> String {
    format!("agent#{agent_id}")
}

fn pointer_pk(connection_id: &str) -> String {
    format!("conn#{connection_id}")
}

impl LiveConnectionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Records an open connection (both items; the pointer last, so a `$disconnect` that finds
    /// it finds the listing too).
    pub async fn put(&self, connection: &LiveConnection) -> Result<(), LiveError> {
        let common = |pk: String, sk: String| -> Item {
            HashMap::from([
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(sk)),
                ("connection_id".to_owned(), s(&connection.connection_id)),
                ("agent_id".to_owned(), s(&connection.agent_id)),
                ("workspace".to_owned(), s(&connection.workspace)),
                (
                    "platform".to_owned(),
                    AttributeValue::Bool(connection.subscriptions.platform),
                ),
                ("connected_at".to_owned(), n(connection.connected_at)),
                ("expires_at".to_owned(), n(connection.expires_at)),
            ])
        };
        for item in [
            common(
                agent_pk(&connection.agent_id),
                connection.connection_id.clone(),
            ),
            common(pointer_pk(&connection.connection_id), POINTER_SK.to_owned()),
        ] {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// The connection `connection_id`, if recorded.
    pub async fn get(&self, connection_id: &str) -> Result<Option<LiveConnection>, LiveError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pointer_pk(connection_id)))
            .key("sk", s(POINTER_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// Forgets a connection (`$disconnect`, or a post answered 410 Gone). Forgetting one that
    /// is not recorded is not an error.
    pub async fn remove(&self, connection_id: &str) -> Result<(), LiveError> {
        let Some(connection) = self.get(connection_id).await? else {
            return Ok(());
        };
        self.remove_known(&connection).await
    }

    /// [`Self::remove`] when the agent is already known (the fan-out read it): no lookup.
    pub async fn remove_known(&self, connection: &LiveConnection) -> Result<(), LiveError> {
        for (pk, sk) in [
            (
                agent_pk(&connection.agent_id),
                connection.connection_id.clone(),
            ),
            (pointer_pk(&connection.connection_id), POINTER_SK.to_owned()),
        ] {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// The agent's open, unexpired connections at `now`.
    pub async fn for_agent(
        &self,
        agent_id: &str,
        now: u64,
    ) -> Result<Vec<LiveConnection>, LiveError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(agent_pk(agent_id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                let connection = from_item(&item)?;
                if connection.expires_at > now {
                    all.push(connection);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(all);
            }
        }
    }
}

fn from_item(item: &Item) -> Result<LiveConnection, LiveError> {
    let pk = item
        .get("pk")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let corrupt = |field: &str| LiveError::Corrupt {
        pk: pk.clone(),
        detail: format!("missing or mistyped {field}"),
    };
    let text = |field: &str| {
        item.get(field)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| corrupt(field))
    };
    let number = |field: &str| {
        item.get(field)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| corrupt(field))
    };
    Ok(LiveConnection {
        connection_id: text("connection_id")?,
        agent_id: text("agent_id")?,
        workspace: text("workspace")?,
        subscriptions: Subscriptions {
            platform: item
                .get("platform")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
        },
        connected_at: number("connected_at")?,
        expires_at: number("expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_platform_in_the_events_list_subscribes_to_platform_events() {
        assert!(Subscriptions::parse(Some("integration,platform")).platform);
        assert!(Subscriptions::parse(Some(" platform ")).platform);
        assert!(!Subscriptions::parse(Some("integration,platforms")).platform);
        assert!(!Subscriptions::parse(None).platform);
    }
}
