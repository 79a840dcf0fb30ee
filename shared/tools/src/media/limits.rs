//! Per-workspace media limits: the workspace's `media` instance config, with defaults.
//!
//! | config key          | default      | checked on                                          |
//! |---------------------|--------------|-----------------------------------------------------|
//! | `max_input_bytes`   | 25 MiB       | audio to transcribe, before it is fetched in full   |
//! | `max_output_bytes`  | 25 MiB       | each produced image or audio, before it is stored   |
//! | `max_audio_seconds` | 600          | audio to transcribe (measured) and produced speech  |
//! | `max_image_pixels`  | 16 Mi pixels | `n` x width x height requested, before the call     |

use crate::error::ErrorCode;
use crate::instances::Instance;
use crate::ToolError;

/// The limits in force for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_input_bytes: u64,
    pub max_output_bytes: u64,
    pub max_audio_ms: u64,
    pub max_image_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 25 << 20,
            max_output_bytes: 25 << 20,
            max_audio_ms: 600_000,
            max_image_pixels: 16 << 20,
        }
    }
}

/// Which limit a call broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Breach {
    #[error("limit max_input_bytes: the input is {actual} bytes, over {limit}")]
    InputBytes { actual: u64, limit: u64 },
    #[error("limit max_output_bytes: the produced media is {actual} bytes, over {limit}")]
    OutputBytes { actual: u64, limit: u64 },
    #[error("limit max_audio_seconds: the audio lasts {actual_ms} ms, over {limit_ms} ms")]
    AudioDuration { actual_ms: u64, limit_ms: u64 },
    #[error(
        "limit max_image_pixels: {actual} pixels requested (n x width x height), over {limit}"
    )]
    ImagePixels { actual: u64, limit: u64 },
}

impl From<Breach> for ToolError {
    fn from(b: Breach) -> Self {
        ToolError::new(ErrorCode::LimitExceeded, b.to_string(), false)
    }
}

impl Limits {
    /// The instance's limits; an unreadable value is a misconfiguration, not a default.
    pub(crate) fn of(instance: &Instance) -> Result<Self, ToolError> {
        let d = Self::default();
        let read = |key: &str, default: u64| -> Result<u64, ToolError> {
            match instance.config.get(key) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| {
                    ToolError::misconfigured(&format!("{key} is not a whole number: {v:?}"))
                }),
            }
        };
        Ok(Self {
            max_input_bytes: read("max_input_bytes", d.max_input_bytes)?,
            max_output_bytes: read("max_output_bytes", d.max_output_bytes)?,
            max_audio_ms: read("max_audio_seconds", d.max_audio_ms / 1000)?.saturating_mul(1000),
            max_image_pixels: read("max_image_pixels", d.max_image_pixels)?,
        })
    }

    pub(crate) fn input_bytes(&self, actual: u64) -> Result<(), Breach> {
        (actual <= self.max_input_bytes)
            .then_some(())
            .ok_or(Breach::InputBytes {
                actual,
                limit: self.max_input_bytes,
            })
    }

    pub(crate) fn output_bytes(&self, actual: u64) -> Result<(), Breach> {
        (actual <= self.max_output_bytes)
            .then_some(())
            .ok_or(Breach::OutputBytes {
                actual,
                limit: self.max_output_bytes,
            })
    }

    pub(crate) fn audio(&self, actual_ms: u64) -> Result<(), Breach> {
        (actual_ms <= self.max_audio_ms)
            .then_some(())
            .ok_or(Breach::AudioDuration {
                actual_ms,
                limit_ms: self.max_audio_ms,
            })
    }

    pub(crate) fn pixels(&self, actual: u64) -> Result<(), Breach> {
        (actual <= self.max_image_pixels)
            .then_some(())
            .ok_or(Breach::ImagePixels {
                actual,
                limit: self.max_image_pixels,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaches_name_the_limit() {
        let limits = Limits {
            max_image_pixels: 1_000,
            ..Limits::default()
        };
        assert!(limits.pixels(1_000).is_ok());
        let error: ToolError = limits.pixels(1_001).expect_err("over").into();
        assert_eq!(error.code, ErrorCode::LimitExceeded);
        assert!(!error.retryable);
        assert!(
            error.message.contains("max_image_pixels"),
            "{}",
            error.message
        );
        assert!(Limits::default().audio(600_001).is_err());
    }
}
