//! Made-up recordings for `http_put`: a real WAV (8 kHz, 16-bit mono, a quiet tone) or an
//! MP3-shaped payload (an ID3 tag and silent MPEG-1 Layer III frames), sized for the
//! recorded time. Enough for a web app to store and inspect; not meant to be listened to.

use std::time::Duration;

/// Longest recording made up, so a long simulated recording costs bounded memory.
const MAX: Duration = Duration::from_secs(60);

/// The bytes and content type of a recording of `length`, by the file's extension.
pub(super) fn recording(path: &str, length: Duration) -> (Vec<u8>, &'static str) {
    let length = length.min(MAX);
    if path.to_ascii_lowercase().ends_with(".wav") {
        (wav(length), "audio/wav")
    } else {
        (mp3(length), "audio/mpeg")
    }
}

fn wav(length: Duration) -> Vec<u8> {
    const RATE: u32 = 8000;
    let samples = (length.as_millis() as u32) * RATE / 1000;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let t = i as f32 / RATE as f32;
        let s = (t * 440.0 * std::f32::consts::TAU).sin() * 2000.0;
        out.extend_from_slice(&(s as i16).to_le_bytes());
    }
    out
}

fn mp3(length: Duration) -> Vec<u8> {
    // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames, 1152 samples each.
    const FRAME: usize = 417;
    let frames = ((length.as_millis() as usize) * 44_100 / 1152 / 1000).max(1);
    let mut out = Vec::with_capacity(10 + frames * FRAME);
    out.extend_from_slice(b"ID3\x04\x00\x00\x00\x00\x00\x00");
    for _ in 0..frames {
        let start = out.len();
        out.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        out.resize(start + FRAME, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_matches_its_data() {
        let (bytes, ct) = recording("/tmp/x.WAV", Duration::from_millis(500));
        assert_eq!(ct, "audio/wav");
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        let data_len = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]);
        assert_eq!(data_len, 8000);
        assert_eq!(bytes.len(), 44 + 8000);
    }

    #[test]
    fn mp3_is_frames_after_a_tag_and_bounded() {
        let (bytes, ct) = recording("/tmp/x.mp3", Duration::from_secs(3));
        assert_eq!(ct, "audio/mpeg");
        assert_eq!(&bytes[..3], b"ID3");
        assert_eq!(&bytes[10..12], &[0xFF, 0xFB]);
        assert_eq!((bytes.len() - 10) % 417, 0);
        let (long, _) = recording("/tmp/x.mp3", Duration::from_secs(3600));
        assert!(long.len() < 2 * 1024 * 1024);
    }
}
