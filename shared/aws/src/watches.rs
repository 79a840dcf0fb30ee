//! Push subscriptions ("watches") and the notification channels that feed them.
//!
//! Table `WatchesTable`, key `pk`, two kinds of item:
//! - `watch#<id>`: one subscription of an instance to one resource (`gmail:INBOX`,
//!   `drive:changes`, `calendar:<calendar id>`): the connection it runs on, the channel open now,
//!   the sync cursor, when the subscription expires, its status and error counters. The id is
//!   derived from (instance, resource type, resource id), so creating a watch twice finds the
//!   first one.
//! - `channel#<channel id>`: one open push channel (Drive, Calendar): the watch it feeds, the
//!   resource id the provider gave it, the SHA-256 of its token, its expiry. During a renewal a
//!   watch has two channels open (the deliberate overlap); notifications of either are accepted
//!   until the old one is stopped and its item deleted.
//!
//! The channel token is a random secret the provider echoes on every notification. Only its
//! SHA-256 is stored: a notification's token is hashed and compared in constant time, and the
//! token is never needed again (a renewal opens a new channel with a new token), so nothing
//! readable is kept. Ingress reads one channel item per notification (consistent `GetItem`);
//! every other access (listing, renewal, sweep) is a scheduled job or the CLI.
//!
//! The cursor only moves by a conditional write from the value a worker read
//! ([`WatchStore::advance_cursor`]), so two workers pulling the same range cannot move it
//! backwards or both win.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dynamo::{all_items, n, s, Item};
use crate::error::{chain, is_conditional_check_failed};
use crate::AwsClients;

/// Why a watch operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("watch store unavailable: {0}")]
    Unavailable(String),
    #[error("watch item {pk} is corrupt: {detail}")]
    Corrupt { pk: String, detail: String },
}

fn unavailable(e: impl std::error::Error) -> WatchError {
    WatchError::Unavailable(chain(&e))
}

/// A watch's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchStatus {
    /// Subscribed and syncing.
    Active,
    /// Renewal or sync failed repeatedly; still retried by the schedule.
    Failing,
    /// Stopped (disconnect, instance deletion, operator).
    Stopped,
}

impl WatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Failing => "failing",
            Self::Stopped => "stopped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "failing" => Some(Self::Failing),
            "stopped" => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watch {
    pub id: String,
    pub instance_id: String,
    /// The OAuth connection the watch's calls run on, when the instance has one.
    pub connection_id: Option<String>,
    pub provider: String,
    /// `gmail`, `drive` or `calendar`.
    pub resource_type: String,
    /// The label (`INBOX`), `changes`, or the calendar id.
    pub resource_id: String,
    /// Gmail: also emit `gmail.labels_changed` (labels added to or removed from messages).
    pub label_events: bool,
    /// The account the subscription is for, where the provider names it in notifications
    /// (Gmail's `emailAddress`).
    pub account: Option<String>,
    /// The push channel open now (Drive, Calendar).
    pub channel_id: Option<String>,
    /// The provider's id of the watched resource on that channel.
    pub channel_resource_id: Option<String>,
    /// Where the last sync stopped: history id, page token or sync token.
    pub cursor: Option<String>,
    /// When the subscription lapses unless renewed (unix seconds).
    pub expires_at: Option<u64>,
    pub status: WatchStatus,
    pub last_notification_at: Option<u64>,
    pub last_sync_at: Option<u64>,
    pub last_error: Option<String>,
    pub errors_in_a_row: u32,
    pub created_at: u64,
    pub updated_at: u64,
}

impl Watch {
    /// The id of the watch of `instance_id` on (`resource_type`, `resource_id`): stable, so a
    /// second `watch create` finds the first.
    pub fn id_for(instance_id: &str, resource_type: &str, resource_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(instance_id.as_bytes());
        h.update([0]);
        h.update(resource_type.as_bytes());
        h.update([0]);
        h.update(resource_id.as_bytes());
        format!("wch_{}", &hex::encode(h.finalize())[..24])
    }

