//! The embedded devnet, the app's default chain: a deterministic simulated Ethereum chain with
//! tBTC activity, so a node (or a dozen in-process nodes) can run without any RPC endpoint.
//! Its world (operators, wallets, seats, block headers, deposits, redemptions, the fate of
//! every dispatched action) is a pure function of the configuration and the block height; only
//! the effects of completed actions depend on what the nodes proposed. Time is blocks: a
//! producer mines one block per `block_time` on tokio's clock (and, gated by in-process nodes,
//! never before they have handled the last one), `mine` fast-forwards, and every wait is for
//! a block, never for wall-clock time.

mod activity;
pub(crate) mod world;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::simulated_bitcoin;
use crate::chain::{ActionRequest, BlockStream, Chain, ChainError};
use crate::net::signing::OperatorKey;
use crate::protocol::window::COORDINATION_FREQUENCY_BLOCKS;
use crate::protocol::{
    ActionOutcome, Address, BlockHashRule, BlockHeader, Hash32, WalletPkh, WalletSnapshot,
};
use crate::protocol::{BlockRef, WalletInfo};
use activity::{ActionPlan, WalletRecord};

pub use activity::{
    BITCOIN_BLOCK_SECONDS, DEPOSIT_ONE_IN, DEPOSIT_REFUND_LOCKTIME_SECONDS, DEVNET_VAULTS,
    MOVING_FUNDS_REQUESTED_AGO_SECONDS, REDEMPTION_ONE_IN, REDEMPTION_TIMEOUT_SECONDS,
};
pub use world::{
    block_header, block_timestamp, local_operator_absent, wallet_pkh, BLOCK_SECONDS, GENESIS_TIME,
    MAX_SEATS, MIN_SEATS,
};

/// By default the devnet starts this many blocks before the first coordination block (900),
/// so the first window opens soon after start but not at once.
pub const DEFAULT_LEAD_IN_BLOCKS: u64 = 40;
/// The default start block: 860.
pub const DEFAULT_START_BLOCK: u64 = COORDINATION_FREQUENCY_BLOCKS - DEFAULT_LEAD_IN_BLOCKS;
/// Capacity of the new-head channel; a subscriber further behind sees `Lagged`.
pub const BLOCK_CHANNEL_CAPACITY: usize = 1024;
/// Limits of the configuration.
pub const MIN_OPERATORS: usize = 2;
pub const MAX_OPERATORS: usize = 1000;
pub const MAX_WALLETS: usize = 10_000;
/// Far above any real chain, yet small enough that timestamps never overflow.
pub const MAX_START_BLOCK: u64 = 1_000_000_000_000;
/// A settled action is remembered this long after it settled, so a node that dispatches late
/// still sees the shared outcome; the longest validity (1200) plus a window fits well inside.
const ACTION_MEMORY_BLOCKS: u64 = 2_000;

/// What the devnet simulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnetConfig {
    /// Seeds everything: keys, wallets, headers, activity and action outcomes.
    pub seed: u64,
    /// Wall-clock (tokio) time between two mined blocks; with a gate (see
    /// [`Devnet::start_gated`]) the least time between them.
    pub block_time: Duration,
    pub operators: usize,
    pub wallets: usize,
    /// The head when the devnet is created; `None` for [`DEFAULT_START_BLOCK`].
    pub start_block: Option<u64>,
    /// Whether headers carry Prague's `requestsHash` (then keep-v2 and canonical hashes differ).
    pub prague: bool,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        DevnetConfig {
            seed: 1,
            block_time: Duration::from_millis(100),
            operators: 20,
            wallets: 5,
            start_block: None,
            prague: true,
        }
    }
}

impl DevnetConfig {
    /// The head at creation.
    pub fn start_block(&self) -> u64 {
        self.start_block.unwrap_or(DEFAULT_START_BLOCK)
    }

