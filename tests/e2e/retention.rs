//! Retention against the emulator: per-workspace windows decide exactly which artifacts
//! (objects and metadata), raw webhook payload claim checks and receipts go; a dry run reports
//! the same set and deletes nothing; two runs at once delete each item once; listings page; a
//! shortened window reaches old artifacts; each run audits counts and bytes per workspace; the
//! CLI sets, shows and validates windows.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use switchyard::artifacts::{Artifact, ArtifactError, NewArtifact};
use switchyard::instances::Instance;
use switchyard::queue::IngressQueue;
use switchyard::retention::{self, Options, SweepReport, Sweeper, AUDIT_ACTION};
use switchyard::settings::{Kind, DAY_SECS};
use switchyard::workitem::{WorkItem, WORK_ITEM_VERSION};
use switchyard::App;

use crate::cli::cli;
use crate::support::{Stack, NOW};

/// Payloads are aged by S3's LastModified (the real clock), so these runs happen at a real
/// instant moved forward by `days_ahead`.
fn real_now_plus(days_ahead: u64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    now + days_ahead * DAY_SECS
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(60)
}

async fn instance(app: &App, id: &str, workspace: &str) {
    app.instances
        .create(&Instance {
            id: id.into(),
            provider: "slack".into(),
            workspace: workspace.into(),
            config: Default::default(),
            secret_keys: Vec::new(),
            sealed: None,
            grants: Default::default(),
            created_at: NOW,
            updated_at: NOW,
        })
        .await
        .expect("create instance");
}

/// An artifact of `workspace` made `age_days` before `now`, its `expires_at` from the default
/// 30-day window (what a media tool records at creation).
async fn artifact(app: &App, workspace: &str, now: u64, age_days: u64) -> Artifact {
    let created = now - age_days * DAY_SECS;
    let new = NewArtifact {
        workspace,
        provider: "openai",
        mime_type: "audio/mpeg",
        extension: "mp3",
        expires_at: created + 30 * DAY_SECS,
        ..NewArtifact::default()
    };
    let bytes = format!("{workspace}-{age_days}-audio-bytes").into_bytes();
    app.artifacts.put(&new, &bytes, created).await.expect("put")
}

/// A raw payload stored as a claim check through the ingress queue (inline limit 0).
async fn payload(app: &App, instance_id: &str) -> String {
    let queue = IngressQueue::new(
        app.aws.wire(),
        &app.resources.ingress_queue_url,
        &app.resources.payload_bucket,
        0,
    );
    let id = format!("wi_{}", uuid::Uuid::new_v4().simple());
    let item = WorkItem {
        v: WORK_ITEM_VERSION,
        id: id.clone(),
        delivery_key: format!("slack#{instance_id}#{id}"),
        provider: "slack".into(),
        instance_id: instance_id.into(),
        kind: "event_callback".into(),
        received_at: NOW,
        retry_num: None,
        payload: Some(json!({"event": {"text": "a raw payload"}})),
        payload_ref: None,
        event: None,
    };
    queue.send(&item).await.expect("queue");
    switchyard::queue::payload_key(instance_id, &id)
}

