//! A signing identity from an encrypted Ethereum keystore (the JSON "V3" format geth and
//! keep-core use). The password comes from a file or an environment variable, never from the
//! command line, where `ps` would show it. Neither the password nor the key ever appears in
//! an error: errors name the file and the kind of failure only.
//!
//! The file is the operator's input, so it is treated as hostile until it decrypts: a regular
//! file of at most [`MAX_KEYSTORE_BYTES`], every field checked before use, and key-derivation
//! parameters bounded (a keystore asking for scrypt `n = 2^30` would otherwise allocate a
//! terabyte). Reading and checking ([`open_keystore`]) is quick; the key derivation
//! ([`LockedKeystore::unlock`]) takes up to a second or two, so the node runs it off its async
//! workers. Decryption is done here over the RustCrypto primitives because the keystore
//! crates read the file themselves, unbounded, and panic on short fields.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};

use super::OperatorKey;
use crate::files::{create_new_private, read_bounded, read_text_bounded};

/// Where the node finds the keystore password when no password file is given.
pub const PASSWORD_ENV: &str = "TBTC_COORD_KEYSTORE_PASSWORD";

/// A keystore is a few hundred bytes.
pub const MAX_KEYSTORE_BYTES: u64 = 64 * 1024;
/// A password file holds one line.
pub const MAX_PASSWORD_BYTES: u64 = 4 * 1024;

/// The bounds on key derivation, each named in the error that refuses it. geth's "standard"
/// scrypt (n = 2^18, r = 8, p = 1) is the costliest setting in common use, and the bounds
/// admit it and geth's "light" one (n = 2^12, p = 6); nothing costs more than the standard
/// setting (a 256 MiB, one-second derivation).
pub const MAX_SCRYPT_N: u64 = 1 << 18;
pub const MAX_SCRYPT_R: u64 = 8;
pub const MAX_SCRYPT_P: u64 = 16;
/// The bound on `n · r · p`, the work and memory of one derivation.
pub const MAX_SCRYPT_COST: u64 = MAX_SCRYPT_N * MAX_SCRYPT_R;
/// PBKDF2-HMAC-SHA256 rounds (geth uses 262,144).
pub const MAX_PBKDF2_ROUNDS: u64 = 1 << 20;

