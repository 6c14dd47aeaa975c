//! What the operator hands the node, when it is wrong or hostile: devices and oversized files
//! in place of a keystore, password or wallets file; a symlink where the lock goes; an empty
//! or overlong data directory; and what a service manager sees of each (exit 2 for the
//! operator's mistakes, one line saying it once). Also what the node writes (private files
//! only), what read-only commands leave behind (nothing), and a node whose disk is full.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tbtc-coord"));
    c.env("HOME", std::env::temp_dir())
        .env_remove("TBTC_COORD_KEYSTORE_PASSWORD")
        .env_remove("RUST_LOG");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2 and one line on stderr holding every word.
fn assert_operator_error(o: &Output, what: &str, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    for w in words {
        assert!(err.contains(w), "{what}: {w:?} in {err}");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// An Ethereum-mode node whose RPC node would never answer: every check below happens before
/// the node is asked anything.
fn ethereum_node(data_dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--headless",
        "--rpc-url",
        "http://127.0.0.1:9",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    args.extend(extra);
    run(&args)
}

/// `key new|show --keystore FILE --password-file PW`.
fn key(command: &str, keystore: &Path, pw: &Path) -> Output {
    run(&[
        "key",
        command,
        "--keystore",
        keystore.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ])
}

fn new_key(dir: &Path, name: &str, password: &str) -> (PathBuf, PathBuf) {
    let pw = dir.join(format!("{name}.pw"));
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    let keystore = dir.join(name);
    let o = key("new", &keystore, &pw);
    assert!(o.status.success(), "key new: {}", stderr(&o));
    (keystore, pw)
}

#[test]
fn devices_in_place_of_the_keystore_password_or_wallets_file_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (keystore, pw) = new_key(dir.path(), "key.json", "correct horse");
    let data = dir.path().join("data");
    let cases: [(&str, Vec<&str>, &[&str]); 4] = [
        (
            "--keystore /dev/zero",
            vec![
                "--keystore",
                "/dev/zero",
                "--password-file",
                pw.to_str().unwrap(),
            ],
            &["/dev/zero", "not a regular file"],
        ),
        (
            "--password-file /dev/zero",
            vec![
                "--keystore",
                keystore.to_str().unwrap(),
                "--password-file",
                "/dev/zero",
            ],
            &["password file /dev/zero", "not a regular file"],
        ),
        (
            "--wallets /dev/zero",
            vec![
                "--operator",
                "0x0000000000000000000000000000000000000001",
                "--wallets",
                "/dev/zero",
            ],
            &["wallets file /dev/zero", "not a regular file"],
        ),
        (
            "--password-file <a directory>",
            vec![
                "--keystore",
                keystore.to_str().unwrap(),
                "--password-file",
                dir.path().to_str().unwrap(),
            ],
            &["a directory"],
        ),
    ];
    for (what, extra, words) in cases {
        let o = ethereum_node(&data, &extra);
        assert_operator_error(&o, what, words);
    }
    // Nothing was created for a node that never started.
    assert!(!data.exists());
}

#[test]
fn a_wrong_password_and_a_bad_wallets_file_exit_2_so_the_service_is_not_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let (keystore, _) = new_key(dir.path(), "key.json", "correct horse");
    let wrong = dir.path().join("wrong.pw");
    std::fs::write(&wrong, "battery staple\n").unwrap();
    let o = ethereum_node(
        &dir.path().join("data"),
        &[
            "--keystore",
            keystore.to_str().unwrap(),
            "--password-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_operator_error(&o, "wrong password", &["wrong password for the keystore"]);

    let wallets = dir.path().join("wallets.toml");
    std::fs::write(&wallets, "[[wallet]]\npkh = \"0x12\"\n").unwrap();
    let o = ethereum_node(
        &dir.path().join("data"),
        &[
            "--operator",
            "0x0000000000000000000000000000000000000001",
            "--wallets",
            wallets.to_str().unwrap(),
        ],
    );
    assert_operator_error(&o, "bad wallets file", &["wallets file", "entry 1"]);
}

#[test]
fn a_keystore_asking_for_a_terabyte_of_scrypt_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (keystore, pw) = new_key(dir.path(), "key.json", "correct horse");
    let mut json: Value = serde_json::from_slice(&std::fs::read(&keystore).unwrap()).unwrap();
    json["crypto"]["kdfparams"]["n"] = Value::from(1u64 << 30);
    let hostile = dir.path().join("hostile.json");
    std::fs::write(&hostile, json.to_string()).unwrap();
    let o = key("show", &hostile, &pw);
    assert_operator_error(
        &o,
        "scrypt n = 2^30",
        &["scrypt n = 1073741824", "above the bound of 262144"],
    );
}

#[test]
fn key_new_writes_0600_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (keystore, pw) = new_key(dir.path(), "key.json", "correct horse");
    assert_eq!(mode(&keystore), 0o600);
    let before = std::fs::read(&keystore).unwrap();
    let o = key("new", &keystore, &pw);
    assert_operator_error(&o, "key new over a key", &["never overwritten"]);
    assert_eq!(std::fs::read(&keystore).unwrap(), before);

    let link = dir.path().join("link.json");
    let target = dir.path().join("target.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = key("new", &link, &pw);
    assert_operator_error(
        &o,
        "key new over a dangling symlink",
        &["never overwritten"],
    );
    assert!(!target.exists());
}

/// A fast devnet node (3 ms blocks) that stops after `windows` windows.
fn devnet_args(data_dir: &Path, windows: u64) -> Vec<String> {
    let args = ["run", "--headless", "--json", "--block-time", "3ms"];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--devnet-seed".into(), "5".into()]);
    args.extend(["--data-dir".into(), data_dir.to_str().unwrap().into()]);
    args.extend(["--stop-after-windows".into(), windows.to_string()]);
    args
}

fn devnet_node(data_dir: &Path, windows: u64) -> Output {
    bin()
        .args(devnet_args(data_dir, windows))
        .output()
        .expect("binary runs")
}

#[test]
fn a_symlink_at_the_lock_path_is_refused_and_its_target_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, data.join("devnet-5.lock")).unwrap();
    let o = devnet_node(&data, 1);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a symbolic link: refused"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    std::fs::remove_file(data.join("devnet-5.lock")).unwrap();
    let nowhere = dir.path().join("created");
    std::os::unix::fs::symlink(&nowhere, data.join("devnet-5.lock")).unwrap();
    let o = devnet_node(&data, 1);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!nowhere.exists());
}

