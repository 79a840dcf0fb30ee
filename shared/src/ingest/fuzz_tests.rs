//! The ingest request path on arbitrary input, without AWS: [`accept`] (verify, interpret, bind
//! the tenant, build WorkItems) for every webhook provider, Meta's subscription check, and the
//! error answers. Every refusal is one of the documented statuses (400, 401, 403), never a
//! panic; a correctly signed request is never a 401 and what it queues reads back off the queue.
//! The AWS-bound steps (404, 405, 413 before them) are fuzzed end to end in `tests/e2e/fuzz.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use super::handshake::hub_challenge;
use super::{accept, Accepted, IngestError, ResolvedInstance};
use crate::fuzz_tests::{config, json};
use crate::instances::Instance;
use crate::providers::Registry;
use crate::secret::SecretString;
use crate::verify::{sign, Verifier};
use crate::workitem::WorkItem;

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::load().expect("registry"));

const HMAC_SECRET: &str = "fuzz-secret";
const ED25519_SEED: [u8; 32] = [5; 32];
const P256_SCALAR: [u8; 32] = [3; 32];
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

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
        "sendgrid" => vec![("verification_key", sign::ecdsa_p256_public_key(&P256_SCALAR))],
        "standard-webhooks" => vec![("signing_secret", WHSEC.into())],
        other => panic!("no key material for {other}: add it here"),
    }
}

/// Every webhook provider's instance, with `tenant` as its config (tenant binding keys).
fn resolved(provider: &str, tenant: &BTreeMap<String, String>) -> ResolvedInstance {
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
            id: format!("fuzz-{provider}"),
            provider: provider.into(),
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
        "shopify" => vec![("x-shopify-hmac-sha256", sign::hmac_base64(HMAC_SECRET, body))],
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
            ("x-signature-ed25519", sign::discord(&ED25519_SEED, &ts, body)),
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
            ("webhook-signature", sign::standard_webhooks(WHSEC, "msg_fuzz", &ts, body)),
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
];

fn request_headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let value = prop_oneof![
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..40),
        prop::sample::select(&[
            "application/json",
            "application/x-www-form-urlencoded",
            "orders/create",
            "acme.myshopify.com",
            "1",
            "",
        ][..])
        .prop_map(|v| v.as_bytes().to_vec()),
    ];
    prop::collection::vec((prop::sample::select(REQUEST_HEADERS), value), 0..6)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    const KEYS: &[&str] = &[
        "type", "event", "event_id", "team_id", "api_app_id", "challenge", "id", "token",
        "application_id", "guild_id", "entry", "changes", "value", "messages", "statuses",
        "metadata", "phone_number_id", "sg_event_id", "event", "timestamp", "workspace_id",
        "verification_token", "0",
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json(KEYS).prop_map(|v| v.to_string().into_bytes()),
        json(KEYS).prop_map(|v| serde_json::Value::Array(vec![v]).to_string().into_bytes()),
    ]
}

fn tenant() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(&["team_id", "shop", "application_id", "workspace_id", "waba_id"][..])
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
        Ok(Accepted::Queue { items, refused, ack }) => {
            prop_assert!((200..300).contains(&ack.status));
            let prefix = format!("{provider}#{}#", resolved.instance.id);
            for item in items.iter().chain(&refused) {
                prop_assert!(item.delivery_key.starts_with(&prefix), "{}", item.delivery_key);
                prop_assert!(item.delivery_key.len() > prefix.len());
                prop_assert_eq!(item.received_at, now);
                let read_back = WorkItem::parse(&item.to_json()).ok();
                prop_assert_eq!(read_back.as_ref(), Some(item), "{} off the queue", provider);
            }
            Ok(Some(ack.status))
        }
        Err(e) => {
            let status = e.status();
            prop_assert!([400, 401, 403].contains(&status), "{provider}: {status} {e}");
            let reply = e.reply();
            prop_assert_eq!(reply.status, status);
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_ok());
            Ok(Some(status))
        }
    }
}

proptest! {
    #![proptest_config(config(400))]

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
            let outcome = accept(def, plugin, &resolved, &headers, &body, now);
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
