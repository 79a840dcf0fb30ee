//! Agent identity end to end: the agent of every route is the authenticated one (agent tokens
//! on the local host and the Lambda adapter, IAM principals from API Gateway's request context,
//! agent tokens in direct invokes); an agent reaches only its own grants in its own workspace,
//! by any route; discovery reads the grant index, not the instances table.

use serde_json::{json, Value};
use switchyard::tools::auth::{self, AuthError};
use switchyard::tools::{ToolRequest, ToolResponse};

use crate::fakes::Fake;
use crate::support::{agent_token, serving_stack, Stack};

const A: &str = "agent-a";
const B: &str = "agent-b";
const A_ARN: &str = "arn:aws:iam::123456789012:role/agent-a-runtime";

/// A Slack instance of `workspace` on the fake, granted to `agents`.
async fn slack(stack: &Stack, id: &str, workspace: &str, fake: &Fake, agents: &[&str]) {
    let settings: Vec<(String, String)> = [
        ("api_base_url", fake.base_url.as_str()),
        ("signing_secret", "s"),
        ("bot_token", "xoxb-test-token"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&stack.app, "slack", id, workspace, &settings)
        .await
        .expect("instance");
    for agent in agents {
        switchyard_ops::admin::grant(&stack.app, id, agent, &Default::default())
            .await
            .expect("grant");
    }
}

/// Runs the CLI; returns what it printed.
async fn cli(stack: &Stack, args: &[&str]) -> String {
    use clap::Parser;
    let mut argv = vec!["switchyard"];
    argv.extend_from_slice(args);
    let parsed = switchyard_ops::cli::Cli::try_parse_from(argv).expect("args");
    let mut out = Vec::new();
    switchyard_ops::cli::run_with_app(&stack.app, parsed, &mut out)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    String::from_utf8(out).expect("utf8")
}

/// `POST /tools/slack/post_message` on the local host with `token` (if any).
async fn post(base: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/tools/slack/post_message"))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// `GET /tools` on the local host.
async fn list(base: &str, token: Option<&str>, query: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}/tools{query}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn instances_listed(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tool list: {body}"))
        .iter()
        .map(|t| t["instance_id"].as_str().expect("instance_id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn hi(instance: &str) -> Value {
    json!({"instance_id": instance, "input": {"channel": "C1", "text": "hi"}})
}

/// A tool Lambda event, through the same adapter the Lambda main runs.
async fn lambda(stack: &Stack, tool: &str, event: Value) -> Value {
    switchyard_functions::lambda::tool(
        stack.app.tools(),
        tool,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .expect("the tool function answers")
}

/// An HTTP API (payload 2.0) event whose IAM authorizer verified `arn`.
fn iam_event(arn: &str, body: Option<&Value>, query: Option<(&str, &str)>) -> Value {
    let mut event = json!({
        "version": "2.0",
        "headers": {"content-type": "application/json"},
        "isBase64Encoded": false,
        "requestContext": {
            "authorizer": {"iam": {"accountId": "123456789012", "userArn": arn}},
            "http": {"method": if body.is_some() { "POST" } else { "GET" }},
        },
    });
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    if let Some((k, v)) = query {
        event["queryStringParameters"] = json!({ k: v });
    }
    event
}

fn http_answer(answer: &Value) -> (u64, Value) {
    (
        answer["statusCode"].as_u64().expect("statusCode"),
        serde_json::from_str(answer["body"].as_str().expect("body")).expect("json body"),
    )
}

#[tokio::test]
async fn an_agent_reaches_only_its_own_grants_in_its_own_workspace_by_every_route() {
    let (stack, base) = serving_stack().await;
    let fake = Fake::slack().await;
    let token_a = agent_token(&stack.app, A, "acme").await;
    let token_b = agent_token(&stack.app, B, "acme").await;
    slack(&stack, "acme-a", "acme", &fake, &[A]).await;
    slack(&stack, "acme-b", "acme", &fake, &[B]).await;
    slack(&stack, "acme-both", "acme", &fake, &[A, B]).await;
    // Granted to A, but in another workspace: the grant alone does not let A in.
    slack(&stack, "globex-a", "globex", &fake, &[A]).await;

    // No credential, a forged one, another agent's body: refused before anything runs.
    assert_eq!(post(&base, None, hi("acme-a")).await.0, 401);
    assert_eq!(
        post(&base, Some("sya_forged-token-of-nobody"), hi("acme-a"))
            .await
            .0,
        401
    );
    let mut as_b = hi("acme-a");
    as_b["agent_id"] = json!(B);
    let (status, body) = post(&base, Some(&token_a), as_b).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert_eq!(fake.requests().len(), 0, "nothing reached the provider");

    // Its own instance works, with or without naming itself.
    let mut as_a = hi("acme-a");
    as_a["agent_id"] = json!(A);
    assert_eq!(post(&base, Some(&token_a), as_a).await.0, 200);
    assert_eq!(post(&base, Some(&token_a), hi("acme-a")).await.0, 200);
    // B's instance and the other workspace's are refused.
    for other in ["acme-b", "globex-a"] {
        let (status, body) = post(&base, Some(&token_a), hi(other)).await;
        assert_eq!(status, 403, "{other}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{other}");
    }

    // Replay: B's idempotent call is B's alone. A presenting B's key on B's instance is
    // refused, and on an instance both are granted A's call runs as a new call.
    let mut keyed = hi("acme-both");
    keyed["idempotency_key"] = json!("order-42");
    let (_, b_first) = post(&base, Some(&token_b), keyed.clone()).await;
    let b_receipt = b_first["receipt_id"].as_str().expect("receipt").to_owned();
    let (_, b_again) = post(&base, Some(&token_b), keyed.clone()).await;
    assert_eq!(b_again["receipt_id"], b_receipt.as_str(), "B's own replay");
    let sent = fake.requests().len();
    let (_, a_same_key) = post(&base, Some(&token_a), keyed.clone()).await;
    assert_ne!(a_same_key["receipt_id"], b_receipt.as_str(), "{a_same_key}");
    assert_eq!(fake.requests().len(), sent + 1, "A's call ran as its own");
    let mut on_b = hi("acme-b");
    on_b["idempotency_key"] = json!("order-42");
    let (_, b_own) = post(&base, Some(&token_b), on_b.clone()).await;
    assert!(b_own["receipt_id"].is_string());
    let (status, replayed) = post(&base, Some(&token_a), on_b).await;
    assert_eq!(status, 403, "{replayed}");
    assert!(replayed.get("receipt_id").is_none(), "{replayed}");

    // Discovery: only A's grants in A's workspace; asking for B's list is refused.
    assert_eq!(list(&base, None, "").await.0, 401);
    let (status, listed) = list(&base, Some(&token_a), "").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(instances_listed(&listed), ["acme-a", "acme-both"]);
    let (status, _) = list(&base, Some(&token_a), &format!("?agent_id={B}")).await;
    assert_eq!(status, 403);
    let (_, listed_b) = list(&base, Some(&token_b), &format!("?agent_id={B}")).await;
    assert_eq!(instances_listed(&listed_b), ["acme-b", "acme-both"]);

    // The Lambda adapter: an IAM principal mapped to A over HTTP, A's token in a direct invoke.
    stack
        .app
        .tools()
        .agents
        .create_agent(&switchyard::agents::Agent {
            id: "agent-a-iam".into(),
            workspace: "acme".into(),
            iam_arns: vec![A_ARN.into()],
            may_act_for_users: false,
            status: switchyard::agents::AgentStatus::Active,
            created_at: stack.app.clock.now(),
        })
        .await
        .expect("agent with an IAM principal");
    switchyard_ops::admin::grant(&stack.app, "acme-a", "agent-a-iam", &Default::default())
        .await
        .expect("grant");
    let (status, ok) = http_answer(
        &lambda(
            &stack,
            "slack.post_message",
            iam_event(A_ARN, Some(&hi("acme-a")), None),
        )
        .await,
    );
    assert_eq!(status, 200, "{ok}");
    let (status, refused) = http_answer(
        &lambda(
            &stack,
            "slack.post_message",
            iam_event(A_ARN, Some(&hi("acme-b")), None),
        )
        .await,
    );
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = http_answer(
        &lambda(
            &stack,
            "slack.post_message",
            iam_event(
                "arn:aws:iam::123456789012:role/stranger",
                Some(&hi("acme-a")),
                None,
            ),
        )
        .await,
    );
    assert_eq!(status, 401, "an unmapped principal");
    let (status, listed) =
        http_answer(&lambda(&stack, "discovery", iam_event(A_ARN, None, None)).await);
    assert_eq!(status, 200);
    assert_eq!(instances_listed(&listed), ["acme-a"]);
    let (status, _) = http_answer(
        &lambda(
            &stack,
            "discovery",
            iam_event(A_ARN, None, Some(("agent_id", B))),
        )
        .await,
    );
    assert_eq!(status, 403);

    let mut direct = hi("acme-b");
    direct["agent_token"] = json!(token_a);
    let answer = lambda(&stack, "slack.post_message", direct).await;
    assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
    let mut claimed = hi("acme-a");
    claimed["agent_id"] = json!(A);
    let answer = lambda(&stack, "slack.post_message", claimed).await;
    assert_eq!(
        answer["error"]["code"], "unauthenticated",
        "a payload's agent_id is no credential: {answer}"
    );
    let mut direct = hi("acme-a");
    direct["agent_token"] = json!(token_a);
    let answer = lambda(&stack, "slack.post_message", direct).await;
    assert_eq!(answer["ok"], true, "{answer}");
}

#[tokio::test]
async fn revoked_expired_and_disabled_credentials_are_refused() {
    let (stack, base) = serving_stack().await;
    let fake = Fake::slack().await;
    slack(&stack, "acme-a", "acme", &fake, &[A]).await;
    let created = cli(
        &stack,
        &[
            "agent",
            "create",
            "--id",
            A,
            "--workspace",
            "acme",
            "--iam-arn",
            A_ARN,
        ],
    )
    .await;
    assert!(created.contains("created agent"), "{created}");
    let printed = cli(
        &stack,
        &["agent", "token", "create", "--id", A, "--ttl-days", "1"],
    )
    .await;
    let token = printed
        .lines()
        .find(|l| l.starts_with("sya_"))
        .unwrap_or_else(|| panic!("a token: {printed}"))
        .to_owned();
    let token_id = printed
        .split_whitespace()
        .nth(1)
        .expect("token id")
        .to_owned();
    assert_eq!(post(&base, Some(&token), hi("acme-a")).await.0, 200);

    // Listed by id and expiry only; the token exists nowhere but in the caller's hands.
    let listed = cli(&stack, &["agent", "token", "list", "--id", A]).await;
    assert!(
        listed.contains(&token_id) && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "{listed}");
    let shown = cli(&stack, &["agent", "show", "--id", A]).await;
    assert!(
        shown.contains("acme-a") && !shown.contains(&token),
        "{shown}"
    );
    let r = &stack.app.resources;
    let dump = stack
        .app
        .aws
        .dynamodb()
        .scan()
        .table_name(&r.agents_table)
        .send()
        .await
        .expect("scan");
    assert!(
        !format!("{:?}", dump.items).contains(&token),
        "stored only hashed"
    );

    // Expired: a day and a second later the same token is refused.
    let agents = &stack.app.tools().agents;
    let now = stack.app.clock.now();
    assert!(auth::authenticate_agent_token(agents, &token, now)
        .await
        .is_ok());
    assert_eq!(
        auth::authenticate_agent_token(agents, &format!("Bearer {token}"), now + 86_401).await,
        Err(AuthError::Expired)
    );

    // Disabled agent: 403 while disabled, back after enable.
    cli(&stack, &["agent", "disable", "--id", A]).await;
    assert_eq!(post(&base, Some(&token), hi("acme-a")).await.0, 403);
    assert_eq!(
        auth::authenticate_iam(agents, A_ARN).await,
        Err(AuthError::AgentDisabled)
    );
    cli(&stack, &["agent", "enable", "--id", A]).await;
    assert_eq!(post(&base, Some(&token), hi("acme-a")).await.0, 200);

    // Revoked: refused at once, on every route.
    cli(
        &stack,
        &[
            "agent",
            "token",
            "revoke",
            "--id",
            A,
            "--token-id",
            &token_id,
        ],
    )
    .await;
    let (status, body) = post(&base, Some(&token), hi("acme-a")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert_eq!(list(&base, Some(&token), "").await.0, 401);
    assert_eq!(
        auth::authenticate_agent_token(agents, &token, now).await,
        Err(AuthError::Revoked)
    );
    let listed = cli(&stack, &["agent", "token", "list", "--id", A]).await;
    assert!(listed.contains("revoked="), "{listed}");
    // An IAM principal can be one agent only.
    let taken = agents
        .create_agent(&switchyard::agents::Agent {
            id: "agent-other".into(),
            workspace: "acme".into(),
            iam_arns: vec![A_ARN.into()],
            may_act_for_users: false,
            status: switchyard::agents::AgentStatus::Active,
            created_at: now,
        })
        .await;
    assert!(
        matches!(
            taken,
            Err(switchyard::agents::AgentError::IamArnTaken { .. })
        ),
        "{taken:?}"
    );
}

#[tokio::test]
async fn discovery_reads_the_grant_index_not_the_instances_table() {
    let stack = Stack::new().await;
    let fake = Fake::slack().await;
    slack(&stack, "indexed", "acme", &fake, &[A]).await;
    // A grant written behind the admin functions' back (as an older version did) is in the
    // instances table but not in the index: discovery does not see it, because it does not scan.
    slack(&stack, "unindexed", "acme", &fake, &[]).await;
    stack
        .app
        .instances
        .grant("unindexed", A, &Default::default(), stack.app.clock.now())
        .await
        .expect("raw grant");
    let principal = switchyard::identity::Principal {
        agent_id: A.into(),
        workspace: "acme".into(),
        user: None,
        method: switchyard::identity::AuthMethod::AgentToken,
    };
    let ids = |tools: Vec<switchyard::tools::ToolInfo>| {
        let mut ids: Vec<String> = tools.into_iter().map(|t| t.instance_id).collect();
        ids.dedup();
        ids
    };
    let tools = switchyard::tools::discover_as(stack.app.tools(), &principal)
        .await
        .expect("discover");
    assert_eq!(ids(tools), ["indexed"]);
    let out = cli(&stack, &["agent", "reindex"]).await;
    assert!(out.contains("indexed"), "{out}");
    let tools = switchyard::tools::discover_as(stack.app.tools(), &principal)
        .await
        .expect("discover");
    assert_eq!(ids(tools), ["indexed", "unindexed"]);
    // A revoked grant leaves the index; the call itself is refused by the instance's grants.
    switchyard_ops::admin::revoke_grant(&stack.app, "indexed", A)
        .await
        .expect("revoke");
    let tools = switchyard::tools::discover_as(stack.app.tools(), &principal)
        .await
        .expect("discover");
    assert_eq!(ids(tools), ["unindexed"]);
    let response = switchyard::tools::invoke_as(
        stack.app.tools(),
        &principal,
        "slack.post_message",
        ToolRequest {
            instance_id: "indexed".into(),
            input: json!({"channel": "C1", "text": "hi"}),
            ..Default::default()
        },
        tokio::time::Instant::now() + std::time::Duration::from_secs(10),
    )
    .await;
    assert!(
        matches!(&response, ToolResponse::Err { error, .. } if error.code == "forbidden"),
        "{response:?}"
    );
}
