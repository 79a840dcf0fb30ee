//! A loopback fake of the Shopify Admin GraphQL API, answering as shopify.dev documents:
//!
//! - `POST /admin/api/{version}/graphql.json` with `X-Shopify-Access-Token` (401 with
//!   `{"errors": "[API] Invalid API key or access token …"}` otherwise);
//! - calculated query cost with a real leaky bucket per shop: `maximumAvailable` points (1000),
//!   restored at `restoreRate` (50) a second; every answer carries `extensions.cost`
//!   (`requestedQueryCost`, `actualQueryCost`, `throttleStatus`); a query whose requested cost
//!   is over what is available is answered HTTP 200 with `errors[].extensions.code = "THROTTLED"`
//!   and `actualQueryCost: null`, spending nothing;
//! - the queries and mutations the tools send, recognised by operation name (no GraphQL
//!   engine): orders, order, products, productUpdate, inventoryAdjustQuantities, customers, shop,
//!   themes, themePublish, scriptTags, scriptTagDelete, webhookSubscriptionCreate/Delete,
//!   bulkOperationRunQuery and `node(id:)` of a bulk operation;
//! - bulk operations go CREATED → RUNNING → COMPLETED, one step per status poll, and then
//!   carry the `url` of a generated JSONL file (`GET /bulk/{n}.jsonl`) of products and variants.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// The bucket's size and restore rate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub maximum: f64,
    pub restore_rate: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            maximum: 1000.0,
            restore_rate: 50.0,
        }
    }
}

/// One GraphQL request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub operation: String,
    pub variables: Value,
    pub throttled: bool,
}

/// A webhook subscription the app created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub topic: String,
    pub callback_url: String,
}

#[derive(Debug)]
struct BulkOp {
    polls: u32,
    lines: usize,
}

#[derive(Debug)]
struct State {
    base_url: String,
    token: String,
    limits: Limits,
    available: f64,
    at: Instant,
    recorded: Vec<Recorded>,
    products: Vec<Value>,
    themes: Vec<Value>,
    script_tags: Vec<Value>,
    adjustments: Vec<Value>,
    subscriptions: Vec<Subscription>,
    next_id: u64,
    bulk: BTreeMap<u64, BulkOp>,
    /// Lines of the JSONL file the next bulk operation produces.
    bulk_lines: usize,
    /// Status polls a bulk operation takes to complete.
    bulk_polls: u32,
}

/// A running fake shop on `127.0.0.1:<ephemeral>`.
#[derive(Debug, Clone)]
pub struct ShopifyFake {
    /// `http://127.0.0.1:PORT`: the instance's `api_base_url`.
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

/// Customers of the fake shop (every order belongs to one).
const CUSTOMERS: [(&str, &str, &str, &str); 3] = [
    ("1", "Ann", "Lee", "ann@example.com"),
    ("2", "Bob", "Ode", "bob@example.com"),
    ("3", "Cy", "Park", "cy@example.com"),
];

fn customer(i: usize) -> Value {
    let (id, first, last, email) = CUSTOMERS[i % CUSTOMERS.len()];
    json!({"id": format!("gid://shopify/Customer/{id}"), "firstName": first, "lastName": last,
           "displayName": format!("{first} {last}"), "email": email, "phone": format!("+1555000{id}"),
           "numberOfOrders": "2", "createdAt": "2025-01-01T00:00:00Z",
           "defaultAddress": {"address1": format!("{id} Main St"), "address2": null, "city": "Ottawa",
                              "province": "ON", "zip": "K1A0B1", "country": "Canada"}})
}

fn order(n: u64) -> Value {
    let c = customer(n as usize);
    json!({"id": format!("gid://shopify/Order/{n}"), "name": format!("#{}", 1000 + n),
           "createdAt": "2025-06-01T00:00:00Z", "displayFinancialStatus": "PAID",
           "displayFulfillmentStatus": "UNFULFILLED", "email": c["email"], "phone": c["phone"],
           "totalPriceSet": {"shopMoney": {"amount": format!("{}.00", 10 * n), "currencyCode": "CAD"}},
           "customer": {"id": c["id"], "displayName": c["displayName"], "firstName": c["firstName"],
                        "lastName": c["lastName"], "email": c["email"], "phone": c["phone"]},
           "shippingAddress": c["defaultAddress"],
           "lineItems": {"nodes": [{"title": "Tee", "quantity": 1, "sku": "TEE-1"}]}})
}

impl ShopifyFake {
    /// A shop accepting `token`, with the default bucket (1000 points, 50 a second).
    pub async fn start(token: &str) -> ShopifyFake {
        Self::with_limits(token, Limits::default()).await
    }

