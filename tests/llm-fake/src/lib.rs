//! A loopback fake of the LLM APIs the `llm.*` tools call, answering as the providers document
//! (`shared/specs/providers/openai-openapi-media-llm.yaml` for OpenAI; Anthropic's Messages API;
//! DeepSeek's OpenAI-compatible chat):
//!
//! - `POST /v1/chat/completions` (and `/chat/completions`, DeepSeek's path): `Authorization:
//!   Bearer <key>`; `messages` with string or part-array content (`text`, `image_url` parts are
//!   counted: the answer says how many images it saw); `response_format` `json_schema` answers
//!   a JSON object that matches the schema; `usage` `prompt_tokens` / `completion_tokens`.
//! - `POST /v1/embeddings`: `input` a string or an array (at most [`MAX_EMBEDDING_INPUTS`]);
//!   deterministic vectors from the text (hashed bag of words, L2-normalised, so texts sharing
//!   words are close; `dimensions` shortens them); `usage.prompt_tokens`.
//! - `POST /v1/messages` (Anthropic): `x-api-key` and `anthropic-version` headers, `max_tokens`
//!   required, `system`, content blocks, `usage` `input_tokens` / `output_tokens`, errors as
//!   `{"type":"error","error":{"type","message"}}`.
//!
//! Tokens are counted as whitespace-separated words (the fake's own tokenizer; what matters is
//! that the tool reports what the provider's `usage` says). Every request is recorded
//! ([`LlmFake::requests`]); canned answers can be queued under a path prefix
//! ([`LlmFake::script`]): a 429, a 500, Anthropic's 529 `overloaded_error`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};

/// OpenAI's limit on inputs per embeddings request.
pub const MAX_EMBEDDING_INPUTS: usize = 2048;
/// The dimension of `text-embedding-3-small` vectors (and of every vector here).
pub const EMBEDDING_DIMENSIONS: usize = 1536;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A canned answer for the next request under a path prefix.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub prefix: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

#[derive(Debug, Default)]
struct State {
    keys: Vec<String>,
    recorded: Vec<Recorded>,
    scripted: VecDeque<Scripted>,
}

/// A running fake on `127.0.0.1:<ephemeral>`.
#[derive(Debug, Clone)]
pub struct LlmFake {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl LlmFake {
    /// Starts the fake, accepting the API key `key`.
    pub async fn start(key: &str) -> LlmFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the LLM fake");
        let addr = listener.local_addr().expect("the fake's local address");
        let state = Arc::new(Mutex::new(State {
            keys: vec![key.to_owned()],
            ..State::default()
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("LLM fake stopped: {error}");
            }
        });
        LlmFake {
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

    /// Queues `status` with `body` for the next request whose path starts with `prefix`.
    pub fn script(&self, prefix: &str, status: u16, body: Value) {
        self.script_with_headers(prefix, status, &[], body);
    }

    /// [`LlmFake::script`] with response headers (`retry-after`).
    pub fn script_with_headers(
        &self,
        prefix: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        self.lock().scripted.push_back(Scripted {
            prefix: prefix.to_owned(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        });
    }

    /// The embedding of `text` this fake answers (for tests that rank by hand).
    pub fn embedding(text: &str) -> Vec<f64> {
        embed(text)
    }

    /// The embedding of `text` at `dimensions` (the request's `dimensions`).
    pub fn embedding_in(text: &str, dimensions: usize) -> Vec<f64> {
        embed_in(text, dimensions)
    }
}

fn answer(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [
            ("content-type", "application/json"),
            ("x-request-id", "req_fake"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (scripted, keys) = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        s.recorded.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            headers: headers.clone(),
            body: json.clone(),
        });
        let at = s.scripted.iter().position(|c| path.starts_with(&c.prefix));
        (at.and_then(|i| s.scripted.remove(i)), s.keys.clone())
    };
    if let Some(canned) = scripted {
        let mut response = answer(canned.status, &canned.body);
        for (k, v) in canned.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(&v),
            ) {
                response.headers_mut().insert(k, v);
            }
        }
        return response;
    }
    if method != Method::POST {
        return openai_error(404, "invalid_request_error", "not found");
    }
    match path.as_str() {
        "/v1/chat/completions" | "/chat/completions" => {
            if !bearer_ok(&headers, &keys) {
                return openai_error(401, "invalid_request_error", "Incorrect API key provided");
            }
            chat(&json)
        }
        "/v1/embeddings" => {
            if !bearer_ok(&headers, &keys) {
                return openai_error(401, "invalid_request_error", "Incorrect API key provided");
            }
            embeddings(&json)
        }
        "/v1/messages" => messages(&headers, &keys, &json),
        _ => openai_error(404, "invalid_request_error", "unknown path"),
    }
}

