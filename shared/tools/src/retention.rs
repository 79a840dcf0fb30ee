//! Retention: the scheduled sweep that deletes what a workspace no longer keeps.
//!
//! Each run (hourly on EventBridge; `switchyard retention run`, which can `--dry-run`) reads
//! every workspace's windows ([`switchyard_aws::settings`], defaults for the others) and deletes:
//!
//! - **artifacts** (object, then metadata) whose `expires_at` has passed, or whose `created_at`
//!   plus the workspace's *current* window has (a window shortened after creation applies to
//!   old artifacts too);
//! - **raw webhook payloads** stored as claim checks (`payloads/by-instance/<instance>/…` in
//!   PayloadBucket, see [`switchyard_aws::queue::payload_key`]) older than their workspace's
//!   window, the workspace found through the instance in the key (an instance deleted since:
//!   the default window);
//! - **receipts** older than their workspace's window (instance → workspace, likewise).
//!
//! Safe to run twice at once: every delete is conditional (metadata and receipts on
//! `attribute_exists`, payload objects on their listed ETag), and a run counts only the deletes
//! that were its own, so concurrent runs' counts add up to what went. Reads are bounded pages;
//! a run stops before the deadline and the next one continues (what was deleted is gone from
//! its listing, so starting over is continuing). Each workspace with deletions gets one audit
//! entry per run with counts and bytes per kind.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use switchyard_aws::artifacts::{Artifact, ArtifactError, ArtifactStore};
use switchyard_aws::audit::{AuditError, AuditLog};
use switchyard_aws::dynamo::{n, Item};
use switchyard_aws::dynamodb::types::AttributeValue;
use switchyard_aws::error::{chain, is_conditional_check_failed};
use switchyard_aws::instances::{InstanceError, InstanceStore};
use switchyard_aws::queue::{payload_instance, PAYLOAD_PREFIX};
use switchyard_aws::settings::{Kind, Retention, SettingsError, SettingsStore, DAY_SECS};
use switchyard_aws::{AwsClients, StartError, Startup};
use switchyard_core::clock::Clock;
use switchyard_core::config::{needs, Resources};
use tokio::time::Instant;

/// Items read per page (DynamoDB scan limit, S3 `max-keys`).
pub const PAGE_SIZE: i32 = 100;
/// Time kept back before the deadline: a run stops starting deletes when less is left.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(2);
/// Where payloads and receipts of an instance that no longer exists are counted.
pub const UNKNOWN_WORKSPACE: &str = "(unknown)";
/// The audit action of a run's deletions in one workspace.
pub const AUDIT_ACTION: &str = "retention_deleted";

/// The sweep's context: only the stores it reads and deletes from.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub settings: SettingsStore,
    pub instances: InstanceStore,
    pub artifacts: ArtifactStore,
    pub audit: AuditLog,
    dynamodb: switchyard_aws::dynamodb::Client,
    s3: switchyard_aws::s3::Client,
    receipts_table: String,
    payload_bucket: String,
    pub clock: Clock,
    /// Who the audit entries name.
    pub actor: String,
}

impl Sweeper {
    /// Over `aws`'s DynamoDB and S3 clients (the only two services the sweep calls).
    pub fn new(aws: &AwsClients, resources: &Resources, clock: Clock, actor: String) -> Self {
        let dynamodb = aws.dynamodb();
        let s3 = aws.s3();
        Self {
            settings: SettingsStore::new(dynamodb.clone(), &resources.workspace_settings_table),
            instances: InstanceStore::new(aws, &resources.instances_table),
            artifacts: ArtifactStore::new(
                dynamodb.clone(),
                s3.clone(),
                &resources.artifacts_table,
                &resources.artifacts_bucket,
            ),
            audit: AuditLog::new(aws, &resources.audit_table),
            dynamodb,
            s3,
            receipts_table: resources.receipts_table.clone(),
            payload_bucket: resources.payload_bucket.clone(),
            clock,
            actor,
        }
    }

    /// The retention function's context, from its environment.
    pub fn from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::RETENTION)?;
        Ok(Self::new(
            &start.aws,
            &start.resources,
            start.clock,
            switchyard_core::config::actor(),
        ))
    }
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Report what would go; delete and audit nothing.
    pub dry_run: bool,
    /// Only this workspace's data.
    pub workspace: Option<String>,
    /// Items per page read.
    pub page_size: i32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dry_run: false,
            workspace: None,
            page_size: PAGE_SIZE,
        }
    }
}

/// One item deleted (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Swept {
    pub kind: Kind,
    pub workspace: String,
    /// Artifact id, payload S3 key or receipt id.
    pub id: String,
    pub bytes: u64,
}

/// A count and the bytes it freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub count: u64,
    pub bytes: u64,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub dry_run: bool,
    /// `false`: the deadline (or a failed listing) stopped it early; the next run continues.
    pub complete: bool,
    /// Per workspace, per kind: what this run deleted (would delete, when dry).
    pub totals: BTreeMap<String, BTreeMap<Kind, Tally>>,
    pub items: Vec<Swept>,
    /// Deletes that failed (retried next run).
    pub failed: u64,
    /// Why a listing stopped, when one did.
    pub errors: Vec<String>,
}

