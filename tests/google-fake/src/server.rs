//! Serving: recording, scripted answers, authentication and scopes, and routing to the products.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::calendar::Calendar;
use crate::channels::{Channel, GmailWatch};
use crate::docs::Document;
use crate::drive::Drive;
use crate::error::ApiError;
use crate::gmail::Mailbox;
use crate::{calendar, channels, docs, drive, gmail, SCOPE};

/// Bodies larger than this are refused with 413 (Drive's simple upload limit is far above what
/// tests send; the fake keeps memory bounded).
const MAX_BODY: usize = 64 << 20;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as sent (not percent-decoded), e.g. `/gmail/v1/users/me/messages`.
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Header names in lowercase with their values (lossy UTF-8), in order.
    pub headers: Vec<(String, String)>,
    /// A JSON body parsed; any other body as lossy UTF-8 text; no body as `null`.
    pub body: Value,
    /// The body's bytes as sent.
    pub bytes: Vec<u8>,
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

/// A canned answer (see [`crate::GoogleFake::script`]). A `null` body on an error status becomes
/// Google's error body for the status.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Scripted {
    /// `status` with JSON `body`.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Google's error body for `status` with `reason` and `message`.
    pub fn error(status: u16, reason: &'static str, message: &str) -> Self {
        Self::json(status, ApiError::new(status, reason, message).body())
    }

    /// 429 `RESOURCE_EXHAUSTED`, reason `rateLimitExceeded`, with `Retry-After: <secs>`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = ApiError::new(
            429,
            "rateLimitExceeded",
            "Resource has been exhausted (e.g. check quota).",
        );
        error.domain = "usageLimits";
        Self {
            status: 429,
            headers: vec![("Retry-After".to_owned(), retry_after_secs.to_string())],
            body: error.body(),
        }
    }

    /// 403 with `errors[0].reason` `reason` (`rateLimitExceeded` or `userRateLimitExceeded`),
    /// domain `usageLimits`: how Drive and Gmail signal rate limits besides 429.
    pub fn rate_limited_403(reason: &'static str) -> Self {
        let message = match reason {
            "userRateLimitExceeded" => "User Rate Limit Exceeded",
            _ => "Rate Limit Exceeded",
        };
        let mut error = ApiError::new(403, reason, message);
        error.domain = "usageLimits";
        Self::json(403, error.body())
    }

    /// `status` with Google's generic body for it (e.g. 500 `backendError`, 503).
    pub fn server_error(status: u16) -> Self {
        Self::json(status, Value::Null)
    }
}

/// What a handler answers.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

#[derive(Debug)]
pub(crate) enum ReplyBody {
    Json(Value),
    Bytes(Vec<u8>),
    Empty,
}

impl Reply {
    pub(crate) fn json(body: Value) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Json(body),
        }
    }

    /// 204 with no body (deletes, `channels.stop`, `users.stop`).
    pub(crate) fn empty() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: ReplyBody::Empty,
        }
    }

    pub(crate) fn bytes(content_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: ReplyBody::Bytes(bytes),
        }
    }
}

/// A request as the handlers see it.
#[derive(Debug)]
pub(crate) struct Req {
    pub method: http::Method,
    /// Percent-decoded path segments.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// The scopes of the caller's token.
    pub scopes: Vec<String>,
}

impl Req {
    /// The first value of query parameter `name`.
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a repeated query parameter.
    pub(crate) fn q_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// A boolean query parameter (`true`/`false`), `default` when absent.
    pub(crate) fn q_bool(&self, name: &str, default: bool) -> bool {
        self.q(name).map_or(default, |v| v == "true")
    }

    /// The JSON body; 400 `parseError` like Google when it is not JSON.
    pub(crate) fn json(&self) -> Result<Value, ApiError> {
        if self.bytes.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&self.bytes)
            .map_err(|_| ApiError::new(400, "parseError", "Invalid JSON payload received."))
    }

    /// The path segment at `index` (after the API prefix the route matched).
    pub(crate) fn seg(&self, index: usize) -> &str {
        self.segments.get(index).map_or("", String::as_str)
    }

    /// Whether the caller holds any of `scopes` (short names under `…/auth/` or full URLs).
    pub(crate) fn has_scope(&self, scopes: &[&str]) -> bool {
        scopes
            .iter()
            .any(|s| self.scopes.iter().any(|granted| *granted == full_scope(s)))
    }
}

/// The full URL of a scope: short names are under `https://www.googleapis.com/auth/`.
pub(crate) fn full_scope(scope: &str) -> String {
    if scope.starts_with("https://") {
        scope.to_owned()
    } else {
        format!("{SCOPE}{scope}")
    }
}

pub(crate) type Handler = fn(&mut State, &Req) -> Result<Reply, ApiError>;

/// A matched method: the scopes it accepts (any of, from its discovery document) and its handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub scopes: &'static [&'static str],
    pub handler: Handler,
}

/// The fake's whole state: tokens, recordings, scripts and each product's model.
#[derive(Debug)]
pub(crate) struct State {
    pub email: String,
    pub tokens: HashMap<String, Vec<String>>,
    pub recorded: Vec<crate::Recorded>,
    pub scripts: Vec<(String, VecDeque<Scripted>)>,
    pub clock_offset: i64,
    seq: u64,
    pub gmail: Mailbox,
    pub gmail_watch: Option<GmailWatch>,
    pub drive: Drive,
    pub calendars: BTreeMap<String, Calendar>,
    /// Sync tokens carry the epoch they were issued in; a newer epoch makes them stale (410).
    pub calendar_epoch: u64,
    pub docs: BTreeMap<String, Document>,
    pub channels: Vec<Channel>,
}