fn bearer_ok(headers: &HeaderMap, keys: &[String]) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| keys.iter().any(|x| x == k))
}

/// OpenAI's error shape.
fn openai_error(status: u16, kind: &str, message: &str) -> Response {
    answer(
        status,
        &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

/// Anthropic's error shape.
fn anthropic_error(status: u16, kind: &str, message: &str) -> Response {
    answer(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The text of a message's content (a string or parts) and how many images it carries.
fn content_text(content: &Value) -> (String, usize) {
    match content {
        Value::String(s) => (s.clone(), 0),
        Value::Array(parts) => {
            let mut text = Vec::new();
            let mut images = 0;
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => text.push(p["text"].as_str().unwrap_or_default().to_owned()),
                    Some("image_url" | "image") => images += 1,
                    _ => {}
                }
            }
            (text.join(" "), images)
        }
        _ => (String::new(), 0),
    }
}

/// The reply: an echo of the last user turn, with the images seen.
fn reply_to(messages: &[Value]) -> (String, usize, usize) {
    let mut prompt_words = 0;
    let mut last = String::new();
    let mut images = 0;
    for m in messages {
        let (text, seen) = content_text(&m["content"]);
        prompt_words += words(&text);
        images += seen;
        if m["role"] == "user" {
            last = text;
        }
    }
    let reply = if images > 0 {
        format!("I see {images} image(s). You said: {last}")
    } else {
        format!("You said: {last}")
    };
    (reply, prompt_words, images)
}

fn chat(body: &Value) -> Response {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return openai_error(
            400,
            "invalid_request_error",
            "'messages' is a required property",
        );
    };
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return openai_error(
            400,
            "invalid_request_error",
            "'model' is a required property",
        );
    };
    let (mut reply, prompt_tokens, _) = reply_to(messages);
    if let Some(schema) = body.pointer("/response_format/json_schema/schema") {
        reply = instance_of(schema).to_string();
    }
    let completion_tokens = words(&reply);
    answer(
        200,
        &json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": reply, "refusal": null}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}
        }),
    )
}

/// A value matching `schema` (objects with every property, first enum values, one item).
fn instance_of(schema: &Value) -> Value {
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    out.insert(k.clone(), instance_of(v));
                }
            }
            Value::Object(out)
        }
        Some("array") => json!([instance_of(schema.get("items").unwrap_or(&Value::Null))]),
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("null") => Value::Null,
        _ => json!("text"),
    }
}

fn embed(text: &str) -> Vec<f64> {
    embed_in(text, EMBEDDING_DIMENSIONS)
}

fn embed_in(text: &str, dimensions: usize) -> Vec<f64> {
    let mut v = vec![0.0; dimensions];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let lower = word.to_lowercase();
        // FNV-1a: stable across runs and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in lower.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let i = usize::try_from(h % dimensions as u64).unwrap_or(0);
        v[i] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn embeddings(body: &Value) -> Response {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => {
            return openai_error(
                400,
                "invalid_request_error",
                "'input' must be a string or an array of strings",
            )
        }
    };
    if inputs.is_empty() || inputs.len() > MAX_EMBEDDING_INPUTS {
        return openai_error(
            400,
            "invalid_request_error",
            &format!("'input' must have 1 to {MAX_EMBEDDING_INPUTS} items"),
        );
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let dimensions = match body.get("dimensions").map(Value::as_u64) {
        None => EMBEDDING_DIMENSIONS,
        Some(Some(d)) if (1..=EMBEDDING_DIMENSIONS as u64).contains(&d) => d as usize,
        Some(_) => {
            return openai_error(
                400,
                "invalid_request_error",
                &format!("'dimensions' must be 1 to {EMBEDDING_DIMENSIONS}"),
            )
        }
    };
    let tokens: usize = inputs.iter().map(|t| words(t)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed_in(t, dimensions)}))
        .collect();
    answer(
        200,
        &json!({"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

fn messages(headers: &HeaderMap, keys: &[String], body: &Value) -> Response {
    let key_ok = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| keys.iter().any(|x| x == k));
    if !key_ok {
        return anthropic_error(401, "authentication_error", "invalid x-api-key");
    }
    if headers.get("anthropic-version").is_none() {
        return anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let (Some(model), Some(messages), Some(_)) = (
        body.get("model").and_then(Value::as_str),
        body.get("messages").and_then(Value::as_array),
        body.get("max_tokens").and_then(Value::as_u64),
    ) else {
        return anthropic_error(
            400,
            "invalid_request_error",
            "model, messages and max_tokens are required",
        );
    };
    let (reply, mut input_tokens, _) = reply_to(messages);
    input_tokens += body.get("system").and_then(Value::as_str).map_or(0, words);
    answer(
        200,
        &json!({
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": words(&reply)}
        }),
    )
}

#[cfg(test)]
mod tests;