impl SweepReport {
    fn add(&mut self, swept: Swept) {
        let tally = self
            .totals
            .entry(swept.workspace.clone())
            .or_default()
            .entry(swept.kind)
            .or_default();
        tally.count += 1;
        tally.bytes += swept.bytes;
        self.items.push(swept);
    }

    /// Everything of `kind`, over all workspaces.
    pub fn total(&self, kind: Kind) -> Tally {
        self.totals
            .values()
            .filter_map(|kinds| kinds.get(&kind))
            .fold(Tally::default(), |a, t| Tally {
                count: a.count + t.count,
                bytes: a.bytes + t.bytes,
            })
    }
}

/// Why a run could not start, or a listing failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
    #[error(transparent)]
    Instances(#[from] InstanceError),
    #[error("receipts unavailable: {0}")]
    Receipts(String),
    #[error("payload bucket unavailable: {0}")]
    Payloads(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// The run's view of windows and instance owners, read once per run.
struct Scope<'a> {
    sweeper: &'a Sweeper,
    options: &'a Options,
    windows: BTreeMap<String, Retention>,
    owners: HashMap<String, Option<String>>,
    now: u64,
    deadline: Instant,
}

impl Scope<'_> {
    fn window(&self, workspace: &str) -> Retention {
        self.windows.get(workspace).copied().unwrap_or_default()
    }

    fn covers(&self, workspace: &str) -> bool {
        self.options
            .workspace
            .as_deref()
            .is_none_or(|w| w == workspace)
    }

    fn out_of_time(&self) -> bool {
        self.deadline.saturating_duration_since(Instant::now()) < DEADLINE_RESERVE
    }

    /// The workspace of `instance_id`, looked up once per run.
    async fn workspace_of(&mut self, instance_id: &str) -> Result<String, InstanceError> {
        if !self.owners.contains_key(instance_id) {
            let owner = self
                .sweeper
                .instances
                .get(instance_id)
                .await?
                .map(|i| i.workspace);
            self.owners.insert(instance_id.to_owned(), owner);
        }
        Ok(self
            .owners
            .get(instance_id)
            .cloned()
            .flatten()
            .unwrap_or_else(|| UNKNOWN_WORKSPACE.to_owned()))
    }

    /// The oldest `created_at` that may still be kept for `kind` by any workspace: anything
    /// newer is inside every window, so listings can skip it.
    fn newest_expirable(&self, kind: Kind) -> u64 {
        let shortest = self
            .windows
            .values()
            .map(|r| r.secs(kind))
            .chain(std::iter::once(Retention::default().secs(kind)))
            .min()
            .unwrap_or(DAY_SECS);
        self.now.saturating_sub(shortest)
    }
}

/// Sweeps everything past its window at `now`, stopping before `deadline`.
pub async fn run(
    sweeper: &Sweeper,
    options: &Options,
    now: u64,
    deadline: Instant,
) -> Result<SweepReport, SweepError> {
    let mut scope = Scope {
        sweeper,
        options,
        windows: sweeper.settings.all_retention().await?,
        owners: HashMap::new(),
        now,
        deadline,
    };
    let mut report = SweepReport {
        dry_run: options.dry_run,
        complete: true,
        ..SweepReport::default()
    };
    let phases = [
        artifacts(&mut scope, &mut report).await,
        payloads(&mut scope, &mut report).await,
        receipts(&mut scope, &mut report).await,
    ];
    for phase in phases {
        if let Err(e) = phase {
            tracing::warn!(error = %e, "retention listing failed; the next run continues");
            report.complete = false;
            report.errors.push(e.to_string());
        }
    }
    if !options.dry_run {
        audit(sweeper, &report, now).await?;
    }
    Ok(report)
}

/// One entry per workspace that lost something: counts and bytes per kind.
async fn audit(sweeper: &Sweeper, report: &SweepReport, now: u64) -> Result<(), AuditError> {
    for (workspace, kinds) in &report.totals {
        let detail = serde_json::to_string(kinds).unwrap_or_default();
        sweeper
            .audit
            .record(
                &format!("workspace#{workspace}"),
                &sweeper.actor,
                AUDIT_ACTION,
                &detail,
                now,
            )
            .await?;
    }
    Ok(())
}

async fn artifacts(scope: &mut Scope<'_>, report: &mut SweepReport) -> Result<(), SweepError> {
    let mut from = None;
    loop {
        if scope.out_of_time() {
            report.complete = false;
            return Ok(());
        }
        let page = scope
            .sweeper
            .artifacts
            .page(from, scope.options.page_size)
            .await?;
        for artifact in page.artifacts {
            if !artifact_expired(scope, &artifact) {
                continue;
            }
            if scope.out_of_time() {
                report.complete = false;
                return Ok(());
            }
            let deleted = if scope.options.dry_run {
                Ok(true)
            } else {
                scope.sweeper.artifacts.delete(&artifact).await
            };
            match deleted {
                Ok(true) => report.add(Swept {
                    kind: Kind::Artifacts,
                    workspace: artifact.workspace.clone(),
                    id: artifact.id.clone(),
                    bytes: artifact.size_bytes,
                }),
                // Another run deleted it first: its count, not ours.
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(artifact = %artifact.id, error = %e, "artifact delete failed");
                    report.failed += 1;
                }
            }
        }
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(()),
        }
    }
}

