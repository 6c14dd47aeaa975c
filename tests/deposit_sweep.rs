//! A deposit sweep from real Bitcoin data to the real Bridge: funding transactions built and
//! signed here, mined on a real regtest node (bcoin) behind a real Electrum server
//! (ElectrumX), revealed on the real tBTC v2 Bridge on anvil for a wallet made through the
//! real DKG. The leader's sweep holds exactly the deposits with six confirmations, and the
//! real WalletProposalValidator accepts it with the real funding transactions our node read
//! from Electrum. A wallet moving its funds from a real main UTXO proposes the committed
//! targets, and the validator accepts that too with the main UTXO read from Electrum.

mod bitcoin_support;
mod ethereum_support;
mod loopback_support;

use bitcoin::{Amount, Transaction, TxOut};
use serde_json::json;

use bitcoin_support::{deposit_output, BitcoinNode, Key};
use ethereum_support::moved_funds::{depositor, latest_timestamp, reveal_deposit, Deposit};
use ethereum_support::real::RealTbtc;
use ethereum_support::Anvil;
use tbtc_coord::bitcoin::reading::bridge_tx_hash;
use tbtc_coord::chain::Chain;
use tbtc_coord::engine::proposing::{choose_with_bitcoin, Weigh};
use tbtc_coord::protocol::proposal::{DepositKey, DepositReveal, ProposalParams};
use tbtc_coord::protocol::{ActionType, Address, Proposal, Validation, WalletPkh};

/// A funding transaction of `value` satoshi to `wallet`'s deposit script, spending block
/// `height`'s coinbase and broadcast, and its reveal.
async fn funding(
    node: &BitcoinNode,
    miner: &Key,
    height: u64,
    wallet: &WalletPkh,
    value: u64,
    refund_at: u32,
) -> (Transaction, Deposit) {
    let reveal = DepositReveal {
        blinding_factor: [height as u8; 8],
        refund_pubkey_hash: [0x3F; 20],
        refund_locktime: refund_at.to_le_bytes(),
    };
    let output = deposit_output(&depositor(), wallet, &reveal, value);
    let tx = node.pay_from_coinbase(miner, height, vec![output]).await;
    let deposit = Deposit::of_transaction(&tx, 0, wallet, &reveal);
    (tx, deposit)
}

