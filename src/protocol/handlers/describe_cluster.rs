//! DescribeCluster: brokers (their addresses on the client's listener) and controller from
//! the `MetadataCache`. No check, as in Kafka; the principal's operations on the cluster
//! (KIP-430) when asked.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{authorized_operations, str_bytes, CLUSTER};
use crate::broker::BrokerContext;
use crate::protocol::ClientInfo;
use crate::security::authorizer::ResourceType;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DescribeClusterRequest,
    _version: i16,
    client: &ClientInfo,
) -> DescribeClusterResponse {
    let image = ctx.metadata.current();
    let brokers = image
        .brokers
        .values()
        .filter(|b| image.is_broker_live(b.id))
        .filter_map(|b| {
            let (host, port) = b.address_for(&client.listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.id))
                    .with_host(str_bytes(host))
                    .with_port(port)
                    .with_rack(b.rack.as_deref().map(str_bytes)),
            )
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(&image.cluster_id))
        .with_controller_id(BrokerId(image.controller_id))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            authorized_operations(ctx, client, ResourceType::Cluster, CLUSTER)
        } else {
            i32::MIN
        })
}
