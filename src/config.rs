//! Broker and topic configuration: one table, Kafka's names and defaults.
//!
//! `CONFIG_DEFS` is the single source of truth: `troupe serve` validates file, environment and
//! `--override` values against it, DescribeConfigs lists it, CreateTopics/AlterConfigs validate
//! topic configs with it, and `config/troupe.toml` documents it. A topic config's default comes
//! from its broker synonym (`retention.ms` ← `log.retention.ms`), as in Kafka.
//!
//! This room owns parsing and validation only; it never touches logs or actors.

use std::collections::BTreeMap;
use std::path::Path;

use crate::storage::{LogConfig, TimestampType};

/// The value kind of a config, with the codes DescribeConfigs v3+ reports as `config_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    Boolean,
    String,
    Int,
    Long,
    Double,
    List,
    /// A secret: DescribeConfigs reports it as sensitive with no value, and no error or log
    /// line repeats it.
    Password,
}

impl ConfigKind {
    pub fn describe_code(self) -> i8 {
        match self {
            ConfigKind::Boolean => 1,
            ConfigKind::String => 2,
            ConfigKind::Int => 3,
            ConfigKind::Long => 5,
            ConfigKind::Double => 6,
            ConfigKind::List => 7,
            ConfigKind::Password => 9,
        }
    }
}

/// What values a config accepts beyond its kind.
#[derive(Clone, Copy, Debug)]
pub enum Validator {
    Any,
    /// Inclusive numeric range.
    Range(i64, i64),
    /// Non-negative double within an inclusive range.
    DoubleRange(f64, f64),
    /// One of these strings (case-sensitive, as Kafka).
    OneOf(&'static [&'static str]),
    /// A comma list whose items are each one of these.
    ListOf(&'static [&'static str]),
    /// Kafka's `host:count` comma list (`max.connections.per.ip.overrides`); see
    /// `parse_host_counts`.
    HostCounts,
}

/// One configuration property.
#[derive(Debug)]
pub struct ConfigDef {
    /// Kafka's property name. For topic configs this is the topic-level name.
    pub name: &'static str,
    /// For topic configs: the broker property that supplies the default.
    pub broker_synonym: Option<&'static str>,
    pub kind: ConfigKind,
    pub default: &'static str,
    pub validator: Validator,
    pub scope: Scope,
    pub doc: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A broker property (set in the file, environment or `--override`).
    Broker,
    /// A topic property; its default is the broker synonym's value.
    Topic,
}

const LONG_MAX: &str = "9223372036854775807";

macro_rules! def {
    ($scope:ident, $name:expr, $syn:expr, $kind:ident, $default:expr, $val:expr, $doc:expr) => {
        ConfigDef {
            name: $name,
            broker_synonym: $syn,
            kind: ConfigKind::$kind,
            default: $default,
            validator: $val,
            scope: Scope::$scope,
            doc: $doc,
        }
    };
}

use Validator::*;

