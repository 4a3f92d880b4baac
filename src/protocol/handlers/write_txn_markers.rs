//! WriteTxnMarkers: another broker's transaction coordinator asks this broker to write COMMIT
//! or ABORT markers into partitions it leads (the local `TxnCoordinator` writes its own
//! through `MarkerWriter::write_local` directly). Same path, same effect: `acks=all`, and
//! pending transactional offsets in `__consumer_offsets` decided. Never forwarded: a partition
//! not led here answers NOT_LEADER_OR_FOLLOWER and the sender routes again.
//! Kafka's check: CLUSTER_ACTION on the cluster (else every partition CLUSTER_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::{authorize, CLUSTER};
use crate::actors::txn_coordinator::markers::{MarkerOutcome, TxnMarker};
use crate::broker::BrokerContext;
use crate::error::{BrokerError, NONE};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: WriteTxnMarkersRequest,
    _version: i16,
    client: &ClientInfo,
) -> WriteTxnMarkersResponse {
    let allowed = authorize(
        ctx,
        client,
        AclOperation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER,
    );
    let mut markers = Vec::with_capacity(req.markers.len());
    for m in req.markers {
        let marker = TxnMarker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            commit: m.transaction_result,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in m.topics {
            let topic = t.name.to_string();
            let results = match &allowed {
                Ok(()) => {
                    let writes = t
                        .partition_indexes
                        .iter()
                        .map(|p| ctx.markers.write_local(&topic, *p, marker));
                    futures::future::join_all(writes).await
                }
                Err(e) => vec![Err(e.clone()); t.partition_indexes.len()],
            };
            let partitions = t
                .partition_indexes
                .iter()
                .zip(results)
                .map(|(p, r)| {
                    let code = match r {
                        Ok(MarkerOutcome::Written) => NONE,
                        Ok(MarkerOutcome::PartitionGone) => {
                            BrokerError::UnknownTopicOrPartition.code()
                        }
                        Err(e) => e.code(),
                    };
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(*p)
                        .with_error_code(code)
                })
                .collect();
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}
