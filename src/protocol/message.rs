//! The coordination message (SPEC §6) and its stable binary encoding: RLP of
//! `[version, sender member index, coordination block, wallet PKH, action type, payload]`,
//! wrapped with the sender operator's secp256k1 signature as `[body, signature]`.
//! Decoding is strict: a message re-encodes to exactly the bytes it came from.

use rlp::{Rlp, RlpStream};

use super::action::ActionType;
use super::proposal::{PayloadError, Proposal};
use super::types::{keccak256, WalletPkh};

pub const MESSAGE_VERSION: u8 = 1;
/// Domain separation, so a coordination signature can never be replayed as anything else.
const SIGNING_DOMAIN: &[u8] = b"\x19tbtc-coord coordination message v1\n";

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
    Malformed(String),
    #[error("unsupported message version {0}")]
    Version(u8),
    #[error("unknown action type {0}")]
    UnknownAction(u8),
    #[error("sender member index 0 is not a seat")]
    NoSeat,
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
}

impl From<rlp::DecoderError> for MessageError {
    fn from(e: rlp::DecoderError) -> Self {
        MessageError::Malformed(e.to_string())
    }
}

/// Rejects trailing bytes after the outer item.
fn whole<'a>(bytes: &'a [u8]) -> Result<Rlp<'a>, MessageError> {
    let rlp = Rlp::new(bytes);
    let info = rlp.payload_info()?;
    if info.total() != bytes.len() {
        return Err(MessageError::Malformed(format!(
            "{} trailing bytes",
            bytes.len().saturating_sub(info.total())
        )));
    }
    if !rlp.is_list() {
        return Err(MessageError::Malformed("not a list".into()));
    }
    Ok(rlp)
}

impl CoordinationMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(6);
        s.append(&MESSAGE_VERSION)
            .append(&self.sender_member_index)
            .append(&self.coordination_block)
            .append(&&self.wallet.0[..])
            .append(&self.proposal.action_type().number());
        self.proposal.append_payload(&mut s);
        s.out().to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let rlp = whole(bytes)?;
        if rlp.item_count()? != 6 {
            return Err(MessageError::Malformed("expected 6 fields".into()));
        }
        let version: u8 = rlp.val_at(0)?;
        if version != MESSAGE_VERSION {
            return Err(MessageError::Version(version));
        }
        let sender_member_index: u8 = rlp.val_at(1)?;
        if sender_member_index == 0 {
            return Err(MessageError::NoSeat);
        }
        let wallet_bytes = rlp.at(3)?.data()?.to_vec();
        let wallet = WalletPkh(
            wallet_bytes
                .try_into()
                .map_err(|_| MessageError::Malformed("wallet PKH is not 20 bytes".into()))?,
        );
        let action_number: u8 = rlp.val_at(4)?;
        let action = ActionType::from_number(action_number)
            .ok_or(MessageError::UnknownAction(action_number))?;
        let message = CoordinationMessage {
            sender_member_index,
            coordination_block: rlp.val_at(2)?,
            wallet,
            proposal: Proposal::decode_payload(action, &rlp.at(5)?)?,
        };
        // Non-canonical encodings (leading zeros, long forms) would let one message have
        // many byte forms and defeat duplicate detection.
        if message.encode() != bytes {
            return Err(MessageError::Malformed("non-canonical encoding".into()));
        }
        Ok(message)
    }

    /// The digest the sender's operator key signs.
    pub fn signing_digest(body: &[u8]) -> [u8; 32] {
        let mut data = Vec::with_capacity(SIGNING_DOMAIN.len() + body.len());
        data.extend_from_slice(SIGNING_DOMAIN);
        data.extend_from_slice(body);
        keccak256(&data)
    }
}

/// A message body with the sender's 65-byte recoverable signature `(r, s, v)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedMessage {
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
}

impl SignedMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(2);
        s.append(&self.body).append(&self.signature);
        s.out().to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let rlp = whole(bytes)?;
        if rlp.item_count()? != 2 {
            return Err(MessageError::Malformed(
                "expected body and signature".into(),
            ));
        }
        let signature: Vec<u8> = rlp.val_at(1)?;
        if signature.len() != 65 {
            return Err(MessageError::Malformed(format!(
                "signature is {} bytes, expected 65",
                signature.len()
            )));
        }
        Ok(SignedMessage {
            body: rlp.val_at(0)?,
            signature,
        })
    }

    /// Identifies re-sent copies: identical bytes, identical id.
    pub fn id(&self) -> [u8; 32] {
        keccak256(&self.encode())
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
    fn round_trip_and_stable_bytes() {
        let m = message();
        let bytes = m.encode();
        assert_eq!(CoordinationMessage::decode(&bytes).unwrap(), m);
        // The encoding is part of the wire contract: pin its exact bytes.
        assert_eq!(
            hex::encode(&bytes),
            "ed011182070894aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01d190ffffffffffffffffffffffffffffffff"
        );
    }

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        let good = message().encode();
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
        assert!(matches!(
            CoordinationMessage::decode(&[0xc0]),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn zero_seat_and_unknown_action_are_rejected() {
        let mut m = message();
        m.sender_member_index = 0;
        assert_eq!(
            CoordinationMessage::decode(&m.encode()),
            Err(MessageError::NoSeat)
        );
        let mut bytes = message().encode();
        let pos = bytes.len() - 19; // the action type byte before the 18-byte payload list
        assert_eq!(bytes[pos], 0x01);
        bytes[pos] = 0x09;
        assert_eq!(
            CoordinationMessage::decode(&bytes),
            Err(MessageError::UnknownAction(9))
        );
    }

    #[test]
    fn signed_envelope_round_trip() {
        let signed = SignedMessage {
            body: message().encode(),
            signature: vec![3; 65],
        };
        let back = SignedMessage::decode(&signed.encode()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.id(), signed.id());
        let short = SignedMessage {
            body: vec![],
            signature: vec![1; 64],
        };
        assert!(SignedMessage::decode(&short.encode()).is_err());
    }
}
