//! The tBTC v2 contract interface this node reads (SPEC §9): event topics, call data and the
//! decoding of logs and return data, through `ethers_core::abi` from the human-readable
//! declarations below.
//!
//! An RPC node is outside data. ethabi's decoder checks every offset and length against the
//! data, and on top of it a decoded value must re-encode to exactly the bytes it came from
//! (no dirty padding, no address with high bytes set, no odd offsets) and every integer must
//! fit its declared width, so a hostile or broken node gets an error, never a panic or a
//! wrapped value.

use ethers_core::abi::{self, Event, Function, HumanReadableParser, ParamType, Token};
use serde_json::Value;

use super::json;
use crate::protocol::types::keccak256;
use crate::protocol::{Address, Hash32, WalletPkh};

/// The tBTC v2 contracts on Ethereum mainnet (SPEC §9).
pub mod mainnet {
    pub const BRIDGE: &str = "0x5e4861a80B55f035D899f66772117F00FA0E8e7B";
    pub const WALLET_REGISTRY: &str = "0x46d52E41C2F300BC82217Ce22b920c34995204eb";
    pub const SORTITION_POOL: &str = "0xc2731fb2823af3Efc2694c9bC86F444d5c5bb4Dc";
    pub const WALLET_PROPOSAL_VALIDATOR: &str = "0x30019D85a86ABD3cDA1167F4C052690c32FBDEc2";
    /// Threshold Network's TokenStaking.
    pub const TOKEN_STAKING: &str = "0x01B67b1194C75264d06F808A921228a95C765dd7";
    /// No tBTC v2 event predates this block (the Bridge was deployed after it), so scans
    /// start here rather than at genesis.
    pub const FIRST_BLOCK: u64 = 16_000_000;
}

/// Events, as the contracts declare them (`indexed` decides what is in the data).
pub mod events {
    pub const NEW_WALLET_REGISTERED: &str =
        "event NewWalletRegistered(bytes32 indexed ecdsaWalletID, bytes20 indexed walletPubKeyHash)";
    pub const WALLET_CREATED: &str =
        "event WalletCreated(bytes32 indexed walletID, bytes32 indexed dkgResultHash)";
    pub const DKG_RESULT_SUBMITTED: &str = "event DkgResultSubmitted(bytes32 indexed resultHash, uint256 indexed seed, (uint256,bytes,uint8[],bytes,uint256[],uint32[],bytes32) result)";
    pub const REDEMPTION_REQUESTED: &str = "event RedemptionRequested(bytes20 indexed walletPubKeyHash, bytes redeemerOutputScript, address indexed redeemer, uint64 requestedAmount, uint64 treasuryFee, uint64 txMaxFee)";
    pub const DEPOSIT_REVEALED: &str = "event DepositRevealed(bytes32 fundingTxHash, uint32 fundingOutputIndex, address indexed depositor, uint64 amount, bytes8 blindingFactor, bytes20 indexed walletPubKeyHash, bytes20 refundPubKeyHash, bytes4 refundLocktime, address vault)";
    pub const MOVING_FUNDS_COMMITMENT_SUBMITTED: &str = "event MovingFundsCommitmentSubmitted(bytes20 indexed walletPubKeyHash, bytes20[] targetWallets, address submitter)";
    pub const REDEMPTIONS_COMPLETED: &str =
        "event RedemptionsCompleted(bytes20 indexed walletPubKeyHash, bytes32 redemptionTxHash)";
    pub const DEPOSITS_SWEPT: &str =
        "event DepositsSwept(bytes20 walletPubKeyHash, bytes32 sweepTxHash)";
    pub const MOVING_FUNDS_COMPLETED: &str =
        "event MovingFundsCompleted(bytes20 indexed walletPubKeyHash, bytes32 movingFundsTxHash)";
    pub const MOVED_FUNDS_SWEPT: &str =
        "event MovedFundsSwept(bytes20 indexed walletPubKeyHash, bytes32 sweepTxHash)";
}

