//! The real tBTC v2 contracts on anvil: the published packages are whole, the Bridge deploys
//! behind its proxy linked to its libraries, and the on-chain WalletProposalValidator judges
//! the heartbeat, redemption, moved-funds sweep and deposit sweep proposals this node's
//! generator makes from what our back end reads of the Bridge.

mod ethereum_support;
mod loopback_support;

use ethereum_support::real::{
    Artifact, MainUtxo, RealTbtc, BRIDGE_LIBRARIES, REIMBURSEMENT_POOL, RELAY,
};
use ethereum_support::{length_prefixed, wait_for, Anvil};
use ethers_core::abi::Token;
use std::sync::{Arc, Mutex};
use tbtc_coord::chain::ethereum::{Contracts, EthereumChain, EthereumConfig};
use tbtc_coord::chain::Chain;
use tbtc_coord::engine::proposing::{choose, Weigh};

use tbtc_coord::engine::events::CoordinationResultEvent;
use tbtc_coord::engine::NodeHandle;
use tbtc_coord::engine::{dry_run, DryRunWindow, Event, EventBus, Identity, Node, NodeConfig};
use tbtc_coord::net::local::LocalHub;
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::bitcoin_facts::{BitcoinFacts, FundingTx};
use tbtc_coord::protocol::generator::propose;
use tbtc_coord::protocol::proposal::{
    heartbeat_message, DepositKey, HexBytes, MovedFundsSweepRequest, ProposalParams, WalletState,
};
use tbtc_coord::protocol::{ActionType, Proposal, Role, Validation};
use tbtc_coord::protocol::{Address, Hash32, WalletPkh};
use tbtc_coord::store::Store;
use tokio_util::sync::CancellationToken;

#[test]
fn the_pinned_packages_hold_what_the_deployment_needs() {
    let bridge = Artifact::load(
        "keep-network-tbtc-v2-1.6.0",
        "build/contracts/bridge/Bridge.sol/Bridge.json",
    );
    let mut expected: Vec<String> = BRIDGE_LIBRARIES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(bridge.libraries(), expected);
    let validator = Artifact::load(
        "keep-network-tbtc-v2-1.6.0",
        "build/contracts/bridge/WalletProposalValidator.sol/WalletProposalValidator.json",
    );
    for kind in [
        "Redemption",
        "DepositSweep",
        "MovedFundsSweep",
        "MovingFunds",
        "Heartbeat",
    ] {
        let name = format!("validate{kind}Proposal");
        assert!(validator.abi.function(&name).is_ok(), "{name} is declared");
    }
    let proxy = Artifact::load(
        "openzeppelin-contracts-4.8.3",
        "build/contracts/TransparentUpgradeableProxy.json",
    );
    assert!(proxy.bytecode.len() > 2, "the proxy has creation code");
}

