//! Google push ingress against the emulator: Gmail's Pub/Sub push (an OIDC JWT checked against a
//! loopback JWKS of test RSA keys, generated per run with aws-lc-rs) and Drive/Calendar channel
//! notifications (checked against the watches table), both claimed once and queued on the sync
//! queue, never the ingress queue. Every refusal leaves nothing in the deliveries table or any
//! queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use aws_lc_rs::signature::RsaKeyPair;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use serde_json::{json, Value};

use switchyard::clock::Clock;
use switchyard::config::Limits;
use switchyard::ingest::jwks::JwksCache;
use switchyard::ingest::{Ingress, WebhookRequest};
use switchyard::providers::jwt::sign;
use switchyard::watches::{token_digest, Channel};
use switchyard::workitem::WorkItem;

use crate::support::{Stack, NOW};

static KEY_1: LazyLock<RsaKeyPair> = LazyLock::new(generate);
static KEY_2: LazyLock<RsaKeyPair> = LazyLock::new(generate);
static FOREIGN: LazyLock<RsaKeyPair> = LazyLock::new(generate);

fn generate() -> RsaKeyPair {
    RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate a test RSA key")
}

const INSTANCE: &str = "g-push";
const AUDIENCE: &str = "https://switchyard.example/webhooks/google-pubsub/g-push";
const SERVICE_ACCOUNT: &str = "gmail-push@acme-proj.iam.gserviceaccount.com";
const MAILBOX: &str = "user@acme.example";

/// A loopback JWKS whose keys the test swaps, counting fetches.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: Value) -> Self {
        let state = (Arc::new(Mutex::new(keys)), Arc::new(AtomicUsize::new(0)));
        let router = axum::Router::new()
            .route(
                "/oauth2/v3/certs",
                get(
                    |State((keys, hits)): State<(Arc<Mutex<Value>>, Arc<AtomicUsize>)>| async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let body = keys.lock().expect("keys").to_string();
                        (
                            [
                                ("content-type", "application/json"),
                                // Google's own answer caches for hours.
                                ("cache-control", "public, max-age=21600, must-revalidate"),
                            ],
                            body,
                        )
                    },
                ),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
        Self {
            url: format!("http://{addr}/oauth2/v3/certs"),
            keys: state.0,
            hits: state.1,
        }
    }

    fn set(&self, keys: Value) {
        *self.keys.lock().expect("keys") = keys;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn jwks(keys: &[(&RsaKeyPair, &str)]) -> Value {
    json!({"keys": keys.iter().map(|(k, kid)| sign::jwk(k, kid)).collect::<Vec<_>>()})
}

/// What Google's push token says for our subscription.
fn claims() -> Value {
    json!({
        "aud": AUDIENCE,
        "azp": "113774264463038321964",
        "email": SERVICE_ACCOUNT,
        "email_verified": true,
        "exp": NOW + 3600,
        "iat": NOW,
        "iss": "https://accounts.google.com",
        "sub": "113774264463038321964",
    })
}

fn push_body(email: &str, history_id: &str, message_id: &str) -> Vec<u8> {
    let data = json!({"emailAddress": email, "historyId": history_id}).to_string();
    json!({
        "message": {
            "data": base64::engine::general_purpose::URL_SAFE.encode(data),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-01-01T00:00:00.000Z",
            "publish_time": "2026-01-01T00:00:00.000Z",
        },
        "subscription": "projects/acme-proj/subscriptions/gmail-push",
    })
    .to_string()
    .into_bytes()
}

/// A stack with a `google` instance configured for push, and an ingress whose key sets come from
/// `jwks_url` (as `SWITCHYARD_OIDC_JWKS_URL` makes them on a deployment).
async fn push_stack(jwks_url: &str, gmail_address: &str) -> (Stack, Ingress) {
    let stack = Stack::new().await;
    let settings: Vec<(String, String)> = [
        ("client_id", "client-1"),
        ("client_secret", "secret-1"),
        ("push_audience", AUDIENCE),
        ("push_service_account", SERVICE_ACCOUNT),
        ("gmail_address", gmail_address),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&stack.app, "google", INSTANCE, "acme", &settings)
        .await
        .expect("google instance");
    let mut ingress = Ingress::new(
        &stack.app.aws,
        &stack.app.resources,
        stack.app.registry.clone(),
        Limits::default(),
        Clock::fixed(NOW),
    );
    ingress.jwks = JwksCache::new(Some(jwks_url.to_owned()));
    (stack, ingress)
}

async fn push(ingress: &Ingress, token: Option<&str>, body: &[u8]) -> u16 {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("value"));
    if let Some(token) = token {
        headers.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("value"),
        );
    }
    let request = WebhookRequest {
        method: "POST",
        headers: &headers,
        query: "",
        body,
    };
    switchyard::ingest::handle(ingress, "google-pubsub", INSTANCE, request)
        .await
        .status
}

