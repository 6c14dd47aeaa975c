//! How a failed command ends: the one line it prints, and its exit status, which a service
//! manager acts on (the shipped systemd unit does not restart a node that exited 2).
//!
//! - 2: the operator's input is wrong (flags, config file, wallets file, keystore, password,
//!   a data directory too long for its socket): restarting cannot help.
//! - A command's own status ([`ExitStatusError`], e.g. `verify-evidence`'s 3), or 128 + the
//!   signal that stopped a node before it had started.
//! - 1: anything else, a failure while running (an RPC node down, a disk full).

use crate::chain::ethereum::wallets_file::WalletsFileError;
use crate::cli::{ExitStatusError, UsageError};
use crate::control::ControlError;
use crate::net::signing::keystore::KeystoreError;

/// Exit status for bad input (flags, values, files the operator gave).
pub const EXIT_USAGE: u8 = 2;
/// Exit status for a failure while running.
pub const EXIT_FAILURE: u8 = 1;

/// The exit status of a command that failed with `e`.
pub fn exit_status(e: &anyhow::Error) -> u8 {
    if let Some(status) = e.chain().find_map(|c| c.downcast_ref::<ExitStatusError>()) {
        return status.status;
    }
    let operator_error = e.chain().any(|c| {
        c.is::<UsageError>()
            || c.is::<KeystoreError>()
            || c.is::<WalletsFileError>()
            || matches!(
                c.downcast_ref::<ControlError>(),
                Some(ControlError::PathTooLong { .. })
            )
    });
    if operator_error {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

/// The error and its causes on one line, joined by ": ". Many errors repeat their source's
/// text in their own message; a cause already said is not said again.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    #[error("history store /x: creating the data directory: {source}")]
    struct Repeats {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(30);
        let e = anyhow::Error::new(Repeats { source: io }).context("cannot open the history");
        let line = one_line(&e);
        assert_eq!(line.matches("os error 30").count(), 1, "{line}");
        assert!(
            line.starts_with("cannot open the history: history store /x"),
            "{line}"
        );

        let plain = Err::<(), _>(std::io::Error::other("boom"))
            .context("reading")
            .unwrap_err();
        assert_eq!(one_line(&plain), "reading: boom");
    }

    #[test]
    fn operator_errors_exit_2_and_others_1() {
        let wallets = anyhow::Error::new(WalletsFileError::Empty { path: "w".into() });
        assert_eq!(exit_status(&wallets.context("starting")), EXIT_USAGE);
        let key = anyhow::Error::new(KeystoreError::WrongPassword { path: "k".into() });
        assert_eq!(exit_status(&key), EXIT_USAGE);
        let own = anyhow::Error::new(ExitStatusError {
            status: 3,
            message: "unchecked".into(),
        });
        assert_eq!(exit_status(&own), 3);
        assert_eq!(exit_status(&anyhow::anyhow!("rpc down")), EXIT_FAILURE);
    }
}
