//! The `troupe` command line: `troupe serve` runs a broker. Admin subcommands join it later
//! (issue #6).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use troupe::config::{read_toml_properties, BrokerConfig};
use troupe::server::{run, ServeOptions};

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
    /// Print every broker property with its default, as TOML (config/troupe.toml).
    PrintConfig,
}

#[derive(Parser)]
struct ServeArgs {
    /// Where topics, segments and the metadata log live.
    #[arg(long, env = "TROUPE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Kafka listener address.
    #[arg(long, env = "TROUPE_LISTEN")]
    listen: Option<SocketAddr>,
    /// host:port clients are told to connect to (defaults to --listen).
    #[arg(long, env = "TROUPE_ADVERTISED_LISTENER")]
    advertised_listener: Option<String>,
    /// HTTP address for /healthz, /readyz and /metrics.
    #[arg(long, env = "TROUPE_HTTP")]
    http: Option<SocketAddr>,
    #[arg(long, env = "TROUPE_NODE_ID")]
    node_id: Option<i32>,
    /// A TOML file of broker properties by their Kafka names (see config/troupe.toml).
    #[arg(long, env = "TROUPE_CONFIG")]
    config: Option<PathBuf>,
    /// Set any broker property: --override num.partitions=3 (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_options(args).and_then(run),
        Command::PrintConfig => {
            print!("{}", troupe::config::example_toml());
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("troupe: {e:#}");
        std::process::exit(1);
    }
}

/// Flags and `TROUPE_*` variables (clap) beat the file, which beats built-in defaults.
fn serve_options(args: ServeArgs) -> anyhow::Result<ServeOptions> {
    let file_values = match &args.config {
        Some(path) => read_toml_properties(path)?,
        None => Vec::new(),
    };
    let from_file = |key: &str| {
        file_values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = BrokerConfig::load(args.config.as_deref(), &env, &args.overrides)?;

    let data_dir = args
        .data_dir
        .or_else(|| from_file("data.dir").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("./data"));
    let listen: SocketAddr = match args.listen {
        Some(l) => l,
        None => from_file("listen")
            .unwrap_or_else(|| "127.0.0.1:9092".into())
            .parse()?,
    };
    let http: SocketAddr = match args.http {
        Some(h) => h,
        None => from_file("http")
            .unwrap_or_else(|| "127.0.0.1:9644".into())
            .parse()?,
    };
    let advertised = args
        .advertised_listener
        .or_else(|| from_file("advertised.listener"))
        .unwrap_or_else(|| listen.to_string());
    let node_id = match args.node_id {
        Some(n) => n,
        None => from_file("node.id")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(1),
    };
    Ok(ServeOptions {
        data_dir,
        listen,
        advertised,
        http,
        node_id,
        config,
    })
}
