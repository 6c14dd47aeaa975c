//! The binary in Ethereum mode, against anvil: `dry-run --rpc-url … --json` from the real
//! Bridge's state, and `run --headless --rpc-url …` with an observer and a keystore signer.

mod bitcoin_support;
mod ethereum_support;
mod loopback_support;

use std::process::{Command, Stdio};

use ethers_signers::LocalWallet;
use serde_json::Value;
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::{Address, WalletPkh};

use bitcoin_support::BitcoinNode;
use ethereum_support::real::{MainUtxo, RealTbtc};
use ethereum_support::*;

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tbtc-coord"));
    c.env_remove("TBTC_COORD_RPC_URL")
        .env_remove("TBTC_COORD_KEYSTORE_PASSWORD")
        .env("NO_COLOR", "1");
    c
}

fn wallets_file(dir: &std::path::Path, wallet: WalletPkh, operators: &[String]) -> String {
    let path = dir.join("wallets.toml");
    let ops: Vec<String> = operators.iter().map(|o| format!("\"{o}\"")).collect();
    std::fs::write(
        &path,
        format!(
            "[[wallet]]\npkh = \"0x{wallet}\"\noperators = [{}]\n",
            ops.join(", ")
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_seed_leader_checklist_and_a_redemption_proposal() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let seats: Vec<Address> = [1, 2, 3].map(operator).to_vec();
    let tbtc = RealTbtc::deploy(&url, &seats).await;
    let wallet = tbtc.create_wallet(&[0xAB; 32], &seats).await.pkh();
    let me = operator(2);
    let utxo = MainUtxo {
        tx_hash: [0x33; 32],
        output_index: 1,
        value: 10 * 100_000_000,
    };
    tbtc.set_main_utxo(&wallet, &utxo).await;
    let script = [vec![0x00, 0x14], vec![0x42; 20]].concat();
    let redeemer = Address([0x77; 20]);
    tbtc.request_redemption(
        &wallet,
        &utxo,
        &redeemer,
        &length_prefixed(&script),
        3_000_000,
    )
    .await;
    mine_to(&url, 900).await;

    let dir = tempfile::tempdir().unwrap();
    let ops: Vec<String> = [1, 2, 3]
        .iter()
        .map(|i| operator(*i).to_checksum())
        .collect();
    let wallets = wallets_file(dir.path(), wallet, &ops);
    let data = dir.path().join("data");
    let out = binary()
        .args(["dry-run", "--rpc-url", &url, "--wallets", &wallets])
        .args(["--wallet", &wallet.to_hex(), "--window", "900"])
        .args([
            "--operator",
            &me.to_checksum(),
            "--bridge",
            &tbtc.bridge.to_checksum(),
        ])
        .args([
            "--block-hash-rule",
            "canonical",
            "--btc-fee-rate",
            "2",
            "--json",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rpc_868 = rpc(
        &url,
        "eth_getBlockByNumber",
        serde_json::json!(["0x364", false]),
    )
    .await;
    assert_eq!(
        format!("0x{}", v["safe_block_hash"].as_str().unwrap()),
        rpc_868["hash"].as_str().unwrap()
    );
    assert_eq!(v["hash_rule"], "canonical");
    assert_eq!(v["seed"].as_str().unwrap().len(), 64);
    assert!(ops.contains(&v["leader"].as_str().unwrap().to_string()));
    assert_eq!(v["checklist"][0], "Redemption");
    assert_eq!(v["proposal"]["action"], "Redemption");
    assert_eq!(
        v["proposal"]["redeemers_output_scripts"],
        serde_json::json!([hex::encode(&script)])
    );
    assert_eq!(
        v["proposal"]["redemption_tx_fee"],
        // 2 sat/vB is below the lowest rate a leader proposes, 5.
        (11 + 68 + 31 + 9 + 22) * 5
    );
    assert_eq!(
        (v["sent"].clone(), v["dispatched"].clone()),
        (false.into(), false.into())
    );
    assert!(data.join("chain-31337.sqlite3").exists());

    // With an Electrum server: the dry run reads Bitcoin too, and says that the Bridge's main
    // UTXO (a made-up one here) is nowhere on Bitcoin.
    let node = BitcoinNode::start().await;
    let out = binary()
        .args(["dry-run", "--rpc-url", &url, "--wallets", &wallets])
        .args(["--wallet", &wallet.to_hex(), "--window", "900"])
        .args(["--operator", &me.to_checksum()])
        .args(["--bridge", &tbtc.bridge.to_checksum()])
        .args([
            "--electrum-url",
            &format!("tcp://127.0.0.1:{}", node.electrum_port),
        ])
        .args(["--bitcoin-network", "regtest"])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("deposits         0 revealed"), "{text}");
    assert!(text.contains("main UTXO        none found"), "{text}");
    assert!(
        text.contains("WARNING          the Bridge's main UTXO hash")
            && text.contains("matches no output of the wallet's transactions on Bitcoin"),
        "{text}"
    );
    // A server of another network is refused, naming it.
    let out = binary()
        .args(["dry-run", "--rpc-url", &url, "--wallets", &wallets])
        .args(["--wallet", &wallet.to_hex(), "--window", "900"])
        .args(["--operator", &me.to_checksum()])
        .args([
            "--electrum-url",
            &format!("tcp://127.0.0.1:{}", node.electrum_port),
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("Electrum") && err.contains("mainnet"), "{err}");

    // A wallet the file does not list, and a bad wallets file, are one-line errors.
    let out = binary()
        .args(["dry-run", "--rpc-url", &url, "--wallets", &wallets])
        .args(["--wallet", &"cd".repeat(20), "--window", "900"])
        .args(["--operator", &me.to_checksum()])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&"cd".repeat(20)) && err.contains("not known"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[wallet]]\npkh = \"0x12\"\noperators = []\n",
    )
    .unwrap();
    let out = binary()
        .args(["dry-run", "--rpc-url", &url, "--wallets"])
        .arg(dir.path().join("bad.toml"))
        .args([
            "--wallet",
            &wallet.to_hex(),
            "--operator",
            &me.to_checksum(),
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("entry 1") && err.contains("0x12"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_run_follows_windows_as_observer_and_as_keystore_signer() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let dir = tempfile::tempdir().unwrap();
    let wallet = WalletPkh([0xAA; 20]);

    // The signer's key, in an encrypted keystore; its address holds seat 2.
    let secret = [0x42u8; 32];
    let signer = OperatorKey::from_secret(&secret).unwrap().address();
    LocalWallet::encrypt_keystore(
        dir.path(),
        &mut rand::thread_rng(),
        secret,
        "pw-123",
        Some("key.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("password"), "pw-123\n").unwrap();
    let ops = vec![
        operator(1).to_checksum(),
        signer.to_checksum(),
        operator(3).to_checksum(),
    ];
    let wallets = wallets_file(dir.path(), wallet, &ops);

    for (identity, observer, window) in [
        (
            vec!["--operator".to_string(), operator(1).to_checksum()],
            true,
            900u64,
        ),
        (
            vec![
                "--keystore".to_string(),
                dir.path().join("key.json").to_str().unwrap().to_string(),
                "--password-file".to_string(),
                dir.path().join("password").to_str().unwrap().to_string(),
            ],
            false,
            1800,
        ),
    ] {
        mine_to(&url, window - 20).await;
        let child = binary()
            .args(["run", "--headless", "--json", "--stop-after-windows", "1"])
            .args(["--rpc-url", &anvil.ws_url(), "--wallets", &wallets])
            .args(&identity)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The node follows new heads once it has announced itself (it subscribes first);
        // then the window is crossed, and the active phase ended so the window completes.
        let mut child = child;
        let stdout = child.stdout.take().unwrap();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut started_tx = Some(started_tx);
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("\"node_started\"") {
                    if let Some(tx) = started_tx.take() {
                        let _ = tx.send(());
                    }
                }
                lines.push(line);
            }
            lines
        });
        started_rx.await.expect("the node announced itself");
        mine_to(&url, window + 85).await;
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("pw-123") && !stderr.contains(&hex::encode(secret)));
        let events: Vec<Value> = reader
            .join()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let started = &events[0];
        assert_eq!(started["type"], "node_started");
        assert_eq!(started["chain"], "chain-31337");
        assert_eq!(started["observer"], observer);
        if !observer {
            assert_eq!(started["operator"], signer.to_checksum());
        }
        assert!(events
            .iter()
            .any(|e| e["type"] == "window_started" && e["coordination_block"] == window));
        assert!(events
            .iter()
            .any(|e| e["type"] == "window_completed" && e["coordination_block"] == window));
    }

    // A wrong password is a one-line error that does not show it.
    std::fs::write(dir.path().join("password"), "not-it\n").unwrap();
    let out = binary()
        .args([
            "run",
            "--headless",
            "--rpc-url",
            &url,
            "--wallets",
            &wallets,
        ])
        .arg("--keystore")
        .arg(dir.path().join("key.json"))
        .arg("--password-file")
        .arg(dir.path().join("password"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    // The operator's mistake: 2, which a service manager does not restart.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wrong password") && !err.contains("not-it"),
        "{err}"
    );
}

/// Member indices are one byte (1..=255): `inspect leader` takes 255 seat holders and refuses
/// 256, naming the size and the limit, instead of wrapping seat 256 to seat 0.
#[test]
fn inspect_leader_takes_255_seats_and_refuses_256() {
    let seed = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let leader = |n: u32| {
        let ops: Vec<String> = (1..=n).map(|i| operator(i).to_checksum()).collect();
        binary()
            .args(["inspect", "leader", "--seed", seed, "--json"])
            .args(["--operators", &ops.join(",")])
            .output()
            .unwrap()
    };
    let out = leader(255);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seat = json["member_index"].as_u64().unwrap();
    assert!((1..=255).contains(&seat), "{json}");

    let out = leader(256);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Refused as bad input.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("--operators") && stderr.contains("256 seats") && stderr.contains("255"),
        "{stderr}"
    );
}

/// The peer network's start-up refusals: a listen port another socket holds, and a wallet
/// without the public key its topic is named after. Both name what is wrong, exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_and_a_wallet_without_its_key_are_refused_naming_them() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let dir = tempfile::tempdir().unwrap();
    let me = operator(1);
    let key = tbtc_coord::protocol::WalletPublicKey::of_secret(&[9; 32]).unwrap();
    let keyed = dir.path().join("keyed.toml");
    std::fs::write(
        &keyed,
        format!(
            "[[wallet]]\npkh = \"0x{}\"\npublic_key = \"{key}\"\noperators = [\"{}\", \"{}\"]\n",
            key.pkh(),
            me.to_checksum(),
            operator(2).to_checksum()
        ),
    )
    .unwrap();
    let keyless = wallets_file(
        dir.path(),
        WalletPkh([0xAA; 20]),
        &[me.to_checksum(), operator(2).to_checksum()],
    );
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = format!("/ip4/127.0.0.1/tcp/{}", held.local_addr().unwrap().port());
    let run = |wallets: &str, listen: &str| {
        let data = tempfile::tempdir().unwrap();
        binary()
            .args(["run", "--headless", "--rpc-url", &url, "--operator"])
            .arg(me.to_checksum())
            .args(["--wallets", wallets, "--p2p-listen", listen, "--data-dir"])
            .arg(data.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let busy = run(keyed.to_str().unwrap(), &listen);
    let err = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("--p2p-listen {listen}")) && err.contains("port in use"),
        "{err}"
    );

    let unkeyed = run(&keyless, "/ip4/127.0.0.1/tcp/0");
    let err = String::from_utf8_lossy(&unkeyed.stderr);
    assert_eq!(unkeyed.status.code(), Some(2), "{err}");
    assert!(
        err.contains("aaaaaaaa") && err.contains("public_key"),
        "{err}"
    );
    drop(held);
}
