//! The nightly Shopify catalog sync: for every Shopify instance with a connection, a
//! `bulkOperationRunQuery` of products and variants, polled to completion, its JSONL result
//! streamed and counted, and `shopify.catalog_synced` (products, variants, lines) emitted to the
//! instance's agents through the ingress queue, as a webhook's event would be.
//!
//! - The GraphQL calls are the internal `shopify_sync.*` methods as worker calls: the shop's
//!   OAuth connection, the per-shop cost budget, retries and receipts of any tool call.
//! - A run is bounded by its deadline. The operation's id is recorded in the cursor
//!   (`CursorsTable`, `shopify-bulk#<instance>`) as soon as it starts, so an operation still
//!   running when the deadline comes is picked up by the next run instead of started again.
//! - The result is read line by line as it arrives ([`LineCounter`]): only the current partial
//!   line is held, never the body, and a line longer than [`MAX_LINE_BYTES`] fails the sync.
//! - The context is the scheduled-sync worker's (tools, ingress, cursors), the Notion poller's.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::instances::Instance;
use crate::workitem::{EventMeta, WorkItem, WORK_ITEM_VERSION};
use crate::NotionPoller;

/// Who the receipts name as the caller.
pub const CALLER: &str = "system:shopify-bulk-sync";
/// The largest JSONL line accepted (a product with its fields; variants are their own lines).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How long between status polls of a running operation.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// What a status poll needs of the deadline (a worker call: token, budget, request, receipt).
const POLL_NEEDS: Duration = Duration::from_secs(2);

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Instances whose catalog was synced and announced.
    pub synced: usize,
    /// Instances whose operation was still running at the deadline (resumed next run).
    pub pending: usize,
    /// Instances that failed (the next run retries them).
    pub failed: usize,
}

/// What one catalog export held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub products: u64,
    pub variants: u64,
    pub lines: u64,
    /// The most bytes the reader held at once (the current partial line).
    pub peak_buffered: usize,
}

/// Why one instance could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0} failed: {1}")]
    Call(&'static str, String),
    #[error("the bulk operation ended {0}")]
    Ended(String),
    #[error("downloading the result failed: {0}")]
    Download(String),
    #[error("a result line is longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    #[error(transparent)]
    Cursor(#[from] crate::cursors::CursorError),
    #[error("queueing failed: {0}")]
    Queue(String),
    #[error("instances: {0}")]
    Instances(#[from] crate::instances::InstanceError),
}

/// Counts JSONL lines fed in arbitrary chunks, holding only the current partial line.
#[derive(Debug, Default)]
pub struct LineCounter {
    partial: Vec<u8>,
    pub counts: Counts,
}

impl LineCounter {
    /// Takes the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), SyncError> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            if self.partial.is_empty() {
                self.line(&rest[..end]);
            } else {
                self.partial.extend_from_slice(&rest[..end]);
                self.hold_check()?;
                let line = std::mem::take(&mut self.partial);
                self.line(&line);
            }
            rest = &rest[end + 1..];
        }
        self.partial.extend_from_slice(rest);
        self.hold_check()
    }

    /// The body ended: a last line without a newline counts too.
    pub fn finish(mut self) -> Counts {
        let line = std::mem::take(&mut self.partial);
        self.line(&line);
        self.counts
    }

    fn hold_check(&mut self) -> Result<(), SyncError> {
        self.counts.peak_buffered = self.counts.peak_buffered.max(self.partial.len());
        if self.partial.len() > MAX_LINE_BYTES {
            return Err(SyncError::LineTooLong);
        }
        Ok(())
    }

    /// One line: a product, or (with `__parentId`) one of its variants.
    fn line(&mut self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.counts.lines += 1;
        let Ok(object) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        let id = object.get("id").and_then(Value::as_str).unwrap_or_default();
        if id.starts_with("gid://shopify/ProductVariant/") {
            self.counts.variants += 1;
        } else if id.starts_with("gid://shopify/Product/") {
            self.counts.products += 1;
        }
    }
}

/// Syncs every Shopify instance with a connection, each bounded by `deadline`.
pub async fn run(app: &NotionPoller, deadline: Instant) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let instances = app.instances.list().await?;
    for instance in instances
        .iter()
        .filter(|i| i.provider == "shopify" && i.config.contains_key("connection_id"))
    {
        match sync(app, instance, deadline).await {
            Ok(Some(_)) => report.synced += 1,
            Ok(None) => report.pending += 1,
            Err(e) => {
                report.failed += 1;
                tracing::warn!(instance_id = %instance.id, error = %e, "shopify bulk sync failed");
            }
        }
    }
    Ok(report)
}

async fn call(
    app: &NotionPoller,
    instance: &Instance,
    method: &'static str,
    input: Value,
    deadline: Instant,
) -> Result<Value, SyncError> {
    let tool = format!("shopify_sync.{method}");
    match crate::call_for_worker(app, &tool, instance, CALLER, input, deadline).await {
        crate::ToolResponse::Ok { output, .. } => Ok(output),
        crate::ToolResponse::Err { error, .. } => Err(SyncError::Call(method, error.to_string())),
    }
}

/// The cursor of one instance: the running operation, or the last completed one.
fn cursor_key(instance: &Instance) -> String {
    format!("shopify-bulk#{}", instance.id)
}

