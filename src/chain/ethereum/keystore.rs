//! A signing identity from an encrypted Ethereum keystore (the JSON "V3" format geth and
//! keep-core use), decrypted through ethers-signers. The password comes from a file or an
//! environment variable, never from the command line, where `ps` would show it. Neither the
//! password nor the key ever appears in an error: errors name the file and the kind of
//! failure only.

use std::path::{Path, PathBuf};

use ethers_signers::{LocalWallet, WalletError};

use crate::net::signing::OperatorKey;

/// Where the node finds the keystore password when no password file is given.
pub const PASSWORD_ENV: &str = "TBTC_COORD_KEYSTORE_PASSWORD";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    #[error("cannot read the keystore {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot read the password file {path}: {reason}")]
    PasswordFile { path: PathBuf, reason: String },
    #[error("no keystore password: pass --password-file FILE or set {PASSWORD_ENV}")]
    NoPassword,
    #[error("the keystore password is empty")]
    EmptyPassword,
    #[error("wrong password for the keystore {path}")]
    WrongPassword { path: PathBuf },
    #[error("{path} is not a usable encrypted keystore: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    File(PathBuf),
    /// [`PASSWORD_ENV`].
    Environment,
}

/// Reads the password. A file's single trailing newline is not part of it.
fn read_password(source: &PasswordSource) -> Result<String, KeystoreError> {
    let mut password = match source {
        PasswordSource::File(path) => {
            std::fs::read_to_string(path).map_err(|e| KeystoreError::PasswordFile {
                path: path.clone(),
                reason: e.to_string(),
            })?
        }
        PasswordSource::Environment => {
            std::env::var(PASSWORD_ENV).map_err(|_| KeystoreError::NoPassword)?
        }
    };
    if password.ends_with('\n') {
        password.pop();
        if password.ends_with('\r') {
            password.pop();
        }
    }
    if password.is_empty() {
        return Err(KeystoreError::EmptyPassword);
    }
    Ok(password)
}

/// Decrypts the operator key in `keystore`.
pub fn load_operator_key(
    keystore: &Path,
    password: &PasswordSource,
) -> Result<OperatorKey, KeystoreError> {
    // Checked first so that a missing file is reported as such, not as a decryption failure.
    std::fs::metadata(keystore).map_err(|e| KeystoreError::Read {
        path: keystore.to_path_buf(),
        reason: e.to_string(),
    })?;
    let password = read_password(password)?;
    let wallet = LocalWallet::decrypt_keystore(keystore, password).map_err(|e| match e {
        // eth-keystore is not re-exported by ethers-signers: its MAC error is known by name.
        WalletError::EthKeystoreError(inner) if inner.to_string() == "Mac Mismatch" => {
            KeystoreError::WrongPassword {
                path: keystore.to_path_buf(),
            }
        }
        // These errors describe the file's shape (JSON, hex, cipher), not its secrets.
        other => KeystoreError::Invalid {
            path: keystore.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    OperatorKey::from_wallet(wallet).map_err(|e| KeystoreError::Invalid {
        path: keystore.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes a new random operator key to `keystore`, encrypted with the password; refuses to
/// overwrite a file that exists.
pub fn new_operator_key(
    keystore: &Path,
    password: &PasswordSource,
) -> Result<OperatorKey, KeystoreError> {
    let fail = |reason: String| KeystoreError::Invalid {
        path: keystore.to_path_buf(),
        reason,
    };
    if keystore.exists() {
        return Err(fail("the file exists; a key is never overwritten".into()));
    }
    let password = read_password(password)?;
    let name = keystore
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| fail("not a file name".into()))?;
    let dir = match keystore.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (wallet, _) = LocalWallet::new_keystore(dir, &mut rand::rngs::OsRng, password, Some(name))
        .map_err(|e| fail(e.to_string()))?;
    OperatorKey::from_wallet(wallet).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keystore_decrypts_to_its_address_and_errors_keep_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let secret = [7u8; 32];
        let mut rng = rand::thread_rng();
        // Written to the file named "k".
        LocalWallet::encrypt_keystore(dir.path(), &mut rng, secret, "hunter22", Some("k")).unwrap();
        let path = dir.path().join("k");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter22\n").unwrap();
        let key = load_operator_key(&path, &PasswordSource::File(pw.clone())).unwrap();
        assert_eq!(
            key.address(),
            OperatorKey::from_secret(&secret).unwrap().address()
        );

        std::fs::write(&pw, "wrong\n").unwrap();
        let err = load_operator_key(&path, &PasswordSource::File(pw.clone())).unwrap_err();
        assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
        let text = err.to_string();
        assert!(!text.contains("wrong\n") && !text.contains("hunter22"));
        assert!(!text.contains(&hex::encode(secret)));

        std::fs::write(&pw, "\n").unwrap();
        assert!(matches!(
            load_operator_key(&path, &PasswordSource::File(pw.clone())),
            Err(KeystoreError::EmptyPassword)
        ));
        let missing = load_operator_key(
            Path::new("/nonexistent/key.json"),
            &PasswordSource::File(pw),
        )
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/key.json"), "{missing}");

        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, "{not json").unwrap();
        let pw2 = dir.path().join("pw2");
        std::fs::write(&pw2, "x").unwrap();
        let err = load_operator_key(&garbage, &PasswordSource::File(pw2)).unwrap_err();
        assert!(matches!(err, KeystoreError::Invalid { .. }), "{err}");
    }
}
