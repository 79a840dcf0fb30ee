//! A loopback fake of TikTok's v2 Open API (`https://open.tiktokapis.com/v2`), answering as
//! developers.tiktok.com documents it:
//!
//! - every answer is the envelope `{"data": …, "error": {"code": "ok" | …, "message",
//!   "log_id"}}`; a missing or unknown bearer token is `access_token_invalid` (HTTP 401), a
//!   token without the endpoint's scope `scope_not_authorized` (HTTP 401), a scripted limit
//!   `rate_limit_exceeded` (HTTP 429);
//! - `GET /v2/user/info/?fields=…` (`user.info.basic`): `data.user` with the requested fields;
//! - `POST /v2/video/list/?fields=…` (`video.list`): body `{cursor?, max_count ≤ 20}`; the
//!   user's videos newest first, `data.{videos, cursor, has_more}`, `cursor` being the
//!   create time (ms) the next page starts before;
//! - `POST /v2/research/video/query/?fields=…` (`research.data.basic`): body `{query,
//!   start_date, end_date (YYYYMMDD, at most 30 days apart), max_count ≤ 100, cursor?,
//!   search_id?}` over a small dataset; conditions `and`/`or`/`not` of `{field_name,
//!   operation (EQ IN GT GTE LT LTE), field_values}` on `region_code`, `hashtag_name`,
//!   `keyword`, `username`, `video_id`, `create_date`; `data.{videos, cursor, has_more,
//!   search_id}`; a bad query is `invalid_params` (HTTP 400).
//!
//! Every request is recorded ([`TikTokFake::requests`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};

/// The most videos one `video/list` page returns.
pub const MAX_LIST_COUNT: u64 = 20;
/// The most videos one research query page returns.
pub const MAX_RESEARCH_COUNT: u64 = 100;
/// The longest research date range, in days.
pub const MAX_RANGE_DAYS: i64 = 30;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

/// A public video of the research dataset.
#[derive(Debug, Clone)]
pub struct ResearchVideo {
    pub id: u64,
    pub username: String,
    pub region_code: String,
    pub hashtags: Vec<String>,
    pub description: String,
    /// `YYYYMMDD`.
    pub create_date: String,
    pub like_count: u64,
}

#[derive(Debug, Default)]
struct State {
    /// token -> granted scopes.
    tokens: BTreeMap<String, Vec<String>>,
    /// The user's own videos, (id, title, create_time seconds), newest first.
    videos: Vec<(String, String, u64)>,
    research: Vec<ResearchVideo>,
    rate_limited: u32,
    recorded: Vec<Recorded>,
    searches: u64,
}

