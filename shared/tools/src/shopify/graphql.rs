//! One Admin GraphQL request of a tool call: the pinned endpoint, the access token, the
//! per-shop cost budget taken before the request and synced from `extensions.cost` after it,
//! and the one retry a `THROTTLED` answer earns after its computed restore time.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::time::Instant;

use super::budget::{self, Acquired, DynamoBudget, ThrottleStatus};
use crate::error::ErrorCode;
use crate::executor::Call;
use crate::outbound::Retry;
use crate::ToolError;

/// Where one shop's Admin API is, from the instance config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `acme.myshopify.com`: the budget's key.
    pub shop: String,
    /// `https://acme.myshopify.com/admin/api/2025-07/graphql.json` (or the fake's).
    pub url: String,
}

/// Why an instance's config cannot reach the Admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EndpointError {
    #[error("the instance has no shop")]
    NoShop,
    #[error("the instance pins no api_version (e.g. 2025-07)")]
    NoVersion,
    #[error("api_version {0:?} is not a Shopify release (YYYY-01, -04, -07 or -10)")]
    BadVersion(String),
}

/// Whether `v` names a quarterly Admin API release (`2025-07`).
fn is_release(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && matches!(&v[5..], "01" | "04" | "07" | "10")
}

impl Endpoint {
    pub(crate) fn of(
        config: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, EndpointError> {
        let shop = config
            .get("shop")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .ok_or(EndpointError::NoShop)?;
        let version = config.get("api_version").ok_or(EndpointError::NoVersion)?;
        if !is_release(version) {
            return Err(EndpointError::BadVersion(version.clone()));
        }
        let base = config
            .get("api_base_url")
            .map(|b| b.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://{shop}"));
        Ok(Self {
            shop: shop.to_owned(),
            url: format!("{base}/admin/api/{version}/graphql.json"),
        })
    }
}

/// The last actual cost of each query per shop seen by this warm process: the estimate a
/// query takes from the budget next time (before that, the definition's `queryCost`).
fn last_costs() -> &'static Mutex<HashMap<String, f64>> {
    static COSTS: OnceLock<Mutex<HashMap<String, f64>>> = OnceLock::new();
    COSTS.get_or_init(Default::default)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `extensions.cost` of an answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cost {
    pub requested: f64,
    pub actual: Option<f64>,
    pub status: ThrottleStatus,
}

pub(crate) fn cost_of(body: &Value) -> Option<Cost> {
    let cost = body.pointer("/extensions/cost")?;
    let status = cost.get("throttleStatus")?;
    let f = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    Some(Cost {
        requested: f(cost, "requestedQueryCost")?,
        actual: f(cost, "actualQueryCost"),
        status: ThrottleStatus {
            maximum: f(status, "maximumAvailable")?,
            currently_available: f(status, "currentlyAvailable")?,
            restore_rate: f(status, "restoreRate")?,
        },
    })
}

/// Whether the answer's `errors` say `THROTTLED`.
pub(crate) fn is_throttled(body: &Value) -> bool {
    body.get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED"))
        })
}

/// A `rate_limited` error: the budget restores after the deadline.
fn rate_limited(wait_ms: u64) -> ToolError {
    ToolError::new(
        ErrorCode::RateLimited,
        format!("the shop's query budget restores in {wait_ms} ms, past this call's deadline"),
        true,
    )
}

/// Sends `query` with `variables` as `call`'s method; the answer's `data`. `retry`: whether a
/// request that may have reached Shopify may be sent again (queries and idempotent mutations).
pub(crate) async fn request(
    call: &mut Call<'_>,
    query: &str,
    variables: Value,
    retry: Retry,
) -> Result<Value, ToolError> {
    let endpoint = Endpoint::of(&call.instance.config)
        .map_err(|e| ToolError::misconfigured(&e.to_string()))?;
    let token = call
        .credential
        .as_ref()
        .ok_or_else(|| ToolError::auth("the instance has no Shopify connection"))?
        .expose()
        .to_owned();
    let (client, table) = call.app.tool_state.table();
    let store = DynamoBudget::new(client.clone(), table);
    let cost_key = format!("{}#{}", endpoint.shop, call.method.tool_id);
    let default_cost = call.method.def.exec.query_cost.unwrap_or(10) as f64;
    let body = json!({"query": query, "variables": variables});
    let http = call.app.http().clone();
    let route = format!("POST shopify graphql {}", call.method.tool_id);
    let mut throttled_once = false;
    loop {
        let estimate = last_costs()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&cost_key)
            .copied()
            .unwrap_or(default_cost);
        take(&store, &endpoint.shop, estimate, call.deadline).await?;
        let build = || {
            http.post(&endpoint.url)
                .header("accept", "application/json")
                .header("X-Shopify-Access-Token", &token)
                .json(&body)
        };
        let exchange = call.send_to(&route, retry, build).await?;
        if !(200..300).contains(&exchange.status) {
            return Err(provider_error(exchange.status, &exchange.body));
        }
        let answer = exchange.body;
        let cost = cost_of(&answer);
        if let Some(cost) = cost {
            let spent = if is_throttled(&answer) {
                0.0
            } else {
                cost.actual.unwrap_or(cost.requested)
            };
            if !is_throttled(&answer) {
                last_costs()
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(cost_key.clone(), cost.requested);
            }
            budget::sync(
                &store,
                &endpoint.shop,
                cost.status,
                estimate - spent,
                now_ms(),
            )
            .await
            .map_err(|e| ToolError::unavailable(e.to_string()))?;
        }
        if is_throttled(&answer) {
            let wait_ms = cost.map_or(1000, |c| {
                budget::restore_ms(
                    c.requested,
                    c.status.currently_available,
                    c.status.restore_rate,
                )
            });
            if throttled_once || Instant::now() + Duration::from_millis(wait_ms) > call.deadline {
                return Err(rate_limited(wait_ms));
            }
            throttled_once = true;
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            continue;
        }
        return data_of(&answer);
    }
}

