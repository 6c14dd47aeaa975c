//! A wallet's secp256k1 public key: the group key its signers share. The wallet's name in
//! tBTC is its HASH160, and its coordination topic is named after the key itself (SPEC §11).

use std::fmt;
use std::str::FromStr;

use k256::elliptic_curve::sec1::ToEncodedPoint;
use ripemd::Ripemd160;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::types::{parse_hex_array, HexError, WalletPkh};

/// The 65-byte uncompressed form, `04 ‖ x ‖ y`, of a point on the curve.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WalletPublicKey([u8; 65]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletKeyError {
    #[error(transparent)]
    Hex(#[from] HexError),
    #[error("not an uncompressed secp256k1 public key (65 bytes starting with 04, on the curve)")]
    NotAPoint,
}

impl WalletPublicKey {
    /// Accepts the uncompressed form only, and only a point on the curve.
    pub fn from_uncompressed(bytes: [u8; 65]) -> Result<Self, WalletKeyError> {
        if bytes[0] != 0x04 || k256::PublicKey::from_sec1_bytes(&bytes).is_err() {
            return Err(WalletKeyError::NotAPoint);
        }
        Ok(WalletPublicKey(bytes))
    }

    /// The key of a secret scalar, for the devnet's generated wallets.
    pub fn of_secret(secret: &[u8; 32]) -> Option<Self> {
        let secret = k256::SecretKey::from_slice(secret).ok()?;
        let point = secret.public_key().to_encoded_point(false);
        <[u8; 65]>::try_from(point.as_bytes())
            .ok()
            .map(WalletPublicKey)
    }

    pub fn uncompressed(&self) -> &[u8; 65] {
        &self.0
    }

    /// The 33-byte compressed form: `02`/`03` by the parity of y, then x.
    pub fn compressed(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = 0x02 | (self.0[64] & 1);
        out[1..].copy_from_slice(&self.0[1..33]);
        out
    }

    /// The wallet's public key hash: RIPEMD160(SHA256(compressed key)).
    pub fn pkh(&self) -> WalletPkh {
        let sha = Sha256::digest(self.compressed());
        WalletPkh(Ripemd160::digest(sha).into())
    }

    /// The wallet's coordination pubsub topic: `tbtc-<uncompressed key hex>-coordination`.
    pub fn coordination_topic(&self) -> String {
        format!("tbtc-{}-coordination", hex::encode(self.0))
    }
}

impl FromStr for WalletPublicKey {
    type Err = WalletKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_uncompressed(parse_hex_array::<65>(s)?)
    }
}

impl fmt::Display for WalletPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for WalletPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletPublicKey({})", hex::encode(self.0))
    }
}

impl Serialize for WalletPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WalletPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_curve_and_compressed_keys_are_refused() {
        let key = WalletPublicKey::of_secret(&[5; 32]).unwrap();
        assert_eq!(key.to_string().parse::<WalletPublicKey>(), Ok(key));
        let mut off = *key.uncompressed();
        off[64] ^= 1;
        assert_eq!(
            WalletPublicKey::from_uncompressed(off),
            Err(WalletKeyError::NotAPoint)
        );
        let mut prefix = *key.uncompressed();
        prefix[0] = 0x02;
        assert_eq!(
            WalletPublicKey::from_uncompressed(prefix),
            Err(WalletKeyError::NotAPoint)
        );
        assert!(matches!(
            "0x02".parse::<WalletPublicKey>(),
            Err(WalletKeyError::Hex(_))
        ));
    }
}
