//! The WhatsApp tools end to end (emulator): every tool through the real pipeline against the
//! loopback Graph fake (`tests/meta-fake`), and the state webhooks feed them: a signed inbound
//! message (X-Hub-Signature-256) opens the 24-hour window, `STOP` opts the sender out, the CLI
//! lifts the opt-out. Refusals are checked to make no provider call.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use switchyard::policy::{Trigger, TriggerPolicy};
use switchyard::tools::{ToolRequest, ToolResponse};
use switchyard_meta_fake::MetaFake;
use tokio::time::Instant;

use crate::cli::cli;
use crate::support::{Stack, NOW};

const AGENT: &str = "agent-wa";
const INSTANCE: &str = "wa";
const TOKEN: &str = "EAAG-system-user-token";
const APP_SECRET: &str = "meta-app-secret-for-tests";
const PHONE: &str = "106540352242922";
const WABA: &str = "102290129340398";
const CUSTOMER: &str = "16505551234";

struct WhatsApp {
    stack: Stack,
    base: String,
    fake: MetaFake,
}

fn real_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

impl WhatsApp {
    async fn new() -> Self {
        let stack = Stack::new().await;
        let base = stack.serve().await;
        let fake = MetaFake::start(TOKEN, PHONE, WABA).await;
        let settings: Vec<(String, String)> = [
            ("app_secret", APP_SECRET),
            ("verify_token", "verify-me"),
            ("phone_number_id", PHONE),
            ("waba_id", WABA),
            ("access_token", TOKEN),
            ("api_version", "v23.0"),
            ("api_base_url", fake.base_url.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        switchyard_ops::admin::create_instance(&stack.app, "whatsapp", INSTANCE, "acme", &settings)
            .await
            .expect("instance");
        let policy = TriggerPolicy {
            trigger: Trigger::All,
            channels: vec!["*".into()],
            dms: true,
            private_channels: true,
            ..Default::default()
        };
        switchyard_ops::admin::grant(&stack.app, INSTANCE, AGENT, &policy)
            .await
            .expect("grant");
        Self { stack, base, fake }
    }

    async fn call(&self, tool: &str, input: Value) -> ToolResponse {
        let request = ToolRequest {
            instance_id: INSTANCE.into(),
            agent_id: AGENT.into(),
            input,
            idempotency_key: None,
            trace_id: None,
            on_behalf_of: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        switchyard::tools::invoke(self.stack.app.tools(), tool, request, deadline).await
    }

    async fn ok(&self, tool: &str, input: Value) -> Value {
        match self.call(tool, input).await {
            ToolResponse::Ok { output, .. } => output,
            ToolResponse::Err { error, .. } => panic!("{tool} failed: {error:?}"),
        }
    }

    /// The error code, message and provider status of a call that must fail.
    async fn err(&self, tool: &str, input: Value) -> (String, String, Option<u16>) {
        match self.call(tool, input).await {
            ToolResponse::Ok { output, .. } => panic!("{tool} succeeded: {output}"),
            ToolResponse::Err { error, .. } => (
                error.code.as_str().to_owned(),
                error.message,
                error.provider_status,
            ),
        }
    }

    /// Posts a signed webhook with a text message from `from` at `at`, and runs the consumer.
    async fn inbound(&self, id: &str, from: &str, text: &str, at: u64) {
        let body =
            json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE},
                "contacts": [{"profile": {"name": "Sheena"}, "wa_id": from}],
                "messages": [{"from": from, "id": id, "timestamp": at.to_string(),
                              "type": "text", "text": {"body": text}}]}}]}]})
            .to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("key");
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let response = reqwest::Client::new()
            .post(format!("{}/webhooks/whatsapp/{INSTANCE}", self.base))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .expect("post webhook");
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        assert!(
            self.stack.drain().await >= 1,
            "the consumer took the delivery"
        );
    }

    fn sends(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/messages"))
            .count()
    }
}

fn text(to: &str, body: &str) -> Value {
    json!({"to": to, "text": body})
}

