//! Byte-string types of the protocol: operator addresses (EIP-55), wallet public key hashes,
//! 32-byte hashes and seeds, with parsing that accepts hex with or without `0x` and says
//! exactly what was wrong.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};

/// Why a hex string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected {expected} bytes of hex ({} hex digits), got {got} hex digits", expected * 2)]
    Length { expected: usize, got: usize },
    #[error("not hex: invalid character {0:?}")]
    Character(char),
    #[error("bad EIP-55 checksum: expected {expected}")]
    Checksum { expected: String },
}

/// Keccak-256, the hash of Ethereum addresses and headers.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

/// Decodes exactly `N` bytes of hex, with or without `0x`.
pub fn parse_hex_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let digits = strip_0x(s.trim());
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(HexError::Character(bad));
    }
    if digits.len() != N * 2 {
        return Err(HexError::Length {
            expected: N,
            got: digits.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|_| HexError::Length {
        expected: N,
        got: digits.len(),
    })?;
    Ok(out)
}

macro_rules! hex_bytes_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// Lowercase hex without `0x`.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first and last bytes, for narrow displays.
            pub fn short(&self) -> String {
                let h = self.to_hex();
                format!("{}…{}", &h[..6], &h[h.len() - 4..])
            }

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex_array::<$len>(s).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_bytes_type!(
    /// A wallet's 20-byte public key hash, its name in tBTC.
    WalletPkh,
    20
);
hex_bytes_type!(
    /// A 32-byte hash (block hashes, transaction hashes).
    Hash32,
    32
);
hex_bytes_type!(
    /// A window's coordination seed: `sha256(wallet_pkh || safe_block_hash)`.
    Seed,
    32
);

impl Seed {
    /// The Go generator seed: the first 8 bytes, big-endian, as a signed 64-bit integer.
    pub fn rng_seed(&self) -> i64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        i64::from_be_bytes(first)
    }
}

/// An Ethereum address. Displays in EIP-55 checksummed form with `0x`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// EIP-55: a hex letter is upper case when the matching nibble of
    /// `keccak256(lowercase hex)` is 8 or more.
    ///
    /// Our own, not ethers' `to_checksum`: the protocol module uses std, sha2/sha3 and codec
    /// crates only (ARCHITECTURE), and leader selection sorts by these strings, so they must
    /// not depend on a back end. Everything else (the Ethereum back end included) calls this
    /// one rather than a second implementation.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }

    pub fn short(&self) -> String {
        let c = self.to_checksum();
        format!("{}…{}", &c[..6], &c[c.len() - 4..])
    }
}

impl FromStr for Address {
    type Err = HexError;
    /// Accepts all-lowercase or all-uppercase hex, or mixed case with a valid EIP-55 checksum.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = parse_hex_array::<20>(s)?;
        let address = Address(bytes);
        let digits = strip_0x(s.trim());
        let has_lower = digits.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = digits.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper {
            let expected = address.to_checksum();
            if expected[2..] != *digits {
                return Err(HexError::Checksum { expected });
            }
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_checksum())
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_checksum())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_examples_from_the_eip() {
        for s in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_checksum(), s);
        }
    }

    #[test]
    fn address_parsing_rejects_bad_checksum_and_accepts_single_case() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let bad = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(matches!(
            bad.parse::<Address>(),
            Err(HexError::Checksum { .. })
        ));
        let lower: Address = good.to_lowercase().parse().unwrap();
        let upper: Address = good[2..].to_uppercase().parse().unwrap();
        assert_eq!(lower, upper);
        assert_eq!(lower.to_checksum(), good);
    }

    #[test]
    fn hex_errors_name_the_problem() {
        assert_eq!(
            "abcd".parse::<Seed>(),
            Err(HexError::Length {
                expected: 32,
                got: 4
            })
        );
        assert_eq!("0xzz".parse::<WalletPkh>(), Err(HexError::Character('z')));
        let with = "0xaa768412ceed10bd423c025542ca90071f9fb62d"
            .parse::<WalletPkh>()
            .unwrap();
        let without = "aa768412ceed10bd423c025542ca90071f9fb62d"
            .parse::<WalletPkh>()
            .unwrap();
        assert_eq!(with, without);
    }
}
