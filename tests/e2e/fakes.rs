//! Loopback fakes of the provider HTTP APIs the tools call, for end-to-end tests.
//!
//! - [`Fake::slack`]: Slack's Web API (`https://slack.com/api`) as
//!   `shared/specs/providers/slack-web-openapi-v2.json` and the method docs describe it: HTTP 200
//!   with `{"ok": false, "error": ...}` for every failure except rate limits (429 +
//!   `Retry-After`).
//! - [`Fake::discord`]: Discord's HTTP API v10 (`https://discord.com/api/v10`) as
//!   `shared/specs/providers/discord-openapi.json` describes it: `{message, code}` errors,
//!   `X-RateLimit-*` headers on every routed response and real per-route 429s.
//! - [`Fake::notion`]: Notion's API (`https://api.notion.com`, `Notion-Version: 2025-09-03`):
//!   pages, block children and data-source queries, errors `{object: "error", status, code,
//!   message}`.
//!
//! Each fake serves on `127.0.0.1:<ephemeral>` from a task of the calling test's runtime, records
//! every request ([`Fake::requests`]) and answers the next requests under a path prefix with
//! canned responses first when told to ([`Fake::script`]), e.g. a 429 and then normal behaviour.
//!
//! `base_url` has no path prefix; configure tools with it where they would use the provider's base
//! (`https://slack.com/api`, `https://discord.com/api/v10`, `https://api.notion.com`). Recorded
//! paths are therefore `/chat.postMessage`, `/channels/1/messages`, `/v1/pages`.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Map, Value};

/// Request bodies larger than this are recorded as empty (no provider accepts them anyway).
const MAX_BODY: usize = 16 << 20;

/// A running fake provider API.
#[derive(Debug)]
pub struct Fake {
    /// `http://127.0.0.1:PORT`, standing in for the provider's API base.
    pub base_url: String,
    state: Arc<Mutex<FakeState>>,
}

/// One request a fake received, as the tool sent it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as sent (not percent-decoded), e.g. `/chat.postMessage`.
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Header names in lowercase with their values (lossy UTF-8), in order; repeats repeat.
    pub headers: Vec<(String, String)>,
    /// A JSON body parsed; a form body as an object of string fields; any other body as a string
    /// (also JSON that does not parse); no body as `null`.
    pub body: Value,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A canned response, returned instead of the fake's normal behaviour (see [`Fake::script`]).
///
/// A `null` body on an error status is replaced by that provider's usual error body for the status
/// (Slack `{"ok":false,"error":"fatal_error"}`, Discord `{"message":"500: Internal Server
/// Error","code":0}`, Notion `{"object":"error",...,"code":"internal_server_error"}`). The
/// provider's content type (and Slack's `x-slack-req-id`, Notion's `request_id`) are added.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Scripted {
    /// A response with `status` and JSON `body`, no extra headers.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Slack's rate limit: 429, `Retry-After: <secs>`, `{"ok":false,"error":"ratelimited"}`.
    pub fn rate_limited_slack(retry_after_secs: u64) -> Self {
        Self {
            status: 429,
            headers: vec![header("Retry-After", retry_after_secs.to_string())],
            body: json!({"ok": false, "error": "ratelimited"}),
        }
    }

    /// Discord's 429: `Retry-After` (whole seconds, rounded up), `X-RateLimit-Scope`, and the body
    /// `{message, retry_after, global, code: 0}`. A global limit carries `X-RateLimit-Global: true`
    /// and no bucket headers; a per-route one carries the channel-messages bucket, 0 remaining.
    pub fn rate_limited_discord(retry_after: f64, global: bool) -> Self {
        let mut headers = vec![
            header("Retry-After", retry_after_header(retry_after)),
            header("X-RateLimit-Scope", if global { "global" } else { "user" }),
        ];
        if global {
            headers.push(header("X-RateLimit-Global", "true"));
        } else {
            headers.extend([
                header("X-RateLimit-Limit", DISCORD_LIMIT.to_string()),
                header("X-RateLimit-Remaining", "0"),
                header(
                    "X-RateLimit-Reset",
                    format!("{:.3}", now().as_secs_f64() + retry_after),
                ),
                header("X-RateLimit-Reset-After", format!("{retry_after:.3}")),
                header("X-RateLimit-Bucket", DISCORD_MESSAGES_BUCKET),
            ]);
        }
        Self {
            status: 429,
            headers,
            body: discord_rate_limit_body(retry_after, global),
        }
    }

    /// Notion's rate limit: 429, `Retry-After: <secs>`, code `rate_limited`.
    pub fn rate_limited_notion(retry_after_secs: u64) -> Self {
        Self {
            status: 429,
            headers: vec![header("Retry-After", retry_after_secs.to_string())],
            body: default_error(Provider::Notion, 429),
        }
    }

    /// Notion overloaded: status 529 with code `service_unavailable`. Notion documents
    /// unavailability as 503 `service_unavailable` ([`Scripted::notion_unavailable`]); 529 is not
    /// in its list, so this exercises a client's handling of an undocumented 5xx with Notion's
    /// error body.
    pub fn notion_overloaded() -> Self {
        Self::json(529, default_error(Provider::Notion, 529))
    }

    /// Notion's documented 503 `service_unavailable`.
    pub fn notion_unavailable() -> Self {
        Self::json(503, default_error(Provider::Notion, 503))
    }

    /// `status` with the provider's usual error body for it (filled in when sent).
    pub fn server_error(status: u16) -> Self {
        Self::json(status, Value::Null)
    }
}

impl Fake {
    /// Slack's Web API: tools call `{base_url}/chat.postMessage`.
    ///
    /// Tokens must start `xoxb-` or `xoxp-` (`Authorization: Bearer`, or a `token` form field).
    /// Channel ids starting `C`, `G` or `D` exist except `C404`; `CARCHIVED` is archived. Each
    /// channel's history holds 25 seeded messages (`seeded message 1..=25`, 60 s apart, newest
    /// ts `1767000000.000100`) plus what was posted to it (thread replies only when broadcast).
    pub async fn slack() -> Fake {
        Self::start(Provider::Slack).await
    }

    /// Discord's HTTP API v10: tools call `{base_url}/channels/{id}/messages`.
    ///
    /// Channel routes need `Authorization: Bot <token>`; channel ids starting `404` are unknown.
    /// Each route allows 5 requests per 5 s per channel (per interaction token for webhooks),
    /// real clock. Interaction tokens must be registered ([`Fake::register_interaction`]).
    pub async fn discord() -> Fake {
        Self::start(Provider::Discord).await
    }

    /// Notion's API: tools call `{base_url}/v1/pages`.
    ///
    /// Tokens must start `secret_` or `ntn_`; a `Notion-Version` header is required (any value).
    /// Ids of the form `00000000-…404` (dashes optional) do not exist; every other well-formed id
    /// is an existing page, block or data source shared with the integration. Each data source
    /// holds 30 seeded pages (`Name` = `Item 1..=30`) plus pages created in it.
    pub async fn notion() -> Fake {
        Self::start(Provider::Notion).await
    }

    async fn start(provider: Provider) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake");
        let addr = listener.local_addr().expect("the fake's local address");
        let state = Arc::new(Mutex::new(FakeState::new(provider)));
        let router = Router::new()
            .fallback(serve_request)
            .with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("fake {provider:?} API stopped: {error}");
            }
        });
        Fake {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).recorded.clone()
    }

    /// How many requests had `method` (any case) and a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.state)
            .recorded
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }

    /// Answers the next `responses.len()` requests whose path starts with `path_prefix` (any
    /// method) with `responses`, in order, before normal behaviour resumes. Queues for the same
    /// prefix append; when several prefixes match, the earliest scripted one answers. Scripted
    /// answers skip authentication and Discord's rate-limit accounting; requests are still
    /// recorded.
    pub fn script(&self, path_prefix: &str, responses: Vec<Scripted>) {
        let mut state = lock(&self.state);
        match state.scripts.iter_mut().find(|(p, _)| p == path_prefix) {
            Some((_, queue)) => queue.extend(responses),
            None => state
                .scripts
                .push((path_prefix.to_owned(), responses.into())),
        }
    }

    /// Discord: accepts `token` for follow-ups and edits under application `application_id`, for
    /// 15 minutes like a real interaction token.
    pub fn register_interaction(&self, application_id: &str, token: &str) {
        lock(&self.state).discord.interactions.insert(
            token.to_owned(),
            Interaction {
                application_id: application_id.to_owned(),
                registered: SystemTime::now(),
                original: None,
            },
        );
    }

    /// Notion: sets page `page_id`'s `last_edited_time` (an edit at that time).
    pub fn notion_touch(&self, page_id: &str, time: &str) {
        if let Some(page) = lock(&self.state).notion.pages.get_mut(page_id) {
            page["last_edited_time"] = time.into();
        }
    }

    /// Notion: the page ids of data source `id` in query order (seeding it on first use).
    pub fn notion_pages(&self, id: &str) -> Vec<String> {
        lock(&self.state).notion.data_source(id).clone()
    }

    /// Notion: adds a page created (and last edited) at `time` to data source `id`.
    pub fn notion_add_page(&self, id: &str, time: &str) -> String {
        let mut state = lock(&self.state);
        let parent = state.notion.data_source_parent(id);
        let page_id = new_uuid();
        let properties = notion_properties(&object(json!({
            "Name": {"title": [{"text": {"content": "Added"}}]},
        })));
        let mut page = notion_page(&page_id, &parent, &properties);
        page["created_time"] = time.into();
        page["last_edited_time"] = time.into();
        state.notion.pages.insert(page_id.clone(), page);
        state.notion.data_source(id).push(page_id.clone());
        page_id
    }

    /// Notion: first-level children appended to `block_id` (a page or block; dashes optional),
    /// through `PATCH /v1/blocks/{id}/children` and the `children` of `POST /v1/pages`.
    pub fn notion_children(&self, block_id: &str) -> usize {
        let id = notion_id(block_id).unwrap_or_else(|| block_id.to_owned());
        lock(&self.state)
            .notion
            .children
            .get(&id)
            .copied()
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Serving and recording

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Slack,
    Discord,
    Notion,
}

