//! The coordination message (SPEC §6) in keep-client's wire form (SPEC §11): the protobuf
//! `CoordinationMessage{senderID, coordinationBlock, walletPublicKeyHash, proposal}`.
//! Decoding is strict: a message re-encodes to exactly the bytes it came from. Who sent it is
//! not part of the message; the envelope and the pubsub signature around it say that
//! (`crate::net::envelope`, `crate::net::pubsub`).

use prost::Message;

use super::action::ActionType;
use super::proposal::Proposal;
use super::types::WalletPkh;
use super::wire::{self, CoordinationMessagePb, CoordinationProposalPb, WireError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinationMessage {
    pub sender_member_index: u8,
    pub coordination_block: u64,
    pub wallet: WalletPkh,
    pub proposal: Proposal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("malformed message: {0}")]
    Malformed(#[from] WireError),
    #[error("unknown action type {0}")]
    UnknownAction(u32),
    #[error("sender ID {0} is not a seat (seats are 1 to 255)")]
    NoSeat(u32),
    #[error("the message has no proposal")]
    NoProposal,
    #[error("wallet public key hash is {0} bytes, expected 20")]
    WalletLength(usize),
}

impl CoordinationMessage {
    pub fn encode(&self) -> Vec<u8> {
        CoordinationMessagePb {
            sender_id: u32::from(self.sender_member_index),
            coordination_block: self.coordination_block,
            wallet_public_key_hash: self.wallet.0.to_vec(),
            proposal: Some(CoordinationProposalPb {
                action_type: u32::from(self.proposal.action_type().number()),
                payload: wire::encode_payload(&self.proposal),
            }),
        }
        .encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let pb: CoordinationMessagePb = wire::decode_canonical(bytes)?;
        let sender_member_index = u8::try_from(pb.sender_id)
            .ok()
            .filter(|seat| *seat != 0)
            .ok_or(MessageError::NoSeat(pb.sender_id))?;
        let wallet = <[u8; 20]>::try_from(pb.wallet_public_key_hash.as_slice())
            .map(WalletPkh)
            .map_err(|_| MessageError::WalletLength(pb.wallet_public_key_hash.len()))?;
        let proposal = pb.proposal.ok_or(MessageError::NoProposal)?;
        let action = u8::try_from(proposal.action_type)
            .ok()
            .and_then(ActionType::from_number)
            .ok_or(MessageError::UnknownAction(proposal.action_type))?;
        Ok(CoordinationMessage {
            sender_member_index,
            coordination_block: pb.coordination_block,
            wallet,
            proposal: wire::decode_payload(action, &proposal.payload)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::proposal::HexBytes;

    fn message() -> CoordinationMessage {
        CoordinationMessage {
            sender_member_index: 17,
            coordination_block: 1800,
            wallet: WalletPkh([0xAA; 20]),
            proposal: Proposal::Heartbeat {
                message: HexBytes(vec![0xFF; 16]),
            },
        }
    }

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        let good = message().encode();
        assert_eq!(CoordinationMessage::decode(&good).unwrap(), message());
        for cut in 0..good.len() {
            assert!(
                CoordinationMessage::decode(&good[..cut]).is_err(),
                "prefix {cut}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(CoordinationMessage::decode(&trailing).is_err());
        for i in 0..good.len() {
            let mut flipped = good.clone();
            flipped[i] ^= 0x80;
            // Either rejected or decoded to something that re-encodes identically.
            if let Ok(m) = CoordinationMessage::decode(&flipped) {
                assert_eq!(m.encode(), flipped);
            }
        }
    }

    #[test]
    fn zero_and_oversized_seats_unknown_actions_and_missing_proposals_are_rejected() {
        let with = |pb: CoordinationMessagePb| CoordinationMessage::decode(&pb.encode_to_vec());
        let base = CoordinationMessagePb {
            sender_id: 3,
            coordination_block: 900,
            wallet_public_key_hash: vec![1; 20],
            proposal: Some(CoordinationProposalPb::default()),
        };
        assert!(with(base.clone()).is_ok());
        for seat in [0, 256, u32::MAX] {
            assert_eq!(
                with(CoordinationMessagePb {
                    sender_id: seat,
                    ..base.clone()
                }),
                Err(MessageError::NoSeat(seat))
            );
        }
        assert_eq!(
            with(CoordinationMessagePb {
                proposal: Some(CoordinationProposalPb {
                    action_type: 9,
                    payload: vec![],
                }),
                ..base.clone()
            }),
            Err(MessageError::UnknownAction(9))
        );
        assert_eq!(
            with(CoordinationMessagePb {
                proposal: None,
                ..base.clone()
            }),
            Err(MessageError::NoProposal)
        );
        assert_eq!(
            with(CoordinationMessagePb {
                wallet_public_key_hash: vec![1; 19],
                ..base
            }),
            Err(MessageError::WalletLength(19))
        );
    }
}