/// Every config Troupe understands. Topic entries carry the broker synonym whose value is
/// their default; the synonym itself is listed as a broker entry with the default value.
pub static CONFIG_DEFS: &[ConfigDef] = &[
    // ---- topic configs (with the broker property that supplies their default) ----
    def!(Topic, "cleanup.policy", Some("log.cleanup.policy"), List, "delete", ListOf(&["delete", "compact"]),
        "Retention policy for old segments: delete them, compact them to the latest value per key, or both."),
    def!(Topic, "retention.ms", Some("log.retention.ms"), Long, "604800000", Range(-1, i64::MAX),
        "Delete a closed segment once its newest record is older than this (-1: keep forever)."),
    def!(Topic, "retention.bytes", Some("log.retention.bytes"), Long, "-1", Range(-1, i64::MAX),
        "Delete the oldest segments while a partition is larger than this (-1: no size limit)."),
    def!(Topic, "segment.bytes", Some("log.segment.bytes"), Int, "1073741824", Range(14, i32::MAX as i64),
        "Roll to a new segment file when the active one would grow past this size."),
    def!(Topic, "segment.ms", Some("log.roll.ms"), Long, "604800000", Range(1, i64::MAX),
        "Roll to a new segment once the active segment's first record is this old."),
    def!(Topic, "segment.jitter.ms", Some("log.roll.jitter.ms"), Long, "0", Range(0, i64::MAX),
        "Accepted for compatibility; Troupe rolls without jitter."),
    def!(Topic, "segment.index.bytes", Some("log.index.size.max.bytes"), Int, "10485760", Range(4, i32::MAX as i64),
        "Size of the preallocated sparse offset index of each segment."),
    def!(Topic, "index.interval.bytes", Some("log.index.interval.bytes"), Int, "4096", Range(0, i32::MAX as i64),
        "Bytes of batches between two entries of the sparse offset index."),
    def!(Topic, "max.message.bytes", Some("message.max.bytes"), Int, "1048588", Range(0, i32::MAX as i64),
        "Largest record batch (after compression) the broker accepts; larger ones get MESSAGE_TOO_LARGE."),
    def!(Topic, "message.timestamp.type", Some("log.message.timestamp.type"), String, "CreateTime",
        OneOf(&["CreateTime", "LogAppendTime"]),
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock."),
    def!(Topic, "message.timestamp.before.max.ms", Some("log.message.timestamp.before.max.ms"), Long, LONG_MAX, Range(0, i64::MAX),
        "Accepted for compatibility; timestamps are not range-checked yet."),
    def!(Topic, "message.timestamp.after.max.ms", Some("log.message.timestamp.after.max.ms"), Long, LONG_MAX, Range(0, i64::MAX),
        "Accepted for compatibility; timestamps are not range-checked yet."),
    def!(Topic, "min.insync.replicas", Some("min.insync.replicas"), Int, "1", Range(1, i32::MAX as i64),
        "With acks=all, the fewest in-sync replicas that must hold a batch before it is acknowledged."),
    def!(Topic, "compression.type", Some("compression.type"), String, "producer",
        OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
        "Troupe stores batches as the producer compressed them; other values are recorded, not applied."),
    def!(Topic, "unclean.leader.election.enable", Some("unclean.leader.election.enable"), Boolean, "false", Any,
        "Allow an out-of-sync replica to become leader when no in-sync replica is alive (may lose data)."),
    def!(Topic, "flush.messages", Some("log.flush.interval.messages"), Long, LONG_MAX, Range(1, i64::MAX),
        "fsync a partition after this many messages. Default: leave flushing to the OS page cache, like Kafka; \
         durability against process crashes holds either way, against power loss use replication or lower this."),
    def!(Topic, "flush.ms", Some("log.flush.interval.ms"), Long, LONG_MAX, Range(0, i64::MAX),
        "fsync a partition when its oldest unflushed message is this old. Default: leave it to the OS."),
    def!(Topic, "delete.retention.ms", Some("log.cleaner.delete.retention.ms"), Long, "86400000", Range(0, i64::MAX),
        "How long tombstones stay readable in a compacted topic."),
    def!(Topic, "min.cleanable.dirty.ratio", Some("log.cleaner.min.cleanable.ratio"), Double, "0.5", DoubleRange(0.0, 1.0),
        "Compact a log only when at least this share of it is uncompacted."),
    def!(Topic, "min.compaction.lag.ms", Some("log.cleaner.min.compaction.lag.ms"), Long, "0", Range(0, i64::MAX),
        "A record stays uncompacted at least this long."),
    def!(Topic, "max.compaction.lag.ms", Some("log.cleaner.max.compaction.lag.ms"), Long, LONG_MAX, Range(1, i64::MAX),
        "A record becomes eligible for compaction at the latest after this long."),
    def!(Topic, "file.delete.delay.ms", Some("log.segment.delete.delay.ms"), Long, "60000", Range(0, i64::MAX),
        "Accepted for compatibility; segments are unlinked at once (open readers keep their handle)."),
    def!(Topic, "preallocate", Some("log.preallocate"), Boolean, "false", Any,
        "Accepted for compatibility; segment files are not preallocated."),
    def!(Topic, "leader.replication.throttled.replicas", None, List, "", Any, "Accepted for compatibility."),
    def!(Topic, "follower.replication.throttled.replicas", None, List, "", Any, "Accepted for compatibility."),
    // ---- broker synonyms of the topic configs ----
    def!(Broker, "log.cleanup.policy", None, List, "delete", ListOf(&["delete", "compact"]), "Default cleanup.policy."),
    def!(Broker, "log.retention.ms", None, Long, "604800000", Range(-1, i64::MAX), "Default retention.ms (7 days)."),
    def!(Broker, "log.retention.bytes", None, Long, "-1", Range(-1, i64::MAX), "Default retention.bytes."),
    def!(Broker, "log.segment.bytes", None, Int, "1073741824", Range(14, i32::MAX as i64), "Default segment.bytes."),
    def!(Broker, "log.roll.ms", None, Long, "604800000", Range(1, i64::MAX), "Default segment.ms."),
    def!(Broker, "log.roll.jitter.ms", None, Long, "0", Range(0, i64::MAX), "Default segment.jitter.ms."),
    def!(Broker, "log.index.size.max.bytes", None, Int, "10485760", Range(4, i32::MAX as i64), "Default segment.index.bytes."),
    def!(Broker, "log.index.interval.bytes", None, Int, "4096", Range(0, i32::MAX as i64), "Default index.interval.bytes."),
    def!(Broker, "message.max.bytes", None, Int, "1048588", Range(0, i32::MAX as i64), "Default max.message.bytes."),
    def!(Broker, "log.message.timestamp.type", None, String, "CreateTime", OneOf(&["CreateTime", "LogAppendTime"]),
        "Default message.timestamp.type."),
    def!(Broker, "log.message.timestamp.before.max.ms", None, Long, LONG_MAX, Range(0, i64::MAX), "Default message.timestamp.before.max.ms."),
    def!(Broker, "log.message.timestamp.after.max.ms", None, Long, LONG_MAX, Range(0, i64::MAX), "Default message.timestamp.after.max.ms."),
    def!(Broker, "min.insync.replicas", None, Int, "1", Range(1, i32::MAX as i64), "Default min.insync.replicas."),
    def!(Broker, "compression.type", None, String, "producer",
        OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]), "Default compression.type."),
    def!(Broker, "unclean.leader.election.enable", None, Boolean, "false", Any, "Default unclean.leader.election.enable."),
    def!(Broker, "log.flush.interval.messages", None, Long, LONG_MAX, Range(1, i64::MAX), "Default flush.messages."),
    def!(Broker, "log.flush.interval.ms", None, Long, LONG_MAX, Range(0, i64::MAX), "Default flush.ms."),
    def!(Broker, "log.cleaner.delete.retention.ms", None, Long, "86400000", Range(0, i64::MAX), "Default delete.retention.ms."),
    def!(Broker, "log.cleaner.min.cleanable.ratio", None, Double, "0.5", DoubleRange(0.0, 1.0), "Default min.cleanable.dirty.ratio."),
    def!(Broker, "log.cleaner.min.compaction.lag.ms", None, Long, "0", Range(0, i64::MAX), "Default min.compaction.lag.ms."),
    def!(Broker, "log.cleaner.max.compaction.lag.ms", None, Long, LONG_MAX, Range(1, i64::MAX), "Default max.compaction.lag.ms."),
    def!(Broker, "log.segment.delete.delay.ms", None, Long, "60000", Range(0, i64::MAX), "Default file.delete.delay.ms."),
    def!(Broker, "log.preallocate", None, Boolean, "false", Any, "Default preallocate."),
    // ---- broker-only ----
    def!(Broker, "num.partitions", None, Int, "1", Range(1, 1_000_000), "Partitions of an auto-created topic."),
    def!(Broker, "default.replication.factor", None, Int, "1", Range(1, 32767), "Replication factor of an auto-created topic."),
    def!(Broker, "auto.create.topics.enable", None, Boolean, "true", Any,
        "Create a topic when a client asks Metadata for one that does not exist."),
    def!(Broker, "delete.topic.enable", None, Boolean, "true", Any, "Allow DeleteTopics."),
    def!(Broker, "socket.request.max.bytes", None, Int, "104857600", Range(1, i32::MAX as i64),
        "Largest request frame; a longer length prefix closes the connection before anything is allocated."),
    def!(Broker, "log.retention.check.interval.ms", None, Long, "300000", Range(1, i64::MAX),
        "How often each partition applies time/size retention and time-based rolling."),
    def!(Broker, "log.flush.scheduler.interval.ms", None, Long, "1000", Range(1, i64::MAX),
        "How often each partition checks flush.ms."),
    def!(Broker, "offsets.topic.num.partitions", None, Int, "50", Range(1, 100_000), "Partitions of __consumer_offsets."),
    def!(Broker, "offsets.topic.replication.factor", None, Int, "1", Range(1, 32767), "Replication factor of __consumer_offsets."),
    def!(Broker, "offsets.topic.segment.bytes", None, Int, "104857600", Range(1, i32::MAX as i64),
        "segment.bytes of __consumer_offsets, kept small so the cleaner can compact it soon."),
    def!(Broker, "offsets.topic.compression.codec", None, Int, "0", Range(0, 4),
        "Accepted for compatibility; group records are written uncompressed."),
    def!(Broker, "offsets.commit.timeout.ms", None, Int, "5000", Range(1, i32::MAX as i64),
        "How long a group coordinator's write (offsets, group metadata) waits for all in-sync replicas."),
    def!(Broker, "offsets.retention.minutes", None, Int, "10080", Range(1, i32::MAX as i64),
        "Committed offsets of a group without members are dropped this long after it became empty (7 days)."),
    def!(Broker, "offsets.retention.check.interval.ms", None, Long, "600000", Range(1, i64::MAX),
        "How often group coordinators look for expired offsets."),
    def!(Broker, "producer.id.expiration.ms", None, Int, "86400000", Range(1, i32::MAX as i64),
        "A partition forgets an idempotent producer idle this long (no open transaction)."),
    def!(Broker, "transaction.state.log.num.partitions", None, Int, "50", Range(1, 100_000), "Partitions of __transaction_state."),
    def!(Broker, "transaction.state.log.replication.factor", None, Int, "1", Range(1, 32767),
        "Replication factor of __transaction_state."),
    def!(Broker, "transaction.state.log.segment.bytes", None, Int, "104857600", Range(1, i32::MAX as i64),
        "segment.bytes of __transaction_state, kept small so the cleaner can compact it soon."),
    def!(Broker, "transaction.max.timeout.ms", None, Int, "900000", Range(1, i32::MAX as i64),
        "Longest transaction.timeout.ms a producer may ask for (INVALID_TRANSACTION_TIMEOUT above it)."),
    def!(Broker, "transactional.id.expiration.ms", None, Int, "604800000", Range(1, i32::MAX as i64),
        "A transactional id with no open transaction is forgotten after this long without a request."),
    def!(Broker, "transaction.abort.timed.out.transaction.cleanup.interval.ms", None, Int, "10000", Range(1, i32::MAX as i64),
        "How often coordinators look for transactions past their timeout whose timer did not abort them."),
    def!(Broker, "transaction.remove.expired.transaction.cleanup.interval.ms", None, Int, "3600000", Range(1, i32::MAX as i64),
        "How often coordinators expire idle transactional ids (transactional.id.expiration.ms)."),
    def!(Broker, "group.initial.rebalance.delay.ms", None, Int, "3000", Range(0, i32::MAX as i64),
        "How long the first rebalance of an empty group waits for more members."),
    def!(Broker, "group.min.session.timeout.ms", None, Int, "6000", Range(0, i32::MAX as i64),
        "Shortest session timeout a consumer may ask for."),
    def!(Broker, "group.max.session.timeout.ms", None, Int, "1800000", Range(0, i32::MAX as i64),
        "Longest session timeout a consumer may ask for."),
    def!(Broker, "group.max.size", None, Int, "2147483647", Range(1, i32::MAX as i64),
        "Most members one consumer group may have."),
    def!(Broker, "log.cleaner.enable", None, Boolean, "true", Any,
        "Run the log cleaner, which compacts topics whose cleanup.policy includes compact."),
    def!(Broker, "log.cleaner.threads", None, Int, "1", Range(1, 1),
        "Logs compacted at the same time (one: the cleaner is a single actor)."),
    def!(Broker, "log.cleaner.dedupe.buffer.size", None, Long, "134217728", Range(1024 * 1024, i64::MAX),
        "Memory for the cleaner's key-to-offset map (24 bytes a key); bounds one compaction pass."),
    def!(Broker, "log.cleaner.io.buffer.load.factor", None, Double, "0.9", DoubleRange(0.1, 1.0),
        "Share of the dedupe buffer the offset map may fill."),
    def!(Broker, "log.cleaner.backoff.ms", None, Long, "15000", Range(1, i64::MAX),
        "How long the cleaner sleeps when no log needs compacting."),
    def!(Broker, "request.timeout.ms", None, Int, "30000", Range(0, i32::MAX as i64), "Upper bound for delayed operations."),
    // ---- cluster: controller quorum and replication ----
    def!(Broker, "broker.heartbeat.interval.ms", None, Int, "2000", Range(1, i32::MAX as i64),
        "How often a broker heartbeats to the active controller."),
    def!(Broker, "broker.session.timeout.ms", None, Int, "9000", Range(1, i32::MAX as i64),
        "A broker silent this long is fenced and its partitions get new leaders."),
    def!(Broker, "controller.quorum.election.timeout.ms", None, Int, "1000", Range(10, i32::MAX as i64),
        "Shortest time a controller voter waits for the Raft leader before starting an election (the longest is twice this)."),
    def!(Broker, "replica.lag.time.max.ms", None, Long, "30000", Range(1, i64::MAX),
        "A follower that has not caught up to the leader's log end for this long leaves the ISR."),
    def!(Broker, "replica.fetch.max.bytes", None, Int, "1048576", Range(0, i32::MAX as i64),
        "Bytes a follower asks for per partition in one replica fetch (at least one batch is always returned)."),
    def!(Broker, "replica.fetch.response.max.bytes", None, Int, "10485760", Range(0, i32::MAX as i64),
        "Bytes a follower asks for in one replica fetch in total."),
    def!(Broker, "replica.fetch.wait.max.ms", None, Int, "500", Range(0, i32::MAX as i64),
        "How long a leader holds a follower's fetch when there is nothing new."),
    def!(Broker, "replica.fetch.backoff.ms", None, Int, "1000", Range(0, i32::MAX as i64),
        "How long a replica fetcher waits after an error before fetching again."),
    def!(Broker, "replica.fetch.peer.addresses", None, List, "", Any,
        "How this node reaches other brokers for replication when not at their registered address: 2=host:port,3=host:port (e.g. through a proxy)."),
    def!(Broker, "auto.leader.rebalance.enable", None, Boolean, "true", Any,
        "The controller moves leadership back to each partition's preferred replica when it is in sync."),
    def!(Broker, "leader.imbalance.check.interval.seconds", None, Long, "300", Range(1, i64::MAX),
        "How often the controller looks for partitions not led by their preferred replica."),
    def!(Broker, "controlled.shutdown.enable", None, Boolean, "true", Any,
        "On SIGTERM, ask the controller to move leadership away before exiting."),
    def!(Broker, "num.arbiters", None, Int, "0", Range(0, 1024),
        "Actor threads (one actix Arbiter each) that partitions are sharded onto; 0 = one per core."),
    // ---- listeners and security (Kafka's names; any of them may be set for one listener
    // only as `listener.name.<listener>.<property>`) ----
    def!(Broker, "listeners", None, List, "", Any,
        "NAME://host:port, comma-separated; replaces --listen. Empty: one PLAINTEXT listener on --listen."),
    def!(Broker, "advertised.listeners", None, List, "", Any,
        "NAME://host:port clients are told to use, per listener; defaults to each listener's own address."),
    def!(Broker, "listener.security.protocol.map", None, List,
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", Any,
        "Listener name → security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)."),
    def!(Broker, "inter.broker.listener.name", None, String, "", Any,
        "The listener other brokers' replica fetchers connect to; empty: the first listener."),
    def!(Broker, "ssl.keystore.type", None, String, "PEM", OneOf(&["PEM"]),
        "Only PEM (KIP-651): a private key and its certificate chain."),
    def!(Broker, "ssl.keystore.location", None, String, "", Any,
        "PEM file holding the private key and the certificate chain."),
    def!(Broker, "ssl.keystore.key", None, Password, "", Any,
        "The private key in PEM, inline (instead of ssl.keystore.location)."),
    def!(Broker, "ssl.keystore.certificate.chain", None, String, "", Any,
        "The certificate chain in PEM, inline (with ssl.keystore.key)."),
    def!(Broker, "ssl.key.password", None, Password, "", Any,
        "Password of an encrypted private key."),
    def!(Broker, "ssl.truststore.type", None, String, "PEM", OneOf(&["PEM"]),
        "Only PEM: the CA certificates client certificates are checked against."),
    def!(Broker, "ssl.truststore.location", None, String, "", Any,
        "PEM file of trusted CA certificates."),
    def!(Broker, "ssl.truststore.certificates", None, String, "", Any,
        "Trusted CA certificates in PEM, inline."),
    def!(Broker, "ssl.client.auth", None, String, "none", OneOf(&["none", "requested", "required"]),
        "Ask TLS clients for a certificate: none, requested (optional), required."),
    def!(Broker, "ssl.principal.mapping.rules", None, String, "DEFAULT", Any,
        "RULE:pattern/replacement/[LU] rewrites of a client certificate's subject, then DEFAULT."),
    def!(Broker, "ssl.enabled.protocols", None, List, "TLSv1.2,TLSv1.3", ListOf(&["TLSv1.2", "TLSv1.3"]),
        "TLS versions served."),
    def!(Broker, "ssl.cipher.suites", None, List, "", Any,
        "IANA names of the cipher suites served; empty: rustls's safe defaults."),
    def!(Broker, "sasl.enabled.mechanisms", None, List, "GSSAPI", Any,
        "SASL mechanisms offered on SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI is not served)."),
    def!(Broker, "sasl.mechanism.inter.broker.protocol", None, String, "GSSAPI", Any,
        "SASL mechanism brokers authenticate to each other with when the inter-broker listener uses SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (Kafka's default GSSAPI is refused at startup); the credentials are the username and password options of that listener's JAAS config for it."),
    def!(Broker, "sasl.jaas.config", None, Password, "", Any,
        "JAAS login module options; PLAIN users as user_<name>=\"<password>\". Per listener and mechanism: listener.name.<l>.plain.sasl.jaas.config."),
    def!(Broker, "sasl.oauthbearer.jwks.endpoint.url", None, String, "", Any,
        "OAUTHBEARER: the JWKS whose keys verify bearer tokens; only file: URLs (file:///etc/troupe/jwks.json), re-read when the file changes."),
    def!(Broker, "sasl.oauthbearer.expected.audience", None, List, "", Any,
        "OAUTHBEARER: a token's aud must hold one of these; empty: not checked."),
    def!(Broker, "sasl.oauthbearer.expected.issuer", None, String, "", Any,
        "OAUTHBEARER: a token's iss must equal this; empty: not checked."),
    def!(Broker, "sasl.oauthbearer.sub.claim.name", None, String, "sub", Any,
        "OAUTHBEARER: the claim whose value is the principal (User:<value>)."),
    def!(Broker, "sasl.oauthbearer.scope.claim.name", None, String, "scope", Any,
        "OAUTHBEARER: the claim holding the token's scopes (a string or a list of strings)."),
    def!(Broker, "sasl.oauthbearer.clock.skew.seconds", None, Int, "30", Range(0, i32::MAX as i64),
        "OAUTHBEARER: leeway for exp and nbf, in seconds."),
    def!(Broker, "connections.max.reauth.ms", None, Long, "0", Range(0, i64::MAX),
        "Longest lifetime of a SASL session before the client must re-authenticate or be disconnected (KIP-368; 0: only the credential's own expiry, an OAUTHBEARER token's exp, bounds it). Per listener and mechanism: listener.name.<l>.<mechanism>.connections.max.reauth.ms."),
    def!(Broker, "connection.failed.authentication.delay.ms", None, Int, "100", Range(0, i32::MAX as i64),
        "Delay before the connection of a failed authentication is closed."),
    def!(Broker, "authorizer.class.name", None, String, "", Any,
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer (or `standard`) turns ACLs on; empty: every request is allowed."),
    def!(Broker, "super.users", None, String, "", Any,
        "Principals allowed everything, semicolon-separated (User:admin;User:CN=broker)."),
    def!(Broker, "allow.everyone.if.no.acl.found", None, Boolean, "false", Any,
        "With the authorizer on, allow a resource that no ACL matches."),
    // ---- connection limits (KIP-402, KIP-612); max.connections and
    // max.connection.creation.rate also per listener as listener.name.<l>.<property> ----
    def!(Broker, "max.connections", None, Int, "2147483647", Range(0, i32::MAX as i64),
        "Most open connections: broker-wide over all listeners but the inter-broker one, and per listener as listener.name.<l>.max.connections. At the limit a listener stops accepting until a connection closes."),
    def!(Broker, "max.connections.per.ip", None, Int, "2147483647", Range(0, i32::MAX as i64),
        "Most open connections from one IP address (over all listeners); a connection past it is closed at once. 0 is allowed only with overrides."),
    def!(Broker, "max.connections.per.ip.overrides", None, String, "", HostCounts,
        "Per-IP or hostname exceptions to max.connections.per.ip, comma-separated host:count (hostName:100,127.0.0.1:200)."),
    def!(Broker, "max.connection.creation.rate", None, Int, "2147483647", Range(0, i32::MAX as i64),
        "New connections accepted per second, broker-wide (not the inter-broker listener) and per listener as listener.name.<l>.max.connection.creation.rate; a listener past it delays accepting."),
    def!(Broker, "quota.window.size.seconds", None, Int, "1", Range(1, i32::MAX as i64),
        "Length of one sample of a client quota's rate, in seconds."),
    def!(Broker, "quota.window.num", None, Int, "11", Range(1, 1000),
        "Samples a client quota's rate is measured over."),
];

