//! Ethereum mode against a real node: anvil (npm `@foundry-rs/anvil`, installed by
//! `scripts/install-test-deps`) on a free loopback port per test, the real tBTC v2 contracts
//! where a test reads contracts (`ethereum_support::real`), and the engine on top. Time is blocks: `anvil_mine` crosses
//! windows in milliseconds and every wait is for a block number or an event, with a deadline.

mod ethereum_support;
mod loopback_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tbtc_coord::chain::ethereum::{
    Contracts, DiscoveryCache, EthereumChain, EthereumConfig, EthereumError, WalletSource,
};
use tbtc_coord::chain::{ActionRequest, Chain, ChainError};
use tbtc_coord::engine::dry_run;
use tbtc_coord::engine::{DryRunWindow, Event, EventBus, Identity, Node, NodeConfig, NodeHandle};
use tbtc_coord::net::local::LocalHub;
use tbtc_coord::protocol::proposal::{HexBytes, WalletState};
use tbtc_coord::protocol::{
    coordination_seed, ActionOutcome, ActionType, Address, BlockHashRule, CoordinationWindow,
    Hash32, Proposal, ProposalParams, WalletPkh,
};
use tbtc_coord::protocol::{ChainConnection, WalletInfo};
use tbtc_coord::store::Store;
use tokio_util::sync::CancellationToken;

use ethereum_support::real::{MainUtxo, RealTbtc};
use ethereum_support::staking::StakingFixture;
use ethereum_support::*;

const ANVIL_CHAIN_ID: u64 = 31337;

fn pkh(byte: u8) -> WalletPkh {
    WalletPkh([byte; 20])
}

/// One wallet of four seats; this node's operator holds seat 2.
fn listed_wallets(me: Address) -> Vec<WalletInfo> {
    vec![WalletInfo {
        wallet: pkh(0xAA),
        public_key: None,
        operators: vec![operator(1), me, operator(3), operator(4)],
    }]
}

fn config(url: &str, wallets: Vec<WalletInfo>) -> EthereumConfig {
    let mut c = EthereumConfig::new(url);
    c.wallets = WalletSource::Listed(wallets);
    c.poll_interval = std::time::Duration::from_millis(20);
    c.reconnect_min = std::time::Duration::from_millis(50);
    c.reconnect_max = std::time::Duration::from_millis(500);
    c
}

/// A node on `chain` and every event it publishes.
struct TestNode {
    handle: NodeHandle,
    events: Arc<Mutex<Vec<Event>>>,
}

impl TestNode {
    async fn start(chain: &EthereumChain, me: Address, rule: BlockHashRule) -> TestNode {
        let bus = EventBus::default();
        let mut rx = bus.subscribe();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                sink.lock().unwrap().push(e);
            }
        });
        let handle = Node::start(
            NodeConfig {
                block_hash_rule: rule,
                ..NodeConfig::default()
            },
            Identity::observer(me),
            Arc::new(chain.clone()),
            Arc::new(LocalHub::new(64).endpoint(None)),
            Arc::new(Store::open_in_memory().unwrap()),
            bus,
            CancellationToken::new(),
        )
        .await
        .expect("node starts");
        TestNode { handle, events }
    }

    /// Coordination block → (started, late, missed) counts.
    fn windows(&self) -> BTreeMap<u64, (u32, u32, u32)> {
        let mut out: BTreeMap<u64, (u32, u32, u32)> = BTreeMap::new();
        for e in self.events.lock().unwrap().iter() {
            match e {
                Event::WindowStarted {
                    coordination_block,
                    late,
                    ..
                } => {
                    let entry = out.entry(*coordination_block).or_default();
                    entry.0 += 1;
                    entry.1 += u32::from(*late);
                }
                Event::WindowMissed {
                    coordination_block, ..
                } => out.entry(*coordination_block).or_default().2 += 1,
                _ => {}
            }
        }
        out
    }

    fn window_started(&self, cb: u64) -> Option<Event> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .find(|e| matches!(e, Event::WindowStarted { coordination_block, .. } if *coordination_block == cb))
            .cloned()
    }

    async fn wait_head(&self, block: u64) {
        wait_for(&format!("the node to see block {block}"), || async {
            self.handle.head_number() >= block
        })
        .await;
    }

    async fn wait_window(&self, cb: u64) {
        wait_for(&format!("window {cb} to be decided"), || async {
            self.windows().contains_key(&cb)
        })
        .await;
    }
}

