//! The control socket's messages: newline-delimited JSON, one object per line.
//!
//! - A client's lines are [`RequestLine`]s: an optional `id` and a request `type`. The first
//!   must be `hello`, naming the protocol [`VERSION`] the client speaks.
//! - The node answers each request with one [`Reply`] carrying the same `id` and either `ok`
//!   (the result) or `error` (an [`ApiError`]).
//! - After `subscribe`, the node also streams lines without an `id`: a [`Notice`] (`snapshot`,
//!   `chain_status`, `dropped`), or an engine event, the same object `run --headless --json`
//!   prints (`{"type":"block",…}`).
//! - After `logs`, the node's log lines stream too: `{"type":"log",…}`, and
//!   `{"type":"logs_dropped","count":N}` when the client read too slowly to get them all.

use serde::{Deserialize, Serialize};

use super::logs::LogLine;
use crate::engine::api::ApiError;
use crate::engine::query::HistoryQuery;
use crate::engine::{DryRunWindow, Event, NodeSnapshot};
use crate::protocol::ChainStatus;
use crate::protocol::{Address, WalletPkh};

/// The protocol version this build speaks. A `hello` with another is refused.
/// Version 2 reads the history through one `history` request.
pub const VERSION: u32 = 2;

/// The most rows one page may ask for.
pub const MAX_PAGE: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(flatten)]
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Hello {
        version: u32,
        /// What the client is, for the node's log.
        #[serde(default)]
        client: String,
    },
    /// A snapshot, then the live events; again: start over from a fresh snapshot.
    Subscribe,
    /// A read of the node's history: `{"type":"history","query":"faults","limit":50}`.
    History {
        #[serde(flatten)]
        query: HistoryQuery,
    },
    DryRun {
        wallet: WalletPkh,
        #[serde(default = "next_window")]
        window: DryRunWindow,
    },
    Status {
        #[serde(default = "default_last_faults")]
        last_faults: u64,
    },
    /// The node's log from now on, the lines `filter` takes (`--log-level`'s syntax, levels
    /// per target; default `info`). Again: the new filter replaces the old.
    Logs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
    },
}

fn next_window() -> DryRunWindow {
    DryRunWindow::Next
}

fn default_last_faults() -> u64 {
    5
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's `id`; `null` for a line that could not be read as a request.
    pub id: Option<u64>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok(serde_json::Value),
    Error(ApiError),
}

/// What the node says to `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// The node's build: `tbtc-coord 0.1.0`.
    pub node: String,
    pub pid: u32,
    pub chain: String,
    pub operator: Option<Address>,
}

/// A streamed line that is not an engine event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// Fold what follows into this state. Sent after `subscribe`, and again whenever the
    /// client's stream fell behind the node's events.
    Snapshot {
        reason: SnapshotReason,
        snapshot: Box<NodeSnapshot>,
    },
    ChainStatus {
        status: ChainStatus,
    },
    /// The node closes this connection, and why.
    Dropped {
        reason: String,
    },
    /// A line of the node's log (after `logs`).
    Log(LogLine),
    /// This many log lines were dropped, oldest first, because the client read too slowly.
    LogsDropped {
        count: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotReason {
    Subscribed,
    Lagged,
}

/// One line from the node, told apart by its fields: a reply has an `id`; a notice or an
/// event has a `type` (the notices' types are not events').
#[derive(Debug, Clone, PartialEq)]
pub enum ServerLine {
    Reply(Reply),
    Notice(Notice),
    Event(Box<Event>),
}

impl ServerLine {
    pub fn parse(line: &str) -> Result<ServerLine, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(line)?;
        if value.get("id").is_some() {
            return serde_json::from_value(value).map(ServerLine::Reply);
        }
        match value.get("type").and_then(|t| t.as_str()) {
            Some("snapshot" | "chain_status" | "dropped" | "log" | "logs_dropped") => {
                serde_json::from_value(value).map(ServerLine::Notice)
            }
            _ => serde_json::from_value(value).map(|e| ServerLine::Event(Box::new(e))),
        }
    }
}
