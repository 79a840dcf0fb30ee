//! Live integration events over the local host's WebSocket (`GET /ws`), with a real WebSocket
//! client: the agent authenticates (refused without a token, nothing recorded), a tool call's
//! `integration.tool_used` reaches that agent's socket and no other agent's, PlatformEvents
//! reach only subscribed sockets, a gone connection is pruned, and closing removes the record.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchyard::live::LiveConnectionStore;
use switchyard_ops::local::DriverSettings;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::fakes::Fake;
use crate::support::{agent_token, serving_stack, Stack};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const A: &str = "live-agent-a";
const B: &str = "live-agent-b";

fn ws_url(base: &str, query: &str) -> String {
    format!("{}/ws{query}", base.replacen("http://", "ws://", 1))
}

/// Opens `/ws` with the token in the `Authorization` header.
async fn open(base: &str, token: &str, query: &str) -> Socket {
    let mut request = ws_url(base, query).into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade is accepted");
    socket
}

fn store(stack: &Stack) -> LiveConnectionStore {
    LiveConnectionStore::new(
        stack.app.aws.dynamodb(),
        &stack.app.resources.live_connections_table,
    )
}

/// Runs the local fan-out (the `ws-fanout` function's stand-in) until it has handled something.
async fn fan_out(stack: &Stack) {
    let settings = DriverSettings {
        wait_secs: 0,
        ..DriverSettings::default()
    };
    for _ in 0..50 {
        let (received, failed) = switchyard_ops::live::drive_once(&stack.app, settings)
            .await
            .expect("drive the fan-out");
        assert_eq!(failed, 0, "a fan-out failed");
        if received > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no event reached the fan-out's queue");
}

/// The next text message of `socket` as JSON, within `wait`; `None` if none came.
async fn next_event(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return Some(serde_json::from_str(&text).expect("json event"))
            }
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("socket ended: {other:?}"),
            Err(_) => return None,
        }
    }
}

/// Waits until the agent's recorded connections number `count`.
async fn wait_for_connections(stack: &Stack, agent: &str, count: usize) {
    for _ in 0..100 {
        let open = store(stack)
            .for_agent(agent, stack.app.clock.now())
            .await
            .expect("connections");
        if open.len() == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{agent} never had {count} connections");
}

async fn slack_instance(stack: &Stack, fake: &Fake) {
    let settings: Vec<(String, String)> = [
        ("api_base_url", fake.base_url.as_str()),
        ("signing_secret", "s"),
        ("bot_token", "xoxb-test-token"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&stack.app, "slack", "live-slack", "acme", &settings)
        .await
        .expect("instance");
    for agent in [A, B] {
        switchyard_ops::admin::grant(&stack.app, "live-slack", agent, &Default::default())
            .await
            .expect("grant");
    }
}

/// An integration event that names no agent (a tool disabled on the instance).
async fn instance_event(stack: &Stack) -> switchyard::events::IntegrationEvent {
    let instance = stack
        .app
        .instances
        .get("live-slack")
        .await
        .expect("get")
        .expect("instance");
    switchyard::events::IntegrationEvent::tool_disabled(&instance, "slack.post_message", None, 1)
}

#[tokio::test]
async fn a_connection_without_a_valid_token_is_refused_and_not_recorded() {
    let (stack, base) = serving_stack().await;
    for url in [ws_url(&base, ""), ws_url(&base, "?token=sya_forged")] {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 401, "{url}")
            }
            other => panic!("{url}: expected 401, got {other:?}"),
        }
    }
    let scan = stack
        .app
        .aws
        .dynamodb()
        .scan()
        .table_name(&stack.app.resources.live_connections_table)
        .send()
        .await
        .expect("scan");
    assert_eq!(scan.count, 0, "a refused connection left a record");
}

