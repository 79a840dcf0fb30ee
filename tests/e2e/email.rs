//! The `email.*` tools end to end: a SendGrid v3 fake on loopback (202 with `X-Message-Id`,
//! 401, 403 for an unverified sender, 429 with `X-RateLimit-Reset`) and SES v2 on the emulator;
//! message ids on receipts; delivery statuses correlated back to them, from SendGrid's signed
//! Event Webhook (through ingress and the consumer) and from SES events on the default bus
//! (through the template's rule and its stand-in queue).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use switchyard::secret::SecretString;
use switchyard::tools::receipts::Receipt;
use switchyard::tools::ToolResponse;

use crate::support::Stack;

const AGENT: &str = "agent-mail";
const SENDGRID_KEY: &str = "SG.test-key-0123456789";
const SENDER: &str = "news@acme.example.com";
/// The SendGrid Event Webhook's signing key (a test scalar).
const SIGNING_SCALAR: [u8; 32] = [7; 32];

/// What the SendGrid fake saw and how it answers.
#[derive(Debug, Default)]
struct FakeState {
    requests: Vec<Value>,
    /// Answer this many next requests with 429 (reset one second ahead).
    throttle: usize,
    next_id: u64,
}

#[derive(Clone)]
struct SendGridFake {
    base_url: String,
    state: Arc<Mutex<FakeState>>,
}

fn json_body(value: &Value) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "application/json")], value.to_string())
}

fn errors(message: &str, field: Option<&str>) -> Value {
    json!({"errors": [{"message": message, "field": field, "help": null}]})
}

async fn mail_send(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            json_body(&errors("Bad Request", None)),
        )
            .into_response();
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {SENDGRID_KEY}") {
        return (
            StatusCode::UNAUTHORIZED,
            json_body(&errors(
                "The provided authorization grant is invalid, expired, or revoked",
                None,
            )),
        )
            .into_response();
    }
    let mut state = state.lock().expect("in the email test");
    if state.throttle > 0 {
        state.throttle -= 1;
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("in the email test")
            .as_secs()
            + 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("x-ratelimit-limit", "600".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
            json_body(&errors("too many requests", None)),
        )
            .into_response();
    }
    let personalizations = body["personalizations"].as_array().map_or(0, Vec::len);
    if personalizations == 0 || personalizations > 1000 {
        return (
            StatusCode::BAD_REQUEST,
            json_body(&errors(
                "The personalizations field is required and must have at least one personalization.",
                Some("personalizations"),
            )),
        )
            .into_response();
    }
    if body["from"]["email"] != SENDER {
        return (
            StatusCode::FORBIDDEN,
            json_body(&errors(
                "The from address does not match a verified Sender Identity.",
                Some("from"),
            )),
        )
            .into_response();
    }
    state.requests.push(body);
    state.next_id += 1;
    let id = format!("sgmsg{:06}", state.next_id);
    (StatusCode::ACCEPTED, [("x-message-id", id)]).into_response()
}

impl SendGridFake {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/v3/mail/send", post(mail_send))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("in the email test");
        let addr = listener.local_addr().expect("in the email test");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("in the email test") });
        Self {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    fn requests(&self) -> Vec<Value> {
        self.state
            .lock()
            .expect("in the email test")
            .requests
            .clone()
    }
}

struct Mail {
    stack: Stack,
    sendgrid: SendGridFake,
}

impl Mail {
    async fn new() -> Self {
        let stack = Stack::new().await;
        switchyard::keys::set_platform_key(
            stack.app.keys(),
            "sendgrid",
            &SecretString::from(SENDGRID_KEY),
        )
        .await
        .expect("platform key");
        let mail = Self {
            stack,
            sendgrid: SendGridFake::start().await,
        };
        mail.instance("acme-sendgrid", "sendgrid", &[]).await;
        mail
    }

    async fn instance(&self, id: &str, service: &str, extra: &[(&str, &str)]) {
        let mut settings = vec![
            ("service".to_owned(), service.to_owned()),
            ("from".to_owned(), SENDER.to_owned()),
            (
                "sendgrid_base_url".to_owned(),
                self.sendgrid.base_url.clone(),
            ),
        ];
        for (k, v) in extra {
            settings.retain(|(key, _)| key != k);
            settings.push(((*k).to_owned(), (*v).to_owned()));
        }
        switchyard_ops::admin::create_instance(&self.stack.app, "email", id, "acme", &settings)
            .await
            .expect("instance");
        switchyard_ops::admin::grant(&self.stack.app, id, AGENT, &Default::default())
            .await
            .expect("grant");
    }

    async fn call(&self, instance: &str, tool: &str, input: Value) -> ToolResponse {
        crate::support::call_tool(&self.stack.app, AGENT, instance, tool, input).await
    }

