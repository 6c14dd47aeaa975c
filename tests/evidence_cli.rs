//! `verify-evidence` as an operator runs it on a real export: a devnet node's history, its
//! `faults --evidence --json`, and the export tampered with. Exit statuses: 0 all verified,
//! 1 some failed, 3 none failed but some could not be checked, 2 bad input.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tbtc_coord::protocol::WalletInfo;
use tbtc_coord::protocol::{
    checklist, coordination_seed, CoordinationWindow, Hash32, SigningGroup, WalletPkh,
};
use tbtc_coord::store::Store;

/// What a run printed and how it ended.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the binary with `stdin` as its input, killed after `limit`: a refused input must be
/// refused at once, not read for ever.
fn run_within(args: &[&str], stdin: Option<&Path>, limit: Duration) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tbtc-coord"));
    command
        .args(args)
        .env("HOME", std::env::temp_dir())
        .env_remove("TBTC_COORD_RPC_URL")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        Some(path) => command.stdin(std::fs::File::open(path).expect("the input")),
        None => command.stdin(Stdio::null()),
    };
    let mut child = command.spawn().expect("the binary runs");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).expect("utf-8 output");
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tbtc-coord {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn run(args: &[&str]) -> Run {
    run_within(args, None, Duration::from_secs(120))
}

const SEED: &str = "3";

/// A devnet node's history with faults of every type, and its evidence export.
struct History {
    dir: tempfile::TempDir,
    export: Vec<Value>,
    wallets: Vec<WalletInfo>,
}

impl History {
    fn new() -> History {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data_dir = dir.path().to_str().expect("a UTF-8 path");
        // A fault rate of 0.5 over two windows gives idleness, impersonation and mistake.
        let node = run(&[
            "run",
            "--headless",
            "--json",
            "--block-time",
            "3ms",
            "--devnet-seed",
            SEED,
            "--devnet-fault-rate",
            "0.5",
            "--data-dir",
            data_dir,
            "--stop-after-windows",
            "2",
        ]);
        assert_eq!(node.status, Some(0), "{node:?}");
        let export = run(&[
            "faults",
            "--evidence",
            "--json",
            "--data-dir",
            data_dir,
            "--devnet-seed",
            SEED,
        ]);
        assert_eq!(export.status, Some(0), "{export:?}");
        let export: Vec<Value> = serde_json::from_str(&export.stdout).expect("one JSON array");
        for fault in ["LeaderIdleness", "LeaderImpersonation", "LeaderMistake"] {
            assert!(
                export.iter().any(|e| e["fault"] == fault),
                "the fixture has a {fault}: {export:?}"
            );
        }
        let store = Store::open_read_only(&dir.path().join(format!("devnet-{SEED}.sqlite3")))
            .expect("the history");
        let wallets = store.wallet_seats().expect("the seats");
        History {
            dir,
            export,
            wallets,
        }
    }

    fn data_dir(&self) -> &str {
        self.dir.path().to_str().expect("a UTF-8 path")
    }

    fn write(&self, name: &str, entries: &[Value]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(entries).expect("JSON")).expect("writing");
        path
    }

    /// `verify-evidence FILE` against this history, the JSON verdicts, and the run.
    fn verify(&self, file: &Path, json: bool) -> Run {
        let mut args = vec![
            "verify-evidence",
            file.to_str().expect("a UTF-8 path"),
            "--data-dir",
            self.data_dir(),
            "--devnet-seed",
            SEED,
        ];
        if json {
            args.push("--json");
        }
        run(&args)
    }

    /// The seats of the history, as a wallets file.
    fn wallets_file(&self) -> PathBuf {
        let mut text = String::new();
        for w in &self.wallets {
            let operators: Vec<String> = w.operators.iter().map(|o| format!("\"{o}\"")).collect();
            text.push_str(&format!("[[wallet]]\npkh = \"0x{}\"\n", w.wallet));
            if let Some(key) = &w.public_key {
                text.push_str(&format!("public_key = \"{key}\"\n"));
            }
            text.push_str(&format!("operators = [{}]\n", operators.join(", ")));
        }
        let path = self.dir.path().join("wallets.toml");
        std::fs::write(&path, text).expect("writing the wallets file");
        path
    }

    fn first(&self, fault: &str) -> Value {
        self.export
            .iter()
            .find(|e| e["fault"] == fault)
            .cloned()
            .expect("the fixture has one")
    }

    fn seats_of(&self, entry: &Value) -> SigningGroup {
        let wallet: WalletPkh = serde_json::from_value(entry["wallet"].clone()).expect("a PKH");
        let info = self
            .wallets
            .iter()
            .find(|w| w.wallet == wallet)
            .expect("the wallet's seats");
        SigningGroup::new(info.operators.clone()).expect("a group")
    }
}

/// The JSON verdicts of a run: stdout must be one JSON array and nothing else.
fn json_verdicts(run: &Run) -> Vec<Value> {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON array ({e}): {run:?}"))
}

