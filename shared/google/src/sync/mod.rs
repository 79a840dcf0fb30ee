//! The sync of one watch: pull from the stored cursor across pages, queue each change, then move
//! the cursor from the value read.
//!
//! Exactly once, however many syncs of a watch run at once (a notification and the sweep, two
//! notifications): every change becomes a WorkItem whose delivery key names the change itself
//! (`added:<message id>`, `change:<file id>:<time>`, `event:<event id>:<etag>`), claimed in the
//! deliveries table by [`switchyard_ingest::claim_and_queue`]; the second claim of a key loses
//! and queues nothing. The cursor moves by a conditional write from the value this sync read
//! ([`switchyard_aws::watches::WatchStore::advance_cursor`]): a sync that lost the race leaves
//! it, and a sync that dies after queueing re-reads the same range next time (its claims
//! dedup). The first sync of a new watch records the starting cursor as a baseline and emits
//! nothing, so connecting a large mailbox does not flood agents.

pub mod calendar;
pub mod drive;
pub mod gmail;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use switchyard_aws::cursors::CursorError;
use switchyard_aws::instances::{Instance, InstanceError};
use switchyard_aws::watches::{Watch, WatchError, WatchStatus, WatchUpdate};
use switchyard_core::workitem::{EventMeta, WorkItem, WORK_ITEM_VERSION};
use switchyard_providers::webhook::WebhookQueue;

use crate::api::ApiError;
use crate::resource::{BadResource, Resource};
use crate::GoogleSync;

/// Incremental (from the cursor) or full (Gmail: the newest messages; Calendar: every event,
/// emitting only versions not emitted before). Drive has no full form: its change log is the
/// only record of removals, so a Drive "full" sync is an incremental one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Incremental,
    Full,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub watch_id: String,
    /// Changes read from Google.
    pub pulled: usize,
    /// Changes queued as events (the rest were emitted before, or unchanged).
    pub queued: usize,
    /// The first sync of the watch: the cursor was recorded, nothing emitted.
    pub baseline: bool,
    /// A full sync ran (asked for, or forced by an expired history / a stale sync token).
    pub full: bool,
    /// Whether this sync moved the cursor (false: nothing new, or another sync moved it).
    pub cursor_moved: bool,
}