/// How the request body was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Empty,
    Json,
    InvalidJson,
    Form,
    Other,
}

#[derive(Debug)]
struct FakeState {
    provider: Provider,
    recorded: Vec<Recorded>,
    scripts: Vec<(String, VecDeque<Scripted>)>,
    /// Feeds Discord snowflakes and Slack scheduled-message ids.
    seq: u64,
    slack: SlackState,
    discord: DiscordState,
    notion: NotionState,
}

impl FakeState {
    fn new(provider: Provider) -> Self {
        Self {
            provider,
            recorded: Vec::new(),
            scripts: Vec::new(),
            seq: 0,
            slack: SlackState::default(),
            discord: DiscordState::default(),
            notion: NotionState::default(),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn take_scripted(&mut self, path: &str) -> Option<Scripted> {
        self.scripts
            .iter_mut()
            .find(|(prefix, queue)| path.starts_with(prefix.as_str()) && !queue.is_empty())
            .and_then(|(_, queue)| queue.pop_front())
    }
}

type Shared = Arc<Mutex<FakeState>>;

/// A panicking test thread must not take the other requests down with it.
fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve_request(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let content_type = headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.to_ascii_lowercase())
        .unwrap_or_default();
    let (body, kind) = parse_body(&content_type, &bytes);
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(parse_pairs).unwrap_or_default(),
        headers,
        body,
    };

    let mut state = lock(&state);
    state.recorded.push(recorded.clone());
    let provider = state.provider;
    let reply = match state.take_scripted(&recorded.path) {
        Some(scripted) => scripted,
        None => match provider {
            Provider::Slack => slack_respond(&mut state, &recorded, kind),
            Provider::Discord => discord_respond(&mut state, &recorded, kind),
            Provider::Notion => notion_respond(&mut state, &recorded, kind),
        },
    };
    drop(state);
    finish(provider, reply)
}

fn parse_body(content_type: &str, bytes: &[u8]) -> (Value, BodyKind) {
    if bytes.is_empty() {
        return (Value::Null, BodyKind::Empty);
    }
    let text = String::from_utf8_lossy(bytes).into_owned();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice(bytes) {
            Ok(value) => (value, BodyKind::Json),
            Err(_) => (Value::String(text), BodyKind::InvalidJson),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let fields: Map<String, Value> = parse_pairs(&text)
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect();
        (Value::Object(fields), BodyKind::Form)
    } else {
        (Value::String(text), BodyKind::Other)
    }
}

/// `application/x-www-form-urlencoded` pairs (also query strings).
fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = if bytes[i] == b'%' {
            text.get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        } else {
            None
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path's segments, percent-decoded.
fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(|segment| percent_decode(segment, false))
        .collect()
}

/// Turns a reply into the HTTP response, adding what every response of the provider carries.
fn finish(provider: Provider, reply: Scripted) -> Response {
    let Scripted {
        status,
        mut headers,
        mut body,
    } = reply;
    if body.is_null() && status >= 400 {
        body = default_error(provider, status);
    }
    if !has_header(&headers, "content-type") {
        let content_type = match provider {
            Provider::Discord => "application/json",
            Provider::Slack | Provider::Notion => "application/json; charset=utf-8",
        };
        headers.push(header("content-type", content_type));
    }
    match provider {
        Provider::Slack if !has_header(&headers, "x-slack-req-id") => {
            headers.push(header(
                "x-slack-req-id",
                uuid::Uuid::new_v4().simple().to_string(),
            ));
        }
        Provider::Notion => {
            if let Value::Object(fields) = &mut body {
                fields
                    .entry("request_id")
                    .or_insert_with(|| uuid::Uuid::new_v4().to_string().into());
            }
        }
        _ => {}
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        response = response.header(name.as_str(), value.as_str());
    }
    let body = if status == 204 || body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    response
        .body(body)
        .expect("scripted status and headers must be valid HTTP")
}

/// The provider's usual body for an error `status` nothing more specific was given for.
fn default_error(provider: Provider, status: u16) -> Value {
    match provider {
        Provider::Slack => {
            let error = match status {
                429 => "ratelimited",
                503 => "service_unavailable",
                504 => "request_timeout",
                _ => "fatal_error",
            };
            json!({"ok": false, "error": error})
        }
        Provider::Discord => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|code| code.canonical_reason())
                .unwrap_or("Error");
            json!({"message": format!("{status}: {reason}"), "code": 0})
        }
        Provider::Notion => {
            let (code, message) = match status {
                400 => ("invalid_request", "This request is not supported."),
                401 => ("unauthorized", "API token is invalid."),
                403 => (
                    "restricted_resource",
                    "API token does not have access to this resource.",
                ),
                404 => ("object_not_found", "Could not find object."),
                409 => (
                    "conflict_error",
                    "Conflict occurred while saving. Please try again.",
                ),
                429 => (
                    "rate_limited",
                    "You have been rate limited. Please try again in a few minutes.",
                ),
                502 => (
                    "bad_gateway",
                    "Notion encountered an issue while attempting to complete this request. \
                     Please try again.",
                ),
                503 | 529 => (
                    "service_unavailable",
                    "Notion is unavailable, please try again later.",
                ),
                504 => (
                    "gateway_timeout",
                    "Notion timed out while attempting to complete this request. \
                     Please try again later.",
                ),
                _ => ("internal_server_error", "Unexpected error occurred."),
            };
            json!({"object": "error", "status": status, "code": code, "message": message})
        }
    }
}

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers
        .iter()
        .any(|(key, _)| key.eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------------------------
// Slack Web API

/// Seeded history per channel: this many messages, 60 s apart, the newest at this second.
const SLACK_SEEDED: u64 = 25;
const SLACK_SEED_NEWEST: u64 = 1_767_000_000;
const SLACK_BOT_USER: &str = "U0BOT";
const SLACK_BOT_ID: &str = "B0BOT";
const SLACK_TEAM: &str = "T0FAKE";
/// `chat.scheduleMessage` refuses `post_at` further ahead than 120 days.
const SLACK_MAX_SCHEDULE_AHEAD: u64 = 120 * 86_400;

#[derive(Debug, Default)]
struct SlackState {
    /// The last `ts` handed out, in microseconds (each new one is later).
    last_ts: u64,
    /// Per channel, `(ts in microseconds, message)`, newest first.
    histories: HashMap<String, Vec<(u64, Value)>>,
}

impl SlackState {
    fn next_ts(&mut self) -> u64 {
        let now = u64::try_from(now().as_micros()).unwrap_or(u64::MAX);
        self.last_ts = now.max(self.last_ts + 1);
        self.last_ts
    }

    fn history(&mut self, channel: &str) -> &mut Vec<(u64, Value)> {
        self.histories.entry(channel.to_owned()).or_insert_with(|| {
            (0..SLACK_SEEDED)
                .map(|age| {
                    let ts = (SLACK_SEED_NEWEST - age * 60) * 1_000_000 + 100;
                    let message = json!({
                        "type": "message",
                        "user": "U0SEED",
                        "text": format!("seeded message {}", SLACK_SEEDED - age),
                        "ts": slack_ts(ts),
                    });
                    (ts, message)
                })
                .collect()
        })
    }
}

fn slack_respond(state: &mut FakeState, request: &Recorded, kind: BodyKind) -> Scripted {
    let method = request.path.trim_start_matches('/');
    if !matches!(
        method,
        "chat.postMessage" | "chat.scheduleMessage" | "conversations.history"
    ) {
        return slack_error_with("unknown_method", json!({"req_method": method}));
    }
    // Arguments come from the query string and the body alike.
    let mut params: Map<String, Value> = request
        .query
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    match (kind, &request.body) {
        (BodyKind::InvalidJson, _) => return slack_error("invalid_json"),
        (BodyKind::Json | BodyKind::Form, Value::Object(fields)) => params.extend(fields.clone()),
        (BodyKind::Json, _) => return slack_error("json_not_object"),
        _ => {}
    }
    // JSON bodies cannot carry the token; form bodies can.
    let token = match request.header("authorization") {
        Some(value) => Some(value.strip_prefix("Bearer ").unwrap_or("").trim()),
        None if kind == BodyKind::Form => str_param(&request.body, "token"),
        None => None,
    };
    match token {
        None => return slack_error("not_authed"),
        Some(token) if !(token.starts_with("xoxb-") || token.starts_with("xoxp-")) => {
            return slack_error("invalid_auth")
        }
        Some(_) => {}
    }
    let params = Value::Object(params);
    let mut reply = match method {
        "chat.postMessage" => slack_post_message(&mut state.slack, &params),
        "chat.scheduleMessage" => {
            let seq = state.next_seq();
            slack_schedule_message(seq, &params)
        }
        _ => slack_history(&mut state.slack, &params),
    };
    // Slack flags JSON posted without a charset on successful responses.
    let charset = request
        .header("content-type")
        .is_some_and(|value| value.to_ascii_lowercase().contains("charset"));
    if kind == BodyKind::Json && !charset && reply.body["ok"] == true {
        reply.body["warning"] = "missing_charset".into();
        reply.body["response_metadata"]["warnings"] = json!(["missing_charset"]);
    }
    reply
}

fn slack_post_message(slack: &mut SlackState, params: &Value) -> Scripted {
    let Some(channel) = str_param(params, "channel") else {
        return slack_error("channel_not_found");
    };
    if !slack_has_content(params) {
        return slack_error("no_text");
    }
    if let Some(error) = slack_channel_error(channel, true) {
        return slack_error(error);
    }
    let ts = slack.next_ts();
    let mut message = json!({
        "type": "message",
        "text": str_param(params, "text").unwrap_or(""),
        "user": SLACK_BOT_USER,
        "bot_id": SLACK_BOT_ID,
        "team": SLACK_TEAM,
        "ts": slack_ts(ts),
    });
    for key in ["blocks", "attachments"] {
        if let Some(value) = params.get(key) {
            message[key] = slack_structured(value);
        }
    }
    let thread_ts = str_param(params, "thread_ts");
    if let Some(thread_ts) = thread_ts {
        message["thread_ts"] = thread_ts.into();
    }
    if thread_ts.is_none() || truthy(params.get("reply_broadcast")) {
        slack.history(channel).insert(0, (ts, message.clone()));
    }
    slack_ok(json!({"channel": channel, "ts": slack_ts(ts), "message": message}))
}

fn slack_schedule_message(seq: u64, params: &Value) -> Scripted {
    let Some(channel) = str_param(params, "channel") else {
        return slack_error("channel_not_found");
    };
    let Some(post_at) = params.get("post_at").and_then(slack_int) else {
        return slack_error("invalid_time");
    };
    if !slack_has_content(params) {
        return slack_error("no_text");
    }
    if let Some(error) = slack_channel_error(channel, true) {
        return slack_error(error);
    }
    let now = i64::try_from(now().as_secs()).unwrap_or(i64::MAX);
    if post_at <= now {
        return slack_error("time_in_past");
    }
    if post_at > now.saturating_add_unsigned(SLACK_MAX_SCHEDULE_AHEAD) {
        return slack_error("time_too_far");
    }
    let mut message = json!({
        "type": "delayed_message",
        "subtype": "bot_message",
        "text": str_param(params, "text").unwrap_or(""),
        "user": SLACK_BOT_USER,
        "bot_id": SLACK_BOT_ID,
        "team": SLACK_TEAM,
    });
    for key in ["blocks", "attachments"] {
        if let Some(value) = params.get(key) {
            message[key] = slack_structured(value);
        }
    }
    slack_ok(json!({
        "channel": channel,
        "scheduled_message_id": format!("Q0FAKE{seq:06}"),
        "post_at": post_at,
        "message": message,
    }))
}

fn slack_history(slack: &mut SlackState, params: &Value) -> Scripted {
    let Some(channel) = str_param(params, "channel") else {
        return slack_error("channel_not_found");
    };
    if slack_channel_error(channel, false).is_some() {
        return slack_error("channel_not_found");
    }
    let limit = match params.get("limit").and_then(slack_int) {
        Some(limit) if limit >= 1 => usize::try_from(limit.min(999)).unwrap_or(999),
        _ => 100,
    };
    let bound = |key: &str, default: u64| match params.get(key) {
        None => Some(default),
        Some(Value::Number(n)) => parse_ts(&n.to_string()),
        Some(Value::String(s)) if s.is_empty() => Some(default),
        Some(Value::String(s)) => parse_ts(s),
        Some(_) => None,
    };
    let Some(oldest) = bound("oldest", 0) else {
        return slack_error("invalid_ts_oldest");
    };
    let Some(latest) = bound("latest", u64::MAX) else {
        return slack_error("invalid_ts_latest");
    };
    let before = match str_param(params, "cursor") {
        None => u64::MAX,
        Some(cursor) => match slack_decode_cursor(cursor) {
            Some(ts) => ts,
            None => return slack_error("invalid_cursor"),
        },
    };
    let inclusive = truthy(params.get("inclusive"));
    let in_range = |ts: u64| {
        let after_oldest = if inclusive { ts >= oldest } else { ts > oldest };
        let before_latest = if inclusive { ts <= latest } else { ts < latest };
        ts <= before && after_oldest && before_latest
    };
    let matching: Vec<&(u64, Value)> = slack
        .history(channel)
        .iter()
        .filter(|(ts, _)| in_range(*ts))
        .collect();
    let messages: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|(_, message)| message.clone())
        .collect();
    let next = matching.get(limit).map(|(ts, _)| slack_cursor(*ts));
    slack_ok(json!({
        "messages": messages,
        "has_more": next.is_some(),
        "pin_count": 0,
        "channel_actions_ts": null,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": next.unwrap_or_default()},
    }))
}

