//! A node: the tasks that coordinate every wallet in which this operator holds a seat.
//!
//! - the *router* decodes and authenticates coordination messages and hands each to its
//!   wallet's executor;
//! - the *window watch* follows new heads, decides windows (see `window_watch`), forecasts the
//!   next leaders and launches one executor run per wallet and window;
//! - the *result processor* records each result and its faults, then hands accepted proposals
//!   to the *dispatcher*, which runs one action per wallet at a time.
//!
//! All tasks hang off one cancellation token. Facts go to the store before the bus.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::events::{CoordinationResultEvent, Event, EventBus, ForecastLeader, NodeSnapshot};
use super::executor::{Executor, ExecutorOutcome, Inbound, WalletEntry, RESEND_TICKS};
use super::misbehaviour::FaultInjector;
use super::window_watch::{WindowDecision, WindowTracker};
use crate::chain::{ActionRequest, BlockRef, Chain, ChainError, WalletInfo};
use crate::net::signing::{recover_signer, OperatorKey};
use crate::net::BroadcastChannel;
use crate::protocol::checklist::checklist;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::proposal::generate_proposal;
use crate::protocol::window::{is_coordination_block, next_window_after};
use crate::protocol::{
    types::keccak256, ActionOutcome, Address, BlockHashRule, CoordinationResult,
    CoordinationWindow, Hash32, ProposalParams, Role, SigningGroup, WalletPkh,
};
use crate::store::{DispatchRecord, DispatchStatus, DryRunRecord, Store, StoreError, WindowStatus};

/// Who this node is. Without a key it observes: it computes everything and signs nothing.
#[derive(Clone)]
pub struct Identity {
    pub operator: Address,
    pub key: Option<OperatorKey>,
}

impl Identity {
    pub fn signer(key: OperatorKey) -> Self {
        Identity {
            operator: key.address(),
            key: Some(key),
        }
    }

    pub fn observer(operator: Address) -> Self {
        Identity {
            operator,
            key: None,
        }
    }
}

#[derive(Clone, Default)]
pub struct NodeConfig {
    pub block_hash_rule: BlockHashRule,
    pub proposal_params: ProposalParams,
    /// Devnet peers only: misbehaviour to inject.
    pub misbehaviour: Option<Arc<FaultInjector>>,
    /// Routine log lines at debug instead of info (the devnet's simulated peers).
    pub quiet: bool,
}

/// What the node's tasks share.
pub struct NodeContext {
    pub chain: Arc<dyn Chain>,
    pub net: Arc<dyn BroadcastChannel>,
    pub store: Arc<Store>,
    pub bus: EventBus,
    pub identity: Identity,
    pub config: NodeConfig,
    pub cancel: CancellationToken,
    head: watch::Sender<u64>,
}

impl NodeContext {
    /// The highest block seen so far.
    pub fn head_number(&self) -> u64 {
        *self.head.borrow()
    }

    pub fn head_watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Waits until the head reaches `target`; `None` if the node is stopping.
    pub async fn wait_for_block(&self, target: u64) -> Option<u64> {
        let mut head = self.head.subscribe();
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
            r = head.wait_for(|h| *h >= target) => r.ok().map(|h| *h),
        }
    }

    /// Signs and broadcasts a message, then re-sends the identical message on the backoff
    /// ticks until the active phase ends. `false` if nothing could be sent.
    pub(crate) async fn broadcast_with_backoff(
        &self,
        message: CoordinationMessage,
        window: CoordinationWindow,
    ) -> bool {
        let Some(key) = &self.identity.key else {
            tracing::warn!(wallet = %message.wallet, cb = window.coordination_block,
                "this node leads but runs as an observer without a key: nothing sent");
            return false;
        };
        let signed = match key.sign(&message) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "signing the coordination message failed");
                return false;
            }
        };
        if let Err(e) = self.net.send(signed.clone()).await {
            tracing::error!(error = %e, "broadcasting the coordination message failed");
            return false;
        }
        let sent_at = self.head_number();
        let end = window.active_phase_end();
        let net = self.net.clone();
        let cancel = self.cancel.clone();
        let mut head = self.head.subscribe();
        tokio::spawn(async move {
            for tick in RESEND_TICKS {
                let target = sent_at.saturating_add(tick);
                if target >= end {
                    break;
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = head.wait_for(|h| *h >= target) => if r.is_err() { return },
                }
                if *head.borrow() >= end {
                    return;
                }
                if net.send(signed.clone()).await.is_err() {
                    return;
                }
            }
        });
        true
    }
}

