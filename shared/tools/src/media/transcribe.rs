//! `media.transcribe_audio`: audio from an artifact, an S3 key or an attachment URL, measured
//! (duration from the container, size) and held to the limits before it is uploaded; the
//! transcript with segments when asked.

use serde_json::{json, Value};

use super::http::{self, Body, Request};
use super::limits::Limits;
use super::measure;
use super::source;
use super::store::{self, Media};
use crate::error::ErrorCode;
use crate::executor::Call;
use crate::usage::Usage;
use crate::ToolError;

const DEFAULT_MODEL: &str = "whisper-1";

/// A `multipart/form-data` body of text fields and one file.
fn multipart(fields: &[(&str, &str)], file: &[u8], filename: &str) -> (String, Vec<u8>) {
    let boundary = format!("switchyard{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::with_capacity(file.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) async fn transcribe(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let limits = Limits::of(call.instance)?;
    let audio = source::fetch(call, input, &limits).await?;
    limits.input_bytes(audio.bytes.len() as u64)?;
    let duration = measure::audio_duration_ms(&audio.bytes).ok_or_else(|| {
        ToolError::new(
            ErrorCode::InvalidInput,
            "the audio's duration cannot be read from its container (this build reads WAV)",
            false,
        )
    })?;
    // Before the provider is paid: the measured duration.
    limits.audio(duration)?;
    // A fetched attachment is kept like every binary the gateway handles.
    let stored = match audio.artifact {
        Some(a) => a,
        None => {
            store::put(
                call,
                &Media {
                    provider: "attachment",
                    model: None,
                    mime_type: "audio/wav",
                    extension: "wav",
                    duration_ms: Some(duration),
                    dimensions: None,
                },
                &audio.bytes,
            )
            .await?
        }
    };
    let Some(key) = http::api_key(call, "openai").await? else {
        return Err(ToolError::auth(
            "no OpenAI key for this workspace or the platform",
        ));
    };
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    let model = text("model").unwrap_or(DEFAULT_MODEL).to_owned();
    let segments = input.get("segments").and_then(Value::as_bool) == Some(true);
    let mut fields: Vec<(&str, &str)> = vec![
        ("model", &model),
        (
            "response_format",
            if segments { "verbose_json" } else { "json" },
        ),
    ];
    if segments {
        fields.push(("timestamp_granularities[]", "segment"));
    }
    for optional in ["language", "prompt"] {
        if let Some(v) = text(optional) {
            fields.push((optional, v));
        }
    }
    let (content_type, body) = multipart(&fields, &audio.bytes, &format!("{}.wav", stored.id));
    let exchange = http::send(
        call,
        &key,
        Request {
            url: format!("{}/v1/audio/transcriptions", http::openai_base(call)),
            route: "POST /v1/audio/transcriptions".into(),
            auth_header: "authorization",
            auth_prefix: "Bearer ",
            body: Body::Raw {
                content_type,
                bytes: body,
            },
        },
    )
    .await?;
    call.usage.push(Usage::new(
        "openai",
        &model,
        &[("audio_seconds", duration as f64 / 1000.0)],
    ));
    let answer = exchange.body;
    let transcript = answer
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| http::bad_answer("the transcription answer has no text"))?;
    let mut out = json!({
        "text": transcript,
        "model": model,
        "duration_ms": duration,
        "source_artifact_id": stored.id,
    });
    if let Some(language) = answer.get("language") {
        out["language"] = language.clone();
    }
    if let Some(url) = audio.url {
        out["source_url"] = json!(url);
    }
    if segments {
        let list: Vec<Value> = answer
            .get("segments")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .map(|seg| json!({"start": seg["start"], "end": seg["end"], "text": seg["text"]}))
                    .collect()
            })
            .unwrap_or_default();
        out["segments"] = json!(list);
    }
    Ok(out)
}
