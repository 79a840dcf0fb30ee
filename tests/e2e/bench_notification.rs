//! `make bench`: the time from a provider's notification to the agent event on the bus, on the
//! local stack (the local host's routes, the SyncQueue and IngressQueue drivers, the emulator's
//! EventBridge rule to the operator tap), with a baseline in the same run.
//!
//! - **Google**: a Calendar event changes in the Google fake, then its push channel notifies
//!   `POST /webhooks/google-channel/{instance}` as Google would (channel id, resource id, token,
//!   message number). Ingress verifies and queues on SyncQueue; the sync worker pulls
//!   `events.list` from the fake and queues the change; the consumer publishes
//!   `calendar.event_created`.
//! - **Baseline**: a signed Slack `app_mention` to `POST /webhooks/slack/{instance}`: the same
//!   ingress, queue and consumer without the sync hop and the provider pull.
//!
//! Runs alternate (Google, Slack, Google, ...) against one stack so both see the same machine
//! load. Ignored in `make test`; `infra/bench.sh` runs it and prints the line it reports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::google::Settings;
use switchyard_google_fake::GoogleFake;
use switchyard_ops::local::{demo, DriverSettings};

use crate::support::{slack_mention, slack_request, Stack, NOW};

const RUNS: usize = 20;

/// Waits until an event of `event_type` is on the tap; the time it took.
async fn until_tapped(app: &switchyard::App, event_type: &str, started: Instant) -> Duration {
    let limit = started + Duration::from_secs(30);
    loop {
        let events = switchyard_ops::admin::tap_take(app).await.expect("tap");
        if events.iter().any(|e| e.detail["type"] == event_type) {
            return started.elapsed();
        }
        assert!(Instant::now() < limit, "no {event_type} within 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench runs it"]
async fn notification_to_event_on_the_bus() {
    let stack = Stack::new().await;
    let app = Arc::new(
        stack
            .variant(&crate::support::endpoint(), |_| {})
            .await
            .with_google_settings(Settings {
                gmail_topic: Some(switchyard_ops::google::DEMO_TOPIC.into()),
                ..Settings::default()
            }),
    );
    let fake = GoogleFake::start().await;
    let watches = switchyard_ops::google::seed_demo(&app, &fake)
        .await
        .expect("google demo");
    let calendar = watches
        .iter()
        .find(|w| w.resource_type == "calendar")
        .expect("calendar watch");
    let channel = fake
        .channel(calendar.channel_id.as_deref().expect("channel"))
        .expect("the fake opened it");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = switchyard_ops::local::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let drivers = DriverSettings {
        batch_size: 10,
        visibility_timeout: 30,
        wait_secs: 1,
    };
    tokio::spawn(switchyard_ops::local::drive_sync(app.clone(), drivers));
    tokio::spawn(switchyard_ops::local::drive(app.clone(), drivers));

    let client = reqwest::Client::new();
    let google_url = format!("{base}/webhooks/google-channel/{}", calendar.instance_id);
    let slack_url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let (mut google, mut slack) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        fake.calendar_upsert(
            "primary",
            &json!({
                "summary": format!("Bench meeting {run}"),
                "start": {"dateTime": "2026-01-02T09:00:00Z"},
                "end": {"dateTime": "2026-01-02T09:30:00Z"},
            }),
        );
        let started = Instant::now();
        let answer = client
            .post(&google_url)
            .header("x-goog-channel-id", &channel.id)
            .header("x-goog-resource-id", &channel.resource_id)
            .header("x-goog-resource-state", "exists")
            .header("x-goog-message-number", (run + 2).to_string())
            .header(
                "x-goog-channel-token",
                channel.token.as_deref().expect("token"),
            )
            .send()
            .await
            .expect("notify");
        assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
        google.push(until_tapped(&app, "calendar.event_created", started).await);

        let body = slack_mention(&format!("EvBench{run:04}"), "C0GENERAL", "<@U0BOT> hi");
        let started = Instant::now();
        let answer = slack_request(&client, &slack_url, &body, NOW)
            .send()
            .await
            .expect("slack");
        assert_eq!(answer.status(), 200);
        slack.push(until_tapped(&app, "slack.app_mention", started).await);
    }
    google.sort();
    slack.sort();
    let (g50, g95) = (percentile(&google, 0.5), percentile(&google, 0.95));
    let (s50, s95) = (percentile(&slack, 0.5), percentile(&slack, 0.95));
    println!(
        "notification to bus ({RUNS} runs each): google channel p50={g50:.0} ms p95={g95:.0} ms; \
         baseline slack webhook p50={s50:.0} ms p95={s95:.0} ms; ratio p50={:.2}",
        g50 / s50
    );
}
