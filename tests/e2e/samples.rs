//! The sample events in `events/` go through the Lambda adapters (the same code the Lambda mains
//! run) and produce what `events/manifest.json` says.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Stack, NOW};

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

#[tokio::test]
async fn sample_events_behave_as_the_manifest_says() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("manifest.json")).expect("events/manifest.json"),
    )
    .expect("manifest is JSON");
    assert_eq!(
        manifest["timestamp"].as_u64(),
        Some(NOW),
        "samples are signed for NOW"
    );
    let stack = Stack::new().await;
    let entries = manifest["events"].as_array().expect("events array");
    assert!(entries.len() >= 15, "every case is present");
    for entry in entries {
        let file = entry["file"].as_str().expect("file");
        let text = std::fs::read_to_string(events_dir().join(file)).expect("event file");
        match entry["function"].as_str().expect("function") {
            function if function.ends_with("-webhook") => {
                let provider = entry["provider"].as_str().expect("provider");
                let before = stack.ingress_depth().await;
                let request: lambda_http::request::LambdaRequest =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                let response = switchyard_functions::lambda::webhook(
                    stack.app.ingress(),
                    provider,
                    lambda_http::Request::from(request),
                )
                .await
                .expect("response");
                let expected = entry["expect_status"].as_u64().expect("expect_status");
                assert_eq!(u64::from(response.status().as_u16()), expected, "{file}");
                let queued = stack.ingress_depth().await - before;
                let should_queue = expected == 200
                    && !entry["expect_duplicate"].as_bool().unwrap_or(false)
                    && !file.contains("url-verification")
                    && !file.contains("ssl-check")
                    && !file.contains("ping");
                let want = entry["expect_queued"]
                    .as_u64()
                    .unwrap_or(u64::from(should_queue));
                assert_eq!(queued, want, "{file}: messages queued");
            }
            "oauth-start" | "oauth-callback" => {
                let request: lambda_http::request::LambdaRequest =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                let response = switchyard_functions::lambda::oauth(
                    stack.app.oauth(),
                    lambda_http::Request::from(request),
                )
                .await
                .expect("response");
                let expected = entry["expect_status"].as_u64().expect("expect_status");
                assert_eq!(u64::from(response.status().as_u16()), expected, "{file}");
                assert!(
                    stack.app.connections.list().await.expect("list").is_empty(),
                    "{file}"
                );
            }
            "tool" => {
                let tool_id = entry["tool"].as_str().expect("tool");
                let event: serde_json::Value = serde_json::from_str(&text).expect("json");
                let http = event.get("requestContext").is_some();
                let answer = switchyard_functions::lambda::tool(
                    stack.app.tools(),
                    tool_id,
                    lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
                )
                .await
                .expect("tool answers");
                let body: Value = if http {
                    assert_eq!(
                        answer["statusCode"].as_u64(),
                        entry["expect_status"].as_u64(),
                        "{file}"
                    );
                    serde_json::from_str(answer["body"].as_str().expect("body")).expect("json body")
                } else {
                    answer
                };
                match entry["expect_error_code"].as_str() {
                    Some(code) => assert_eq!(body["error"]["code"], code, "{file}: {body}"),
                    None => assert!(body.get("error").is_none(), "{file}: {body}"),
                }
                if tool_id == "discovery" {
                    let tools = body["tools"].as_array().expect("tools");
                    assert!(
                        tools.iter().any(|t| t["tool"] == "slack.post_message"),
                        "{body}"
                    );
                }
            }
            "mcp" => {
                let request: lambda_http::request::LambdaRequest =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                let response = switchyard_functions::lambda::mcp(
                    stack.app.tools(),
                    stack.app.mcp(),
                    lambda_http::Request::from(request),
                    &lambda_runtime::Context::default(),
                )
                .await
                .expect("response");
                let expected = entry["expect_status"].as_u64().expect("expect_status");
                assert_eq!(u64::from(response.status().as_u16()), expected, "{file}");
                if expected == 401 {
                    let challenge = response
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    assert!(
                        challenge.starts_with("Bearer resource_metadata=\""),
                        "{file}: {challenge}"
                    );
                }
            }
            "token-refresher" => {
                let event: serde_json::Value = serde_json::from_str(&text).expect("json");
                let report = switchyard_functions::lambda::refresh_tokens(
                    stack.app.vault(),
                    lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
                )
                .await
                .expect("refresher runs");
                assert_eq!(report.failed, 0, "{file}");
            }
            "ingress-consumer" => {
                let event: aws_lambda_events::event::sqs::SqsEvent =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                let response = switchyard_functions::lambda::consume(
                    stack.app.consumer(),
                    lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
                )
                .await
                .expect("batch response");
                let failed: Vec<&str> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.as_str())
                    .collect();
                let expected: Vec<&str> = entry["expect_failed_message_ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                assert_eq!(failed, expected, "{file}");
            }
            other => panic!("{file}: unknown function {other}"),
        }
    }
    // The webhook cases queued work items; the consumer turns them into agent events.
    stack.drain().await;
    let events = stack.tapped().await;
    assert!(
        events.iter().any(|e| e.event_type == "slack.app_mention"),
        "{events:#?}"
    );
    assert!(events
        .iter()
        .any(|e| e.event_type == "discord.application_command"));
}
