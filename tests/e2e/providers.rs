//! Every webhook provider end to end from its sample (`shared/providers/samples/<id>.json`):
//! signed accepted, tampered 401, duplicate acknowledged once, events on the bus. Then the
//! properties every provider relies on: tenant binding, the unsigned handshakes, a crash between
//! claim and queue, and events over EventBridge's size limit.

use std::collections::BTreeMap;

use switchyard::policy::{Trigger, TriggerPolicy};
use switchyard::providers::samples::{self, Sample};

use crate::support::{slack_mention, slack_request, Stack, NOW};

const AGENT: &str = "sample-agent";

fn samples() -> BTreeMap<String, Sample> {
    samples::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/providers/samples"),
    )
    .expect("provider samples")
}

fn everything() -> TriggerPolicy {
    TriggerPolicy {
        trigger: Trigger::All,
        channels: vec!["*".into()],
        dms: true,
        private_channels: true,
        ..Default::default()
    }
}

/// Creates instance `id` of `provider` with `config`, granted to [`AGENT`] with `policy`.
async fn instance(
    stack: &Stack,
    provider: &str,
    id: &str,
    config: &BTreeMap<String, String>,
    policy: &TriggerPolicy,
) {
    let settings: Vec<(String, String)> =
        config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    switchyard_ops::admin::create_instance(&stack.app, provider, id, "acme", &settings)
        .await
        .expect("create instance");
    switchyard_ops::admin::grant(&stack.app, id, AGENT, policy)
        .await
        .expect("grant");
}

fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    headers
        .iter()
        .fold(client.post(url), |r, (k, v)| r.header(k, v))
        .body(body)
}

/// Sends a sample request, as signed, to `url`.
async fn send_sample(
    client: &reqwest::Client,
    url: &str,
    request: &samples::SampleRequest,
) -> reqwest::Response {
    post(client, url, &request.headers, request.body.clone())
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn every_provider_sample_is_accepted_once_and_reaches_the_bus() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let client = reqwest::Client::new();
    let all = samples();
    assert!(all.len() >= 7, "samples: {:?}", all.keys());
    for (provider, sample) in &all {
        let id = format!("sample-{provider}");
        instance(&stack, provider, &id, &sample.config, &everything()).await;
        let url = format!("{base}/webhooks/{provider}/{id}");
        for request in &sample.requests {
            let what = format!("{provider}/{}", request.name);
            stack.app.clock.set(request.now);
            let mut tampered = request.body.clone().into_bytes();
            let middle = tampered.len() / 2;
            tampered[middle] ^= 0x01;
            let refused = post(&client, &url, &request.headers, tampered)
                .send()
                .await
                .expect("post");
            assert_eq!(refused.status(), 401, "{what}: tampered");

            let before = stack.deliveries().await.len();
            let accepted = send_sample(&client, &url, request).await;
            assert!(
                accepted.status().is_success(),
                "{what}: {}",
                accepted.status()
            );
            let claimed = stack.deliveries().await.len() - before;
            assert_eq!(claimed, request.events.len(), "{what}: one claim per event");

            let again = send_sample(&client, &url, request).await;
            assert!(again.status().is_success(), "{what}: duplicate");
            assert_eq!(
                stack.deliveries().await.len() - before,
                request.events.len(),
                "{what}: the duplicate claimed nothing"
            );
            assert_eq!(
                stack.ingress_depth().await,
                request.events.len() as u64,
                "{what}: the duplicate queued nothing"
            );

            stack.drain().await;
            let mut got: Vec<String> = stack
                .tapped()
                .await
                .into_iter()
                .filter(|e| e.agent_id == AGENT && e.source.instance_id == id)
                .map(|e| {
                    assert!(
                        e.topic.starts_with(&format!("{provider}.acme.")),
                        "{}",
                        e.topic
                    );
                    e.event_type
                })
                .collect();
            got.sort();
            let mut want = request.events.clone();
            want.sort();
            assert_eq!(got, want, "{what}: events on the bus");
        }
    }
}