#[tokio::test]
async fn an_inbound_message_opens_the_window_and_stop_opts_out_until_an_operator_lifts_it() {
    let wa = WhatsApp::new().await;
    // Nobody has written: a free-form message is refused before any provider call.
    let (code, message, status) = wa.err("whatsapp.send_message", text(CUSTOMER, "hi")).await;
    assert_eq!(code, "outside_session_window", "{message}");
    assert_eq!(status, None);
    assert!(wa.fake.requests().is_empty(), "no provider call");

    // A message written 25 hours ago does not open the window now.
    wa.inbound("wamid.old", CUSTOMER, "hello?", NOW - 25 * 3600)
        .await;
    let (code, _, _) = wa.err("whatsapp.send_message", text(CUSTOMER, "hi")).await;
    assert_eq!(code, "outside_session_window");
    assert!(wa.fake.requests().is_empty(), "no provider call");

    // A message a minute ago does; Meta knows it too.
    wa.inbound("wamid.new", CUSTOMER, "Does it come in red?", NOW - 60)
        .await;
    wa.fake.inbound(CUSTOMER, real_now());
    let sent = wa
        .ok(
            "whatsapp.send_message",
            text(&format!("+{CUSTOMER}"), "Yes, in red."),
        )
        .await;
    assert!(
        sent["message_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("wamid.")),
        "{sent}"
    );
    assert_eq!(sent["wa_id"], json!(CUSTOMER));
    let media = wa
        .ok(
            "whatsapp.send_message",
            json!({"to": CUSTOMER, "media": {"type": "image", "link": "https://example.com/red.jpg", "caption": "red"}}),
        )
        .await;
    assert!(media["message_id"].is_string());
    let sends = wa.fake.sends();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0]["type"], json!("text"));
    assert_eq!(sends[0]["to"], json!(CUSTOMER));
    assert_eq!(sends[0]["text"]["body"], json!("Yes, in red."));
    assert_eq!(
        sends[1]["image"],
        json!({"link": "https://example.com/red.jpg", "caption": "red"})
    );
    assert!(
        wa.fake
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/v23.0/")),
        "pinned version"
    );

    // STOP opts the sender out: every send is refused without a provider call.
    wa.inbound("wamid.stop", CUSTOMER, "  stop ", NOW - 30)
        .await;
    let before = wa.fake.requests().len();
    let (code, _, _) = wa
        .err("whatsapp.send_message", text(CUSTOMER, "bye?"))
        .await;
    assert_eq!(code, "recipient_opted_out");
    wa.fake.add_template("order_update", "en_US", "APPROVED");
    let (code, _, _) = wa
        .err(
            "whatsapp.send_template",
            json!({"to": CUSTOMER, "name": "order_update", "language": "en_US"}),
        )
        .await;
    assert_eq!(code, "recipient_opted_out");
    assert_eq!(wa.fake.requests().len(), before, "no provider call");

    // The operator sees the opt-out and lifts it.
    let listed = cli(
        &wa.stack,
        &["whatsapp", "optout", "list", "--instance", INSTANCE],
    )
    .await
    .expect("list");
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed[0]["recipient"], json!(CUSTOMER));
    assert_eq!(listed[0]["opted_out_at"], json!(NOW - 30));
    cli(
        &wa.stack,
        &[
            "whatsapp",
            "optout",
            "remove",
            "--instance",
            INSTANCE,
            "--recipient",
            CUSTOMER,
        ],
    )
    .await
    .expect("remove");
    let listed = cli(&wa.stack, &["whatsapp", "optout", "list"])
        .await
        .expect("list");
    assert_eq!(
        serde_json::from_str::<Value>(&listed).expect("json"),
        json!([])
    );
    wa.ok("whatsapp.send_message", text(CUSTOMER, "welcome back"))
        .await;
    assert_eq!(wa.sends(), 3);

    // A STOP older than the operator's decision (a late delivery) does not undo it.
    wa.inbound("wamid.late-stop", CUSTOMER, "STOP", NOW - 20)
        .await;
    wa.ok("whatsapp.send_message", text(CUSTOMER, "still here"))
        .await;
    // A newer one opts out again, and START opts back in.
    wa.inbound("wamid.stop2", CUSTOMER, "UNSUBSCRIBE", NOW + 10)
        .await;
    let (code, _, _) = wa.err("whatsapp.send_message", text(CUSTOMER, "x")).await;
    assert_eq!(code, "recipient_opted_out");
    wa.inbound("wamid.start", CUSTOMER, "Start", NOW + 20).await;
    wa.ok("whatsapp.send_message", text(CUSTOMER, "hello again"))
        .await;
}

#[tokio::test]
async fn graph_window_errors_map_to_outside_session_window() {
    let wa = WhatsApp::new().await;
    // We saw a message, Meta says the window is closed (131047): the agent gets the same code.
    wa.inbound("wamid.a", "4915112345678", "hallo", NOW - 60)
        .await;
    let (code, message, status) = wa
        .err("whatsapp.send_message", text("4915112345678", "hi"))
        .await;
    assert_eq!(code, "outside_session_window");
    assert!(
        message.contains("131047") || message.contains("Re-engagement"),
        "{message}"
    );
    assert_eq!(status, Some(400));
}

