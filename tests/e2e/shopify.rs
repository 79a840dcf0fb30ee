//! The Shopify tools end to end (emulator): every `shopify.*` method through the real pipeline
//! (definition, schema, instance, grant, the shop's OAuth connection from the vault, scope
//! check, the per-shop cost budget in DynamoDB, receipt) against the loopback Shopify fake;
//! customer PII redaction; two concurrent callers sharing the budget with no `THROTTLED`
//! answer; the fail-fast when the restore would end past the deadline; the one retry after a
//! `THROTTLED` answer.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard::connections::{Connection, Status};
use switchyard::oauth::vault;
use switchyard::secret::SecretString;
use switchyard::tools::{ToolRequest, ToolResponse};
use switchyard_shopify_fake::{Limits, ShopifyFake};
use tokio::time::Instant;

use crate::support::Stack;

pub const AGENT: &str = "agent-shop";
pub const INSTANCE: &str = "acme-shop";
pub const SHOP: &str = "acme.myshopify.com";
pub const TOKEN: &str = "shpat_fake_token";
pub const CONNECTION: &str = "conn-shopify-1";
const SCOPES: &[&str] = &[
    "read_orders",
    "write_products",
    "write_inventory",
    "read_customers",
    "write_themes",
    "write_script_tags",
];

/// A stack with a Shopify instance whose connection holds `token`, and the fake shop.
pub struct Shop {
    pub stack: Stack,
    pub fake: ShopifyFake,
}

/// Stores the connection the OAuth callback would store for [`INSTANCE`].
pub async fn store_connection(app: &switchyard::App, token: &str, status: Status) {
    let sealed = app
        .keyring
        .seal_for(
            "shopify",
            vault::CONTEXT,
            CONNECTION,
            &BTreeMap::from([("access_token".to_owned(), SecretString::from(token))]),
        )
        .await
        .expect("seal");
    let now = app.clock.now();
    let connection = Connection {
        id: CONNECTION.into(),
        instance_id: INSTANCE.into(),
        provider: "shopify".into(),
        workspace: "acme".into(),
        auth_type: "oauth2".into(),
        account_id: Some(SHOP.into()),
        account_name: None,
        account_email: None,
        owner: None,
        scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        status,
        token_expires_at: None,
        token_issued_at: Some(now),
        has_refresh_token: false,
        sealed: Some(sealed),
        version: 0,
        lease_until: None,
        created_at: now,
        updated_at: now,
        last_refreshed_at: None,
        last_error: None,
    };
    app.connections
        .upsert(&connection, now)
        .await
        .expect("connection");
}

impl Shop {
    pub async fn new(limits: Limits, extra: &[(&str, &str)]) -> Self {
        Self::with_token(limits, extra, TOKEN).await
    }

