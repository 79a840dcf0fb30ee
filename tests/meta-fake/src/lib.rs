//! A loopback fake of Meta's Graph API for the WhatsApp Cloud API, answering as
//! `shared/specs/providers/whatsapp-cloud-api.yaml` documents (any `v<major>.<minor>` version):
//!
//! - every request needs `Authorization: Bearer <token>`; otherwise Graph's error 190
//!   (`OAuthException`, HTTP 401);
//! - `POST /{version}/{phone_number_id}/messages`: `messaging_product: whatsapp`, `to`, `type`
//!   and the object of that type. Answers `{messaging_product, contacts: [{input, wa_id}],
//!   messages: [{id}]}` (templates add `message_status: accepted`). A `template` must exist in
//!   its language (else error 132001, HTTP 404) and be `APPROVED`; a free-form message needs
//!   the recipient to have written within 24 hours ([`MetaFake::inbound`]), else error 131047
//!   "Re-engagement message" (HTTP 400);
//! - `GET /{version}/{waba_id}/message_templates?name&limit&after`: `{data, paging: {cursors:
//!   {before, after}, next?}}`, `name` matching by substring as Graph does;
//! - `POST /{version}/{waba_id}/message_templates`: `name`, `language`, `category`,
//!   `components`; answers `{id, status: PENDING, category}`; a duplicate (name, language) is
//!   error 100 subcode 2388024 (HTTP 400). [`MetaFake::set_status`] approves or rejects;
//! - `POST /{version}/{phone_number_id}/media`: multipart `messaging_product=whatsapp` and
//!   `file` (with its content type); answers `{id}`.
//!
//! Errors use Graph's object `{"error": {message, type, code, error_subcode?, fbtrace_id}}`.
//! Every request is recorded ([`MetaFake::requests`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

/// How long after a person's message a free-form message may be sent.
pub const WINDOW_SECS: u64 = 24 * 3600;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    /// The raw body (multipart uploads).
    pub raw: Vec<u8>,
}

/// A message template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Value,
}

/// An uploaded media object.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub id: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    token: String,
    phone_number_id: String,
    waba_id: String,
    templates: Vec<Template>,
    /// wa_id -> unix seconds of their last message.
    inbound: BTreeMap<String, u64>,
    media: Vec<Media>,
    sent: Vec<Value>,
    recorded: Vec<Recorded>,
    next_id: u64,
}

/// A running fake on `127.0.0.1:<ephemeral>`.
#[derive(Debug, Clone)]
pub struct MetaFake {
    /// `http://127.0.0.1:PORT`: the Graph base URL.
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl MetaFake {
    /// Starts a Graph fake for one number and business account, accepting `token`.
    pub async fn start(token: &str, phone_number_id: &str, waba_id: &str) -> MetaFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the Meta fake");
        let addr = listener.local_addr().expect("the fake's local address");
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            waba_id: waba_id.to_owned(),
            next_id: 1,
            ..State::default()
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("Meta fake stopped: {error}");
            }
        });
        MetaFake {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// The requests to `/messages` (sends), in order.
    pub fn sends(&self) -> Vec<Value> {
        self.lock().sent.clone()
    }

    /// A template as if created and reviewed.
    pub fn add_template(&self, name: &str, language: &str, status: &str) {
        let mut s = self.lock();
        let id = s.id();
        s.templates.push(Template {
            id,
            name: name.to_owned(),
            language: language.to_owned(),
            category: "UTILITY".into(),
            status: status.to_owned(),
            components: json!([{"type": "BODY", "text": "Hello {{1}}"}]),
        });
    }

    /// Meta's review decision on a template (every language of `name`).
    pub fn set_status(&self, name: &str, status: &str) {
        for t in self.lock().templates.iter_mut().filter(|t| t.name == name) {
            t.status = status.to_owned();
        }
    }

    /// The templates, in creation order.
    pub fn templates(&self) -> Vec<Template> {
        self.lock().templates.clone()
    }

    /// `wa_id` wrote to the number at `at` (what Meta knows of the window).
    pub fn inbound(&self, wa_id: &str, at: u64) {
        self.lock().inbound.insert(wa_id.to_owned(), at);
    }

    /// The uploaded media.
    pub fn media(&self) -> Vec<Media> {
        self.lock().media.clone()
    }
}

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{}", 900_000_000_000_000 + self.next_id)
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

