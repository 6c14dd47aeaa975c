//! The coordination layer, one file per component:
//!
//! - `context`: what a node's tasks share (identity, settings, chain, network, history, bus);
//! - `router`: decodes and authenticates coordination messages, one inbox per wallet;
//! - `watch` (with the pure `window_tracker`): follows heads and begins the executors;
//! - `executor`: one per wallet, runs its procedures: `inbox` (from the router), `turn` (what
//!   a `Strategy` sees and does: the leader routine) and `follower` (the follower routine);
//! - `results`: records each outcome, then hands accepted proposals to the `dispatcher`;
//! - `events` (what a node announces), `bus` (delivers them), `snapshot` (folds them);
//! - `dry_run`, `handle` (start, commands);
//! - `records` and `history`: what the history holds and the traits a store implements;
//!   `query`: every history read as one request type;
//! - `pacing`: what the node reports of its work, for whatever must keep pace with it
//!   (nothing in production);
//! - `api`: what front ends ask of a node, in this process or over the control socket.
//!
//! All tasks hang off one cancellation token. Facts go to the history before the bus. The
//! engine knows a chain, a network and a history only through their traits, and knows
//! nothing of the embedded devnet that may drive it.

/// A routine line at the node's level for such lines (`NodeConfig::routine_logs`).
macro_rules! node_info {
    ($config:expr, $($arg:tt)+) => {
        if $config.routine_logs == $crate::engine::context::RoutineLogs::Debug {
            tracing::debug!($($arg)+)
        } else {
            tracing::info!($($arg)+)
        }
    };
}

/// A warning, or debug for background nodes, which would otherwise repeat the same warning
/// once each.
macro_rules! node_warn {
    ($config:expr, $($arg:tt)+) => {
        if $config.routine_logs == $crate::engine::context::RoutineLogs::Debug {
            tracing::debug!($($arg)+)
        } else {
            tracing::warn!($($arg)+)
        }
    };
}

pub mod api;
pub mod bitcoin_read;
pub mod bus;
pub mod commitment;
pub mod context;
pub(crate) mod dispatcher;
pub mod dry_run;
pub mod events;
pub mod executor;
mod follower;
pub mod handle;
pub mod history;
mod inbox;
pub mod network_view;
pub mod pacing;
pub mod peer_events;
pub mod proposing;
pub mod query;
pub mod records;
mod results;
pub mod router;
mod router_tally;
pub mod snapshot;
mod turn;
pub mod wallet_bitcoin;
mod watch;
pub mod window_tracker;

pub use api::{ApiError, NodeApi, NodeStatus, Subscription, Update};
pub use bus::EventBus;
pub use context::{Identity, NodeConfig, NodeContext, RoutineLogs};
pub use dry_run::{choose_window, dry_run, ChosenWindow, DryRunError, DryRunWindow, WindowChoice};
pub use events::Event;
pub use handle::{Node, NodeCommands, NodeHandle};
pub use snapshot::NodeSnapshot;
