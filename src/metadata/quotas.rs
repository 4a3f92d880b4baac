//! Client quotas as cluster metadata (KIP-13, KIP-124, KIP-546): Kafka's `ClientQuotaRecord`
//! (an entity of `(entity type, name or default)` pairs, a key, a value, or its removal), the
//! image's quota table, the describe filter of DescribeClientQuotas as Kafka's
//! `ClientQuotasImage.describe` applies it, and the resolution of the quota that applies to a
//! (user, client-id) pair with Kafka's eight-level precedence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Kafka's entity types (`ClientQuotaEntity.USER`, `CLIENT_ID`, `IP`).
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// Kafka's quota keys (`QuotaConfig`).
pub mod key {
    pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
    pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
    pub const REQUEST_PERCENTAGE: &str = "request_percentage";
    pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
    pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";
}

/// One `(entity_type, entity_name)` of a record's entity; a `None` name is the default entity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityData {
    pub entity_type: String,
    pub entity_name: Option<String>,
}

/// A quota entity: entity type → name (`None`: that type's default), Kafka's
/// `ClientQuotaEntity`. Ordered so the image and DescribeClientQuotas list entities stably.
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// Kafka's `ClientQuotaRecord`: `key` of `entity` is set to `value`, or removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientQuotaRecord {
    pub entity: Vec<EntityData>,
    pub key: String,
    pub value: f64,
    #[serde(default)]
    pub remove: bool,
}

// The controller refuses non-finite values, so a record always equals itself.
impl Eq for ClientQuotaRecord {}

impl ClientQuotaRecord {
    /// The record setting `key` of the entity named by (entity type, name or `None` for the
    /// default) pairs to `value`: how tests write quotas into an image.
    #[cfg(test)]
    pub fn set(entity: &[(&str, Option<&str>)], key: &str, value: f64) -> ClientQuotaRecord {
        ClientQuotaRecord {
            entity: entity
                .iter()
                .map(|(t, n)| EntityData {
                    entity_type: t.to_string(),
                    entity_name: n.map(str::to_string),
                })
                .collect(),
            key: key.into(),
            value,
            remove: false,
        }
    }

    pub fn entity(&self) -> QuotaEntity {
        self.entity
            .iter()
            .map(|e| (e.entity_type.clone(), e.entity_name.clone()))
            .collect()
    }
}

/// The image's client quotas: entity → key → value. In snapshots it is a list of entries
/// (JSON maps need string keys).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientQuotas(pub BTreeMap<QuotaEntity, BTreeMap<String, f64>>);

#[derive(Serialize, Deserialize)]
struct QuotaEntry {
    entity: QuotaEntity,
    quotas: BTreeMap<String, f64>,
}

impl Serialize for ClientQuotas {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(entity, quotas)| QuotaEntry {
            entity: entity.clone(),
            quotas: quotas.clone(),
        }))
    }
}

impl<'de> Deserialize<'de> for ClientQuotas {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<QuotaEntry>::deserialize(d)?;
        Ok(ClientQuotas(
            entries.into_iter().map(|e| (e.entity, e.quotas)).collect(),
        ))
    }
}

