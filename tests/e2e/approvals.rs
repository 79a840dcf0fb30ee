//! Approval gates end to end against the emulator and the Slack fake: a gated call is stored,
//! not run; the approval message carries Block Kit buttons; a signed `block_actions` click
//! through the Slack webhook approves it and the media worker runs it once; denials and
//! expiries never run it; two approvers or two runners at once still run it once; the CLI
//! approves and lists with full arguments; every step is audited and the agent hears
//! `integration.approval_resolved`.

use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::approvals::ApprovalStatus;
use switchyard::clock::Clock;
use switchyard::config::Limits;
use switchyard::deferred::DeferredMessage;
use switchyard::tools::approvals::{self, ApprovalError};
use switchyard::tools::{ToolRequest, ToolResponse};
use switchyard::App;
use switchyard_ops::local::{demo, DriverSettings};

use crate::cli::cli;
use crate::fakes::Fake;
use crate::support::{serving_stack, slack_request, Stack, NOW};

const AGENT: &str = "agent-gated";
const SLACK: &str = "acme-slack";
const APPROVERS: &str = "C0APPROVE";

/// A Slack instance on the fake, signed with the demo secret, that gates `slack.post_message`
/// and asks for approval in itself (channel [`APPROVERS`]).
async fn setup() -> (Stack, String, Fake) {
    let (stack, base) = serving_stack().await;
    let fake = Fake::slack().await;
    let settings: Vec<(String, String)> = [
        ("api_base_url", fake.base_url.as_str()),
        ("signing_secret", demo::SLACK_SIGNING_SECRET),
        ("bot_token", "xoxb-test-token"),
        ("team_id", "T0DEMO"),
        ("approval_required", "slack.post_message"),
        ("approval_slack_instance", SLACK),
        ("approval_channel", APPROVERS),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&stack.app, "slack", SLACK, "acme", &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&stack.app, SLACK, AGENT, &Default::default())
        .await
        .expect("grant");
    (stack, base, fake)
}

async fn post(stack: &Stack, text: &str, key: Option<&str>) -> ToolResponse {
    let request = ToolRequest {
        instance_id: SLACK.into(),
        agent_id: AGENT.into(),
        input: json!({"channel": "C0WORK", "text": text}),
        idempotency_key: key.map(str::to_owned),
        trace_id: None,
        on_behalf_of: None,
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    switchyard::tools::invoke(stack.app.tools(), "slack.post_message", request, deadline).await
}

/// The approval id of a gated answer.
fn gated(response: &ToolResponse) -> String {
    let error = response.error().expect("gated, not run");
    assert_eq!(error.code.as_str(), "approval_required");
    let approval = error.approval.as_ref().expect("the approval");
    assert_eq!(approval.expires_at, NOW + approvals::DEFAULT_TTL_SECS);
    // As the agent reads it: beside the code.
    let wire = serde_json::to_value(response).expect("json");
    assert_eq!(wire["error"]["approval_id"], json!(approval.approval_id));
    assert_eq!(wire["error"]["expires_at"], json!(approval.expires_at));
    approval.approval_id.clone()
}

/// Posts to the work channel (what the gated call does), as the fake saw them.
fn work_posts(fake: &Fake) -> Vec<Value> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path == "/chat.postMessage" && r.body["channel"] == "C0WORK")
        .map(|r| r.body)
        .collect()
}

/// Runs the media worker until the jobs queue is empty.
async fn drain_jobs(stack: &Stack) {
    let settings = DriverSettings {
        batch_size: 10,
        visibility_timeout: 1,
        wait_secs: 0,
    };
    loop {
        let (received, _) = switchyard_ops::local::drive_jobs_once(&stack.app, settings)
            .await
            .expect("drive jobs");
        if received == 0 {
            return;
        }
    }
}

/// The `integration.approval_resolved` events the agent got.
async fn resolutions(stack: &Stack) -> Vec<Value> {
    stack
        .tapped()
        .await
        .into_iter()
        .filter(|e| e.event_type == "integration.approval_resolved")
        .map(|e| {
            assert_eq!(e.agent_id, AGENT);
            e.payload
        })
        .collect()
}

async fn status(stack: &Stack, id: &str) -> ApprovalStatus {
    approvals::current(stack.app.tools(), id)
        .await
        .expect("approval")
        .status
}

