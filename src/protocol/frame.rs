//! Kafka framing: a 4-byte big-endian length, then that many bytes.
//!
//! The length is checked before anything is allocated (negative or above
//! `socket.request.max.bytes` closes the connection), and the body buffer grows only as bytes
//! actually arrive, so a peer that announces a large frame and goes silent costs nothing.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame length {0} is negative")]
    NegativeLength(i32),
    #[error("frame length {len} exceeds socket.request.max.bytes={max}")]
    TooLarge { len: i32, max: i32 },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("i/o: {0}")]
    Io(String),
}

/// How much the body buffer grows per read: big frames are assembled chunk by chunk.
const READ_CHUNK: usize = 64 * 1024;

/// Reads one frame. `Ok(None)` is a clean close between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: i32,
) -> Result<Option<Bytes>, FrameError> {
    let mut len_buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = reader
            .read(&mut len_buf[got..])
            .await
            .map_err(|e| FrameError::Io(e.to_string()))?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let len = i32::from_be_bytes(len_buf);
    if len < 0 {
        return Err(FrameError::NegativeLength(len));
    }
    if len > max_len {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    let len = len as usize;
    let mut body = BytesMut::with_capacity(len.min(READ_CHUNK));
    while body.len() < len {
        let want = (len - body.len()).min(READ_CHUNK);
        body.reserve(want);
        let n = (&mut *reader)
            .take(want as u64)
            .read_buf(&mut body)
            .await
            .map_err(|e| FrameError::Io(e.to_string()))?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(Some(body.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: i32) -> Vec<Result<Option<Bytes>, FrameError>> {
        let mut r = input;
        let mut out = Vec::new();
        loop {
            let f = read_frame(&mut r, max).await;
            let stop = !matches!(f, Ok(Some(_)));
            out.push(f);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn reads_consecutive_frames_and_clean_eof() {
        let got = frames(b"\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x01c", 100).await;
        assert_eq!(got[0], Ok(Some(Bytes::from_static(b"ab"))));
        assert_eq!(got[1], Ok(Some(Bytes::new())));
        assert_eq!(got[2], Ok(Some(Bytes::from_static(b"c"))));
        assert_eq!(got[3], Ok(None));
    }

    #[tokio::test]
    async fn rejects_negative_and_oversized_lengths_before_allocating() {
        assert_eq!(
            frames(&(-5i32).to_be_bytes(), 100).await[0],
            Err(FrameError::NegativeLength(-5))
        );
        assert_eq!(
            frames(&2_000_000_000i32.to_be_bytes(), 100 * 1024 * 1024).await[0],
            Err(FrameError::TooLarge {
                len: 2_000_000_000,
                max: 100 * 1024 * 1024
            })
        );
    }

    #[tokio::test]
    async fn truncated_length_or_body_is_an_error() {
        assert_eq!(
            frames(b"\x00\x00", 100).await[0],
            Err(FrameError::Truncated)
        );
        assert_eq!(
            frames(b"\x00\x00\x00\x05abc", 100).await[0],
            Err(FrameError::Truncated)
        );
    }

    #[tokio::test]
    async fn large_frame_assembled_across_chunks() {
        let body = vec![7u8; 3 * READ_CHUNK + 11];
        let mut input = (body.len() as i32).to_be_bytes().to_vec();
        input.extend_from_slice(&body);
        let got = frames(&input, i32::MAX).await;
        assert_eq!(got[0].as_ref().unwrap().as_ref().unwrap().len(), body.len());
    }
}
