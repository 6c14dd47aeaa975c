//! What the proposal generator reads of a wallet, from the Bridge (SPEC §8, §9, §12), and
//! the outcome of dispatched actions as the Bridge records them.
//!
//! - Redemption: `RedemptionRequested` events of the wallet, the latest per redemption key,
//!   then `pendingRedemptions(key)` for each (a request that was handled or timed out reads
//!   as zero), then the timeout from `redemptionParameters()`; when the Bridge has a
//!   redemption watchtower (`getRedemptionWatchtower()`), each request's delay from
//!   `getRedemptionDelay(key)`.
//! - Fee limits: `redemptionTxMaxTotalFee` and each request's `txMaxFee`,
//!   `depositParameters().depositTxMaxFee`, and the moving-funds and moved-funds-sweep
//!   maximums from `movingFundsParameters()`.
//! - DepositSweep: `DepositRevealed` events of the wallet, then `deposits(key)` for each
//!   (swept ones have `sweptAt`). Bitcoin confirmations are not read from Bitcoin: they are
//!   configured, or estimated from the reveal's age.
//! - MovingFunds: the wallet's state and `movingFundsRequestedAt` from `wallets(bytes20)`,
//!   targets from its latest `MovingFundsCommitmentSubmitted`.
//! - MovedFundsSweep, from Ethereum alone, when `wallets(bytes20)` counts pending requests:
//!   a `MovingFundsCommitmentSubmitted` of any source wallet naming this wallet as target
//!   *i*, that source's `MovingFundsCompleted(movingFundsTxHash)`, and the Bridge's request
//!   under `keccak256(movingFundsTxHash ‖ uint32 i)` (`movedFundsSweepRequests`), kept while
//!   Pending: output *i* of a moving-funds transaction pays target *i*, as the Bridge checks
//!   against the commitment.
//!
//! Event scans look back as keep-core's generator does (see [`lookback`]), never before the
//! configured first block.

use std::collections::{HashMap, HashSet};

use tokio::sync::broadcast;

use super::abi::{bytes20_topic, topic_bytes20, AbiError, EventDeclaration};
use super::client::{lock, Inner};
use super::contracts::{self, events};
use crate::chain::{ActionRequest, ChainError};
use crate::protocol::commitment::commitment_hash;
use crate::protocol::proposal::{
    DepositKey, FeeLimits, MovedFundsSweepRequest, PendingRedemption, RevealedDeposit, WalletState,
    BITCOIN_BLOCK_SECONDS,
};
use crate::protocol::{ActionOutcome, ActionType, Address, Hash32, WalletPkh, WalletSnapshot};

/// How far back a wallet snapshot's event scans reach, in blocks: keep-core's generator
/// (`pkg/tbtcpg`) at the commit SPEC §12 names, with PR #3864's deposit look-back.
pub mod lookback {
    /// Deposit reveals, moving-funds commitments and completions: 30 days of 12-second
    /// blocks (keep-core's `MovedFundsSweepLookBackBlocks`, `MovingFundsCommitmentLookBackBlocks`).
    pub const EVENTS: u64 = 216_000;
    /// Ethereum's average block time as keep-core assumes it (`AverageBlockTime`), seconds.
    pub const AVERAGE_BLOCK_SECONDS: u64 = 12;
    /// Slack on the redemption look-back, for blocks faster than the average.
    pub const REDEMPTION_SLACK: u64 = 1_000;

    /// Redemption requests: those not timed out yet, so the timeout in blocks, plus slack
    /// (keep-core's `findPendingRedemptions`).
    pub fn redemptions(redemption_timeout_seconds: u64) -> u64 {
        (redemption_timeout_seconds / AVERAGE_BLOCK_SECONDS).saturating_add(REDEMPTION_SLACK)
    }
}

/// An action's Bridge evidence is looked for every this many blocks (and at expiry).
const ACTION_CHECK_BLOCKS: u64 = 5;

fn invalid(e: impl std::fmt::Display) -> ChainError {
    ChainError::Invalid(e.to_string())
}