/// Why a watch could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no watch {0}")]
    NoWatch(String),
    #[error("watch {0} is stopped")]
    Stopped(String),
    #[error("instance {0} of the watch is gone")]
    NoInstance(String),
    #[error(transparent)]
    Resource(#[from] BadResource),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("Google's answer to {call} lacks {field}")]
    Unexpected {
        call: &'static str,
        field: &'static str,
    },
    #[error(transparent)]
    Watches(#[from] WatchError),
    #[error(transparent)]
    Instances(#[from] InstanceError),
    #[error(transparent)]
    Cursors(#[from] CursorError),
    #[error("provider {0} has no webhook definition: its events could not be published")]
    NoWebhook(&'static str),
    #[error("queueing failed: {0}")]
    Queue(String),
}

/// A progress callback: changes pulled so far (the CLI's progress bar).
pub type Progress<'a> = &'a (dyn Fn(usize) + Send + Sync);

/// One change, before it becomes a WorkItem.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Unique per change within the watch: the dedup key.
    pub key: String,
    /// The event type, e.g. `gmail.message_added`.
    pub name: &'static str,
    /// What trigger policies match on (strings).
    pub attributes: BTreeMap<String, String>,
    /// The event's fields, as agents receive them.
    pub payload: Value,
    /// Unix seconds the change happened, when Google says.
    pub occurred_at: Option<u64>,
}

/// What a pull produced.
#[derive(Debug, Default)]
pub(crate) struct Pulled {
    pub changes: Vec<Change>,
    /// Changes read (including unchanged ones a full sync skipped).
    pub read: usize,
    /// The cursor to move to.
    pub cursor: String,
    pub baseline: bool,
    pub full: bool,
    /// Work to do once the changes are queued (Calendar: record each event's version).
    pub after_queue: Vec<calendar::Seen>,
}

/// One sync's view: the watch as read, its instance and resource, the deadline.
pub(crate) struct Ctx<'a> {
    pub app: &'a GoogleSync,
    pub watch: &'a Watch,
    pub instance: &'a Instance,
    pub resource: &'a Resource,
    pub deadline: Instant,
    pub progress: Progress<'a>,
}

impl Ctx<'_> {
    pub(crate) async fn call(&self, method: &str, input: Value) -> Result<Value, ApiError> {
        crate::api::call(self.app, self.instance, method, input, self.deadline).await
    }
}

fn no_progress(_: usize) {}

/// Syncs watch `watch_id` by `deadline`.
pub async fn sync_watch(
    app: &GoogleSync,
    watch_id: &str,
    mode: Mode,
    deadline: Instant,
) -> Result<SyncReport, SyncError> {
    sync_watch_with_progress(app, watch_id, mode, deadline, &no_progress).await
}

/// [`sync_watch`], reporting progress.
pub async fn sync_watch_with_progress(
    app: &GoogleSync,
    watch_id: &str,
    mode: Mode,
    deadline: Instant,
    progress: Progress<'_>,
) -> Result<SyncReport, SyncError> {
    let watch = app
        .watches
        .get(watch_id)
        .await?
        .ok_or_else(|| SyncError::NoWatch(watch_id.to_owned()))?;
    if watch.status == WatchStatus::Stopped {
        return Err(SyncError::Stopped(watch.id));
    }
    let resource = Resource::of(&watch.resource_type, &watch.resource_id)?;
    let instance = app
        .ingress
        .instances
        .get(&watch.instance_id)
        .await?
        .ok_or_else(|| SyncError::NoInstance(watch.instance_id.clone()))?;
    let ctx = Ctx {
        app,
        watch: &watch,
        instance: &instance,
        resource: &resource,
        deadline,
        progress,
    };
    let pulled = match &resource {
        Resource::Gmail { .. } => gmail::pull(&ctx, mode).await?,
        Resource::DriveChanges => drive::pull(&ctx).await?,
        Resource::Calendar { .. } => calendar::pull(&ctx, mode).await?,
    };
    let queued = if pulled.baseline {
        0
    } else {
        emit(app, &watch, &resource, &pulled.changes).await?
    };
    calendar::remember(app, &watch, &pulled.after_queue).await?;
    let now = app.now();
    let cursor_moved = if watch.cursor.as_deref() == Some(pulled.cursor.as_str()) {
        let synced = WatchUpdate {
            last_sync_at: Some(now),
            ..WatchUpdate::default()
        };
        app.watches.update(&watch.id, &synced, now).await?;
        false
    } else {
        let moved = app
            .watches
            .advance_cursor(&watch.id, watch.cursor.as_deref(), &pulled.cursor, now)
            .await?;
        if !moved {
            tracing::info!(watch_id = %watch.id, "another sync moved the cursor; leaving it");
        }
        moved
    };
    let report = SyncReport {
        watch_id: watch.id.clone(),
        pulled: pulled.read,
        queued,
        baseline: pulled.baseline,
        full: pulled.full,
        cursor_moved,
    };
    tracing::info!(?report, "watch synced");
    Ok(report)
}

/// Claims and queues `changes` as WorkItems of the resource's webhook provider; returns how
/// many were new.
async fn emit(
    app: &GoogleSync,
    watch: &Watch,
    resource: &Resource,
    changes: &[Change],
) -> Result<usize, SyncError> {
    if changes.is_empty() {
        return Ok(0);
    }
    let provider = resource.webhook_provider();
    // The provider's dedup horizon, but the ingress queue: its notifications go to the sync
    // queue (they ask for a sync); the changes a sync found are events for the consumer.
    let mut webhook = app
        .ingress
        .registry
        .get(provider)
        .and_then(|d| d.webhook.clone())
        .ok_or(SyncError::NoWebhook(provider))?;
    webhook.queue = WebhookQueue::Ingress;
    let now = app.now();
    let items: Vec<WorkItem> = changes
        .iter()
        .map(|change| work_item(watch, resource, change, now))
        .collect();
    switchyard_ingest::claim_and_queue(&app.ingress, &webhook, &items, now)
        .await
        .map_err(|e| SyncError::Queue(e.to_string()))
}

fn work_item(watch: &Watch, resource: &Resource, change: &Change, now: u64) -> WorkItem {
    let provider = resource.webhook_provider();
    let mut attributes = change.attributes.clone();
    attributes.insert("watch_id".into(), watch.id.clone());
    attributes.insert("resource".into(), resource.to_string());
    WorkItem {
        v: WORK_ITEM_VERSION,
        id: format!("wi_{}", uuid::Uuid::new_v4().simple()),
        delivery_key: format!(
            "{provider}#{}#{}#{}",
            watch.instance_id, watch.id, change.key
        ),
        provider: provider.to_owned(),
        instance_id: watch.instance_id.clone(),
        kind: change.name.to_owned(),
        received_at: now,
        retry_num: None,
        payload: Some(change.payload.clone()),
        payload_ref: None,
        event: Some(EventMeta {
            name: change.name.to_owned(),
            attributes,
            occurred_at: change.occurred_at,
        }),
    }
}

/// String attributes from `(name, value)` pairs, skipping absent values.
pub(crate) fn attributes<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<String>)>,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect()
}

/// A string field of a JSON object.
pub(crate) fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// An RFC 3339 time (Drive `time`, Calendar `updated`) in unix seconds.
pub(crate) fn rfc3339_secs(value: Option<&str>) -> Option<u64> {
    switchyard_providers::declared::parse_time(value?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn work_items_are_keyed_by_the_change_and_carry_the_event() {
        let mut watch = Watch::new("inst", "google", "calendar", "primary", 10);
        watch.cursor = Some("c".into());
        let resource = Resource::of("calendar", "primary").expect("resource");
        let change = Change {
            key: "event:e1:\"3\"".into(),
            name: "calendar.event_updated",
            attributes: attributes([("event_id", Some("e1".to_owned())), ("x", None)]),
            payload: json!({"event_id": "e1"}),
            occurred_at: Some(5),
        };
        let item = work_item(&watch, &resource, &change, 20);
        assert_eq!(
            item.delivery_key,
            format!("google-channel#inst#{}#event:e1:\"3\"", watch.id)
        );
        assert_eq!(item.provider, "google-channel");
        assert_eq!(item.kind, "calendar.event_updated");
        let event = item.event.expect("event");
        assert_eq!(event.name, "calendar.event_updated");
        assert_eq!(event.occurred_at, Some(5));
        assert_eq!(event.attributes["event_id"], "e1");
        assert_eq!(event.attributes["resource"], "calendar:primary");
        assert_eq!(event.attributes["watch_id"], watch.id);
        assert!(!event.attributes.contains_key("x"));
        // The same change read by a second sync has the same key (the claim dedups it).
        assert_eq!(
            work_item(&watch, &resource, &change, 30).delivery_key,
            item.delivery_key
        );
    }
}
