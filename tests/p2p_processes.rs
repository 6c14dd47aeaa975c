//! Real `tbtc-coord` processes on a real chain (anvil, no contracts), joined by keep's
//! libp2p protocol on loopback: an honest window, a frozen leader, a rogue peer that
//! impersonates and proposes what the checklist lacks, a stranger at the firewall, junk on a
//! wallet topic, and a follower killed and restarted mid-window. The test mines every block
//! and waits on what the processes print; no sleep stands in for progress.

mod ethereum_support;
mod loopback_support;
mod p2p_support;

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;
use tbtc_coord::protocol::{Address, CoordinationMessage, FaultType, Proposal, WalletPublicKey};

use p2p_support::*;

/// Three wallets over five operators, 5, 7 and 9 seats, some operators holding several.
fn spread_seats() -> Vec<Vec<usize>> {
    vec![
        vec![0, 1, 2, 3, 4],
        vec![3, 0, 0, 1, 2, 4, 4],
        vec![1, 2, 2, 3, 3, 4, 0, 0, 1],
    ]
}

const CB: u64 = 900;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_window_five_processes_agree_on_leaders_and_proposals() {
    let mut c = Cluster::new(5, &spread_seats()).await;
    let leaders = prepare(&mut c, CB).await;
    let all = c.running();
    run_window(&c, CB, &all).await;

    for (w, wallet) in c.wallets.iter().enumerate() {
        let pkh = wallet.pkh.to_hex();
        let leader = &c.ops[leaders[w]].address;
        let members: HashSet<usize> = wallet.seats.iter().copied().collect();
        let leader_result = result_for(&c.results(leaders[w], CB), &pkh).clone();
        assert_eq!(leader_result["role"], "leader", "{leader_result}");
        for i in &members {
            let r = result_for(&c.results(*i, CB), &pkh).clone();
            assert_eq!(
                r["leader"].as_str(),
                Some(leader.to_checksum().as_str()),
                "node {i}, wallet {w}: {r}"
            );
            assert_eq!(
                r["leader_member_index"],
                leader_result["leader_member_index"]
            );
            assert_eq!(r["seed"], leader_result["seed"]);
            assert_eq!(r["checklist"], leader_result["checklist"]);
            // A follower accepted the leader's proposal: the same action and payload.
            assert_eq!(r["action"], leader_result["action"], "node {i}: {r}");
            assert_eq!(r["proposal"], leader_result["proposal"], "node {i}: {r}");
            assert_eq!(r["faults"], serde_json::json!([]), "node {i}: {r}");
        }
    }
    for i in &all {
        assert!(
            c.events_of(*i, "fault").is_empty(),
            "node {i} announced a fault"
        );
        assert!(c.history_faults(*i).is_empty(), "node {i} recorded a fault");
        let windows = c.history_windows(*i);
        assert!(
            windows
                .iter()
                .any(|w| w.coordination_block == CB && format!("{:?}", w.status) == "Completed"),
            "node {i}: {windows:?}"
        );
        let completed = c
            .events_of(*i, "window_completed")
            .into_iter()
            .find(|e| e["coordination_block"] == CB)
            .expect("completed");
        assert_eq!(completed["faults"], 0);
        assert_eq!(completed["results"], c.wallets_of(*i).len());
    }
}

