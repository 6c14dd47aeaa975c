//! Wiring of the metrics endpoint: `--metrics-addr` or `[metrics] addr`, bound before the
//! node starts (a port in use is bad input, exit 2), then a bus subscriber and a server that
//! both stop with the node's token.

use anyhow::Context;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Settings;
use crate::cli::UsageError;
use crate::config::MetricsSection;
use crate::engine::history::HistoryReader;
use crate::engine::EventBus;
use crate::metrics::{self, server, Metrics, MetricsOptions};
use crate::values::parse_metrics_addr;

/// Where the endpoint listens, and which setting said so (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub addr: SocketAddr,
    pub source: &'static str,
}

impl MetricsSettings {
    /// The flag wins over the file; `None` if neither asks for the endpoint.
    pub fn resolve(
        flag: Option<SocketAddr>,
        file: &MetricsSection,
    ) -> anyhow::Result<Option<MetricsSettings>> {
        if let Some(addr) = flag {
            return Ok(Some(MetricsSettings {
                addr,
                source: "--metrics-addr",
            }));
        }
        match &file.addr {
            Some(text) => Ok(Some(MetricsSettings {
                addr: parse_metrics_addr(text).map_err(anyhow::Error::msg)?,
                source: "metrics.addr",
            })),
            None => Ok(None),
        }
    }
}

/// The staleness limit of `/healthz` and `eth_connectivity`. The devnet: 20 block times,
/// at least 10 s. Ethereum: 5 minutes (25 mainnet blocks), or 5 polls if that is longer.
pub fn head_stale_after(settings: &Settings) -> Duration {
    match &settings.ethereum {
        Some(eth) => eth
            .poll_interval
            .map_or(Duration::ZERO, |p| p.saturating_mul(5))
            .max(Duration::from_secs(300)),
        None => settings
            .devnet
            .block_time
            .saturating_mul(20)
            .max(Duration::from_secs(10)),
    }
}

/// Binds the endpoint's address, if one was asked for.
pub fn bind(settings: &Settings) -> anyhow::Result<Option<TcpListener>> {
    let Some(m) = &settings.metrics else {
        return Ok(None);
    };
    match server::bind(m.addr) {
        Ok(listener) => Ok(Some(listener)),
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::AddrInUse => "port in use".to_string(),
                std::io::ErrorKind::AddrNotAvailable => "not an address of this machine".into(),
                std::io::ErrorKind::PermissionDenied => "permission denied".into(),
                _ => e.to_string(),
            };
            Err(UsageError(format!("{} {}: {reason}", m.source, m.addr)).into())
        }
    }
}

/// Starts the endpoint on `listener` (from [`bind`]): call before the node starts, so the
/// fault counters begin at the history's counts and continue from the node's events.
pub async fn start(
    listener: Option<TcpListener>,
    settings: &Settings,
    bus: &EventBus,
    history: Arc<dyn HistoryReader>,
    cancel: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<Option<Arc<Metrics>>> {
    let Some(listener) = listener else {
        return Ok(None);
    };
    let bootstrap_peers: HashSet<String> = settings
        .peer_network
        .iter()
        .flat_map(|n| n.peers.iter())
        .filter_map(|addr| match addr.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer.to_base58()),
            _ => None,
        })
        .collect();
    let options = MetricsOptions {
        head_stale_after: head_stale_after(settings),
        bootstrap_peers,
    };
    let events = bus.subscribe();
    // Counting the history's faults is a query: off the async workers.
    let counting = bus.clone();
    let metrics = tokio::task::spawn_blocking(move || {
        Metrics::new(counting, options, Some(history.as_ref()))
    })
    .await
    .context("counting the history's faults")?
    .map_err(|e| anyhow::anyhow!("the metrics endpoint cannot count the history's faults: {e}"))?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics endpoint: /metrics, /diagnostics, /healthz");
    }
    tasks.spawn(metrics::follow(metrics.clone(), events, cancel.clone()));
    tasks.spawn(server::serve(listener, metrics.clone(), cancel.clone()));
    Ok(Some(metrics))
}