fn address(token: &Token) -> Address {
    match token {
        Token::Address(a) => Address(a.0),
        other => panic!("not an address: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_deploys_behind_its_proxy_and_keeps_what_it_was_given() {
    let anvil = Anvil::start(&[]).await;
    let tbtc = RealTbtc::deploy(&anvil.http_url(), &[]).await;
    let references = tbtc
        .view(&tbtc.bridge_abi, &tbtc.bridge, "contractReferences", &[])
        .await
        .expect("the proxied Bridge answers");
    let got: Vec<Address> = references.iter().map(address).collect();
    assert_eq!(
        got,
        vec![tbtc.bank, RELAY, tbtc.registry, REIMBURSEMENT_POOL]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_validator_accepts_our_heartbeats_and_refuses_other_messages() {
    let anvil = Anvil::start(&[]).await;
    let tbtc = RealTbtc::deploy(&anvil.http_url(), &[]).await;
    let wallet = WalletPkh([0x42; 20]);
    let proposal = |message: Vec<u8>| {
        vec![Token::Tuple(vec![
            Token::FixedBytes(wallet.0.to_vec()),
            Token::Bytes(message),
        ])]
    };
    for block in [900, 1800, 123_456_700] {
        let ours = heartbeat_message(&wallet, block).to_vec();
        let verdict = tbtc
            .view(
                &tbtc.validator_abi,
                &tbtc.validator,
                "validateHeartbeatProposal",
                &proposal(ours),
            )
            .await
            .expect("a heartbeat of ours is valid");
        assert_eq!(verdict, vec![Token::Bool(true)]);
    }
    // Not the 0xFF prefix, or not 16 bytes: refused, with the validator's reason.
    let mut not_prefixed = heartbeat_message(&wallet, 900).to_vec();
    not_prefixed[0] = 0xFE;
    let too_long = [heartbeat_message(&wallet, 900).to_vec(), vec![0]].concat();
    for message in [not_prefixed, too_long] {
        let refused = tbtc
            .view(
                &tbtc.validator_abi,
                &tbtc.validator,
                "validateHeartbeatProposal",
                &proposal(message),
            )
            .await
            .expect_err("refused");
        assert!(
            refused.contains("Not a valid heartbeat message"),
            "{refused}"
        );
    }
    // The validator reads this Bridge.
    let bridge = tbtc
        .view(&tbtc.validator_abi, &tbtc.validator, "bridge", &[])
        .await
        .expect("the validator names its Bridge");
    assert_eq!(
        bridge.iter().map(address).collect::<Vec<_>>(),
        vec![tbtc.bridge]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_made_by_the_real_dkg_is_discovered_with_its_seats() {
    let anvil = Anvil::start(&[]).await;
    let operators: Vec<Address> = (1..=5u8).map(|i| Address([0xA0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&anvil.http_url(), &operators).await;
    // Seats in another order than the pool's, and one operator left out.
    let members = vec![operators[2], operators[0], operators[4], operators[1]];
    let key = tbtc.create_wallet(&[7; 32], &members).await;

    let chain = tbtc.chain().await;
    let wallets = chain.wallets().await.unwrap();
    assert_eq!(wallets.len(), 1, "{wallets:?}");
    assert_eq!(wallets[0].wallet, key.pkh());
    assert_eq!(wallets[0].operators, members);
    assert_eq!(wallets[0].public_key, Some(key));

    // What the generator reads of it, from the real Bridge: a Live wallet with nothing
    // pending, and the Bridge's own redemption timeout.
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&key.pkh(), head).await.unwrap();
    assert_eq!(snapshot.state, WalletState::Live);
    assert!(snapshot.pending_redemptions.is_empty() && snapshot.deposits.is_empty());
    assert!(snapshot.redemption_timeout > 0);
    assert_eq!(snapshot.main_utxo_hash, None, "no sweep yet, no main UTXO");
    // Once the Bridge holds a main UTXO, the snapshot carries its hash as the Bridge keeps it.
    let utxo = MainUtxo {
        tx_hash: [0x21; 32],
        output_index: 3,
        value: 50_000,
    };
    tbtc.set_main_utxo(&key.pkh(), &utxo).await;
    ethereum_support::rpc(&tbtc.url, "anvil_mine", serde_json::json!(["0x1"])).await;
    let snapshot = chain.wallet_snapshot(&key.pkh(), head + 1).await.unwrap();
    let packed = [
        &utxo.tx_hash[..],
        &3u32.to_be_bytes(),
        &50_000u64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(
        snapshot.main_utxo_hash,
        Some(tbtc_coord::protocol::Hash32(
            tbtc_coord::protocol::types::keccak256(&packed)
        ))
    );
    chain.shutdown().await;
}

/// A wallet made by the real DKG, with a main UTXO and one pending redemption.
struct Redemption {
    tbtc: RealTbtc,
    wallet: WalletPkh,
    /// The redeemer's output script, length-prefixed as the Bridge takes it.
    script: Vec<u8>,
    /// Chain time of the request.
    requested_at: u64,
}

impl Redemption {
    /// Deploys the contracts (with a redemption watchtower if `watchtower`), makes the wallet
    /// and requests a redemption of 0.1 BTC to a P2WPKH script.
    async fn requested(url: &str, watchtower: bool) -> Redemption {
        let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xB0 + i; 20])).collect();
        Redemption::requested_of(url, watchtower, &operators).await
    }

    /// As [`Redemption::requested`], for a wallet of `operators`.
    async fn requested_of(url: &str, watchtower: bool, operators: &[Address]) -> Redemption {
        let tbtc = RealTbtc::deploy(url, operators).await;
        if watchtower {
            tbtc.set_redemption_watchtower().await;
        }
        let wallet = tbtc.create_wallet(&[9; 32], operators).await.pkh();
        let utxo = MainUtxo {
            tx_hash: [0x33; 32],
            output_index: 1,
            value: 10 * 100_000_000,
        };
        tbtc.set_main_utxo(&wallet, &utxo).await;
        let script = length_prefixed(&[vec![0x00, 0x14], vec![0x5A; 20]].concat());
        let requested_at = tbtc
            .request_redemption(&wallet, &utxo, &Address([0x77; 20]), &script, 10_000_000)
            .await;
        Redemption {
            tbtc,
            wallet,
            script,
            requested_at,
        }
    }
}

/// The checklist the validator tests weigh: a redemption, then a heartbeat.
const REDEMPTION_THEN_HEARTBEAT: [ActionType; 2] = [ActionType::Redemption, ActionType::Heartbeat];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_the_real_validator_refuses_is_passed_over_for_the_next_action_then_noop() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let Redemption {
        tbtc,
        wallet,
        requested_at,
        ..
    } = Redemption::requested(&url, false).await;
    let chain = tbtc.chain().await;
    // A generator that disagrees with the validator (a minimum age 100 s short of the
    // validator's) proposes a request the validator refuses.
    let validator_min_age = ProposalParams::default().redemption_request_min_age;
    let hasty = ProposalParams {
        redemption_request_min_age: validator_min_age - 100,
        ..ProposalParams::default()
    };
    mine_at(&url, requested_at + validator_min_age).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    assert!(propose(ActionType::Redemption, &snapshot, &hasty).is_ok());

    let choice = choose(
        &chain,
        &REDEMPTION_THEN_HEARTBEAT,
        &snapshot,
        &BitcoinFacts::default(),
        &hasty,
        Weigh::Every,
    )
    .await;
    let refused = choice.evaluations[0].validation.as_ref().expect("weighed");
    assert_eq!((refused.checked, refused.valid), (true, Some(false)));
    assert_eq!(
        refused.reason.as_deref(),
        Some("Redemption request min age not achieved yet"),
        "the validator's own revert reason"
    );
    // The heartbeat is next, and the real validator takes our heartbeat.
    assert_eq!(
        choice.evaluations[1].validation,
        Some(Validation::accepted())
    );
    assert_eq!(choice.proposal.action_type(), ActionType::Heartbeat);
    assert_eq!(choice.refusals().len(), 1);
    assert_eq!(choice.refusals()[0].action, ActionType::Redemption);

    // With nothing after it on the checklist, the leader proposes Noop and says why.
    let alone = choose(
        &chain,
        &[ActionType::Redemption],
        &snapshot,
        &BitcoinFacts::default(),
        &hasty,
        Weigh::UntilChosen,
    )
    .await;
    assert_eq!(alone.proposal, Proposal::Noop);
    let why = alone.noop_reason().expect("a reason");
    assert!(
        why.contains("refused: Redemption request min age not achieved yet"),
        "{why}"
    );

    // A second later the validator takes the redemption; a leader stops weighing there.
    mine_at(&url, requested_at + validator_min_age + 1).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    let choice = choose(
        &chain,
        &REDEMPTION_THEN_HEARTBEAT,
        &snapshot,
        &BitcoinFacts::default(),
        &hasty,
        Weigh::UntilChosen,
    )
    .await;
    assert_eq!(choice.proposal.action_type(), ActionType::Redemption);
    assert_eq!(
        choice.evaluations[0].validation,
        Some(Validation::accepted())
    );
    assert!(choice.evaluations[1].candidate.is_some());
    assert_eq!(choice.evaluations[1].validation, None, "not weighed");
    assert!(choice.refusals().is_empty());
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_validator_is_an_error_for_the_candidate_and_the_dry_run_lists_every_action() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let Redemption {
        tbtc,
        wallet,
        requested_at,
        ..
    } = Redemption::requested(&url, false).await;
    mine_at(
        &url,
        requested_at + ProposalParams::default().redemption_request_min_age + 1,
    )
    .await;

    // No contract at the configured address: every candidate is an error, none is sent, and
    // nothing else happens.
    let mut config = EthereumConfig::new(url.clone());
    config.contracts = Contracts {
        bridge: Some(tbtc.bridge),
        wallet_registry: Some(tbtc.registry),
        sortition_pool: Some(tbtc.pool),
        wallet_proposal_validator: Some(Address([0x42; 20])),
        ..Contracts::default()
    };
    let wrong = EthereumChain::connect(config, None).await.unwrap();
    let head = wrong.latest_block().await.unwrap().number;
    let snapshot = wrong.wallet_snapshot(&wallet, head).await.unwrap();
    let choice = choose(
        &wrong,
        &REDEMPTION_THEN_HEARTBEAT,
        &snapshot,
        &BitcoinFacts::default(),
        &ProposalParams::default(),
        Weigh::UntilChosen,
    )
    .await;
    assert_eq!(choice.proposal, Proposal::Noop);
    for e in &choice.evaluations {
        let v = e.validation.as_ref().expect("weighed");
        assert_eq!((v.checked, v.valid), (true, None), "{e:?}");
        assert!(
            v.reason
                .as_deref()
                .unwrap()
                .contains("no WalletProposalValidator contract"),
            "{v:?}"
        );
    }
    wrong.shutdown().await;

    // The dry run on the real validator: every checklist action with its candidate or why
    // there is none, and the verdict; the proposal is the first valid candidate.
    let chain = tbtc.chain().await;
    let me = Address([0xB1; 20]);
    let cb = 900 * (head / 900 + 1);
    ethereum_support::rpc(
        &url,
        "anvil_mine",
        serde_json::json!([format!("{:#x}", cb - head)]),
    )
    .await;
    let record = dry_run(
        &chain,
        me,
        &NodeConfig::default(),
        0,
        wallet,
        DryRunWindow::At(cb),
    )
    .await
    .unwrap();
    assert_eq!(record.actions.len(), record.checklist.len());
    let redemption = &record.actions[0];
    assert_eq!(redemption.action, ActionType::Redemption);
    assert!(redemption.chosen(), "{redemption:?}");
    assert_eq!(record.proposal, redemption.candidate);
    for a in &record.actions[1..] {
        match a.action {
            ActionType::Heartbeat => {
                assert_eq!(a.validation, Some(Validation::accepted()))
            }
            // Nothing revealed: no candidate, and the reason says so.
            ActionType::DepositSweep | ActionType::MovedFundsSweep | ActionType::MovingFunds => {
                assert!(a.candidate.is_none() && a.reason.is_some(), "{a:?}")
            }
            other => panic!("unexpected {other}"),
        }
    }
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(
        json["actions"][0]["validation"],
        serde_json::json!({"checked": true, "valid": true})
    );
    chain.shutdown().await;
}

/// A node of the wallet on the real contracts, on the in-process hub, and its results.
struct WalletNode {
    handle: NodeHandle,
    chain: EthereumChain,
    results: Arc<Mutex<Vec<CoordinationResultEvent>>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_passes_over_what_the_real_validator_refuses_and_its_followers_accept_what_it_sends(
) {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let keys: Vec<OperatorKey> = (1..=3u8)
        .map(|i| OperatorKey::from_secret(&[0x60 + i; 32]).unwrap())
        .collect();
    let operators: Vec<Address> = keys.iter().map(OperatorKey::address).collect();
    // Mined close to a window, so the request is younger than the validator's minimum age
    // when the window's leader proposes.
    let head = ethereum_support::block_number(&url).await;
    let cb = 900 * (head / 900 + 2);
    let Redemption { tbtc, wallet, .. } = Redemption::requested_of(&url, false, &operators).await;
    let now = ethereum_support::block_number(&url).await;
    assert!(now < cb - 40, "the deployment fits before the window");
    ethereum_support::mine(&url, cb - 40 - now, 1).await;
    let utxo = MainUtxo {
        tx_hash: [0x44; 32],
        output_index: 0,
        value: 5 * 100_000_000,
    };
    tbtc.set_main_utxo(&wallet, &utxo).await;
    let script = length_prefixed(&[vec![0x00, 0x14], vec![0x6B; 20]].concat());
    tbtc.request_redemption(&wallet, &utxo, &Address([0x78; 20]), &script, 20_000_000)
        .await;

    // Every node's generator is hasty (no minimum age); the validator is not.
    let config = NodeConfig {
        proposal_params: ProposalParams {
            redemption_request_min_age: 0,
            ..ProposalParams::default()
        },
        ..NodeConfig::default()
    };
    let hub = LocalHub::new(256);
    let mut nodes = Vec::new();
    for key in &keys {
        let chain = tbtc.chain().await;
        let bus = EventBus::default();
        let mut events = bus.subscribe();
        let results = Arc::new(Mutex::new(Vec::new()));
        let sink = results.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                if let Event::CoordinationResult(r) = e {
                    sink.lock().unwrap().push(r);
                }
            }
        });
        let handle = Node::start(
            config.clone(),
            Identity::signer(key.clone()),
            Arc::new(chain.clone()),
            Arc::new(hub.endpoint(Some(key.clone()))),
            Arc::new(Store::open_in_memory().unwrap()),
            bus,
            CancellationToken::new(),
        )
        .await
        .expect("node starts");
        nodes.push(WalletNode {
            handle,
            chain,
            results,
        });
    }
    // Through the window, a second of chain time a block (the request stays young), each
    // block once every node has seen the one before.
    wait_for("every node's result of the window", || {
        let url = url.clone();
        let nodes = &nodes;
        async move {
            if nodes.iter().all(|n| {
                n.results
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|r| r.coordination_block == cb)
            }) {
                return true;
            }
            let head = ethereum_support::block_number(&url).await;
            if nodes.iter().all(|n| n.handle.head_number() >= head) {
                ethereum_support::mine(&url, 1, 1).await;
            }
            false
        }
    })
    .await;
    let results: Vec<CoordinationResultEvent> = nodes
        .iter()
        .map(|n| {
            n.results
                .lock()
                .unwrap()
                .iter()
                .find(|r| r.coordination_block == cb)
                .cloned()
                .unwrap()
        })
        .collect();
    let leader = results
        .iter()
        .find(|r| r.role == Role::Leader)
        .expect("one node leads");
    assert_eq!(leader.checklist[0], ActionType::Redemption);
    // The redemption was refused, with the validator's reason, and not sent.
    assert_eq!(leader.refusals.len(), 1, "{:?}", leader.refusals);
    assert_eq!(leader.refusals[0].action, ActionType::Redemption);
    assert!(
        leader.refusals[0]
            .reason
            .contains("Redemption request min age not achieved yet"),
        "{:?}",
        leader.refusals
    );
    assert_ne!(leader.action, ActionType::Redemption);
    // What it sent instead (a heartbeat if drawn, else Noop) is what every follower
    // accepted, and nobody is blamed.
    for r in &results {
        assert_eq!(r.proposal, leader.proposal, "{r:?}");
        assert!(r.faults.is_empty(), "{r:?}");
    }
    for n in nodes {
        n.handle.shutdown().await;
        n.chain.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_windows_read_only_new_blocks_and_see_what_a_full_scan_sees() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let Redemption { tbtc, wallet, .. } = Redemption::requested(&url, false).await;
    // Small log requests, so that a look-back takes many of them.
    let connect = |scan_cache: bool| {
        let mut config = tbtc.config();
        config.log_chunk_blocks = 100;
        config.scan_cache = scan_cache;
        EthereumChain::connect(config, None)
    };
    let cached = connect(true).await.unwrap();
    let full = connect(false).await.unwrap();
    let counter = |chain: &EthereumChain| {
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = n.clone();
        chain.observe_rpc_latency(Arc::new(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        n
    };
    let (cached_requests, full_requests) = (counter(&cached), counter(&full));
    let requests_of =
        |n: &Arc<std::sync::atomic::AtomicUsize>| n.load(std::sync::atomic::Ordering::SeqCst);

    ethereum_support::mine(&url, 2_000, 1).await;
    let head = ethereum_support::block_number(&url).await;
    let first = cached.wallet_snapshot(&wallet, head).await.unwrap();
    assert_eq!(first, full.wallet_snapshot(&wallet, head).await.unwrap());
    assert_eq!(first.pending_redemptions.len(), 1);

    // A window later, with a second request made within the last few blocks.
    ethereum_support::mine(&url, 880, 1).await;
    let utxo = MainUtxo {
        tx_hash: [0x33; 32],
        output_index: 1,
        value: 10 * 100_000_000,
    };
    let script = length_prefixed(&[vec![0x00, 0x14], vec![0x5B; 20]].concat());
    tbtc.request_redemption(&wallet, &utxo, &Address([0x79; 20]), &script, 10_000_000)
        .await;
    ethereum_support::mine(&url, 20, 1).await;
    let head = ethereum_support::block_number(&url).await;
    let (c0, f0) = (requests_of(&cached_requests), requests_of(&full_requests));
    let later = cached.wallet_snapshot(&wallet, head).await.unwrap();
    let cached_cost = requests_of(&cached_requests) - c0;
    assert_eq!(later, full.wallet_snapshot(&wallet, head).await.unwrap());
    let full_cost = requests_of(&full_requests) - f0;
    assert_eq!(later.pending_redemptions.len(), 2, "{later:?}");
    // The full scan reads the whole chain in 100-block requests for each event; the cached
    // one only the blocks since the last scan's settled block.
    assert!(
        cached_cost * 2 < full_cost,
        "{cached_cost} requests with the cache, {full_cost} without"
    );
    cached.shutdown().await;
    full.shutdown().await;
}

/// `validateRedemptionProposal`'s argument for `proposal`, a redemption of `wallet`, encoded
/// here apart from the node's own encoding. The proposal carries Bitcoin scripts; the
/// validator takes them length-prefixed, as keep-client hands them over.
fn redemption_proposal(wallet: &WalletPkh, proposal: &Proposal) -> Vec<Token> {
    let Proposal::Redemption {
        redeemers_output_scripts,
        redemption_tx_fee,
    } = proposal
    else {
        panic!("not a redemption: {proposal:?}")
    };
    vec![Token::Tuple(vec![
        Token::FixedBytes(wallet.0.to_vec()),
        Token::Array(
            redeemers_output_scripts
                .iter()
                .map(|s| Token::Bytes(length_prefixed(&s.0)))
                .collect(),
        ),
        Token::Uint((*redemption_tx_fee).into()),
    ])]
}

/// Mines one block at chain time `timestamp`.
async fn mine_at(url: &str, timestamp: u64) {
    ethereum_support::rpc(
        url,
        "anvil_setNextBlockTimestamp",
        serde_json::json!([timestamp]),
    )
    .await;
    ethereum_support::rpc(url, "anvil_mine", serde_json::json!(["0x1"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_is_proposed_when_the_real_validator_takes_it_and_not_a_second_before() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let Redemption {
        tbtc,
        wallet,
        script,
        requested_at,
    } = Redemption::requested(&url, false).await;

    // Our minimum age is the validator's.
    let min_age = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "REDEMPTION_REQUEST_MIN_AGE",
            &[],
        )
        .await
        .expect("the validator's minimum age");
    let params = ProposalParams::default();
    assert_eq!(
        min_age,
        vec![Token::Uint(params.redemption_request_min_age.into())]
    );

    let chain = tbtc.chain().await;
    let validate = |proposal: &Proposal| redemption_proposal(&wallet, proposal);

    // Exactly the minimum age: the validator refuses it, and so the generator does not
    // propose it.
    mine_at(&url, requested_at + params.redemption_request_min_age).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    assert_eq!(snapshot.pending_redemptions.len(), 1, "{snapshot:?}");
    // The Bridge's length-prefixed script reads as the Bitcoin script itself.
    assert_eq!(
        snapshot.pending_redemptions[0].redeemer_output_script,
        script[1..].to_vec()
    );
    assert!(propose(ActionType::Redemption, &snapshot, &params).is_err());
    let by_hand = Proposal::Redemption {
        redeemers_output_scripts: vec![HexBytes(
            snapshot.pending_redemptions[0]
                .redeemer_output_script
                .clone(),
        )],
        redemption_tx_fee: 1_000,
    };
    let refused = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "validateRedemptionProposal",
            &validate(&by_hand),
        )
        .await
        .expect_err("too young for the validator");
    assert!(refused.contains("min age not achieved"), "{refused}");

    // One second later both take it.
    mine_at(&url, requested_at + params.redemption_request_min_age + 1).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    let proposal = propose(ActionType::Redemption, &snapshot, &params).expect("proposed");
    let verdict = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "validateRedemptionProposal",
            &validate(&proposal),
        )
        .await
        .expect("the real validator accepts our proposal");
    assert_eq!(verdict, vec![Token::Bool(true)]);

    // A fee rate far above the Bridge's limits: the fee is lowered to the smaller of the
    // Bridge's total and the request's own maximum, and the validator still takes it.
    let greedy = ProposalParams {
        btc_fee_rate: 100_000,
        ..params.clone()
    };
    let limit = snapshot.pending_redemptions[0]
        .tx_max_fee
        .expect("the request's maximum")
        .min(
            snapshot
                .fee_limits
                .redemption_tx_max_total_fee
                .expect("the Bridge's total"),
        );
    let clamped = propose(ActionType::Redemption, &snapshot, &greedy).expect("within the limits");
    let Proposal::Redemption {
        redemption_tx_fee, ..
    } = &clamped
    else {
        panic!("a redemption")
    };
    assert_eq!(*redemption_tx_fee, limit);
    let verdict = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "validateRedemptionProposal",
            &validate(&clamped),
        )
        .await
        .expect("the real validator accepts the lowered fee");
    assert_eq!(verdict, vec![Token::Bool(true)]);
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watchtower_s_delay_holds_a_redemption_back_for_both_the_generator_and_the_validator() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let Redemption {
        tbtc,
        wallet,
        requested_at,
        ..
    } = Redemption::requested(&url, true).await;
    let chain = tbtc.chain().await;
    let params = ProposalParams::default();
    let validate = |proposal: &Proposal| redemption_proposal(&wallet, proposal);

    // Past the minimum age but within the watchtower's delay: neither takes it.
    mine_at(&url, requested_at + params.redemption_request_min_age + 1).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    let request = &snapshot.pending_redemptions[0];
    assert_eq!(
        request.watchtower_delay,
        2 * 3600,
        "the watchtower's default delay"
    );
    assert!(propose(ActionType::Redemption, &snapshot, &params).is_err());
    let held = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "validateRedemptionProposal",
            &validate(&Proposal::Redemption {
                redeemers_output_scripts: vec![HexBytes(request.redeemer_output_script.clone())],
                redemption_tx_fee: 1_000,
            }),
        )
        .await
        .expect_err("held back by the watchtower");
    assert!(held.contains("min age not achieved"), "{held}");

    // A second past the delay: both take it.
    mine_at(&url, requested_at + 2 * 3600 + 1).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    let proposal = propose(ActionType::Redemption, &snapshot, &params)
        .expect("proposed once the delay is over");
    let verdict = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "validateRedemptionProposal",
            &validate(&proposal),
        )
        .await
        .expect("the real validator accepts it");
    assert_eq!(verdict, vec![Token::Bool(true)]);
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_funds_sweep_request_left_by_the_moving_funds_flow_is_proposed_and_accepted() {
    use ethereum_support::moved_funds::{
        commit_moving_funds, complete_moving_funds, latest_timestamp, leave_sweep_request, PENDING,
        PROCESSED,
    };
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xC0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    let target = tbtc.create_wallet(&[11; 32], &operators).await.pkh();
    tbtc.set_main_utxo(
        &target,
        &MainUtxo {
            tx_hash: [0x34; 32],
            output_index: 0,
            value: 100_000_000,
        },
    )
    .await;

    // Two sources moved funds to the target: the first names it second of two targets, and
    // its request is pending; the second names it alone, and its request was swept already.
    // A third moved funds elsewhere.
    let (source, swept_source, elsewhere) = (
        WalletPkh([0x5E; 20]),
        WalletPkh([0x5F; 20]),
        WalletPkh([0x60; 20]),
    );
    let other = WalletPkh([0x61; 20]);
    let (tx, swept_tx, elsewhere_tx) = ([0xA1; 32], [0xA2; 32], [0xA3; 32]);
    commit_moving_funds(&tbtc, &source, &[other, target]).await;
    commit_moving_funds(&tbtc, &swept_source, &[target]).await;
    commit_moving_funds(&tbtc, &elsewhere, &[other]).await;
    complete_moving_funds(&tbtc, &elsewhere, &elsewhere_tx).await;
    complete_moving_funds(&tbtc, &swept_source, &swept_tx).await;
    complete_moving_funds(&tbtc, &source, &tx).await;

    let chain = tbtc.chain().await;
    // The events alone: the Bridge counts no pending request, so none is looked for.
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&target, head).await.unwrap();
    assert!(snapshot.moved_funds_sweep_requests.is_empty());

    let now = latest_timestamp(&url).await as u32;
    leave_sweep_request(&tbtc, &target, &tx, 1, 5_000_000, now, PENDING).await;
    leave_sweep_request(&tbtc, &target, &swept_tx, 0, 7_000_000, now - 60, PROCESSED).await;
    // The storage written reads back through the real Bridge's views.
    let key = tbtc_coord::protocol::types::keccak256(&[&tx[..], &1u32.to_be_bytes()].concat());
    let request = tbtc
        .view(
            &tbtc.bridge_abi,
            &tbtc.bridge,
            "movedFundsSweepRequests",
            &[Token::Uint(ethers_core::types::U256::from_big_endian(&key))],
        )
        .await
        .expect("the request");
    assert_eq!(
        request,
        vec![Token::Tuple(vec![
            Token::FixedBytes(target.0.to_vec()),
            Token::Uint(5_000_000.into()),
            Token::Uint(now.into()),
            Token::Uint(PENDING.into()),
        ])]
    );

    mine_at(&url, u64::from(now) + 1).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&target, head).await.unwrap();
    assert_eq!(snapshot.state, WalletState::Live);
    assert_eq!(
        snapshot.moved_funds_sweep_requests,
        vec![MovedFundsSweepRequest {
            moving_funds_tx_hash: Hash32(tx),
            output_index: 1,
            value: 5_000_000,
            created_at: u64::from(now),
        }]
    );
    let params = ProposalParams::default();
    let proposal = propose(ActionType::MovedFundsSweep, &snapshot, &params).expect("proposed");
    let validate = |hash: [u8; 32], index: u32, fee: u64| {
        vec![Token::Tuple(vec![
            Token::FixedBytes(target.0.to_vec()),
            Token::FixedBytes(hash.to_vec()),
            Token::Uint(index.into()),
            Token::Uint(fee.into()),
        ])]
    };
    let Proposal::MovedFundsSweep {
        moving_funds_tx_hash,
        moving_funds_tx_output_index,
        sweep_tx_fee,
    } = proposal
    else {
        panic!("not a moved-funds sweep: {proposal:?}")
    };
    let verdict = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "validateMovedFundsSweepProposal",
            &validate(
                moving_funds_tx_hash.0,
                moving_funds_tx_output_index,
                sweep_tx_fee,
            ),
        )
        .await
        .expect("the real validator accepts our proposal");
    assert_eq!(verdict, vec![Token::Bool(true)]);
    // The swept request, which the snapshot leaves out, the validator refuses too.
    let refused = tbtc
        .view(
            &tbtc.validator_abi,
            &tbtc.validator,
            "validateMovedFundsSweepProposal",
            &validate(swept_tx, 0, sweep_tx_fee),
        )
        .await
        .expect_err("not pending");
    assert!(refused.contains("not in Pending state"), "{refused}");
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moving_funds_wallet_with_a_mature_deposit_proposes_its_sweep() {
    use ethereum_support::moved_funds::{
        depositor, fail_heartbeat, latest_timestamp, reveal_deposit, Deposit,
    };
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xD0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    let key = tbtc.create_wallet(&[13; 32], &operators).await;
    let wallet = key.pkh();
    // A wallet with funds moves them when its heartbeat fails (without, it would close).
    tbtc.set_main_utxo(
        &wallet,
        &MainUtxo {
            tx_hash: [0x35; 32],
            output_index: 0,
            value: 100_000_000,
        },
    )
    .await;

    // Revealed while Live (the Bridge takes reveals for Live wallets only), refundable in
    // 30 days.
    let now = latest_timestamp(&url).await;
    let deposit = Deposit::new(
        &depositor(),
        &wallet,
        10_000_000,
        (now + 30 * 86_400) as u32,
    );
    let reveal_block = reveal_deposit(&tbtc, &deposit).await;
    let revealed_at = latest_timestamp(&url).await;
    fail_heartbeat(&tbtc, &key).await;

    let chain = tbtc.chain().await;
    let params = ProposalParams::default();
    // Exactly the minimum age: not yet.
    mine_at(&url, revealed_at + params.deposit_min_age).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    assert_eq!(snapshot.state, WalletState::MovingFunds);
    assert_eq!(snapshot.deposits.len(), 1, "{snapshot:?}");
    assert!(propose(ActionType::DepositSweep, &snapshot, &params).is_err());

    mine_at(&url, revealed_at + params.deposit_min_age + 1).await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
    assert_eq!(snapshot.state, WalletState::MovingFunds);
    let proposal = propose(ActionType::DepositSweep, &snapshot, &params).expect("proposed");
    let Proposal::DepositSweep {
        deposits,
        reveal_blocks,
        ..
    } = &proposal
    else {
        panic!("not a sweep: {proposal:?}")
    };
    assert_eq!(
        deposits,
        &vec![DepositKey {
            funding_tx_hash: Hash32(deposit.tx_hash),
            output_index: 0,
        }]
    );
    assert_eq!(reveal_blocks, &vec![reveal_block]);
    // Moving the funds waits for the sweep.
    assert!(propose(ActionType::MovingFunds, &snapshot, &params).is_err());

    // Without the funding transaction the sweep is not checked on chain (and may be sent).
    let unchecked = choose(
        &chain,
        &[ActionType::DepositSweep],
        &snapshot,
        &BitcoinFacts::default(),
        &params,
        Weigh::Every,
    )
    .await;
    let v = unchecked.evaluations[0]
        .validation
        .clone()
        .expect("weighed");
    assert!(!v.checked && v.reason.unwrap().starts_with("needs the Bitcoin view"));
    assert_eq!(unchecked.proposal, proposal);
    // With it, our node's validator call (the reveal's fields from the DepositRevealed event,
    // the funding transaction from the Bitcoin facts) is one the real validator accepts.
    let funding = FundingTx {
        version: deposit.version,
        input_vector: deposit.input_vector.clone(),
        output_vector: deposit.output_vector.clone(),
        locktime: deposit.locktime,
    };
    assert_eq!(funding.hash(), Hash32(deposit.tx_hash));
    let facts = |funding: FundingTx| BitcoinFacts {
        funding: [(deposits[0], funding)].into_iter().collect(),
        main_utxo: None,
    };
    let checked = choose(
        &chain,
        &[ActionType::DepositSweep],
        &snapshot,
        &facts(funding.clone()),
        &params,
        Weigh::Every,
    )
    .await;
    assert_eq!(
        checked.evaluations[0].validation,
        Some(Validation::accepted())
    );
    assert_eq!(checked.proposal, proposal);
    // A funding transaction that is not the deposit's is refused, with the validator's reason.
    let mut other = funding;
    other.locktime = [1, 0, 0, 0];
    let refused = choose(
        &chain,
        &[ActionType::DepositSweep],
        &snapshot,
        &facts(other),
        &params,
        Weigh::Every,
    )
    .await;
    let v = refused.evaluations[0].validation.clone().expect("weighed");
    assert_eq!((v.checked, v.valid), (true, Some(false)), "{v:?}");
    assert_eq!(refused.proposal, Proposal::Noop);
    chain.shutdown().await;
}
