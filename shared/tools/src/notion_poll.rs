//! The Notion polling worker: the fallback for workspaces without webhooks (and a backstop for
//! missed ones). Scheduled by EventBridge; for every Notion instance with `data_sources` set it
//! queries each data source for pages edited since the stored cursor and emits the events a
//! webhook would have: `notion.page.created` or `notion.page.content_updated`.
//!
//! - The query goes through the `notion.query_data_source` tool as a worker call: the same
//!   credentials (instance `token` or OAuth connection), retries, 429/529 handling and receipts.
//! - Notion rounds `last_edited_time` to the minute, so the filter is `on_or_after` the cursor
//!   and every page version is deduplicated on `poll:<page id>:<last_edited_time>` through the
//!   deliveries table, exactly like webhook deliveries: a page seen twice is queued once.
//! - The first run of a data source records what exists as `baseline` and emits nothing, so
//!   connecting a large database does not flood agents.
//! - The cursor (`CursorsTable`, `notion-poll#<instance>#<data source>`) only moves forward,
//!   from the value the run read, after its events are queued: a run that dies re-reads.

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::instances::Instance;
use crate::workitem::{EventMeta, WorkItem, WORK_ITEM_VERSION};
use crate::NotionPoller;

/// Who the receipts name as the caller.
pub const CALLER: &str = "system:notion-poller";

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    /// Data sources polled.
    pub data_sources: usize,
    /// Pages returned by the queries.
    pub pages: usize,
    /// Events queued (new page versions).
    pub queued: usize,
    /// Data sources whose first run recorded a baseline.
    pub baselines: usize,
    /// Data sources that failed (the next run retries them).
    pub failed: usize,
}

/// Why one data source could not be polled.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("query failed: {0}")]
    Query(String),
    #[error(transparent)]
    Cursor(#[from] crate::cursors::CursorError),
    #[error(transparent)]
    Deliveries(#[from] crate::deliveries::DeliveryError),
    #[error("queueing failed: {0}")]
    Queue(String),
    #[error("instances: {0}")]
    Instances(#[from] crate::instances::InstanceError),
}

/// Polls every Notion instance with `data_sources`, each bounded by `deadline`.
pub async fn run(app: &NotionPoller, deadline: Instant) -> Result<PollReport, PollError> {
    let mut report = PollReport::default();
    let instances = app.instances.list().await?;
    for instance in instances.iter().filter(|i| i.provider == "notion") {
        let Some(list) = instance.config.get("data_sources") else {
            continue;
        };
        for data_source in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            report.data_sources += 1;
            match poll(app, instance, data_source, deadline, &mut report).await {
                Ok(()) => {}
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(instance_id = %instance.id, data_source, error = %e, "notion poll failed");
                }
            }
        }
    }
    Ok(report)
}

async fn poll(
    app: &NotionPoller,
    instance: &Instance,
    data_source: &str,
    deadline: Instant,
    report: &mut PollReport,
) -> Result<(), PollError> {
    let key = format!("notion-poll#{}#{data_source}", instance.id);
    let cursor = app.cursors.get(&key).await?;
    let pages = query(app, instance, data_source, cursor.as_deref(), deadline).await?;
    report.pages += pages.len();
    let now = app.clock.now();
    let ttl = app
        .registry
        .get("notion")
        .and_then(|d| d.webhook.as_ref())
        .map_or(172_800, |w| w.dedup_ttl_secs);
    let items: Vec<WorkItem> = pages
        .iter()
        .filter_map(|page| work_item(instance, data_source, page, cursor.as_deref(), now))
        .collect();
    match &cursor {
        None => {
            for item in &items {
                app.ingress
                    .deliveries
                    .record_unqueued(item, "baseline", ttl, now)
                    .await?;
            }
            report.baselines += 1;
        }
        Some(_) => {
            let webhook = app
                .registry
                .get("notion")
                .and_then(|d| d.webhook.as_ref())
                .ok_or_else(|| PollError::Queue("no notion webhook definition".into()))?;
            report.queued += switchyard_ingest::claim_and_queue(&app.ingress, webhook, &items, now)
                .await
                .map_err(|e| PollError::Queue(e.to_string()))?;
        }
    }
    // ISO 8601 UTC text orders as time does.
    let newest = pages
        .iter()
        .filter_map(|p| p.get("last_edited_time").and_then(Value::as_str))
        .max()
        .map(str::to_owned);
    let next = match (newest, &cursor) {
        (Some(newest), Some(old)) if newest.as_str() <= old.as_str() => return Ok(()),
        (Some(newest), _) => newest,
        (None, Some(_)) => return Ok(()),
        // An empty data source: start from now, so its first pages are events.
        (None, None) => crate::clock::rfc3339(now),
    };
    if !app
        .cursors
        .advance(&key, cursor.as_deref(), &next, now)
        .await?
    {
        tracing::info!(%key, "another run moved the cursor; leaving it");
    }
    Ok(())
}

