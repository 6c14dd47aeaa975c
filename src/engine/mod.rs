//! The coordination layer: window watch, executors, result processor, dispatcher, event bus,
//! and the orchestration of a node (and of a whole devnet of nodes).

/// Info for this operator's own node, debug for the devnet's simulated peers, whose routine
/// lines would drown the operator's own in the same log.
macro_rules! node_info {
    ($config:expr, $($arg:tt)+) => {
        if $config.quiet {
            tracing::debug!($($arg)+)
        } else {
            tracing::info!($($arg)+)
        }
    };
}

pub mod devnet_network;
pub mod events;
pub mod executor;
pub mod node;
pub mod pace;
pub mod window_watch;

pub use events::{Event, EventBus, NodeSnapshot};
pub use node::{DryRunError, DryRunWindow, Identity, Node, NodeCommands, NodeConfig, NodeHandle};