fn one_line(run: &Run) -> &str {
    let line = run.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{run:?}");
    line
}

/// `entry` reseeded from another safe block hash, its seed, leader, checklist and culprit
/// recomputed so it holds in itself, and blaming another operator than the true leader.
fn forged(history: &History, entry: &Value) -> Value {
    let wallet: WalletPkh = serde_json::from_value(entry["wallet"].clone()).expect("a PKH");
    let cb = entry["coordination_block"].as_u64().expect("a window");
    let group = history.seats_of(entry);
    let honest = entry["leader"].clone();
    for i in 0u32.. {
        let hash = Hash32(Sha256::digest(i.to_be_bytes()).into());
        let seed = coordination_seed(&wallet, &hash);
        let leader = group.leader(&seed).expect("a leader");
        let blamed = serde_json::to_value(leader.operator).expect("JSON");
        if blamed == honest {
            continue;
        }
        let mut forged = entry.clone();
        forged["safe_block_hash"] = serde_json::to_value(hash).expect("JSON");
        forged["seed"] = serde_json::to_value(seed).expect("JSON");
        forged["leader"] = blamed.clone();
        forged["culprit"] = blamed;
        forged["leader_member_index"] = Value::from(leader.member_index);
        forged["checklist"] =
            serde_json::to_value(checklist(CoordinationWindow::new(cb), &seed)).expect("JSON");
        return forged;
    }
    unreachable!("some hash elects another leader")
}

