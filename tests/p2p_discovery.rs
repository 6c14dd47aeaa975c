//! Real `tbtc-coord` processes on anvil with the real tBTC v2 contracts deployed, and no
//! wallets file: each node discovers its wallets from the contracts (the group key from the
//! real DKG's result, the seats from the sortition pool), which gives it the wallet's topic
//! and its firewall's members; the firewall's on-chain rule (the real WalletRegistry, and
//! TokenStaking's fixture) lets a staked operator without a seat in and keeps an unstaked key
//! out. The test mines every
//! block and waits on what the processes print; no sleep stands in for progress.

mod bitcoin_support;
mod ethereum_support;
mod loopback_support;
mod p2p_support;

use serde_json::Value;
use tbtc_coord::net::p2p::PeerEvent;
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::{Address, WalletPublicKey};

use p2p_support::*;

const CB: u64 = 900;

/// One wallet over three operators, each holding a seat; operator 2 holds two (the seat
/// order is the DKG result's, kept by discovery).
fn seats() -> Vec<Vec<usize>> {
    vec![vec![2, 0, 1, 2]]
}

/// Starts every node and waits until each has announced itself.
async fn start(c: &mut Cluster) {
    c.start_all();
    let all = c.running();
    c.wait("every node to start", |c| {
        all.iter()
            .all(|i| !c.events_of(*i, "node_started").is_empty())
    })
    .await;
}