fn artifact_expired(scope: &Scope<'_>, artifact: &Artifact) -> bool {
    scope.covers(&artifact.workspace)
        && (artifact.expires_at <= scope.now
            || scope.window(&artifact.workspace).expired(
                Kind::Artifacts,
                artifact.created_at,
                scope.now,
            ))
}

async fn payloads(scope: &mut Scope<'_>, report: &mut SweepReport) -> Result<(), SweepError> {
    let s3 = scope.sweeper.s3.clone();
    let bucket = scope.sweeper.payload_bucket.clone();
    let newest = scope.newest_expirable(Kind::Payloads);
    let mut token: Option<String> = None;
    loop {
        if scope.out_of_time() {
            report.complete = false;
            return Ok(());
        }
        let out = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(PAYLOAD_PREFIX)
            .max_keys(scope.options.page_size)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| SweepError::Payloads(chain(&e)))?;
        for object in out.contents() {
            let (Some(key), Some(modified)) = (object.key(), object.last_modified()) else {
                continue;
            };
            let stored_at = u64::try_from(modified.secs()).unwrap_or(0);
            if stored_at > newest {
                continue;
            }
            let Some(instance) = payload_instance(key) else {
                continue;
            };
            let workspace = scope.workspace_of(instance).await?;
            if !scope.covers(&workspace)
                || !scope
                    .window(&workspace)
                    .expired(Kind::Payloads, stored_at, scope.now)
            {
                continue;
            }
            if scope.out_of_time() {
                report.complete = false;
                return Ok(());
            }
            let swept = Swept {
                kind: Kind::Payloads,
                workspace,
                id: key.to_owned(),
                bytes: u64::try_from(object.size().unwrap_or(0)).unwrap_or(0),
            };
            if scope.options.dry_run {
                report.add(swept);
                continue;
            }
            // Only the version listed, and only once: a concurrent run's delete leaves this
            // one a 404 (gone) or 412 (changed), neither of which it counts.
            let mut delete = s3.delete_object().bucket(&bucket).key(key);
            if let Some(etag) = object.e_tag() {
                delete = delete.if_match(etag);
            }
            match delete.send().await {
                Ok(_) => report.add(swept),
                Err(e)
                    if matches!(
                        e.raw_response().map(|r| r.status().as_u16()),
                        Some(404 | 412)
                    ) => {}
                Err(e) => {
                    tracing::warn!(key, error = %chain(&e), "payload delete failed");
                    report.failed += 1;
                }
            }
        }
        match out.next_continuation_token() {
            Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => return Ok(()),
        }
    }
}

async fn receipts(scope: &mut Scope<'_>, report: &mut SweepReport) -> Result<(), SweepError> {
    let dynamodb = scope.sweeper.dynamodb.clone();
    let table = scope.sweeper.receipts_table.clone();
    let newest = scope.newest_expirable(Kind::Receipts);
    let mut from: Option<Item> = None;
    loop {
        if scope.out_of_time() {
            report.complete = false;
            return Ok(());
        }
        let out = dynamodb
            .scan()
            .table_name(&table)
            .filter_expression("created_at <= :newest")
            .expression_attribute_values(":newest", n(newest))
            .set_exclusive_start_key(from)
            .limit(scope.options.page_size)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| SweepError::Receipts(chain(&e)))?;
        for item in out.items() {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
            let (Some(id), Some(instance)) = (text("pk"), text("instance_id")) else {
                continue;
            };
            let created_at = item
                .get("created_at")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let workspace = scope.workspace_of(instance).await?;
            if !scope.covers(&workspace)
                || !scope
                    .window(&workspace)
                    .expired(Kind::Receipts, created_at, scope.now)
            {
                continue;
            }
            if scope.out_of_time() {
                report.complete = false;
                return Ok(());
            }
            let swept = Swept {
                kind: Kind::Receipts,
                workspace,
                id: id.clone(),
                bytes: text("receipt").map_or(0, |r| r.len() as u64),
            };
            if scope.options.dry_run {
                report.add(swept);
                continue;
            }
            let deleted = dynamodb
                .delete_item()
                .table_name(&table)
                .key("pk", AttributeValue::S(id.clone()))
                .condition_expression("attribute_exists(pk)")
                .send()
                .await;
            match deleted {
                Ok(_) => report.add(swept),
                Err(e) if is_conditional_check_failed(&e) => {}
                Err(e) => {
                    tracing::warn!(receipt = %id, error = %chain(&e), "receipt delete failed");
                    report.failed += 1;
                }
            }
        }
        match out.last_evaluated_key {
            Some(next) => from = Some(next),
            None => return Ok(()),
        }
    }
}
