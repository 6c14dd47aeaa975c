//! `verify-evidence`: reads an evidence export and the seats to check it against, and prints
//! a verdict per entry.

use std::io::Write;

use anyhow::{bail, Context};

use super::{ethereum, Settings};
use crate::cli::UsageError;
use crate::store::Store;

/// `verify-evidence`: a verdict per entry; exit 1 (an error) if any failed, 2 on bad input.
pub async fn verify_evidence_command(
    settings: Settings,
    args: &crate::cli::VerifyEvidenceArgs,
) -> anyhow::Result<()> {
    use crate::evidence::{seats_of, verify, EvidenceEntry};
    let bad = |m: String| -> anyhow::Error { UsageError(m).into() };
    let e = &args.ethereum;
    let not_ours = [
        ("--keystore", e.keystore.is_some()),
        ("--password-file", e.password_file.is_some()),
        ("--token-staking", e.token_staking.is_some()),
        ("--btc-confirmations", e.btc_confirmations.is_some()),
        ("--poll-interval", e.poll_interval.is_some()),
        ("--block-hash-rule", args.chain.block_hash_rule.is_some()),
        ("--btc-fee-rate", args.chain.btc_fee_rate.is_some()),
    ];
    if let Some((flag, _)) = not_ours.iter().find(|(_, given)| *given) {
        return Err(bad(format!(
            "{flag} is not used by verify-evidence: it signs nothing and runs no node"
        )));
    }
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| bad(format!("cannot read the evidence from standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(&args.file).map_err(|e| {
            bad(format!(
                "cannot read the evidence file {}: {e}",
                args.file.display()
            ))
        })?
    };
    let entries: Vec<EvidenceEntry> = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "the evidence file {} is not a faults --evidence --json export: {e}",
            args.file.display()
        ))
    })?;
    let wallets = if args.ethereum.rpc_url.is_some() {
        ethereum::wallets_for_evidence(&settings, &args.ethereum).await?
    } else if let Some(path) = &args.ethereum.wallets {
        crate::chain::ethereum::wallets_file::load(path).map_err(|e| bad(format!("{e}")))?
    } else if args.chain.data_dir.is_some() {
        let path = settings.store_path();
        if !path.exists() {
            return Err(bad(format!("no history at {}", path.display())));
        }
        let store = match Store::open_read_only(&path) {
            Ok(store) => store,
            Err(crate::store::StoreError::OlderSchema { .. }) => {
                return Err(bad(format!(
                    "the history at {} predates fault evidence (schema 4): it keeps no seats",
                    path.display()
                )))
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the history at {}", path.display()))
            }
        };
        let seats = store.wallet_seats()?;
        if seats.is_empty() {
            return Err(bad(format!(
                "the history at {} has no wallet seats recorded",
                path.display()
            )));
        }
        seats
    } else {
        return Err(bad(
            "name where the wallets' seats come from: --wallets FILE, --rpc-url URL or --data-dir DIR"
                .into(),
        ));
    };
    let seats = seats_of(wallets);
    let verdicts: Vec<_> = entries.iter().map(|e| verify(e, &seats)).collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&verdicts)?)?;
    } else {
        for v in &verdicts {
            writeln!(
                out,
                "{} #{} {} wallet {} window {}: {}",
                if v.passed { "PASS" } else { "FAIL" },
                v.id,
                v.fault,
                v.wallet,
                v.coordination_block,
                v.reason
            )?;
        }
    }
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    if failed > 0 {
        bail!("{failed} of {} evidence entries failed", verdicts.len());
    }
    writeln!(out, "{} evidence entries verified", verdicts.len())?;
    Ok(())
}