/// Parses Kafka's `host:count` comma list (`max.connections.per.ip.overrides`): entries split
/// at their last `:` (so IPv6 addresses keep theirs), counts non-negative ints. Empty: none.
pub fn parse_host_counts(value: &str) -> Result<Vec<(String, i32)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (host, count) = entry
                .rsplit_once(':')
                .ok_or_else(|| format!("entry '{entry}' is not host:count"))?;
            let host = host.trim();
            if host.is_empty() {
                return Err(format!("entry '{entry}' has no host"));
            }
            let count: i32 = count
                .trim()
                .parse()
                .ok()
                .filter(|c: &i32| *c >= 0)
                .ok_or_else(|| format!("entry '{entry}': the count must be an int >= 0"))?;
            Ok((host.to_string(), count))
        })
        .collect()
}

/// Kafka's per-listener prefix: `listener.name.<listener>.<property>`. Returns the listener
/// (lower case, as Kafka normalises it) and the property.
pub fn split_listener_prefix(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("listener.name.")?;
    let (listener, property) = rest.split_once('.')?;
    (!listener.is_empty() && !property.is_empty()).then_some((listener, property))
}

/// Properties Kafka also reads per SASL mechanism of a listener:
/// `listener.name.<l>.<mechanism>.<property>`.
const PER_MECHANISM_PROPERTIES: [&str; 2] = ["sasl.jaas.config", "connections.max.reauth.ms"];

