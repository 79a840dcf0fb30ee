//! The scheduled run (hourly on Lambda, every `--schedule-every` seconds locally): renew what
//! is due, sweep what has not synced lately, count failures.
//!
//! - Renewal: [`crate::watch::renew`] for every watch not stopped.
//! - Safety sweep: every watch whose last sync is older than
//!   [`crate::Settings::sweep_after_secs`] is synced, notification or not: Google documents that
//!   notifications can be dropped.
//! - A failure (renewal or sweep) counts one more in a row; at
//!   [`crate::Settings::failing_after`] the watch turns `failing` and `integration.watch_failed`
//!   is published on the agent bus, once (at the threshold). A clean pass resets the count and
//!   makes a failing watch active again.
//! - Bounded by the deadline: watches not reached wait for the next run.

use serde::Serialize;
use tokio::time::Instant;

use switchyard_aws::events::{IntegrationEvent, Source, PLATFORM_EVENT_VERSION};
use switchyard_aws::watches::{Watch, WatchError, WatchStatus, WatchUpdate};
use switchyard_core::clock::rfc3339;

use crate::sync::{self, Mode};
use crate::watch::{self, Renewal};
use crate::GoogleSync;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RenewReport {
    /// Watches looked at (not stopped).
    pub watches: usize,
    pub renewed: usize,
    /// Watches the sweep synced.
    pub swept: usize,
    /// Events the sweep queued.
    pub queued: usize,
    pub failed: usize,
    /// Watches that turned `failing` in this run.
    pub now_failing: usize,
    /// Watches left for the next run (the deadline came).
    pub deferred: usize,
}

/// Renews, sweeps and accounts every watch, by `deadline`.
pub async fn run(app: &GoogleSync, deadline: Instant) -> Result<RenewReport, WatchError> {
    let mut report = RenewReport::default();
    let watches: Vec<Watch> = app
        .watches
        .list()
        .await?
        .into_iter()
        .filter(|w| w.status != WatchStatus::Stopped)
        .collect();
    for (n, watch) in watches.iter().enumerate() {
        if Instant::now() >= deadline {
            report.deferred = watches.len() - n;
            break;
        }
        report.watches += 1;
        let outcome = pass(app, watch, deadline, &mut report).await;
        account(app, watch, outcome, &mut report).await?;
    }
    tracing::info!(?report, "watch renewer ran");
    Ok(report)
}

/// Renewal, then the sweep when due; the first error.
async fn pass(
    app: &GoogleSync,
    watch: &Watch,
    deadline: Instant,
    report: &mut RenewReport,
) -> Result<(), String> {
    match watch::renew(app, watch, deadline).await {
        Ok(Renewal::Renewed) => report.renewed += 1,
        Ok(Renewal::NotDue) => {}
        Err(e) => return Err(format!("renewal: {e}")),
    }
    if sweep_due(app, watch, app.now()) {
        let synced = sync::sync_watch(app, &watch.id, Mode::Incremental, deadline)
            .await
            .map_err(|e| format!("sync: {e}"))?;
        report.swept += 1;
        report.queued += synced.queued;
    }
    Ok(())
}

/// Whether the sweep should sync `watch` at `now`.
pub fn sweep_due(app: &GoogleSync, watch: &Watch, now: u64) -> bool {
    watch
        .last_sync_at
        .is_none_or(|at| at + app.settings.sweep_after_secs <= now)
}

async fn account(
    app: &GoogleSync,
    watch: &Watch,
    outcome: Result<(), String>,
    report: &mut RenewReport,
) -> Result<(), WatchError> {
    let now = app.now();
    match outcome {
        Ok(()) => {
            if watch.errors_in_a_row > 0 || watch.status == WatchStatus::Failing {
                let clean = WatchUpdate {
                    status: Some(WatchStatus::Active),
                    errors_in_a_row: Some(0),
                    last_error: Some(None),
                    ..WatchUpdate::default()
                };
                app.watches.update(&watch.id, &clean, now).await?;
            }
        }
        Err(error) => {
            report.failed += 1;
            tracing::warn!(watch_id = %watch.id, %error, "watch renewal or sweep failed");
            let threshold = app.settings.failing_after;
            let count = app
                .watches
                .record_failure(&watch.id, &error, threshold, now)
                .await?;
            if count == threshold {
                report.now_failing += 1;
                announce_failing(app, watch, count, &error).await;
            }
        }
    }
    Ok(())
}

/// Publishes `integration.watch_failed` (best effort: the watch's status is the record).
async fn announce_failing(app: &GoogleSync, watch: &Watch, count: u32, error: &str) {
    let workspace = match app.ingress.instances.get(&watch.instance_id).await {
        Ok(Some(instance)) => instance.workspace,
        _ => String::new(),
    };
    let event = IntegrationEvent {
        schema_version: PLATFORM_EVENT_VERSION,
        event_id: format!("ievt_{}", uuid::Uuid::new_v4().simple()),
        event_type: "integration.watch_failed".into(),
        time: rfc3339(app.now()),
        source: Source {
            provider: watch.provider.clone(),
            instance_id: watch.instance_id.clone(),
            workspace,
        },
        connection_id: watch.connection_id.clone().unwrap_or_default(),
        account_id: watch.account.clone(),
        reason: "watch_failed".into(),
        detail: format!(
            "watch {} on {}:{} failed {count} times in a row; last: {error}",
            watch.id, watch.resource_type, watch.resource_id
        ),
        agent_id: None,
        tool_call: None,
    };
    if let Err(e) = app.vault.sink.publish_integration(&event).await {
        tracing::error!(watch_id = %watch.id, error = %e, "could not publish integration.watch_failed");
    }
}
