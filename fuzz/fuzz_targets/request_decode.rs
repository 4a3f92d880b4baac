//! Arbitrary bytes through the wire layer's two entry points.
//!
//! 1. The whole input as one request frame body (what follows the 4-byte length prefix):
//!    `parse_request` must return `Ok` or `Err`, never panic and never allocate in proportion
//!    to a length or count read from the wire.
//! 2. The input as a stream of length-prefixed frames: `read_frame` is called until it reports
//!    a clean end or an error, with a small `max_len`, and every frame it yields is fed to
//!    `parse_request` as well. `read_frame` must consume exactly 4 + len bytes per frame and
//!    must never yield a frame longer than `max_len`.
//!
//! With `TROUPE_FUZZ_VERBOSE` set, each outcome is printed, which helps when replaying one
//! input: `TROUPE_FUZZ_VERBOSE=1 cargo fuzz run request_decode fuzz/seeds/request_decode/x`.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use troupe::protocol::frame::read_frame;
use troupe::protocol::{parse_request, ParsedRequest};

/// Deliberately small (the broker's default is 100 MiB) so that lengths on both sides of the
/// limit are reachable from fuzzer-sized inputs.
const MAX_FRAME_LEN: i32 = 4096;

/// One current-thread runtime per process. Reading from a byte slice never waits, so no I/O or
/// timer driver is needed.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("build current-thread runtime")
    })
}

fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("TROUPE_FUZZ_VERBOSE").is_some())
}

/// Decodes one frame body and checks what the decoder reports against the raw header bytes.
fn parse_and_check(frame: &[u8]) {
    let result = parse_request(Bytes::copy_from_slice(frame));
    if verbose() {
        match &result {
            Ok(ParsedRequest::Request { header, .. }) => eprintln!(
                "parse_request({} bytes): api key {} v{}",
                frame.len(),
                header.request_api_key,
                header.request_api_version
            ),
            Ok(ParsedRequest::UnsupportedApiVersions { .. }) => {
                eprintln!(
                    "parse_request({} bytes): unsupported ApiVersions",
                    frame.len()
                )
            }
            Err(e) => eprintln!("parse_request({} bytes): {e}", frame.len()),
        }
    }
    if let Ok(ParsedRequest::Request {
        version,
        correlation_id,
        header,
        ..
    }) = result
    {
        // parse_request reads key, version and correlation id by hand before decoding the
        // header with kafka-protocol; both readings of the same bytes must agree.
        assert!(
            frame.len() >= 8,
            "a decoded request needs an 8-byte header prefix"
        );
        assert_eq!(
            header.request_api_key,
            i16::from_be_bytes([frame[0], frame[1]])
        );
        assert_eq!(header.request_api_version, version);
        assert_eq!(header.correlation_id, correlation_id);
    }
}

fuzz_target!(|data: &[u8]| {
    parse_and_check(data);

    let rt = runtime();
    let mut reader: &[u8] = data;
    loop {
        let before = reader.len();
        let result = rt.block_on(read_frame(&mut reader, MAX_FRAME_LEN));
        if verbose() {
            match &result {
                Ok(Some(frame)) => eprintln!("read_frame: {} bytes", frame.len()),
                Ok(None) => eprintln!("read_frame: clean end"),
                Err(e) => eprintln!("read_frame: {e}"),
            }
        }
        match result {
            Ok(Some(frame)) => {
                assert!(
                    frame.len() <= MAX_FRAME_LEN as usize,
                    "read_frame yielded {} bytes with max_len {MAX_FRAME_LEN}",
                    frame.len()
                );
                assert_eq!(
                    before - reader.len(),
                    4 + frame.len(),
                    "read_frame consumed a different number of bytes than it framed"
                );
                parse_and_check(&frame);
            }
            Ok(None) => {
                assert_eq!(before, 0, "clean end reported with {before} bytes left");
                break;
            }
            Err(_) => break,
        }
    }
});