    fn validate(&self) -> Result<(), DevnetError> {
        let invalid = |field, expected, got: String| {
            Err(DevnetError::InvalidConfig {
                field,
                expected,
                got,
            })
        };
        if !(MIN_OPERATORS..=MAX_OPERATORS).contains(&self.operators) {
            return invalid("operators", "2..=1000", self.operators.to_string());
        }
        if !(1..=MAX_WALLETS).contains(&self.wallets) {
            return invalid("wallets", "1..=10000", self.wallets.to_string());
        }
        if self.block_time.is_zero() {
            return invalid("block_time", "more than zero", "0s".to_string());
        }
        if self.start_block() > MAX_START_BLOCK {
            return invalid(
                "start_block",
                "at most 1000000000000",
                self.start_block().to_string(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevnetError {
    #[error("devnet {field}: expected {expected}, got {got}")]
    InvalidConfig {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("could not derive a valid secp256k1 key for devnet operator {index}")]
    OperatorKey { index: usize },
}

/// A simulated operator, with its key so in-process nodes can sign as it.
#[derive(Debug, Clone)]
pub struct DevnetOperator {
    pub index: usize,
    pub address: Address,
    pub key: OperatorKey,
}

/// What the block producer waits for before mining the next block (back-pressure): in a
/// devnet of in-process nodes, that every node has handled the head.
#[async_trait]
pub trait BlockGate: Send + Sync {
    /// Resolves once the block after `head` may be mined.
    async fn ready(&self, head: u64);
}

/// The devnet. Cheap to clone: clones share one chain.
#[derive(Clone)]
pub struct Devnet {
    inner: Arc<Inner>,
}

struct Inner {
    config: DevnetConfig,
    world: world::World,
    wallet_index: HashMap<WalletPkh, usize>,
    state: Mutex<ChainState>,
    blocks: broadcast::Sender<BlockRef>,
    /// Cancelled when the producer's token is; ends every pending action wait.
    stopped: CancellationToken,
    producing: AtomicBool,
}

/// Everything that changes as blocks are mined. Behind a std mutex that is never held across
/// an await: every critical section is a short synchronous step.
struct ChainState {
    head: BlockRef,
    /// In wallet index order.
    wallets: Vec<WalletRecord>,
    /// Dispatched actions by (wallet, coordination block); ordered so that actions settling
    /// at the same block apply their effects in the same order on every run.
    actions: BTreeMap<(WalletPkh, u64), PendingAction>,
}

struct PendingAction {
    request: ActionRequest,
    /// The block at which the action settles, and how.
    settles_at: u64,
    outcome: ActionOutcome,
    settled: bool,
    /// Every caller for this (wallet, window) waits on this one value.
    outcome_tx: watch::Sender<Option<ActionOutcome>>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("config", &self.inner.config)
            // `try_lock`: formatting must never wait for (or deadlock on) the chain state.
            .field(
                "head",
                &self.inner.state.try_lock().ok().map(|s| s.head.number),
            )
            .finish_non_exhaustive()
    }
}

impl Devnet {
    /// Builds the devnet's world at its start block. Nothing is mined until [`Devnet::start`]
    /// or [`Devnet::mine`].
    pub fn new(config: DevnetConfig) -> Result<Devnet, DevnetError> {
        config.validate()?;
        let world = world::World::build(&config)?;
        let wallet_index = world
            .wallets
            .iter()
            .enumerate()
            .map(|(i, w)| (w.wallet, i))
            .collect();
        let start = config.start_block();
        let state = ChainState {
            head: block_ref(config.seed, config.prague, start),
            wallets: activity::initial_wallets(config.seed, config.wallets, start),
            actions: BTreeMap::new(),
        };
        let (blocks, _) = broadcast::channel(BLOCK_CHANNEL_CAPACITY);
        Ok(Devnet {
            inner: Arc::new(Inner {
                config,
                world,
                wallet_index,
                state: Mutex::new(state),
                blocks,
                stopped: CancellationToken::new(),
                producing: AtomicBool::new(false),
            }),
        })
    }

    pub fn config(&self) -> &DevnetConfig {
        &self.inner.config
    }

    /// All operators, by index.
    pub fn operators(&self) -> &[DevnetOperator] {
        &self.inner.world.operators
    }

    /// Operator 0, the one this process runs as by default.
    pub fn local_operator(&self) -> &DevnetOperator {
        // `validate` guarantees at least two operators.
        &self.inner.world.operators[0]
    }

    /// Every wallet with its seats in member-index order.
    pub fn wallet_infos(&self) -> Vec<WalletInfo> {
        self.inner.world.wallets.clone()
    }

    /// The current head.
    pub fn head(&self) -> BlockRef {
        self.lock().head
    }

    /// New heads from now on.
    pub fn subscribe(&self) -> BlockStream {
        self.inner.blocks.subscribe()
    }

    /// The synthetic header of a block at or below the head.
    pub fn header(&self, number: u64) -> Result<BlockHeader, ChainError> {
        let head = self.head().number;
        if number > head {
            return Err(ChainError::BlockNotFound { number, head });
        }
        Ok(block_header(
            self.inner.config.seed,
            number,
            self.inner.config.prague,
        ))
    }

    /// Spawns the block producer: one block per `block_time` on tokio's clock until `cancel`
    /// is cancelled, which also ends every pending [`Chain::execute_action`] wait. Call it once
    /// (from inside a tokio runtime); a second call while a producer runs does nothing.
    pub fn start(&self, cancel: CancellationToken) -> JoinHandle<()> {
        self.spawn_producer(cancel, None)
    }

    /// Like [`Devnet::start`], but each block also waits until `gate` says the previous one
    /// has been handled: `block_time` is then a minimum interval, and a chain faster than its
    /// nodes slows down instead of running away from them.
    pub fn start_gated(
        &self,
        cancel: CancellationToken,
        gate: Arc<dyn BlockGate>,
    ) -> JoinHandle<()> {
        self.spawn_producer(cancel, Some(gate))
    }

    fn spawn_producer(
        &self,
        cancel: CancellationToken,
        gate: Option<Arc<dyn BlockGate>>,
    ) -> JoinHandle<()> {
        if self.inner.producing.swap(true, Ordering::SeqCst) {
            tracing::warn!("devnet block producer already running; not starting another");
            return tokio::spawn(async {});
        }
        let devnet = self.clone();
        let period = self.inner.config.block_time;
        tokio::spawn(async move {
            // The first block comes one period after start, not at once.
            let mut next = due_after(period);
            loop {
                // A stalled runtime or a slow gate never makes the chain burst out blocks to
                // catch up: the next block is due a period after the last one was mined.
                if Instant::now() < next {
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep_until(next) => {}
                    }
                } else {
                    // A block time below the timer's resolution: still let others run.
                    tokio::task::yield_now().await;
                }
                if let Some(gate) = &gate {
                    let head = devnet.head().number;
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => break,
                        _ = gate.ready(head) => {}
                    }
                }
                if cancel.is_cancelled() {
                    break;
                }
                devnet.mine(1);
                next = due_after(period);
            }
            devnet.inner.stopped.cancel();
            devnet.inner.producing.store(false, Ordering::SeqCst);
            tracing::debug!(head = devnet.head().number, "devnet block producer stopped");
        })
    }

    /// Mines `n` blocks at once, without waiting: for tests and fast-forwarding. Each block's
    /// activity and settling actions are applied before the block is announced, so a
    /// subscriber that sees block `k` also sees everything that happened at `k`. Blocks past
    /// [`BLOCK_CHANNEL_CAPACITY`] in one call make slow subscribers see `Lagged`.
    pub fn mine(&self, n: u64) {
        let seed = self.inner.config.seed;
        let prague = self.inner.config.prague;
        for _ in 0..n {
            // Locked per block, so a long fast-forward never keeps readers waiting for long.
            let mut state = self.lock();
            let Some(number) = state.head.number.checked_add(1) else {
                break;
            };
            activity::apply_block_activity(seed, number, &mut state.wallets);
            // The previous head's hash is the new block's parent: one header to hash, not two.
            state.head = BlockRef {
                number,
                hash: block_header(seed, number, prague).canonical_hash(),
                parent_hash: state.head.hash,
                timestamp: block_timestamp(number),
            };
            self.settle_due_actions(&mut state);
            // Sent under the lock so that concurrent miners announce heights in order; no
            // subscriber is not an error.
            let _ = self.inner.blocks.send(state.head);
        }
        let mut state = self.lock();
        let head = state.head.number;
        state
            .actions
            .retain(|_, a| !a.settled || a.settles_at.saturating_add(ACTION_MEMORY_BLOCKS) >= head);
    }

    fn lock(&self) -> MutexGuard<'_, ChainState> {
        // A panic elsewhere while holding the lock leaves consistent data (each step is
        // applied whole), so a poisoned lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Settles, in a fixed order, every action due at or before the head.
    fn settle_due_actions(&self, state: &mut ChainState) {
        let head = state.head.number;
        let mut due: Vec<(u64, (WalletPkh, u64))> = state
            .actions
            .iter()
            .filter(|(_, a)| !a.settled && a.settles_at <= head)
            .map(|(key, a)| (a.settles_at, *key))
            .collect();
        due.sort();
        for (_, key) in due {
            self.settle(state, key);
        }
    }

    fn settle(&self, state: &mut ChainState, key: (WalletPkh, u64)) {
        let head = state.head.number;
        let ChainState {
            wallets, actions, ..
        } = state;
        let Some(action) = actions.get_mut(&key) else {
            return;
        };
        if action.outcome == ActionOutcome::Completed {
            activity::apply_completed(
                self.inner.config.seed,
                wallets,
                &key.0,
                key.1,
                &action.request.proposal,
                head,
            );
        }
        action.settled = true;
        action.outcome_tx.send_replace(Some(action.outcome));
        tracing::debug!(
            wallet = %key.0,
            coordination_block = key.1,
            action = %action.request.proposal.action_type(),
            outcome = action.outcome.name(),
            block = head,
            "devnet action settled"
        );
    }

    /// Registers a dispatched action, or joins the one already registered for its (wallet,
    /// window), and returns the receiver of its outcome.
    fn register_action(
        &self,
        request: &ActionRequest,
    ) -> Result<watch::Receiver<Option<ActionOutcome>>, ChainError> {
        if !self.inner.wallet_index.contains_key(&request.wallet) {
            return Err(ChainError::UnknownWallet(request.wallet));
        }
        let key = (request.wallet, request.window.coordination_block);
        let mut state = self.lock();
        if let Some(existing) = state.actions.get(&key) {
            if existing.request.proposal != request.proposal {
                tracing::warn!(
                    wallet = %request.wallet,
                    coordination_block = key.1,
                    "devnet action dispatched again with another proposal; the first one stands"
                );
            }
            return Ok(existing.outcome_tx.subscribe());
        }

        let plan = activity::plan_action(self.inner.config.seed, &key.0, key.1);
        let (settles_at, outcome) = match plan {
            ActionPlan::Complete { after } => (
                request.start_block.saturating_add(after),
                ActionOutcome::Completed,
            ),
            ActionPlan::Fail { after } => (
                request.start_block.saturating_add(after),
                ActionOutcome::Failed,
            ),
            ActionPlan::Stall => (request.expiry_block, ActionOutcome::Expired),
        };
        // Whatever has not landed by the expiry block has expired.
        let (settles_at, outcome) = if settles_at >= request.expiry_block {
            (request.expiry_block, ActionOutcome::Expired)
        } else {
            (settles_at, outcome)
        };
        let (outcome_tx, outcome_rx) = watch::channel(None);
        tracing::debug!(
            wallet = %request.wallet,
            coordination_block = key.1,
            action = %request.proposal.action_type(),
            start_block = request.start_block,
            expiry_block = request.expiry_block,
            "devnet action dispatched"
        );
        state.actions.insert(
            key,
            PendingAction {
                request: request.clone(),
                settles_at,
                outcome,
                settled: false,
                outcome_tx,
            },
        );
        // Dispatched after its settling block already passed (e.g. a late node): settle now.
        if settles_at <= state.head.number {
            self.settle(&mut state, key);
        }
        Ok(outcome_rx)
    }

    /// A transaction on the simulated Bitcoin and the chain time it counts as mined at: a
    /// deposit's funding transaction (mined when revealed), or a wallet's main UTXO
    /// transaction (mined at the devnet's start).
    pub(crate) fn bitcoin_transaction(
        &self,
        tx_hash: &Hash32,
    ) -> Option<(bitcoin::Transaction, u64)> {
        if let Some(wallet) = self
            .inner
            .wallet_index
            .keys()
            .find(|w| simulated_bitcoin::main_utxo(w).tx_hash == *tx_hash)
        {
            return Some((
                simulated_bitcoin::main_utxo_transaction(wallet),
                world::block_timestamp(0),
            ));
        }
        let state = self.lock();
        state.wallets.iter().find_map(|record| {
            let deposit = record
                .deposits
                .iter()
                .find(|d| d.key.funding_tx_hash == *tx_hash)?;
            let tx = record.funding.get(&deposit.key)?;
            Some((tx.clone(), deposit.revealed_at))
        })
    }

    /// The wallet's state at the head.
    fn snapshot(&self, wallet: &WalletPkh) -> Result<WalletSnapshot, ChainError> {
        let index = *self
            .inner
            .wallet_index
            .get(wallet)
            .ok_or(ChainError::UnknownWallet(*wallet))?;
        let state = self.lock();
        state
            .wallets
            .get(index)
            .map(|record| record.snapshot(state.head.number))
            .ok_or(ChainError::UnknownWallet(*wallet))
    }
}

/// When the next block is due. A block time too long for the clock never overflows it: the
/// block is then due in about a year, i.e. never in practice.
fn due_after(period: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(period)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// Block `number` as announced: its canonical hash and its predecessor's.
fn block_ref(seed: u64, prague: bool, number: u64) -> BlockRef {
    let parent_hash = match number.checked_sub(1) {
        Some(parent) => block_header(seed, parent, prague).canonical_hash(),
        None => Hash32::default(),
    };
    BlockRef {
        number,
        hash: block_header(seed, number, prague).canonical_hash(),
        parent_hash,
        timestamp: block_timestamp(number),
    }
}

#[async_trait]
impl Chain for Devnet {
    fn chain_key(&self) -> String {
        format!("devnet-{}", self.inner.config.seed)
    }

    async fn subscribe_blocks(&self) -> Result<BlockStream, ChainError> {
        Ok(self.subscribe())
    }

    async fn latest_block(&self) -> Result<BlockRef, ChainError> {
        Ok(self.head())
    }

    async fn block_hash(&self, number: u64, rule: BlockHashRule) -> Result<Hash32, ChainError> {
        Ok(self.header(number)?.hash(rule))
    }

    async fn wallets(&self) -> Result<Vec<WalletInfo>, ChainError> {
        Ok(self.wallet_infos())
    }

    /// The devnet keeps no history of wallet state: the snapshot is always the head's, and its
    /// `block` and `timestamp` say so, whatever `block` was asked for.
    async fn wallet_snapshot(
        &self,
        wallet: &WalletPkh,
        _block: u64,
    ) -> Result<WalletSnapshot, ChainError> {
        self.snapshot(wallet)
    }

    /// Every simulated wallet holds its main UTXO on the simulated Bitcoin: no snapshot needed.
    async fn main_utxo_hash(
        &self,
        wallet: &WalletPkh,
        _block: u64,
    ) -> Result<Option<Hash32>, ChainError> {
        if !self.inner.wallet_index.contains_key(wallet) {
            return Err(ChainError::UnknownWallet(*wallet));
        }
        Ok(Some(simulated_bitcoin::main_utxo(wallet).bridge_hash()))
    }

    /// The outcome is fixed by (seed, wallet, window): about 80% complete 5..=60 blocks after
    /// the start block, 10% fail after 5..=30, 10% never land and expire at the expiry block.
    /// A completed action's effect is applied to the wallets at the block it completes.
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError> {
        let mut outcome = self.register_action(&request)?;
        let stopped = self.inner.stopped.clone();
        tokio::select! {
            // An outcome that is already known wins over a stop.
            biased;
            settled = outcome.wait_for(Option::is_some) => match settled {
                Ok(value) => (*value).ok_or_else(|| {
                    ChainError::Unavailable("devnet action settled without an outcome".into())
                }),
                Err(_) => Err(ChainError::Unavailable("devnet action was dropped".into())),
            },
            _ = stopped.cancelled() => Err(ChainError::Unavailable("devnet stopped".into())),
        }
    }
}

#[cfg(test)]
mod tests;
