//! The on-chain `WalletProposalValidator` (SPEC §12): every candidate proposal is checked with
//! an `eth_call` to its `validate…Proposal` view at the snapshot's block, the check every
//! node runs before it signs. A revert is a refusal with the validator's reason; a revert
//! without a reason, or no answer, is an error for that candidate alone.
//!
//! Deposit sweeps and moving funds need Bitcoin data the validator takes as arguments (each
//! deposit's funding transaction with what its reveal named, the wallet's main UTXO): they
//! are checked when the caller's [`BitcoinFacts`] hold it, and otherwise not checked on
//! chain ("needs the Bitcoin view"). The node has no Bitcoin view yet, so today only tests
//! supply them.

use ethers_core::abi::{Token, Uint};
use serde_json::json;

use super::abi::FunctionDeclaration;
use super::client::{lock, Inner};
use super::json;
use super::rpc::RpcFailure;
use crate::protocol::bitcoin_facts::BitcoinFacts;
use crate::protocol::validation::Validation;
use crate::protocol::{Address, Proposal, WalletSnapshot};

static VALIDATE_REDEMPTION: FunctionDeclaration = FunctionDeclaration::new(
    "function validateRedemptionProposal((bytes20,bytes[],uint256) proposal) view returns (bool)",
);
static VALIDATE_MOVED_FUNDS_SWEEP: FunctionDeclaration = FunctionDeclaration::new(
    "function validateMovedFundsSweepProposal((bytes20,bytes32,uint32,uint256) proposal) view returns (bool)",
);
static VALIDATE_HEARTBEAT: FunctionDeclaration = FunctionDeclaration::new(
    "function validateHeartbeatProposal((bytes20,bytes) proposal) view returns (bool)",
);
static VALIDATE_DEPOSIT_SWEEP: FunctionDeclaration = FunctionDeclaration::new(
    "function validateDepositSweepProposal((bytes20,(bytes32,uint32)[],uint256,uint256[]) proposal, ((bytes4,bytes,bytes,bytes4),bytes8,bytes20,bytes20,bytes4)[] depositsExtraInfo) view returns (bool)",
);
static VALIDATE_MOVING_FUNDS: FunctionDeclaration = FunctionDeclaration::new(
    "function validateMovingFundsProposal((bytes20,bytes20[],uint256) proposal, (bytes32,uint32,uint64) walletMainUtxo) view returns (bool)",
);

/// A revert reason is outside data: shown on one line, at most this long.
const MAX_REASON_CHARS: usize = 200;

/// Why a candidate is not checked when no validator address is known.
pub const NO_VALIDATOR: &str =
    "no WalletProposalValidator configured (--wallet-proposal-validator, or --network mainnet)";

/// Why deposit sweeps and moving funds are not checked yet.
pub const NEEDS_BITCOIN: &str = "needs the Bitcoin view";

