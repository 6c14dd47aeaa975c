//! keep-client's protobuf schema of the coordination message and its six proposals (SPEC §11,
//! from keep-core's `pkg/tbtc/gen/pb`), and the conversions to and from [`Proposal`].
//!
//! The structs are derived with `prost`, field for field as keep-core numbers them (proto3:
//! zero values are omitted). Decoding is strict: bytes are accepted only if they re-encode to
//! themselves, so one message has exactly one byte form, unknown fields are refused, and a
//! receiver's duplicate detection cannot be defeated by re-encoding.

use prost::Message;

use super::action::ActionType;
use super::proposal::{DepositKey, HexBytes, Proposal};
use super::types::{Hash32, WalletPkh};

#[derive(Clone, PartialEq, Message)]
pub struct CoordinationMessagePb {
    #[prost(uint32, tag = "1")]
    pub sender_id: u32,
    #[prost(uint64, tag = "2")]
    pub coordination_block: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub wallet_public_key_hash: Vec<u8>,
    #[prost(message, optional, tag = "4")]
    pub proposal: Option<CoordinationProposalPb>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CoordinationProposalPb {
    #[prost(uint32, tag = "1")]
    pub action_type: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct HeartbeatProposalPb {
    #[prost(bytes = "vec", tag = "1")]
    message: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct DepositKeyPb {
    #[prost(bytes = "vec", tag = "1")]
    funding_tx_hash: Vec<u8>,
    #[prost(uint32, tag = "2")]
    funding_output_index: u32,
}

#[derive(Clone, PartialEq, Message)]
struct DepositSweepProposalPb {
    #[prost(message, repeated, tag = "1")]
    deposits_keys: Vec<DepositKeyPb>,
    #[prost(bytes = "vec", tag = "2")]
    sweep_tx_fee: Vec<u8>,
    #[prost(uint64, repeated, tag = "3")]
    deposits_reveal_blocks: Vec<u64>,
}

#[derive(Clone, PartialEq, Message)]
struct RedemptionProposalPb {
    #[prost(bytes = "vec", repeated, tag = "1")]
    redeemers_output_scripts: Vec<Vec<u8>>,
    #[prost(bytes = "vec", tag = "2")]
    redemption_tx_fee: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct MovingFundsProposalPb {
    #[prost(bytes = "vec", repeated, tag = "1")]
    target_wallets: Vec<Vec<u8>>,
    #[prost(bytes = "vec", tag = "2")]
    moving_funds_tx_fee: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct MovedFundsSweepProposalPb {
    #[prost(bytes = "vec", tag = "1")]
    moving_funds_tx_hash: Vec<u8>,
    #[prost(uint32, tag = "2")]
    moving_funds_tx_output_index: u32,
    #[prost(bytes = "vec", tag = "3")]
    sweep_tx_fee: Vec<u8>,
}

/// Why bytes are not a well-formed message or payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not protobuf: {0}")]
    Protobuf(String),
    #[error(
        "not in canonical form (unknown, repeated or misordered fields, or non-minimal varints)"
    )]
    NonCanonical,
    #[error("{field}: expected {expected} bytes, got {got}")]
    Length {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{field}: {got} bytes is not a fee of at most 8 bytes without leading zeros")]
    Fee { field: &'static str, got: usize },
    #[error("{0} deposits but {1} reveal blocks")]
    RevealBlocks(usize, usize),
    #[error("a Noop proposal has no payload, got {0} bytes")]
    NoopPayload(usize),
}

impl From<prost::DecodeError> for WireError {
    fn from(e: prost::DecodeError) -> Self {
        WireError::Protobuf(e.to_string())
    }
}

/// Decodes `bytes` as `M` and insists they are exactly `M`'s own encoding.
pub fn decode_canonical<M: Message + Default>(bytes: &[u8]) -> Result<M, WireError> {
    let message = M::decode(bytes)?;
    if message.encoded_len() != bytes.len() || message.encode_to_vec() != bytes {
        return Err(WireError::NonCanonical);
    }
    Ok(message)
}

/// An integer as minimal big-endian bytes; zero is empty (Go's `big.Int.Bytes()`).
fn fee_bytes(fee: u64) -> Vec<u8> {
    let bytes = fee.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

fn fee_from(field: &'static str, bytes: &[u8]) -> Result<u64, WireError> {
    if bytes.len() > 8 || bytes.first() == Some(&0) {
        return Err(WireError::Fee {
            field,
            got: bytes.len(),
        });
    }
    Ok(bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
}

fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], WireError> {
    <[u8; N]>::try_from(bytes).map_err(|_| WireError::Length {
        field,
        expected: N,
        got: bytes.len(),
    })
}

/// A proposal's payload, as keep-client encodes it (empty for Noop).
pub fn encode_payload(proposal: &Proposal) -> Vec<u8> {
    match proposal {
        Proposal::Noop => Vec::new(),
        Proposal::Heartbeat { message } => HeartbeatProposalPb {
            message: message.0.clone(),
        }
        .encode_to_vec(),
        Proposal::DepositSweep {
            deposits,
            sweep_tx_fee,
            reveal_blocks,
        } => DepositSweepProposalPb {
            deposits_keys: deposits
                .iter()
                .map(|d| DepositKeyPb {
                    funding_tx_hash: d.funding_tx_hash.0.to_vec(),
                    funding_output_index: d.output_index,
                })
                .collect(),
            sweep_tx_fee: fee_bytes(*sweep_tx_fee),
            deposits_reveal_blocks: reveal_blocks.clone(),
        }
        .encode_to_vec(),
        Proposal::Redemption {
            redeemers_output_scripts,
            redemption_tx_fee,
        } => RedemptionProposalPb {
            redeemers_output_scripts: redeemers_output_scripts
                .iter()
                .map(|s| s.0.clone())
                .collect(),
            redemption_tx_fee: fee_bytes(*redemption_tx_fee),
        }
        .encode_to_vec(),
        Proposal::MovingFunds {
            target_wallets,
            moving_funds_tx_fee,
        } => MovingFundsProposalPb {
            target_wallets: target_wallets.iter().map(|w| w.0.to_vec()).collect(),
            moving_funds_tx_fee: fee_bytes(*moving_funds_tx_fee),
        }
        .encode_to_vec(),
        Proposal::MovedFundsSweep {
            moving_funds_tx_hash,
            moving_funds_tx_output_index,
            sweep_tx_fee,
        } => MovedFundsSweepProposalPb {
            moving_funds_tx_hash: moving_funds_tx_hash.0.to_vec(),
            moving_funds_tx_output_index: *moving_funds_tx_output_index,
            sweep_tx_fee: fee_bytes(*sweep_tx_fee),
        }
        .encode_to_vec(),
    }
}

/// Decodes the payload of a proposal of type `action`.
pub fn decode_payload(action: ActionType, payload: &[u8]) -> Result<Proposal, WireError> {
    Ok(match action {
        ActionType::Noop => {
            if !payload.is_empty() {
                return Err(WireError::NoopPayload(payload.len()));
            }
            Proposal::Noop
        }
        ActionType::Heartbeat => {
            let p: HeartbeatProposalPb = decode_canonical(payload)?;
            let message: [u8; 16] = fixed("heartbeat message", &p.message)?;
            Proposal::Heartbeat {
                message: HexBytes(message.to_vec()),
            }
        }
        ActionType::DepositSweep => {
            let p: DepositSweepProposalPb = decode_canonical(payload)?;
            if p.deposits_keys.len() != p.deposits_reveal_blocks.len() {
                return Err(WireError::RevealBlocks(
                    p.deposits_keys.len(),
                    p.deposits_reveal_blocks.len(),
                ));
            }
            let deposits = p
                .deposits_keys
                .iter()
                .map(|d| {
                    Ok(DepositKey {
                        funding_tx_hash: Hash32(fixed("funding tx hash", &d.funding_tx_hash)?),
                        output_index: d.funding_output_index,
                    })
                })
                .collect::<Result<_, WireError>>()?;
            Proposal::DepositSweep {
                deposits,
                sweep_tx_fee: fee_from("sweep tx fee", &p.sweep_tx_fee)?,
                reveal_blocks: p.deposits_reveal_blocks,
            }
        }
        ActionType::Redemption => {
            let p: RedemptionProposalPb = decode_canonical(payload)?;
            Proposal::Redemption {
                redeemers_output_scripts: p
                    .redeemers_output_scripts
                    .into_iter()
                    .map(HexBytes)
                    .collect(),
                redemption_tx_fee: fee_from("redemption tx fee", &p.redemption_tx_fee)?,
            }
        }
        ActionType::MovingFunds => {
            let p: MovingFundsProposalPb = decode_canonical(payload)?;
            let target_wallets = p
                .target_wallets
                .iter()
                .map(|w| Ok(WalletPkh(fixed("target wallet", w)?)))
                .collect::<Result<_, WireError>>()?;
            Proposal::MovingFunds {
                target_wallets,
                moving_funds_tx_fee: fee_from("moving funds tx fee", &p.moving_funds_tx_fee)?,
            }
        }
        ActionType::MovedFundsSweep => {
            let p: MovedFundsSweepProposalPb = decode_canonical(payload)?;
            Proposal::MovedFundsSweep {
                moving_funds_tx_hash: Hash32(fixed(
                    "moving funds tx hash",
                    &p.moving_funds_tx_hash,
                )?),
                moving_funds_tx_output_index: p.moving_funds_tx_output_index,
                sweep_tx_fee: fee_from("sweep tx fee", &p.sweep_tx_fee)?,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_minimal_big_endian() {
        assert_eq!(fee_bytes(0), Vec::<u8>::new());
        assert_eq!(fee_bytes(700), vec![0x02, 0xbc]);
        assert_eq!(fee_bytes(u64::MAX), vec![0xff; 8]);
        for fee in [0, 1, 255, 256, 700, u64::MAX] {
            assert_eq!(fee_from("f", &fee_bytes(fee)), Ok(fee));
        }
        assert!(fee_from("f", &[0, 1]).is_err(), "a leading zero");
        assert!(fee_from("f", &[1; 9]).is_err(), "more than 8 bytes");
    }

    #[test]
    fn unknown_fields_and_noop_payloads_are_refused() {
        let mut heartbeat = encode_payload(&Proposal::Heartbeat {
            message: HexBytes(vec![7; 16]),
        });
        heartbeat.extend_from_slice(&[0x10, 0x01]); // field 2 = 1: not in the schema
        assert_eq!(
            decode_payload(ActionType::Heartbeat, &heartbeat),
            Err(WireError::NonCanonical)
        );
        assert_eq!(
            decode_payload(ActionType::Noop, &[0]),
            Err(WireError::NoopPayload(1))
        );
    }
}
