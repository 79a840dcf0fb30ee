//! Egress rules end to end: guardrails compare canonical values and hold tool calls to the
//! agent's granted channels; refusals make no provider call. (The SSRF corpus and the
//! credential's https/host binding are unit tests of `tools::secure_http`, which can run a TLS
//! upstream and a pinned resolver.)

use serde_json::{json, Value};
use switchyard::policy::TriggerPolicy;
use switchyard::tools::{ToolRequest, ToolResponse};

use crate::fakes::Fake;
use crate::support::{serving_stack, Stack};

const AGENT: &str = "agent-egress";

async fn instance(stack: &Stack, provider: &str, id: &str, fake: &Fake, grant: &TriggerPolicy) {
    let secret: (&str, &str) = match provider {
        "notion" => ("token", "ntn_test_token"),
        _ => ("bot_token", "xoxb-test-token"),
    };
    let mut settings = vec![
        ("api_base_url".to_owned(), fake.base_url.clone()),
        (secret.0.to_owned(), secret.1.to_owned()),
    ];
    if provider == "slack" {
        settings.push(("signing_secret".into(), "s".into()));
    }
    switchyard_ops::admin::create_instance(&stack.app, provider, id, "acme", &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&stack.app, id, AGENT, grant)
        .await
        .expect("grant");
}

async fn guard(stack: &Stack, id: &str, tool: &str, field: &str, allow: &[&str], deny: &[&str]) {
    switchyard_ops::admin::set_guardrails(
        &stack.app,
        id,
        switchyard_ops::admin::GuardrailChange {
            tool: Some(tool.into()),
            field: Some(field.into()),
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        },
    )
    .await
    .expect("guardrails");
}

/// The HTTP status and error code (`ok` for success) of one call through `POST /tools`.
async fn call(base: &str, tool: &str, instance: &str, input: Value) -> (u16, String) {
    let request = ToolRequest {
        instance_id: instance.into(),
        agent_id: AGENT.into(),
        input,
        idempotency_key: None,
        trace_id: None,
        on_behalf_of: None,
    };
    let (integration, method) = tool.split_once('.').expect("tool id");
    let response = reqwest::Client::new()
        .post(format!("{base}/tools/{integration}/{method}"))
        .bearer_auth(crate::support::bearer(base, AGENT, "acme").await)
        .json(&request)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let answer: ToolResponse = response.json().await.expect("tool response");
    let code = answer
        .error()
        .map_or_else(|| "ok".to_owned(), |e| e.code.as_str().to_owned());
    (status, code)
}

#[tokio::test]
async fn a_tool_call_outside_the_agents_granted_channels_is_denied() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    let grant = TriggerPolicy {
        channels: vec!["C0SUPPORT".into()],
        ..TriggerPolicy::default()
    };
    instance(&stack, "slack", "acme-slack", &slack, &grant).await;
    let post = |channel: &str| json!({"channel": channel, "text": "hello"});

    for channel in ["C0FINANCE", "D0SOMEONE"] {
        let answer = call(&base, "slack.post_message", "acme-slack", post(channel)).await;
        assert_eq!(answer, (403, "denied".to_owned()), "{channel}");
    }
    let answer = call(
        &base,
        "slack.conversations_history",
        "acme-slack",
        json!({"channel": "C0FINANCE"}),
    )
    .await;
    assert_eq!(answer, (403, "denied".to_owned()), "reading is held too");
    assert!(slack.requests().is_empty(), "no provider call");

    let answer = call(&base, "slack.post_message", "acme-slack", post("C0SUPPORT")).await;
    assert_eq!(answer, (200, "ok".to_owned()));
    assert_eq!(slack.count("POST", "/chat.postMessage"), 1);
}