/// Graph's error object.
fn graph_error(
    status: u16,
    code: u64,
    subcode: Option<u64>,
    kind: &str,
    message: &str,
) -> Response {
    let mut error = json!({
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": "AXsgnV2Cm3ZMGF3dF_cfYIn",
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    answer(status, &json!({"error": error}))
}

fn invalid(message: &str) -> Response {
    graph_error(
        400,
        100,
        None,
        "OAuthException",
        &format!("(#100) {message}"),
    )
}

fn query_params(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
        raw: body.to_vec(),
    });
    let expected = format!("Bearer {}", s.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return graph_error(
            401,
            190,
            None,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token",
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let [version, node, edge] = segments.as_slice() else {
        return graph_error(400, 2500, None, "OAuthException", "Unknown path components");
    };
    if !version.starts_with('v') {
        return graph_error(400, 2500, None, "OAuthException", "Unknown path components");
    }
    let phone = s.phone_number_id.clone();
    let waba = s.waba_id.clone();
    match (method.as_str(), *node, *edge) {
        ("POST", n, "messages") if n == phone => send(&mut s, &parsed),
        ("POST", n, "media") if n == phone => upload(&mut s, &headers, &body),
        ("GET", n, "message_templates") if n == waba => list(&s, &query_params(&query)),
        ("POST", n, "message_templates") if n == waba => create(&mut s, &parsed),
        _ => graph_error(
            400,
            100,
            Some(33),
            "GraphMethodException",
            "Unsupported request - method type or object does not exist",
        ),
    }
}

fn send(s: &mut State, body: &Value) -> Response {
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return invalid("The parameter messaging_product is required.");
    }
    let Some(to) = body.get("to").and_then(Value::as_str) else {
        return invalid("The parameter to is required.");
    };
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("text");
    if body.get(kind).is_none() {
        return invalid(&format!("The parameter {kind} is required."));
    }
    let wa_id = to.trim_start_matches('+').to_owned();
    if kind == "template" {
        let name = body
            .pointer("/template/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let language = body
            .pointer("/template/language/code")
            .and_then(Value::as_str)
            .unwrap_or("");
        let found = s
            .templates
            .iter()
            .find(|t| t.name == name && t.language == language);
        match found {
            None => {
                return graph_error(
                    404,
                    132_001,
                    None,
                    "OAuthException",
                    "(#132001) Template name does not exist in the translation",
                )
            }
            Some(t) if t.status != "APPROVED" => {
                return graph_error(
                    400,
                    132_015,
                    None,
                    "OAuthException",
                    "(#132015) Template is paused or not approved",
                )
            }
            Some(_) => {}
        }
    } else {
        let open = s
            .inbound
            .get(&wa_id)
            .is_some_and(|at| now().saturating_sub(*at) < WINDOW_SECS);
        if !open {
            return graph_error(
                400,
                131_047,
                None,
                "OAuthException",
                "(#131047) Re-engagement message: more than 24 hours have passed since the recipient last replied to the sender number",
            );
        }
    }
    s.sent.push(body.clone());
    let id = format!("wamid.HBgL{}", s.id());
    let mut message = json!({"id": id});
    if kind == "template" {
        message["message_status"] = json!("accepted");
    }
    answer(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [message],
        }),
    )
}

fn template_json(t: &Template) -> Value {
    json!({"name": t.name, "language": t.language, "status": t.status, "category": t.category,
           "id": t.id, "components": t.components})
}

fn list(s: &State, params: &BTreeMap<String, String>) -> Response {
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let start: usize = params
        .get("after")
        .and_then(|a| a.strip_prefix("c"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let matching: Vec<&Template> = s
        .templates
        .iter()
        .filter(|t| {
            params
                .get("name")
                .is_none_or(|n| t.name.contains(n.as_str()))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|t| template_json(t))
        .collect();
    let end = start + page.len();
    let mut paging =
        json!({"cursors": {"before": format!("c{start}"), "after": format!("c{end}")}});
    if end < matching.len() {
        paging["next"] = json!(format!(
            "https://graph.facebook.com/message_templates?after=c{end}"
        ));
    }
    answer(200, &json!({"data": page, "paging": paging}))
}

fn create(s: &mut State, body: &Value) -> Response {
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (name, language, category) = (text("name"), text("language"), text("category"));
    if name.is_empty() || language.is_empty() || category.is_empty() {
        return invalid("name, language and category are required");
    }
    if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
        return invalid("Param category must be one of {AUTHENTICATION, MARKETING, UTILITY}");
    }
    if s.templates
        .iter()
        .any(|t| t.name == name && t.language == language)
    {
        return graph_error(
            400,
            100,
            Some(2_388_024),
            "OAuthException",
            "Message template already exists with this name and language",
        );
    }
    let id = s.id();
    s.templates.push(Template {
        id: id.clone(),
        name,
        language,
        category: category.clone(),
        status: "PENDING".into(),
        components: body.get("components").cloned().unwrap_or_else(|| json!([])),
    });
    answer(
        200,
        &json!({"id": id, "status": "PENDING", "category": category}),
    )
}

/// The parts of a `multipart/form-data` body: name -> (content type, bytes).
fn multipart(headers: &HeaderMap, body: &[u8]) -> Option<BTreeMap<String, (String, Vec<u8>)>> {
    let content_type = headers.get("content-type")?.to_str().ok()?;
    let boundary = content_type
        .strip_prefix("multipart/form-data")?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = BTreeMap::new();
    let mut rest = text;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let rest_after_crlf = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let header_end = find(rest_after_crlf, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest_after_crlf[..header_end]).into_owned();
        let content = &rest_after_crlf[header_end + 4..];
        let end = find(content, delimiter.as_bytes())?;
        let bytes = content[..end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&content[..end]);
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split("\r\n")
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_owned()
            })?;
        let part_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default();
        parts.insert(name, (part_type, bytes.to_vec()));
        rest = &content[end..];
    }
    Some(parts)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn upload(s: &mut State, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(parts) = multipart(headers, body) else {
        return invalid("The request must be multipart/form-data");
    };
    if parts.get("messaging_product").map(|(_, v)| v.as_slice()) != Some(b"whatsapp".as_slice()) {
        return invalid("The parameter messaging_product is required.");
    }
    let Some((content_type, bytes)) = parts.get("file") else {
        return invalid("The parameter file is required.");
    };
    let id = s.id();
    s.media.push(Media {
        id: id.clone(),
        content_type: content_type.clone(),
        bytes: bytes.clone(),
    });
    answer(200, &json!({"id": id}))
}