/// A signed Slack interactivity request: `user` clicked `action` on approval `id`.
fn click(id: &str, action: &str, team: &str, user: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": team, "domain": "acme"},
        "api_app_id": "A0DEMO",
        "user": {"id": user, "team_id": team},
        "trigger_id": format!("trig-{id}-{action}"),
        "channel": {"id": APPROVERS},
        "actions": [{"type": "button", "block_id": "switchyard_approval", "action_id": action, "value": id}],
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

#[tokio::test]
async fn a_slack_click_approves_and_the_call_runs_once() {
    let (stack, base, fake) = setup().await;
    let id = gated(&post(&stack, "ship it", None).await);
    assert!(work_posts(&fake).is_empty(), "a gated call must not run");
    // The approval message: full arguments and buttons carrying the approval id.
    let asked: Vec<Value> = fake
        .requests()
        .into_iter()
        .filter(|r| r.body["channel"] == APPROVERS)
        .map(|r| r.body)
        .collect();
    assert_eq!(asked.len(), 1);
    let text = asked[0].to_string();
    assert!(text.contains("ship it") && text.contains(&id), "{text}");
    assert!(text.contains("switchyard_approval_approve"));

    let http = reqwest::Client::new();
    let url = format!("{base}/webhooks/slack/{SLACK}");
    let body = click(&id, "switchyard_approval_approve", "T0DEMO", "U0BOSS");
    let answer = slack_request(&http, &url, &body, NOW)
        .send()
        .await
        .expect("webhook");
    assert_eq!(answer.status(), 200);
    stack.drain().await;
    drain_jobs(&stack).await;

    let posts = work_posts(&fake);
    assert_eq!(posts.len(), 1, "approved: runs exactly once");
    assert_eq!(posts[0]["text"], "ship it");
    let approval = approvals::current(stack.app.tools(), &id)
        .await
        .expect("approval");
    assert_eq!(approval.status, ApprovalStatus::Executed);
    assert_eq!(approval.decided_by.as_deref(), Some("slack:T0DEMO/U0BOSS"));
    assert_eq!(approval.result.as_deref(), Some("ok"));
    let events = resolutions(&stack).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["status"], "executed");
    assert_eq!(events[0]["receipt_id"], json!(approval.result_receipt_id));
    // The click is the approval's, not an agent event.
    assert!(stack
        .tapped()
        .await
        .iter()
        .all(|e| e.event_type != "slack.block_actions"));

    // A second click, and a redelivered run message, change nothing.
    let again = click(&id, "switchyard_approval_approve", "T0DEMO", "U0OTHER");
    let answer = slack_request(&http, &url, &again, NOW)
        .send()
        .await
        .expect("webhook");
    assert_eq!(answer.status(), 200);
    stack.drain().await;
    stack
        .app
        .tools()
        .jobs_queue
        .send(&DeferredMessage::Approval { id: id.clone() })
        .await
        .expect("redeliver");
    drain_jobs(&stack).await;
    assert_eq!(work_posts(&fake).len(), 1);
    assert_eq!(
        approvals::current(stack.app.tools(), &id)
            .await
            .expect("approval")
            .decided_by
            .as_deref(),
        Some("slack:T0DEMO/U0BOSS")
    );

    let audit = stack
        .app
        .audit
        .history(&format!("instance#{SLACK}"))
        .await
        .expect("audit");
    // One entry per step (the clock is fixed, so their order within the second is arbitrary).
    let mut actions: Vec<&str> = audit
        .iter()
        .filter(|e| e.detail.starts_with(&id))
        .map(|e| e.action.as_str())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "approval_approved",
            "approval_executed",
            "approval_requested"
        ]
    );
}

#[tokio::test]
async fn a_click_through_another_instance_does_not_decide() {
    let (stack, base, fake) = setup().await;
    let id = gated(&post(&stack, "not through the demo app", None).await);
    // The demo Slack instance verifies with the same secret but is not where approvals are asked.
    let http = reqwest::Client::new();
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let body = click(&id, "switchyard_approval_approve", "T0DEMO", "U0BOSS");
    let answer = slack_request(&http, &url, &body, NOW)
        .send()
        .await
        .expect("webhook");
    assert_eq!(answer.status(), 200);
    stack.drain().await;
    drain_jobs(&stack).await;
    assert_eq!(status(&stack, &id).await, ApprovalStatus::Pending);
    assert!(work_posts(&fake).is_empty());
}

