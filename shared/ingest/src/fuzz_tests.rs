//! The ingest request path on arbitrary input, without AWS: the public entry [`handle`] with
//! every instance already resolved (so no request needs the store: the property checks that none
//! reaches AWS), [`accept`] (verify, interpret, bind the tenant, build WorkItems) for every
//! webhook provider, Meta's subscription check, and the error answers. Every refusal is one of
//! the documented statuses (400, 401, 403, 404, 405, 413), never a panic; a correctly signed
//! request is never a 401 and what it queues reads back off the queue. Claiming and queueing
//! (DynamoDB, SQS) are covered by the end-to-end tests against the emulator.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use super::handshake::hub_challenge;
use super::{accept, accept_with, handle, Accepted, IngestError, ResolvedInstance, WebhookRequest};
use crate::instances::Instance;
use crate::providers::jwt::{self, JwkSet};
use crate::providers::Registry;
use crate::secret::SecretString;
use crate::verify::{sign, Fetched, StoredChannel, Verifier};
use crate::workitem::WorkItem;
use crate::Ingress;
use switchyard_aws::AwsClients;
use switchyard_core::clock::Clock;
use switchyard_core::config::{Limits, Resources};
use switchyard_core::fuzz::{config, json};

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::load().expect("registry"));

const HMAC_SECRET: &str = "fuzz-secret";
const ED25519_SEED: [u8; 32] = [5; 32];
const P256_SCALAR: [u8; 32] = [3; 32];
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PUSH_AUDIENCE: &str = "https://fuzz.example/webhooks/google-pubsub/fuzz-google-pubsub";
const PUSH_ACCOUNT: &str = "push@fuzz.iam.gserviceaccount.com";
const CHANNEL_TOKEN: &str = "fuzz-channel-token";

static RSA_KEY: LazyLock<aws_lc_rs::signature::RsaKeyPair> = LazyLock::new(|| {
    aws_lc_rs::signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key")
});
static JWKS: LazyLock<JwkSet> = LazyLock::new(|| {
    let set = serde_json::json!({"keys": [jwt::sign::jwk(&RSA_KEY, "fuzz")]});
    JwkSet::parse(set.to_string().as_bytes()).expect("jwks")
});
static CHANNEL: LazyLock<StoredChannel> = LazyLock::new(|| StoredChannel {
    id: "fuzz-channel".into(),
    instance_id: "fuzz-google-channel".into(),
    watch_id: "wch_fuzz".into(),
    resource_id: Some("fuzz-resource".into()),
    token_sha256: switchyard_aws::watches::token_digest(CHANNEL_TOKEN),
    expires_at: u64::MAX,
});

/// What a scheme checked against fetched material is given (a key set, the stored channel).
fn fetched(provider: &str) -> Fetched<'static> {
    match provider {
        "google-pubsub" => Fetched::Jwks(&JWKS),
        "google-channel" => Fetched::Channel {
            channel: Some(&CHANNEL),
            instance_id: "fuzz-google-channel",
        },
        _ => Fetched::Nothing,
    }
}

/// The instance config that keys each provider's verifier (and Meta's verify token).
fn key_material(provider: &str) -> Vec<(&'static str, String)> {
    match provider {
        "slack" => vec![("signing_secret", HMAC_SECRET.into())],
        "shopify" => vec![("client_secret", HMAC_SECRET.into())],
        "notion" => vec![("verification_token", HMAC_SECRET.into())],
        "whatsapp" => vec![
            ("app_secret", HMAC_SECRET.into()),
            ("verify_token", "meta-verify".into()),
        ],
        "discord" => vec![("public_key", sign::discord_public_key(&ED25519_SEED))],
        "sendgrid" => vec![(
            "verification_key",
            sign::ecdsa_p256_public_key(&P256_SCALAR),
        )],
        "standard-webhooks" => vec![("signing_secret", WHSEC.into())],
        "google-pubsub" => vec![
            ("push_audience", PUSH_AUDIENCE.into()),
            ("push_service_account", PUSH_ACCOUNT.into()),
        ],
        "google-channel" => Vec::new(),
        other => panic!("no key material for {other}: add it here"),
    }
}

/// Every webhook provider's instance, with `tenant` as its config (tenant binding keys).
fn resolved(provider: &str, tenant: &BTreeMap<String, String>) -> ResolvedInstance {
    resolved_as(provider, provider, tenant)
}