    /// A new active watch with nothing synced yet.
    pub fn new(
        instance_id: &str,
        provider: &str,
        resource_type: &str,
        resource_id: &str,
        now: u64,
    ) -> Self {
        Self {
            id: Self::id_for(instance_id, resource_type, resource_id),
            instance_id: instance_id.to_owned(),
            connection_id: None,
            provider: provider.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            label_events: false,
            account: None,
            channel_id: None,
            channel_resource_id: None,
            cursor: None,
            expires_at: None,
            status: WatchStatus::Active,
            last_notification_at: None,
            last_sync_at: None,
            last_error: None,
            errors_in_a_row: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// One open push channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub id: String,
    pub watch_id: String,
    pub instance_id: String,
    /// The provider's resource id, known once the watch call answered (a `sync` notification
    /// may arrive before that).
    pub resource_id: Option<String>,
    /// SHA-256 of the channel token.
    #[serde(skip)]
    pub token_sha256: [u8; 32],
    pub expires_at: u64,
    pub created_at: u64,
}

/// SHA-256 of a channel token, as stored and compared.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What may change on a watch in one write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchUpdate {
    pub connection_id: Option<String>,
    pub account: Option<String>,
    pub channel_id: Option<String>,
    pub channel_resource_id: Option<String>,
    pub expires_at: Option<u64>,
    pub status: Option<WatchStatus>,
    pub last_notification_at: Option<u64>,
    pub last_sync_at: Option<u64>,
    /// `Some(None)` clears the last error.
    pub last_error: Option<Option<String>>,
    pub errors_in_a_row: Option<u32>,
}

/// Watches and channels in DynamoDB.
#[derive(Debug, Clone)]
pub struct WatchStore {
    /// [`Self::channel`] (a webhook's read) goes on the wire client; the rest on the SDK's,
    /// built at first use (see [`AwsClients`]).
    aws: AwsClients,
    table: String,
}

fn watch_pk(id: &str) -> String {
    format!("watch#{id}")
}

fn channel_pk(id: &str) -> String {
    format!("channel#{id}")
}

impl WatchStore {
    pub fn new(aws: &AwsClients, table: impl Into<String>) -> Self {
        Self {
            aws: aws.clone(),
            table: table.into(),
        }
    }

