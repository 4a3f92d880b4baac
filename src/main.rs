//! The `troupe` command line: `troupe serve` runs a broker; `topic`, `group`, `cluster`,
//! `acl`, `user`, `quota`, `produce` and `consume` administer any Kafka-compatible cluster over
//! the Kafka protocol (`troupe::admin`).

use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use troupe::admin::{self, AdminError, Cluster};
use troupe::server::args::{serve_options, ServeArgs};
use troupe::server::run;

#[derive(Parser)]
#[command(
    name = "troupe",
    version,
    about = "A Kafka-compatible streaming broker built as an actor system"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker.
    Serve(ServeArgs),
    /// Print every broker property with its default, as TOML (config/troupe.toml), or the
    /// Markdown config reference of docs/operations.md.
    PrintConfig {
        /// Print the Markdown reference (broker and topic configs) instead of TOML.
        #[arg(long)]
        markdown: bool,
        /// With --markdown: rewrite the generated section of this file in place.
        #[arg(long, value_name = "FILE", requires = "markdown")]
        update: Option<PathBuf>,
    },
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// List, describe (with lag), reset and delete consumer groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Brokers, controller, under-replicated and offline partitions.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Add, list and remove ACLs (brokers with authorizer.class.name set).
    #[command(subcommand)]
    Acl(AclCommand),
    /// Users' SCRAM credentials.
    #[command(subcommand)]
    User(UserCommand),
    /// Client quotas (per user, client id, or IP).
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Produce one record per line of stdin.
    Produce(ProduceArgs),
    /// Print records, one per line.
    Consume(ConsumeArgs),
    /// Measure a broker (this one or any Kafka-compatible peer) with a stock client.
    #[cfg(feature = "bench")]
    Bench(troupe::bench::BenchArgs),
}

/// Where and how admin commands talk to the cluster.
#[derive(Args, Clone)]
struct Connect {
    /// Any broker of the cluster, host:port.
    #[arg(
        long,
        global = true,
        env = "TROUPE_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// A Kafka client properties file (security.protocol, sasl.mechanism,
    /// sasl.username/sasl.password or sasl.jaas.config, ssl.ca.location or
    /// ssl.truststore.location, ssl.certificate.location, ssl.key.location ...).
    #[arg(
        long,
        global = true,
        env = "TROUPE_COMMAND_CONFIG",
        value_name = "FILE"
    )]
    command_config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum TopicCommand {
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value_t = 1)]
        replication_factor: i16,
        /// key=value, repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        #[command(flatten)]
        connect: Connect,
    },
    List {
        /// Include internal topics (__consumer_offsets, ...).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        connect: Connect,
    },
    Describe {
        name: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Set configs (an empty value removes one) and/or grow the partition count.
    Alter {
        name: String,
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        #[arg(long)]
        partitions: Option<i32>,
        #[command(flatten)]
        connect: Connect,
    },
    Delete {
        name: String,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    List {
        #[command(flatten)]
        connect: Connect,
    },
    /// State, members, and per-partition committed offset, log end offset and lag.
    Describe {
        group: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Move a group's committed offsets of a topic (the group must have no active members).
    ResetOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long, conflicts_with_all = ["to_latest", "to_offset"])]
        to_earliest: bool,
        #[arg(long, conflicts_with = "to_offset")]
        to_latest: bool,
        #[arg(long)]
        to_offset: Option<i64>,
        /// Commit the new offsets (without it, only show them).
        #[arg(long)]
        execute: bool,
        #[command(flatten)]
        connect: Connect,
    },
    Delete {
        group: String,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    Status {
        #[command(flatten)]
        connect: Connect,
    },
}

/// The resource an `acl` command is about.
#[derive(Args, Clone)]
struct AclResource {
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    group: Option<String>,
    /// The cluster resource (`kafka-cluster`).
    #[arg(long)]
    cluster: bool,
    #[arg(long)]
    transactional_id: Option<String>,
    /// literal (default) or prefixed; `list` and `remove` also take any and match.
    #[arg(long = "resource-pattern-type", alias = "pattern")]
    pattern: Option<String>,
}