/// A running fake on `127.0.0.1:<ephemeral>`.
#[derive(Debug, Clone)]
pub struct TikTokFake {
    /// `http://127.0.0.1:PORT`: the API base URL (paths start with `/v2`).
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl TikTokFake {
    /// Starts the fake with `videos` own videos (one a day back from 2026-01-01) and a small
    /// research dataset ([`TikTokFake::research_dataset`]).
    pub async fn start(videos: usize) -> TikTokFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the TikTok fake");
        let addr = listener.local_addr().expect("the fake's local address");
        let own = (0..videos)
            .map(|i| {
                let i = i as u64;
                (
                    format!("73{:017}", 1000 + i),
                    format!("video {i}"),
                    1_767_225_600 - i * 86_400,
                )
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            videos: own,
            research: research_dataset(),
            ..State::default()
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("TikTok fake stopped: {error}");
            }
        });
        TikTokFake {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Accepts `token` with `scopes`.
    pub fn grant(&self, token: &str, scopes: &[&str]) {
        self.lock().tokens.insert(
            token.to_owned(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
        );
    }

    /// Forgets `token` (TikTok answers `access_token_invalid`).
    pub fn revoke(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// The next `n` requests answer `rate_limit_exceeded` (HTTP 429).
    pub fn rate_limit(&self, n: u32) {
        self.lock().rate_limited = n;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// The own videos' ids, newest first.
    pub fn video_ids(&self) -> Vec<String> {
        self.lock().videos.iter().map(|v| v.0.clone()).collect()
    }
}

/// The research dataset: 12 videos in January 2026, US/CA/DE, hashtags `cats`, `dogs`,
/// `cooking`.
pub fn research_dataset() -> Vec<ResearchVideo> {
    let regions = ["US", "CA", "DE"];
    let tags = ["cats", "dogs", "cooking"];
    (0..12u64)
        .map(|i| ResearchVideo {
            id: 7_300_000_000_000_000_000 + i,
            username: format!("creator{}", i % 4),
            region_code: regions[(i % 3) as usize].to_owned(),
            hashtags: vec![tags[(i % 3) as usize].to_owned(), "fyp".to_owned()],
            description: format!("{} video number {i}", tags[(i % 3) as usize]),
            create_date: format!("202601{:02}", i + 1),
            like_count: 100 * i,
        })
        .collect()
}

fn log_id() -> String {
    "202601010000000000000000000000000".to_owned()
}

fn envelope(status: u16, data: &Value, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        json!({"data": data, "error": {"code": code, "message": message, "log_id": log_id()}});
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(data: &Value) -> Response {
    envelope(200, data, "ok", "")
}

fn failure(status: u16, code: &str, message: &str) -> Response {
    envelope(status, &json!({}), code, message)
}

fn invalid(message: &str) -> Response {
    failure(400, "invalid_params", message)
}

fn fields(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|p| p.strip_prefix("fields="))
        .flat_map(|v| {
            v.replace("%2C", ",")
                .replace("%2c", ",")
                .split(',')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|f| !f.is_empty())
        .collect()
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.recorded.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: parsed.clone(),
    });
    if s.rate_limited > 0 {
        s.rate_limited -= 1;
        return failure(429, "rate_limit_exceeded", "API rate limit was exceeded");
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let Some(scopes) = token.and_then(|t| s.tokens.get(t)).cloned() else {
        return failure(
            401,
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        );
    };
    let needs = |scope: &str| -> Option<Response> {
        (!scopes.iter().any(|s| s == scope)).then(|| {
            failure(
                401,
                "scope_not_authorized",
                "The user did not authorize the scope required for completing this request.",
            )
        })
    };
    let wanted = fields(&query);
    match (method.as_str(), path.as_str()) {
        ("GET", "/v2/user/info/") => needs("user.info.basic").unwrap_or_else(|| user_info(&wanted)),
        ("POST", "/v2/video/list/") => {
            needs("video.list").unwrap_or_else(|| video_list(&s, &parsed, &wanted))
        }
        ("POST", "/v2/research/video/query/") => match needs("research.data.basic") {
            Some(refused) => refused,
            None => research(&mut s, &parsed, &wanted),
        },
        _ => failure(404, "invalid_params", "no such endpoint"),
    }
}

fn pick(full: Value, wanted: &[String]) -> Value {
    let Value::Object(all) = full else {
        return full;
    };
    Value::Object(
        all.into_iter()
            .filter(|(k, _)| wanted.is_empty() || wanted.contains(k))
            .collect::<Map<_, _>>(),
    )
}

fn user_info(wanted: &[String]) -> Response {
    if wanted.is_empty() {
        return invalid("fields is required");
    }
    let user = json!({
        "open_id": "-000OV8I0Ok4NBWt3FE0Kzbn5c7xJsE2rmd1",
        "union_id": "c9c60f44-a68e-4f5d-84dd-ce22faeb0ba1",
        "avatar_url": "https://p19-sign.tiktokcdn-us.com/avatar.jpeg",
        "display_name": "Fake Creator",
    });
    ok(&json!({"user": pick(user, wanted)}))
}

fn video_list(s: &State, body: &Value, wanted: &[String]) -> Response {
    let max = body.get("max_count").and_then(Value::as_u64).unwrap_or(10);
    if max == 0 || max > MAX_LIST_COUNT {
        return invalid("max_count must be between 1 and 20");
    }
    let before_ms = body.get("cursor").and_then(Value::as_u64);
    let remaining: Vec<&(String, String, u64)> = s
        .videos
        .iter()
        .filter(|(_, _, t)| before_ms.is_none_or(|c| t * 1000 < c))
        .collect();
    let page: Vec<&(String, String, u64)> = remaining.iter().take(max as usize).copied().collect();
    let has_more = remaining.len() > page.len();
    let cursor = page
        .last()
        .map_or(before_ms.unwrap_or(0), |(_, _, t)| t * 1000);
    let videos: Vec<Value> = page
        .iter()
        .map(|(id, title, t)| {
            pick(
                json!({"id": id, "title": title, "create_time": t, "share_url": format!("https://www.tiktok.com/@fake/video/{id}")}),
                wanted,
            )
        })
        .collect();
    ok(&json!({"videos": videos, "cursor": cursor, "has_more": has_more}))
}

fn days_between(start: &str, end: &str) -> Option<i64> {
    let day = |d: &str| -> Option<i64> {
        if d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (y, m, dd) = (
            d[..4].parse::<i64>().ok()?,
            d[4..6].parse::<i64>().ok()?,
            d[6..].parse::<i64>().ok()?,
        );
        if !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
            return None;
        }
        // Days from civil (Howard Hinnant).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + dd - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(era * 146_097 + doe)
    };
    Some(day(end)? - day(start)?)
}

fn matches_condition(video: &ResearchVideo, condition: &Value) -> Result<bool, String> {
    let field = condition
        .get("field_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let operation = condition
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("");
    let values: Vec<String> = condition
        .get("field_values")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if values.is_empty() {
        return Err("field_values is required".into());
    }
    let actual: Vec<String> = match field {
        "region_code" => vec![video.region_code.clone()],
        "hashtag_name" => video.hashtags.clone(),
        "username" => vec![video.username.clone()],
        "video_id" => vec![video.id.to_string()],
        "create_date" => vec![video.create_date.clone()],
        "keyword" => {
            return match operation {
                "EQ" | "IN" => Ok(values
                    .iter()
                    .any(|k| video.description.contains(k.as_str()))),
                _ => Err(format!("operation {operation} does not apply to keyword")),
            }
        }
        other => return Err(format!("unknown field_name {other}")),
    };
    let ordered =
        |cmp: fn(&str, &str) -> bool| actual.iter().any(|a| cmp(a.as_str(), values[0].as_str()));
    Ok(match operation {
        "EQ" | "IN" => actual.iter().any(|a| values.contains(a)),
        "GT" => ordered(|a, v| a > v),
        "GTE" => ordered(|a, v| a >= v),
        "LT" => ordered(|a, v| a < v),
        "LTE" => ordered(|a, v| a <= v),
        other => return Err(format!("unknown operation {other}")),
    })
}

fn matches_query(video: &ResearchVideo, query: &Value) -> Result<bool, String> {
    let group = |name: &str| -> Result<Vec<bool>, String> {
        query
            .get(name)
            .and_then(Value::as_array)
            .map(|conditions| {
                conditions
                    .iter()
                    .map(|c| matches_condition(video, c))
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()))
    };
    let (all, any, none) = (group("and")?, group("or")?, group("not")?);
    if all.is_empty() && any.is_empty() && none.is_empty() {
        return Err("the query needs at least one of and, or, not".into());
    }
    Ok(all.iter().all(|m| *m)
        && (any.is_empty() || any.iter().any(|m| *m))
        && !none.iter().any(|m| *m))
}

fn research(s: &mut State, body: &Value, wanted: &[String]) -> Response {
    let date = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (start, end) = (date("start_date"), date("end_date"));
    match days_between(&start, &end) {
        None => return invalid("start_date and end_date must be YYYYMMDD"),
        Some(d) if d < 0 => return invalid("end_date must not be before start_date"),
        Some(d) if d > MAX_RANGE_DAYS => {
            return invalid("end_date must be no more than 30 days after start_date")
        }
        Some(_) => {}
    }
    let max = body.get("max_count").and_then(Value::as_u64).unwrap_or(20);
    if max == 0 || max > MAX_RESEARCH_COUNT {
        return invalid("max_count must be between 1 and 100");
    }
    let Some(query) = body.get("query") else {
        return invalid("query is required");
    };
    let mut found = Vec::new();
    for video in &s.research {
        if video.create_date < start || video.create_date > end {
            continue;
        }
        match matches_query(video, query) {
            Ok(true) => found.push(video.clone()),
            Ok(false) => {}
            Err(message) => return invalid(&message),
        }
    }
    let offset = body.get("cursor").and_then(Value::as_u64).unwrap_or(0) as usize;
    let page: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(max as usize)
        .map(|v| {
            pick(
                json!({"id": v.id, "username": v.username, "region_code": v.region_code,
                       "hashtag_names": v.hashtags, "video_description": v.description,
                       "create_time": v.create_date, "like_count": v.like_count}),
                wanted,
            )
        })
        .collect();
    let next = offset + page.len();
    let search_id = match body.get("search_id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => {
            s.searches += 1;
            format!("7201388525814961198{}", s.searches)
        }
    };
    ok(
        &json!({"videos": page, "cursor": next, "has_more": next < found.len(), "search_id": search_id}),
    )
}