async fn mine_bitcoin(node: &BitcoinNode, miner: &Key, blocks: u64, to: u64) {
    node.mine(blocks, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_holds_exactly_the_deposits_six_blocks_deep_and_the_real_validator_accepts_it() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xE0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    let wallet = tbtc.create_wallet(&[0x2B; 32], &operators).await.pkh();

    let node = BitcoinNode::start().await;
    let miner = Key::new(0x41);
    mine_bitcoin(&node, &miner, 101, 101).await;
    let refund_at = u32::try_from(latest_timestamp(&url).await + 30 * 86_400).unwrap();
    // Deposit A is mined at 102, deposit B at 103; at tip 107 A has six confirmations and B
    // five.
    let (a, deposit_a) = funding(&node, &miner, 1, &wallet, 2_000_000, refund_at).await;
    mine_bitcoin(&node, &miner, 1, 102).await;
    let (b, deposit_b) = funding(&node, &miner, 2, &wallet, 3_000_000, refund_at).await;
    mine_bitcoin(&node, &miner, 5, 107).await;

    // Both revealed on the real Bridge with their funding transactions, then old enough.
    reveal_deposit(&tbtc, &deposit_a).await;
    reveal_deposit(&tbtc, &deposit_b).await;
    let params = ProposalParams::default();
    let now = latest_timestamp(&url).await;
    ethereum_support::rpc(
        &url,
        "anvil_setNextBlockTimestamp",
        json!([now + params.deposit_min_age + 60]),
    )
    .await;
    ethereum_support::rpc(&url, "anvil_mine", json!(["0x1"])).await;

    let chain = tbtc.chain().await;
    let view = node.view().await;
    let key = |tx: &Transaction| DepositKey {
        funding_tx_hash: bridge_tx_hash(tx),
        output_index: 0,
    };
    let sweep = || async {
        let head = chain.latest_block().await.unwrap().number;
        let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
        assert_eq!(snapshot.deposits.len(), 2, "{snapshot:?}");
        choose_with_bitcoin(
            &chain,
            Some(&view),
            &[ActionType::DepositSweep],
            snapshot,
            &params,
            Weigh::Every,
            operators[0],
        )
        .await
    };

    let choice = sweep().await;
    let Proposal::DepositSweep { deposits, .. } = &choice.proposal else {
        panic!("a sweep: {choice:?}")
    };
    assert_eq!(deposits, &vec![key(&a)], "only the deposit six blocks deep");
    assert_eq!(
        choice.evaluations[0].validation,
        Some(Validation::accepted()),
        "the real validator takes it with the funding transaction read from Electrum"
    );

    // One more Bitcoin block: both are deep enough, and both are swept.
    mine_bitcoin(&node, &miner, 1, 108).await;
    let choice = sweep().await;
    let Proposal::DepositSweep { deposits, .. } = &choice.proposal else {
        panic!("a sweep: {choice:?}")
    };
    assert_eq!(deposits, &vec![key(&a), key(&b)]);
    assert_eq!(
        choice.evaluations[0].validation,
        Some(Validation::accepted())
    );
    let side = choice.bitcoin.clone().expect("the Bitcoin side");
    assert!(side
        .deposits
        .iter()
        .all(|d| d.included && d.confirmations >= 6));

    // The Electrum server gone mid-window: no deposit counts as confirmed, so the leader
    // proposes nothing it cannot check and says why.
    drop(node);
    let choice = sweep().await;
    assert_eq!(choice.proposal, Proposal::Noop);
    let why = choice.noop_reason().expect("a reason");
    assert!(
        why.contains("Bitcoin view: Bitcoin server unavailable"),
        "{why}"
    );
    assert!(choice
        .bitcoin
        .expect("the Bitcoin side")
        .deposits
        .iter()
        .all(|d| d.confirmations == 0 && !d.included));
    chain.shutdown().await;
    view.client().shutdown().await;
}

/// A wallet in MovingFunds past its safety margin, holding a real main UTXO of 15 BTC on
/// regtest, with three Live wallets registered after it; all four seat the same three
/// operators, whose keys are known.
struct MovingWallet {
    anvil: Anvil,
    tbtc: RealTbtc,
    keys: Vec<tbtc_coord::net::signing::OperatorKey>,
    operators: Vec<Address>,
    source: WalletPkh,
    /// The two newest Live wallets, ascending: where the funds must go.
    targets: Vec<WalletPkh>,
    bitcoin: BitcoinNode,
    balance: u64,
}

async fn moving_wallet() -> MovingWallet {
    use ethereum_support::moved_funds::fail_heartbeat;
    use ethereum_support::real::MainUtxo;
    use tbtc_coord::net::signing::OperatorKey;

    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let keys: Vec<OperatorKey> = (1..=3u8)
        .map(|i| OperatorKey::from_secret(&[0x70 + i; 32]).unwrap())
        .collect();
    let operators: Vec<Address> = keys.iter().map(OperatorKey::address).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    tbtc.allow_wallets_back_to_back().await;
    let source_key = tbtc.create_wallet(&[0x61; 32], &operators).await;
    let source = source_key.pkh();
    let mut registered: Vec<WalletPkh> = Vec::new();
    for secret in [0x62u8, 0x63, 0x64] {
        registered.push(tbtc.create_wallet(&[secret; 32], &operators).await.pkh());
    }
    let mut targets = registered[1..].to_vec();
    targets.sort_by_key(|w| w.0);

    // The main UTXO pays the wallet's P2WPKH: with the Bridge's 10 BTC maximum transfer,
    // two targets.
    let bitcoin = BitcoinNode::start().await;
    let miner = Key::new(0x42);
    mine_bitcoin(&bitcoin, &miner, 101, 101).await;
    let balance = Amount::from_sat(15 * 100_000_000);
    let [wallet_p2wpkh, _] = tbtc_coord::bitcoin::reading::wallet_scripts(&source);
    let main_tx = bitcoin
        .pay_from_coinbase(
            &miner,
            1,
            vec![TxOut {
                value: balance,
                script_pubkey: wallet_p2wpkh,
            }],
        )
        .await;
    mine_bitcoin(&bitcoin, &miner, 6, 107).await;
    let main = MainUtxo {
        tx_hash: bridge_tx_hash(&main_tx).0,
        output_index: 0,
        value: balance.to_sat(),
    };
    tbtc.set_main_utxo(&source, &main).await;
    // Its heartbeat fails: the real Bridge moves a wallet with funds to MovingFunds. A day
    // later it is past the safety margin.
    fail_heartbeat(&tbtc, &source_key).await;
    let now = latest_timestamp(&url).await;
    ethereum_support::rpc(
        &url,
        "anvil_setNextBlockTimestamp",
        json!([now + ProposalParams::default().moving_funds_safety_margin + 60]),
    )
    .await;
    ethereum_support::rpc(&url, "anvil_mine", json!(["0x1"])).await;
    // The leader pays for its commitment.
    for key in &keys {
        ethereum_support::rpc(
            &url,
            "anvil_setBalance",
            json!([key.address().to_checksum(), "0xde0b6b3a7640000"]),
        )
        .await;
    }
    MovingWallet {
        anvil,
        tbtc,
        keys,
        operators,
        source,
        targets,
        bitcoin,
        balance: balance.to_sat(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_commits_to_the_newest_live_wallets_then_moves_funds_the_validator_accepts() {
    use ethers_core::abi::Token;
    use tbtc_coord::engine::commitment::{submit_commitment, Committed};
    use tbtc_coord::engine::wallet_bitcoin::read_wallet_bitcoin;
    use tbtc_coord::protocol::commitment::commitment_hash;
    use tbtc_coord::protocol::generator::NO_COMMITMENT;

    let MovingWallet {
        anvil,
        tbtc,
        keys,
        operators,
        source,
        targets,
        bitcoin: node,
        balance,
    } = moving_wallet().await;
    let url = anvil.http_url();
    let params = ProposalParams::default();
    // The second operator leads.
    let leader = &keys[1];
    let chain = tbtc.chain().await;
    let view = node.view().await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&source, head).await.unwrap();
    assert_eq!(snapshot.moving_funds_commitment, None);

    // What a dry run shows: no candidate yet, and the commitment the leader would submit.
    let choice = choose_with_bitcoin(
        &chain,
        Some(&view),
        &[ActionType::MovingFunds],
        snapshot.clone(),
        &params,
        Weigh::Every,
        leader.address(),
    )
    .await;
    assert_eq!(choice.proposal, Proposal::Noop);
    let plan = choice.commitment.clone().expect("a commitment to submit");
    assert_eq!(
        plan.target_wallets, targets,
        "the two newest Live wallets, ascending"
    );
    assert_eq!(plan.wallet_member_index, 2, "the leader's seat, 1-based");
    let mut ids = Vec::new();
    for member in &operators {
        let id = tbtc
            .view(
                &tbtc.pool_abi,
                &tbtc.pool,
                "getOperatorID",
                &[Token::Address(member.0.into())],
            )
            .await
            .unwrap();
        ids.push(id[0].clone().into_uint().unwrap().as_u32());
    }
    assert_eq!(plan.wallet_members_ids, ids);
    assert_eq!(plan.main_utxo.value, balance);
    let reason = choice.evaluations[0].reason.clone().unwrap();
    assert!(
        reason.starts_with(NO_COMMITMENT) && reason.contains("the leader commits first"),
        "{reason}"
    );
    // With a heartbeat after it on the checklist, the heartbeat is the candidate until the
    // commitment is on chain, and the leader still commits first.
    let with_heartbeat = choose_with_bitcoin(
        &chain,
        Some(&view),
        &[ActionType::MovingFunds, ActionType::Heartbeat],
        snapshot.clone(),
        &params,
        Weigh::UntilChosen,
        leader.address(),
    )
    .await;
    assert!(
        matches!(with_heartbeat.proposal, Proposal::Heartbeat { .. }),
        "{:?}",
        with_heartbeat.proposal
    );
    assert_eq!(with_heartbeat.commitment, Some(plan.clone()));
    // What the console's wallet details show: the Bridge's main UTXO found on Bitcoin, mined
    // at 102 under a tip of 107.
    let reading = read_wallet_bitcoin(&chain, &view, source, head).await;
    assert_eq!(reading.error, None);
    assert!(reading.has_main_utxo);
    assert_eq!(reading.main_utxo.map(|u| u.value), Some(balance));
    assert_eq!(reading.confirmations, Some(6));
    assert_eq!(reading.synced, Some(true));

    // An observer signs nothing; a submission the Bridge would revert is refused with the
    // Bridge's reason before anything is signed.
    let refused = chain
        .submit_moving_funds_commitment(&plan)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("signs nothing"), "{refused}");
    chain.sign_with(leader.ethereum_signer().unwrap());
    let mut wrong_seat = plan.clone();
    wrong_seat.wallet_member_index = 1;
    let refused = chain
        .submit_moving_funds_commitment(&wrong_seat)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Caller is not a member of the source wallet"),
        "{refused}"
    );

    // The leader submits it and waits, block by block, until the Bridge holds it.
    let head = chain.latest_block().await.unwrap().number;
    let committed = submit_commitment(&chain, &plan, head, |block| {
        let url = url.clone();
        async move {
            ethereum_support::mine_to(&url, block).await;
            Some(block)
        }
    })
    .await;
    let Committed::Mined { snapshot, .. } = committed else {
        panic!("the commitment was not mined: {committed:?}")
    };
    assert_eq!(snapshot.moving_funds_targets, targets);
    assert_eq!(
        snapshot.moving_funds_commitment,
        Some(commitment_hash(&targets)),
        "the Bridge's hash of the targets is ours"
    );

    // Generated again, MovingFunds goes to the committed targets and the validator agrees.
    let choice = choose_with_bitcoin(
        &chain,
        Some(&view),
        &[ActionType::MovingFunds],
        *snapshot,
        &params,
        Weigh::Every,
        leader.address(),
    )
    .await;
    let Proposal::MovingFunds { target_wallets, .. } = &choice.proposal else {
        panic!("moving funds: {choice:?}")
    };
    assert_eq!(target_wallets, &targets);
    assert_eq!(choice.commitment, None);
    assert_eq!(
        choice.evaluations[0].validation,
        Some(Validation::accepted()),
        "the real validator takes it with the main UTXO read from Electrum"
    );
    let side = choice.bitcoin.expect("the Bitcoin side");
    assert_eq!(side.synced, Some(true));
    assert_eq!(side.main_utxo.map(|u| u.value), Some(balance));
    chain.shutdown().await;
    view.client().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leading_node_commits_on_chain_then_proposes_moving_funds_in_the_same_window() {
    use std::sync::{Arc, Mutex};
    use tbtc_coord::engine::{dry_run, DryRunWindow, Event, EventBus, Identity, Node, NodeConfig};
    use tbtc_coord::net::local::LocalHub;
    use tbtc_coord::protocol::commitment::commitment_hash;
    use tbtc_coord::protocol::{CoordinationWindow, Role};
    use tbtc_coord::store::Store;
    use tokio_util::sync::CancellationToken;

    let m = moving_wallet().await;
    let url = m.anvil.http_url();
    // Moving funds is on every fourth window's checklist: 3600 is one.
    let window = CoordinationWindow::new(3600);
    ethereum_support::mine_to(&url, window.safe_block() + 1).await;
    let chain = m.tbtc.chain().await;
    let view = m.bitcoin.view().await;
    let config = NodeConfig {
        bitcoin: Some(Arc::new(view.clone())),
        ..NodeConfig::default()
    };

    // An observer's dry run names the window's leader and the commitment it would submit.
    let observer = Address([0x99; 20]);
    let record = dry_run(
        &chain,
        observer,
        &config,
        0,
        m.source,
        DryRunWindow::At(3600),
    )
    .await
    .unwrap();
    assert!(
        record.checklist.contains(&ActionType::MovingFunds),
        "{record:?}"
    );
    // Until the commitment is on chain, the candidate is a later action's, if any.
    assert!(
        matches!(
            record.proposal,
            Some(Proposal::Noop | Proposal::Heartbeat { .. })
        ),
        "{:?}",
        record.proposal
    );
    let planned = record
        .commitment
        .clone()
        .expect("the commitment the leader submits");
    assert_eq!(planned.target_wallets, m.targets);
    let leader = m
        .keys
        .iter()
        .find(|k| k.address() == record.leader)
        .expect("the leader is one of the wallet's operators")
        .clone();
    let seat = m
        .operators
        .iter()
        .position(|o| *o == leader.address())
        .unwrap();
    assert_eq!(planned.wallet_member_index as usize, seat + 1);

    // The leader's node, signing with its key.
    chain.sign_with(leader.ethereum_signer().unwrap());
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
        config,
        Identity::signer(leader.clone()),
        Arc::new(chain.clone()),
        Arc::new(LocalHub::new(64).endpoint(Some(leader.clone()))),
        Arc::new(Store::open_in_memory().unwrap()),
        bus,
        CancellationToken::new(),
    )
    .await
    .expect("node starts");

    // Blocks one at a time, each seen by the node, until its result for the wallet is in.
    let source = m.source;
    let result = |events: &Mutex<Vec<Event>>| {
        events.lock().unwrap().iter().find_map(|e| match e {
            Event::CoordinationResult(r)
                if r.wallet == source && r.coordination_block == window.coordination_block =>
            {
                Some(r.clone())
            }
            _ => None,
        })
    };
    let mut head = ethereum_support::block_number(&url).await;
    let result = loop {
        if let Some(r) = result(&events) {
            break r;
        }
        assert!(
            head < window.coordination_block + 300,
            "no result for the moving wallet by block {head}"
        );
        ethereum_support::mine(&url, 1, 12).await;
        head = ethereum_support::block_number(&url).await;
        ethereum_support::wait_for(&format!("the node to see block {head}"), || async {
            handle.head_number() >= head
        })
        .await;
    };
    assert_eq!(result.role, Role::Leader);
    // At the window's start the node read the wallet on both chains, for its console.
    let reading = events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            Event::WalletBitcoin(b) if b.wallet == source => Some(b.clone()),
            _ => None,
        })
        .expect("the wallet's Bitcoin reading");
    assert_eq!(reading.main_utxo.map(|u| u.value), Some(m.balance));
    assert_eq!(reading.synced, Some(true));
    let Proposal::MovingFunds { target_wallets, .. } = &result.proposal else {
        panic!("the leader proposed {:?}", result.proposal)
    };
    assert_eq!(target_wallets, &m.targets);
    assert!(result.refusals.is_empty(), "{:?}", result.refusals);
    let head = ethereum_support::block_number(&url).await;
    let snapshot = chain.wallet_snapshot(&source, head).await.unwrap();
    assert_eq!(
        snapshot.moving_funds_commitment,
        Some(commitment_hash(&m.targets))
    );
    handle.shutdown().await;
    chain.shutdown().await;
    view.client().shutdown().await;
}