/// The `peer connected` line of node `i` for `peer`, if it logged one.
fn connected_line(c: &Cluster, i: usize, peer: &libp2p::PeerId) -> Option<String> {
    c.log(i).into_iter().find(|l| {
        l.contains("peer connected") && field(l, "peer") == Some(peer.to_string().as_str())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_discover_their_wallet_from_the_contracts_and_complete_an_honest_window() {
    let mut c = Cluster::on_contracts(3, &seats()).await;
    assert!(
        !c.wallets_file.exists(),
        "the nodes must discover, not read"
    );
    // Starts the nodes, waits until they are connected and forecast window 900's leader.
    let leaders = prepare(&mut c, CB).await;
    let leader = leaders[0];
    let all = c.running();
    let wallet = &c.wallets[0];
    let operators: Vec<String> = wallet
        .seats
        .iter()
        .map(|i| c.ops[*i].address.to_checksum())
        .collect();

    // Discovery found the wallet, its group key and its seats in order, at every node.
    for i in &all {
        let started = c.events_of(*i, "node_started").remove(0);
        let wallets = started["wallets"].as_array().expect("wallets");
        assert_eq!(wallets.len(), 1, "node {i}: {started}");
        let w = &wallets[0];
        assert_eq!(w["wallet"], wallet.pkh.to_hex().as_str(), "node {i}: {w}");
        let key: WalletPublicKey = w["public_key"]
            .as_str()
            .unwrap_or_else(|| panic!("node {i} discovered no public key: {w}"))
            .parse()
            .expect("a public key");
        assert_eq!(key, wallet.key, "node {i}");
        let found: Vec<String> = w["operators"]
            .as_array()
            .expect("operators")
            .iter()
            .map(|o| {
                o.as_str()
                    .expect("an address")
                    .parse::<Address>()
                    .expect("an address")
                    .to_checksum()
            })
            .collect();
        assert_eq!(found, operators, "node {i}");
    }

    // The members dialled their bootstrap peers; node 2 bootstraps to 0 and 1 but is not
    // theirs, so they admitted it as a member of the discovered wallet, not from their
    // allowlists.
    let member = format!("holds a seat in wallet 0x{}", wallet.pkh);
    for b in [0, 1] {
        let line = connected_line(&c, b, &c.ops[2].peer_id).expect("a connected line");
        assert!(line.contains(&member), "node {b}: {line}");
    }

    run_window(&c, CB, &all).await;

    let pkh = c.wallets[0].pkh.to_hex();
    let lead = result_for(&c.results(leader, CB), &pkh).clone();
    assert_eq!(lead["role"], "leader", "{lead}");
    for i in &all {
        let r = result_for(&c.results(*i, CB), &pkh).clone();
        assert_eq!(
            r["leader"].as_str(),
            Some(c.ops[leader].address.to_checksum().as_str()),
            "node {i}: {r}"
        );
        if *i != leader {
            // It heard the leader, connected to both other members.
            assert_eq!(r["role"], "follower", "node {i}: {r}");
            assert_eq!(r["unheard"], false, "node {i}: {r}");
            assert_eq!(r["members_connected"], 2, "node {i}: {r}");
        }
        assert_eq!(r["leader_member_index"], lead["leader_member_index"]);
        assert_eq!(r["seed"], lead["seed"], "node {i}");
        assert_eq!(r["checklist"], lead["checklist"], "node {i}");
        // A follower heard the leader on the topic named after the discovered key, and
        // accepted its proposal.
        assert_eq!(r["action"], lead["action"], "node {i}: {r}");
        assert_eq!(r["proposal"], lead["proposal"], "node {i}: {r}");
        assert_eq!(r["faults"], serde_json::json!([]), "node {i}: {r}");
        assert!(faults_in(&c, *i, CB).is_empty(), "node {i}");
        assert!(
            c.events_of(*i, "fault").is_empty(),
            "node {i} announced a fault"
        );
        assert!(c.history_faults(*i).is_empty(), "node {i} recorded a fault");
        let completed: Value = c
            .events_of(*i, "window_completed")
            .into_iter()
            .find(|e| e["coordination_block"] == CB)
            .expect("completed");
        assert_eq!(completed["faults"], 0, "node {i}");
        assert_eq!(completed["results"], 1, "node {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_admits_a_staked_operator_without_a_seat_and_refuses_the_unstaked() {
    let mut c = Cluster::on_contracts(3, &seats()).await;
    start(&mut c).await;
    c.wait_connected().await;
    let on_chain = c.contracts.as_ref().expect("contracts");
    let (tbtc, staking) = (&on_chain.tbtc, &on_chain.staking);

    // A staked operator: its staking provider registered it in the WalletRegistry, and
    // TokenStaking names that stake's owner. It holds no seat in any wallet.
    let staked = OperatorKey::generate();
    let provider = Address([0x5B; 20]);
    tbtc.register_operator(&provider, &staked.address()).await;
    staking
        .set_stake_owner(&provider, &Address([0x0E; 20]))
        .await;
    // Registered for a stake that has no owner: not staked.
    let ownerless = OperatorKey::generate();
    tbtc.register_operator(&Address([0x5C; 20]), &ownerless.address())
        .await;
    // Neither a member nor registered.
    let stranger = OperatorKey::generate();
    for k in [&staked, &ownerless, &stranger] {
        assert!(
            c.wallets[0]
                .seats
                .iter()
                .all(|i| c.ops[*i].address != k.address()),
            "a test key holds a seat"
        );
    }

    let node = c.ops[0].peer_id;
    let staked_id = staked.peer_id();
    let mut staked_peer = Peer::start(staked, vec![c.ops[0].multiaddr()]).await;
    c.wait("node 0 to admit the staked operator", |c| {
        connected_line(c, 0, &staked_id).is_some()
    })
    .await;
    let line = connected_line(&c, 0, &staked_id).expect("a connected line");
    assert!(
        line.contains("admitted=a staked operator on chain"),
        "admitted for another reason: {line}"
    );
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let event = tokio::time::timeout_at(deadline, staked_peer.events.recv())
            .await
            .expect("hang guard: the staked peer never saw node 0 connected")
            .expect("peer events");
        if matches!(event, PeerEvent::Connected { peer, .. } if peer == node) {
            break;
        }
    }

    let refused = |id: libp2p::PeerId, reason: &'static str| {
        move |c: &Cluster| {
            c.log(0).iter().any(|l| {
                l.contains("firewall refused a peer")
                    && field(l, "peer") == Some(id.to_string().as_str())
                    && l.contains(reason)
            })
        }
    };
    let mut shut_out = Vec::new();
    for key in [ownerless, stranger] {
        let id = key.peer_id();
        let peer = Peer::start(key, vec![c.ops[0].multiaddr()]).await;
        c.wait(
            &format!("node 0 to refuse {id}"),
            refused(id, "reason=not a staked operator on chain"),
        )
        .await;
        shut_out.push((id, peer));
    }
    for (id, peer) in &mut shut_out {
        assert!(connected_line(&c, 0, id).is_none(), "{id} got in");
        assert!(!c.connected(0).contains(id));
        assert!(peer.net.connected_peers().is_empty(), "{id} got in");
        while let Ok(event) = peer.events.try_recv() {
            assert!(
                !matches!(
                    event,
                    PeerEvent::Connected { .. } | PeerEvent::Joined { .. }
                ),
                "{id} got in: {event:?}"
            );
        }
    }
    // The staked operator is still in, and so are the members.
    let connected = c.connected(0);
    assert!(connected.contains(&staked_id));
    assert!(connected.contains(&c.ops[1].peer_id));
    assert!(connected.contains(&c.ops[2].peer_id));
}

/// Evidence checked against the chain: a leader frozen through a window is blamed for
/// idleness by the other members, and `verify-evidence --rpc-url` takes the wallet's seats
/// from the contracts (as the follower's discovery does) and passes the export. The same
/// export with the window moved to one the chain says another operator led fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idleness_evidence_verifies_against_the_chain() {
    let mut c = Cluster::on_contracts(3, &seats()).await;
    let leaders = prepare(&mut c, CB).await;
    let frozen = leaders[0];
    c.signal(frozen, libc::SIGSTOP);
    let pace: Vec<usize> = c.running().into_iter().filter(|i| *i != frozen).collect();
    run_window(&c, CB, &pace).await;
    c.signal(frozen, libc::SIGCONT);
    let follower = pace[0];
    assert_eq!(
        c.history_faults(follower).len(),
        1,
        "one idleness against the frozen leader"
    );

    let (export, entries) = c.evidence_export(follower);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["fault"], "LeaderIdleness");
    assert_eq!(entries[0]["culprit"], c.ops[frozen].address.to_checksum());

    let tbtc = &c.contracts.as_ref().expect("the contracts").tbtc;
    let (bridge, registry, pool) = (
        tbtc.bridge.to_checksum(),
        tbtc.registry.to_checksum(),
        tbtc.pool.to_checksum(),
    );
    let operator = c.ops[follower].address.to_checksum();
    // A read-only command: the data directory it is given stays as it was (absent).
    let untouched = c.dir.path().join("untouched");
    let verify = |file: &std::path::Path| {
        tbtc_coord([
            "verify-evidence".as_ref(),
            file.as_os_str(),
            "--data-dir".as_ref(),
            untouched.as_os_str(),
            "--rpc-url".as_ref(),
            c.url.as_ref(),
            "--bridge".as_ref(),
            bridge.as_ref(),
            "--wallet-registry".as_ref(),
            registry.as_ref(),
            "--sortition-pool".as_ref(),
            pool.as_ref(),
            "--operator".as_ref(),
            operator.as_ref(),
        ])
    };
    let good = c.dir.path().join("evidence.json");
    std::fs::write(&good, &export).expect("writing the export");
    let passed = verify(&good);
    let stdout = String::from_utf8_lossy(&passed.stdout).into_owned();
    assert_eq!(passed.status.code(), Some(0), "{passed:?}");
    assert_eq!(stdout.matches("PASS ").count(), 1, "{stdout}");
    assert!(
        !untouched.exists(),
        "verify-evidence created its data directory"
    );

    // The chain's seats decide, not the export: blaming another member fails.
    let innocent = (0..c.ops.len())
        .find(|i| *i != frozen)
        .expect("another member");
    let mut blamed = entries.clone();
    blamed[0]["culprit"] = Value::from(c.ops[innocent].address.to_checksum());
    let bad = c.dir.path().join("blamed.json");
    std::fs::write(&bad, serde_json::to_vec(&blamed).expect("JSON")).expect("writing");
    let failed = verify(&bad);
    let stdout = String::from_utf8_lossy(&failed.stdout).into_owned();
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert!(stdout.contains("FAIL "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_process_passes_over_a_refused_redemption_and_its_followers_accept_what_it_sends()
{
    use ethereum_support::length_prefixed;
    use ethereum_support::real::{MainUtxo, RealTbtc};
    let mut c = Cluster::on_contracts(3, &seats()).await;
    let wallet = c.wallets[0].pkh;
    let addresses: Vec<Address> = c.ops.iter().map(|o| o.address).collect();
    // A redemption the wallet's own Bridge holds pending, old enough by the window.
    let on_chain = c.contracts.as_mut().expect("on contracts");
    let utxo = MainUtxo {
        tx_hash: [0x35; 32],
        output_index: 0,
        value: 10 * 100_000_000,
    };
    on_chain.tbtc.set_main_utxo(&wallet, &utxo).await;
    let script = length_prefixed(&[vec![0x00, 0x14], vec![0x6C; 20]].concat());
    on_chain
        .tbtc
        .request_redemption(&wallet, &utxo, &Address([0x7B; 20]), &script, 10_000_000)
        .await;
    // The nodes check proposals with a real validator of another deployment's Bridge, which
    // holds no such wallet: it refuses the redemption and takes a well-formed heartbeat.
    let other = RealTbtc::deploy(&c.url, &addresses).await;
    on_chain.validator = other.validator;

    let leaders = prepare(&mut c, CB).await;
    let leader = leaders[0];
    let all = c.running();
    run_window(&c, CB, &all).await;

    let pkh = wallet.to_hex();
    let lead = result_for(&c.results(leader, CB), &pkh).clone();
    assert_eq!(lead["role"], "leader", "{lead}");
    assert_eq!(lead["checklist"][0], "Redemption", "{lead}");
    let refusals = lead["refusals"].as_array().expect("refusals").clone();
    assert_eq!(refusals.len(), 1, "{lead}");
    assert_eq!(refusals[0]["action"], "Redemption", "{lead}");
    assert!(
        refusals[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("refused: ")),
        "{lead}"
    );
    assert_ne!(lead["action"], "Redemption", "{lead}");
    assert!(
        c.log(leader)
            .iter()
            .any(|l| l.contains("candidate not sent")),
        "the refusal is logged"
    );
    for i in &all {
        let r = result_for(&c.results(*i, CB), &pkh).clone();
        assert_eq!(r["proposal"], lead["proposal"], "node {i}: {r}");
        assert_eq!(r["faults"], serde_json::json!([]), "node {i}: {r}");
        assert!(c.history_faults(*i).is_empty(), "node {i} recorded a fault");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_on_anvil_and_regtest_ends_with_a_sweep_every_follower_accepts() {
    use bitcoin_support::{deposit_output, BitcoinNode, Key};
    use ethereum_support::moved_funds::{depositor, latest_timestamp, reveal_deposit, Deposit};
    use tbtc_coord::bitcoin::reading::bridge_tx_hash;
    use tbtc_coord::protocol::proposal::DepositReveal;

    let mut c = Cluster::on_contracts(3, &seats()).await;
    let wallet = c.wallets[0].pkh;
    // A deposit to the wallet, signed and mined on regtest (eight blocks deep by the window)
    // and revealed on the real Bridge.
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x51);
    node.mine(101, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(101).await;
    let refund_at = u32::try_from(latest_timestamp(&c.url).await + 30 * 86_400).unwrap();
    let reveal = DepositReveal {
        blinding_factor: [0x19; 8],
        refund_pubkey_hash: [0x3E; 20],
        refund_locktime: refund_at.to_le_bytes(),
    };
    let output = deposit_output(&depositor(), &wallet, &reveal, 5_000_000);
    let tx = node.pay_from_coinbase(&miner, 1, vec![output]).await;
    node.mine(8, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(109).await;
    let on_chain = c.contracts.as_mut().expect("on contracts");
    reveal_deposit(
        &on_chain.tbtc,
        &Deposit::of_transaction(&tx, 0, &wallet, &reveal),
    )
    .await;
    on_chain.electrum = Some(format!("tcp://127.0.0.1:{}", node.electrum_port));

    // The blocks to the window are 12 s apart: the reveal is hours old by then.
    let leaders = prepare(&mut c, CB).await;
    let leader = leaders[0];
    let all = c.running();
    run_window(&c, CB, &all).await;

    let pkh = wallet.to_hex();
    let lead = result_for(&c.results(leader, CB), &pkh).clone();
    assert_eq!(lead["role"], "leader", "{lead}");
    assert_eq!(lead["action"], "DepositSweep", "{lead}");
    assert_eq!(
        lead["proposal"]["deposits"][0]["funding_tx_hash"],
        bridge_tx_hash(&tx).to_hex().as_str(),
        "{lead}"
    );
    assert!(
        lead.get("refusals").is_none(),
        "the validator took it: {lead}"
    );
    for i in &all {
        let r = result_for(&c.results(*i, CB), &pkh).clone();
        assert_eq!(r["proposal"], lead["proposal"], "node {i}: {r}");
        assert_eq!(r["faults"], serde_json::json!([]), "node {i}: {r}");
    }
}
