//! The real tBTC v2 contracts: their published bytecode, from the npm packages
//! `scripts/install-test-deps` fetches (pinned by version and tarball hash), deployed on
//! anvil the way SPEC §14 describes. The Bridge is linked to its six libraries and sits
//! behind OpenZeppelin's TransparentUpgradeableProxy; the addresses it only stores (relay,
//! treasury, wallet registry, reimbursement pool) hold no code.

use std::path::PathBuf;

use ethers_core::abi::{Contract, Token};
use serde_json::Value;

use super::{address_of, call_data, send, send_from as super_send_from, token_address};
use tbtc_coord::protocol::types::keccak256;
use tbtc_coord::protocol::{Address, WalletPkh, WalletPublicKey};

/// The libraries the Bridge is linked to.
pub const BRIDGE_LIBRARIES: [&str; 6] = [
    "Deposit",
    "DepositSweep",
    "Fraud",
    "MovingFunds",
    "Redemption",
    "Wallets",
];

/// The Bridge's stand-ins for contracts the node never reads: addresses without code.
pub const RELAY: Address = Address([0x11; 20]);
pub const TREASURY: Address = Address([0x12; 20]);
pub const WALLET_REGISTRY: Address = Address([0x13; 20]);
pub const REIMBURSEMENT_POOL: Address = Address([0x14; 20]);
/// The proxies' admin: an address that sends nothing, so every call of the development
/// account reaches the implementation (a transparent proxy answers its admin itself).
pub const PROXY_ADMIN: Address = Address([0x15; 20]);

/// Where `scripts/install-test-deps` unpacks the packages; it runs when they are missing.
pub fn contracts_dir() -> PathBuf {
    let dir = super::cache_dir().join("contracts");
    if !dir.join("keep-network-tbtc-v2-1.6.0/.sha256").is_file() {
        super::install_test_deps();
    }
    dir
}

/// One compiled contract: its ABI, its creation bytecode and where libraries go in it.
pub struct Artifact {
    pub abi: Contract,
    pub bytecode: String,
    pub link_references: Value,
}

impl Artifact {
    /// `path` inside the unpacked `package` (a hardhat or truffle artifact).
    pub fn load(package: &str, path: &str) -> Artifact {
        let file = contracts_dir().join(package).join(path);
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let value: Value = serde_json::from_str(&text).expect("an artifact is JSON");
        let abi = serde_json::from_value(value["abi"].clone()).expect("an artifact's ABI");
        Artifact {
            abi,
            bytecode: value["bytecode"]
                .as_str()
                .expect("an artifact's bytecode")
                .to_string(),
            link_references: value.get("linkReferences").cloned().unwrap_or(Value::Null),
        }
    }

    /// The names of the libraries the bytecode must be linked to.
    pub fn libraries(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .link_references
            .as_object()
            .into_iter()
            .flat_map(|files| files.values())
            .filter_map(Value::as_object)
            .flat_map(|libs| libs.keys().cloned())
            .collect();
        names.sort();
        names
    }

    /// The creation code with every library placeholder replaced by its address, then the
    /// constructor's arguments.
    pub fn creation_code(&self, libraries: &[(&str, Address)], args: &[Token]) -> Vec<u8> {
        let mut code = self.bytecode.trim_start_matches("0x").to_string();
        for files in self.link_references.as_object().into_iter() {
            for libs in files.values().filter_map(Value::as_object) {
                for (name, places) in libs {
                    let address = libraries
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, a)| hex::encode(a.0))
                        .unwrap_or_else(|| panic!("no address for library {name}"));
                    for place in places.as_array().expect("link places") {
                        let start = place["start"].as_u64().expect("a start") as usize * 2;
                        code.replace_range(start..start + 40, &address);
                    }
                }
            }
        }
        let mut bytes = hex::decode(&code).expect("linked bytecode is hex");
        bytes.extend(ethers_core::abi::encode(args));
        bytes
    }

    /// The calldata of `function(args)`.
    pub fn call_data(&self, function: &str, args: &[Token]) -> Vec<u8> {
        call_data(&self.abi, function, args)
    }
}