/// The validator's call data for `proposal` of the snapshot's wallet, with the Bitcoin
/// `facts` sweeps and moving funds need, or why it is not checked.
pub fn validation_call(
    snapshot: &WalletSnapshot,
    proposal: &Proposal,
    facts: &BitcoinFacts,
) -> Result<Vec<u8>, String> {
    let wallet = Token::FixedBytes(snapshot.wallet.0.to_vec());
    match proposal {
        Proposal::Redemption {
            redeemers_output_scripts,
            redemption_tx_fee,
        } => Ok(VALIDATE_REDEMPTION.call(&[Token::Tuple(vec![
            wallet,
            // The proposal carries bare Bitcoin scripts; the Bridge keys requests by the
            // length-prefixed form, as keep-client hands them to the validator.
            Token::Array(
                redeemers_output_scripts
                    .iter()
                    .map(|s| Token::Bytes(length_prefixed(&s.0)))
                    .collect(),
            ),
            Token::Uint(Uint::from(*redemption_tx_fee)),
        ])])),
        Proposal::MovedFundsSweep {
            moving_funds_tx_hash,
            moving_funds_tx_output_index,
            sweep_tx_fee,
        } => Ok(VALIDATE_MOVED_FUNDS_SWEEP.call(&[Token::Tuple(vec![
            wallet,
            Token::FixedBytes(moving_funds_tx_hash.0.to_vec()),
            Token::Uint(Uint::from(*moving_funds_tx_output_index)),
            Token::Uint(Uint::from(*sweep_tx_fee)),
        ])])),
        Proposal::Heartbeat { message } => {
            Ok(VALIDATE_HEARTBEAT
                .call(&[Token::Tuple(vec![wallet, Token::Bytes(message.0.clone())])]))
        }
        Proposal::DepositSweep {
            deposits,
            sweep_tx_fee,
            reveal_blocks,
        } => {
            let mut extra = Vec::with_capacity(deposits.len());
            for key in deposits {
                let (Some(funding), Some(revealed)) = (
                    facts.funding.get(key),
                    snapshot.deposits.iter().find(|d| d.key == *key),
                ) else {
                    return Err(format!(
                        "{NEEDS_BITCOIN} (the validator takes each deposit's funding transaction)"
                    ));
                };
                extra.push(Token::Tuple(vec![
                    Token::Tuple(vec![
                        Token::FixedBytes(funding.version.to_vec()),
                        Token::Bytes(funding.input_vector.clone()),
                        Token::Bytes(funding.output_vector.clone()),
                        Token::FixedBytes(funding.locktime.to_vec()),
                    ]),
                    Token::FixedBytes(revealed.reveal.blinding_factor.to_vec()),
                    wallet.clone(),
                    Token::FixedBytes(revealed.reveal.refund_pubkey_hash.to_vec()),
                    Token::FixedBytes(revealed.reveal.refund_locktime.to_vec()),
                ]));
            }
            Ok(VALIDATE_DEPOSIT_SWEEP.call(&[
                Token::Tuple(vec![
                    wallet.clone(),
                    Token::Array(
                        deposits
                            .iter()
                            .map(|k| {
                                Token::Tuple(vec![
                                    Token::FixedBytes(k.funding_tx_hash.0.to_vec()),
                                    Token::Uint(Uint::from(k.output_index)),
                                ])
                            })
                            .collect(),
                    ),
                    Token::Uint(Uint::from(*sweep_tx_fee)),
                    Token::Array(
                        reveal_blocks
                            .iter()
                            .map(|b| Token::Uint(Uint::from(*b)))
                            .collect(),
                    ),
                ]),
                Token::Array(extra),
            ]))
        }
        Proposal::MovingFunds {
            target_wallets,
            moving_funds_tx_fee,
        } => {
            let utxo = facts.main_utxo.ok_or_else(|| {
                format!("{NEEDS_BITCOIN} (the validator takes the wallet's main UTXO)")
            })?;
            Ok(VALIDATE_MOVING_FUNDS.call(&[
                Token::Tuple(vec![
                    wallet,
                    Token::Array(
                        target_wallets
                            .iter()
                            .map(|w| Token::FixedBytes(w.0.to_vec()))
                            .collect(),
                    ),
                    Token::Uint(Uint::from(*moving_funds_tx_fee)),
                ]),
                Token::Tuple(vec![
                    Token::FixedBytes(utxo.tx_hash.0.to_vec()),
                    Token::Uint(Uint::from(utxo.output_index)),
                    Token::Uint(Uint::from(utxo.value)),
                ]),
            ]))
        }
        Proposal::Noop => Err("a Noop is never validated: followers always accept it".into()),
    }
}

/// A Bitcoin script with its CompactSize length prefix (scripts here are under 253 bytes; a
/// longer one gets the 3-byte form).
fn length_prefixed(script: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(script.len() + 3);
    match u16::try_from(script.len()) {
        Ok(n) if n < 0xFD => out.push(n as u8),
        Ok(n) => {
            out.push(0xFD);
            out.extend_from_slice(&n.to_le_bytes());
        }
        // A proposal's script is never 64 KiB long; the validator refuses whatever this is.
        Err(_) => out.push(0),
    }
    out.extend_from_slice(script);
    out
}

/// The reason in a node's revert message (`execution reverted: <reason>`), if it gives one.
pub fn revert_reason(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let start = ["execution reverted: ", "reverted: ", "revert: "]
        .iter()
        .find_map(|prefix| lower.find(prefix).map(|at| at + prefix.len()))?;
    let reason: String = message[start..]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_CHARS)
        .collect();
    let reason = reason.trim();
    (!reason.is_empty()).then(|| reason.to_string())
}