/// The (wallet, culprit, fault) triples a set of wallets' faults should be, sorted as
/// [`faults_in`] sorts.
fn expected(c: &Cluster, faults: &[(usize, usize, FaultType)]) -> Vec<(String, Address, String)> {
    let mut out: Vec<(String, Address, String)> = faults
        .iter()
        .map(|(w, culprit, fault)| {
            (
                c.wallets[*w].pkh.to_hex(),
                c.ops[*culprit].address,
                format!("{fault:?}"),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1.to_checksum(), &a.2).cmp(&(&b.0, b.1.to_checksum(), &b.2)));
    out
}

/// The same, from node `i`'s SQLite history for window `cb`.
fn history_faults_in(c: &Cluster, i: usize, cb: u64) -> Vec<(String, Address, String)> {
    let mut out: Vec<(String, Address, String)> = c
        .history_faults(i)
        .into_iter()
        .filter(|f| f.coordination_block == cb)
        .map(|f| (f.wallet.to_hex(), f.culprit, format!("{:?}", f.fault)))
        .collect();
    out.sort_by(|a, b| (&a.0, a.1.to_checksum(), &a.2).cmp(&(&b.0, b.1.to_checksum(), &b.2)));
    out
}

/// An operator that leads no wallet in the forecast, preferring one nobody bootstraps to.
fn non_leader(c: &Cluster, leaders: &[usize], except: &[usize]) -> usize {
    let candidates: Vec<usize> = (0..c.ops.len())
        .filter(|i| !leaders.contains(i) && !except.contains(i))
        .collect();
    *candidates
        .iter()
        .find(|i| !c.bootstrap.contains(i))
        .or(candidates.first())
        .expect("an operator that leads nothing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_leader_is_blamed_for_idleness_by_every_running_member_and_nothing_else() {
    let mut c = Cluster::new(5, &spread_seats()).await;
    let leaders = prepare(&mut c, CB).await;
    let frozen = leaders[0];
    let led: Vec<usize> = (0..c.wallets.len())
        .filter(|w| leaders[*w] == frozen)
        .collect();
    c.signal(frozen, libc::SIGSTOP);
    let pace: Vec<usize> = c.running().into_iter().filter(|i| *i != frozen).collect();
    run_window(&c, CB, &pace).await;
    c.signal(frozen, libc::SIGCONT);
    let head = c.head().await;
    c.wait("the frozen node to catch up", |c| c.head_of(frozen) >= head)
        .await;

    for i in &pace {
        let want: Vec<(usize, usize, FaultType)> = led
            .iter()
            .filter(|w| c.wallets[**w].seats.contains(i))
            .map(|w| (*w, frozen, FaultType::LeaderIdleness))
            .collect();
        assert!(!want.is_empty());
        assert_eq!(faults_in(&c, *i, CB), expected(&c, &want), "node {i}");
        assert_eq!(
            history_faults_in(&c, *i, CB),
            expected(&c, &want),
            "node {i}"
        );
        // The wallets it does not lead went as usual.
        for w in (0..c.wallets.len()).filter(|w| !led.contains(w)) {
            let r = result_for(&c.results(*i, CB), &c.wallets[w].pkh.to_hex()).clone();
            assert_eq!(r["faults"], serde_json::json!([]), "node {i}: {r}");
        }
    }
    // Frozen through the window, the leader itself saw nothing of it and blames no one.
    assert!(faults_in(&c, frozen, CB).is_empty());
    assert!(history_faults_in(&c, frozen, CB).is_empty());

    // Each follower's idleness faults export with their context, which verifies against the
    // wallets file: the culprit is the window's leader and members were connected.
    for i in &pace {
        let (export, entries) = c.evidence_export(*i);
        assert_eq!(
            entries.len(),
            history_faults_in(&c, *i, CB).len(),
            "node {i}"
        );
        for e in &entries {
            assert_eq!(e["fault"], "LeaderIdleness", "{e}");
            assert_eq!(e["culprit"], c.ops[frozen].address.to_checksum(), "{e}");
            let context = &e["context"];
            assert_eq!(context["listened_until"], CB + 80, "{e}");
            assert!(context["members_connected"].as_u64() >= Some(1), "{e}");
            // Nobody but the frozen leader could have proposed, so nothing was heard.
            assert_eq!(context["heard"], serde_json::json!([]), "{e}");
        }
        let file = c.dir.path().join(format!("idleness-{i}.json"));
        std::fs::write(&file, &export).expect("writing the export");
        // The seats from the wallets file; the safe block hashes from the chain.
        let operator = c.ops[*i].address.to_checksum();
        let verified = tbtc_coord([
            "verify-evidence".as_ref(),
            file.as_os_str(),
            "--wallets".as_ref(),
            c.wallets_file.as_os_str(),
            "--rpc-url".as_ref(),
            c.url.as_ref(),
            "--operator".as_ref(),
            operator.as_ref(),
        ]);
        assert_eq!(verified.status.code(), Some(0), "node {i}: {verified:?}");
        let stdout = String::from_utf8_lossy(&verified.stdout);
        assert_eq!(stdout.matches("PASS ").count(), entries.len(), "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rogue_peer_impersonates_and_proposes_off_the_checklist() {
    // One wallet: the leader's key is taken over by the test, and no other wallet needs it.
    let mut c = Cluster::new(5, &[vec![0, 1, 2, 3, 4, 0, 2]]).await;
    let leaders = prepare(&mut c, CB).await;
    let leader = leaders[0];
    let impostor = non_leader(&c, &leaders, &[]);
    // Both nodes stop before the window (nothing is recorded against a member that is
    // absent from a window it does not lead); their keys now act through the test's peers.
    c.kill(leader);
    c.kill(impostor);
    let followers = c.running();
    let dial: Vec<_> = followers.iter().map(|i| c.ops[*i].multiaddr()).collect();
    let peers: Vec<_> = followers.iter().map(|i| c.ops[*i].peer_id).collect();
    let topic = c.wallets[0].topic();
    let mut rogue_leader =
        Peer::start_on(c.ops[leader].port, c.ops[leader].key(), dial.clone()).await;
    let mut rogue_member = Peer::start_on(c.ops[impostor].port, c.ops[impostor].key(), dial).await;
    rogue_leader.join(&topic).await;
    rogue_member.join(&topic).await;
    rogue_leader.wait_joined(&topic, &peers).await;
    rogue_member.wait_joined(&topic, &peers).await;

    c.step_to(CB, &followers, |_| false).await;
    c.wait("the window to start at every follower", |c| {
        followers.iter().all(|i| {
            c.events_of(*i, "window_started")
                .iter()
                .any(|e| e["coordination_block"] == CB)
        })
    })
    .await;
    let wallet = c.wallets[0].pkh;
    let message = |seat: u8, proposal: Proposal| CoordinationMessage {
        sender_member_index: seat,
        coordination_block: CB,
        wallet,
        proposal,
    };
    // A member's valid message from its own seat, which is not the leader's.
    let impersonation = message(c.lowest_seat(0, impostor), Proposal::Noop);
    rogue_member
        .publish(&topic, rogue_member.envelope(&impersonation, 1))
        .await;
    // The leader proposing MovingFunds, which window 900's checklist (index 1) lacks.
    let mistake = message(
        c.lowest_seat(0, leader),
        Proposal::MovingFunds {
            target_wallets: vec![wallet],
            moving_funds_tx_fee: 1_000,
        },
    );
    rogue_leader
        .publish(&topic, rogue_leader.envelope(&mistake, 1))
        .await;
    let culprits = [c.ops[impostor].address, c.ops[leader].address];
    c.wait("every follower to log both faults", |c| {
        followers.iter().all(|i| {
            let log = c.log(*i);
            culprits.iter().all(|a| {
                log.iter()
                    .any(|l| l.contains(" fault=") && field(l, "culprit") == Some(&a.to_checksum()))
            })
        })
    })
    .await;
    // Then an acceptable proposal from the leader's seat ends listening: nothing more is
    // blamed, and the faults already seen stay in the result.
    rogue_leader
        .publish(
            &topic,
            rogue_leader.envelope(&message(c.lowest_seat(0, leader), Proposal::Noop), 2),
        )
        .await;
    run_window(&c, CB, &followers).await;

    let want = expected(
        &c,
        &[
            (0, impostor, FaultType::LeaderImpersonation),
            (0, leader, FaultType::LeaderMistake),
        ],
    );
    for i in &followers {
        let r = result_for(&c.results(*i, CB), &wallet.to_hex()).clone();
        assert_eq!(r["role"], "follower");
        assert_eq!(
            r["leader"].as_str(),
            Some(culprits[1].to_checksum().as_str())
        );
        assert!(
            !r["checklist"]
                .as_array()
                .expect("checklist")
                .contains(&Value::from("MovingFunds")),
            "{r}"
        );
        assert_eq!(r["action"], "Noop", "node {i}: {r}");
        assert_eq!(faults_in(&c, *i, CB), want, "node {i}");
        assert_eq!(history_faults_in(&c, *i, CB), want, "node {i}");
    }
    evidence_from_the_run_verifies_and_tampering_fails(&c, followers[0], impostor);
}

/// Fault evidence (issue 9 §1): a follower's export of the rogue peer's faults verifies
/// against the wallets file and against the follower's own history; one flipped byte, a wrong
/// claimed seat and a swapped wallet each fail, naming why.
fn evidence_from_the_run_verifies_and_tampering_fails(
    c: &Cluster,
    follower: usize,
    impostor: usize,
) {
    let data_dir = c.ops[follower].data_dir.clone();
    let chain_id = CHAIN_ID.to_string();
    let (_, entries) = c.evidence_export(follower);
    let kinds: HashSet<&str> = entries.iter().filter_map(|e| e["fault"].as_str()).collect();
    assert_eq!(
        kinds,
        HashSet::from(["LeaderImpersonation", "LeaderMistake"]),
        "{entries:?}"
    );
    let impersonation = entries
        .iter()
        .position(|e| e["fault"] == "LeaderImpersonation")
        .expect("the impersonation");
    assert_eq!(
        entries[impersonation]["claimed"]["seat"],
        u64::from(c.lowest_seat(0, impostor))
    );
    assert_eq!(
        entries[impersonation]["claimed"]["author_peer_id"],
        c.ops[impostor].peer_id.to_base58()
    );

    let write = |name: &str, value: &Value| {
        let path = c.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(value).expect("JSON")).expect("writing");
        path
    };
    let verify = |file: &Path, seats: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["verify-evidence".as_ref(), file.as_os_str()];
        args.extend_from_slice(seats);
        tbtc_coord(args)
    };
    // The seats from the wallets file; the safe block hashes from the chain.
    let operator = c.ops[0].address.to_checksum();
    let wallets = [
        "--wallets".as_ref(),
        c.wallets_file.as_os_str(),
        "--rpc-url".as_ref(),
        c.url.as_ref(),
        "--operator".as_ref(),
        operator.as_ref(),
    ];
    let stdout = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();

    let good = write("evidence.json", &Value::from(entries.clone()));
    let passed = verify(&good, &wallets);
    assert_eq!(passed.status.code(), Some(0), "{passed:?}");
    assert_eq!(stdout(&passed).matches("PASS ").count(), 2, "{passed:?}");
    // The node's own history as the seats source.
    let own = verify(
        &good,
        &[
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--chain-id".as_ref(),
            chain_id.as_ref(),
        ],
    );
    assert_eq!(own.status.code(), Some(0), "{own:?}");

    // One flipped byte of the impersonation's message (in its signature).
    let mut flipped = entries.clone();
    let mut bytes =
        hex::decode(flipped[impersonation]["message"].as_str().expect("hex")).expect("hex message");
    let at = bytes.len() - 2;
    bytes[at] ^= 0x01;
    flipped[impersonation]["message"] = Value::from(hex::encode(bytes));
    let out = verify(&write("flipped.json", &Value::from(flipped)), &wallets);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("pubsub signature")),
        "{text}"
    );
    assert_eq!(
        text.matches("PASS ").count(),
        1,
        "the other entry still passes: {text}"
    );

    // A wrong claimed seat.
    let mut wrong_seat = entries.clone();
    let seat = c.lowest_seat(0, impostor);
    let other = if seat == 1 { 2 } else { 1 };
    wrong_seat[impersonation]["claimed"]["seat"] = Value::from(other);
    let out = verify(
        &write("wrong-seat.json", &Value::from(wrong_seat)),
        &wallets,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out).contains(&format!(
            "claims seat {other} but the signed message is from seat {seat}"
        )),
        "{out:?}"
    );

    // A swapped wallet: another wallet of the same operators, known to the seats source.
    let stranger = WalletPublicKey::of_secret(&[0x5a; 32]).expect("a key");
    let mut toml = std::fs::read_to_string(&c.wallets_file).expect("wallets file");
    let operators: Vec<String> = c
        .ops
        .iter()
        .map(|o| format!("\"{}\"", o.address.to_checksum()))
        .collect();
    toml.push_str(&format!(
        "[[wallet]]\npkh = \"0x{}\"\npublic_key = \"0x{}\"\noperators = [{}]\n",
        stranger.pkh(),
        hex::encode(stranger.uncompressed()),
        operators.join(", ")
    ));
    let both = c.dir.path().join("two-wallets.toml");
    std::fs::write(&both, toml).expect("writing wallets");
    let mut swapped = entries.clone();
    for e in &mut swapped {
        e["wallet"] = Value::from(stranger.pkh().to_hex());
    }
    let out = verify(
        &write("swapped.json", &Value::from(swapped)),
        &["--wallets".as_ref(), both.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert_eq!(text.matches("FAIL ").count(), 2, "{text}");
    assert!(text.contains("does not follow from wallet"), "{text}");

    // Bad input is exit 2, naming it.
    let junk = c.dir.path().join("junk.json");
    std::fs::write(&junk, "{not json").expect("writing");
    let out = verify(&junk, &wallets);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("junk.json"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewall_refuses_a_peer_whose_key_holds_no_seat() {
    let mut c = Cluster::new(2, &[vec![0, 1, 0]]).await;
    c.start_all();
    c.wait_connected().await;
    let stranger_key = tbtc_coord::net::signing::OperatorKey::generate();
    let stranger_id = stranger_key.peer_id();
    let mut stranger = Peer::start(stranger_key, vec![c.ops[0].multiaddr()]).await;
    stranger.join(&c.wallets[0].topic()).await;
    c.wait("node 0 to refuse the stranger", |c| {
        c.log(0).iter().any(|l| {
            l.contains("firewall refused a peer")
                && field(l, "peer") == Some(&stranger_id.to_string())
        })
    })
    .await;
    assert!(stranger.net.connected_peers().is_empty());
    while let Ok(event) = stranger.events.try_recv() {
        assert!(
            !matches!(
                event,
                tbtc_coord::net::p2p::PeerEvent::Connected { .. }
                    | tbtc_coord::net::p2p::PeerEvent::Joined { .. }
            ),
            "the stranger got in: {event:?}"
        );
    }
    assert!(!c.connected(0).contains(&stranger_id));
    assert!(c.connected(0).contains(&c.ops[1].peer_id));
    // The node's own output says so too, as events: who was refused and why, and who was let
    // in, with its operator.
    c.wait("node 0 to announce the refusal", |c| {
        c.events_of(0, "peer_refused")
            .iter()
            .any(|e| e["peer"] == stranger_id.to_string().as_str())
    })
    .await;
    let refused = c.events_of(0, "peer_refused");
    let refusal = refused
        .iter()
        .find(|e| e["peer"] == stranger_id.to_string().as_str())
        .unwrap();
    assert_eq!(
        refusal["reason"],
        "not an operator of any wallet this node knows"
    );
    let connected = c.events_of(0, "peer_connected");
    let member = connected
        .iter()
        .find(|e| e["peer"] == c.ops[1].peer_id.to_string().as_str())
        .expect("node 1 announced as connected");
    assert_eq!(member["operator"], c.ops[1].address.to_checksum().as_str());
    assert!(connected
        .iter()
        .all(|e| e["peer"] != stranger_id.to_string().as_str()));
    // Nor can it publish: nobody on the topic hears it.
    assert!(matches!(
        stranger
            .try_publish(&c.wallets[0].topic(), vec![1, 2, 3])
            .await,
        Err(tbtc_coord::net::p2p::P2pError::NoPeers(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_and_replays_are_rejected_and_counted_and_blame_no_one() {
    let mut c = Cluster::new(5, &spread_seats()).await;
    let leaders = prepare(&mut c, CB).await;
    let sender = non_leader(&c, &leaders, &[]);
    c.kill(sender);
    let nodes = c.running();
    let dial: Vec<_> = nodes.iter().map(|i| c.ops[*i].multiaddr()).collect();
    let peers: Vec<_> = nodes.iter().map(|i| c.ops[*i].peer_id).collect();
    let topic = c.wallets[0].topic();
    let mut peer = Peer::start_on(c.ops[sender].port, c.ops[sender].key(), dial).await;
    peer.join(&topic).await;
    peer.wait_joined(&topic, &peers).await;
    // Everything is sent in the block before the window, so the followers judge it before
    // the honest leader's proposal (sent at the coordination block) ends their listening.
    c.step_to(CB - 1, &nodes, |_| false).await;

    let wallet = c.wallets[0].pkh;
    let own_seat = c.lowest_seat(0, sender);
    let message = |seat: u8, wallet| CoordinationMessage {
        sender_member_index: seat,
        coordination_block: CB,
        wallet,
        proposal: Proposal::Noop,
    };
    let key = peer.key.keypair().public();
    let envelope = |sender, payload, seq| {
        tbtc_coord::net::envelope::Envelope {
            sender,
            payload,
            sequence_number: seq,
        }
        .encode()
    };
    let junk: Vec<(&str, Vec<u8>)> = vec![
        ("malformed_envelope", b"\x0a\xffnot an envelope".to_vec()),
        (
            "malformed_message",
            envelope(key.clone(), b"\xffnot a message".to_vec(), 1),
        ),
        (
            "sender_not_author",
            envelope(
                c.ops[leaders[0]].key().keypair().public(),
                message(c.lowest_seat(0, leaders[0]), wallet).encode(),
                2,
            ),
        ),
        (
            "wrong_topic",
            envelope(
                key.clone(),
                message(c.lowest_seat(1, sender), c.wallets[1].pkh).encode(),
                3,
            ),
        ),
        (
            "not_seat_holder",
            envelope(
                key.clone(),
                message(c.lowest_seat(0, leaders[0]), wallet).encode(),
                4,
            ),
        ),
    ];
    // A valid message from the sender's own seat, twice under one sequence number: an
    // impersonation (the seat is not the leader's), to be judged once. Sent first: a node
    // handles one sender's messages in order, so once it announces the junk's rejections
    // it has routed these.
    let replayed = envelope(key.clone(), message(own_seat, wallet).encode(), 5);
    peer.publish(&topic, replayed.clone()).await;
    peer.publish(&topic, replayed).await;
    for (_, data) in &junk {
        peer.publish(&topic, data.clone()).await;
    }

    let reasons: Vec<&str> = junk.iter().map(|(r, _)| *r).collect();
    c.wait("every node to announce each rejection", |c| {
        nodes.iter().all(|i| {
            let rejected = c.events_of(*i, "messages_rejected");
            reasons
                .iter()
                .all(|r| rejected.iter().any(|e| e["reason"] == *r))
        })
    })
    .await;
    // Unsigned or wrongly signed pubsub messages cannot be made with this transport (it
    // signs every message, StrictSign), and a receiver's gossipsub would drop them before
    // the router. Nor can an oversized one: the transport refuses data whose frame would
    // pass the 1 MiB limit, where gossipsub alone checks only the data.
    for size in [1 << 20, (1 << 20) + 1] {
        assert!(matches!(
            peer.try_publish(&topic, vec![0u8; size]).await,
            Err(tbtc_coord::net::p2p::P2pError::Publish(_))
        ));
    }
    run_window(&c, CB, &nodes).await;

    for i in &nodes {
        let rejected = c.events_of(*i, "messages_rejected");
        for r in &reasons {
            let of: Vec<_> = rejected.iter().filter(|e| e["reason"] == *r).collect();
            assert_eq!(of.len(), 1, "node {i}, {r}: {rejected:?}");
            assert_eq!(of[0]["total"], 1, "node {i}, {r}");
        }
        assert_eq!(rejected.len(), reasons.len(), "node {i}: {rejected:?}");
        // The junk blamed no one; the replayed impersonation counted once, by the
        // followers (a leader does not listen).
        let want = if *i == leaders[0] {
            Vec::new()
        } else {
            expected(&c, &[(0, sender, FaultType::LeaderImpersonation)])
        };
        assert_eq!(faults_in(&c, *i, CB), want, "node {i}");
        assert_eq!(history_faults_in(&c, *i, CB), want, "node {i}");
    }
}

/// The follower is killed while one of its procedures still listens: wallet 0's leader is
/// frozen from just before the window, so that procedure has not ended. The follower comes
/// back within the active phase, and so does the leader, late; the restarted node resumes
/// the window, hears every leader and blames no one, and the next window is ordinary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_killed_mid_window_restarts_and_rejoins() {
    let mut c = Cluster::new(5, &spread_seats()).await;
    let leaders = prepare(&mut c, CB).await;
    let late_leader = leaders[0];
    let victim = non_leader(&c, &leaders, &[]);
    let all = c.running();
    c.step_to(CB - 1, &all, |_| false).await;
    c.signal(late_leader, libc::SIGSTOP);
    let awake: Vec<usize> = all.iter().copied().filter(|i| *i != late_leader).collect();
    c.step_to(CB, &awake, |_| false).await;
    c.wait("the window to start at the nodes awake", |c| {
        awake.iter().all(|i| {
            c.events_of(*i, "window_started")
                .iter()
                .any(|e| e["coordination_block"] == CB)
        })
    })
    .await;
    c.step_to(CB + 5, &awake, |_| false).await;
    c.kill(victim);
    let unfinished = c.history_windows(victim);
    assert!(
        unfinished
            .iter()
            .any(|w| w.coordination_block == CB && format!("{:?}", w.status) == "Started"),
        "killed with the window open: {unfinished:?}"
    );
    let others: Vec<usize> = awake.iter().copied().filter(|i| *i != victim).collect();
    c.step_to(CB + 10, &others, |_| false).await;
    c.start(victim);
    c.wait("the restarted node to start", |c| {
        c.events_of(victim, "node_started").len() == 2
    })
    .await;
    c.signal(late_leader, libc::SIGCONT);
    c.wait_connected().await;
    run_window(&c, CB, &all).await;

    // Window 900 at the restarted node: resumed late, it heard every leader (the late one's
    // first send, the others' re-sends) and accepted their proposals.
    let started: Vec<Value> = c
        .events_of(victim, "window_started")
        .into_iter()
        .filter(|e| e["coordination_block"] == CB)
        .collect();
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(started[1]["late"], true, "{started:?}");
    for (wallet, leader) in c.wallets.iter().zip(&leaders) {
        let pkh = wallet.pkh.to_hex();
        let lead = result_for(&c.results(*leader, CB), &pkh).clone();
        for i in &all {
            let r = result_for(&c.results(*i, CB), &pkh).clone();
            assert_eq!(r["proposal"], lead["proposal"], "node {i}: {r}");
        }
    }
    for i in &all {
        assert!(
            faults_in(&c, *i, CB).is_empty(),
            "node {i}: {:?}",
            faults_in(&c, *i, CB)
        );
    }

    let cb2 = 2 * CB;
    c.mine_to(cb2 - 30).await;
    c.wait("every node's leader forecast", |c| {
        all.iter().all(|i| c.forecast(*i, cb2).is_some())
    })
    .await;
    run_window(&c, cb2, &all).await;
    for i in &all {
        assert!(c.has_all_results(*i, cb2), "node {i}");
        assert!(faults_in(&c, *i, cb2).is_empty(), "node {i}");
        assert!(history_faults_in(&c, *i, cb2).is_empty(), "node {i}");
    }
    for w in 0..c.wallets.len() {
        let pkh = c.wallets[w].pkh.to_hex();
        let leader = c.index_of(
            &result_for(&c.results(victim, cb2), &pkh)["leader"]
                .as_str()
                .expect("leader")
                .parse()
                .expect("address"),
        );
        let action = result_for(&c.results(leader, cb2), &pkh)["proposal"].clone();
        assert_eq!(
            result_for(&c.results(victim, cb2), &pkh)["proposal"],
            action
        );
    }
    assert!(c.history_faults(victim).is_empty());
}
