//! Prometheus metrics, diagnostics and health, a subscriber of the node's event bus.
//!
//! Counters are folded from events, in the order the bus published them; the fault counters
//! start from the history's counts, so they equal the history, not just what this process
//! saw. Gauges (head age, peers) are read at scrape time. Names of keep-client's own metrics
//! (`connected_peers_count`, `connected_bootstrap_count`, `eth_connectivity`, `client_info`)
//! are kept unprefixed so its dashboards keep working; ours start `tbtc_coord_`.
//!
//! The parts: `registry` names and registers the metric families, `state` holds [`Metrics`]
//! (what the bus subscriber and the server share) and its exposition, `fold` turns events
//! into counters and follows the bus, `diagnostics` answers `/healthz` and `/diagnostics`;
//! [`server`] serves `/metrics`, `/diagnostics` and `/healthz` over HTTP.

mod diagnostics;
mod fold;
mod registry;
pub mod server;
mod state;

pub use diagnostics::Health;
pub use fold::follow;
pub use state::{Metrics, MetricsOptions, DEFAULT_PORT};

#[cfg(test)]
mod tests;