fn slack_ok(mut body: Value) -> Scripted {
    body["ok"] = true.into();
    Scripted::json(200, body)
}

fn slack_error(error: &str) -> Scripted {
    Scripted::json(200, json!({"ok": false, "error": error}))
}

fn slack_error_with(error: &str, mut extra: Value) -> Scripted {
    extra["ok"] = false.into();
    extra["error"] = error.into();
    Scripted::json(200, extra)
}

/// Why `channel` cannot be used (`posting`: also refuse archived channels).
fn slack_channel_error(channel: &str, posting: bool) -> Option<&'static str> {
    if channel == "C404" || !channel.starts_with(['C', 'G', 'D']) {
        Some("channel_not_found")
    } else if posting && channel == "CARCHIVED" {
        Some("is_archived")
    } else {
        None
    }
}

/// A message needs `text`, `blocks` or `attachments` (form fields carry the latter as JSON text).
fn slack_has_content(params: &Value) -> bool {
    ["text", "blocks", "attachments"]
        .iter()
        .any(|key| match params.get(*key) {
            Some(Value::String(s)) => !s.trim().is_empty() && s.trim() != "[]",
            Some(Value::Array(items)) => !items.is_empty(),
            _ => false,
        })
}

/// Blocks or attachments as JSON, parsing the JSON text a form field carries.
fn slack_structured(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

/// An integer argument given as a JSON number or as text.
fn slack_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `ts` microseconds as Slack writes them: `1767000000.000100`.
fn slack_ts(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

fn parse_ts(ts: &str) -> Option<u64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let frac: u64 = format!("{frac:0<6}").parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(frac)
}

/// Slack's cursor style: base64 of `next_ts:<ts digits>`.
fn slack_cursor(ts: u64) -> String {
    base64_encode(format!("next_ts:{ts}").as_bytes())
}

fn slack_decode_cursor(cursor: &str) -> Option<u64> {
    let decoded = String::from_utf8(base64_decode(cursor)?).ok()?;
    decoded.strip_prefix("next_ts:")?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Discord HTTP API v10

/// Requests per window for each route and channel.
const DISCORD_LIMIT: u32 = 5;
const DISCORD_WINDOW_SECS: f64 = 5.0;
/// Route buckets: the same hash for every channel (Discord's bucket excludes the top-level
/// resource); the count is kept per bucket and channel (or webhook).
const DISCORD_MESSAGES_BUCKET: &str = "80c17d2f203122d936070c88c8d10f33";
const DISCORD_WEBHOOK_BUCKET: &str = "4a9c3e6f1b8d2a7e5c0f9b3d6e1a8c42";
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
const DISCORD_BOT_ID: &str = "1100000000000000001";
/// The channel interaction follow-ups land in.
const DISCORD_INTERACTION_CHANNEL: &str = "1200000000000000001";
/// Bots and webhooks may send at most this many characters.
const DISCORD_MAX_CONTENT: usize = 2000;
const DISCORD_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Default)]
struct DiscordState {
    windows: HashMap<String, DiscordWindow>,
    /// Registered interaction tokens.
    interactions: HashMap<String, Interaction>,
}

#[derive(Debug)]
struct DiscordWindow {
    reset_at: f64,
    remaining: u32,
}

#[derive(Debug)]
struct Interaction {
    application_id: String,
    registered: SystemTime,
    /// The original response as last edited.
    original: Option<Value>,
}

impl DiscordState {
    /// Counts a request against `bucket` for `major` (channel or webhook): the `X-RateLimit-*`
    /// headers, and the seconds to wait if the window was already used up.
    fn take(&mut self, bucket: &str, major: &str) -> (Vec<(String, String)>, Option<f64>) {
        let now = now().as_secs_f64();
        let fresh = DiscordWindow {
            reset_at: now + DISCORD_WINDOW_SECS,
            remaining: DISCORD_LIMIT,
        };
        let window = self
            .windows
            .entry(format!("{bucket}/{major}"))
            .or_insert(fresh);
        if now >= window.reset_at {
            window.reset_at = now + DISCORD_WINDOW_SECS;
            window.remaining = DISCORD_LIMIT;
        }
        let wait = if window.remaining == 0 {
            Some(window.reset_at - now)
        } else {
            window.remaining -= 1;
            None
        };
        let headers = vec![
            header("X-RateLimit-Limit", DISCORD_LIMIT.to_string()),
            header("X-RateLimit-Remaining", window.remaining.to_string()),
            header("X-RateLimit-Reset", format!("{:.3}", window.reset_at)),
            header(
                "X-RateLimit-Reset-After",
                format!("{:.3}", window.reset_at - now),
            ),
            header("X-RateLimit-Bucket", bucket),
        ];
        (headers, wait)
    }