const TBTC: &str = "keep-network-tbtc-v2-1.6.0";
const ECDSA: &str = "keep-network-ecdsa-2.0.1";
const OPENZEPPELIN: &str = "openzeppelin-contracts-4.8.3";

/// Threshold's T token, which the sortition pool only stores.
pub const T_TOKEN: Address = Address([0x16; 20]);
/// Threshold's TokenStaking, which the registry only stores until a stake is slashed.
pub const TOKEN_STAKING: Address = Address([0x17; 20]);
/// The random beacon: code that does nothing, so the registry's request for a relay entry
/// succeeds; the test then answers in its place.
pub const RANDOM_BEACON: Address = Address([0x18; 20]);
/// Each operator's stake in the pool, in T (18 decimals).
const STAKE: u128 = 1_000_000 * 1_000_000_000_000_000_000;

/// A wallet's main UTXO, as the Bridge hashes it.
pub struct MainUtxo {
    pub tx_hash: [u8; 32],
    pub output_index: u32,
    pub value: u64,
}

impl MainUtxo {
    /// The `BitcoinTx.UTXO` argument.
    pub fn token(&self) -> Token {
        Token::Tuple(vec![
            Token::FixedBytes(self.tx_hash.to_vec()),
            uint(u128::from(self.output_index)),
            uint(u128::from(self.value)),
        ])
    }
}

/// The deployed contracts.
pub struct RealTbtc {
    pub url: String,
    /// The Bridge's proxy: the address everyone uses.
    pub bridge: Address,
    pub bank: Address,
    pub validator: Address,
    /// The WalletRegistry's proxy.
    pub registry: Address,
    pub pool: Address,
    pub bridge_abi: Contract,
    pub validator_abi: Contract,
    pub registry_abi: Contract,
    pub pool_abi: Contract,
    pub challenge_period: u64,
}

/// A `uint256` token.
pub fn uint(v: u128) -> Token {
    Token::Uint(v.into())
}

