//! An Electrum client as keep-client uses one (SPEC §13): JSON-RPC 2.0 over `tcp://` and
//! `ssl://` (one message a line) or `ws://` and `wss://` (one message a text frame), protocol
//! 1.4, a server refused unless its genesis block is the configured network's, every wait
//! bounded by a timeout and a retry window, `server.ping` to keep the session, and failover
//! across a list of servers that returns to the first one once it answers two pings in a row.
//!
//! One file per concern: `url` (addresses), `network` (genesis check), `transport` (the four
//! wire forms, bounded reads), `connection` (one session: ids, handshake, notifications),
//! `client` (retries, failover, status) and `failover` (the background pings).

mod client;
mod connection;
mod failover;
mod network;
mod transport;
mod url;

use std::time::Duration;

pub use client::{CallObserver, ElectrumClient, ElectrumStatus, HeaderTip};
pub use network::{header_hash, BitcoinNetwork};
pub use url::{ServerUrl, Transport};

/// The longest message read from a server unless configured otherwise: more than any block
/// header batch or script history the node asks for.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;

/// The protocol version both sides must agree on.
pub const PROTOCOL_VERSION: &str = "1.4";

/// Timeouts and intervals; the defaults are keep-client's (SPEC §13).
#[derive(Debug, Clone)]
pub struct ElectrumConfig {
    /// One connection attempt: TCP, TLS and WebSocket handshakes.
    pub connect_timeout: Duration,
    /// How long attempts to connect go on (across the server list) before giving up.
    pub connect_retry_window: Duration,
    /// One request.
    pub request_timeout: Duration,
    /// How long a request is retried (on the next server) before giving up.
    pub request_retry_window: Duration,
    /// The pause after every server of the list failed once, before trying again.
    pub retry_delay: Duration,
    /// How often `server.ping` keeps the session.
    pub ping_interval: Duration,
    /// While on a fallback server, how often the first server is pinged; two good pings in a
    /// row bring the client back to it.
    pub primary_ping_interval: Duration,
    /// The longest line or WebSocket message read from a server.
    pub max_message_bytes: usize,
    /// Certificates (DER) trusted for `ssl://` and `wss://` besides the web's roots, for
    /// servers with a certificate of their own.
    pub extra_root_certificates: Vec<Vec<u8>>,
}

impl Default for ElectrumConfig {
    fn default() -> Self {
        ElectrumConfig {
            connect_timeout: Duration::from_secs(10),
            connect_retry_window: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            request_retry_window: Duration::from_secs(120),
            retry_delay: Duration::from_secs(1),
            ping_interval: Duration::from_secs(300),
            primary_ping_interval: Duration::from_secs(300),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            extra_root_certificates: Vec::new(),
        }
    }
}

/// What went wrong talking to Electrum servers. Server URLs appear as `scheme://host:port`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ElectrumError {
    #[error("Electrum server address {value:?}: expected {expected}")]
    InvalidUrl { value: String, expected: String },
    #[error("no Electrum server given: expected one or more server addresses")]
    NoServers,
    #[error("Electrum server {url}: cannot connect: {detail}")]
    Connect { url: String, detail: String },
    #[error("Electrum server {url}: {what} took longer than {after:?}")]
    Timeout {
        url: String,
        what: String,
        after: Duration,
    },
    #[error("Electrum server {url}: connection closed ({detail})")]
    Closed { url: String, detail: String },
    #[error("Electrum server {url}: {detail}")]
    Protocol { url: String, detail: String },
    #[error(
        "Electrum server {url}: a message longer than {limit} bytes, expected at most {limit}"
    )]
    TooLarge { url: String, limit: usize },
    #[error(
        "Electrum server {url}: offers protocol {offered:?}, expected {}",
        PROTOCOL_VERSION
    )]
    WrongVersion { url: String, offered: String },
    #[error(
        "Electrum server {url} refused: its genesis block is {found}, expected {network}'s {expected}"
    )]
    WrongNetwork {
        url: String,
        network: BitcoinNetwork,
        expected: String,
        found: String,
    },
    #[error("Electrum server {url}: {method} answered error {code}: {message}")]
    Server {
        url: String,
        method: String,
        code: i64,
        message: String,
    },
    #[error("no Electrum server answered within {window:?}; the last error: {last}")]
    Unavailable {
        window: Duration,
        last: Box<ElectrumError>,
    },
    #[error("the Electrum client is shut down")]
    Shutdown,
}

impl ElectrumError {
    /// Whether the server is unusable for this network (never retried on it).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ElectrumError::WrongNetwork { .. } | ElectrumError::WrongVersion { .. }
        )
    }

    /// Whether the error is the server's answer to the request (the connection is fine).
    pub fn is_server_answer(&self) -> bool {
        matches!(self, ElectrumError::Server { .. })
    }
}
