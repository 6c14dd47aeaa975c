//! The operator's `assets/`: the example files load with the real loaders, and
//! `config init` writes the example to the platform config path without ever overwriting.

use std::path::{Path, PathBuf};
use std::process::Command;

use tbtc_coord::config::FileConfig;
use tbtc_coord::protocol::BlockHashRule;

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

/// The example with every commented-out `# key = value` line uncommented.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                rest.to_string()
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_config_changes_nothing_as_written_and_every_key_loads() {
    let text = std::fs::read_to_string(asset("config.example.toml")).unwrap();
    assert_eq!(FileConfig::parse(&text).unwrap(), FileConfig::default());
    let all = FileConfig::parse(&uncommented(&text)).unwrap();
    assert_eq!(all.data_dir, Some(PathBuf::from("/var/lib/tbtc-coord")));
    assert_eq!(all.block_hash_rule, Some(BlockHashRule::KeepV2));
    assert!(all.btc_fee_rate.is_some() && all.log_level.is_some() && all.theme.is_some());
    let d = &all.devnet;
    assert!(d.seed.is_some() && d.block_time.is_some() && d.fault_rate.is_some());
    assert!(d.transport.is_some() && d.wallets.is_some() && d.operators.is_some());
    assert!(d.prague.is_some());
    assert!(all.network.listen.is_some());
    assert_eq!((all.network.peers.len(), all.network.allow.len()), (1, 1));
    assert_eq!(all.metrics.addr.as_deref(), Some("127.0.0.1:9601"));
    assert!(all.ethereum.validator().is_some());
    assert_eq!(all.ethereum.sweeps_every_window_from, Some(0));
    assert_eq!(all.bitcoin.electrum.len(), 1);
    assert!(all.bitcoin.network.is_some());
}

#[test]
fn the_example_wallets_file_loads() {
    let wallets =
        tbtc_coord::chain::ethereum::wallets_file::load(&asset("wallets.example.toml")).unwrap();
    assert_eq!(wallets.len(), 1);
    let w = &wallets[0];
    assert!(w.public_key.is_some());
    assert_eq!(w.operators.len(), 4);
    assert_eq!(
        w.operators[1], w.operators[3],
        "one operator holding two seats"
    );
}

#[test]
fn config_init_writes_the_example_and_refuses_to_overwrite() {
    let home = tempfile::tempdir().unwrap();
    let init = || {
        Command::new(env!("CARGO_BIN_EXE_tbtc-coord"))
            .args(["config", "init"])
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("xdg"))
            .output()
            .unwrap()
    };
    let path = home.path().join("xdg/tbtc-coord/config.toml");
    let first = init();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        std::fs::read_to_string(asset("config.example.toml")).unwrap()
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains(path.to_str().unwrap()));
    // Ours alone: the file 0600, the directory it made 0700.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);

    std::fs::write(&path, "theme = \"light\"\n").unwrap();
    let second = init();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains(path.to_str().unwrap()) && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "theme = \"light\"\n"
    );
}

#[test]
fn the_service_unit_keeps_its_data_in_var_lib() {
    let unit = std::fs::read_to_string(asset("tbtc-coord.service")).unwrap();
    for line in [
        "StateDirectory=tbtc-coord",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    assert!(unit.contains("--data-dir /var/lib/tbtc-coord"));
}
