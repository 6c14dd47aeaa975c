//! `verify-evidence`: reads an evidence export and the seats to check it against, checks each
//! entry's safe block hash against the chain or the node's history, and prints a verdict per
//! entry.

use crate::protocol::checklist::ChecklistRules;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use anyhow::{bail, Context};

use super::{ethereum, Settings};
use crate::cli::{ExitStatusError, UsageError};
use crate::evidence::{
    check_stream, seats_of, HashSource, Outcome, Pending, Seats, MAX_EVIDENCE_BYTES,
};
use crate::files::{stream_bounded, BoundedReader};
use crate::store::Store;

/// Exit status when nothing failed but some entries could not be checked.
const EXIT_UNCHECKED: u8 = 3;

/// `verify-evidence`: a verdict per entry. Exit 0 if every entry is verified, 1 (an error)
/// if any failed, 3 if none failed but some could not be checked, 2 on bad input.
pub async fn verify_evidence_command(
    settings: Settings,
    args: &crate::cli::VerifyEvidenceArgs,
) -> anyhow::Result<()> {
    let bad = |m: String| -> anyhow::Error { UsageError(m).into() };
    let e = &args.ethereum;
    let not_ours = [
        ("--keystore", e.keystore.is_some()),
        ("--password-file", e.password_file.is_some()),
        ("--token-staking", e.token_staking.is_some()),
        (
            "--wallet-proposal-validator",
            e.wallet_proposal_validator.is_some(),
        ),
        // Not --electrum-url: its environment variable may be set for the node.
        ("--bitcoin-network", e.bitcoin_network.is_some()),
        ("--btc-confirmations", e.btc_confirmations.is_some()),
        ("--poll-interval", e.poll_interval.is_some()),
        ("--btc-fee-rate", args.chain.btc_fee_rate.is_some()),
    ];
    if let Some((flag, _)) = not_ours.iter().find(|(_, given)| *given) {
        return Err(bad(format!(
            "{flag} is not used by verify-evidence: it signs nothing and runs no node"
        )));
    }
    // Opened first: a device, a directory or a FIFO is refused before the chain is asked.
    let input = open_input(&args.file)?;
    let mut chain = None;
    let mut history = None;
    let wallets = if args.ethereum.rpc_url.is_some() {
        let (wallets, c) = ethereum::wallets_for_evidence(&settings, &args.ethereum).await?;
        chain = Some(c);
        wallets
    } else if let Some(path) = &args.ethereum.wallets {
        if args.chain.history.data_dir.is_some() {
            history = Some(open_history(&settings)?);
        }
        crate::chain::ethereum::wallets_file::load(path).map_err(|e| bad(format!("{e}")))?
    } else if args.chain.history.data_dir.is_some() {
        let (store, path) = open_history(&settings)?;
        let seats = store.wallet_seats()?;
        if seats.is_empty() {
            return Err(bad(format!(
                "the history at {} has no wallet seats recorded",
                path.display()
            )));
        }
        history = Some((store, path));
        seats
    } else {
        return Err(bad(
            "name where the wallets' seats come from: --wallets FILE, --rpc-url URL or --data-dir DIR"
                .into(),
        ));
    };
    // Windows are recomputed under the evidence's chain's checklist rule: the chain asked,
    // else the history's (`--chain-id`), else mainnet's, which the devnet follows too.
    let configured = e
        .sweeps_every_window_from
        .or(settings.ethereum_file.sweeps_every_window_from);
    let rules = match (chain.as_ref().map(|c| c.chain_id()), settings.chain_id) {
        (Some(id), _) | (None, Some(id)) => ChecklistRules::for_chain(id, configured),
        (None, None) => configured.map_or(ChecklistRules::MAINNET, |block| ChecklistRules {
            sweeps_every_window_from: block,
        }),
    };
    let seats = seats_of(wallets).under(rules);
    let checked = check_input(input, seats, &args.file).await;
    let source = match (&chain, &history) {
        (Some(chain), _) => HashSource::Chain {
            chain,
            rule: settings.node.block_hash_rule,
            name: format!("the chain at {}", chain.endpoint()),
        },
        (None, Some((store, path))) => HashSource::History {
            recorded: &|wallet: &crate::protocol::WalletPkh, cb: u64| {
                store.safe_block_hash(wallet, cb).map_err(|e| e.to_string())
            },
            name: format!("the history at {}", path.display()),
        },
        (None, None) => HashSource::None,
    };
    let verdicts = match checked {
        Ok(pending) => Ok(source.settle(pending).await),
        Err(e) => Err(e),
    };
    if let Some(chain) = &chain {
        chain.shutdown().await;
    }
    let verdicts = verdicts?;

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&verdicts)?)?;
    } else {
        for v in &verdicts {
            writeln!(
                out,
                "{} #{} {} wallet {} window {}: {}",
                v.outcome.label(),
                v.id,
                v.fault,
                v.wallet,
                v.coordination_block,
                v.reason
            )?;
        }
    }
    out.flush()?;
    let count = |o: Outcome| verdicts.iter().filter(|v| v.outcome == o).count();
    let (failed, unchecked, total) = (
        count(Outcome::Failed),
        count(Outcome::Unchecked),
        verdicts.len(),
    );
    if failed > 0 {
        let also = if unchecked > 0 {
            format!(", {unchecked} could not be checked")
        } else {
            String::new()
        };
        bail!("{failed} of {total} evidence entries failed{also}");
    }
    if unchecked > 0 {
        return Err(ExitStatusError {
            status: EXIT_UNCHECKED,
            message: format!(
                "{unchecked} of {total} evidence entries could not be checked: their safe block \
                 hash needs a source (--rpc-url, or --data-dir with a history of that window)"
            ),
        }
        .into());
    }
    // In JSON, stdout carries the array alone.
    if !args.json {
        writeln!(out, "{total} evidence entries verified")?;
    }
    Ok(())
}