/// Why a dry run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("wallet {0} is not known to the chain")]
    UnknownWallet(WalletPkh),
    #[error("block {0} is not a coordination block (expected a positive multiple of 900)")]
    NotACoordinationBlock(u64),
    #[error("the leader of window {window} is not known until its safe block {safe_block} is mined (head is {head})")]
    SafeBlockNotMined {
        window: u64,
        safe_block: u64,
        head: u64,
    },
    #[error("wallet {0} has an empty signing group")]
    EmptyGroup(WalletPkh),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which window a dry run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunWindow {
    /// The next window after the head.
    Next,
    /// The latest window at or before the head.
    Current,
    /// A coordination block.
    At(u64),
}

/// What a front end may ask of a running node: its events and snapshot, its history, and
/// dry runs. Cheap to clone; the console holds one.
#[derive(Clone)]
pub struct NodeCommands {
    ctx: Arc<NodeContext>,
}

impl NodeCommands {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.ctx.bus.subscribe()
    }

    pub fn snapshot(&self) -> NodeSnapshot {
        self.ctx.bus.snapshot()
    }

    pub fn chain_status(&self) -> crate::chain::ChainStatus {
        self.ctx.chain.status()
    }

    pub fn operator(&self) -> Address {
        self.ctx.identity.operator
    }

    pub fn block_hash_rule(&self) -> BlockHashRule {
        self.ctx.config.block_hash_rule
    }

    /// A page of the fault history.
    pub fn faults(
        &self,
        filter: &crate::store::FaultFilter,
        order: crate::store::FaultOrder,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<crate::store::FaultRow>, StoreError> {
        self.ctx.store.faults(filter, order, offset, limit)
    }

    pub fn count_faults(&self, filter: &crate::store::FaultFilter) -> Result<u64, StoreError> {
        self.ctx.store.count_faults(filter)
    }

    pub fn fault_summary(
        &self,
        filter: &crate::store::FaultFilter,
    ) -> Result<Vec<crate::store::OperatorFaultSummary>, StoreError> {
        self.ctx.store.fault_summary(filter)
    }

    pub fn dispatches(&self, limit: u64) -> Result<Vec<crate::store::DispatchRow>, StoreError> {
        self.ctx.store.dispatches(limit)
    }

    pub fn dry_runs(&self, limit: u64) -> Result<Vec<crate::store::DryRunRow>, StoreError> {
        self.ctx.store.dry_runs(limit)
    }

    /// A dry run (see [`dry_run`]), recorded in the history and announced.
    pub async fn dry_run(
        &self,
        wallet: WalletPkh,
        window: DryRunWindow,
    ) -> Result<DryRunRecord, DryRunError> {
        let ctx = &self.ctx;
        let record = dry_run(
            ctx.chain.as_ref(),
            ctx.identity.operator,
            &ctx.config,
            ctx.head_number(),
            wallet,
            window,
        )
        .await?;
        ctx.store.record_dry_run(&record)?;
        ctx.bus.publish(Event::DryRun(record.clone()));
        Ok(record)
    }
}