impl AclResource {
    fn selector(self) -> admin::acl::ResourceSelector {
        admin::acl::ResourceSelector {
            topic: self.topic,
            group: self.group,
            cluster: self.cluster,
            transactional_id: self.transactional_id,
            pattern: self.pattern,
        }
    }
}

#[derive(Subcommand)]
enum AclCommand {
    /// Grant (or with --deny, deny) operations on a resource to a principal.
    Add {
        #[command(flatten)]
        resource: AclResource,
        /// Type:name, e.g. User:alice or User:* .
        #[arg(long)]
        principal: String,
        /// Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs,
        /// AlterConfigs, IdempotentWrite, All; repeatable.
        #[arg(long = "operation", required = true)]
        operations: Vec<String>,
        /// The client host the ACL applies to.
        #[arg(long, default_value = admin::acl::ANY_HOST)]
        host: String,
        /// A DENY ACL (DENY wins over every ALLOW).
        #[arg(long)]
        deny: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// ACLs of a resource and/or principal (every ACL when neither is given).
    List {
        #[command(flatten)]
        resource: AclResource,
        #[arg(long)]
        principal: Option<String>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Remove the ACLs matching a resource and/or principal (and operations, if given).
    Remove {
        #[command(flatten)]
        resource: AclResource,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long = "operation")]
        operations: Vec<String>,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// SCRAM-SHA-256 / SCRAM-SHA-512 credentials.
    #[command(subcommand)]
    Scram(ScramCommand),
}

#[derive(Subcommand)]
enum ScramCommand {
    /// Create or replace a user's credential (the password is salted here, never sent).
    Set {
        user: String,
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        #[arg(long, env = "TROUPE_SCRAM_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value_t = 4096)]
        iterations: u32,
        #[command(flatten)]
        connect: Connect,
    },
    /// Users with their mechanisms and iteration counts.
    List {
        users: Vec<String>,
        #[command(flatten)]
        connect: Connect,
    },
    Delete {
        user: String,
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        #[command(flatten)]
        connect: Connect,
    },
}

/// The entity a `quota` command is about.
#[derive(Args, Clone)]
struct QuotaEntity {
    #[arg(long)]
    user: Option<String>,
    /// The default of every user.
    #[arg(long)]
    user_default: bool,
    #[arg(long)]
    client_id: Option<String>,
    /// The default of every client id.
    #[arg(long)]
    client_default: bool,
    #[arg(long)]
    ip: Option<String>,
    #[arg(long)]
    ip_default: bool,
}

impl QuotaEntity {
    fn selector(self) -> admin::quota::EntitySelector {
        admin::quota::EntitySelector {
            user: self.user,
            user_default: self.user_default,
            client_id: self.client_id,
            client_default: self.client_default,
            ip: self.ip,
            ip_default: self.ip_default,
        }
    }
}

#[derive(Subcommand)]
enum QuotaCommand {
    /// Set (--config key=value) or remove (--remove key) quotas of one entity.
    Set {
        #[command(flatten)]
        entity: QuotaEntity,
        /// producer_byte_rate, consumer_byte_rate, request_percentage, ...; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        #[arg(long = "remove", value_name = "KEY")]
        removals: Vec<String>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Quotas of the entities matching the flags (all when none is given).
    Describe {
        #[command(flatten)]
        entity: QuotaEntity,
        /// Only entities with exactly the given components.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Args)]
struct ProduceArgs {
    topic: String,
    /// Write every record to this partition (default: by key, else spread over partitions).
    #[arg(long)]
    partition: Option<i32>,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// The key of every record (a line's own key, from --key-separator or JSON, wins).
    #[arg(long)]
    key: Option<String>,
    /// A header added to every record: --header k=v (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Input format: `text` (one value per line) or `json` (one object per line:
    /// {"key": ..., "value": ..., "headers": {"k": "v"}, "partition": N}).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    #[command(flatten)]
    connect: Connect,
}

#[derive(Args)]
struct ConsumeArgs {
    topic: String,
    #[arg(long)]
    partition: Option<i32>,
    /// Start at the log start (default: only new records).
    #[arg(long)]
    from_beginning: bool,
    /// Stop after this many records.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Stop when nothing new arrived for this long.
    #[arg(long, default_value_t = 5000)]
    idle_timeout_ms: u64,
    /// Print `key<SEP>value`.
    #[arg(long)]
    print_key: bool,
    /// Print the headers (`k=v,k=v`) after the value.
    #[arg(long)]
    print_headers: bool,
    #[arg(long, default_value = "\t")]
    key_separator: String,
    #[command(flatten)]
    connect: Connect,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_options(args).and_then(run),
        Command::PrintConfig { markdown, update } => print_config(markdown, update),
        #[cfg(feature = "bench")]
        Command::Bench(args) => troupe::bench::run(args),
        admin_command => {
            if let Err(e) = run_admin(admin_command) {
                eprintln!("troupe: {e}");
                std::process::exit(e.exit_code());
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("troupe: {e:#}");
        std::process::exit(1);
    }
}

/// `troupe print-config [--markdown [--update FILE]]`.
fn print_config(markdown: bool, update: Option<PathBuf>) -> anyhow::Result<()> {
    match (markdown, update) {
        (false, _) => print!("{}", troupe::config::example_toml()),
        (true, None) => print!("{}", troupe::config::reference_markdown()),
        (true, Some(path)) => {
            let text = std::fs::read_to_string(&path)?;
            let updated = troupe::config::with_reference(&text).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no '{}' ... '{}' markers",
                    path.display(),
                    troupe::config::REFERENCE_BEGIN,
                    troupe::config::REFERENCE_END
                )
            })?;
            std::fs::write(&path, updated)?;
        }
    }
    Ok(())
}

fn connect(c: &Connect) -> Result<Cluster, AdminError> {
    match &c.command_config {
        None => Cluster::connect(&c.bootstrap, admin::REQUEST_TIMEOUT),
        Some(path) => {
            let security = troupe::security::client_properties::client_security_from_file(path)
                .map_err(|e| {
                    AdminError::Usage(format!("--command-config {}: {e}", path.display()))
                })?;
            Cluster::connect_with(&c.bootstrap, admin::REQUEST_TIMEOUT, security)
        }
    }
}

/// Runs one admin subcommand.
fn run_admin(command: Command) -> Result<(), AdminError> {
    match command {
        Command::Topic(TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            connect: c,
        }) => {
            let configs = admin::topic::parse_configs(&configs)?;
            admin::topic::create(
                &mut connect(&c)?,
                &name,
                partitions,
                replication_factor,
                &configs,
            )
        }
        Command::Topic(TopicCommand::List { all, connect: c }) => {
            admin::topic::list(&mut connect(&c)?, c.json, all)
        }
        Command::Topic(TopicCommand::Describe { name, connect: c }) => {
            admin::topic::describe(&mut connect(&c)?, &name, c.json)
        }
        Command::Topic(TopicCommand::Alter {
            name,
            configs,
            partitions,
            connect: c,
        }) => {
            let configs = admin::topic::parse_configs(&configs)?;
            admin::topic::alter(&mut connect(&c)?, &name, &configs, partitions)
        }
        Command::Topic(TopicCommand::Delete { name, connect: c }) => {
            admin::topic::delete(&mut connect(&c)?, &name)
        }
        Command::Group(GroupCommand::List { connect: c }) => {
            admin::group::list(&mut connect(&c)?, c.json)
        }
        Command::Group(GroupCommand::Describe { group, connect: c }) => {
            admin::group::describe(&mut connect(&c)?, &group, c.json)
        }
        Command::Group(GroupCommand::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_offset,
            execute,
            connect: c,
        }) => {
            let to = match (to_earliest, to_latest, to_offset) {
                (true, _, _) => admin::group::ResetTo::Earliest,
                (_, true, _) => admin::group::ResetTo::Latest,
                (_, _, Some(n)) => admin::group::ResetTo::Offset(n),
                _ => {
                    return Err(AdminError::Usage(
                        "give --to-earliest, --to-latest or --to-offset N".into(),
                    ))
                }
            };
            admin::group::reset_offsets(&mut connect(&c)?, &group, &topic, to, execute, c.json)
        }
        Command::Group(GroupCommand::Delete { group, connect: c }) => {
            admin::group::delete(&mut connect(&c)?, &group)
        }
        Command::Cluster(ClusterCommand::Status { connect: c }) => {
            admin::topic::cluster_status(&mut connect(&c)?, c.json)
        }
        Command::Acl(AclCommand::Add {
            resource,
            principal,
            operations,
            host,
            deny,
            connect: c,
        }) => admin::acl::add(
            &mut connect(&c)?,
            &admin::acl::AclSpec {
                resource: resource.selector(),
                principal,
                host,
                operations,
                deny,
            },
        ),
        Command::Acl(AclCommand::List {
            resource,
            principal,
            connect: c,
        }) => admin::acl::list(
            &mut connect(&c)?,
            &resource.selector(),
            principal.as_deref(),
            c.json,
        ),
        Command::Acl(AclCommand::Remove {
            resource,
            principal,
            operations,
            connect: c,
        }) => admin::acl::remove(
            &mut connect(&c)?,
            &resource.selector(),
            principal.as_deref(),
            &operations,
            c.json,
        ),
        Command::User(UserCommand::Scram(ScramCommand::Set {
            user,
            mechanism,
            password,
            iterations,
            connect: c,
        })) => {
            let mechanism = admin::user::parse_mechanism(&mechanism)?;
            admin::user::set(&mut connect(&c)?, &user, mechanism, &password, iterations)
        }
        Command::User(UserCommand::Scram(ScramCommand::List { users, connect: c })) => {
            admin::user::list(&mut connect(&c)?, &users, c.json)
        }
        Command::User(UserCommand::Scram(ScramCommand::Delete {
            user,
            mechanism,
            connect: c,
        })) => {
            let mechanism = admin::user::parse_mechanism(&mechanism)?;
            admin::user::delete(&mut connect(&c)?, &user, mechanism)
        }
        Command::Quota(QuotaCommand::Set {
            entity,
            configs,
            removals,
            connect: c,
        }) => {
            let settings = admin::quota::parse_settings(&configs)?;
            admin::quota::set(&mut connect(&c)?, &entity.selector(), &settings, &removals)
        }
        Command::Quota(QuotaCommand::Describe {
            entity,
            strict,
            connect: c,
        }) => admin::quota::describe(&mut connect(&c)?, &entity.selector(), strict, c.json),
        Command::Produce(args) => {
            let headers = args
                .headers
                .iter()
                .map(|h| {
                    h.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| {
                            AdminError::Usage(format!("--header {h}: expected key=value"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let options = admin::records::ProduceOptions {
                partition: args.partition,
                key_separator: args.key_separator,
                key: args.key,
                headers,
                json_lines: args.format == "json",
                progress: !args.connect.json,
            };
            let stdin = std::io::stdin();
            let written = admin::records::produce(
                &mut connect(&args.connect)?,
                &args.topic,
                &options,
                stdin.lock(),
            )?;
            eprintln!("produced {written} records to {}", args.topic);
            Ok(())
        }
        Command::Consume(args) => {
            let options = admin::records::ConsumeOptions {
                partition: args.partition,
                from_beginning: args.from_beginning,
                max_messages: args.max_messages,
                idle_timeout: Duration::from_millis(args.idle_timeout_ms),
                print_key: args.print_key,
                print_headers: args.print_headers,
                progress: !args.connect.json,
                key_separator: args.key_separator.replace("\\t", "\t"),
                json: args.connect.json,
            };
            let stdout = std::io::stdout();
            admin::records::consume(
                &mut connect(&args.connect)?,
                &args.topic,
                &options,
                stdout.lock(),
            )?;
            Ok(())
        }
        #[cfg(feature = "bench")]
        Command::Bench(_) => unreachable!("handled by main"),
        Command::Serve(_) | Command::PrintConfig { .. } => unreachable!("handled by main"),
    }
}