#[tokio::test]
async fn slack_channel_names_are_resolved_or_refused() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    instance(
        &stack,
        "slack",
        "acme-slack",
        &slack,
        &TriggerPolicy::default(),
    )
    .await;
    guard(
        &stack,
        "acme-slack",
        "slack.post_message",
        "/channel",
        &[],
        &["C0GENERAL"],
    )
    .await;
    let post = |channel: &str| json!({"channel": channel, "text": "hello"});

    // "#general" may well be C0GENERAL: it is refused, not compared with the id and let through.
    for name in ["#general", "general"] {
        let answer = call(&base, "slack.post_message", "acme-slack", post(name)).await;
        assert_eq!(answer, (400, "invalid_input".to_owned()), "{name}");
    }
    let answer = call(&base, "slack.post_message", "acme-slack", post("C0GENERAL")).await;
    assert_eq!(answer, (403, "denied".to_owned()));
    assert!(slack.requests().is_empty(), "no provider call");

    // A name in an allowlist is never compared with ids either.
    guard(
        &stack,
        "acme-slack",
        "slack.post_message",
        "/channel",
        &["#random"],
        &[],
    )
    .await;
    let answer = call(&base, "slack.post_message", "acme-slack", post("C0RANDOM")).await;
    assert_eq!(answer, (403, "denied".to_owned()));
    assert!(slack.requests().is_empty(), "no provider call");
}

#[tokio::test]
async fn guardrails_match_notion_ids_with_or_without_dashes() {
    let (stack, base) = serving_stack().await;
    let notion = Fake::notion().await;
    instance(
        &stack,
        "notion",
        "acme-notion",
        &notion,
        &TriggerPolicy::default(),
    )
    .await;
    let bare = "598337872cf94fdf8782e53db20768a5";
    guard(
        &stack,
        "acme-notion",
        "notion.retrieve_page",
        "/page_id",
        &[],
        &[bare],
    )
    .await;

    for page in [
        "59833787-2cf9-4fdf-8782-e53db20768a5",
        "59833787-2CF9-4FDF-8782-E53DB20768A5",
        "598337872CF94FDF8782E53DB20768A5",
        bare,
    ] {
        let answer = call(
            &base,
            "notion.retrieve_page",
            "acme-notion",
            json!({"page_id": page}),
        )
        .await;
        assert_eq!(answer, (403, "denied".to_owned()), "{page}");
    }
    assert!(notion.requests().is_empty(), "no provider call");
}

#[tokio::test]
async fn plain_http_is_refused_unless_the_instance_allows_it() {
    let upstream = Fake::slack().await; // a loopback HTTP server as the upstream
    let addr: std::net::SocketAddr = upstream
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let (stack, base) =
        crate::support::serving_stack_with(|app| app.with_ssrf_exemptions(vec![addr])).await;
    for (id, plain) in [("strict-http", None), ("lenient-http", Some("true"))] {
        let mut settings = vec![
            ("allowed_hosts".to_owned(), "127.0.0.1".to_owned()),
            ("credential".to_owned(), "xoxb-injected-secret".to_owned()),
            ("credential_prefix".to_owned(), "Bearer ".to_owned()),
        ];
        if let Some(flag) = plain {
            settings.push(("allow_plain_http".into(), flag.into()));
        }
        switchyard_ops::admin::create_instance(&stack.app, "http", id, "acme", &settings)
            .await
            .expect("instance");
        switchyard_ops::admin::grant(&stack.app, id, AGENT, &TriggerPolicy::default())
            .await
            .expect("grant");
    }
    let input = json!({"method": "POST", "url": format!("{}/chat.postMessage", upstream.base_url),
        "body": {"channel": "C1", "text": "over http"}});

    let answer = call(
        &base,
        "http.secure_http_request",
        "strict-http",
        input.clone(),
    )
    .await;
    assert_eq!(answer, (403, "denied".to_owned()));
    assert!(upstream.requests().is_empty(), "refused before connecting");

    // Allowed, the request goes out without the credential (the fake Slack says not_authed).
    let answer = call(&base, "http.secure_http_request", "lenient-http", input).await;
    assert_eq!(answer, (200, "ok".to_owned()));
    let sent = upstream.requests();
    assert_eq!(sent.len(), 1);
    let text = format!("{:?}", sent[0]);
    assert!(!text.contains("xoxb-injected-secret"), "{text}");
}