/// Handle to a running node: events, snapshot, commands, shutdown.
pub struct NodeHandle {
    ctx: Arc<NodeContext>,
    wallets: Vec<WalletInfo>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct Node;

impl Node {
    /// Starts a node's tasks. Fails only on what makes running pointless: no wallet list, no
    /// block stream.
    pub async fn start(
        config: NodeConfig,
        identity: Identity,
        chain: Arc<dyn Chain>,
        net: Arc<dyn BroadcastChannel>,
        store: Arc<Store>,
        bus: EventBus,
        cancel: CancellationToken,
    ) -> Result<NodeHandle, ChainError> {
        let all_wallets = chain.wallets().await?;
        let blocks = chain.subscribe_blocks().await?;
        let head_now = chain.latest_block().await.map(|b| b.number).unwrap_or(0);
        let wallets: Vec<WalletInfo> = all_wallets
            .into_iter()
            .filter(|w| w.operators.contains(&identity.operator))
            .collect();

        let (head, _) = watch::channel(head_now);
        let ctx = Arc::new(NodeContext {
            chain: chain.clone(),
            net: net.clone(),
            store,
            bus: bus.clone(),
            identity: identity.clone(),
            config,
            cancel: cancel.clone(),
            head,
        });

        let mut executors = Vec::with_capacity(wallets.len());
        let mut inboxes = HashMap::new();
        for w in &wallets {
            // One executor per wallet, even if the chain lists a wallet twice.
            if inboxes.contains_key(&w.wallet) {
                continue;
            }
            let group = SigningGroup::new(w.operators.clone())?;
            let seats = group.seats_of(&identity.operator);
            let (executor, inbox) = Executor::new(WalletEntry {
                wallet: w.wallet,
                group,
                seats,
            });
            executors.push(executor);
            inboxes.insert(w.wallet, inbox);
        }
        let executors = Arc::new(executors);

        bus.publish(Event::NodeStarted {
            chain: chain.chain_key(),
            operator: identity.operator,
            observer: identity.key.is_none(),
            block_hash_rule: ctx.config.block_hash_rule,
            wallets: wallets.clone(),
        });
        if !net.reaches_peers() {
            tracing::warn!(
                "no peer transport: this node neither hears nor reaches other operators, \
                 so it records no faults against leaders and its own messages go nowhere"
            );
        }
        node_info!(ctx.config, operator = %identity.operator, wallets = wallets.len(),
            chain = %chain.chain_key(), "node started");

        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(route_messages(ctx.clone(), net.subscribe(), inboxes)),
            tokio::spawn(process_results(ctx.clone(), results_rx)),
            tokio::spawn(watch_windows(ctx.clone(), blocks, executors, results_tx)),
        ];
        Ok(NodeHandle {
            ctx,
            wallets,
            tasks,
        })
    }
}

impl NodeHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.ctx.bus.subscribe()
    }

    pub fn snapshot(&self) -> NodeSnapshot {
        self.ctx.bus.snapshot()
    }

    pub fn bus(&self) -> &EventBus {
        &self.ctx.bus
    }

    pub fn operator(&self) -> Address {
        self.ctx.identity.operator
    }

    /// The wallets this node coordinates.
    pub fn wallets(&self) -> &[WalletInfo] {
        &self.wallets
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.ctx.store
    }

    pub fn head_number(&self) -> u64 {
        self.ctx.head_number()
    }

    /// The command handle for front ends.
    pub fn commands(&self) -> NodeCommands {
        NodeCommands {
            ctx: self.ctx.clone(),
        }
    }

    /// The whole procedure for one wallet and window — seed, leader, checklist and the
    /// proposal this node would make as leader — without sending or dispatching anything.
    /// Recorded in the history as a dry run and announced.
    pub async fn dry_run(
        &self,
        wallet: WalletPkh,
        window: DryRunWindow,
    ) -> Result<DryRunRecord, DryRunError> {
        self.commands().dry_run(wallet, window).await
    }

    /// Stops every task of this node and waits for them.
    pub async fn shutdown(self) {
        self.ctx.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        self.ctx.bus.publish(Event::NodeStopped);
    }
}