/// The definition a per-listener property is validated with: the property's own, or for
/// `<mechanism>.sasl.jaas.config` (Kafka's per-mechanism JAAS) and
/// `<mechanism>.connections.max.reauth.ms` that of the property without the mechanism.
fn listener_property_def(property: &str) -> Option<&'static ConfigDef> {
    if let Some(def) = find_def(Scope::Broker, property) {
        return Some(def);
    }
    let (_mechanism, rest) = property.split_once('.')?;
    PER_MECHANISM_PROPERTIES
        .contains(&rest)
        .then(|| find_def(Scope::Broker, rest))
        .flatten()
}

/// Looks a config up by name within a scope.
pub fn find_def(scope: Scope, name: &str) -> Option<&'static ConfigDef> {
    CONFIG_DEFS
        .iter()
        .find(|d| d.scope == scope && d.name == name)
}

/// Why a config value was refused; maps to `INVALID_CONFIG`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown config '{0}'")]
    Unknown(String),
    #[error("invalid value '{value}' for '{name}': {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    #[error("config file: {0}")]
    File(String),
}

/// Checks a value against a definition, returning it normalised (trimmed).
pub fn validate(def: &ConfigDef, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    let bad = |reason: String| ConfigError::InvalidValue {
        name: def.name.into(),
        value: if def.kind == ConfigKind::Password {
            "[hidden]".into()
        } else {
            value.into()
        },
        reason,
    };
    match def.kind {
        ConfigKind::Boolean => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return Err(bad("expected true or false".into()));
            }
            return Ok(v.to_ascii_lowercase());
        }
        ConfigKind::Int | ConfigKind::Long => {
            let n: i64 = v.parse().map_err(|_| bad("expected an integer".into()))?;
            if def.kind == ConfigKind::Int && (n < i32::MIN as i64 || n > i32::MAX as i64) {
                return Err(bad("out of int range".into()));
            }
            if let Range(lo, hi) = def.validator {
                if n < lo || n > hi {
                    return Err(bad(format!("must be in [{lo}, {hi}]")));
                }
            }
        }
        ConfigKind::Double => {
            let x: f64 = v.parse().map_err(|_| bad("expected a number".into()))?;
            if let DoubleRange(lo, hi) = def.validator {
                if !(lo..=hi).contains(&x) {
                    return Err(bad(format!("must be in [{lo}, {hi}]")));
                }
            }
        }
        ConfigKind::String | ConfigKind::Password => {
            if let OneOf(allowed) = def.validator {
                if !allowed.contains(&v) {
                    return Err(bad(format!("must be one of {}", allowed.join(", "))));
                }
            }
            if matches!(def.validator, HostCounts) {
                parse_host_counts(v).map_err(bad)?;
            }
        }
        ConfigKind::List => {
            if let ListOf(allowed) = def.validator {
                let items: Vec<&str> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if items.is_empty() || items.iter().any(|i| !allowed.contains(i)) {
                    return Err(bad(format!("must be a list of {}", allowed.join(", "))));
                }
                return Ok(items.join(","));
            }
        }
    }
    Ok(v.to_string())
}

