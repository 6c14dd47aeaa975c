//! Operator identities and message signatures (secp256k1, Ethereum addresses), through
//! ethers' signing types. A key's secret never leaves this module: it has no `Debug` or
//! `Display` that could print it.

use ethers_core::types::{Signature, H256};
use ethers_signers::{LocalWallet, Signer};

use crate::protocol::message::{CoordinationMessage, SignedMessage};
use crate::protocol::Address;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("invalid operator key: {0}")]
    InvalidKey(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("bad signature: {0}")]
    BadSignature(String),
}

/// An operator's signing key.
#[derive(Clone)]
pub struct OperatorKey {
    wallet: LocalWallet,
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
        let wallet = LocalWallet::from_bytes(secret)
            .map_err(|_| SigningError::InvalidKey("not a valid secp256k1 scalar".into()))?;
        Ok(Self::from_wallet(wallet))
    }

    /// Wraps an ethers wallet (e.g. decrypted from a keystore).
    pub fn from_wallet(wallet: LocalWallet) -> Self {
        let address = Address(wallet.address().0);
        OperatorKey { wallet, address }
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs an encoded message body.
    pub fn sign_body(&self, body: Vec<u8>) -> Result<SignedMessage, SigningError> {
        let digest = CoordinationMessage::signing_digest(&body);
        let signature = self
            .wallet
            .sign_hash(H256(digest))
            .map_err(|e| SigningError::Sign(e.to_string()))?;
        Ok(SignedMessage {
            body,
            signature: signature.to_vec(),
        })
    }

    pub fn sign(&self, message: &CoordinationMessage) -> Result<SignedMessage, SigningError> {
        self.sign_body(message.encode())
    }
}

/// The operator whose key signed a message.
pub fn recover_signer(message: &SignedMessage) -> Result<Address, SigningError> {
    let signature = Signature::try_from(message.signature.as_slice())
        .map_err(|e| SigningError::BadSignature(e.to_string()))?;
    // One byte form per signature: only the 27/28 recovery ids `sign_hash` produces.
    if signature.v != 27 && signature.v != 28 {
        return Err(SigningError::BadSignature(format!(
            "recovery id {} is not 27 or 28",
            signature.v
        )));
    }
    let digest = CoordinationMessage::signing_digest(&message.body);
    signature
        .recover(H256(digest))
        .map(|a| Address(a.0))
        .map_err(|e| SigningError::BadSignature(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Proposal, WalletPkh};

    fn message() -> CoordinationMessage {
        CoordinationMessage {
            sender_member_index: 3,
            coordination_block: 900,
            wallet: WalletPkh([1; 20]),
            proposal: Proposal::Noop,
        }
    }

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
    }

    #[test]
    fn signatures_recover_the_signer_and_tampering_is_caught() {
        let key = OperatorKey::from_secret(&[7; 32]).unwrap();
        let signed = key.sign(&message()).unwrap();
        assert_eq!(recover_signer(&signed).unwrap(), key.address());

        let mut tampered = signed.clone();
        tampered.body = CoordinationMessage {
            sender_member_index: 4,
            ..message()
        }
        .encode();
        assert_ne!(recover_signer(&tampered).ok(), Some(key.address()));

        let mut bad_v = signed.clone();
        bad_v.signature[64] = 0;
        assert!(recover_signer(&bad_v).is_err());
        let short = SignedMessage {
            body: signed.body.clone(),
            signature: vec![0; 10],
        };
        assert!(recover_signer(&short).is_err());
    }

    #[test]
    fn zero_secret_is_rejected() {
        assert!(OperatorKey::from_secret(&[0; 32]).is_err());
    }
}