    fn valid_token(&self, application_id: &str, token: &str) -> bool {
        self.interactions.get(token).is_some_and(|interaction| {
            interaction.application_id == application_id
                && interaction
                    .registered
                    .elapsed()
                    .is_ok_and(|age| age < DISCORD_TOKEN_TTL)
        })
    }
}

fn discord_respond(state: &mut FakeState, request: &Recorded, kind: BodyKind) -> Scripted {
    let segments = segments(&request.path);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["channels", channel, "messages"]) => {
            discord_create_message(state, request, kind, channel)
        }
        ("POST", ["webhooks", application, token]) => {
            discord_follow_up(state, request, kind, application, token)
        }
        ("PATCH", ["webhooks", application, token, "messages", "@original"]) => {
            discord_edit_original(state, request, kind, application, token)
        }
        (
            _,
            ["channels", _, "messages"]
            | ["webhooks", _, _]
            | ["webhooks", _, _, "messages", "@original"],
        ) => discord_error(405, 0, "405: Method Not Allowed"),
        _ => discord_error(404, 0, "404: Not Found"),
    }
}

fn discord_create_message(
    state: &mut FakeState,
    request: &Recorded,
    kind: BodyKind,
    channel: &str,
) -> Scripted {
    let bot = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bot "))
        .is_some_and(|token| !token.trim().is_empty());
    if !bot {
        return discord_error(401, 0, "401: Unauthorized");
    }
    let (headers, wait) = state.discord.take(DISCORD_MESSAGES_BUCKET, channel);
    let mut reply = match wait {
        Some(wait) => discord_rate_limited(wait),
        None => discord_checked_create(state, request, kind, channel),
    };
    reply.headers.extend(headers);
    reply
}

fn discord_checked_create(
    state: &mut FakeState,
    request: &Recorded,
    kind: BodyKind,
    channel: &str,
) -> Scripted {
    if !is_snowflake(channel) {
        return discord_form_error(
            "channel_id",
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{channel}\" is not snowflake."),
        );
    }
    let fields = match discord_fields(kind, &request.body) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    if channel.starts_with("404") {
        return discord_error(404, 10003, "Unknown Channel");
    }
    if let Some(reply) = discord_content_error(&fields) {
        return reply;
    }
    let id = snowflake(state.next_seq());
    let author = discord_user(DISCORD_BOT_ID, "switchyard-fake");
    Scripted::json(200, discord_message(&id, channel, &fields, &author))
}

fn discord_follow_up(
    state: &mut FakeState,
    request: &Recorded,
    kind: BodyKind,
    application: &str,
    token: &str,
) -> Scripted {
    if !state.discord.valid_token(application, token) {
        return discord_error(401, 50027, "Invalid Webhook Token");
    }
    let (headers, wait) = state
        .discord
        .take(DISCORD_WEBHOOK_BUCKET, &format!("{application}/{token}"));
    let mut reply = match wait {
        Some(wait) => discord_rate_limited(wait),
        None => match discord_fields(kind, &request.body) {
            Err(reply) => reply,
            Ok(fields) => match discord_content_error(&fields) {
                Some(reply) => reply,
                None => {
                    let id = snowflake(state.next_seq());
                    Scripted::json(200, discord_webhook_message(&id, application, &fields))
                }
            },
        },
    };
    reply.headers.extend(headers);
    reply
}

fn discord_edit_original(
    state: &mut FakeState,
    request: &Recorded,
    kind: BodyKind,
    application: &str,
    token: &str,
) -> Scripted {
    if !state.discord.valid_token(application, token) {
        return discord_error(401, 50027, "Invalid Webhook Token");
    }
    let (headers, wait) = state
        .discord
        .take(DISCORD_WEBHOOK_BUCKET, &format!("{application}/{token}"));
    let mut reply = match wait {
        Some(wait) => discord_rate_limited(wait),
        None => match discord_fields(kind, &request.body) {
            Err(reply) => reply,
            Ok(fields) => {
                let id = snowflake(state.next_seq());
                discord_apply_edit(state, token, &id, application, &fields)
            }
        },
    };
    reply.headers.extend(headers);
    reply
}

/// Edits the original response of `token` (first seen here, so it starts empty with `new_id`).
fn discord_apply_edit(
    state: &mut FakeState,
    token: &str,
    new_id: &str,
    application: &str,
    fields: &Map<String, Value>,
) -> Scripted {
    let Some(interaction) = state.discord.interactions.get_mut(token) else {
        return discord_error(401, 50027, "Invalid Webhook Token");
    };
    let mut message = interaction
        .original
        .clone()
        .unwrap_or_else(|| discord_webhook_message(new_id, application, &Map::new()));
    for key in ["content", "embeds", "components", "attachments", "flags"] {
        match fields.get(key) {
            None => {}
            Some(Value::Null) if key == "content" => message[key] = "".into(),
            Some(Value::Null) if key == "flags" => message[key] = 0.into(),
            Some(Value::Null) => message[key] = json!([]),
            Some(value) => message[key] = value.clone(),
        }
    }
    let merged = message.as_object().cloned().unwrap_or_default();
    if let Some(reply) = discord_content_error(&merged) {
        return reply;
    }
    message["edited_timestamp"] = discord_time(now()).into();
    interaction.original = Some(message.clone());
    Scripted::json(200, message)
}

/// The JSON (or form) fields of a request body.
fn discord_fields(kind: BodyKind, body: &Value) -> Result<Map<String, Value>, Scripted> {
    match (kind, body) {
        (BodyKind::Json | BodyKind::Form, Value::Object(fields)) => Ok(fields.clone()),
        (BodyKind::InvalidJson | BodyKind::Json, _) => Err(discord_error(
            400,
            50109,
            "The request body contains invalid JSON.",
        )),
        _ => Ok(Map::new()),
    }
}

/// Too long (400 50035) or empty (400 50006) message content.
fn discord_content_error(fields: &Map<String, Value>) -> Option<Scripted> {
    let content = fields.get("content").and_then(Value::as_str).unwrap_or("");
    if content.chars().count() > DISCORD_MAX_CONTENT {
        return Some(discord_form_error(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            &format!("Must be {DISCORD_MAX_CONTENT} or fewer in length."),
        ));
    }
    let non_empty_list = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|items| !items.is_empty())
    };
    let has_content = !content.is_empty()
        || ["embeds", "components", "sticker_ids", "attachments"]
            .iter()
            .any(|key| non_empty_list(key))
        || fields.get("poll").is_some_and(Value::is_object);
    (!has_content).then(|| discord_error(400, 50006, "Cannot send an empty message"))
}