impl RealTbtc {
    /// Deploys the sortition pool (with `operators` in it), the DKG validator and the
    /// WalletRegistry behind a proxy; Bank, the Bridge's libraries, the Bridge behind a proxy
    /// and a WalletProposalValidator of that Bridge. The Bank names the Bridge, the Bridge
    /// owns the registry's wallets, the registry owns the pool, and the DKG challenge period
    /// is as short as the registry allows.
    pub async fn deploy(url: &str, operators: &[Address]) -> RealTbtc {
        let deploy = |code: Vec<u8>| {
            let url = url.to_string();
            async move { address_of(&send(&url, None, &code).await) }
        };
        let call = |to: Address, data: Vec<u8>| {
            let url = url.to_string();
            async move { send(&url, Some(&to.to_checksum()), &data).await }
        };
        for silent in [RANDOM_BEACON, REIMBURSEMENT_POOL] {
            let code = serde_json::json!([silent.to_checksum(), "0x00"]);
            super::rpc(url, "anvil_setCode", code).await;
        }

        let pool_artifact = Artifact::load(ECDSA, "artifacts/EcdsaSortitionPool.json");
        let divisor = 1_000_000_000_000_000_000u128;
        let pool =
            deploy(pool_artifact.creation_code(&[], &[token_address(&T_TOKEN), uint(divisor)]))
                .await;
        call(pool, pool_artifact.call_data("deactivateChaosnet", &[])).await;
        for operator in operators {
            let insert =
                pool_artifact.call_data("insertOperator", &[token_address(operator), uint(STAKE)]);
            call(pool, insert).await;
        }
        let dkg_validator = Artifact::load(
            ECDSA,
            "build/contracts/EcdsaDkgValidator.sol/EcdsaDkgValidator.json",
        );
        let dkg_validator = deploy(dkg_validator.creation_code(&[], &[token_address(&pool)])).await;
        let inactivity = Artifact::load(
            ECDSA,
            "build/contracts/libraries/EcdsaInactivity.sol/EcdsaInactivity.json",
        );
        let inactivity = deploy(inactivity.creation_code(&[], &[])).await;
        let registry_artifact = Artifact::load(
            ECDSA,
            "build/contracts/WalletRegistry.sol/WalletRegistry.json",
        );
        let registry_implementation = deploy(registry_artifact.creation_code(
            &[("EcdsaInactivity", inactivity)],
            &[token_address(&pool), token_address(&TOKEN_STAKING)],
        ))
        .await;
        let initialize = registry_artifact.call_data(
            "initialize",
            &[
                token_address(&dkg_validator),
                token_address(&RANDOM_BEACON),
                token_address(&REIMBURSEMENT_POOL),
            ],
        );
        let proxy = Artifact::load(
            OPENZEPPELIN,
            "build/contracts/TransparentUpgradeableProxy.json",
        );
        let registry = deploy(proxy.creation_code(
            &[],
            &[
                token_address(&registry_implementation),
                token_address(&PROXY_ADMIN),
                Token::Bytes(initialize),
            ],
        ))
        .await;
        let handover = pool_artifact.call_data("transferOwnership", &[token_address(&registry)]);
        call(pool, handover).await;

        let bank_artifact = Artifact::load(TBTC, "build/contracts/bank/Bank.sol/Bank.json");
        let bank = deploy(bank_artifact.creation_code(&[], &[])).await;
        let mut libraries = Vec::new();
        for name in BRIDGE_LIBRARIES {
            let path = format!("build/contracts/bridge/{name}.sol/{name}.json");
            let code = Artifact::load(TBTC, &path).creation_code(&[], &[]);
            libraries.push((name, deploy(code).await));
        }
        let bridge_artifact = Artifact::load(TBTC, "build/contracts/bridge/Bridge.sol/Bridge.json");
        let implementation = deploy(bridge_artifact.creation_code(&libraries, &[])).await;
        let initialize = bridge_artifact.call_data(
            "initialize",
            &[
                token_address(&bank),
                token_address(&RELAY),
                token_address(&TREASURY),
                token_address(&registry),
                token_address(&REIMBURSEMENT_POOL),
                Token::Uint(1.into()),
            ],
        );
        let bridge = deploy(proxy.creation_code(
            &[],
            &[
                token_address(&implementation),
                token_address(&PROXY_ADMIN),
                Token::Bytes(initialize),
            ],
        ))
        .await;
        call(
            bank,
            bank_artifact.call_data("updateBridge", &[token_address(&bridge)]),
        )
        .await;
        let owner = registry_artifact.call_data("updateWalletOwner", &[token_address(&bridge)]);
        call(registry, owner).await;
        let validator_artifact = Artifact::load(
            TBTC,
            "build/contracts/bridge/WalletProposalValidator.sol/WalletProposalValidator.json",
        );
        let validator =
            deploy(validator_artifact.creation_code(&[], &[token_address(&bridge)])).await;
        let mut tbtc = RealTbtc {
            url: url.to_string(),
            bridge,
            bank,
            validator,
            registry,
            pool,
            bridge_abi: bridge_artifact.abi,
            validator_abi: validator_artifact.abi,
            registry_abi: registry_artifact.abi,
            pool_abi: pool_artifact.abi,
            challenge_period: 0,
        };
        tbtc.shorten_challenge_period().await;
        tbtc
    }

    /// The registry's DKG parameters, with the shortest challenge period it accepts.
    async fn shorten_challenge_period(&mut self) {
        let mut parameters = self
            .view(&self.registry_abi, &self.registry, "dkgParameters", &[])
            .await
            .expect("the registry's DKG parameters");
        let Some(Token::Tuple(fields)) = parameters.pop() else {
            panic!("dkgParameters is one struct")
        };
        // seedTimeout, resultChallengePeriodLength, resultChallengeExtraGas,
        // resultSubmissionTimeout, submitterPrecedencePeriodLength
        let mut fields = fields;
        fields[1] = uint(10);
        self.challenge_period = 10;
        let update = call_data(&self.registry_abi, "updateDkgParameters", &fields);
        send(&self.url, Some(&self.registry.to_checksum()), &update).await;
    }

    /// Creates a wallet through the real DKG: the Bridge asks the registry for one, the
    /// beacon (impersonated) answers with a seed, `members[0]` submits a result naming
    /// `members` and the group key of `secret`, the challenge period is mined away and the
    /// submitter approves it. The Bridge registers the wallet; its key is the test's.
    pub async fn create_wallet(&self, secret: &[u8; 32], members: &[Address]) -> WalletPublicKey {
        self.create_wallet_with(secret, members, &[], None).await
    }

