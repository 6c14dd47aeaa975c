//! Ethereum mode: the [`Chain`] trait on a real JSON-RPC node (mainnet, Sepolia, anvil)
//! through ethers. Everything this node reads of Ethereum passes through here:
//! - new heads: a `newHeads` subscription on `ws(s)://` URLs, polling on `http(s)://` URLs;
//!   a lost connection is retried with backoff and the gap filled; the hash of each recent
//!   height is kept to notice reorgs, which re-announce the new branch from the fork point
//!   (the window watch never starts a window twice);
//! - safe block hashes under both rules of SPEC §3, hashed here from the header fields;
//! - wallets from a hand-written file or discovered from the tBTC v2 contracts (SPEC §9),
//!   incrementally, with the result cached through a [`DiscoveryCache`] the wiring hands in;
//! - the wallet state the proposal generator reads, from the Bridge;
//! - the outcome of dispatched actions, as far as an Ethereum observer can tell;
//! - the one transaction the node sends, signed with the operator's key: a moving wallet's
//!   commitment to its target wallets.
//!
//! Nothing here panics on what a node sends, and nothing stops silently: every failure is
//! shown in [`Chain::status`] and retried.
//!
//! Where each part lives: `config` (what to connect to), `client` ([`EthereumChain`] and its
//! RPC calls), `head_watch` (following new heads, with `heads` deciding what to announce),
//! `logs` (reading and pacing `eth_getLogs`), `abi` and `contracts` (the tBTC v2 interface),
//! `discovery`, `bridge` and `staking` (what is read through them), `commitment` and
//! `transactions` (the commitment, and sending it). This file is the
//! [`Chain`] trait on top.

mod abi;
mod bridge;
mod client;
mod commitment;
mod config;
mod contracts;
mod discovery;
mod head_watch;
mod header;
mod heads;
mod json;
mod logs;
mod rpc;
mod scan_cache;
mod staking;
mod transactions;
mod validator;
pub mod wallets_file;

use std::sync::atomic::Ordering;

use async_trait::async_trait;

use super::{ActionRequest, BlockRef, BlockStream, Chain, ChainError, ChainStatus, WalletInfo};
use crate::protocol::bitcoin_facts::{BitcoinFacts, MainUtxo};
use crate::protocol::commitment::MovingFundsCommitment;
use crate::protocol::{
    ActionOutcome, Address, BlockHashRule, Hash32, Proposal, Validation, WalletPkh, WalletSnapshot,
};
use client::lock;

pub use client::{EthereumChain, LatencyObserver, BLOCK_CHANNEL_CAPACITY};
pub use config::{Contracts, EthereumConfig, EthereumError, WalletSource};
pub use contracts::mainnet;
pub use discovery::{CacheError, DiscoveryCache};
pub use rpc::{Endpoint, EndpointError, EndpointKind};
pub use wallets_file::WalletsFileError;

#[async_trait]
impl Chain for EthereumChain {
    fn chain_key(&self) -> String {
        format!("chain-{}", self.inner.chain_id)
    }

    fn status(&self) -> ChainStatus {
        lock(&self.inner.status).clone()
    }

    async fn subscribe_blocks(&self) -> Result<BlockStream, ChainError> {
        // Subscribed before the watch starts, so the first head is not missed.
        let receiver = self.inner.blocks.subscribe();
        if !self.inner.watching.swap(true, Ordering::SeqCst) {
            self.inner.tasks.spawn(self.inner.clone().watch());
        }
        Ok(receiver)
    }

    async fn latest_block(&self) -> Result<BlockRef, ChainError> {
        Ok(self.inner.latest_header().await?.block_ref())
    }

    /// Recent blocks come from the head watch's memory, so the safe block of a window is
    /// hashed without a round trip; older ones are fetched.
    async fn block_hash(&self, number: u64, rule: BlockHashRule) -> Result<Hash32, ChainError> {
        let cached = lock(&self.inner.recent).get(number).cloned();
        let header = match cached {
            Some(h) => h,
            None => self.inner.header_by_number(number).await?.ok_or_else(|| {
                ChainError::BlockNotFound {
                    number,
                    head: self.inner.head_number(),
                }
            })?,
        };
        header.hash_under(rule).map_err(ChainError::Invalid)
    }

    async fn wallets(&self) -> Result<Vec<WalletInfo>, ChainError> {
        match &self.inner.config.wallets {
            WalletSource::Listed(list) => Ok(list.clone()),
            WalletSource::Discovered => self.inner.discover().await,
        }
    }

    async fn wallet_snapshot(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<WalletSnapshot, ChainError> {
        self.inner.snapshot(wallet, block).await
    }

    /// One `wallets(bytes20)` call.
    async fn main_utxo_hash(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<Option<Hash32>, ChainError> {
        self.inner.main_utxo_hash(wallet, block).await
    }

    /// With a validator address (`--wallet-proposal-validator`, or `--network mainnet`), an
    /// `eth_call` to its `validate…Proposal` view; without one, not checked.
    async fn validate_proposal(
        &self,
        snapshot: &WalletSnapshot,
        proposal: &Proposal,
        facts: &BitcoinFacts,
    ) -> Validation {
        match self.inner.config.contracts.wallet_proposal_validator {
            Some(validator) => {
                self.inner
                    .validate(validator, snapshot, proposal, facts)
                    .await
            }
            None => Validation::not_checked(validator::NO_VALIDATOR),
        }
    }

    /// Read at the snapshot's block (see `commitment`); the seats are the wallet's group as
    /// this node knows it.
    async fn plan_moving_funds_commitment(
        &self,
        snapshot: &WalletSnapshot,
        main_utxo: &MainUtxo,
        submitter: Address,
    ) -> Result<MovingFundsCommitment, ChainError> {
        let operators = self
            .wallets()
            .await?
            .into_iter()
            .find(|w| w.wallet == snapshot.wallet)
            .ok_or(ChainError::UnknownWallet(snapshot.wallet))?
            .operators;
        self.inner
            .plan_commitment(snapshot, main_utxo, &operators, submitter)
            .await
    }

    /// Signed with the key given to [`EthereumChain::sign_with`]; refused without one.
    async fn submit_moving_funds_commitment(
        &self,
        commitment: &MovingFundsCommitment,
    ) -> Result<Hash32, ChainError> {
        self.inner.submit_commitment(commitment).await
    }

    /// This node signs no Bitcoin transactions: carrying out a wallet action takes the tBTC
    /// signing client (keep-core) of the wallet's operators. What it can do honestly is watch
    /// the Bridge for the proof that the action landed: `Completed` when the Bridge records
    /// it between the start and expiry blocks, `Expired` otherwise. A heartbeat leaves no
    /// trace on the Bridge, so it always ends `Expired` (meaning "not observed").
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError> {
        self.inner.watch_action(request).await
    }
}