fn discord_message(
    id: &str,
    channel_id: &str,
    fields: &Map<String, Value>,
    author: &Value,
) -> Value {
    let list = |key: &str| {
        fields
            .get(key)
            .filter(|value| value.is_array())
            .cloned()
            .unwrap_or_else(|| json!([]))
    };
    json!({
        "type": 0,
        "content": fields.get("content").and_then(Value::as_str).unwrap_or(""),
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": list("embeds"),
        "timestamp": discord_time(now()),
        "edited_timestamp": null,
        "flags": fields.get("flags").and_then(Value::as_u64).unwrap_or(0),
        "components": list("components"),
        "id": id,
        "channel_id": channel_id,
        "author": author,
        "pinned": false,
        "mention_everyone": false,
        "tts": fields.get("tts").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn discord_webhook_message(id: &str, application: &str, fields: &Map<String, Value>) -> Value {
    let author = discord_user(application, "switchyard-fake");
    let mut message = discord_message(id, DISCORD_INTERACTION_CHANNEL, fields, &author);
    message["webhook_id"] = application.into();
    message["application_id"] = application.into();
    message
}

fn discord_user(id: &str, username: &str) -> Value {
    json!({
        "id": id,
        "username": username,
        "avatar": null,
        "discriminator": "0000",
        "public_flags": 0,
        "flags": 0,
        "bot": true,
        "global_name": null,
        "primary_guild": null,
    })
}

fn discord_error(status: u16, code: u64, message: &str) -> Scripted {
    Scripted::json(status, json!({"message": message, "code": code}))
}

/// Discord's 400 `Invalid Form Body` with one field error.
fn discord_form_error(field: &str, code: &str, message: &str) -> Scripted {
    Scripted::json(
        400,
        json!({
            "message": "Invalid Form Body",
            "code": 50035,
            "errors": {field: {"_errors": [{"code": code, "message": message}]}},
        }),
    )
}

/// The per-route 429; the caller adds the bucket headers.
fn discord_rate_limited(wait: f64) -> Scripted {
    Scripted {
        status: 429,
        headers: vec![
            header("Retry-After", retry_after_header(wait)),
            header("X-RateLimit-Scope", "user"),
        ],
        body: discord_rate_limit_body(wait, false),
    }
}

/// The 429 body: Discord's docs show `message`, `retry_after`, `global`; the OpenAPI document
/// (`RatelimitedResponse`, all of `Error`) also requires `code`, which Discord sends as 0.
fn discord_rate_limit_body(retry_after: f64, global: bool) -> Value {
    let retry_after = (retry_after * 1000.0).round() / 1000.0;
    json!({
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": global,
        "code": 0,
    })
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_header(secs: f64) -> String {
    let whole = secs.ceil().max(1.0);
    format!("{whole:.0}")
}

fn is_snowflake(id: &str) -> bool {
    id == "0" || (!id.is_empty() && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
}

fn snowflake(seq: u64) -> String {
    let millis = u64::try_from(now().as_millis()).unwrap_or(u64::MAX);
    let since_epoch = millis.saturating_sub(DISCORD_EPOCH_MS);
    ((since_epoch << 22) | (seq & 0xfff)).to_string()
}

/// Discord's timestamp style: `2026-01-01T00:00:00.000000+00:00`.
fn discord_time(at: Duration) -> String {
    let [year, month, day, hour, minute, second] = utc(at.as_secs());
    format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:06}+00:00",
        at.subsec_micros()
    )
}

// ---------------------------------------------------------------------------------------------
// Notion API

const NOTION_SEEDED: usize = 30;
const NOTION_MAX_CHILDREN: usize = 100;
const NOTION_MAX_PAGE_SIZE: u64 = 100;
const NOTION_BOT_USER: &str = "b0700000-0000-4000-8000-000000000001";

#[derive(Debug, Default)]
struct NotionState {
    /// Pages by dashed id.
    pages: HashMap<String, Value>,
    /// Per data source, its pages in query order (seeded, then created).
    data_sources: HashMap<String, Vec<String>>,
    /// Data source id → the id of its database.
    databases: HashMap<String, String>,
    /// First-level children appended per page or block.
    children: HashMap<String, usize>,
}

impl NotionState {
    /// The page parent for a page in data source `id`.
    fn data_source_parent(&mut self, id: &str) -> Value {
        let database = self
            .databases
            .entry(id.to_owned())
            .or_insert_with(new_uuid)
            .clone();
        json!({"type": "data_source_id", "data_source_id": id, "database_id": database})
    }

    /// Data source `id`'s page ids, seeding its 30 pages on first use.
    fn data_source(&mut self, id: &str) -> &mut Vec<String> {
        if !self.data_sources.contains_key(id) {
            let parent = self.data_source_parent(id);
            let pages = &mut self.pages;
            let ids = (1..=NOTION_SEEDED)
                .map(|n| {
                    let page_id = new_uuid();
                    let properties = notion_properties(&object(json!({
                        "Name": {"title": [{"text": {"content": format!("Item {n}")}}]},
                        "Index": {"number": n},
                    })));
                    pages.insert(page_id.clone(), notion_page(&page_id, &parent, &properties));
                    page_id
                })
                .collect();
            self.data_sources.insert(id.to_owned(), ids);
        }
        self.data_sources.entry(id.to_owned()).or_default()
    }

    /// Page `id`, which exists unless it has the not-found form.
    fn page(&mut self, id: &str) -> &mut Value {
        self.pages.entry(id.to_owned()).or_insert_with(|| {
            let properties = notion_properties(&object(json!({"title": {"title": []}})));
            notion_page(
                id,
                &json!({"type": "workspace", "workspace": true}),
                &properties,
            )
        })
    }
}

fn notion_respond(state: &mut FakeState, request: &Recorded, kind: BodyKind) -> Scripted {
    let authorized = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| token.starts_with("secret_") || token.starts_with("ntn_"));
    if !authorized {
        return notion_error(401, "unauthorized", "API token is invalid.");
    }
    if request
        .header("notion-version")
        .is_none_or(|version| version.trim().is_empty())
    {
        return notion_error(
            400,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined, \
             instead was `undefined`.",
        );
    }
    let body = match (kind, &request.body) {
        (BodyKind::InvalidJson, _) => {
            return notion_error(400, "invalid_json", "Error parsing JSON body.")
        }
        (BodyKind::Json, Value::Object(fields)) => fields.clone(),
        (BodyKind::Json, other) => {
            return notion_validation(&format!(
                "body failed validation: body should be an object, instead was `{other}`."
            ))
        }
        _ => Map::new(),
    };
    let segments = segments(&request.path);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let notion = &mut state.notion;
    let reply = match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "pages"]) => notion_create_page(notion, &body),
        ("GET", ["v1", "pages", id]) => {
            notion_path_id(id, "page_id").and_then(|id| notion_retrieve_page(notion, &id))
        }
        ("PATCH", ["v1", "pages", id]) => {
            notion_path_id(id, "page_id").and_then(|id| notion_update_page(notion, &id, &body))
        }
        ("POST", ["v1", "data_sources", id, "query"]) => {
            notion_path_id(id, "data_source_id").and_then(|id| notion_query(notion, &id, &body))
        }
        ("PATCH", ["v1", "blocks", id, "children"]) => {
            notion_path_id(id, "block_id").and_then(|id| notion_append(notion, &id, &body))
        }
        _ => Err(notion_error(
            400,
            "invalid_request_url",
            "Invalid request URL.",
        )),
    };
    reply.unwrap_or_else(|error| error)
}

fn notion_create_page(
    notion: &mut NotionState,
    body: &Map<String, Value>,
) -> Result<Scripted, Scripted> {
    let Some(parent) = body.get("parent").and_then(Value::as_object) else {
        return Err(notion_validation(
            "body failed validation: body.parent should be defined, instead was `undefined`.",
        ));
    };
    let children = notion_children_arg(body, "body.children", false)?;
    let properties = match body.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(properties)) => notion_properties(properties),
        Some(other) => {
            return Err(notion_validation(&format!(
                "body failed validation: body.properties should be an object, instead was \
                 `{other}`."
            )))
        }
    };
    let parent = notion_parent(notion, parent)?;
    let id = new_uuid();
    let page = notion_page(&id, &parent, &properties);
    if let Some(data_source) = parent.get("data_source_id").and_then(Value::as_str) {
        let data_source = data_source.to_owned();
        notion.data_source(&data_source).push(id.clone());
    }
    if !children.is_empty() {
        *notion.children.entry(id.clone()).or_default() += children.len();
    }
    notion.pages.insert(id, page.clone());
    Ok(Scripted::json(200, page))
}

/// Resolves a page's `parent` argument to the parent object a page carries.
fn notion_parent(notion: &mut NotionState, parent: &Map<String, Value>) -> Result<Value, Scripted> {
    if let Some(raw) = parent.get("page_id") {
        let id = notion_body_id(raw, "body.parent.page_id")?;
        notion_exists(&id, "page")?;
        Ok(json!({"type": "page_id", "page_id": id}))
    } else if let Some(raw) = parent.get("data_source_id") {
        let id = notion_body_id(raw, "body.parent.data_source_id")?;
        notion_exists(&id, "data_source")?;
        Ok(notion.data_source_parent(&id))
    } else if let Some(raw) = parent.get("database_id") {
        let database = notion_body_id(raw, "body.parent.database_id")?;
        notion_exists(&database, "database")?;
        // A database with one data source: find it, or make it up.
        let known = notion
            .databases
            .iter()
            .find(|(_, db)| **db == database)
            .map(|(data_source, _)| data_source.clone());
        let data_source = known.unwrap_or_else(|| {
            let data_source = new_uuid();
            notion.databases.insert(data_source.clone(), database);
            data_source
        });
        Ok(notion.data_source_parent(&data_source))
    } else if parent.get("workspace") == Some(&Value::Bool(true)) {
        Ok(json!({"type": "workspace", "workspace": true}))
    } else {
        Err(notion_validation(
            "body failed validation: body.parent.page_id should be defined, instead was \
             `undefined`.",
        ))
    }
}

fn notion_retrieve_page(notion: &mut NotionState, id: &str) -> Result<Scripted, Scripted> {
    notion_exists(id, "page")?;
    Ok(Scripted::json(200, notion.page(id).clone()))
}

fn notion_update_page(
    notion: &mut NotionState,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Scripted, Scripted> {
    notion_exists(id, "page")?;
    let properties = match body.get("properties") {
        None | Some(Value::Null) => None,
        Some(Value::Object(properties)) => Some(notion_properties(properties)),
        Some(other) => {
            return Err(notion_validation(&format!(
                "body failed validation: body.properties should be an object, instead was \
                 `{other}`."
            )))
        }
    };
    let mut trashed = None;
    for key in ["archived", "in_trash"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(flag)) => trashed = Some(*flag),
            Some(other) => {
                return Err(notion_validation(&format!(
                    "body failed validation: body.{key} should be a boolean, instead was \
                     `{other}`."
                )))
            }
        }
    }
    let page = notion.page(id);
    let in_trash = page["in_trash"] == true;
    if in_trash && trashed != Some(false) && properties.is_some() {
        return Err(notion_validation(
            "Can't edit block that is archived. You must unarchive the block before editing.",
        ));
    }
    if let (Some(properties), Some(existing)) = (properties, page["properties"].as_object_mut()) {
        existing.extend(properties);
    }
    if let Some(flag) = trashed {
        page["archived"] = flag.into();
        page["in_trash"] = flag.into();
    }
    for key in ["icon", "cover"] {
        if let Some(value) = body.get(key) {
            page[key] = value.clone();
        }
    }
    page["last_edited_time"] = notion_time(now()).into();
    Ok(Scripted::json(200, page.clone()))
}

