//! Electrum server addresses as operators write them: `tcp://host:port`, `ssl://host:port`,
//! `ws://host:port[/path]`, `wss://host:port[/path]`, and comma-separated lists of them.

use std::fmt;
use std::str::FromStr;

use super::ElectrumError;

/// How a server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Newline-delimited JSON over plain TCP.
    Tcp,
    /// Newline-delimited JSON over TLS.
    Ssl,
    /// One JSON message per WebSocket text frame.
    Ws,
    /// WebSocket over TLS.
    Wss,
}

impl Transport {
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ssl => "ssl",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Ssl | Transport::Wss)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }
}

/// One Electrum server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    pub transport: Transport,
    /// A DNS name or an IP address (IPv6 without its brackets).
    pub host: String,
    pub port: u16,
    /// The WebSocket path, starting with `/` (`/` when none was given); empty for tcp/ssl.
    pub path: String,
}

const EXPECTED: &str =
    "tcp://host:port, ssl://host:port, ws://host:port[/path] or wss://host:port[/path]";

fn invalid(value: &str, expected: impl Into<String>) -> ElectrumError {
    ElectrumError::InvalidUrl {
        value: value.to_string(),
        expected: expected.into(),
    }
}

impl ServerUrl {
    /// Parses one server address.
    pub fn parse(value: &str) -> Result<ServerUrl, ElectrumError> {
        let trimmed = value.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| invalid(value, EXPECTED))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Transport::Tcp,
            "ssl" | "tls" => Transport::Ssl,
            "ws" => Transport::Ws,
            "wss" => Transport::Wss,
            _ => {
                return Err(invalid(
                    value,
                    format!("a scheme of tcp, ssl, ws or wss ({EXPECTED})"),
                ))
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !path.is_empty() && !transport.is_websocket() {
            return Err(invalid(
                value,
                format!("no path after host:port for {}://", transport.scheme()),
            ));
        }
        if authority.contains('@') {
            return Err(invalid(value, "host:port with no user or password"));
        }
        if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace()) {
            return Err(invalid(value, "a path with no query, fragment or spaces"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| {
            invalid(
                value,
                format!("host:port after {}:// ({EXPECTED})", transport.scheme()),
            )
        })?;
        if !valid_host(host) {
            return Err(invalid(
                value,
                "a host name of letters, digits, '-' and '.', or an IP address",
            ));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid(value, format!("a port from 1 to 65535, not {port:?}")))?;
        let path = match (transport.is_websocket(), path) {
            (false, _) => String::new(),
            (true, "") => "/".to_string(),
            (true, p) => p.to_string(),
        };
        Ok(ServerUrl {
            transport,
            host: host.to_string(),
            port,
            path,
        })
    }

    /// Parses `URL[,URL…]`: at least one address, no empty entries.
    pub fn parse_list(value: &str) -> Result<Vec<ServerUrl>, ElectrumError> {
        if value.trim().is_empty() {
            return Err(invalid(
                value,
                format!("one or more of {EXPECTED}, comma-separated"),
            ));
        }
        value
            .split(',')
            .map(|item| {
                if item.trim().is_empty() {
                    Err(invalid(value, "a comma-separated list with no empty entry"))
                } else {
                    ServerUrl::parse(item)
                }
            })
            .collect()
    }

    /// `scheme://host:port` with no path: what a status line or a log shows.
    pub fn display_short(&self) -> String {
        format!("{}://{}", self.transport.scheme(), self.authority())
    }

    /// `host:port`, IPv6 hosts in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn split_host_port(authority: &str) -> Option<(&str, &str)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        return Some((host, port));
    }
    let (host, port) = authority.rsplit_once(':')?;
    if host.is_empty() || host.contains(':') {
        return None;
    }
    Some((host, port))
}

fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.transport.scheme(),
            self.authority(),
            self.path
        )
    }
}

impl FromStr for ServerUrl {
    type Err = ElectrumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_transport() {
        let u = ServerUrl::parse("tcp://electrum.example.org:50001").unwrap();
        assert_eq!(
            (u.transport, u.host.as_str(), u.port, u.path.as_str()),
            (Transport::Tcp, "electrum.example.org", 50001, "")
        );
        let u = ServerUrl::parse("ssl://127.0.0.1:50002").unwrap();
        assert_eq!((u.transport, u.port), (Transport::Ssl, 50002));
        let u = ServerUrl::parse("ws://host:50003").unwrap();
        assert_eq!((u.transport, u.path.as_str()), (Transport::Ws, "/"));
        let u = ServerUrl::parse("wss://electrumx-server.tbtc.network:8443/electrum").unwrap();
        assert_eq!(
            (u.transport, u.path.as_str()),
            (Transport::Wss, "/electrum")
        );
        assert_eq!(
            u.to_string(),
            "wss://electrumx-server.tbtc.network:8443/electrum"
        );
        assert_eq!(
            u.display_short(),
            "wss://electrumx-server.tbtc.network:8443"
        );
        let u = ServerUrl::parse("tcp://[::1]:50001").unwrap();
        assert_eq!(
            (u.host.as_str(), u.authority()),
            ("::1", "[::1]:50001".to_string())
        );
    }

    #[test]
    fn errors_name_the_value_and_what_was_expected() {
        for (value, expected) in [
            ("electrum.example.org:50001", "tcp://host:port"),
            ("http://host:1", "a scheme of tcp, ssl, ws or wss"),
            ("tcp://host", "host:port after tcp://"),
            ("tcp://host:0", "a port from 1 to 65535"),
            ("tcp://host:70000", "a port from 1 to 65535"),
            ("tcp://host:port", "a port from 1 to 65535"),
            ("ssl://host:1/path", "no path after host:port for ssl://"),
            ("wss://user:pw@host:1", "host:port with no user or password"),
            ("ws://host:1/a?b", "a path with no query"),
            ("tcp://bad host:1", "a host name"),
            ("tcp://:1", "host:port after tcp://"),
        ] {
            let err = ServerUrl::parse(value).unwrap_err().to_string();
            assert!(err.contains(value), "{err:?} names {value:?}");
            assert!(err.contains(expected), "{err:?} says {expected:?}");
        }
    }

    #[test]
    fn parses_lists() {
        let list = ServerUrl::parse_list("tcp://a:1, wss://b:2/x").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].to_string(), "wss://b:2/x");
        for bad in ["", " ", "tcp://a:1,", "tcp://a:1,,tcp://b:2"] {
            assert!(ServerUrl::parse_list(bad).is_err(), "{bad:?}");
        }
        let err = ServerUrl::parse_list("tcp://a:1,udp://b:2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("udp://b:2"), "{err}");
    }
}