/// Every WorkItem on the sync queue, removing them.
async fn take_sync_items(stack: &Stack) -> Vec<WorkItem> {
    let sqs = stack.app.aws.sqs();
    let mut items = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&stack.app.resources.sync_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return items;
        }
        for message in messages {
            items.push(WorkItem::parse(message.body().unwrap_or_default()).expect("a WorkItem"));
            sqs.delete_message()
                .queue_url(&stack.app.resources.sync_queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

async fn assert_nothing_stored(stack: &Stack, what: &str) {
    assert!(
        stack.deliveries().await.is_empty(),
        "{what}: a delivery was recorded"
    );
    assert_eq!(
        stack.depth(&stack.app.resources.sync_queue_url).await,
        0,
        "{what}: queued for sync"
    );
    assert_eq!(stack.ingress_depth().await, 0, "{what}: queued on ingress");
}

#[tokio::test]
async fn a_verified_gmail_push_is_claimed_once_and_queued_for_sync() {
    let server = JwksServer::start(jwks(&[(&KEY_1, "k1")])).await;
    let (stack, ingress) = push_stack(&server.url, MAILBOX).await;
    let token = sign::rs256(&KEY_1, "k1", &claims());
    let body = push_body(MAILBOX, "9876543210", "2070443601311540");

    assert_eq!(push(&ingress, Some(&token), &body).await, 200);
    // Pub/Sub redelivers the same message: acknowledged, not queued again.
    assert_eq!(push(&ingress, Some(&token), &body).await, 200);

    let items = take_sync_items(&stack).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item.provider, "google-pubsub");
    assert_eq!(item.instance_id, INSTANCE);
    assert_eq!(item.kind, "gmail.notification");
    assert_eq!(
        item.delivery_key,
        format!("google-pubsub#{INSTANCE}#{MAILBOX}#9876543210#2070443601311540")
    );
    assert_eq!(
        item.payload,
        Some(json!({
            "emailAddress": MAILBOX,
            "historyId": "9876543210",
            "messageId": "2070443601311540",
            "publishTime": "2026-01-01T00:00:00.000Z",
            "subscription": "projects/acme-proj/subscriptions/gmail-push",
        }))
    );
    assert_eq!(
        stack.ingress_depth().await,
        0,
        "not an event: the sync worker pulls"
    );
    assert_eq!(stack.deliveries().await.len(), 1);
    assert_eq!(server.hits(), 1, "the key set is cached across requests");
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_refused_with_nothing_stored() {
    let server = JwksServer::start(jwks(&[(&KEY_1, "k1")])).await;
    let (stack, ingress) = push_stack(&server.url, MAILBOX).await;
    let body = push_body(MAILBOX, "100", "m-1");
    let with = |change: fn(&mut Value)| {
        let mut claims = claims();
        change(&mut claims);
        sign::rs256(&KEY_1, "k1", &claims)
    };
    let valid = sign::rs256(&KEY_1, "k1", &claims());
    let (signed, signature) = valid.rsplit_once('.').expect("jws");
    let mut flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .expect("b64");
    flipped[0] ^= 0x80;
    let forged = format!(
        "{signed}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(flipped)
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("forged signature", Some(forged)),
        (
            "another key under our kid",
            Some(sign::rs256(&FOREIGN, "k1", &claims())),
        ),
        (
            "an unknown kid",
            Some(sign::rs256(&FOREIGN, "k-evil", &claims())),
        ),
        (
            "alg none",
            Some(sign::with_header(
                &json!({"alg": "none", "kid": "k1"}),
                &claims(),
                b"",
            )),
        ),
        (
            "alg HS256",
            Some(sign::with_header(
                &json!({"alg": "HS256", "kid": "k1"}),
                &claims(),
                b"mac",
            )),
        ),
        (
            "wrong audience",
            Some(with(|c| c["aud"] = json!("https://evil.example/push"))),
        ),
        (
            "wrong email",
            Some(with(|c| {
                c["email"] = json!("evil@evil-proj.iam.gserviceaccount.com")
            })),
        ),
        (
            "email not verified",
            Some(with(|c| c["email_verified"] = json!(false))),
        ),
        ("expired", Some(with(|c| c["exp"] = json!(NOW - 61)))),
        (
            "wrong issuer",
            Some(with(|c| c["iss"] = json!("https://evil.example"))),
        ),
    ];
    for (what, token) in &cases {
        assert_eq!(push(&ingress, token.as_deref(), &body).await, 401, "{what}");
    }
    assert_nothing_stored(&stack, "refused tokens").await;
    // The same request with the valid token passes: the refusals were about the tokens.
    assert_eq!(push(&ingress, Some(&valid), &body).await, 200);
}

#[tokio::test]
async fn google_key_rotation_is_followed_once_and_bogus_kids_cannot_hammer_the_jwks() {
    let server = JwksServer::start(jwks(&[(&KEY_1, "k1")])).await;
    let (stack, ingress) = push_stack(&server.url, MAILBOX).await;
    let first = sign::rs256(&KEY_1, "k1", &claims());
    assert_eq!(
        push(&ingress, Some(&first), &push_body(MAILBOX, "1", "m-1")).await,
        200
    );
    assert_eq!(server.hits(), 1);

    // Google rotates: k1 retired, k2 signs. The unknown kid triggers one refetch.
    server.set(jwks(&[(&KEY_2, "k2")]));
    let rotated = sign::rs256(&KEY_2, "k2", &claims());
    assert_eq!(
        push(&ingress, Some(&rotated), &push_body(MAILBOX, "2", "m-2")).await,
        200
    );
    assert_eq!(server.hits(), 2);

    // A flood of made-up kids: refused, and no more fetches inside the rate limit.
    for i in 0..20 {
        let bogus = sign::rs256(&FOREIGN, &format!("bogus-{i}"), &claims());
        assert_eq!(
            push(&ingress, Some(&bogus), &push_body(MAILBOX, "3", "m-3")).await,
            401
        );
    }
    assert_eq!(
        server.hits(),
        2,
        "unknown kids are refetched at most once a minute"
    );
    // The retired key no longer verifies.
    assert_eq!(
        push(&ingress, Some(&first), &push_body(MAILBOX, "4", "m-4")).await,
        401
    );

    let queued = take_sync_items(&stack).await;
    assert_eq!(queued.len(), 2, "{queued:?}");
}

#[tokio::test]
async fn a_push_for_another_mailbox_is_acknowledged_recorded_and_not_queued() {
    let server = JwksServer::start(jwks(&[(&KEY_1, "k1")])).await;
    let (stack, ingress) = push_stack(&server.url, MAILBOX).await;
    let token = sign::rs256(&KEY_1, "k1", &claims());
    let body = push_body("someone-else@other.example", "5", "m-5");
    assert_eq!(push(&ingress, Some(&token), &body).await, 200);
    assert!(take_sync_items(&stack).await.is_empty());
    let records = stack.deliveries().await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, "refused_tenant_mismatch");

    // A verified push whose data is not Gmail's: 400, nothing stored.
    for bad in [
        br#"{"message":{"data":"!!!","messageId":"m-6"}}"#.to_vec(),
        br#"{"message":{"messageId":"m-7"}}"#.to_vec(),
        push_body(MAILBOX, "not-a-number", "m-8"),
    ] {
        assert_eq!(push(&ingress, Some(&token), &bad).await, 400);
    }
    assert_eq!(stack.deliveries().await.len(), 1);
    assert!(take_sync_items(&stack).await.is_empty());
}

// ---------------------------------------------------------------- channels

const CHANNEL_TOKEN: &str = "channel-token-1";

fn channel(id: &str, instance_id: &str, token: &str, expires_at: u64) -> Channel {
    Channel {
        id: id.to_owned(),
        watch_id: format!("wch_{id}"),
        instance_id: instance_id.to_owned(),
        resource_id: Some(format!("res-{id}")),
        token_sha256: token_digest(token),
        expires_at,
        created_at: NOW,
    }
}

/// A stack serving the local host's routes, with two `google` instances and their channels.
async fn channel_stack() -> (Stack, String) {
    let stack = Stack::new().await;
    let settings = [
        ("client_id".to_owned(), "client-1".to_owned()),
        ("client_secret".to_owned(), "secret-1".to_owned()),
    ];
    for id in ["g-chan", "g-other"] {
        switchyard_ops::admin::create_instance(&stack.app, "google", id, "acme", &settings)
            .await
            .expect("google instance");
    }
    for channel in [
        channel("ch-1", "g-chan", CHANNEL_TOKEN, NOW + 3600),
        channel("ch-other", "g-other", "other-token", NOW + 3600),
        channel("ch-old", "g-chan", CHANNEL_TOKEN, NOW - 1),
    ] {
        stack
            .app
            .watches
            .put_channel(&channel)
            .await
            .expect("channel");
    }
    let base = stack.serve().await;
    (stack, base)
}

async fn notify(base: &str, instance: &str, headers: &[(&str, &str)]) -> u16 {
    let request = reqwest::Client::new()
        .post(format!("{base}/webhooks/google-channel/{instance}"))
        .header("user-agent", "APIs-Google");
    headers
        .iter()
        .fold(request, |r, (k, v)| r.header(*k, *v))
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

fn notification<'a>(
    channel: &'a str,
    resource: &'a str,
    token: &'a str,
    number: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("x-goog-channel-id", channel),
        ("x-goog-resource-id", resource),
        ("x-goog-channel-token", token),
        ("x-goog-resource-state", "change"),
        ("x-goog-message-number", number),
        ("x-goog-changed", "content"),
        (
            "x-goog-resource-uri",
            "https://www.googleapis.com/drive/v3/changes",
        ),
    ]
}

