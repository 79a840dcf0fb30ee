//! Google watches against the Google fake and the emulator: notifications become agent events
//! with the message's fields, exactly once however many syncs run; the sweep recovers dropped
//! notifications; expired Gmail history and stale Calendar sync tokens fall back to full syncs
//! without duplicates; renewal overlaps channels; disconnect and instance deletion stop every
//! channel and Gmail's watch; repeated renewal failures mark the watch failing and announce it.

use std::time::Duration;

use serde_json::{json, Value};
use switchyard::google::resource::Resource;
use switchyard::google::sync::{self, Mode};
use switchyard::google::worker::{self, Record};
use switchyard::google::{renewer, watch, GoogleSync, Settings};
use switchyard::policy::{Trigger, TriggerPolicy};
use switchyard::watches::{Watch, WatchStatus};
use switchyard::workitem::{WorkItem, WORK_ITEM_VERSION};
use switchyard_google_fake::{GoogleFake, Scripted};

use crate::support::{Stack, NOW};

const INSTANCE: &str = "gw";
const TOKEN: &str = "ya29.test-google-token";
const TOPIC: &str = "projects/switchyard-test/topics/gmail";
const AGENT: &str = "agent-g";

/// A stack, the fake, a Google instance on it granted to [`AGENT`], and the sync context.
struct Google {
    stack: Stack,
    fake: GoogleFake,
    sync: GoogleSync,
}

impl Google {
    async fn new() -> Self {
        Self::with(Settings::default()).await
    }

    async fn with(settings: Settings) -> Self {
        let stack = Stack::new().await;
        let fake = GoogleFake::start().await;
        fake.grant_all(TOKEN);
        let app = &stack.app;
        switchyard_ops::google::seed_instance(
            app,
            INSTANCE,
            "acme",
            &fake.base_url,
            GoogleFake::EMAIL,
            TOKEN,
        )
        .await
        .expect("google instance");
        // Google events are resource events: no chat place, addressed to no one.
        let every_event = TriggerPolicy {
            trigger: Trigger::All,
            ..TriggerPolicy::default()
        };
        switchyard_ops::admin::grant(app, INSTANCE, AGENT, &every_event)
            .await
            .expect("grant");
        let sync = GoogleSync::new(
            &app.aws,
            &app.resources,
            app.vault().clone(),
            app.registry.clone(),
        )
        .with_settings(Settings {
            gmail_topic: Some(TOPIC.into()),
            ..settings
        });
        Self { stack, fake, sync }
    }

    async fn watch(&self, resource: &str) -> Watch {
        let resource = Resource::parse(resource).expect("resource");
        watch::create(&self.sync, INSTANCE, &resource, true, deadline())
            .await
            .expect("watch created")
    }

    async fn get(&self, id: &str) -> Watch {
        self.sync
            .watches
            .get(id)
            .await
            .expect("get")
            .expect("watch")
    }

    /// The events agents received: (type, payload), consumer run first.
    async fn events(&self) -> Vec<(String, Value)> {
        self.stack.drain().await;
        let mut events: Vec<(String, Value)> = self
            .stack
            .tapped()
            .await
            .into_iter()
            .map(|e| (e.event_type, e.payload))
            .collect();
        events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.to_string().cmp(&b.1.to_string())));
        events
    }
}

/// A calendar event with a time.
fn meeting(summary: &str) -> Value {
    json!({
        "summary": summary,
        "start": {"dateTime": "2026-01-02T09:00:00Z"},
        "end": {"dateTime": "2026-01-02T09:30:00Z"},
    })
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(20)
}

/// A SyncQueue message as the `google-pubsub` route queues it.
fn gmail_notification(history_id: u64) -> Record {
    let item = WorkItem {
        v: WORK_ITEM_VERSION,
        id: format!("wi_{}", uuid::Uuid::new_v4().simple()),
        delivery_key: format!("google-pubsub#{INSTANCE}#{history_id}"),
        provider: "google-pubsub".into(),
        instance_id: INSTANCE.into(),
        kind: "gmail.notification".into(),
        received_at: NOW,
        retry_num: None,
        payload: Some(json!({
            "emailAddress": GoogleFake::EMAIL,
            "historyId": history_id.to_string(),
            "messageId": "2070443601311540",
            "publishTime": "2026-01-01T00:00:00Z",
        })),
        payload_ref: None,
        event: None,
    };
    Record {
        message_id: item.id.clone(),
        body: serde_json::to_string(&item).expect("json"),
    }
}

