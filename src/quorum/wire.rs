//! The quorum RPC protocol between nodes.
//!
//! A connection carries frames: `[u32 BE length][serde_json body]`, at most `MAX_FRAME_LEN`
//! bytes of body. The dialing side sends one `Request` and reads one `Response` before it sends
//! the next, so responses need no correlation id. A frame over the cap or a body that does not
//! decode ends that connection (the reader never allocates more than the bytes that arrived).

use std::io;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::types::{NodeId, TypeConfig};

/// Cap on one frame's body. Snapshot chunks (`SNAPSHOT_CHUNK_BYTES` of image, about 4× that as
/// a JSON byte array) and the largest metadata batch fit well under it.
pub(crate) const MAX_FRAME_LEN: usize = 64 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot (openraft 0.9's chunked transfer; the receiver reassembles).
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// An opaque controller request for the leader's `ForwardHandler`.
    Forward {
        from: i32,
        request: Vec<u8>,
    },
    /// An observer asks the leader to add it as a learner at `addr`.
    AddLearner {
        id: i32,
        addr: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Forward(Result<Vec<u8>, Refused>),
    AddLearner(Result<(), Refused>),
}

/// Why a node did not serve a `Forward` or `AddLearner`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Refused {
    /// Only the leader serves these; `leader` is who this node believes leads.
    NotLeader {
        leader: Option<i32>,
    },
    Failed(String),
}

/// Writes one frame.
pub(crate) async fn write_frame<W, T>(w: &mut W, msg: &T) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if body.len() > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "frame of {} bytes is over the {MAX_FRAME_LEN}-byte cap",
                body.len()
            ),
        ));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame; `Ok(None)` when the peer closed the connection between frames.
/// `InvalidData` for a frame over the cap or a body that does not decode.
pub(crate) async fn read_frame<R, T>(r: &mut R) -> io::Result<Option<T>>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame claims {len} bytes, over the {MAX_FRAME_LEN}-byte cap"),
        ));
    }
    // Grows with the bytes that actually arrive, not with the claimed length.
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("undecodable frame: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_bad_frames_are_errors_not_panics() {
        let req = Request::Forward {
            from: 3,
            request: b"hello".to_vec(),
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &req).await.unwrap();
        let mut rd = &buf[..];
        match read_frame::<_, Request>(&mut rd).await.unwrap() {
            Some(Request::Forward { from, request }) => {
                assert_eq!((from, &request[..]), (3, &b"hello"[..]))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            read_frame::<_, Request>(&mut rd).await.unwrap().is_none(),
            "clean EOF"
        );

        // Over the cap: refused before any allocation of that size.
        let huge = (u32::MAX).to_be_bytes();
        let err = read_frame::<_, Request>(&mut &huge[..]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // Claims more than arrives.
        let mut short = 100u32.to_be_bytes().to_vec();
        short.extend_from_slice(b"{}");
        let err = read_frame::<_, Request>(&mut &short[..]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

        // Not a request.
        let mut junk = 3u32.to_be_bytes().to_vec();
        junk.extend_from_slice(b"[1]");
        let err = read_frame::<_, Request>(&mut &junk[..]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
