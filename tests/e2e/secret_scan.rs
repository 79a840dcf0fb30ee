//! The secret scan: every flow runs on one stack with recognisable secret values (instance
//! secrets, bot and integration tokens, a Discord interaction token, OAuth client secret and
//! tokens, platform and workspace API keys, every webhook provider's signing secret), then every
//! place data rests or passes is read back and searched for each value: every table, every
//! queue message, every S3 object, every event that reached the bus, every log line the library
//! wrote, every tool answer and receipt, and the output of the operator CLI. Zero hits.

use std::collections::BTreeMap;

use serde_json::json;
use switchyard::oauth::vault;
use switchyard::providers::samples;
use switchyard::tools::{ToolRequest, ToolResponse};

use crate::fakes::Fake;
use crate::oauth::{Fixture, CLIENT_SECRET};
use crate::support::Stack;

const AGENT: &str = "scan-agent";

/// The secret values in play, by what they are.
#[derive(Default)]
struct Secrets(BTreeMap<String, String>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, value: impl Into<String>) -> String {
        let value = value.into();
        assert!(
            value.len() >= 8,
            "too short to scan for without noise: {value}"
        );
        self.0.insert(what.into(), value.clone());
        value
    }

    /// `SCAN` + a label + 12 random hex digits, with the provider's token prefix.
    fn make(&mut self, what: &str, prefix: &str) -> String {
        let random = &uuid::Uuid::new_v4().simple().to_string()[..12];
        self.add(what, format!("{prefix}SCAN{random}"))
    }

    /// Every secret found in `text` at `place`.
    fn hits(&self, place: &str, text: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, value)| text.contains(value.as_str()))
            .map(|(what, _)| format!("{what} in {place}"))
            .collect()
    }
}

async fn tool(base: &str, tool_id: &str, instance: &str, input: serde_json::Value) -> String {
    let (integration, method) = tool_id.split_once('.').expect("tool id");
    let request = ToolRequest {
        instance_id: instance.into(),
        agent_id: AGENT.into(),
        input,
        idempotency_key: Some(format!("scan-{}", uuid::Uuid::new_v4().simple())),
        trace_id: Some("scan".into()),
        on_behalf_of: None,
    };
    let response = reqwest::Client::new()
        .post(format!("{base}/tools/{integration}/{method}"))
        .bearer_auth(crate::support::bearer(base, AGENT, "acme").await)
        .json(&request)
        .send()
        .await
        .expect("tool call");
    let text = response.text().await.expect("body");
    let parsed: ToolResponse = serde_json::from_str(&text).expect("a tool response");
    assert!(
        matches!(parsed, ToolResponse::Ok { .. }),
        "{tool_id} should succeed: {text}"
    );
    text
}

async fn instance(stack: &Stack, provider: &str, id: &str, settings: &[(&str, String)]) {
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    switchyard_ops::admin::create_instance(&stack.app, provider, id, "acme", &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&stack.app, id, AGENT, &Default::default())
        .await
        .expect("grant");
}

async fn cli(stack: &Stack, args: &[&str]) -> String {
    use clap::Parser;
    let mut argv = vec!["switchyard"];
    argv.extend_from_slice(args);
    let parsed = switchyard_ops::cli::Cli::try_parse_from(argv).expect("args");
    let mut out = Vec::new();
    switchyard_ops::cli::run_with_app(&stack.app, parsed, &mut out)
        .await
        .unwrap_or_else(|e| panic!("switchyard {args:?}: {e}"));
    String::from_utf8(out).expect("utf8")
}

