//! keep-client's on-chain firewall rule (SPEC §11): an operator is recognised when the
//! WalletRegistry names a staking provider for it and TokenStaking names that stake's owner.

use super::abi::AbiError;
use super::contracts;
use super::EthereumChain;
use crate::chain::{Chain, ChainError};
use crate::protocol::Address;

impl EthereumChain {
    /// Whether `operator` is a staked operator of tBTC, at the head. Needs both the
    /// WalletRegistry and TokenStaking addresses.
    pub async fn operator_is_staked(&self, operator: Address) -> Result<bool, ChainError> {
        let contracts = self.config().contracts;
        let (Some(registry), Some(staking)) = (contracts.wallet_registry, contracts.token_staking)
        else {
            return Err(ChainError::Invalid(
                "the on-chain firewall rule needs --wallet-registry and --token-staking".into(),
            ));
        };
        let head = self.latest_block().await?.number;
        let invalid = |e: AbiError| ChainError::Invalid(e.to_string());
        let data = self
            .inner
            .eth_call(
                registry,
                contracts::operator_to_staking_provider_call(&operator),
                head,
                "WalletRegistry.operatorToStakingProvider",
            )
            .await?;
        let provider = contracts::decode_staking_provider(&data).map_err(invalid)?;
        if provider == Address::default() {
            return Ok(false);
        }
        let data = self
            .inner
            .eth_call(
                staking,
                contracts::roles_of_call(&provider),
                head,
                "TokenStaking.rolesOf",
            )
            .await?;
        let owner = contracts::decode_stake_owner(&data).map_err(invalid)?;
        Ok(owner != Address::default())
    }
}
