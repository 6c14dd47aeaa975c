//! What a wallet's Bitcoin activity leaves on the real Bridge: a deposit revealed with its
//! funding transaction (no proof needed), and the event a landed redemption emits.

use ethers_core::abi::Token;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::real::{uint, RealTbtc};
use super::{call_data, rpc, send};
use tbtc_coord::protocol::WalletPkh;

/// A revealed deposit: the funding transaction's hash (as the Bridge emits it) and the
/// output the deposit is in.
pub struct RevealedDeposit {
    pub funding_tx_hash: [u8; 32],
    pub output_index: u32,
    pub amount: u64,
}

fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

impl RealTbtc {
    /// Reveals a deposit of `amount` satoshi to `wallet`, refundable at `refund_locktime`:
    /// a funding transaction whose output 1 pays the P2WSH of the deposit script (output 0
    /// is someone else's), revealed by the development account.
    pub async fn reveal_deposit(
        &self,
        wallet: &WalletPkh,
        amount: u64,
        refund_locktime: u32,
    ) -> RevealedDeposit {
        let depositor = hex::decode(super::DEV_ACCOUNT.trim_start_matches("0x"))
            .expect("the development account is hex");
        let blinding = [0xB1u8; 8];
        let refund_pkh = [0x2Fu8; 20];
        let locktime = refund_locktime.to_le_bytes();
        let script = [
            &[0x14][..],
            &depositor,
            &[0x75, 0x08],
            &blinding,
            &[0x75, 0x76, 0xa9, 0x14],
            &wallet.0,
            &[0x87, 0x63, 0xac, 0x67, 0x76, 0xa9, 0x14],
            &refund_pkh,
            &[0x88, 0x04],
            &locktime,
            &[0xb1, 0x75, 0xac, 0x68],
        ]
        .concat();
        let script_hash: [u8; 32] = Sha256::digest(&script).into();
        let version = 1u32.to_le_bytes().to_vec();
        // One input (an outpoint of someone's, empty script, final sequence).
        let inputs = [&[1u8][..], &[0x5E; 32], &[0; 4], &[0], &[0xFF; 4]].concat();
        let outputs = [
            &[2u8][..],
            &50_000u64.to_le_bytes(),
            &[0x16, 0x00, 0x14],
            &[0x0D; 20],
            &amount.to_le_bytes(),
            &[0x22, 0x00, 0x20],
            &script_hash,
        ]
        .concat();
        let tx_locktime = vec![0u8; 4];
        let funding_tx_hash = sha256d(&[&version[..], &inputs, &outputs, &tx_locktime].concat());
        let funding = Token::Tuple(vec![
            Token::FixedBytes(version),
            Token::Bytes(inputs),
            Token::Bytes(outputs),
            Token::FixedBytes(tx_locktime),
        ]);
        let reveal = Token::Tuple(vec![
            uint(1),
            Token::FixedBytes(blinding.to_vec()),
            Token::FixedBytes(wallet.0.to_vec()),
            Token::FixedBytes(refund_pkh.to_vec()),
            Token::FixedBytes(locktime.to_vec()),
            Token::Address(Default::default()),
        ]);
        let data = call_data(&self.bridge_abi, "revealDeposit", &[funding, reveal]);
        send(&self.url, Some(&self.bridge.to_checksum()), &data).await;
        RevealedDeposit {
            funding_tx_hash,
            output_index: 1,
            amount,
        }
    }

    /// Puts at the Bridge's address the `RedemptionsCompleted(wallet, tx_hash)` a real
    /// `submitRedemptionProof` emits. The Bridge records a redemption only with an SPV proof
    /// checked against a relay, and none runs here (SPEC §14); so the proxy's code is
    /// replaced, for one transaction, by a few bytes that log the event, then restored
    /// (storage is untouched). The event's signature is the real Bridge ABI's.
    pub async fn emit_redemptions_completed(&self, wallet: &WalletPkh, tx_hash: [u8; 32]) {
        let topic = self
            .bridge_abi
            .event("RedemptionsCompleted")
            .expect("the Bridge declares RedemptionsCompleted")
            .signature();
        let mut wallet_topic = [0u8; 32];
        wallet_topic[..20].copy_from_slice(&wallet.0);
        // PUSH32 tx_hash, PUSH1 0, MSTORE; PUSH32 wallet, PUSH32 signature, PUSH1 32,
        // PUSH1 0, LOG2; STOP.
        let code = [
            &[0x7f][..],
            &tx_hash,
            &[0x60, 0x00, 0x52, 0x7f],
            &wallet_topic,
            &[0x7f],
            topic.as_bytes(),
            &[0x60, 0x20, 0x60, 0x00, 0xa2, 0x00],
        ]
        .concat();
        let bridge = self.bridge.to_checksum();
        let original = rpc(&self.url, "eth_getCode", json!([bridge, "latest"])).await;
        let logger = format!("0x{}", hex::encode(code));
        rpc(&self.url, "anvil_setCode", json!([bridge, logger])).await;
        let receipt = send(&self.url, Some(&bridge), &[]).await;
        rpc(&self.url, "anvil_setCode", json!([bridge, original])).await;
        assert_eq!(
            receipt["logs"].as_array().map(Vec::len),
            Some(1),
            "{receipt}"
        );
    }
}
