//! Tool methods end to end: definitions, schema validation, guardrails, polite retries,
//! idempotency, the circuit breaker, receipts, against provider fakes on loopback.

use serde_json::{json, Value};
use switchyard::tools::{ToolRequest, ToolResponse};

use crate::fakes::{Fake, Scripted};
use crate::support::{serving_stack, Stack};

const AGENT: &str = "agent-7";

async fn instance(stack: &Stack, provider: &str, id: &str, fake: &Fake, extra: &[(&str, &str)]) {
    instance_at(stack, provider, id, &fake.base_url, extra).await;
}

/// An instance of `provider` whose API base is `base_url`, granted to [`AGENT`].
async fn instance_at(
    stack: &Stack,
    provider: &str,
    id: &str,
    base_url: &str,
    extra: &[(&str, &str)],
) {
    let mut settings: Vec<(String, String)> = vec![("api_base_url".into(), base_url.to_owned())];
    let secrets: &[(&str, &str)] = match provider {
        "slack" => &[("signing_secret", "s"), ("bot_token", "xoxb-test-token")],
        "discord" => &[
            (
                "public_key",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            ),
            ("bot_token", "discord-bot-token"),
        ],
        "notion" => &[("token", "ntn_test_token")],
        _ => &[],
    };
    for (k, v) in secrets.iter().chain(extra) {
        settings.push(((*k).into(), (*v).into()));
    }
    switchyard_ops::admin::create_instance(&stack.app, provider, id, "acme", &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&stack.app, id, AGENT, &Default::default())
        .await
        .expect("grant");
}

async fn call(
    _stack: &Stack,
    base: &str,
    tool: &str,
    instance: &str,
    input: Value,
    key: Option<&str>,
) -> (u16, ToolResponse) {
    let request = ToolRequest {
        instance_id: instance.into(),
        agent_id: AGENT.into(),
        input,
        idempotency_key: key.map(str::to_owned),
        trace_id: Some("trace-1".into()),
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
    (status, response.json().await.expect("tool response"))
}

fn output(response: &ToolResponse) -> &Value {
    match response {
        ToolResponse::Ok { output, .. } => output,
        ToolResponse::Err { error, .. } => panic!("tool failed: {error:?}"),
    }
}

fn receipt_id(response: &ToolResponse) -> String {
    match response {
        ToolResponse::Ok { receipt_id, .. } => receipt_id.clone(),
        ToolResponse::Err { receipt_id, .. } => receipt_id.clone().expect("a receipt"),
    }
}

#[tokio::test]
async fn slack_post_message_and_schema_failures_name_the_path() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;

    let (status, ok) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        json!({"channel": "C1", "text": "hello"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ok:?}");
    let out = output(&ok);
    assert_eq!(out["channel"], "C1");
    assert!(out["ts"].is_string());
    let sent = slack.requests();
    let last = sent.last().expect("a request reached the fake");
    assert_eq!(last.header("authorization"), Some("Bearer xoxb-test-token"));

    let (status, bad) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        json!({"channel": 7, "text": "x"}),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let error = bad.error().expect("error");
    assert_eq!(error.code, "invalid_input");
    assert!(
        error.violations.iter().any(|v| v.path == "/channel"),
        "{error:?}"
    );
    assert!(error.message.contains("/channel"));

    // Slack's ok:false is an error, mapped.
    let (_, missing) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        json!({"channel": "C404", "text": "x"}),
        None,
    )
    .await;
    let error = missing.error().expect("error");
    assert_eq!(error.code, "provider_error");
    assert_eq!(error.message, "channel_not_found");

    // Not granted: forbidden, and no provider call.
    let before = slack.requests().len();
    let response = switchyard::tools::invoke(
        stack.app.tools(),
        "slack.post_message",
        ToolRequest {
            instance_id: "acme-slack".into(),
            agent_id: "stranger".into(),
            input: json!({"channel": "C1", "text": "hi"}),
            idempotency_key: None,
            trace_id: None,
            on_behalf_of: None,
        },
        tokio::time::Instant::now() + std::time::Duration::from_secs(5),
    )
    .await;
    assert_eq!(response.error().map(|e| e.code.as_str()), Some("forbidden"));
    assert_eq!(slack.requests().len(), before);
}