#[test]
fn a_symlink_in_place_of_the_history_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let elsewhere = dir.path().join("elsewhere.sqlite3");
    std::os::unix::fs::symlink(&elsewhere, data.join("devnet-5.sqlite3")).unwrap();
    let o = devnet_node(&data, 1);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a symbolic link: refused"),
        "{}",
        stderr(&o)
    );
    assert!(!elsewhere.exists());
}

#[test]
fn a_node_keeps_its_files_private_and_read_only_commands_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh/data");
    let o = devnet_node(&data, 1);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&dir.path().join("fresh")), 0o700);
    assert_eq!(mode(&data.join("devnet-5.sqlite3")), 0o600);
    assert_eq!(mode(&data.join("devnet-5.lock")), 0o600);

    let listing = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = listing(&data);
    let data_arg = data.to_str().unwrap();
    for args in [
        vec!["faults", "--data-dir", data_arg, "--devnet-seed", "5"],
        vec![
            "faults",
            "--json",
            "--evidence",
            "--data-dir",
            data_arg,
            "--devnet-seed",
            "5",
        ],
        vec![
            "status",
            "--json",
            "--data-dir",
            data_arg,
            "--devnet-seed",
            "5",
        ],
    ] {
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(
            listing(&data),
            before,
            "{args:?} changed the data directory"
        );
    }

    // A missing history, and an empty one, read as empty, and neither is created or filled.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = run(&["faults", "--json", "--data-dir", empty.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    assert!(listing(&empty).is_empty());
    std::fs::write(empty.join("devnet-1.sqlite3"), b"").unwrap();
    let o = run(&["status", "--json", "--data-dir", empty.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["running"], false);
    assert_eq!(status["faults_total"], 0);
    assert_eq!(
        listing(&empty),
        vec![("devnet-1.sqlite3".to_string(), vec![])]
    );
}

