//! The OpenAI media endpoints and ElevenLabs text-to-speech.

use base64::Engine;
use serde_json::{json, Value};

use crate::encode::{png, wav, wav_duration_ms, WAV_RATE};
use crate::{multipart, openai_error, MediaFake, Reply, Req, State, MS_PER_CHARACTER};

/// 401 unless the bearer token is [`MediaFake::OPENAI_KEY`].
pub(crate) fn authenticate(req: &Req) -> Result<(), Reply> {
    match req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        Some(key) if key == MediaFake::OPENAI_KEY => Ok(()),
        Some(_) => Err(Reply::json(
            401,
            &openai_error(
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
                "Incorrect API key provided.",
            ),
        )),
        None => Err(Reply::json(
            401,
            &openai_error(
                "invalid_request_error",
                None,
                None,
                "You didn't provide an API key.",
            ),
        )),
    }
}

fn body(req: &Req) -> Result<serde_json::Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(&req.bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reply::invalid(
            "body",
            "We could not parse the JSON body of your request.",
        )),
    }
}

/// What a model accepts.
struct ImageModel {
    sizes: &'static [&'static str],
    qualities: &'static [&'static str],
    max_n: u64,
    /// gpt-image models always answer `b64_json` and refuse `response_format`.
    always_b64: bool,
}

fn image_model(name: &str) -> Option<ImageModel> {
    Some(match name {
        "gpt-image-1" | "gpt-image-1-mini" | "gpt-image-1.5" => ImageModel {
            sizes: &["1024x1024", "1536x1024", "1024x1536", "auto"],
            qualities: &["low", "medium", "high", "auto"],
            max_n: 10,
            always_b64: true,
        },
        "dall-e-3" => ImageModel {
            sizes: &["1024x1024", "1792x1024", "1024x1792"],
            qualities: &["standard", "hd", "auto"],
            max_n: 1,
            always_b64: false,
        },
        "dall-e-2" => ImageModel {
            sizes: &["256x256", "512x512", "1024x1024"],
            qualities: &["standard", "auto"],
            max_n: 10,
            always_b64: false,
        },
        _ => return None,
    })
}

pub(crate) fn images(state: &mut State, req: &Req) -> Reply {
    let body = match body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let Some(prompt) = text("prompt").filter(|p| !p.is_empty()) else {
        return Reply::invalid("prompt", "Missing required parameter: 'prompt'.");
    };
    let model_name = text("model").unwrap_or("dall-e-2");
    let Some(model) = image_model(model_name) else {
        return Reply::json(
            404,
            &openai_error(
                "invalid_request_error",
                Some("model"),
                Some("model_not_found"),
                &format!("The model `{model_name}` does not exist."),
            ),
        );
    };
    let size = text("size").unwrap_or(if model.always_b64 {
        "auto"
    } else {
        "1024x1024"
    });
    if !model.sizes.contains(&size) {
        return Reply::invalid(
            "size",
            &format!(
                "Invalid value: '{size}'. Supported values are: {}.",
                model.sizes.join(", ")
            ),
        );
    }
    let quality = text("quality").unwrap_or("auto");
    if !model.qualities.contains(&quality) {
        return Reply::invalid("quality", &format!("Invalid value: '{quality}'."));
    }
    let n = body.get("n").map_or(Some(1), Value::as_u64).unwrap_or(0);
    if n < 1 || n > model.max_n {
        return Reply::invalid(
            "n",
            &format!(
                "Invalid 'n': must be between 1 and {} for {model_name}.",
                model.max_n
            ),
        );
    }
    let format = match (text("response_format"), model.always_b64) {
        (Some(_), true) => {
            return Reply::invalid("response_format", "Unknown parameter: 'response_format'.")
        }
        (None, true) => "b64_json",
        (None, false) => "url",
        (Some(f @ ("url" | "b64_json")), false) => f,
        (Some(f), false) => {
            return Reply::invalid("response_format", &format!("Invalid value: '{f}'."))
        }
    };
    let (size, quality) = match (size, quality) {
        ("auto", q) => ("1024x1024", q),
        (s, q) => (s, q),
    };
    let quality = match (quality, model.always_b64) {
        ("auto", true) => "high",
        ("auto", false) => "standard",
        (q, _) => q,
    };
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((1024, 1024));
    let image = png(w, h);
    let data: Vec<Value> = (0..n)
        .map(|_| {
            let mut item = if format == "b64_json" {
                json!({"b64_json": base64::engine::general_purpose::STANDARD.encode(&image)})
            } else {
                let id = format!("img_{}.png", uuid::Uuid::new_v4().simple());
                state.files.insert(id.clone(), image.clone());
                json!({"url": format!("{}/files/{id}", state.base_url)})
            };
            if model_name == "dall-e-3" {
                item["revised_prompt"] = json!(prompt);
            }
            item
        })
        .collect();
    let mut answer = json!({"created": 1_767_225_600u64, "data": data});
    if model.always_b64 {
        let input_tokens = prompt.split_whitespace().count() as u64;
        let output_tokens = n * 1056;
        answer["size"] = json!(size);
        answer["quality"] = json!(quality);
        answer["output_format"] = json!("png");
        answer["usage"] = json!({
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_tokens_details": {"text_tokens": input_tokens, "image_tokens": 0}
        });
    }
    Reply::json(200, &answer)
}