/// Views. A returned struct is declared up to the last field this node reads: the decoder
/// ignores what follows, so a Bridge version that appends fields (`extraData` in
/// `DepositRequest`) reads the same.
pub mod functions {
    pub const WALLETS: &str = "function wallets(bytes20 walletPubKeyHash) view returns ((bytes32,bytes32,uint64,uint32,uint32,uint32,uint32,uint8))";
    pub const PENDING_REDEMPTIONS: &str = "function pendingRedemptions(uint256 redemptionKey) view returns ((address,uint64,uint64,uint64,uint32))";
    pub const DEPOSITS: &str = "function deposits(uint256 depositKey) view returns ((address,uint64,uint32,address,uint64,uint32))";
    pub const REDEMPTION_PARAMETERS: &str =
        "function redemptionParameters() view returns (uint64,uint64,uint64,uint64,uint32)";
    pub const GET_ID_OPERATORS: &str =
        "function getIDOperators(uint32[] ids) view returns (address[])";
    pub const OPERATOR_TO_STAKING_PROVIDER: &str =
        "function operatorToStakingProvider(address operator) view returns (address)";
    pub const ROLES_OF: &str =
        "function rolesOf(address stakingProvider) view returns (address,address,address)";
}

/// A declaration of this file, parsed. They are constants, and a unit test parses each one.
fn event(declaration: &str) -> Event {
    HumanReadableParser::parse_event(declaration).expect("the event declarations here parse")
}

fn function(declaration: &str) -> Function {
    HumanReadableParser::parse_function(declaration).expect("the function declarations here parse")
}

/// topic 0 of an event.
pub fn topic(declaration: &str) -> Hash32 {
    Hash32(event(declaration).signature().0)
}

/// Whether an event's first argument (the wallet, for the Bridge's events) is indexed.
pub fn first_argument_indexed(declaration: &str) -> bool {
    event(declaration).inputs.first().is_some_and(|p| p.indexed)
}

/// A `bytes20` as an indexed topic: left-aligned, zero-padded.
pub fn bytes20_topic(b: &[u8; 20]) -> Hash32 {
    let mut t = [0u8; 32];
    t[..20].copy_from_slice(b);
    Hash32(t)
}

/// Why ABI data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct AbiError {
    pub what: &'static str,
    pub problem: String,
}

/// Decodes `data` as `types`, strictly (see the module comment).
fn decode(types: &[ParamType], data: &[u8], what: &'static str) -> Result<Fields, AbiError> {
    let fail = |problem: String| AbiError { what, problem };
    let tokens =
        abi::decode(types, data).map_err(|e| fail(format!("{} bytes of data: {e}", data.len())))?;
    let canonical = abi::encode(&tokens);
    if data.get(..canonical.len()) != Some(&canonical[..]) {
        return Err(fail(
            "not in the canonical ABI encoding (dirty padding or unusual offsets)".into(),
        ));
    }
    Ok(Fields::new(tokens, what))
}

/// A view's return data.
fn decode_output(declaration: &str, data: &[u8], what: &'static str) -> Result<Fields, AbiError> {
    let types: Vec<ParamType> = function(declaration)
        .outputs
        .into_iter()
        .map(|p| p.kind)
        .collect();
    decode(&types, data, what)
}

/// An event's data: its arguments that are not indexed.
fn decode_event_data(
    declaration: &str,
    data: &[u8],
    what: &'static str,
) -> Result<Fields, AbiError> {
    let types: Vec<ParamType> = event(declaration)
        .inputs
        .into_iter()
        .filter(|p| !p.indexed)
        .map(|p| p.kind)
        .collect();
    decode(&types, data, what)
}

/// Decoded values, taken in order and checked against what they should be.
struct Fields {
    tokens: std::vec::IntoIter<Token>,
    what: &'static str,
    taken: usize,
}

impl Fields {
    fn new(tokens: Vec<Token>, what: &'static str) -> Fields {
        Fields {
            tokens: tokens.into_iter(),
            what,
            taken: 0,
        }
    }

    fn fail(&self, problem: impl Into<String>) -> AbiError {
        AbiError {
            what: self.what,
            problem: problem.into(),
        }
    }