/// A SyncQueue message as the `google-channel` route queues it (no watch id: found by channel).
fn channel_notification(channel_id: &str, state: &str) -> Record {
    let item = WorkItem {
        v: WORK_ITEM_VERSION,
        id: format!("wi_{}", uuid::Uuid::new_v4().simple()),
        delivery_key: format!("google-channel#{INSTANCE}#{channel_id}#{state}"),
        provider: "google-channel".into(),
        instance_id: INSTANCE.into(),
        kind: "channel.notification".into(),
        received_at: NOW,
        retry_num: None,
        payload: Some(json!({
            "channel_id": channel_id,
            "resource_id": "r",
            "resource_state": state,
            "message_number": "2",
            "changed": "content",
        })),
        payload_ref: None,
        event: None,
    };
    Record {
        message_id: item.id.clone(),
        body: serde_json::to_string(&item).expect("json"),
    }
}

#[tokio::test]
async fn a_gmail_notification_becomes_message_added_events_once() {
    let g = Google::new().await;
    let w = g.watch("gmail:INBOX").await;
    assert_eq!(w.cursor, Some(g.fake.gmail_history_id().to_string()));
    assert_eq!(w.account.as_deref(), Some(GoogleFake::EMAIL));
    assert!(g
        .fake
        .gmail_watch()
        .is_some_and(|gw| gw.topic_name == TOPIC));
    assert!(g.events().await.is_empty(), "the baseline emits nothing");

    let id = g.fake.gmail_receive(
        "Ada Lovelace <ada@example.com>",
        GoogleFake::EMAIL,
        "Engines",
        "The analytical engine weaves algebraic patterns.",
        &["INBOX", "UNREAD"],
    );
    g.fake.gmail_set_labels(&id, &["STARRED"], &["UNREAD"]);
    let batch = [gmail_notification(g.fake.gmail_history_id())];
    let report = worker::handle_batch(&g.sync, &batch, deadline()).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!((report.synced, report.queued), (1, 3), "{report:?}");

    // One history record per change: the mail, the label added, the label removed.
    let events = g.events().await;
    assert_eq!(events.len(), 3, "{events:?}");
    let (kind, added) = &events[0];
    assert_eq!(kind, "gmail.labels_changed");
    assert_eq!(added["message_id"], id.as_str());
    let (kind, removed) = &events[1];
    assert_eq!(kind, "gmail.labels_changed");
    let mut changed = [added.clone(), removed.clone()];
    changed.sort_by_key(|c| c["labels_added"].as_array().map_or(0, Vec::len));
    assert_eq!(changed[0]["labels_added"], json!([]));
    assert_eq!(changed[0]["labels_removed"], json!(["UNREAD"]));
    assert_eq!(changed[1]["labels_added"], json!(["STARRED"]));
    let (kind, mail) = &events[2];
    assert_eq!(kind, "gmail.message_added");
    assert_eq!(mail["message_id"], id.as_str());
    assert_eq!(mail["from"], "Ada Lovelace <ada@example.com>");
    assert_eq!(mail["to"], GoogleFake::EMAIL);
    assert_eq!(mail["subject"], "Engines");
    assert!(mail["snippet"]
        .as_str()
        .is_some_and(|s| s.starts_with("The analytical engine")));
    assert!(mail["labels"]
        .as_array()
        .is_some_and(|l| l.contains(&json!("INBOX"))));
    assert!(mail["thread_id"].is_string());

    let w = g.get(&w.id).await;
    assert_eq!(w.cursor, Some(g.fake.gmail_history_id().to_string()));
    assert_eq!(w.last_notification_at, Some(NOW));
    // The same notification again (Pub/Sub redelivers): nothing new.
    let report = worker::handle_batch(&g.sync, &batch, deadline()).await;
    assert_eq!((report.synced, report.queued), (1, 0), "{report:?}");
    assert!(g.events().await.is_empty());

    // The sync's Google calls are worker calls: receipts name the worker, and the internal
    // methods are neither discoverable nor callable by an agent.
    let receipts = g
        .stack
        .app
        .tools()
        .receipts
        .list(&Default::default(), 100)
        .await
        .expect("receipts");
    assert!(!receipts.is_empty());
    assert!(receipts
        .iter()
        .all(|r| r.agent_id == switchyard::google::api::CALLER));
    let tools = switchyard::tools::discover(g.stack.app.tools(), AGENT)
        .await
        .expect("discover");
    assert!(tools.iter().all(|t| !t.tool.starts_with("google_sync.")));
    let refused = switchyard::tools::invoke(
        g.stack.app.tools(),
        "google_sync.gmail_get_profile",
        switchyard::tools::ToolRequest {
            instance_id: INSTANCE.into(),
            agent_id: AGENT.into(),
            input: json!({}),
            idempotency_key: None,
            trace_id: None,
            on_behalf_of: None,
        },
        deadline(),
    )
    .await;
    assert_eq!(
        refused.error().map(|e| e.code),
        Some(switchyard::tools::ErrorCode::Forbidden)
    );
}

