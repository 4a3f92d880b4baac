//! A blocking connection that speaks raw kafka-protocol frames, for tests that send requests
//! rdkafka does not expose, or at exact versions: one request out, its response back, the
//! correlation id checked and no byte left undecoded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::Broker;

pub struct RawConnection {
    stream: TcpStream,
    correlation_id: i32,
    client_id: &'static str,
}

impl RawConnection {
    pub fn open(b: &Broker, client_id: &'static str) -> RawConnection {
        Self::connect(&b.bootstrap(), client_id)
    }

    /// A connection to `addr` (a listener other than the broker's first).
    pub fn connect(addr: &str, client_id: &'static str) -> RawConnection {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        RawConnection {
            stream,
            correlation_id: 0,
            client_id,
        }
    }

    /// Sends `request` as `api` v`version` and decodes the answer.
    pub fn call(&mut self, api: ApiKey, version: i16, request: &RequestKind) -> ResponseKind {
        let mut response = self.exchange(api, version, |body| {
            request.encode(body, version).unwrap();
        });
        let decoded = ResponseKind::decode(api, &mut response, version)
            .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
        assert!(
            !response.has_remaining(),
            "{api:?} v{version}: trailing bytes"
        );
        decoded
    }

    /// `call` with the message types themselves.
    pub fn call_typed<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> Resp {
        let mut response = self.exchange(api, version, |body| {
            request.encode(body, version).unwrap();
        });
        let decoded = Resp::decode(&mut response, version)
            .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
        assert!(
            !response.has_remaining(),
            "{api:?} v{version}: trailing bytes"
        );
        decoded
    }

    /// `call_typed`, or the I/O error when the broker closed the connection instead of
    /// answering.
    pub fn try_call_typed<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> std::io::Result<Resp> {
        let mut response = self.try_exchange(api, version, |body| {
            request.encode(body, version).unwrap();
        })?;
        let decoded = Resp::decode(&mut response, version)
            .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
        assert!(
            !response.has_remaining(),
            "{api:?} v{version}: trailing bytes"
        );
        Ok(decoded)
    }

    /// Writes one frame (header, then the body `encode_body` writes) and returns the response
    /// body after its header, whose correlation id must be this request's.
    fn exchange(
        &mut self,
        api: ApiKey,
        version: i16,
        encode_body: impl FnOnce(&mut BytesMut),
    ) -> Bytes {
        self.try_exchange(api, version, encode_body)
            .unwrap_or_else(|e| panic!("{api:?} v{version}: connection dropped: {e}"))
    }

    fn try_exchange(
        &mut self,
        api: ApiKey,
        version: i16,
        encode_body: impl FnOnce(&mut BytesMut),
    ) -> std::io::Result<Bytes> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(self.client_id)));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api.request_header_version(version))
            .unwrap();
        encode_body(&mut body);
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame)?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut response = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut response)?;
        let mut response = Bytes::from(response);
        let header =
            ResponseHeader::decode(&mut response, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation_id);
        Ok(response)
    }
}
