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

use crate::protocol::BlockHashRule;

/// The `[devnet]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevnetSection {
    pub seed: Option<u64>,
    /// A duration such as `100ms` or `2s`.
    pub block_time: Option<String>,
    pub fault_rate: Option<f64>,
    pub wallets: Option<usize>,
    pub operators: Option<usize>,
    /// Headers with Prague's `requestsHash` (the two hash rules then differ).
    pub prague: Option<bool>,
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
    pub theme: Option<String>,
    pub devnet: DevnetSection,
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
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        let config: FileConfig = toml::from_str(text)?;
        if let Some(rate) = config.devnet.fault_rate {
            if !(0.0..=1.0).contains(&rate) {
                bail!("devnet.fault_rate: expected a number from 0 to 1, got {rate}");
            }
        }
        if let Some(bt) = &config.devnet.block_time {
            parse_block_time(bt).context("devnet.block_time")?;
        }
        Ok(config)
    }
}

/// Parses a block time such as `2ms` or `1s`; it must be positive.
pub fn parse_block_time(s: &str) -> anyhow::Result<Duration> {
    let d = humantime::parse_duration(s)
        .with_context(|| format!("expected a duration such as 100ms or 2s, got {s:?}"))?;
    if d.is_zero() {
        bail!("expected a positive duration, got {s:?}");
    }
    Ok(d)
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
            "#,
        )
        .unwrap();
        assert_eq!(c.block_hash_rule, Some(BlockHashRule::Canonical));
        assert_eq!(c.devnet.seed, Some(7));
        assert_eq!(c.devnet.block_time.as_deref(), Some("250ms"));
        assert_eq!(c.data_dir, Some(PathBuf::from("/var/lib/tbtc-coord")));
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
    }
}
