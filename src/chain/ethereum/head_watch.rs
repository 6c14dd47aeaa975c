//! The head watch: one task per chain that follows the node's new heads (a `newHeads`
//! subscription on WebSocket endpoints, polling on HTTP ones), links each head to the recent
//! chain kept in `heads`, and announces on the block channel what the window watch should
//! see. A lost connection ends a session; sessions are retried with backoff until stopped.

use std::sync::Arc;

use ethers_providers::{Middleware, StreamExt};
use serde_json::Value;

use super::client::{lock, Inner};
use super::header::RpcHeader;
use super::heads::{self, HeaderLink, MAX_BACKFILL};
use super::rpc::{EndpointKind, RpcTransport};
use crate::chain::ChainError;
use crate::protocol::ChainConnection;
use crate::protocol::Hash32;

/// Why a watch session ended.
struct SessionEnd {
    reason: String,
    /// Heads were delivered before it ended: the next attempt starts with a short delay.
    progressed: bool,
}

impl Inner {
    /// The highest block the head watch has seen (0 before the first).
    pub(super) fn head_number(&self) -> u64 {
        lock(&self.recent).tip().map_or(0, RpcHeader::number)
    }

    /// Links a new head to the known chain (fetching missing ancestors), records it and
    /// announces what the window watch should see (see `heads`).
    async fn ingest(&self, head: RpcHeader) -> Result<(), ChainError> {
        let mut segment = vec![head];
        loop {
            let Some(oldest) = segment.last() else {
                return Ok(());
            };
            let link = lock(&self.recent).link(oldest);
            match link {
                HeaderLink::Known => {
                    if segment.len() == 1 {
                        return Ok(());
                    }
                    // The walk back reached a block we already have: it anchors the rest.
                    segment.pop();
                    break;
                }
                HeaderLink::Linked => break,
                HeaderLink::Unanchored => {
                    self.drop_stale_blocks().await?;
                    break;
                }
                HeaderLink::NeedParent { number, hash } => {
                    if segment.len() >= MAX_BACKFILL {
                        self.drop_stale_blocks().await?;
                        break;
                    }
                    // A node that cannot produce the parent (a chain whose genesis is not
                    // block 0, or a parent pruned away) leaves nothing to link to.
                    let Some(parent) = self.header_by_hash(&hash).await? else {
                        tracing::debug!(block = number + 1, "parent unknown to the node");
                        self.drop_stale_blocks().await?;
                        break;
                    };
                    if parent.number() != number {
                        return Err(ChainError::Invalid(format!(
                            "{}: block 0x{hash} has number {}, expected {number}",
                            self.endpoint.shown(),
                            parent.number()
                        )));
                    }
                    segment.push(parent);
                }
            }
        }
        segment.reverse();
        let (first, last) = match (segment.first(), segment.last()) {
            (Some(f), Some(l)) => (f.number(), l.number()),
            _ => return Ok(()),
        };
        let old_tip = self.head_number();
        if !lock(&self.recent).is_empty() && first <= old_tip {
            tracing::info!(
                fork_point = first.saturating_sub(1),
                old_tip,
                new_tip = last,
                "chain reorganisation: re-announcing the new branch"
            );
        } else if last > old_tip.saturating_add(heads::GAP_ANNOUNCE_LIMIT) && old_tip > 0 {
            tracing::info!(
                from = old_tip,
                to = last,
                "caught up over a gap; the window watch sees a jump"
            );
        }
        let announce = lock(&self.recent).apply(segment);
        for block in announce {
            // No subscriber is not an error.
            let _ = self.blocks.send(block);
        }
        Ok(())
    }

    /// Called when a new head cannot be linked to what we keep: if our tip is no longer on
    /// the node's chain (a deep reorg, or a node restarted as a new chain), forget it all.
    async fn drop_stale_blocks(&self) -> Result<(), ChainError> {
        let tip = lock(&self.recent).tip().map(|t| (t.number(), t.hash));
        let Some((number, hash)) = tip else {
            return Ok(());
        };
        let current = self.header_by_number(number).await?;
        if current.as_ref().map(|h| h.hash) != Some(hash) {
            tracing::warn!(
                block = number,
                "the node's chain no longer has the blocks this node saw; starting over"
            );
            lock(&self.recent).clear();
        }
        Ok(())
    }

    /// Fetches the head and ingests it if new.
    async fn catch_up(&self) -> Result<(), ChainError> {
        let latest = self.latest_header().await?;
        self.ingest(latest).await
    }

