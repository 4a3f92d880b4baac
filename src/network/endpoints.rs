//! The listeners a node serves, from Kafka's `listeners`, `advertised.listeners` and
//! `listener.security.protocol.map`: each is a name, a security protocol, the address it binds
//! and the address clients are told to use.
//!
//! Only parsing lives here; `server::startup` binds them and `network::listener` accepts.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::security::SecurityProtocol;

/// One listener of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerEndpoint {
    /// Kafka's listener name, upper case (`PLAINTEXT`, `SASL_SSL`, `CLIENT`...).
    pub name: String,
    pub protocol: SecurityProtocol,
    pub bind: SocketAddr,
    /// host:port given to clients (Metadata, FindCoordinator) that connected through it.
    pub advertised_host: String,
    pub advertised_port: i32,
}

impl ListenerEndpoint {
    /// The one PLAINTEXT listener of `--listen` / `--advertised-listener`.
    pub fn plaintext(bind: SocketAddr, advertised: &str) -> Result<ListenerEndpoint, String> {
        let (advertised_host, advertised_port) = split_host_port(advertised)?;
        Ok(ListenerEndpoint {
            name: "PLAINTEXT".into(),
            protocol: SecurityProtocol::Plaintext,
            bind,
            advertised_host,
            advertised_port,
        })
    }

    pub fn advertised(&self) -> String {
        format!("{}:{}", self.advertised_host, self.advertised_port)
    }
}

/// Parses `listeners` (`NAME://host:port,...`; an empty host binds every interface) with the
/// protocol map and the optional `advertised.listeners` (same names; defaults to each
/// listener's own address).
pub fn parse_listeners(
    listeners: &str,
    advertised: &str,
    protocol_map: &str,
) -> Result<Vec<ListenerEndpoint>, String> {
    let protocols = parse_protocol_map(protocol_map)?;
    let advertised = parse_name_addresses(advertised)?;
    let mut out: Vec<ListenerEndpoint> = Vec::new();
    for (name, host, port) in parse_name_addresses(listeners)? {
        if out.iter().any(|l| l.name == name) {
            return Err(format!("listener {name} is listed twice in listeners"));
        }
        let protocol = match protocols.iter().find(|(n, _)| *n == name) {
            Some((_, p)) => *p,
            None => {
                return Err(format!(
                    "listener {name} has no entry in listener.security.protocol.map"
                ))
            }
        };
        let bind_host = if host.is_empty() { "0.0.0.0" } else { &host };
        let bind = (bind_host, port as u16)
            .to_socket_addrs()
            .map_err(|e| format!("listener {name}: cannot resolve {bind_host}: {e}"))?
            .next()
            .ok_or_else(|| format!("listener {name}: {bind_host} resolves to nothing"))?;
        let (advertised_host, advertised_port) = match advertised.iter().find(|(n, ..)| *n == name)
        {
            Some((_, h, p)) => (h.clone(), *p),
            None if host.is_empty() || bind.ip().is_unspecified() => {
                return Err(format!(
                "listener {name} binds every interface: give its address in advertised.listeners"
            ))
            }
            None => (host.clone(), port),
        };
        out.push(ListenerEndpoint {
            name,
            protocol,
            bind,
            advertised_host,
            advertised_port,
        });
    }
    if out.is_empty() {
        return Err("listeners names no listener".into());
    }
    if let Some((name, ..)) = advertised
        .iter()
        .find(|(n, ..)| !out.iter().any(|l| &l.name == n))
    {
        return Err(format!(
            "advertised.listeners names {name}, which is not in listeners"
        ));
    }
    Ok(out)
}

fn parse_protocol_map(map: &str) -> Result<Vec<(String, SecurityProtocol)>, String> {
    map.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, protocol) = entry.split_once(':').ok_or_else(|| {
                format!("listener.security.protocol.map entry '{entry}' is not NAME:PROTOCOL")
            })?;
            let protocol = SecurityProtocol::from_name(protocol.trim()).ok_or_else(|| {
                format!("listener.security.protocol.map: unknown security protocol '{protocol}'")
            })?;
            Ok((name.trim().to_ascii_uppercase(), protocol))
        })
        .collect()
}

/// `NAME://host:port` entries; IPv6 hosts in brackets.
fn parse_name_addresses(list: &str) -> Result<Vec<(String, String, i32)>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, address) = entry
                .split_once("://")
                .ok_or_else(|| format!("listener '{entry}' is not NAME://host:port"))?;
            if name.is_empty() {
                return Err(format!("listener '{entry}' has no name"));
            }
            let (host, port) = split_host_port(address)?;
            Ok((name.to_ascii_uppercase(), host, port))
        })
        .collect()
}

/// `host:port` or `[v6]:port`; the host may be empty.
pub fn split_host_port(address: &str) -> Result<(String, i32), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("'{address}' is not host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{address}': '{port}' is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_MAP: &str =
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

    #[test]
    fn kafka_default_names_map_to_their_own_protocol() {
        let l = parse_listeners(
            "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094,sasl_plaintext://127.0.0.1:9095",
            "",
            DEFAULT_MAP,
        )
        .unwrap();
        let got: Vec<(&str, SecurityProtocol, i32)> = l
            .iter()
            .map(|l| (l.name.as_str(), l.protocol, l.advertised_port))
            .collect();
        assert_eq!(
            got,
            vec![
                ("PLAINTEXT", SecurityProtocol::Plaintext, 9092),
                ("SSL", SecurityProtocol::Ssl, 9093),
                ("SASL_SSL", SecurityProtocol::SaslSsl, 9094),
                ("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext, 9095),
            ]
        );
    }

    #[test]
    fn custom_names_need_the_map_and_advertised_overrides_per_name() {
        let l = parse_listeners(
            "CLIENT://:9092,INTERNAL://127.0.0.1:9093",
            "CLIENT://broker1.example:19092",
            "CLIENT:SASL_SSL,INTERNAL:SSL",
        )
        .unwrap();
        assert_eq!(l[0].protocol, SecurityProtocol::SaslSsl);
        assert!(l[0].bind.ip().is_unspecified());
        assert_eq!(l[0].advertised(), "broker1.example:19092");
        assert_eq!(l[1].advertised(), "127.0.0.1:9093");
        assert!(parse_listeners("CLIENT://127.0.0.1:9092", "", DEFAULT_MAP)
            .unwrap_err()
            .contains("CLIENT"));
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        for (listeners, advertised) in [
            ("PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", ""),
            ("PLAINTEXT://:9092", ""),
            ("PLAINTEXT://127.0.0.1:9092", "SSL://x:1"),
            ("127.0.0.1:9092", ""),
            ("PLAINTEXT://127.0.0.1:notaport", ""),
            ("", ""),
        ] {
            assert!(
                parse_listeners(listeners, advertised, DEFAULT_MAP).is_err(),
                "{listeners} / {advertised}"
            );
        }
        assert!(parse_listeners("X://127.0.0.1:1", "", "X:TLS").is_err());
    }
}
