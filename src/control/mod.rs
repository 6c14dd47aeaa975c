//! The control socket: every node serves a Unix domain socket beside its history
//! (`<data dir>/<chain>.sock`, mode 0600, its owner and root only), through which a console
//! attaches and one-off commands (`status`, `dry-run`, `faults`) reach the running node.
//!
//! - `protocol`: the newline-delimited JSON messages;
//! - `server`: the node's side: the socket file, and who may connect;
//! - `session`: one client's session, bounded per client, behind the engine's command handle;
//! - `client`: a one-off [`ControlConnection`], and [`RemoteNode`], the [`NodeApi`] of an
//!   attached console;
//! - `logs`: the node's own log, streamed to the clients that ask for it.
//!
//! [`NodeApi`]: crate::engine::NodeApi

pub mod client;
pub mod logs;
pub mod protocol;
pub mod server;
mod session;

use std::path::{Path, PathBuf};

pub use client::{ConnectError, ControlConnection, LogFeed, RemoteNode};
pub use server::{bind, check_socket_path, Bound, ControlError, ControlServer};

/// The control socket of the history at `store_path`: `devnet-7.sqlite3` → `devnet-7.sock`.
pub fn socket_path(store_path: &Path) -> PathBuf {
    store_path.with_extension("sock")
}