/// Instance `fuzz-<instance_of>` (of the provider that definition serves) as definition
/// `provider` resolves it.
fn resolved_as(
    provider: &str,
    instance_of: &str,
    tenant: &BTreeMap<String, String>,
) -> ResolvedInstance {
    let def = REGISTRY.get(provider).expect("provider");
    let webhook = def.webhook.as_ref().expect("webhook");
    let keys: HashMap<String, SecretString> = key_material(provider)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), SecretString::from(v.as_str())))
        .collect();
    let verifier = Verifier::new(&webhook.signature, |k| keys.get(k));
    let handshake_secrets = super::handshake::fields(webhook)
        .filter_map(|f| Some((f.to_owned(), keys.get(f)?.clone())))
        .collect();
    ResolvedInstance {
        instance: Instance {
            id: format!("fuzz-{instance_of}"),
            provider: REGISTRY
                .get(instance_of)
                .expect("provider")
                .instance_provider()
                .into(),
            workspace: "acme".into(),
            config: tenant.clone(),
            secret_keys: Vec::new(),
            sealed: None,
            grants: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
        },
        verifier,
        handshake_secrets,
    }
}

/// The headers `provider` would sign `body` with at `now`.
fn signature_headers(provider: &str, body: &[u8], now: u64) -> Vec<(&'static str, String)> {
    let ts = now.to_string();
    match provider {
        "slack" => vec![
            ("x-slack-request-timestamp", ts.clone()),
            ("x-slack-signature", sign::slack(HMAC_SECRET, &ts, body)),
        ],
        "shopify" => vec![(
            "x-shopify-hmac-sha256",
            sign::hmac_base64(HMAC_SECRET, body),
        )],
        "notion" => vec![(
            "x-notion-signature",
            format!("sha256={}", sign::hmac_hex(HMAC_SECRET, body)),
        )],
        "whatsapp" => vec![(
            "x-hub-signature-256",
            format!("sha256={}", sign::hmac_hex(HMAC_SECRET, body)),
        )],
        "discord" => vec![
            ("x-signature-timestamp", ts.clone()),
            (
                "x-signature-ed25519",
                sign::discord(&ED25519_SEED, &ts, body),
            ),
        ],
        "sendgrid" => vec![
            ("x-twilio-email-event-webhook-timestamp", ts.clone()),
            (
                "x-twilio-email-event-webhook-signature",
                sign::ecdsa_p256(&P256_SCALAR, &ts, body),
            ),
        ],
        "standard-webhooks" => vec![
            ("webhook-id", "msg_fuzz".into()),
            ("webhook-timestamp", ts.clone()),
            (
                "webhook-signature",
                sign::standard_webhooks(WHSEC, "msg_fuzz", &ts, body),
            ),
        ],
        "google-pubsub" => {
            let claims = serde_json::json!({
                "iss": "https://accounts.google.com", "aud": PUSH_AUDIENCE,
                "email": PUSH_ACCOUNT, "email_verified": true, "iat": now, "exp": now + 3600,
            });
            vec![(
                "authorization",
                format!("Bearer {}", jwt::sign::rs256(&RSA_KEY, "fuzz", &claims)),
            )]
        }
        // The resource state and message number come from the arbitrary headers.
        "google-channel" => vec![
            ("x-goog-channel-id", CHANNEL.id.clone()),
            ("x-goog-channel-token", CHANNEL_TOKEN.into()),
            ("x-goog-resource-id", "fuzz-resource".into()),
        ],
        other => panic!("no signer for {other}: add it here"),
    }
}

/// Headers a provider sends besides its signature, with arbitrary values.
const REQUEST_HEADERS: &[&str] = &[
    "content-type",
    "x-slack-retry-num",
    "x-shopify-webhook-id",
    "x-shopify-topic",
    "x-shopify-triggered-at",
    "x-shopify-shop-domain",
    "x-slack-signature",
    "x-signature-timestamp",
    "webhook-id",
    "authorization",
    "x-goog-resource-state",
    "x-goog-message-number",
    "x-goog-changed",
];