    fn next(&mut self) -> Result<Token, AbiError> {
        self.taken += 1;
        let n = self.taken;
        self.tokens
            .next()
            .ok_or_else(|| self.fail(format!("value {n} is missing")))
    }

    fn skip(&mut self, n: usize) -> Result<(), AbiError> {
        for _ in 0..n {
            self.next()?;
        }
        Ok(())
    }

    /// An unsigned integer of at most `bits` bits.
    fn uint(&mut self, bits: usize) -> Result<u128, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Uint(v) if v.bits() <= bits.min(128) => Ok(v.as_u128()),
            _ => Err(self.fail(format!("value {n} is not a uint{bits}"))),
        }
    }

    fn u64(&mut self, bits: usize) -> Result<u64, AbiError> {
        self.uint(bits.min(64)).map(|v| v as u64)
    }

    fn address(&mut self) -> Result<Address, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Address(a) => Ok(Address(a.0)),
            _ => Err(self.fail(format!("value {n} is not an address"))),
        }
    }

    /// `bytesN`.
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::FixedBytes(b) => b.try_into().ok(),
            _ => None,
        }
        .ok_or_else(|| self.fail(format!("value {n} is not a bytes{N}")))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Bytes(b) => Ok(b),
            _ => Err(self.fail(format!("value {n} is not bytes"))),
        }
    }

    /// An array or a tuple, as fields of its own.
    fn nested(&mut self) -> Result<Fields, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Array(items) | Token::Tuple(items) => Ok(Fields::new(items, self.what)),
            _ => Err(self.fail(format!("value {n} is not an array or a tuple"))),
        }
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }
}

/// Call data: a function's selector and its encoded arguments.
fn call(declaration: &str, arguments: &[Token]) -> Vec<u8> {
    let mut data = function(declaration).short_signature().to_vec();
    data.extend_from_slice(&abi::encode(arguments));
    data
}

/// `wallets(bytes20)`.
pub fn wallets_call(wallet: &WalletPkh) -> Vec<u8> {
    call(functions::WALLETS, &[Token::FixedBytes(wallet.0.to_vec())])
}

/// `pendingRedemptions(uint256)`.
pub fn pending_redemptions_call(key: &Hash32) -> Vec<u8> {
    call(
        functions::PENDING_REDEMPTIONS,
        &[Token::Uint(abi::Uint::from_big_endian(&key.0))],
    )
}

/// `deposits(uint256)`.
pub fn deposits_call(key: &Hash32) -> Vec<u8> {
    call(
        functions::DEPOSITS,
        &[Token::Uint(abi::Uint::from_big_endian(&key.0))],
    )
}

pub fn redemption_parameters_call() -> Vec<u8> {
    call(functions::REDEMPTION_PARAMETERS, &[])
}

/// `getIDOperators(uint32[])`.
pub fn get_id_operators_call(ids: &[u32]) -> Vec<u8> {
    let ids = ids.iter().map(|id| Token::Uint((*id).into())).collect();
    call(functions::GET_ID_OPERATORS, &[Token::Array(ids)])
}

/// The Bridge's key of a redemption request:
/// `keccak256(keccak256(redeemerOutputScript) || walletPubKeyHash)`.
pub fn redemption_key(wallet: &WalletPkh, script: &[u8]) -> Hash32 {
    let mut packed = keccak256(script).to_vec();
    packed.extend_from_slice(&wallet.0);
    Hash32(keccak256(&packed))
}

/// The Bridge's key of a deposit: `keccak256(fundingTxHash || uint32 fundingOutputIndex)`.
pub fn deposit_key(funding_tx_hash: &Hash32, output_index: u32) -> Hash32 {
    let mut packed = funding_tx_hash.0.to_vec();
    packed.extend_from_slice(&output_index.to_be_bytes());
    Hash32(keccak256(&packed))
}

/// One log from `eth_getLogs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub topics: Vec<Hash32>,
    pub data: Vec<u8>,
    pub block_number: u64,
    pub log_index: u64,
}