/// The export as a bounded stream: a regular file (or standard input for `-`) of at most
/// [`MAX_EVIDENCE_BYTES`].
fn open_input(file: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    if file.as_os_str() == "-" {
        return Ok(Box::new(BoundedReader::new(
            BufReader::new(std::io::stdin()),
            MAX_EVIDENCE_BYTES,
        )));
    }
    let reader = stream_bounded(file, MAX_EVIDENCE_BYTES).map_err(|e| {
        UsageError(format!(
            "the evidence file {}: {e}: expected a faults --evidence --json export",
            file.display()
        ))
    })?;
    Ok(Box::new(reader))
}

/// Checks each entry as it is read, off the async workers (parsing a large export is long).
/// A read error, a file past the limit or one that is not an export is bad input.
async fn check_input(
    input: Box<dyn Read + Send>,
    seats: Seats,
    file: &Path,
) -> anyhow::Result<Vec<Pending>> {
    let name = if file.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        format!("the evidence file {}", file.display())
    };
    let checked = tokio::task::spawn_blocking(move || check_stream(input, &seats))
        .await
        .context("checking the evidence")?;
    checked.map_err(|e| {
        let message = if e.is_io() {
            // A read error, or the limit passed (the error names it).
            format!("cannot read {name}: {e}: expected a faults --evidence --json export")
        } else {
            format!("{name} is not a faults --evidence --json export: {e}")
        };
        UsageError(message).into()
    })
}

/// The node's history named by `--data-dir` (and `--chain-id` or `--devnet-seed`), read-only.
fn open_history(settings: &Settings) -> anyhow::Result<(Store, std::path::PathBuf)> {
    let bad = |m: String| -> anyhow::Error { UsageError(m).into() };
    let path = settings.store_path();
    if !path.exists() {
        return Err(bad(format!("no history at {}", path.display())));
    }
    match Store::open_read_only(&path) {
        Ok(store) => Ok((store, path)),
        Err(crate::store::StoreError::OlderSchema { .. }) => Err(bad(format!(
            "the history at {} predates fault evidence (schema 4): it keeps no seats",
            path.display()
        ))),
        Err(e) => Err(e).with_context(|| format!("cannot read the history at {}", path.display())),
    }
}