#[tokio::test]
async fn templates_are_created_listed_and_sent_only_when_approved() {
    let wa = WhatsApp::new().await;
    let created = wa
        .ok(
            "whatsapp.templates_create",
            json!({"name": "shipping_update", "language": "en_US", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Your order {{1}} has shipped."}]}),
        )
        .await;
    assert_eq!(created["status"], json!("PENDING"));
    let status = wa
        .ok(
            "whatsapp.templates_status",
            json!({"name": "shipping_update"}),
        )
        .await;
    assert_eq!(status["found"], json!(true));
    assert_eq!(status["languages"][0]["status"], json!("PENDING"));

    // Pending: refused, nothing sent (templates may go outside the window: no inbound here).
    let send = json!({"to": CUSTOMER, "name": "shipping_update", "language": "en_US",
                      "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-17"}]}]});
    let (code, message, _) = wa.err("whatsapp.send_template", send.clone()).await;
    assert_eq!(code, "template_not_approved");
    assert!(message.contains("PENDING"), "{message}");
    assert_eq!(wa.sends(), 0);
    wa.fake.set_status("shipping_update", "REJECTED");
    let (code, message, _) = wa.err("whatsapp.send_template", send.clone()).await;
    assert_eq!(code, "template_not_approved");
    assert!(message.contains("REJECTED"), "{message}");
    // Another language of it does not exist.
    let (code, message, _) = wa
        .err(
            "whatsapp.send_template",
            json!({"to": CUSTOMER, "name": "shipping_update", "language": "de"}),
        )
        .await;
    assert_eq!(code, "template_not_approved");
    assert!(message.contains("not found"), "{message}");
    assert_eq!(wa.sends(), 0);

    // Approved: sent, with its components.
    wa.fake.set_status("shipping_update", "APPROVED");
    let sent = wa.ok("whatsapp.send_template", send.clone()).await;
    assert_eq!(sent["message_status"], json!("accepted"));
    let sends = wa.fake.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["type"], json!("template"));
    assert_eq!(sends[0]["template"]["language"]["code"], json!("en_US"));
    assert_eq!(
        sends[0]["template"]["components"][0]["parameters"][0]["text"],
        json!("A-17")
    );
    // The approved status is cached briefly: a second send looks nothing up.
    let lookups = |fake: &MetaFake| {
        fake.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/message_templates"))
            .count()
    };
    let before = lookups(&wa.fake);
    wa.ok("whatsapp.send_template", send).await;
    assert_eq!(lookups(&wa.fake), before);

    // Listing pages through the business account's templates.
    wa.fake.add_template("welcome", "en_US", "APPROVED");
    wa.fake.add_template("promo", "en_US", "REJECTED");
    let first = wa.ok("whatsapp.templates_list", json!({"limit": 2})).await;
    assert_eq!(first["templates"].as_array().map(Vec::len), Some(2));
    let after = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = wa
        .ok(
            "whatsapp.templates_list",
            json!({"limit": 2, "after": after}),
        )
        .await;
    assert_eq!(second["templates"][0]["name"], json!("promo"));
    assert_eq!(second["templates"][0]["status"], json!("REJECTED"));
    assert_eq!(second["next_cursor"], Value::Null);

    // Creating the same name and language again: Graph's error, as provider_error.
    let (code, message, status) = wa
        .err(
            "whatsapp.templates_create",
            json!({"name": "welcome", "language": "en_US", "category": "MARKETING",
                   "components": [{"type": "BODY", "text": "Hi"}]}),
        )
        .await;
    assert_eq!(code, "provider_error");
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(status, Some(400));
}

#[tokio::test]
async fn an_artifact_is_uploaded_as_media_and_sent_by_id() {
    let wa = WhatsApp::new().await;
    let app = &wa.stack.app;
    let new = |workspace| switchyard::artifacts::NewArtifact {
        workspace,
        provider: "openai",
        mime_type: "image/png",
        extension: "png",
        expires_at: NOW + 3600,
        ..Default::default()
    };
    let png = b"\x89PNG\r\n\x1a\n-not-really-an-image".to_vec();
    let artifact = app
        .tools()
        .artifacts
        .put(&new("acme"), &png, NOW)
        .await
        .expect("artifact");
    let uploaded = wa
        .ok(
            "whatsapp.media_upload",
            json!({"artifact_id": artifact.id, "filename": "red.png"}),
        )
        .await;
    let media_id = uploaded["media_id"].as_str().expect("media id").to_owned();
    let stored = wa.fake.media();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, media_id);
    assert_eq!(stored[0].content_type, "image/png");
    assert_eq!(stored[0].bytes, png, "the bytes arrive as they were stored");

    wa.inbound("wamid.m", CUSTOMER, "send me a picture", NOW - 60)
        .await;
    wa.fake.inbound(CUSTOMER, real_now());
    wa.ok(
        "whatsapp.send_message",
        json!({"to": CUSTOMER, "media": {"type": "image", "id": media_id}}),
    )
    .await;
    assert_eq!(wa.fake.sends()[0]["image"], json!({"id": media_id}));

    // Another workspace's artifact is not found; nothing is uploaded.
    let theirs = app
        .tools()
        .artifacts
        .put(&new("other"), &png, NOW)
        .await
        .expect("artifact");
    let (code, _, _) = wa
        .err("whatsapp.media_upload", json!({"artifact_id": theirs.id}))
        .await;
    assert_eq!(code, "invalid_input");
    assert_eq!(wa.fake.media().len(), 1);
}
