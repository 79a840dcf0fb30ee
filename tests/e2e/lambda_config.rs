//! The SDK configuration the Lambdas run on (`AwsClients::for_lambda`: region, credentials and
//! endpoint from the environment only, no default provider chains) reaches the emulator with
//! the environment's credentials, and keeps the short timeouts a webhook's deadline needs.

use std::time::{Duration, Instant};

use switchyard::aws::AwsClients;
use switchyard::clock::Clock;
use switchyard::config::Limits;
use switchyard::ingest::Ingress;
use switchyard_ops::local::demo;

use crate::support::{endpoint, post, slack_mention, Stack, NOW};

#[tokio::test]
async fn a_webhook_on_the_lambda_configuration_claims_and_queues() {
    let stack = Stack::new().await;
    let aws = AwsClients::for_lambda_with(Some("us-east-1".into()), Some(endpoint()));
    let ingress = Ingress::new(
        &aws,
        &stack.app.resources,
        stack.app.registry.clone(),
        Limits::default(),
        Clock::fixed(NOW),
    );
    let body = slack_mention("EvLambdaCfg", "C0GENERAL", "<@U0BOT> hi");
    let ts = NOW.to_string();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("value"));
    headers.insert("x-slack-request-timestamp", ts.parse().expect("value"));
    let signature =
        switchyard::verify::sign::slack(demo::SLACK_SIGNING_SECRET, &ts, body.as_bytes());
    headers.insert("x-slack-signature", signature.parse().expect("value"));

    let reply = switchyard::ingest::handle(
        &ingress,
        "slack",
        demo::SLACK_INSTANCE,
        post(&headers, body.as_bytes()),
    )
    .await;

    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(stack.ingress_depth().await, 1);
    let calls = aws.calls.snapshot();
    assert_eq!(
        calls.get("DynamoDB_20120810.PutItem"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("AmazonSQS.SendMessage"), Some(&1), "{calls:?}");
}

#[tokio::test]
async fn the_lambda_configuration_times_out_on_a_silent_endpoint() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let aws = AwsClients::for_lambda_with(None, Some(url));
    let instances = switchyard::instances::InstanceStore::new(aws.dynamodb(), "any-table");

    let started = Instant::now();
    let result = instances.get("any").await;

    assert!(result.is_err(), "a silent endpoint must fail the call");
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "the 2.5 s operation timeout applies: {:?}",
        started.elapsed()
    );
}

/// The Google sync worker on the Lambda configuration: a channel notification syncs the watch
/// and queues the change on the ingress queue, through the emulator.
#[tokio::test]
async fn the_google_sync_worker_on_the_lambda_configuration_queues_changes() {
    use switchyard::google::worker::{handle_batch, Record};
    use switchyard::google::{resource::Resource, watch, GoogleSync};
    let stack = Stack::new().await;
    let fake = switchyard_google_fake::GoogleFake::start().await;
    fake.grant_all("ya29.lambda");
    switchyard_ops::google::seed_instance(
        &stack.app,
        "gl",
        "acme",
        &fake.base_url,
        switchyard_google_fake::GoogleFake::EMAIL,
        "ya29.lambda",
    )
    .await
    .expect("instance");
    let aws = AwsClients::for_lambda_with(Some("us-east-1".into()), Some(endpoint()));
    let vault = switchyard::oauth::Vault::new(
        &aws,
        &stack.app.resources,
        stack.app.registry.clone(),
        Limits::default(),
        Clock::fixed(NOW),
    );
    let sync = GoogleSync::new(
        &aws,
        &stack.app.resources,
        std::sync::Arc::new(vault),
        stack.app.registry.clone(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let w = watch::create(&sync, "gl", &Resource::DriveChanges, false, deadline)
        .await
        .expect("watch");
    fake.drive_put_file(None, "Notes", "text/plain", b"hi");
    let item = serde_json::json!({
        "v": 1, "id": "wi_lambda", "delivery_key": "google-channel#gl#n1",
        "provider": "google-channel", "instance_id": "gl", "kind": "channel.notification",
        "received_at": NOW,
        "payload": {"channel_id": w.channel_id, "resource_state": "change", "watch_id": w.id},
    });
    let record = Record {
        message_id: "m1".into(),
        body: item.to_string(),
    };
    let report = handle_batch(&sync, &[record], deadline).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.queued, 1, "{report:?}");
    assert_eq!(stack.ingress_depth().await, 1);
    let calls = aws.calls.snapshot();
    assert!(
        calls.get("AmazonSQS.SendMessage").is_some_and(|n| *n >= 1),
        "{calls:?}"
    );
}

/// The retention function's clients (DynamoDB and S3 only, path-style S3 beside an emulator)
/// sweep on the Lambda configuration: an expired artifact's object and metadata go.
#[tokio::test]
async fn the_retention_sweep_runs_on_the_lambda_configuration() {
    let stack = Stack::new().await;
    let new = switchyard::artifacts::NewArtifact {
        workspace: "acme",
        provider: "openai",
        mime_type: "image/png",
        extension: "png",
        expires_at: NOW - 1,
        ..Default::default()
    };
    let expired = stack
        .app
        .artifacts
        .put(&new, b"png bytes", NOW - 86_400)
        .await
        .expect("put");
    let aws = AwsClients::for_lambda_with(Some("us-east-1".into()), Some(endpoint()));
    let sweeper = switchyard::retention::Sweeper::new(
        &aws,
        &stack.app.resources,
        Clock::fixed(NOW),
        "function:retention".into(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let report = switchyard::retention::run(&sweeper, &Default::default(), NOW, deadline)
        .await
        .expect("sweep");
    assert_eq!(report.items.len(), 1, "{report:?}");
    assert_eq!(report.items[0].id, expired.id);
    assert!(stack
        .app
        .artifacts
        .get(&expired.id)
        .await
        .expect("get")
        .is_none());
    // DynamoDB and S3 (REST calls, named by method and path), nothing else: no KMS, SQS or
    // EventBridge client is built.
    let calls = aws.calls.snapshot();
    assert!(
        calls.contains_key(&format!("DELETE /{}?x-id=DeleteObject", expired.key)),
        "{calls:?}"
    );
    for op in calls.keys() {
        assert!(
            op.starts_with("DynamoDB_20120810.")
                || op.starts_with("GET /")
                || op.starts_with("DELETE /"),
            "{op}"
        );
    }
}