async fn payload_exists(app: &App, key: &str) -> bool {
    app.aws
        .s3()
        .head_object()
        .bucket(&app.resources.payload_bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

async fn receipt(app: &App, instance_id: &str, created_at: u64) -> String {
    let id = format!("rcpt_{}", uuid::Uuid::new_v4().simple());
    let receipt: switchyard::tools::receipts::Receipt = serde_json::from_value(json!({
        "receipt_id": id,
        "tool": "slack.post_message",
        "instance_id": instance_id,
        "agent_id": "agent-1",
        "request_id": "req-1",
        "status": "ok",
        "provider_request_ids": [],
        "attempts": [],
        "latency_ms": 12,
        "created_at": created_at,
    }))
    .expect("receipt");
    app.tools()
        .receipts
        .put(&receipt)
        .await
        .expect("put receipt");
    id
}

async fn artifact_gone(app: &App, a: &Artifact) -> bool {
    let metadata = app.artifacts.get(&a.id).await.expect("get").is_none();
    let object = matches!(
        app.artifacts.bytes(a, 1 << 20).await,
        Err(ArtifactError::NotFound(_))
    );
    assert_eq!(
        metadata, object,
        "{}: object and metadata go together",
        a.id
    );
    metadata
}

fn ids(report: &SweepReport) -> BTreeSet<(Kind, String, String)> {
    report
        .items
        .iter()
        .map(|s| (s.kind, s.workspace.clone(), s.id.clone()))
        .collect()
}

fn audits(entries: &[switchyard::audit::AuditEntry]) -> Vec<serde_json::Value> {
    entries
        .iter()
        .filter(|e| e.action == AUDIT_ACTION)
        .map(|e| serde_json::from_str(&e.detail).expect("detail is JSON"))
        .collect()
}

#[tokio::test]
async fn each_workspaces_windows_decide_exactly_what_goes_and_a_dry_run_deletes_nothing() {
    let stack = Stack::new().await;
    let app = &stack.app;
    instance(app, "short-slack", "short").await;
    instance(app, "long-slack", "long").await;
    app.retention()
        .settings
        .set_retention(
            "short",
            &[
                (Kind::Artifacts, 2),
                (Kind::Payloads, 1),
                (Kind::Receipts, 3),
            ],
            NOW,
        )
        .await
        .expect("set");
    // "long" keeps the defaults: 30, 7 and 90 days.
    let now = real_now_plus(2);

    let short_old = artifact(app, "short", now, 3).await;
    let short_new = artifact(app, "short", now, 1).await;
    let long_old = artifact(app, "long", now, 31).await;
    let long_new = artifact(app, "long", now, 10).await;
    // Stored now (the real clock): two days old at `now`.
    let short_payload = payload(app, "short-slack").await;
    let long_payload = payload(app, "long-slack").await;
    let short_receipt_old = receipt(app, "short-slack", now - 4 * DAY_SECS).await;
    let short_receipt_new = receipt(app, "short-slack", now - 2 * DAY_SECS).await;
    let long_receipt_old = receipt(app, "long-slack", now - 91 * DAY_SECS).await;
    let long_receipt_new = receipt(app, "long-slack", now - 50 * DAY_SECS).await;

    let expected: BTreeSet<(Kind, String, String)> = [
        (Kind::Artifacts, "short", short_old.id.clone()),
        (Kind::Artifacts, "long", long_old.id.clone()),
        (Kind::Payloads, "short", short_payload.clone()),
        (Kind::Receipts, "short", short_receipt_old.clone()),
        (Kind::Receipts, "long", long_receipt_old.clone()),
    ]
    .into_iter()
    .map(|(k, w, id)| (k, w.to_owned(), id))
    .collect();

    let dry = Options {
        dry_run: true,
        ..Options::default()
    };
    let preview = retention::run(app.retention(), &dry, now, deadline())
        .await
        .expect("dry run");
    assert!(preview.dry_run && preview.complete);
    assert_eq!(ids(&preview), expected);
    for a in [&short_old, &short_new, &long_old, &long_new] {
        assert!(!artifact_gone(app, a).await, "dry run deleted {}", a.id);
    }
    assert!(payload_exists(app, &short_payload).await);
    assert!(app
        .tools()
        .receipts
        .get(&short_receipt_old)
        .await
        .expect("get")
        .is_some());
    assert!(audits(&app.audit.recent(100).await.expect("audit")).is_empty());

    let report = retention::run(app.retention(), &Options::default(), now, deadline())
        .await
        .expect("run");
    assert!(report.complete && !report.dry_run, "{report:?}");
    assert_eq!(ids(&report), expected);
    assert_eq!(
        report.totals, preview.totals,
        "the dry run reported the same"
    );
    assert!(artifact_gone(app, &short_old).await);
    assert!(artifact_gone(app, &long_old).await);
    assert!(!artifact_gone(app, &short_new).await);
    assert!(!artifact_gone(app, &long_new).await);
    assert!(!payload_exists(app, &short_payload).await);
    assert!(payload_exists(app, &long_payload).await);
    let receipts = &app.tools().receipts;
    for (id, kept) in [
        (&short_receipt_old, false),
        (&short_receipt_new, true),
        (&long_receipt_old, false),
        (&long_receipt_new, true),
    ] {
        assert_eq!(receipts.get(id).await.expect("get").is_some(), kept, "{id}");
    }

    // One audit entry per workspace, with counts and bytes per kind.
    let short = audits(&app.audit.history("workspace#short").await.expect("audit"));
    assert_eq!(short.len(), 1, "{short:?}");
    assert_eq!(short[0]["artifacts"]["count"], 1);
    assert_eq!(short[0]["artifacts"]["bytes"], short_old.size_bytes);
    assert_eq!(short[0]["payloads"]["count"], 1);
    let payload_bytes = report
        .items
        .iter()
        .find(|s| s.kind == Kind::Payloads)
        .map(|s| s.bytes)
        .expect("payload swept");
    assert!(payload_bytes > 0);
    assert_eq!(short[0]["payloads"]["bytes"], payload_bytes);
    assert_eq!(short[0]["receipts"]["count"], 1);
    let long = audits(&app.audit.history("workspace#long").await.expect("audit"));
    assert_eq!(long.len(), 1, "{long:?}");
    assert_eq!(long[0]["artifacts"]["count"], 1);
    assert_eq!(long[0]["receipts"]["count"], 1);
    assert!(long[0].get("payloads").is_none(), "{long:?}");

    // Nothing left to delete: a second run deletes and audits nothing.
    let again = retention::run(app.retention(), &Options::default(), now, deadline())
        .await
        .expect("run again");
    assert!(again.items.is_empty(), "{again:?}");
    assert_eq!(
        audits(&app.audit.recent(100).await.expect("audit")).len(),
        2
    );
}

#[tokio::test]
async fn two_runs_at_once_page_through_and_delete_each_item_once() {
    let stack = Stack::new().await;
    let app = &stack.app;
    instance(app, "acme-slack", "acme").await;
    let now = real_now_plus(8);
    let mut expected = BTreeSet::new();
    for age in 31..43 {
        let a = artifact(app, "acme", now, age).await;
        expected.insert((Kind::Artifacts, a.id));
    }
    for _ in 0..5 {
        expected.insert((Kind::Payloads, payload(app, "acme-slack").await));
    }
    for age in 91..97 {
        expected.insert((
            Kind::Receipts,
            receipt(app, "acme-slack", now - age * DAY_SECS).await,
        ));
    }
    let kept = artifact(app, "acme", now, 1).await;
    // More of every kind than one page holds.
    let options = Options {
        page_size: 3,
        ..Options::default()
    };
    let second = Sweeper::new(&app.aws, &app.resources, app.clock.clone(), "second".into());

    let (a, b) = tokio::join!(
        retention::run(app.retention(), &options, now, deadline()),
        retention::run(&second, &options, now, deadline()),
    );
    let (a, b) = (a.expect("first run"), b.expect("second run"));
    assert!(a.complete && b.complete, "{a:?} {b:?}");
    assert_eq!(a.failed + b.failed, 0);
    let mut deleted = BTreeSet::new();
    for s in a.items.iter().chain(&b.items) {
        assert!(
            deleted.insert((s.kind, s.id.clone())),
            "{} counted twice",
            s.id
        );
    }
    assert_eq!(deleted, expected);
    for kind in Kind::ALL {
        let wanted = expected.iter().filter(|(k, _)| *k == kind).count() as u64;
        assert_eq!(
            a.total(kind).count + b.total(kind).count,
            wanted,
            "{kind:?}"
        );
    }
    assert!(!artifact_gone(app, &kept).await);
    let left = app.artifacts.page(None, 100).await.expect("page").artifacts;
    assert_eq!(left.len(), 1, "only the live artifact is left");

    // The audit entries of the two runs add up to everything deleted.
    let entries = audits(&app.audit.history("workspace#acme").await.expect("audit"));
    let audited: u64 = entries
        .iter()
        .flat_map(|e| Kind::ALL.map(|k| e[k.name()]["count"].as_u64().unwrap_or(0)))
        .sum();
    assert_eq!(audited, expected.len() as u64);
}

#[tokio::test]
async fn a_run_out_of_time_deletes_nothing_and_says_it_stopped() {
    let stack = Stack::new().await;
    let app = &stack.app;
    let now = real_now_plus(0);
    let old = artifact(app, "acme", now, 40).await;
    let report = retention::run(
        app.retention(),
        &Options::default(),
        now,
        tokio::time::Instant::now(),
    )
    .await
    .expect("run");
    assert!(!report.complete);
    assert!(report.items.is_empty());
    assert!(!artifact_gone(app, &old).await);
}

#[tokio::test]
async fn a_shortened_window_reaches_artifacts_made_under_the_longer_one() {
    let stack = Stack::new().await;
    let app = &stack.app;
    let now = real_now_plus(0);
    // Made ten days ago under the 30-day default: expires_at is twenty days away.
    let old = artifact(app, "acme", now, 10).await;
    let young = artifact(app, "acme", now, 2).await;
    let first = retention::run(app.retention(), &Options::default(), now, deadline())
        .await
        .expect("run");
    assert!(first.items.is_empty(), "{first:?}");

    app.retention()
        .settings
        .set_retention("acme", &[(Kind::Artifacts, 5)], NOW)
        .await
        .expect("shorten");
    let second = retention::run(app.retention(), &Options::default(), now, deadline())
        .await
        .expect("run");
    assert_eq!(
        ids(&second),
        BTreeSet::from([(Kind::Artifacts, "acme".to_owned(), old.id.clone())])
    );
    assert!(artifact_gone(app, &old).await);
    assert!(!artifact_gone(app, &young).await);
}

#[tokio::test]
async fn the_cli_sets_shows_validates_and_audits_windows_and_previews_a_run() {
    let stack = Stack::new().await;
    let shown = cli(&stack, &["retention", "show", "--workspace", "acme"])
        .await
        .expect("show");
    assert!(
        shown.contains("artifacts 30d, payloads 7d, receipts 90d"),
        "{shown}"
    );
    let set = cli(
        &stack,
        &[
            "retention",
            "set",
            "--workspace",
            "acme",
            "--artifacts-days",
            "3",
            "--payloads-days",
            "2",
        ],
    )
    .await
    .expect("set");
    assert!(
        set.contains("artifacts 3d, payloads 2d, receipts 90d"),
        "{set}"
    );
    let shown = cli(&stack, &["retention", "show", "--workspace", "acme"])
        .await
        .expect("show");
    assert!(
        shown.contains("artifacts 3d, payloads 2d, receipts 90d"),
        "{shown}"
    );
    // Another workspace keeps the defaults.
    let other = cli(&stack, &["retention", "show", "--workspace", "other"])
        .await
        .expect("show");
    assert!(other.contains("artifacts 30d"), "{other}");

    for bad in [
        vec!["--artifacts-days", "0"],
        vec!["--artifacts-days", "366"],
        vec!["--payloads-days", "15"],
        vec!["--receipts-days", "91"],
        vec![],
    ] {
        let mut args = vec!["retention", "set", "--workspace", "acme"];
        args.extend(bad.iter().copied());
        assert!(cli(&stack, &args).await.is_err(), "{bad:?} accepted");
    }
    let shown = cli(&stack, &["retention", "show", "--workspace", "acme"])
        .await
        .expect("show");
    assert!(
        shown.contains("artifacts 3d, payloads 2d"),
        "unchanged: {shown}"
    );
    let history = stack
        .app
        .audit
        .history("workspace#acme")
        .await
        .expect("audit");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].action, "retention_set");
    assert!(history[0].detail.contains("artifacts=3d"), "{history:?}");

    // The CLI runs at the app's clock (NOW): an artifact four days old by it is past 3 days.
    let old = artifact(&stack.app, "acme", NOW, 4).await;
    let preview = cli(
        &stack,
        &["retention", "run", "--dry-run", "--workspace", "acme"],
    )
    .await
    .expect("dry run");
    assert!(preview.contains("would delete artifacts"), "{preview}");
    assert!(preview.contains(&old.id), "{preview}");
    assert!(!artifact_gone(&stack.app, &old).await);
    let other = cli(
        &stack,
        &["retention", "run", "--dry-run", "--workspace", "other"],
    )
    .await
    .expect("dry run");
    assert!(
        other.contains("nothing past its retention window"),
        "{other}"
    );
    let ran = cli(&stack, &["retention", "run"]).await.expect("run");
    assert!(ran.contains("deleted artifacts"), "{ran}");
    assert!(artifact_gone(&stack.app, &old).await);
}