    async fn ok(&self, instance: &str, tool: &str, input: Value) -> (Value, Receipt) {
        let response = self.call(instance, tool, input).await;
        let receipt = self.receipt(&response).await;
        match response {
            ToolResponse::Ok { output, .. } => (output, receipt),
            ToolResponse::Err { error, .. } => panic!("{tool} failed: {error:?}"),
        }
    }

    async fn receipt(&self, response: &ToolResponse) -> Receipt {
        crate::support::receipt_of(&self.stack.app, response).await
    }

    /// `switchyard receipts show`'s delivery statuses: `(recipient, status)` per message.
    async fn deliveries(&self, receipt_id: &str) -> Vec<(String, String)> {
        let shown = switchyard_ops::admin::receipt_with_deliveries(&self.stack.app, receipt_id)
            .await
            .expect("receipt");
        let mut out: Vec<(String, String)> = shown["deliveries"]
            .as_array()
            .expect("in the email test")
            .iter()
            .flat_map(|d| d["statuses"].as_array().expect("in the email test").clone())
            .map(|s| {
                (
                    s["recipient"].as_str().unwrap_or("-").to_owned(),
                    s["status"].as_str().expect("in the email test").to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    }
}

fn code_of(response: &ToolResponse) -> &str {
    match response {
        ToolResponse::Err { error, .. } => error.code.as_str(),
        ToolResponse::Ok { .. } => "ok",
    }
}

#[tokio::test]
async fn sendgrid_send_keeps_the_message_id_and_signed_event_webhooks_reach_the_receipt() {
    let mail = Mail::new().await;
    let (output, receipt) = mail
        .ok(
            "acme-sendgrid",
            "email.send",
            json!({"to": ["ann@example.com"], "cc": ["bob@example.com"], "subject": "Hello",
                   "text": "Hi there", "html": "<p>Hi there</p>", "reply_to": "help@acme.example.com"}),
        )
        .await;
    let message_id = output["message_id"]
        .as_str()
        .expect("in the email test")
        .to_owned();
    assert_eq!(output["service"], "sendgrid");
    assert_eq!(receipt.message_ids, vec![format!("sendgrid:{message_id}")]);
    let sent = mail.sendgrid.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["personalizations"][0]["to"][0]["email"],
        "ann@example.com"
    );
    assert_eq!(
        sent[0]["personalizations"][0]["cc"][0]["email"],
        "bob@example.com"
    );
    assert_eq!(sent[0]["content"][0]["type"], "text/plain");
    assert_eq!(sent[0]["content"][1]["type"], "text/html");
    assert_eq!(sent[0]["reply_to"]["email"], "help@acme.example.com");

    // SendGrid's Event Webhook, signed, on a `sendgrid` instance: a delivery, a bounce, an
    // open (engagement: no status) and a delivery of mail no tool sent.
    let key = switchyard::verify::sign::ecdsa_p256_public_key(&SIGNING_SCALAR);
    switchyard_ops::admin::create_instance(
        &mail.stack.app,
        "sendgrid",
        "acme-events",
        "acme",
        &[("verification_key".to_owned(), key)],
    )
    .await
    .expect("sendgrid instance");
    switchyard_ops::admin::grant(&mail.stack.app, "acme-events", AGENT, &Default::default())
        .await
        .expect("grant");
    let sg = |event: &str, email: &str, n: u32, id: &str| {
        json!({"email": email, "event": event, "timestamp": 1_767_225_600u64 + u64::from(n),
               "sg_event_id": format!("ev{n}"), "sg_message_id": format!("{id}.filterdrecv-5645d9c87f-6r2ch-1-6776E3D4-2B.0")})
    };
    let body = serde_json::to_vec(&json!([
        sg("delivered", "ann@example.com", 1, &message_id),
        sg("bounce", "bob@example.com", 2, &message_id),
        sg("open", "ann@example.com", 3, &message_id),
        sg("delivered", "eve@example.com", 4, "not-ours"),
    ]))
    .expect("in the email test");
    let base = mail.stack.serve().await;
    let timestamp = mail.stack.app.clock.now().to_string();
    let signature = switchyard::verify::sign::ecdsa_p256(&SIGNING_SCALAR, &timestamp, &body);
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{base}/webhooks/sendgrid/acme-events"))
        .header("content-type", "application/json")
        .header("x-twilio-email-event-webhook-timestamp", &timestamp)
        .header("x-twilio-email-event-webhook-signature", &signature)
        .body(body.clone())
        .send()
        .await
        .expect("in the email test");
    assert!(answer.status().is_success(), "{}", answer.status());
    mail.stack.drain().await;
    assert_eq!(
        mail.deliveries(&receipt.receipt_id).await,
        vec![
            ("ann@example.com".to_owned(), "delivered".to_owned()),
            ("bob@example.com".to_owned(), "bounce".to_owned()),
        ]
    );
    // Mail no tool sent is not logged.
    let log = &mail.stack.app.tools().messages;
    assert_eq!(
        log.statuses("sendgrid", "not-ours")
            .await
            .expect("in the email test"),
        None
    );

    // A tampered body is refused and records nothing.
    let mut tampered = body;
    let last = tampered.len() - 3;
    tampered[last] ^= 1;
    let refused = client
        .post(format!("{base}/webhooks/sendgrid/acme-events"))
        .header("x-twilio-email-event-webhook-timestamp", &timestamp)
        .header("x-twilio-email-event-webhook-signature", &signature)
        .body(tampered)
        .send()
        .await
        .expect("in the email test");
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn bad_recipients_and_oversized_messages_are_refused_before_anything_is_sent() {
    let mail = Mail::new().await;
    mail.instance("acme-small", "sendgrid", &[("max_message_bytes", "64")])
        .await;
    let cases = [
        (
            "acme-sendgrid",
            json!({"to": ["ann@example.com\r\nBcc: all@example.com"], "subject": "x", "text": "y"}),
            "invalid_input",
        ),
        (
            "acme-sendgrid",
            json!({"to": ["Ann <ann@example.com>"], "subject": "x", "text": "y"}),
            "invalid_input",
        ),
        (
            "acme-sendgrid",
            json!({"to": ["ann@example.com"], "subject": "x"}),
            "invalid_input",
        ),
        (
            "acme-sendgrid",
            json!({"to": ["ann@example.com"], "subject": "line\nbreak", "text": "y"}),
            "invalid_input",
        ),
        (
            "acme-sendgrid",
            json!({"to": (0..30).map(|i| format!("a{i}@example.com")).collect::<Vec<_>>(),
                   "bcc": (0..30).map(|i| format!("b{i}@example.com")).collect::<Vec<_>>(),
                   "subject": "x", "text": "y"}),
            "invalid_input",
        ),
        (
            "acme-small",
            json!({"to": ["ann@example.com"], "subject": "x", "text": "y".repeat(100)}),
            "too_large",
        ),
    ];
    for (instance, input, code) in cases {
        let response = mail.call(instance, "email.send", input.clone()).await;
        assert_eq!(code_of(&response), code, "{input}");
    }
    assert!(mail.sendgrid.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn sendgrid_refusals_map_to_codes_and_a_429_is_waited_out_until_its_reset() {
    let mail = Mail::new().await;
    mail.instance(
        "acme-spoof",
        "sendgrid",
        &[("from", "someone-else@example.com")],
    )
    .await;
    let input = json!({"to": ["ann@example.com"], "subject": "x", "text": "y"});
    let spoofed = mail.call("acme-spoof", "email.send", input.clone()).await;
    assert_eq!(code_of(&spoofed), "provider_auth");
    assert_eq!(mail.receipt(&spoofed).await.provider_status, Some(403));

    mail.sendgrid
        .state
        .lock()
        .expect("in the email test")
        .throttle = 1;
    let started = std::time::Instant::now();
    let (_, receipt) = mail.ok("acme-sendgrid", "email.send", input).await;
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited");
    let statuses: Vec<Option<u16>> = receipt.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(429), Some(202)]);
    assert!(receipt.attempts[0]
        .rate_limit
        .contains_key("x-ratelimit-reset"));
}

#[tokio::test]
async fn send_batch_splits_requests_by_the_limit_and_reports_each_recipient() {
    let mail = Mail::new().await;
    mail.instance(
        "acme-batch",
        "sendgrid",
        &[("max_recipients_per_request", "2")],
    )
    .await;
    let (output, receipt) = mail
        .ok(
            "acme-batch",
            "email.send_batch",
            json!({"recipients": [
                {"to": "a@example.com", "name": "A"}, {"to": "b@example.com"},
                {"to": "c@example.com"}, {"to": "not-an-address"}, {"to": "d@example.com"},
                {"to": "A@example.com"}, {"to": "e@example.com"}],
                "subject": "News", "text": "Hello"}),
        )
        .await;
    assert_eq!(output["accepted"], 5);
    assert_eq!(output["failed"], 2);
    assert_eq!(output["requests"], 3);
    let sizes: Vec<usize> = mail
        .sendgrid
        .requests()
        .iter()
        .map(|r| {
            r["personalizations"]
                .as_array()
                .expect("in the email test")
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    let first = &mail.sendgrid.requests()[0];
    assert_eq!(first["personalizations"][0]["to"][0]["name"], "A");
    let results = output["results"].as_array().expect("in the email test");
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| r["to"].as_str().expect("in the email test"))
        .collect();
    assert_eq!(failed, vec!["not-an-address", "A@example.com"]);
    assert_eq!(receipt.message_ids.len(), 3);
}

/// Verifies `address` with the emulator's SES, as an operator verifies a sender.
async fn verify_identity(stack: &Stack, address: &str) {
    stack
        .app
        .aws
        .sesv2()
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .expect("create identity");
}

/// Publishes an SES email event as SES's EventBridge destination does (default bus).
async fn publish_ses_event(stack: &Stack, detail_type: &str, detail: Value) {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("aws.ses")
        .detail_type(detail_type)
        .detail(detail.to_string())
        .build();
    let out = stack
        .app
        .aws
        .events()
        .put_events()
        .entries(entry)
        .send()
        .await
        .expect("put events");
    assert_eq!(out.failed_entry_count, 0);
}

#[tokio::test]
async fn ses_send_and_its_events_through_the_default_bus_reach_the_receipt() {
    let mail = Mail::new().await;
    verify_identity(&mail.stack, SENDER).await;
    mail.instance("acme-ses", "ses", &[]).await;
    let (output, receipt) = mail
        .ok(
            "acme-ses",
            "email.send",
            json!({"to": ["ann@example.com", "bob@example.com"], "subject": "Hello", "text": "Hi"}),
        )
        .await;
    assert_eq!(output["service"], "ses");
    let message_id = output["message_id"]
        .as_str()
        .expect("in the email test")
        .to_owned();
    assert_eq!(receipt.message_ids, vec![format!("ses:{message_id}")]);
    assert_eq!(receipt.attempts[0].path, "/v2/email/outbound-emails");

    let mail_part =
        json!({"messageId": message_id, "destination": ["ann@example.com", "bob@example.com"]});
    publish_ses_event(
        &mail.stack,
        "Email Delivered",
        json!({"eventType": "Delivery", "mail": mail_part,
               "delivery": {"timestamp": "2026-11-27T10:00:00.000Z", "recipients": ["ann@example.com"]}}),
    )
    .await;
    publish_ses_event(
        &mail.stack,
        "Email Bounced",
        json!({"eventType": "Bounce", "mail": mail_part,
               "bounce": {"timestamp": "2026-11-27T10:00:01.000Z", "bounceType": "Permanent",
                          "bouncedRecipients": [{"emailAddress": "bob@example.com"}]}}),
    )
    .await;
    // Engagement is not a delivery status, and the rule does not even send it.
    publish_ses_event(
        &mail.stack,
        "Email Opened",
        json!({"eventType": "Open", "mail": mail_part, "open": {}}),
    )
    .await;
    let settings = switchyard_ops::local::DriverSettings {
        batch_size: 10,
        visibility_timeout: 1,
        wait_secs: 0,
    };
    let mut received = 0;
    for _ in 0..20 {
        let (n, failed) = switchyard_ops::email::drive_status_once(&mail.stack.app, settings)
            .await
            .expect("drive");
        assert_eq!(failed, 0);
        received += n;
        if received >= 2 {
            break;
        }
    }
    assert_eq!(received, 2, "the rule sends the two delivery events");
    assert_eq!(
        mail.deliveries(&receipt.receipt_id).await,
        vec![
            ("ann@example.com".to_owned(), "delivered".to_owned()),
            ("bob@example.com".to_owned(), "bounce".to_owned()),
        ]
    );
}

#[tokio::test]
async fn ses_refuses_an_unverified_sender_and_batches_send_one_message_per_recipient() {
    let mail = Mail::new().await;
    // The emulator is shared by every test: a sender nobody verifies.
    let unverified = format!("nobody-{}@acme.example.com", uuid::Uuid::new_v4().simple());
    mail.instance("acme-unverified", "ses", &[("from", &unverified)])
        .await;
    mail.instance("acme-ses", "ses", &[]).await;
    let refused = mail
        .call(
            "acme-unverified",
            "email.send",
            json!({"to": ["ann@example.com"], "subject": "x", "text": "y"}),
        )
        .await;
    assert_eq!(code_of(&refused), "provider_error");
    assert!(mail.receipt(&refused).await.message_ids.is_empty());

    verify_identity(&mail.stack, SENDER).await;
    let (output, receipt) = mail
        .ok(
            "acme-ses",
            "email.send_batch",
            json!({"recipients": [{"to": "a@example.com"}, {"to": "b@example.com"}, {"to": "c@example.com"}],
                   "subject": "News", "html": "<p>Hello</p>"}),
        )
        .await;
    assert_eq!(output["accepted"], 3);
    assert_eq!(output["requests"], 3);
    let ids: std::collections::BTreeSet<&str> = output["results"]
        .as_array()
        .expect("in the email test")
        .iter()
        .map(|r| r["message_id"].as_str().expect("in the email test"))
        .collect();
    assert_eq!(ids.len(), 3, "one message per recipient");
    assert_eq!(receipt.message_ids.len(), 3);
}