#[tokio::test]
async fn no_secret_is_stored_logged_queued_published_or_printed_in_the_clear() {
    let f = Fixture::new().await;
    let (stack, base) = (&f.stack, f.base.as_str());
    let mut secrets = Secrets::default();
    let mut answers = String::new();
    secrets.add("the OAuth client secret", CLIENT_SECRET);

    // OAuth: consent, a refresh (rotation), the tokens as stored.
    let connection = f.connect().await;
    for (name, value) in f.stored_tokens(&connection).await {
        secrets.add(format!("first OAuth {name}"), value.expose());
    }
    stack.app.clock.set(crate::support::NOW + 120);
    let refreshed = vault::access_token(stack.app.vault(), &connection)
        .await
        .expect("refresh");
    secrets.add("refreshed OAuth access token", refreshed.token.expose());
    for (name, value) in f.stored_tokens(&connection).await {
        secrets.add(format!("rotated OAuth {name}"), value.expose());
    }
    stack.app.clock.set(crate::support::NOW);

    // Webhooks: every provider's sample, signed with its secret, accepted, consumed.
    let all = samples::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/providers/samples"),
    )
    .expect("samples");
    let client = reqwest::Client::new();
    for (provider, sample) in &all {
        let def = stack.app.registry.get(provider).expect("provider");
        for (key, value) in &sample.config {
            if def.config.is_sensitive(key) {
                secrets.add(format!("{provider} {key}"), value.clone());
            }
        }
        let id = format!("scan-{provider}");
        let settings: Vec<(&str, String)> = sample
            .config
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        instance(stack, provider, &id, &settings).await;
        for request in &sample.requests {
            stack.app.clock.set(request.now);
            let response = request
                .headers
                .iter()
                .fold(
                    client.post(format!("{base}/webhooks/{provider}/{id}")),
                    |r, (k, v)| r.header(k, v),
                )
                .body(request.body.clone())
                .send()
                .await
                .expect("webhook");
            assert!(
                response.status().is_success(),
                "{provider}/{}",
                request.name
            );
            answers.push_str(&response.text().await.expect("body"));
        }
    }
    stack.app.clock.set(crate::support::NOW);
    assert!(
        stack.drain().await > 0,
        "the consumer processed the deliveries"
    );

    // Tools: Slack, Discord (an interaction token in the path), Notion.
    let slack = Fake::slack().await;
    let slack_token = secrets.make("Slack bot token", "xoxb-");
    let slack_signing = secrets.make("Slack signing secret", "");
    instance(
        stack,
        "slack",
        "scan-slack-tools",
        &[
            ("api_base_url", slack.base_url.clone()),
            ("bot_token", slack_token),
            ("signing_secret", slack_signing),
        ],
    )
    .await;
    answers.push_str(
        &tool(
            base,
            "slack.post_message",
            "scan-slack-tools",
            json!({"channel": "C1", "text": "hi"}),
        )
        .await,
    );
    let discord = Fake::discord().await;
    let discord_token = secrets.make("Discord bot token", "");
    let interaction = secrets.make("Discord interaction token", "aW50");
    discord.register_interaction("100000000000000001", &interaction);
    instance(
        stack,
        "discord",
        "scan-discord-tools",
        &[
            ("api_base_url", discord.base_url.clone()),
            (
                "public_key",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".into(),
            ),
            ("bot_token", discord_token),
        ],
    )
    .await;
    answers.push_str(
        &tool(
            base,
            "discord.interaction_followup",
            "scan-discord-tools",
            json!({"application_id": "100000000000000001", "interaction_token": interaction, "content": "done"}),
        )
        .await,
    );
    let notion = Fake::notion().await;
    let notion_token = secrets.make("Notion integration token", "ntn_");
    instance(
        stack,
        "notion",
        "scan-notion-tools",
        &[
            ("api_base_url", notion.base_url.clone()),
            ("token", notion_token),
        ],
    )
    .await;
    let page = notion.notion_add_page("", "2026-01-01T00:00:00.000Z");
    answers.push_str(
        &tool(
            base,
            "notion.retrieve_page",
            "scan-notion-tools",
            json!({"page_id": page}),
        )
        .await,
    );

    // API keys: a platform key and a workspace's own (what `switchyard key set` stores).
    let platform_key = secrets.make("platform API key", "sk-");
    let workspace_key = secrets.make("workspace API key", "sk-");
    switchyard::keys::set_platform_key(stack.app.keys(), "openai", &platform_key.as_str().into())
        .await
        .expect("platform key");
    switchyard::keys::set_workspace_key(
        stack.app.keys(),
        "acme",
        "openai",
        &workspace_key.as_str().into(),
    )
    .await
    .expect("workspace key");
    let mut printed = String::new();
    let resolved = switchyard::keys::api_key(stack.app.keys(), "acme", "openai")
        .await
        .expect("key");
    assert_eq!(
        resolved.value.expose(),
        workspace_key,
        "the override is used"
    );

    // The operator's view of all of it.
    for args in [
        vec!["instance", "list"],
        vec!["instance", "show", "--id", "scan-slack-tools"],
        vec!["instance", "show", "--id", "scan-discord-tools"],
        vec!["connection", "list"],
        vec!["connection", "show", "--id", &connection],
        vec!["key", "show", "--name", "openai", "--workspace", "acme"],
        vec!["receipts", "list"],
        vec!["audit", "list"],
        vec!["connection", "disconnect", "--id", &connection],
    ] {
        printed.push_str(&cli(stack, &args).await);
    }

    // Now read back everything.
    let mut hits = Vec::new();
    hits.extend(secrets.hits("tool answers and webhook replies", &answers));
    hits.extend(secrets.hits("CLI output", &printed));
    for (table, text) in tables(stack).await {
        hits.extend(secrets.hits(&format!("table {table}"), &text));
    }
    for (queue, text) in queues(stack).await {
        hits.extend(secrets.hits(&format!("queue {queue}"), &text));
    }
    for (key, text) in objects(stack).await {
        hits.extend(secrets.hits(&format!("s3 object {key}"), &text));
    }
    let events = format!("{:?}", stack.tapped_raw().await);
    assert!(events.len() > 100, "events reached the bus");
    hits.extend(secrets.hits("events on the bus", &events));
    let logs = f.logs.text();
    assert!(
        logs.contains("access token refreshed"),
        "the logs were captured"
    );
    hits.extend(secrets.hits("logs", &logs));
    assert!(
        secrets.0.len() >= 15,
        "scanned for {} secrets",
        secrets.0.len()
    );
    assert!(hits.is_empty(), "secrets in the clear: {hits:#?}");
}