    async fn with_token(limits: Limits, extra: &[(&str, &str)], token: &str) -> Self {
        let stack = Stack::new().await;
        let fake = ShopifyFake::with_limits(TOKEN, limits).await;
        let app = &stack.app;
        store_connection(app, token, Status::Active).await;
        let mut settings: Vec<(String, String)> = [
            ("client_id", "shopify-client"),
            ("client_secret", "shopify-secret"),
            ("shop", SHOP),
            ("api_version", "2025-07"),
            ("api_base_url", fake.base_url.as_str()),
            ("connection_id", CONNECTION),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        settings.dedup_by(|a, b| a.0 == b.0);
        switchyard_ops::admin::create_instance(app, "shopify", INSTANCE, "acme", &settings)
            .await
            .expect("instance");
        switchyard_ops::admin::grant(app, INSTANCE, AGENT, &Default::default())
            .await
            .expect("grant");
        Self { stack, fake }
    }

    pub async fn call_within(&self, tool: &str, input: Value, within: Duration) -> ToolResponse {
        let request = ToolRequest {
            instance_id: INSTANCE.into(),
            agent_id: AGENT.into(),
            input,
            idempotency_key: None,
            trace_id: None,
            on_behalf_of: None,
        };
        switchyard::tools::invoke(
            self.stack.app.tools(),
            tool,
            request,
            Instant::now() + within,
        )
        .await
    }

    pub async fn ok(&self, tool: &str, input: Value) -> Value {
        match self.call_within(tool, input, Duration::from_secs(20)).await {
            ToolResponse::Ok { output, .. } => output,
            ToolResponse::Err { error, .. } => panic!("{tool} failed: {error:?}"),
        }
    }

    async fn err(&self, tool: &str, input: Value, within: Duration) -> (String, bool) {
        match self.call_within(tool, input, within).await {
            ToolResponse::Ok { output, .. } => panic!("{tool} succeeded: {output}"),
            ToolResponse::Err { error, .. } => (error.code.as_str().to_owned(), error.retryable),
        }
    }
}

#[tokio::test]
async fn every_tool_runs_against_the_shop_at_the_pinned_version() {
    let s = Shop::new(Limits::default(), &[("allow_customer_pii", "true")]).await;

    let orders = s.ok("shopify.orders_list", json!({"first": 2})).await;
    assert_eq!(orders["orders"].as_array().expect("test value").len(), 2);
    assert_eq!(orders["orders"][0]["name"], "#1005");
    assert_eq!(orders["page_info"]["has_next_page"], true);
    assert_eq!(orders["page_info"]["end_cursor"], "gid://shopify/Order/4");

    let order = s
        .ok("shopify.order_get", json!({"id": "gid://shopify/Order/2"}))
        .await;
    assert_eq!(order["order"]["name"], "#1002");
    assert_eq!(order["order"]["lineItems"]["nodes"][0]["sku"], "TEE-1");
    let (code, _) = s
        .err(
            "shopify.order_get",
            json!({"id": "gid://shopify/Order/99"}),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(code, "provider_not_found");

    let products = s.ok("shopify.products_list", json!({})).await;
    assert_eq!(
        products["products"].as_array().expect("test value").len(),
        3
    );

    let updated = s
        .ok(
            "shopify.product_update",
            json!({"id": "gid://shopify/Product/2", "title": "Renamed", "status": "DRAFT"}),
        )
        .await;
    assert_eq!(updated["product"]["title"], "Renamed");
    assert_eq!(
        s.fake
            .product("gid://shopify/Product/2")
            .expect("test value")["status"],
        "DRAFT"
    );
    let (code, _) = s
        .err(
            "shopify.product_update",
            json!({"id": "gid://shopify/Product/77", "title": "x"}),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(code, "invalid_input", "userErrors refuse the change");

    let adjusted = s
        .ok(
            "shopify.inventory_adjust",
            json!({"inventory_item_id": "gid://shopify/InventoryItem/5",
                   "location_id": "gid://shopify/Location/1", "delta": -3}),
        )
        .await;
    assert_eq!(adjusted["adjustment_group"]["changes"][0]["delta"], -3);
    let applied = s.fake.adjustments();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0]["reason"], "correction");
    assert_eq!(
        applied[0]["changes"][0]["locationId"],
        "gid://shopify/Location/1"
    );

    let customers = s.ok("shopify.customers_list", json!({"first": 10})).await;
    assert_eq!(customers["customers"][0]["email"], "ann@example.com");

    let shop = s.ok("shopify.shop_get", json!({})).await;
    assert_eq!(shop["shop"]["myshopifyDomain"], SHOP);

    let themes = s.ok("shopify.themes_list", json!({})).await;
    assert_eq!(themes["themes"][0]["role"], "MAIN");
    let published = s
        .ok(
            "shopify.theme_publish",
            json!({"id": "gid://shopify/OnlineStoreTheme/2"}),
        )
        .await;
    assert_eq!(published["theme"]["role"], "MAIN");
    let themes = s.ok("shopify.themes_list", json!({})).await;
    assert_eq!(themes["themes"][0]["role"], "UNPUBLISHED");

    let tags = s.ok("shopify.script_tags_list", json!({})).await;
    assert_eq!(tags["script_tags"].as_array().expect("test value").len(), 1);
    let deleted = s
        .ok(
            "shopify.script_tag_delete",
            json!({"id": "gid://shopify/ScriptTag/1"}),
        )
        .await;
    assert_eq!(deleted["deleted_id"], "gid://shopify/ScriptTag/1");
    let tags = s.ok("shopify.script_tags_list", json!({})).await;
    assert_eq!(tags["script_tags"], json!([]));

    // Every request went to the pinned version's endpoint with the connection's token; the
    // fake answers 401 otherwise.
    assert!(s.fake.requests().iter().all(|r| !r.throttled));
}

#[tokio::test]
async fn a_wrong_token_is_provider_auth_and_a_missing_version_is_misconfigured() {
    let s = Shop::with_token(Limits::default(), &[], "shpat_revoked").await;
    let (code, _) = s
        .err("shopify.shop_get", json!({}), Duration::from_secs(10))
        .await;
    assert_eq!(code, "provider_auth");

    let stack = Stack::new().await;
    store_connection(&stack.app, TOKEN, Status::Active).await;
    let settings: Vec<(String, String)> = [
        ("client_id", "c"),
        ("client_secret", "s"),
        ("shop", SHOP),
        ("connection_id", CONNECTION),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&stack.app, "shopify", INSTANCE, "acme", &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&stack.app, INSTANCE, AGENT, &Default::default())
        .await
        .expect("grant");
    let request = ToolRequest {
        instance_id: INSTANCE.into(),
        agent_id: AGENT.into(),
        input: json!({}),
        ..ToolRequest::default()
    };
    let response = switchyard::tools::invoke(
        stack.app.tools(),
        "shopify.shop_get",
        request,
        Instant::now() + Duration::from_secs(10),
    )
    .await;
    match response {
        ToolResponse::Err { error, .. } => assert_eq!(error.code.as_str(), "misconfigured"),
        ToolResponse::Ok { output, .. } => panic!("ran without api_version: {output}"),
    }
}

#[tokio::test]
async fn customer_fields_are_redacted_unless_the_instance_allows_them() {
    let s = Shop::new(Limits::default(), &[]).await;
    let orders = s.ok("shopify.orders_list", json!({"first": 1})).await;
    let order = &orders["orders"][0];
    assert_eq!(order["name"], "#1005", "non-personal fields pass");
    assert_eq!(order["email"], "[redacted]");
    assert_eq!(order["customer"]["displayName"], "[redacted]");
    assert_eq!(order["shippingAddress"], "[redacted]");
    let customers = s.ok("shopify.customers_list", json!({})).await;
    assert!(customers["customers"]
        .as_array()
        .expect("test value")
        .iter()
        .all(|c| c["email"] == "[redacted]" && c["phone"] == "[redacted]"));
    let one = s
        .ok("shopify.order_get", json!({"id": "gid://shopify/Order/1"}))
        .await;
    assert_eq!(one["order"]["customer"]["email"], "[redacted]");

    let s = Shop::new(Limits::default(), &[("allow_customer_pii", "email")]).await;
    let customers = s.ok("shopify.customers_list", json!({})).await;
    let c = &customers["customers"][0];
    assert_eq!(c["email"], "ann@example.com");
    assert_eq!(c["phone"], "[redacted]");
    assert_eq!(c["lastName"], "[redacted]");
}

#[tokio::test]
async fn two_concurrent_callers_share_the_budget_and_never_see_throttled() {
    // 100 points restored at 20 a second; 2 × 8 updates of 10 points = 160 points: the budget
    // makes the callers wait for about 3 s of restore instead of being throttled.
    let limits = Limits {
        maximum: 100.0,
        restore_rate: 20.0,
    };
    let s = Shop::new(limits, &[]).await;
    // The first answer teaches the budget the shop's real bucket.
    s.ok("shopify.shop_get", json!({})).await;
    let caller = |n: u32| {
        let s = &s;
        async move {
            let mut outcomes = Vec::new();
            for i in 0..8 {
                let input = json!({"id": "gid://shopify/Product/1", "title": format!("c{n}-{i}")});
                outcomes.push(
                    s.call_within("shopify.product_update", input, Duration::from_secs(20))
                        .await,
                );
            }
            outcomes
        }
    };
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(caller(1), caller(2));
    for response in a.iter().chain(&b) {
        if let ToolResponse::Err { error, .. } = response {
            panic!("a caller got {error:?}");
        }
    }
    assert_eq!(
        s.fake.throttled(),
        0,
        "the budget kept every request under the shop's bucket"
    );
    let updates = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.operation == "ProductUpdate")
        .count();
    assert_eq!(updates, 16, "one request per call");
    assert!(
        started.elapsed() >= Duration::from_millis(2_500),
        "the callers waited for the restore"
    );
}

