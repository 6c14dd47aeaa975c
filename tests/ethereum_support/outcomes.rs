//! What a wallet's Bitcoin activity leaves on the real Bridge: a deposit revealed with its
//! funding transaction (no proof needed), and a redemption proven with an SPV proof.

use ethers_core::abi::Token;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::moved_funds::{depositor, reveal_deposit, Deposit};
use super::real::{contracts_dir, uint, MainUtxo, RealTbtc, RELAY};
use super::{call_data, length_prefixed, rpc, send};
use tbtc_coord::protocol::types::keccak256;
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
        let deposit = Deposit::paying(
            &depositor(),
            wallet,
            amount,
            refund_locktime,
            &[(50_000, [0x0D; 20])],
        );
        reveal_deposit(self, &deposit).await;
        RevealedDeposit {
            funding_tx_hash: deposit.tx_hash,
            output_index: deposit.output_index,
            amount,
        }
    }

    /// Proves to the Bridge that `wallet` paid the pending redemptions to `scripts` (Bitcoin
    /// scripts, in order) from its main UTXO with `fee` satoshi of fee, shared equally, and
    /// the rest back to itself; returns the redemption transaction's hash. The Bridge checks
    /// everything as on mainnet (the transaction's and the coinbase's Merkle proofs in the
    /// header, the spent main UTXO, each output against its request, the fee) except the
    /// header's work: the real LightRelay's code sits at the relay's address, never given a
    /// genesis, so it answers difficulty 0 for both epochs, the difficulty of a header at
    /// regtest's target, which this header is mined to.
    pub async fn prove_redemption(
        &self,
        wallet: &WalletPkh,
        main_utxo: &MainUtxo,
        scripts: &[Vec<u8>],
        fee: u64,
    ) -> [u8; 32] {
        let bridge = self.bridge.to_checksum();
        let relay = contracts_dir().join(
            "keep-network-tbtc-v2-1.6.0/build/contracts/relay/LightRelay.sol/LightRelay.json",
        );
        let relay: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&relay).expect("the LightRelay artifact"),
        )
        .expect("an artifact is JSON");
        let code = relay["deployedBytecode"].clone();
        rpc(
            &self.url,
            "anvil_setCode",
            json!([RELAY.to_checksum(), code]),
        )
        .await;
        let maintainer = call_data(
            &self.bridge_abi,
            "setSpvMaintainerStatus",
            &[
                Token::Address(hex_address(super::DEV_ACCOUNT)),
                Token::Bool(true),
            ],
        );
        send(&self.url, Some(&bridge), &maintainer).await;

        // The redemption transaction: the main UTXO in, each request's amount less its
        // treasury fee and fee share out, the change back to the wallet's P2WPKH.
        let share = fee / scripts.len() as u64;
        let mut outputs = vec![u8::try_from(scripts.len() + 1).expect("a few outputs")];
        let mut paid = 0;
        for (i, script) in scripts.iter().enumerate() {
            let script = length_prefixed(script);
            let key = keccak256(&[&keccak256(&script)[..], &wallet.0].concat());
            let request = self
                .view(
                    &self.bridge_abi,
                    &self.bridge,
                    "pendingRedemptions",
                    &[Token::Uint(ethers_core::types::U256::from_big_endian(&key))],
                )
                .await
                .expect("a pending request");
            let Some(Token::Tuple(fields)) = request.into_iter().next() else {
                panic!("pendingRedemptions is one struct")
            };
            let number = |i: usize| match &fields[i] {
                Token::Uint(v) => v.as_u64(),
                other => panic!("a number: {other:?}"),
            };
            let mut value = number(1) - number(2) - share;
            if i == scripts.len() - 1 {
                value -= fee - share * scripts.len() as u64;
            }
            paid += value;
            outputs.extend(value.to_le_bytes());
            outputs.extend(script);
        }
        let change = main_utxo.value - paid - fee;
        outputs.extend(change.to_le_bytes());
        outputs.extend([0x16, 0x00, 0x14]);
        outputs.extend(wallet.0);
        let inputs = [
            &[1u8][..],
            &main_utxo.tx_hash,
            &main_utxo.output_index.to_le_bytes(),
            &[0],
            &[0xFF; 4],
        ]
        .concat();
        let (version, locktime) = (1u32.to_le_bytes(), [0u8; 4]);
        let tx_hash = sha256d(&[&version[..], &inputs, &outputs, &locktime].concat());

        // A block of the coinbase and this transaction: each proves the other.
        let coinbase_preimage: [u8; 32] = Sha256::digest(b"coinbase").into();
        let coinbase_hash: [u8; 32] = Sha256::digest(coinbase_preimage).into();
        let root = sha256d(&[coinbase_hash, tx_hash].concat());
        let mut header = [
            &0x2000_0000u32.to_le_bytes()[..],
            &[0; 32],
            &root,
            &0x6500_0000u32.to_le_bytes(),
            &[0xFF, 0xFF, 0x7F, 0x20],
            &[0; 4],
        ]
        .concat();
        // Regtest's target: the hash, read as a little-endian number, below 0x7fffff << 232.
        let mut nonce = 0u32;
        while sha256d(&header)[31] >= 0x7F {
            nonce += 1;
            header[76..].copy_from_slice(&nonce.to_le_bytes());
        }

        let tx = Token::Tuple(vec![
            Token::FixedBytes(version.to_vec()),
            Token::Bytes(inputs),
            Token::Bytes(outputs),
            Token::FixedBytes(locktime.to_vec()),
        ]);
        let proof = Token::Tuple(vec![
            Token::Bytes(coinbase_hash.to_vec()),
            uint(1),
            Token::Bytes(header),
            Token::FixedBytes(coinbase_preimage.to_vec()),
            Token::Bytes(tx_hash.to_vec()),
        ]);
        let submit = call_data(
            &self.bridge_abi,
            "submitRedemptionProof",
            &[
                tx,
                proof,
                main_utxo.token(),
                Token::FixedBytes(wallet.0.to_vec()),
            ],
        );
        send(&self.url, Some(&bridge), &submit).await;
        tx_hash
    }
}

fn hex_address(text: &str) -> ethers_core::types::H160 {
    text.parse().expect("an address")
}