/// Validates a set of topic config overrides (CreateTopics, AlterConfigs).
pub fn validate_topic_configs(
    configs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    configs
        .iter()
        .map(|(k, v)| {
            let def = find_def(Scope::Topic, k).ok_or_else(|| ConfigError::Unknown(k.clone()))?;
            Ok((k.clone(), validate(def, v)?))
        })
        .collect()
}

/// Resolved broker properties: every broker-scope definition has a value here.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    values: BTreeMap<String, String>,
    /// Names whose value came from somewhere other than the built-in default.
    explicitly_set: std::collections::BTreeSet<String>,
    /// `listener.name.<listener>.<property>` overrides, keyed by that full name (listener
    /// lower-cased).
    listener_values: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let values = CONFIG_DEFS
            .iter()
            .filter(|d| d.scope == Scope::Broker)
            .map(|d| (d.name.to_string(), d.default.to_string()))
            .collect();
        BrokerConfig {
            values,
            explicitly_set: Default::default(),
            listener_values: Default::default(),
        }
    }
}

impl BrokerConfig {
    /// Sets one broker property by its Kafka name, validating it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        if let Some((listener, property)) = split_listener_prefix(name) {
            let def = listener_property_def(property)
                .ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
            let v = validate(def, value)?;
            let key = format!("listener.name.{}.{property}", listener.to_ascii_lowercase());
            self.listener_values.insert(key, v);
            return Ok(());
        }
        let def =
            find_def(Scope::Broker, name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let v = validate(def, value)?;
        self.values.insert(name.to_string(), v);
        self.explicitly_set.insert(name.to_string());
        Ok(())
    }

    /// Built-in defaults < TOML file < `TROUPE_*` environment < `--override` flags.
    pub fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let mut cfg = BrokerConfig::default();
        if let Some(path) = file {
            for (k, v) in read_toml_properties(path)? {
                if is_serve_option(&k) {
                    continue; // listener addresses etc. are read by the CLI layer
                }
                cfg.set(&k, &v)?;
            }
        }
        for (k, v) in env {
            if let Some(rest) = k.strip_prefix("TROUPE_") {
                let name = rest.to_ascii_lowercase().replace('_', ".");
                if find_def(Scope::Broker, &name).is_some() {
                    cfg.set(&name, v)?;
                }
            }
        }
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::File(format!("--override '{o}' is not key=value")))?;
            cfg.set(k.trim(), v)?;
        }
        Ok(cfg)
    }

    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }
    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }
    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "true"
    }
    pub fn is_explicit(&self, name: &str) -> bool {
        self.explicitly_set.contains(name)
    }

    /// A property as one listener sees it: `listener.name.<listener>.<name>` if set, else the
    /// broker-wide value. Empty strings count as unset for the override.
    pub fn listener_value(&self, listener: &str, name: &str) -> &str {
        let key = format!("listener.name.{}.{name}", listener.to_ascii_lowercase());
        match self.listener_values.get(&key) {
            Some(v) => v,
            None => self.get(name),
        }
    }

    /// Kafka's JAAS lookup for a SASL mechanism on a listener:
    /// `listener.name.<l>.<mechanism>.sasl.jaas.config`, then `sasl.jaas.config`.
    pub fn jaas_config(&self, listener: &str, mechanism: &str) -> &str {
        let key = format!(
            "listener.name.{}.{}.sasl.jaas.config",
            listener.to_ascii_lowercase(),
            mechanism.to_ascii_lowercase()
        );
        match self.listener_values.get(&key) {
            Some(v) => v,
            None => self.get("sasl.jaas.config"),
        }
    }

    /// A property Kafka reads per SASL mechanism of a listener (`connections.max.reauth.ms`):
    /// `listener.name.<l>.<mechanism>.<name>`, then `listener.name.<l>.<name>`, then the
    /// broker-wide value.
    pub fn listener_mechanism_value(&self, listener: &str, mechanism: &str, name: &str) -> &str {
        let key = format!(
            "listener.name.{}.{}.{name}",
            listener.to_ascii_lowercase(),
            mechanism.to_ascii_lowercase()
        );
        match self.listener_values.get(&key) {
            Some(v) => v,
            None => self.listener_value(listener, name),
        }
    }

    /// The effective value of a topic config given the topic's overrides, and where it came from.
    pub fn topic_value(
        &self,
        overrides: &BTreeMap<String, String>,
        def: &ConfigDef,
    ) -> (String, ConfigSource) {
        if let Some(v) = overrides.get(def.name) {
            return (v.clone(), ConfigSource::TopicConfig);
        }
        match def.broker_synonym {
            Some(syn) if self.is_explicit(syn) => {
                (self.get(syn).to_string(), ConfigSource::StaticBrokerConfig)
            }
            Some(syn) => (self.get(syn).to_string(), ConfigSource::Default),
            None => (def.default.to_string(), ConfigSource::Default),
        }
    }

    /// The storage settings of a topic with these overrides.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let get = |name: &str| -> String {
            let def = find_def(Scope::Topic, name).expect("topic config table names this");
            self.topic_value(overrides, def).0
        };
        let num = |name: &str| -> i64 { get(name).parse().unwrap_or(0) };
        let policy = get("cleanup.policy");
        let policy_has = |wanted: &str| policy.split(',').any(|p| p.trim() == wanted);
        LogConfig {
            segment_bytes: num("segment.bytes").max(14) as u64,
            segment_ms: num("segment.ms"),
            retention_ms: num("retention.ms"),
            retention_bytes: num("retention.bytes"),
            max_message_bytes: num("max.message.bytes").clamp(0, i32::MAX as i64) as i32,
            index_interval_bytes: num("index.interval.bytes").max(0) as u32,
            segment_index_bytes: num("segment.index.bytes").max(4) as u32,
            message_timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            flush_messages: num("flush.messages"),
            flush_ms: num("flush.ms"),
            delete_retention_enabled: policy_has("delete"),
            compact: policy_has("compact"),
            delete_retention_ms: num("delete.retention.ms"),
            min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio").parse().unwrap_or(0.5),
            min_compaction_lag_ms: num("min.compaction.lag.ms"),
            producer_id_expiration_ms: self.get_i64("producer.id.expiration.ms"),
            min_insync_replicas: num("min.insync.replicas").max(1),
        }
    }
}

