//! The operator dashboard on the local host: who may open it (operator tokens and the sessions
//! their login sets; never agent tokens), and what it shows for a seeded stack (an instance
//! whose label holds markup, a connection, a priced receipt and a failed one, a pending
//! approval, a DLQ message, an open breaker), every value escaped. The browser test is in
//! `dashboard_browser.rs`.

use serde_json::json;
use switchyard::approvals::{Approval, ApprovalStatus};
use switchyard::connections::{Connection, Status};
use switchyard::dashboard::operator::SESSION_COOKIE;
use switchyard::tools::receipts::{Receipt, ReceiptStore};

use crate::support::{agent_token, serving_stack, Stack, NOW};

pub(crate) const INSTANCE: &str = "dash-slack";
pub(crate) const LABEL: &str = "<script>alert('x')</script> Acme support";
pub(crate) const OWNER: &str = "alice@example.com";
pub(crate) const APPROVAL: &str = "apv_dashboard_1";
pub(crate) const BROKEN_TOOL: &str = "slack.post_message";

/// An operator token for the stack.
pub(crate) async fn operator_token(stack: &Stack) -> String {
    let (_, token) = stack
        .app
        .dashboard()
        .operators
        .create("e2e operator", 1, NOW)
        .await
        .expect("operator token");
    token.expose().to_owned()
}

fn receipt(id: &str, status: &str, cost_usd: Option<f64>, at: u64) -> Receipt {
    Receipt {
        receipt_id: id.into(),
        tool: "llm.generate".into(),
        instance_id: INSTANCE.into(),
        agent_id: "dash-agent".into(),
        user: None,
        request_id: format!("req-{id}"),
        trace_id: None,
        idempotency_key: None,
        status: status.into(),
        error_code: (status != "ok").then(|| status.to_owned()),
        provider_status: Some(200),
        provider_request_ids: Vec::new(),
        attempts: Vec::new(),
        latency_ms: 42,
        cost: None,
        usage: Vec::new(),
        message_ids: Vec::new(),
        cost_usd,
        created_at: at,
    }
}

