//! The `tiktok.*` tools (`shared/integrations/tiktok.json`): the v2 Open API's user info and
//! video list for the connected account, and the Research API's video query (also by
//! hashtag).
//!
//! - Every answer is TikTok's envelope `{data, error: {code, message, log_id}}`; a code other
//!   than `ok` becomes a typed error: `access_token_invalid` → `provider_auth`,
//!   `scope_not_authorized` → `insufficient_scope`, `rate_limit_exceeded` (HTTP 429, retried
//!   with backoff first) → `rate_limited`, others → `provider_error`.
//! - Research queries are checked before any call: dates are `YYYYMMDD`, the end not before the
//!   start and at most [`MAX_RANGE_DAYS`] after it; each request then takes one of the
//!   instance's daily quota (`research_daily_quota`, default [`DEFAULT_DAILY_QUOTA`]; a
//!   DynamoDB counter per UTC day shared by every warm Lambda). A used-up quota answers
//!   `quota_exceeded` without calling TikTok.

use serde_json::{json, Value};

use crate::executor::{Call, Outgoing, Payload};
use crate::outbound::Exchange;
use crate::{ErrorCode, ToolError};

/// The handlers this module runs (each also listed in `definitions::HANDLERS`).
const HANDLED: &[&str] = &[
    "tiktok_user_info",
    "tiktok_video_list",
    "tiktok_research_video_query",
    "tiktok_research_hashtag_query",
];

/// The longest research date range TikTok allows, in days.
pub(crate) const MAX_RANGE_DAYS: i64 = 30;
/// Research requests per instance per UTC day when the instance sets no quota.
pub(crate) const DEFAULT_DAILY_QUOTA: u64 = 1000;
/// The quota's name in the quota store.
const RESEARCH_QUOTA: &str = "tiktok-research";

const USER_FIELDS: &str = "open_id,union_id,avatar_url,display_name";
const VIDEO_FIELDS: &str = "id,title,create_time,share_url";
const RESEARCH_FIELDS: &str =
    "id,video_description,create_time,region_code,username,hashtag_names,like_count";

/// Whether `handler` is one of this module's.
pub(crate) fn handles(handler: &str) -> bool {
    HANDLED.contains(&handler)
}

/// Runs `handler` for `input`.
pub(crate) async fn run(
    call: &mut Call<'_>,
    handler: &str,
    input: &Value,
) -> Result<Value, ToolError> {
    match handler {
        "tiktok_user_info" => user_info(call, input).await,
        "tiktok_video_list" => video_list(call, input).await,
        "tiktok_research_video_query" => {
            let query = input.get("query").cloned().unwrap_or(Value::Null);
            research(call, input, query).await
        }
        "tiktok_research_hashtag_query" => {
            let query = hashtag_query(input);
            research(call, input, query).await
        }
        other => Err(ToolError::internal(&format!("no tiktok handler {other}"))),
    }
}