impl Log {
    pub fn from_json(v: &Value) -> Result<Log, json::FieldError> {
        let topics = match v.get("topics") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| {
                    let wrapped = serde_json::json!({ "topic": t });
                    json::hash(&wrapped, "topic")
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(json::FieldError {
                    field: "topics".into(),
                    problem: "missing or not an array".into(),
                })
            }
        };
        Ok(Log {
            topics,
            data: json::bytes(v, "data")?,
            block_number: json::quantity(v, "blockNumber")?,
            log_index: json::quantity(v, "logIndex")?,
        })
    }

    /// Indexed argument `i` (topic `i + 1`).
    pub fn indexed(&self, i: usize) -> Result<&Hash32, AbiError> {
        self.topics.get(i + 1).ok_or_else(|| AbiError {
            what: "log",
            problem: format!("{} topics, indexed argument {i} missing", self.topics.len()),
        })
    }
}

/// A topic holding a `bytes20` (left-aligned).
pub fn topic_bytes20(t: &Hash32) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&t.0[..20]);
    out
}

/// `DkgResultSubmitted`'s `Result`: the parts that make the signing group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkgResult {
    /// Sortition pool member ids, seat order.
    pub members: Vec<u32>,
    /// 1-based seats that misbehaved during DKG.
    pub misbehaved: Vec<u8>,
    /// The group's public key as the registry keeps it: the 64 bytes `x ‖ y`.
    pub group_pub_key: Vec<u8>,
}

impl DkgResult {
    pub fn decode(data: &[u8]) -> Result<DkgResult, AbiError> {
        let mut result = decode_event_data(
            events::DKG_RESULT_SUBMITTED,
            data,
            "DkgResultSubmitted result",
        )?
        .nested()?;
        result.skip(1)?;
        let group_pub_key = result.bytes()?;
        let mut misbehaved_list = result.nested()?;
        let misbehaved = (0..misbehaved_list.len())
            .map(|_| misbehaved_list.uint(8).map(|v| v as u8))
            .collect::<Result<Vec<_>, _>>()?;
        result.skip(2)?;
        let mut member_list = result.nested()?;
        let members = (0..member_list.len())
            .map(|_| member_list.uint(32).map(|v| v as u32))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DkgResult {
            members,
            misbehaved,
            group_pub_key,
        })
    }

    /// The signing group's member ids: `members` without the misbehaved seats, order kept.
    pub fn signing_members(&self) -> Vec<u32> {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.misbehaved.iter().any(|m| usize::from(*m) == i + 1))
            .map(|(_, id)| *id)
            .collect()
    }
}

/// `getIDOperators` return data.
pub fn decode_operators(data: &[u8]) -> Result<Vec<Address>, AbiError> {
    let mut list =
        decode_output(functions::GET_ID_OPERATORS, data, "getIDOperators result")?.nested()?;
    (0..list.len()).map(|_| list.address()).collect()
}

/// `WalletRegistry.operatorToStakingProvider(address)`.
pub fn operator_to_staking_provider_call(operator: &Address) -> Vec<u8> {
    call(
        functions::OPERATOR_TO_STAKING_PROVIDER,
        &[Token::Address(operator.0.into())],
    )
}

/// The staking provider (zero if the operator has none).
pub fn decode_staking_provider(data: &[u8]) -> Result<Address, AbiError> {
    decode_output(
        functions::OPERATOR_TO_STAKING_PROVIDER,
        data,
        "operatorToStakingProvider result",
    )?
    .address()
}

/// `TokenStaking.rolesOf(address)`.
pub fn roles_of_call(staking_provider: &Address) -> Vec<u8> {
    call(
        functions::ROLES_OF,
        &[Token::Address(staking_provider.0.into())],
    )
}

/// The stake's owner, the first of the roles (zero if there is no stake).
pub fn decode_stake_owner(data: &[u8]) -> Result<Address, AbiError> {
    decode_output(functions::ROLES_OF, data, "rolesOf result")?.address()
}

/// The parts of `Bridge.wallets(bytes20)` this node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeWallet {
    pub ecdsa_wallet_id: Hash32,
    pub created_at: u64,
    pub moving_funds_requested_at: u64,
    pub pending_moved_funds_sweep_requests: u64,
    /// The raw state number (SPEC §9).
    pub state: u8,
}

