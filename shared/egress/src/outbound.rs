//! Provider calls with polite retries.
//!
//! Retries 429, 5xx and Notion's 529 with exponential backoff and jitter (and the non-429
//! rate-limit answers a definition declares, e.g. Google's 403 `rateLimitExceeded`), honoring
//! `Retry-After` (seconds or an HTTP date) and Discord's `retry_after` body field. A wait that
//! would end past the caller's deadline fails fast as a retryable `rate_limited` error instead of
//! sleeping into a Lambda timeout. Discord's per-route buckets are remembered per warm process:
//! a request to a bucket known to be exhausted waits for its reset (or fails fast) before it is
//! sent. Every attempt and every decision is recorded for the receipt.
//!
//! A request that may already have reached the provider (a 5xx, or a timeout or transport error
//! after the connection was made) is only sent again when the caller says repeating it is safe
//! ([`Retry::AfterSending`]); a 429 or a refused connection means the provider did not act, so
//! those are always retried.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

/// At most this many attempts per call.
pub const MAX_ATTEMPTS: u32 = 4;
const BASE_BACKOFF_MS: u64 = 250;

/// One HTTP attempt, as the receipt shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub method: String,
    /// Path only: never the query string (it may carry credentials).
    pub path: String,
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why the next attempt waited, and how long.
    pub decision: Option<String>,
    pub waited_ms: u64,
    /// Rate-limit headers as the provider sent them.
    pub rate_limit: BTreeMap<String, String>,
    pub provider_request_id: Option<String>,
}

/// Whether a request that may have reached the provider may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Repeating it is harmless (an idempotent method, or one the definition marks `retrySafe`).
    AfterSending,
    /// Only what certainly did not act is retried: 429s and refused connections.
    OnlyUnsent,
}

/// How a call ended without a usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// `status` is the provider's 429 (or 503 with a wait); `None` when a remembered exhausted
    /// bucket stopped the request before it was sent.
    #[error("rate limited; retry after {retry_after_ms} ms")]
    RateLimited {
        retry_after_ms: u64,
        status: Option<u16>,
    },
    #[error("provider unavailable (HTTP {0})")]
    Unavailable(u16),
    /// `sent`: the connection was made, so the provider may have received the request.
    #[error("provider unreachable: {detail}")]
    Transport { detail: String, sent: bool },
    /// `sent`: the deadline passed while the provider had the request.
    #[error("deadline reached")]
    Deadline { sent: bool },
}

impl CallError {
    /// Whether the provider may have acted on the request.
    pub fn may_have_reached_provider(&self) -> bool {
        match self {
            Self::RateLimited { .. } => false,
            Self::Unavailable(_) => true,
            Self::Transport { sent, .. } | Self::Deadline { sent } => *sent,
        }
    }

    /// Whether this is the provider failing (what the circuit breaker counts): 5xx, transport
    /// errors and timeouts while it had the request, and 429s that outlasted the retries. A
    /// request our own bucket memory held back is not.
    pub fn is_provider_fault(&self) -> bool {
        match self {
            Self::RateLimited { status, .. } => status.is_some(),
            Self::Unavailable(_) => true,
            Self::Transport { .. } => true,
            Self::Deadline { sent } => *sent,
        }
    }
}

/// A successful (non-retryable) HTTP exchange: any status the caller must interpret.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    /// The body's bytes as received (binary answers, e.g. an exported PDF).
    pub raw: Vec<u8>,
}

/// Answers other than 429 that mean "slow down" for a provider: a status whose JSON body holds
/// one of `values` at `pointer` (Google's 403 with `/error/errors/0/reason` `rateLimitExceeded`).
/// Data from the integration definition; such an answer is retried like a 429 (the provider did
/// not act on the request).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitErrors {
    pub status: u16,
    pub pointer: String,
    pub values: Vec<String>,
}

impl RateLimitErrors {
    /// Whether `status` with `body` is one of these rate-limit answers.
    pub fn matches(&self, status: u16, body: &Value) -> bool {
        status == self.status
            && body
                .pointer(&self.pointer)
                .and_then(Value::as_str)
                .is_some_and(|v| self.values.iter().any(|x| x == v))
    }
}

/// Remembered Discord buckets: route → (remaining, reset instant).
#[derive(Debug, Default)]
pub struct Buckets(Mutex<HashMap<String, (u64, Instant)>>);

impl Buckets {
    pub(crate) fn wait_for(&self, route: &str) -> Option<Duration> {
        let map = self.0.lock().ok()?;
        let (remaining, reset) = map.get(route)?;
        let now = Instant::now();
        (*remaining == 0 && *reset > now).then(|| *reset - now)
    }