#[tokio::test]
async fn a_wait_past_the_deadline_fails_fast_without_calling_and_throttled_retries_once() {
    // 1 point a second: an empty bucket needs 10 s for a mutation.
    let limits = Limits {
        maximum: 100.0,
        restore_rate: 1.0,
    };
    let s = Shop::new(limits, &[]).await;
    s.ok("shopify.shop_get", json!({})).await;
    s.fake.drain(0.0);
    // This call's estimate fits the budget copy (it does not know of the drain): Shopify says
    // THROTTLED, the restore (10 s) is past the 3 s deadline, so it fails, retryable.
    let (code, retryable) = s
        .err(
            "shopify.theme_publish",
            json!({"id": "gid://shopify/OnlineStoreTheme/1"}),
            Duration::from_secs(3),
        )
        .await;
    assert_eq!((code.as_str(), retryable), ("rate_limited", true));
    assert_eq!(s.fake.throttled(), 1);
    // Now the budget knows: the next call fails before any request.
    let sent = s.fake.requests().len();
    let started = std::time::Instant::now();
    let (code, retryable) = s
        .err(
            "shopify.theme_publish",
            json!({"id": "gid://shopify/OnlineStoreTheme/1"}),
            Duration::from_secs(3),
        )
        .await;
    assert_eq!((code.as_str(), retryable), ("rate_limited", true));
    assert_eq!(s.fake.requests().len(), sent, "no request was sent");
    assert!(started.elapsed() < Duration::from_secs(1), "it failed fast");
}