    pub async fn with_limits(token: &str, limits: Limits) -> ShopifyFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the Shopify fake");
        let addr = listener.local_addr().expect("the fake's local address");
        let base_url = format!("http://{addr}");
        let products = (1..=3)
            .map(|n| {
                json!({"id": format!("gid://shopify/Product/{n}"), "title": format!("Product {n}"),
                       "handle": format!("product-{n}"), "status": "ACTIVE", "vendor": "Acme",
                       "productType": "Tee", "tags": [], "totalInventory": 10 * n,
                       "updatedAt": "2025-06-01T00:00:00Z"})
            })
            .collect();
        let themes = vec![
            json!({"id": "gid://shopify/OnlineStoreTheme/1", "name": "Dawn", "role": "MAIN",
                   "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"}),
            json!({"id": "gid://shopify/OnlineStoreTheme/2", "name": "Dawn (previous)", "role": "UNPUBLISHED",
                   "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"}),
        ];
        let script_tags = vec![
            json!({"id": "gid://shopify/ScriptTag/1", "src": "https://cdn.example.com/a.js",
                   "displayScope": "ALL", "createdAt": "2025-01-01T00:00:00Z"}),
        ];
        let state = Arc::new(Mutex::new(State {
            base_url: base_url.clone(),
            token: token.to_owned(),
            limits,
            available: limits.maximum,
            at: Instant::now(),
            recorded: Vec::new(),
            products,
            themes,
            script_tags,
            adjustments: Vec::new(),
            subscriptions: Vec::new(),
            next_id: 100,
            bulk: BTreeMap::new(),
            bulk_lines: 10,
            bulk_polls: 2,
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("Shopify fake stopped: {error}");
            }
        });
        ShopifyFake { base_url, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every GraphQL request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// How many answers were `THROTTLED`.
    pub fn throttled(&self) -> usize {
        self.lock().recorded.iter().filter(|r| r.throttled).count()
    }

    /// The live webhook subscriptions.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.lock().subscriptions.clone()
    }

    /// The inventory adjustments applied.
    pub fn adjustments(&self) -> Vec<Value> {
        self.lock().adjustments.clone()
    }

    /// The product `id` as stored.
    pub fn product(&self, id: &str) -> Option<Value> {
        self.lock().products.iter().find(|p| p["id"] == id).cloned()
    }

    /// Empties the bucket (as if another app had spent it), to be restored at the rate.
    pub fn drain(&self, to: f64) {
        let mut s = self.lock();
        s.available = to;
        s.at = Instant::now();
    }

    /// The next bulk operations produce `lines` JSONL lines and complete after `polls` polls.
    pub fn set_bulk(&self, lines: usize, polls: u32) {
        let mut s = self.lock();
        s.bulk_lines = lines;
        s.bulk_polls = polls;
    }