#[tokio::test]
async fn a_channel_notification_is_queued_for_sync_once_through_the_local_host() {
    let (stack, base) = channel_stack().await;
    // The first message of a channel asks for nothing.
    let mut sync = notification("ch-1", "res-ch-1", CHANNEL_TOKEN, "1");
    sync[3] = ("x-goog-resource-state", "sync");
    assert_eq!(notify(&base, "g-chan", &sync).await, 200);
    assert_nothing_stored(&stack, "sync message").await;

    let change = notification("ch-1", "res-ch-1", CHANNEL_TOKEN, "7");
    assert_eq!(notify(&base, "g-chan", &change).await, 200);
    // Google retries the same message number: one delivery.
    assert_eq!(notify(&base, "g-chan", &change).await, 200);
    let items = take_sync_items(&stack).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].kind, "channel.notification");
    assert_eq!(items[0].provider, "google-channel");
    assert_eq!(items[0].instance_id, "g-chan");
    assert_eq!(
        items[0].payload,
        Some(json!({
            "channel_id": "ch-1", "resource_id": "res-ch-1", "resource_state": "change",
            "message_number": "7", "changed": "content", "watch_id": "wch_ch-1",
        }))
    );
    assert_eq!(stack.ingress_depth().await, 0);
    assert_eq!(stack.deliveries().await.len(), 1);
}

