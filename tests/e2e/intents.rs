//! Scheduled task intents end to end against the emulator's EventBridge Scheduler and the Slack
//! fake: `POST /intents` makes a schedule in the group; the local host's driver fires it when
//! due and the worker runs the tool once as the agent; list/show/cancel/retry; a failing
//! provider retries with backoff then ends `failed` with `integration.error`; a duplicate fire
//! of the same occurrence reaches the provider once; another agent sees nothing; bad requests
//! get precise 400s and no credential a 401.

use serde_json::{json, Value};
use switchyard::intents::{WorkerInput, SCHEDULED_TIME};
use switchyard::tools::intents::worker::{self, Outcome};
use switchyard::tools::intents::{at_expression, cron::Cron};
use switchyard_ops::intents::{fire_due, CronMemory};

use crate::fakes::{Fake, Scripted};
use crate::support::{bearer, serving_stack, Stack};

const AGENT: &str = "agent-intents";
const OTHER: &str = "agent-other";
const SLACK: &str = "intents-slack";

async fn setup() -> (Stack, String, Fake) {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    let settings: Vec<(String, String)> = vec![
        ("api_base_url".into(), slack.base_url.clone()),
        ("signing_secret".into(), "s".into()),
        ("bot_token".into(), "xoxb-test-token".into()),
    ];
    switchyard_ops::admin::create_instance(&stack.app, "slack", SLACK, "acme", &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&stack.app, SLACK, AGENT, &Default::default())
        .await
        .expect("grant");
    (stack, base, slack)
}