/// Every page of `data_source` edited on or after `cursor` (all pages when there is none),
/// oldest first.
async fn query(
    app: &NotionPoller,
    instance: &Instance,
    data_source: &str,
    cursor: Option<&str>,
    deadline: Instant,
) -> Result<Vec<Value>, PollError> {
    let mut pages = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let mut input = json!({
            "data_source_id": data_source,
            "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}],
            "page_size": 100,
            "max_pages": 10,
        });
        if let Some(cursor) = cursor {
            input["filter"] = json!({
                "timestamp": "last_edited_time",
                "last_edited_time": {"on_or_after": cursor},
            });
        }
        if let Some(start) = &start {
            input["start_cursor"] = json!(start);
        }
        let output = match crate::call_for_worker(
            app,
            "notion.query_data_source",
            instance,
            CALLER,
            input,
            deadline,
        )
        .await
        {
            crate::ToolResponse::Ok { output, .. } => output,
            crate::ToolResponse::Err { error, .. } => {
                return Err(PollError::Query(error.to_string()))
            }
        };
        if let Some(results) = output.get("results").and_then(Value::as_array) {
            pages.extend(results.iter().cloned());
        }
        match output.get("next_cursor").and_then(Value::as_str) {
            Some(next) if output.get("has_more") == Some(&Value::Bool(true)) => {
                start = Some(next.to_owned());
            }
            _ => return Ok(pages),
        }
    }
}

/// The event a page version stands for: created since the cursor, or edited.
fn work_item(
    instance: &Instance,
    data_source: &str,
    page: &Value,
    cursor: Option<&str>,
    now: u64,
) -> Option<WorkItem> {
    let id = page.get("id").and_then(Value::as_str)?;
    let edited = page.get("last_edited_time").and_then(Value::as_str)?;
    let created = page.get("created_time").and_then(Value::as_str);
    let kind = match (created, cursor) {
        // Created in a later minute than anything the last run saw: new. (Notion's times are
        // minutes: a page created in the cursor's own minute counts as an edit.)
        (Some(created), Some(cursor)) if created > cursor => "page.created",
        _ => "page.content_updated",
    };
    let delivery = format!("poll:{id}:{edited}");
    let payload = json!({
        "id": delivery,
        "type": kind,
        "timestamp": edited,
        "source": "poll",
        "entity": {"id": id, "type": "page"},
        "data": {"parent": {"id": data_source, "type": "data_source"}},
        "page": page,
    });
    let attributes = [
        ("entity_id", id),
        ("entity_type", "page"),
        ("data_source_id", data_source),
        ("source", "poll"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(
        instance
            .config
            .get("workspace_id")
            .map(|w| ("workspace_id".to_owned(), w.clone())),
    )
    .collect();
    Some(WorkItem {
        v: WORK_ITEM_VERSION,
        id: format!("wi_{}", uuid::Uuid::new_v4().simple()),
        delivery_key: format!("notion#{}#{delivery}", instance.id),
        provider: "notion".into(),
        instance_id: instance.id.clone(),
        kind: kind.into(),
        received_at: now,
        retry_num: None,
        payload: Some(payload),
        payload_ref: None,
        event: Some(EventMeta {
            name: format!("notion.{kind}"),
            attributes,
            occurred_at: crate::providers::declared::parse_time(edited),
        }),
    })
}
