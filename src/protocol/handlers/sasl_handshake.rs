//! SaslHandshake (API 17): the client names a SASL mechanism; the answer lists the ones this
//! listener enables. v0 announced the legacy unframed exchange, v1 the KIP-152 one in which
//! tokens travel in SaslAuthenticate requests; both are answered the same, and the connection
//! refuses raw tokens after a v0 handshake (see `network::authentication`).

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::{illegal_sasl_state, sasl_error_code, NONE};
use crate::security::{SaslError, SaslMechanism, SaslSession};

/// Steps `session` with the requested mechanism.
pub fn handle(
    session: &mut SaslSession,
    req: &SaslHandshakeRequest,
) -> (SaslHandshakeResponse, Result<SaslMechanism, SaslError>) {
    let outcome = session.handshake(req.mechanism.as_str());
    let enabled = session
        .config()
        .mechanism_names()
        .into_iter()
        .map(StrBytes::from_static_str)
        .collect();
    let code = match &outcome {
        Ok(_) => NONE,
        Err(e) => sasl_error_code(e),
    };
    let response = SaslHandshakeResponse::default()
        .with_error_code(code)
        .with_mechanisms(enabled);
    (response, outcome)
}

/// Outside a SASL exchange (a listener without SASL, or after authentication).
pub fn illegal_state(_req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(illegal_sasl_state())
}
