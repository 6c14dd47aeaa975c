//! Real `tbtc-coord` processes on a real chain (anvil, no contracts), joined by keep's
//! libp2p protocol on loopback: an honest window, a frozen leader, a rogue peer that
//! impersonates and proposes what the checklist lacks, a stranger at the firewall, junk on a
//! wallet topic, and a follower killed and restarted mid-window. The test mines every block
//! and waits on what the processes print; no sleep stands in for progress.

mod ethereum_support;
mod p2p_support;

use std::collections::HashSet;

use serde_json::Value;
use tbtc_coord::protocol::{Address, CoordinationMessage, FaultType, Proposal};

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

/// Starts every node of `c`, waits until each announced itself and is connected to its
/// bootstrap peers, and mines to just after window `cb`'s safe block so every node has
/// forecast its leaders. Returns the forecast: wallet index → leader's operator index.
async fn prepare(c: &mut Cluster, cb: u64) -> Vec<usize> {
    c.start_all();
    let all = c.running();
    c.wait("every node to start", |c| {
        all.iter().all(|i| !c.events_of(*i, "node_started").is_empty())
    })
    .await;
    c.wait_connected().await;
    c.mine_to(cb - 30).await;
    c.wait("every node's leader forecast", |c| {
        all.iter().all(|i| c.forecast(*i, cb).is_some())
    })
    .await;
    let forecast = c.forecast(all[0], cb).expect("forecast");
    for i in &all {
        assert_eq!(
            c.forecast(*i, cb).expect("forecast"),
            forecast,
            "node {i} forecast other leaders"
        );
    }
    let mut leaders = vec![usize::MAX; c.wallets.len()];
    for (wallet, leader) in forecast {
        leaders[c.wallet_index(&wallet)] = c.index_of(&leader);
    }
    assert!(leaders.iter().all(|l| *l != usize::MAX), "a wallet without forecast");
    leaders
}

/// All faults announced by node `i` in window `cb`, as (wallet hex, culprit, type).
fn faults_in(c: &Cluster, i: usize, cb: u64) -> Vec<(String, Address, String)> {
    let mut out: Vec<(String, Address, String)> = c
        .results(i, cb)
        .iter()
        .flat_map(|r| {
            let wallet = r["wallet"].as_str().expect("wallet").to_string();
            r["faults"]
                .as_array()
                .expect("faults")
                .iter()
                .map(move |f| {
                    (
                        wallet.clone(),
                        f["culprit"].as_str().expect("culprit").parse().expect("address"),
                        f["fault"].as_str().expect("fault type").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1.to_checksum(), &a.2).cmp(&(&b.0, b.1.to_checksum(), &b.2)));
    out
}

fn result_for<'a>(results: &'a [Value], wallet: &str) -> &'a Value {
    let mut found = results.iter().filter(|r| r["wallet"] == wallet);
    let r = found
        .next()
        .unwrap_or_else(|| panic!("no result for {wallet}"));
    assert!(found.next().is_none(), "two results for {wallet}");
    r
}

/// Mines through window `cb` one block at a time until every node of `pace` has completed
/// it (or the active phase is over), then past the window's end.
async fn run_window(c: &Cluster, cb: u64, pace: &[usize]) {
    c.step_to(cb, pace, |_| false).await;
    c.wait("the window to start everywhere", |c| {
        pace.iter().all(|i| {
            c.events_of(*i, "window_started")
                .iter()
                .any(|e| e["coordination_block"] == cb)
        })
    })
    .await;
    c.step_to(cb + 81, pace, |c| pace.iter().all(|i| c.completed(*i, cb)))
        .await;
    c.wait("the window to complete everywhere", |c| {
        pace.iter().all(|i| c.completed(*i, cb))
    })
    .await;
}

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
            assert_eq!(r["leader_member_index"], leader_result["leader_member_index"]);
            assert_eq!(r["seed"], leader_result["seed"]);
            assert_eq!(r["checklist"], leader_result["checklist"]);
            // A follower accepted the leader's proposal: the same action and payload.
            assert_eq!(r["action"], leader_result["action"], "node {i}: {r}");
            assert_eq!(r["proposal"], leader_result["proposal"], "node {i}: {r}");
            assert_eq!(r["faults"], serde_json::json!([]), "node {i}: {r}");
        }
    }
    for i in &all {
        assert!(c.events_of(*i, "fault").is_empty(), "node {i} announced a fault");
        assert!(c.history_faults(*i).is_empty(), "node {i} recorded a fault");
        let windows = c.history_windows(*i);
        assert!(
            windows.iter().any(|w| w.coordination_block == CB
                && format!("{:?}", w.status) == "Completed"),
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