#[tokio::test]
async fn two_instances_of_one_slack_app_only_take_their_own_workspace() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let client = reqwest::Client::new();
    let secret = switchyard_ops::local::demo::SLACK_SIGNING_SECRET;
    for (id, team) in [("team-one", "T0DEMO"), ("team-two", "T0OTHER")] {
        let config = BTreeMap::from([
            ("signing_secret".to_owned(), secret.to_owned()),
            ("team_id".to_owned(), team.to_owned()),
        ]);
        instance(&stack, "slack", id, &config, &everything()).await;
    }
    // The event is team T0DEMO's, correctly signed with the app's (shared) secret.
    let body = slack_mention("EvTenant", "C1", "<@U0BOT> hi");
    let wrong = slack_request(
        &client,
        &format!("{base}/webhooks/slack/team-two"),
        &body,
        NOW,
    )
    .send()
    .await
    .expect("post");
    assert_eq!(wrong.status(), 200, "acknowledged, so Slack does not retry");
    assert_eq!(stack.ingress_depth().await, 0, "not delivered");
    let recorded = stack.deliveries().await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, "refused_tenant_mismatch");
    assert_eq!(recorded[0].instance_id, "team-two");

    let right = slack_request(
        &client,
        &format!("{base}/webhooks/slack/team-one"),
        &body,
        NOW,
    )
    .send()
    .await
    .expect("post");
    assert_eq!(right.status(), 200);
    assert_eq!(stack.drain().await, 1);
    let events = stack.tapped().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].source.instance_id, "team-one");
}

#[tokio::test]
async fn shops_and_discord_applications_are_bound_too() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let client = reqwest::Client::new();
    let all = samples();

    // The Shopify sample is shop demo.myshopify.com; this instance is another shop of the app.
    let shopify = &all["shopify"];
    let mut config = shopify.config.clone();
    config.insert("shop".into(), "other.myshopify.com".into());
    instance(&stack, "shopify", "other-shop", &config, &everything()).await;
    let request = &shopify.requests[0];
    let reply = send_sample(
        &client,
        &format!("{base}/webhooks/shopify/other-shop"),
        request,
    )
    .await;
    assert_eq!(reply.status(), 200);
    assert_eq!(stack.ingress_depth().await, 0);
    assert_eq!(
        stack.deliveries().await[0].status,
        "refused_tenant_mismatch"
    );

    // A Discord PING (a handshake) for another application: 403.
    let discord = &all["discord"];
    let mut config = discord.config.clone();
    config.insert("application_id".into(), "999".into());
    instance(&stack, "discord", "other-app", &config, &everything()).await;
    let ping = r#"{"type":1,"id":"1","application_id":"100000000000000001","token":"t"}"#;
    let reply = crate::support::discord_request(
        &client,
        &format!("{base}/webhooks/discord/other-app"),
        ping,
        NOW,
    )
    .send()
    .await
    .expect("post");
    assert_eq!(reply.status(), 403);

    // A guild allowlist: an interaction from another guild is not delivered.
    let mut config = discord.config.clone();
    config.insert("guild_ids".into(), "1,2".into());
    instance(&stack, "discord", "two-guilds", &config, &everything()).await;
    let request = &discord.requests[0];
    let reply = send_sample(
        &client,
        &format!("{base}/webhooks/discord/two-guilds"),
        request,
    )
    .await;
    assert_eq!(reply.status(), 200);
    assert_eq!(stack.ingress_depth().await, 0);
}

#[tokio::test]
async fn a_filtered_discord_interaction_is_answered_ephemerally_at_once() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let client = reqwest::Client::new();
    let discord = &samples()["discord"];
    // Granted, but only in another channel.
    let policy = TriggerPolicy {
        channels: vec!["C-elsewhere".into()],
        ..Default::default()
    };
    instance(&stack, "discord", "narrow", &discord.config, &policy).await;
    let request = &discord.requests[0];
    let reply = send_sample(&client, &format!("{base}/webhooks/discord/narrow"), request).await;
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["flags"], 64);
    assert_eq!(
        body["data"]["content"],
        switchyard::providers::discord::NOT_ENABLED
    );
    assert_eq!(stack.ingress_depth().await, 0);
}

