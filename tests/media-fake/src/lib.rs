//! A loopback fake of the OpenAI media endpoints and ElevenLabs text-to-speech, answering as
//! `shared/specs/providers/openai-openapi-media-llm.yaml` describes, with real media bytes:
//!
//! - `POST /v1/images/generations` (JSON `CreateImageRequest`): `gpt-image-1` (sizes
//!   `1024x1024|1536x1024|1024x1536|auto`, quality `low|medium|high|auto`, `n` 1–10, always
//!   `b64_json`, `usage` in the answer; `response_format` is refused as for the real model),
//!   `dall-e-3` (sizes `1024x1024|1792x1024|1024x1792`, quality `standard|hd`, `n` = 1,
//!   `response_format` `url|b64_json`, default `url`: the URL serves the PNG from this fake),
//!   `dall-e-2` (`256x256|512x512|1024x1024`). Each image is a real PNG of the requested size.
//! - `POST /v1/audio/speech` (JSON `CreateSpeechRequest`): `response_format` `wav` or `pcm`
//!   answer a real 8 kHz mono 16-bit WAV / raw PCM lasting [`MS_PER_CHARACTER`] per character of
//!   `input`. The fake has no MP3/Opus/AAC/FLAC encoder: those formats answer 400 here, so a
//!   client that asked for them would notice (the real API would serve them).
//! - `POST /v1/audio/transcriptions` (multipart: `file`, `model`, `language`, `prompt`,
//!   `response_format` `json|verbose_json|text`, `timestamp_granularities[]`): the transcript is
//!   [`MediaFake::set_transcript`]'s text (a default naming the duration otherwise); the
//!   duration is read from the uploaded WAV; `verbose_json` has `segments` of at most 5 s.
//! - `POST /v1/text-to-speech/{voice_id}` (ElevenLabs, header `xi-api-key`,
//!   `output_format=pcm_8000` or `wav_8000` in the query): the same WAV/PCM audio.
//!
//! Access: OpenAI wants `Authorization: Bearer` [`MediaFake::OPENAI_KEY`], ElevenLabs
//! `xi-api-key` [`MediaFake::ELEVENLABS_KEY`]; otherwise 401 with the provider's error body.
//! Every request is recorded ([`MediaFake::requests`]); canned answers can be queued under a
//! path prefix ([`MediaFake::script`]), e.g. a 429 with `retry-after` and `x-ratelimit-*`
//! headers ([`Scripted::rate_limited`]) or a 500.

pub mod encode;
mod multipart;
mod openai;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

/// Milliseconds of speech per character of input (about 15 characters a second).
pub const MS_PER_CHARACTER: u64 = 60;

/// Bodies larger than this are refused with 413 (OpenAI's upload limit is 25 MB).
const MAX_BODY: usize = 25 << 20;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `null`.
    pub body: Value,
    /// The body's bytes.
    pub bytes: Vec<u8>,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Scripted {
    /// OpenAI's error body `{"error": {"message", "type", "param", "code"}}` with `status`.
    pub fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: openai_error(kind, None, code, message),
        }
    }

    /// 500 `server_error`.
    pub fn server_error() -> Self {
        Self::error(
            500,
            "server_error",
            None,
            "The server had an error while processing your request.",
        )
    }

    /// 429 `rate_limit_exceeded` with `retry-after` and `x-ratelimit-*` headers.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut s = Self::error(
            429,
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests.",
        );
        s.headers = vec![
            ("retry-after".into(), retry_after_secs.to_string()),
            ("x-ratelimit-limit-requests".into(), "60".into()),
            ("x-ratelimit-remaining-requests".into(), "0".into()),
            (
                "x-ratelimit-reset-requests".into(),
                format!("{retry_after_secs}s"),
            ),
        ];
        s
    }
}

pub(crate) fn openai_error(
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
    message: &str,
) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

#[derive(Debug, Default)]
pub(crate) struct State {
    recorded: Vec<Recorded>,
    scripts: Vec<(String, VecDeque<Scripted>)>,
    pub(crate) transcript: Option<String>,
    /// PNGs served at `/files/<id>.png` (dall-e `url` answers).
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) base_url: String,
}

