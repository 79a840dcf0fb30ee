//! `email.send_batch`: the same message to each recipient separately, split as the service
//! allows. SendGrid takes up to 1000 personalizations per request (one request per chunk, each
//! answered with one message id); SES sends one message per `SendEmail`, so each recipient is
//! its own request, and a throttled one is retried with exponential backoff. A 429 from
//! SendGrid is waited out by the outbound layer (its `X-RateLimit-Reset`). Results are per
//! recipient: a refused request fails only its recipients, and what may have been sent without
//! an answer is `unknown` (never to be resent blindly).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::{address, deliver, record, sendgrid, Content, Envelope, Service, Settings};
use crate::error::ErrorCode;
use crate::executor::Call;
use crate::ToolError;

/// Throttled SES sends are tried this many times in all.
const SES_THROTTLE_TRIES: u32 = 4;
/// The first backoff after a throttled SES send; doubled each time.
const SES_FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// One recipient's result.
#[derive(Debug, Clone)]
struct Outcome {
    to: String,
    status: &'static str,
    message_id: Option<String>,
    error: Option<String>,
}

impl Outcome {
    fn accepted(to: &str, message_id: &str) -> Self {
        Self {
            to: to.to_owned(),
            status: "accepted",
            message_id: Some(message_id.to_owned()),
            error: None,
        }
    }

    fn failed(to: &str, error: &ToolError) -> Self {
        Self {
            to: to.to_owned(),
            status: if error.may_have_acted() {
                "unknown"
            } else {
                "failed"
            },
            message_id: None,
            error: Some(format!("{}: {}", error.code.as_str(), error.message)),
        }
    }

    fn refused(to: &str, why: String) -> Self {
        Self {
            to: to.to_owned(),
            status: "failed",
            message_id: None,
            error: Some(why),
        }
    }

    fn json(&self) -> Value {
        let mut out = json!({"to": self.to, "status": self.status});
        if let Some(id) = &self.message_id {
            out["message_id"] = json!(id);
        }
        if let Some(error) = &self.error {
            out["error"] = json!(error);
        }
        out
    }
}

/// Errors that no later request would escape: the whole call fails while nothing was sent.
fn stops_everything(e: &ToolError) -> bool {
    matches!(
        e.code,
        ErrorCode::ProviderAuth | ErrorCode::Misconfigured | ErrorCode::Timeout
    ) || e.may_have_acted()
}

pub(crate) async fn send_batch(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let settings = Settings::of(call)?;
    let content = Content::of(input, &settings)?;
    let mut outcomes = Vec::new();
    let mut valid: Vec<(String, Option<String>)> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in input
        .get("recipients")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let to = r.get("to").and_then(Value::as_str).unwrap_or_default();
        let name = r.get("name").and_then(Value::as_str).map(str::to_owned);
        if let Err(e) = address::check(to) {
            outcomes.push(Outcome::refused(to, e.to_string()));
        } else if !seen.insert(to.to_ascii_lowercase()) {
            outcomes.push(Outcome::refused(to, "listed twice; sent once".into()));
        } else if name.as_deref().is_some_and(|n| n.contains(['\r', '\n'])) {
            outcomes.push(Outcome::refused(to, "the name has a line break".into()));
        } else {
            valid.push((to.to_owned(), name));
        }
    }
    let mut requests = 0_u64;
    let groups: Vec<Vec<(String, Option<String>)>> = match settings.service {
        Service::SendGrid => valid
            .chunks(settings.max_per_request)
            .map(<[_]>::to_vec)
            .collect(),
        Service::Ses => valid.into_iter().map(|r| vec![r]).collect(),
    };
    let mut stopped: Option<ToolError> = None;
    for group in groups {
        let addresses: Vec<String> = group.iter().map(|(a, _)| a.clone()).collect();
        if let Some(e) = &stopped {
            outcomes.extend(addresses.iter().map(|a| Outcome::failed(a, e)));
            continue;
        }
        requests += 1;
        let result = match settings.service {
            Service::SendGrid => {
                let envelopes: Vec<Envelope> = group
                    .iter()
                    .map(|r| Envelope {
                        to: vec![r.clone()],
                        ..Envelope::default()
                    })
                    .collect();
                sendgrid::send(call, &settings, &content, &envelopes).await
            }
            Service::Ses => {
                let envelope = Envelope {
                    to: group.clone(),
                    ..Envelope::default()
                };
                ses_with_backoff(call, &settings, &content, &envelope, &mut requests).await
            }
        };
        match result {
            Ok(accepted) => {
                record(call, &settings, &accepted, addresses.clone()).await;
                outcomes.extend(
                    addresses
                        .iter()
                        .map(|a| Outcome::accepted(a, &accepted.message_id)),
                );
            }
            Err(e) => {
                let accepted_any = outcomes.iter().any(|o| o.status == "accepted");
                if stops_everything(&e) && !accepted_any && !e.may_have_acted() {
                    return Err(e);
                }
                if stops_everything(&e) {
                    stopped = Some(ToolError::new(
                        e.code,
                        format!("not sent after an earlier request failed: {}", e.message),
                        e.retryable,
                    ));
                }
                outcomes.extend(addresses.iter().map(|a| Outcome::failed(a, &e)));
            }
        }
    }
    let accepted = outcomes.iter().filter(|o| o.status == "accepted").count();
    Ok(json!({
        "service": settings.service.name(),
        "accepted": accepted,
        "failed": outcomes.len() - accepted,
        "requests": requests,
        "results": outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
    }))
}

/// One SES message, retried with exponential backoff while SES throttles and the deadline
/// allows.
async fn ses_with_backoff(
    call: &mut Call<'_>,
    settings: &Settings,
    content: &Content,
    envelope: &Envelope,
    requests: &mut u64,
) -> Result<super::Accepted, ToolError> {
    let mut backoff = SES_FIRST_BACKOFF;
    let mut tries = 1;
    loop {
        match deliver(call, settings, content, envelope).await {
            Err(e) if e.code == ErrorCode::RateLimited && tries < SES_THROTTLE_TRIES => {
                if tokio::time::Instant::now() + backoff >= call.deadline {
                    return Err(e);
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                tries += 1;
                *requests += 1;
            }
            other => return other,
        }
    }
}