#[tokio::test]
async fn a_tool_call_reaches_the_callers_socket_only_and_closing_forgets_it() {
    let (stack, base) = serving_stack().await;
    let fake = Fake::slack().await;
    slack_instance(&stack, &fake).await;
    let token_a = agent_token(&stack.app, A, "acme").await;
    let token_b = agent_token(&stack.app, B, "acme").await;
    // A in the header, B in the query parameter (the browser way).
    let mut socket_a = open(&base, &token_a, "").await;
    let (mut socket_b, _) =
        tokio_tungstenite::connect_async(ws_url(&base, &format!("?token={token_b}")))
            .await
            .expect("B connects with ?token=");
    let recorded = store(&stack)
        .for_agent(A, stack.app.clock.now())
        .await
        .expect("connections");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].workspace, "acme");
    assert!(!recorded[0].subscriptions.platform);

    let response = reqwest::Client::new()
        .post(format!("{base}/tools/slack/post_message"))
        .bearer_auth(&token_a)
        .json(&json!({"instance_id": "live-slack", "input": {"channel": "C1", "text": "hi"}}))
        .send()
        .await
        .expect("tool call");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["ok"], json!(true), "{body}");
    fan_out(&stack).await;

    let event = next_event(&mut socket_a, Duration::from_secs(5))
        .await
        .expect("A receives its tool_used event");
    assert_eq!(event["type"], json!("integration.tool_used"));
    assert_eq!(event["agent_id"], json!(A));
    assert_eq!(event["source"]["instance_id"], json!("live-slack"));
    assert_eq!(event["tool_call"]["tool"], json!("slack.post_message"));
    assert_eq!(event["tool_call"]["status"], json!("ok"));
    assert_eq!(event["tool_call"]["receipt_id"], body["receipt_id"]);
    assert_eq!(
        next_event(&mut socket_b, Duration::from_millis(300)).await,
        None,
        "B received A's tool call"
    );

    socket_a.close(None).await.expect("close");
    wait_for_connections(&stack, A, 0).await;
    assert!(store(&stack)
        .get(&recorded[0].connection_id)
        .await
        .expect("get")
        .is_none());
    socket_b.send(Message::Close(None)).await.ok();
}

#[tokio::test]
async fn integration_events_reach_every_granted_agent_and_platform_events_only_subscribers() {
    let (stack, base) = serving_stack().await;
    let fake = Fake::slack().await;
    slack_instance(&stack, &fake).await;
    let token_a = agent_token(&stack.app, A, "acme").await;
    let mut plain = open(&base, &token_a, "").await;
    let mut subscribed = open(&base, &token_a, "?events=platform").await;
    wait_for_connections(&stack, A, 2).await;

    // An integration event without an agent: for every agent granted on the instance.
    let event = instance_event(&stack).await;
    stack
        .app
        .tools()
        .sink
        .publish_integration(&event)
        .await
        .expect("publish");
    fan_out(&stack).await;
    for socket in [&mut plain, &mut subscribed] {
        let got = next_event(socket, Duration::from_secs(5))
            .await
            .expect("integration.error");
        assert_eq!(got["type"], json!("integration.error"));
        assert_eq!(got["event_id"], json!(event.event_id));
    }

    // A PlatformEvent for A: only the subscribed socket.
    let platform = json!({"agent_id": A, "type": "slack.app_mention", "event_id": "evt_live"});
    stack
        .app
        .aws
        .events()
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&stack.app.resources.event_bus)
                .source("switchyard.slack")
                .detail_type("slack.app_mention")
                .detail(platform.to_string())
                .build(),
        )
        .send()
        .await
        .expect("put");
    fan_out(&stack).await;
    let got = next_event(&mut subscribed, Duration::from_secs(5))
        .await
        .expect("the subscribed socket gets the PlatformEvent");
    assert_eq!(got["event_id"], json!("evt_live"));
    assert_eq!(
        next_event(&mut plain, Duration::from_millis(300)).await,
        None
    );
}

#[tokio::test]
async fn a_recorded_connection_that_is_gone_is_pruned_by_the_fan_out() {
    let (stack, _base) = serving_stack().await;
    let fake = Fake::slack().await;
    slack_instance(&stack, &fake).await;
    // Recorded, but no socket is open for it here: the host restarted, as API Gateway's 410.
    let now = stack.app.clock.now();
    let gone = switchyard::live::LiveConnection {
        connection_id: "gone-connection".into(),
        agent_id: A.into(),
        workspace: "acme".into(),
        subscriptions: Default::default(),
        connected_at: now,
        expires_at: now + 60,
    };
    store(&stack).put(&gone).await.expect("put");
    let event = instance_event(&stack).await;
    stack
        .app
        .tools()
        .sink
        .publish_integration(&event)
        .await
        .expect("publish");
    fan_out(&stack).await;
    assert!(store(&stack)
        .get("gone-connection")
        .await
        .expect("get")
        .is_none());
    assert!(store(&stack)
        .for_agent(A, now)
        .await
        .expect("query")
        .is_empty());
}

// ---------------------------------------------------------------- the Lambdas

/// A loopback stand-in for API Gateway's management API: records what is posted to each
/// connection, answers 410 Gone (`GoneException`) for connections named `gone-*`.
async fn management_fake() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    type Posted = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;
    async fn post(
        State(posted): State<Posted>,
        Path(id): Path<String>,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        if id.starts_with("gone-") {
            return (
                StatusCode::GONE,
                [("x-amzn-errortype", "GoneException")],
                r#"{"message":"gone"}"#,
            )
                .into_response();
        }
        let value = serde_json::from_slice(&body).expect("json posted");
        posted.lock().expect("lock").push((id, value));
        StatusCode::OK.into_response()
    }
    let posted: Posted = Default::default();
    let router = axum::Router::new()
        .route("/live/@connections/{id}", axum::routing::post(post))
        .with_state(posted.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/live", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    (base, posted)
}