fn notion_query(
    notion: &mut NotionState,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Scripted, Scripted> {
    notion_exists(id, "data_source")?;
    let page_size = match body.get("page_size") {
        None | Some(Value::Null) => NOTION_MAX_PAGE_SIZE,
        Some(value) => match value.as_u64() {
            Some(size @ 1..=NOTION_MAX_PAGE_SIZE) => size,
            Some(size) if size > NOTION_MAX_PAGE_SIZE => {
                return Err(notion_validation(&format!(
                    "body failed validation: body.page_size should be ≤ `{NOTION_MAX_PAGE_SIZE}`, \
                     instead was `{size}`."
                )))
            }
            _ => {
                return Err(notion_validation(&format!(
                    "body failed validation: body.page_size should be a positive integer, \
                     instead was `{value}`."
                )))
            }
        },
    };
    let page_size = usize::try_from(page_size).unwrap_or(usize::MAX);
    let ids = notion.data_source(id).clone();
    // Timestamp filters (`{"timestamp": "last_edited_time", "last_edited_time": {"on_or_after":
    // …}}`) and timestamp sorts, as the API applies them; property filters are not modelled.
    let edited_bound = body
        .get("filter")
        .filter(|f| f["timestamp"] == "last_edited_time")
        .and_then(|f| f.get("last_edited_time"));
    let mut live: Vec<&Value> = ids
        .iter()
        .filter_map(|page_id| notion.pages.get(page_id))
        .filter(|page| page["in_trash"] != true)
        .filter(|page| {
            let edited = page["last_edited_time"].as_str().unwrap_or_default();
            match edited_bound {
                Some(b) => match (b["on_or_after"].as_str(), b["after"].as_str()) {
                    (Some(t), _) => edited >= t,
                    (_, Some(t)) => edited > t,
                    _ => true,
                },
                None => true,
            }
        })
        .collect();
    if let Some(sort) = body
        .get("sorts")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .filter(|s| s["timestamp"] == "last_edited_time")
    {
        live.sort_by(|a, b| {
            a["last_edited_time"]
                .as_str()
                .cmp(&b["last_edited_time"].as_str())
        });
        if sort["direction"] == "descending" {
            live.reverse();
        }
    }
    let start = match body.get("start_cursor") {
        None | Some(Value::Null) => 0,
        Some(raw) => {
            let cursor = notion_body_id(raw, "body.start_cursor")?;
            live.iter()
                .position(|page| page["id"] == cursor.as_str())
                .ok_or_else(|| {
                    notion_validation(&format!("The start_cursor provided is invalid: {cursor}"))
                })?
        }
    };
    let results: Vec<Value> = live
        .iter()
        .skip(start)
        .take(page_size)
        .map(|page| (*page).clone())
        .collect();
    let next = live.get(start + page_size).map(|page| page["id"].clone());
    Ok(Scripted::json(
        200,
        json!({
            "object": "list",
            "results": results,
            "has_more": next.is_some(),
            "next_cursor": next,
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }),
    ))
}

fn notion_append(
    notion: &mut NotionState,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Scripted, Scripted> {
    notion_exists(id, "block")?;
    let children = notion_children_arg(body, "body.children", true)?;
    let parent = if notion.pages.contains_key(id) {
        json!({"type": "page_id", "page_id": id})
    } else {
        json!({"type": "block_id", "block_id": id})
    };
    let results = children
        .iter()
        .enumerate()
        .map(|(index, child)| match child.as_object() {
            Some(child) => Ok(notion_block(child, &parent)),
            None => Err(notion_validation(&format!(
                "body failed validation: body.children[{index}] should be an object, instead \
                 was `{child}`."
            ))),
        })
        .collect::<Result<Vec<Value>, Scripted>>()?;
    *notion.children.entry(id.to_owned()).or_default() += results.len();
    Ok(Scripted::json(
        200,
        json!({
            "object": "list",
            "results": results,
            "next_cursor": null,
            "has_more": false,
            "type": "block",
            "block": {},
        }),
    ))
}

/// The `children` argument: at most 100 blocks (`required`: it must be given).
fn notion_children_arg<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    required: bool,
) -> Result<&'a [Value], Scripted> {
    match body.get("children") {
        None | Some(Value::Null) if !required => Ok(&[]),
        None | Some(Value::Null) => Err(notion_validation(&format!(
            "body failed validation: {field} should be defined, instead was `undefined`."
        ))),
        Some(Value::Array(children)) if children.len() > NOTION_MAX_CHILDREN => {
            Err(notion_validation(&format!(
                "body failed validation: {field}.length should be ≤ `{NOTION_MAX_CHILDREN}`, \
                 instead was `{}`.",
                children.len()
            )))
        }
        Some(Value::Array(children)) => Ok(children),
        Some(other) => Err(notion_validation(&format!(
            "body failed validation: {field} should be an array, instead was `{other}`."
        ))),
    }
}

fn notion_page(id: &str, parent: &Value, properties: &Map<String, Value>) -> Value {
    let time = notion_time(now());
    json!({
        "object": "page",
        "id": id,
        "created_time": time,
        "last_edited_time": time,
        "created_by": {"object": "user", "id": NOTION_BOT_USER},
        "last_edited_by": {"object": "user", "id": NOTION_BOT_USER},
        "cover": null,
        "icon": null,
        "parent": parent,
        "archived": false,
        "in_trash": false,
        "is_locked": false,
        "properties": properties,
        "url": format!("https://www.notion.so/{}", id.replace('-', "")),
        "public_url": null,
    })
}

/// An appended block as Notion returns it: ids and metadata added, nested children dropped.
fn notion_block(child: &Map<String, Value>, parent: &Value) -> Value {
    let mut block = child.clone();
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| block.keys().find(|key| key.as_str() != "object").cloned())
        .unwrap_or_else(|| "paragraph".to_owned());
    let non_empty = |value: Option<Value>| {
        value
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|items| !items.is_empty())
    };
    let mut has_children = non_empty(block.remove("children"));
    if let Some(Value::Object(payload)) = block.get_mut(&kind) {
        has_children |= non_empty(payload.remove("children"));
        if let Some(Value::Array(items)) = payload.get("rich_text") {
            let rich_text = notion_rich_text(items);
            payload.insert("rich_text".to_owned(), rich_text.into());
        }
    }
    let time = notion_time(now());
    for (key, value) in [
        ("object", json!("block")),
        ("id", json!(new_uuid())),
        ("parent", parent.clone()),
        ("created_time", json!(time)),
        ("last_edited_time", json!(time)),
        (
            "created_by",
            json!({"object": "user", "id": NOTION_BOT_USER}),
        ),
        (
            "last_edited_by",
            json!({"object": "user", "id": NOTION_BOT_USER}),
        ),
        ("has_children", json!(has_children)),
        ("archived", json!(false)),
        ("in_trash", json!(false)),
        ("type", json!(kind)),
    ] {
        block.insert(key.to_owned(), value);
    }
    Value::Object(block)
}

/// Property values as a page returns them: `id` and `type` added, rich text filled in.
fn notion_properties(input: &Map<String, Value>) -> Map<String, Value> {
    input
        .iter()
        .map(|(name, value)| {
            let Some(fields) = value.as_object() else {
                return (name.clone(), value.clone());
            };
            let mut property = fields.clone();
            let kind = property
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| property.keys().find(|key| key.as_str() != "id").cloned());
            if let Some(kind) = kind {
                let id = if kind == "title" {
                    "title".to_owned()
                } else {
                    short_id(name)
                };
                property.entry("id").or_insert_with(|| id.into());
                if kind == "title" || kind == "rich_text" {
                    if let Some(Value::Array(items)) = property.get(&kind) {
                        let rich_text = notion_rich_text(items);
                        property.insert(kind.clone(), rich_text.into());
                    }
                }
                property.insert("type".to_owned(), kind.into());
            }
            (name.clone(), Value::Object(property))
        })
        .collect()
}

/// Rich text items with `type`, `plain_text`, `href` and `annotations` filled in.
fn notion_rich_text(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|item| {
            let Some(fields) = item.as_object() else {
                return item.clone();
            };
            let mut item = fields.clone();
            if let Some(text) = item.get("text").and_then(Value::as_object).cloned() {
                let content = text.get("content").and_then(Value::as_str).unwrap_or("");
                let link = text.get("link").cloned().unwrap_or(Value::Null);
                let href = link.get("url").cloned().unwrap_or(Value::Null);
                item.entry("type").or_insert_with(|| "text".into());
                item.entry("plain_text").or_insert_with(|| content.into());
                item.entry("href").or_insert(href);
                item.insert("text".to_owned(), json!({"content": content, "link": link}));
            }
            item.entry("annotations").or_insert_with(|| {
                json!({
                    "bold": false, "italic": false, "strikethrough": false,
                    "underline": false, "code": false, "color": "default",
                })
            });
            Value::Object(item)
        })
        .collect()
}

/// Fails with Notion's 404 when `id` has the not-found form (`00000000…404`).
fn notion_exists(id: &str, kind: &str) -> Result<(), Scripted> {
    let hex = id.replace('-', "");
    if hex.starts_with("00000000") && hex.ends_with("404") {
        Err(notion_error(
            404,
            "object_not_found",
            &format!(
                "Could not find {kind} with ID: {id}. Make sure the relevant pages and \
                 databases are shared with your integration."
            ),
        ))
    } else {
        Ok(())
    }
}