    pub(crate) fn update(&self, route: &str, headers: &BTreeMap<String, String>) {
        let remaining = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.parse::<u64>().ok());
        let reset_after = headers
            .get("x-ratelimit-reset-after")
            .and_then(|v| v.parse::<f64>().ok());
        if let (Some(remaining), Some(after), Ok(mut map)) = (remaining, reset_after, self.0.lock())
        {
            if let Some(wait) = provider_wait(after) {
                map.insert(route.to_owned(), (remaining, Instant::now() + wait));
            }
        }
    }
}

const RATE_LIMIT_HEADERS: &[&str] = &[
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-reset-after",
    "x-ratelimit-bucket",
    "x-ratelimit-scope",
    "x-ratelimit-global",
];

const REQUEST_ID_HEADERS: &[&str] = &[
    "x-slack-req-id",
    "x-request-id",
    "x-notion-request-id",
    "cf-ray",
];

/// What one provider call sends: its route (the bucket key), how it may be retried, and the
/// path segments that are credentials (redacted from the receipt's paths).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub route: &'a str,
    pub retry: Retry,
    pub secret_segments: &'a [String],
    /// The provider's non-429 rate-limit answers, if it has any.
    pub rate_limit_errors: Option<&'a RateLimitErrors>,
}

/// `path` with every secret segment replaced by `[redacted]`.
pub fn redact_path(path: &str, secret_segments: &[String]) -> String {
    secret_segments
        .iter()
        .filter(|s| !s.is_empty())
        .fold(path.to_owned(), |p, s| p.replace(s.as_str(), "[redacted]"))
}