#[tokio::test]
async fn whatsapp_subscription_check_answers_only_the_right_token() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let client = reqwest::Client::new();
    let whatsapp = &samples()["whatsapp"];
    instance(&stack, "whatsapp", "wa", &whatsapp.config, &everything()).await;
    let url = format!("{base}/webhooks/whatsapp/wa");
    let check = |token: &str, mode: &str| {
        client
            .get(&url)
            .query(&[
                ("hub.mode", mode),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let ok = check("meatyhamhock", "subscribe").await.expect("get");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("text"), "1158201444");
    assert_eq!(
        check("wrong", "subscribe").await.expect("get").status(),
        403
    );
    assert_eq!(
        check("meatyhamhock", "unsubscribe")
            .await
            .expect("get")
            .status(),
        403
    );
    // Providers without a GET handshake do not take GET.
    let slack = client
        .get(format!(
            "{base}/webhooks/slack/{}",
            switchyard_ops::local::demo::SLACK_INSTANCE
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(slack.status(), 405);
}

#[tokio::test]
async fn notion_verification_token_is_sealed_revealed_and_then_keys_the_signature() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let client = reqwest::Client::new();
    let notion = &samples()["notion"];
    let token = notion.config["verification_token"].clone();
    let mut config = notion.config.clone();
    config.remove("verification_token");
    instance(&stack, "notion", "notion-ws", &config, &everything()).await;
    let url = format!("{base}/webhooks/notion/notion-ws");
    let app = &stack.app;
    let fresh = app
        .instances
        .get("notion-ws")
        .await
        .expect("get")
        .expect("instance");
    assert!(matches!(
        switchyard_ops::admin::reveal_verification_token(app, &fresh).await,
        Err(switchyard_ops::admin::AdminError::NoVerificationToken(_))
    ));

    let handshake = serde_json::json!({"verification_token": token}).to_string();
    let reply = client
        .post(&url)
        .header("content-type", "application/json")
        .body(handshake.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(reply.status(), 200);
    assert_eq!(stack.ingress_depth().await, 0, "a handshake queues nothing");
    let stored = app
        .instances
        .get("notion-ws")
        .await
        .expect("get")
        .expect("instance");
    assert!(stored
        .secret_keys
        .contains(&"verification_token".to_owned()));
    assert!(
        !serde_json::to_string(&stored)
            .expect("json")
            .contains(&token),
        "only ciphertext is stored"
    );
    let revealed = switchyard_ops::admin::reveal_verification_token(app, &stored)
        .await
        .expect("reveal");
    assert_eq!(revealed.expose(), token);
    let audit = app
        .audit
        .history("instance#notion-ws")
        .await
        .expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"verification_token_captured"),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"verification_token_revealed"),
        "{actions:?}"
    );

    // The same token again (Notion's "resend") is fine; another one is refused.
    let again = client
        .post(&url)
        .body(handshake)
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), 200);
    let other = serde_json::json!({"verification_token": "secret_forged"}).to_string();
    let forged = client.post(&url).body(other).send().await.expect("post");
    assert_eq!(forged.status(), 403);

    // Events signed with the token now verify and reach the bus.
    let request = &notion.requests[0];
    let reply = send_sample(&client, &url, request).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(stack.drain().await, 1);
    assert_eq!(stack.tapped().await[0].event_type, "notion.page.created");
}

