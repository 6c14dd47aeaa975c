//! The real tBTC v2 contracts: their published bytecode, from the npm packages
//! `scripts/install-test-deps` fetches (pinned by version and tarball hash), deployed on
//! anvil the way SPEC §14 describes. The Bridge is linked to its six libraries and sits
//! behind OpenZeppelin's TransparentUpgradeableProxy; the addresses it only stores (relay,
//! treasury, wallet registry, reimbursement pool) hold no code.

use std::path::{Path, PathBuf};
use std::process::Command;

use ethers_core::abi::{Contract, Token};
use serde_json::Value;

use super::{address_of, send, token_address};
use tbtc_coord::protocol::Address;

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
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
        });
    let dir = cache.join("tbtc-coord/contracts");
    if !dir.join("keep-network-tbtc-v2-1.6.0/.sha256").is_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new("bash")
            .arg(root.join("scripts/install-test-deps"))
            .status()
            .expect("running scripts/install-test-deps");
        assert!(status.success(), "scripts/install-test-deps failed");
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
        self.abi
            .function(function)
            .and_then(|f| f.encode_input(args))
            .unwrap_or_else(|e| panic!("encoding {function}: {e}"))
    }
}

const TBTC: &str = "keep-network-tbtc-v2-1.6.0";
const OPENZEPPELIN: &str = "openzeppelin-contracts-4.8.3";

/// The deployed contracts.
pub struct RealTbtc {
    pub url: String,
    /// The Bridge's proxy: the address everyone uses.
    pub bridge: Address,
    pub bank: Address,
    pub validator: Address,
    pub bridge_abi: Contract,
    pub validator_abi: Contract,
}

impl RealTbtc {
    /// Deploys Bank, the Bridge's libraries, the Bridge behind a proxy (initialized with the
    /// Bank and the stand-ins) and a WalletProposalValidator of that Bridge; the Bank then
    /// names the Bridge.
    pub async fn deploy(url: &str) -> RealTbtc {
        let deploy = |code: Vec<u8>| {
            let url = url.to_string();
            async move { address_of(&send(&url, None, &code).await) }
        };
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
                token_address(&WALLET_REGISTRY),
                token_address(&REIMBURSEMENT_POOL),
                Token::Uint(1.into()),
            ],
        );
        let proxy = Artifact::load(
            OPENZEPPELIN,
            "build/contracts/TransparentUpgradeableProxy.json",
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
        let update = bank_artifact.call_data("updateBridge", &[token_address(&bridge)]);
        send(url, Some(&bank.to_checksum()), &update).await;
        let validator_artifact = Artifact::load(
            TBTC,
            "build/contracts/bridge/WalletProposalValidator.sol/WalletProposalValidator.json",
        );
        let validator =
            deploy(validator_artifact.creation_code(&[], &[token_address(&bridge)])).await;
        RealTbtc {
            url: url.to_string(),
            bridge,
            bank,
            validator,
            bridge_abi: bridge_artifact.abi,
            validator_abi: validator_artifact.abi,
        }
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
        let data = f
            .encode_input(args)
            .unwrap_or_else(|e| panic!("encoding {function}: {e}"));
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
