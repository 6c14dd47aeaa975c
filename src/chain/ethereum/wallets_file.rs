//! `--wallets FILE`: the wallets to coordinate and their signing groups, written by hand
//! instead of discovered from the contracts.
//!
//! ```toml
//! [[wallet]]
//! pkh = "0x…"                      # 20-byte wallet public key hash
//! public_key = "0x04…"              # 65-byte uncompressed group key: needed on the network
//! operators = ["0x…", "0x…"]       # seat holders in seat order (member index 1, 2, …)
//! ```
//!
//! Every mistake is reported with the file, the entry and the value at fault.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::files::read_text_bounded;
use crate::protocol::leader::check_seat_count;
use crate::protocol::WalletInfo;
use crate::protocol::{Address, WalletPkh, WalletPublicKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletsFileError {
    #[error("cannot read the wallets file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("wallets file {path}: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error("wallets file {path}: [[wallet]] entry {entry}: {reason}")]
    Entry {
        path: PathBuf,
        /// 1-based, in file order.
        entry: usize,
        reason: String,
    },
    #[error("wallets file {path}: no [[wallet]] entries")]
    Empty { path: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    wallet: Vec<EntryShape>,
}

/// Kept as strings so an error can say which value is wrong and why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryShape {
    pkh: Option<String>,
    public_key: Option<String>,
    operators: Option<Vec<String>>,
}

/// The largest wallets file read: about a thousand wallets of 100 seats.
pub const MAX_WALLETS_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads and checks a wallets file (a regular file of at most [`MAX_WALLETS_FILE_BYTES`]).
pub fn load(path: &Path) -> Result<Vec<WalletInfo>, WalletsFileError> {
    let text =
        read_text_bounded(path, MAX_WALLETS_FILE_BYTES).map_err(|e| WalletsFileError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    parse(&text, path)
}

/// Parses the text of a wallets file; `path` only names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<WalletInfo>, WalletsFileError> {
    let shape: FileShape = toml::from_str(text).map_err(|e| WalletsFileError::Syntax {
        path: path.to_path_buf(),
        // toml's message spans several lines with a caret diagram; its first line says it.
        reason: e.message().trim().to_string(),
    })?;
    if shape.wallet.is_empty() {
        return Err(WalletsFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut seen = HashSet::new();
    let mut wallets = Vec::with_capacity(shape.wallet.len());
    for (i, entry) in shape.wallet.into_iter().enumerate() {
        let fail = |reason: String| WalletsFileError::Entry {
            path: path.to_path_buf(),
            entry: i + 1,
            reason,
        };
        let public_key = entry
            .public_key
            .as_deref()
            .map(|text| {
                text.parse::<WalletPublicKey>()
                    .map_err(|e| fail(format!("public_key {text:?}: {e}")))
            })
            .transpose()?;
        let wallet: WalletPkh = match (&entry.pkh, public_key) {
            (Some(text), _) => text
                .parse()
                .map_err(|e| fail(format!("pkh {text:?}: {e}")))?,
            (None, Some(key)) => key.pkh(),
            (None, None) => return Err(fail("missing pkh (or public_key)".into())),
        };
        if let Some(key) = public_key {
            if key.pkh() != wallet {
                return Err(fail(format!(
                    "wallet {wallet}: public_key hashes to {}, not to the pkh",
                    key.pkh()
                )));
            }
        }
        let operator_texts = entry
            .operators
            .ok_or_else(|| fail(format!("wallet {wallet}: missing operators")))?;
        if operator_texts.is_empty() {
            return Err(fail(format!("wallet {wallet}: no operators")));
        }
        check_seat_count(operator_texts.len())
            .map_err(|e| fail(format!("wallet {wallet}: {e}")))?;
        let mut operators = Vec::with_capacity(operator_texts.len());
        for (seat, text) in operator_texts.iter().enumerate() {
            let operator: Address = text.parse().map_err(|e| {
                fail(format!(
                    "wallet {wallet}: operator {} (seat {}) {text:?}: {e}",
                    seat + 1,
                    seat + 1
                ))
            })?;
            operators.push(operator);
        }
        if !seen.insert(wallet) {
            return Err(fail(format!("wallet {wallet} is listed twice")));
        }
        wallets.push(WalletInfo {
            wallet,
            public_key,
            operators,
        });
    }
    Ok(wallets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    const B: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";

    fn parse_str(text: &str) -> Result<Vec<WalletInfo>, WalletsFileError> {
        parse(text, Path::new("w.toml"))
    }

    #[test]
    fn a_good_file_keeps_seat_order_and_duplicates() {
        let w = parse_str(&format!(
            "[[wallet]]\npkh = \"0xaa768412ceed10bd423c025542ca90071f9fb62d\"\n\
             operators = [\"{A}\", \"{B}\", \"{A}\"]\n\
             [[wallet]]\npkh = \"bb768412ceed10bd423c025542ca90071f9fb62d\"\noperators = [\"{B}\"]\n"
        ))
        .unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].operators.len(), 3);
        assert_eq!(w[0].operators[0], w[0].operators[2]);
        assert_eq!(w[0].operators[1].to_checksum(), B);
    }

    #[test]
    fn mistakes_name_file_entry_and_value() {
        let bad_pkh = parse_str(&format!(
            "[[wallet]]\npkh = \"0x1234\"\noperators = [\"{A}\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            bad_pkh.contains("w.toml") && bad_pkh.contains("entry 1") && bad_pkh.contains("0x1234"),
            "{bad_pkh}"
        );

        let bad_checksum = A.replace("aA", "AA");
        let bad_op = parse_str(&format!(
            "[[wallet]]\npkh = \"0xaa768412ceed10bd423c025542ca90071f9fb62d\"\noperators = [\"{A}\"]\n\
             [[wallet]]\npkh = \"0xbb768412ceed10bd423c025542ca90071f9fb62d\"\noperators = [\"{B}\", \"{bad_checksum}\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            bad_op.contains("entry 2") && bad_op.contains("seat 2") && bad_op.contains("checksum"),
            "{bad_op}"
        );

        let missing =
            parse_str("[[wallet]]\npkh = \"0xaa768412ceed10bd423c025542ca90071f9fb62d\"\n")
                .unwrap_err()
                .to_string();
        assert!(missing.contains("missing operators"), "{missing}");

        let unknown = parse_str("[[wallet]]\npkh = \"00\"\noperators = []\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("colour"), "{unknown}");

        assert!(matches!(parse_str(""), Err(WalletsFileError::Empty { .. })));
        let twice = parse_str(&format!(
            "[[wallet]]\npkh = \"0xaa768412ceed10bd423c025542ca90071f9fb62d\"\noperators = [\"{A}\"]\n\
             [[wallet]]\npkh = \"0xAA768412CEED10BD423C025542CA90071F9FB62D\"\noperators = [\"{A}\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(twice.contains("twice"), "{twice}");
        let none = load(Path::new("/nonexistent/wallets.toml"))
            .unwrap_err()
            .to_string();
        assert!(none.contains("/nonexistent/wallets.toml"), "{none}");
    }

    #[test]
    fn a_group_of_255_seats_loads_and_256_is_refused() {
        let file = |seats: usize| {
            let ops = vec![format!("\"{A}\""); seats].join(", ");
            format!(
                "[[wallet]]\npkh = \"0xaa768412ceed10bd423c025542ca90071f9fb62d\"\noperators = [{ops}]\n"
            )
        };
        assert_eq!(parse_str(&file(255)).unwrap()[0].operators.len(), 255);
        let err = parse_str(&file(256)).unwrap_err().to_string();
        assert!(
            err.contains("entry 1") && err.contains("256 seats") && err.contains("255"),
            "{err}"
        );
    }
}
