//! `config init`: writes the example config file, every key commented, for the operator to
//! edit.

use std::io::Write;

use anyhow::Context;

/// The example config file, every key commented: what `config init` writes.
pub const CONFIG_EXAMPLE: &str = include_str!("../../assets/config.example.toml");

/// `config init`: writes [`CONFIG_EXAMPLE`] to `explicit` (`--config FILE`) or the platform
/// config path, creating its directory. An existing file is never overwritten.
pub fn config_init(explicit: Option<&std::path::Path>) -> anyhow::Result<()> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => crate::config::default_config_path()
            .context("no home directory for the config file: pass --config FILE")?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    // Never overwrite, even a file that appears between a check and the write, and never
    // write through a symlink; 0600, as every file the node writes.
    let mut file = match crate::files::create_new_private(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(crate::cli::UsageError(format!(
                "{} already exists: not overwritten (edit it, or move it away first)",
                path.display()
            ))
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(CONFIG_EXAMPLE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