impl Inner {
    /// Asks `validator` about `proposal` at the snapshot's block.
    pub(super) async fn validate(
        &self,
        validator: Address,
        snapshot: &WalletSnapshot,
        proposal: &Proposal,
        facts: &BitcoinFacts,
    ) -> Validation {
        let data = match validation_call(snapshot, proposal, facts) {
            Ok(data) => data,
            Err(why) => return Validation::not_checked(why),
        };
        if let Some(why) = lock(&self.wrong_chain).clone() {
            return Validation::failed(why);
        }
        if let Err(e) = self
            .ensure_code(
                validator,
                "WalletProposalValidator",
                "--wallet-proposal-validator",
            )
            .await
        {
            return Validation::failed(e.to_string());
        }
        let params = json!([
            {"to": validator.to_checksum(), "data": format!("0x{}", hex::encode(data))},
            json::to_quantity(snapshot.block)
        ]);
        match self.raw_call("eth_call", params).await {
            Ok(answer) => {
                let wrapped = json!({ "result": answer });
                let verdict = json::bytes(&wrapped, "result")
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| {
                        VALIDATE_HEARTBEAT
                            .decode_output(&bytes, "WalletProposalValidator answer")
                            .and_then(|mut f| f.bool())
                            .map_err(|e| e.to_string())
                    });
                match verdict {
                    Ok(true) => Validation::accepted(),
                    Ok(false) => Validation::refused("the validator answered false"),
                    Err(e) => Validation::failed(format!("the validator's answer: {e}")),
                }
            }
            Err(RpcFailure::Node { message, .. }) if message.contains("revert") => {
                match revert_reason(&message) {
                    Some(reason) => Validation::refused(reason),
                    None => Validation::failed("the validator reverted without a reason"),
                }
            }
            Err(failure) => Validation::failed(format!(
                "the validator at {validator} could not be asked: {failure}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::proposal::HexBytes;
    use crate::protocol::{Hash32, WalletPkh};

    #[test]
    fn revert_reasons_are_read_from_the_node_s_message() {
        assert_eq!(
            revert_reason("execution reverted: Redemption request min age not achieved yet")
                .as_deref(),
            Some("Redemption request min age not achieved yet")
        );
        assert_eq!(revert_reason("execution reverted"), None);
        assert_eq!(revert_reason("execution reverted:   "), None);
        // A node's text is outside data: one line, bounded.
        let long = format!("execution reverted: a\nb{}", "x".repeat(1000));
        let reason = revert_reason(&long).unwrap();
        assert!(!reason.contains('\n'));
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn the_declarations_parse_to_the_validator_s_selectors() {
        // keccak256 of the canonical signatures, as solc lists them.
        for (f, signature) in [
            (
                &VALIDATE_REDEMPTION,
                "validateRedemptionProposal((bytes20,bytes[],uint256))",
            ),
            (
                &VALIDATE_MOVED_FUNDS_SWEEP,
                "validateMovedFundsSweepProposal((bytes20,bytes32,uint32,uint256))",
            ),
            (
                &VALIDATE_HEARTBEAT,
                "validateHeartbeatProposal((bytes20,bytes))",
            ),
            (
                &VALIDATE_DEPOSIT_SWEEP,
                "validateDepositSweepProposal((bytes20,(bytes32,uint32)[],uint256,uint256[]),((bytes4,bytes,bytes,bytes4),bytes8,bytes20,bytes20,bytes4)[])",
            ),
            (
                &VALIDATE_MOVING_FUNDS,
                "validateMovingFundsProposal((bytes20,bytes20[],uint256),(bytes32,uint32,uint64))",
            ),
        ] {
            let want = crate::protocol::types::keccak256(signature.as_bytes());
            assert_eq!(f.selector(), want[..4], "{signature}");
        }
    }

    #[test]
    fn sweeps_and_moving_funds_wait_for_the_bitcoin_view_and_scripts_are_prefixed() {
        let snapshot = WalletSnapshot {
            wallet: WalletPkh([7; 20]),
            ..WalletSnapshot::default()
        };
        let sweep = Proposal::DepositSweep {
            deposits: vec![crate::protocol::proposal::DepositKey {
                funding_tx_hash: Hash32([3; 32]),
                output_index: 0,
            }],
            sweep_tx_fee: 1,
            reveal_blocks: vec![10],
        };
        assert!(validation_call(&snapshot, &sweep, &BitcoinFacts::default())
            .unwrap_err()
            .starts_with(NEEDS_BITCOIN));
        let moving = Proposal::MovingFunds {
            target_wallets: vec![WalletPkh([8; 20])],
            moving_funds_tx_fee: 1,
        };
        assert!(
            validation_call(&snapshot, &moving, &BitcoinFacts::default())
                .unwrap_err()
                .starts_with(NEEDS_BITCOIN)
        );
        let with_utxo = BitcoinFacts {
            main_utxo: Some(crate::protocol::bitcoin_facts::MainUtxo {
                tx_hash: Hash32([4; 32]),
                output_index: 1,
                value: 1_000,
            }),
            ..BitcoinFacts::default()
        };
        let data = validation_call(&snapshot, &moving, &with_utxo).unwrap();
        assert_eq!(data[..4], VALIDATE_MOVING_FUNDS.selector());
        let redemption = Proposal::Redemption {
            redeemers_output_scripts: vec![HexBytes(vec![0x00, 0x14, 0xAB])],
            redemption_tx_fee: 5,
        };
        let data = validation_call(&snapshot, &redemption, &BitcoinFacts::default()).unwrap();
        // The script is sent with its length byte.
        let encoded = hex::encode(&data);
        assert!(encoded.contains("030014ab"), "{encoded}");
        let moved = Proposal::MovedFundsSweep {
            moving_funds_tx_hash: Hash32([9; 32]),
            moving_funds_tx_output_index: 1,
            sweep_tx_fee: 2,
        };
        assert!(validation_call(&snapshot, &moved, &BitcoinFacts::default()).is_ok());
        assert_eq!(length_prefixed(&[1; 300])[..3], [0xFD, 0x2C, 0x01]);
    }
}