impl ClientQuotas {
    /// Replays one record (Kafka's `ClientQuotaControlManager.replay`).
    pub fn apply(&mut self, record: &ClientQuotaRecord) {
        let entity = record.entity();
        if record.remove {
            if let Some(quotas) = self.0.get_mut(&entity) {
                quotas.remove(&record.key);
                if quotas.is_empty() {
                    self.0.remove(&entity);
                }
            }
        } else {
            self.0
                .entry(entity)
                .or_default()
                .insert(record.key.clone(), record.value);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any entity sets `key` (a broker with none of a key enforces nothing for it).
    pub fn has_key(&self, key: &str) -> bool {
        self.0.values().any(|q| q.contains_key(key))
    }

    fn get(&self, user: Level<'_>, client_id: Level<'_>, key: &str) -> Option<f64> {
        let mut entity = QuotaEntity::new();
        if let Some(u) = user {
            entity.insert(USER.to_string(), u.map(str::to_string));
        }
        if let Some(c) = client_id {
            entity.insert(CLIENT_ID.to_string(), c.map(str::to_string));
        }
        self.0.get(&entity)?.get(key).copied()
    }

    /// The quota of `key` for a client, by Kafka's precedence (docs "Quotas", and
    /// `DefaultQuotaCallback.quotaMetricTags`/`quotaLimit`): the first level that sets `key` wins.
    /// `user` is the principal's name (`alice` of `User:alice`).
    pub fn resolve(&self, key: &str, user: &str, client_id: &str) -> Option<ResolvedQuota> {
        PRECEDENCE.iter().find_map(|level| {
            let (u, c) = level.entity(user, client_id);
            self.get(u, c, key).map(|limit| ResolvedQuota {
                level: *level,
                limit,
            })
        })
    }

    /// DescribeClientQuotas: the entities matching `filter`, as Kafka's
    /// `ClientQuotasImage.describe` matches them.
    pub fn describe(&self, filter: &QuotaFilter) -> Vec<(&QuotaEntity, &BTreeMap<String, f64>)> {
        self.0
            .iter()
            .filter(|(entity, _)| filter.matches(entity))
            .collect()
    }
}

/// One component of a quota lookup: `None` absent, `Some(None)` the default, `Some(Some(n))`.
type Level<'a> = Option<Option<&'a str>>;

/// Kafka's eight quota levels, highest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaLevel {
    /// `/config/users/<user>/clients/<client-id>`
    UserClient,
    /// `/config/users/<user>/clients/<default>`
    UserDefaultClient,
    /// `/config/users/<user>`
    User,
    /// `/config/users/<default>/clients/<client-id>`
    DefaultUserClient,
    /// `/config/users/<default>/clients/<default>`
    DefaultUserDefaultClient,
    /// `/config/users/<default>`
    DefaultUser,
    /// `/config/clients/<client-id>`
    Client,
    /// `/config/clients/<default>`
    DefaultClient,
}

pub const PRECEDENCE: [QuotaLevel; 8] = [
    QuotaLevel::UserClient,
    QuotaLevel::UserDefaultClient,
    QuotaLevel::User,
    QuotaLevel::DefaultUserClient,
    QuotaLevel::DefaultUserDefaultClient,
    QuotaLevel::DefaultUser,
    QuotaLevel::Client,
    QuotaLevel::DefaultClient,
];

impl QuotaLevel {
    fn entity<'a>(self, user: &'a str, client: &'a str) -> (Level<'a>, Level<'a>) {
        use QuotaLevel::*;
        match self {
            UserClient => (Some(Some(user)), Some(Some(client))),
            UserDefaultClient => (Some(Some(user)), Some(None)),
            User => (Some(Some(user)), None),
            DefaultUserClient => (Some(None), Some(Some(client))),
            DefaultUserDefaultClient => (Some(None), Some(None)),
            DefaultUser => (Some(None), None),
            Client => (None, Some(Some(client))),
            DefaultClient => (None, Some(None)),
        }
    }

    /// Which clients share one rate measurement under this level (Kafka's metric tags): a
    /// user-level quota is shared by all that user's client ids, a client-level quota by all
    /// users of that client id, the others are per (user, client id).
    pub fn shares(self) -> (bool, bool) {
        use QuotaLevel::*;
        match self {
            User | DefaultUser => (true, false),
            Client | DefaultClient => (false, true),
            _ => (true, true),
        }
    }
}

/// A resolved quota: where it came from and its limit (bytes/s, or percent of one thread).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResolvedQuota {
    pub level: QuotaLevel,
    pub limit: f64,
}

/// Kafka's DescribeClientQuotas match types.
pub mod match_type {
    pub const EXACT: i8 = 0;
    pub const DEFAULT: i8 = 1;
    pub const SPECIFIED: i8 = 2;
}

/// A validated DescribeClientQuotas filter: exact (or default) names per type, types that must
/// be present, and `strict` (no other entity types).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaFilter {
    pub exact: BTreeMap<String, Option<String>>,
    pub specified: Vec<String>,
    pub strict: bool,
}

/// Why a DescribeClientQuotas filter is refused (Kafka's exception of each check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuotaFilterError {
    InvalidRequest(String),
    UnsupportedEntityType(String),
}

