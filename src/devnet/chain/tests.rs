//! The devnet chain's unit tests: configuration, world, producer and action outcomes.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use super::*;
use crate::protocol::generator::{generate_proposal, propose};
use crate::protocol::proposal::{ProposalParams, WalletState};
use crate::protocol::{ActionType, CoordinationWindow, Proposal};

fn devnet(seed: u64) -> Devnet {
    Devnet::new(DevnetConfig {
        seed,
        ..DevnetConfig::default()
    })
    .unwrap()
}

fn snapshots(d: &Devnet) -> Vec<WalletSnapshot> {
    d.wallet_infos()
        .iter()
        .map(|w| d.snapshot(&w.wallet).unwrap())
        .collect()
}

/// The first window (at or after `from`) whose planned outcome for `wallet` matches.
fn window_with(d: &Devnet, wallet: &WalletPkh, from: u64, want: fn(ActionPlan) -> bool) -> u64 {
    (from / 900..)
        .map(|i| (i + 1) * 900)
        .find(|&cb| want(activity::plan_action(d.config().seed, wallet, cb)))
        .unwrap()
}

fn request(
    wallet: WalletPkh,
    cb: u64,
    proposal: Proposal,
    start: u64,
    expiry: u64,
) -> ActionRequest {
    ActionRequest {
        wallet,
        window: CoordinationWindow::new(cb),
        proposal,
        start_block: start,
        expiry_block: expiry,
    }
}

