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

/// Sends a signed Slack mention of `text` to `ingress`; the reply's status.
async fn mention(ingress: &Ingress, event_id: &str, text: &str) -> u16 {
    let body = slack_mention(event_id, "C0GENERAL", text);
    let ts = NOW.to_string();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("value"));
    headers.insert("x-slack-request-timestamp", ts.parse().expect("value"));
    let signature =
        switchyard::verify::sign::slack(demo::SLACK_SIGNING_SECRET, &ts, body.as_bytes());
    headers.insert("x-slack-signature", signature.parse().expect("value"));
    let reply = switchyard::ingest::handle(
        ingress,
        "slack",
        demo::SLACK_INSTANCE,
        post(&headers, body.as_bytes()),
    )
    .await;
    assert!(
        reply.status < 300,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.status
}

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

    assert_eq!(mention(&ingress, "EvLambdaCfg", "<@U0BOT> hi").await, 200);

    assert_eq!(stack.ingress_depth().await, 1);
    let calls = aws.calls.snapshot();
    assert_eq!(
        calls.get("DynamoDB_20120810.PutItem"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("AmazonSQS.SendMessage"), Some(&1), "{calls:?}");
}

/// Every call of a webhook is on the wire client, a large payload's claim check in S3 too: the
/// webhook never builds an SDK client, so its binary links none (issue 13: the zip's size).
#[tokio::test]
async fn a_webhook_builds_no_sdk_client_even_for_a_large_payload() {
    let stack = Stack::new().await;
    let aws = AwsClients::for_lambda_with(Some("us-east-1".into()), Some(endpoint()));
    let limits = Limits {
        inline_payload_bytes: 200,
        ..Limits::default()
    };
    let ingress = Ingress::new(
        &aws,
        &stack.app.resources,
        stack.app.registry.clone(),
        limits,
        Clock::fixed(NOW),
    );
    let long = format!("<@U0BOT> {}", "a long message ".repeat(40));

    assert_eq!(mention(&ingress, "EvLambdaLarge", &long).await, 200);

    let calls = aws.calls.snapshot();
    assert_eq!(calls.get("S3.PutObject"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("AmazonSQS.SendMessage"), Some(&1), "{calls:?}");
    assert!(!aws.built_sdk_client(), "{calls:?}");
    // The claim check is readable where the consumer looks (its own read is on the wire too).
    let body = stack.peek_ingress().await;
    let queued: serde_json::Value = serde_json::from_str(&body).expect("a work item");
    assert!(queued["payload"].is_null(), "{queued}");
    let key = queued["payload_ref"].as_str().expect("a payload reference");
    let object = aws
        .wire_ref()
        .get_object(&stack.app.resources.payload_bucket, key)
        .await
        .expect("S3 answers")
        .expect("the payload is stored");
    let payload: serde_json::Value = serde_json::from_slice(&object).expect("JSON");
    assert_eq!(payload["event"]["text"], long.as_str());
    assert_eq!(
        aws.wire_ref()
            .get_object(&stack.app.resources.payload_bucket, "payloads/none.json")
            .await
            .expect("S3 answers"),
        None,
        "a missing key is None, not an error"
    );
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
    let instances = switchyard::instances::InstanceStore::new(&aws, "any-table");

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