    /// Stores a new watch; `Ok(false)`: one with its id exists already (nothing written).
    pub async fn create(&self, watch: &Watch) -> Result<bool, WatchError> {
        let put = self
            .aws
            .dynamodb()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(watch_item(watch)))
            .condition_expression("attribute_not_exists(pk)");
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The watch `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Watch>, WatchError> {
        let out = self
            .aws
            .dynamodb()
            .get_item()
            .table_name(&self.table)
            .key("pk", s(watch_pk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(watch_from_item).transpose()
    }

    /// Every watch (scheduled jobs and the CLI only: a scan).
    pub async fn list(&self) -> Result<Vec<Watch>, WatchError> {
        let scan = self
            .aws
            .dynamodb()
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :w)")
            .expression_attribute_values(":w", s("watch#"));
        let items = all_items(scan).await.map_err(unavailable)?;
        let mut watches = items
            .iter()
            .map(watch_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        watches.sort_by(|a, b| (&a.instance_id, &a.id).cmp(&(&b.instance_id, &b.id)));
        Ok(watches)
    }

    /// The watches of one instance.
    pub async fn list_for_instance(&self, instance_id: &str) -> Result<Vec<Watch>, WatchError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|w| w.instance_id == instance_id)
            .collect())
    }

    /// Applies `update` to watch `id`; `Ok(false)`: no such watch.
    pub async fn update(
        &self,
        id: &str,
        update: &WatchUpdate,
        now: u64,
    ) -> Result<bool, WatchError> {
        // Every field by name placeholder: `status` is a DynamoDB reserved word.
        let mut sets = vec!["updated_at = :now".to_owned()];
        let mut removes = Vec::new();
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        values.insert(":now".into(), n(now));
        let mut set = |field: &str, value: AttributeValue| {
            sets.push(format!("#{field} = :{field}"));
            names.insert(format!("#{field}"), field.to_owned());
            values.insert(format!(":{field}"), value);
        };
        if let Some(v) = &update.connection_id {
            set("connection_id", s(v));
        }
        if let Some(v) = &update.account {
            set("account", s(v));
        }
        if let Some(v) = &update.channel_id {
            set("channel_id", s(v));
        }
        if let Some(v) = &update.channel_resource_id {
            set("channel_resource_id", s(v));
        }
        if let Some(v) = update.expires_at {
            set("watch_expires_at", n(v));
        }
        if let Some(v) = update.status {
            set("status", s(v.as_str()));
        }
        if let Some(v) = update.last_notification_at {
            set("last_notification_at", n(v));
        }
        if let Some(v) = update.last_sync_at {
            set("last_sync_at", n(v));
        }
        if let Some(v) = update.errors_in_a_row {
            set("errors_in_a_row", n(u64::from(v)));
        }
        match &update.last_error {
            Some(Some(v)) => set("last_error", s(v)),
            Some(None) => removes.push("last_error"),
            None => {}
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let out = self
            .aws
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(watch_pk(id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Counts one more failure of watch `id` and records `error`; the watch turns `failing`
    /// when the count reaches `failing_after`. Returns the new count (0: no such watch).
    pub async fn record_failure(
        &self,
        id: &str,
        error: &str,
        failing_after: u32,
        now: u64,
    ) -> Result<u32, WatchError> {
        let out = self
            .aws
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(watch_pk(id)))
            .update_expression("SET last_error = :e, updated_at = :now ADD errors_in_a_row :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":e", s(error))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let item = match out {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if is_conditional_check_failed(&e) => return Ok(0),
            Err(e) => return Err(unavailable(e)),
        };
        let count = get_n(&item, "errors_in_a_row").unwrap_or(0) as u32;
        if count >= failing_after
            && get_s(&item, "status").as_deref() == Some(WatchStatus::Active.as_str())
        {
            let failing = WatchUpdate {
                status: Some(WatchStatus::Failing),
                ..WatchUpdate::default()
            };
            self.update(id, &failing, now).await?;
        }
        Ok(count)
    }

    /// Moves watch `id`'s cursor from `read` (what this worker started from; `None`: no cursor
    /// yet) to `cursor`, and records the sync time. `Ok(false)`: another worker moved it
    /// meanwhile (or the watch is gone), and this one's result must be dropped.
    pub async fn advance_cursor(
        &self,
        id: &str,
        read: Option<&str>,
        cursor: &str,
        now: u64,
    ) -> Result<bool, WatchError> {
        let mut update = self
            .aws
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(watch_pk(id)))
            .update_expression("SET #cursor = :cursor, last_sync_at = :now, updated_at = :now")
            .expression_attribute_names("#cursor", "cursor")
            .expression_attribute_values(":cursor", s(cursor))
            .expression_attribute_values(":now", n(now));
        update = match read {
            Some(previous) => update
                .condition_expression("attribute_exists(pk) AND #cursor = :read")
                .expression_attribute_values(":read", s(previous)),
            None => update
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#cursor)"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Deletes watch `id` (its channels are deleted separately, once stopped).
    pub async fn delete(&self, id: &str) -> Result<(), WatchError> {
        self.aws
            .dynamodb()
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(watch_pk(id)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Records a newly opened channel (before the watch call answers, so its first
    /// notifications can be checked).
    pub async fn put_channel(&self, channel: &Channel) -> Result<(), WatchError> {
        let mut item = Item::new();
        item.insert("pk".into(), s(channel_pk(&channel.id)));
        item.insert("watch_id".into(), s(&channel.watch_id));
        item.insert("instance_id".into(), s(&channel.instance_id));
        if let Some(r) = &channel.resource_id {
            item.insert("resource_id".into(), s(r));
        }
        item.insert("token_sha256".into(), s(hex::encode(channel.token_sha256)));
        item.insert("channel_expires_at".into(), n(channel.expires_at));
        item.insert("created_at".into(), n(channel.created_at));
        self.aws
            .dynamodb()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Sets the provider's resource id of channel `id` once the watch call answered.
    pub async fn set_channel_resource(
        &self,
        id: &str,
        resource_id: &str,
    ) -> Result<(), WatchError> {
        self.aws
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(channel_pk(id)))
            .update_expression("SET resource_id = :r")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":r", s(resource_id))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Channel `id`, if it is open (ingress: one consistent read per notification).
    pub async fn channel(&self, id: &str) -> Result<Option<Channel>, WatchError> {
        self.aws
            .wire_ref()
            .get_item(&self.table, &channel_pk(id), true)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(channel_from_item)
            .transpose()
    }

    /// The open channels of watch `watch_id` (renewal and stop: a scan).
    pub async fn channels_of(&self, watch_id: &str) -> Result<Vec<Channel>, WatchError> {
        let scan = self
            .aws
            .dynamodb()
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :c) AND watch_id = :w")
            .expression_attribute_values(":c", s("channel#"))
            .expression_attribute_values(":w", s(watch_id));
        let items = all_items(scan).await.map_err(unavailable)?;
        items.iter().map(channel_from_item).collect()
    }

    /// Forgets channel `id` (after it was stopped, or it expired).
    pub async fn delete_channel(&self, id: &str) -> Result<(), WatchError> {
        self.aws
            .dynamodb()
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(channel_pk(id)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn watch_item(w: &Watch) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(watch_pk(&w.id)));
    item.insert("id".into(), s(&w.id));
    item.insert("instance_id".into(), s(&w.instance_id));
    item.insert("provider".into(), s(&w.provider));
    item.insert("resource_type".into(), s(&w.resource_type));
    item.insert("resource_id".into(), s(&w.resource_id));
    item.insert("status".into(), s(w.status.as_str()));
    item.insert("errors_in_a_row".into(), n(u64::from(w.errors_in_a_row)));
    if w.label_events {
        item.insert("label_events".into(), AttributeValue::Bool(true));
    }
    item.insert("created_at".into(), n(w.created_at));
    item.insert("updated_at".into(), n(w.updated_at));
    let optional_s = [
        ("connection_id", &w.connection_id),
        ("account", &w.account),
        ("channel_id", &w.channel_id),
        ("channel_resource_id", &w.channel_resource_id),
        ("cursor", &w.cursor),
        ("last_error", &w.last_error),
    ];
    for (key, value) in optional_s {
        if let Some(v) = value {
            item.insert(key.into(), s(v));
        }
    }
    let optional_n = [
        ("watch_expires_at", w.expires_at),
        ("last_notification_at", w.last_notification_at),
        ("last_sync_at", w.last_sync_at),
    ];
    for (key, value) in optional_n {
        if let Some(v) = value {
            item.insert(key.into(), n(v));
        }
    }
    item
}

fn get_s(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, key: &str) -> Option<u64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn corrupt(item: &Item, detail: &str) -> WatchError {
    WatchError::Corrupt {
        pk: get_s(item, "pk").unwrap_or_default(),
        detail: detail.to_owned(),
    }
}

fn watch_from_item(item: &Item) -> Result<Watch, WatchError> {
    let required = |key: &str| get_s(item, key).ok_or_else(|| corrupt(item, key));
    let status = get_s(item, "status")
        .as_deref()
        .and_then(WatchStatus::parse)
        .ok_or_else(|| corrupt(item, "status"))?;
    Ok(Watch {
        id: required("id")?,
        instance_id: required("instance_id")?,
        connection_id: get_s(item, "connection_id"),
        provider: required("provider")?,
        resource_type: required("resource_type")?,
        resource_id: required("resource_id")?,
        label_events: item
            .get("label_events")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        account: get_s(item, "account"),
        channel_id: get_s(item, "channel_id"),
        channel_resource_id: get_s(item, "channel_resource_id"),
        cursor: get_s(item, "cursor"),
        expires_at: get_n(item, "watch_expires_at"),
        status,
        last_notification_at: get_n(item, "last_notification_at"),
        last_sync_at: get_n(item, "last_sync_at"),
        last_error: get_s(item, "last_error"),
        errors_in_a_row: get_n(item, "errors_in_a_row").unwrap_or(0) as u32,
        created_at: get_n(item, "created_at").unwrap_or(0),
        updated_at: get_n(item, "updated_at").unwrap_or(0),
    })
}

fn channel_from_item(item: &Item) -> Result<Channel, WatchError> {
    let pk = get_s(item, "pk").unwrap_or_default();
    let id = pk
        .strip_prefix("channel#")
        .ok_or_else(|| corrupt(item, "pk"))?
        .to_owned();
    let token_sha256 = get_s(item, "token_sha256")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| corrupt(item, "token_sha256"))?;
    Ok(Channel {
        id,
        watch_id: get_s(item, "watch_id").ok_or_else(|| corrupt(item, "watch_id"))?,
        instance_id: get_s(item, "instance_id").ok_or_else(|| corrupt(item, "instance_id"))?,
        resource_id: get_s(item, "resource_id"),
        token_sha256,
        expires_at: get_n(item, "channel_expires_at").unwrap_or(0),
        created_at: get_n(item, "created_at").unwrap_or(0),
    })
}