#[tokio::test]
async fn a_429_with_retry_after_1_is_retried_once_and_both_attempts_are_on_the_receipt() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    slack.script("/chat.postMessage", vec![Scripted::rate_limited_slack(1)]);
    let started = std::time::Instant::now();
    let (status, response) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        json!({"channel": "C1", "text": "hi"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{response:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After honored"
    );
    assert_eq!(slack.count("POST", "/chat.postMessage"), 2);
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(&receipt_id(&response))
        .await
        .expect("get")
        .expect("receipt");
    assert_eq!(receipt.attempts.len(), 2, "{receipt:?}");
    assert_eq!(receipt.attempts[0].status, Some(429));
    assert_eq!(
        receipt.attempts[0]
            .rate_limit
            .get("retry-after")
            .map(String::as_str),
        Some("1")
    );
    assert!(receipt.attempts[0].waited_ms >= 1000);
    assert_eq!(receipt.attempts[1].status, Some(200));
    assert_eq!(receipt.status, "ok");
    assert_eq!(receipt.trace_id.as_deref(), Some("trace-1"));
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_fails_fast_as_retryable() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    slack.script("/chat.postMessage", vec![Scripted::rate_limited_slack(120)]);
    let started = std::time::Instant::now();
    let (status, response) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        json!({"channel": "C1", "text": "hi"}),
        None,
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "failed fast"
    );
    assert_eq!(status, 429);
    let error = response.error().expect("error");
    assert_eq!(error.code, "rate_limited");
    assert!(error.retryable);
    assert_eq!(error.provider_status, Some(429));
    assert_eq!(slack.count("POST", "/chat.postMessage"), 1);
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(&receipt_id(&response))
        .await
        .expect("get")
        .expect("receipt");
    assert_eq!(receipt.status, "rate_limited");
}

#[tokio::test]
async fn idempotent_replay_does_not_call_the_provider_twice() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    let input = json!({"channel": "C1", "text": "once"});
    let (_, first) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        input.clone(),
        Some("k-1"),
    )
    .await;
    let (_, second) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        input.clone(),
        Some("k-1"),
    )
    .await;
    assert_eq!(first, second, "the stored first result");
    assert_eq!(slack.count("POST", "/chat.postMessage"), 1);
    let (_, third) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        input,
        Some("k-2"),
    )
    .await;
    assert_ne!(receipt_id(&first), receipt_id(&third));
    assert_eq!(slack.count("POST", "/chat.postMessage"), 2);
}

#[tokio::test]
async fn guardrail_denials_make_no_provider_call() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    switchyard_ops::admin::set_guardrails(
        &stack.app,
        "acme-slack",
        switchyard_ops::admin::GuardrailChange {
            tool: Some("slack.post_message".into()),
            field: Some("/channel".into()),
            allow: vec!["C1".into()],
            deny_tools: vec!["slack.schedule_message".into()],
            ..Default::default()
        },
    )
    .await
    .expect("guardrails");
    let (status, denied) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        json!({"channel": "C2", "text": "x"}),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(denied.error().map(|e| e.code.as_str()), Some("denied"));
    let (_, denied) = call(
        &stack,
        &base,
        "slack.schedule_message",
        "acme-slack",
        json!({"channel": "C1", "text": "x", "post_at": 4_000_000_000u64}),
        None,
    )
    .await;
    assert_eq!(denied.error().map(|e| e.code.as_str()), Some("denied"));
    assert!(slack.requests().is_empty(), "no provider call");
    let (status, _) = call(
        &stack,
        &base,
        "slack.post_message",
        "acme-slack",
        json!({"channel": "C1", "text": "x"}),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let tools = switchyard::tools::discover(stack.app.tools(), AGENT)
        .await
        .expect("discover");
    let ids: Vec<&str> = tools.iter().map(|t| t.tool.as_str()).collect();
    assert!(
        ids.contains(&"slack.post_message") && !ids.contains(&"slack.schedule_message"),
        "{ids:?}"
    );
}

