//! What an AI call consumed, in the units its price is quoted in, for the receipt's cost.
//!
//! A handler that calls a priced provider (LLM text, embeddings, images, speech, transcription)
//! pushes one [`Usage`] per provider call onto its `Call` — a fallback that tried two providers
//! records both, each with what it consumed (a refused call: nothing). The units are measured
//! or read from the provider's own usage report (tokens), never guessed:
//! - `input_tokens`, `output_tokens` (text generation), `embedding_tokens`;
//! - `images` (per image, the model key naming size and quality, e.g.
//!   `openai/gpt-image-1/1024x1024/high`);
//! - `characters` (speech synthesis);
//! - `audio_seconds` (transcription, measured from the container).
//!
//! The receipt carries every `Usage` and the cost computed from the versioned price table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One provider call's consumption.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// `openai`, `anthropic`, `elevenlabs`, ...
    pub provider: String,
    /// The price table's model key (the model id, qualified by size/quality for images).
    pub model: String,
    /// Unit name → amount.
    pub units: BTreeMap<String, f64>,
}

impl Usage {
    /// A usage of `model` at `provider` with the given units.
    pub fn new(provider: &str, model: &str, units: &[(&str, f64)]) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            units: units.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }
}
