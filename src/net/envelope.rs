//! keep-client's network envelope (SPEC §11): every payload on a pubsub topic travels in a
//! `BroadcastNetworkMessage{sender: Identity{pub_key}, payload, type, sequenceNumber}`.
//! The sender's key is repeated inside so a receiver can tie the payload to the pubsub author.

use libp2p::identity::PublicKey;
use prost::Message;

use crate::protocol::wire::{decode_canonical, WireError};

/// The envelope type of a coordination message.
pub const COORDINATION_MESSAGE_TYPE: &str = "tbtc/coordination_message";

#[derive(Clone, PartialEq, Message)]
struct BroadcastNetworkMessagePb {
    #[prost(bytes = "vec", tag = "1")]
    sender: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    payload: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    r#type: Vec<u8>,
    #[prost(uint64, tag = "4")]
    sequence_number: u64,
}

#[derive(Clone, PartialEq, Message)]
struct IdentityPb {
    #[prost(bytes = "vec", tag = "1")]
    pub_key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("malformed envelope: {0}")]
    Malformed(#[from] WireError),
    #[error("the envelope's sender is not a libp2p public key")]
    Sender,
    #[error("envelope type {0:?} is not {COORDINATION_MESSAGE_TYPE:?}")]
    Type(String),
}

/// A coordination message in its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub sender: PublicKey,
    /// The encoded coordination message.
    pub payload: Vec<u8>,
    /// Counted per topic from 1 by the sender; re-sends repeat it.
    pub sequence_number: u64,
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        BroadcastNetworkMessagePb {
            sender: IdentityPb {
                pub_key: self.sender.encode_protobuf(),
            }
            .encode_to_vec(),
            payload: self.payload.clone(),
            r#type: COORDINATION_MESSAGE_TYPE.as_bytes().to_vec(),
            sequence_number: self.sequence_number,
        }
        .encode_to_vec()
    }

    /// Strict: canonical bytes, a decodable sender key, and the coordination message type.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let pb: BroadcastNetworkMessagePb = decode_canonical(bytes)?;
        if pb.r#type != COORDINATION_MESSAGE_TYPE.as_bytes() {
            return Err(EnvelopeError::Type(
                String::from_utf8_lossy(&pb.r#type).into_owned(),
            ));
        }
        let identity: IdentityPb = decode_canonical(&pb.sender)?;
        let sender =
            PublicKey::try_decode_protobuf(&identity.pub_key).map_err(|_| EnvelopeError::Sender)?;
        if sender.encode_protobuf() != identity.pub_key {
            return Err(EnvelopeError::Sender);
        }
        Ok(Envelope {
            sender,
            payload: pb.payload,
            sequence_number: pb.sequence_number,
        })
    }
}
