//! The `secure_http` handler: `http.secure_http_request` through [`super::secure_http`], with
//! the instance's allowlist, credential placement and limits.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::error::{ErrorCode, Fault};
use crate::executor::Call;
use crate::outbound::Attempt;
use crate::secure_http::{Credential, Placement, Policy, Request, SecureHttpError};
use crate::ToolError;

fn strings(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The instance's policy: `allowed_hosts` (comma-separated), `credential_placement`
/// (`header` | `query` | `body`), `credential_name`, `credential_prefix`,
/// `max_response_bytes`, `timeout_ms`, `allow_plain_http` (`true` to allow `http` URLs, which
/// never carry the credential); the sealed `credential` is injected.
fn policy(call: &Call<'_>) -> Result<Policy, ToolError> {
    let config = &call.instance.config;
    let allowed_hosts: Vec<String> = config
        .get("allowed_hosts")
        .map(|h| {
            h.split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    if allowed_hosts.is_empty() {
        return Err(ToolError::misconfigured(
            "the instance allows no hosts (allowed_hosts)",
        ));
    }
    let credential = match &call.credential {
        None => None,
        Some(value) => {
            let name = config.get("credential_name").cloned();
            let placement = match config.get("credential_placement").map(String::as_str) {
                None | Some("header") => Placement::Header {
                    name: name.unwrap_or_else(|| "authorization".into()),
                    prefix: config.get("credential_prefix").cloned().unwrap_or_default(),
                },
                Some("query") => Placement::Query {
                    name: name.ok_or_else(|| {
                        ToolError::misconfigured("credential_name is required for query placement")
                    })?,
                },
                Some("body") => Placement::BodyField {
                    name: name.ok_or_else(|| {
                        ToolError::misconfigured("credential_name is required for body placement")
                    })?,
                },
                Some(other) => {
                    return Err(ToolError::misconfigured(&format!(
                        "unknown credential_placement {other}"
                    )))
                }
            };
            Some(Credential {
                placement,
                value: value.clone(),
            })
        }
    };
    let number = |key: &str| config.get(key).and_then(|v| v.parse::<u64>().ok());
    let remaining = call.deadline.saturating_duration_since(Instant::now());
    let timeout = number("timeout_ms")
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10))
        .min(remaining);
    Ok(Policy {
        allowed_hosts,
        credential,
        max_response_bytes: number("max_response_bytes")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(1024 * 1024),
        timeout,
        max_redirects: 3,
        allow_plain_http: config
            .get("allow_plain_http")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    })
}

pub(crate) async fn run(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let policy = policy(call)?;
    let request = Request {
        method: input
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_owned(),
        url: input
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        headers: strings(input.get("headers")),
        query: strings(input.get("query")),
        body: input.get("body").cloned(),
    };
    let path = reqwest::Url::parse(&request.url)
        .map(|u| format!("{}{}", u.host_str().unwrap_or_default(), u.path()))
        .unwrap_or_default();
    let method = request.method.clone();
    let started = Instant::now();
    let result = call.app.secure_http().send(&policy, request).await;
    let mut attempt = Attempt {
        method,
        path,
        status: None,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        decision: None,
        waited_ms: 0,
        rate_limit: BTreeMap::new(),
        provider_request_id: None,
    };
    match result {
        Ok(response) => {
            attempt.status = Some(response.status);
            call.last_status = Some(response.status);
            call.attempts.push(attempt);
            Ok(json!({
                "status": response.status,
                "headers": response.headers,
                "body": response.body,
                "final_url": response.final_url,
                "redirects": response.redirects,
            }))
        }
        Err(e) => {
            attempt.decision = Some(format!("refused or failed: {e}"));
            call.attempts.push(attempt);
            Err(match e {
                SecureHttpError::HostNotAllowed(_)
                | SecureHttpError::BlockedAddress { .. }
                | SecureHttpError::PlainHttpNotAllowed(_) => {
                    ToolError::new(ErrorCode::Denied, e.to_string(), false)
                }
                SecureHttpError::BadRequest(_) => ToolError::invalid_input_message(e.to_string()),
                // Timeouts and transport failures are the upstream's; limits and refused
                // redirects are the caller's (they do not count against the breaker).
                other => ToolError {
                    fault: if other.retryable() {
                        Fault::Provider {
                            may_have_acted: true,
                        }
                    } else {
                        Fault::NotProvider
                    },
                    ..ToolError::new(
                        if other == SecureHttpError::Timeout {
                            ErrorCode::Timeout
                        } else {
                            ErrorCode::ProviderUnavailable
                        },
                        other.to_string(),
                        other.retryable(),
                    )
                },
            })
        }
    }
}