impl State {
    pub(crate) fn new(email: &str) -> Self {
        Self {
            email: email.to_owned(),
            tokens: HashMap::new(),
            recorded: Vec::new(),
            scripts: Vec::new(),
            clock_offset: 0,
            seq: 0,
            gmail: Mailbox::default(),
            gmail_watch: None,
            drive: Drive::default(),
            calendars: BTreeMap::new(),
            calendar_epoch: 1,
            docs: BTreeMap::new(),
            channels: Vec::new(),
        }
    }

    /// The fake's clock: real time plus [`crate::GoogleFake::advance_clock`]'s offset.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.clock_offset)
    }

    /// A fresh number for ids.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A fresh id: `prefix` then 16 lowercase hex digits (Gmail-like when `prefix` is empty).
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        let seq = self.next_seq();
        let salt = uuid::Uuid::new_v4().as_u128() as u64 & 0xffff_ff00_0000_0000;
        format!("{prefix}{:016x}", salt | seq)
    }

    fn take_scripted(&mut self, path: &str) -> Option<Scripted> {
        self.scripts
            .iter_mut()
            .find(|(prefix, queue)| path.starts_with(prefix.as_str()) && !queue.is_empty())
            .and_then(|(_, queue)| queue.pop_front())
    }
}

type Shared = Arc<Mutex<State>>;

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .fallback(serve)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::disable())
}

async fn serve(AxumState(state): AxumState<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => {
            return finish(Scripted::json(
                413,
                ApiError::new(413, "uploadTooLarge", "The request is too large.").body(),
            ))
        }
    };
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
    let body = if bytes.is_empty() {
        Value::Null
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(parse_pairs).unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path: path.clone(),
        query: query.clone(),
        headers: headers.clone(),
        body,
        bytes: bytes.clone(),
    };

    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.recorded.push(recorded);
    if let Some(scripted) = state.take_scripted(&path) {
        return finish(scripted);
    }
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    let mut req = Req {
        method: parts.method,
        segments,
        query,
        content_type,
        bytes,
        scopes: Vec::new(),
    };
    let Some(route) = route(&req) else {
        let error = ApiError::not_found(format!("The requested URL {path} was not found."));
        return finish(Scripted::json(404, error.body()));
    };
    let token = headers
        .iter()
        .find(|(name, _)| name == "authorization")
        .and_then(|(_, value)| value.strip_prefix("Bearer "))
        .and_then(|token| state.tokens.get(token.trim()));
    let Some(scopes) = token else {
        let error = ApiError::unauthenticated();
        let mut reply = Scripted::json(401, error.body());
        reply.headers.push((
            "WWW-Authenticate".to_owned(),
            "Bearer realm=\"https://accounts.google.com/\"".to_owned(),
        ));
        return finish(reply);
    };
    req.scopes = scopes.clone();
    if !req.has_scope(route.scopes) {
        return finish(Scripted::json(403, ApiError::insufficient_scope().body()));
    }
    match (route.handler)(&mut state, &req) {
        Ok(reply) => respond(reply),
        Err(error) => finish(Scripted::json(error.code, error.body())),
    }
}

/// The product route for the request, by its API prefix.
fn route(req: &Req) -> Option<Route> {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["gmail", "v1", "users", _, rest @ ..] => gmail::route(&req.method, rest),
        ["upload", "gmail", "v1", "users", _, rest @ ..] => gmail::upload_route(&req.method, rest),
        ["drive", "v3", rest @ ..] => drive::route(&req.method, rest),
        ["upload", "drive", "v3", "files"] if req.method == http::Method::POST => {
            Some(drive::UPLOAD_ROUTE)
        }
        ["calendar", "v3", "channels", "stop"] if req.method == http::Method::POST => {
            Some(channels::CALENDAR_STOP_ROUTE)
        }
        ["calendar", "v3", rest @ ..] => calendar::route(&req.method, rest),
        ["v1", "documents", rest @ ..] => docs::route(&req.method, rest),
        _ => None,
    }
}

fn respond(reply: Reply) -> Response {
    let mut response = Response::builder().status(reply.status);
    let mut has_type = false;
    for (name, value) in &reply.headers {
        has_type |= name.eq_ignore_ascii_case("content-type");
        response = response.header(name.as_str(), value.as_str());
    }
    let body = match reply.body {
        ReplyBody::Json(value) => {
            if !has_type {
                response = response.header("content-type", "application/json; charset=UTF-8");
            }
            Body::from(value.to_string())
        }
        ReplyBody::Bytes(bytes) => Body::from(bytes),
        ReplyBody::Empty => Body::empty(),
    };
    response
        .body(body)
        .expect("handler status and headers are valid HTTP")
}

fn finish(reply: Scripted) -> Response {
    let Scripted {
        status,
        mut headers,
        mut body,
    } = reply;
    if body.is_null() && status >= 400 {
        let reason = match status {
            429 => "rateLimitExceeded",
            500 => "backendError",
            503 => "backendError",
            _ => "error",
        };
        let reason_text = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        body = ApiError::new(status, reason, reason_text).body();
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "content-type".to_owned(),
            "application/json; charset=UTF-8".to_owned(),
        ));
    }
    let body = if status == 204 || body.is_null() {
        ReplyBody::Empty
    } else {
        ReplyBody::Json(body)
    };
    respond(Reply {
        status,
        headers,
        body,
    })
}

/// Query-string pairs, `+` as space.
pub(crate) fn parse_pairs(text: &str) -> Vec<(String, String)> {
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

/// RFC 3339 with milliseconds and `Z`, as Google writes times (`2026-01-02T03:04:05.000Z`).
pub(crate) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time (any offset) to UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `{}` shorthand for handlers that answer an object.
pub(crate) fn ok(body: Value) -> Result<Reply, ApiError> {
    Ok(Reply::json(body))
}
