//! Media tools (`shared/integrations/media.json`): image generation, speech synthesis and
//! transcription, run against the platform's provider keys (a workspace may override them, see
//! `switchyard_oauth::keys`), with every produced or fetched binary stored as an artifact whose
//! facts (size, digest, duration, dimensions) are measured from the bytes.
//!
//! Limits ([`limits`]) are checked on what is known before a provider is paid: the requested
//! pixels of an image call, the measured duration and size of audio to transcribe; the produced
//! bytes are checked again before they are stored.

mod http;
mod image;
mod limits;
mod measure;
mod source;
mod speech;
mod store;
mod transcribe;

use serde_json::Value;

use crate::executor::Call;
use crate::ToolError;

/// The handlers this module runs (each also listed in `definitions::HANDLERS`).
const HANDLED: &[&str] = &[
    "media_generate_image",
    "media_synthesize_speech",
    "media_transcribe_audio",
];

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
        "media_generate_image" => image::generate(call, input).await,
        "media_synthesize_speech" => speech::synthesize(call, input).await,
        "media_transcribe_audio" => transcribe::transcribe(call, input).await,
        other => Err(ToolError::internal(&format!("no media handler {other}"))),
    }
}