fn lambda_event<T>(payload: T) -> lambda_runtime::LambdaEvent<T> {
    let mut context = lambda_runtime::Context::default();
    context.deadline = u64::try_from(
        (std::time::SystemTime::now() + Duration::from_secs(20))
            .duration_since(std::time::UNIX_EPOCH)
            .expect("now")
            .as_millis(),
    )
    .expect("ms");
    lambda_runtime::LambdaEvent::new(payload, context)
}

fn ws_event(route: &str, connection_id: &str, headers: &Value, query: &Value) -> Value {
    json!({
        "requestContext": {"routeKey": route, "connectionId": connection_id, "eventType": "CONNECT"},
        "headers": headers,
        "queryStringParameters": query,
    })
}

#[tokio::test]
async fn the_connect_lambda_records_authenticated_agents_and_disconnect_forgets_them() {
    let stack = Stack::new().await;
    let token = agent_token(&stack.app, A, "acme").await;
    let tokens = switchyard::mcp::agent_tokens::AgentsTableTokens::new(
        stack.app.tools().agents.clone(),
        stack.app.clock.clone(),
    );
    let settings = switchyard::mcp::Settings::from_values(
        Some("http://127.0.0.1:9/mcp"),
        None,
        None,
        None,
        None,
    )
    .expect("settings");
    let connector = switchyard_functions::live::Connector {
        mcp: switchyard::mcp::Mcp::new(settings, Some(std::sync::Arc::new(tokens))),
        live: store(&stack),
        clock: stack.app.clock.clone(),
    };
    let connect = |id: &str, headers: Value, query: Value| {
        let event = lambda_event(ws_event("$connect", id, &headers, &query));
        switchyard_functions::live::ws_connect(&connector, event)
    };
    let refused = connect("c-none", json!({}), Value::Null)
        .await
        .expect("answer");
    assert_eq!(refused["statusCode"], json!(401));
    let forged = connect("c-forged", json!({}), json!({"token": "sya_forged"}))
        .await
        .expect("answer");
    assert_eq!(forged["statusCode"], json!(401));
    assert!(store(&stack).get("c-none").await.expect("get").is_none());
    assert!(store(&stack).get("c-forged").await.expect("get").is_none());

    let accepted = connect(
        "c-ok",
        json!({"Authorization": format!("Bearer {token}")}),
        json!({"events": "platform"}),
    )
    .await
    .expect("answer");
    assert_eq!(accepted["statusCode"], json!(200));
    let recorded = store(&stack)
        .get("c-ok")
        .await
        .expect("get")
        .expect("recorded");
    assert_eq!(recorded.agent_id, A);
    assert!(recorded.subscriptions.platform);
    assert_eq!(
        recorded.expires_at,
        stack.app.clock.now() + switchyard::live::CONNECTION_TTL_SECS
    );

    let event = lambda_event(ws_event("$disconnect", "c-ok", &json!({}), &Value::Null));
    let answer = switchyard_functions::live::ws_connect(&connector, event)
        .await
        .expect("answer");
    assert_eq!(answer["statusCode"], json!(200));
    assert!(store(&stack).get("c-ok").await.expect("get").is_none());
    assert!(store(&stack)
        .for_agent(A, stack.app.clock.now())
        .await
        .expect("query")
        .is_empty());
}

#[tokio::test]
async fn the_fanout_lambda_posts_through_the_management_api_and_prunes_410_gone() {
    let stack = Stack::new().await;
    let fake = Fake::slack().await;
    slack_instance(&stack, &fake).await;
    let (endpoint, posted) = management_fake().await;
    let now = stack.app.clock.now();
    for id in ["open-1", "gone-1"] {
        store(&stack)
            .put(&switchyard::live::LiveConnection {
                connection_id: id.into(),
                agent_id: A.into(),
                workspace: "acme".into(),
                subscriptions: Default::default(),
                connected_at: now,
                expires_at: now + 60,
            })
            .await
            .expect("put");
    }
    let fanout = switchyard_functions::live::Fanout {
        instances: stack.app.instances.clone(),
        live: store(&stack),
        sink: switchyard_functions::live::ManagementSink::new(&stack.app.aws, &endpoint),
        clock: stack.app.clock.clone(),
    };
    let event = instance_event(&stack).await;
    let bus_event: switchyard::tools::live::BusEvent = serde_json::from_value(json!({
        "version": "0",
        "source": "switchyard.integration",
        "detail-type": event.event_type,
        "detail": event,
    }))
    .expect("bus event");
    let report = switchyard_functions::live::ws_fanout(&fanout, lambda_event(bus_event))
        .await
        .expect("fan-out");
    assert_eq!(
        report,
        switchyard::tools::live::FanOutReport {
            delivered: 1,
            pruned: 1,
            failed: 0
        }
    );
    let posted = posted.lock().expect("lock").clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].0, "open-1");
    assert_eq!(posted[0].1["event_id"], json!(event.event_id));
    assert!(store(&stack).get("gone-1").await.expect("get").is_none());
    assert!(store(&stack).get("open-1").await.expect("get").is_some());
}