/// Computes a dry run without recording it (see [`NodeHandle::dry_run`]), as `operator`
/// would see it at the chain's head (or `known_head`, if that is higher).
pub async fn dry_run(
    chain: &dyn Chain,
    operator: Address,
    config: &NodeConfig,
    known_head: u64,
    wallet: WalletPkh,
    which: DryRunWindow,
) -> Result<DryRunRecord, DryRunError> {
    let head = chain.latest_block().await?.number.max(known_head);
    let window = match which {
        DryRunWindow::Next => next_window_after(head),
        DryRunWindow::Current => crate::protocol::window::window_at_or_before(head)
            .ok_or(DryRunError::NotACoordinationBlock(0))?,
        DryRunWindow::At(cb) if is_coordination_block(cb) => CoordinationWindow::new(cb),
        DryRunWindow::At(cb) => return Err(DryRunError::NotACoordinationBlock(cb)),
    };
    let safe_block = window.safe_block();
    if safe_block > head {
        return Err(DryRunError::SafeBlockNotMined {
            window: window.coordination_block,
            safe_block,
            head,
        });
    }
    let info = chain
        .wallets()
        .await?
        .into_iter()
        .find(|w| w.wallet == wallet)
        .ok_or(DryRunError::UnknownWallet(wallet))?;
    let group = SigningGroup::new(info.operators).map_err(ChainError::from)?;
    let rule = config.block_hash_rule;
    let safe_block_hash = chain.block_hash(safe_block, rule).await?;
    let seed = crate::protocol::coordination_seed(&wallet, &safe_block_hash);
    let leader = group.leader(&seed).ok_or(DryRunError::EmptyGroup(wallet))?;
    let checklist = checklist(window, &seed);
    let snapshot = chain.wallet_snapshot(&wallet, head).await?;
    let decision = generate_proposal(&checklist, &snapshot, &config.proposal_params);
    let reason = if checklist.is_empty() {
        Some("the checklist is empty".to_string())
    } else if decision.proposal == crate::protocol::Proposal::Noop {
        Some(
            decision
                .passed_over
                .iter()
                .map(|(a, why)| format!("{a}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else {
        None
    };
    let leader_is_self = leader.operator == operator;
    Ok(DryRunRecord {
        wallet,
        coordination_block: window.coordination_block,
        current_block: head,
        safe_block,
        safe_block_hash,
        hash_rule: rule.name().to_string(),
        seed,
        leader: leader.operator,
        leader_is_self,
        role: if leader_is_self {
            Role::Leader
        } else {
            Role::Follower
        },
        checklist,
        proposal: Some(decision.proposal),
        reason,
    })
}

/// How many recently routed message ids the router remembers, so re-sent copies skip the
/// signature check.
const ROUTER_SEEN_CAPACITY: usize = 16_384;

async fn route_messages(
    ctx: Arc<NodeContext>,
    mut messages: crate::net::MessageStream,
    inboxes: HashMap<WalletPkh, mpsc::Sender<Inbound>>,
) {
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    let mut seen_order: VecDeque<[u8; 32]> = VecDeque::new();
    loop {
        let signed = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            m = messages.recv() => match m {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "message stream lagged; messages dropped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let message = match CoordinationMessage::decode(&signed.body) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "malformed coordination message ignored");
                continue;
            }
        };
        let Some(inbox) = inboxes.get(&message.wallet) else {
            continue;
        };
        let envelope_id = signed.id();
        if !seen.insert(envelope_id) {
            continue;
        }
        seen_order.push_back(envelope_id);
        if seen_order.len() > ROUTER_SEEN_CAPACITY {
            if let Some(old) = seen_order.pop_front() {
                seen.remove(&old);
            }
        }
        let signer = match recover_signer(&signed) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "coordination message with a bad signature ignored");
                continue;
            }
        };
        let inbound = Inbound {
            id: keccak256(&signed.body),
            message,
            signer,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = inbox.try_send(inbound) {
            tracing::warn!("a wallet's message buffer is full; message dropped");
        }
    }
}

async fn watch_windows(
    ctx: Arc<NodeContext>,
    mut blocks: crate::chain::BlockStream,
    executors: Arc<Vec<Arc<Executor>>>,
    results: mpsc::UnboundedSender<ProcessorInput>,
) {
    let mut tracker = match ctx.store.last_window() {
        Ok(Some(cb)) => WindowTracker::resume_after(cb),
        Ok(None) => WindowTracker::new(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the last window from the store; starting fresh");
            WindowTracker::new()
        }
    };
    let mut forecast_for = 0u64;
    loop {
        let block = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            b = blocks.recv() => match b {
                Ok(b) => b,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "block stream lagged; the next head fills the gap");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    tracing::error!("the chain's block stream closed; window watch stopped");
                    return;
                }
            },
        };
        let trigger = Instant::now();
        ctx.head.send_if_modified(|h| {
            let higher = block.number > *h;
            if higher {
                *h = block.number;
            }
            higher
        });
        ctx.bus.publish(Event::Block { block });
        for decision in tracker.observe(block.number) {
            match decision {
                WindowDecision::Start {
                    window,
                    late,
                    observed_block,
                } => {
                    start_window(
                        &ctx,
                        window,
                        late,
                        observed_block,
                        trigger,
                        &executors,
                        &results,
                    )
                    .await
                }
                WindowDecision::Missed {
                    window,
                    observed_block,
                } => {
                    tracing::warn!(
                        cb = window.coordination_block,
                        observed_block,
                        "window missed: its active phase was over when the node saw it"
                    );
                    if let Err(e) = ctx.store.record_window(
                        window.coordination_block,
                        WindowStatus::Missed,
                        false,
                        observed_block,
                    ) {
                        tracing::error!(error = %e, "recording a missed window failed");
                    }
                    ctx.bus.publish(Event::WindowMissed {
                        coordination_block: window.coordination_block,
                        index: window.index(),
                        observed_block,
                    });
                }
            }
        }
        forecast(&ctx, &block, &executors, &mut forecast_for).await;
    }
}

