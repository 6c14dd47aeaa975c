//! The value parsers the command line and the configuration file share: bounded integers and
//! durations, coordination blocks, peer and listen addresses, rates. Each error names what it
//! got and what it expected, in one line, so clap and the config reader can report it as is.

use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use crate::protocol::window::is_coordination_block;

/// Devnet block times: anything positive, up to an hour (the chain must still move).
pub const BLOCK_TIME_RANGE: DurationRange = DurationRange {
    min: Duration::from_nanos(1),
    max: Duration::from_secs(3600),
};

/// Polls of an http(s) Ethereum node: not a busy loop, and at least once an hour.
pub const POLL_INTERVAL_RANGE: DurationRange = DurationRange {
    min: Duration::from_millis(1),
    max: Duration::from_secs(3600),
};

/// The bounds of a duration setting. Durations are added to instants, so an unbounded one
/// overflows (`--block-time 18446744073709551615s` used to panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
}

impl DurationRange {
    /// Parses a duration such as `100ms` or `2s` and checks it is in range; the error says
    /// what was given and what is expected, in one line.
    pub fn parse(&self, s: &str) -> Result<Duration, String> {
        let expected = format!(
            "expected a duration from {} to {} such as 100ms or 2s",
            humantime::format_duration(self.min),
            humantime::format_duration(self.max)
        );
        match humantime::parse_duration(s) {
            Ok(d) if (self.min..=self.max).contains(&d) => Ok(d),
            _ => Err(format!("{expected}, got {s:?}")),
        }
    }
}

/// An unsigned integer from `min` to `max`. Negative numbers reach it (with
/// `allow_negative_numbers`) instead of being taken for a flag, so they are named as such.
pub fn uint<T>(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
{
    move |s: &str| {
        if s.starts_with('-') {
            return Err(format!("expected a non-negative integer, got {s:?}"));
        }
        let expected = match (min, max) {
            (0, u64::MAX) => "expected a non-negative integer".to_string(),
            (min, u64::MAX) => format!("expected an integer of at least {min}"),
            (min, max) => format!("expected an integer from {min} to {max}"),
        };
        match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => {
                T::try_from(n).map_err(|_| format!("{expected}, got {s:?}"))
            }
            _ => Err(format!("{expected}, got {s:?}")),
        }
    }
}

pub fn parse_coordination_block(s: &str) -> Result<u64, String> {
    let n = uint::<u64>(0, u64::MAX)(s)?;
    if !is_coordination_block(n) {
        return Err(format!(
            "{n} is not a coordination block: expected a positive multiple of 900"
        ));
    }
    Ok(n)
}

pub fn parse_block_time(s: &str) -> Result<Duration, String> {
    BLOCK_TIME_RANGE.parse(s)
}

pub fn parse_poll_interval(s: &str) -> Result<Duration, String> {
    POLL_INTERVAL_RANGE.parse(s)
}

/// A listen address: a multiaddr of an IP and a TCP port.
pub fn parse_listen_addr(s: &str) -> Result<Multiaddr, String> {
    let addr: Multiaddr = s.parse().map_err(|e| {
        format!("expected a multiaddr such as /ip4/0.0.0.0/tcp/3919, got {s:?}: {e}")
    })?;
    let tcp = addr.iter().any(|p| matches!(p, Protocol::Tcp(_)));
    if !tcp {
        return Err(format!(
            "expected a multiaddr with a TCP port such as /ip4/0.0.0.0/tcp/3919, got {s:?}"
        ));
    }
    Ok(addr)
}

/// A bootstrap peer: an address that ends in the peer's ID, which must be an operator's key.
pub fn parse_peer_addr(s: &str) -> Result<Multiaddr, String> {
    let expected = "expected /ip4/HOST/tcp/PORT/p2p/PEER_ID";
    let addr: Multiaddr = s
        .trim()
        .parse()
        .map_err(|e| format!("{expected}, got {s:?}: {e}"))?;
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => {
            operator_peer_id(&peer).map_err(|e| format!("{s:?}: {e}"))?;
            Ok(addr)
        }
        _ => Err(format!("{expected} (the peer ID is missing), got {s:?}")),
    }
}

pub fn parse_operator_peer_id(s: &str) -> Result<PeerId, String> {
    let peer: PeerId = s
        .trim()
        .parse()
        .map_err(|e| format!("expected a peer ID such as 16Uiu2HA…, got {s:?}: {e}"))?;
    operator_peer_id(&peer).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(peer)
}

/// Operators' peer IDs inline their secp256k1 key; any other peer ID cannot be an operator.
fn operator_peer_id(peer: &PeerId) -> Result<(), String> {
    match crate::net::signing::peer_public_key(peer)
        .and_then(|k| crate::net::signing::operator_address(&k))
    {
        Some(_) => Ok(()),
        None => Err("not the peer ID of a secp256k1 operator key (those start 16Uiu2HA)".into()),
    }
}

/// `--metrics-addr` and `metrics.addr`: an IP address and a port (no host names: the
/// endpoint binds exactly what it is told).
pub fn parse_metrics_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("expected an address and port such as 127.0.0.1:9601, got {s:?}"))
}

pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("expected a number from 0 to 1, got {s:?}")),
    }
}
