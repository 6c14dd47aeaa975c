//! The configuration file (TOML) and where things live on disk. Command-line flags override
//! the file; the file overrides the defaults.
//!
//! The file is read from `--config FILE`, else from the platform's config directory
//! (`~/.config/tbtc-coord/config.toml` on Linux) if it exists. History goes to the platform's
//! data directory (`~/.local/share/tbtc-coord/` on Linux) unless `--data-dir` says otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use directories::ProjectDirs;
use serde::Deserialize;

use crate::devnet::DevnetTransport;
use crate::devnet::{MAX_OPERATORS, MAX_WALLETS, MIN_OPERATORS};
use crate::protocol::BlockHashRule;
use crate::tui::theme::ThemeName;
use crate::values::BLOCK_TIME_RANGE;

/// A config file is a few hundred bytes; anything past this is not one (e.g. `/dev/zero`).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The `[devnet]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevnetSection {
    pub seed: Option<u64>,
    /// A duration such as `100ms` or `2s`.
    pub block_time: Option<String>,
    pub fault_rate: Option<f64>,
    /// `hub` or `libp2p`, as `--devnet-transport`.
    pub transport: Option<DevnetTransport>,
    pub wallets: Option<usize>,
    pub operators: Option<usize>,
    /// Headers with Prague's `requestsHash` (the two hash rules then differ).
    pub prague: Option<bool>,
}

/// The `[network]` section: the peer network, as `--p2p-listen`, `--p2p-peers` and
/// `--p2p-allow` set it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// A multiaddr such as `/ip4/0.0.0.0/tcp/3919`.
    pub listen: Option<String>,
    /// Bootstrap peers, `/ip4/HOST/tcp/PORT/p2p/PEER_ID`.
    pub peers: Vec<String>,
    /// Peer IDs admitted whatever the firewall says.
    pub allow: Vec<String>,
}

impl NetworkSection {
    pub fn is_empty(&self) -> bool {
        self.listen.is_none() && self.peers.is_empty() && self.allow.is_empty()
    }
}

/// The `[metrics]` section, as `--metrics-addr` sets it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serve /metrics, /diagnostics and /healthz here, e.g. `127.0.0.1:9601`.
    pub addr: Option<String>,
}

/// The `[ethereum]` section: what Ethereum mode reads besides `--rpc-url` and its flags.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EthereumSection {
    /// The WalletProposalValidator every candidate proposal is checked with, as
    /// `--wallet-proposal-validator` (checked by [`FileConfig::parse`]; read it with
    /// [`EthereumSection::validator`]).
    pub wallet_proposal_validator: Option<String>,
    /// The coordination block from which both sweeps are on every window's checklist, as
    /// `--sweeps-every-window-from` (mainnet: 24,559,289; elsewhere every window).
    pub sweeps_every_window_from: Option<u64>,
}

impl EthereumSection {
    /// The validator's address; `parse` has checked it.
    pub fn validator(&self) -> Option<crate::protocol::Address> {
        self.wallet_proposal_validator
            .as_deref()
            .and_then(|a| a.parse().ok())
    }
}

/// The `[bitcoin]` section (Ethereum mode), as `--electrum-url` and `--bitcoin-network`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BitcoinSection {
    /// Electrum servers, tried in order: `tcp://`, `ssl://`, `ws://`, `wss://` HOST:PORT.
    pub electrum: Vec<String>,
    pub network: Option<crate::cli::BitcoinNetworkArg>,
}

/// Everything the file may set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub block_hash_rule: Option<BlockHashRule>,
    /// Bitcoin fee rate for proposals, sat/vB.
    pub btc_fee_rate: Option<u64>,
    /// A `tracing` filter such as `info` or `tbtc_coord=debug`.
    pub log_level: Option<String>,
    /// Console colours: "dark" or "light".
    pub theme: Option<ThemeName>,
    pub devnet: DevnetSection,
    pub network: NetworkSection,
    pub metrics: MetricsSection,
    pub ethereum: EthereumSection,
    pub bitcoin: BitcoinSection,
}

fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("org", "tbtc-coord", "tbtc-coord")
}

/// `~/.config/tbtc-coord/config.toml` on Linux.
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// `~/.local/share/tbtc-coord` on Linux.
pub fn default_data_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.data_dir().to_path_buf())
}