/// Announces the next window's leaders as soon as its safe block exists.
async fn forecast(
    ctx: &NodeContext,
    block: &BlockRef,
    executors: &[Arc<Executor>],
    forecast_for: &mut u64,
) {
    let next = next_window_after(block.number);
    if block.number < next.safe_block() || *forecast_for >= next.coordination_block {
        return;
    }
    let hash = match ctx
        .chain
        .block_hash(next.safe_block(), ctx.config.block_hash_rule)
        .await
    {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(error = %e, "leader forecast postponed");
            return;
        }
    };
    *forecast_for = next.coordination_block;
    let leaders = executors
        .iter()
        .filter_map(|ex| {
            let seed = crate::protocol::coordination_seed(&ex.entry.wallet, &hash);
            ex.entry.group.leader(&seed).map(|l| ForecastLeader {
                wallet: ex.entry.wallet,
                leader: l.operator,
                is_self: l.operator == ctx.identity.operator,
            })
        })
        .collect();
    ctx.bus.publish(Event::LeaderForecast {
        coordination_block: next.coordination_block,
        leaders,
    });
}

/// The safe block's hash under the configured rule, and under the other rule if it differs.
async fn safe_block_hashes(
    ctx: &NodeContext,
    window: CoordinationWindow,
) -> Result<(Hash32, Option<Hash32>), ChainError> {
    let rule = ctx.config.block_hash_rule;
    let other = match rule {
        BlockHashRule::KeepV2 => BlockHashRule::Canonical,
        BlockHashRule::Canonical => BlockHashRule::KeepV2,
    };
    let hash = ctx.chain.block_hash(window.safe_block(), rule).await?;
    let other_hash = ctx
        .chain
        .block_hash(window.safe_block(), other)
        .await
        .ok()
        .filter(|h| *h != hash);
    Ok((hash, other_hash))
}

async fn start_window(
    ctx: &Arc<NodeContext>,
    window: CoordinationWindow,
    late: bool,
    observed_block: u64,
    trigger: Instant,
    executors: &Arc<Vec<Arc<Executor>>>,
    results: &mpsc::UnboundedSender<ProcessorInput>,
) {
    let cb = window.coordination_block;
    let hashes = safe_block_hashes(ctx, window).await;
    if let Err(e) = ctx
        .store
        .record_window(cb, WindowStatus::Started, late, observed_block)
    {
        tracing::error!(error = %e, "recording a started window failed");
    }
    let (hash, other_rule_hash) = match hashes {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(cb, error = %e, "cannot read the safe block hash; window not coordinated");
            let _ = results.send(ProcessorInput::WindowOpened {
                window,
                executors: executors.len(),
            });
            for ex in executors.iter() {
                let _ = results.send(ProcessorInput::Outcome(ExecutorOutcome::Failed {
                    wallet: ex.entry.wallet,
                    window,
                    error: e.to_string(),
                }));
            }
            return;
        }
    };
    node_info!(
        ctx.config,
        cb,
        index = window.index(),
        late,
        observed_block,
        "window started"
    );
    ctx.bus.publish(Event::WindowStarted {
        coordination_block: cb,
        index: window.index(),
        late,
        observed_block,
        safe_block: window.safe_block(),
        safe_block_hash: hash,
        other_rule_hash,
    });
    let _ = results.send(ProcessorInput::WindowOpened {
        window,
        executors: executors.len(),
    });
    // Begin every executor here, in one tight loop, so all of them start within
    // milliseconds of the block; only their routines run as separate tasks.
    let mut max_delay_us = 0;
    for ex in executors.iter() {
        let delay_us = trigger.elapsed().as_micros() as u64;
        max_delay_us = max_delay_us.max(delay_us);
        match ex.begin(ctx, window, hash, delay_us) {
            Ok(procedure) => {
                let ctx = ctx.clone();
                let results = results.clone();
                tokio::spawn(async move {
                    let outcome = procedure.run(&ctx).await;
                    let _ = results.send(ProcessorInput::Outcome(outcome));
                });
            }
            Err(outcome) => {
                let _ = results.send(ProcessorInput::Outcome(outcome));
            }
        }
    }
    tracing::debug!(
        cb,
        executors = executors.len(),
        max_start_delay_us = max_delay_us,
        "executors started"
    );
    ctx.bus.publish(Event::ExecutorsStarted {
        coordination_block: cb,
        executors: executors.len(),
        max_start_delay_us: max_delay_us,
    });
}