#[test]
fn a_history_of_an_older_schema_is_not_migrated_by_a_read_only_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet-1.sqlite3");
    // Our application id, schema version 1: what an old build left behind.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA application_id = 1952609379; PRAGMA user_version = 1; CREATE TABLE windows (x);",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    for args in [vec!["faults"], vec!["status"]] {
        let o = run(&[&args[..], &["--data-dir", dir.path().to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("start the node once with this build"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing beside the history was created");
}

#[test]
fn an_empty_or_overlong_data_directory_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "data_dir = \"\"\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tbtc-coord"))
        .current_dir(dir.path())
        .args(["--config", config.to_str().unwrap(), "run", "--headless"])
        .output()
        .unwrap();
    assert_operator_error(&o, "data_dir = \"\"", &["data_dir", "empty path"]);
    assert!(!dir.path().join("devnet-1.sqlite3").exists());

    let long = dir.path().join("d".repeat(120));
    let o = devnet_node(&long, 1);
    assert_operator_error(
        &o,
        "a long --data-dir",
        &["control socket path", "limit is 107"],
    );
    assert!(
        !long.exists(),
        "nothing is created for a refused data directory"
    );

    let o = run(&["status", "--attach", &format!("/tmp/{}", "s".repeat(120))]);
    assert_operator_error(&o, "status --attach <too long>", &["107"]);
}

#[test]
fn causes_are_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the data directory should be: creating it fails with one OS error.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let o = devnet_node(&file.join("data"), 1);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("os error 20").count(), 1, "{err}");
}

/// Ignoring SIGXFSZ and capping the size of any file the node writes makes every write that
/// grows the history fail as a full disk does, while the node runs on.
fn with_full_disk(c: &mut Command, max_file_bytes: u64) {
    // SAFETY: async-signal-safe calls only, in the child between fork and exec.
    unsafe {
        c.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: max_file_bytes,
                rlim_max: max_file_bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

#[test]
fn stop_after_windows_ends_on_a_full_disk_and_healthz_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A first run leaves a history whose schema is in place.
    let o = devnet_node(&data, 1);
    assert!(o.status.success(), "{}", stderr(&o));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut node = bin();
    node.args(devnet_args(&data, 2))
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SQLite's shared-memory index (32 KiB) fits; the write-ahead log fills up within the
    // first window, and from then on every write fails.
    with_full_disk(&mut node, 48 * 1024);
    let mut child = node.spawn().unwrap();

    // /healthz turns unhealthy once a write has failed (the first is the window's start).
    let mut health = None;
    for _ in 0..600 {
        if let Ok((503, body)) = http_get(port, "/healthz") {
            if body.contains("history write failed") {
                health = Some(body);
                break;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The node ends by itself after its two windows (a hang guard, not a timing check).
    let mut status = None;
    for _ in 0..1200 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the node ran on past --stop-after-windows 2 on a full disk");
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    let health = health.expect("/healthz reported the failing history while the node ran");
    assert!(
        health.contains("database or disk is full") || health.contains("disk I/O"),
        "{health}"
    );
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    let unrecorded = events
        .iter()
        .filter(|e| e["type"] == "window_unrecorded" && e["outcome"] != "interrupted")
        .count();
    assert!(unrecorded >= 1, "{out}");
    assert!(of("history_error") >= 1, "{out}");
    // Two windows went by, whether or not they could be kept.
    assert_eq!(
        of("window_completed") + of("window_missed") + unrecorded,
        2,
        "{out}"
    );
    assert_eq!(events.last().unwrap()["type"], "node_stopped");
}