/// Speech audio for `text` in `format` (`wav` or `pcm`); `None` for formats the fake cannot
/// encode.
fn audio(text: &str, format: &str) -> Option<(&'static str, Vec<u8>)> {
    let duration = text.chars().count() as u64 * MS_PER_CHARACTER;
    let file = wav(duration);
    match format {
        "wav" => Some(("audio/wav", file)),
        "pcm" => Some(("audio/pcm", file[44..].to_vec())),
        _ => None,
    }
}

pub(crate) fn speech(req: &Req) -> Reply {
    let body = match body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    for field in ["model", "input", "voice"] {
        if text(field).is_none() {
            return Reply::invalid(field, &format!("Missing required parameter: '{field}'."));
        }
    }
    let input = text("input").unwrap_or_default();
    if input.chars().count() > 4096 {
        return Reply::invalid("input", "'input' is longer than 4096 characters.");
    }
    let format = text("response_format").unwrap_or("mp3");
    if !["mp3", "opus", "aac", "flac", "wav", "pcm"].contains(&format) {
        return Reply::invalid("response_format", &format!("Invalid value: '{format}'."));
    }
    match audio(input, format) {
        Some((mime, bytes)) => Reply::bytes(mime, bytes),
        None => Reply::invalid(
            "response_format",
            &format!("the media fake encodes only wav and pcm, not {format}"),
        ),
    }
}

pub(crate) fn elevenlabs_speech(req: &Req, voice: &str) -> Reply {
    if req.header("xi-api-key") != Some(MediaFake::ELEVENLABS_KEY) {
        return Reply::json(
            401,
            &json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.bytes) else {
        return Reply::json(
            422,
            &json!({"detail": [{"loc": ["body"], "msg": "invalid JSON"}]}),
        );
    };
    let Some(text) = body.get("text").and_then(Value::as_str) else {
        return Reply::json(
            422,
            &json!({"detail": [{"loc": ["body", "text"], "msg": "field required"}]}),
        );
    };
    if voice.is_empty() {
        return Reply::json(404, &json!({"detail": {"status": "voice_not_found"}}));
    }
    let format = match req.q("output_format").unwrap_or("mp3_44100_128") {
        f if f == format!("wav_{WAV_RATE}") => "wav",
        f if f == format!("pcm_{WAV_RATE}") => "pcm",
        other => {
            return Reply::json(
                400,
                &json!({"detail": {"status": "invalid_output_format",
                    "message": format!("the media fake encodes wav_8000 and pcm_8000, not {other}")}}),
            )
        }
    };
    match audio(text, format) {
        Some((mime, bytes)) => Reply::bytes(mime, bytes),
        None => Reply::json(500, &json!({"detail": "encoding"})),
    }
}

pub(crate) fn transcription(state: &State, req: &Req) -> Reply {
    let Some(parts) = multipart::parse(req.header("content-type").unwrap_or_default(), &req.bytes)
    else {
        return Reply::invalid("file", "Expected a multipart/form-data body.");
    };
    let part = |name: &str| parts.iter().find(|p| p.name == name);
    let Some(file) = part("file").filter(|p| p.filename.is_some()) else {
        return Reply::invalid("file", "Missing required parameter: 'file'.");
    };
    let Some(model) = part("model").map(multipart::Part::text) else {
        return Reply::invalid("model", "Missing required parameter: 'model'.");
    };
    let Some(duration_ms) = wav_duration_ms(&file.bytes) else {
        return Reply::invalid(
            "file",
            "Invalid file format. The media fake reads WAV (the real API also takes mp3, m4a, ...).",
        );
    };
    let format = part("response_format").map_or_else(|| "json".to_owned(), multipart::Part::text);
    let language = part("language").map_or_else(|| "english".to_owned(), multipart::Part::text);
    let text = state
        .transcript
        .clone()
        .unwrap_or_else(|| format!("A recording of {duration_ms} milliseconds."));
    let seconds = duration_ms as f64 / 1000.0;
    match format.as_str() {
        "text" => Reply::bytes("text/plain", text.into_bytes()),
        "json" => Reply::json(
            200,
            &json!({"text": text, "usage": {"type": "duration", "seconds": seconds.ceil()}}),
        ),
        "verbose_json" if model == "whisper-1" => {
            let words: Vec<&str> = text.split_whitespace().collect();
            let pieces = duration_ms.div_ceil(5_000).max(1) as usize;
            let per = words.len().div_ceil(pieces).max(1);
            let segments: Vec<Value> = words
                .chunks(per)
                .enumerate()
                .map(|(i, chunk)| {
                    let start = (i as f64) * seconds / pieces as f64;
                    let end = ((i + 1) as f64 * seconds / pieces as f64).min(seconds);
                    json!({"id": i, "seek": 0, "start": start, "end": end,
                        "text": format!(" {}", chunk.join(" ")), "tokens": [],
                        "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.2,
                        "no_speech_prob": 0.01})
                })
                .collect();
            Reply::json(
                200,
                &json!({"task": "transcribe", "language": language, "duration": seconds,
                    "text": text, "segments": segments,
                    "usage": {"type": "duration", "seconds": seconds.ceil()}}),
            )
        }
        "verbose_json" => Reply::invalid(
            "response_format",
            &format!("response_format 'verbose_json' is not compatible with model '{model}'"),
        ),
        other => Reply::invalid("response_format", &format!("Invalid value: '{other}'.")),
    }
}