/// A running fake on `127.0.0.1:<ephemeral>`.
#[derive(Debug, Clone)]
pub struct MediaFake {
    /// `http://127.0.0.1:PORT`; OpenAI paths are under `/v1`, as are ElevenLabs'.
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl MediaFake {
    /// The OpenAI API key the fake accepts.
    pub const OPENAI_KEY: &'static str = "sk-test-media-fake";
    /// The ElevenLabs API key the fake accepts.
    pub const ELEVENLABS_KEY: &'static str = "xi-test-media-fake";

    /// Starts the fake on a loopback port.
    pub async fn start() -> MediaFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the media fake");
        let addr = listener.local_addr().expect("the fake's address");
        let base_url = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            base_url: base_url.clone(),
            ..State::default()
        }));
        let router = Router::new().fallback(serve).with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("media fake stopped: {error}");
            }
        });
        MediaFake { base_url, state }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// Queues `answers` for requests whose path starts with `prefix`, before normal behaviour.
    pub fn script(&self, prefix: &str, answers: Vec<Scripted>) {
        self.lock()
            .scripts
            .push((prefix.to_owned(), answers.into_iter().collect()));
    }

    /// The text transcriptions answer from now on.
    pub fn set_transcript(&self, text: &str) {
        self.lock().transcript = Some(text.to_owned());
    }
}

/// What a handler answers.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn bytes(content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            content_type,
            body,
        }
    }

    /// 400 `invalid_request_error` naming `param`.
    pub(crate) fn invalid(param: &str, message: &str) -> Self {
        Self::json(
            400,
            &openai_error("invalid_request_error", Some(param), None, message),
        )
    }
}

/// A request as the handlers see it.
#[derive(Debug)]
pub(crate) struct Req {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub bytes: Vec<u8>,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn serve(AxumState(state): AxumState<Arc<Mutex<State>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return respond(Reply::json(
                413,
                &openai_error("invalid_request_error", None, None, "request too large"),
            ))
        }
    };
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (k.to_owned(), v.replace("%2C", ","))
                })
                .collect()
        })
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = parts.uri.path().to_owned();
    let req = Req {
        path: path.clone(),
        query: query.clone(),
        headers: headers.clone(),
        bytes,
    };
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.recorded.push(Recorded {
        method: parts.method.to_string(),
        path: path.clone(),
        query,
        headers,
        body: serde_json::from_slice(&req.bytes).unwrap_or(Value::Null),
        bytes: req.bytes.clone(),
    });
    if let Some(reply) = scripted(&mut state, &path) {
        return respond(reply);
    }
    respond(route(&mut state, &parts.method, &req))
}

fn scripted(state: &mut State, path: &str) -> Option<Reply> {
    let answer = state
        .scripts
        .iter_mut()
        .find(|(prefix, queue)| path.starts_with(prefix.as_str()) && !queue.is_empty())?
        .1
        .pop_front()?;
    let mut reply = Reply::json(answer.status, &answer.body);
    reply.headers = answer.headers;
    Some(reply)
}

fn route(state: &mut State, method: &http::Method, req: &Req) -> Reply {
    if method == http::Method::GET {
        if let Some(id) = req.path.strip_prefix("/files/") {
            return match state.files.get(id) {
                Some(png) => Reply::bytes("image/png", png.clone()),
                None => Reply::json(404, &json!({"error": "not found"})),
            };
        }
    }
    if let Some(voice) = req.path.strip_prefix("/v1/text-to-speech/") {
        return openai::elevenlabs_speech(req, voice);
    }
    if method != http::Method::POST {
        return Reply::json(
            404,
            &openai_error("invalid_request_error", None, None, "Unknown request URL"),
        );
    }
    if let Err(reply) = openai::authenticate(req) {
        return reply;
    }
    match req.path.as_str() {
        "/v1/images/generations" => openai::images(state, req),
        "/v1/audio/speech" => openai::speech(req),
        "/v1/audio/transcriptions" => openai::transcription(state, req),
        _ => Reply::json(
            404,
            &openai_error(
                "invalid_request_error",
                None,
                None,
                &format!("Unknown request URL: POST {}", req.path),
            ),
        ),
    }
}

fn respond(reply: Reply) -> Response {
    let mut builder = Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type)
        .header(
            "x-request-id",
            format!("req_{}", uuid::Uuid::new_v4().simple()),
        );
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

#[cfg(test)]
mod tests;