/// Where a described config value came from (DescribeConfigs `config_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    StaticBrokerConfig = 4,
    Default = 5,
}

/// Options of `troupe serve` that a config file may also carry (not broker properties).
pub fn is_serve_option(key: &str) -> bool {
    matches!(
        key,
        "data.dir"
            | "listen"
            | "advertised.listener"
            | "http"
            | "node.id"
            | "process.roles"
            | "controller.listener"
            | "controller.quorum.voters"
    )
}

/// Reads a TOML file through the `config` crate and flattens nested tables into Kafka's dotted
/// names, so `num.partitions = 3`, `[num] partitions = 3` and `"num.partitions" = 3` agree.
pub fn read_toml_properties(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let raw = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::File(e.to_string()))?;
    let table: BTreeMap<String, config::Value> = raw
        .try_deserialize()
        .map_err(|e| ConfigError::File(e.to_string()))?;
    let mut out = Vec::new();
    for (k, v) in table {
        flatten(&k, v, &mut out)?;
    }
    Ok(out)
}

fn flatten(
    prefix: &str,
    value: config::Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    match value.kind {
        config::ValueKind::Table(t) => {
            for (k, v) in t {
                flatten(&format!("{prefix}.{k}"), v, out)?;
            }
        }
        config::ValueKind::Array(items) => {
            let parts: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
            out.push((prefix.to_string(), parts.join(",")));
        }
        _ => out.push((prefix.to_string(), value.to_string())),
    }
    Ok(())
}

/// The documented example config (`config/troupe.toml`), generated from `CONFIG_DEFS` so it
/// cannot drift: every broker property with its default, commented out.
pub fn example_toml() -> String {
    let mut out = String::from(
        "# Troupe broker configuration: every broker property with its built-in default.\n\
         # Generated by `troupe print-config`; a unit test keeps this file equal to that output.\n\
         # Uncomment to change a value. Precedence: built-in defaults < this file < TROUPE_* environment\n\
         # (TROUPE_NUM_PARTITIONS=3 sets num.partitions) < `troupe serve --override key=value`.\n\
         # Topic-level configs (retention.ms, cleanup.policy, ...) take their defaults from the\n\
         # log.* / message.* synonyms below and are set per topic with CreateTopics/AlterConfigs.\n\n\
         # Serve options (also flags: --data-dir, --listen, --advertised-listener, --http, --node-id):\n\
         # \"data.dir\" = \"./data\"\n\
         # listen = \"127.0.0.1:9092\"\n\
         # \"advertised.listener\" = \"127.0.0.1:9092\"\n\
         # http = \"127.0.0.1:9644\"\n\
         # \"node.id\" = 1\n\
         # Cluster (also flags: --controller-listen, --controller-voters, --role); leave unset for one broker:\n\
         # \"controller.listener\" = \"127.0.0.1:9093\"\n\
         # \"controller.quorum.voters\" = \"1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293\"\n\
         # \"process.roles\" = \"broker,controller\"\n",
    );
    for d in CONFIG_DEFS.iter().filter(|d| d.scope == Scope::Broker) {
        let value = match d.kind {
            ConfigKind::String | ConfigKind::List | ConfigKind::Password => {
                format!("\"{}\"", d.default)
            }
            _ => d.default.to_string(),
        };
        out.push_str(&format!("\n# {}\n# \"{}\" = {}\n", d.doc, d.name, value));
    }
    out
}

