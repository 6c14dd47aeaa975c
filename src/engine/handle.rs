//! Starting a node, and the handles front ends hold: [`NodeHandle`] owns the node's tasks,
//! [`NodeCommands`] is the cloneable command and query handle the console uses.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::bus::EventBus;
use super::context::HistoryHandles;
use super::context::{Identity, NodeConfig, NodeContext};
use super::dispatcher::Dispatcher;
use super::dry_run::{dry_run, DryRunError, DryRunWindow};
use super::events::Event;
use super::executor::Executor;
use super::history::{History, HistoryError};
use super::network_view::MessageTransport;
use super::query::{HistoryPage, HistoryQuery};
use super::records::DryRunRecord;
use super::results::process_results;
use super::router::{route_messages, Route};
use super::snapshot::NodeSnapshot;
use super::watch::watch_windows;
use crate::chain::{Chain, ChainError};
use crate::net::BroadcastChannel;
use crate::protocol::WalletInfo;
use crate::protocol::{Address, BlockHashRule, WalletPkh};

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

    /// A fresh receiver and the snapshot it continues from (see
    /// [`EventBus::subscribe_with_snapshot`]).
    pub fn subscribe_with_snapshot(&self) -> (broadcast::Receiver<Event>, NodeSnapshot) {
        self.ctx.bus.subscribe_with_snapshot()
    }

    /// The chain back end's health, with the Bitcoin view's when the node has one.
    pub fn chain_status(&self) -> crate::protocol::ChainStatus {
        crate::protocol::ChainStatus {
            bitcoin: self.ctx.config.bitcoin.as_ref().map(|view| view.status()),
            ..self.ctx.chain.status()
        }
    }

    pub fn operator(&self) -> Address {
        self.ctx.identity.operator
    }

    pub fn block_hash_rule(&self) -> BlockHashRule {
        self.ctx.config.block_hash_rule
    }

    /// A read of the history, on the front ends' own connection.
    pub fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, HistoryError> {
        self.ctx.history.reader.query(query)
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
        let history = ctx.history.writer.clone();
        let kept = record.clone();
        tokio::task::spawn_blocking(move || history.record_dry_run(&kept))
            .await
            .map_err(|e| HistoryError::Write(format!("recording a dry run: {e}")))??;
        ctx.bus.publish(Event::DryRun(record.clone()));
        Ok(record)
    }
}

/// Handle to a running node: events, snapshot, commands, shutdown.
pub struct NodeHandle {
    ctx: Arc<NodeContext>,
    wallets: Vec<WalletInfo>,
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
        history: impl Into<HistoryHandles>,
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

        let ctx = Arc::new(NodeContext::new(
            chain.clone(),
            net.clone(),
            history.into(),
            bus.clone(),
            identity.clone(),
            config,
            cancel.clone(),
        ));
        ctx.head.send_replace(head_now);

        let mut executors = Vec::with_capacity(wallets.len());
        let mut routes = HashMap::new();
        for w in &wallets {
            // One executor per wallet, even if the chain lists a wallet twice.
            if routes.contains_key(&w.wallet) {
                continue;
            }
            let (executor, inbox) = Executor::for_wallet(w, &identity.operator)?;
            let route = Route {
                inbox,
                group: executor.entry.group.clone(),
                topic: executor.entry.topic.clone(),
            };
            if let Err(e) = net.join(&route.topic).await {
                tracing::error!(wallet = %w.wallet, error = %e, "joining the wallet's coordination topic failed");
            }
            executors.push(executor);
            routes.insert(w.wallet, route);
        }
        let executors = Arc::new(executors);
        // Kept before anything is judged, so every fault's wallet has its seats on file.
        let kept = wallets.clone();
        ctx.with_history("recording wallet seats", move |h| h.record_wallets(&kept))
            .await;

        bus.publish(Event::NodeStarted {
            chain: chain.chain_key(),
            operator: identity.operator,
            observer: identity.key.is_none(),
            block_hash_rule: ctx.config.block_hash_rule,
            wallets: wallets.clone(),
            transport: match (net.connected_peers(), net.reaches_peers()) {
                (None, _) => MessageTransport::Hub,
                (Some(_), false) => MessageTransport::None,
                (Some(_), true) => MessageTransport::PeerNetwork,
            },
            bootstrap_peers: net.bootstrap_peers(),
        });
        if !net.reaches_peers() {
            tracing::warn!(
                "no peer transport: this node neither hears nor reaches other operators, \
                 so it records no faults against leaders and its own messages go nowhere"
            );
        }
        node_info!(ctx.config, operator = %identity.operator, wallets = wallets.len(),
            chain = %chain.chain_key(), "node started");

        // Actions dispatched before a restart are still this node's to finish.
        let dispatcher = Arc::new(Dispatcher::default());
        dispatcher.restore(&ctx).await;

        let (results_tx, results_rx) = mpsc::unbounded_channel();
        ctx.tasks
            .spawn(route_messages(ctx.clone(), net.subscribe(), routes));
        ctx.tasks
            .spawn(process_results(ctx.clone(), dispatcher, results_rx));
        ctx.tasks
            .spawn(watch_windows(ctx.clone(), blocks, executors, results_tx));
        Ok(NodeHandle { ctx, wallets })
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

    /// The history this node writes (and may read).
    pub fn history(&self) -> &Arc<dyn History> {
        &self.ctx.history.writer
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

    /// Stops every task of this node and waits for all of them, including the procedures,
    /// re-sends and actions they spawned; then announces the stop.
    pub async fn shutdown(self) {
        self.ctx.cancel.cancel();
        self.ctx.tasks.close();
        self.ctx.tasks.wait().await;
        self.ctx.bus.publish(Event::NodeStopped);
    }
}
