//! Transactions this node sends, signed with the operator's key. There is one: the
//! moving-funds commitment (SPEC §12), which a leader submits before it can propose moving a
//! wallet's funds. An observer holds no key and sends nothing.
//!
//! A transaction is first estimated, so a call the Bridge would revert is refused with the
//! Bridge's reason before anything is signed or paid for. Fees follow EIP-1559 where the
//! chain has a base fee (at most twice the base fee plus the node's suggested tip, so a
//! transaction survives a few rising blocks), else the node's gas price.

use ethers_core::types::transaction::eip2718::TypedTransaction;
use ethers_core::types::{Eip1559TransactionRequest, TransactionRequest, U256};
use ethers_signers::{LocalWallet, Signer};
use serde_json::{json, Value};

use super::client::{EthereumChain, Inner};
use super::json;
use super::rpc::RpcFailure;
use crate::chain::ChainError;
use crate::protocol::types::keccak256;
use crate::protocol::{Address, Hash32};

/// Headroom over the node's gas estimate: state may change between the estimate and the
/// block the transaction lands in.
const GAS_HEADROOM_PERCENT: u64 = 20;

/// A gas estimate above this is not believed: no call this node makes costs more.
const MAX_GAS: u64 = 5_000_000;

/// What a revert reason may add to a refusal, at most.
const MAX_REASON_CHARS: usize = 200;

impl EthereumChain {
    /// Signs this node's transactions with `signer` (the operator's key) from now on; the
    /// first signer set stays. Without one the node observes and sends nothing.
    pub fn sign_with(&self, signer: LocalWallet) {
        let _ = self
            .inner
            .signer
            .set(signer.with_chain_id(self.inner.chain_id));
    }

    /// The address transactions are sent from, if the node signs.
    pub fn signer_address(&self) -> Option<Address> {
        self.inner.signer.get().map(|s| Address(s.address().0))
    }
}

impl Inner {
    /// Sends a transaction calling `to` with `data`, signed with the operator's key; its hash
    /// once the node has taken it. `what` names the call in errors.
    pub(super) async fn send_transaction(
        &self,
        to: Address,
        data: Vec<u8>,
        what: &str,
    ) -> Result<Hash32, ChainError> {
        let signer = self.signer.get().ok_or_else(|| {
            ChainError::Refused(format!(
                "{what}: this node observes (--operator) and signs nothing; a keystore \
                 (--keystore) signs"
            ))
        })?;
        let from = Address(signer.address().0);
        let call = json!({
            "from": from.to_checksum(),
            "to": to.to_checksum(),
            "data": format!("0x{}", hex::encode(&data)),
        });
        let estimate = match self.raw_call("eth_estimateGas", json!([call])).await {
            Ok(v) => quantity(&v, "eth_estimateGas")?,
            // The node ran the call and it reverted: the Bridge's reason.
            Err(RpcFailure::Node { message, .. }) => {
                return Err(ChainError::Refused(format!(
                    "{what} would revert: {}",
                    json::clip(&message, MAX_REASON_CHARS)
                )))
            }
            Err(f) => return Err(self.chain_error("eth_estimateGas", f)),
        };
        if estimate > u128::from(MAX_GAS) {
            return Err(ChainError::Invalid(format!(
                "{what}: the node estimates {estimate} gas, more than the {MAX_GAS} this call \
                 could cost"
            )));
        }
        let gas = estimate as u64 * (100 + GAS_HEADROOM_PERCENT) / 100;
        let nonce = quantity(
            &self
                .call(
                    "eth_getTransactionCount",
                    json!([from.to_checksum(), "pending"]),
                )
                .await?,
            "eth_getTransactionCount",
        )?;
        let base_fee = self.latest_header().await?.header.base_fee_per_gas;
        let gas_price = quantity(&self.call("eth_gasPrice", json!([])).await?, "eth_gasPrice")?;
        let tx: TypedTransaction = match base_fee {
            Some(base_fee) => {
                // The node's tip where it has one, else what its gas price adds to the base
                // fee.
                let tip = match self.raw_call("eth_maxPriorityFeePerGas", json!([])).await {
                    Ok(v) => quantity(&v, "eth_maxPriorityFeePerGas")?,
                    Err(_) => gas_price.saturating_sub(base_fee),
                };
                Eip1559TransactionRequest::new()
                    .from(ethers_core::types::Address::from(from.0))
                    .to(ethers_core::types::Address::from(to.0))
                    .data(data)
                    .gas(gas)
                    .nonce(U256::from(nonce))
                    .max_priority_fee_per_gas(U256::from(tip))
                    .max_fee_per_gas(U256::from(base_fee.saturating_mul(2).saturating_add(tip)))
                    .chain_id(self.chain_id)
                    .into()
            }
            None => TransactionRequest::new()
                .from(ethers_core::types::Address::from(from.0))
                .to(ethers_core::types::Address::from(to.0))
                .data(data)
                .gas(gas)
                .nonce(U256::from(nonce))
                .gas_price(U256::from(gas_price))
                .chain_id(self.chain_id)
                .into(),
        };
        let signature = signer
            .sign_transaction_sync(&tx)
            .map_err(|e| ChainError::Invalid(format!("{what}: signing failed: {e}")))?;
        let raw = tx.rlp_signed(&signature);
        let hash = Hash32(keccak256(&raw));
        let answer = self
            .call(
                "eth_sendRawTransaction",
                json!([format!("0x{}", hex::encode(&raw))]),
            )
            .await?;
        let wrapped = json!({ "hash": answer });
        let told = json::hash(&wrapped, "hash")
            .map_err(|e| ChainError::Invalid(format!("{what}: eth_sendRawTransaction: {e}")))?;
        if told != hash {
            return Err(ChainError::Invalid(format!(
                "{what}: the node names the transaction 0x{told}, but it hashes to 0x{hash}"
            )));
        }
        tracing::info!(%from, %to, tx = %format!("0x{hash}"), nonce = %nonce, gas,
            "{what} sent");
        Ok(hash)
    }
}

fn quantity(v: &Value, method: &str) -> Result<u128, ChainError> {
    let wrapped = json!({ "result": v });
    json::quantity_u128(&wrapped, "result")
        .map_err(|e| ChainError::Invalid(format!("{method}: {e}")))
}