fn fields(input: &Value, default: &str) -> String {
    input
        .get("fields")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// One request; the envelope's `data` or the typed error its `error.code` means.
async fn request(
    call: &mut Call<'_>,
    verb: &str,
    path: &str,
    fields: String,
    payload: Payload,
) -> Result<Value, ToolError> {
    let exchange = call
        .exchange(Outgoing {
            verb,
            path,
            query: vec![("fields".to_owned(), fields)],
            payload,
            auth: true,
        })
        .await?;
    unwrap_envelope(exchange)
}

fn unwrap_envelope(exchange: Exchange) -> Result<Value, ToolError> {
    let body = exchange.body;
    let status = exchange.status;
    let code = body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or(if (200..300).contains(&status) {
            "ok"
        } else {
            "unknown_error"
        });
    if code == "ok" && (200..300).contains(&status) {
        return Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    let log_id = body
        .pointer("/error/log_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let detail = format!("TikTok {code}: {message} (log_id {log_id})");
    let (code, retryable) = match code {
        "access_token_invalid" => (ErrorCode::ProviderAuth, false),
        "scope_not_authorized" => (ErrorCode::InsufficientScope, false),
        "rate_limit_exceeded" => (ErrorCode::RateLimited, true),
        _ => (ErrorCode::ProviderError, status >= 500),
    };
    Err(ToolError {
        provider_status: Some(status),
        ..ToolError::new(code, detail, retryable)
    })
}

async fn user_info(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let data = request(
        call,
        "GET",
        "/v2/user/info/",
        fields(input, USER_FIELDS),
        Payload::None,
    )
    .await?;
    Ok(json!({"user": data.get("user").cloned().unwrap_or_else(|| json!({}))}))
}

async fn video_list(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let max_count = input.get("max_count").and_then(Value::as_u64).unwrap_or(20);
    let pages = input
        .get("pages")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 10);
    let wanted = fields(input, VIDEO_FIELDS);
    let mut cursor = input.get("cursor").cloned();
    let mut videos = Vec::new();
    let mut has_more = false;
    for _ in 0..pages {
        let mut body = json!({"max_count": max_count});
        if let Some(c) = &cursor {
            body["cursor"] = c.clone();
        }
        let data = request(
            call,
            "POST",
            "/v2/video/list/",
            wanted.clone(),
            Payload::Json(body),
        )
        .await?;
        if let Some(page) = data.get("videos").and_then(Value::as_array) {
            videos.extend(page.iter().cloned());
        }
        has_more = data.get("has_more").and_then(Value::as_bool) == Some(true);
        cursor = data.get("cursor").cloned();
        if !has_more {
            break;
        }
    }
    Ok(json!({"videos": videos, "cursor": cursor.unwrap_or(Value::Null), "has_more": has_more}))
}

/// `hashtags` (and `region_codes`) as a research query.
fn hashtag_query(input: &Value) -> Value {
    let strip = |v: &Value| v.as_str().map(|s| s.trim_start_matches('#').to_lowercase());
    let tags: Vec<String> = input
        .get("hashtags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(strip).collect())
        .unwrap_or_default();
    let mut all =
        vec![json!({"field_name": "hashtag_name", "operation": "IN", "field_values": tags})];
    if let Some(regions) = input.get("region_codes").and_then(Value::as_array) {
        all.push(json!({"field_name": "region_code", "operation": "IN", "field_values": regions}));
    }
    json!({"and": all})
}

/// Days since 1970-01-01 of a `YYYYMMDD` date, if it is one.
fn day_number(date: &str) -> Option<i64> {
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = date[..4].parse().ok()?;
    let month: i64 = date[4..6].parse().ok()?;
    let day: i64 = date[6..].parse().ok()?;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Checks a research date range as TikTok would, before spending quota on it.
fn check_range(start: &str, end: &str) -> Result<(), ToolError> {
    let bad = |m: String| Err(ToolError::invalid_input_message(m));
    let (Some(from), Some(to)) = (day_number(start), day_number(end)) else {
        return bad(format!(
            "start_date {start:?} and end_date {end:?} must be dates as YYYYMMDD"
        ));
    };
    if to < from {
        return bad("end_date is before start_date".into());
    }
    if to - from > MAX_RANGE_DAYS {
        return bad(format!(
            "end_date is {} days after start_date; TikTok allows at most {MAX_RANGE_DAYS}",
            to - from
        ));
    }
    Ok(())
}

fn daily_quota(call: &Call<'_>) -> Result<u64, ToolError> {
    match call.instance.config.get("research_daily_quota") {
        None => Ok(DEFAULT_DAILY_QUOTA),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ToolError::misconfigured("research_daily_quota is not a whole number")),
    }
}

async fn research(call: &mut Call<'_>, input: &Value, query: Value) -> Result<Value, ToolError> {
    let text = |k: &str| {
        input
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (start, end) = (text("start_date"), text("end_date"));
    check_range(&start, &end)?;
    let limit = daily_quota(call)?;
    let now = call.app.clock.now();
    let taken = crate::within(
        call.deadline,
        "taking the research quota",
        call.app
            .quotas
            .take(RESEARCH_QUOTA, &call.instance.id, limit, now),
    )
    .await?
    .map_err(|e| ToolError::unavailable(e.to_string()))?;
    if let switchyard_aws::quotas::Taken::Exhausted { limit } = taken {
        return Err(ToolError::new(
            ErrorCode::QuotaExceeded,
            format!(
                "the instance's {limit} Research API requests for today (UTC) are used up; TikTok was not called"
            ),
            false,
        ));
    }
    let mut body = json!({
        "query": query,
        "start_date": start,
        "end_date": end,
        "max_count": input.get("max_count").and_then(Value::as_u64).unwrap_or(20),
    });
    for optional in ["cursor", "search_id", "is_random"] {
        if let Some(v) = input.get(optional) {
            body[optional] = v.clone();
        }
    }
    let data = request(
        call,
        "POST",
        "/v2/research/video/query/",
        fields(input, RESEARCH_FIELDS),
        Payload::Json(body),
    )
    .await?;
    Ok(json!({
        "videos": data.get("videos").cloned().unwrap_or_else(|| json!([])),
        "cursor": data.get("cursor").cloned().unwrap_or(Value::Null),
        "has_more": data.get("has_more").and_then(Value::as_bool).unwrap_or(false),
        "search_id": data.get("search_id").cloned().unwrap_or(Value::Null),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges_are_checked_like_tiktok() {
        assert!(check_range("20260101", "20260131").is_ok(), "30 days");
        assert!(check_range("20260101", "20260201").is_err(), "31 days");
        assert!(check_range("20260105", "20260104").is_err(), "backwards");
        assert!(check_range("20260230", "20260301").is_err(), "no such day");
        assert!(check_range("2026-01-01", "20260102").is_err(), "format");
        assert!(check_range("20240215", "20240316").is_ok(), "leap February");
        assert_eq!(day_number("19700101"), Some(0));
    }

    #[test]
    fn envelope_codes_map_to_typed_errors() {
        let exchange = |status: u16, code: &str| Exchange {
            status,
            headers: Default::default(),
            body: json!({"data": {}, "error": {"code": code, "message": "m", "log_id": "l"}}),
            raw: Vec::new(),
        };
        let code = |status, c| unwrap_envelope(exchange(status, c)).expect_err("error");
        assert_eq!(
            code(401, "access_token_invalid").code,
            ErrorCode::ProviderAuth
        );
        assert_eq!(
            code(401, "scope_not_authorized").code,
            ErrorCode::InsufficientScope
        );
        let limited = code(429, "rate_limit_exceeded");
        assert_eq!(limited.code, ErrorCode::RateLimited);
        assert!(limited.retryable);
        assert_eq!(code(400, "invalid_params").code, ErrorCode::ProviderError);
        assert_eq!(
            unwrap_envelope(Exchange {
                status: 200,
                headers: Default::default(),
                body: json!({"data": {"user": {"open_id": "x"}}, "error": {"code": "ok", "message": "", "log_id": "l"}}),
                raw: Vec::new(),
            })
            .expect("ok"),
            json!({"user": {"open_id": "x"}})
        );
    }
}