/// Every item of every table, as text.
async fn tables(stack: &Stack) -> Vec<(String, String)> {
    let r = &stack.app.resources;
    let mut out = Vec::new();
    for table in [
        &r.instances_table,
        &r.deliveries_table,
        &r.states_table,
        &r.connections_table,
        &r.audit_table,
        &r.tool_state_table,
        &r.receipts_table,
        &r.cursors_table,
    ] {
        let scan = stack
            .app
            .aws
            .dynamodb()
            .scan()
            .table_name(table)
            .send()
            .await
            .expect("scan");
        assert!(
            scan.last_evaluated_key.is_none(),
            "one page is all of {table}"
        );
        out.push((table.clone(), format!("{:?}", scan.items)));
    }
    out
}

/// Every message still on the ingress queue and its DLQ (left visible).
async fn queues(stack: &Stack) -> Vec<(String, String)> {
    let r = &stack.app.resources;
    let mut out = Vec::new();
    for url in [&r.ingress_queue_url, &r.ingress_dlq_url] {
        let received = stack
            .app
            .aws
            .sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.push((url.clone(), format!("{:?}", received.messages)));
    }
    out
}

/// Every object in the payload bucket.
async fn objects(stack: &Stack) -> Vec<(String, String)> {
    let s3 = &stack.app.aws.s3();
    let bucket = &stack.app.resources.payload_bucket;
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list");
    let mut out = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap_or_default().to_owned();
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("read")
            .into_bytes();
        out.push((key, String::from_utf8_lossy(&body).into_owned()));
    }
    out
}