impl BridgeWallet {
    pub fn decode(data: &[u8]) -> Result<BridgeWallet, AbiError> {
        let mut w = decode_output(functions::WALLETS, data, "Bridge.wallets result")?.nested()?;
        let ecdsa_wallet_id = Hash32(w.fixed::<32>()?);
        w.skip(2)?;
        let created_at = w.u64(32)?;
        let moving_funds_requested_at = w.u64(32)?;
        w.skip(1)?;
        Ok(BridgeWallet {
            ecdsa_wallet_id,
            created_at,
            moving_funds_requested_at,
            pending_moved_funds_sweep_requests: w.u64(32)?,
            state: w.uint(8)? as u8,
        })
    }
}

/// `Bridge.pendingRedemptions(uint256)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedemptionRequest {
    pub requested_amount: u64,
    /// Zero when there is no such pending request.
    pub requested_at: u64,
}

impl RedemptionRequest {
    pub fn decode(data: &[u8]) -> Result<RedemptionRequest, AbiError> {
        let mut r = decode_output(
            functions::PENDING_REDEMPTIONS,
            data,
            "Bridge.pendingRedemptions result",
        )?
        .nested()?;
        r.address()?;
        let requested_amount = r.u64(64)?;
        r.skip(2)?;
        Ok(RedemptionRequest {
            requested_amount,
            requested_at: r.u64(32)?,
        })
    }
}

/// `Bridge.deposits(uint256)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepositRequest {
    pub amount: u64,
    /// Zero when the deposit was never revealed.
    pub revealed_at: u64,
    pub vault: Address,
    /// Non-zero once swept.
    pub swept_at: u64,
}

impl DepositRequest {
    pub fn decode(data: &[u8]) -> Result<DepositRequest, AbiError> {
        let mut d = decode_output(functions::DEPOSITS, data, "Bridge.deposits result")?.nested()?;
        d.address()?;
        let amount = d.u64(64)?;
        let revealed_at = d.u64(32)?;
        let vault = d.address()?;
        d.skip(1)?;
        Ok(DepositRequest {
            amount,
            revealed_at,
            vault,
            swept_at: d.u64(32)?,
        })
    }
}

/// `Bridge.redemptionParameters()`: the redemption timeout, seconds.
pub fn decode_redemption_timeout(data: &[u8]) -> Result<u64, AbiError> {
    let mut p = decode_output(
        functions::REDEMPTION_PARAMETERS,
        data,
        "Bridge.redemptionParameters result",
    )?;
    p.skip(4)?;
    p.u64(32)
}

/// `RedemptionRequested`'s data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRequested {
    pub redeemer_output_script: Vec<u8>,
    pub requested_amount: u64,
}

impl RedemptionRequested {
    pub fn decode(data: &[u8]) -> Result<RedemptionRequested, AbiError> {
        let mut e = decode_event_data(
            events::REDEMPTION_REQUESTED,
            data,
            "RedemptionRequested data",
        )?;
        Ok(RedemptionRequested {
            redeemer_output_script: e.bytes()?,
            requested_amount: e.u64(64)?,
        })
    }
}

/// `DepositRevealed`'s data (its non-indexed arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRevealed {
    pub funding_tx_hash: Hash32,
    pub funding_output_index: u32,
    pub amount: u64,
    /// Bitcoin's little-endian 4-byte locktime, a timestamp for tBTC deposits.
    pub refund_locktime: u64,
    pub vault: Address,
}

impl DepositRevealed {
    pub fn decode(data: &[u8]) -> Result<DepositRevealed, AbiError> {
        let mut e = decode_event_data(events::DEPOSIT_REVEALED, data, "DepositRevealed data")?;
        let funding_tx_hash = Hash32(e.fixed::<32>()?);
        let funding_output_index = e.u64(32)? as u32;
        let amount = e.u64(64)?;
        e.skip(2)?;
        let locktime = e.fixed::<4>()?;
        Ok(DepositRevealed {
            funding_tx_hash,
            funding_output_index,
            amount,
            refund_locktime: u64::from(u32::from_le_bytes(locktime)),
            vault: e.address()?,
        })
    }
}