enum ProcessorInput {
    WindowOpened {
        window: CoordinationWindow,
        executors: usize,
    },
    Outcome(ExecutorOutcome),
}

#[derive(Default)]
struct PendingWindow {
    opened: bool,
    expected: usize,
    received: usize,
    results: usize,
    faults: usize,
}

async fn process_results(
    ctx: Arc<NodeContext>,
    mut inputs: mpsc::UnboundedReceiver<ProcessorInput>,
) {
    let dispatcher = Arc::new(Dispatcher::default());
    let mut pending: HashMap<u64, PendingWindow> = HashMap::new();
    loop {
        let input = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            i = inputs.recv() => match i { Some(i) => i, None => return },
        };
        let cb = match input {
            ProcessorInput::WindowOpened { window, executors } => {
                let cb = window.coordination_block;
                let p = pending.entry(cb).or_default();
                p.opened = true;
                p.expected = executors;
                cb
            }
            ProcessorInput::Outcome(outcome) => {
                let (cb, faults, is_result) = match &outcome {
                    ExecutorOutcome::Result(r) => {
                        (r.window.coordination_block, r.faults.len(), true)
                    }
                    ExecutorOutcome::Busy { window, .. }
                    | ExecutorOutcome::Failed { window, .. } => {
                        (window.coordination_block, 0, false)
                    }
                };
                process_outcome(&ctx, &dispatcher, outcome).await;
                let p = pending.entry(cb).or_default();
                p.received += 1;
                p.faults += faults;
                p.results += usize::from(is_result);
                cb
            }
        };
        if pending
            .get(&cb)
            .is_some_and(|p| p.opened && p.received >= p.expected)
        {
            if let Some(p) = pending.remove(&cb) {
                node_info!(
                    ctx.config,
                    cb,
                    results = p.results,
                    faults = p.faults,
                    "window completed"
                );
                ctx.bus.publish(Event::WindowCompleted {
                    coordination_block: cb,
                    results: p.results,
                    faults: p.faults,
                });
            }
        }
    }
}

async fn process_outcome(
    ctx: &Arc<NodeContext>,
    dispatcher: &Arc<Dispatcher>,
    outcome: ExecutorOutcome,
) {
    match outcome {
        ExecutorOutcome::Result(result) => {
            if let Err(e) = ctx.store.record_result(&result) {
                tracing::error!(error = %e, wallet = %result.wallet, "recording a result failed");
            }
            for fault in &result.faults {
                ctx.bus.publish(Event::Fault {
                    wallet: result.wallet,
                    coordination_block: result.window.coordination_block,
                    culprit: fault.culprit,
                    fault: fault.fault,
                });
            }
            ctx.bus
                .publish(Event::CoordinationResult(CoordinationResultEvent::from(
                    &*result,
                )));
            if result.proposal != crate::protocol::Proposal::Noop {
                dispatcher.dispatch(ctx, &result);
            }
        }
        ExecutorOutcome::Busy { wallet, window } => {
            tracing::warn!(%wallet, cb = window.coordination_block, "executor busy: window not coordinated");
            ctx.bus.publish(Event::ExecutorBusy {
                wallet,
                coordination_block: window.coordination_block,
            });
        }
        ExecutorOutcome::Failed {
            wallet,
            window,
            error,
        } => {
            tracing::error!(%wallet, cb = window.coordination_block, %error, "executor failed");
            ctx.bus.publish(Event::ExecutorFailed {
                wallet,
                coordination_block: window.coordination_block,
                error,
            });
        }
    }
}

/// One action per wallet at a time (SPEC §7).
#[derive(Default)]
struct Dispatcher {
    /// The window whose action each wallet is running.
    active: Mutex<HashMap<WalletPkh, (u64, crate::protocol::ActionType)>>,
}

