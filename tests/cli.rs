//! The `tbtc-coord` binary as scripts use it: exact outputs, exit codes, JSON events, the
//! history it leaves behind, and what survives a `kill -9`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tbtc_coord::engine::records::{FaultFilter, WindowStatus};
use tbtc_coord::store::Store;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tbtc-coord"))
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 output")
}

const SEED_VECTOR: [&str; 3] = [
    "aa768412ceed10bd423c025542ca90071f9fb62d",
    "1322996cbcbc38fc924a46f4df5f9064279d3ab43396e58386dac9b87440d64f",
    "e55c779d6d83183409ddc90c6cd5130567f0593349a9c82494b402048ec2d03d",
];

#[test]
fn inspect_seed_prints_the_bare_seed_with_or_without_0x() {
    for prefix in ["", "0x"] {
        let o = run(&[
            "inspect",
            "seed",
            "--wallet",
            &format!("{prefix}{}", SEED_VECTOR[0]),
            "--safe-block-hash",
            &format!("{prefix}{}", SEED_VECTOR[1]),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), format!("{}\n", SEED_VECTOR[2]));
    }
    let o = run(&[
        "inspect",
        "seed",
        "--wallet",
        SEED_VECTOR[0],
        "--safe-block-hash",
        SEED_VECTOR[1],
        "--json",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["seed"], SEED_VECTOR[2]);
}

#[test]
fn inspect_leader_prints_the_eip55_leader() {
    let operators =
        "957ECF59507a6A74b8d98747f07a74De270D3CC3,5E14c0f27612fbfB7A6FE40b5A6Ec997fA62fc04,\
D2662604f8b4540336fBd3c1F48d7e9cdFbD079c,7CBD87ABC182216A7Aa0E8d19aA21abFA2511383,\
FAc73b03884d94a08a5c6c7BB12Ac0b20571F162,705C76445651530fe0D25eeE287b6164cE2c7216,\
7CBD87ABC182216A7Aa0E8d19aA21abFA2511383,405ad1f632b49A0617fbdc1fD427aF54BA9Bb3dd,\
7CBD87ABC182216A7Aa0E8d19aA21abFA2511383,5E14c0f27612fbfB7A6FE40b5A6Ec997fA62fc04";
    let o = run(&[
        "inspect",
        "leader",
        "--seed",
        "0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "--operators",
        operators,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0xD2662604f8b4540336fBd3c1F48d7e9cdFbD079c\n");
}

fn checklist_seed(cb: u64) -> String {
    let n = cb + 2;
    let bytes = n.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(8);
    hex::encode(Sha256::digest(&bytes[first..]))
}

#[test]
fn inspect_checklist_prints_the_names() {
    let cases = [
        (
            3600,
            "Redemption,DepositSweep,MovedFundsSweep,MovingFunds,Heartbeat\n",
        ),
        (
            7200,
            "Redemption,DepositSweep,MovedFundsSweep,MovingFunds\n",
        ),
        (900, "Redemption\n"),
    ];
    for (block, want) in cases {
        let o = run(&[
            "inspect",
            "checklist",
            "--block",
            &block.to_string(),
            "--seed",
            &checklist_seed(block),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), want, "block {block}");
    }
}

#[test]
fn inspect_window_shows_current_and_next_with_phases() {
    let o = run(&["inspect", "window", "--block", "1850", "--json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["current"]["coordination_block"], 1800);
    assert_eq!(v["current"]["phase_at_block"], "active");
    assert_eq!(v["current"]["safe_block"], 1768);
    assert_eq!(v["next"]["coordination_block"], 2700);
    assert_eq!(v["blocks_to_next"], 850);
    let text = stdout(&run(&["inspect", "window", "--block", "1885"]));
    assert!(
        text.contains("window 1800") && text.contains("passive"),
        "{text}"
    );
}

#[test]
fn bad_input_is_one_line_naming_the_argument_with_exit_2() {
    let cases: [(&[&str], &str); 7] = [
        (
            &[
                "inspect",
                "leader",
                "--seed",
                "abcd",
                "--operators",
                "0x957ECF59507a6A74b8d98747f07a74De270D3CC3",
            ],
            "--seed",
        ),
        (
            &[
                "inspect",
                "leader",
                "--seed",
                &"11".repeat(32),
                "--operators",
                "0x957ECF59507a6A74b8d98747f07a74de270D3CC3",
            ],
            "--operators",
        ),
        (
            &[
                "inspect",
                "seed",
                "--wallet",
                "zz",
                "--safe-block-hash",
                SEED_VECTOR[1],
            ],
            "--wallet",
        ),
        (
            &[
                "inspect",
                "checklist",
                "--block",
                "ninety",
                "--seed",
                &"11".repeat(32),
            ],
            "--block",
        ),
        (&["run", "--devnet-fault-rate", "2"], "--devnet-fault-rate"),
        (&["run", "--devnet-transport", "tcp"], "--devnet-transport"),
        (
            &[
                "run",
                "--headless",
                "--rpc-url",
                "http://127.0.0.1:1",
                "--devnet-transport",
                "libp2p",
            ],
            "--devnet-transport",
        ),
    ];
    for (args, names) in cases {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
    }
    let o = run(&[
        "inspect",
        "leader",
        "--seed",
        &"11".repeat(32),
        "--operators",
        "0x957ECF59507a6A74b8d98747f07a74de270D3CC3",
    ]);
    assert!(stderr(&o).contains("checksum"), "{}", stderr(&o));
}

#[test]
fn console_flags_before_a_command_are_refused_not_ignored() {
    let o = run(&["--data-dir", "/nonexistent", "run", "--headless"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--data-dir") && err.contains("after the command"),
        "{err}"
    );
}

#[test]
fn help_explains_and_a_bad_config_file_is_named() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    for word in [
        "dry-run",
        "faults",
        "inspect",
        "coordination window",
        "config",
    ] {
        assert!(help.contains(word), "--help mentions {word}");
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "colour = 3\n").unwrap();
    let o = run(&[
        "--config",
        config.to_str().unwrap(),
        "inspect",
        "window",
        "--block",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.toml") && stderr(&o).contains("colour"),
        "{}",
        stderr(&o)
    );
}

fn run_headless(data_dir: &Path, windows: u64, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "run",
        "--headless",
        "--json",
        "--block-time",
        "3ms",
        "--devnet-seed",
        "3",
        "--devnet-fault-rate",
        "0.5",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    let windows = windows.to_string();
    args.extend(["--stop-after-windows", &windows]);
    args.extend(extra);
    let o = run(&args);
    assert!(o.status.success(), "run failed: {}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

#[test]
fn headless_json_events_history_queries_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let events = run_headless(dir.path(), 2, &[]);
    assert!(events.iter().all(|e| e["type"].is_string()));

    let started = of_type(&events, "node_started");
    assert_eq!(started.len(), 1);
    let wallets = started[0]["wallets"].as_array().unwrap();
    assert!(!wallets.is_empty());
    for w in wallets {
        assert_eq!(w["wallet"].as_str().unwrap().len(), 40);
        assert!(w["operators"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o.as_str().unwrap().starts_with("0x")));
    }

    let windows: Vec<u64> = of_type(&events, "window_started")
        .iter()
        .map(|e| {
            assert!(e["index"].is_u64() && e["late"].is_boolean());
            e["coordination_block"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(windows, vec![900, 1800]);

    let results = of_type(&events, "coordination_result");
    assert_eq!(results.len(), wallets.len() * 2);
    for r in &results {
        for field in [
            "wallet",
            "coordination_block",
            "safe_block_hash",
            "seed",
            "leader",
            "role",
            "checklist",
            "action",
            "faults",
        ] {
            assert!(!r[field].is_null(), "coordination_result.{field} in {r}");
        }
        assert_eq!(r["seed"].as_str().unwrap().len(), 64);
        assert!(["leader", "follower"].contains(&r["role"].as_str().unwrap()));
        // The seed is what `inspect seed` computes from the reported wallet and hash.
        let o = run(&[
            "inspect",
            "seed",
            "--wallet",
            r["wallet"].as_str().unwrap(),
            "--safe-block-hash",
            r["safe_block_hash"].as_str().unwrap(),
        ]);
        assert_eq!(stdout(&o).trim(), r["seed"].as_str().unwrap());
    }

    let faults = of_type(&events, "fault");
    assert!(
        !faults.is_empty(),
        "a fault rate of 0.5 over two windows shows faults"
    );
    for f in &faults {
        assert!(["LeaderIdleness", "LeaderMistake", "LeaderImpersonation"]
            .contains(&f["fault"].as_str().unwrap()));
        assert!(f["culprit"].as_str().unwrap().starts_with("0x"));
    }
    for d in of_type(&events, "proposal_dispatched") {
        assert_eq!(
            d["start_block"].as_u64().unwrap(),
            d["coordination_block"].as_u64().unwrap() + 100
        );
        assert!(d["expiry_block"].as_u64().unwrap() > d["start_block"].as_u64().unwrap());
    }

    // The history holds exactly what was announced.
    let data_dir = dir.path().to_str().unwrap();
    let o = run(&[
        "faults",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stored: Vec<Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(stored.len(), faults.len());
    let announced: BTreeSet<(String, u64, String)> = faults
        .iter()
        .map(|f| {
            (
                f["culprit"].as_str().unwrap().to_string(),
                f["coordination_block"].as_u64().unwrap(),
                f["fault"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let kept: BTreeSet<(String, u64, String)> = stored
        .iter()
        .map(|f| {
            (
                f["culprit"].as_str().unwrap().to_string(),
                f["coordination_block"].as_u64().unwrap(),
                f["fault"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(kept, announced);

    let csv = stdout(&run(&[
        "faults",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "3",
        "--csv",
    ]));
    assert_eq!(csv.lines().count(), faults.len() + 1);
    assert!(csv.starts_with("coordination_block,wallet,culprit,fault"));
    let one = faults[0];
    let filtered: Vec<Value> = serde_json::from_str(&stdout(&run(&[
        "faults",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "3",
        "--operator",
        one["culprit"].as_str().unwrap(),
        "--type",
        one["fault"].as_str().unwrap(),
        "--json",
    ])))
    .unwrap();
    assert!(!filtered.is_empty());
    assert!(filtered
        .iter()
        .all(|f| f["culprit"] == one["culprit"] && f["fault"] == one["fault"]));

    // A dry run of the next window for one of the wallets, recorded as a dry run.
    let wallet = wallets[0]["wallet"].as_str().unwrap();
    let o = run(&[
        "dry-run",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "3",
        "--wallet",
        wallet,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dry: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(dry["coordination_block"], 2700);
    assert_eq!(dry["sent"], false);
    assert_eq!(dry["dispatched"], false);
    for field in ["safe_block_hash", "seed", "leader", "checklist", "proposal"] {
        assert!(!dry[field].is_null(), "dry-run.{field}");
    }
    let o = run(&[
        "dry-run",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "3",
        "--wallet",
        wallet,
        "--window",
        "901",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("901") && stderr(&o).contains("multiple of 900"),
        "{}",
        stderr(&o)
    );

    // A restart continues the chain where the history ends.
    let events = run_headless(dir.path(), 1, &[]);
    let windows: Vec<u64> = of_type(&events, "window_started")
        .iter()
        .map(|e| e["coordination_block"].as_u64().unwrap())
        .collect();
    assert_eq!(windows, vec![2700]);
    let store = Store::open(&dir.path().join("devnet-3.sqlite3")).unwrap();
    assert_eq!(store.dry_runs(0, 10).unwrap().len(), 1);
    assert!(store.count_faults(&FaultFilter::default()).unwrap() >= faults.len() as u64);
}

#[test]
fn kill_9_loses_nothing_announced_and_the_store_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut child = bin()
        .args([
            "run",
            "--headless",
            "--json",
            "--block-time",
            "2ms",
            "--devnet-seed",
            "9",
            "--devnet-fault-rate",
            "0.6",
            "--data-dir",
            data_dir,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let mut announced_results = Vec::new();
    let mut announced_faults = 0;
    for line in reader.lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        match v["type"].as_str() {
            Some("coordination_result") => announced_results.push((
                v["wallet"].as_str().unwrap().to_string(),
                v["coordination_block"].as_u64().unwrap(),
            )),
            Some("fault") => announced_faults += 1,
            _ => {}
        }
        // Kill in the middle of the second window's results.
        if announced_results
            .iter()
            .filter(|(_, cb)| *cb == 1800)
            .count()
            == 2
        {
            break;
        }
    }
    // SIGKILL: no chance to flush or clean up.
    child.kill().unwrap();
    child.wait().unwrap();

    let store = Store::open(&dir.path().join("devnet-9.sqlite3")).unwrap();
    for (wallet, cb) in &announced_results {
        let wallet = wallet.parse().unwrap();
        assert!(
            store.result(&wallet, *cb).unwrap().is_some(),
            "announced result {wallet} {cb} kept"
        );
    }
    assert!(store.count_faults(&FaultFilter::default()).unwrap() >= announced_faults);
    // Whether the kill cut window 1800 off, or came just after it completed.
    let cut_off = store
        .windows(10)
        .unwrap()
        .iter()
        .any(|w| w.coordination_block == 1800 && w.status != WindowStatus::Completed);
    drop(store);

    // The next start reopens the history cleanly, reports the window the kill cut off as
    // missed (the devnet resumes after it), and carries on with the next one.
    let o = run(&[
        "run",
        "--headless",
        "--json",
        "--block-time",
        "2ms",
        "--devnet-seed",
        "9",
        "--data-dir",
        data_dir,
        "--stop-after-windows",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let reported_missed = out.lines().any(|l| {
        l.contains("\"window_missed\"")
            && l.contains("\"coordination_block\":1800")
            && l.contains("crashed or was killed")
    });
    assert_eq!(reported_missed, cut_off, "{out}");
    assert!(out.contains("\"window_started\""), "{out}");
}

/// Waits for a child, killing it if it outlives `deadline` (a guard against a hang, not a
/// timing assertion: the caller's assertions fail on a killed child).
fn wait_or_kill(child: &mut std::process::Child, deadline: std::time::Duration) -> Output {
    let until = std::time::Instant::now() + deadline;
    loop {
        match child.try_wait().unwrap() {
            Some(_) => break,
            None if std::time::Instant::now() > until => {
                let _ = child.kill();
                break;
            }
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    let mut stderr = Vec::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_end(&mut e, &mut stderr).unwrap();
    }
    Output {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr,
    }
}

/// `run(args)` with a deadline and no stdout kept.
fn run_guarded(args: &[&str]) -> Output {
    let mut child = bin()
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_or_kill(&mut child, std::time::Duration::from_secs(60))
}

/// Exit status 2 and one line on stderr holding every one of `words`.
fn assert_usage_error(o: &Output, what: &str, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    for w in words {
        assert!(err.contains(w), "{what}: {w:?} in {err}");
    }
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child this test spawned and has not yet reaped.
    let r = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(r, 0, "kill {pid}");
}

fn node_on(data_dir: &Path, seed: &str) -> std::process::Child {
    bin()
        .args([
            "run",
            "--headless",
            "--json",
            "--block-time",
            "2ms",
            "--devnet-seed",
            seed,
            "--devnet-fault-rate",
            "0.6",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ])
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_and_sigint_stop_gracefully_printing_everything_stored() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = node_on(dir.path(), "11");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut events: Vec<Value> = Vec::new();
        // Stop between windows: no procedure is running, so nothing is cut off.
        for line in lines.by_ref() {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            let done = v["type"] == "window_completed";
            events.push(v);
            if done {
                break;
            }
        }
        signal(child.id(), sig);
        for line in lines {
            events.push(serde_json::from_str(&line.unwrap()).unwrap());
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{name}: exit status");
        assert_eq!(
            events.last().map(|e| e["type"].clone()),
            Some("node_stopped".into()),
            "{name}: the last line"
        );

        let store = Store::open(&dir.path().join("devnet-11.sqlite3")).unwrap();
        for r in of_type(&events, "coordination_result") {
            let wallet = r["wallet"].as_str().unwrap().parse().unwrap();
            let cb = r["coordination_block"].as_u64().unwrap();
            assert!(store.result(&wallet, cb).unwrap().is_some(), "{name}: {r}");
        }
        drop(store);
        let key = |f: &Value| {
            (
                f["wallet"].as_str().unwrap().to_string(),
                f["coordination_block"].as_u64().unwrap(),
                f["culprit"].as_str().unwrap().to_string(),
                f["fault"].as_str().unwrap().to_string(),
            )
        };
        let printed: BTreeSet<_> = of_type(&events, "fault").into_iter().map(key).collect();
        let o = run(&[
            "faults",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--devnet-seed",
            "11",
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let stored: Vec<Value> = serde_json::from_str(&stdout(&o)).unwrap();
        let stored: BTreeSet<_> = stored.iter().map(key).collect();
        assert_eq!(
            printed, stored,
            "{name}: printed faults are the stored ones"
        );
    }
}

#[test]
fn a_second_node_on_one_data_dir_is_refused_and_faults_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut first = node_on(dir.path(), "12");
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    // Running: it has announced itself.
    let started: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(started["type"], "node_started");

    let o = run_guarded(&[
        "run",
        "--headless",
        "--block-time",
        "2ms",
        "--devnet-seed",
        "12",
        "--data-dir",
        data_dir,
        "--stop-after-windows",
        "1",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(data_dir) && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    let lock = std::fs::read_to_string(dir.path().join("devnet-12.lock")).unwrap();
    assert_eq!(lock.trim(), first.id().to_string());

    // Reading the history beside the node is fine.
    let o = run(&["faults", "--data-dir", data_dir, "--devnet-seed", "12"]);
    assert!(o.status.success(), "{}", stderr(&o));

    signal(first.id(), libc::SIGTERM);
    for line in lines {
        line.unwrap();
    }
    assert!(first.wait().unwrap().success());
    // Once it has stopped, the next node starts.
    let o = run(&[
        "run",
        "--headless",
        "--block-time",
        "2ms",
        "--devnet-seed",
        "12",
        "--data-dir",
        data_dir,
        "--stop-after-windows",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn unbounded_durations_and_unreadable_config_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();
    let o = run_guarded(&[
        "run",
        "--headless",
        "--data-dir",
        data_dir,
        "--block-time",
        "18446744073709551615s",
    ]);
    assert_usage_error(
        &o,
        "huge block time",
        &["--block-time", "18446744073709551615s", "1ns", "1h"],
    );
    let o = run_guarded(&["run", "--headless", "--poll-interval", "100000h"]);
    assert_usage_error(
        &o,
        "huge poll interval",
        &["--poll-interval", "100000h", "1h"],
    );
    let config = dir.path().join("slow.toml");
    std::fs::write(&config, "[devnet]\nblock_time = \"1000h\"\n").unwrap();
    let o = run_guarded(&[
        "--config",
        config.to_str().unwrap(),
        "run",
        "--headless",
        "--data-dir",
        data_dir,
    ]);
    assert_usage_error(&o, "config block time", &["block_time", "1000h", "1h"]);

    let fifo = dir.path().join("fifo.toml");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
    let cases = [
        ("/dev/zero".to_string(), "not a regular file"),
        (dir.path().display().to_string(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (big.display().to_string(), "1 MiB"),
    ];
    for (path, why) in cases {
        let o = run_guarded(&["--config", &path, "inspect", "window", "--block", "1"]);
        assert_usage_error(&o, &path, &[&path, why]);
    }
}

#[test]
fn edge_values_of_inspect_and_run_are_refused() {
    let o = run(&["inspect", "window", "--block", "18446744073709551615"]);
    assert_usage_error(&o, "inspect window", &["--block", "18446744073709551615"]);
    // The highest block it accepts shows phases in order.
    let max = tbtc_coord::cli::MAX_INSPECT_BLOCK.to_string();
    let o = run(&["inspect", "window", "--block", &max, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let next = &v["next"];
    let (a0, a1) = (
        next["active_phase"][0].as_u64(),
        next["active_phase"][1].as_u64(),
    );
    let (p0, p1) = (
        next["passive_phase"][0].as_u64(),
        next["passive_phase"][1].as_u64(),
    );
    assert!(a0 < a1 && a1 < p0 && p0 < p1, "{next}");

    for block in ["901", "0"] {
        let o = run(&[
            "inspect",
            "checklist",
            "--block",
            block,
            "--seed",
            &"11".repeat(32),
        ]);
        assert_usage_error(&o, block, &["--block", block, "not a coordination block"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let o = run_guarded(&[
        "run",
        "--headless",
        "--block-time",
        "2ms",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--stop-after-windows",
        "0",
    ]);
    assert_usage_error(&o, "--stop-after-windows 0", &["--stop-after-windows", "0"]);
}

#[test]
fn bad_values_exit_2_naming_the_value_and_what_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();
    let pkh = "ab".repeat(20);
    let run_args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "run",
            "--headless",
            "--block-time",
            "2ms",
            "--stop-after-windows",
            "1",
            "--data-dir",
            data_dir,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            run_args(&["--devnet-wallets", "0"]),
            vec!["--devnet-wallets", "0", "1 to 10000"],
        ),
        (
            run_args(&["--devnet-operators", "1"]),
            vec!["--devnet-operators", "1", "2 to 1000"],
        ),
        (
            run_args(&["--log-level", "tbtc_coord=loud"]),
            vec!["--log-level", "loud"],
        ),
        (
            vec![
                "dry-run".into(),
                "--wallet".into(),
                pkh.clone(),
                "--window".into(),
                "-900".into(),
            ],
            vec!["--window", "-900", "non-negative integer"],
        ),
        (
            ["inspect", "window", "--block", "-900"]
                .map(String::from)
                .to_vec(),
            vec!["--block", "-900", "non-negative integer"],
        ),
        (
            ["faults", "--from", "-900"].map(String::from).to_vec(),
            vec!["--from", "-900", "non-negative integer"],
        ),
        (
            ["faults", "--limit", "-1"].map(String::from).to_vec(),
            vec!["--limit", "-1", "non-negative integer"],
        ),
    ];
    for (args, words) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_guarded(&args);
        assert_usage_error(&o, &args.join(" "), &words);
    }

    let config = dir.path().join("neon.toml");
    std::fs::write(&config, "theme = \"neon\"\n").unwrap();
    let mut args = vec!["--config", config.to_str().unwrap()];
    let rest = run_args(&[]);
    args.extend(rest.iter().map(String::as_str));
    let o = run_guarded(&args);
    assert_usage_error(&o, "theme neon", &["neon", "dark or light"]);

    let rest = run_args(&[]);
    let args: Vec<&str> = rest.iter().map(String::as_str).collect();
    let mut child = bin()
        .args(&args)
        .env("HOME", std::env::temp_dir())
        .env("RUST_LOG", "tbtc_coord=loud")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_or_kill(&mut child, std::time::Duration::from_secs(60));
    assert_usage_error(&o, "RUST_LOG", &["RUST_LOG", "loud"]);
}

#[test]
fn faults_into_a_closed_pipe_exits_0_quietly() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(&dir.path().join("devnet-1.sqlite3")).unwrap());
    for format in ["--csv", "--json", "--limit=5"] {
        let mut child = bin()
            .args(["faults", "--data-dir", dir.path().to_str().unwrap(), format])
            .env("HOME", std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before anything is written, like `| head -0`.
        drop(child.stdout.take());
        let o = wait_or_kill(&mut child, std::time::Duration::from_secs(60));
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{format}");
    }
}

#[test]
fn headless_output_to_a_full_disk_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = bin()
        .args([
            "run",
            "--headless",
            "--block-time",
            "2ms",
            "--stop-after-windows",
            "1",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .env("HOME", std::env::temp_dir())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_or_kill(&mut child, std::time::Duration::from_secs(60));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("stdout") && err.contains("No space left"),
        "{err}"
    );
}

#[test]
fn log_lines_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--headless",
        "--block-time",
        "2ms",
        "--stop-after-windows",
        "1",
        "--log-level",
        "info",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("INFO"), "{}", stderr(&o));
    assert!(!o.stderr.contains(&0x1b), "ESC in {}", stderr(&o));
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = node_on(dir.path(), "13");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = lines.map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap());
    assert!(lines.any(|v| v["type"] == "window_started"));
    // Two kinds, so they cannot merge into one delivery: the second is always a second.
    signal(child.id(), libc::SIGTERM);
    signal(child.id(), libc::SIGINT);
    for _ in lines {}
    let o = wait_or_kill(&mut child, std::time::Duration::from_secs(60));
    let code = o.status.code();
    assert!(code == Some(130) || code == Some(143), "{code:?}");
    assert!(stderr(&o).contains("again"), "{}", stderr(&o));
}

#[test]
fn key_new_writes_a_keystore_whose_address_and_peer_id_belong_together() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("operator.json");
    let password = dir.path().join("password");
    std::fs::write(&password, "correct horse\n").unwrap();
    let (ks, pw) = (keystore.to_str().unwrap(), password.to_str().unwrap());
    let made = run(&[
        "key",
        "new",
        "--keystore",
        ks,
        "--password-file",
        pw,
        "--json",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let made: Value = serde_json::from_str(&stdout(&made)).unwrap();
    let address = made["address"].as_str().unwrap().to_string();
    let peer_id = made["peer_id"].as_str().unwrap().to_string();

    // The keystore decrypts, through ethers itself, to the key of that address.
    let wallet = ethers_signers::LocalWallet::decrypt_keystore(&keystore, "correct horse").unwrap();
    assert_eq!(
        ethers_core::utils::to_checksum(&ethers_signers::Signer::address(&wallet), None),
        address
    );
    // The peer ID inlines the key whose Ethereum address that is.
    let peer: libp2p::PeerId = peer_id.parse().unwrap();
    let key = tbtc_coord::net::signing::peer_public_key(&peer).unwrap();
    assert_eq!(
        tbtc_coord::net::signing::operator_address(&key)
            .unwrap()
            .to_checksum(),
        address
    );

    let shown = run(&["key", "show", "--keystore", ks, "--password-file", pw]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(
        stdout(&shown),
        format!("address: {address}\npeer_id: {peer_id}\n")
    );
    // Never overwritten: exit 2, naming the file, and the key is unchanged.
    let again = run(&["key", "new", "--keystore", ks, "--password-file", pw]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("operator.json"),
        "{}",
        stderr(&again)
    );
    let shown = run(&["key", "show", "--keystore", ks, "--password-file", pw]);
    assert!(stdout(&shown).contains(&peer_id));
}

#[test]
fn peer_network_flags_name_the_value_and_what_was_expected() {
    let operator = "0x15BD7743A6CDE001b0F0643C62e67389db530Cf6";
    let cases: [(&[&str], &str); 4] = [
        (&["--p2p-listen", "tcp:3919"], "/ip4/0.0.0.0/tcp/3919"),
        (
            &["--p2p-peers", "/ip4/10.0.0.1/tcp/3919"],
            "peer ID is missing",
        ),
        (
            &[
                "--p2p-peers",
                "/ip4/10.0.0.1/tcp/3919/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
            ],
            "secp256k1 operator key",
        ),
        (&["--p2p-allow", "16Uiu2HAnot-a-peer"], "16Uiu2HAnot-a-peer"),
    ];
    for (flags, expected) in cases {
        let mut args = vec![
            "run",
            "--headless",
            "--rpc-url",
            "http://127.0.0.1:9",
            "--operator",
            operator,
        ];
        args.extend_from_slice(flags);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{flags:?}: {err}");
    }
    let devnet = run(&["run", "--headless", "--p2p-listen", "/ip4/127.0.0.1/tcp/0"]);
    assert_eq!(devnet.status.code(), Some(2));
    assert!(
        stderr(&devnet).contains("Ethereum mode"),
        "{}",
        stderr(&devnet)
    );
}

/// `verify-evidence` shows only the flags it uses, and refuses a signing or node flag by name
/// instead of ignoring it.
#[test]
fn verify_evidence_offers_and_takes_only_its_own_flags() {
    let help = run(&["verify-evidence", "--help"]);
    assert!(help.status.success());
    let text = stdout(&help);
    for shown in ["--wallets", "--rpc-url", "--data-dir", "--operator"] {
        assert!(text.contains(shown), "{shown} in {text}");
    }
    for hidden in [
        "--keystore",
        "--password-file",
        "--token-staking",
        "--wallet-proposal-validator",
        "--poll-interval",
    ] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evidence.json");
    std::fs::write(&file, "[]").unwrap();
    let file = file.to_str().unwrap();
    let o = run(&["verify-evidence", file, "--keystore", "k.json"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--keystore is not used by verify-evidence"),
        "{err}"
    );
}

#[test]
fn one_off_commands_ask_the_running_node_and_read_the_history_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut node = node_on(dir.path(), "13");
    // Drained on a thread, so the node never waits on its stdout.
    let (tx, events) = std::sync::mpsc::channel::<Value>();
    let out = node.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let _ = tx.send(serde_json::from_str(&line.unwrap()).unwrap());
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &Value| e["type"] == "window_completed") {
        seen.push(events.recv().expect("the node runs"));
    }
    let socket = dir.path().join("devnet-13.sock");
    assert!(socket.exists());

    let o = run(&[
        "status",
        "--json",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "13",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let status: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], node.id());
    assert!(status["windows"]["completed"].as_u64().unwrap() >= 1);
    let wallet = status["wallets"][0]["wallet"].as_str().unwrap().to_string();
    assert!(status["head"]["number"].as_u64().unwrap() > 900);
    assert_eq!(status["windows"]["counted"], "since_start");
    let o = run(&["status", "--data-dir", data_dir, "--devnet-seed", "13"]);
    assert!(
        stdout(&o).contains("interrupted since the node started"),
        "{}",
        stdout(&o)
    );

    // The running node makes the dry run: it announces it on its own event stream.
    let o = run(&[
        "dry-run",
        "--json",
        "--wallet",
        &wallet,
        "--window",
        "900",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "13",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(record["coordination_block"], 900);
    assert_eq!(record["sent"], false);
    let announced = loop {
        let e = events.recv().expect("the node runs");
        if e["type"] == "dry_run" {
            break e;
        }
    };
    assert_eq!(announced["seed"], record["seed"]);
    assert_eq!(announced["leader"], record["leader"]);

    // Faults through the node are the history's.
    let o = run(&[
        "faults",
        "--json",
        "--to",
        "900",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "13",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let through_node: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let store = Store::open_read_only(&dir.path().join("devnet-13.sqlite3")).unwrap();
    let filter = FaultFilter {
        to_block: Some(900),
        ..FaultFilter::default()
    };
    let stored = store
        .faults(
            &filter,
            tbtc_coord::engine::records::FaultOrder::NewestFirst,
            0,
            10_000,
        )
        .unwrap();
    assert!(!stored.is_empty(), "the fixture has faults");
    assert_eq!(through_node, serde_json::to_value(&stored).unwrap());
    drop(store);

    signal(node.id(), libc::SIGTERM);
    assert!(node.wait().unwrap().success());
    reader.join().unwrap();
    assert!(!socket.exists(), "a clean stop removes the socket");

    // No node: the history answers, and says so.
    let o = run(&["status", "--data-dir", data_dir, "--devnet-seed", "13"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("not running; from the history of chain devnet-13"),
        "{text}"
    );
    let o = run(&[
        "status",
        "--json",
        "--data-dir",
        data_dir,
        "--devnet-seed",
        "13",
    ]);
    let offline: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(offline["running"], false);
    assert_eq!(offline["pid"], Value::Null);
    assert!(offline["windows"]["completed"].as_u64().unwrap() >= 1);
    assert!(offline["faults_total"].as_u64().unwrap() >= stored.len() as u64);
    // The stopped node's seats are the ones it held running, and the counts say they are
    // the whole history's.
    assert_eq!(offline["operator"], status["operator"]);
    let by_wallet = |wallets: &Value| {
        let mut wallets = wallets.as_array().unwrap().clone();
        for w in wallets.iter_mut() {
            // What only a running node knows.
            for field in ["executor", "dispatcher", "next_leader"] {
                w[field] = Value::Null;
            }
        }
        wallets.sort_by_key(|w| w["wallet"].as_str().unwrap().to_string());
        wallets
    };
    assert_eq!(
        by_wallet(&offline["wallets"]),
        by_wallet(&status["wallets"])
    );
    assert!(status["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| !w["seats"].as_array().unwrap().is_empty()));
    assert_eq!(offline["windows"]["counted"], "in_history");
    let seats: Vec<String> = status["wallets"][0]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("#{s}"))
        .collect();
    let members = status["wallets"][0]["members"].as_u64().unwrap();
    let noun = if seats.len() == 1 { "seat" } else { "seats" };
    assert!(
        text.contains(&format!(
            "wallet {wallet}  {noun} {} of {members}",
            seats.join(", ")
        )),
        "{text}"
    );
    assert!(text.contains("interrupted in the whole history"), "{text}");
    assert!(!text.contains("[]"), "{text}");

    let gone = dir.path().join("nobody.sock");
    let o = run(&[
        "status",
        "--attach",
        gone.to_str().unwrap(),
        "--data-dir",
        data_dir,
    ]);
    assert_usage_error(&o, "--attach", &["no node is serving"]);
    let o = run(&["--headless", "--attach", gone.to_str().unwrap()]);
    assert_usage_error(&o, "--attach", &["is for the console"]);
    // No history there: it reads as empty, and none is created.
    let none = dir.path().join("none");
    let o = run(&["status", "--json", "--data-dir", none.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let empty: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(empty["running"], false);
    assert_eq!(empty["faults_total"], 0);
    assert!(!none.exists());
}

/// `dry-run` without `--window` beside a running node: whatever block the node is at, it
/// dry-runs a window whose leader is known, and says which and why. The rule (RFC 12's safe
/// block, 32 blocks before a window): the next window once its safe block is mined, else the
/// current one.
#[test]
fn dry_run_without_a_window_beside_a_running_node_takes_a_window_whose_leader_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut node = node_on(dir.path(), "14");
    let (tx, events) = std::sync::mpsc::channel::<Value>();
    let out = node.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let _ = tx.send(serde_json::from_str(&line.unwrap()).unwrap());
        }
    });
    // Past the first window's start, so that a current window exists.
    while events.recv().expect("the node runs")["type"] != "window_started" {}
    let wallet = {
        let o = run(&[
            "status",
            "--json",
            "--data-dir",
            data_dir,
            "--devnet-seed",
            "14",
        ]);
        let status: Value = serde_json::from_str(&stdout(&o)).unwrap();
        status["wallets"][0]["wallet"].as_str().unwrap().to_string()
    };
    let dry_run = |json: bool| {
        let mut args = vec![
            "dry-run",
            "--wallet",
            &wallet,
            "--data-dir",
            data_dir,
            "--devnet-seed",
            "14",
        ];
        if json {
            args.push("--json");
        }
        run(&args)
    };
    for _ in 0..5 {
        let o = dry_run(true);
        assert!(o.status.success(), "{}", stderr(&o));
        let record: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let head = record["current_block"].as_u64().unwrap();
        let window = record["coordination_block"].as_u64().unwrap();
        let choice = &record["window_choice"];
        let next = (head / 900 + 1) * 900;
        let reason = choice["reason"].as_str().unwrap();
        match choice["chosen"].as_str().unwrap() {
            "next" => {
                assert_eq!(window, next, "{record}");
                assert!(next - 32 <= head, "{record}");
                assert!(reason.contains(&format!("safe block {} is mined", next - 32)));
            }
            "current" => {
                assert_eq!(window, head / 900 * 900, "{record}");
                assert!(next - 32 > head, "{record}");
                assert!(reason.contains(&format!("{next}")), "{reason}");
            }
            other => panic!("chosen {other}: {record}"),
        }
        assert!(record["safe_block"].as_u64().unwrap() <= head);
    }
    // As text: the window and the reason.
    let o = dry_run(false);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("window "))
        .unwrap_or_else(|| panic!("no window line in {text}"));
    assert!(
        line.contains("the next window:") || line.contains("the current window:"),
        "{text}"
    );
    signal(node.id(), libc::SIGTERM);
    assert!(node.wait().unwrap().success());
    reader.join().unwrap();
}

/// The flags a command's help lists, by heading: `{"Options": ["--wallet", …], …}`.
fn help_sections(args: &[&str]) -> std::collections::BTreeMap<String, Vec<String>> {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let mut sections = std::collections::BTreeMap::new();
    let mut heading = String::new();
    for line in stdout(&o).lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            heading = line.trim_end_matches(':').to_string();
        } else if let Some(flag) = line
            .trim_start()
            .split([' ', ','])
            .find(|w| w.starts_with("--"))
        {
            if line.trim_start().starts_with('-') {
                sections
                    .entry(heading.clone())
                    .or_insert_with(Vec::new)
                    .push(flag.to_string());
            }
        }
    }
    sections
}

fn flags_of(args: &[&str]) -> BTreeSet<String> {
    help_sections(args).into_values().flatten().collect()
}

/// Each command's help lists the flags that command uses, no others.
#[test]
fn each_command_lists_the_flags_it_takes() {
    let console = flags_of(&["console", "--help"]);
    let run_ = flags_of(&["run", "--help"]);
    for flag in ["--theme", "--attach"] {
        assert!(console.contains(flag), "console lacks {flag}");
        assert!(!run_.contains(flag), "run lists {flag}");
    }
    for flag in [
        "--headless",
        "--json",
        "--all-events",
        "--stop-after-windows",
    ] {
        assert!(run_.contains(flag), "run lacks {flag}");
        assert!(!console.contains(flag), "console lists {flag}");
    }
    // What both start: a node.
    for flag in [
        "--block-time",
        "--devnet-transport",
        "--rpc-url",
        "--p2p-peers",
        "--log-level",
        "--metrics-addr",
        "--devnet-seed",
    ] {
        assert!(run_.contains(flag) && console.contains(flag), "{flag}");
    }
    let summary = stdout(&run(&["--help"]));
    let run_line = summary
        .lines()
        .find(|l| l.trim_start().starts_with("run "))
        .unwrap();
    // It runs in Ethereum mode too, and says so.
    assert!(run_line.contains("Ethereum mode"), "{run_line}");
    let run_help = stdout(&run(&["run", "--help"]));
    assert!(
        run_help.lines().next().unwrap().contains("Ethereum mode"),
        "{run_help}"
    );

    // Under "Ethereum mode" and "Peer network", only their own flags: a command's own
    // flags are its options.
    let ethereum = help_sections(&["dry-run", "--help"])["Ethereum mode"].clone();
    assert!(ethereum.contains(&"--rpc-url".to_string()));
    let peers = help_sections(&["run", "--help"])["Peer network"].clone();
    assert!(peers.contains(&"--p2p-listen".to_string()));
    let own: &[(&str, &[&str])] = &[
        ("dry-run", &["--wallet", "--window", "--json"]),
        ("verify-evidence", &["--json"]),
        (
            "run",
            &["--headless", "--json", "--block-time", "--log-level"],
        ),
        (
            "console",
            &["--theme", "--attach", "--block-time", "--metrics-addr"],
        ),
    ];
    for (command, flags) in own {
        let sections = help_sections(&[command, "--help"]);
        for flag in *flags {
            let flag = flag.to_string();
            assert!(
                sections["Options"].contains(&flag),
                "{command} {flag}: {sections:?}"
            );
        }
        for heading in ["Ethereum mode", "Peer network"] {
            let listed = sections.get(heading).cloned().unwrap_or_default();
            let expected = if heading == "Ethereum mode" {
                &ethereum
            } else {
                &peers
            };
            assert!(
                listed.iter().all(|f| expected.contains(f)),
                "{command} under {heading}: {listed:?}"
            );
        }
    }

    // status and faults read a history: no devnet shape and no fee rate.
    for command in ["status", "faults"] {
        let flags = flags_of(&[command, "--help"]);
        for flag in ["--data-dir", "--devnet-seed", "--chain-id"] {
            assert!(flags.contains(flag), "{command} lacks {flag}");
        }
        for flag in [
            "--devnet-wallets",
            "--devnet-operators",
            "--btc-fee-rate",
            "--block-hash-rule",
            "--block-time",
        ] {
            assert!(!flags.contains(flag), "{command} lists {flag}");
        }
    }

    // Every inspect flag says what it is: no flag line without words after it.
    for sub in ["seed", "leader", "checklist", "window"] {
        let text = stdout(&run(&["inspect", sub, "--help"]));
        for line in text.lines().filter(|l| l.trim_start().starts_with("--")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let described = words
                .iter()
                .skip(1)
                .any(|w| !w.starts_with('<') && w.chars().next().is_some_and(char::is_alphabetic));
            assert!(described, "inspect {sub}: {line:?}");
        }
    }

    // verify-evidence's --operator is whose evidence it is, not an identity to run as.
    let text = stdout(&run(&["verify-evidence", "--help"]));
    let operator = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--operator"))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(operator.contains("whose evidence"), "{operator}");
    assert!(!operator.contains("Run as"), "{operator}");
}

/// The flags each command took before still work where they apply, and where they do not
/// the command says so by name.
#[test]
fn flags_still_parse_where_they_apply() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // run: a headless node with every flag of its own.
    let o = run(&[
        "run",
        "--headless",
        "--json",
        "--all-events",
        "--stop-after-windows",
        "1",
        "--block-time",
        "1ms",
        "--devnet-transport",
        "hub",
        "--devnet-fault-rate",
        "0",
        "--devnet-wallets",
        "1",
        "--devnet-operators",
        "3",
        "--log-level",
        "warn",
        "--data-dir",
        data_dir,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("window_completed"));
    // status and faults: the history flags.
    for command in ["status", "faults"] {
        let o = run(&[command, "--data-dir", data_dir, "--devnet-seed", "1"]);
        assert!(o.status.success(), "{command}: {}", stderr(&o));
        let o = run(&[command, "--data-dir", data_dir, "--devnet-wallets", "2"]);
        assert_usage_error(&o, "--devnet-wallets", &["--devnet-wallets"]);
    }
    // The console's flags are the console's.
    let o = run(&["run", "--attach", "x.sock"]);
    assert_usage_error(&o, "--attach", &["--attach"]);
    let o = run(&["console", "--headless"]);
    assert_usage_error(&o, "--headless", &["--headless"]);
    // Without a command, every flag of both, as before.
    let o = run(&["--headless", "--attach", "x.sock"]);
    assert_usage_error(&o, "--attach", &["is for the console"]);
}