fn request_headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let value = prop_oneof![
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..40),
        prop::sample::select(
            &[
                "application/json",
                "application/x-www-form-urlencoded",
                "orders/create",
                "acme.myshopify.com",
                "1",
                "",
                "exists",
                "sync",
                "Bearer e30.e30.e30",
            ][..]
        )
        .prop_map(|v| v.as_bytes().to_vec()),
    ];
    prop::collection::vec((prop::sample::select(REQUEST_HEADERS), value), 0..6)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    const KEYS: &[&str] = &[
        "type",
        "event",
        "event_id",
        "team_id",
        "api_app_id",
        "challenge",
        "id",
        "token",
        "application_id",
        "guild_id",
        "entry",
        "changes",
        "value",
        "messages",
        "statuses",
        "metadata",
        "phone_number_id",
        "sg_event_id",
        "event",
        "timestamp",
        "workspace_id",
        "verification_token",
        "0",
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json(KEYS).prop_map(|v| v.to_string().into_bytes()),
        json(KEYS).prop_map(|v| serde_json::Value::Array(vec![v]).to_string().into_bytes()),
    ]
}

fn tenant() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(
            &[
                "team_id",
                "shop",
                "application_id",
                "workspace_id",
                "waba_id",
            ][..],
        )
        .prop_map(str::to_owned),
        "[A-Za-z0-9.]{0,8}",
        0..2,
    )
}

fn header_map(pairs: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    map
}

fn providers() -> Vec<&'static str> {
    REGISTRY.webhook_ids().collect()
}

/// What `accept` may answer: a reply, WorkItems, or a documented refusal.
fn check(
    provider: &str,
    resolved: &ResolvedInstance,
    outcome: Result<Accepted, IngestError>,
    now: u64,
) -> Result<Option<u16>, TestCaseError> {
    match outcome {
        Ok(Accepted::Reply(reply)) => {
            prop_assert!((200..300).contains(&reply.status), "{provider}: {reply:?}");
            Ok(Some(reply.status))
        }
        Ok(Accepted::Queue {
            items,
            refused,
            ack,
        }) => {
            prop_assert!((200..300).contains(&ack.status));
            let prefix = format!("{provider}#{}#", resolved.instance.id);
            for item in items.iter().chain(&refused) {
                prop_assert!(
                    item.delivery_key.starts_with(&prefix),
                    "{}",
                    item.delivery_key
                );
                prop_assert!(item.delivery_key.len() > prefix.len());
                prop_assert_eq!(item.received_at, now);
                let read_back = WorkItem::parse(&item.to_json()).ok();
                prop_assert_eq!(read_back.as_ref(), Some(item), "{} off the queue", provider);
            }
            Ok(Some(ack.status))
        }
        Err(e) => {
            let status = e.status();
            prop_assert!(
                [400, 401, 403].contains(&status),
                "{provider}: {status} {e}"
            );
            let reply = e.reply();
            prop_assert_eq!(reply.status, status);
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_ok());
            Ok(Some(status))
        }
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// Unsigned arbitrary requests to every provider: a 401 (or a typed refusal), never a
    /// panic or a 5xx.
    #[test]
    fn arbitrary_requests_get_a_documented_status(
        headers in request_headers(),
        body in body(),
        now in prop_oneof![any::<u64>(), 1_700_000_000u64..1_800_000_000],
        tenant in tenant(),
    ) {
        let headers = header_map(&headers);
        for provider in providers() {
            let def = REGISTRY.get(provider).expect("def");
            let plugin = REGISTRY.plugin(provider).expect("plugin");
            let resolved = resolved(provider, &tenant);
            let outcome = accept(def, plugin, &resolved, &headers, &body, now);
            prop_assert_eq!(check(provider, &resolved, outcome, now)?, Some(401), "{}", provider);
        }
    }

    /// Correctly signed arbitrary requests: never a 401; a 400 for bodies the provider would
    /// not send, 403 for a handshake of another tenant, else a reply or WorkItems that read
    /// back off the queue as they were.
    #[test]
    fn signed_requests_are_never_refused_as_unsigned(
        extra in request_headers(),
        body in body(),
        now in 1_700_000_000u64..1_800_000_000,
        tenant in tenant(),
    ) {
        for provider in providers() {
            let def = REGISTRY.get(provider).expect("def");
            let plugin = REGISTRY.plugin(provider).expect("plugin");
            let resolved = resolved(provider, &tenant);
            let mut pairs = extra.clone();
            pairs.extend(
                signature_headers(provider, &body, now)
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes())),
            );
            let headers = header_map(&pairs);
            let outcome = accept_with(def, plugin, &resolved, &headers, &body, now, fetched(provider));
            let status = check(provider, &resolved, outcome, now)?;
            prop_assert_ne!(status, Some(401), "{}: a signed request refused as unsigned", provider);
        }
    }

    /// Meta's subscription check: the challenge comes back exactly when mode, token and
    /// challenge are right; anything else is a 403, whatever the query holds.
    #[test]
    fn hub_challenge_answers_only_the_right_token(
        mode in prop_oneof![Just("subscribe".to_owned()), any::<String>()],
        token in prop_oneof![Just("meta-verify".to_owned()), any::<String>()],
        challenge in any::<String>(),
        raw in any::<String>(),
    ) {
        let resolved = resolved("whatsapp", &BTreeMap::new());
        let webhook = REGISTRY.get("whatsapp").and_then(|d| d.webhook.as_ref()).expect("webhook");
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", &mode)
            .append_pair("hub.verify_token", &token)
            .append_pair("hub.challenge", &challenge)
            .finish();
        let right = mode == "subscribe" && token == "meta-verify" && !challenge.is_empty();
        match hub_challenge(webhook, &resolved, &query) {
            Ok(reply) => {
                prop_assert!(right);
                prop_assert_eq!(reply.status, 200);
                prop_assert_eq!(reply.body, challenge.into_bytes());
            }
            Err(e) => {
                prop_assert!(!right, "{e}");
                prop_assert_eq!(e.status(), 403);
            }
        }
        let arbitrary = hub_challenge(webhook, &resolved, &raw);
        prop_assert!(arbitrary.is_ok() || arbitrary.is_err_and(|e| e.status() == 403));
    }

    /// Internal detail never reaches the caller: a 5xx says only that it failed.
    #[test]
    fn server_errors_hide_their_detail(detail in "[a-z]{6,20}") {
        for e in [
            IngestError::Misconfigured(detail.clone()),
            IngestError::Unavailable(detail.clone()),
        ] {
            let reply = e.reply();
            prop_assert!(reply.status >= 500);
            let body = String::from_utf8(reply.body).expect("utf-8");
            prop_assert!(!body.contains(&detail), "{body}");
        }
    }
}