/// A UUID with or without dashes, as the dashed lowercase form Notion answers with.
fn notion_id(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn notion_path_id(raw: &str, name: &str) -> Result<String, Scripted> {
    notion_id(raw).ok_or_else(|| {
        notion_validation(&format!(
            "path failed validation: path.{name} should be a valid uuid, instead was `\"{raw}\"`."
        ))
    })
}

fn notion_body_id(raw: &Value, field: &str) -> Result<String, Scripted> {
    raw.as_str().and_then(notion_id).ok_or_else(|| {
        notion_validation(&format!(
            "body failed validation: {field} should be a valid uuid, instead was `{raw}`."
        ))
    })
}

fn notion_error(status: u16, code: &str, message: &str) -> Scripted {
    Scripted::json(
        status,
        json!({"object": "error", "status": status, "code": code, "message": message}),
    )
}

fn notion_validation(message: &str) -> Scripted {
    notion_error(400, "validation_error", message)
}

/// Notion's timestamps are to the minute: `2026-01-01T00:00:00.000Z`.
fn notion_time(at: Duration) -> String {
    let [year, month, day, hour, minute, _] = utc(at.as_secs());
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:00.000Z")
}

/// A stable short property id for a property name.
fn short_id(name: &str) -> String {
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    format!("{:04x}", hasher.finish() & 0xffff)
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// The fields of a JSON object (none for anything else).
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

/// A non-empty string argument.
fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text == "true" || text == "1",
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `[year, month, day, hour, minute, second]` in UTC (days to civil date after H. Hinnant).
fn utc(secs: u64) -> [u64; 6] {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Shift the epoch to 0000-03-01; eras are 400 years (146097 days). No negative dates here.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    [year, month, day, rem / 3_600, rem % 3_600 / 60, rem % 60]
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0u32);
    for c in input.trim_end_matches('=').bytes() {
        let value = BASE64.iter().position(|&b| b == c)?;
        bits = (bits << 6) | u32::try_from(value).ok()?;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).ok()?);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Smoke tests of the fakes themselves (no emulator needed).

#[cfg(test)]
mod smoke {
    use super::*;

    /// Sends and returns status, headers and the JSON body (`null` when there is none).
    async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = request.send().await.expect("the fake answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// A plain client. reqwest's rustls has no built-in crypto provider in this workspace;
    /// building the platform's `SecureHttp` installs the one the AWS SDK links (as `App::new` does
    /// for the other tests), so this works however the tests are ordered or filtered.
    fn client() -> reqwest::Client {
        let _ = switchyard::tools::secure_http::SecureHttp::new(Vec::new());
        reqwest::Client::new()
    }

    fn header_text<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn time_and_cursor_helpers() {
        assert_eq!(utc(1_767_225_600), [2026, 1, 1, 0, 0, 0]);
        assert_eq!(utc(951_825_599), [2000, 2, 29, 11, 59, 59]);
        assert_eq!(
            discord_time(Duration::from_millis(1_767_225_600_250)),
            "2026-01-01T00:00:00.250000+00:00"
        );
        assert_eq!(
            base64_encode(b"next_ts:1512085861000543"),
            "bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz"
        );
        for text in ["", "a", "ab", "abc", "abcd"] {
            let encoded = base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&encoded).as_deref(), Some(text.as_bytes()));
        }
        assert_eq!(
            slack_decode_cursor(&slack_cursor(1_767_000_000_000_100)),
            Some(1_767_000_000_000_100)
        );
        assert_eq!(parse_ts("1767000000.0001"), Some(1_767_000_000_000_100));
    }

    #[tokio::test]
    async fn slack_fake_posts_schedules_pages_and_scripts() {
        let slack = Fake::slack().await;
        let http = client();
        let post = |token: Option<&str>, body: Value| {
            let request = http
                .post(format!("{}/chat.postMessage", slack.base_url))
                .header("content-type", "application/json; charset=utf-8")
                .body(body.to_string());
            match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
        };

        let (status, headers, body) = send(post(
            Some("xoxb-1"),
            json!({"channel": "C123", "text": "hi"}),
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["channel"], "C123");
        assert_eq!(body["message"]["text"], "hi");
        assert_eq!(body["message"]["user"], "U0BOT");
        assert_eq!(body["ts"], body["message"]["ts"]);
        assert!(headers.contains_key("x-slack-req-id"));
        assert!(body.get("warning").is_none(), "charset was given");

        for (token, body, error) in [
            (None, json!({"channel": "C123", "text": "hi"}), "not_authed"),
            (
                Some("bogus"),
                json!({"channel": "C123", "text": "hi"}),
                "invalid_auth",
            ),
            (
                Some("xoxb-1"),
                json!({"channel": "C404", "text": "hi"}),
                "channel_not_found",
            ),
            (
                Some("xoxb-1"),
                json!({"channel": "CARCHIVED", "text": "x"}),
                "is_archived",
            ),
            (Some("xoxb-1"), json!({"channel": "C123"}), "no_text"),
        ] {
            let (status, _, reply) = send(post(token, body)).await;
            assert_eq!(
                (status, reply["ok"].clone(), reply["error"].clone()),
                (200, json!(false), json!(error))
            );
        }

        // Form bodies, with the token as a field.
        let (_, _, body) = send(
            http.post(format!("{}/chat.postMessage", slack.base_url))
                .form(&[
                    ("channel", "D42"),
                    ("text", "via form"),
                    ("token", "xoxp-2"),
                ]),
        )
        .await;
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["message"]["text"], "via form");

        // A scripted 429, then normal behaviour.
        slack.script("/chat.postMessage", vec![Scripted::rate_limited_slack(7)]);
        let (status, headers, body) = send(post(
            Some("xoxb-1"),
            json!({"channel": "C123", "text": "again"}),
        ))
        .await;
        assert_eq!(status, 429);
        assert_eq!(header_text(&headers, "retry-after"), "7");
        assert_eq!(body, json!({"ok": false, "error": "ratelimited"}));
        let (status, _, body) = send(post(
            Some("xoxb-1"),
            json!({"channel": "C123", "text": "again"}),
        ))
        .await;
        assert_eq!((status, body["ok"].clone()), (200, json!(true)));
        slack.script("/conversations.", vec![Scripted::server_error(503)]);
        let (status, _, body) = send(
            http.get(format!("{}/conversations.history", slack.base_url))
                .bearer_auth("xoxb-1")
                .query(&[("channel", "C123")]),
        )
        .await;
        assert_eq!(
            (status, body),
            (503, json!({"ok": false, "error": "service_unavailable"}))
        );

        // Scheduling against the real clock.
        let schedule = |post_at: u64| {
            http.post(format!("{}/chat.scheduleMessage", slack.base_url))
                .bearer_auth("xoxb-1")
                .json(&json!({"channel": "C123", "text": "later", "post_at": post_at}))
        };
        let now = now().as_secs();
        let (_, _, body) = send(schedule(now - 10)).await;
        assert_eq!(body["error"], "time_in_past");
        let (_, _, body) = send(schedule(now + 121 * 86_400)).await;
        assert_eq!(body["error"], "time_too_far");
        let (_, _, body) = send(schedule(now + 3_600)).await;
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["post_at"], now + 3_600);
        let id = body["scheduled_message_id"].as_str().unwrap_or("");
        assert!(id.starts_with('Q') && id.len() >= 9, "{id}");
        assert_eq!(body["warning"], "missing_charset");

        // History: 25 seeded messages, newest first, in pages of 10.
        let mut seen: Vec<String> = Vec::new();
        let mut cursor = String::new();
        let mut pages = 0;
        loop {
            let mut query = vec![("channel", "C0HIST".to_owned()), ("limit", "10".to_owned())];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.clone()));
            }
            let (_, _, body) = send(
                http.get(format!("{}/conversations.history", slack.base_url))
                    .bearer_auth("xoxb-1")
                    .query(&query),
            )
            .await;
            assert_eq!(body["ok"], true, "{body}");
            pages += 1;
            let messages = body["messages"].as_array().cloned().unwrap_or_default();
            seen.extend(
                messages
                    .iter()
                    .map(|m| m["ts"].as_str().unwrap_or("").to_owned()),
            );
            cursor = body["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            assert_eq!(body["has_more"], !cursor.is_empty());
            if cursor.is_empty() {
                break;
            }
        }
        assert_eq!((pages, seen.len()), (3, 25));
        assert!(
            seen.windows(2).all(|pair| pair[0] > pair[1]),
            "ts descending"
        );
        let (_, _, body) = send(
            http.get(format!("{}/conversations.history", slack.base_url))
                .bearer_auth("xoxb-1")
                .query(&[("channel", "C0HIST"), ("cursor", "not-a-cursor")]),
        )
        .await;
        assert_eq!(body["error"], "invalid_cursor");

        // Posted messages join the channel's history.
        let (_, _, body) = send(
            http.get(format!("{}/conversations.history", slack.base_url))
                .bearer_auth("xoxb-1")
                .query(&[("channel", "C123"), ("limit", "1")]),
        )
        .await;
        assert_eq!(body["messages"][0]["text"], "again");

        assert_eq!(slack.count("POST", "/chat.postMessage"), 9);
        assert_eq!(slack.count("GET", "/conversations.history"), 6);
        assert!(slack
            .requests()
            .iter()
            .any(|r| r.query_param("limit") == Some("10")));
        let first = &slack.requests()[0];
        assert_eq!(first.header("authorization"), Some("Bearer xoxb-1"));
        assert_eq!(first.body["channel"], "C123");
    }

    #[tokio::test]
    async fn discord_fake_sends_follows_up_limits_and_scripts() {
        let discord = Fake::discord().await;
        let http = client();
        let create = |channel: &str, body: Value| {
            http.post(format!("{}/channels/{channel}/messages", discord.base_url))
                .header("authorization", "Bot abc")
                .json(&body)
        };

        let (status, headers, body) = send(create("111", json!({"content": "hello"}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["content"], "hello");
        assert_eq!(body["channel_id"], "111");
        assert_eq!(body["author"]["bot"], true);
        assert!(body["id"].as_str().is_some_and(is_snowflake));
        assert_eq!(header_text(&headers, "x-ratelimit-limit"), "5");
        assert_eq!(header_text(&headers, "x-ratelimit-remaining"), "4");
        assert_eq!(
            header_text(&headers, "x-ratelimit-bucket"),
            DISCORD_MESSAGES_BUCKET
        );
        assert!(header_text(&headers, "x-ratelimit-reset-after")
            .parse::<f64>()
            .is_ok());

        let (status, _, body) = send(create("111", json!({"content": ""}))).await;
        assert_eq!((status, body["code"].clone()), (400, json!(50006)));
        let (status, _, body) = send(create("404000", json!({"content": "x"}))).await;
        assert_eq!((status, body["code"].clone()), (404, json!(10003)));
        let (status, _, body) = send(
            http.post(format!("{}/channels/111/messages", discord.base_url))
                .json(&json!({"content": "x"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (401, json!({"message": "401: Unauthorized", "code": 0}))
        );

        // The window: 5 per channel (2 used on 111 above; the 401 counts nothing), then a 429.
        for _ in 0..3 {
            assert_eq!(send(create("111", json!({"content": "x"}))).await.0, 200);
        }
        let (status, headers, body) = send(create("111", json!({"content": "x"}))).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["global"], false);
        assert!(body["retry_after"]
            .as_f64()
            .is_some_and(|s| s > 0.0 && s <= 5.0));
        assert_eq!(header_text(&headers, "x-ratelimit-scope"), "user");
        assert_eq!(header_text(&headers, "x-ratelimit-remaining"), "0");
        assert!(!header_text(&headers, "retry-after").is_empty());
        // Other channels have their own window.
        assert_eq!(
            send(create("222", json!({"embeds": [{"title": "t"}]})))
                .await
                .0,
            200
        );

        // Scripted global limit, then normal.
        discord.script(
            "/channels/333",
            vec![Scripted::rate_limited_discord(0.25, true)],
        );
        let (status, headers, body) = send(create("333", json!({"content": "x"}))).await;
        assert_eq!((status, body["global"].clone()), (429, json!(true)));
        assert_eq!(header_text(&headers, "x-ratelimit-global"), "true");
        assert_eq!(header_text(&headers, "retry-after"), "1");
        assert_eq!(send(create("333", json!({"content": "x"}))).await.0, 200);
        discord.script("/channels/444", vec![Scripted::server_error(502)]);
        let (status, _, body) = send(create("444", json!({"content": "x"}))).await;
        assert_eq!(
            (status, body),
            (502, json!({"message": "502: Bad Gateway", "code": 0}))
        );

        // Interaction follow-ups and edits need a registered token.
        let follow_up = http
            .post(format!("{}/webhooks/42/tok?wait=true", discord.base_url))
            .json(&json!({"content": "follow", "flags": 64}));
        let (status, _, body) = send(follow_up).await;
        assert_eq!((status, body["code"].clone()), (401, json!(50027)));
        discord.register_interaction("42", "tok");
        let (status, _, body) = send(
            http.post(format!("{}/webhooks/42/tok?wait=true", discord.base_url))
                .json(&json!({"content": "follow", "flags": 64})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["content"].clone(), body["flags"].clone()),
            (json!("follow"), json!(64))
        );
        assert_eq!(body["webhook_id"], "42");
        let (status, _, body) = send(
            http.patch(format!(
                "{}/webhooks/42/tok/messages/@original",
                discord.base_url
            ))
            .json(&json!({"content": "edited"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["content"], "edited");
        assert!(body["edited_timestamp"].is_string());

        assert_eq!(discord.count("POST", "/channels/111/"), 7);
        assert_eq!(discord.count("PATCH", "/webhooks/42/tok"), 1);
    }

    #[tokio::test]
    async fn notion_fake_creates_queries_appends_and_scripts() {
        let notion = Fake::notion().await;
        let http = client();
        let call = |method: reqwest::Method, path: &str, body: Value| {
            let request = http
                .request(method, format!("{}{path}", notion.base_url))
                .bearer_auth("ntn_test")
                .header("notion-version", "2025-09-03");
            if body.is_null() {
                request
            } else {
                request.json(&body)
            }
        };
        let parent = "5b6f0c8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";

        let (status, _, page) = send(call(
            reqwest::Method::POST,
            "/v1/pages",
            json!({
                "parent": {"page_id": parent.replace('-', "")},
                "properties": {"title": {"title": [{"text": {"content": "Hello"}}]}},
                "children": [{"paragraph": {"rich_text": [{"text": {"content": "p"}}]}}],
            }),
        ))
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["object"], "page");
        assert_eq!(
            page["parent"],
            json!({"type": "page_id", "page_id": parent})
        );
        assert_eq!(
            page["properties"]["title"]["title"][0]["plain_text"],
            "Hello"
        );
        let page_id = page["id"].as_str().unwrap_or("").to_owned();
        assert_eq!(notion.notion_children(&page_id), 1);

        let (status, _, got) = send(call(
            reqwest::Method::GET,
            &format!("/v1/pages/{page_id}"),
            Value::Null,
        ))
        .await;
        assert_eq!((status, got["id"].clone()), (200, json!(page_id)));
        let (status, _, got) = send(call(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{page_id}"),
            json!({"archived": true}),
        ))
        .await;
        assert_eq!((status, got["in_trash"].clone()), (200, json!(true)));

        // Errors.
        let missing = "00000000-0000-0000-0000-000000000404";
        let (status, _, body) = send(call(
            reqwest::Method::POST,
            "/v1/pages",
            json!({"parent": {"page_id": missing}, "properties": {}}),
        ))
        .await;
        assert_eq!(
            (status, body["code"].clone()),
            (404, json!("object_not_found"))
        );
        assert_eq!(body["object"], "error");
        let (status, _, body) = send(
            http.get(format!("{}/v1/pages/{page_id}", notion.base_url))
                .bearer_auth("ntn_test"),
        )
        .await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("missing_version"))
        );
        let (status, _, body) = send(
            http.get(format!("{}/v1/pages/{page_id}", notion.base_url))
                .bearer_auth("xoxb-wrong")
                .header("notion-version", "2025-09-03"),
        )
        .await;
        assert_eq!((status, body["code"].clone()), (401, json!("unauthorized")));

        // Appending children: at most 100 at a time.
        let block = "1f2e3d4c5b6a47988776655443322110";
        let paragraphs = |n: usize| {
            let child =
                json!({"object": "block", "type": "paragraph", "paragraph": {"rich_text": []}});
            json!({"children": vec![child; n]})
        };
        let (status, _, body) = send(call(
            reqwest::Method::PATCH,
            &format!("/v1/blocks/{block}/children"),
            paragraphs(3),
        ))
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["results"].as_array().map(Vec::len), Some(3));
        assert_eq!(body["results"][0]["type"], "paragraph");
        assert_eq!(
            body["results"][0]["parent"]["block_id"],
            "1f2e3d4c-5b6a-4798-8776-655443322110"
        );
        let (status, _, body) = send(call(
            reqwest::Method::PATCH,
            &format!("/v1/blocks/{block}/children"),
            paragraphs(101),
        ))
        .await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("validation_error"))
        );
        assert!(body["message"]
            .as_str()
            .unwrap_or("")
            .contains("body.children.length should be ≤ `100`"));
        assert_eq!(notion.notion_children(block), 3);

        // Query: 30 pages in pages of 7; a scripted 529 first.
        notion.script("/v1/data_sources", vec![Scripted::notion_overloaded()]);
        let source = "2a2b2c2d-3e3f-4a4b-8c8d-9e9f0a0b0c0d";
        let query = |cursor: &Value| {
            call(
                reqwest::Method::POST,
                &format!("/v1/data_sources/{source}/query"),
                json!({
                    "page_size": 7,
                    "start_cursor": cursor,
                    "filter": {"property": "Name", "title": {"is_not_empty": true}},
                }),
            )
        };
        let (status, _, body) = send(query(&Value::Null)).await;
        assert_eq!(
            (status, body["code"].clone()),
            (529, json!("service_unavailable"))
        );
        let mut cursor = Value::Null;
        let mut ids = Vec::new();
        loop {
            let (status, _, body) = send(query(&cursor)).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["type"], "page_or_data_source");
            let results = body["results"].as_array().cloned().unwrap_or_default();
            ids.extend(results.iter().map(|page| page["id"].clone()));
            cursor = body["next_cursor"].clone();
            assert_eq!(body["has_more"], !cursor.is_null());
            if cursor.is_null() {
                break;
            }
        }
        let unique: std::collections::HashSet<String> = ids.iter().map(Value::to_string).collect();
        assert_eq!((ids.len(), unique.len()), (30, 30));
        let (status, _, body) = send(call(
            reqwest::Method::POST,
            &format!("/v1/data_sources/{source}/query"),
            json!({"page_size": 101}),
        ))
        .await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("validation_error"))
        );

        assert_eq!(notion.count("POST", "/v1/data_sources/"), 7);

        // Scripted rate limit and outage on page creation, then normal.
        notion.script(
            "/v1/pages",
            vec![
                Scripted::rate_limited_notion(2),
                Scripted::notion_unavailable(),
            ],
        );
        let create = || {
            call(
                reqwest::Method::POST,
                "/v1/pages",
                json!({
                    "parent": {"data_source_id": source},
                    "properties": {"Name": {"title": []}},
                }),
            )
        };
        let (status, headers, body) = send(create()).await;
        assert_eq!((status, body["code"].clone()), (429, json!("rate_limited")));
        assert_eq!(header_text(&headers, "retry-after"), "2");
        let (status, _, body) = send(create()).await;
        assert_eq!(
            (status, body["code"].clone()),
            (503, json!("service_unavailable"))
        );
        let (status, _, body) = send(create()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["parent"]["data_source_id"], source);
        assert!(body["parent"]["database_id"].is_string());
        assert!(notion
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_some()));
    }
}
