//! The coordination layer: window watch, executors, result processor, dispatcher, event bus,
//! and the orchestration of a node (and of a whole devnet of nodes).

pub mod devnet_network;
pub mod events;
pub mod executor;
pub mod misbehaviour;
pub mod node;
pub mod window_watch;

pub use events::{Event, EventBus, NodeSnapshot};
pub use node::{DryRunError, DryRunWindow, Identity, Node, NodeCommands, NodeConfig, NodeHandle};
