//! Which client `troupe bench produce` drives, and whether it can run what it is asked to.
//!
//! librdkafka is the default, so numbers stay comparable with any peer broker; it is built
//! without SSL and SASL (its `ssl` feature would link OpenSSL into the `troupe` binary), so a
//! `--command-config` naming anything but PLAINTEXT needs the native driver, which speaks
//! TLS and SASL through the `client` room's rustls connection. Options one driver does not
//! take are refused here, before any connection, rather than silently ignored.

use std::path::Path;

use super::options::{Driver, ProduceOptions};
use crate::security::client_properties::client_security_from_file;
use crate::security::{ClientSecurity, SecurityProtocol};

/// A produce run's client, with what it needs.
#[derive(Debug)]
pub enum ProduceDriver {
    Librdkafka,
    /// Troupe's own client and the security of its connections.
    Native(ClientSecurity),
}

/// The driver `o` asks for, its `--command-config` read, its options checked.
pub fn choose(o: &ProduceOptions) -> anyhow::Result<ProduceDriver> {
    let security = match &o.command_config {
        None => ClientSecurity::plaintext(),
        Some(path) => read_command_config(path)?,
    };
    check(o, security.protocol())?;
    Ok(match o.driver {
        Driver::Librdkafka => ProduceDriver::Librdkafka,
        Driver::Native => ProduceDriver::Native(security),
    })
}

fn read_command_config(path: &Path) -> anyhow::Result<ClientSecurity> {
    client_security_from_file(path)
        .map_err(|e| anyhow::anyhow!("--command-config {}: {e}", path.display()))
}

/// Refuses what the chosen driver cannot do with `protocol`.
pub fn check(o: &ProduceOptions, protocol: SecurityProtocol) -> anyhow::Result<()> {
    let p = &o.run.producer;
    match o.driver {
        Driver::Librdkafka => {
            if protocol != SecurityProtocol::Plaintext {
                anyhow::bail!(
                    "security.protocol={} needs --driver native: the librdkafka driver is built \
                     without SSL and SASL (its OpenSSL may not be linked into troupe)",
                    protocol.name()
                );
            }
        }
        Driver::Native => {
            if !matches!(p.acks.as_str(), "1" | "all" | "-1") {
                anyhow::bail!(
                    "--driver native takes --acks 1 or all, not {} (it counts a record once its \
                     Produce response says so)",
                    p.acks
                );
            }
            if p.producers != 1 {
                anyhow::bail!(
                    "--driver native takes --connections (per partition leader), not --producers"
                );
            }
            if !p.producer_config.is_empty() {
                anyhow::bail!(
                    "--producer-config sets librdkafka properties: not with --driver native"
                );
            }
            if o.connections == 0 {
                anyhow::bail!("--connections must be at least 1");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        produce: ProduceOptions,
    }

    fn options(args: &[&str]) -> ProduceOptions {
        Cli::try_parse_from(std::iter::once("produce").chain(args.iter().copied()))
            .unwrap()
            .produce
    }

    fn refusal(args: &[&str], protocol: SecurityProtocol) -> String {
        check(&options(args), protocol).unwrap_err().to_string()
    }

    #[test]
    fn librdkafka_stays_the_default_and_speaks_only_plaintext() {
        let o = options(&[]);
        assert_eq!(o.driver, Driver::Librdkafka);
        assert_eq!(o.connections, 4);
        assert!(o.command_config.is_none());
        check(&o, SecurityProtocol::Plaintext).unwrap();
        for protocol in [
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslSsl,
            SecurityProtocol::SaslPlaintext,
        ] {
            let e = refusal(&[], protocol);
            assert!(e.contains("--driver native"), "{e}");
            assert!(e.contains(protocol.name()), "{e}");
        }
    }

    #[test]
    fn native_speaks_every_protocol_and_refuses_librdkafka_only_options() {
        let o = options(&["--driver", "native", "--acks", "all", "--connections", "2"]);
        assert_eq!((o.driver, o.connections), (Driver::Native, 2));
        for protocol in [SecurityProtocol::Plaintext, SecurityProtocol::SaslSsl] {
            check(&o, protocol).unwrap();
        }
        let native = |extra: &[&str]| {
            let mut args = vec!["--driver", "native"];
            args.extend_from_slice(extra);
            refusal(&args, SecurityProtocol::Plaintext)
        };
        assert!(native(&["--acks", "0"]).contains("--acks 1 or all"));
        assert!(native(&["--producers", "2"]).contains("--connections"));
        assert!(native(&["--producer-config", "linger.ms=1"]).contains("librdkafka"));
        assert!(native(&["--connections", "0"]).contains("at least 1"));
        assert!(Cli::try_parse_from(["produce", "--driver", "java"]).is_err());
    }

    #[test]
    fn the_command_config_is_read_with_the_admin_clis_parser() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.username=bench\nsasl.password=bench-secret\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        match choose(&options(&["--driver", "native", "--command-config", path])).unwrap() {
            ProduceDriver::Native(security) => {
                assert_eq!(security.protocol(), SecurityProtocol::SaslPlaintext);
                assert_eq!(security.sasl().unwrap().username(), "bench");
            }
            other => panic!("native asked for: {other:?}"),
        }
        let e = choose(&options(&["--command-config", path]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("security.protocol=SASL_PLAINTEXT needs --driver native"),
            "{e}"
        );
        let plaintext = dir.path().join("plaintext.properties");
        std::fs::write(&plaintext, "security.protocol=PLAINTEXT\n").unwrap();
        let o = options(&["--command-config", plaintext.to_str().unwrap()]);
        assert!(matches!(choose(&o).unwrap(), ProduceDriver::Librdkafka));
        let e = choose(&options(&[
            "--command-config",
            "/nonexistent/client.properties",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("/nonexistent/client.properties"), "{e}");
    }
}
