//! The embedded devnet, the app's default: a simulated chain with live tBTC activity, the
//! simulated peer operators (each a real node of ours, misbehaving where the fault plan says
//! so) and the pacing that keeps a fast chain honest. It is wired like an application: it
//! builds nodes from the engine's parts and hands them what the engine leaves open (a chain,
//! a network, a history, a strategy, a pacing). The engine knows nothing of it.
//!
//! - `chain`: the simulated chain and its world (operators, wallets, tBTC activity);
//! - `injector`, `strategies`: who misbehaves where, and how;
//! - `pace`: the back-pressure gauge every in-process node reports to;
//! - `simulated_bitcoin`: the deposits' funding transactions and the wallets' main UTXOs, and
//!   the engine's Bitcoin view over them;
//! - `network`: the devnet as a network of nodes, over the in-process hub or, with
//!   `swarms`, over libp2p on loopback.

pub mod chain;
mod injector;
pub mod network;
pub mod pace;
pub mod simulated_bitcoin;
mod strategies;
mod swarms;

pub use chain::{Devnet, DevnetConfig, DevnetError, MAX_OPERATORS, MAX_WALLETS, MIN_OPERATORS};
pub use injector::{FaultInjector, Injection, SLOW_LEADER_DELAY_BLOCKS};
pub use network::{resume_block, DevnetNetwork, DevnetNetworkConfig, DevnetTransport};
pub use strategies::{IdleLeader, Impersonator, Scripted, SlowLeader, WrongAction};
