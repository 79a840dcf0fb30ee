//! Slack ingress end to end: signed events reach the agent bus exactly once.

use futures::future::join_all;
use switchyard::policy::TriggerPolicy;
use switchyard_ops::local::demo;

use crate::support::{slack_mention, slack_request, Stack, NOW};

#[tokio::test]
async fn signed_slack_event_reaches_the_bus_once_and_a_retry_adds_nothing() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let body = slack_mention("Ev0001", "C0GENERAL", "<@U0BOT> hello");

    let first = slack_request(&client, &url, &body, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(first.status(), 200);
    assert_eq!(stack.ingress_depth().await, 1);

    assert_eq!(stack.drain().await, 1);
    let events = stack.tapped().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.event_type, "slack.app_mention");
    assert_eq!(event.agent_id, demo::AGENT);
    assert_eq!(event.source.instance_id, demo::SLACK_INSTANCE);
    assert_eq!(event.source.workspace, demo::WORKSPACE);
    assert_eq!(event.channel.as_deref(), Some("C0GENERAL"));
    assert_eq!(event.schema_version, 1);
    assert_eq!(event.payload["event_id"], "Ev0001");
    assert_eq!(event.time, "2026-01-01T00:00:00Z");

    // Slack's retry: same event_id, X-Slack-Retry-Num set, a new timestamp and signature.
    let retry = slack_request(&client, &url, &body, NOW + 60)
        .header("x-slack-retry-num", "1")
        .header("x-slack-retry-reason", "http_timeout")
        .send()
        .await
        .expect("post retry");
    assert_eq!(retry.status(), 200);
    assert_eq!(stack.ingress_depth().await, 0, "a retry must queue nothing");
    assert_eq!(stack.drain().await, 0);
    assert!(stack.tapped().await.is_empty());

    let deliveries = stack.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, "delivered");
    assert_eq!(deliveries[0].agents, vec![demo::AGENT.to_owned()]);
}

#[tokio::test]
async fn twenty_concurrent_identical_deliveries_make_one_work_item_and_one_event() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let body = slack_mention("Ev0020", "C0GENERAL", "<@U0BOT> race");

    let responses =
        join_all((0..20).map(|_| slack_request(&client, &url, &body, NOW).send())).await;
    for r in responses {
        assert_eq!(r.expect("post").status(), 200);
    }
    assert_eq!(
        stack.ingress_depth().await,
        1,
        "exactly one WorkItem queued"
    );
    assert_eq!(stack.drain().await, 1);
    assert_eq!(
        stack.tapped().await.len(),
        1,
        "exactly one event on the bus"
    );
    assert_eq!(stack.deliveries().await.len(), 1);
}

#[tokio::test]
async fn url_verification_and_ssl_check_are_answered_and_not_queued() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let challenge = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let r = slack_request(&client, &url, challenge, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(
        r.text().await.expect("body"),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let r = slack_request(&client, &url, "ssl_check=1&token=x", NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(stack.ingress_depth().await, 0);
    assert!(stack.deliveries().await.is_empty());
}

#[tokio::test]
async fn slash_commands_and_interactions_are_delivered_with_reply_context() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let command = "command=%2Fask&text=status&channel_id=C0GENERAL&channel_name=general&user_id=U1&trigger_id=111.222.aaa&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT%2F1%2Fx";
    let payload = r#"{"type":"block_actions","trigger_id":"333.444.bbb","channel":{"id":"C0GENERAL"},"response_url":"https://hooks.slack.com/actions/T/2/y","actions":[{"action_id":"approve"}]}"#;
    let interaction: String = form_encode("payload", payload);
    for body in [command.to_owned(), interaction.clone()] {
        let r = slack_request(&client, &url, &body, NOW)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    // The same interaction again (a client double-submit) is recognised by its trigger_id.
    let r = slack_request(&client, &url, &interaction, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(stack.drain().await, 2);
    let mut events = stack.tapped().await;
    events.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["slack.block_actions", "slack.slash_command"]);
    assert_eq!(
        events[1].reply["response_url"],
        "https://hooks.slack.com/commands/T/1/x"
    );
    assert_eq!(events[0].reply["trigger_id"], "333.444.bbb");
}

fn form_encode(key: &str, value: &str) -> String {
    let mut out = String::from(key);
    out.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn trigger_policy_filters_per_agent() {
    let stack = Stack::new().await;
    let app = &stack.app;
    // A second instance whose only agent wants mentions in C1.
    switchyard_ops::admin::create_instance(
        app,
        "slack",
        "acme-slack",
        "acme",
        &[("signing_secret".into(), demo::SLACK_SIGNING_SECRET.into())],
    )
    .await
    .expect("create");
    let policy = TriggerPolicy {
        channels: vec!["C1".into()],
        ..Default::default()
    };
    switchyard_ops::admin::grant(app, "acme-slack", "picky-agent", &policy)
        .await
        .expect("grant");
    switchyard_ops::admin::grant(
        app,
        "acme-slack",
        "default-agent",
        &TriggerPolicy::default(),
    )
    .await
    .expect("grant");

    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/acme-slack");
    let client = reqwest::Client::new();
    let plain = serde_json::json!({"type":"event_callback","event_id":"EvP1","event_time":NOW,
        "event":{"type":"message","channel":"C1","channel_type":"channel","user":"U1","text":"no mention","ts":"1.1"}})
    .to_string();
    let elsewhere = slack_mention("EvP2", "C2", "<@U0BOT> wrong channel");
    let wanted = slack_mention("EvP3", "C1", "<@U0BOT> right channel");
    let dm = serde_json::json!({"type":"event_callback","event_id":"EvP4","event_time":NOW,
        "event":{"type":"message","channel":"D1","channel_type":"im","user":"U1","text":"dm","ts":"1.2"}})
    .to_string();
    for body in [&plain, &elsewhere, &wanted, &dm] {
        let r = slack_request(&client, &url, body, NOW)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(stack.drain().await, 4);
    let events = stack.tapped().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].agent_id, "picky-agent");
    assert_eq!(events[0].payload["event_id"], "EvP3");
    let mut statuses: Vec<_> = stack
        .deliveries()
        .await
        .into_iter()
        .filter(|d| d.instance_id == "acme-slack")
        .map(|d| d.status)
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["delivered", "filtered", "filtered", "filtered"]);
}

#[tokio::test]
async fn an_accepted_webhook_costs_one_dynamodb_write_and_one_sqs_send() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    // Warm the instance cache (one GetItem + one KMS Decrypt per warm process and minute).
    let warm = slack_request(&client, &url, &slack_mention("EvW", "C1", "warm"), NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(warm.status(), 200);
    stack.app.aws.calls.reset();
    let n = 10;
    for i in 0..n {
        let body = slack_mention(&format!("EvC{i}"), "C1", "count me");
        let r = slack_request(&client, &url, &body, NOW)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    let calls = stack.app.aws.calls.snapshot();
    let dynamo: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("DynamoDB"))
        .map(|(_, v)| v)
        .sum();
    let sqs: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("AmazonSQS"))
        .map(|(_, v)| v)
        .sum();
    println!(
        "calls per accepted webhook: dynamodb={} sqs={} ({calls:?})",
        dynamo as f64 / n as f64,
        sqs as f64 / n as f64
    );
    assert_eq!(dynamo, n, "{calls:?}");
    assert_eq!(sqs, n, "{calls:?}");
    assert!(calls.keys().any(|k| k.ends_with(".PutItem")), "{calls:?}");
    assert!(
        calls.keys().any(|k| k.ends_with(".SendMessage")),
        "{calls:?}"
    );
}