    /// The head watch: sessions with backoff until cancelled.
    pub(super) async fn watch(self: Arc<Self>) {
        let mut backoff = self.config.reconnect_min;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let end = match self.session().await {
                Ok(()) => return,
                Err(end) => end,
            };
            tracing::warn!(url = %self.endpoint, error = %end.reason,
                retry_in = ?backoff, "Ethereum head watch interrupted; retrying");
            self.set_connection(ChainConnection::Disconnected {
                error: end.reason.clone(),
            });
            if end.progressed {
                backoff = self.config.reconnect_min;
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.config.reconnect_max);
        }
    }

    /// One connection's worth of head watching. `Ok` only when cancelled.
    async fn session(&self) -> Result<(), SessionEnd> {
        let mut progressed = false;
        let end = |reason: String, progressed: bool| SessionEnd { reason, progressed };
        // A WebSocket session gets a fresh socket: the old one is what failed.
        if self.endpoint.kind() == EndpointKind::Ws {
            let fresh = RpcTransport::connect(&self.endpoint, self.config.request_timeout)
                .await
                .map_err(|f| end(f.to_string(), false))?;
            *lock(&self.transport) = Some(Arc::new(fresh));
        }
        let id = self.chain_id_now().await.map_err(|e| end(e, false))?;
        if id != self.chain_id {
            let why = format!(
                "wrong chain: the node at {} now serves chain {id}, not {}",
                self.endpoint, self.chain_id
            );
            *lock(&self.wrong_chain) = Some(why.clone());
            return Err(end(why, false));
        }
        *lock(&self.wrong_chain) = None;

        match self.endpoint.kind() {
            EndpointKind::Ws => {
                let transport = self
                    .current_transport()
                    .ok_or_else(|| end("connection lost".into(), false))?;
                let Some(provider) = transport.ws() else {
                    return Err(end("not a WebSocket connection".into(), false));
                };
                let mut stream = provider
                    .subscribe::<_, Value>(["newHeads"])
                    .await
                    .map_err(|e| end(self.endpoint.scrub(&format!("eth_subscribe: {e}")), false))?;
                // Subscribed first, then caught up: nothing falls between the two.
                self.catch_up()
                    .await
                    .map_err(|e| end(e.to_string(), false))?;
                self.set_connection(ChainConnection::Connected);
                loop {
                    let next = tokio::select! {
                        _ = self.cancel.cancelled() => return Ok(()),
                        n = tokio::time::timeout(self.config.stale_head_after, stream.next()) => n,
                    };
                    match next {
                        Ok(Some(value)) => {
                            let header = match RpcHeader::from_json(&value) {
                                Ok(h) => h,
                                // Some nodes send trimmed headers: fetch the full one.
                                Err(e) => {
                                    let hash = value
                                        .get("hash")
                                        .and_then(|h| serde_json::from_value(h.clone()).ok())
                                        .and_then(|s: String| s.parse::<Hash32>().ok())
                                        .ok_or_else(|| {
                                            end(
                                                format!("unusable newHeads notification: {e}"),
                                                progressed,
                                            )
                                        })?;
                                    self.header_by_hash(&hash)
                                        .await
                                        .map_err(|e| end(e.to_string(), progressed))?
                                        .ok_or_else(|| {
                                            end(
                                                format!("announced block 0x{hash} is unknown"),
                                                progressed,
                                            )
                                        })?
                                }
                            };
                            self.ingest(header)
                                .await
                                .map_err(|e| end(e.to_string(), progressed))?;
                            // Also repairs a "disconnected" left by a failed engine call.
                            self.set_connection(ChainConnection::Connected);
                            progressed = true;
                        }
                        Ok(None) => {
                            return Err(end(
                                "the newHeads subscription ended: connection lost".into(),
                                progressed,
                            ))
                        }
                        // Quiet for a while: make sure the connection still answers.
                        Err(_) => {
                            self.catch_up()
                                .await
                                .map_err(|e| end(e.to_string(), progressed))?;
                            self.set_connection(ChainConnection::Connected);
                        }
                    }
                }
            }
            EndpointKind::Http => loop {
                self.catch_up()
                    .await
                    .map_err(|e| end(e.to_string(), progressed))?;
                self.set_connection(ChainConnection::Connected);
                progressed = true;
                tokio::select! {
                    _ = self.cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                }
            },
        }
    }
}