#[test]
fn an_honest_export_verifies_against_the_history_with_json_alone_on_stdout() {
    let h = History::new();
    let file = h.write("evidence.json", &h.export);
    let o = h.verify(&file, true);
    assert_eq!(o.status, Some(0), "{o:?}");
    let verdicts = json_verdicts(&o);
    assert_eq!(verdicts.len(), h.export.len());
    for v in &verdicts {
        assert_eq!(v["outcome"], "verified", "{v}");
        assert_eq!(v["passed"], true, "{v}");
    }
    assert_eq!(o.stderr, "", "{o:?}");

    // Text: a line per entry, then the count.
    let o = h.verify(&file, false);
    assert_eq!(o.status, Some(0), "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), h.export.len() + 1, "{o:?}");
    assert!(lines[..h.export.len()]
        .iter()
        .all(|l| l.starts_with("PASS #")));
    assert_eq!(
        lines[h.export.len()],
        format!("{} evidence entries verified", h.export.len())
    );

    // From standard input.
    let o = run_within(
        &[
            "verify-evidence",
            "-",
            "--json",
            "--data-dir",
            h.data_dir(),
            "--devnet-seed",
            SEED,
        ],
        Some(&file),
        Duration::from_secs(120),
    );
    assert_eq!(o.status, Some(0), "{o:?}");
    assert_eq!(json_verdicts(&o).len(), h.export.len());
}

#[test]
fn with_seats_alone_the_safe_block_hashes_are_unchecked_and_exit_3() {
    let h = History::new();
    let file = h.write("evidence.json", &h.export);
    let wallets = h.wallets_file();
    let args = [
        "verify-evidence",
        file.to_str().expect("a UTF-8 path"),
        "--wallets",
        wallets.to_str().expect("a UTF-8 path"),
    ];
    let o = run(&[&args[..], &["--json"]].concat());
    assert_eq!(o.status, Some(3), "{o:?}");
    for v in json_verdicts(&o) {
        assert_eq!(v["outcome"], "unchecked", "{v}");
        assert_eq!(v["passed"], false, "{v}");
        let reason = v["reason"].as_str().expect("a reason");
        assert!(
            reason.contains("the safe block hash could not be checked")
                && reason.contains("pass --rpc-url or --data-dir"),
            "{reason}"
        );
    }
    assert!(one_line(&o).contains("could not be checked"), "{o:?}");

    let o = run(&args);
    assert_eq!(o.status, Some(3), "{o:?}");
    assert!(
        o.stdout.lines().all(|l| l.starts_with("UNCHECKED #")),
        "{o:?}"
    );

    // A forgery that holds in itself is not verified without a source either.
    let idle = h.first("LeaderIdleness");
    let forged_file = h.write("forged.json", &[forged(&h, &idle)]);
    let o = run(&[
        "verify-evidence",
        forged_file.to_str().expect("a UTF-8 path"),
        "--wallets",
        wallets.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(o.status, Some(3), "{o:?}");
    assert!(o.stdout.starts_with("UNCHECKED #"), "{o:?}");
}

#[test]
fn an_idleness_with_a_forged_safe_block_hash_fails_against_the_history() {
    let h = History::new();
    let idle = h.first("LeaderIdleness");
    let forgery = forged(&h, &idle);
    assert_ne!(
        forgery["culprit"], idle["culprit"],
        "another operator is framed"
    );
    // The honest entries beside it still verify; the forgery fails, and so does the run.
    let mut entries = h.export.clone();
    entries.push(forgery);
    let file = h.write("forged.json", &entries);
    let o = h.verify(&file, true);
    assert_eq!(o.status, Some(1), "{o:?}");
    let verdicts = json_verdicts(&o);
    let (last, honest) = verdicts.split_last().expect("verdicts");
    assert!(honest.iter().all(|v| v["outcome"] == "verified"), "{o:?}");
    assert_eq!(last["outcome"], "failed", "{o:?}");
    assert_eq!(last["passed"], false, "{o:?}");
    let reason = last["reason"].as_str().expect("a reason");
    assert!(reason.contains("is not the hash of block"), "{reason}");
    assert!(
        one_line(&o).contains(&format!("1 of {} evidence entries failed", entries.len())),
        "{o:?}"
    );
}

#[test]
fn self_contradicting_entries_fail() {
    let h = History::new();
    let idle = h.first("LeaderIdleness");
    let impersonation = h.first("LeaderImpersonation");
    let cb = idle["coordination_block"].as_u64().expect("a window");

    let mut off_by_one = h.first("LeaderMistake");
    off_by_one["safe_block"] = Value::from(off_by_one["safe_block"].as_u64().expect("n") + 1);

    let mut with_message = idle.clone();
    with_message["message"] = impersonation["message"].clone();

    // The leader heard proposing Noop (always acceptable) from its seat in this window.
    let mut heard_the_leader = idle.clone();
    heard_the_leader["context"]["heard"] = serde_json::json!([{
        "block": cb + 2,
        "member_index": idle["leader_member_index"],
        "operator": idle["leader"],
        "coordination_block": cb,
        "action": "Noop",
        "verdict": "LeaderMistake",
    }]);

    // Far more heard messages than a node keeps (64).
    let mut too_many = idle.clone();
    let one = serde_json::json!({
        "block": cb + 2,
        "member_index": 1,
        "operator": "0x0000000000000000000000000000000000000001",
        "coordination_block": cb,
        "action": "Heartbeat",
        "verdict": "not_seat_holder",
    });
    too_many["context"]["heard"] = Value::from(vec![one; 10_000]);

    for (name, entry, why) in [
        ("off-by-one", off_by_one, "is not block"),
        ("with-message", with_message, "silence is not signed"),
        (
            "heard-the-leader",
            heard_the_leader,
            "was heard proposing Noop",
        ),
        ("too-many", too_many, "more than 64 heard messages"),
    ] {
        let file = h.write(&format!("{name}.json"), &[entry]);
        let o = h.verify(&file, false);
        assert_eq!(o.status, Some(1), "{name}: {o:?}");
        let line = o.stdout.lines().next().unwrap_or_default();
        assert!(
            line.starts_with("FAIL #") && line.contains(why),
            "{name}: {o:?}"
        );
    }
}

/// A seats source for the bad-input cases, which are refused before it is read.
fn some_wallets(dir: &Path) -> PathBuf {
    let path = dir.join("wallets.toml");
    std::fs::write(
        &path,
        format!(
            "[[wallet]]\npkh = \"0x{}\"\noperators = [\"0x{}\", \"0x{}\"]\n",
            "ab".repeat(20),
            "11".repeat(20),
            "22".repeat(20)
        ),
    )
    .expect("writing the wallets file");
    path
}

fn refused(file: &Path, wallets: &Path) -> Run {
    let o = run_within(
        &[
            "verify-evidence",
            file.to_str().expect("a UTF-8 path"),
            "--wallets",
            wallets.to_str().expect("a UTF-8 path"),
        ],
        None,
        // A hang guard: /dev/zero or a FIFO read as an export never ends.
        Duration::from_secs(60),
    );
    assert_eq!(o.status, Some(2), "{o:?}");
    assert_eq!(o.stdout, "", "{o:?}");
    o
}

#[test]
fn a_device_a_directory_or_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wallets = some_wallets(dir.path());
    let o = refused(Path::new("/dev/zero"), &wallets);
    let line = one_line(&o);
    assert!(
        line.contains("/dev/zero") && line.contains("not a regular file"),
        "{o:?}"
    );
    let o = refused(dir.path(), &wallets);
    assert!(one_line(&o).contains("a directory"), "{o:?}");
    // A FIFO nobody writes to would block a plain open or read for ever.
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("a C path");
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let o = refused(&fifo, &wallets);
    assert!(one_line(&o).contains("a FIFO"), "{o:?}");
}

#[test]
fn a_file_that_is_not_an_export_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wallets = some_wallets(dir.path());
    for (name, text) in [
        ("object.json", "{\"id\": 1}"),
        ("trailing.json", "[] []"),
        ("empty.json", ""),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("writing");
        let o = refused(&file, &wallets);
        let line = one_line(&o);
        assert!(
            line.contains(name) && line.contains("is not a faults --evidence --json export"),
            "{o:?}"
        );
    }
}