async fn wait_connection(chain: &EthereumChain, want: fn(&ChainConnection) -> bool, what: &str) {
    wait_for(what, || async { want(&chain.status().connection) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_start_exactly_once_across_a_dropped_connection_and_an_anvil_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("anvil-state.json");
    let state_arg = state.to_str().unwrap();
    let port = free_port();
    let mut anvil = Anvil::start_on(port, &["--state", state_arg]).await;
    let direct = anvil.http_url();
    let proxy = Proxy::start(port).await;
    let me = operator(2);
    let mut c = config(&proxy.ws_url(), listed_wallets(me));
    c.expected_chain_id = Some(ANVIL_CHAIN_ID);
    let chain = EthereumChain::connect(c, None).await.unwrap();
    let node = TestNode::start(&chain, me, BlockHashRule::KeepV2).await;

    // On time, over the subscription.
    mine_to(&direct, 890).await;
    node.wait_head(890).await;
    mine_to(&direct, 910).await;
    node.wait_window(900).await;
    assert_eq!(node.windows()[&900], (1, 0, 0));

    // The connection drops; 1800 passes while the node is away; it comes back inside the
    // active phase: a late start, once.
    mine_to(&direct, 1790).await;
    node.wait_head(1790).await;
    proxy.cut();
    wait_connection(
        &chain,
        |c| matches!(c, ChainConnection::Disconnected { .. }),
        "a disconnect",
    )
    .await;
    mine_to(&direct, 1830).await;
    proxy.restore();
    node.wait_window(1800).await;
    node.wait_head(1830).await;
    assert_eq!(node.windows()[&1800], (1, 1, 0));
    assert!(matches!(
        chain.status().connection,
        ChainConnection::Connected
    ));

    // A short drop (fewer blocks than the replay limit) is filled height by height.
    mine_to(&direct, 2690).await;
    node.wait_head(2690).await;
    proxy.cut();
    wait_connection(
        &chain,
        |c| matches!(c, ChainConnection::Disconnected { .. }),
        "a disconnect",
    )
    .await;
    mine_to(&direct, 2702).await;
    proxy.restore();
    node.wait_head(2702).await;
    assert_eq!(
        node.windows()[&2700],
        (1, 0, 0),
        "a short gap replays block 2700 itself"
    );

    // anvil restarts from its saved state; 3600 is crossed after it comes back.
    mine_to(&direct, 3590).await;
    node.wait_head(3590).await;
    anvil.stop_gracefully();
    wait_connection(
        &chain,
        |c| matches!(c, ChainConnection::Disconnected { .. }),
        "a disconnect",
    )
    .await;
    let _anvil = Anvil::start_on(port, &["--state", state_arg]).await;
    assert_eq!(block_number(&direct).await, 3590, "anvil resumed its chain");
    mine_to(&direct, 3610).await;
    node.wait_window(3600).await;
    node.wait_head(3610).await;
    // Windows far behind stay decided once; nothing is decided twice.
    mine_to(&direct, 3700).await;
    node.wait_head(3700).await;
    let windows = node.windows();
    assert_eq!(
        windows.keys().copied().collect::<Vec<_>>(),
        vec![900, 1800, 2700, 3600]
    );
    for (cb, (started, _, missed)) in &windows {
        assert_eq!((*started, *missed), (1, 0), "window {cb}: {windows:?}");
    }
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_polling_crosses_windows_and_reports_a_window_missed_while_away() {
    let anvil = Anvil::start(&[]).await;
    let direct = anvil.http_url();
    let proxy = Proxy::start(anvil.port).await;
    let me = operator(2);
    let mut c = config(&proxy.http_url(), listed_wallets(me));
    c.expected_chain_id = Some(ANVIL_CHAIN_ID);
    let chain = EthereumChain::connect(c, None).await.unwrap();
    let node = TestNode::start(&chain, me, BlockHashRule::KeepV2).await;
    mine_to(&direct, 895).await;
    node.wait_head(895).await;
    mine_to(&direct, 905).await;
    node.wait_window(900).await;

    // Away for the whole active phase of 1800: reported missed, not started.
    proxy.cut();
    wait_connection(
        &chain,
        |c| matches!(c, ChainConnection::Disconnected { .. }),
        "a disconnect",
    )
    .await;
    let status = chain.status();
    assert_eq!(status.chain_id, Some(ANVIL_CHAIN_ID));
    mine_to(&direct, 1890).await;
    proxy.restore();
    node.wait_head(1890).await;
    node.wait_window(1800).await;
    assert_eq!(node.windows()[&900].0, 1);
    assert_eq!(node.windows()[&1800], (0, 0, 1));
    assert!(chain.status().rpc_latency_us.is_some());
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_across_a_coordination_block_does_not_start_its_window_again() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let me = operator(2);
    let chain = EthereumChain::connect(config(&anvil.ws_url(), listed_wallets(me)), None)
        .await
        .unwrap();
    let node = TestNode::start(&chain, me, BlockHashRule::Canonical).await;
    mine_to(&url, 880).await;
    node.wait_head(880).await;
    let snapshot = rpc(&url, "evm_snapshot", json!([])).await;
    mine_to(&url, 905).await;
    node.wait_window(900).await;
    node.wait_head(905).await;
    let old_900 = chain
        .block_hash(900, BlockHashRule::Canonical)
        .await
        .unwrap();

    // Back to 880 and a different branch (other timestamps, so other hashes) to 910.
    rpc(&url, "evm_revert", json!([snapshot])).await;
    mine(&url, 30, 13).await;
    wait_for("the new branch", || async {
        chain
            .block_hash(900, BlockHashRule::Canonical)
            .await
            .is_ok_and(|h| h != old_900)
            && node.handle.head_number() >= 910
    })
    .await;
    let new_900 = rpc(&url, "eth_getBlockByNumber", json!(["0x384", false])).await;
    assert_eq!(
        format!(
            "0x{}",
            chain
                .block_hash(900, BlockHashRule::Canonical)
                .await
                .unwrap()
        ),
        new_900["hash"].as_str().unwrap()
    );
    assert_eq!(node.windows()[&900], (1, 0, 0), "{:?}", node.windows());
    chain.shutdown().await;
}

/// Seeds for both hash rules, on a Prague-style chain (anvil's default hardfork has
/// `requestsHash`) and a Cancun one (no post-go-ethereum-1.13 fields).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_match_for_both_hash_rules_and_the_canonical_hash_is_recomputed() {
    for (hardfork, rules_differ) in [
        (None, true),
        (Some("prague"), true),
        (Some("cancun"), false),
    ] {
        let args: Vec<&str> = match hardfork {
            Some(h) => vec!["--hardfork", h],
            None => vec![],
        };
        let anvil = Anvil::start(&args).await;
        let url = anvil.http_url();
        let me = operator(2);
        let wallet = pkh(0xAA);
        let chain = EthereumChain::connect(config(&anvil.ws_url(), listed_wallets(me)), None)
            .await
            .unwrap();
        let node = TestNode::start(&chain, me, BlockHashRule::KeepV2).await;
        mine_to(&url, 890).await;
        node.wait_head(890).await;

        let header = rpc(&url, "eth_getBlockByNumber", json!(["0x364", false])).await;
        assert_eq!(
            header.get("requestsHash").is_some(),
            rules_differ,
            "{hardfork:?}"
        );
        let rpc_hash: Hash32 = header["hash"].as_str().unwrap().parse().unwrap();
        let canonical = chain
            .block_hash(868, BlockHashRule::Canonical)
            .await
            .unwrap();
        let keep_v2 = chain.block_hash(868, BlockHashRule::KeepV2).await.unwrap();
        assert_eq!(
            canonical, rpc_hash,
            "the full field set reproduces the node's hash"
        );
        assert_eq!(keep_v2 != canonical, rules_differ, "{hardfork:?}");

        for (rule, hash) in [
            (BlockHashRule::KeepV2, keep_v2),
            (BlockHashRule::Canonical, canonical),
        ] {
            let node_config = NodeConfig {
                block_hash_rule: rule,
                ..NodeConfig::default()
            };
            let record = dry_run(&chain, me, &node_config, 0, wallet, DryRunWindow::At(900))
                .await
                .unwrap();
            assert_eq!(record.safe_block, 868);
            assert_eq!(record.safe_block_hash, hash);
            assert_eq!(record.seed, coordination_seed(&wallet, &hash));
            assert_eq!(record.hash_rule, rule.name());
        }

        mine_to(&url, 905).await;
        node.wait_window(900).await;
        match node.window_started(900) {
            Some(Event::WindowStarted {
                safe_block_hash,
                other_rule_hash,
                ..
            }) => {
                assert_eq!(safe_block_hash, keep_v2);
                assert_eq!(other_rule_hash, rules_differ.then_some(canonical));
            }
            other => panic!("no window_started for 900: {other:?}"),
        }
        chain.shutdown().await;
    }
}

/// Operators `ids` (the development addresses of [`operator`]), in the order given.
fn operators(ids: &[u32]) -> Vec<Address> {
    ids.iter().map(|i| operator(*i)).collect()
}

/// The real contracts with operators 1..=`n` in the sortition pool, wallets allowed back to
/// back.
async fn real_tbtc(url: &str, n: u32) -> RealTbtc {
    let tbtc = RealTbtc::deploy(url, &operators(&(1..=n).collect::<Vec<_>>())).await;
    tbtc.allow_wallets_back_to_back().await;
    tbtc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_the_seats_drops_closed_wallets_and_resumes_from_its_cache() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let tbtc = real_tbtc(&url, 12).await;
    let me = operator(2);
    let create = |secret: u8, members: &[u32], misbehaved: &'static [u8]| {
        let members = operators(members);
        let tbtc = &tbtc;
        async move {
            tbtc.create_wallet_with(&[secret; 32], &members, misbehaved, None)
                .await
        }
    };

    // A: plain group with me in seat 2.
    let a = create(0xA1, &[1, 2, 3, 4, 5], &[]).await;
    // B: a first result (operators 10 to 12) challenged away, then the approved one with
    // seats 2 and 5 misbehaving: members [2, 6, 7, 8, 9] minus seats 2 and 5 leaves [2, 7, 8].
    let b = tbtc
        .create_wallet_with(
            &[0xB2; 32],
            &operators(&[2, 6, 7, 8, 9]),
            &[2, 5],
            Some(&operators(&[10, 11, 12])),
        )
        .await;
    // C: without me.
    let c = create(0xC3, &[6, 7, 8], &[]).await;
    // D: with me, but closed through the Bridge (it is no longer the active wallet); E:
    // with me, terminated by an undefeated fraud challenge.
    let d = create(0xD4, &[2, 3], &[]).await;
    let e = create(0xE5, &[1, 2], &[]).await;
    // F: me only in a misbehaved seat: not in the signing group.
    let f = create(0xF6, &[2, 3, 4], &[1]).await;
    tbtc.close_wallet(&d.pkh()).await;
    assert_eq!(tbtc.wallet_state(&d.pkh()).await, 4, "D is Closed");
    tbtc.terminate_wallet(&[0xE5; 32], &operators(&[1, 2]))
        .await;
    assert_eq!(tbtc.wallet_state(&e.pkh()).await, 5, "E is Terminated");

    let memory = Arc::new(MemoryCache::default());
    let cache: Arc<dyn DiscoveryCache> = memory.clone();
    let discovery_config = |operator: Option<Address>| {
        let mut c = EthereumConfig::new(url.clone());
        c.contracts = Contracts {
            bridge: Some(tbtc.bridge),
            wallet_registry: Some(tbtc.registry),
            sortition_pool: Some(tbtc.pool),
            ..Contracts::default()
        };
        c.operator = operator;
        c
    };
    let chain = EthereumChain::connect(discovery_config(Some(me)), Some(cache.clone()))
        .await
        .unwrap();
    let wallets = chain.wallets().await.unwrap();
    assert_eq!(
        wallets,
        vec![
            WalletInfo {
                wallet: a.pkh(),
                public_key: Some(a),
                operators: operators(&[1, 2, 3, 4, 5]),
            },
            WalletInfo {
                wallet: b.pkh(),
                public_key: Some(b),
                operators: operators(&[2, 7, 8]),
            },
        ]
    );

    // Without an operator filter every live wallet is listed, in registration order.
    let all = EthereumChain::connect(discovery_config(None), Some(cache.clone()))
        .await
        .unwrap()
        .wallets()
        .await
        .unwrap();
    let names: Vec<WalletPkh> = all.iter().map(|w| w.wallet).collect();
    assert_eq!(names, vec![a.pkh(), b.pkh(), c.pkh(), f.pkh()]);
    assert_eq!(all[3].operators, operators(&[3, 4]));

    // The cache: the scan resumes after the last block seen.
    let head = block_number(&url).await;
    let key = format!("ethereum.discovery.v2.{}", tbtc.bridge.to_checksum());
    let cached: serde_json::Value = serde_json::from_str(&memory.get(&key).unwrap()).unwrap();
    assert_eq!(cached["scanned_to"], json!(head));
    assert_eq!(cached["wallets"].as_array().unwrap().len(), 6);

    // New activity: a new wallet with me, and A closes. A new process with the same store
    // finds both changes.
    let g = create(0x77, &[4, 2], &[]).await;
    tbtc.close_wallet(&a.pkh()).await;
    let again = EthereumChain::connect(discovery_config(Some(me)), Some(cache.clone()))
        .await
        .unwrap()
        .wallets()
        .await
        .unwrap();
    let names: Vec<WalletPkh> = again.iter().map(|w| w.wallet).collect();
    assert_eq!(names, vec![b.pkh(), g.pkh()]);
    assert_eq!(again[1].operators, operators(&[4, 2]));
    assert_eq!(again[1].public_key, Some(g));
    let cached: serde_json::Value = serde_json::from_str(&memory.get(&key).unwrap()).unwrap();
    assert_eq!(cached["scanned_to"], json!(block_number(&url).await));

    // A registration whose WalletCreated is missing is an error naming the wallet: the
    // Bridge's callback called by the (impersonated) registry without a DKG.
    let stray = tbtc_coord::protocol::WalletPublicKey::of_secret(&[0x99; 32]).unwrap();
    let point = stray.uncompressed();
    let callback = ethereum_support::call_data(
        &tbtc.bridge_abi,
        "__ecdsaWalletCreatedCallback",
        &[
            ethers_core::abi::Token::FixedBytes(vec![0x99; 32]),
            ethers_core::abi::Token::FixedBytes(point[1..33].to_vec()),
            ethers_core::abi::Token::FixedBytes(point[33..].to_vec()),
        ],
    );
    tbtc.send_as(&tbtc.registry, &tbtc.bridge, &callback).await;
    let err = EthereumChain::connect(discovery_config(Some(me)), Some(cache))
        .await
        .unwrap()
        .wallets()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Invalid(m) if m.contains(&stray.pkh().to_string()) && m.contains("WalletCreated")),
        "{err}"
    );
}