impl QuotaFilter {
    /// Kafka's checks of the components, in Kafka's order: (entity type, match type, match).
    pub fn new(
        components: &[(String, i8, Option<String>)],
        strict: bool,
    ) -> Result<QuotaFilter, QuotaFilterError> {
        let invalid = |m: String| Err(QuotaFilterError::InvalidRequest(m));
        let mut filter = QuotaFilter {
            strict,
            ..Default::default()
        };
        for (entity_type, match_type, name) in components {
            if entity_type.is_empty() {
                return invalid("invalid empty entity type".into());
            }
            if filter.exact.contains_key(entity_type) || filter.specified.contains(entity_type) {
                return invalid(format!(
                    "entity type {entity_type} cannot appear more than once in the filter"
                ));
            }
            if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
                return Err(QuotaFilterError::UnsupportedEntityType(format!(
                    "unsupported entity type {entity_type}"
                )));
            }
            match *match_type {
                match_type::EXACT => match name {
                    Some(n) => {
                        filter.exact.insert(entity_type.clone(), Some(n.clone()));
                    }
                    None => {
                        return invalid(
                            "MATCH_TYPE_EXACT needs a match string, and it was null".into(),
                        )
                    }
                },
                match_type::DEFAULT => {
                    if name.is_some() {
                        return invalid("MATCH_TYPE_DEFAULT takes no match string".into());
                    }
                    filter.exact.insert(entity_type.clone(), None);
                }
                match_type::SPECIFIED => {
                    if name.is_some() {
                        return invalid("MATCH_TYPE_SPECIFIED takes no match string".into());
                    }
                    filter.specified.push(entity_type.clone());
                }
                other => return invalid(format!("unknown match type {other}")),
            }
        }
        let has = |t: &str| filter.exact.contains_key(t) || filter.specified.iter().any(|s| s == t);
        if has(IP) && (has(USER) || has(CLIENT_ID)) {
            return invalid(
                "an ip filter component cannot be combined with user or client-id components"
                    .into(),
            );
        }
        Ok(filter)
    }

    /// Kafka's `ClientQuotasImage.matches`. As there, SPECIFIED asks only that the entity has
    /// that type (a default entity of the type matches too).
    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.specified.len() {
            return false;
        }
        self.exact
            .iter()
            .all(|(t, name)| entity.get(t).is_some_and(|n| n == name))
            && self.specified.iter().all(|t| entity.contains_key(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(entity: &[(&str, Option<&str>)], key: &str, value: f64) -> ClientQuotaRecord {
        ClientQuotaRecord::set(entity, key, value)
    }

    const K: &str = key::PRODUCER_BYTE_RATE;

    /// Every level, added from lowest to highest precedence: each new one takes over.
    #[test]
    fn resolution_follows_kafkas_eight_levels() {
        type Entity<'a> = &'a [(&'a str, Option<&'a str>)];
        let levels: [(Entity, QuotaLevel); 8] = [
            (&[(CLIENT_ID, None)], QuotaLevel::DefaultClient),
            (&[(CLIENT_ID, Some("c"))], QuotaLevel::Client),
            (&[(USER, None)], QuotaLevel::DefaultUser),
            (
                &[(USER, None), (CLIENT_ID, None)],
                QuotaLevel::DefaultUserDefaultClient,
            ),
            (
                &[(USER, None), (CLIENT_ID, Some("c"))],
                QuotaLevel::DefaultUserClient,
            ),
            (&[(USER, Some("u"))], QuotaLevel::User),
            (
                &[(USER, Some("u")), (CLIENT_ID, None)],
                QuotaLevel::UserDefaultClient,
            ),
            (
                &[(USER, Some("u")), (CLIENT_ID, Some("c"))],
                QuotaLevel::UserClient,
            ),
        ];
        let mut quotas = ClientQuotas::default();
        assert_eq!(quotas.resolve(K, "u", "c"), None);
        for (i, (entity, level)) in levels.iter().enumerate() {
            let limit = 100.0 * (i + 1) as f64;
            quotas.apply(&record(entity, K, limit));
            assert_eq!(
                quotas.resolve(K, "u", "c"),
                Some(ResolvedQuota {
                    level: *level,
                    limit
                }),
                "after adding {level:?}"
            );
            // Another key is unaffected.
            assert_eq!(quotas.resolve(key::CONSUMER_BYTE_RATE, "u", "c"), None);
        }
        // Other clients fall to the defaults of their own levels.
        let other = |u, c| quotas.resolve(K, u, c).map(|r| r.level);
        assert_eq!(other("u", "x"), Some(QuotaLevel::UserDefaultClient));
        assert_eq!(other("v", "c"), Some(QuotaLevel::DefaultUserClient));
        assert_eq!(other("v", "x"), Some(QuotaLevel::DefaultUserDefaultClient));
        // Removing levels from the top uncovers the ones below, one by one.
        for (entity, _) in levels.iter().rev() {
            let mut r = record(entity, K, 0.0);
            r.remove = true;
            quotas.apply(&r);
        }
        assert!(quotas.is_empty());
        // Each level alone, and who shares its measurement.
        for (entity, level) in levels {
            let mut alone = ClientQuotas::default();
            alone.apply(&record(entity, K, 1.0));
            assert_eq!(alone.resolve(K, "u", "c").map(|r| r.level), Some(level));
            let shares = level.shares();
            assert!(shares.0 || shares.1);
        }
        assert_eq!(QuotaLevel::User.shares(), (true, false));
        assert_eq!(QuotaLevel::Client.shares(), (false, true));
        assert_eq!(QuotaLevel::DefaultUserClient.shares(), (true, true));
    }

    #[test]
    fn describe_filters_match_like_kafka() {
        let mut quotas = ClientQuotas::default();
        let entities: [&[(&str, Option<&str>)]; 5] = [
            &[(USER, Some("alice"))],
            &[(USER, None)],
            &[(USER, Some("alice")), (CLIENT_ID, Some("app"))],
            &[(CLIENT_ID, Some("app"))],
            &[(IP, Some("10.0.0.1"))],
        ];
        for e in entities {
            quotas.apply(&record(e, K, 1.0));
        }
        let c = |t: &str, m: i8, n: Option<&str>| (t.to_string(), m, n.map(str::to_string));
        let count = |components: &[(String, i8, Option<String>)], strict| {
            let f = QuotaFilter::new(components, strict).unwrap();
            quotas.describe(&f).len()
        };
        assert_eq!(count(&[], false), 5);
        assert_eq!(count(&[], true), 0);
        let alice = [c(USER, match_type::EXACT, Some("alice"))];
        assert_eq!(count(&alice, false), 2);
        assert_eq!(count(&alice, true), 1);
        assert_eq!(count(&[c(USER, match_type::DEFAULT, None)], false), 1);
        assert_eq!(count(&[c(USER, match_type::SPECIFIED, None)], false), 3);
        assert_eq!(count(&[c(USER, match_type::SPECIFIED, None)], true), 2);
        assert_eq!(
            count(
                &[
                    c(USER, match_type::SPECIFIED, None),
                    c(CLIENT_ID, match_type::EXACT, Some("app"))
                ],
                true
            ),
            1
        );
        assert_eq!(count(&[c(IP, match_type::SPECIFIED, None)], false), 1);
        // Refused filters.
        let invalid = |components: &[(String, i8, Option<String>)]| {
            matches!(
                QuotaFilter::new(components, false),
                Err(QuotaFilterError::InvalidRequest(_))
            )
        };
        assert!(invalid(&[c("", match_type::EXACT, Some("x"))]));
        assert!(invalid(&[c(USER, match_type::EXACT, None)]));
        assert!(invalid(&[c(USER, match_type::DEFAULT, Some("x"))]));
        assert!(invalid(&[c(USER, match_type::SPECIFIED, Some("x"))]));
        assert!(invalid(&[c(USER, 7, None)]));
        assert!(invalid(&[
            c(USER, match_type::DEFAULT, None),
            c(USER, match_type::SPECIFIED, None)
        ]));
        assert!(invalid(&[
            c(IP, match_type::DEFAULT, None),
            c(CLIENT_ID, match_type::SPECIFIED, None)
        ]));
        assert_eq!(
            QuotaFilter::new(&[c("group", match_type::DEFAULT, None)], false),
            Err(QuotaFilterError::UnsupportedEntityType(
                "unsupported entity type group".into()
            ))
        );
    }

    #[test]
    fn quotas_survive_a_snapshot() {
        let mut quotas = ClientQuotas::default();
        quotas.apply(&record(&[(USER, None), (CLIENT_ID, Some("a"))], K, 5.0));
        quotas.apply(&record(&[(CLIENT_ID, None)], key::REQUEST_PERCENTAGE, 50.5));
        let json = serde_json::to_string(&quotas).unwrap();
        let back: ClientQuotas = serde_json::from_str(&json).unwrap();
        assert_eq!(back, quotas);
    }
}