/// What `key new` writes: eth-keystore's and ethers' default cost (scrypt n = 2^13, r = 8,
/// p = 1), which every V3 reader accepts.
const NEW_SCRYPT_LOG_N: u8 = 13;
const NEW_SCRYPT_R: u32 = 8;
const NEW_SCRYPT_P: u32 = 1;

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
    #[error(
        "the keystore {path} asks for {parameter} = {value}, above the bound of {bound} this \
         node accepts (re-encrypt the key with cheaper parameters)"
    )]
    KdfBound {
        path: PathBuf,
        parameter: &'static str,
        value: u64,
        bound: u64,
    },
    #[error("cannot write the keystore {path}: {reason}")]
    Write { path: PathBuf, reason: String },
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
        PasswordSource::File(path) => read_text_bounded(path, MAX_PASSWORD_BYTES).map_err(|e| {
            KeystoreError::PasswordFile {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?,
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

/// The V3 keystore file, as far as this node reads and writes it.
#[derive(Debug, Serialize, Deserialize)]
struct KeystoreFile {
    // Some wallets write "Crypto".
    #[serde(alias = "Crypto")]
    crypto: CryptoSection,
    #[serde(default)]
    id: String,
    version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CryptoSection {
    cipher: String,
    cipherparams: CipherParams,
    #[serde(with = "hex_field")]
    ciphertext: Vec<u8>,
    kdf: String,
    kdfparams: serde_json::Value,
    #[serde(with = "hex_field")]
    mac: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CipherParams {
    #[serde(with = "hex_field")]
    iv: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ScryptParams {
    dklen: u64,
    n: u64,
    r: u64,
    p: u64,
    #[serde(with = "hex_field")]
    salt: Vec<u8>,
}

#[derive(Debug, Deserialize)]
struct Pbkdf2Params {
    dklen: u64,
    c: u64,
    prf: String,
    #[serde(with = "hex_field")]
    salt: Vec<u8>,
}

/// Hex strings, with or without `0x`.
mod hex_field {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        let digits = text.strip_prefix("0x").unwrap_or(&text);
        hex::decode(digits).map_err(serde::de::Error::custom)
    }
}

/// How the key is derived from the password, its parameters checked.
#[derive(Debug)]
enum Kdf {
    Scrypt {
        params: scrypt::Params,
        salt: Vec<u8>,
    },
    Pbkdf2 {
        rounds: u32,
        salt: Vec<u8>,
    },
}

/// A keystore read and checked, with its password: what is left is the key derivation,
/// [`LockedKeystore::unlock`].
pub struct LockedKeystore {
    path: PathBuf,
    password: String,
    kdf: Kdf,
    iv: [u8; 16],
    ciphertext: [u8; 32],
    mac: [u8; 32],
}

impl std::fmt::Debug for LockedKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("LockedKeystore")
            .field("path", &self.path)
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

/// Reads `keystore` and its password and checks every field, without deriving the key.
pub fn open_keystore(
    keystore: &Path,
    password: &PasswordSource,
) -> Result<LockedKeystore, KeystoreError> {
    let path = keystore.to_path_buf();
    let invalid = |reason: String| KeystoreError::Invalid {
        path: path.clone(),
        reason,
    };
    // Read first, so that a missing file is reported as such, not as a password problem.
    let bytes = read_bounded(keystore, MAX_KEYSTORE_BYTES).map_err(|e| KeystoreError::Read {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let file: KeystoreFile =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not a V3 keystore: {e}")))?;
    if file.version != 3 {
        return Err(invalid(format!("version {}, expected 3", file.version)));
    }
    let crypto = file.crypto;
    if crypto.cipher != "aes-128-ctr" {
        return Err(invalid(format!(
            "cipher {:?}, expected \"aes-128-ctr\"",
            crypto.cipher
        )));
    }
    let iv = fixed::<16>(&crypto.cipherparams.iv, "cipherparams.iv").map_err(&invalid)?;
    let ciphertext = fixed::<32>(&crypto.ciphertext, "ciphertext").map_err(&invalid)?;
    let mac = fixed::<32>(&crypto.mac, "mac").map_err(&invalid)?;
    let kdf = check_kdf(&crypto.kdf, crypto.kdfparams, &path)?;
    let password = read_password(password)?;
    Ok(LockedKeystore {
        path,
        password,
        kdf,
        iv,
        ciphertext,
        mac,
    })
}

fn fixed<const N: usize>(bytes: &[u8], field: &str) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("{field} is {} bytes, expected {N}", bytes.len()))
}

fn check_kdf(name: &str, params: serde_json::Value, path: &Path) -> Result<Kdf, KeystoreError> {
    let invalid = |reason: String| KeystoreError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let bound = |parameter: &'static str, value: u64, bound: u64| {
        if value > bound {
            Err(KeystoreError::KdfBound {
                path: path.to_path_buf(),
                parameter,
                value,
                bound,
            })
        } else {
            Ok(())
        }
    };
    match name {
        "scrypt" => {
            let p: ScryptParams = serde_json::from_value(params)
                .map_err(|e| invalid(format!("kdfparams for scrypt: {e}")))?;
            if p.dklen != 32 {
                return Err(invalid(format!("kdfparams.dklen {}, expected 32", p.dklen)));
            }
            bound("scrypt n", p.n, MAX_SCRYPT_N)?;
            bound("scrypt r", p.r, MAX_SCRYPT_R)?;
            bound("scrypt p", p.p, MAX_SCRYPT_P)?;
            bound("scrypt n·r·p", p.n * p.r * p.p, MAX_SCRYPT_COST)?;
            if p.n < 2 || !p.n.is_power_of_two() || p.r == 0 || p.p == 0 {
                return Err(invalid(format!(
                    "scrypt n = {}, r = {}, p = {}: n must be a power of two from 2, r and p positive",
                    p.n, p.r, p.p
                )));
            }
            // Within the bounds above every value fits, and the crate's checks pass.
            let params = scrypt::Params::new(p.n.trailing_zeros() as u8, p.r as u32, p.p as u32)
                .map_err(|e| invalid(format!("scrypt parameters: {e}")))?;
            Ok(Kdf::Scrypt {
                params,
                salt: p.salt,
            })
        }
        "pbkdf2" => {
            let p: Pbkdf2Params = serde_json::from_value(params)
                .map_err(|e| invalid(format!("kdfparams for pbkdf2: {e}")))?;
            if p.dklen != 32 {
                return Err(invalid(format!("kdfparams.dklen {}, expected 32", p.dklen)));
            }
            if p.prf != "hmac-sha256" {
                return Err(invalid(format!(
                    "pbkdf2 prf {:?}, expected \"hmac-sha256\"",
                    p.prf
                )));
            }
            bound("pbkdf2 c", p.c, MAX_PBKDF2_ROUNDS)?;
            if p.c == 0 {
                return Err(invalid("pbkdf2 c = 0".into()));
            }
            Ok(Kdf::Pbkdf2 {
                rounds: p.c as u32,
                salt: p.salt,
            })
        }
        other => Err(invalid(format!(
            "kdf {other:?}, expected \"scrypt\" or \"pbkdf2\""
        ))),
    }
}

fn derive(kdf: &Kdf, password: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    match kdf {
        Kdf::Scrypt { params, salt } => {
            // The output length is 32, which scrypt always accepts.
            let _ = scrypt::scrypt(password, salt, params, &mut key);
        }
        Kdf::Pbkdf2 { rounds, salt } => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, *rounds, &mut key);
        }
    }
    key
}

/// The V3 MAC: keccak256 of the derived key's second half and the ciphertext.
fn mac_of(derived: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(&derived[16..]);
    hasher.update(ciphertext);
    hasher.finalize().into()
}

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

impl LockedKeystore {
    /// Derives the key (the slow part, bounded by the checks of [`open_keystore`]) and
    /// decrypts the operator key.
    pub fn unlock(self) -> Result<OperatorKey, KeystoreError> {
        let derived = derive(&self.kdf, self.password.as_bytes());
        if mac_of(&derived, &self.ciphertext) != self.mac {
            return Err(KeystoreError::WrongPassword { path: self.path });
        }
        let mut secret = self.ciphertext;
        let mut cipher = Aes128Ctr::new(derived[..16].into(), (&self.iv).into());
        cipher.apply_keystream(&mut secret);
        OperatorKey::from_secret(&secret).map_err(|e| KeystoreError::Invalid {
            path: self.path,
            reason: e.to_string(),
        })
    }
}

/// Decrypts the operator key in `keystore` (on the calling thread: see the module's note).
pub fn load_operator_key(
    keystore: &Path,
    password: &PasswordSource,
) -> Result<OperatorKey, KeystoreError> {
    open_keystore(keystore, password)?.unlock()
}

/// Writes a new random operator key to `keystore` (mode 0600), encrypted with the password.
/// An existing file, or a symlink, is never replaced.
pub fn new_operator_key(
    keystore: &Path,
    password: &PasswordSource,
) -> Result<OperatorKey, KeystoreError> {
    let path = keystore.to_path_buf();
    let write_error = |reason: String| KeystoreError::Write {
        path: path.clone(),
        reason,
    };
    if std::fs::symlink_metadata(keystore).is_ok() {
        return Err(write_error(
            "the file exists, and a key is never overwritten".into(),
        ));
    }
    let password = read_password(password)?;
    let (key, secret) = loop {
        let secret: [u8; 32] = rand::random();
        // A scalar of zero or past the curve order has odds of about 2^-128.
        if let Ok(key) = OperatorKey::from_secret(&secret) {
            break (key, secret);
        }
    };
    let salt: [u8; 32] = rand::random();
    let iv: [u8; 16] = rand::random();
    let params = scrypt::Params::new(NEW_SCRYPT_LOG_N, NEW_SCRYPT_R, NEW_SCRYPT_P)
        .map_err(|e| write_error(e.to_string()))?;
    let derived = derive(
        &Kdf::Scrypt {
            params,
            salt: salt.to_vec(),
        },
        password.as_bytes(),
    );
    let mut ciphertext = secret;
    let mut cipher = Aes128Ctr::new(derived[..16].into(), (&iv).into());
    cipher.apply_keystream(&mut ciphertext);
    let file = KeystoreFile {
        crypto: CryptoSection {
            cipher: "aes-128-ctr".into(),
            cipherparams: CipherParams { iv: iv.to_vec() },
            ciphertext: ciphertext.to_vec(),
            kdf: "scrypt".into(),
            kdfparams: serde_json::to_value(ScryptParams {
                dklen: 32,
                n: 1 << NEW_SCRYPT_LOG_N,
                r: NEW_SCRYPT_R.into(),
                p: NEW_SCRYPT_P.into(),
                salt: salt.to_vec(),
            })
            .map_err(|e| write_error(e.to_string()))?,
            mac: mac_of(&derived, &ciphertext).to_vec(),
        },
        id: uuid::Uuid::new_v4().to_string(),
        version: 3,
    };
    let json = serde_json::to_vec(&file).map_err(|e| write_error(e.to_string()))?;
    // create_new: never replace a file that appeared since the check above.
    let mut out = create_new_private(keystore).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            write_error("the file exists, and a key is never overwritten".into())
        } else {
            write_error(e.to_string())
        }
    })?;
    out.write_all(&json)
        .and_then(|_| out.sync_all())
        .map_err(|e| write_error(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests;