// ---------------------------------------------------------------- bench

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

/// A WebSocket echo server on loopback (axum, as the local host): the baseline round trip.
async fn echo_server() -> String {
    use axum::extract::ws::{Message as AxumMessage, WebSocketUpgrade};
    let router = axum::Router::new().route(
        "/echo",
        axum::routing::get(|upgrade: WebSocketUpgrade| async move {
            upgrade.on_upgrade(|mut socket| async move {
                while let Some(Ok(message)) = socket.recv().await {
                    if let AxumMessage::Text(_) = message {
                        if socket.send(message).await.is_err() {
                            return;
                        }
                    }
                }
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}/echo", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    url
}

/// Time from publishing an integration event to the agent bus until the agent's WebSocket client
/// receives it, on the local stack (EventBridge rule → the fan-out's stand-in queue, long-polled
/// by the local host's driver → `GET /ws`), beside a WebSocket echo round trip on the same host
/// in the same run, as a ratio. The target is < 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by infra/bench.sh"]
async fn bench_live_event_latency() {
    let (stack, base) = serving_stack().await;
    let fake = Fake::slack().await;
    slack_instance(&stack, &fake).await;
    let token = agent_token(&stack.app, A, "acme").await;
    tokio::spawn(switchyard_ops::live::drive(
        stack.app.clone(),
        DriverSettings::default(),
    ));
    let mut socket = open(&base, &token, "").await;
    let instance = stack
        .app
        .instances
        .get("live-slack")
        .await
        .expect("get")
        .expect("instance");
    let n = 30;
    let mut live = Vec::with_capacity(n);
    // Of which the PutEvents call to the emulator.
    let mut publish = Vec::with_capacity(n);
    for i in 0..n + 3 {
        let call = switchyard::events::ToolCall {
            tool: "slack.post_message".into(),
            receipt_id: format!("rcpt_bench_{i}"),
            status: "ok".into(),
            cost: None,
            cost_usd: None,
        };
        let event = switchyard::events::IntegrationEvent::tool_used(&instance, A, call, 1);
        let started = std::time::Instant::now();
        stack
            .app
            .tools()
            .sink
            .publish_integration(&event)
            .await
            .expect("publish");
        let published = started.elapsed().as_secs_f64() * 1000.0;
        let got = next_event(&mut socket, Duration::from_secs(10))
            .await
            .expect("the event arrives");
        assert_eq!(got["event_id"], json!(event.event_id));
        // The first few warm the driver's connections.
        if i >= 3 {
            live.push(started.elapsed().as_secs_f64() * 1000.0);
            publish.push(published);
        }
    }
    let (mut echo, _) = tokio_tungstenite::connect_async(echo_server().await)
        .await
        .expect("echo");
    let mut baseline = Vec::with_capacity(n);
    for i in 0..n + 3 {
        let started = std::time::Instant::now();
        echo.send(Message::Text(format!("{{\"n\":{i}}}").into()))
            .await
            .expect("send");
        next_event(&mut echo, Duration::from_secs(5))
            .await
            .expect("echo");
        if i >= 3 {
            baseline.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    for times in [&mut live, &mut publish, &mut baseline] {
        times.sort_by(f64::total_cmp);
    }
    for (label, times) in [
        ("baseline: WebSocket echo round trip", &baseline),
        ("publish to client receipt", &live),
        ("of which PutEvents to the emulator", &publish),
    ] {
        println!(
            "live events {label}: n={n} p50={:.1} ms p95={:.1} ms",
            percentile(times, 0.5),
            percentile(times, 0.95)
        );
    }
    println!(
        "live events ratio publish-to-receipt/echo: p50 x{:.1} p95 x{:.1} (target: p95 < 100 ms)",
        percentile(&live, 0.5) / percentile(&baseline, 0.5),
        percentile(&live, 0.95) / percentile(&baseline, 0.95)
    );
}
