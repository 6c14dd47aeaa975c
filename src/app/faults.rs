//! `faults`: the recorded faults as a table, JSON or CSV (from the running node, else the
//! history read-only), or with `--evidence` the signed messages behind them.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;

use super::{node_socket, Settings};
use crate::cli::FaultsArgs;
use crate::engine::records::{FaultFilter, FaultOrder};
use crate::store::Store;

/// Opens the history for reading, beside a running node or none. Nothing is written: a
/// missing or empty history reads as empty, and one of an older schema is refused with what
/// to do (a node upgrades it, under its lock).
pub(crate) fn open_history_read_only(settings: &Settings) -> anyhow::Result<Arc<Store>> {
    let path = settings.store_path();
    let store = Store::open_read_only_or_empty(&path)
        .with_context(|| format!("cannot read the history at {}", path.display()))?;
    if store.path().is_none() {
        tracing::info!(path = %path.display(), "no history there yet: it reads as empty");
    }
    Ok(Arc::new(store))
}

pub async fn faults_command(settings: Settings, args: &FaultsArgs) -> anyhow::Result<()> {
    let filter = FaultFilter {
        wallet: args.wallet,
        operator: args.operator,
        fault: args.fault_type,
        from_block: args.from,
        to_block: args.to,
        search: None,
    };
    let limit = args.limit.unwrap_or(i64::MAX as u64);
    if args.evidence {
        // Read from the history itself (read-only beside a running node): the control
        // socket serves the records the console shows, not the signed messages.
        let store = open_history_read_only(&settings)?;
        let entries: Vec<crate::evidence::EvidenceEntry> = store
            .fault_evidence(&filter, 0, limit)?
            .iter()
            .map(crate::evidence::EvidenceEntry::from_row)
            .collect();
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string(&entries)?
        )?;
        return Ok(());
    }
    let rows = match node_socket::running_node(&settings.socket_path(), "tbtc-coord faults").await?
    {
        Some(mut node) => node_socket::faults_from_node(&mut node, &filter, limit).await?,
        None => {
            open_history_read_only(&settings)?.faults(&filter, FaultOrder::NewestFirst, 0, limit)?
        }
    };
    // Taken once the rows are read: stdout's lock is never held across an await.
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&rows)?)?;
    } else if args.csv {
        write_faults_csv(&mut out, &rows)?;
    } else {
        writeln!(
            out,
            "{:>10}  {:<40}  {:<42}  {:<19}",
            "WINDOW", "WALLET", "CULPRIT", "FAULT"
        )?;
        for r in &rows {
            writeln!(
                out,
                "{:>10}  {:<40}  {:<42}  {:<19}",
                r.coordination_block, r.wallet, r.culprit, r.fault
            )?;
        }
        writeln!(out, "{} faults", rows.len())?;
    }
    Ok(())
}

/// `faults --csv`: a header line, then one record per fault.
fn write_faults_csv(
    out: impl Write,
    rows: &[crate::engine::records::FaultRow],
) -> anyhow::Result<()> {
    // A write error stays an `io::Error`, so a closed pipe is still told apart.
    let io = |e: csv::Error| -> anyhow::Error {
        match e.into_kind() {
            csv::ErrorKind::Io(e) => e.into(),
            other => anyhow::anyhow!("writing CSV: {other:?}"),
        }
    };
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record([
        "coordination_block",
        "wallet",
        "culprit",
        "fault",
        "leader",
        "recorded_at",
    ])
    .map_err(io)?;
    for r in rows {
        csv.write_record([
            r.coordination_block.to_string(),
            r.wallet.to_string(),
            r.culprit.to_string(),
            r.fault.to_string(),
            r.leader.to_string(),
            r.recorded_at.to_string(),
        ])
        .map_err(io)?;
    }
    csv.flush()?;
    Ok(())
}