    /// Deploys a RedemptionWatchtower behind a proxy for this Bridge and makes it the
    /// Bridge's; returns its address. Its default delay (2 hours) then holds every request.
    pub async fn set_redemption_watchtower(&self) -> Address {
        let artifact = Artifact::load(
            TBTC,
            "build/contracts/bridge/RedemptionWatchtower.sol/RedemptionWatchtower.json",
        );
        let implementation =
            address_of(&send(&self.url, None, &artifact.creation_code(&[], &[])).await);
        let initialize = artifact.call_data("initialize", &[token_address(&self.bridge)]);
        let proxy = Artifact::load(
            OPENZEPPELIN,
            "build/contracts/TransparentUpgradeableProxy.json",
        );
        let code = proxy.creation_code(
            &[],
            &[
                token_address(&implementation),
                token_address(&PROXY_ADMIN),
                Token::Bytes(initialize),
            ],
        );
        let watchtower = address_of(&send(&self.url, None, &code).await);
        let set = call_data(
            &self.bridge_abi,
            "setRedemptionWatchtower",
            &[token_address(&watchtower)],
        );
        send(&self.url, Some(&self.bridge.to_checksum()), &set).await;
        watchtower
    }

    /// The Bridge's `wallets(wallet)` record, its fields in order.
    pub async fn wallet_record(&self, wallet: &WalletPkh) -> Vec<Token> {
        let fields = self
            .view(
                &self.bridge_abi,
                &self.bridge,
                "wallets",
                &[Token::FixedBytes(wallet.0.to_vec())],
            )
            .await
            .expect("the wallet's record");
        let Some(Token::Tuple(fields)) = fields.into_iter().next() else {
            panic!("wallets() is one struct")
        };
        fields
    }

    /// The storage slot of `registeredWallets[wallet]` (its first field) and the slot of
    /// the mapping itself, found by the wallet's ECDSA id, the struct's first field.
    pub async fn wallet_slot(&self, wallet: &WalletPkh) -> ([u8; 32], u64) {
        let fields = self.wallet_record(wallet).await;
        let Some(Token::FixedBytes(id)) = fields.first() else {
            panic!("the record starts with the ECDSA wallet id")
        };
        for mapping in 0u64..512 {
            let mut key = [0u8; 64];
            key[..20].copy_from_slice(&wallet.0);
            key[56..].copy_from_slice(&mapping.to_be_bytes());
            let slot = keccak256(&key);
            if self.storage(&slot).await == id.as_slice() {
                return (slot, mapping);
            }
        }
        panic!("the wallet's storage slot")
    }

    /// Sets the wallet's main UTXO as the Bridge would after a sweep: the hash of
    /// `txHash ‖ outputIndex ‖ value` in the wallet's `mainUtxoHash`, the struct's second
    /// slot.
    pub async fn set_main_utxo(&self, wallet: &WalletPkh, utxo: &MainUtxo) {
        let (slot, _) = self.wallet_slot(wallet).await;
        let mut next = ethers_core::types::U256::from_big_endian(&slot);
        next += 1.into();
        let mut main_slot = [0u8; 32];
        next.to_big_endian(&mut main_slot);
        let mut packed = Vec::with_capacity(44);
        packed.extend_from_slice(&utxo.tx_hash);
        packed.extend_from_slice(&utxo.output_index.to_be_bytes());
        packed.extend_from_slice(&utxo.value.to_be_bytes());
        let hash = keccak256(&packed);
        let set = serde_json::json!([
            self.bridge.to_checksum(),
            format!("0x{}", hex::encode(main_slot)),
            format!("0x{}", hex::encode(hash)),
        ]);
        super::rpc(&self.url, "anvil_setStorageAt", set).await;
    }

    pub async fn storage(&self, slot: &[u8; 32]) -> Vec<u8> {
        let at = serde_json::json!([
            self.bridge.to_checksum(),
            format!("0x{}", hex::encode(slot)),
            "latest"
        ]);
        let value = super::rpc(&self.url, "eth_getStorageAt", at).await;
        hex::decode(
            value
                .as_str()
                .expect("a storage word")
                .trim_start_matches("0x"),
        )
        .expect("a hex storage word")
    }

