//! Operator identities: the operator's secp256k1 Ethereum key is also its libp2p key
//! (SPEC §11). This module turns one into the other: the Ethereum address, the libp2p
//! keypair and peer ID, and the address behind a peer's public key. A key's secret never
//! leaves this module: it has no `Debug` or `Display` that could print it.

pub mod keystore;

use ethers_signers::{LocalWallet, Signer};
use libp2p::identity::{Keypair, PeerId, PublicKey};

use crate::protocol::types::keccak256;
use crate::protocol::Address;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("invalid operator key: {0}")]
    InvalidKey(String),
}

/// An operator's signing key.
#[derive(Clone)]
pub struct OperatorKey {
    keypair: Keypair,
    address: Address,
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl OperatorKey {
    /// A key from its 32 secret bytes.
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, SigningError> {
        let mut bytes = *secret;
        let secret = libp2p::identity::secp256k1::SecretKey::try_from_bytes(&mut bytes)
            .map_err(|_| SigningError::InvalidKey("not a valid secp256k1 scalar".into()))?;
        let keypair = Keypair::from(libp2p::identity::secp256k1::Keypair::from(secret));
        let address = operator_address(&keypair.public())
            .ok_or_else(|| SigningError::InvalidKey("not a secp256k1 key".into()))?;
        Ok(OperatorKey { keypair, address })
    }

    /// Wraps an ethers wallet (e.g. decrypted from a keystore).
    pub fn from_wallet(wallet: LocalWallet) -> Result<Self, SigningError> {
        let secret: [u8; 32] = wallet.signer().to_bytes().into();
        let key = Self::from_secret(&secret)?;
        debug_assert_eq!(key.address.0, wallet.address().0);
        Ok(key)
    }

    /// A fresh random key: an observer's throwaway identity, or `key new`.
    pub fn generate() -> Self {
        use rand::RngCore;
        loop {
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            // All but about 2^-128 of 32-byte strings are valid scalars.
            if let Ok(key) = Self::from_secret(&secret) {
                return key;
            }
        }
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// The libp2p keypair: the same secp256k1 key.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// The key as an Ethereum transaction signer, for the chain back end: the one place the
    /// secret is handed on, to sign the operator's own transactions.
    pub fn ethereum_signer(&self) -> Result<LocalWallet, SigningError> {
        let secret = self
            .keypair
            .clone()
            .try_into_secp256k1()
            .map_err(|_| SigningError::InvalidKey("not a secp256k1 key".into()))?
            .secret()
            .to_bytes();
        LocalWallet::from_bytes(&secret).map_err(|e| SigningError::InvalidKey(e.to_string()))
    }

    /// A libp2p signature of `data`: ECDSA over sha256(data), DER-encoded, low S (RFC 6979).
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        // Signing with a secp256k1 key cannot fail; only RSA keys can.
        self.keypair.sign(data).unwrap_or_default()
    }
}

/// The Ethereum address of a secp256k1 libp2p public key: the last 20 bytes of keccak256 of
/// the uncompressed point without its `04` prefix. `None` for any other key type.
pub fn operator_address(key: &PublicKey) -> Option<Address> {
    let key = key.clone().try_into_secp256k1().ok()?;
    let hash = keccak256(&key.to_bytes_uncompressed()[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    Some(Address(address))
}

/// The public key a peer ID inlines, as secp256k1 peer IDs (identity multihashes) do.
pub fn peer_public_key(peer: &PeerId) -> Option<PublicKey> {
    let multihash = peer.as_ref();
    // 0x00 is the identity hash: the digest is the protobuf-encoded public key itself.
    if multihash.code() != 0 {
        return None;
    }
    PublicKey::try_decode_protobuf(multihash.digest()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_has_known_address() {
        // The first well-known development key of Hardhat and anvil.
        let secret: [u8; 32] =
            hex::decode("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap()
                .try_into()
                .unwrap();
        let key = OperatorKey::from_secret(&secret).unwrap();
        assert_eq!(
            key.address().to_checksum(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert!(!format!("{key:?}").contains("ac0974"));
        let public = peer_public_key(&key.peer_id()).unwrap();
        assert_eq!(operator_address(&public), Some(key.address()));
    }

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let key = OperatorKey::from_secret(&[7; 32]).unwrap();
        let signature = key.sign(b"data");
        let public = key.keypair().public();
        assert!(public.verify(b"data", &signature));
        assert!(!public.verify(b"date", &signature));
        assert_eq!(key.sign(b"data"), signature, "RFC 6979: deterministic");
    }

    #[test]
    fn the_ethereum_signer_is_the_same_key() {
        let key = OperatorKey::from_secret(&[7; 32]).unwrap();
        assert_eq!(key.ethereum_signer().unwrap().address().0, key.address().0);
    }

    #[test]
    fn zero_secret_is_rejected() {
        assert!(OperatorKey::from_secret(&[0; 32]).is_err());
    }
}