#[tokio::test]
async fn a_throttled_answer_waits_the_restore_time_and_is_retried_once() {
    let limits = Limits {
        maximum: 100.0,
        restore_rate: 2.0,
    };
    let s = Shop::new(limits, &[]).await;
    s.ok("shopify.shop_get", json!({})).await;
    // Another app spent the bucket: the budget copy does not know, Shopify throttles, and the
    // restore of at most 10 points at 2 a second (5 s) fits the deadline.
    s.fake.drain(0.0);
    let published = s
        .ok(
            "shopify.theme_publish",
            json!({"id": "gid://shopify/OnlineStoreTheme/2"}),
        )
        .await;
    assert_eq!(published["theme"]["role"], "MAIN");
    assert_eq!(s.fake.throttled(), 1, "throttled once, then answered");
}

/// A Shopify instance on a serving stack whose OAuth app is the fake's, with the topics to
/// subscribe on connect; connected through the real consent and callback.
async fn connected_shop() -> (Stack, String, ShopifyFake, String) {
    let (stack, base) = crate::support::serving_stack().await;
    let fake = ShopifyFake::start(TOKEN).await;
    let settings: Vec<(String, String)> = [
        ("client_id", "shopify-client"),
        ("client_secret", WEBHOOK_SECRET),
        ("shop", SHOP),
        ("api_version", "2025-07"),
        ("api_base_url", fake.base_url.as_str()),
        (
            "authorization_url",
            &format!("{}/admin/oauth/authorize", fake.base_url),
        ),
        (
            "token_url",
            &format!("{}/admin/oauth/access_token", fake.base_url),
        ),
        (
            "webhook_topics",
            "orders/create,products/update,app/uninstalled,themes/publish",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&stack.app, "shopify", INSTANCE, "acme", &settings)
        .await
        .expect("instance");
    let link = switchyard::oauth::links::StartLink {
        provider: "shopify".into(),
        instance_id: INSTANCE.into(),
        principal: None,
        expires_at: stack.app.clock.now() + 600,
        nonce: uuid::Uuid::new_v4().simple().to_string(),
    };
    let key = stack.app.oauth().link_key.get().await.expect("link key");
    let start = format!(
        "{base}/oauth/shopify/start?{}",
        link.query(&key).expect("sign")
    );
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("browser");
    let page = browser.get(&start).send().await.expect("consent");
    assert_eq!(
        page.status().as_u16(),
        200,
        "{}",
        page.text().await.unwrap_or_default()
    );
    let id = switchyard::connections::connection_id(INSTANCE, SHOP);
    (stack, base, fake, id)
}

/// The OAuth app's client secret: Shopify signs webhooks with it.
const WEBHOOK_SECRET: &str = "shpss_client_secret";

#[tokio::test]
async fn connecting_subscribes_the_instance_topics_and_disconnecting_deletes_them() {
    let (stack, base, fake, id) = connected_shop().await;
    let connection = stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(connection.status, Status::Active);
    let subscriptions = fake.subscriptions();
    let topics: Vec<&str> = subscriptions.iter().map(|s| s.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "ORDERS_CREATE",
            "PRODUCTS_UPDATE",
            "APP_UNINSTALLED",
            "THEMES_PUBLISH"
        ]
    );
    let callback = format!("{base}/webhooks/shopify/{INSTANCE}");
    assert!(subscriptions.iter().all(|s| s.callback_url == callback));
    let instance = stack
        .app
        .instances
        .get(INSTANCE)
        .await
        .expect("get")
        .expect("instance");
    let recorded: Vec<String> = subscriptions.iter().map(|s| s.id.clone()).collect();
    assert_eq!(instance.config["webhook_subscriptions"], recorded.join(","));

    vault::disconnect(stack.app.vault(), &id, false)
        .await
        .expect("disconnect");
    assert!(
        fake.subscriptions().is_empty(),
        "every subscription deleted"
    );
    let instance = stack
        .app
        .instances
        .get(INSTANCE)
        .await
        .expect("get")
        .expect("instance");
    assert_eq!(instance.config["webhook_subscriptions"], "");
    let connection = stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(connection.status, Status::Revoked);
}