/// Sends `build()` until it succeeds, fails for good, or the deadline says stop.
pub async fn call(
    buckets: &Buckets,
    target: Target<'_>,
    deadline: Instant,
    attempts: &mut Vec<Attempt>,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Exchange, CallError> {
    let route = target.route;
    for n in 1..=MAX_ATTEMPTS {
        if let Some(wait) = buckets.wait_for(route) {
            if Instant::now() + wait > deadline {
                return Err(CallError::RateLimited {
                    retry_after_ms: millis(wait),
                    status: None,
                });
            }
            tokio::time::sleep(wait).await;
        }
        let request = build();
        let (method, path) = match request.try_clone().and_then(|r| r.build().ok()) {
            Some(r) => (
                r.method().to_string(),
                redact_path(r.url().path(), target.secret_segments),
            ),
            None => (String::new(), String::new()),
        };
        let started = Instant::now();
        let remaining = deadline.saturating_duration_since(started);
        if remaining.is_zero() {
            return Err(CallError::Deadline { sent: false });
        }
        let result = request.timeout(remaining).send().await;
        let latency_ms = millis(started.elapsed());
        let mut attempt = Attempt {
            method,
            path,
            status: None,
            latency_ms,
            decision: None,
            waited_ms: 0,
            rate_limit: BTreeMap::new(),
            provider_request_id: None,
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                // The URL may carry a credential (Discord's interaction token): never in text.
                let e = e.without_url();
                let sent = !e.is_connect();
                let detail = if e.is_timeout() {
                    "timeout".to_owned()
                } else {
                    crate::error::chain(&e)
                };
                let backoff = backoff(n);
                let unsafe_to_repeat = sent && target.retry == Retry::OnlyUnsent;
                if n == MAX_ATTEMPTS || unsafe_to_repeat || Instant::now() + backoff > deadline {
                    attempt.decision = Some(if unsafe_to_repeat {
                        format!("gave up: {detail}; the request may have reached the provider and the method is not safe to repeat")
                    } else {
                        format!("gave up: {detail}")
                    });
                    attempts.push(attempt);
                    return Err(if e.is_timeout() {
                        CallError::Deadline { sent }
                    } else {
                        CallError::Transport { detail, sent }
                    });
                }
                attempt.decision = Some(format!("transport error ({detail}); backoff"));
                attempt.waited_ms = millis(backoff);
                attempts.push(attempt);
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let headers: BTreeMap<String, String> = response
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str() != "set-cookie")
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        buckets.update(route, &headers);
        attempt.status = Some(status);
        attempt.rate_limit = headers
            .iter()
            .filter(|(k, _)| RATE_LIMIT_HEADERS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        attempt.provider_request_id = REQUEST_ID_HEADERS
            .iter()
            .find_map(|h| headers.get(*h).cloned());
        let raw = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let body: Value = match serde_json::from_slice(&raw) {
            Ok(v) => v,
            Err(_) if raw.is_empty() => Value::Null,
            Err(_) => Value::String(String::from_utf8_lossy(&raw).into_owned()),
        };
        // A declared rate-limit answer is a 429 in all but status: the provider did not act.
        let slow_down = status == 429
            || target
                .rate_limit_errors
                .is_some_and(|r| r.matches(status, &body));
        let retryable = slow_down || status >= 500;
        if retryable && !slow_down && target.retry == Retry::OnlyUnsent {
            attempt.decision = Some(format!(
                "HTTP {status}; not repeated: the provider may have acted and the method is not safe to repeat"
            ));
            attempts.push(attempt);
            return Err(CallError::Unavailable(status));
        }
        if !retryable {
            attempts.push(attempt);
            return Ok(Exchange {
                status,
                headers,
                body,
                raw,
            });
        }
        let hinted = retry_after(&headers, &body);
        let wait = hinted.unwrap_or_else(|| backoff(n));
        let too_late = Instant::now() + wait > deadline;
        if n == MAX_ATTEMPTS || too_late {
            attempt.decision = Some(if too_late {
                format!(
                    "HTTP {status}; waiting {} ms would pass the deadline: fail fast",
                    millis(wait)
                )
            } else {
                format!("HTTP {status}; attempts exhausted")
            });
            attempts.push(attempt);
            return Err(if slow_down || hinted.is_some() {
                CallError::RateLimited {
                    retry_after_ms: millis(wait),
                    status: Some(status),
                }
            } else {
                CallError::Unavailable(status)
            });
        }
        attempt.decision = Some(match hinted {
            Some(_) => format!("HTTP {status}; Retry-After honored"),
            None => format!("HTTP {status}; exponential backoff with jitter"),
        });
        attempt.waited_ms = millis(wait);
        attempts.push(attempt);
        tokio::time::sleep(wait).await;
    }
    Err(CallError::Deadline { sent: false })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn backoff(attempt: u32) -> Duration {
    let exp = BASE_BACKOFF_MS.saturating_mul(1 << (attempt - 1).min(6));
    Duration::from_millis(exp + rand::random::<u64>() % 100)
}

/// The longest wait a provider header is taken at: longer asks are capped (the caller then fails
/// fast with `rate_limited` when the wait passes its deadline).
const MAX_PROVIDER_WAIT: Duration = Duration::from_secs(3600);

/// A provider-given wait in seconds, safely: negative is none, NaN is ignored, `inf` and
/// `1e300` are capped, never a panic.
pub(crate) fn provider_wait(secs: f64) -> Option<Duration> {
    if secs.is_nan() {
        return None;
    }
    let capped = secs.clamp(0.0, MAX_PROVIDER_WAIT.as_secs_f64());
    Some(Duration::try_from_secs_f64(capped).unwrap_or(MAX_PROVIDER_WAIT))
}

/// The wait a 429/503 asks for: `Retry-After` (seconds or HTTP date), else Discord's
/// `retry_after` body field (seconds, decimals), else `X-RateLimit-Reset` as the Unix time the
/// limit resets (SendGrid's 429).
pub(crate) fn retry_after(headers: &BTreeMap<String, String>, body: &Value) -> Option<Duration> {
    retry_after_at(headers, body, std::time::SystemTime::now())
}

fn retry_after_at(
    headers: &BTreeMap<String, String>,
    body: &Value,
    now: std::time::SystemTime,
) -> Option<Duration> {
    if let Some(value) = headers.get("retry-after") {
        if let Ok(secs) = value.trim().parse::<f64>() {
            return provider_wait(secs);
        }
        if let Some(at) = http_date(value) {
            return Some(
                at.duration_since(now)
                    .unwrap_or_default()
                    .min(MAX_PROVIDER_WAIT),
            );
        }
    }
    if let Some(wait) = body
        .get("retry_after")
        .and_then(Value::as_f64)
        .and_then(provider_wait)
    {
        return Some(wait);
    }
    // Only an epoch time: Discord's `X-RateLimit-Reset` is one too, but its body field wins above.
    let reset: u64 = headers.get("x-ratelimit-reset")?.trim().parse().ok()?;
    let at = std::time::UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
    Some(
        at.duration_since(now)
            .unwrap_or_default()
            .min(MAX_PROVIDER_WAIT),
    )
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(text: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').filter_map(|p| p.parse().ok()).collect();
    // Every range first: the arithmetic below is then in bounds (RFC 9110 dates have a
    // four-digit year and a day of month 1-31).
    if hms.len() != 3
        || hms[0] > 23
        || hms[1] > 59
        || hms[2] > 60
        || !(1..=31).contains(&day)
        || !(1..=9999).contains(&year)
    {
        return None;
    }
    // Days from civil (Howard Hinnant), then seconds.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400) as u64;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe as i64 - 719_468;
    let secs = u64::try_from(days)
        .ok()?
        .checked_mul(86_400)?
        .checked_add(hms[0] * 3600 + hms[1] * 60 + hms[2])?;
    std::time::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_rate_limit_reset_is_the_wait_until_then() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = BTreeMap::from([("x-ratelimit-reset".to_owned(), "1700000003".to_owned())]);
        assert_eq!(
            retry_after_at(&h, &Value::Null, now),
            Some(Duration::from_secs(3))
        );
        let past = BTreeMap::from([("x-ratelimit-reset".to_owned(), "1699999990".to_owned())]);
        assert_eq!(
            retry_after_at(&past, &Value::Null, now),
            Some(Duration::ZERO)
        );
        // Retry-After and a body's retry_after come first.
        let both = BTreeMap::from([
            ("x-ratelimit-reset".to_owned(), "1700000003".to_owned()),
            ("retry-after".to_owned(), "1".to_owned()),
        ]);
        assert_eq!(
            retry_after_at(&both, &Value::Null, now),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn absurd_provider_waits_are_capped_not_panics() {
        let cap = Some(MAX_PROVIDER_WAIT);
        for value in ["inf", "1e300", "+inf", "99999999999999999999"] {
            let h = BTreeMap::from([("retry-after".to_owned(), value.to_owned())]);
            assert_eq!(retry_after(&h, &Value::Null), cap, "{value}");
        }
        let nan = BTreeMap::from([("retry-after".to_owned(), "NaN".to_owned())]);
        assert_eq!(retry_after(&nan, &Value::Null), None);
        let far = BTreeMap::from([(
            "retry-after".to_owned(),
            "Fri, 31 Dec 99999999999 23:59:59 GMT".to_owned(),
        )]);
        assert!(retry_after(&far, &Value::Null).is_none_or(|w| w <= MAX_PROVIDER_WAIT));
        let year_9999 = BTreeMap::from([(
            "retry-after".to_owned(),
            "Fri, 31 Dec 9999 23:59:59 GMT".to_owned(),
        )]);
        assert_eq!(retry_after(&year_9999, &Value::Null), cap);
        assert_eq!(
            retry_after(&BTreeMap::new(), &serde_json::json!({"retry_after": 1e300})),
            cap
        );
        let buckets = Buckets::default();
        let headers = BTreeMap::from([
            ("x-ratelimit-remaining".to_owned(), "0".to_owned()),
            ("x-ratelimit-reset-after".to_owned(), "1e300".to_owned()),
        ]);
        buckets.update("r", &headers);
        assert!(buckets
            .wait_for("r")
            .is_some_and(|w| w <= MAX_PROVIDER_WAIT));
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_discord_bodies() {
        let h = |v: &str| BTreeMap::from([("retry-after".to_owned(), v.to_owned())]);
        assert_eq!(
            retry_after(&h("1"), &Value::Null),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            retry_after(&h("0.5"), &Value::Null),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            retry_after(&BTreeMap::new(), &serde_json::json!({"retry_after": 1.5})),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after(&BTreeMap::new(), &Value::Null), None);
        let at = http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            at.duration_since(std::time::UNIX_EPOCH)
                .expect("after")
                .as_secs(),
            784_111_777
        );
        assert_eq!(
            retry_after(&h("Sun, 06 Nov 1994 08:49:37 GMT"), &Value::Null),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn secret_segments_are_redacted_from_recorded_paths() {
        let secrets = ["tok%2Fen".to_owned(), "tok/en".to_owned(), String::new()];
        assert_eq!(
            redact_path("/api/v10/webhooks/1/tok%2Fen/messages/@original", &secrets),
            "/api/v10/webhooks/1/[redacted]/messages/@original"
        );
        assert_eq!(
            redact_path("/channels/1/messages", &secrets),
            "/channels/1/messages"
        );
    }

    #[test]
    fn only_provider_failures_count_and_only_sent_requests_may_have_acted() {
        let held_back = CallError::RateLimited {
            retry_after_ms: 5,
            status: None,
        };
        assert!(!held_back.is_provider_fault() && !held_back.may_have_reached_provider());
        let refused = CallError::Transport {
            detail: "connection refused".into(),
            sent: false,
        };
        assert!(refused.is_provider_fault() && !refused.may_have_reached_provider());
        assert!(CallError::Deadline { sent: true }.may_have_reached_provider());
        assert!(!CallError::Deadline { sent: false }.is_provider_fault());
    }

    #[test]
    fn declared_rate_limit_answers_match_status_and_body() {
        let google = RateLimitErrors {
            status: 403,
            pointer: "/error/errors/0/reason".into(),
            values: vec!["rateLimitExceeded".into(), "userRateLimitExceeded".into()],
        };
        let body = |reason: &str| serde_json::json!({"error": {"errors": [{"reason": reason}]}});
        assert!(google.matches(403, &body("userRateLimitExceeded")));
        assert!(!google.matches(403, &body("insufficientPermissions")));
        assert!(!google.matches(400, &body("rateLimitExceeded")));
        assert!(!google.matches(403, &Value::Null));
    }

    #[test]
    fn backoff_grows() {
        assert!(backoff(1) < Duration::from_millis(400));
        assert!(backoff(3) >= Duration::from_millis(1000));
    }
}
