//! The sync worker: consumes SyncQueue (notifications that ask for a sync, queued by the
//! `google-pubsub` and `google-channel` webhook routes once verified and deduplicated) and syncs
//! the watch each names. A batch syncs each watch once, however many notifications name it.
//!
//! - `gmail.notification` {emailAddress, historyId, messageId, publishTime}: the instance's
//!   Gmail watches of that mailbox.
//! - `channel.notification` {channel_id, resource_id, resource_state, message_number, changed,
//!   watch_id?}: the channel's watch (`watch_id`, else the channel item's). `sync` messages
//!   only announce a new channel: acknowledged, nothing pulled.
//!
//! Notifications for a watch that is gone or stopped are acknowledged and dropped; a failed
//! sync fails its records only (partial batch failures), and SQS redelivers them.

use std::collections::BTreeMap;

use serde_json::Value;
use tokio::time::Instant;

use switchyard_aws::watches::{WatchStatus, WatchUpdate};
use switchyard_core::workitem::WorkItem;

use crate::sync::{self, Mode, SyncError};
use crate::GoogleSync;

/// One queue message.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    pub body: String,
}

/// Why a record's watches could not be found (the record fails and is retried).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("poison message: {0}")]
    Poison(#[from] switchyard_core::workitem::WorkItemError),
    #[error(transparent)]
    Watches(#[from] switchyard_aws::watches::WatchError),
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchReport {
    pub synced: usize,
    pub queued: usize,
    /// Records acknowledged without a sync (`sync` messages, unknown or stopped watches).
    pub ignored: usize,
    /// Message ids that failed (reported back to SQS).
    pub failed: Vec<String>,
}

/// Handles a batch by `deadline`.
pub async fn handle_batch(app: &GoogleSync, records: &[Record], deadline: Instant) -> BatchReport {
    let mut report = BatchReport::default();
    // watch id -> the records that asked for it.
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in records {
        match watches_of(app, &record.body).await {
            Ok(ids) if ids.is_empty() => report.ignored += 1,
            Ok(ids) => {
                for id in ids {
                    wanted
                        .entry(id)
                        .or_default()
                        .push(record.message_id.clone());
                }
            }
            Err(e) => {
                tracing::error!(message_id = %record.message_id, error = %e, "record failed");
                report.failed.push(record.message_id.clone());
            }
        }
    }
    let now = app.now();
    for (watch_id, message_ids) in wanted {
        let notified = WatchUpdate {
            last_notification_at: Some(now),
            ..WatchUpdate::default()
        };
        if let Err(e) = app.watches.update(&watch_id, &notified, now).await {
            tracing::warn!(%watch_id, error = %e, "could not record the notification time");
        }
        match sync::sync_watch(app, &watch_id, Mode::Incremental, deadline).await {
            Ok(synced) => {
                report.synced += 1;
                report.queued += synced.queued;
            }
            Err(SyncError::NoWatch(_) | SyncError::Stopped(_) | SyncError::NoInstance(_)) => {
                report.ignored += message_ids.len();
            }
            Err(e) => {
                tracing::error!(%watch_id, error = %e, "sync failed");
                report.failed.extend(message_ids);
            }
        }
    }
    report.failed.sort();
    report.failed.dedup();
    report
}

/// The watches a notification asks to sync (empty: nothing to do).
async fn watches_of(app: &GoogleSync, body: &str) -> Result<Vec<String>, RecordError> {
    let item = WorkItem::parse(body)?;
    let payload = item.payload.unwrap_or(Value::Null);
    let field = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
    match item.kind.as_str() {
        "gmail.notification" => {
            let email = field("emailAddress");
            Ok(app
                .watches
                .list_for_instance(&item.instance_id)
                .await?
                .into_iter()
                .filter(|w| {
                    w.resource_type == "gmail"
                        && w.status != WatchStatus::Stopped
                        && (w.account.is_none() || w.account == email)
                })
                .map(|w| w.id)
                .collect())
        }
        "channel.notification" => {
            if field("resource_state").as_deref() == Some("sync") {
                return Ok(Vec::new());
            }
            let watch_id = match field("watch_id") {
                Some(id) => Some(id),
                None => match field("channel_id") {
                    // The channel must be the instance's (ingress checked it; so does this).
                    Some(channel) => app
                        .watches
                        .channel(&channel)
                        .await?
                        .filter(|c| c.instance_id == item.instance_id)
                        .map(|c| c.watch_id),
                    None => None,
                },
            };
            Ok(watch_id.into_iter().collect())
        }
        other => {
            tracing::warn!(kind = other, "not a sync notification; dropped");
            Ok(Vec::new())
        }
    }
}