/// The body limit of the app below: small, so generated bodies cross it.
const BODY_LIMIT: usize = 256;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

/// An app whose AWS endpoint answers nothing: a request that reached AWS would fail slowly and
/// show in the call counter.
static APP: LazyLock<Ingress> = LazyLock::new(|| {
    let aws = RUNTIME.block_on(AwsClients::with_endpoint("http://127.0.0.1:9"));
    let name = |n: &str| format!("fuzz-{n}");
    let resources = Resources {
        instances_table: name("instances"),
        deliveries_table: name("deliveries"),
        ingress_queue_url: "http://127.0.0.1:9/000000000000/fuzz-ingress".into(),
        ingress_dlq_url: "http://127.0.0.1:9/000000000000/fuzz-dlq".into(),
        payload_bucket: name("payloads"),
        kms_key_id: name("key"),
        event_bus: name("bus"),
        states_table: name("states"),
        connections_table: name("connections"),
        audit_table: name("audit"),
        tool_state_table: name("tool-state"),
        receipts_table: name("receipts"),
        cursors_table: name("cursors"),
        watches_table: name("watches"),
        jobs_table: name("jobs"),
        jobs_queue_url: "http://127.0.0.1:9/000000000000/fuzz-jobs".into(),
        approvals_table: name("approvals"),
        sync_queue_url: "http://127.0.0.1:9/000000000000/fuzz-sync".into(),
        artifacts_table: name("artifacts"),
        artifacts_bucket: name("artifacts-bucket"),
        workspace_settings_table: name("workspace-settings"),
        agents_table: name("agents"),
        sessions_table: name("sessions"),
        live_connections_table: name("live-connections"),
        messages_table: name("messages"),
        intents_table: name("intents"),
        intents_schedule_group: name("intents"),
        intents_worker_arn: name("intents-worker"),
        intents_scheduler_role_arn: name("intents-role"),
        platform_keys_secret: name("platform-keys"),
        oauth_link_key_secret: name("link-key"),
        tap_queue_url: None,
        live_events_queue_url: None,
        email_events_queue_url: None,
    };
    let limits = Limits {
        max_body_bytes: BODY_LIMIT,
        ..Limits::default()
    };
    Ingress::new(
        &aws,
        &resources,
        REGISTRY.clone(),
        limits,
        Clock::fixed(1_767_225_600),
    )
});