async fn request(
    base: &str,
    agent: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(agent) = agent {
        req = req.bearer_auth(bearer(base, agent, "acme").await);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn post_message(text: &str, run_at: u64, key: &str) -> Value {
    json!({
        "tool": "slack.post_message",
        "instance_id": SLACK,
        "input": {"channel": "C1", "text": text},
        "run_at": switchyard::clock::rfc3339(run_at),
        "idempotency_key": key,
    })
}

fn posts(slack: &Fake) -> usize {
    slack.count("POST", "/chat.postMessage")
}

async fn schedule_names(stack: &Stack) -> Vec<String> {
    stack
        .app
        .tools()
        .schedules
        .names()
        .await
        .expect("list schedules")
}

#[tokio::test]
async fn a_due_intent_fires_once_and_succeeds_with_its_receipt() {
    let (stack, base, slack) = setup().await;
    let now = stack.app.clock.now();
    let (status, created) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("later", now + 60, "k1")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "scheduled");
    assert_eq!(created["agent_id"], AGENT);
    let id = created["id"].as_str().expect("id").to_owned();

    // The schedule is in the emulator's group, a one-off targeting the worker.
    let names = schedule_names(&stack).await;
    assert_eq!(names.len(), 1, "{names:?}");
    let schedule = stack
        .app
        .tools()
        .schedules
        .get(&names[0])
        .await
        .expect("get")
        .expect("the schedule");
    assert_eq!(schedule.expression, at_expression(now + 60));
    let input: WorkerInput = serde_json::from_str(&schedule.input).expect("worker input");
    assert_eq!(input.intent_id, id);
    assert_eq!(input.scheduled_time, SCHEDULED_TIME);

    // The same idempotency key is the same intent; another request under it is a conflict.
    let (status, again) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("later", now + 60, "k1")),
    )
    .await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));
    let (status, clash) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("other text", now + 60, "k1")),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(clash["error"]["code"], "idempotency_conflict");
    assert_eq!(schedule_names(&stack).await.len(), 1);

    // Not due yet: nothing fires.
    let memory = CronMemory::default();
    let fired = fire_due(&stack.app, now + 59, &memory).await.expect("fire");
    assert!(fired.is_empty(), "{fired:?}");
    assert_eq!(posts(&slack), 0);

    stack.app.clock.set(now + 60);
    let fired = fire_due(&stack.app, now + 60, &memory).await.expect("fire");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(posts(&slack), 1);
    assert!(
        schedule_names(&stack).await.is_empty(),
        "a one-off is deleted after it fired"
    );

    let (status, shown) = request(
        &base,
        Some(AGENT),
        reqwest::Method::GET,
        &format!("/intents/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert_eq!(shown["attempts"], 1);
    let receipt_id = shown["last_receipt_id"].as_str().expect("receipt id");
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(receipt_id)
        .await
        .expect("receipts")
        .expect("the run's receipt");
    assert_eq!(receipt.agent_id, AGENT);
    assert_eq!(receipt.tool, "slack.post_message");

    // A duplicate delivery of the same occurrence runs nothing.
    let duplicate = WorkerInput {
        scheduled_time: switchyard::clock::rfc3339(now + 60),
        ..input
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let outcome = worker::run(stack.app.tools(), &duplicate, deadline).await;
    assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
    assert_eq!(posts(&slack), 1);

    // Cancelling an ended intent is a conflict.
    let (status, ended) = request(
        &base,
        Some(AGENT),
        reqwest::Method::DELETE,
        &format!("/intents/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(ended["error"]["code"], "intent_ended");
}

#[tokio::test]
async fn a_redelivered_occurrence_in_flight_reaches_the_provider_once() {
    let (stack, base, slack) = setup().await;
    let now = stack.app.clock.now();
    let (status, created) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("twice?", now + 30, "dup")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let input = WorkerInput {
        intent_id: created["id"].as_str().expect("id").into(),
        agent_id: AGENT.into(),
        scheduled_time: switchyard::clock::rfc3339(now + 30),
    };
    stack.app.clock.set(now + 30);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let tools = stack.app.tools();
    let (a, b) = tokio::join!(
        worker::run(tools, &input, deadline),
        worker::run(tools, &input, deadline)
    );
    assert_eq!(posts(&slack), 1, "{a:?} {b:?}");
    let ran = [&a, &b]
        .iter()
        .filter(|o| matches!(o, Outcome::Ran(_)))
        .count();
    assert!(ran <= 1, "{a:?} {b:?}");
    let stored = tools
        .intents
        .get(AGENT, &input.intent_id)
        .await
        .expect("get")
        .expect("intent");
    assert_eq!(stored.status.as_str(), "succeeded");
}

#[tokio::test]
async fn list_show_cancel_and_another_agent_sees_nothing() {
    let (stack, base, slack) = setup().await;
    let now = stack.app.clock.now();
    let (_, first) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("one", now + 120, "a")),
    )
    .await;
    let (status, second) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(json!({
            "tool": "slack.post_message",
            "instance_id": SLACK,
            "input": {"channel": "C1", "text": "hourly"},
            "cron": "0 * * * ? *",
        })),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["cron"], "0 * * * ? *");
    let id = first["id"].as_str().expect("id").to_owned();

    let (status, listed) =
        request(&base, Some(AGENT), reqwest::Method::GET, "/intents", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["intents"]
        .as_array()
        .expect("intents")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(ids.contains(&id.as_str()));

    // Another agent of the workspace: an empty list, 404 for the id, and it cannot cancel.
    let (_, theirs) = request(&base, Some(OTHER), reqwest::Method::GET, "/intents", None).await;
    assert_eq!(theirs["intents"], json!([]));
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let (status, body) =
            request(&base, Some(OTHER), method, &format!("/intents/{id}"), None).await;
        assert_eq!(status, 404, "{body}");
    }
    let (status, _) = request(
        &base,
        Some(OTHER),
        reqwest::Method::POST,
        &format!("/intents/{id}/retry"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Without a credential: 401.
    let (status, _) = request(&base, None, reqwest::Method::GET, "/intents", None).await;
    assert_eq!(status, 401);

    assert_eq!(schedule_names(&stack).await.len(), 2);
    let (status, cancelled) = request(
        &base,
        Some(AGENT),
        reqwest::Method::DELETE,
        &format!("/intents/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let left = schedule_names(&stack).await;
    assert_eq!(left.len(), 1, "only the cron schedule is left: {left:?}");
    assert!(left[0].ends_with("-cron"));
    // Past its time, the cancelled intent never fires (even if a delivery were in flight).
    stack.app.clock.set(now + 200);
    let memory = CronMemory::default();
    fire_due(&stack.app, now + 200, &memory)
        .await
        .expect("fire");
    let input = WorkerInput {
        intent_id: id.clone(),
        agent_id: AGENT.into(),
        scheduled_time: switchyard::clock::rfc3339(now + 120),
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let outcome = worker::run(stack.app.tools(), &input, deadline).await;
    assert!(matches!(outcome, Outcome::Skipped(_)), "{outcome:?}");
    assert_eq!(posts(&slack), 0);

    // The cron intent fires at its next occurrence and stays scheduled.
    let cron_id = second["id"].as_str().expect("id");
    let next = Cron::parse("0 * * * ? *")
        .expect("cron")
        .next_after(now + 200)
        .expect("next");
    stack.app.clock.set(next);
    let fired = fire_due(&stack.app, next, &memory).await.expect("fire");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(posts(&slack), 1);
    let (_, shown) = request(
        &base,
        Some(AGENT),
        reqwest::Method::GET,
        &format!("/intents/{cron_id}"),
        None,
    )
    .await;
    assert_eq!(shown["status"], "scheduled", "{shown}");
    assert!(shown["last_receipt_id"].is_string());
    // The same occurrence again: nothing.
    fire_due(&stack.app, next + 30, &memory)
        .await
        .expect("fire");
    assert_eq!(posts(&slack), 1);

    // The operator's CLI sees and cancels it.
    let out = crate::cli::cli(&stack, &["intent", "list", "--agent", AGENT])
        .await
        .expect("intent list");
    assert!(out.contains(cron_id), "{out}");
    let out = crate::cli::cli(&stack, &["intent", "cancel", cron_id])
        .await
        .expect("intent cancel");
    assert!(out.contains("\"cancelled\""), "{out}");
    assert!(schedule_names(&stack).await.is_empty());
}

#[tokio::test]
async fn a_failing_provider_retries_with_backoff_then_fails_and_tells_the_agent() {
    let (stack, base, slack) = setup().await;
    let now = stack.app.clock.now();
    slack.script(
        "/chat.postMessage",
        // Retryable (a Retry-After beyond the run's deadline fails fast as retryable).
        (0..3).map(|_| Scripted::rate_limited_slack(120)).collect(),
    );
    let (status, created) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("flaky", now + 10, "f")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    stack.tapped_raw().await;
    let memory = CronMemory::default();

    let mut t = now + 10;
    let mut delays = Vec::new();
    for run in 1..=3u32 {
        stack.app.clock.set(t);
        let fired = fire_due(&stack.app, t, &memory).await.expect("fire");
        assert_eq!(fired.len(), 1, "run {run}: {fired:?}");
        let stored = stack
            .app
            .tools()
            .intents
            .get(AGENT, &id)
            .await
            .expect("get")
            .expect("intent");
        assert_eq!(stored.attempts, run);
        assert_eq!(stored.last_error_code.as_deref(), Some("rate_limited"));
        if run < 3 {
            assert_eq!(stored.status.as_str(), "scheduled", "run {run}");
            let next = stored.next_attempt_at.expect("a retry is scheduled");
            delays.push(next - t);
            // Not before its backoff.
            assert!(fire_due(&stack.app, next - 1, &memory)
                .await
                .expect("fire")
                .is_empty());
            t = next;
        } else {
            assert_eq!(stored.status.as_str(), "failed");
            assert_eq!(stored.next_attempt_at, None);
        }
    }
    assert_eq!(delays, vec![worker::backoff(1), worker::backoff(2)]);
    assert!(delays[1] > delays[0], "exponential: {delays:?}");
    assert_eq!(posts(&slack), 3);
    assert!(schedule_names(&stack).await.is_empty());
    let errors: Vec<_> = stack
        .tapped_raw()
        .await
        .into_iter()
        .filter(|e| e.detail_type == "integration.error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].agent_id.as_deref(), Some(AGENT));
    assert_eq!(errors[0].detail["reason"], "intent_failed");

    // Retry: scheduled again a few seconds from now, and the provider works this time.
    let (status, retried) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        &format!("/intents/{id}/retry"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["status"], "scheduled");
    assert_eq!(retried["attempts"], 0);
    let (status, twice) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        &format!("/intents/{id}/retry"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(twice["error"]["code"], "not_failed");
    let later = stack.app.clock.now() + 60;
    stack.app.clock.set(later);
    fire_due(&stack.app, later, &memory).await.expect("fire");
    assert_eq!(posts(&slack), 4);
    let stored = stack
        .app
        .tools()
        .intents
        .get(AGENT, &id)
        .await
        .expect("get")
        .expect("intent");
    assert_eq!(stored.status.as_str(), "succeeded");

    // A failure that cannot pass by retrying (a 503 to a POST: the outcome is unknown, and a
    // second post could duplicate the message) fails at once.
    slack.script("/chat.postMessage", vec![Scripted::server_error(503)]);
    let at = stack.app.clock.now() + 10;
    let (_, created) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("unknown", at, "u")),
    )
    .await;
    stack.app.clock.set(at);
    fire_due(&stack.app, at, &memory).await.expect("fire");
    let stored = stack
        .app
        .tools()
        .intents
        .get(AGENT, created["id"].as_str().expect("id"))
        .await
        .expect("get")
        .expect("intent");
    assert_eq!(stored.status.as_str(), "failed");
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.last_error_code.as_deref(), Some("outcome_unknown"));
    assert_eq!(posts(&slack), 5);
    assert!(
        schedule_names(&stack).await.is_empty(),
        "no retry scheduled"
    );
}

#[tokio::test]
async fn bad_requests_get_precise_errors_and_nothing_is_scheduled() {
    let (stack, base, _slack) = setup().await;
    let now = stack.app.clock.now();
    let at = switchyard::clock::rfc3339(now + 60);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "input": {"channel": "C1", "text": "x"}}),
            400,
            "invalid_schedule",
            "exactly one of run_at and cron",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "input": {"channel": "C1", "text": "x"}, "run_at": at, "cron": "0 * * * ? *"}),
            400,
            "invalid_schedule",
            "exactly one",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "input": {"channel": "C1", "text": "x"}, "run_at": switchyard::clock::rfc3339(now - 1)}),
            400,
            "invalid_schedule",
            "not in the future",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "input": {"channel": "C1", "text": "x"}, "run_at": switchyard::clock::rfc3339(now + 400 * 86_400)}),
            400,
            "invalid_schedule",
            "days ahead",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "input": {"channel": "C1", "text": "x"}, "run_at": "tomorrow"}),
            400,
            "invalid_schedule",
            "RFC 3339",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "input": {"channel": "C1", "text": "x"}, "cron": "* * * * *"}),
            400,
            "invalid_schedule",
            "6 fields",
        ),
        (
            json!({"tool": "slack.nope", "instance_id": SLACK, "input": {}, "run_at": at}),
            400,
            "unknown_tool",
            "slack.nope",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "input": {"channel": 7}, "run_at": at}),
            400,
            "invalid_input",
            "schema",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": "no-such", "input": {"channel": "C1", "text": "x"}, "run_at": at}),
            404,
            "not_found",
            "no such instance",
        ),
        (
            json!({"tool": "slack.post_message", "instance_id": SLACK, "agent_id": "someone", "run_at": at}),
            400,
            "invalid_request",
            "agent_id",
        ),
    ];
    for (body, status, code, message) in cases {
        let (got, answer) = request(
            &base,
            Some(AGENT),
            reqwest::Method::POST,
            "/intents",
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} -> {answer}");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{body} -> {answer}");
    }
    // An agent not granted the instance.
    let (status, answer) = request(
        &base,
        Some(OTHER),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("x", now + 60, "o")),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(schedule_names(&stack).await.is_empty());
}

