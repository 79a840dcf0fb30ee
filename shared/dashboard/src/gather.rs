//! What the dashboard shows, read side by side: every section is its own bounded read, all run
//! concurrently under the request's deadline, and a section that fails or runs out of time is
//! an error in its place, never a failed page.

use std::future::Future;

use switchyard_aws::approvals::{Approval, ApprovalStatus};
use switchyard_aws::connections::Connection;
use switchyard_aws::dynamodb::types::AttributeValue;
use switchyard_aws::error::chain;
use switchyard_aws::instances::Instance;
use switchyard_aws::sqs::types::QueueAttributeName;
use switchyard_aws::watches::Watch;
use switchyard_tools::receipts::Receipt;
use tokio::time::Instant;

use crate::Dashboard;

/// How far back the receipts sections look.
pub const RECENT_WINDOW_SECS: u64 = 24 * 3600;
/// Rows shown per list section.
pub const MAX_ROWS: usize = 50;
/// Receipt rows shown (recent, and errors).
pub const RECENT_RECEIPTS: usize = 25;
/// Scan pages a section may read: the page stays fast on a large table (it then shows what
/// these pages held, and says so).
const MAX_SCAN_PAGES: usize = 4;

/// Why a section could not be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    #[error("timed out")]
    Timeout,
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// One section's rows, or why there are none.
pub type Section<T> = Result<T, SectionError>;

/// A watch and how far behind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRow {
    pub watch: Watch,
    /// Seconds the newest notification has waited for a sync (0: synced since).
    pub lag_secs: u64,
}

/// A dead-letter queue's depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqDepth {
    pub name: String,
    pub visible: u64,
    pub in_flight: u64,
}

/// An open circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    pub instance_id: String,
    pub tool: String,
    pub reason: String,
    pub disabled_at: Option<u64>,
    pub failures: u64,
}

/// Receipts of the recent window: the newest, and the newest failed ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecentReceipts {
    pub recent: Vec<Receipt>,
    pub errors: Vec<Receipt>,
    /// Whether the bounded scan stopped before reading the whole window.
    pub truncated: bool,
}

/// Everything on the page.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: u64,
    pub instances: Section<Vec<Instance>>,
    pub connections: Section<Vec<Connection>>,
    pub watches: Section<Vec<WatchRow>>,
    pub dlqs: Section<Vec<DlqDepth>>,
    pub breakers: Section<Vec<Breaker>>,
    pub approvals: Section<Vec<Approval>>,
    pub receipts: Section<RecentReceipts>,
}

async fn bounded<T, E: std::fmt::Display>(
    deadline: Instant,
    read: impl Future<Output = Result<T, E>>,
) -> Section<T> {
    match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(e)) => Err(SectionError::Unavailable(e.to_string())),
        Err(_) => Err(SectionError::Timeout),
    }
}

/// Reads every section concurrently, each bounded by `deadline`.
pub async fn gather(dash: &Dashboard, deadline: Instant) -> Snapshot {
    let now = dash.clock.now();
    let (instances, connections, watches, dlqs, breakers, approvals, receipts) = tokio::join!(
        bounded(deadline, async {
            dash.instances.list().await.map(|mut all| {
                all.sort_by(|a, b| a.id.cmp(&b.id));
                all
            })
        }),
        bounded(deadline, async {
            dash.connections.list().await.map(|mut all| {
                all.sort_by(|a, b| (&a.instance_id, &a.id).cmp(&(&b.instance_id, &b.id)));
                all
            })
        }),
        bounded(deadline, async {
            dash.watches.list().await.map(|all| {
                let mut rows: Vec<WatchRow> = all
                    .into_iter()
                    .map(|watch| WatchRow {
                        lag_secs: lag(&watch, now),
                        watch,
                    })
                    .collect();
                rows.sort_by_key(|r| std::cmp::Reverse(r.lag_secs));
                rows
            })
        }),
        bounded(deadline, dlq_depths(dash)),
        bounded(deadline, open_breakers(dash)),
        bounded(deadline, async {
            dash.approvals
                .list(None, Some(ApprovalStatus::Pending.as_str()))
                .await
                .map(|all| {
                    let mut pending: Vec<Approval> =
                        all.into_iter().filter(|a| !a.is_past(now)).collect();
                    pending.sort_by_key(|a| std::cmp::Reverse(a.created_at));
                    pending.truncate(MAX_ROWS);
                    pending
                })
        }),
        bounded(deadline, recent_receipts(dash, now)),
    );
    Snapshot {
        now,
        instances,
        connections,
        watches,
        dlqs,
        breakers,
        approvals,
        receipts,
    }
}

