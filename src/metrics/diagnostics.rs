//! What the endpoint says about the node beyond its counters: `/healthz`'s verdict (is the
//! chain fresh, did the last history write succeed) and `/diagnostics`' JSON, which keeps
//! keep-client's keys so its tooling can read ours.

use std::time::{Duration, Instant};

use serde_json::json;

use super::state::{Metrics, State};
use crate::protocol::window::next_window_after;

/// `/healthz`'s answer: healthy, or the reasons why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub reasons: Vec<String>,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.reasons.is_empty()
    }
}

impl Metrics {
    pub(super) fn chain_fresh(&self, state: &State, now: Instant) -> Result<Duration, String> {
        match &state.head {
            None => Err(format!(
                "no head seen yet ({}s after start)",
                now.duration_since(self.started).as_secs()
            )),
            Some((block, seen)) => {
                let age = now.saturating_duration_since(*seen);
                if age > self.options.head_stale_after {
                    Err(format!(
                        "chain stale: head {} seen {}s ago (limit {}s)",
                        block.number,
                        age.as_secs(),
                        self.options.head_stale_after.as_secs_f64()
                    ))
                } else {
                    Ok(age)
                }
            }
        }
    }

    /// `/healthz`: the chain is fresh and the last history write succeeded.
    pub fn health(&self, now: Instant) -> Health {
        let state = self.lock();
        let mut reasons = Vec::new();
        if let Err(reason) = self.chain_fresh(&state, now) {
            reasons.push(reason);
        }
        if let Some(error) = &state.history_error {
            reasons.push(format!("history write failed: {error}"));
        }
        Health { reasons }
    }

    /// `/diagnostics`: keep-client's keys (`client_info`, `connected_peers`,
    /// `eth_chain_info`) and ours (`btc_info`: the Electrum server and its tip, `wallets`,
    /// `next_window`, `leaders_forecast`).
    pub fn diagnostics(&self, now: Instant) -> serde_json::Value {
        let snapshot = self.bus.snapshot();
        let state = self.lock();
        let head = state.head.as_ref().map(|(b, _)| b.number);
        let next_window = head.map(|h| {
            let w = next_window_after(h);
            json!({
                "coordination_block": w.coordination_block,
                "index": w.index(),
                "safe_block": w.safe_block(),
                "blocks_to_go": w.coordination_block - h,
            })
        });
        let wallets: Vec<_> = snapshot
            .wallets
            .iter()
            .map(|w| {
                json!({
                    "wallet": w.wallet,
                    "members": w.operators.len(),
                    "seats": w.seats,
                    "executor": w.executor,
                    "dispatcher": w.dispatcher,
                    "last_result": w.last_result.as_ref().map(|r| json!({
                        "coordination_block": r.coordination_block,
                        "leader": r.leader,
                        "action": r.action,
                        "faults": r.faults.len(),
                    })),
                })
            })
            .collect();
        let forecast: Vec<_> = snapshot
            .wallets
            .iter()
            .filter_map(|w| {
                w.next_leader.map(|(cb, leader, is_self)| {
                    json!({"wallet": w.wallet, "coordination_block": cb, "leader": leader, "is_self": is_self})
                })
            })
            .collect();
        json!({
            "client_info": {
                "version": env!("CARGO_PKG_VERSION"),
                "operator": state.operator,
                "uptime_seconds": now.duration_since(self.started).as_secs(),
            },
            "connected_peers": state.peers.iter().map(|(peer, operator)| json!({
                "network_id": peer,
                "ethereum_operator": operator,
                "bootstrap": self.options.bootstrap_peers.contains(peer),
            })).collect::<Vec<_>>(),
            "eth_chain_info": {
                "chain": state.chain,
                "head": state.head.as_ref().map(|(b, seen)| json!({
                    "number": b.number,
                    "hash": b.hash,
                    "timestamp": b.timestamp,
                    "age_seconds": now.saturating_duration_since(*seen).as_secs_f64(),
                })),
                "fresh": self.chain_fresh(&state, now).is_ok(),
            },
            "btc_info": self.bitcoin.get().map(|status| status()),
            "wallets": wallets,
            "next_window": next_window,
            "leaders_forecast": forecast,
        })
    }
}