#[tokio::test]
async fn a_signed_app_uninstalled_webhook_revokes_the_connection() {
    use base64::Engine;
    use hmac::Mac;
    let (stack, base, _fake, id) = connected_shop().await;
    let body = br#"{"id":1,"name":"Acme","domain":"acme.myshopify.com"}"#;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(body);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let post = |topic: &'static str, signature: String| {
        reqwest::Client::new()
            .post(format!("{base}/webhooks/shopify/{INSTANCE}"))
            .header("content-type", "application/json")
            .header("x-shopify-hmac-sha256", signature)
            .header("x-shopify-topic", topic)
            .header("x-shopify-shop-domain", SHOP)
            .header("x-shopify-api-version", "2025-07")
            .header("x-shopify-webhook-id", format!("wh-{topic}"))
            .header("x-shopify-triggered-at", "2026-01-01T00:00:00Z")
            .body(body.to_vec())
            .send()
    };
    // A forged delivery changes nothing.
    let forged = post("app/uninstalled", "AAAA".into()).await.expect("post");
    assert!(forged.status().is_client_error(), "{}", forged.status());
    stack.drain().await;
    let connection = stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(connection.status, Status::Active);

    let accepted = post("app/uninstalled", signature).await.expect("post");
    assert_eq!(accepted.status().as_u16(), 200);
    stack.drain().await;
    let connection = stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(connection.status, Status::Revoked);
    assert!(connection.sealed.is_none(), "the token ciphertext is gone");
    let events = stack.tapped_raw().await;
    let disconnected = events
        .iter()
        .find(|e| e.detail_type == "integration.disconnected")
        .unwrap_or_else(|| panic!("no integration.disconnected: {events:?}"));
    assert_eq!(disconnected.detail["connection_id"], id.as_str());
}

