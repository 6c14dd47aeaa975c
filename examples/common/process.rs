//! The `tbtc-coord` binary beside an example, and what a process has used of the CPU.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

/// The `tbtc-coord` binary of the same build as this example.
pub fn tbtc_coord() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("tbtc-coord"))
        .context("no directory above the example")?;
    if !bin.is_file() {
        bail!(
            "{} not found: cargo build --release --bin tbtc-coord",
            bin.display()
        );
    }
    Ok(bin)
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').context("a stat line")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(ticks as f64 / per_second.max(1) as f64)
}

/// CPU use of `pid` over `span`, as a share of one core.
pub fn cpu_share(pid: u32, span: Duration) -> anyhow::Result<f64> {
    let before = cpu_seconds(pid)?;
    std::thread::sleep(span);
    Ok((cpu_seconds(pid)? - before) / span.as_secs_f64())
}
