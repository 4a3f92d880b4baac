//! SaslAuthenticate (API 36, KIP-152): one token of the exchange chosen by SaslHandshake.
//! The answer carries the server's next token, or SASL_AUTHENTICATION_FAILED with a message
//! that names no secret. From v1 it also carries the session lifetime (KIP-368; 0: none).

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::{illegal_sasl_state, sasl_error_code, NONE};
use crate::security::{SaslError, SaslSession, SaslStep, ScramCredential, ScramMechanism};

/// Steps `session` with the request's token; `scram_credential` looks a user's stored SCRAM
/// credential up.
pub fn handle(
    session: &mut SaslSession,
    req: &SaslAuthenticateRequest,
    scram_credential: impl FnOnce(&str, ScramMechanism) -> Option<ScramCredential>,
) -> (SaslAuthenticateResponse, Result<SaslStep, SaslError>) {
    let outcome = session.authenticate(&req.auth_bytes, scram_credential);
    let response = match &outcome {
        Ok(SaslStep::Challenge(token)) | Ok(SaslStep::Authenticated { token, .. }) => {
            SaslAuthenticateResponse::default()
                .with_error_code(NONE)
                .with_auth_bytes(token.clone().into())
        }
        Err(e) => SaslAuthenticateResponse::default()
            .with_error_code(sasl_error_code(e))
            .with_error_message(Some(StrBytes::from_string(e.to_string()))),
    };
    (response, outcome)
}

/// Outside a SASL exchange (a listener without SASL, or after authentication).
pub fn illegal_state() -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(illegal_sasl_state())
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate is not expected on this connection",
        )))
}
