//! keep-client's firewall rule on chain: the real WalletRegistry's `operatorToStakingProvider`
//! (a staking provider registers its operator there itself) and TokenStaking's `rolesOf`.

use ethers_core::abi::Contract;

use super::real::RealTbtc;
use super::{address_of, call_data, send, token_address, Artifacts};
use tbtc_coord::protocol::Address;

/// TokenStaking's `rolesOf`, from our fixture: the real TokenStaking's constructor calls the
/// T token, the legacy Keep and NuCypher staking contracts and their vending machines, so it
/// cannot be deployed on empty-code stand-ins.
pub struct StakingFixture {
    url: String,
    pub address: Address,
    abi: Contract,
}

impl StakingFixture {
    pub async fn deploy(url: &str) -> StakingFixture {
        let artifacts = Artifacts::load();
        let code = artifacts.bytecode("FixtureTokenStaking");
        let code = hex::decode(code.trim_start_matches("0x")).expect("bytecode hex");
        StakingFixture {
            url: url.to_string(),
            address: address_of(&send(url, None, &code).await),
            abi: artifacts.abi("FixtureTokenStaking"),
        }
    }

    /// The stake of `provider` has `owner` (zero: no stake).
    pub async fn set_stake_owner(&self, provider: &Address, owner: &Address) {
        let owner = token_address(owner);
        let args = [token_address(provider), owner.clone(), owner.clone(), owner];
        let data = call_data(&self.abi, "setRoles", &args);
        send(&self.url, Some(&self.address.to_checksum()), &data).await;
    }
}

impl RealTbtc {
    /// The staking provider `provider` appoints `operator` in the WalletRegistry.
    pub async fn register_operator(&self, provider: &Address, operator: &Address) {
        let data = call_data(
            &self.registry_abi,
            "registerOperator",
            &[token_address(operator)],
        );
        self.send_as(provider, &self.registry, &data).await;
    }
}
