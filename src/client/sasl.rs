//! The SASL exchange a client runs right after connecting (KIP-152): SaslHandshake v1 names
//! the mechanism, then SaslAuthenticate v2 requests carry the mechanism's tokens (made by the
//! security room's `SaslClient`) until the client's side is complete and the server answers
//! without error. The server's error message is passed on (it names no secret); no token is
//! ever logged.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::connection::{ClientError, KafkaConnection};
use crate::security::{SaslClient, SaslClientConfig};

const SASL_HANDSHAKE_VERSION: i16 = 1;
const SASL_AUTHENTICATE_VERSION: i16 = 2;
/// More round trips than any supported mechanism needs (SCRAM takes two).
const MAX_ROUND_TRIPS: usize = 4;

/// Authenticates `connection` with `config`. Returns the session lifetime the server set
/// (`connections.max.reauth.ms`, KIP-368), if any.
pub(crate) async fn authenticate(
    connection: &mut KafkaConnection,
    config: &SaslClientConfig,
    timeout: Duration,
) -> Result<Option<Duration>, ClientError> {
    let mechanism = config.mechanism().name();
    let address = connection.address().to_string();
    let refused = |reason: String| ClientError::Authentication {
        address: address.clone(),
        reason,
    };
    let handshake = connection
        .call_in_session(
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
            SASL_HANDSHAKE_VERSION,
            timeout,
        )
        .await?;
    if handshake.error_code != 0 {
        let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(refused(format!(
            "SaslHandshake refused {mechanism} (error code {}); the listener enables {}",
            handshake.error_code,
            offered.join(",")
        )));
    }
    let mut client = SaslClient::new(config.clone());
    let mut token = client.initial_token().map_err(|e| refused(e.to_string()))?;
    for _ in 0..MAX_ROUND_TRIPS {
        let response = connection
            .call_in_session(
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
                SASL_AUTHENTICATE_VERSION,
                timeout,
            )
            .await?;
        if response.error_code != 0 {
            let message = response
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            return Err(refused(format!(
                "{mechanism} as {}: error code {}: {message}",
                config.username(),
                response.error_code
            )));
        }
        match client
            .respond(&response.auth_bytes)
            .map_err(|e| refused(e.to_string()))?
        {
            Some(next) => token = next,
            None => {
                let lifetime = response.session_lifetime_ms;
                return Ok((lifetime > 0).then(|| Duration::from_millis(lifetime as u64)));
            }
        }
    }
    Err(refused(format!(
        "{mechanism} did not complete in {MAX_ROUND_TRIPS} round trips"
    )))
}