/// A discovery cache is trusted only on the chain that wrote it: a devnet restarted with
/// the same contracts at the same addresses has other wallets, and a cache that had scanned
/// further than the new chain's head would otherwise hide them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_cache_from_another_chain_at_the_same_addresses_is_scanned_again() {
    let cache: Arc<dyn DiscoveryCache> = Arc::new(MemoryCache::default());
    let me = operator(2);
    let discover = |url: String, tbtc: &RealTbtc| {
        let mut c = EthereumConfig::new(url);
        c.contracts = Contracts {
            bridge: Some(tbtc.bridge),
            wallet_registry: Some(tbtc.registry),
            sortition_pool: Some(tbtc.pool),
            ..Contracts::default()
        };
        c.operator = Some(me);
        let cache = cache.clone();
        async move {
            EthereumChain::connect(c, Some(cache))
                .await
                .unwrap()
                .wallets()
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.wallet)
                .collect::<Vec<_>>()
        }
    };

    let first = Anvil::start(&[]).await;
    let t1 = real_tbtc(&first.http_url(), 3).await;
    let a = t1.create_wallet(&[0xA1; 32], &operators(&[1, 2, 3])).await;
    // The first chain runs on, so its cache has scanned past where the second one will be.
    mine(&first.http_url(), 200, 12).await;
    assert_eq!(discover(first.http_url(), &t1).await, vec![a.pkh()]);
    drop(first);

    let second = Anvil::start(&[]).await;
    let t2 = real_tbtc(&second.http_url(), 3).await;
    assert_eq!(
        (t2.bridge, t2.registry, t2.pool),
        (t1.bridge, t1.registry, t1.pool),
        "the scenario needs the same addresses on both chains"
    );
    let b = t2.create_wallet(&[0xB2; 32], &operators(&[2, 3])).await;
    assert_eq!(discover(second.http_url(), &t2).await, vec![b.pkh()]);
}