/// Syncs one instance: `Some(counts)` when its catalog was read and announced, `None` when the
/// operation is still running at the deadline.
pub async fn sync(
    app: &NotionPoller,
    instance: &Instance,
    deadline: Instant,
) -> Result<Option<Counts>, SyncError> {
    let key = cursor_key(instance);
    let read = app.cursors.get(&key).await?;
    let state: Value = read
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null);
    let now = app.clock.now();
    let (operation, read) = match state.get("running").and_then(Value::as_str) {
        Some(id) => (id.to_owned(), read),
        None => {
            let started = call(app, instance, "bulk_run", json!({}), deadline).await?;
            let id = started["id"].as_str().unwrap_or_default().to_owned();
            let running = json!({"running": id, "started_at": now}).to_string();
            if !app
                .cursors
                .advance(&key, read.as_deref(), &running, now)
                .await?
            {
                tracing::info!(%key, "another run moved the cursor; leaving it");
                return Ok(None);
            }
            (id, Some(running))
        }
    };
    let url = loop {
        let polled = call(
            app,
            instance,
            "bulk_status",
            json!({"id": operation}),
            deadline,
        )
        .await;
        let status = match polled {
            Ok(status) => status,
            // Cut short by the deadline: the cursor holds the operation for the next run.
            Err(_) if Instant::now() + POLL_NEEDS >= deadline => return Ok(None),
            Err(e) => return Err(e),
        };
        match status["status"].as_str().unwrap_or_default() {
            "COMPLETED" => break status["url"].as_str().map(str::to_owned),
            "CREATED" | "RUNNING" => {}
            other => {
                // Failed, canceled or expired: forget it, so the next run starts another.
                let done = json!({"failed": operation, "status": other}).to_string();
                app.cursors
                    .advance(&key, read.as_deref(), &done, now)
                    .await?;
                return Err(SyncError::Ended(other.to_owned()));
            }
        }
        if Instant::now() + POLL_EVERY + POLL_NEEDS >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    // A completed operation with no objects has no file.
    let counts = match url {
        Some(url) => download(app, &url, deadline).await?,
        None => Counts::default(),
    };
    let done = json!({"completed": operation, "completed_at": app.clock.now(),
        "products": counts.products, "variants": counts.variants, "lines": counts.lines})
    .to_string();
    if !app
        .cursors
        .advance(&key, read.as_deref(), &done, app.clock.now())
        .await?
    {
        tracing::info!(%key, "another run recorded this operation; not announcing it twice");
        return Ok(Some(counts));
    }
    announce(app, instance, &operation, counts).await?;
    Ok(Some(counts))
}

/// Streams the JSONL at `url` through the gateway's outbound client, counting as it arrives.
async fn download(app: &NotionPoller, url: &str, deadline: Instant) -> Result<Counts, SyncError> {
    let work = async {
        let mut response = app
            .http()
            .get(url)
            .send()
            .await
            .map_err(|e| SyncError::Download(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(SyncError::Download(format!("HTTP {}", response.status())));
        }
        let mut counter = LineCounter::default();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| SyncError::Download(e.without_url().to_string()))?
        {
            counter.feed(&chunk)?;
        }
        Ok(counter.finish())
    };
    tokio::time::timeout_at(deadline, work)
        .await
        .map_err(|_| SyncError::Download("the deadline passed".into()))?
}

/// Queues `shopify.catalog_synced` for the instance's agents (deduplicated on the operation).
async fn announce(
    app: &NotionPoller,
    instance: &Instance,
    operation: &str,
    counts: Counts,
) -> Result<(), SyncError> {
    let now = app.clock.now();
    let webhook = app
        .registry
        .get("shopify")
        .and_then(|d| d.webhook.as_ref())
        .ok_or_else(|| SyncError::Queue("no shopify webhook definition".into()))?;
    let payload = json!({"operation": operation, "products": counts.products,
        "variants": counts.variants, "lines": counts.lines});
    let attributes = [
        (
            "shop",
            instance.config.get("shop").cloned().unwrap_or_default(),
        ),
        ("products", counts.products.to_string()),
        ("variants", counts.variants.to_string()),
        ("lines", counts.lines.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let item = WorkItem {
        v: WORK_ITEM_VERSION,
        id: format!("wi_{}", uuid::Uuid::new_v4().simple()),
        delivery_key: format!("shopify#{}#bulk:{operation}", instance.id),
        provider: "shopify".into(),
        instance_id: instance.id.clone(),
        kind: "catalog_synced".into(),
        received_at: now,
        retry_num: None,
        payload: Some(payload),
        payload_ref: None,
        event: Some(EventMeta {
            name: "shopify.catalog_synced".into(),
            attributes,
            occurred_at: Some(now),
        }),
    };
    switchyard_ingest::claim_and_queue(&app.ingress, webhook, &[item], now)
        .await
        .map(|_| ())
        .map_err(|e| SyncError::Queue(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSONL: &str = "{\"id\":\"gid://shopify/Product/1\"}\n{\"id\":\"gid://shopify/ProductVariant/1\",\"__parentId\":\"gid://shopify/Product/1\"}\n{\"id\":\"gid://shopify/ProductVariant/2\",\"__parentId\":\"gid://shopify/Product/1\"}\n{\"id\":\"gid://shopify/Product/2\"}";

    #[test]
    fn counts_lines_split_across_any_chunks() {
        for size in [1, 3, 7, 64, 10_000] {
            let mut counter = LineCounter::default();
            for chunk in JSONL.as_bytes().chunks(size) {
                counter.feed(chunk).expect("test value");
            }
            let counts = counter.finish();
            assert_eq!(
                (counts.products, counts.variants, counts.lines),
                (2, 2, 4),
                "chunks of {size}"
            );
            // Only a partial line is ever held, never the body.
            assert!(
                counts.peak_buffered < 90,
                "held {} bytes",
                counts.peak_buffered
            );
        }
    }

    #[test]
    fn a_line_over_the_cap_fails() {
        let mut counter = LineCounter::default();
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        assert!(matches!(counter.feed(&long), Err(SyncError::LineTooLong)));
    }
}