/// Seconds the newest notification of `watch` has waited for a sync at `now`.
pub fn lag(watch: &Watch, now: u64) -> u64 {
    match (watch.last_notification_at, watch.last_sync_at) {
        (Some(notified), Some(synced)) if synced >= notified => 0,
        (Some(notified), _) => now.saturating_sub(notified),
        (None, _) => 0,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReadError(String);

async fn dlq_depths(dash: &Dashboard) -> Result<Vec<DlqDepth>, ReadError> {
    let reads = dash.dlqs.iter().map(|(name, url)| async move {
        let out = dash
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| ReadError(chain(&e)))?;
        let count = |name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(DlqDepth {
            name: name.clone(),
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    });
    let depths = futures::future::join_all(reads).await;
    depths.into_iter().collect()
}

/// Breakers that are open: the tool-state items `breaker#<instance>#<tool>` with `disabled`.
async fn open_breakers(dash: &Dashboard) -> Result<Vec<Breaker>, ReadError> {
    let mut breakers = Vec::new();
    let mut start = None;
    for _ in 0..MAX_SCAN_PAGES {
        let out = dash
            .dynamodb
            .scan()
            .table_name(&dash.tool_state_table)
            .filter_expression("begins_with(pk, :b) AND disabled = :yes")
            .expression_attribute_values(":b", AttributeValue::S("breaker#".into()))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ReadError(chain(&e)))?;
        for item in out.items() {
            let get_s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            let get_n = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let Some((instance_id, tool)) = get_s("pk")
                .as_deref()
                .and_then(|pk| pk.strip_prefix("breaker#"))
                .and_then(|rest| rest.split_once('#'))
                .map(|(i, t)| (i.to_owned(), t.to_owned()))
            else {
                continue;
            };
            breakers.push(Breaker {
                instance_id,
                tool,
                reason: get_s("reason").unwrap_or_default(),
                disabled_at: get_n("disabled_at"),
                failures: get_n("failures").unwrap_or(0),
            });
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    breakers.sort_by(|a, b| (&a.instance_id, &a.tool).cmp(&(&b.instance_id, &b.tool)));
    breakers.truncate(MAX_ROWS);
    Ok(breakers)
}

/// Receipts created in the last [`RECENT_WINDOW_SECS`], read in at most [`MAX_SCAN_PAGES`]
/// pages: the newest [`RECENT_RECEIPTS`], and the newest failed ones.
async fn recent_receipts(dash: &Dashboard, now: u64) -> Result<RecentReceipts, ReadError> {
    let since = now.saturating_sub(RECENT_WINDOW_SECS);
    let mut all: Vec<Receipt> = Vec::new();
    let mut start = None;
    let mut truncated = false;
    for page in 0..MAX_SCAN_PAGES {
        let out = dash
            .dynamodb
            .scan()
            .table_name(&dash.receipts_table)
            .filter_expression("created_at >= :since")
            .expression_attribute_values(":since", AttributeValue::N(since.to_string()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ReadError(chain(&e)))?;
        all.extend(out.items().iter().filter_map(|item| {
            serde_json::from_str::<Receipt>(item.get("receipt")?.as_s().ok()?).ok()
        }));
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
        truncated = page + 1 == MAX_SCAN_PAGES;
    }
    all.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then(b.receipt_id.cmp(&a.receipt_id))
    });
    let errors: Vec<Receipt> = all
        .iter()
        .filter(|r| r.status != "ok")
        .take(RECENT_RECEIPTS)
        .cloned()
        .collect();
    all.truncate(RECENT_RECEIPTS);
    Ok(RecentReceipts {
        recent: all,
        errors,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(notified: Option<u64>, synced: Option<u64>) -> Watch {
        let mut w = Watch::new("i", "google", "gmail", "INBOX", 0);
        w.last_notification_at = notified;
        w.last_sync_at = synced;
        w
    }

    #[test]
    fn lag_is_how_long_the_newest_notification_waited_for_a_sync() {
        assert_eq!(lag(&watch(Some(100), Some(150)), 200), 0);
        assert_eq!(lag(&watch(Some(100), Some(90)), 200), 100);
        assert_eq!(lag(&watch(Some(100), None), 130), 30);
        assert_eq!(lag(&watch(None, None), 130), 0);
    }

    #[tokio::test]
    async fn a_slow_section_is_a_timeout_and_a_failed_one_an_error() {
        let deadline = Instant::now() + std::time::Duration::from_millis(20);
        let slow = bounded(deadline, async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Ok::<_, ReadError>(1)
        });
        let failed = bounded(deadline, async { Err::<u8, _>(ReadError("boom".into())) });
        let (slow, failed) = tokio::join!(slow, failed);
        assert_eq!(slow, Err(SectionError::Timeout));
        assert_eq!(failed, Err(SectionError::Unavailable("boom".into())));
    }
}
