//! Real media bytes: PNG images of a given size and WAV (PCM) audio of a given duration, and the
//! reverse (a WAV's duration, a PNG's size) read from the container headers. Shared with the
//! tests, which generate their inputs with the same code and check the tools' measurements.

/// A valid PNG of `width` x `height`: 1-bit grayscale, a checkerboard of 8-pixel squares, in
/// zlib "stored" blocks (no compression library needed; 1 bit per pixel keeps 1024x1024 at
/// ~130 KB).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let row_bytes = (width as usize).div_ceil(8);
    let mut raw = Vec::with_capacity((row_bytes + 1) * height as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for byte in 0..row_bytes {
            let mut b = 0u8;
            for bit in 0..8 {
                let x = byte * 8 + bit;
                if ((x / 8) + (y as usize / 8)) % 2 == 0 {
                    b |= 0x80 >> bit;
                }
            }
            raw.push(b);
        }
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // depth 1, grayscale, deflate, filter 0, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A zlib stream of uncompressed deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    if blocks.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// The width and height in a PNG's IHDR.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((w, h))
}

/// Sample rate of the WAVs made here.
pub const WAV_RATE: u32 = 8_000;

/// A mono 16-bit PCM WAV of `duration_ms` at [`WAV_RATE`]: a 440 Hz tone.
pub fn wav(duration_ms: u64) -> Vec<u8> {
    let samples = (u64::from(WAV_RATE) * duration_ms / 1000) as usize;
    let mut pcm = Vec::with_capacity(samples * 2);
    for i in 0..samples {
        let t = i as f64 / f64::from(WAV_RATE);
        let v = (t * 440.0 * std::f64::consts::TAU).sin() * 8_000.0;
        pcm.extend_from_slice(&(v as i16).to_le_bytes());
    }
    wav_from_pcm(&pcm)
}

/// `pcm` (mono s16le at [`WAV_RATE`]) in a RIFF/WAVE container.
pub fn wav_from_pcm(pcm: &[u8]) -> Vec<u8> {
    let len = u32::try_from(pcm.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(pcm.len() + 44);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&WAV_RATE.to_le_bytes());
    out.extend_from_slice(&(WAV_RATE * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

/// A WAV's duration from its `fmt ` byte rate and `data` size, walking the RIFF chunks.
pub fn wav_duration_ms(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut byte_rate = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if id == b"fmt " && body + 12 <= bytes.len() {
            byte_rate = Some(u32::from_le_bytes(
                bytes[body + 8..body + 12].try_into().ok()?,
            ));
        }
        if id == b"data" {
            let rate = u64::from(byte_rate.filter(|r| *r > 0)?);
            let size = size.min(bytes.len() - body) as u64;
            return Some(size * 1000 / rate);
        }
        at = body + size + (size % 2);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_wav_read_back() {
        let image = png(37, 21);
        assert_eq!(png_size(&image), Some((37, 21)));
        let audio = wav(2_500);
        assert_eq!(wav_duration_ms(&audio), Some(2_500));
        assert_eq!(audio.len(), 44 + 2 * 20_000);
    }
}
