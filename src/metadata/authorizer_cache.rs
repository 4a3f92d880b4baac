//! The ACL authorizer of the current metadata: a `StandardAuthorizer` built from the image's
//! ACL records, rebuilt when a newer image is asked about and swapped in atomically, so a
//! request's check takes no lock and allocates nothing.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::MetadataImage;
use crate::security::authorizer::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, AuthorizerConfig, PatternType,
    ResourcePattern, ResourceType, StandardAuthorizer,
};

/// Kafka's two spellings of `authorizer.class.name` that turn ACLs on.
pub fn is_standard_authorizer(class_name: &str) -> bool {
    matches!(
        class_name.trim(),
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer" | "standard"
    )
}

struct Built {
    /// The image version the authorizer was built from.
    version: u64,
    authorizer: Arc<StandardAuthorizer>,
}

pub struct AuthorizerCache {
    config: AuthorizerConfig,
    current: ArcSwap<Built>,
}

impl AuthorizerCache {
    pub fn new(config: AuthorizerConfig) -> AuthorizerCache {
        let empty =
            StandardAuthorizer::new(Vec::new(), config.clone()).expect("an empty ACL set is valid");
        AuthorizerCache {
            config,
            current: ArcSwap::from_pointee(Built {
                version: u64::MAX,
                authorizer: Arc::new(empty),
            }),
        }
    }

    /// The authorizer of `image`: the cached one if it was built from this version.
    pub fn authorizer(&self, image: &MetadataImage) -> Arc<StandardAuthorizer> {
        let built = self.current.load();
        if built.version == image.version {
            return built.authorizer.clone();
        }
        let bindings = acl_bindings(image);
        let authorizer = match StandardAuthorizer::new(bindings, self.config.clone()) {
            Ok(a) => Arc::new(a),
            Err(e) => {
                // The controller validated every ACL before writing it; a record that does not
                // parse now is a bug, and the ACLs in force stay as they were.
                tracing::error!(error = %e, "ACL records do not form a valid set; keeping the previous ACLs");
                return built.authorizer.clone();
            }
        };
        self.current.store(Arc::new(Built {
            version: image.version,
            authorizer: authorizer.clone(),
        }));
        authorizer
    }
}

/// The image's ACL records as bindings; a record with a code this build does not know is
/// left out (and logged), never widened.
pub fn acl_bindings(image: &MetadataImage) -> Vec<AclBinding> {
    image
        .acls
        .values()
        .filter_map(|r| {
            let binding = AclBinding::new(
                ResourcePattern::new(
                    ResourceType::from_code(r.resource_type)?,
                    r.resource_name.clone(),
                    PatternType::from_code(r.pattern_type)?,
                ),
                AccessControlEntry::new(
                    r.principal.clone(),
                    r.host.clone(),
                    AclOperation::from_code(r.operation)?,
                    AclPermissionType::from_code(r.permission_type)?,
                ),
            );
            Some(binding)
        })
        .collect()
}