#[tokio::test]
async fn the_bulk_sync_streams_ten_thousand_lines_and_announces_the_counts() {
    let s = Shop::new(Limits::default(), &[]).await;
    s.fake.set_bulk(10_000, 2);
    let app = &s.stack.app;
    let instance = app
        .instances
        .get(INSTANCE)
        .await
        .expect("get")
        .expect("instance");
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = switchyard::tools::shopify::bulk_sync::run(app.poller(), deadline)
        .await
        .expect("run");
    assert_eq!((report.synced, report.failed), (1, 0), "{report:?}");
    let cursor = app
        .cursors
        .get(&format!("shopify-bulk#{INSTANCE}"))
        .await
        .expect("get")
        .expect("cursor");
    let cursor: Value = serde_json::from_str(&cursor).expect("json");
    // One product per four lines, the rest its variants.
    assert_eq!(
        (&cursor["products"], &cursor["variants"], &cursor["lines"]),
        (&json!(2500), &json!(7500), &json!(10_000))
    );
    assert_eq!(s.stack.drain().await, 1);
    let events = s.stack.tapped().await;
    let synced: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "shopify.catalog_synced")
        .collect();
    assert_eq!(synced.len(), 1, "{events:?}");
    assert_eq!(synced[0].agent_id, AGENT);
    assert_eq!(synced[0].attributes["products"], "2500");
    assert_eq!(synced[0].attributes["variants"], "7500");
    assert_eq!(synced[0].attributes["lines"], "10000");

    // Streamed, not loaded: the reader never held more than a partial line.
    s.fake.set_bulk(10_000, 0);
    let counts = switchyard::tools::shopify::bulk_sync::sync(app.poller(), &instance, deadline)
        .await
        .expect("sync")
        .expect("completed");
    assert_eq!(counts.lines, 10_000);
    let body = ShopifyFake::jsonl(10_000).len();
    assert!(body > 900_000, "the file is {body} bytes");
    assert!(
        counts.peak_buffered < 4096,
        "held {} bytes at once",
        counts.peak_buffered
    );
}

#[tokio::test]
async fn an_operation_running_at_the_deadline_is_resumed_by_the_next_run() {
    let s = Shop::new(Limits::default(), &[]).await;
    // Twelve polls at half a second: longer than a 4 s run.
    s.fake.set_bulk(40, 12);
    let app = &s.stack.app;
    let short = Instant::now() + Duration::from_secs(4);
    let first = switchyard::tools::shopify::bulk_sync::run(app.poller(), short)
        .await
        .expect("run");
    assert_eq!((first.synced, first.pending), (0, 1), "{first:?}");
    let long = Instant::now() + Duration::from_secs(60);
    let second = switchyard::tools::shopify::bulk_sync::run(app.poller(), long)
        .await
        .expect("run");
    assert_eq!(second.synced, 1, "{second:?}");
    let started = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.operation == "BulkOperationRunQuery")
        .count();
    assert_eq!(
        started, 1,
        "the second run polled the first run's operation"
    );
}

