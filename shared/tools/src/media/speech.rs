//! `media.synthesize_speech`: text to speech through the first provider of the caller's
//! `provider_preference` that has a key and answers; a retryable failure (5xx, 429 past the
//! retries, transport) or a missing key moves on to the next, a refusal (4xx) stops. Every
//! provider sits behind [`SpeechProvider`]: how to ask it, nothing else; sending, retries,
//! measuring and storing are shared.

use serde_json::{json, Value};

use super::http::{self, Body, Request};
use super::limits::Limits;
use super::measure;
use super::store::{self, Media};
use crate::executor::Call;
use crate::usage::Usage;
use crate::ToolError;

/// What a synthesis asks for, provider-neutral.
#[derive(Debug)]
pub(crate) struct Ask<'a> {
    pub text: &'a str,
    /// The caller's voice: an OpenAI voice name (`alloy`) or, for ElevenLabs, a voice id.
    pub voice: Option<&'a str>,
}

/// A text-to-speech provider: its key name, its model and how to ask it for WAV audio.
pub(crate) trait SpeechProvider: Sync {
    /// The provider's id (`provider_preference` values, key names, receipts).
    fn id(&self) -> &'static str;
    /// The model used on `call`'s instance.
    fn model(&self, call: &Call<'_>) -> String;
    /// The request for `ask`; `Err` with why the provider cannot serve it (then skipped).
    fn request(&self, call: &Call<'_>, ask: &Ask<'_>) -> Result<Request, String>;
}

struct OpenAi;

impl SpeechProvider for OpenAi {
    fn id(&self) -> &'static str {
        "openai"
    }

    fn model(&self, call: &Call<'_>) -> String {
        call.instance
            .config
            .get("openai_tts_model")
            .cloned()
            .unwrap_or_else(|| "gpt-4o-mini-tts".into())
    }

    fn request(&self, call: &Call<'_>, ask: &Ask<'_>) -> Result<Request, String> {
        Ok(Request {
            url: format!("{}/v1/audio/speech", http::openai_base(call)),
            route: "POST /v1/audio/speech".into(),
            auth_header: "authorization",
            auth_prefix: "Bearer ",
            body: Body::Json(json!({
                "model": self.model(call),
                "input": ask.text,
                "voice": ask.voice.unwrap_or("alloy"),
                "response_format": "wav",
            })),
        })
    }
}

struct ElevenLabs;

impl SpeechProvider for ElevenLabs {
    fn id(&self) -> &'static str {
        "elevenlabs"
    }

    fn model(&self, call: &Call<'_>) -> String {
        call.instance
            .config
            .get("elevenlabs_model")
            .cloned()
            .unwrap_or_else(|| "eleven_multilingual_v2".into())
    }

    fn request(&self, call: &Call<'_>, ask: &Ask<'_>) -> Result<Request, String> {
        let config = &call.instance.config;
        // OpenAI voice names mean nothing here: the instance's voice id unless one is given.
        let voice = config
            .get("elevenlabs_voice_id")
            .map(String::as_str)
            .or(ask.voice.filter(|v| v.len() >= 16))
            .ok_or("no ElevenLabs voice id (instance elevenlabs_voice_id)")?;
        let format = config
            .get("elevenlabs_output_format")
            .map_or("wav_44100", String::as_str);
        let base = http::base_url(call, "elevenlabs_base_url", "https://api.elevenlabs.io");
        Ok(Request {
            url: format!(
                "{base}/v1/text-to-speech/{}?output_format={format}",
                crate::executor::encode_segment(voice)
            ),
            route: "POST /v1/text-to-speech/{voice_id}".into(),
            auth_header: "xi-api-key",
            auth_prefix: "",
            body: Body::Json(json!({"text": ask.text, "model_id": self.model(call)})),
        })
    }
}

/// Every speech provider, registered once.
const PROVIDERS: &[&dyn SpeechProvider] = &[&OpenAi, &ElevenLabs];

fn provider(id: &str) -> Option<&'static dyn SpeechProvider> {
    PROVIDERS.iter().copied().find(|p| p.id() == id)
}

pub(crate) async fn synthesize(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let limits = Limits::of(call.instance)?;
    let text = input
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ask = Ask {
        text,
        voice: input.get("voice").and_then(Value::as_str),
    };
    let preference: Vec<&str> = input
        .get("provider_preference")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["openai", "elevenlabs"]);
    let mut tried = Vec::new();
    let mut last_error: Option<ToolError> = None;
    for id in preference {
        let Some(provider) = provider(id) else {
            return Err(ToolError::invalid_input_message(format!(
                "unknown speech provider {id}"
            )));
        };
        let Some(key) = http::api_key(call, id).await? else {
            http::note_skipped(call, id, "no key for this workspace or the platform");
            tried.push(json!({"provider": id, "outcome": "skipped", "reason": "no key"}));
            continue;
        };
        let request = match provider.request(call, &ask) {
            Ok(r) => r,
            Err(why) => {
                http::note_skipped(call, id, &why);
                tried.push(json!({"provider": id, "outcome": "skipped", "reason": why}));
                continue;
            }
        };
        match http::send(call, &key, request).await {
            Ok(exchange) => {
                let model = provider.model(call);
                call.usage.push(Usage::new(
                    id,
                    &model,
                    &[("characters", text.chars().count() as f64)],
                ));
                tried.push(json!({"provider": id, "outcome": "ok"}));
                let audio = exchange.raw;
                limits.output_bytes(audio.len() as u64)?;
                let duration = measure::audio_duration_ms(&audio).ok_or_else(|| {
                    http::bad_answer("the provider's audio is not a WAV whose duration can be read")
                })?;
                limits.audio(duration)?;
                let artifact = store::put(
                    call,
                    &Media {
                        provider: id,
                        model: Some(&model),
                        mime_type: "audio/wav",
                        extension: "wav",
                        duration_ms: Some(duration),
                        dimensions: None,
                    },
                    &audio,
                )
                .await?;
                let described = store::describe(call, &artifact).await?;
                return Ok(
                    json!({"provider": id, "model": model, "artifact": described,
                    "attempts": tried}),
                );
            }
            Err(e) if e.retryable => {
                tried.push(json!({"provider": id, "outcome": e.code.as_str()}));
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        ToolError::auth("no speech provider of the preference has a key for this workspace")
    }))
}