#[tokio::test]
async fn a_denied_call_never_runs() {
    let (stack, _base, fake) = setup().await;
    let id = gated(&post(&stack, "drop everything", None).await);
    let out = cli(&stack, &["approval", "deny", &id, "--by", "carol"])
        .await
        .expect("deny");
    assert!(out.contains("denied"), "{out}");
    drain_jobs(&stack).await;
    assert!(work_posts(&fake).is_empty());
    let approval = approvals::current(stack.app.tools(), &id)
        .await
        .expect("approval");
    assert_eq!(approval.status, ApprovalStatus::Denied);
    assert_eq!(approval.decided_by.as_deref(), Some("cli:carol"));
    let events = resolutions(&stack).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "denied");
    let late = approvals::decide(stack.app.tools(), &id, true, "cli:mallory").await;
    assert!(
        matches!(late, Err(ApprovalError::AlreadyDecided { .. })),
        "{late:?}"
    );
    drain_jobs(&stack).await;
    assert!(work_posts(&fake).is_empty());
}

#[tokio::test]
async fn an_expired_approval_cannot_be_approved_and_never_runs() {
    let (stack, _base, fake) = setup().await;
    let id = gated(&post(&stack, "too late", None).await);
    // The same stack an hour and a second later.
    let aws = switchyard::aws::AwsClients::with_endpoint(&crate::support::endpoint()).await;
    let later = App::new(
        aws,
        stack.app.resources.clone(),
        Limits::default(),
        Clock::fixed(NOW + approvals::DEFAULT_TTL_SECS + 1),
    )
    .expect("app");
    let later = Stack {
        app: Arc::new(later),
    };
    let refused = approvals::decide(later.app.tools(), &id, true, "cli:alice").await;
    assert!(
        matches!(refused, Err(ApprovalError::Expired { .. })),
        "{refused:?}"
    );
    assert_eq!(status(&later, &id).await, ApprovalStatus::Expired);
    let out = cli(&later, &["approval", "approve", &id]).await;
    assert!(out.is_err_and(|e| e.contains("expired")));
    drain_jobs(&later).await;
    assert!(work_posts(&fake).is_empty());
    let events = resolutions(&stack).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "expired");
}

#[tokio::test]
async fn concurrent_approvals_and_runs_execute_once() {
    let (stack, _base, fake) = setup().await;
    let id = gated(&post(&stack, "once only", Some("agent-key-1")).await);
    // The agent retrying with its key gets the same approval, not a second one.
    assert_eq!(
        gated(&post(&stack, "once only", Some("agent-key-1")).await),
        id
    );
    let tools = stack.app.tools();
    let (a, b) = tokio::join!(
        approvals::decide(tools, &id, true, "cli:alice"),
        approvals::decide(tools, &id, true, "cli:bob"),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    // Two runners of the same approved call at once (the queued message plus a duplicate).
    let records: Vec<switchyard::tools::deferred::Record> = (0..2)
        .map(|i| switchyard::tools::deferred::Record {
            message_id: format!("m{i}"),
            body: serde_json::to_string(&DeferredMessage::Approval { id: id.clone() })
                .expect("json"),
        })
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let (first, second) = tokio::join!(
        switchyard::tools::deferred::handle_batch(tools, &records[..1], deadline),
        switchyard::tools::deferred::handle_batch(tools, &records[1..], deadline),
    );
    drain_jobs(&stack).await;
    assert_eq!(work_posts(&fake).len(), 1, "{first:?} {second:?}");
    assert_eq!(status(&stack, &id).await, ApprovalStatus::Executed);
    assert_eq!(resolutions(&stack).await.len(), 1);
    // After the run, the agent's retry with its key replays the result instead of gating again.
    match post(&stack, "once only", Some("agent-key-1")).await {
        ToolResponse::Ok { output, .. } => assert_eq!(output["ok"], true),
        other => panic!("expected the replayed result, got {other:?}"),
    }
    assert_eq!(work_posts(&fake).len(), 1);
}

#[tokio::test]
async fn the_cli_lists_full_arguments_and_approves() {
    let (stack, _base, fake) = setup().await;
    let id = gated(&post(&stack, "from the terminal", None).await);
    let listed = cli(&stack, &["approval", "list", "--workspace", "acme"])
        .await
        .expect("list");
    assert!(
        listed.contains(&id) && listed.contains("from the terminal") && listed.contains("C0WORK"),
        "{listed}"
    );
    let out = cli(&stack, &["approval", "approve", &id, "--by", "alice"])
        .await
        .expect("approve");
    assert!(out.contains("approved"), "{out}");
    drain_jobs(&stack).await;
    assert_eq!(work_posts(&fake).len(), 1);
    let approval = approvals::current(stack.app.tools(), &id)
        .await
        .expect("approval");
    assert_eq!(approval.status, ApprovalStatus::Executed);
    assert_eq!(approval.decided_by.as_deref(), Some("cli:alice"));
    let pending = cli(&stack, &["approval", "list"]).await.expect("list");
    assert!(!pending.contains(&id), "{pending}");
}