#[tokio::test]
async fn channel_notifications_that_are_not_ours_are_refused_with_nothing_stored() {
    let (stack, base) = channel_stack().await;
    let cases = [
        (
            "wrong token",
            notification("ch-1", "res-ch-1", "guess", "2"),
        ),
        (
            "unknown channel",
            notification("ch-nope", "res-ch-1", CHANNEL_TOKEN, "2"),
        ),
        // Another instance's channel, with its own valid token, posted to this instance.
        (
            "another instance's channel",
            notification("ch-other", "res-ch-other", "other-token", "2"),
        ),
        (
            "wrong resource id",
            notification("ch-1", "res-other", CHANNEL_TOKEN, "2"),
        ),
        (
            "expired channel",
            notification("ch-old", "res-ch-old", CHANNEL_TOKEN, "2"),
        ),
        ("no token", notification("ch-1", "res-ch-1", "", "2")),
    ];
    for (what, headers) in &cases {
        assert_eq!(notify(&base, "g-chan", headers).await, 401, "{what}");
    }
    // A channel id longer than Google's is refused without a lookup.
    let long = "c".repeat(65);
    assert_eq!(
        notify(
            &base,
            "g-chan",
            &notification(&long, "res", CHANNEL_TOKEN, "2")
        )
        .await,
        401
    );
    assert_nothing_stored(&stack, "refused notifications").await;
}

// ---------------------------------------------------------------- the consumer

/// A WorkItem names the definition that accepted it; the consumer delivers it only for an
/// instance that definition serves. A Slack item naming a Google instance (granted to an agent
/// that takes everything) is dropped, not normalized as Slack and published to that agent.
#[tokio::test]
async fn the_consumer_drops_a_work_item_for_an_instance_its_definition_does_not_serve() {
    use switchyard::policy::{Trigger, TriggerPolicy};
    let server = JwksServer::start(jwks(&[(&KEY_1, "k1")])).await;
    let (stack, _) = push_stack(&server.url, MAILBOX).await;
    let everything = TriggerPolicy {
        trigger: Trigger::All,
        channels: vec!["*".into()],
        dms: true,
        private_channels: true,
        ..Default::default()
    };
    switchyard_ops::admin::grant(&stack.app, INSTANCE, "agent-g", &everything)
        .await
        .expect("grant");
    let body = crate::support::slack_mention("EvCross", "C0GENERAL", "<@U0BOT> hi");
    let item = WorkItem {
        v: switchyard::workitem::WORK_ITEM_VERSION,
        id: "wi_cross".into(),
        delivery_key: format!("slack#{INSTANCE}#ev:EvCross"),
        provider: "slack".into(),
        instance_id: INSTANCE.into(),
        kind: "event_callback".into(),
        received_at: NOW,
        retry_num: None,
        payload: Some(serde_json::from_str(&body).expect("json")),
        payload_ref: None,
        event: None,
    };
    stack.app.ingress().queue.send(&item).await.expect("queue");
    assert_eq!(stack.drain().await, 1);
    let records = stack.deliveries().await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, "dropped");
    assert!(
        stack.tapped().await.is_empty(),
        "published to the Google instance's agent"
    );
}