/// Takes `cost` from the shop's budget within `deadline`, waiting for the restore if it fits.
async fn take(
    store: &DynamoBudget,
    shop: &str,
    cost: f64,
    deadline: Instant,
) -> Result<(), ToolError> {
    let left = deadline.saturating_duration_since(Instant::now());
    let deadline_ms = now_ms() + left.as_millis() as u64;
    let acquired = tokio::time::timeout_at(
        deadline,
        budget::acquire(store, shop, cost, deadline_ms, now_ms, |ms| {
            tokio::time::sleep(Duration::from_millis(ms))
        }),
    )
    .await
    .map_err(|_| ToolError::timeout_before_provider("waiting for the shop's query budget"))?
    .map_err(|e| ToolError::unavailable(e.to_string()))?;
    match acquired {
        Acquired::Taken { .. } => Ok(()),
        Acquired::TooLong { wait_ms } => Err(rate_limited(wait_ms)),
    }
}

/// A non-2xx answer: 401/403 `provider_auth` (a revoked or wrong token), others by status.
fn provider_error(status: u16, body: &Value) -> ToolError {
    let message = body
        .get("errors")
        .and_then(|e| e.as_str().map(str::to_owned).or_else(|| first_message(e)))
        .unwrap_or_else(|| format!("Shopify answered {status}"));
    ToolError::provider(status, message)
}

fn first_message(errors: &Value) -> Option<String> {
    errors
        .as_array()?
        .first()?
        .get("message")?
        .as_str()
        .map(str::to_owned)
}

/// The `data` of a 200 answer, or its first GraphQL error.
fn data_of(answer: &Value) -> Result<Value, ToolError> {
    if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
        let message = first_message(errors).unwrap_or_else(|| "GraphQL error".into());
        return Err(ToolError::provider(200, message));
    }
    Ok(answer.get("data").cloned().unwrap_or(Value::Null))
}

/// Shopify's `userErrors` of a mutation payload: any makes the call `invalid_input`.
pub(crate) fn check_user_errors(payload: &Value) -> Result<(), ToolError> {
    let errors = payload
        .get("userErrors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty());
    match errors {
        None => Ok(()),
        Some(errors) => {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| {
                    let field = e
                        .get("field")
                        .and_then(Value::as_array)
                        .map(|f| {
                            f.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default();
                    let message = e
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("invalid");
                    if field.is_empty() {
                        message.to_owned()
                    } else {
                        format!("{field}: {message}")
                    }
                })
                .collect();
            Err(ToolError::invalid_input_message(format!(
                "Shopify refused the change: {}",
                messages.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_endpoint_pins_the_version_and_may_point_at_a_fake() {
        let e = Endpoint::of(&config(&[
            ("shop", "acme.myshopify.com"),
            ("api_version", "2025-07"),
        ]));
        assert_eq!(
            e.expect("test value").url,
            "https://acme.myshopify.com/admin/api/2025-07/graphql.json"
        );
        let e = Endpoint::of(&config(&[
            ("shop", "acme.myshopify.com"),
            ("api_version", "2025-07"),
            ("api_base_url", "http://127.0.0.1:9/"),
        ]));
        assert_eq!(
            e.expect("test value").url,
            "http://127.0.0.1:9/admin/api/2025-07/graphql.json"
        );
        assert_eq!(
            Endpoint::of(&config(&[("shop", "a.myshopify.com")])),
            Err(EndpointError::NoVersion)
        );
        assert_eq!(
            Endpoint::of(&config(&[
                ("shop", "a.myshopify.com"),
                ("api_version", "2025-08")
            ])),
            Err(EndpointError::BadVersion("2025-08".into()))
        );
        assert_eq!(
            Endpoint::of(&config(&[("api_version", "2025-07")])),
            Err(EndpointError::NoShop)
        );
    }

    #[test]
    fn reads_cost_extensions_and_throttled_errors() {
        let body = json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": {"requestedQueryCost": 101, "actualQueryCost": null,
              "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 51, "restoreRate": 50.0}}}});
        assert!(is_throttled(&body));
        let cost = cost_of(&body).expect("test value");
        assert_eq!((cost.requested, cost.actual), (101.0, None));
        assert_eq!(cost.status.currently_available, 51.0);
        assert!(!is_throttled(&json!({"data": {}})));
        assert!(check_user_errors(&json!({"userErrors": []})).is_ok());
        let e =
            check_user_errors(&json!({"userErrors": [{"field": ["id"], "message": "not found"}]}))
                .expect_err("an error");
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("id: not found"));
    }
}