/// `MovingFundsCommitmentSubmitted`'s target wallets.
pub fn decode_moving_funds_targets(data: &[u8]) -> Result<Vec<WalletPkh>, AbiError> {
    let mut targets = decode_event_data(
        events::MOVING_FUNDS_COMMITMENT_SUBMITTED,
        data,
        "MovingFundsCommitmentSubmitted data",
    )?
    .nested()?;
    (0..targets.len())
        .map(|_| targets.fixed::<20>().map(WalletPkh))
        .collect()
}

/// `DepositsSwept`'s wallet (not indexed in the Bridge).
pub fn decode_deposits_swept_wallet(data: &[u8]) -> Result<WalletPkh, AbiError> {
    decode_event_data(events::DEPOSITS_SWEPT, data, "DepositsSwept data")?
        .fixed::<20>()
        .map(WalletPkh)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Word = [u8; 32];

    fn w(v: u128) -> Word {
        let mut word = [0u8; 32];
        word[16..].copy_from_slice(&v.to_be_bytes());
        word
    }

    /// The declarations give the topics and selectors of the canonical signatures (what the
    /// hand-written interface hashed before).
    #[test]
    fn declarations_parse_to_the_canonical_topics_and_selectors() {
        let topics = [
            (events::NEW_WALLET_REGISTERED, "NewWalletRegistered(bytes32,bytes20)"),
            (events::WALLET_CREATED, "WalletCreated(bytes32,bytes32)"),
            (
                events::DKG_RESULT_SUBMITTED,
                "DkgResultSubmitted(bytes32,uint256,(uint256,bytes,uint8[],bytes,uint256[],uint32[],bytes32))",
            ),
            (
                events::REDEMPTION_REQUESTED,
                "RedemptionRequested(bytes20,bytes,address,uint64,uint64,uint64)",
            ),
            (
                events::DEPOSIT_REVEALED,
                "DepositRevealed(bytes32,uint32,address,uint64,bytes8,bytes20,bytes20,bytes4,address)",
            ),
            (
                events::MOVING_FUNDS_COMMITMENT_SUBMITTED,
                "MovingFundsCommitmentSubmitted(bytes20,bytes20[],address)",
            ),
            (events::REDEMPTIONS_COMPLETED, "RedemptionsCompleted(bytes20,bytes32)"),
            (events::DEPOSITS_SWEPT, "DepositsSwept(bytes20,bytes32)"),
            (events::MOVING_FUNDS_COMPLETED, "MovingFundsCompleted(bytes20,bytes32)"),
            (events::MOVED_FUNDS_SWEPT, "MovedFundsSwept(bytes20,bytes32)"),
        ];
        for (declaration, canonical) in topics {
            assert_eq!(
                topic(declaration),
                Hash32(keccak256(canonical.as_bytes())),
                "{canonical}"
            );
        }
        assert!(first_argument_indexed(events::REDEMPTIONS_COMPLETED));
        assert!(!first_argument_indexed(events::DEPOSITS_SWEPT));
        let selectors = [
            (functions::WALLETS, "wallets(bytes20)"),
            (
                functions::PENDING_REDEMPTIONS,
                "pendingRedemptions(uint256)",
            ),
            (functions::DEPOSITS, "deposits(uint256)"),
            (functions::REDEMPTION_PARAMETERS, "redemptionParameters()"),
            (functions::GET_ID_OPERATORS, "getIDOperators(uint32[])"),
            (
                functions::OPERATOR_TO_STAKING_PROVIDER,
                "operatorToStakingProvider(address)",
            ),
            (functions::ROLES_OF, "rolesOf(address)"),
        ];
        for (declaration, canonical) in selectors {
            assert_eq!(
                function(declaration).short_signature(),
                keccak256(canonical.as_bytes())[..4],
                "{canonical}"
            );
        }
        let wallet = WalletPkh([0x42; 20]);
        let call = wallets_call(&wallet);
        assert_eq!(call.len(), 4 + 32);
        assert_eq!(&call[4..24], &wallet.0);
        assert_eq!(&call[24..], &[0u8; 12]);
        assert_eq!(&pending_redemptions_call(&Hash32([7; 32]))[4..], &[7u8; 32]);
    }

    #[test]
    fn a_dkg_result_with_misbehaved_members_gives_the_signing_group() {
        // (uint256, bytes, uint8[], bytes, uint256[], uint32[], bytes32) as one dynamic tuple.
        let mut tuple: Vec<Word> = vec![
            w(1),
            w(7 * 32),  // groupPubKey
            w(9 * 32),  // misbehaved
            w(12 * 32), // signatures
            w(13 * 32), // signingMembersIndices
            w(14 * 32), // members
            [0xAB; 32],
        ];
        tuple.push(w(1)); // groupPubKey: 1 byte
        tuple.push({
            let mut b = [0u8; 32];
            b[0] = 0x42;
            b
        });
        tuple.extend([w(2), w(2), w(4)]); // misbehaved [2, 4]
        tuple.push(w(0)); // signatures: empty
        tuple.push(w(0)); // signingMembersIndices: empty
        tuple.extend([w(5), w(10), w(20), w(30), w(40), w(50)]); // members
        let mut data = w(32).to_vec();
        for word in &tuple {
            data.extend_from_slice(word);
        }
        let r = DkgResult::decode(&data).unwrap();
        assert_eq!(r.members, vec![10, 20, 30, 40, 50]);
        assert_eq!(r.misbehaved, vec![2, 4]);
        assert_eq!(r.signing_members(), vec![10, 30, 50]);
    }

    #[test]
    fn hostile_offsets_and_lengths_are_errors_not_panics() {
        // Offsets and lengths near usize::MAX, past the end, or wrapping.
        let huge = [0xFFu8; 32];
        let mut near_max = [0u8; 32];
        near_max[24..].copy_from_slice(&u64::MAX.to_be_bytes());
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            huge.to_vec(),
            near_max.to_vec(),
            [w(32), near_max].concat(),
            [w(32), w(1 << 40)].concat(),
            [w(0), w(u128::from(u32::MAX))].concat(),
            [w(64), w(0), near_max].concat(),
            vec![0u8; 31],
        ];
        for data in &cases {
            assert!(DkgResult::decode(data).is_err());
            assert!(decode_operators(data).is_err() || data.len() >= 64);
            let _ = RedemptionRequested::decode(data);
            let _ = decode_moving_funds_targets(data);
            assert!(BridgeWallet::decode(data).is_err());
        }
    }

    #[test]
    fn operators_and_calls_round_trip() {
        let call = get_id_operators_call(&[3, 1]);
        assert_eq!(call.len(), 4 + 4 * 32);
        let mut data = w(32).to_vec();
        data.extend_from_slice(&w(2));
        let mut a = [0u8; 32];
        a[12..].copy_from_slice(&[0x11; 20]);
        data.extend_from_slice(&a);
        data.extend_from_slice(&w(0));
        assert_eq!(
            decode_operators(&data).unwrap(),
            vec![Address([0x11; 20]), Address([0; 20])]
        );
        // Not an address: high bytes set.
        data[64] = 1;
        assert!(decode_operators(&data).is_err());
    }

    #[test]
    fn uints_are_range_checked() {
        // Bridge.wallets: 8 words, the state (uint8) last.
        let wallet = |state: u128, created_at: u128| -> Vec<u8> {
            [
                [0xAB; 32],
                [0; 32],
                w(0),
                w(created_at),
                w(0),
                w(0),
                w(3),
                w(state),
            ]
            .concat()
        };
        let ok = BridgeWallet::decode(&wallet(4, 1_700_000_000)).unwrap();
        assert_eq!((ok.state, ok.created_at), (4, 1_700_000_000));
        assert_eq!(ok.pending_moved_funds_sweep_requests, 3);
        assert!(BridgeWallet::decode(&wallet(256, 0)).is_err());
        assert!(BridgeWallet::decode(&wallet(0, 1 << 32)).is_err());
        // A trailing field a newer Bridge appends is ignored.
        let mut longer = wallet(1, 5);
        longer.extend_from_slice(&[0xCD; 32]);
        assert_eq!(BridgeWallet::decode(&longer).unwrap().state, 1);
    }
}
