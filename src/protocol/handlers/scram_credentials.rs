//! AlterUserScramCredentials (committed by the `Controller`, which derives the stored keys from
//! the client's salted password) and DescribeUserScramCredentials (answered from this node's
//! metadata image: mechanisms and iterations only, never salts or keys).

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::{authorize, str_bytes, CLUSTER};
use crate::actors::controller::{AlterScramCredentials, ScramUpsertion};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn alter(
    ctx: &Arc<BrokerContext>,
    req: AlterUserScramCredentialsRequest,
    _version: i16,
    client: &ClientInfo,
) -> AlterUserScramCredentialsResponse {
    let refused = authorize(
        ctx,
        client,
        AclOperation::Alter,
        ResourceType::Cluster,
        CLUSTER,
    )
    .err();
    let call = AlterScramCredentials {
        deletions: req
            .deletions
            .iter()
            .map(|d| (d.name.to_string(), d.mechanism))
            .collect(),
        upsertions: req
            .upsertions
            .iter()
            .map(|u| ScramUpsertion {
                name: u.name.to_string(),
                mechanism: u.mechanism,
                iterations: u.iterations,
                salt: u.salt.to_vec(),
                salted_password: u.salted_password.to_vec(),
            })
            .collect(),
    };
    let sent = match refused {
        Some(e) => Err(e),
        None => ctx.controller.send(call).await.map_err(BrokerError::from),
    };
    let results = match sent {
        Ok(results) => results,
        Err(e) => {
            let users: BTreeSet<String> = req
                .deletions
                .iter()
                .map(|d| d.name.to_string())
                .chain(req.upsertions.iter().map(|u| u.name.to_string()))
                .collect();
            users.into_iter().map(|u| (u, Err(e.clone()))).collect()
        }
    };
    let results = results
        .into_iter()
        .map(|(user, outcome)| {
            let (code, message) = BrokerError::code_and_message(&outcome);
            AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(&user))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

pub async fn describe(
    ctx: &Arc<BrokerContext>,
    req: DescribeUserScramCredentialsRequest,
    _version: i16,
    client: &ClientInfo,
) -> DescribeUserScramCredentialsResponse {
    let refused = authorize(
        ctx,
        client,
        AclOperation::Describe,
        ResourceType::Cluster,
        CLUSTER,
    )
    .err();
    if let Some(e) = refused {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(&e.to_string())));
    }
    let image = ctx.metadata.current();
    let named: Option<Vec<String>> = req
        .users
        .filter(|u| !u.is_empty())
        .map(|u| u.iter().map(|n| n.name.to_string()).collect());
    let results = describe_users(&image, named.as_deref())
        .into_iter()
        .map(|(user, outcome)| {
            let (code, message) = BrokerError::code_and_message(&outcome);
            let infos = outcome
                .unwrap_or_default()
                .into_iter()
                .map(|(mechanism, iterations)| {
                    CredentialInfo::default()
                        .with_mechanism(mechanism)
                        .with_iterations(iterations)
                })
                .collect();
            DescribeUserScramCredentialsResult::default()
                .with_user(str_bytes(&user))
                .with_error_code(code)
                .with_error_message(message)
                .with_credential_infos(infos)
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// One user's (mechanism code, iterations) per credential, or why it is not described.
pub type UserCredentialInfos = Result<Vec<(i8, i32)>, BrokerError>;

/// Per user, its (mechanism code, iterations); `None` names every user with a credential.
/// A user named twice gets DUPLICATE_RESOURCE (once), a named user without any credential
/// RESOURCE_NOT_FOUND.
pub fn describe_users(
    image: &MetadataImage,
    named: Option<&[String]>,
) -> Vec<(String, UserCredentialInfos)> {
    let infos = |user: &str| {
        image.scram_credentials.get(user).map(|m| {
            m.iter()
                .map(|(mechanism, c)| (*mechanism, c.iterations))
                .collect::<Vec<_>>()
        })
    };
    let Some(named) = named else {
        return image
            .scram_credentials
            .keys()
            .map(|u| (u.clone(), Ok(infos(u).unwrap_or_default())))
            .collect();
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for user in named {
        if !seen.insert(user.as_str()) {
            continue;
        }
        let outcome = if named.iter().filter(|u| *u == user).count() > 1 {
            Err(BrokerError::DuplicateResource(
                "cannot describe SCRAM credentials for the same user twice in a single request"
                    .into(),
            ))
        } else {
            infos(user).ok_or_else(|| {
                BrokerError::ResourceNotFound(
                    "attempt to describe a user credential that does not exist".into(),
                )
            })
        };
        out.push((user.clone(), outcome));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ResponseError;
    use crate::metadata::{MetadataRecord, UserScramCredentialRecord};
    use crate::security::{ScramCredential, ScramMechanism};

    #[test]
    fn describes_named_all_duplicate_and_missing_users() {
        let mut image = MetadataImage::default();
        for (user, m, it) in [
            ("alice", ScramMechanism::Sha256, 4096),
            ("alice", ScramMechanism::Sha512, 8192),
            ("bob", ScramMechanism::Sha256, 4096),
        ] {
            let c = ScramCredential::new(m, "pw", b"salt", it).unwrap();
            image.apply(&MetadataRecord::UserScramCredential(
                UserScramCredentialRecord::of(user, &c),
            ));
        }
        let all = describe_users(&image, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], ("alice".into(), Ok(vec![(1, 4096), (2, 8192)])));
        let names: Vec<String> = ["bob", "carol", "alice", "alice"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let named = describe_users(&image, Some(&names));
        let codes: Vec<(String, i16)> = named
            .iter()
            .map(|(u, r)| (u.clone(), r.as_ref().err().map_or(0, |e| e.code())))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("bob".into(), 0),
                ("carol".into(), ResponseError::ResourceNotFound.code()),
                ("alice".into(), ResponseError::DuplicateResource.code()),
            ]
        );
    }
}
