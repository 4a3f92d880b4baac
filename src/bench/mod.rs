//! `troupe bench`: measures a Kafka-compatible broker with a stock client (librdkafka through
//! `rdkafka`), so the same numbers can be taken for Troupe and for any peer. `produce` can
//! also drive Troupe's own client (`--driver native`, `native/`), which speaks TLS and SASL
//! from a `--command-config` file where this build's librdkafka cannot.
//!
//! Modes: `produce` (throughput), `consume` (throughput reading a topic from its start),
//! `e2e` (end-to-end latency percentiles at a fixed rate) and `footprint` (the broker's RSS idle
//! and with many partitions). Each prints a table, or one JSON object with `--json`; when the
//! broker runs on this machine its CPU seconds and memory come from `/proc/<pid>`.
//!
//! This room is a client: it owns nothing of the broker and reaches it only over the wire
//! (the native driver through the `client` room's connection and the `admin` room's).

mod client;
mod consume;
mod driver;
mod e2e;
mod footprint;
mod native;
mod options;
mod process;
mod produce;
mod report;

pub use options::{BenchArgs, BenchMode, Driver};
pub use report::Report;

/// Runs one benchmark and prints its report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let json = args.common().json;
    let report = match args.mode {
        BenchMode::Produce(o) => match driver::choose(&o)? {
            driver::ProduceDriver::Librdkafka => produce::run(&o)?,
            driver::ProduceDriver::Native(security) => native::run(&o, security)?,
        },
        BenchMode::Consume(o) => consume::run(&o)?,
        BenchMode::E2e(o) => e2e::run(&o)?,
        BenchMode::Footprint(o) => footprint::run(&o)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