#[tokio::test]
async fn a_crash_between_claim_and_queue_loses_nothing_and_publishes_once() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!(
        "{base}/webhooks/slack/{}",
        switchyard_ops::local::demo::SLACK_INSTANCE
    );
    let client = reqwest::Client::new();
    let body = slack_mention("EvCrash", "C1", "<@U0BOT> are you there?");

    stack.app.ingress().hooks.set_crash_after_claim(true);
    let died = slack_request(&client, &url, &body, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(
        died.status(),
        503,
        "the provider sees a failure and retries"
    );
    stack.app.ingress().hooks.set_crash_after_claim(false);
    assert_eq!(
        stack.deliveries().await[0].status,
        "queued",
        "the claim stayed"
    );
    assert_eq!(stack.ingress_depth().await, 0, "nothing was queued");

    // Slack's immediate retry, inside the claim window: taken for the live original.
    let early = slack_request(&client, &url, &body, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(early.status(), 200);
    assert_eq!(stack.ingress_depth().await, 0);

    // The retry after the window (longer than the function's timeout) is accepted and queued.
    let window = stack.app.limits.claim_secs;
    stack.app.clock.set(NOW + window + 1);
    let late = slack_request(&client, &url, &body, NOW + window + 1)
        .header("x-slack-retry-num", "2")
        .send()
        .await
        .expect("post");
    assert_eq!(late.status(), 200);
    assert_eq!(stack.ingress_depth().await, 1);
    assert_eq!(stack.drain().await, 1);
    assert_eq!(stack.tapped().await.len(), 1);

    // Once processed, later retries are duplicates for the whole dedup horizon.
    stack.app.clock.set(NOW + 120);
    let after = slack_request(&client, &url, &body, NOW + 120)
        .send()
        .await
        .expect("post");
    assert_eq!(after.status(), 200);
    assert_eq!(stack.ingress_depth().await, 0);
}

#[tokio::test]
async fn a_retry_while_the_first_copy_waits_in_the_queue_is_published_once() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!(
        "{base}/webhooks/slack/{}",
        switchyard_ops::local::demo::SLACK_INSTANCE
    );
    let client = reqwest::Client::new();
    let body = slack_mention("EvSlowQueue", "C1", "<@U0BOT> hi");
    let first = slack_request(&client, &url, &body, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(first.status(), 200);
    // The consumer is behind; the provider retries after the claim window.
    let later = NOW + stack.app.limits.claim_secs + 1;
    stack.app.clock.set(later);
    let retry = slack_request(&client, &url, &body, later)
        .send()
        .await
        .expect("post");
    assert_eq!(retry.status(), 200);
    assert_eq!(stack.ingress_depth().await, 2, "two copies queued");
    assert_eq!(stack.drain().await, 2);
    assert_eq!(stack.tapped().await.len(), 1, "published exactly once");
    assert_eq!(stack.deliveries().await[0].status, "delivered");
}

#[tokio::test]
async fn a_600_kb_slack_event_is_published_by_claim_check() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!(
        "{base}/webhooks/slack/{}",
        switchyard_ops::local::demo::SLACK_INSTANCE
    );
    let client = reqwest::Client::new();
    let text = format!("<@U0BOT> {}", "x".repeat(600 * 1024));
    let body = slack_mention("EvBig", "C1", &text);
    assert!(body.len() > 600 * 1024);
    let reply = slack_request(&client, &url, &body, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(reply.status(), 200);
    assert_eq!(stack.drain().await, 1);
    let events = stack.tapped().await;
    assert_eq!(events.len(), 1, "published, not sent to the DLQ");
    let event = &events[0];
    assert!(event.payload.is_null());
    let reference = event.payload_ref.as_deref().expect("payload_ref");
    let bucket = &stack.app.resources.payload_bucket;
    let key = reference
        .strip_prefix(&format!("s3://{bucket}/"))
        .expect("a reference into the payload bucket");
    let object = stack
        .app
        .aws
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("stored payload");
    let bytes = object.body.collect().await.expect("read").into_bytes();
    let payload: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(payload["event"]["text"], text.as_str());
    let deliveries = stack.deliveries().await;
    assert_eq!(deliveries[0].status, "delivered");
}