/// A gated tool: the run is answered `approval_required`, so the intent ends `failed` with the
/// approval's id and the provider is not called; the approval carries the call from there (no
/// `integration.error`: the agent hears `integration.approval_resolved` when it is decided).
#[tokio::test]
async fn a_gated_run_ends_failed_with_its_approval() {
    let (stack, base) = serving_stack().await;
    let slack = Fake::slack().await;
    let settings: Vec<(String, String)> = vec![
        ("api_base_url".into(), slack.base_url.clone()),
        ("signing_secret".into(), "s".into()),
        ("bot_token".into(), "xoxb-test-token".into()),
        ("approval_required".into(), "slack.post_message".into()),
    ];
    switchyard_ops::admin::create_instance(&stack.app, "slack", SLACK, "acme", &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&stack.app, SLACK, AGENT, &Default::default())
        .await
        .expect("grant");
    let now = stack.app.clock.now();
    let (status, created) = request(
        &base,
        Some(AGENT),
        reqwest::Method::POST,
        "/intents",
        Some(post_message("gated", now + 10, "g")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    stack.tapped_raw().await;
    stack.app.clock.set(now + 10);
    fire_due(&stack.app, now + 10, &CronMemory::default())
        .await
        .expect("fire");
    let stored = stack
        .app
        .tools()
        .intents
        .get(AGENT, created["id"].as_str().expect("id"))
        .await
        .expect("get")
        .expect("intent");
    assert_eq!(stored.status.as_str(), "failed");
    assert_eq!(stored.last_error_code.as_deref(), Some("approval_required"));
    let approval_id = stored.approval_id.expect("the approval's id");
    let approval = stack
        .app
        .tools()
        .approvals
        .get(&approval_id)
        .await
        .expect("approvals")
        .expect("the open approval");
    assert_eq!(approval.agent_id, AGENT);
    assert_eq!(posts(&slack), 0);
    assert!(
        schedule_names(&stack).await.is_empty(),
        "no retry scheduled"
    );
    let events = stack.tapped_raw().await;
    assert!(
        events.iter().all(|e| e.detail_type != "integration.error"),
        "{events:?}"
    );
}
