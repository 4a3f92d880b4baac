//! FindCoordinator: the coordinator of a group (key type 0) is the leader of the group's
//! `__consumer_offsets` partition, that of a transactional id (key type 1) the leader of its
//! `__transaction_state` partition, as in Kafka; host and port are the leader's registered
//! ones. No live leader (the partition is being elected, or the internal topic is still being
//! created) answers COORDINATOR_NOT_AVAILABLE, which clients retry. Other key types are
//! INVALID_REQUEST. On one broker every partition is led here, so the answer is this broker.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{authorize, str_bytes};
use crate::actors::group_coordinator::{offsets_partition_for, OFFSETS_TOPIC};
use crate::actors::txn_coordinator::{txn_partition_for, TRANSACTION_STATE_TOPIC};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: FindCoordinatorRequest,
    version: i16,
    client: &ClientInfo,
) -> FindCoordinatorResponse {
    // v0 has no key type: groups only.
    let key_type = if version == 0 { 0 } else { req.key_type };
    let image = ctx.metadata.current();
    let listener = &*client.listener;
    let find = |key: &str| -> Result<Address, BrokerError> {
        // Kafka's check: DESCRIBE on the group or transactional id.
        let resource_type = match key_type {
            1 => ResourceType::TransactionalId,
            _ => ResourceType::Group,
        };
        authorize(ctx, client, AclOperation::Describe, resource_type, key)?;
        match key_type {
            0 => coordinator(
                &image,
                OFFSETS_TOPIC,
                offsets_partition_for(key, ctx.offsets_partitions),
                listener,
            ),
            1 => coordinator(
                &image,
                TRANSACTION_STATE_TOPIC,
                txn_partition_for(key, ctx.txn_partitions),
                listener,
            ),
            _ => Err(BrokerError::InvalidRequest(format!(
                "unknown coordinator key type {key_type}"
            ))),
        }
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let found = find(key.as_str());
                let c = Coordinator::default().with_key(key);
                match found {
                    Ok(b) => c
                        .with_node_id(BrokerId(b.id))
                        .with_host(str_bytes(&b.host))
                        .with_port(b.port),
                    Err(e) => c
                        .with_node_id(BrokerId(-1))
                        .with_host(StrBytes::default())
                        .with_port(-1)
                        .with_error_code(e.code()),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match find(req.key.as_str()) {
        Ok(b) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(b.id))
            .with_host(str_bytes(&b.host))
            .with_port(b.port),
        Err(e) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::default())
            .with_port(-1)
            .with_error_code(e.code()),
    }
}

/// A coordinator as the client is told to reach it.
#[derive(Debug)]
struct Address {
    id: i32,
    host: String,
    port: i32,
}

/// The broker that coordinates what `partition` of the internal `topic` holds: its leader,
/// if that broker is registered, not fenced and has the client's listener.
fn coordinator(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    listener: &str,
) -> Result<Address, BrokerError> {
    let leader = image
        .partition(topic, partition)
        .map(|p| p.leader)
        .ok_or(BrokerError::CoordinatorNotAvailable)?;
    if leader < 0 || !image.is_broker_live(leader) {
        return Err(BrokerError::CoordinatorNotAvailable);
    }
    let broker = image
        .brokers
        .get(&leader)
        .ok_or(BrokerError::CoordinatorNotAvailable)?;
    let (host, port) = broker
        .address_for(listener)
        .ok_or(BrokerError::CoordinatorNotAvailable)?;
    Ok(Address {
        id: broker.id,
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, partitions_led_by, topic};

    /// Brokers 1 and 2 (2 fenced); the offsets topic's partitions led by `leaders`.
    fn image(leaders: &[i32]) -> MetadataImage {
        let partitions = partitions_led_by(leaders, &[1, 2, 3]);
        test_support::image(&[1, 2], &[2], [topic(OFFSETS_TOPIC, partitions)])
    }

    #[test]
    fn the_coordinator_is_the_live_leader_of_the_keys_partition() {
        let image = image(&[1, 2, -1, 3]);
        let found = coordinator(&image, OFFSETS_TOPIC, 0, "").unwrap();
        assert_eq!(
            (found.id, found.host.as_str(), found.port),
            (1, "broker1", 9091)
        );
        // Fenced leader, no leader, unregistered leader, unknown partition or topic.
        for partition in [1, 2, 3, 4] {
            let e = coordinator(&image, OFFSETS_TOPIC, partition, "").unwrap_err();
            assert_eq!(e.code(), 15, "partition {partition}");
        }
        let e = coordinator(&image, TRANSACTION_STATE_TOPIC, 0, "").unwrap_err();
        assert_eq!(e.code(), 15);
    }

    #[test]
    fn the_coordinator_is_given_on_the_clients_listener() {
        let mut image = image(&[1]);
        image.brokers.get_mut(&1).unwrap().endpoints = vec![
            crate::metadata::BrokerEndpoint {
                listener: "PLAINTEXT".into(),
                host: "inside".into(),
                port: 9092,
            },
            crate::metadata::BrokerEndpoint {
                listener: "SASL_SSL".into(),
                host: "outside".into(),
                port: 9094,
            },
        ];
        let found = coordinator(&image, OFFSETS_TOPIC, 0, "SASL_SSL").unwrap();
        assert_eq!((found.host.as_str(), found.port), ("outside", 9094));
        // A listener the leader does not have: not available to this client.
        assert!(coordinator(&image, OFFSETS_TOPIC, 0, "SSL").is_err());
    }
}