/// Marks the generated config reference inside docs/operations.md.
pub const REFERENCE_BEGIN: &str = "<!-- BEGIN GENERATED: troupe print-config --markdown -->";
pub const REFERENCE_END: &str = "<!-- END GENERATED -->";

/// The config reference of docs/operations.md (between the markers above), generated from
/// `CONFIG_DEFS`: every broker property, then every topic property with the broker property
/// that supplies its default.
pub fn reference_markdown() -> String {
    let mut out = String::from("### Broker configs\n\n| name | type | default | valid values | meaning |\n|---|---|---|---|---|\n");
    for d in CONFIG_DEFS.iter().filter(|d| d.scope == Scope::Broker) {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {} |\n",
            d.name,
            kind_name(d.kind),
            d.default,
            valid_values(&d.validator),
            d.doc.replace('|', "\\|")
        ));
    }
    out.push_str("\n### Topic configs\n\nSet per topic (CreateTopics, AlterConfigs, `troupe topic create|alter --config`); unset, a topic takes the broker property named in the second column.\n\n| name | broker default from | type | default | valid values | meaning |\n|---|---|---|---|---|---|\n");
    for d in CONFIG_DEFS.iter().filter(|d| d.scope == Scope::Topic) {
        out.push_str(&format!(
            "| `{}` | {} | {} | `{}` | {} | {} |\n",
            d.name,
            d.broker_synonym
                .map_or("—".to_string(), |s| format!("`{s}`")),
            kind_name(d.kind),
            d.default,
            valid_values(&d.validator),
            d.doc.replace('|', "\\|")
        ));
    }
    out
}

fn kind_name(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::Boolean => "boolean",
        ConfigKind::String => "string",
        ConfigKind::Int => "int",
        ConfigKind::Long => "long",
        ConfigKind::Double => "double",
        ConfigKind::List => "list",
        ConfigKind::Password => "password",
    }
}

fn valid_values(v: &Validator) -> String {
    let bound = |n: i64| match n {
        i64::MAX => "max".to_string(),
        n if n == i32::MAX as i64 => "2^31-1".to_string(),
        n => n.to_string(),
    };
    match v {
        Validator::Any => "any".to_string(),
        Validator::Range(lo, hi) => format!("[{}, {}]", bound(*lo), bound(*hi)),
        Validator::DoubleRange(lo, hi) => format!("[{lo}, {hi}]"),
        Validator::OneOf(values) => values.join(", "),
        Validator::ListOf(values) => format!("list of {}", values.join(", ")),
        Validator::HostCounts => "list of host:count".to_string(),
    }
}