/// Lets spawned tasks run up to their next await (current-thread runtime).
async fn settle_tasks() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn config_is_validated_and_errors_name_the_field() {
    for (config, field) in [
        (
            DevnetConfig {
                operators: 1,
                ..Default::default()
            },
            "operators",
        ),
        (
            DevnetConfig {
                operators: 1001,
                ..Default::default()
            },
            "operators",
        ),
        (
            DevnetConfig {
                wallets: 0,
                ..Default::default()
            },
            "wallets",
        ),
        (
            DevnetConfig {
                wallets: 10_001,
                ..Default::default()
            },
            "wallets",
        ),
        (
            DevnetConfig {
                block_time: Duration::ZERO,
                ..Default::default()
            },
            "block_time",
        ),
        (
            DevnetConfig {
                start_block: Some(MAX_START_BLOCK + 1),
                ..Default::default()
            },
            "start_block",
        ),
    ] {
        let err = Devnet::new(config).unwrap_err();
        assert!(
            matches!(&err, DevnetError::InvalidConfig { field: f, .. } if *f == field),
            "{err}"
        );
        assert!(err.to_string().contains(field));
    }
    let err = Devnet::new(DevnetConfig {
        operators: 1,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "devnet operators: expected 2..=1000, got 1"
    );
}

#[test]
fn defaults_start_forty_blocks_before_the_first_window() {
    let d = devnet(1);
    let head = d.head();
    assert_eq!(head.number, 860);
    assert_eq!(head.timestamp, GENESIS_TIME + 12 * 860);
    assert_eq!(d.chain_key(), "devnet-1");
    assert_eq!(d.operators().len(), 20);
    assert_eq!(d.wallet_infos().len(), 5);
    assert_eq!(d.local_operator().index, 0);
    assert_eq!(d.local_operator().address, d.operators()[0].address);
    let explicit = Devnet::new(DevnetConfig {
        start_block: Some(5),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(explicit.head().number, 5);
}

#[test]
fn operator_keys_follow_the_documented_derivation() {
    let d = devnet(7);
    for op in &d.operators()[..3] {
        let secret = world::sha256_of(
            b"tbtc-coord devnet operator",
            &[&7u64.to_be_bytes(), &(op.index as u64).to_be_bytes()],
        );
        let key = OperatorKey::from_secret(&secret).unwrap();
        assert_eq!(key.address(), op.address);
        assert_eq!(op.key.address(), op.address);
    }
    let digest = world::sha256_of(
        b"tbtc-coord devnet wallet",
        &[&7u64.to_be_bytes(), &2u64.to_be_bytes()],
    );
    // The wallet's key is the point of that scalar; its name is HASH160 of the compressed
    // point (here through the libp2p key type, an independent implementation).
    let point = OperatorKey::from_secret(&digest)
        .unwrap()
        .keypair()
        .public()
        .try_into_secp256k1()
        .unwrap();
    let info = &d.wallet_infos()[2];
    assert_eq!(
        info.public_key.unwrap().uncompressed()[..],
        point.to_bytes_uncompressed()[..]
    );
    let hash160 = ripemd::Ripemd160::digest(Sha256::digest(point.to_bytes()));
    assert_eq!(info.wallet.0[..], hash160[..]);
}

#[test]
fn same_seed_same_world_other_seed_another() {
    let (a, b, c) = (devnet(42), devnet(42), devnet(43));
    let addresses = |d: &Devnet| d.operators().iter().map(|o| o.address).collect::<Vec<_>>();
    assert_eq!(addresses(&a), addresses(&b));
    assert_eq!(a.wallet_infos(), b.wallet_infos());
    assert_eq!(a.head(), b.head());
    assert_ne!(addresses(&a), addresses(&c));
    assert_ne!(a.wallet_infos(), c.wallet_infos());
    assert_ne!(a.head().hash, c.head().hash);

    a.mine(3000);
    b.mine(3000);
    c.mine(3000);
    assert_eq!(a.head(), b.head());
    assert_eq!(snapshots(&a), snapshots(&b));
    for n in [0, 1, 868, 1768, 3860] {
        let rule = BlockHashRule::KeepV2;
        assert_eq!(
            a.header(n).unwrap().hash(rule),
            b.header(n).unwrap().hash(rule)
        );
        assert_ne!(
            a.header(n).unwrap().hash(rule),
            c.header(n).unwrap().hash(rule)
        );
    }
    let pending = |d: &Devnet| {
        snapshots(d)
            .iter()
            .flat_map(|s| {
                s.pending_redemptions
                    .iter()
                    .map(|r| r.redeemer_output_script.clone())
            })
            .collect::<Vec<_>>()
    };
    assert!(!pending(&a).is_empty());
    assert_ne!(pending(&a), pending(&c));
}

#[tokio::test]
async fn prague_headers_split_the_hash_rules_and_older_ones_do_not() {
    let prague = devnet(1);
    let old = Devnet::new(DevnetConfig {
        prague: false,
        ..Default::default()
    })
    .unwrap();
    for n in [0, 500, 860] {
        let keep = prague.block_hash(n, BlockHashRule::KeepV2).await.unwrap();
        let canonical = prague
            .block_hash(n, BlockHashRule::Canonical)
            .await
            .unwrap();
        assert_ne!(keep, canonical);
        let header = prague.header(n).unwrap();
        assert!(header.requests_hash.is_some());
        assert!(header.parent_beacon_block_root.is_some());
        assert_eq!(header.timestamp, GENESIS_TIME + 12 * n);

        let keep = old.block_hash(n, BlockHashRule::KeepV2).await.unwrap();
        let canonical = old.block_hash(n, BlockHashRule::Canonical).await.unwrap();
        assert_eq!(keep, canonical);
        assert!(old.header(n).unwrap().requests_hash.is_none());
    }
    // Announced blocks carry the canonical hash and link to their parent's.
    let head = prague.head();
    assert_eq!(
        head.hash,
        prague
            .block_hash(860, BlockHashRule::Canonical)
            .await
            .unwrap()
    );
    assert_eq!(
        head.parent_hash,
        prague
            .block_hash(859, BlockHashRule::Canonical)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn block_hash_above_the_head_is_not_found() {
    let d = devnet(1);
    assert_eq!(
        d.block_hash(861, BlockHashRule::KeepV2).await,
        Err(ChainError::BlockNotFound {
            number: 861,
            head: 860
        })
    );
    d.mine(1);
    assert!(d.block_hash(861, BlockHashRule::KeepV2).await.is_ok());
    let latest = d.latest_block().await.unwrap();
    assert_eq!(latest.number, 861);
    assert_eq!(
        latest.hash,
        d.block_hash(861, BlockHashRule::Canonical).await.unwrap()
    );
    assert_eq!(
        latest.parent_hash,
        d.block_hash(860, BlockHashRule::Canonical).await.unwrap()
    );
}

#[test]
fn seats_are_weighted_and_the_local_operator_is_in_most_wallets_but_not_all() {
    for wallets in [3, 5, 12, 40] {
        let d = Devnet::new(DevnetConfig {
            wallets,
            ..Default::default()
        })
        .unwrap();
        let local = d.local_operator().address;
        let infos = d.wallet_infos();
        let with_local = infos
            .iter()
            .filter(|w| w.operators.contains(&local))
            .count();
        assert!(
            with_local < wallets,
            "{wallets} wallets: local operator everywhere"
        );
        assert!(
            with_local * 2 > wallets,
            "{wallets} wallets: only {with_local} with local"
        );
        for (i, w) in infos.iter().enumerate() {
            assert_eq!(
                w.operators.contains(&local),
                !local_operator_absent(wallets, i)
            );
            assert!((MIN_SEATS..=MAX_SEATS).contains(&w.operators.len()));
        }
        assert!(infos.iter().any(|w| w.operators.len() == MAX_SEATS));
    }
    // Default world: wallet 1 lacks the local operator; groups repeat operators.
    let d = devnet(1);
    let infos = d.wallet_infos();
    assert!(!infos[1].operators.contains(&d.local_operator().address));
    assert_eq!(infos[0].operators.len(), 100);
    for w in &infos {
        let distinct: HashSet<_> = w.operators.iter().collect();
        assert!(
            distinct.len() < w.operators.len(),
            "some operator holds several seats"
        );
    }
    // Small worlds include the local operator everywhere.
    let two = Devnet::new(DevnetConfig {
        wallets: 2,
        ..Default::default()
    })
    .unwrap();
    let local = two.local_operator().address;
    assert!(two
        .wallet_infos()
        .iter()
        .all(|w| w.operators.contains(&local)));
}

#[test]
fn history_makes_the_first_window_busy_and_last_wallet_moves_funds() {
    let d = devnet(1);
    // At start the seeded deposits are 3 hours old: 18 Bitcoin confirmations.
    for s in &snapshots(&d)[..4] {
        assert!(!s.deposits.is_empty());
        for dep in &s.deposits {
            assert_eq!(dep.confirmations, 18);
            assert!(s.timestamp - dep.revealed_at >= 3 * 3600);
        }
    }
    d.mine(40);
    assert_eq!(d.head().number, 900);
    let params = ProposalParams::default();
    let infos = d.wallet_infos();
    let snaps = snapshots(&d);
    for s in &snaps[..4] {
        assert_eq!(s.state, WalletState::Live);
        assert_eq!(s.block, 900);
        assert_eq!(s.timestamp, GENESIS_TIME + 12 * 900);
        assert_eq!(s.redemption_timeout, 5 * 86_400);
        let p = propose(ActionType::Redemption, s, &params).unwrap();
        assert_eq!(p.action_type(), ActionType::Redemption);
        let seeded: Vec<_> = s.deposits.iter().filter(|d| d.reveal_block < 860).collect();
        assert!(!seeded.is_empty());
        for dep in seeded {
            assert_eq!(
                dep.confirmations as u64,
                (s.timestamp - dep.revealed_at) / 600
            );
            assert!(dep.confirmations >= 18);
            assert_eq!(dep.refund_locktime, dep.revealed_at + 30 * 86_400);
        }
        for r in &s.pending_redemptions {
            assert_eq!(r.redeemer_output_script.len(), 22);
            assert_eq!(r.redeemer_output_script[..2], [0x00, 0x14]);
            assert!(r.requested_amount > 0);
        }
        // The seeded deposits are sweepable when DepositSweep is on the checklist.
        assert_eq!(
            propose(ActionType::DepositSweep, s, &params)
                .unwrap()
                .action_type(),
            ActionType::DepositSweep
        );
    }
    let moving = &snaps[4];
    assert_eq!(moving.state, WalletState::MovingFunds);
    assert_eq!(
        moving.moving_funds_targets,
        vec![infos[0].wallet, infos[1].wallet]
    );
    assert_eq!(
        moving.moving_funds_requested_at,
        Some(GENESIS_TIME + 12 * 860 - 2 * 86_400)
    );
    assert!(moving.pending_redemptions.is_empty() && moving.deposits.is_empty());

    // At window 3600 (index 4) the whole checklist leads the MovingFunds wallet to it.
    d.mine(3600 - 900);
    let checklist = [
        ActionType::Redemption,
        ActionType::DepositSweep,
        ActionType::MovedFundsSweep,
        ActionType::MovingFunds,
    ];
    let decision = generate_proposal(&checklist, &d.snapshot(&infos[4].wallet).unwrap(), &params);
    assert_eq!(
        decision.proposal,
        Proposal::MovingFunds {
            target_wallets: vec![infos[0].wallet, infos[1].wallet],
            // 10 sat/vB raised by a quarter, rounded up.
            moving_funds_tx_fee: (11 + 68 + 2 * 31) * 13,
        }
    );
}

#[test]
fn activity_keeps_coming_for_live_wallets_only() {
    let d = devnet(3);
    let before = snapshots(&d);
    d.mine(3600);
    let after = snapshots(&d);
    let head_ts = d.head().timestamp;
    let mut new_deposits = 0;
    let mut new_redemptions = 0;
    for (b, a) in before.iter().zip(&after) {
        new_deposits += a.deposits.len() - b.deposits.len();
        new_redemptions += a.pending_redemptions.len() - b.pending_redemptions.len();
        for dep in a.deposits.iter().filter(|d| d.reveal_block > 860) {
            assert_eq!(dep.revealed_at, GENESIS_TIME + 12 * dep.reveal_block);
            assert_eq!(dep.confirmations as u64, (head_ts - dep.revealed_at) / 600);
            assert!(dep.vault.is_none() || DEVNET_VAULTS.contains(&dep.vault.unwrap()));
        }
    }
    // About 12 of each per wallet per 3600 blocks, over 4 Live wallets.
    assert!((20..=80).contains(&new_deposits), "{new_deposits} deposits");
    assert!(
        (20..=80).contains(&new_redemptions),
        "{new_redemptions} redemptions"
    );
    assert!(after[4].deposits.is_empty() && after[4].pending_redemptions.is_empty());
}

#[tokio::test(start_paused = true)]
async fn producer_mines_at_the_block_time() {
    let d = devnet(1);
    let mut blocks = d.subscribe_blocks().await.unwrap();
    let cancel = CancellationToken::new();
    let begun = Instant::now();
    let producer = d.start(cancel.clone());
    let mut previous = d.head();
    for expected in 861..=870u64 {
        let block = blocks.recv().await.unwrap();
        assert_eq!(block.number, expected);
        assert_eq!(block.parent_hash, previous.hash);
        assert_eq!(
            begun.elapsed(),
            Duration::from_millis(100 * (expected - 860))
        );
        previous = block;
    }
    assert_eq!(d.head().number, 870);
    cancel.cancel();
    producer.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(d.head().number, 870, "no blocks after cancellation");
}

#[tokio::test]
async fn a_completed_redemption_is_shared_and_removes_its_requests() {
    let d = devnet(1);
    let wallet = d.wallet_infos()[0].wallet;
    let cb = window_with(&d, &wallet, 0, |p| matches!(p, ActionPlan::Complete { .. }));
    let ActionPlan::Complete { after } = activity::plan_action(1, &wallet, cb) else {
        unreachable!()
    };
    let snapshot = d.snapshot(&wallet).unwrap();
    let proposal = propose(
        ActionType::Redemption,
        &snapshot,
        &ProposalParams::default(),
    )
    .unwrap();
    let Proposal::Redemption {
        redeemers_output_scripts,
        ..
    } = &proposal
    else {
        unreachable!()
    };
    let proposed: Vec<Vec<u8>> = redeemers_output_scripts
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert!(!proposed.is_empty());

    let start = d.head().number;
    let req = request(wallet, cb, proposal.clone(), start, start + 600);
    let (d1, r1) = (d.clone(), req.clone());
    let first = tokio::spawn(async move { d1.execute_action(r1).await });
    let (d2, r2) = (d.clone(), req.clone());
    let second = tokio::spawn(async move { d2.execute_action(r2).await });
    settle_tasks().await;
    assert_eq!(d.lock().actions.len(), 1, "both callers share one action");

    d.mine(after - 1);
    settle_tasks().await;
    assert!(!first.is_finished() && !second.is_finished());
    assert!(d
        .snapshot(&wallet)
        .unwrap()
        .pending_redemptions
        .iter()
        .any(|r| proposed.contains(&r.redeemer_output_script)));

    d.mine(1);
    assert_eq!(first.await.unwrap(), Ok(ActionOutcome::Completed));
    assert_eq!(second.await.unwrap(), Ok(ActionOutcome::Completed));
    let later = d.snapshot(&wallet).unwrap();
    assert!(later
        .pending_redemptions
        .iter()
        .all(|r| !proposed.contains(&r.redeemer_output_script)));
    // A late caller sees the same outcome at once.
    assert_eq!(d.execute_action(req).await, Ok(ActionOutcome::Completed));
}

#[tokio::test]
async fn completed_moving_funds_closes_the_wallet_and_asks_targets_to_sweep() {
    let d = devnet(1);
    let infos = d.wallet_infos();
    let moving = infos[4].wallet;
    let cb = window_with(&d, &moving, 0, |p| matches!(p, ActionPlan::Complete { .. }));
    let proposal = Proposal::MovingFunds {
        target_wallets: vec![infos[0].wallet, infos[1].wallet],
        moving_funds_tx_fee: 1410,
    };
    let start = d.head().number;
    let waiter = {
        let d = d.clone();
        let req = request(moving, cb, proposal, start, start + 650);
        tokio::spawn(async move { d.execute_action(req).await })
    };
    settle_tasks().await;
    d.mine(60);
    assert_eq!(waiter.await.unwrap(), Ok(ActionOutcome::Completed));
    assert_eq!(d.snapshot(&moving).unwrap().state, WalletState::Closing);
    let sweeps: Vec<_> = [0, 1]
        .iter()
        .map(|&i| {
            d.snapshot(&infos[i].wallet)
                .unwrap()
                .moved_funds_sweep_requests
        })
        .collect();
    assert_eq!(sweeps[0].len(), 1);
    assert_eq!(sweeps[1].len(), 1);
    assert_eq!(
        sweeps[0][0].moving_funds_tx_hash,
        sweeps[1][0].moving_funds_tx_hash
    );
    assert_eq!(
        (sweeps[0][0].output_index, sweeps[1][0].output_index),
        (0, 1)
    );

    // The target then sweeps it away.
    let target = d.snapshot(&infos[0].wallet).unwrap();
    let sweep = propose(
        ActionType::MovedFundsSweep,
        &target,
        &ProposalParams::default(),
    )
    .unwrap();
    let cb = window_with(&d, &infos[0].wallet, cb, |p| {
        matches!(p, ActionPlan::Complete { .. })
    });
    let start = d.head().number;
    let waiter = {
        let d = d.clone();
        let req = request(infos[0].wallet, cb, sweep, start, start + 600);
        tokio::spawn(async move { d.execute_action(req).await })
    };
    settle_tasks().await;
    d.mine(60);
    assert_eq!(waiter.await.unwrap(), Ok(ActionOutcome::Completed));
    assert!(d
        .snapshot(&infos[0].wallet)
        .unwrap()
        .moved_funds_sweep_requests
        .is_empty());
}

#[tokio::test]
async fn failed_actions_change_nothing() {
    let d = devnet(1);
    let wallet = d.wallet_infos()[0].wallet;
    let cb = window_with(&d, &wallet, 0, |p| matches!(p, ActionPlan::Fail { .. }));
    let before = d.snapshot(&wallet).unwrap();
    let proposal = propose(ActionType::Redemption, &before, &ProposalParams::default()).unwrap();
    let start = d.head().number;
    let waiter = {
        let d = d.clone();
        let req = request(wallet, cb, proposal, start, start + 600);
        tokio::spawn(async move { d.execute_action(req).await })
    };
    settle_tasks().await;
    d.mine(30);
    assert_eq!(waiter.await.unwrap(), Ok(ActionOutcome::Failed));
    let after = d.snapshot(&wallet).unwrap();
    for r in &before.pending_redemptions {
        assert!(after.pending_redemptions.contains(r));
    }
}

#[tokio::test]
async fn a_stalled_action_expires_when_the_head_reaches_expiry() {
    let d = devnet(1);
    let wallet = d.wallet_infos()[2].wallet;
    let cb = window_with(&d, &wallet, 0, |p| p == ActionPlan::Stall);
    let start = d.head().number;
    let heartbeat = Proposal::Heartbeat {
        message: crate::protocol::proposal::HexBytes(vec![0xFF; 16]),
    };
    let waiter = {
        let d = d.clone();
        let req = request(wallet, cb, heartbeat, start, start + 100);
        tokio::spawn(async move { d.execute_action(req).await })
    };
    settle_tasks().await;
    d.mine(99);
    settle_tasks().await;
    assert!(!waiter.is_finished());
    d.mine(1);
    assert_eq!(waiter.await.unwrap(), Ok(ActionOutcome::Expired));
}

#[tokio::test]
async fn outcomes_are_the_same_on_every_run() {
    let outcomes = |seed| async move {
        let d = devnet(seed);
        let wallets = d.wallet_infos();
        let mut waiters = Vec::new();
        for (i, w) in wallets.iter().enumerate() {
            for k in 1..=4u64 {
                let d2 = d.clone();
                let req = request(w.wallet, 900 * k, Proposal::Noop, 960 + k, 960 + k + 600);
                waiters.push((
                    i,
                    k,
                    tokio::spawn(async move { d2.execute_action(req).await }),
                ));
            }
        }
        settle_tasks().await;
        d.mine(800);
        let mut out = Vec::new();
        for (i, k, w) in waiters {
            out.push((i, k, w.await.unwrap().unwrap()));
        }
        out
    };
    let a = outcomes(11).await;
    assert_eq!(a, outcomes(11).await);
    assert_ne!(a, outcomes(12).await);
    let completed = a.iter().filter(|o| o.2 == ActionOutcome::Completed).count();
    assert!(
        completed >= a.len() / 2,
        "{completed} of {} completed",
        a.len()
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_producer_ends_pending_waits() {
    let d = devnet(1);
    let wallet = d.wallet_infos()[0].wallet;
    let cb = window_with(&d, &wallet, 0, |p| p == ActionPlan::Stall);
    let cancel = CancellationToken::new();
    let producer = d.start(cancel.clone());
    let waiter = {
        let d = d.clone();
        let req = request(wallet, cb, Proposal::Noop, 860, 100_000);
        tokio::spawn(async move { d.execute_action(req).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!waiter.is_finished());
    assert!(d.head().number >= 870);
    cancel.cancel();
    assert_eq!(
        waiter.await.unwrap(),
        Err(ChainError::Unavailable("devnet stopped".into()))
    );
    producer.await.unwrap();
    // Later dispatches end at once too.
    let req = request(wallet, cb + 900, Proposal::Noop, 100_000, 100_600);
    assert_eq!(
        d.execute_action(req).await,
        Err(ChainError::Unavailable("devnet stopped".into()))
    );
}

#[tokio::test]
async fn unknown_wallets_are_refused() {
    let d = devnet(1);
    let stranger = WalletPkh([0xEE; 20]);
    assert_eq!(
        d.wallet_snapshot(&stranger, 860).await,
        Err(ChainError::UnknownWallet(stranger))
    );
    let req = request(stranger, 900, Proposal::Noop, 1000, 1600);
    assert_eq!(
        d.execute_action(req).await,
        Err(ChainError::UnknownWallet(stranger))
    );
}

/// Lets the producer mine up to a height the test sets.
struct UpTo(watch::Receiver<u64>);

#[async_trait]
impl BlockGate for UpTo {
    async fn ready(&self, head: u64) {
        let mut allowed = self.0.clone();
        let _ = allowed.wait_for(|a| *a > head).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_gated_producer_mines_only_when_the_gate_opens() {
    let d = devnet(1);
    let (allow, allowed) = watch::channel(862);
    let cancel = CancellationToken::new();
    let begun = Instant::now();
    let producer = d.start_gated(cancel.clone(), Arc::new(UpTo(allowed)));
    let mut blocks = d.subscribe();
    assert_eq!(blocks.recv().await.unwrap().number, 861);
    assert_eq!(blocks.recv().await.unwrap().number, 862);
    assert_eq!(begun.elapsed(), Duration::from_millis(200));
    // The gate holds the chain, however long.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(d.head().number, 862);
    // Opened: the block time is a minimum interval from the last block, not a backlog.
    allow.send_replace(870);
    let opened = Instant::now();
    assert_eq!(blocks.recv().await.unwrap().number, 863);
    assert_eq!(opened.elapsed(), Duration::ZERO);
    assert_eq!(blocks.recv().await.unwrap().number, 864);
    assert_eq!(opened.elapsed(), Duration::from_millis(100));
    cancel.cancel();
    producer.await.unwrap();
}

#[tokio::test]
async fn every_deposit_has_a_real_shaped_funding_transaction_on_the_simulated_bitcoin() {
    use crate::bitcoin::reading::deposit_script;
    use crate::bitcoin::reading::funding_tx;
    use crate::bitcoin::view::BitcoinView;
    use crate::devnet::simulated_bitcoin::DEVNET_DEPOSITOR;
    use crate::engine::bitcoin_read::read_bitcoin;
    use bitcoin::hashes::{sha256, Hash};

    let d = devnet(11);
    d.mine(3 * 900);
    let mut seen = 0;
    for mut snapshot in snapshots(&d) {
        let before: Vec<_> = snapshot.deposits.clone();
        let reading = read_bitcoin(&d, &mut snapshot)
            .await
            .expect("the devnet answers");
        for (deposit, old) in snapshot.deposits.iter().zip(&before) {
            seen += 1;
            // The key is the funding transaction's hash, and the deposit's output pays the
            // P2WSH of the script its reveal names.
            let tx = d.transaction(&deposit.key.funding_tx_hash).await.unwrap();
            assert_eq!(funding_tx(&tx).hash(), deposit.key.funding_tx_hash);
            assert_eq!(reading.facts.funding[&deposit.key], funding_tx(&tx));
            let out = &tx.output[deposit.key.output_index as usize];
            assert_eq!(out.value.to_sat(), deposit.amount);
            let script = deposit_script(&DEVNET_DEPOSITOR, &snapshot.wallet, &deposit.reveal);
            let hash = sha256::Hash::hash(script.as_bytes()).to_byte_array();
            assert_eq!(
                out.script_pubkey.as_bytes(),
                [&[0x00, 0x20][..], &hash].concat()
            );
            // Mined in the Bitcoin block of its reveal (one confirmation then), and one more
            // each Bitcoin block (ten minutes of chain time) since.
            let age_blocks = (snapshot.timestamp - deposit.revealed_at) / 600;
            assert!(
                (age_blocks + 1..=age_blocks + 2).contains(&u64::from(deposit.confirmations)),
                "{} confirmations for {age_blocks} blocks of age",
                deposit.confirmations
            );
            assert_eq!(deposit.key, old.key);
        }
        // Every wallet's main UTXO is found by the Bridge's hash of it.
        let main = reading.facts.main_utxo.expect("a main UTXO");
        assert_eq!(Some(main.bridge_hash()), snapshot.main_utxo_hash);
        assert!(d.is_unspent(&snapshot.wallet, &main).await.unwrap());
        assert_eq!(
            reading.fee_rate, None,
            "no fee market: the configured rate applies"
        );
    }
    assert!(seen > 0, "the devnet revealed deposits");
    // A hash the simulated Bitcoin never saw is an error, not an invention.
    assert!(d
        .transaction(&crate::protocol::Hash32([0xEE; 32]))
        .await
        .is_err());
}