/// A P2WPKH output script with a recognisable payload.
fn script(tag: u8) -> Vec<u8> {
    let mut s = vec![0x00, 0x14];
    s.extend_from_slice(&[tag; 20]);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_proposal_is_built_from_the_bridge_and_its_completion_is_observed() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let seats = operators(&[1, 2, 3]);
    let tbtc = RealTbtc::deploy(&url, &seats).await;
    let wallet = tbtc.create_wallet(&[0xAB; 32], &seats).await.pkh();
    let me = operator(2);
    let utxo = MainUtxo {
        tx_hash: [0x33; 32],
        output_index: 1,
        value: 10 * 100_000_000,
    };
    tbtc.set_main_utxo(&wallet, &utxo).await;
    let request = |tag: u8, amount: u64| {
        let tbtc = &tbtc;
        let utxo = &utxo;
        async move {
            let redeemer = Address([0x70 + tag; 20]);
            let script = length_prefixed(&script(tag));
            tbtc.request_redemption(&wallet, utxo, &redeemer, &script, amount)
                .await
        }
    };

    // Three requests, a deposit, and a request made at the window, too young for it.
    for tag in 1..=3u8 {
        request(tag, 1_000_000 + u64::from(tag)).await;
        mine(&url, 10, 12).await;
    }
    let deposit = tbtc.reveal_deposit(&wallet, 2_000_000, 1_900_000_000).await;
    mine_to(&url, 900).await;
    request(9, 5_000_000).await;

    let mut c = EthereumConfig::new(anvil.ws_url());
    c.wallets = WalletSource::Listed(vec![WalletInfo {
        wallet,
        public_key: None,
        operators: seats.clone(),
    }]);
    c.contracts.bridge = Some(tbtc.bridge);
    let chain = EthereumChain::connect(c, None).await.unwrap();

    let head = block_number(&url).await;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    assert_eq!(snapshot.state, WalletState::Live);
    let parameters = tbtc
        .view(&tbtc.bridge_abi, &tbtc.bridge, "redemptionParameters", &[])
        .await
        .unwrap();
    assert_eq!(
        parameters[4],
        ethers_core::abi::Token::Uint(snapshot.redemption_timeout.into()),
        "the Bridge's redemption timeout"
    );
    let scripts: Vec<Vec<u8>> = snapshot
        .pending_redemptions
        .iter()
        .map(|r| r.redeemer_output_script.clone())
        .collect();
    assert_eq!(scripts, vec![script(1), script(2), script(3), script(9)]);
    assert_eq!(snapshot.pending_redemptions[0].requested_amount, 1_000_001);
    assert_eq!(snapshot.deposits.len(), 1);
    let revealed = &snapshot.deposits[0];
    assert_eq!(
        revealed.key.funding_tx_hash,
        Hash32(deposit.funding_tx_hash)
    );
    assert_eq!(revealed.key.output_index, deposit.output_index);
    assert_eq!(revealed.amount, deposit.amount);
    assert_eq!(revealed.refund_locktime, 1_900_000_000);
    assert_eq!(
        u64::from(revealed.confirmations),
        (snapshot.timestamp - revealed.revealed_at) / 600,
        "confirmations are estimated from the reveal's age"
    );

    let node_config = NodeConfig {
        proposal_params: ProposalParams {
            btc_fee_rate: 10,
            ..ProposalParams::default()
        },
        ..NodeConfig::default()
    };
    let record = dry_run(&chain, me, &node_config, 0, wallet, DryRunWindow::At(900))
        .await
        .unwrap();
    assert_eq!(record.checklist[0], ActionType::Redemption);
    // 10 sat/vB raised by a quarter, rounded up; under every limit of the Bridge.
    let expected_fee = (11 + 68 + 31 + 3 * (9 + 22)) * 13;
    assert_eq!(
        record.proposal,
        Some(Proposal::Redemption {
            redeemers_output_scripts: vec![
                HexBytes(script(1)),
                HexBytes(script(2)),
                HexBytes(script(3))
            ],
            redemption_tx_fee: expected_fee,
        })
    );
    let window = CoordinationWindow::new(900);
    assert_eq!(record.safe_block, window.safe_block());

    // The Bridge records a redemption only with its proof: until then it is not observed,
    // and a watch that expires first reads Expired. A heartbeat leaves nothing to observe.
    chain.subscribe_blocks().await.unwrap();
    let start = block_number(&url).await;
    let watch = |proposal: Proposal, blocks: u64| {
        let chain = chain.clone();
        let request = ActionRequest {
            wallet,
            window,
            proposal,
            start_block: start,
            expiry_block: start + blocks,
        };
        tokio::spawn(async move { chain.execute_action(request).await })
    };
    let redemption = record.proposal.clone().unwrap();
    let unproven = watch(redemption.clone(), 30);
    let proven = watch(redemption, 600);
    let heartbeat = watch(
        Proposal::Heartbeat {
            message: HexBytes(vec![0xFF; 16]),
        },
        30,
    );
    mine(&url, 40, 12).await;
    assert_eq!(unproven.await.unwrap(), Ok(ActionOutcome::Expired));
    assert_eq!(heartbeat.await.unwrap(), Ok(ActionOutcome::Expired));
    // Then the redemption's proof: the Bridge records it (RedemptionsCompleted) and the
    // longer watch sees it (it would read Expired past its expiry, were nothing found).
    let scripts = [script(1), script(2), script(3)];
    tbtc.prove_redemption(&wallet, &utxo, &scripts, expected_fee)
        .await;
    mine(&url, 600, 12).await;
    assert_eq!(proven.await.unwrap(), Ok(ActionOutcome::Completed));
    // The requests it paid are no longer pending; the young one still is.
    let head = block_number(&url).await;
    let after = chain.wallet_snapshot(&wallet, head).await.unwrap();
    let pending: Vec<Vec<u8>> = after
        .pending_redemptions
        .iter()
        .map(|r| r.redeemer_output_script.clone())
        .collect();
    assert_eq!(pending, vec![script(9)]);
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_url_is_a_clear_error_or_a_disconnected_status_that_recovers() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let me = operator(2);
    let err = EthereumChain::connect(config(&url, listed_wallets(me)), None)
        .await
        .unwrap_err();
    assert!(matches!(err, EthereumError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("--chain-id"),
        "{text}"
    );

    // With the chain id given, the node starts anyway and keeps retrying.
    let mut c = config(&format!("ws://127.0.0.1:{port}"), listed_wallets(me));
    c.expected_chain_id = Some(ANVIL_CHAIN_ID);
    let chain = EthereumChain::connect(c, None).await.unwrap();
    assert_eq!(chain.status().chain_id, Some(ANVIL_CHAIN_ID));
    assert!(matches!(
        chain.status().connection,
        ChainConnection::Disconnected { .. }
    ));
    let node = TestNode::start(&chain, me, BlockHashRule::KeepV2).await;
    assert!(matches!(
        chain.latest_block().await,
        Err(ChainError::Unavailable(_))
    ));
    assert!(matches!(
        chain.block_hash(1, BlockHashRule::KeepV2).await,
        Err(ChainError::Unavailable(_))
    ));
    let anvil = Anvil::start_on(port, &[]).await;
    wait_connection(&chain, |c| *c == ChainConnection::Connected, "a connection").await;
    mine_to(&anvil.http_url(), 905).await;
    node.wait_window(900).await;
    assert_eq!(node.windows()[&900].0, 1);
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_chain_and_missing_contracts_are_named() {
    let anvil = Anvil::start(&[]).await;
    let me = operator(2);
    let mut c = config(&anvil.http_url(), listed_wallets(me));
    c.expected_chain_id = Some(1);
    let err = EthereumChain::connect(c, None).await.unwrap_err();
    assert_eq!(
        err,
        EthereumError::WrongChain {
            url: anvil.http_url(),
            expected: 1,
            got: ANVIL_CHAIN_ID
        }
    );
    assert!(err.to_string().contains("31337"), "{err}");

    // Mainnet's addresses on a chain where nothing is deployed.
    let mut c = EthereumConfig::new(anvil.http_url());
    c.contracts = Contracts::mainnet();
    let chain = EthereumChain::connect(c, None).await.unwrap();
    let err = chain.wallets().await.unwrap_err();
    assert!(
        matches!(&err, ChainError::Invalid(m) if m.contains("no Bridge contract at 0x5e4861a80B55f035D899f66772117F00FA0E8e7B") && m.contains("31337")),
        "{err}"
    );
    // The same for a snapshot, and for an unknown wallet on a real Bridge.
    let mut c = config(&anvil.http_url(), listed_wallets(me));
    c.contracts = Contracts::mainnet();
    let chain = EthereumChain::connect(c, None).await.unwrap();
    let err = chain.wallet_snapshot(&pkh(0xAA), 0).await.unwrap_err();
    assert!(
        matches!(&err, ChainError::Invalid(m) if m.contains("Bridge")),
        "{err}"
    );
    let tbtc = RealTbtc::deploy(&anvil.http_url(), &[]).await;
    let mut c = config(&anvil.http_url(), listed_wallets(me));
    c.contracts.bridge = Some(tbtc.bridge);
    let chain = EthereumChain::connect(c, None).await.unwrap();
    let head = block_number(&anvil.http_url()).await;
    assert_eq!(
        chain.wallet_snapshot(&pkh(0xAA), head).await,
        Err(ChainError::UnknownWallet(pkh(0xAA)))
    );
    assert!(matches!(
        chain.block_hash(head + 1000, BlockHashRule::KeepV2).await,
        Err(ChainError::BlockNotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_a_fake_node_is_reported_and_retried_without_a_panic() {
    let me = operator(2);
    // Not JSON at all.
    let garbage =
        FakeNode::start(|_| "<html>this is not an Ethereum node</html>".to_string()).await;
    let err = EthereumChain::connect(config(&garbage.http_url(), listed_wallets(me)), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not JSON-RPC"), "{err}");
    // JSON-RPC, but the chain id is not a number.
    let banana = FakeNode::start(|req| {
        json!({"jsonrpc": "2.0", "id": req["id"], "result": "banana"}).to_string()
    })
    .await;
    let err = EthereumChain::connect(config(&banana.http_url(), listed_wallets(me)), None)
        .await
        .unwrap_err();
    assert!(matches!(err, EthereumError::BadChainId { .. }), "{err}");
    // A WebSocket URL at a server that speaks no WebSocket.
    let err = EthereumChain::connect(
        config(
            &format!("ws://127.0.0.1:{}", garbage.port),
            listed_wallets(me),
        ),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EthereumError::Unreachable { .. }), "{err}");

    // A node that knows its chain id but sends broken headers: shown in the status, retried.
    let broken = FakeNode::start(|req| {
        let result = match req["method"].as_str() {
            Some("eth_chainId") => json!("0x7a69"),
            Some("eth_getBlockByNumber") => {
                json!({"number": "0x10", "hash": "0x1234", "logsBloom": "0xzz"})
            }
            _ => json!(null),
        };
        json!({"jsonrpc": "2.0", "id": req["id"], "result": result}).to_string()
    })
    .await;
    let chain = EthereumChain::connect(config(&broken.http_url(), listed_wallets(me)), None)
        .await
        .unwrap();
    let _node = TestNode::start(&chain, me, BlockHashRule::KeepV2).await;
    wait_connection(
        &chain,
        |c| matches!(c, ChainConnection::Disconnected { error } if error.contains("parentHash")),
        "the broken header to be reported",
    )
    .await;
    let seen = broken.requests.load(std::sync::atomic::Ordering::SeqCst);
    wait_for("the watch to retry", || async {
        broken.requests.load(std::sync::atomic::Ordering::SeqCst) > seen + 2
    })
    .await;
    let err = chain.latest_block().await.unwrap_err();
    assert!(matches!(err, ChainError::Invalid(_)), "{err}");
    chain.shutdown().await;
}

/// A provider that refuses wide ranges where logs are dense (below block 50 000, more than
/// 1024 blocks) and rate-limits twice (an HTTP 429 with a text body, then a JSON-RPC -32005
/// "limit exceeded"): discovery covers every block exactly once, retries the rate-limited
/// ranges instead of narrowing them, grows the chunk back to its maximum where logs are
/// sparse, and stays within a bounded number of requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_logs_halves_on_refused_ranges_backs_off_on_rate_limits_and_grows_back() {
    const HEAD: u64 = 200_000;
    const MAX_CHUNK: u64 = 8192;
    const DENSE_BELOW: u64 = 50_000;
    const DENSE_SPAN: u64 = 1024;
    let hex = |v: &Value| {
        v.as_str()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    };
    // (from, to, answered with logs) of every eth_getLogs request, in order.
    let seen: Arc<Mutex<Vec<(u64, u64, bool)>>> = Arc::default();
    let log = seen.clone();
    let node = FakeNode::start_with_status(move |req| {
        let ok = |result: Value| {
            (
                200,
                json!({"jsonrpc": "2.0", "id": req["id"], "result": result}).to_string(),
            )
        };
        match req["method"].as_str() {
            Some("eth_chainId") => ok(json!("0x7a69")),
            Some("eth_getCode") => ok(json!("0x6000")),
            Some("eth_getBlockByNumber") => ok(fake_header(HEAD)),
            Some("eth_getLogs") => {
                let filter = &req["params"][0];
                let (Some(from), Some(to)) = (hex(&filter["fromBlock"]), hex(&filter["toBlock"]))
                else {
                    return (400, "bad filter".to_string());
                };
                let mut log = log.lock().unwrap();
                let n = log.len();
                let refused = from < DENSE_BELOW && to - from + 1 > DENSE_SPAN;
                log.push((from, to, !refused && n != 5 && n != 20));
                if n == 5 {
                    (429, "Too Many Requests".to_string())
                } else if n == 20 {
                    let e = json!({"code": -32005, "message": "limit exceeded"});
                    (200, json!({"jsonrpc": "2.0", "id": req["id"], "error": e}).to_string())
                } else if refused {
                    let e = json!({"code": -32005, "message": "query returned more than 10000 results"});
                    (200, json!({"jsonrpc": "2.0", "id": req["id"], "error": e}).to_string())
                } else {
                    ok(json!([]))
                }
            }
            _ => ok(Value::Null),
        }
    })
    .await;

    let mut c = EthereumConfig::new(node.http_url());
    c.contracts = Contracts {
        bridge: Some(operator(100)),
        wallet_registry: Some(operator(101)),
        sortition_pool: Some(operator(102)),
        ..Contracts::default()
    };
    c.log_chunk_blocks = MAX_CHUNK;
    c.rate_limit_backoff_min = std::time::Duration::from_millis(1);
    c.rate_limit_backoff_max = std::time::Duration::from_millis(5);
    let chain = EthereumChain::connect(c, None).await.unwrap();
    assert_eq!(chain.wallets().await.unwrap(), Vec::new());

    let seen = seen.lock().unwrap().clone();
    // Every block once, in order, by the answered requests.
    let answered: Vec<(u64, u64)> = seen.iter().filter(|r| r.2).map(|r| (r.0, r.1)).collect();
    assert_eq!(answered.first().map(|r| r.0), Some(0));
    assert_eq!(answered.last().map(|r| r.1), Some(HEAD));
    for pair in answered.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "a gap or overlap: {pair:?}");
    }
    // A rate-limited range is asked again as it was, not narrowed.
    for n in [5, 20] {
        assert_eq!(
            (seen[n + 1].0, seen[n + 1].1),
            (seen[n].0, seen[n].1),
            "after request {n}"
        );
    }
    // Where logs are sparse the chunk is back at its maximum.
    assert!(
        answered
            .iter()
            .any(|(from, to)| *from >= DENSE_BELOW && to - from + 1 == MAX_CHUNK),
        "{answered:?}"
    );
    // Bounded: the dense part at ~1024 blocks a request, with one refused growth attempt per
    // few successes, then the sparse part at up to 8192 (about 49 + 49/4 + 3 + 12 + 19, plus
    // two retries; 92 today). A chunk stuck at 1024 blocks would take about 200.
    assert!(seen.len() <= 110, "{} requests: {seen:?}", seen.len());
}

/// Member indices are one byte: discovery reads a 255-seat group and refuses a 256-seat one,
/// naming the DKG result, the size and the limit, instead of wrapping seat 256 to seat 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_reads_a_255_seat_group_and_refuses_a_256_seat_one() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let tbtc = real_tbtc(&url, 256).await;
    let all = operators(&(1..=256).collect::<Vec<_>>());
    let discovery_config = || {
        let mut c = EthereumConfig::new(url.clone());
        c.contracts = Contracts {
            bridge: Some(tbtc.bridge),
            wallet_registry: Some(tbtc.registry),
            sortition_pool: Some(tbtc.pool),
            ..Contracts::default()
        };
        c
    };
    tbtc.create_wallet(&[0x55; 32], &all[..255]).await;
    let wallets = EthereumChain::connect(discovery_config(), None)
        .await
        .unwrap()
        .wallets()
        .await
        .unwrap();
    assert_eq!(wallets.len(), 1);
    assert_eq!(wallets[0].operators.len(), 255);
    assert_eq!(wallets[0].operators[254], operator(255));

    let big = tbtc.create_wallet(&[0x56; 32], &all).await.pkh();
    let err = EthereumChain::connect(discovery_config(), None)
        .await
        .unwrap()
        .wallets()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Invalid(m)
            if m.contains(&big.to_string()) && m.contains("256 seats") && m.contains("255")),
        "{err}"
    );
}

