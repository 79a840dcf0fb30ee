//! Agent sessions with checkpoints and prompt templates on the local host, with agent tokens:
//! create/get/checkpoint/resume, concurrent checkpoint writers (exactly one wins), another
//! agent's session is not found, the context cap, status transitions, renders that follow the
//! agent's grants and their cache; and the benches of session initialization and renders.

use serde_json::{json, Value};

use crate::support::{bearer, serving_stack};
use switchyard_ops::local::demo;

/// A JSON request with an agent token; answers (status, body).
async fn call(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn post(base: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(base, token, reqwest::Method::POST, path, Some(body)).await
}

async fn get(base: &str, token: &str, path: &str) -> (u16, Value) {
    call(base, token, reqwest::Method::GET, path, None).await
}

async fn new_session(base: &str, token: &str, context: Value) -> String {
    let (status, body) = post(base, token, "/sessions", json!({"context": context})).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_session_checkpoints_resumes_and_ends() {
    let (_stack, base) = serving_stack().await;
    let token = bearer(&base, "agent-sess-a", "acme").await;
    let other = bearer(&base, "agent-sess-b", "acme").await;

    let (status, created) = post(
        &base,
        &token,
        "/sessions",
        json!({"context": {"customer": "Ada"}, "group_id": "thread-7"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "running");
    assert_eq!(created["agent_id"], "agent-sess-a");
    assert_eq!(created["workspace"], "acme");
    assert_eq!(created["group_id"], "thread-7");
    assert_eq!(created["last_checkpoint"], 0);
    let id = created["id"].as_str().expect("id");
    let path = format!("/sessions/{id}");

    let (status, read) = get(&base, &token, &path).await;
    assert_eq!(
        (status, &read["context"]),
        (200, &json!({"customer": "Ada"}))
    );
    // Another agent, even of the same workspace, sees nothing: not found, as for a missing id.
    assert_eq!(get(&base, &other, &path).await.0, 404);
    assert_eq!(get(&base, &token, "/sessions/ses_missing").await.0, 404);
    let (status, _) = post(
        &base,
        &other,
        &format!("{path}/checkpoints"),
        json!({"number": 1, "state": {}}),
    )
    .await;
    assert_eq!(status, 404);
    // No credential at all.
    let anonymous = reqwest::get(format!("{base}{path}")).await.expect("get");
    assert_eq!(anonymous.status().as_u16(), 401);
    // The body cannot name another owner.
    let (status, _) = post(
        &base,
        &token,
        "/sessions",
        json!({"agent_id": "agent-sess-b"}),
    )
    .await;
    assert_eq!(status, 400);

    let (status, resumed) = post(&base, &token, &format!("{path}/resume"), json!({})).await;
    assert_eq!((status, &resumed["checkpoint"]), (200, &Value::Null));

    let checkpoint = |number: u64, step: &str| {
        let (base, token, path) = (base.clone(), token.clone(), path.clone());
        let step = step.to_owned();
        async move {
            post(
                &base,
                &token,
                &format!("{path}/checkpoints"),
                json!({"number": number, "state": {"step": step}}),
            )
            .await
        }
    };
    assert_eq!(checkpoint(1, "fetched").await.0, 201);
    let (status, stale) = checkpoint(1, "again").await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["error"]["code"], "stale_checkpoint");
    assert_eq!(stale["error"]["current"], 1);
    let (status, ahead) = checkpoint(3, "skipped").await;
    assert_eq!((status, &ahead["error"]["current"]), (409, &json!(1)));
    assert_eq!(checkpoint(2, "drafted").await.0, 201);

    let (status, paused) = post(
        &base,
        &token,
        &format!("{path}/status"),
        json!({"status": "paused"}),
    )
    .await;
    assert_eq!((status, &paused["status"]), (200, &json!("paused")));
    let (status, resumed) = post(&base, &token, &format!("{path}/resume"), json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["checkpoint"]["number"], 2);
    assert_eq!(resumed["checkpoint"]["state"], json!({"step": "drafted"}));
    assert_eq!(resumed["session"]["status"], "running");
    assert_eq!(get(&base, &token, &path).await.1["status"], "running");

    let (status, _) = post(
        &base,
        &token,
        &format!("{path}/status"),
        json!({"status": "bogus"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, done) = post(
        &base,
        &token,
        &format!("{path}/status"),
        json!({"status": "completed"}),
    )
    .await;
    assert_eq!((status, &done["status"]), (200, &json!("completed")));
    // Ended is ended: no status change, no checkpoint, no resume.
    for to in ["running", "paused", "failed"] {
        let (status, refused) = post(
            &base,
            &token,
            &format!("{path}/status"),
            json!({"status": to}),
        )
        .await;
        assert_eq!(status, 409, "{to}: {refused}");
        assert_eq!(refused["error"]["code"], "session_ended");
    }
    let (status, refused) = checkpoint(3, "late").await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("session_ended"))
    );
    assert_eq!(
        post(&base, &token, &format!("{path}/resume"), json!({}))
            .await
            .0,
        409
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_of_the_same_checkpoint_number_one_wins_one_gets_409() {
    let (_stack, base) = serving_stack().await;
    let token = bearer(&base, "agent-sess-race", "acme").await;
    for round in 0..5 {
        let id = new_session(&base, &token, json!({})).await;
        let path = format!("/sessions/{id}/checkpoints");
        let write = |writer: &'static str| {
            let (base, token, path) = (base.clone(), token.clone(), path.clone());
            tokio::spawn(async move {
                post(
                    &base,
                    &token,
                    &path,
                    json!({"number": 1, "state": {"writer": writer}}),
                )
                .await
            })
        };
        let (a, b) = tokio::join!(write("a"), write("b"));
        let (a, b) = (a.expect("a"), b.expect("b"));
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}: {a:?} {b:?}");
        let winner = if a.0 == 201 { "a" } else { "b" };
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        assert_eq!(loser["error"]["current"], 1);
        // The stored checkpoint is the winner's, not overwritten by the loser.
        let (_, resumed) = post(&base, &token, &format!("/sessions/{id}/resume"), json!({})).await;
        assert_eq!(resumed["checkpoint"]["state"]["writer"], winner);
    }
}

#[tokio::test]
async fn a_context_over_the_cap_is_413_naming_the_cap() {
    let (_stack, base) = serving_stack().await;
    let token = bearer(&base, "agent-sess-cap", "acme").await;
    let cap = switchyard::tools::sessions::MAX_CONTEXT_BYTES;
    let (status, body) = post(
        &base,
        &token,
        "/sessions",
        json!({"context": {"blob": "x".repeat(cap)}}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    assert_eq!(body["error"]["limit"], cap);
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains(&cap.to_string())));
    // Just under the cap is accepted.
    let fits = "x".repeat(cap - 100);
    let (status, _) = post(
        &base,
        &token,
        "/sessions",
        json!({"context": {"blob": fits}}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(&base, &token, "/sessions", json!({"context": [1, 2]})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_render_lists_the_granted_tools_and_changes_with_a_new_grant() {
    let (stack, base) = serving_stack().await;
    let agent = "agent-sess-render";
    let token = bearer(&base, agent, demo::WORKSPACE).await;

    let (status, list) = get(&base, &token, "/templates").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(ids.contains(&"daily-digest"), "{ids:?}");

    // Missing variables are named.
    let (status, missing) = post(
        &base,
        &token,
        "/templates/daily-digest/render",
        json!({"context": {"channel": "#ops"}}),
    )
    .await;
    assert_eq!(status, 400, "{missing}");
    assert_eq!(missing["error"]["code"], "missing_variables");
    assert_eq!(missing["error"]["missing"], json!(["team", "max_bullets"]));
    assert_eq!(
        post(&base, &token, "/templates/nope/render", json!({}))
            .await
            .0,
        404
    );

    // From a session's context; nothing granted yet: no tools, slack not connected.
    let context = json!({"channel": "#ops", "team": "Platform", "max_bullets": 5});
    let session = new_session(&base, &token, context.clone()).await;
    let render = |body: Value| {
        let (base, token) = (base.clone(), token.clone());
        async move { post(&base, &token, "/templates/daily-digest/render", body).await }
    };
    let (status, before) = render(json!({"session_id": session})).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["prompt"],
        "You write the daily digest of channel #ops for Platform. Summarise decisions, open \
         questions and owners in at most 5 bullets, then post the digest to the same channel."
    );
    assert_eq!(before["tools"], json!([]));
    assert_eq!(before["missing_integrations"], json!(["slack"]));
    assert_eq!(before["cached"], false);
    // The same render again comes from the warm cache; a given context renders the same.
    let (_, again) = render(json!({"context": context})).await;
    assert_eq!(again["cached"], true);
    assert_eq!(again["prompt"], before["prompt"]);

    // A new grant changes the integration state, so the render.
    switchyard_ops::admin::grant(&stack.app, demo::SLACK_INSTANCE, agent, &Default::default())
        .await
        .expect("grant");
    let (status, after) = render(json!({"session_id": session})).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["cached"], false);
    assert_eq!(after["missing_integrations"], json!([]));
    assert_ne!(after["integration_state"], before["integration_state"]);
    let tools: Vec<&str> = after["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["tool"].as_str())
        .collect();
    assert!(tools.contains(&"slack.post_message"), "{tools:?}");
    assert!(tools.iter().all(|t| t.starts_with("slack.")), "{tools:?}");

    // Another agent's session cannot feed a render.
    let other = bearer(&base, "agent-sess-other", demo::WORKSPACE).await;
    let (status, _) = post(
        &base,
        &other,
        "/templates/daily-digest/render",
        json!({"session_id": session}),
    )
    .await;
    assert_eq!(status, 404);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

async fn timed<F, Fut>(n: usize, mut f: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = std::time::Instant::now();
        f().await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times
}

fn report(what: &str, rows: &[(&str, &[f64])], target_ms: f64) {
    for (label, times) in rows {
        println!(
            "{what} {label}: n={} p50={:.1} ms p95={:.1} ms",
            times.len(),
            percentile(times, 0.5),
            percentile(times, 0.95)
        );
    }
    let (measured, baseline) = (rows[0].1, rows[rows.len() - 1].1);
    println!(
        "{what} ratio {}/{}: p50 x{:.1} p95 x{:.1} (target: p95 < {target_ms} ms)",
        rows[0].0,
        rows[rows.len() - 1].0,
        percentile(measured, 0.5) / percentile(baseline, 0.5),
        percentile(measured, 0.95) / percentile(baseline, 0.95)
    );
}

/// Session initialization (`POST /sessions` on the local host: authentication, one conditional
/// PutItem) beside `GET /healthz` on the same host in the same run. Target < 500 ms.
#[tokio::test]
#[ignore = "benchmark: run by infra/bench.sh"]
async fn bench_session_init() {
    let (_stack, base) = serving_stack().await;
    let token = bearer(&base, "agent-sess-bench", "acme").await;
    let client = reqwest::Client::new();
    let n = 100;
    new_session(&base, &token, json!({})).await;
    let baseline = timed(n, || async {
        let r = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert!(r.status().is_success());
    })
    .await;
    let create = timed(n, || async {
        let r = client
            .post(format!("{base}/sessions"))
            .bearer_auth(&token)
            .json(&json!({"context": {"customer": "Ada", "channel": "#ops"}}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status().as_u16(), 201);
    })
    .await;
    report(
        "session init",
        &[("POST /sessions", &create), ("GET /healthz", &baseline)],
        500.0,
    );
}

/// A render (`POST /templates/{id}/render`: authentication, discovery, interpolation) uncached
/// (a new context each time) and cached, beside `GET /healthz` in the same run. Target < 100 ms.
#[tokio::test]
#[ignore = "benchmark: run by infra/bench.sh"]
async fn bench_template_render() {
    let (stack, base) = serving_stack().await;
    let agent = "agent-sess-bench-render";
    let token = bearer(&base, agent, demo::WORKSPACE).await;
    switchyard_ops::admin::grant(&stack.app, demo::SLACK_INSTANCE, agent, &Default::default())
        .await
        .expect("grant");
    let client = reqwest::Client::new();
    let n = 100;
    let render = |i: usize| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let r = client
                .post(format!("{base}/templates/daily-digest/render"))
                .bearer_auth(&token)
                .json(
                    &json!({"context": {"channel": "#ops", "team": "Platform", "max_bullets": i}}),
                )
                .send()
                .await
                .expect("render");
            assert_eq!(r.status().as_u16(), 200);
            let body: Value = r.json().await.expect("json");
            body["cached"].as_bool().expect("cached")
        }
    };
    render(0).await;
    let mut i = 0;
    let uncached = timed(n, || {
        i += 1;
        let fut = render(i);
        async move { assert!(!fut.await) }
    })
    .await;
    let cached = timed(n, || {
        let fut = render(1);
        async move { assert!(fut.await) }
    })
    .await;
    let baseline = timed(n, || async {
        let r = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert!(r.status().is_success());
    })
    .await;
    report(
        "template render",
        &[
            ("uncached", &uncached),
            ("cached", &cached),
            ("GET /healthz", &baseline),
        ],
        100.0,
    );
}

/// An HTTP API (payload 2.0) request to the sessions function whose IAM authorizer verified
/// `arn`.
fn lambda_request(arn: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example"},
        "isBase64Encoded": false,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "sw1tchyrd0",
            "domainName": "api.example",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7", "userAgent": "agent"},
            "requestId": "r1",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64,
        },
    });
    if let Some(arn) = arn {
        event["requestContext"]["authorizer"] = json!({"iam": {"accessKey": "AKIDEXAMPLE",
            "accountId": "123456789012", "callerId": "AROAEXAMPLE:agent", "userArn": arn,
            "userId": "AROAEXAMPLE:agent"}});
    }
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    event
}

async fn through_lambda(stack: &crate::support::Stack, event: Value) -> (u16, Value) {
    let request: lambda_http::request::LambdaRequest =
        serde_json::from_value(event).expect("payload 2.0 request");
    let response = switchyard_functions::lambda::sessions(
        stack.app.tools(),
        lambda_http::Request::from(request),
        &lambda_runtime::Context::default(),
    )
    .await
    .expect("response");
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).expect("json"),
        other => panic!("unexpected body {other:?}"),
    };
    (status, body)
}

/// The Lambda adapter takes the agent from the IAM principal API Gateway verified, and serves
/// the same routes as the local host; without a credential it is 401.
#[tokio::test]
async fn the_sessions_lambda_takes_the_agent_from_the_iam_principal() {
    let stack = crate::support::Stack::new().await;
    let arn = "arn:aws:sts::123456789012:assumed-role/sessions-runtime/agent";
    stack
        .app
        .tools()
        .agents
        .create_agent(&switchyard::agents::Agent {
            id: "agent-sess-iam".into(),
            workspace: "acme".into(),
            iam_arns: vec![arn.into()],
            may_act_for_users: false,
            status: switchyard::agents::AgentStatus::Active,
            created_at: stack.app.clock.now(),
        })
        .await
        .expect("agent");
    let create = json!({"context": {"k": "v"}});
    let (status, created) = through_lambda(
        &stack,
        lambda_request(Some(arn), "POST", "/sessions", Some(&create)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["agent_id"], "agent-sess-iam");
    let path = format!("/sessions/{}", created["id"].as_str().expect("id"));
    let (status, read) =
        through_lambda(&stack, lambda_request(Some(arn), "GET", &path, None)).await;
    assert_eq!((status, &read["context"]), (200, &json!({"k": "v"})));
    let (status, _) = through_lambda(&stack, lambda_request(None, "GET", &path, None)).await;
    assert_eq!(status, 401);
    let unknown = "arn:aws:sts::123456789012:assumed-role/someone-else/x";
    let (status, _) =
        through_lambda(&stack, lambda_request(Some(unknown), "GET", &path, None)).await;
    assert_eq!(status, 401);
}
