//! Facts about media measured from the bytes, never taken from a provider's word: audio
//! duration from the container (symphonia), image dimensions from the header (imagesize).

use std::io::Cursor;

use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// A measured image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Image {
    pub width: u32,
    pub height: u32,
    pub mime: &'static str,
    pub extension: &'static str,
}

/// The dimensions and type of an image; `None` when the bytes are not a known image.
pub(crate) fn image(bytes: &[u8]) -> Option<Image> {
    let size = imagesize::blob_size(bytes).ok()?;
    let (mime, extension) = match imagesize::image_type(bytes).ok()? {
        imagesize::ImageType::Png => ("image/png", "png"),
        imagesize::ImageType::Jpeg => ("image/jpeg", "jpg"),
        imagesize::ImageType::Webp => ("image/webp", "webp"),
        _ => return None,
    };
    Some(Image {
        width: u32::try_from(size.width).ok()?,
        height: u32::try_from(size.height).ok()?,
        mime,
        extension,
    })
}

/// The duration of audio in a container symphonia reads (WAV and MP3 in this build), from its
/// frame count and sample rate (for an MP3 without a Xing/VBRI header, symphonia estimates the
/// count from the frame size: exact for constant bitrate); `None` when the container is unknown or does not say.
pub(crate) fn audio_duration_ms(bytes: &[u8]) -> Option<u64> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .ok()?;
    let track = probed.format.default_track()?;
    let frames = track.codec_params.n_frames?;
    let rate = u64::from(track.codec_params.sample_rate?);
    (rate > 0).then(|| frames.saturating_mul(1000) / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mono 16-bit WAV of `samples` at `rate`, written by hand.
    fn wav(rate: u32, samples: u32) -> Vec<u8> {
        let len = samples * 2;
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(36 + len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&len.to_le_bytes());
        out.resize(out.len() + len as usize, 0);
        out
    }

    #[test]
    fn wav_duration_is_measured_from_the_container() {
        assert_eq!(audio_duration_ms(&wav(16_000, 24_000)), Some(1_500));
        assert_eq!(audio_duration_ms(&wav(8_000, 80)), Some(10));
        assert_eq!(audio_duration_ms(b"not audio at all"), None);
    }

    /// `frames` MPEG-1 Layer III frames, mono, 48 kHz, 128 kbit/s constant bitrate: a header
    /// (`FF FB 94 C0`) and 380 zero bytes each (silent side info and main data), 1152 samples
    /// (24 ms) per frame.
    fn mp3(frames: usize) -> Vec<u8> {
        let mut frame = vec![0xFF, 0xFB, 0x94, 0xC0];
        frame.resize(144 * 128_000 / 48_000, 0);
        frame.repeat(frames)
    }

    #[test]
    fn mp3_duration_is_measured_from_the_frames_and_held_to_the_limit() {
        let three_seconds = mp3(125);
        let ms = audio_duration_ms(&three_seconds).expect("an MP3 is measured");
        assert_eq!(ms, 3_000);
        assert_eq!(audio_duration_ms(&mp3(50)), Some(1_200));
        let limits = super::super::limits::Limits {
            max_audio_ms: 2_000,
            ..Default::default()
        };
        assert!(limits.audio(ms).is_err(), "3 s of MP3 is over a 2 s limit");
        assert!(limits
            .audio(audio_duration_ms(&mp3(50)).unwrap_or(u64::MAX))
            .is_ok());
    }

    #[test]
    fn non_images_are_not_measured() {
        assert_eq!(image(b"GIF-ish nonsense"), None);
    }
}