/// keep-client's firewall rule: the staking provider the real WalletRegistry names for the
/// operator (the provider registered it there), and a stake owner for that provider in
/// TokenStaking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_is_staked_only_with_a_provider_whose_stake_has_an_owner() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let tbtc = RealTbtc::deploy(&url, &[]).await;
    let staking = StakingFixture::deploy(&url).await;
    let (staked, unowned, stranger) = (operator(1), operator(2), operator(3));
    tbtc.register_operator(&operator(201), &staked).await;
    staking
        .set_stake_owner(&operator(201), &operator(301))
        .await;
    tbtc.register_operator(&operator(202), &unowned).await;

    let mut c = EthereumConfig::new(url.clone());
    c.contracts = Contracts {
        wallet_registry: Some(tbtc.registry),
        token_staking: Some(staking.address),
        ..Contracts::default()
    };
    c.wallets = WalletSource::Listed(listed_wallets(staked));
    let chain = EthereumChain::connect(c, None).await.unwrap();
    assert_eq!(chain.operator_is_staked(staked).await, Ok(true));
    assert_eq!(
        chain.operator_is_staked(unowned).await,
        Ok(false),
        "a provider without a stake owner"
    );
    assert_eq!(
        chain.operator_is_staked(stranger).await,
        Ok(false),
        "no provider"
    );
    // The stake goes: the answer follows the chain.
    staking
        .set_stake_owner(&operator(201), &Address::default())
        .await;
    assert_eq!(chain.operator_is_staked(staked).await, Ok(false));
    chain.shutdown().await;
}