impl Dispatcher {
    fn dispatch(self: &Arc<Self>, ctx: &Arc<NodeContext>, result: &CoordinationResult) {
        let wallet = result.wallet;
        let cb = result.window.coordination_block;
        let action = result.proposal.action_type();
        let start_block = result.window.end_block();
        let expiry_block = start_block.saturating_add(action.validity_blocks());
        let busy_with = match self.active.lock() {
            Ok(mut active) => match active.get(&wallet) {
                Some(running) => Some(*running),
                None => {
                    active.insert(wallet, (cb, action));
                    None
                }
            },
            Err(_) => Some((0, action)),
        };
        let mut record = DispatchRecord {
            wallet,
            coordination_block: cb,
            proposal: result.proposal.clone(),
            start_block,
            expiry_block,
            status: DispatchStatus::Dispatched,
            reason: None,
        };
        if let Some((running_cb, running_action)) = busy_with {
            let reason = format!("wallet busy with {running_action} from window {running_cb}");
            tracing::warn!(%wallet, cb, %action, %reason, "proposal rejected");
            record.status = DispatchStatus::Rejected;
            record.reason = Some(reason.clone());
            if let Err(e) = ctx.store.record_dispatch(&record) {
                tracing::error!(error = %e, "recording a rejected dispatch failed");
            }
            ctx.bus.publish(Event::DispatchRejected {
                wallet,
                coordination_block: cb,
                action,
                reason,
            });
            return;
        }
        if let Err(e) = ctx.store.record_dispatch(&record) {
            tracing::error!(error = %e, "recording a dispatch failed");
        }
        node_info!(ctx.config, %wallet, cb, %action, start_block, expiry_block, "proposal dispatched");
        ctx.bus.publish(Event::ProposalDispatched {
            wallet,
            coordination_block: cb,
            action,
            start_block,
            expiry_block,
        });
        let request = ActionRequest {
            wallet,
            window: result.window,
            proposal: result.proposal.clone(),
            start_block,
            expiry_block,
        };
        let this = self.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let outcome = run_action(&ctx, request).await;
            if let Ok(mut active) = this.active.lock() {
                if active.get(&wallet).is_some_and(|(c, _)| *c == cb) {
                    active.remove(&wallet);
                }
            }
            if let Some((outcome, block)) = outcome {
                ctx.bus.publish(Event::ActionFinished {
                    wallet,
                    coordination_block: cb,
                    action,
                    outcome,
                    block,
                });
            }
        });
    }
}