    /// The JSONL a bulk operation of `lines` lines produces: products, each followed by its
    /// variants (`__parentId`), one product per four lines.
    pub fn jsonl(lines: usize) -> String {
        let mut out = String::new();
        let mut product = 0;
        for i in 0..lines {
            if i % 4 == 0 {
                product += 1;
                out.push_str(&format!(
                    "{{\"id\":\"gid://shopify/Product/{product}\",\"title\":\"Product {product}\",\"status\":\"ACTIVE\"}}\n"
                ));
            } else {
                out.push_str(&format!(
                    "{{\"id\":\"gid://shopify/ProductVariant/{i}\",\"sku\":\"SKU-{i}\",\"price\":\"9.99\",\"__parentId\":\"gid://shopify/Product/{product}\"}}\n"
                ));
            }
        }
        out
    }
}

fn answer(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The operation name of a document: the word after `query` or `mutation`.
fn operation_name(query: &str) -> String {
    let mut words = query.split(|c: char| c.is_whitespace() || c == '(' || c == '{');
    while let Some(w) = words.next() {
        if w == "query" || w == "mutation" {
            return words.find(|w| !w.is_empty()).unwrap_or_default().to_owned();
        }
    }
    String::new()
}

/// The requested cost of an operation: mutations 10, a connection 2 + its `first`, one object 1.
fn requested_cost(operation: &str, variables: &Value) -> f64 {
    let first = variables
        .get("first")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    match operation {
        "OrdersList" | "CustomersList" => 2.0 + first,
        "ProductsList" | "ThemesList" | "ScriptTagsList" => 2.0 + first,
        "OrderGet" => 5.0,
        "ShopGet" | "BulkOperationStatus" => 1.0,
        _ => 10.0,
    }
}

impl State {
    fn restore(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.available =
            (self.available + elapsed * self.limits.restore_rate).min(self.limits.maximum);
        self.at = now;
    }

    fn cost(&self, requested: f64, actual: Option<f64>) -> Value {
        json!({"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
            "throttleStatus": {"maximumAvailable": self.limits.maximum,
                "currentlyAvailable": self.available.floor(), "restoreRate": self.limits.restore_rate}}})
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    if method == Method::GET {
        if let Some(n) = path
            .strip_prefix("/bulk/")
            .and_then(|p| p.strip_suffix(".jsonl"))
        {
            let Some(op) = n.parse::<u64>().ok().and_then(|n| s.bulk.get(&n)) else {
                return answer(404, &json!({"errors": "Not Found"}));
            };
            let text = ShopifyFake::jsonl(op.lines);
            return (
                StatusCode::OK,
                [("content-type", "application/jsonl")],
                text,
            )
                .into_response();
        }
    }
    if let Some(answer) = oauth(&s, &method, &path, uri.query().unwrap_or_default(), &body) {
        return answer;
    }
    let endpoint = path.starts_with("/admin/api/") && path.ends_with("/graphql.json");
    if method != Method::POST || !endpoint {
        return answer(404, &json!({"errors": "Not Found"}));
    }
    let token_ok = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == s.token);
    if !token_ok {
        return answer(
            401,
            &json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return answer(400, &json!({"errors": "Bad Request"}));
    };
    let query = request
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    let operation = operation_name(query);
    let requested = requested_cost(&operation, &variables);
    s.restore();
    if requested > s.available {
        s.recorded.push(Recorded {
            operation,
            variables,
            throttled: true,
        });
        let cost = s.cost(requested, None);
        return answer(
            200,
            &json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits"}}], "extensions": cost}),
        );
    }
    s.recorded.push(Recorded {
        operation: operation.clone(),
        variables: variables.clone(),
        throttled: false,
    });
    let (data, actual) = execute(&mut s, &operation, &variables, requested);
    s.available -= actual;
    let cost = s.cost(requested, Some(actual));
    match data {
        Ok(data) => answer(200, &json!({"data": data, "extensions": cost})),
        Err(message) => answer(
            200,
            &json!({"errors": [{"message": message}], "extensions": cost}),
        ),
    }
}

/// The authorization code the consent screen hands out (one shop, one merchant).
pub const OAUTH_CODE: &str = "shopify-auth-code";

/// Shopify's authorization code grant: `GET /admin/oauth/authorize` consents at once and
/// redirects to `redirect_uri` with `code`, `state` and `shop`; `POST /admin/oauth/access_token`
/// exchanges that code for the shop's offline token (`{access_token, scope}`).
fn oauth(s: &State, method: &Method, path: &str, query: &str, body: &[u8]) -> Option<Response> {
    let param = |text: &str, name: &str| {
        form_urlencoded::parse(text.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match (method.as_str(), path) {
        ("GET", "/admin/oauth/authorize") => {
            let redirect = param(query, "redirect_uri")?;
            let state = param(query, "state").unwrap_or_default();
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("code", OAUTH_CODE)
                .append_pair("shop", "acme.myshopify.com")
                .append_pair("state", &state)
                .finish();
            let location = format!("{redirect}?{query}");
            Some((StatusCode::FOUND, [("location", location)]).into_response())
        }
        ("POST", "/admin/oauth/access_token") => {
            let text = String::from_utf8_lossy(body);
            let code = param(&text, "code").or_else(|| {
                serde_json::from_slice::<Value>(body)
                    .ok()?
                    .get("code")?
                    .as_str()
                    .map(str::to_owned)
            });
            if code.as_deref() != Some(OAUTH_CODE) {
                return Some(answer(
                    400,
                    &json!({"error": "invalid_request", "error_description": "The authorization code was not found or was already used"}),
                ));
            }
            Some(answer(
                200,
                &json!({"access_token": s.token, "scope": "read_orders,write_products,write_inventory,read_customers,write_themes,write_script_tags"}),
            ))
        }
        _ => None,
    }
}

fn nodes_page(nodes: Vec<Value>, first: usize) -> Value {
    let more = nodes.len() > first;
    let page: Vec<Value> = nodes.into_iter().take(first).collect();
    let end = page
        .last()
        .and_then(|n| n["id"].as_str().map(str::to_owned));
    json!({"nodes": page, "pageInfo": {"hasNextPage": more, "endCursor": end}})
}

/// The answer's `data` (or a top-level error message) and its actual cost: a connection costs
/// 2 + the nodes it returned, whatever `first` asked for (Shopify refunds the difference).
fn execute(
    s: &mut State,
    operation: &str,
    v: &Value,
    requested: f64,
) -> (Result<Value, String>, f64) {
    let first = v.get("first").and_then(Value::as_u64).unwrap_or(10) as usize;
    let listed = |n: usize| 2.0 + n.min(first) as f64;
    let user_errors = |field: &str, message: &str| json!([{"field": [field], "message": message}]);
    match operation {
        "OrdersList" => {
            let orders: Vec<Value> = (1..=5).rev().map(order).collect();
            (Ok(json!({"orders": nodes_page(orders, first)})), listed(5))
        }
        "OrderGet" => {
            let id = v["id"].as_str().unwrap_or_default();
            let n = id.rsplit('/').next().and_then(|n| n.parse::<u64>().ok());
            let found = n
                .filter(|n| (1..=5).contains(n))
                .map(order)
                .unwrap_or(Value::Null);
            (Ok(json!({"order": found})), requested)
        }
        "CustomersList" => {
            let customers: Vec<Value> = (0..CUSTOMERS.len()).map(customer).collect();
            (
                Ok(json!({"customers": nodes_page(customers, first)})),
                listed(CUSTOMERS.len()),
            )
        }
        "ProductsList" => {
            let n = s.products.len();
            (
                Ok(json!({"products": nodes_page(s.products.clone(), first)})),
                listed(n),
            )
        }
        "ProductUpdate" => {
            let input = &v["product"];
            let id = input["id"].as_str().unwrap_or_default();
            let Some(product) = s.products.iter_mut().find(|p| p["id"] == id) else {
                return (
                    Ok(
                        json!({"productUpdate": {"product": null, "userErrors": user_errors("id", "Product does not exist")}}),
                    ),
                    requested,
                );
            };
            for (k, val) in input.as_object().into_iter().flatten() {
                if k != "id" && k != "descriptionHtml" {
                    product[k] = val.clone();
                }
            }
            let product = product.clone();
            (
                Ok(json!({"productUpdate": {"product": product, "userErrors": []}})),
                requested,
            )
        }
        "InventoryAdjust" => {
            let input = v["input"].clone();
            let id = s.id();
            s.adjustments.push(input.clone());
            let changes: Vec<Value> = input["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| json!({"name": input["name"], "delta": c["delta"]}))
                .collect();
            (
                Ok(
                    json!({"inventoryAdjustQuantities": {"inventoryAdjustmentGroup": {
                    "id": format!("gid://shopify/InventoryAdjustmentGroup/{id}"), "reason": input["reason"],
                    "createdAt": "2025-06-01T00:00:00Z", "changes": changes}, "userErrors": []}}),
                ),
                requested,
            )
        }
        "ShopGet" => (
            Ok(
                json!({"shop": {"id": "gid://shopify/Shop/1", "name": "Acme", "myshopifyDomain": "acme.myshopify.com",
                "currencyCode": "CAD", "plan": {"displayName": "Basic"}}}),
            ),
            requested,
        ),
        "ThemesList" => {
            let n = s.themes.len();
            (
                Ok(json!({"themes": nodes_page(s.themes.clone(), first)})),
                listed(n),
            )
        }
        "ThemePublish" => {
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            if !s.themes.iter().any(|t| t["id"] == id.as_str()) {
                return (
                    Ok(
                        json!({"themePublish": {"theme": null, "userErrors": user_errors("id", "Theme does not exist")}}),
                    ),
                    requested,
                );
            }
            for t in &mut s.themes {
                t["role"] = json!(if t["id"] == id.as_str() {
                    "MAIN"
                } else {
                    "UNPUBLISHED"
                });
            }
            let theme = s.themes.iter().find(|t| t["id"] == id.as_str()).cloned();
            (
                Ok(json!({"themePublish": {"theme": theme, "userErrors": []}})),
                requested,
            )
        }
        "ScriptTagsList" => {
            let n = s.script_tags.len();
            (
                Ok(json!({"scriptTags": nodes_page(s.script_tags.clone(), first)})),
                listed(n),
            )
        }
        "ScriptTagDelete" => {
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            let before = s.script_tags.len();
            s.script_tags.retain(|t| t["id"] != id.as_str());
            let payload = if s.script_tags.len() < before {
                json!({"deletedScriptTagId": id, "userErrors": []})
            } else {
                json!({"deletedScriptTagId": null, "userErrors": user_errors("id", "Script tag does not exist")})
            };
            (Ok(json!({"scriptTagDelete": payload})), requested)
        }
        "WebhookSubscriptionCreate" => {
            let id = format!("gid://shopify/WebhookSubscription/{}", s.id());
            let topic = v["topic"].as_str().unwrap_or_default().to_owned();
            let callback_url = v["webhookSubscription"]["callbackUrl"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            s.subscriptions.push(Subscription {
                id: id.clone(),
                topic: topic.clone(),
                callback_url,
            });
            (
                Ok(
                    json!({"webhookSubscriptionCreate": {"webhookSubscription": {"id": id, "topic": topic}, "userErrors": []}}),
                ),
                requested,
            )
        }
        "WebhookSubscriptionDelete" => {
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            let before = s.subscriptions.len();
            s.subscriptions.retain(|w| w.id != id);
            let payload = if s.subscriptions.len() < before {
                json!({"deletedWebhookSubscriptionId": id, "userErrors": []})
            } else {
                json!({"deletedWebhookSubscriptionId": null, "userErrors": user_errors("id", "Webhook subscription does not exist")})
            };
            (Ok(json!({"webhookSubscriptionDelete": payload})), requested)
        }
        "BulkOperationRunQuery" => {
            let n = s.id();
            let lines = s.bulk_lines;
            s.bulk.insert(n, BulkOp { polls: 0, lines });
            (
                Ok(
                    json!({"bulkOperationRunQuery": {"bulkOperation": {"id": format!("gid://shopify/BulkOperation/{n}"), "status": "CREATED"}, "userErrors": []}}),
                ),
                requested,
            )
        }
        "BulkOperationStatus" => {
            let id = v["id"].as_str().unwrap_or_default();
            let n = id.rsplit('/').next().and_then(|n| n.parse::<u64>().ok());
            let polls_needed = s.bulk_polls;
            let base = s.base_url.clone();
            let Some((n, op)) = n.and_then(|n| s.bulk.get_mut(&n).map(|op| (n, op))) else {
                return (Ok(json!({"node": null})), requested);
            };
            op.polls += 1;
            let node = if op.polls > polls_needed {
                json!({"id": id, "status": "COMPLETED", "errorCode": null, "objectCount": op.lines.to_string(),
                       "url": format!("{base}/bulk/{n}.jsonl")})
            } else {
                let status = if op.polls == 1 { "CREATED" } else { "RUNNING" };
                json!({"id": id, "status": status, "errorCode": null, "objectCount": "0", "url": null})
            };
            (Ok(json!({"node": node})), requested)
        }
        other => (
            Err(format!("Field '{other}' doesn't exist on type 'QueryRoot'")),
            1.0,
        ),
    }
}

#[cfg(test)]
mod tests;
