//! Bad input gets a precise status and stores nothing; an unreachable store is a 503.

use switchyard::config::Limits;
use switchyard_ops::local::demo;

use crate::support::{slack_mention, slack_request, Stack, NOW};

#[tokio::test]
async fn bad_requests_get_the_right_status_and_nothing_is_stored() {
    let limits = Limits {
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    };
    let stack = Stack::with_limits(limits).await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let body = slack_mention("EvBad", "C1", "hi");

    let wrong_secret = client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", NOW.to_string())
        .header(
            "x-slack-signature",
            switchyard::verify::sign::slack("not-the-secret", &NOW.to_string(), body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_secret.status(), 401);

    let stale = slack_request(&client, &url, &body, NOW - 301)
        .send()
        .await
        .expect("post");
    assert_eq!(stale.status(), 401);
    let future = slack_request(&client, &url, &body, NOW + 301)
        .send()
        .await
        .expect("post");
    assert_eq!(future.status(), 401);
    let edge = slack_request(
        &client,
        &url,
        &slack_mention("EvEdge", "C1", "x"),
        NOW - 300,
    )
    .send()
    .await
    .expect("post");
    assert_eq!(edge.status(), 200, "exactly 300 s old is inside the window");

    let unsigned = client
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status(), 401);

    let unknown = slack_request(
        &client,
        &format!("{base}/webhooks/slack/no-such"),
        &body,
        NOW,
    )
    .send()
    .await
    .expect("post");
    assert_eq!(unknown.status(), 404);
    let wrong_provider = slack_request(
        &client,
        &format!("{base}/webhooks/slack/{}", demo::DISCORD_INSTANCE),
        &body,
        NOW,
    )
    .send()
    .await
    .expect("post");
    assert_eq!(
        wrong_provider.status(),
        404,
        "a Discord instance is not a Slack one"
    );
    let unknown_provider = slack_request(
        &client,
        &format!("{base}/webhooks/nope/{}", demo::SLACK_INSTANCE),
        &body,
        NOW,
    )
    .send()
    .await
    .expect("post");
    assert_eq!(unknown_provider.status(), 404);

    let huge = slack_mention("EvHuge", "C1", &"x".repeat(64 * 1024));
    let too_large = slack_request(&client, &url, &huge, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(too_large.status(), 413);

    let malformed = slack_request(&client, &url, r#"{"type":"event_callback"}"#, NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(malformed.status(), 400);
    let error: serde_json::Value = malformed.json().await.expect("json error body");
    assert!(
        error["error"]
            .as_str()
            .expect("message")
            .contains("event_id"),
        "{error}"
    );

    // Only the in-window edge case was accepted.
    let deliveries = stack.deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    assert!(deliveries[0].key.ends_with("ev:EvEdge"));
    assert_eq!(stack.ingress_depth().await, 1);
}

#[tokio::test]
async fn unreachable_emulator_is_503_so_the_provider_retries() {
    let stack = Stack::new().await;
    // The same resources, but every AWS call goes to a closed port.
    let app = stack.variant("http://127.0.0.1:9", |_| {}).await;
    let body = slack_mention("EvDown", "C1", "hi");
    let headers = signed_headers(&body);
    let reply = switchyard::ingest::handle(
        app.ingress(),
        "slack",
        demo::SLACK_INSTANCE,
        crate::support::post(&headers, body.as_bytes()),
    )
    .await;
    assert_eq!(reply.status, 503);
    let text = String::from_utf8(reply.body).expect("utf8");
    assert!(
        !text.contains("127.0.0.1"),
        "internal detail leaked: {text}"
    );
    assert_eq!(stack.ingress_depth().await, 0);
}

#[tokio::test]
async fn queue_failure_releases_the_claim_so_the_retry_is_accepted() {
    let stack = Stack::new().await;
    let broken = stack
        .variant(&crate::support::endpoint(), |r| {
            r.ingress_queue_url.push_str("-missing");
        })
        .await;
    let body = slack_mention("EvQ", "C1", "hi");
    let headers = signed_headers(&body);
    let reply = switchyard::ingest::handle(
        broken.ingress(),
        "slack",
        demo::SLACK_INSTANCE,
        crate::support::post(&headers, body.as_bytes()),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert!(
        stack.deliveries().await.is_empty(),
        "the claim was released"
    );

    // Slack retries; now the queue works: accepted and delivered, not taken for a duplicate.
    let reply = switchyard::ingest::handle(
        stack.app.ingress(),
        "slack",
        demo::SLACK_INSTANCE,
        crate::support::post(&headers, body.as_bytes()),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(stack.drain().await, 1);
    assert_eq!(stack.tapped().await.len(), 1);
}

/// The headers Slack would send with `body`, signed with the demo secret at `NOW`.
fn signed_headers(body: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("header"));
    headers.insert(
        "x-slack-request-timestamp",
        NOW.to_string().parse().expect("header"),
    );
    let signature = switchyard::verify::sign::slack(
        demo::SLACK_SIGNING_SECRET,
        &NOW.to_string(),
        body.as_bytes(),
    );
    headers.insert("x-slack-signature", signature.parse().expect("header"));
    headers
}
