//! Client-side framing: a request with its header and length prefix, and the checks on a
//! response (its length before anything is allocated for it, its header's correlation id).
//! Both the broker's async connection and the admin CLI's blocking one read responses here.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Longest response accepted (a replica fetch response is bounded by
/// `replica.fetch.response.max.bytes` plus one oversized batch); a longer length prefix is
/// refused before any allocation follows it.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("encoding the request: {0}")]
    Encode(String),
    #[error("response length {0} is out of bounds")]
    Length(i32),
    #[error("decoding the response: {0}")]
    Decode(String),
    #[error("response out of order (correlation id {got}, expected {expected})")]
    OutOfOrder { expected: i32, got: i32 },
}

/// `request` at `version` with its header, behind a 4-byte length prefix: ready to write.
pub fn request_frame<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: StrBytes,
) -> Result<BytesMut, FrameError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id));
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0; 4]);
    let encode = |e: anyhow::Error| FrameError::Encode(e.to_string());
    header
        .encode(&mut frame, R::header_version(version))
        .map_err(encode)?;
    request.encode(&mut frame, version).map_err(encode)?;
    let length = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Ok(frame)
}

/// The body length a response's 4-byte prefix announces, if it is one to read.
pub fn response_length(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let length = i32::from_be_bytes(prefix);
    if length < 0 || length as usize > MAX_RESPONSE_BYTES {
        return Err(FrameError::Length(length));
    }
    Ok(length as usize)
}

/// Decodes a response body (header included) to the request sent with `correlation_id`.
pub fn decode_response<R: Request>(
    mut body: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response, FrameError> {
    let decode = |e: anyhow::Error| FrameError::Decode(e.to_string());
    let header =
        ResponseHeader::decode(&mut body, R::Response::header_version(version)).map_err(decode)?;
    if header.correlation_id != correlation_id {
        return Err(FrameError::OutOfOrder {
            expected: correlation_id,
            got: header.correlation_id,
        });
    }
    R::Response::decode(&mut body, version).map_err(decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn a_request_frame_carries_its_length_and_header() {
        let frame = request_frame(
            &ApiVersionsRequest::default(),
            0,
            7,
            StrBytes::from_static_str("t"),
        )
        .unwrap();
        let length = i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(length, frame.len() - 4);
        // api key 18 (ApiVersions), version 0, correlation id 7
        assert_eq!(&frame[4..12], &[0, 18, 0, 0, 0, 0, 0, 7]);
    }

    #[test]
    fn lengths_out_of_bounds_are_refused_before_reading() {
        assert_eq!(
            response_length((-1i32).to_be_bytes()),
            Err(FrameError::Length(-1))
        );
        let too_long = (MAX_RESPONSE_BYTES as i32) + 1;
        assert_eq!(
            response_length(too_long.to_be_bytes()),
            Err(FrameError::Length(too_long))
        );
        assert_eq!(response_length(12i32.to_be_bytes()), Ok(12));
    }

    #[test]
    fn a_response_to_another_request_is_refused() {
        let mut body = BytesMut::new();
        body.extend_from_slice(&5i32.to_be_bytes());
        ApiVersionsResponse::default().encode(&mut body, 0).unwrap();
        let body = body.freeze();
        assert!(decode_response::<ApiVersionsRequest>(body.clone(), 0, 5).is_ok());
        assert_eq!(
            decode_response::<ApiVersionsRequest>(body, 0, 6).unwrap_err(),
            FrameError::OutOfOrder {
                expected: 6,
                got: 5
            }
        );
    }
}
