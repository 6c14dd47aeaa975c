//! Pubsub messages signed as go-libp2p-pubsub's StrictSign does (SPEC §11): the author's
//! libp2p signature of `"libp2p-pubsub:" ‖ protobuf(Message{from, data, seqno, topic})`.
//! The in-process hub carries these very messages, so the devnet and the network share one
//! validation path and one form of evidence.

use libp2p::identity::{PeerId, PublicKey};
use prost::Message;

use super::signing::{operator_address, peer_public_key, OperatorKey};
use crate::protocol::wire::{decode_canonical, WireError};
use crate::protocol::Address;

const SIGNING_PREFIX: &[u8] = b"libp2p-pubsub:";

/// The largest pubsub frame a node sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The pubsub `Message` as go-libp2p-pubsub and js-libp2p frame it (proto2: each field is
/// present or absent).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct PubsubMessage {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub from: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub data: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub seqno: Option<Vec<u8>>,
    #[prost(string, optional, tag = "4")]
    pub topic: Option<String>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub signature: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "6")]
    pub key: Option<Vec<u8>>,
}

/// Why a pubsub message was not accepted as authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PubsubError {
    #[error("malformed pubsub message: {0}")]
    Malformed(#[from] WireError),
    #[error("{0} bytes is more than the 1 MiB a pubsub message may have")]
    TooLarge(usize),
    #[error("unsigned: no {0}")]
    Missing(&'static str),
    #[error("`from` is not a secp256k1 peer ID that inlines its key")]
    Author,
    #[error("`key` does not match the key inlined in `from`")]
    KeyMismatch,
    #[error("sequence number is {0} bytes, expected 8")]
    Seqno(usize),
    #[error("bad signature")]
    Signature,
}

/// Who wrote a message whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub peer: PeerId,
    pub key: PublicKey,
    /// The operator behind the key.
    pub address: Address,
}

impl PubsubMessage {
    /// A message on `topic` signed by `key`. `seqno` should not start with a zero byte:
    /// js-libp2p drops such messages.
    pub fn signed(key: &OperatorKey, topic: &str, data: Vec<u8>, seqno: u64) -> Self {
        let mut message = PubsubMessage {
            from: Some(key.peer_id().to_bytes()),
            data: Some(data),
            seqno: Some(seqno.to_be_bytes().to_vec()),
            topic: Some(topic.to_owned()),
            signature: None,
            key: None,
        };
        message.signature = Some(key.sign(&message.signed_bytes()));
        message
    }

    /// Strict decoding of a received frame: canonical protobuf of at most 1 MiB.
    pub fn decode_strict(bytes: &[u8]) -> Result<Self, PubsubError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(PubsubError::TooLarge(bytes.len()));
        }
        Ok(decode_canonical(bytes)?)
    }

    /// The message's protobuf bytes. For a message that was decoded strictly (or that our own
    /// gossipsub transform re-framed from the fields it received) this is exactly what came in.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// What the author signs: the prefix, then the message without `signature` and `key`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let unsigned = PubsubMessage {
            signature: None,
            key: None,
            ..self.clone()
        };
        let mut out = SIGNING_PREFIX.to_vec();
        out.extend_from_slice(&unsigned.encode_to_vec());
        out
    }

    /// The message id: `from ‖ seqno`.
    pub fn id(&self) -> Vec<u8> {
        let mut id = self.from.clone().unwrap_or_default();
        id.extend_from_slice(self.seqno.as_deref().unwrap_or_default());
        id
    }

    /// Checks StrictSign: an author whose peer ID inlines its secp256k1 key, a `key` (if
    /// sent, as js-libp2p does) equal to it, an 8-byte seqno, and a signature that verifies.
    pub fn verify(&self) -> Result<Author, PubsubError> {
        if self.encoded_len() > MAX_MESSAGE_BYTES {
            return Err(PubsubError::TooLarge(self.encoded_len()));
        }
        let from = self.from.as_deref().ok_or(PubsubError::Missing("from"))?;
        let signature = self
            .signature
            .as_deref()
            .ok_or(PubsubError::Missing("signature"))?;
        let seqno = self.seqno.as_deref().ok_or(PubsubError::Missing("seqno"))?;
        if seqno.len() != 8 {
            return Err(PubsubError::Seqno(seqno.len()));
        }
        self.topic.as_ref().ok_or(PubsubError::Missing("topic"))?;
        let peer = PeerId::from_bytes(from).map_err(|_| PubsubError::Author)?;
        let key = peer_public_key(&peer).ok_or(PubsubError::Author)?;
        let address = operator_address(&key).ok_or(PubsubError::Author)?;
        if let Some(sent) = &self.key {
            if *sent != key.encode_protobuf() {
                return Err(PubsubError::KeyMismatch);
            }
        }
        if !key.verify(&self.signed_bytes(), signature) {
            return Err(PubsubError::Signature);
        }
        Ok(Author { peer, key, address })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_message_verifies_and_any_change_breaks_it() {
        let key = OperatorKey::from_secret(&[9; 32]).unwrap();
        let message = PubsubMessage::signed(&key, "t", vec![1, 2, 3], 0x1800_0000_0000_0001);
        let author = message.verify().unwrap();
        assert_eq!(author.address, key.address());
        assert_eq!(author.peer, key.peer_id());
        let bytes = message.encode_to_vec();
        assert_eq!(PubsubMessage::decode_strict(&bytes).unwrap(), message);

        let tampered = |f: &dyn Fn(&mut PubsubMessage)| {
            let mut m = message.clone();
            f(&mut m);
            m.verify()
        };
        assert_eq!(
            tampered(&|m| m.data = Some(vec![1, 2, 4])),
            Err(PubsubError::Signature)
        );
        assert_eq!(
            tampered(&|m| m.topic = Some("u".into())),
            Err(PubsubError::Signature)
        );
        assert_eq!(
            tampered(&|m| m.seqno = Some(vec![1; 7])),
            Err(PubsubError::Seqno(7))
        );
        assert_eq!(
            tampered(&|m| m.signature = None),
            Err(PubsubError::Missing("signature"))
        );
        let other = OperatorKey::from_secret(&[8; 32]).unwrap();
        assert_eq!(
            tampered(&|m| m.from = Some(other.peer_id().to_bytes())),
            Err(PubsubError::Signature)
        );
        assert_eq!(
            tampered(&|m| m.key = Some(other.keypair().public().encode_protobuf())),
            Err(PubsubError::KeyMismatch)
        );
        // js-libp2p sends the key anyway: accepted when it is the author's.
        assert!(tampered(&|m| m.key = Some(key.keypair().public().encode_protobuf())).is_ok());
        assert_eq!(
            PubsubMessage::decode_strict(&vec![0; MAX_MESSAGE_BYTES + 1]),
            Err(PubsubError::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
    }
}
