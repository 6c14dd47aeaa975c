//! What a node's tasks share: who the node is, its settings, the chain, the network, the
//! history and the bus, the highest head seen, and the root cancellation token.

use crate::bitcoin::view::BitcoinView;
use crate::protocol::checklist::ChecklistRules;
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bus::EventBus;
use super::events::Event;
use super::history::{History, HistoryError, HistoryReader};
use super::pacing::{Pacing, Unpaced};
use super::turn::{Honest, Strategy};
use crate::chain::Chain;
use crate::net::envelope::Envelope;
use crate::net::signing::OperatorKey;
use crate::net::BroadcastChannel;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::window::RESEND_TICKS;
use crate::protocol::{Address, BlockHashRule, CoordinationWindow, ProposalParams};

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

#[derive(Clone)]
pub struct NodeConfig {
    pub block_hash_rule: BlockHashRule,
    /// When both sweeps joined every window's checklist on this chain.
    pub checklist_rules: ChecklistRules,
    pub proposal_params: ProposalParams,
    /// How this node acts where the protocol leaves a choice: [`Honest`] in production; the
    /// devnet hands its simulated peers misbehaving strategies.
    pub strategy: Arc<dyn Strategy>,
    /// Who keeps pace with this node's work: [`Unpaced`] in production; the devnet's
    /// simulated chain waits for its nodes through it.
    pub pacing: Arc<dyn Pacing>,
    /// The level of routine log lines: info for the operator's own node, debug for nodes
    /// in the background (the devnet's simulated peers), whose lines would drown the
    /// operator's own.
    pub routine_logs: RoutineLogs,
    /// Where a leader reads Bitcoin: deposit confirmations, funding transactions, the main
    /// UTXO and the fee rate. `None`: confirmations are the chain back end's, the fee rate
    /// the configured one, and sweeps and moving funds go unchecked on chain.
    pub bitcoin: Option<Arc<dyn BitcoinView>>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            block_hash_rule: BlockHashRule::default(),
            checklist_rules: ChecklistRules::default(),
            proposal_params: ProposalParams::default(),
            strategy: Arc::new(Honest),
            pacing: Arc::new(Unpaced),
            routine_logs: RoutineLogs::Info,
            bitcoin: None,
        }
    }
}

/// The level of a node's routine log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutineLogs {
    #[default]
    Info,
    Debug,
}

/// The history a node writes, and the one its front ends read. The reader may be a second
/// connection, so that paging through the fault history never waits on the writer.
#[derive(Clone)]
pub struct HistoryHandles {
    pub writer: Arc<dyn History>,
    pub reader: Arc<dyn HistoryReader>,
}

impl<T: History + 'static> From<Arc<T>> for HistoryHandles {
    /// One handle for both: writes and reads share it.
    fn from(history: Arc<T>) -> Self {
        HistoryHandles {
            writer: history.clone(),
            reader: history,
        }
    }
}

/// What the node's tasks share.
pub struct NodeContext {
    pub chain: Arc<dyn Chain>,
    pub net: Arc<dyn BroadcastChannel>,
    pub history: HistoryHandles,
    pub bus: EventBus,
    pub identity: Identity,
    pub config: NodeConfig,
    pub cancel: CancellationToken,
    /// Every task the node spawns, so that a shutdown can wait for all of them.
    pub(crate) tasks: TaskTracker,
    pub(crate) head: watch::Sender<u64>,
    sequence_numbers: std::sync::Mutex<HashMap<String, u64>>,
}

impl NodeContext {
    /// A context for a node's tasks; the head starts at 0 until the node sets it.
    pub fn new(
        chain: Arc<dyn Chain>,
        net: Arc<dyn BroadcastChannel>,
        history: HistoryHandles,
        bus: EventBus,
        identity: Identity,
        config: NodeConfig,
        cancel: CancellationToken,
    ) -> NodeContext {
        NodeContext {
            chain,
            net,
            history,
            bus,
            identity,
            config,
            cancel,
            tasks: TaskTracker::new(),
            head: watch::channel(0).0,
            sequence_numbers: Default::default(),
        }
    }

    /// Runs a history write (or a read the node needs, such as what to resume) off the async
    /// workers. A failure is logged at error level and announced as a [`Event::HistoryError`];
    /// the caller gets `None` and must then not announce the fact as kept.
    pub(crate) async fn with_history<T, F>(&self, what: &'static str, call: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn History) -> Result<T, HistoryError> + Send + 'static,
    {
        let history = self.history.writer.clone();
        let error = match tokio::task::spawn_blocking(move || call(history.as_ref())).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the history call panicked or was cancelled: {e}"),
        };
        tracing::error!(what, %error, "the history failed; nothing is announced for it");
        self.bus.publish(Event::HistoryError {
            what: what.to_string(),
            error,
        });
        None
    }

    /// The highest block seen so far.
    pub fn head_number(&self) -> u64 {
        *self.head.borrow()
    }

    /// The next envelope sequence number on `topic`: counted per topic from 1, as
    /// keep-client does.
    fn next_sequence_number(&self, topic: &str) -> u64 {
        let mut counters = self
            .sequence_numbers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let counter = counters.entry(topic.to_owned()).or_insert(0);
        *counter += 1;
        *counter
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

    /// Puts a message in its envelope and broadcasts it on `topic`, then re-sends the same
    /// envelope bytes, sequence number included, on the backoff ticks until the active phase
    /// ends. `false` if nothing could be sent.
    pub(crate) async fn broadcast_with_backoff(
        &self,
        topic: &str,
        message: CoordinationMessage,
        window: CoordinationWindow,
    ) -> bool {
        let Some(key) = &self.identity.key else {
            tracing::warn!(wallet = %message.wallet, cb = window.coordination_block,
                "this node leads but runs as an observer without a key: nothing sent");
            return false;
        };
        let envelope = Envelope {
            sender: key.keypair().public(),
            payload: message.encode(),
            sequence_number: self.next_sequence_number(topic),
        }
        .encode();
        if let Err(e) = self.net.publish(topic, envelope.clone()).await {
            tracing::error!(error = %e, "broadcasting the coordination message failed");
            return false;
        }
        let sent_at = self.head_number();
        let end = window.active_phase_end();
        let net = self.net.clone();
        let topic = topic.to_owned();
        let cancel = self.cancel.clone();
        let mut head = self.head.subscribe();
        self.tasks.spawn(async move {
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
                if net.publish(&topic, envelope.clone()).await.is_err() {
                    return;
                }
            }
        });
        true
    }
}
