//! A response frame as the connection writes it: bytes the project encoded, interleaved with
//! ranges of segment files that go from the page cache to the socket with `sendfile(2)`, never
//! through a user-space buffer. Every response but Fetch is one `Bytes` part.
//!
//! The frame's length prefix is part of the first bytes part and counts every part, so a file
//! range that comes up short (its segment was truncated under the read) cannot be papered over:
//! the connection is closed with a logged reason, as for any framing failure.
//!
//! A frame may also tell its connection to mute itself (KIP-219): read no further request
//! for the throttle time after the frame is written. A frame with no parts only mutes (a
//! throttled acks=0 produce, which gets no response).

use std::io;
use std::os::fd::AsRawFd;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::tcp::OwnedWriteHalf;

use crate::storage::FileSlice;

/// One piece of a response frame.
#[derive(Clone, Debug)]
pub enum ResponsePart {
    Bytes(Bytes),
    File(FileSlice),
}

impl ResponsePart {
    pub fn len(&self) -> usize {
        match self {
            ResponsePart::Bytes(b) => b.len(),
            ResponsePart::File(f) => f.len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole response frame (length prefix included) in order.
#[derive(Clone, Debug, Default)]
pub struct ResponseFrame {
    parts: Vec<ResponsePart>,
    /// Until when the connection reads no further request (a throttled response).
    mute_until: Option<std::time::Instant>,
}

impl From<Bytes> for ResponseFrame {
    fn from(b: Bytes) -> Self {
        ResponseFrame {
            parts: vec![ResponsePart::Bytes(b)],
            mute_until: None,
        }
    }
}

impl ResponseFrame {
    pub fn from_parts(parts: Vec<ResponsePart>) -> Self {
        ResponseFrame {
            parts,
            mute_until: None,
        }
    }

    /// The same frame, muting its connection for `throttle_ms` from now: the throttle was
    /// computed from the rate at the moment the request was recorded, so the mute counts from
    /// then, not from whenever the connection gets to write the frame (on a busy arbiter that
    /// delay, added to every throttled request, held a producer at 0.56 of its quota).
    pub fn muted_for(mut self, throttle_ms: i64) -> Self {
        self.mute_until = (throttle_ms > 0).then(|| {
            std::time::Instant::now() + std::time::Duration::from_millis(throttle_ms as u64)
        });
        self
    }

    /// Until when the connection must stop reading requests, if this frame was throttled.
    pub fn mute_until(&self) -> Option<std::time::Instant> {
        self.mute_until
    }

    pub fn parts(&self) -> &[ResponsePart] {
        &self.parts
    }

    /// Bytes on the wire, length prefix included.
    pub fn len(&self) -> usize {
        self.parts.iter().map(ResponsePart::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as one buffer, file ranges read in (tests, and callers that need bytes).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        if let [ResponsePart::Bytes(b)] = self.parts.as_slice() {
            return Ok(b.clone());
        }
        let mut out = BytesMut::with_capacity(self.len());
        for p in &self.parts {
            match p {
                ResponsePart::Bytes(b) => out.extend_from_slice(b),
                ResponsePart::File(f) => out.extend_from_slice(&f.read_bytes()?),
            }
        }
        Ok(out.freeze())
    }

    /// Writes the frame: bytes parts with `write`, file parts with `sendfile`. A frame with
    /// file parts is corked (`TCP_CORK`) while it is written, so the small encoded pieces
    /// between file ranges leave in full segments rather than one packet each.
    pub async fn write_to(&self, writer: &mut OwnedWriteHalf) -> io::Result<()> {
        if let [ResponsePart::Bytes(b)] = self.parts.as_slice() {
            return writer.write_all(b).await;
        }
        let fd = writer.as_ref().as_raw_fd();
        set_cork(fd, true);
        let written = self.write_parts(writer).await;
        set_cork(fd, false);
        written
    }

    /// Writes the frame through a stream that transforms bytes (TLS): file ranges are read
    /// into memory off the actor thread, then written like any other bytes.
    pub async fn write_copying<W: AsyncWrite + Unpin>(&self, writer: &mut W) -> io::Result<()> {
        for part in &self.parts {
            match part {
                ResponsePart::Bytes(b) => writer.write_all(b).await?,
                ResponsePart::File(f) => {
                    let slice = f.clone();
                    let bytes = tokio::task::spawn_blocking(move || slice.read_bytes())
                        .await
                        .map_err(io::Error::other)??;
                    if bytes.len() != f.len as usize {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "segment shorter than the range being sent (truncated under the read)",
                        ));
                    }
                    writer.write_all(&bytes).await?;
                }
            }
        }
        writer.flush().await
    }

    async fn write_parts(&self, writer: &mut OwnedWriteHalf) -> io::Result<()> {
        for part in &self.parts {
            match part {
                ResponsePart::Bytes(b) => writer.write_all(b).await?,
                ResponsePart::File(f) => send_file(writer, f).await?,
            }
        }
        Ok(())
    }
}

/// `sendfile(2)` of one file range to the socket, waiting for writability when the socket
/// buffer is full.
async fn send_file(writer: &mut OwnedWriteHalf, slice: &FileSlice) -> io::Result<()> {
    let stream = writer.as_ref();
    let socket = stream.as_raw_fd();
    let file = slice.file.as_raw_fd();
    let mut offset = slice.position as libc::off_t;
    let end = slice.position + slice.len as u64;
    while (offset as u64) < end {
        let want = (end - offset as u64) as usize;
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the duration of the call (the stream is
            // borrowed, the file is held by `slice`); `offset` is a valid, exclusive pointer.
            let n = unsafe { libc::sendfile(socket, file, &mut offset, want) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment shorter than the range being sent (truncated under the read)",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn set_cork(fd: std::os::fd::RawFd, on: bool) {
    let value: libc::c_int = on.into();
    // SAFETY: setsockopt on an open socket with a pointer to a local int of the right size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