    /// `redeemer` requests a redemption of `amount` satoshi to `script` (length-prefixed, as
    /// the Bridge takes it): the Bank credits it (as the Bridge would after a deposit), it
    /// lets the Bridge spend that, then asks. Returns the request's chain timestamp.
    pub async fn request_redemption(
        &self,
        wallet: &WalletPkh,
        utxo: &MainUtxo,
        redeemer: &Address,
        script: &[u8],
        amount: u64,
    ) -> u64 {
        let bank_artifact = Artifact::load(TBTC, "build/contracts/bank/Bank.sol/Bank.json");
        let credit = bank_artifact.call_data(
            "increaseBalance",
            &[token_address(redeemer), uint(u128::from(amount))],
        );
        self.send_as(&self.bridge, &self.bank, &credit).await;
        let approve = bank_artifact.call_data(
            "approveBalance",
            &[token_address(&self.bridge), uint(u128::from(amount))],
        );
        self.send_as(redeemer, &self.bank, &approve).await;
        let request = call_data(
            &self.bridge_abi,
            "requestRedemption",
            &[
                Token::FixedBytes(wallet.0.to_vec()),
                utxo.token(),
                Token::Bytes(script.to_vec()),
                uint(u128::from(amount)),
            ],
        );
        let receipt = self.send_as(redeemer, &self.bridge, &request).await;
        let block = receipt["blockNumber"].clone();
        let block = super::rpc(
            &self.url,
            "eth_getBlockByNumber",
            serde_json::json!([block, false]),
        )
        .await;
        u64::from_str_radix(
            block["timestamp"]
                .as_str()
                .expect("a timestamp")
                .trim_start_matches("0x"),
            16,
        )
        .expect("a hex timestamp")
    }

    /// Sends from `from`, impersonated and funded by anvil.
    pub async fn send_as(&self, from: &Address, to: &Address, data: &[u8]) -> Value {
        let from = from.to_checksum();
        super::rpc(
            &self.url,
            "anvil_impersonateAccount",
            serde_json::json!([from]),
        )
        .await;
        let funds = serde_json::json!([from, "0xde0b6b3a7640000"]);
        super::rpc(&self.url, "anvil_setBalance", funds).await;
        super_send_from(&self.url, &from, Some(&to.to_checksum()), data).await
    }

    /// Our back end's configuration for these contracts (validator included), polling fast.
    pub fn config(&self) -> tbtc_coord::chain::ethereum::EthereumConfig {
        use tbtc_coord::chain::ethereum::{Contracts, EthereumConfig};
        let mut config = EthereumConfig::new(self.url.clone());
        config.poll_interval = std::time::Duration::from_millis(20);
        config.contracts = Contracts {
            bridge: Some(self.bridge),
            wallet_registry: Some(self.registry),
            sortition_pool: Some(self.pool),
            wallet_proposal_validator: Some(self.validator),
            ..Contracts::default()
        };
        config
    }

    /// Our Ethereum back end on these contracts, discovering the wallets.
    pub async fn chain(&self) -> tbtc_coord::chain::ethereum::EthereumChain {
        tbtc_coord::chain::ethereum::EthereumChain::connect(self.config(), None)
            .await
            .expect("connecting to anvil")
    }

    /// `eth_call` of `function(args)` on `to`: the decoded outputs, or the node's error
    /// (a revert carries its reason).
    pub async fn view(
        &self,
        abi: &Contract,
        to: &Address,
        function: &str,
        args: &[Token],
    ) -> Result<Vec<Token>, String> {
        let f = abi.function(function).expect("a declared function");
        let data = call_data(abi, function, args);
        let call = serde_json::json!([{
            "to": to.to_checksum(),
            "data": format!("0x{}", hex::encode(data)),
        }, "latest"]);
        let answer = super::try_rpc(&self.url, "eth_call", call).await?;
        let bytes = hex::decode(answer.as_str().unwrap_or("0x").trim_start_matches("0x"))
            .map_err(|e| e.to_string())?;
        f.decode_output(&bytes).map_err(|e| e.to_string())
    }
}