impl FileConfig {
    /// Reads `explicit` (which must exist), else the default file if there is one.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match default_config_path() {
                Some(p) if p.exists() => p,
                _ => return Ok(FileConfig::default()),
            },
        };
        let text = read_config_text(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        let config: FileConfig = toml::from_str(text).map_err(|e| one_line(text, &e))?;
        if let Some(rate) = config.devnet.fault_rate {
            if !(0.0..=1.0).contains(&rate) {
                bail!("devnet.fault_rate: expected a number from 0 to 1, got {rate}");
            }
        }
        if let Some(bt) = &config.devnet.block_time {
            parse_block_time(bt).context("devnet.block_time")?;
        }
        if let Some(w) = config.devnet.wallets {
            check_count(w, 1, MAX_WALLETS).context("devnet.wallets")?;
        }
        if let Some(o) = config.devnet.operators {
            check_count(o, MIN_OPERATORS, MAX_OPERATORS).context("devnet.operators")?;
        }
        if let Some(address) = &config.ethereum.wallet_proposal_validator {
            address
                .parse::<crate::protocol::Address>()
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("ethereum.wallet_proposal_validator")?;
        }
        for url in &config.bitcoin.electrum {
            crate::bitcoin::electrum::ServerUrl::parse(url)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("bitcoin.electrum")?;
        }
        if let Some(listen) = &config.network.listen {
            crate::values::parse_listen_addr(listen)
                .map_err(anyhow::Error::msg)
                .context("network.listen")?;
        }
        for peer in &config.network.peers {
            crate::values::parse_peer_addr(peer)
                .map_err(anyhow::Error::msg)
                .context("network.peers")?;
        }
        for peer in &config.network.allow {
            crate::values::parse_operator_peer_id(peer)
                .map_err(anyhow::Error::msg)
                .context("network.allow")?;
        }
        if let Some(addr) = &config.metrics.addr {
            crate::values::parse_metrics_addr(addr)
                .map_err(anyhow::Error::msg)
                .context("metrics.addr")?;
        }
        Ok(config)
    }
}

/// A regular file of at most [`MAX_CONFIG_BYTES`]. Checked before opening, because opening
/// a FIFO blocks until someone writes to it.
fn read_config_text(path: &Path) -> anyhow::Result<String> {
    Ok(crate::files::read_text_bounded(path, MAX_CONFIG_BYTES)?)
}

/// toml's own message spans several lines (a snippet of the file); errors here are one.
fn one_line(text: &str, e: &toml::de::Error) -> anyhow::Error {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(1, |before| before.matches('\n').count() + 1);
            anyhow::anyhow!("line {line}: {message}")
        }
        None => anyhow::anyhow!("{message}"),
    }
}

/// Checks a count setting against its range, naming both in the error.
pub fn check_count(n: usize, min: usize, max: usize) -> anyhow::Result<usize> {
    if !(min..=max).contains(&n) {
        bail!("expected a number from {min} to {max}, got {n}");
    }
    Ok(n)
}

