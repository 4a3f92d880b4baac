//! DescribeCluster: brokers (their addresses on the client's listener) and controller from
//! the `MetadataCache`.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::broker::BrokerContext;
use crate::protocol::ClientInfo;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    _req: DescribeClusterRequest,
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
}
