//! Reading contract logs with `eth_getLogs`, and how those requests are paced: providers cap
//! the block range (or the results) of one request and the rate of requests, and say so in
//! different words. A refused range halves the chunk, and the chunk grows back after a run of
//! successes (a dense stretch of logs does not make the whole scan crawl); a rate limit waits,
//! with jitter, and retries the same range. Anything else is an error for the caller.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

use super::abi::AbiError;
use super::client::{lock, Inner};
use super::json;
use super::rpc::RpcFailure;
use crate::chain::ChainError;
use crate::protocol::{Address, Hash32};

/// Successful requests at one chunk size before it doubles again.
pub const GROW_AFTER: u32 = 4;
/// Rate-limited attempts of one request before giving up.
pub const RATE_LIMIT_RETRIES: u32 = 8;

/// What a failed `eth_getLogs` means for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsFailure {
    /// The provider refuses this many blocks or results: ask for fewer.
    RangeTooLarge,
    /// The provider refuses this many requests: wait, then ask again.
    RateLimited,
    /// Anything else: not a question of size or pace.
    Other,
}

/// Sorts a failure by the providers' own words (geth, Erigon, Infura, Alchemy, QuickNode,
/// Ankr, …). A JSON-RPC error that names neither a range nor a rate is taken as a refused
/// range, since providers word those in many ways; it stops at one block. Infura's -32005
/// is both ("query returned more than 10000 results" and "project ID request rate
/// exceeded"), so the message decides before the code.
pub fn classify(failure: &RpcFailure) -> LogsFailure {
    match failure {
        RpcFailure::Node { code, message } => {
            let m = message.to_ascii_lowercase();
            if mentions_range(&m) {
                LogsFailure::RangeTooLarge
            } else if *code == 429 || mentions_rate(&m) || *code == -32005 {
                LogsFailure::RateLimited
            } else if *code == -32601 {
                // Method not found: no range makes it work.
                LogsFailure::Other
            } else {
                LogsFailure::RangeTooLarge
            }
        }
        // ethers reads the body of an HTTP 429 as JSON-RPC; a plain-text body ends up here.
        RpcFailure::Garbage(text) => {
            let t = text.to_ascii_lowercase();
            if t.contains("429") || mentions_rate(&t) {
                LogsFailure::RateLimited
            } else {
                LogsFailure::Other
            }
        }
        RpcFailure::Transport(_) | RpcFailure::Timeout(_) => LogsFailure::Other,
    }
}

fn mentions_range(m: &str) -> bool {
    [
        "range",
        "too many blocks",
        "block limit",
        "more than",
        "max results",
        "too many results",
        "too many logs",
        "response size",
        "query timeout",
        "limited to",
    ]
    .iter()
    .any(|p| m.contains(p))
}

fn mentions_rate(m: &str) -> bool {
    [
        "rate limit",
        "rate exceeded",
        "too many requests",
        "limit exceeded",
        "capacity",
        "throttl",
        "limit reached",
        "quota",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// The block span of one request: halved on a refused range, doubled after
/// [`GROW_AFTER`] successes, never above the configured maximum nor below one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSize {
    max: u64,
    current: u64,
    successes: u32,
}

impl ChunkSize {
    pub fn new(max: u64) -> ChunkSize {
        let max = max.max(1);
        ChunkSize {
            max,
            current: max,
            successes: 0,
        }
    }

    pub fn current(&self) -> u64 {
        self.current
    }

    /// A request of `span` blocks succeeded.
    pub fn succeeded(&mut self, span: u64) {
        // A short last range says nothing about the chunk size.
        if span < self.current {
            return;
        }
        self.successes += 1;
        if self.successes >= GROW_AFTER && self.current < self.max {
            self.current = self.current.saturating_mul(2).min(self.max);
            self.successes = 0;
        }
    }

    /// A request of `span` blocks was refused as too large; false if one block already was.
    pub fn refused(&mut self, span: u64) -> bool {
        if span <= 1 {
            return false;
        }
        self.current = (span / 2).max(1).min(self.current);
        self.successes = 0;
        true
    }
}

/// Waits between rate-limited attempts: doubling from `min`, capped at `max`, each drawn
/// uniformly from the upper half of its step so that clients do not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The next wait, or `None` after [`RATE_LIMIT_RETRIES`] attempts.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Option<Duration> {
        if self.attempt >= RATE_LIMIT_RETRIES {
            return None;
        }
        let step = self
            .min
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt += 1;
        let half = step / 2;
        let jitter = rng.gen_range(0..=half.as_micros().min(u128::from(u64::MAX)) as u64);
        Some(half + Duration::from_micros(jitter))
    }
}