/// Seeds what every section shows.
pub(crate) async fn seed(stack: &Stack) {
    let app = &stack.app;
    let settings: Vec<(String, String)> =
        [("signing_secret", "s"), ("bot_token", "xoxb-test-token")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    switchyard_ops::admin::create_instance(app, "slack", INSTANCE, "acme", &settings)
        .await
        .expect("instance");
    app.instances
        .set_config(INSTANCE, "label", LABEL, NOW)
        .await
        .expect("label");
    app.connections
        .upsert(
            &Connection {
                id: switchyard::connections::owner_connection_id(INSTANCE, OWNER),
                instance_id: INSTANCE.into(),
                provider: "slack".into(),
                workspace: "acme".into(),
                auth_type: "oauth2".into(),
                account_id: Some("U1".into()),
                account_name: Some("Alice <b>bold</b>".into()),
                account_email: None,
                owner: Some(OWNER.into()),
                scopes: vec!["chat:write".into()],
                status: Status::Active,
                token_expires_at: Some(NOW + 3600),
                token_issued_at: Some(NOW),
                has_refresh_token: true,
                sealed: None,
                version: 0,
                lease_until: None,
                created_at: NOW,
                updated_at: NOW,
                last_refreshed_at: None,
                last_error: None,
            },
            NOW,
        )
        .await
        .expect("connection");
    // A watch whose newest notification has waited two minutes for a sync.
    let mut watch = switchyard::watches::Watch::new(INSTANCE, "google", "gmail", "INBOX", NOW);
    watch.last_sync_at = Some(NOW - 300);
    watch.last_notification_at = Some(NOW - 120);
    assert!(app.watches.create(&watch).await.expect("watch"));
    let receipts = ReceiptStore::new(app.aws.dynamodb(), &app.resources.receipts_table);
    receipts
        .put(&receipt("rcp_priced", "ok", Some(0.0123), NOW - 60))
        .await
        .expect("receipt");
    receipts
        .put(&receipt("rcp_failed", "provider_error", None, NOW - 30))
        .await
        .expect("receipt");
    // Older than the window: not shown.
    receipts
        .put(&receipt("rcp_old", "ok", Some(9.0), NOW - 3 * 86_400))
        .await
        .expect("receipt");
    let approvals = switchyard::approvals::ApprovalStore::new(
        app.aws.dynamodb(),
        &app.resources.approvals_table,
    );
    approvals
        .create(&Approval {
            id: APPROVAL.into(),
            status: ApprovalStatus::Pending,
            tool: "slack.post_message".into(),
            instance_id: INSTANCE.into(),
            workspace: "acme".into(),
            agent_id: "dash-agent".into(),
            user: None,
            input: json!({"channel": "C1", "text": "hello"}),
            idempotency_key: "k1".into(),
            trace_id: None,
            created_at: NOW - 10,
            expires_at: NOW + 3600,
            decided_by: None,
            decided_at: None,
            result_receipt_id: None,
            result: None,
            executed_at: None,
        })
        .await
        .expect("approval");
    app.aws
        .sqs()
        .send_message()
        .queue_url(&app.resources.ingress_dlq_url)
        .message_body("{\"poison\":true}")
        .send()
        .await
        .expect("DLQ message");
    let state = &app.tools().tool_state;
    let settings = switchyard::tools::state::BreakerSettings {
        threshold: 1,
        ..Default::default()
    };
    let opened = state
        .record_failure(INSTANCE, BROKEN_TOOL, "provider 503", settings, NOW - 5)
        .await
        .expect("breaker");
    assert!(opened, "one failure at threshold 1 opens the breaker");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn login(base: &str, token: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/dashboard/login"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("login")
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("Set-Cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    // Served on loopback over plain HTTP: a Secure cookie would never come back.
    assert!(!set.contains("Secure"), "{set}");
    set.split(';').next().expect("name=value").to_owned()
}

async fn get(base: &str, auth: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = client().get(format!("{base}/dashboard"));
    if let Some((name, value)) = auth {
        request = request.header(name, value);
    }
    request.send().await.expect("get")
}

#[tokio::test]
async fn only_operator_tokens_and_their_sessions_open_the_dashboard() {
    let (stack, base) = serving_stack().await;
    let agent = agent_token(&stack.app, "dash-agent", "acme").await;
    let operator = operator_token(&stack).await;

    let anonymous = get(&base, None).await;
    assert_eq!(anonymous.status(), 401);
    let body = anonymous.text().await.expect("body");
    assert!(
        body.contains("action=\"/dashboard/login\""),
        "the login form: {body}"
    );
    assert!(!body.contains("id=\"instances\""));

    // An agent token opens nothing: neither as a bearer nor through the login form.
    let as_agent = get(&base, Some(("authorization", &format!("Bearer {agent}")))).await;
    assert_eq!(as_agent.status(), 401);
    let agent_login = login(&base, &agent).await;
    assert_eq!(agent_login.status(), 401);
    assert!(agent_login.headers().get("set-cookie").is_none());
    let forged = login(&base, "syo_forged-token").await;
    assert_eq!(forged.status(), 401);
    assert!(forged.headers().get("set-cookie").is_none());

    let as_operator = get(
        &base,
        Some(("authorization", &format!("Bearer {operator}"))),
    )
    .await;
    assert_eq!(as_operator.status(), 200);
    assert_eq!(
        as_operator
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(as_operator
        .text()
        .await
        .expect("body")
        .contains("id=\"instances\""));

    let logged_in = login(&base, &operator).await;
    assert_eq!(logged_in.status(), 303);
    assert_eq!(
        logged_in
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/dashboard")
    );
    let cookie = session_cookie(&logged_in);
    assert!(!cookie.contains(&operator), "the cookie carries the token");
    let page = get(&base, Some(("cookie", &cookie))).await;
    assert_eq!(page.status(), 200);

    // A tampered session, and a session of a revoked token, are refused.
    let tampered = format!("{cookie}x");
    assert_eq!(get(&base, Some(("cookie", &tampered))).await.status(), 401);
    let dash = stack.app.dashboard();
    let id = dash.operators.list().await.expect("list")[0]
        .token_id
        .clone();
    dash.operators.revoke(&id, NOW).await.expect("revoke");
    assert_eq!(get(&base, Some(("cookie", &cookie))).await.status(), 401);
    let revoked = get(
        &base,
        Some(("authorization", &format!("Bearer {operator}"))),
    )
    .await;
    assert_eq!(revoked.status(), 401);
    assert!(!cookie.is_empty() && cookie.starts_with(&format!("{SESSION_COOKIE}=")));
}

#[tokio::test]
async fn the_page_shows_every_section_escaped_and_a_failing_section_as_an_error_box() {
    let (stack, base) = serving_stack().await;
    seed(&stack).await;
    let operator = operator_token(&stack).await;
    let page = get(
        &base,
        Some(("authorization", &format!("Bearer {operator}"))),
    )
    .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");

    assert!(
        !html.contains("<script"),
        "markup from a label reached the page"
    );
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Acme support"));
    assert!(html.contains("Alice &lt;b&gt;bold&lt;/b&gt;"));
    assert!(html.contains(OWNER), "connection owner");
    assert!(
        html.contains("2026-01-01T01:00:00Z"),
        "token expiry: {html}"
    );
    assert!(html.contains("$0.0123"), "receipt cost");
    assert!(html.contains("rcp") || html.contains("llm.generate"));
    assert!(!html.contains("$9.0000"), "a receipt outside the window");
    assert!(html.contains(APPROVAL), "pending approval");
    assert!(html.contains("provider 503"), "breaker reason");
    assert!(html.contains(BROKEN_TOOL));
    let watches = html
        .split("id=\"watches\"")
        .nth(1)
        .expect("watches section");
    assert!(
        watches.contains("gmail:INBOX") && watches.contains(">120<"),
        "lag: {watches}"
    );
    // The DLQ holds one message.
    let dlq = html.split("id=\"dlq\"").nth(1).expect("dlq section");
    assert!(dlq.contains("<span class=\"bad\">1</span>"), "{dlq}");
    // The failed receipt is a recent error.
    let errors = html.split("id=\"errors\"").nth(1).expect("errors section");
    assert!(errors.contains("provider_error"), "{errors}");
    assert!(
        !html.contains("class=\"error\""),
        "no section failed: {html}"
    );

    // A stack whose receipts table is gone: that section is an error box, the page still 200.
    let broken = stack
        .variant(&crate::support::endpoint(), |r| {
            r.receipts_table = "no-such-table".into()
        })
        .await;
    let snapshot = switchyard::dashboard::gather::gather(
        broken.dashboard(),
        tokio::time::Instant::now() + std::time::Duration::from_secs(5),
    )
    .await;
    assert!(snapshot.receipts.is_err());
    assert!(snapshot.instances.is_ok());
    let html = switchyard::dashboard::render::dashboard(&snapshot, "op");
    let receipts = html.split("id=\"receipts\"").nth(1).expect("receipts");
    assert!(
        receipts.starts_with("><h2>Recent receipts</h2><div class=\"error\""),
        "{receipts}"
    );
}