/// Parses a devnet block time such as `2ms` or `1s`, within [`BLOCK_TIME_RANGE`].
pub fn parse_block_time(s: &str) -> anyhow::Result<Duration> {
    BLOCK_TIME_RANGE.parse(s).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_file_parses() {
        let c = FileConfig::parse(
            r#"
            data_dir = "/var/lib/tbtc-coord"
            block_hash_rule = "canonical"
            btc_fee_rate = 12
            log_level = "debug"
            [devnet]
            seed = 7
            block_time = "250ms"
            fault_rate = 0.1
            wallets = 8
            operators = 30
            prague = false
            transport = "libp2p"
            "#,
        )
        .unwrap();
        assert_eq!(c.block_hash_rule, Some(BlockHashRule::Canonical));
        assert_eq!(c.devnet.transport, Some(DevnetTransport::Libp2p));
        assert_eq!(c.devnet.seed, Some(7));
        assert_eq!(c.devnet.block_time.as_deref(), Some("250ms"));
        assert_eq!(c.data_dir, Some(PathBuf::from("/var/lib/tbtc-coord")));
    }

    #[test]
    fn the_ethereum_section_names_a_bad_validator_address() {
        let c = FileConfig::parse(
            "[ethereum]\nwallet_proposal_validator = \"0x30019D85a86ABD3cDA1167F4C052690c32FBDEc2\"\nsweeps_every_window_from = 0\n",
        )
        .unwrap();
        assert!(c.ethereum.wallet_proposal_validator.is_some());
        assert_eq!(c.ethereum.sweeps_every_window_from, Some(0));
        let e = format!(
            "{:#}",
            FileConfig::parse("[ethereum]\nwallet_proposal_validator = \"0x12\"\n").unwrap_err()
        );
        assert!(e.contains("wallet_proposal_validator"), "{e}");
    }

    #[test]
    fn the_bitcoin_section_is_checked_like_the_flags() {
        let c = FileConfig::parse(
            "[bitcoin]\nelectrum = [\"wss://a.example:443\"]\nnetwork = \"regtest\"\n",
        )
        .unwrap();
        assert_eq!(c.bitcoin.electrum.len(), 1);
        assert_eq!(
            c.bitcoin.network,
            Some(crate::cli::BitcoinNetworkArg::Regtest)
        );
        let e = format!(
            "{:#}",
            FileConfig::parse("[bitcoin]\nelectrum = [\"http://a:1\"]\n").unwrap_err()
        );
        assert!(
            e.contains("bitcoin.electrum") && e.contains("http://a:1"),
            "{e}"
        );
    }

    #[test]
    fn the_network_section_is_checked_like_the_flags() {
        let c = FileConfig::parse(
            "[network]\nlisten = \"/ip4/127.0.0.1/tcp/4000\"\n\
             peers = [\"/ip4/10.0.0.1/tcp/3919/p2p/16Uiu2HAmJuxkkaoswvUaZcQdDFyvYVBzve1sZ4ZXGt8r9yzotWgD\"]\n",
        )
        .unwrap();
        assert_eq!(c.network.peers.len(), 1);
        for (text, named) in [
            ("[network]\nlisten = \"tcp:4000\"", "network.listen"),
            (
                "[network]\npeers = [\"/ip4/10.0.0.1/tcp/3919\"]",
                "network.peers",
            ),
            (
                "[network]\nallow = [\"QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N\"]",
                "network.allow",
            ),
        ] {
            let e = format!("{:#}", FileConfig::parse(text).unwrap_err());
            assert!(e.contains(named), "{e}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = FileConfig::parse("colour = 1").unwrap_err();
        assert!(format!("{unknown:#}").contains("colour"), "{unknown:#}");
        let rule = FileConfig::parse("block_hash_rule = \"fast\"").unwrap_err();
        assert!(format!("{rule:#}").contains("fast"), "{rule:#}");
        let rate = FileConfig::parse("[devnet]\nfault_rate = 2.0").unwrap_err();
        assert!(format!("{rate:#}").contains("fault_rate"), "{rate:#}");
        let time = FileConfig::parse("[devnet]\nblock_time = \"soon\"").unwrap_err();
        assert!(format!("{time:#}").contains("block_time"), "{time:#}");
    }

    #[test]
    fn explicit_missing_file_is_an_error_naming_it() {
        let err = FileConfig::load(Some(Path::new("/nonexistent/tbtc.toml"))).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/tbtc.toml"));
    }

    #[test]
    fn block_times() {
        assert_eq!(parse_block_time("2ms").unwrap(), Duration::from_millis(2));
        assert!(parse_block_time("0s").is_err());
        assert!(parse_block_time("fast").is_err());
        let huge = parse_block_time("18446744073709551615s").unwrap_err();
        assert!(format!("{huge}").contains("1h"), "{huge}");
    }

    #[test]
    fn config_errors_are_one_line() {
        for text in [
            "theme = \"neon\"",
            "colour = 1",
            "[devnet]\nwallets = 0",
            "[devnet]\ntransport = \"pigeon\"",
        ] {
            let e = format!("{:#}", FileConfig::parse(text).unwrap_err());
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let theme = format!("{:#}", FileConfig::parse("theme = \"neon\"").unwrap_err());
        assert!(
            theme.contains("neon") && theme.contains("dark or light"),
            "{theme}"
        );
        let c = FileConfig::parse("theme = \"light\"").unwrap();
        assert_eq!(c.theme, Some(ThemeName::Light));
    }
}