/// Waits for the start block, runs the action until it ends or expires, records the outcome.
/// `None` if the node stopped first.
async fn run_action(ctx: &NodeContext, request: ActionRequest) -> Option<(ActionOutcome, u64)> {
    let wallet = request.wallet;
    let cb = request.window.coordination_block;
    let action = request.proposal.action_type();
    let expiry = request.expiry_block;
    let started = ctx.wait_for_block(request.start_block).await?;
    if let Err(e) = ctx
        .store
        .set_dispatch_status(&wallet, cb, DispatchStatus::Running, started)
    {
        tracing::error!(error = %e, "recording a running action failed");
    }
    ctx.bus.publish(Event::ActionStarted {
        wallet,
        coordination_block: cb,
        action,
        block: started,
    });
    let outcome = tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => return None,
        _ = ctx.wait_for_block(expiry) => ActionOutcome::Expired,
        r = ctx.chain.execute_action(request) => match r {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(%wallet, cb, %action, error = %e, "action failed on chain");
                ActionOutcome::Failed
            }
        },
    };
    let block = ctx.head_number();
    if let Err(e) = ctx
        .store
        .set_dispatch_status(&wallet, cb, DispatchStatus::from(outcome), block)
    {
        tracing::error!(error = %e, "recording an action outcome failed");
    }
    node_info!(ctx.config, %wallet, cb, %action, outcome = outcome.name(), block, "action finished");
    Some((outcome, block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::devnet::{Devnet, DevnetConfig};
    use crate::net::local::LocalHub;
    use crate::protocol::proposal::HexBytes;
    use crate::protocol::{Hash32, Proposal, Seed};

    fn context() -> (Arc<NodeContext>, Devnet) {
        let devnet = Devnet::new(DevnetConfig::default()).unwrap();
        let key = devnet.local_operator().key.clone();
        let (head, _) = watch::channel(devnet.head().number);
        let ctx = Arc::new(NodeContext {
            chain: Arc::new(devnet.clone()),
            net: Arc::new(LocalHub::new(16)),
            store: Arc::new(Store::open_in_memory().unwrap()),
            bus: EventBus::default(),
            identity: Identity::signer(key),
            config: NodeConfig::default(),
            cancel: CancellationToken::new(),
            head,
        });
        (ctx, devnet)
    }

    fn heartbeat_result(wallet: WalletPkh, cb: u64) -> CoordinationResult {
        CoordinationResult {
            wallet,
            window: CoordinationWindow::new(cb),
            safe_block_hash: Hash32::default(),
            seed: Seed::default(),
            leader: Address::default(),
            leader_member_index: 1,
            role: Role::Follower,
            checklist: vec![crate::protocol::ActionType::Heartbeat],
            proposal: Proposal::Heartbeat {
                message: HexBytes(vec![0xFF; 16]),
            },
            faults: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_procedure_on_a_busy_executor_is_reported_busy() {
        let (ctx, devnet) = context();
        let info = devnet.wallet_infos().remove(0);
        let group = SigningGroup::new(info.operators.clone()).unwrap();
        let seats = group.seats_of(&ctx.identity.operator);
        let (executor, _inbox) = Executor::new(WalletEntry {
            wallet: info.wallet,
            group,
            seats,
        });
        let window = CoordinationWindow::new(900);
        let first = executor.begin(&ctx, window, Hash32([1; 32]), 0).unwrap();
        assert!(executor.is_busy());
        match executor.begin(&ctx, window.next(), Hash32([1; 32]), 0) {
            Err(ExecutorOutcome::Busy { wallet, window: w }) => {
                assert_eq!(wallet, info.wallet);
                assert_eq!(w, window.next());
            }
            Err(other) => panic!("expected busy, got {other:?}"),
            Ok(_) => panic!("expected busy, got a second procedure"),
        }
        drop(first);
        assert!(
            !executor.is_busy(),
            "a finished procedure frees its executor"
        );
        assert!(executor
            .begin(&ctx, window.next(), Hash32([1; 32]), 0)
            .is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_proposal_for_a_wallet_with_a_running_action_is_rejected_and_reported() {
        let (ctx, devnet) = context();
        let wallet = devnet.wallet_infos()[0].wallet;
        let mut events = ctx.bus.subscribe();
        let dispatcher = Arc::new(Dispatcher::default());
        dispatcher.dispatch(&ctx, &heartbeat_result(wallet, 900));
        dispatcher.dispatch(&ctx, &heartbeat_result(wallet, 1800));
        // Another wallet is not affected.
        let other = devnet.wallet_infos()[1].wallet;
        dispatcher.dispatch(&ctx, &heartbeat_result(other, 1800));

        let mut kinds = Vec::new();
        for _ in 0..3 {
            kinds.push(events.recv().await.unwrap());
        }
        assert!(matches!(
            kinds[0],
            Event::ProposalDispatched {
                coordination_block: 900,
                start_block: 1000,
                expiry_block: 1600,
                ..
            }
        ));
        match &kinds[1] {
            Event::DispatchRejected {
                wallet: w,
                coordination_block: 1800,
                reason,
                ..
            } => {
                assert_eq!(*w, wallet);
                assert!(
                    reason.contains("Heartbeat") && reason.contains("900"),
                    "{reason}"
                );
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(matches!(
            kinds[2],
            Event::ProposalDispatched {
                coordination_block: 1800,
                ..
            }
        ));
        let rows = ctx.store.dispatches(10).unwrap();
        let rejected = rows
            .iter()
            .find(|r| r.wallet == wallet && r.coordination_block == 1800)
            .unwrap();
        assert_eq!(rejected.status, DispatchStatus::Rejected);
        assert!(rejected.reason.is_some());
        ctx.cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_dispatched_action_runs_from_its_start_block_until_it_finishes() {
        let (ctx, devnet) = context();
        let wallet = devnet.wallet_infos()[0].wallet;
        let mut events = ctx.bus.subscribe();
        Arc::new(Dispatcher::default()).dispatch(&ctx, &heartbeat_result(wallet, 900));
        // Drive the head block by block, as the window watch would.
        let producer = {
            let ctx = ctx.clone();
            let devnet = devnet.clone();
            tokio::spawn(async move {
                for _ in 0..2000 {
                    devnet.mine(1);
                    ctx.head.send_replace(devnet.head().number);
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut started = None;
        let finished = loop {
            match events.recv().await.unwrap() {
                Event::ActionStarted { block, .. } => started = Some(block),
                Event::ActionFinished { outcome, block, .. } => break (outcome, block),
                _ => {}
            }
        };
        assert_eq!(started, Some(1000));
        assert!(finished.1 >= 1000 && finished.1 <= 1600, "{finished:?}");
        let row = ctx.store.dispatch(&wallet, 900).unwrap().unwrap();
        assert_eq!(row.status, DispatchStatus::from(finished.0));
        ctx.cancel.cancel();
        producer.abort();
    }
}