/// One log from `eth_getLogs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub topics: Vec<Hash32>,
    pub data: Vec<u8>,
    pub block_number: u64,
    pub log_index: u64,
}

impl Log {
    pub fn from_json(v: &Value) -> Result<Log, json::FieldError> {
        let topics = match v.get("topics") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| {
                    let wrapped = json!({ "topic": t });
                    json::hash(&wrapped, "topic")
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(json::FieldError {
                    field: "topics".into(),
                    problem: "missing or not an array".into(),
                })
            }
        };
        Ok(Log {
            topics,
            data: json::bytes(v, "data")?,
            block_number: json::quantity(v, "blockNumber")?,
            log_index: json::quantity(v, "logIndex")?,
        })
    }

    /// Indexed argument `i` (topic `i + 1`).
    pub fn indexed(&self, i: usize) -> Result<&Hash32, AbiError> {
        self.topics.get(i + 1).ok_or_else(|| AbiError {
            what: "log",
            problem: format!("{} topics, indexed argument {i} missing", self.topics.len()),
        })
    }
}

impl Inner {
    /// Logs of `address` matching `topics` (`None` = any) in `[from, to]`, oldest first,
    /// fetched in ranges the node accepts.
    pub(super) async fn logs(
        &self,
        address: Address,
        topics: &[Option<Hash32>],
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, ChainError> {
        let topics_json: Vec<Value> = topics
            .iter()
            .map(|t| match t {
                Some(h) => json!(format!("0x{h}")),
                None => Value::Null,
            })
            .collect();
        let mut out = Vec::new();
        let mut start = from;
        let mut backoff = Backoff::new(
            self.config.rate_limit_backoff_min,
            self.config.rate_limit_backoff_max,
        );
        while start <= to {
            let chunk = lock(&self.log_chunk).current();
            let end = start.saturating_add(chunk - 1).min(to);
            let span = end - start + 1;
            let filter = json!([{
                "address": address.to_checksum(),
                "topics": topics_json,
                "fromBlock": json::to_quantity(start),
                "toBlock": json::to_quantity(end),
            }]);
            match self.raw_call("eth_getLogs", filter).await {
                Ok(Value::Array(items)) => {
                    for item in &items {
                        out.push(Log::from_json(item).map_err(|e| {
                            ChainError::Invalid(format!("{}: eth_getLogs: {e}", self.endpoint))
                        })?);
                    }
                    lock(&self.log_chunk).succeeded(span);
                    backoff = Backoff::new(
                        self.config.rate_limit_backoff_min,
                        self.config.rate_limit_backoff_max,
                    );
                    let Some(next) = end.checked_add(1) else {
                        break;
                    };
                    start = next;
                }
                Ok(other) => {
                    return Err(ChainError::Invalid(format!(
                        "{}: eth_getLogs answered {}",
                        self.endpoint,
                        json::shown(&other)
                    )))
                }
                Err(f) => match classify(&f) {
                    // Narrow the range and ask again at once: this is not about pace.
                    LogsFailure::RangeTooLarge if lock(&self.log_chunk).refused(span) => {
                        tracing::debug!(span, error = %f, "eth_getLogs range refused; halving");
                    }
                    LogsFailure::RateLimited => {
                        let Some(wait) = backoff.next_delay(&mut rand::rngs::OsRng) else {
                            return Err(self.chain_error("eth_getLogs", f));
                        };
                        tracing::debug!(?wait, error = %f, "eth_getLogs rate limited; backing off");
                        tokio::select! {
                            _ = self.cancel.cancelled() => {
                                return Err(ChainError::Unavailable(format!(
                                    "{}: eth_getLogs: stopped while rate limited",
                                    self.endpoint
                                )));
                            }
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                    _ => return Err(self.chain_error("eth_getLogs", f)),
                },
            }
        }
        out.sort_by_key(|l| (l.block_number, l.log_index));
        Ok(out)
    }

    /// The newest log matching `topics` at or before `to` (not before `from`), searching
    /// backwards range by range: the event sought is usually close to `to`.
    pub(super) async fn last_log(
        &self,
        address: Address,
        topics: &[Option<Hash32>],
        from: u64,
        to: u64,
    ) -> Result<Option<Log>, ChainError> {
        let mut end = to;
        loop {
            let chunk = lock(&self.log_chunk).current();
            let start = end.saturating_sub(chunk - 1).max(from);
            if let Some(log) = self.logs(address, topics, start, end).await?.pop() {
                return Ok(Some(log));
            }
            if start <= from {
                return Ok(None);
            }
            end = start - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn node(code: i64, message: &str) -> RpcFailure {
        RpcFailure::Node {
            code,
            message: message.to_string(),
        }
    }

    #[test]
    fn providers_words_are_sorted() {
        use LogsFailure::*;
        let cases = [
            (node(-32005, "query returned more than 10000 results"), RangeTooLarge),
            (node(-32005, "project ID request rate exceeded"), RateLimited),
            (node(-32005, "limit exceeded"), RateLimited),
            (node(-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"), RangeTooLarge),
            (node(429, "Your app has exceeded its compute units per second capacity"), RateLimited),
            (node(-32000, "block range is too wide"), RangeTooLarge),
            (node(-32000, "exceed maximum block range: 5000"), RangeTooLarge),
            (node(-32000, "something unexpected"), RangeTooLarge),
            (node(-32601, "the method eth_getLogs does not exist"), Other),
            (RpcFailure::Garbage("Deserialization Error: expected value at line 1 column 1. Response: Too Many Requests".into()), RateLimited),
            (RpcFailure::Garbage("HTTP status 429 Too Many Requests".into()), RateLimited),
            (RpcFailure::Garbage("HTTP status 502 Bad Gateway".into()), Other),
            (RpcFailure::Transport("connection refused".into()), Other),
            (RpcFailure::Timeout(Duration::from_secs(1)), Other),
        ];
        for (failure, want) in cases {
            assert_eq!(classify(&failure), want, "{failure}");
        }
    }

    #[test]
    fn the_chunk_halves_on_refusal_and_grows_back_to_the_maximum() {
        let mut c = ChunkSize::new(1000);
        assert!(c.refused(1000));
        assert!(c.refused(500));
        assert_eq!(c.current(), 250);
        // A short final range does not count towards growth.
        c.succeeded(10);
        for _ in 0..GROW_AFTER {
            c.succeeded(250);
        }
        assert_eq!(c.current(), 500);
        for _ in 0..GROW_AFTER {
            c.succeeded(500);
        }
        assert_eq!(c.current(), 1000);
        for _ in 0..10 * GROW_AFTER {
            c.succeeded(1000);
        }
        assert_eq!(c.current(), 1000, "never above the maximum");
        let mut one = ChunkSize::new(0);
        assert_eq!(one.current(), 1);
        assert!(!one.refused(1), "one block cannot be halved");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap_and_ends() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<Duration> = std::iter::from_fn(|| b.next_delay(&mut rng)).collect();
        assert_eq!(delays.len(), RATE_LIMIT_RETRIES as usize);
        let steps = [100u64, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (d, step) in delays.iter().zip(steps) {
            let step = Duration::from_millis(step);
            assert!(*d >= step / 2 && *d <= step, "{d:?} for a step of {step:?}");
        }
    }
}