/// What every wallet's snapshot reads of the Bridge as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BridgeParameters {
    pub redemption_timeout: u64,
    pub fee_limits: FeeLimits,
    /// The redemption watchtower, if the Bridge has one.
    pub watchtower: Option<Address>,
}

impl Inner {
    pub(super) async fn snapshot(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<WalletSnapshot, ChainError> {
        let cached = lock(&self.recent).get(block).cloned();
        let header =
            match cached {
                Some(h) => h,
                None => self.header_by_number(block).await?.ok_or_else(|| {
                    ChainError::BlockNotFound {
                        number: block,
                        head: self.head_number(),
                    }
                })?,
            };
        let timestamp = header.header.timestamp;
        let Some(bridge) = self.config.contracts.bridge else {
            self.warn_once(
                "no-bridge",
                "no Bridge address (--bridge or --network): wallet state is not read, so only \
                 heartbeats can be proposed",
            );
            return Ok(WalletSnapshot {
                wallet: *wallet,
                state: WalletState::Unknown,
                block,
                timestamp,
                ..WalletSnapshot::default()
            });
        };
        self.ensure_code(bridge, "Bridge", "--bridge").await?;

        let w = self.known_bridge_wallet(bridge, wallet, block).await?;
        let BridgeParameters {
            redemption_timeout,
            fee_limits,
            watchtower,
        } = self.bridge_parameters(bridge, block).await?;
        let wallet_topic = Some(bytes20_topic(&wallet.0));
        let redemptions_from = self.scan_start(block, lookback::redemptions(redemption_timeout));
        let events_from = self.scan_start(block, lookback::EVENTS);

        let pending_redemptions = self
            .pending_redemptions(
                bridge,
                watchtower,
                wallet,
                wallet_topic,
                redemptions_from,
                block,
            )
            .await?;
        let deposits = self
            .unswept_deposits(bridge, wallet_topic, events_from, block, timestamp)
            .await?;

        let state = WalletState::from_number(w.state);
        let moved_funds_sweep_requests = if w.pending_moved_funds_sweep_requests > 0
            && matches!(state, WalletState::Live | WalletState::MovingFunds)
        {
            self.moved_funds_sweep_requests(bridge, wallet, events_from, block)
                .await?
        } else {
            Vec::new()
        };
        let moving_funds_targets = if state == WalletState::MovingFunds {
            match self
                .last_log(
                    bridge,
                    &[
                        Some(events::MOVING_FUNDS_COMMITMENT_SUBMITTED.topic()),
                        wallet_topic,
                    ],
                    events_from,
                    block,
                )
                .await?
            {
                Some(log) => contracts::decode_moving_funds_targets(&log.data).map_err(invalid)?,
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        // The targets are the ones the Bridge holds the hash of, or none (as the reference
        // client checks them): an event the Bridge's hash does not match is not proposed to.
        let moving_funds_targets = if !moving_funds_targets.is_empty()
            && commitment_hash(&moving_funds_targets) != w.moving_funds_commitment
        {
            tracing::warn!(%wallet, block,
                "the latest MovingFundsCommitmentSubmitted does not match the Bridge's \
                 commitment hash; its targets are not used");
            Vec::new()
        } else {
            moving_funds_targets
        };
        Ok(WalletSnapshot {
            wallet: *wallet,
            state,
            block,
            timestamp,
            redemption_timeout,
            pending_redemptions,
            deposits,
            moving_funds_requested_at: (w.moving_funds_requested_at != 0)
                .then_some(w.moving_funds_requested_at),
            moving_funds_targets,
            moving_funds_commitment: (w.moving_funds_commitment != Hash32::default())
                .then_some(w.moving_funds_commitment),
            moved_funds_sweep_requests,
            fee_limits,
            main_utxo_hash: (w.main_utxo_hash != Hash32::default()).then_some(w.main_utxo_hash),
        })
    }

    /// The Bridge's `mainUtxoHash` of `wallet` at `block`.
    pub(super) async fn main_utxo_hash(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<Option<Hash32>, ChainError> {
        let Some(bridge) = self.config.contracts.bridge else {
            return Ok(None);
        };
        let w = self.known_bridge_wallet(bridge, wallet, block).await?;
        Ok((w.main_utxo_hash != Hash32::default()).then_some(w.main_utxo_hash))
    }

    /// `Bridge.wallets(bytes20)` of `wallet` at `block`; state 0 for a wallet the Bridge does
    /// not know.
    pub(super) async fn bridge_wallet(
        &self,
        bridge: Address,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<contracts::BridgeWallet, ChainError> {
        let data = self
            .eth_call(
                bridge,
                contracts::wallets_call(wallet),
                block,
                "Bridge.wallets",
            )
            .await?;
        contracts::BridgeWallet::decode(&data).map_err(invalid)
    }

    /// As [`Inner::bridge_wallet`], a wallet the Bridge does not know being an error.
    async fn known_bridge_wallet(
        &self,
        bridge: Address,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<contracts::BridgeWallet, ChainError> {
        let w = self.bridge_wallet(bridge, wallet, block).await?;
        if w.state == 0 {
            return Err(ChainError::UnknownWallet(*wallet));
        }
        Ok(w)
    }

    /// The first block of a scan that looks back `lookback` blocks from `block` (or the
    /// configured override), never before the configured first block.
    fn scan_start(&self, block: u64, lookback: u64) -> u64 {
        scan_start(
            block,
            self.config.snapshot_lookback_blocks.unwrap_or(lookback),
            self.config.first_block,
        )
    }

    /// The wallet's pending moved-funds sweep requests (module doc), oldest first.
    async fn moved_funds_sweep_requests(
        &self,
        bridge: Address,
        wallet: &WalletPkh,
        from: u64,
        block: u64,
    ) -> Result<Vec<MovedFundsSweepRequest>, ChainError> {
        // The commitment's topic is the source wallet: every commitment is read, and its
        // target list says whether this wallet is one.
        let commitments = self
            .events_by_wallet(
                bridge,
                &events::MOVING_FUNDS_COMMITMENT_SUBMITTED,
                from,
                block,
                contracts::decode_moving_funds_targets,
            )
            .await?;
        let positions = target_positions(wallet, &commitments);
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let completions = self
            .events_by_wallet(
                bridge,
                &events::MOVING_FUNDS_COMPLETED,
                from,
                block,
                contracts::decode_moving_funds_tx_hash,
            )
            .await?;
        let mut out = Vec::new();
        for (tx_hash, output_index) in moved_funds_outpoints(&positions, &completions) {
            let key = contracts::moved_funds_sweep_key(&tx_hash, output_index);
            let data = self
                .eth_call(
                    bridge,
                    contracts::moved_funds_sweep_requests_call(&key),
                    block,
                    "Bridge.movedFundsSweepRequests",
                )
                .await?;
            let record = contracts::MovedFundsSweepRecord::decode(&data).map_err(invalid)?;
            if record.state != contracts::MovedFundsSweepRecord::PENDING || record.wallet != *wallet
            {
                continue;
            }
            out.push(MovedFundsSweepRequest {
                moving_funds_tx_hash: tx_hash,
                output_index,
                value: record.value,
                created_at: record.created_at,
            });
        }
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    /// Every `event` of the Bridge in `from..=block`, whatever its wallet, as the wallet its
    /// first topic names and what `decode` reads of its data.
    async fn events_by_wallet<T>(
        &self,
        bridge: Address,
        event: &EventDeclaration,
        from: u64,
        block: u64,
        decode: impl Fn(&[u8]) -> Result<T, AbiError>,
    ) -> Result<Vec<(WalletPkh, T)>, ChainError> {
        self.scan(bridge, &[Some(event.topic())], from, block)
            .await?
            .iter()
            .map(|log| {
                let wallet = WalletPkh(topic_bytes20(log.indexed(0).map_err(invalid)?));
                Ok((wallet, decode(&log.data).map_err(invalid)?))
            })
            .collect()
    }

    /// The Bridge's parameters at `block`, read once per block: every wallet's snapshot of
    /// a window is taken at the same block.
    async fn bridge_parameters(
        &self,
        bridge: Address,
        block: u64,
    ) -> Result<BridgeParameters, ChainError> {
        if let Some((at, parameters)) = *lock(&self.bridge_parameters) {
            if at == block {
                return Ok(parameters);
            }
        }
        let data = self
            .eth_call(
                bridge,
                contracts::redemption_parameters_call(),
                block,
                "Bridge.redemptionParameters",
            )
            .await?;
        let (redemption_tx_max_total_fee, redemption_timeout) =
            contracts::decode_redemption_parameters(&data).map_err(invalid)?;
        let data = self
            .eth_call(
                bridge,
                contracts::deposit_parameters_call(),
                block,
                "Bridge.depositParameters",
            )
            .await?;
        let deposit_tx_max_fee = contracts::decode_deposit_tx_max_fee(&data).map_err(invalid)?;
        let data = self
            .eth_call(
                bridge,
                contracts::moving_funds_parameters_call(),
                block,
                "Bridge.movingFundsParameters",
            )
            .await?;
        let (moving_funds_tx_max_total_fee, moved_funds_sweep_tx_max_total_fee) =
            contracts::decode_moving_funds_max_fees(&data).map_err(invalid)?;
        let data = self
            .eth_call(
                bridge,
                contracts::get_redemption_watchtower_call(),
                block,
                "Bridge.getRedemptionWatchtower",
            )
            .await?;
        let watchtower = contracts::decode_redemption_watchtower(&data).map_err(invalid)?;
        let parameters = BridgeParameters {
            redemption_timeout,
            fee_limits: FeeLimits {
                deposit_tx_max_fee: Some(deposit_tx_max_fee),
                redemption_tx_max_total_fee: Some(redemption_tx_max_total_fee),
                moving_funds_tx_max_total_fee: Some(moving_funds_tx_max_total_fee),
                moved_funds_sweep_tx_max_total_fee: Some(moved_funds_sweep_tx_max_total_fee),
            },
            watchtower,
        };
        *lock(&self.bridge_parameters) = Some((block, parameters));
        Ok(parameters)
    }

    async fn pending_redemptions(
        &self,
        bridge: Address,
        watchtower: Option<Address>,
        wallet: &WalletPkh,
        wallet_topic: Option<Hash32>,
        from: u64,
        block: u64,
    ) -> Result<Vec<PendingRedemption>, ChainError> {
        let logs = self
            .scan(
                bridge,
                &[Some(events::REDEMPTION_REQUESTED.topic()), wallet_topic],
                from,
                block,
            )
            .await?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        // Newest first: a script requested again after its first request was handled has
        // one key, and the Bridge holds only the latest request under it.
        for log in logs.iter().rev() {
            let event = contracts::RedemptionRequested::decode(&log.data).map_err(invalid)?;
            let key = contracts::redemption_key(wallet, &event.redeemer_output_script);
            if !seen.insert(key) {
                continue;
            }
            let data = self
                .eth_call(
                    bridge,
                    contracts::pending_redemptions_call(&key),
                    block,
                    "Bridge.pendingRedemptions",
                )
                .await?;
            let request = contracts::RedemptionRequest::decode(&data).map_err(invalid)?;
            if request.requested_at == 0 {
                continue;
            }
            let watchtower_delay = match watchtower {
                Some(watchtower) => {
                    let data = self
                        .eth_call(
                            watchtower,
                            contracts::get_redemption_delay_call(&key),
                            block,
                            "RedemptionWatchtower.getRedemptionDelay",
                        )
                        .await?;
                    contracts::decode_redemption_delay(&data).map_err(invalid)?
                }
                None => 0,
            };
            let script = contracts::unprefixed_script(&event.redeemer_output_script)
                .map_err(invalid)?
                .to_vec();
            out.push(PendingRedemption {
                redeemer_output_script: script,
                requested_amount: request.requested_amount,
                requested_at: request.requested_at,
                watchtower_delay,
                tx_max_fee: Some(request.tx_max_fee),
            });
        }
        out.sort_by_key(|r| r.requested_at);
        Ok(out)
    }

    async fn unswept_deposits(
        &self,
        bridge: Address,
        wallet_topic: Option<Hash32>,
        from: u64,
        block: u64,
        now: u64,
    ) -> Result<Vec<RevealedDeposit>, ChainError> {
        // DepositRevealed indexes the depositor first, the wallet second.
        let logs = self
            .scan(
                bridge,
                &[Some(events::DEPOSIT_REVEALED.topic()), None, wallet_topic],
                from,
                block,
            )
            .await?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for log in &logs {
            let event = contracts::DepositRevealed::decode(&log.data).map_err(invalid)?;
            let key = contracts::deposit_key(&event.funding_tx_hash, event.funding_output_index);
            if !seen.insert(key) || self.known_swept(&key) {
                continue;
            }
            let data = self
                .eth_call(
                    bridge,
                    contracts::deposits_call(&key),
                    block,
                    "Bridge.deposits",
                )
                .await?;
            let request = contracts::DepositRequest::decode(&data).map_err(invalid)?;
            if request.swept_at != 0 {
                self.remember_swept(key);
            }
            if request.revealed_at == 0 || request.swept_at != 0 {
                continue;
            }
            let confirmations = self.config.deposit_confirmations.unwrap_or_else(|| {
                u32::try_from(now.saturating_sub(request.revealed_at) / BITCOIN_BLOCK_SECONDS)
                    .unwrap_or(u32::MAX)
            });
            out.push(RevealedDeposit {
                key: DepositKey {
                    funding_tx_hash: event.funding_tx_hash,
                    output_index: event.funding_output_index,
                },
                amount: request.amount,
                vault: (request.vault != Address::default()).then_some(request.vault),
                revealed_at: request.revealed_at,
                reveal_block: log.block_number,
                confirmations,
                refund_locktime: event.refund_locktime,
                reveal: event.reveal,
            });
        }
        Ok(out)
    }

    /// The Bridge event that proves an action landed.
    fn evidence(action: ActionType) -> Option<&'static EventDeclaration> {
        match action {
            ActionType::Redemption => Some(&events::REDEMPTIONS_COMPLETED),
            ActionType::DepositSweep => Some(&events::DEPOSITS_SWEPT),
            ActionType::MovingFunds => Some(&events::MOVING_FUNDS_COMPLETED),
            ActionType::MovedFundsSweep => Some(&events::MOVED_FUNDS_SWEPT),
            ActionType::Heartbeat | ActionType::Noop => None,
        }
    }

    /// Whether the Bridge recorded the action between `from` and `to`.
    async fn action_landed(
        &self,
        bridge: Address,
        wallet: &WalletPkh,
        event: &EventDeclaration,
        from: u64,
        to: u64,
    ) -> Result<bool, ChainError> {
        // DepositsSwept does not index the wallet: its data names it.
        let indexed = event.first_argument_indexed();
        let wallet_topic = indexed.then(|| bytes20_topic(&wallet.0));
        let logs = self
            .logs(bridge, &[Some(event.topic()), wallet_topic], from, to)
            .await?;
        if indexed {
            return Ok(!logs.is_empty());
        }
        Ok(logs
            .iter()
            .any(|l| contracts::decode_deposits_swept_wallet(&l.data).is_ok_and(|w| w == *wallet)))
    }

    pub(super) async fn watch_action(
        &self,
        request: ActionRequest,
    ) -> Result<ActionOutcome, ChainError> {
        let action = request.proposal.action_type();
        let evidence = Self::evidence(action).zip(self.config.contracts.bridge);
        if evidence.is_none() {
            tracing::info!(wallet = %request.wallet, %action,
                "the outcome of this action cannot be observed on the Bridge; it will read as expired");
        }
        let mut heads = self.blocks.subscribe();
        let mut checked_to = request.start_block.saturating_sub(1);
        loop {
            let head = self.head_number();
            let due = head >= request.expiry_block
                || head >= checked_to.saturating_add(ACTION_CHECK_BLOCKS);
            if let Some((event, bridge)) = evidence {
                let to = head.min(request.expiry_block);
                if due && to > checked_to {
                    match self
                        .action_landed(bridge, &request.wallet, event, checked_to + 1, to)
                        .await
                    {
                        Ok(true) => return Ok(ActionOutcome::Completed),
                        Ok(false) => checked_to = to,
                        // Transient: the head watch retries the connection; check again later.
                        Err(e) => tracing::debug!(error = %e, "action check postponed"),
                    }
                }
            }
            if head >= request.expiry_block {
                return Ok(ActionOutcome::Expired);
            }
            tokio::select! {
                _ = self.cancel.cancelled() => {
                    return Err(ChainError::Unavailable("the Ethereum chain was stopped".into()))
                }
                r = heads.recv() => match r {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(ChainError::Unavailable("the head watch stopped".into()))
                    }
                },
            }
        }
    }
}

/// `lookback` blocks before `block`, not before genesis nor `first_block`.
fn scan_start(block: u64, lookback: u64, first_block: u64) -> u64 {
    block.saturating_sub(lookback).max(first_block)
}

/// For each source wallet whose moving-funds commitment names `wallet`, its position in the
/// target list. A source commits once (the Bridge refuses a second commitment); were there
/// two, the later one naming the wallet wins, as in keep-core.
fn target_positions(
    wallet: &WalletPkh,
    commitments: &[(WalletPkh, Vec<WalletPkh>)],
) -> HashMap<WalletPkh, u32> {
    let mut positions = HashMap::new();
    for (source, targets) in commitments {
        if let Some(i) = targets.iter().position(|t| t == wallet) {
            if let Ok(i) = u32::try_from(i) {
                positions.insert(*source, i);
            }
        }
    }
    positions
}

/// The outputs that paid `wallet`: for each completed move of a source that committed to
/// it, (movingFundsTxHash, the wallet's position), in completion order, each once.
fn moved_funds_outpoints(
    positions: &HashMap<WalletPkh, u32>,
    completions: &[(WalletPkh, Hash32)],
) -> Vec<(Hash32, u32)> {
    let mut seen = HashSet::new();
    completions
        .iter()
        .filter_map(|(source, tx_hash)| positions.get(source).map(|i| (*tx_hash, *i)))
        .filter(|outpoint| seen.insert(*outpoint))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redemption_look_back_is_the_timeout_in_blocks_plus_slack() {
        // The Bridge's default five-day timeout: 36,000 blocks of 12 s, plus 1,000.
        assert_eq!(lookback::redemptions(5 * 86_400), 37_000);
        assert_eq!(lookback::redemptions(11), 1_000);
        assert_eq!(lookback::redemptions(u64::MAX), u64::MAX / 12 + 1_000);
    }

    #[test]
    fn a_scan_starts_its_look_back_before_the_block_and_never_before_the_first_block() {
        assert_eq!(scan_start(20_000_000, lookback::EVENTS, 0), 19_784_000);
        assert_eq!(
            scan_start(20_000_000, lookback::EVENTS, 19_900_000),
            19_900_000
        );
        assert_eq!(scan_start(100, lookback::redemptions(5 * 86_400), 0), 0);
    }

    #[test]
    fn a_wallet_is_swept_the_outputs_that_completed_moves_paid_it() {
        let me = WalletPkh([1; 20]);
        let (a, b, c) = (
            WalletPkh([0xA; 20]),
            WalletPkh([0xB; 20]),
            WalletPkh([0xC; 20]),
        );
        let other = WalletPkh([9; 20]);
        let commitments = vec![
            (a, vec![other, me]), // me second
            (b, vec![me]),        // me first
            (c, vec![other]),     // not me
        ];
        let positions = target_positions(&me, &commitments);
        assert_eq!(positions, HashMap::from([(a, 1), (b, 0)]));
        let completions = vec![
            (c, Hash32([0xC0; 32])), // a move that did not pay me
            (b, Hash32([0xB0; 32])),
            (a, Hash32([0xA0; 32])),
            (a, Hash32([0xA0; 32])), // the same log twice (a reorg's echo): once
            (other, Hash32([0x90; 32])), // completed without a commitment in range
        ];
        assert_eq!(
            moved_funds_outpoints(&positions, &completions),
            vec![(Hash32([0xB0; 32]), 0), (Hash32([0xA0; 32]), 1)]
        );
        // No commitment names the wallet: nothing, whatever completed.
        assert!(moved_funds_outpoints(&target_positions(&other, &[]), &completions).is_empty());
    }
}