/// A naive client: sends, and on `THROTTLED` retries after `pause` (zero: at once); what it
/// took and the `THROTTLED` answers it got.
async fn naive_update(fake: &ShopifyFake, title: String, pause: Duration) -> (u32, u32) {
    let client = reqwest::Client::new();
    let (mut calls, mut throttled) = (0, 0);
    loop {
        calls += 1;
        let body: Value = client
            .post(format!("{}/admin/api/2025-07/graphql.json", fake.base_url))
            .header("X-Shopify-Access-Token", TOKEN)
            .json(&json!({"query": "mutation ProductUpdate($product: ProductUpdateInput!) { productUpdate(product: $product) { product { id } userErrors { field message } } }",
                          "variables": {"product": {"id": "gid://shopify/Product/1", "title": title}}}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        if body.pointer("/errors/0/extensions/code") != Some(&json!("THROTTLED")) {
            return (calls, throttled);
        }
        throttled += 1;
        tokio::time::sleep(pause).await;
    }
}

/// `callers` concurrent callers issuing `calls` product updates each (10 points each) against a
/// full 100-point bucket restored at 50 a second (400 points: at least 6 s for anyone): the gateway's budget-waiting client beside naive
/// retry-on-THROTTLED clients (immediate, and a fixed 250 ms sleep), in the same run: total
/// time, THROTTLED answers and provider calls, and their ratios.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run by infra/bench.sh"]
async fn bench_shopify_budget_vs_naive_retry() {
    let (callers, calls) = (4_u32, 10_u32);
    let limits = Limits {
        maximum: 100.0,
        restore_rate: 50.0,
    };
    let s = Shop::new(limits, &[]).await;
    // The first answer teaches the budget the shop's bucket (1 point of the 100).
    s.ok("shopify.shop_get", json!({})).await;
    let before = s.fake.requests().len();
    let started = std::time::Instant::now();
    let runs = (0..callers).map(|c| {
        let s = &s;
        async move {
            for i in 0..calls {
                let input = json!({"id": "gid://shopify/Product/1", "title": format!("b{c}-{i}")});
                match s
                    .call_within("shopify.product_update", input, Duration::from_secs(60))
                    .await
                {
                    ToolResponse::Ok { .. } => {}
                    ToolResponse::Err { error, .. } => panic!("budget client failed: {error:?}"),
                }
            }
        }
    });
    futures::future::join_all(runs).await;
    let budget_secs = started.elapsed().as_secs_f64();
    let budget_requests = s.fake.requests().len() - before;
    let budget_throttled = s.fake.throttled();

    let mut rows = vec![(
        "budget wait",
        budget_secs,
        budget_throttled as u32,
        budget_requests as u32,
    )];
    for (name, pause) in [
        ("naive immediate retry", Duration::ZERO),
        ("naive 250 ms retry", Duration::from_millis(250)),
    ] {
        let fake = ShopifyFake::with_limits(TOKEN, limits).await;
        let started = std::time::Instant::now();
        let runs = (0..callers).map(|c| {
            let fake = &fake;
            async move {
                let mut total = (0, 0);
                for i in 0..calls {
                    let (n, t) = naive_update(fake, format!("n{c}-{i}"), pause).await;
                    total = (total.0 + n, total.1 + t);
                }
                total
            }
        });
        let totals = futures::future::join_all(runs).await;
        let requests: u32 = totals.iter().map(|t| t.0).sum();
        let throttled: u32 = totals.iter().map(|t| t.1).sum();
        rows.push((name, started.elapsed().as_secs_f64(), throttled, requests));
    }
    let (_, base_secs, _, base_requests) = rows[0];
    for (name, secs, throttled, requests) in &rows {
        println!(
            "shopify budget: {name:<22} {callers}x{calls} calls: {secs:6.2} s ({:4.2}x), THROTTLED {throttled:5}, provider calls {requests:5} ({:5.2}x)",
            secs / base_secs,
            f64::from(*requests) / f64::from(base_requests),
        );
    }
    assert_eq!(budget_throttled, 0, "the budget client is never throttled");
}