/// The Bridge's parameters are the same for every wallet of a block: a window's snapshots
/// read them once, and again only at another block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_parameters_are_read_once_per_block() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let tbtc = real_tbtc(&url, 3).await;
    let seats = operators(&[1, 2, 3]);
    let a = tbtc.create_wallet(&[0xA1; 32], &seats).await.pkh();
    let b = tbtc.create_wallet(&[0xB2; 32], &seats).await.pkh();
    let mut c = EthereumConfig::new(url.clone());
    c.contracts.bridge = Some(tbtc.bridge);
    c.wallets = WalletSource::Listed(
        [a, b]
            .map(|wallet| WalletInfo {
                wallet,
                public_key: None,
                operators: seats.clone(),
            })
            .to_vec(),
    );
    let chain = EthereumChain::connect(c, None).await.unwrap();
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = requests.clone();
    chain.observe_rpc_latency(Arc::new(move |_| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    let count = || requests.load(std::sync::atomic::Ordering::SeqCst);
    let head = block_number(&url).await;
    chain.wallet_snapshot(&a, head).await.unwrap();
    // Wallet b at the same block: its own reads only.
    let before = count();
    chain.wallet_snapshot(&b, head).await.unwrap();
    let same_block = count() - before;
    // At the next block the four parameter reads come back.
    mine(&url, 1, 12).await;
    let before = count();
    chain.wallet_snapshot(&b, head + 1).await.unwrap();
    let next_block = count() - before;
    assert_eq!(next_block - same_block, 4, "{same_block} then {next_block}");
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anvil_keeps_the_states_it_writes_to_disk_in_a_directory_removed_with_it() {
    let anvil = Anvil::start(&[]).await;
    let cache = anvil.cache.path().to_path_buf();
    // Enough blocks that anvil moves old states out of memory.
    mine(&anvil.http_url(), 3000, 1).await;
    let written = std::fs::read_dir(&cache)
        .map(|d| d.count())
        .unwrap_or_default();
    assert!(
        written > 0,
        "anvil wrote its states under {}",
        cache.display()
    );
    drop(anvil);
    assert!(
        !cache.exists(),
        "{} is removed with its anvil",
        cache.display()
    );
}