#[tokio::test]
async fn drive_changes_and_docs_events_from_a_channel_notification() {
    let g = Google::new().await;
    let w = g.watch("drive:changes").await;
    let channel = w.channel_id.clone().expect("channel");
    let opened = g.fake.channel(&channel).expect("opened at Google");
    assert!(opened
        .address
        .ends_with(&format!("/webhooks/google-channel/{INSTANCE}")));
    let stored = g
        .sync
        .watches
        .channel(&channel)
        .await
        .expect("get")
        .expect("channel item");
    assert_eq!(
        stored.resource_id.as_deref(),
        Some(opened.resource_id.as_str())
    );
    let token = opened.token.expect("a token");
    assert_eq!(
        stored.token_sha256,
        switchyard::watches::token_digest(&token)
    );

    // `sync` messages announce the channel: nothing pulled.
    let report = worker::handle_batch(
        &g.sync,
        &[channel_notification(&channel, "sync")],
        deadline(),
    )
    .await;
    assert_eq!((report.synced, report.ignored), (0, 1));

    let doc = g.fake.docs_put("Plan", &[("HEADING_1", "Plan")]);
    let sheet = g.fake.drive_put_file(
        None,
        "Numbers",
        "application/vnd.google-apps.spreadsheet",
        b"a,b",
    );
    let report = worker::handle_batch(
        &g.sync,
        &[
            channel_notification(&channel, "change"),
            channel_notification(&channel, "change"),
        ],
        deadline(),
    )
    .await;
    assert_eq!(report.synced, 1, "one sync for the batch: {report:?}");
    let events = g.events().await;
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|(k, p)| {
            (
                k.as_str(),
                p.get("file_id")
                    .or_else(|| p.get("document_id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("docs.document_changed", doc.as_str())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("drive.file_changed", doc.as_str())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("drive.file_changed", sheet.as_str())),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&("docs.document_changed", sheet.as_str())));
    let sheet_event = events
        .iter()
        .find(|(_, p)| p["file_id"] == sheet.as_str())
        .expect("sheet event");
    assert_eq!(sheet_event.1["name"], "Numbers");
    assert_eq!(sheet_event.1["removed"], false);
}

#[tokio::test]
async fn a_dropped_notification_is_recovered_by_the_sweep() {
    let g = Google::new().await;
    let w = g.watch("calendar:primary").await;
    g.fake
        .calendar_upsert("primary", &json!({"summary": "Standup", "start": {"dateTime": "2026-01-02T09:00:00Z"}, "end": {"dateTime": "2026-01-02T09:15:00Z"}}));
    // No notification arrives. Synced just now: the sweep leaves it.
    let report = renewer::run(&g.sync, deadline()).await.expect("run");
    assert_eq!((report.swept, report.queued), (0, 0), "{report:?}");
    // Past the sweep age it pulls anyway.
    g.stack.app.clock.set(NOW + 16 * 60);
    let report = renewer::run(&g.sync, deadline()).await.expect("run");
    assert_eq!(
        (report.swept, report.queued, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    let events = g.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "calendar.event_created");
    assert_eq!(events[0].1["summary"], "Standup");
    assert_eq!(g.get(&w.id).await.last_sync_at, Some(NOW + 16 * 60));
}

#[tokio::test]
async fn expired_gmail_history_runs_a_bounded_full_sync_without_duplicates() {
    let g = Google::with(Settings {
        full_sync_messages: 2,
        ..Settings::default()
    })
    .await;
    let old = g.fake.gmail_receive(
        "a@example.com",
        GoogleFake::EMAIL,
        "Before",
        "x",
        &["INBOX"],
    );
    let w = g.watch("gmail:INBOX").await;
    let first = g
        .fake
        .gmail_receive("b@example.com", GoogleFake::EMAIL, "One", "x", &["INBOX"]);
    let report = sync::sync_watch(&g.sync, &w.id, Mode::Incremental, deadline())
        .await
        .expect("sync");
    assert_eq!(report.queued, 1);
    let second = g
        .fake
        .gmail_receive("c@example.com", GoogleFake::EMAIL, "Two", "x", &["INBOX"]);
    let third = g
        .fake
        .gmail_receive("d@example.com", GoogleFake::EMAIL, "Three", "x", &["INBOX"]);
    g.fake.expire_history_before(g.fake.gmail_history_id());

    let report = sync::sync_watch(&g.sync, &w.id, Mode::Incremental, deadline())
        .await
        .expect("full sync");
    assert!(report.full, "{report:?}");
    assert_eq!(report.pulled, 2, "bounded to the newest 2: {report:?}");
    assert_eq!(report.queued, 2, "{report:?}");
    assert_eq!(
        g.get(&w.id).await.cursor,
        Some(g.fake.gmail_history_id().to_string()),
        "reset to the profile's history id"
    );
    let ids: Vec<String> = g
        .events()
        .await
        .into_iter()
        .map(|(_, p)| p["message_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    for id in [&first, &second, &third] {
        assert_eq!(
            ids.iter().filter(|i| i == &id).count(),
            1,
            "{id} once: {ids:?}"
        );
    }
    assert!(
        !ids.contains(&old),
        "mail from before the watch is not emitted"
    );

    // Asked for explicitly (`watch resync`): everything is known, nothing new.
    let report = sync::sync_watch(&g.sync, &w.id, Mode::Full, deadline())
        .await
        .expect("resync");
    assert_eq!((report.full, report.queued), (true, 0));
    assert!(g.events().await.is_empty());
}

#[tokio::test]
async fn a_stale_calendar_sync_token_resyncs_emitting_only_what_changed() {
    let g = Google::new().await;
    let standup = g.fake.calendar_upsert("primary", &meeting("Standup"));
    let review = g.fake.calendar_upsert("primary", &meeting("Review"));
    let lunch = g.fake.calendar_upsert("primary", &meeting("Lunch"));
    let w = g.watch("calendar:primary").await;
    assert!(g.events().await.is_empty(), "the baseline emits nothing");

    g.fake.calendar_upsert(
        "primary",
        &json!({"id": review, "summary": "Review (moved)"}),
    );
    g.fake.calendar_cancel("primary", &lunch);
    let retro = g.fake.calendar_upsert("primary", &meeting("Retro"));
    g.fake.invalidate_sync_tokens();

    let report = sync::sync_watch(&g.sync, &w.id, Mode::Incremental, deadline())
        .await
        .expect("sync");
    assert!(report.full, "410 → full resync: {report:?}");
    assert_eq!(report.queued, 3, "{report:?}");
    let events: Vec<(String, String)> = g
        .events()
        .await
        .into_iter()
        .map(|(k, p)| (k, p["event_id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(
        events,
        [
            ("calendar.event_cancelled".to_owned(), lunch.clone()),
            ("calendar.event_created".to_owned(), retro.clone()),
            ("calendar.event_updated".to_owned(), review.clone()),
        ]
    );
    assert!(!events.iter().any(|(_, id)| id == &standup));

    // The new sync token works incrementally; a second stale token finds nothing new.
    let report = sync::sync_watch(&g.sync, &w.id, Mode::Incremental, deadline())
        .await
        .expect("sync");
    assert_eq!((report.full, report.queued), (false, 0));
    g.fake.invalidate_sync_tokens();
    let report = sync::sync_watch(&g.sync, &w.id, Mode::Incremental, deadline())
        .await
        .expect("sync");
    assert_eq!((report.full, report.queued), (true, 0));
    assert!(g.events().await.is_empty());
}

#[tokio::test]
async fn concurrent_syncs_of_one_watch_emit_each_change_once() {
    let g = Google::new().await;
    let w = g.watch("gmail:INBOX").await;
    let mut sent = Vec::new();
    for n in 0..6 {
        sent.push(g.fake.gmail_receive(
            "x@example.com",
            GoogleFake::EMAIL,
            &format!("Mail {n}"),
            "x",
            &["INBOX"],
        ));
    }
    let notified = [gmail_notification(1)];
    let (a, b, c) = tokio::join!(
        sync::sync_watch(&g.sync, &w.id, Mode::Incremental, deadline()),
        sync::sync_watch(&g.sync, &w.id, Mode::Incremental, deadline()),
        worker::handle_batch(&g.sync, &notified, deadline()),
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert!(c.failed.is_empty(), "{c:?}");
    assert_eq!(a.queued + b.queued + c.queued, 6, "{a:?} {b:?} {c:?}");
    let mut ids: Vec<String> = g
        .events()
        .await
        .into_iter()
        .map(|(_, p)| p["message_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent);
    assert_eq!(
        g.get(&w.id).await.cursor,
        Some(g.fake.gmail_history_id().to_string())
    );
}

#[tokio::test]
async fn renewal_opens_the_new_channel_before_stopping_the_old_one() {
    let g = Google::new().await;
    let drive = g.watch("drive:changes").await;
    let gmail = g.watch("gmail:INBOX").await;
    let old = drive.channel_id.clone().expect("channel");
    let report = renewer::run(&g.sync, deadline()).await.expect("run");
    assert_eq!(report.renewed, 0, "nothing due yet");

    // Within the renewal window of the channel, and a day after Gmail's watch call.
    let at = drive.expires_at.expect("expiry") - 3600;
    g.stack.app.clock.set(at);
    let gmail_due = gmail.expires_at.expect("gmail expiry") - 6 * 86_400 + 1;
    let report = renewer::run(&g.sync, deadline()).await.expect("run");
    assert_eq!(report.failed, 0, "{report:?}");
    let renewed = g.get(&drive.id).await;
    let new = renewed.channel_id.clone().expect("new channel");
    assert_ne!(new, old);
    assert!(renewed.expires_at > drive.expires_at);
    assert!(
        g.fake.channel(&old).expect("old").stopped,
        "old channel stopped"
    );
    assert!(!g.fake.channel(&new).expect("new").stopped);
    let items: Vec<String> = g
        .sync
        .watches
        .channels_of(&drive.id)
        .await
        .expect("channels")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(items, std::slice::from_ref(&new));
    // The overlap: the new channel was opened before the old one was stopped.
    let requests = g.fake.requests();
    let opened = requests
        .iter()
        .rposition(|r| r.method == "POST" && r.path == "/drive/v3/changes/watch")
        .expect("watch call");
    let stopped = requests
        .iter()
        .position(|r| r.method == "POST" && r.path == "/drive/v3/channels/stop")
        .expect("stop call");
    assert!(opened < stopped);

    // Gmail's watch is called again once the last call is a day old.
    g.stack.app.clock.set(gmail_due.max(at));
    renewer::run(&g.sync, deadline()).await.expect("run");
    assert_eq!(g.fake.gmail_watch().expect("gmail watch").calls, 2);
}

#[tokio::test]
async fn instance_deletion_stops_every_channel_and_gmail() {
    let g = Google::new().await;
    let watches = [
        g.watch("gmail:INBOX").await,
        g.watch("drive:changes").await,
        g.watch("calendar:primary").await,
    ];
    assert_eq!(g.fake.channels().len(), 2);
    assert!(
        switchyard_ops::admin::delete_instance(&g.stack.app, INSTANCE)
            .await
            .expect("delete")
    );
    assert!(
        g.fake.channels().iter().all(|c| c.stopped),
        "{:?}",
        g.fake.channels()
    );
    assert!(g.fake.gmail_watch().expect("gmail").stopped);
    for w in &watches {
        assert_eq!(g.get(&w.id).await.status, WatchStatus::Stopped);
        assert!(g
            .sync
            .watches
            .channels_of(&w.id)
            .await
            .expect("channels")
            .is_empty());
    }
}

#[tokio::test]
async fn disconnect_stops_every_channel_and_gmail_first() {
    let g = Google::new().await;
    let drive = g.watch("drive:changes").await;
    g.watch("calendar:primary").await;
    g.watch("gmail:INBOX").await;
    let connection = drive.connection_id.clone().expect("connection");
    switchyard_ops::google::disconnect(&g.stack.app, &connection, true)
        .await
        .expect("disconnect");
    assert!(g.fake.channels().iter().all(|c| c.stopped));
    assert!(g.fake.gmail_watch().expect("gmail").stopped);
    let stopped = g
        .sync
        .watches
        .list_for_instance(INSTANCE)
        .await
        .expect("list");
    assert!(stopped.iter().all(|w| w.status == WatchStatus::Stopped));
    // A stopped watch is not synced on notification.
    let report = worker::handle_batch(&g.sync, &[gmail_notification(1)], deadline()).await;
    assert_eq!((report.synced, report.failed.len()), (0, 0));
}

#[tokio::test]
async fn repeated_renewal_failures_mark_the_watch_failing_and_announce_it() {
    let g = Google::new().await;
    let w = g.watch("calendar:primary").await;
    g.stack.app.clock.set(w.expires_at.expect("expiry") - 60);
    g.stack.tapped_raw().await;
    let refusal = || Scripted::error(403, "forbidden", "The caller does not have permission");
    g.fake.script(
        "/calendar/v3/calendars/primary/events/watch",
        vec![refusal(), refusal(), refusal(), refusal()],
    );
    for run in 1..=4u32 {
        let report = renewer::run(&g.sync, deadline()).await.expect("run");
        assert_eq!(report.failed, 1, "run {run}: {report:?}");
        let now = g.get(&w.id).await;
        assert_eq!(now.errors_in_a_row, run);
        assert!(now
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("renewal")));
        let want = if run >= 3 {
            WatchStatus::Failing
        } else {
            WatchStatus::Active
        };
        assert_eq!(now.status, want, "run {run}");
    }
    let announced: Vec<Value> = g
        .stack
        .tapped_raw()
        .await
        .into_iter()
        .map(|e| e.detail)
        .filter(|d| d["type"] == "integration.watch_failed")
        .collect();
    assert_eq!(announced.len(), 1, "announced once, at the threshold");
    assert_eq!(announced[0]["source"]["instance_id"], INSTANCE);
    assert!(announced[0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains(&w.id)));
    // The channel still works meanwhile (the old one stays open); once Google accepts again the
    // watch recovers.
    let report = renewer::run(&g.sync, deadline()).await.expect("run");
    assert_eq!((report.failed, report.renewed), (0, 1), "{report:?}");
    let now = g.get(&w.id).await;
    assert_eq!((now.status, now.errors_in_a_row), (WatchStatus::Active, 0));
}

/// The local stack's Google demo: the demo instance and its three watches, `switchyard watch
/// list` and `watch resync`, and the local sync-queue driver turning a notification into an
/// event on the bus.
#[tokio::test]
async fn the_local_demo_watches_list_resync_and_deliver() {
    use clap::Parser;
    let stack = Stack::new().await;
    let app = stack
        .variant(&crate::support::endpoint(), |_| {})
        .await
        .with_google_settings(Settings {
            gmail_topic: Some(switchyard_ops::google::DEMO_TOPIC.into()),
            ..Settings::default()
        });
    let fake = GoogleFake::start().await;
    let demo = switchyard_ops::google::seed_demo(&app, &fake)
        .await
        .expect("demo");
    let resources: Vec<String> = demo
        .iter()
        .map(|w| format!("{}:{}", w.resource_type, w.resource_id))
        .collect();
    assert_eq!(resources, switchyard_ops::google::DEMO_RESOURCES);
    // Seeding again (a restart against a new fake) replaces the demo, keeping three watches.
    let fake = GoogleFake::start().await;
    switchyard_ops::google::seed_demo(&app, &fake)
        .await
        .expect("demo again");
    assert_eq!(app.watches.list().await.expect("list").len(), 3);

    let cli = |args: &[&str]| {
        let parsed = switchyard_ops::cli::Cli::try_parse_from(
            std::iter::once("switchyard").chain(args.iter().copied()),
        )
        .expect("parse");
        let app = &app;
        async move {
            let mut out = Vec::new();
            switchyard_ops::cli::run_with_app(app, parsed, &mut out)
                .await
                .expect("command");
            String::from_utf8(out).expect("utf8")
        }
    };
    let listed = cli(&["watch", "list"]).await;
    for resource in switchyard_ops::google::DEMO_RESOURCES {
        assert!(listed.contains(resource), "{listed}");
    }
    assert_eq!(listed.matches(" active ").count(), 3, "{listed}");
    let calendar = app
        .watches
        .list()
        .await
        .expect("list")
        .into_iter()
        .find(|w| w.resource_type == "calendar")
        .expect("calendar watch");
    let resynced = cli(&["watch", "resync", "--id", &calendar.id]).await;
    assert!(resynced.contains("0 new event(s)"), "{resynced}");

    // A notification on the sync queue, as the google-pubsub route queues it.
    fake.gmail_receive(
        "Grace <grace@example.com>",
        GoogleFake::EMAIL,
        "Compilers",
        "x",
        &["INBOX"],
    );
    let mut note = gmail_notification(fake.gmail_history_id());
    let mut item: WorkItem = serde_json::from_str(&note.body).expect("item");
    item.instance_id = switchyard_ops::google::DEMO_INSTANCE.into();
    note.body = serde_json::to_string(&item).expect("json");
    app.aws
        .sqs()
        .send_message()
        .queue_url(&app.resources.sync_queue_url)
        .message_body(note.body)
        .send()
        .await
        .expect("send");
    let settings = switchyard_ops::local::DriverSettings {
        batch_size: 10,
        visibility_timeout: 5,
        wait_secs: 1,
    };
    let (received, failed) = switchyard_ops::local::drive_sync_once(&app, settings)
        .await
        .expect("drive");
    assert_eq!((received, failed), (1, 0));
    assert_eq!(stack.depth(&app.resources.sync_queue_url).await, 0);
    stack.drain().await;
    let subjects: Vec<Value> = stack
        .tapped()
        .await
        .into_iter()
        .filter(|e| e.event_type == "gmail.message_added")
        .map(|e| e.payload["subject"].clone())
        .collect();
    assert_eq!(subjects, [json!("Compilers")]);
}

/// Partial batch failures: a watch whose sync fails fails only the records that named it (SQS
/// redelivers them); the cursor stays, and the redelivery emits what was missed.
#[tokio::test]
async fn a_failed_sync_fails_only_its_records_and_the_retry_catches_up() {
    let g = Google::new().await;
    let gmail = g.watch("gmail:INBOX").await;
    let drive = g.watch("drive:changes").await;
    g.fake.drive_put_file(None, "Notes", "text/plain", b"x");
    g.fake
        .gmail_receive("e@example.com", GoogleFake::EMAIL, "Late", "x", &["INBOX"]);
    g.fake.script(
        "/gmail/v1/users/me/history",
        vec![Scripted::error(403, "forbidden", "Access denied")],
    );
    let gmail_note = gmail_notification(1);
    let drive_note = channel_notification(&drive.channel_id.clone().expect("channel"), "change");
    let report = worker::handle_batch(&g.sync, &[gmail_note.clone(), drive_note], deadline()).await;
    assert_eq!(
        report.failed,
        std::slice::from_ref(&gmail_note.message_id),
        "{report:?}"
    );
    assert_eq!((report.synced, report.queued), (1, 1), "{report:?}");
    assert_eq!(
        g.get(&gmail.id).await.cursor,
        gmail.cursor,
        "the cursor stays"
    );

    let report = worker::handle_batch(&g.sync, &[gmail_note], deadline()).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.queued, 1);
    let kinds: Vec<String> = g.events().await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["drive.file_changed", "gmail.message_added"]);
}