/// Caches every provider's instance in the app, as a warm Lambda has them (again each case:
/// entries expire after a minute, and `make fuzz` runs longer).
fn warm(app: &Ingress) {
    for provider in providers() {
        for instance_of in providers() {
            let resolved = resolved_as(provider, instance_of, &BTreeMap::new());
            let key = format!("{provider}#{}", resolved.instance.id);
            app.verifiers.put(&key, Arc::new(resolved));
        }
    }
}

/// The status `handle` must give an unsigned request, from the order the module documents.
fn expected_status(provider: &str, instance: &str, method: &str, query: &str, body: &[u8]) -> u16 {
    let Some(def) = REGISTRY.get(provider).filter(|d| d.webhook.is_some()) else {
        return 404;
    };
    if body.len() > BODY_LIMIT {
        return 413;
    }
    // An instance of another provider than the one the definition serves is unknown to it.
    let instance_provider = providers()
        .into_iter()
        .find(|q| instance == format!("fuzz-{q}"))
        .and_then(|q| REGISTRY.get(q))
        .map(|q| q.instance_provider());
    if instance_provider != Some(def.instance_provider()) {
        return 404;
    }
    if method.eq_ignore_ascii_case("GET") {
        if provider != "whatsapp" {
            return 405;
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let last = |key: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let right = last("hub.mode") == Some("subscribe")
            && last("hub.verify_token") == Some("meta-verify")
            && last("hub.challenge").is_some_and(|c| !c.is_empty());
        return if right { 200 } else { 403 };
    }
    if !method.eq_ignore_ascii_case("POST") {
        return 405;
    }
    401
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (
            prop_oneof![Just("subscribe".to_owned()), "[a-z]{0,9}"],
            prop_oneof![Just("meta-verify".to_owned()), any::<String>()],
            any::<String>(),
        )
            .prop_map(|(mode, token, challenge)| {
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("hub.mode", &mode)
                    .append_pair("hub.verify_token", &token)
                    .append_pair("hub.challenge", &challenge)
                    .finish()
            }),
    ]
}

proptest! {
    #![proptest_config(config(400))]

    /// The public entry on arbitrary unsigned requests: exactly the documented status (404
    /// unknown provider or instance, 413 too large, 405 wrong method, 403/200 Meta's check,
    /// 401 unsigned), a JSON error body, and no AWS call for any of them.
    #[test]
    fn handle_answers_arbitrary_requests_with_the_documented_status(
        provider in prop_oneof![
            4 => prop::sample::select(providers()).prop_map(str::to_owned),
            1 => prop::sample::select(&["google", "http", "unknown", ""][..]).prop_map(str::to_owned),
            1 => "[a-z-]{0,12}",
        ],
        own_instance in any::<bool>(),
        other in prop::sample::select(providers()),
        method in prop_oneof![
            prop::sample::select(&["POST", "GET", "post", "get", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"][..])
                .prop_map(str::to_owned),
            "[A-Za-z]{0,8}",
        ],
        headers in request_headers(),
        query in query(),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..BODY_LIMIT + 64),
            json(&["type", "id", "event", "challenge", "entry"]).prop_map(|v| v.to_string().into_bytes()),
        ],
    ) {
        let app = &*APP;
        warm(app);
        app.calls.reset();
        let instance = if own_instance { format!("fuzz-{provider}") } else { format!("fuzz-{other}") };
        let headers = header_map(&headers);
        let request = WebhookRequest { method: &method, headers: &headers, query: &query, body: &body };
        let reply = RUNTIME.block_on(handle(app, &provider, &instance, request));
        let expected = expected_status(&provider, &instance, &method, &query, &body);
        prop_assert_eq!(reply.status, expected, "{} {} {}", method, provider, instance);
        if reply.status != 200 {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_ok());
        }
        prop_assert!(app.calls.snapshot().is_empty(), "{:?}", app.calls.snapshot());
    }
}