/// `text` with the part between the reference markers replaced by `reference_markdown()`;
/// None when the markers are missing.
pub fn with_reference(text: &str) -> Option<String> {
    let begin = text.find(REFERENCE_BEGIN)? + REFERENCE_BEGIN.len();
    let end = text[begin..].find(REFERENCE_END)? + begin;
    Some(format!(
        "{}\n{}{}",
        &text[..begin],
        reference_markdown(),
        &text[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_guide_config_reference_matches_the_table() {
        let shipped = include_str!("../docs/operations.md");
        let regenerated = with_reference(shipped).expect("docs/operations.md has the markers");
        assert!(
            shipped == regenerated,
            "docs/operations.md's config reference is stale: regenerate with \
             `troupe print-config --markdown --update docs/operations.md`"
        );
        for d in CONFIG_DEFS {
            assert!(
                shipped.contains(&format!("| `{}` |", d.name)),
                "{} missing",
                d.name
            );
        }
    }

    #[test]
    fn shipped_example_config_matches_the_table() {
        let shipped = include_str!("../config/troupe.toml");
        assert_eq!(
            shipped,
            example_toml(),
            "regenerate with: troupe print-config > config/troupe.toml"
        );
    }

    #[test]
    fn example_config_parses_with_every_line_uncommented() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("all.toml");
        let uncommented: String = example_toml()
            .lines()
            .filter(|l| {
                l.starts_with("# \"")
                    && l.contains(" = ")
                    && !l.contains("data.dir")
                    && !l.contains("advertised.listener")
                    && !l.contains("node.id")
                    && !l.contains("controller.")
                    && !l.contains("process.roles")
            })
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        std::fs::write(&file, uncommented).unwrap();
        let cfg = BrokerConfig::load(Some(&file), &[], &[]).unwrap();
        assert_eq!(cfg.get_i64("num.partitions"), 1);
    }

    #[test]
    fn every_topic_config_has_a_broker_synonym_entry_with_the_same_default() {
        for d in CONFIG_DEFS.iter().filter(|d| d.scope == Scope::Topic) {
            if let Some(syn) = d.broker_synonym {
                let b = find_def(Scope::Broker, syn).unwrap_or_else(|| panic!("{syn} missing"));
                assert_eq!(b.default, d.default, "{}", d.name);
            }
            validate(d, d.default).unwrap_or_else(|e| panic!("default of {} invalid: {e}", d.name));
        }
    }

    #[test]
    fn validation_rejects_bad_values_and_unknown_names() {
        let mut m = BTreeMap::new();
        m.insert("retention.ms".to_string(), "abc".to_string());
        assert!(matches!(
            validate_topic_configs(&m),
            Err(ConfigError::InvalidValue { .. })
        ));
        m.clear();
        m.insert("no.such.config".to_string(), "1".to_string());
        assert_eq!(
            validate_topic_configs(&m),
            Err(ConfigError::Unknown("no.such.config".into()))
        );
        m.clear();
        m.insert("cleanup.policy".to_string(), "compact, delete".to_string());
        assert_eq!(
            validate_topic_configs(&m).unwrap()["cleanup.policy"],
            "compact,delete"
        );
        m.insert("cleanup.policy".to_string(), "shred".to_string());
        assert!(validate_topic_configs(&m).is_err());
    }

    #[test]
    fn listener_prefixed_properties_override_the_broker_wide_value() {
        let mut cfg = BrokerConfig::default();
        cfg.set("ssl.client.auth", "requested").unwrap();
        cfg.set("listener.name.SSL.ssl.client.auth", "required")
            .unwrap();
        assert_eq!(cfg.listener_value("ssl", "ssl.client.auth"), "required");
        assert_eq!(cfg.listener_value("SSL", "ssl.client.auth"), "required");
        assert_eq!(
            cfg.listener_value("sasl_ssl", "ssl.client.auth"),
            "requested"
        );
        // Validated with the property's own definition.
        assert!(cfg
            .set("listener.name.ssl.ssl.client.auth", "sometimes")
            .is_err());
        assert!(matches!(
            cfg.set("listener.name.ssl.no.such.property", "1"),
            Err(ConfigError::Unknown(_))
        ));
    }

    #[test]
    fn connection_limits_resolve_per_listener_and_overrides_are_validated() {
        let mut cfg = BrokerConfig::default();
        assert_eq!(
            cfg.listener_value("CLIENT", "max.connections"),
            "2147483647"
        );
        cfg.set("max.connections", "100").unwrap();
        cfg.set("listener.name.CLIENT.max.connections", "7")
            .unwrap();
        cfg.set("listener.name.client.max.connection.creation.rate", "3")
            .unwrap();
        assert_eq!(cfg.listener_value("CLIENT", "max.connections"), "7");
        assert_eq!(cfg.listener_value("OTHER", "max.connections"), "100");
        assert_eq!(
            cfg.listener_value("client", "max.connection.creation.rate"),
            "3"
        );
        assert!(cfg.set("max.connections", "-1").is_err());
        assert!(cfg.set("max.connections.per.ip", "2147483648").is_err());

        cfg.set(
            "max.connections.per.ip.overrides",
            "broker-a:100, 127.0.0.1:200,::1:5",
        )
        .unwrap();
        assert_eq!(
            parse_host_counts(cfg.get("max.connections.per.ip.overrides")).unwrap(),
            vec![
                ("broker-a".to_string(), 100),
                ("127.0.0.1".to_string(), 200),
                ("::1".to_string(), 5)
            ]
        );
        assert_eq!(parse_host_counts("").unwrap(), vec![]);
        for bad in [
            "127.0.0.1",
            "127.0.0.1:-1",
            "127.0.0.1:x",
            ":3",
            "h:2147483648",
        ] {
            assert!(
                cfg.set("max.connections.per.ip.overrides", bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn jaas_config_is_looked_up_per_listener_and_mechanism_then_broker_wide() {
        let mut cfg = BrokerConfig::default();
        cfg.set("sasl.jaas.config", "broker-wide").unwrap();
        cfg.set(
            "listener.name.sasl_ssl.plain.sasl.jaas.config",
            "per-listener",
        )
        .unwrap();
        assert_eq!(cfg.jaas_config("SASL_SSL", "PLAIN"), "per-listener");
        assert_eq!(cfg.jaas_config("SASL_SSL", "SCRAM-SHA-256"), "broker-wide");
        assert_eq!(cfg.jaas_config("sasl_plaintext", "PLAIN"), "broker-wide");
    }

    #[test]
    fn max_reauth_is_looked_up_per_mechanism_then_listener_then_broker_wide() {
        let mut cfg = BrokerConfig::default();
        assert_eq!(
            cfg.listener_mechanism_value("SASL_SSL", "PLAIN", "connections.max.reauth.ms"),
            "0"
        );
        cfg.set("connections.max.reauth.ms", "60000").unwrap();
        cfg.set("listener.name.sasl_ssl.connections.max.reauth.ms", "30000")
            .unwrap();
        cfg.set(
            "listener.name.sasl_ssl.scram-sha-512.connections.max.reauth.ms",
            "3000",
        )
        .unwrap();
        let v = |l, m| cfg.listener_mechanism_value(l, m, "connections.max.reauth.ms");
        assert_eq!(v("SASL_SSL", "SCRAM-SHA-512"), "3000");
        assert_eq!(v("SASL_SSL", "PLAIN"), "30000");
        assert_eq!(v("SASL_PLAINTEXT", "SCRAM-SHA-512"), "60000");
        // Validated as the property itself: a negative lifetime is refused.
        assert!(cfg
            .set(
                "listener.name.sasl_ssl.plain.connections.max.reauth.ms",
                "-1"
            )
            .is_err());
        assert!(cfg
            .set("listener.name.sasl_ssl.plain.no.such.property", "1")
            .is_err());
    }

    #[test]
    fn an_invalid_password_value_is_not_repeated_in_the_error() {
        let def = ConfigDef {
            name: "test.secret",
            broker_synonym: None,
            kind: ConfigKind::Password,
            default: "",
            validator: OneOf(&["x"]),
            scope: Scope::Broker,
            doc: "",
        };
        let err = validate(&def, "hunter2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn precedence_is_defaults_file_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "\"num.partitions\" = 3\n[log.retention]\nms = 1000\n",
        )
        .unwrap();
        let env = vec![("TROUPE_NUM_PARTITIONS".to_string(), "4".to_string())];
        let cfg = BrokerConfig::load(Some(&file), &env, &[]).unwrap();
        assert_eq!(cfg.get_i64("num.partitions"), 4);
        assert_eq!(cfg.get_i64("log.retention.ms"), 1000);
        let cfg = BrokerConfig::load(Some(&file), &env, &["num.partitions=5".into()]).unwrap();
        assert_eq!(cfg.get_i64("num.partitions"), 5);
        assert!(BrokerConfig::load(None, &[], &["bogus.name=1".into()]).is_err());
        // Topic defaults follow the broker synonym.
        let lc = cfg.log_config(&BTreeMap::new());
        assert_eq!(lc.retention_ms, 1000);
    }

    #[test]
    fn log_config_carries_compaction_settings() {
        let cfg = BrokerConfig::load(None, &[], &[]).unwrap();
        let lc = cfg.log_config(&BTreeMap::new());
        assert!(!lc.compact);
        assert!(lc.delete_retention_enabled);
        assert_eq!(lc.delete_retention_ms, 86_400_000);
        assert_eq!(lc.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(lc.min_compaction_lag_ms, 0);
        let overrides: BTreeMap<String, String> = [
            ("cleanup.policy", "compact,delete"),
            ("delete.retention.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.25"),
            ("min.compaction.lag.ms", "60000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let lc = cfg.log_config(&overrides);
        assert!(lc.compact);
        assert!(lc.delete_retention_enabled);
        assert_eq!(lc.delete_retention_ms, 1000);
        assert_eq!(lc.min_cleanable_dirty_ratio, 0.25);
        assert_eq!(lc.min_compaction_lag_ms, 60_000);
        let compact_only: BTreeMap<String, String> =
            [("cleanup.policy".to_string(), "compact".to_string())].into();
        let lc = cfg.log_config(&compact_only);
        assert!(lc.compact);
        assert!(!lc.delete_retention_enabled);
    }
}
