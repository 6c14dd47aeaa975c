//! The moving-funds commitment on Ethereum (SPEC §12): what a moving wallet's leader commits
//! to, read as keep-core's moving-funds task reads it, and its submission.
//! - How many targets: the Bridge's `liveWalletsCount()` and `walletParameters()`'s
//!   `walletMaxBtcTransfer` against the main UTXO's value.
//! - Which: the Bridge's `NewWalletRegistered` wallets from the newest, whose
//!   `wallets(bytes20)` state is Live.
//! - As whom: each seat's operator ID from the SortitionPool's `getOperatorID(address)`.
//!
//! Everything is read at the snapshot's block, so the plan and the snapshot agree.

use std::collections::HashMap;

use super::client::Inner;
use super::contracts;
use crate::chain::ChainError;
use crate::protocol::bitcoin_facts::MainUtxo;
use crate::protocol::commitment::MovingFundsCommitment;
use crate::protocol::commitment::{choose_targets, member_index, target_count};
use crate::protocol::proposal::WalletState;
use crate::protocol::{Address, Hash32, WalletSnapshot};

fn invalid(e: impl std::fmt::Display) -> ChainError {
    ChainError::Invalid(e.to_string())
}

impl Inner {
    /// The commitment `submitter`, seated among `operators` (seat order), would submit for the
    /// snapshot's wallet with main UTXO `main_utxo`.
    pub(super) async fn plan_commitment(
        &self,
        snapshot: &WalletSnapshot,
        main_utxo: &MainUtxo,
        operators: &[Address],
        submitter: Address,
    ) -> Result<MovingFundsCommitment, ChainError> {
        let c = self.config.contracts;
        let (Some(bridge), Some(pool)) = (c.bridge, c.sortition_pool) else {
            return Err(ChainError::Refused(
                "a moving-funds commitment needs the Bridge and SortitionPool addresses".into(),
            ));
        };
        let block = snapshot.block;
        let wallet_member_index = member_index(operators, &submitter).ok_or_else(|| {
            ChainError::Refused(format!(
                "{submitter} holds no seat in wallet {}",
                snapshot.wallet
            ))
        })?;
        let live = self
            .eth_call(
                bridge,
                contracts::live_wallets_count_call(),
                block,
                "Bridge.liveWalletsCount",
            )
            .await?;
        let live = contracts::decode_live_wallets_count(&live).map_err(invalid)?;
        let parameters = self
            .eth_call(
                bridge,
                contracts::wallet_parameters_call(),
                block,
                "Bridge.walletParameters",
            )
            .await?;
        let max_transfer =
            contracts::decode_wallet_max_btc_transfer(&parameters).map_err(invalid)?;
        if max_transfer == 0 {
            return Err(ChainError::Refused(
                "the Bridge's walletMaxBtcTransfer is zero".into(),
            ));
        }
        let count = target_count(
            main_utxo.value,
            max_transfer,
            usize::try_from(live).unwrap_or(usize::MAX),
        );
        if count == 0 {
            return Err(ChainError::Refused(if main_utxo.value == 0 {
                "the wallet's balance is zero".to_string()
            } else {
                "no Live wallet to move the funds to".to_string()
            }));
        }

        // From the newest registration, until enough Live wallets are found.
        let registered = self.registered_wallets(bridge, block).await?;
        let mut seen = Vec::new();
        let mut found = 0;
        for wallet in registered.iter().rev() {
            if found == count {
                break;
            }
            if *wallet == snapshot.wallet {
                continue;
            }
            let state =
                WalletState::from_number(self.bridge_wallet(bridge, wallet, block).await?.state);
            found += usize::from(state == WalletState::Live);
            seen.push((*wallet, state));
        }
        let target_wallets = choose_targets(seen, &snapshot.wallet, count).ok_or_else(|| {
            ChainError::Refused(format!(
                "{count} target wallets needed, {found} Live found among {} registered",
                registered.len()
            ))
        })?;

        let mut ids: HashMap<Address, u32> = HashMap::new();
        let mut wallet_members_ids = Vec::with_capacity(operators.len());
        for operator in operators {
            let id = match ids.get(operator) {
                Some(id) => *id,
                None => {
                    let data = self
                        .eth_call(
                            pool,
                            contracts::get_operator_id_call(operator),
                            block,
                            "SortitionPool.getOperatorID",
                        )
                        .await?;
                    let id = contracts::decode_operator_id(&data)
                        .map_err(invalid)?
                        .ok_or_else(|| {
                            ChainError::Invalid(format!(
                                "operator {operator} of wallet {} has no ID in the sortition pool",
                                snapshot.wallet
                            ))
                        })?;
                    ids.insert(*operator, id);
                    id
                }
            };
            wallet_members_ids.push(id);
        }
        Ok(MovingFundsCommitment {
            wallet: snapshot.wallet,
            main_utxo: *main_utxo,
            wallet_members_ids,
            wallet_member_index,
            target_wallets,
        })
    }

    /// Sends `commitment` to the Bridge.
    pub(super) async fn submit_commitment(
        &self,
        commitment: &MovingFundsCommitment,
    ) -> Result<Hash32, ChainError> {
        let bridge = self.config.contracts.bridge.ok_or_else(|| {
            ChainError::Refused("a moving-funds commitment needs the Bridge address".into())
        })?;
        self.send_transaction(
            bridge,
            contracts::submit_moving_funds_commitment_call(commitment),
            "submitMovingFundsCommitment",
        )
        .await
    }
}