#[tokio::test]
async fn repeated_failures_disable_the_tool_until_reenabled() {
    let (stack, base) = serving_stack().await;
    let notion = Fake::notion().await;
    instance(
        &stack,
        "notion",
        "acme-notion",
        &notion,
        &[("breaker_threshold", "3"), ("breaker_window_secs", "600")],
    )
    .await;
    let page = "59833787-2cf9-4fdf-8782-e53db20768a5";
    notion.script(
        "/v1/pages",
        (0..12).map(|_| Scripted::server_error(500)).collect(),
    );
    for _ in 0..3 {
        let (_, r) = call(
            &stack,
            &base,
            "notion.retrieve_page",
            "acme-notion",
            json!({"page_id": page}),
            None,
        )
        .await;
        assert_eq!(
            r.error().map(|e| e.code.as_str()),
            Some("provider_unavailable"),
            "{r:?}"
        );
    }
    let calls_before = notion.requests().len();
    let (status, disabled) = call(
        &stack,
        &base,
        "notion.retrieve_page",
        "acme-notion",
        json!({"page_id": page}),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(disabled.error().map(|e| e.code.as_str()), Some("disabled"));
    assert_eq!(
        notion.requests().len(),
        calls_before,
        "a disabled tool calls nobody"
    );
    let events = stack.tapped_raw().await;
    assert!(
        events.iter().any(|e| e.detail_type == "integration.error"),
        "{events:?}"
    );

    notion.script("/v1/pages", Vec::new());
    let mut out = Vec::new();
    let cli = <switchyard_ops::cli::Cli as clap::Parser>::try_parse_from([
        "switchyard",
        "tool",
        "enable",
        "--instance",
        "acme-notion",
        "--tool",
        "notion.retrieve_page",
    ])
    .expect("args");
    switchyard_ops::cli::run_with_app(&stack.app, cli, &mut out)
        .await
        .expect("enable");
    let (status, ok) = call(
        &stack,
        &base,
        "notion.retrieve_page",
        "acme-notion",
        json!({"page_id": page}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ok:?}");
}

#[tokio::test]
async fn discord_followups_and_channel_messages() {
    let (stack, base) = serving_stack().await;
    let discord = Fake::discord().await;
    instance(&stack, "discord", "acme-discord", &discord, &[]).await;
    discord.register_interaction("100000000000000001", "interaction-token-1");
    let (status, r) = call(&stack, &base, "discord.interaction_followup", "acme-discord", json!({
        "application_id": "100000000000000001", "interaction_token": "interaction-token-1", "content": "working on it"
    }), None).await;
    assert_eq!(status, 200, "{r:?}");
    let (status, r) = call(
        &stack,
        &base,
        "discord.interaction_followup",
        "acme-discord",
        json!({
            "application_id": "100000000000000001", "interaction_token": "interaction-token-1",
            "action": "edit_original", "content": "done"
        }),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
    assert_eq!(
        discord.count(
            "PATCH",
            "/webhooks/100000000000000001/interaction-token-1/messages/@original"
        ),
        1
    );

    let (status, r) = call(
        &stack,
        &base,
        "discord.send_channel_message",
        "acme-discord",
        json!({
            "channel_id": "400000000000000001", "content": "hello"
        }),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(&receipt_id(&r))
        .await
        .expect("get")
        .expect("receipt");
    assert!(
        receipt.attempts[0]
            .rate_limit
            .contains_key("x-ratelimit-bucket"),
        "{receipt:?}"
    );
    let sent = discord.requests();
    let message = sent
        .iter()
        .find(|r| r.path.starts_with("/channels/"))
        .expect("sent");
    assert_eq!(
        message.header("authorization"),
        Some("Bot discord-bot-token")
    );
}

#[tokio::test]
async fn notion_tools_batch_and_paginate() {
    let (stack, base) = serving_stack().await;
    let notion = Fake::notion().await;
    instance(&stack, "notion", "acme-notion", &notion, &[]).await;
    let block = "a3c2c9c6-1d7b-4f25-9c0a-5a0c7e1a2b3c";
    let children: Vec<Value> = (0..250)
        .map(|i| json!({"object": "block", "type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": format!("line {i}")}}]}}))
        .collect();
    let (status, r) = call(
        &stack,
        &base,
        "notion.append_blocks",
        "acme-notion",
        json!({"block_id": block, "children": children}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
    assert_eq!(output(&r)["appended"], 250);
    assert_eq!(
        notion.count("PATCH", &format!("/v1/blocks/{block}/children")),
        3,
        "batches of at most 100"
    );
    assert_eq!(notion.notion_children(block), 250);

    let (status, r) = call(&stack, &base, "notion.query_data_source", "acme-notion", json!({
        "data_source_id": "b55c9c91-384d-452b-81db-d1ef79372b75", "page_size": 10, "max_pages": 2
    }), None).await;
    assert_eq!(status, 200, "{r:?}");
    assert_eq!(output(&r)["results"].as_array().map(Vec::len), Some(20));
    let sent = notion.requests();
    assert!(sent
        .iter()
        .all(|q| q.header("notion-version") == Some("2025-09-03")));

    let (status, r) = call(&stack, &base, "notion.create_page", "acme-notion", json!({
        "parent": {"page_id": block}, "properties": {"title": {"title": [{"text": {"content": "Hi"}}]}}
    }), None).await;
    assert_eq!(status, 200, "{r:?}");
    let id = output(&r)["id"].as_str().expect("id").to_owned();
    let (status, r) = call(
        &stack,
        &base,
        "notion.update_page",
        "acme-notion",
        json!({"page_id": id, "archived": true}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
    let (status, r) = call(
        &stack,
        &base,
        "notion.retrieve_page",
        "acme-notion",
        json!({"page_id": id}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
}

#[tokio::test]
async fn slack_history_paginates_and_schedule_validates() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    let (status, r) = call(
        &stack,
        &base,
        "slack.conversations_history",
        "acme-slack",
        json!({"channel": "C1", "limit": 10, "max_pages": 3}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
    assert_eq!(
        output(&r)["messages"].as_array().map(Vec::len),
        Some(25),
        "{r:?}"
    );
    assert_eq!(slack.count("GET", "/conversations.history"), 3);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (status, r) = call(
        &stack,
        &base,
        "slack.schedule_message",
        "acme-slack",
        json!({"channel": "C1", "text": "later", "post_at": now + 3600}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
    assert!(output(&r)["scheduled_message_id"].is_string());
}

#[tokio::test]
async fn secure_http_request_injects_credentials_and_refuses_ssrf() {
    let upstream = Fake::slack().await; // any loopback HTTP server will do as the upstream
    let addr: std::net::SocketAddr = upstream
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let (stack, base) =
        crate::support::serving_stack_with(|app| app.with_ssrf_exemptions(vec![addr])).await;
    switchyard_ops::admin::create_instance(
        &stack.app,
        "http",
        "acme-http",
        "acme",
        &[
            (
                "allowed_hosts".into(),
                "127.0.0.1,10.0.0.1,169.254.169.254,::1,localhost".into(),
            ),
            ("credential".into(), "xoxb-injected-secret".into()),
            ("credential_placement".into(), "header".into()),
            ("credential_name".into(), "authorization".into()),
            ("credential_prefix".into(), "Bearer ".into()),
            // The loopback fake speaks plain http, which carries no credential.
            ("allow_plain_http".into(), "true".into()),
        ],
    )
    .await
    .expect("instance");
    switchyard_ops::admin::grant(&stack.app, "acme-http", AGENT, &Default::default())
        .await
        .expect("grant");
    let request = |url: String| json!({"method": "POST", "url": url, "body": {"channel": "C1", "text": "via http"}});

    let (status, ok) = call(
        &stack,
        &base,
        "http.secure_http_request",
        "acme-http",
        request(format!("{}/chat.postMessage", upstream.base_url)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ok:?}");
    assert_eq!(output(&ok)["status"], 200);
    assert_eq!(
        output(&ok)["body"]["ok"],
        false,
        "plain http never carries the credential (https injection: secure_http unit tests)"
    );
    assert!(!serde_json::to_string(&ok)
        .expect("json")
        .contains("xoxb-injected-secret"));

    for blocked in [
        "http://127.0.0.1:9/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/".to_owned(),
        format!("http://localhost:{}/chat.postMessage", addr.port()),
    ] {
        let (status, r) = call(
            &stack,
            &base,
            "http.secure_http_request",
            "acme-http",
            request(blocked.clone()),
            None,
        )
        .await;
        assert_eq!(status, 403, "{blocked}: {r:?}");
        assert_eq!(
            r.error().map(|e| e.code.as_str()),
            Some("denied"),
            "{blocked}"
        );
    }
    let (status, r) = call(
        &stack,
        &base,
        "http.secure_http_request",
        "acme-http",
        request("https://example.org/".into()),
        None,
    )
    .await;
    assert_eq!(
        (status, r.error().map(|e| e.code.as_str())),
        (403, Some("denied")),
        "host not allowed"
    );

    // A redirect from the allowed upstream to the metadata address is refused too.
    upstream.script(
        "/redirect-me",
        vec![Scripted {
            status: 302,
            headers: vec![(
                "location".into(),
                "http://169.254.169.254/latest/meta-data/".into(),
            )],
            body: json!({}),
        }],
    );
    let (status, r) = call(
        &stack,
        &base,
        "http.secure_http_request",
        "acme-http",
        json!({"method": "GET", "url": format!("{}/redirect-me", upstream.base_url)}),
        None,
    )
    .await;
    assert_eq!(status, 403, "{r:?}");
    assert_eq!(r.error().map(|e| e.code.as_str()), Some("denied"));
}

#[tokio::test]
async fn discord_buckets_are_waited_out_instead_of_hitting_429() {
    let (stack, base) = serving_stack().await;
    let discord = Fake::discord().await;
    instance(&stack, "discord", "acme-discord", &discord, &[]).await;
    // The fake allows 5 messages per channel per 5 s and says so in its X-RateLimit headers.
    for i in 0..7 {
        let (status, r) = call(
            &stack,
            &base,
            "discord.send_channel_message",
            "acme-discord",
            json!({
                "channel_id": "400000000000000002", "content": format!("message {i}")
            }),
            None,
        )
        .await;
        assert_eq!(status, 200, "{i}: {r:?}");
    }
    // A 429 would have been retried: more requests than calls.
    assert_eq!(
        discord.count("POST", "/channels/"),
        7,
        "one request per call: the exhausted bucket was waited out"
    );
}

#[tokio::test]
async fn notion_529_is_retried_with_backoff() {
    let (stack, base) = serving_stack().await;
    let notion = Fake::notion().await;
    instance(&stack, "notion", "acme-notion", &notion, &[]).await;
    let page = "59833787-2cf9-4fdf-8782-e53db20768a5";
    notion.script("/v1/pages", vec![Scripted::notion_overloaded()]);
    let (status, r) = call(
        &stack,
        &base,
        "notion.retrieve_page",
        "acme-notion",
        json!({"page_id": page}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r:?}");
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(&receipt_id(&r))
        .await
        .expect("get")
        .expect("receipt");
    let statuses: Vec<Option<u16>> = receipt.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(529), Some(200)]);
    assert!(
        receipt.attempts[0]
            .decision
            .as_deref()
            .is_some_and(|d| d.contains("backoff")),
        "{receipt:?}"
    );
}

/// Calls `tool` in process as `agent`, with a deadline `secs` from now.
async fn invoke_as(
    stack: &Stack,
    tool: &str,
    instance: &str,
    agent: &str,
    input: Value,
    key: Option<&str>,
    secs: f64,
) -> ToolResponse {
    switchyard::tools::invoke(
        stack.app.tools(),
        tool,
        ToolRequest {
            instance_id: instance.into(),
            agent_id: agent.into(),
            input,
            idempotency_key: key.map(str::to_owned),
            trace_id: None,
            on_behalf_of: None,
        },
        tokio::time::Instant::now() + std::time::Duration::from_secs_f64(secs),
    )
    .await
}

fn code(response: &ToolResponse) -> Option<String> {
    response.error().map(|e| e.code.as_str().to_owned())
}

/// A loopback "provider" that reads each request and then either never answers or hangs up:
/// the request reached it, the caller learns nothing.
struct Silent {
    base_url: String,
    received: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Clone, Copy)]
enum Silence {
    NeverAnswers,
    HangsUp,
}

impl Silent {
    async fn start(how: Silence) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = received.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    if matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Silence::NeverAnswers = how {
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    }
                    drop(socket);
                });
            }
        });
        Self {
            base_url: format!("http://{addr}"),
            received,
        }
    }

    fn received(&self) -> usize {
        self.received.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn the_same_idempotency_key_with_other_input_conflicts() {
    let stack = Stack::new().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    let tool = "slack.post_message";
    let first = invoke_as(
        &stack,
        tool,
        "acme-slack",
        AGENT,
        json!({"channel": "C1", "text": "pay 10"}),
        Some("k-1"),
        5.0,
    )
    .await;
    assert_eq!(code(&first), None, "{first:?}");
    let other = invoke_as(
        &stack,
        tool,
        "acme-slack",
        AGENT,
        json!({"channel": "C1", "text": "pay 1000"}),
        Some("k-1"),
        5.0,
    )
    .await;
    assert_eq!(
        code(&other).as_deref(),
        Some("idempotency_conflict"),
        "{other:?}"
    );
    assert!(!other.error().expect("error").retryable);
    // The same input with its keys in another order is the same request: replayed.
    let reordered: Value =
        serde_json::from_str(r#"{"text": "pay 10", "channel": "C1"}"#).expect("json");
    let replay = invoke_as(
        &stack,
        tool,
        "acme-slack",
        AGENT,
        reordered,
        Some("k-1"),
        5.0,
    )
    .await;
    assert_eq!(replay, first);
    assert_eq!(slack.count("POST", "/chat.postMessage"), 1);
}

#[tokio::test]
async fn another_agents_key_is_not_replayed() {
    let stack = Stack::new().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    switchyard_ops::admin::grant(&stack.app, "acme-slack", "agent-8", &Default::default())
        .await
        .expect("grant");
    let input = json!({"channel": "C1", "text": "hello"});
    let mine = invoke_as(
        &stack,
        "slack.post_message",
        "acme-slack",
        AGENT,
        input.clone(),
        Some("shared-key"),
        5.0,
    )
    .await;
    let theirs = invoke_as(
        &stack,
        "slack.post_message",
        "acme-slack",
        "agent-8",
        input,
        Some("shared-key"),
        5.0,
    )
    .await;
    assert_eq!(code(&theirs), None, "{theirs:?}");
    assert_ne!(
        receipt_id(&mine),
        receipt_id(&theirs),
        "keys are namespaced per agent"
    );
    assert_eq!(slack.count("POST", "/chat.postMessage"), 2);
}

#[tokio::test]
async fn a_corrupt_stored_result_is_an_error_not_a_rerun() {
    let stack = Stack::new().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    let input = json!({"channel": "C1", "text": "once"});
    let first = invoke_as(
        &stack,
        "slack.post_message",
        "acme-slack",
        AGENT,
        input.clone(),
        Some("k-1"),
        5.0,
    )
    .await;
    assert_eq!(code(&first), None, "{first:?}");
    let table = &stack.app.resources.tool_state_table;
    let dynamodb = &stack.app.aws.dynamodb();
    let items = dynamodb
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let keys: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("pk")?.as_s().ok().cloned())
        .filter(|pk| pk.starts_with("idem#"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    dynamodb
        .update_item()
        .table_name(table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(keys[0].clone()),
        )
        .update_expression("SET #r = :r")
        .expression_attribute_names("#r", "response")
        .expression_attribute_values(
            ":r",
            aws_sdk_dynamodb::types::AttributeValue::S("{\"ok\": tru".into()),
        )
        .send()
        .await
        .expect("corrupt the stored result");
    let again = invoke_as(
        &stack,
        "slack.post_message",
        "acme-slack",
        AGENT,
        input,
        Some("k-1"),
        5.0,
    )
    .await;
    assert_eq!(
        code(&again).as_deref(),
        Some("stored_result_unreadable"),
        "{again:?}"
    );
    assert!(!again.error().expect("error").retryable);
    assert_eq!(
        slack.count("POST", "/chat.postMessage"),
        1,
        "never a silent rerun"
    );
}

#[tokio::test]
async fn a_timeout_after_sending_leaves_the_key_unknown_and_never_acts_twice() {
    let stack = Stack::new().await;
    let silent = Silent::start(Silence::NeverAnswers).await;
    instance_at(&stack, "slack", "acme-slack", &silent.base_url, &[]).await;
    let input = json!({"channel": "C1", "text": "transfer"});
    let started = std::time::Instant::now();
    let first = invoke_as(
        &stack,
        "slack.post_message",
        "acme-slack",
        AGENT,
        input.clone(),
        Some("k-1"),
        2.0,
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "answered within the deadline, receipt included: {:?}",
        started.elapsed()
    );
    assert_eq!(
        code(&first).as_deref(),
        Some("outcome_unknown"),
        "{first:?}"
    );
    assert!(!first.error().expect("error").retryable);
    assert_eq!(silent.received(), 1);
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(&receipt_id(&first))
        .await
        .expect("get")
        .expect("the receipt is written");
    assert_eq!(receipt.status, "outcome_unknown");

    for _ in 0..2 {
        let again = invoke_as(
            &stack,
            "slack.post_message",
            "acme-slack",
            AGENT,
            input.clone(),
            Some("k-1"),
            2.0,
        )
        .await;
        assert_eq!(
            code(&again).as_deref(),
            Some("outcome_unknown"),
            "{again:?}"
        );
    }
    assert_eq!(silent.received(), 1, "the same key never acts twice");
}

#[tokio::test]
async fn only_retry_safe_methods_are_repeated_after_they_may_have_reached_the_provider() {
    let stack = Stack::new().await;
    // A connection dropped after the request was read: a POST is not repeated.
    let hangs_up = Silent::start(Silence::HangsUp).await;
    instance_at(&stack, "slack", "dropped-slack", &hangs_up.base_url, &[]).await;
    let r = invoke_as(
        &stack,
        "slack.post_message",
        "dropped-slack",
        AGENT,
        json!({"channel": "C1", "text": "x"}),
        Some("k-1"),
        10.0,
    )
    .await;
    assert_eq!(code(&r).as_deref(), Some("outcome_unknown"), "{r:?}");
    assert_eq!(hangs_up.received(), 1);

    // A 5xx on a POST: not repeated either.
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    slack.script(
        "/chat.postMessage",
        (0..4).map(|_| Scripted::server_error(500)).collect(),
    );
    let r = invoke_as(
        &stack,
        "slack.post_message",
        "acme-slack",
        AGENT,
        json!({"channel": "C1", "text": "x"}),
        None,
        10.0,
    )
    .await;
    assert_eq!(code(&r).as_deref(), Some("outcome_unknown"), "{r:?}");
    assert_eq!(r.error().and_then(|e| e.provider_status), Some(500));
    assert_eq!(slack.count("POST", "/chat.postMessage"), 1);

    // A POST the definition marks retrySafe (a Notion query) is repeated after a 503.
    let notion = Fake::notion().await;
    instance(&stack, "notion", "acme-notion", &notion, &[]).await;
    let source = "b55c9c91-384d-452b-81db-d1ef79372b75";
    notion.script("/v1/data_sources/", vec![Scripted::notion_unavailable()]);
    let r = invoke_as(
        &stack,
        "notion.query_data_source",
        "acme-notion",
        AGENT,
        json!({"data_source_id": source, "page_size": 5}),
        None,
        10.0,
    )
    .await;
    assert_eq!(code(&r), None, "{r:?}");
    assert_eq!(notion.count("POST", "/v1/data_sources/"), 2);
}

#[tokio::test]
async fn caller_mistakes_do_not_trip_the_breaker() {
    let stack = Stack::new().await;
    let discord = Fake::discord().await;
    let limits = [("breaker_threshold", "2"), ("breaker_window_secs", "600")];
    instance(&stack, "discord", "acme-discord", &discord, &limits).await;
    for i in 0..3 {
        // An expired (here: never registered) interaction token: Discord's 401 on the webhook.
        let r = invoke_as(&stack, "discord.interaction_followup", "acme-discord", AGENT, json!({
            "application_id": "100000000000000001", "interaction_token": format!("expired-{i}"), "content": "late"
        }), None, 5.0).await;
        assert_eq!(code(&r).as_deref(), Some("provider_auth"), "{r:?}");
        let r = invoke_as(
            &stack,
            "discord.interaction_followup",
            "acme-discord",
            AGENT,
            json!({"content": 7}),
            None,
            5.0,
        )
        .await;
        assert_eq!(code(&r).as_deref(), Some("invalid_input"), "{r:?}");
    }
    discord.register_interaction("100000000000000001", "live-token");
    let r = invoke_as(&stack, "discord.interaction_followup", "acme-discord", AGENT, json!({
        "application_id": "100000000000000001", "interaction_token": "live-token", "content": "on time"
    }), None, 5.0).await;
    assert_eq!(code(&r), None, "the breaker stayed closed: {r:?}");

    // Limits and refused redirects of secure_http are the caller's too.
    let upstream = Fake::slack().await;
    let addr: std::net::SocketAddr = upstream
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let (stack, _) =
        crate::support::serving_stack_with(|app| app.with_ssrf_exemptions(vec![addr])).await;
    switchyard_ops::admin::create_instance(
        &stack.app,
        "http",
        "acme-http",
        "acme",
        &[
            ("allowed_hosts".into(), "127.0.0.1".into()),
            // The loopback fake speaks plain http (no credential is configured).
            ("allow_plain_http".into(), "true".into()),
            ("max_response_bytes".into(), "10".into()),
            ("breaker_threshold".into(), "2".into()),
        ],
    )
    .await
    .expect("instance");
    switchyard_ops::admin::grant(&stack.app, "acme-http", AGENT, &Default::default())
        .await
        .expect("grant");
    let loop_to = |n: usize| Scripted {
        status: 302,
        headers: vec![("location".into(), format!("{}/loop-{n}", upstream.base_url))],
        body: json!({}),
    };
    for _ in 0..3 {
        upstream.script("/loop", (0..4).map(loop_to).collect());
        let r = invoke_as(
            &stack,
            "http.secure_http_request",
            "acme-http",
            AGENT,
            json!({"url": format!("{}/loop", upstream.base_url)}),
            None,
            5.0,
        )
        .await;
        assert_eq!(
            code(&r).as_deref(),
            Some("provider_unavailable"),
            "too many redirects: {r:?}"
        );
        let r = invoke_as(
            &stack,
            "http.secure_http_request",
            "acme-http",
            AGENT,
            json!({"url": format!("{}/conversations.history?channel=C1", upstream.base_url)}),
            None,
            5.0,
        )
        .await;
        assert!(code(&r).is_some(), "larger than 10 bytes: {r:?}");
    }
    let tools = switchyard::tools::discover(stack.app.tools(), AGENT)
        .await
        .expect("discover");
    assert!(
        tools.iter().any(|t| t.tool == "http.secure_http_request"),
        "not disabled: {tools:?}"
    );
}

#[tokio::test]
async fn the_breaker_half_opens_and_one_good_probe_closes_it() {
    let stack = Stack::new().await;
    let notion = Fake::notion().await;
    instance(
        &stack,
        "notion",
        "acme-notion",
        &notion,
        &[
            ("breaker_threshold", "2"),
            ("breaker_window_secs", "600"),
            ("breaker_cooldown_secs", "30"),
        ],
    )
    .await;
    let create = || {
        json!({
            "parent": {"page_id": "a3c2c9c6-1d7b-4f25-9c0a-5a0c7e1a2b3c"},
            "properties": {"title": {"title": [{"text": {"content": "Hi"}}]}}
        })
    };
    let call = |stack: &Stack| {
        let input = create();
        let stack = Stack {
            app: stack.app.clone(),
        };
        async move {
            invoke_as(
                &stack,
                "notion.create_page",
                "acme-notion",
                AGENT,
                input,
                None,
                5.0,
            )
            .await
        }
    };
    notion.script(
        "/v1/pages",
        (0..2).map(|_| Scripted::server_error(500)).collect(),
    );
    for _ in 0..2 {
        let r = call(&stack).await;
        assert_eq!(
            r.error().and_then(|e| e.provider_status),
            Some(500),
            "{r:?}"
        );
    }
    let opened = stack.tapped_raw().await;
    assert_eq!(
        opened
            .iter()
            .filter(|e| e.detail_type == "integration.error")
            .count(),
        1,
        "{opened:?}"
    );
    let r = call(&stack).await;
    assert_eq!(code(&r).as_deref(), Some("disabled"));
    assert_eq!(
        notion.count("POST", "/v1/pages"),
        2,
        "open: nobody is called"
    );

    // After the cool-down one probe goes through; it fails, and the breaker re-opens.
    stack.app.clock.set(crate::support::NOW + 31);
    notion.script("/v1/pages", vec![Scripted::server_error(503)]);
    let r = call(&stack).await;
    assert_eq!(
        r.error().and_then(|e| e.provider_status),
        Some(503),
        "{r:?}"
    );
    let r = call(&stack).await;
    assert_eq!(
        code(&r).as_deref(),
        Some("disabled"),
        "re-opened for another cool-down"
    );
    assert_eq!(notion.count("POST", "/v1/pages"), 3);

    // The next probe succeeds and closes it.
    stack.app.clock.set(crate::support::NOW + 62);
    let r = call(&stack).await;
    assert_eq!(code(&r), None, "{r:?}");
    let events = stack.tapped_raw().await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.detail_type == "integration.recovered")
            .count(),
        1,
        "{events:?}"
    );
    let r = call(&stack).await;
    assert_eq!(code(&r), None, "closed: {r:?}");
}

#[tokio::test]
async fn receipts_never_hold_interaction_tokens() {
    let stack = Stack::new().await;
    let discord = Fake::discord().await;
    instance(&stack, "discord", "acme-discord", &discord, &[]).await;
    let token = "aW50ZXJhY3Rpb246c2VjcmV0LXRva2Vu";
    discord.register_interaction("100000000000000001", token);
    let mut receipts = Vec::new();
    for input in [
        json!({"application_id": "100000000000000001", "interaction_token": token, "content": "hi"}),
        json!({"application_id": "100000000000000001", "interaction_token": token, "action": "edit_original", "content": "done"}),
        json!({"application_id": "100000000000000001", "interaction_token": format!("{token}-expired"), "content": "late"}),
    ] {
        let r = invoke_as(
            &stack,
            "discord.interaction_followup",
            "acme-discord",
            AGENT,
            input,
            None,
            5.0,
        )
        .await;
        receipts.push(
            stack
                .app
                .tools()
                .receipts
                .get(&receipt_id(&r))
                .await
                .expect("get")
                .expect("receipt"),
        );
    }
    // Unreachable provider: the transport error text must not carry the URL either.
    instance_at(&stack, "discord", "dead-discord", "http://127.0.0.1:9", &[]).await;
    let r = invoke_as(
        &stack,
        "discord.interaction_followup",
        "dead-discord",
        AGENT,
        json!({
            "application_id": "100000000000000001", "interaction_token": token, "content": "x"
        }),
        None,
        5.0,
    )
    .await;
    assert!(
        !serde_json::to_string(&r).expect("json").contains(token),
        "{r:?}"
    );
    receipts.push(
        stack
            .app
            .tools()
            .receipts
            .get(&receipt_id(&r))
            .await
            .expect("get")
            .expect("receipt"),
    );
    for receipt in &receipts {
        let text = serde_json::to_string(receipt).expect("json");
        assert!(!text.contains(token), "{text}");
        assert!(
            receipt
                .attempts
                .iter()
                .all(|a| a.path.contains("[redacted]")),
            "{text}"
        );
    }
    assert!(receipts[0].attempts[0]
        .path
        .starts_with("/webhooks/100000000000000001/"));
}

#[tokio::test]
async fn agents_get_public_messages_not_aws_error_chains() {
    let stack = Stack::new().await;
    let slack = Fake::slack().await;
    instance(&stack, "slack", "acme-slack", &slack, &[]).await;
    let outage = Stack {
        app: std::sync::Arc::new(stack.variant("http://127.0.0.1:9", |_| {}).await),
    };
    let r = invoke_as(
        &outage,
        "slack.post_message",
        "acme-slack",
        AGENT,
        json!({"channel": "C1", "text": "x"}),
        None,
        10.0,
    )
    .await;
    let body = serde_json::to_value(&r).expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    for leak in [
        "dispatch",
        "127.0.0.1",
        "connect",
        "DynamoDB",
        "Table",
        "error sending",
    ] {
        assert!(!message.contains(leak), "{leak} in {message}");
    }
    let request_id = body["error"]["request_id"]
        .as_str()
        .expect("a request id for support");
    assert!(request_id.starts_with("req_"), "{request_id}");

    // A failed provider call: the receipt carries the same request id.
    let r = invoke_as(
        &stack,
        "slack.post_message",
        "acme-slack",
        AGENT,
        json!({"channel": "C404", "text": "x"}),
        None,
        5.0,
    )
    .await;
    let body = serde_json::to_value(&r).expect("json");
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(&receipt_id(&r))
        .await
        .expect("get")
        .expect("receipt");
    assert_eq!(
        body["error"]["request_id"].as_str(),
        Some(receipt.request_id.as_str())
    );
    assert_eq!(
        body["error"]["message"], "channel_not_found",
        "the provider's own answer stays"
    );
}
