//! The tBTC v2 contract interface this node reads (SPEC §9): the mainnet addresses, the event
//! and view declarations, and for each of them the call data and the decoding of its logs or
//! return data into what the node uses. The generic, strict ABI machinery is in `abi`.

use ethers_core::abi::{Token, Uint};

use super::abi::{AbiError, EventDeclaration, FunctionDeclaration};
use crate::protocol::commitment::MovingFundsCommitment;
use crate::protocol::proposal::DepositReveal;
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
    use super::EventDeclaration;

    pub static NEW_WALLET_REGISTERED: EventDeclaration = EventDeclaration::new("event NewWalletRegistered(bytes32 indexed ecdsaWalletID, bytes20 indexed walletPubKeyHash)");
    pub static WALLET_CREATED: EventDeclaration = EventDeclaration::new(
        "event WalletCreated(bytes32 indexed walletID, bytes32 indexed dkgResultHash)",
    );
    pub static DKG_RESULT_SUBMITTED: EventDeclaration = EventDeclaration::new("event DkgResultSubmitted(bytes32 indexed resultHash, uint256 indexed seed, (uint256,bytes,uint8[],bytes,uint256[],uint32[],bytes32) result)");
    pub static REDEMPTION_REQUESTED: EventDeclaration = EventDeclaration::new("event RedemptionRequested(bytes20 indexed walletPubKeyHash, bytes redeemerOutputScript, address indexed redeemer, uint64 requestedAmount, uint64 treasuryFee, uint64 txMaxFee)");
    pub static DEPOSIT_REVEALED: EventDeclaration = EventDeclaration::new("event DepositRevealed(bytes32 fundingTxHash, uint32 fundingOutputIndex, address indexed depositor, uint64 amount, bytes8 blindingFactor, bytes20 indexed walletPubKeyHash, bytes20 refundPubKeyHash, bytes4 refundLocktime, address vault)");
    pub static MOVING_FUNDS_COMMITMENT_SUBMITTED: EventDeclaration = EventDeclaration::new("event MovingFundsCommitmentSubmitted(bytes20 indexed walletPubKeyHash, bytes20[] targetWallets, address submitter)");
    pub static REDEMPTIONS_COMPLETED: EventDeclaration = EventDeclaration::new(
        "event RedemptionsCompleted(bytes20 indexed walletPubKeyHash, bytes32 redemptionTxHash)",
    );
    pub static DEPOSITS_SWEPT: EventDeclaration =
        EventDeclaration::new("event DepositsSwept(bytes20 walletPubKeyHash, bytes32 sweepTxHash)");
    pub static MOVING_FUNDS_COMPLETED: EventDeclaration = EventDeclaration::new(
        "event MovingFundsCompleted(bytes20 indexed walletPubKeyHash, bytes32 movingFundsTxHash)",
    );
    pub static MOVED_FUNDS_SWEPT: EventDeclaration = EventDeclaration::new(
        "event MovedFundsSwept(bytes20 indexed walletPubKeyHash, bytes32 sweepTxHash)",
    );
}

/// Views. A returned struct is declared up to the last field this node reads: the decoder
/// ignores what follows, so a Bridge version that appends fields (`extraData` in
/// `DepositRequest`) reads the same.
pub mod functions {
    use super::FunctionDeclaration;

    pub static WALLETS: FunctionDeclaration = FunctionDeclaration::new("function wallets(bytes20 walletPubKeyHash) view returns ((bytes32,bytes32,uint64,uint32,uint32,uint32,uint32,uint8,bytes32))");
    pub static LIVE_WALLETS_COUNT: FunctionDeclaration =
        FunctionDeclaration::new("function liveWalletsCount() view returns (uint32)");
    pub static WALLET_PARAMETERS: FunctionDeclaration = FunctionDeclaration::new(
        "function walletParameters() view returns (uint32,uint64,uint64,uint64,uint32,uint64,uint32)",
    );
    pub static GET_OPERATOR_ID: FunctionDeclaration =
        FunctionDeclaration::new("function getOperatorID(address operator) view returns (uint32)");
    pub static SUBMIT_MOVING_FUNDS_COMMITMENT: FunctionDeclaration = FunctionDeclaration::new("function submitMovingFundsCommitment(bytes20 walletPubKeyHash, (bytes32,uint32,uint64) walletMainUtxo, uint32[] walletMembersIDs, uint256 walletMemberIndex, bytes20[] targetWallets)");
    pub static PENDING_REDEMPTIONS: FunctionDeclaration = FunctionDeclaration::new("function pendingRedemptions(uint256 redemptionKey) view returns ((address,uint64,uint64,uint64,uint32))");
    pub static DEPOSITS: FunctionDeclaration = FunctionDeclaration::new("function deposits(uint256 depositKey) view returns ((address,uint64,uint32,address,uint64,uint32))");
    pub static REDEMPTION_PARAMETERS: FunctionDeclaration = FunctionDeclaration::new(
        "function redemptionParameters() view returns (uint64,uint64,uint64,uint64,uint32)",
    );
    pub static DEPOSIT_PARAMETERS: FunctionDeclaration = FunctionDeclaration::new(
        "function depositParameters() view returns (uint64,uint64,uint64,uint32)",
    );
    pub static MOVING_FUNDS_PARAMETERS: FunctionDeclaration = FunctionDeclaration::new(
        "function movingFundsParameters() view returns (uint64,uint64,uint32,uint32,uint96,uint32,uint16,uint64)",
    );
    pub static MOVED_FUNDS_SWEEP_REQUESTS: FunctionDeclaration = FunctionDeclaration::new("function movedFundsSweepRequests(uint256 requestKey) view returns ((bytes20,uint64,uint32,uint8))");
    pub static GET_REDEMPTION_WATCHTOWER: FunctionDeclaration =
        FunctionDeclaration::new("function getRedemptionWatchtower() view returns (address)");
    pub static GET_REDEMPTION_DELAY: FunctionDeclaration = FunctionDeclaration::new(
        "function getRedemptionDelay(uint256 redemptionKey) view returns (uint32)",
    );
    pub static GET_ID_OPERATORS: FunctionDeclaration =
        FunctionDeclaration::new("function getIDOperators(uint32[] ids) view returns (address[])");
    pub static OPERATOR_TO_STAKING_PROVIDER: FunctionDeclaration = FunctionDeclaration::new(
        "function operatorToStakingProvider(address operator) view returns (address)",
    );
    pub static ROLES_OF: FunctionDeclaration = FunctionDeclaration::new(
        "function rolesOf(address stakingProvider) view returns (address,address,address)",
    );
}

/// `wallets(bytes20)`.
pub fn wallets_call(wallet: &WalletPkh) -> Vec<u8> {
    functions::WALLETS.call(&[Token::FixedBytes(wallet.0.to_vec())])
}

/// `pendingRedemptions(uint256)`.
pub fn pending_redemptions_call(key: &Hash32) -> Vec<u8> {
    functions::PENDING_REDEMPTIONS.call(&[Token::Uint(Uint::from_big_endian(&key.0))])
}

/// `deposits(uint256)`.
pub fn deposits_call(key: &Hash32) -> Vec<u8> {
    functions::DEPOSITS.call(&[Token::Uint(Uint::from_big_endian(&key.0))])
}

/// `movedFundsSweepRequests(uint256)`.
pub fn moved_funds_sweep_requests_call(key: &Hash32) -> Vec<u8> {
    functions::MOVED_FUNDS_SWEEP_REQUESTS.call(&[Token::Uint(Uint::from_big_endian(&key.0))])
}

pub fn redemption_parameters_call() -> Vec<u8> {
    functions::REDEMPTION_PARAMETERS.call(&[])
}

/// `Bridge.depositParameters()`.
pub fn deposit_parameters_call() -> Vec<u8> {
    functions::DEPOSIT_PARAMETERS.call(&[])
}

/// `Bridge.depositParameters()`: `depositTxMaxFee`, satoshi per deposit swept.
pub fn decode_deposit_tx_max_fee(data: &[u8]) -> Result<u64, AbiError> {
    let mut p =
        functions::DEPOSIT_PARAMETERS.decode_output(data, "Bridge.depositParameters result")?;
    p.skip(2)?;
    p.u64(64)
}

/// `Bridge.movingFundsParameters()`.
pub fn moving_funds_parameters_call() -> Vec<u8> {
    functions::MOVING_FUNDS_PARAMETERS.call(&[])
}

/// `Bridge.movingFundsParameters()`: `movingFundsTxMaxTotalFee` and
/// `movedFundsSweepTxMaxTotalFee`, satoshi.
pub fn decode_moving_funds_max_fees(data: &[u8]) -> Result<(u64, u64), AbiError> {
    let mut p = functions::MOVING_FUNDS_PARAMETERS
        .decode_output(data, "Bridge.movingFundsParameters result")?;
    let moving_funds = p.u64(64)?;
    p.skip(6)?;
    Ok((moving_funds, p.u64(64)?))
}

/// `Bridge.getRedemptionWatchtower()`.
pub fn get_redemption_watchtower_call() -> Vec<u8> {
    functions::GET_REDEMPTION_WATCHTOWER.call(&[])
}

/// The watchtower's answer: its address, zero when the Bridge has none.
pub fn decode_redemption_watchtower(data: &[u8]) -> Result<Option<Address>, AbiError> {
    let mut f = functions::GET_REDEMPTION_WATCHTOWER
        .decode_output(data, "Bridge.getRedemptionWatchtower result")?;
    let address = f.address()?;
    Ok((address != Address::default()).then_some(address))
}

/// `RedemptionWatchtower.getRedemptionDelay(uint256)`.
pub fn get_redemption_delay_call(key: &Hash32) -> Vec<u8> {
    functions::GET_REDEMPTION_DELAY.call(&[Token::Uint(Uint::from_big_endian(&key.0))])
}

/// The delay, seconds.
pub fn decode_redemption_delay(data: &[u8]) -> Result<u64, AbiError> {
    functions::GET_REDEMPTION_DELAY
        .decode_output(data, "RedemptionWatchtower.getRedemptionDelay result")?
        .u64(32)
}

/// `Bridge.liveWalletsCount()`.
pub fn live_wallets_count_call() -> Vec<u8> {
    functions::LIVE_WALLETS_COUNT.call(&[])
}

pub fn decode_live_wallets_count(data: &[u8]) -> Result<u64, AbiError> {
    functions::LIVE_WALLETS_COUNT
        .decode_output(data, "Bridge.liveWalletsCount result")?
        .u64(32)
}

/// `Bridge.walletParameters()`.
pub fn wallet_parameters_call() -> Vec<u8> {
    functions::WALLET_PARAMETERS.call(&[])
}

/// `Bridge.walletParameters()`: `walletMaxBtcTransfer`, satoshi.
pub fn decode_wallet_max_btc_transfer(data: &[u8]) -> Result<u64, AbiError> {
    let mut p =
        functions::WALLET_PARAMETERS.decode_output(data, "Bridge.walletParameters result")?;
    p.skip(5)?;
    p.u64(64)
}

/// `SortitionPool.getOperatorID(address)`.
pub fn get_operator_id_call(operator: &Address) -> Vec<u8> {
    functions::GET_OPERATOR_ID.call(&[Token::Address(operator.0.into())])
}

/// The operator's ID; zero (the pool's answer for an unknown operator) is `None`.
pub fn decode_operator_id(data: &[u8]) -> Result<Option<u32>, AbiError> {
    let id = functions::GET_OPERATOR_ID
        .decode_output(data, "SortitionPool.getOperatorID result")?
        .u64(32)?;
    // `u64(32)` refused anything wider than 32 bits.
    Ok(u32::try_from(id).ok().filter(|id| *id != 0))
}

/// `Bridge.submitMovingFundsCommitment(…)`.
pub fn submit_moving_funds_commitment_call(c: &MovingFundsCommitment) -> Vec<u8> {
    functions::SUBMIT_MOVING_FUNDS_COMMITMENT.call(&[
        Token::FixedBytes(c.wallet.0.to_vec()),
        Token::Tuple(vec![
            Token::FixedBytes(c.main_utxo.tx_hash.0.to_vec()),
            Token::Uint(c.main_utxo.output_index.into()),
            Token::Uint(c.main_utxo.value.into()),
        ]),
        Token::Array(
            c.wallet_members_ids
                .iter()
                .map(|id| Token::Uint((*id).into()))
                .collect(),
        ),
        Token::Uint(c.wallet_member_index.into()),
        Token::Array(
            c.target_wallets
                .iter()
                .map(|w| Token::FixedBytes(w.0.to_vec()))
                .collect(),
        ),
    ])
}

/// `getIDOperators(uint32[])`.
pub fn get_id_operators_call(ids: &[u32]) -> Vec<u8> {
    let ids = ids.iter().map(|id| Token::Uint((*id).into())).collect();
    functions::GET_ID_OPERATORS.call(&[Token::Array(ids)])
}

/// The Bridge's key of a redemption request: `keccak256(keccak256(script) || walletPubKeyHash)`
/// over the script as the Bridge holds it, length-prefixed.
pub fn redemption_key(wallet: &WalletPkh, script: &[u8]) -> Hash32 {
    let mut packed = keccak256(script).to_vec();
    packed.extend_from_slice(&wallet.0);
    Hash32(keccak256(&packed))
}

/// A redeemer's output script as the Bridge emits it, length-prefixed, without its prefix:
/// the Bitcoin script proposals carry (as keep-client's do). The Bridge takes standard
/// scripts only (P2PKH, P2WPKH, P2SH, P2WSH, at most 34 bytes), so the prefix is one byte.
pub fn unprefixed_script(prefixed: &[u8]) -> Result<&[u8], AbiError> {
    match prefixed.split_first() {
        Some((&length, script)) if usize::from(length) == script.len() && length < 0xFD => {
            Ok(script)
        }
        _ => Err(AbiError {
            what: "RedemptionRequested redeemerOutputScript",
            problem: format!(
                "expected a length-prefixed script, got 0x{}",
                hex::encode(prefixed)
            ),
        }),
    }
}

/// The Bridge's key of a deposit: `keccak256(fundingTxHash || uint32 fundingOutputIndex)`.
pub fn deposit_key(funding_tx_hash: &Hash32, output_index: u32) -> Hash32 {
    outpoint_key(funding_tx_hash, output_index)
}

/// The Bridge's key of a moved-funds sweep request, packed like a deposit's:
/// `keccak256(movingFundsTxHash || uint32 outputIndex)`.
pub fn moved_funds_sweep_key(moving_funds_tx_hash: &Hash32, output_index: u32) -> Hash32 {
    outpoint_key(moving_funds_tx_hash, output_index)
}

fn outpoint_key(tx_hash: &Hash32, output_index: u32) -> Hash32 {
    let mut packed = tx_hash.0.to_vec();
    packed.extend_from_slice(&output_index.to_be_bytes());
    Hash32(keccak256(&packed))
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
        let mut result = events::DKG_RESULT_SUBMITTED
            .decode_data(data, "DkgResultSubmitted result")?
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
    let mut list = functions::GET_ID_OPERATORS
        .decode_output(data, "getIDOperators result")?
        .nested()?;
    (0..list.len()).map(|_| list.address()).collect()
}

/// `WalletRegistry.operatorToStakingProvider(address)`.
pub fn operator_to_staking_provider_call(operator: &Address) -> Vec<u8> {
    functions::OPERATOR_TO_STAKING_PROVIDER.call(&[Token::Address(operator.0.into())])
}

/// The staking provider (zero if the operator has none).
pub fn decode_staking_provider(data: &[u8]) -> Result<Address, AbiError> {
    functions::OPERATOR_TO_STAKING_PROVIDER
        .decode_output(data, "operatorToStakingProvider result")?
        .address()
}

/// `TokenStaking.rolesOf(address)`.
pub fn roles_of_call(staking_provider: &Address) -> Vec<u8> {
    functions::ROLES_OF.call(&[Token::Address(staking_provider.0.into())])
}

/// The stake's owner, the first of the roles (zero if there is no stake).
pub fn decode_stake_owner(data: &[u8]) -> Result<Address, AbiError> {
    functions::ROLES_OF
        .decode_output(data, "rolesOf result")?
        .address()
}

/// The parts of `Bridge.wallets(bytes20)` this node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeWallet {
    pub ecdsa_wallet_id: Hash32,
    /// `keccak256(txHash ‖ uint32 outputIndex ‖ uint64 value)` of the main UTXO; zero if the
    /// wallet has none.
    pub main_utxo_hash: Hash32,
    pub created_at: u64,
    pub moving_funds_requested_at: u64,
    pub pending_moved_funds_sweep_requests: u64,
    /// The raw state number (SPEC §9).
    pub state: u8,
    /// `movingFundsTargetWalletsCommitmentHash`; zero until a member commits.
    pub moving_funds_commitment: Hash32,
}

impl BridgeWallet {
    pub fn decode(data: &[u8]) -> Result<BridgeWallet, AbiError> {
        let mut w = functions::WALLETS
            .decode_output(data, "Bridge.wallets result")?
            .nested()?;
        let ecdsa_wallet_id = Hash32(w.fixed::<32>()?);
        let main_utxo_hash = Hash32(w.fixed::<32>()?);
        w.skip(1)?;
        let created_at = w.u64(32)?;
        let moving_funds_requested_at = w.u64(32)?;
        w.skip(1)?;
        Ok(BridgeWallet {
            ecdsa_wallet_id,
            main_utxo_hash,
            created_at,
            moving_funds_requested_at,
            pending_moved_funds_sweep_requests: w.u64(32)?,
            state: w.uint(8)? as u8,
            moving_funds_commitment: Hash32(w.fixed::<32>()?),
        })
    }
}

/// `Bridge.pendingRedemptions(uint256)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedemptionRequest {
    pub requested_amount: u64,
    /// The most this request's share of the fee may be, satoshi.
    pub tx_max_fee: u64,
    /// Zero when there is no such pending request.
    pub requested_at: u64,
}

impl RedemptionRequest {
    pub fn decode(data: &[u8]) -> Result<RedemptionRequest, AbiError> {
        let mut r = functions::PENDING_REDEMPTIONS
            .decode_output(data, "Bridge.pendingRedemptions result")?
            .nested()?;
        r.address()?;
        let requested_amount = r.u64(64)?;
        r.skip(1)?;
        let tx_max_fee = r.u64(64)?;
        Ok(RedemptionRequest {
            requested_amount,
            tx_max_fee,
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
        let mut d = functions::DEPOSITS
            .decode_output(data, "Bridge.deposits result")?
            .nested()?;
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

/// `Bridge.movedFundsSweepRequests(uint256)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MovedFundsSweepRecord {
    /// The wallet that must sweep the moved funds (the moving-funds target).
    pub wallet: WalletPkh,
    pub value: u64,
    pub created_at: u64,
    /// Unknown 0, Pending 1, Processed 2, TimedOut 3.
    pub state: u8,
}

impl MovedFundsSweepRecord {
    pub const PENDING: u8 = 1;

    pub fn decode(data: &[u8]) -> Result<MovedFundsSweepRecord, AbiError> {
        let mut r = functions::MOVED_FUNDS_SWEEP_REQUESTS
            .decode_output(data, "Bridge.movedFundsSweepRequests result")?
            .nested()?;
        Ok(MovedFundsSweepRecord {
            wallet: WalletPkh(r.fixed::<20>()?),
            value: r.u64(64)?,
            created_at: r.u64(32)?,
            state: r.uint(8)? as u8,
        })
    }
}

/// `Bridge.redemptionParameters()`: `redemptionTxMaxTotalFee` (satoshi) and the redemption
/// timeout (seconds).
pub fn decode_redemption_parameters(data: &[u8]) -> Result<(u64, u64), AbiError> {
    let mut p = functions::REDEMPTION_PARAMETERS
        .decode_output(data, "Bridge.redemptionParameters result")?;
    p.skip(3)?;
    let max_total_fee = p.u64(64)?;
    Ok((max_total_fee, p.u64(32)?))
}

/// `RedemptionRequested`'s data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRequested {
    pub redeemer_output_script: Vec<u8>,
    pub requested_amount: u64,
}

impl RedemptionRequested {
    pub fn decode(data: &[u8]) -> Result<RedemptionRequested, AbiError> {
        let mut e = events::REDEMPTION_REQUESTED.decode_data(data, "RedemptionRequested data")?;
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
    pub reveal: DepositReveal,
}

impl DepositRevealed {
    pub fn decode(data: &[u8]) -> Result<DepositRevealed, AbiError> {
        let mut e = events::DEPOSIT_REVEALED.decode_data(data, "DepositRevealed data")?;
        let funding_tx_hash = Hash32(e.fixed::<32>()?);
        let funding_output_index = e.u64(32)? as u32;
        let amount = e.u64(64)?;
        let blinding_factor = e.fixed::<8>()?;
        let refund_pubkey_hash = e.fixed::<20>()?;
        let locktime = e.fixed::<4>()?;
        Ok(DepositRevealed {
            funding_tx_hash,
            funding_output_index,
            amount,
            refund_locktime: u64::from(u32::from_le_bytes(locktime)),
            vault: e.address()?,
            reveal: DepositReveal {
                blinding_factor,
                refund_pubkey_hash,
                refund_locktime: locktime,
            },
        })
    }
}

/// `MovingFundsCommitmentSubmitted`'s target wallets.
pub fn decode_moving_funds_targets(data: &[u8]) -> Result<Vec<WalletPkh>, AbiError> {
    let mut targets = events::MOVING_FUNDS_COMMITMENT_SUBMITTED
        .decode_data(data, "MovingFundsCommitmentSubmitted data")?
        .nested()?;
    (0..targets.len())
        .map(|_| targets.fixed::<20>().map(WalletPkh))
        .collect()
}

/// `MovingFundsCompleted`'s moving-funds transaction hash (the wallet is its topic).
pub fn decode_moving_funds_tx_hash(data: &[u8]) -> Result<Hash32, AbiError> {
    events::MOVING_FUNDS_COMPLETED
        .decode_data(data, "MovingFundsCompleted data")?
        .fixed::<32>()
        .map(Hash32)
}

/// `DepositsSwept`'s wallet (not indexed in the Bridge).
pub fn decode_deposits_swept_wallet(data: &[u8]) -> Result<WalletPkh, AbiError> {
    events::DEPOSITS_SWEPT
        .decode_data(data, "DepositsSwept data")?
        .fixed::<20>()
        .map(WalletPkh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redeemer_script_loses_its_length_prefix_and_nothing_else() {
        let p2wpkh = [vec![0x00, 0x14], vec![0x5A; 20]].concat();
        let prefixed = [vec![22], p2wpkh.clone()].concat();
        assert_eq!(unprefixed_script(&prefixed).unwrap(), p2wpkh.as_slice());
        // The bare script, a wrong length, and nothing at all are refused.
        assert!(unprefixed_script(&p2wpkh).is_err());
        assert!(unprefixed_script(&[vec![23], p2wpkh.clone()].concat()).is_err());
        assert!(unprefixed_script(&[]).is_err());
    }

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
            (&events::NEW_WALLET_REGISTERED, "NewWalletRegistered(bytes32,bytes20)"),
            (&events::WALLET_CREATED, "WalletCreated(bytes32,bytes32)"),
            (
                &events::DKG_RESULT_SUBMITTED,
                "DkgResultSubmitted(bytes32,uint256,(uint256,bytes,uint8[],bytes,uint256[],uint32[],bytes32))",
            ),
            (
                &events::REDEMPTION_REQUESTED,
                "RedemptionRequested(bytes20,bytes,address,uint64,uint64,uint64)",
            ),
            (
                &events::DEPOSIT_REVEALED,
                "DepositRevealed(bytes32,uint32,address,uint64,bytes8,bytes20,bytes20,bytes4,address)",
            ),
            (
                &events::MOVING_FUNDS_COMMITMENT_SUBMITTED,
                "MovingFundsCommitmentSubmitted(bytes20,bytes20[],address)",
            ),
            (&events::REDEMPTIONS_COMPLETED, "RedemptionsCompleted(bytes20,bytes32)"),
            (&events::DEPOSITS_SWEPT, "DepositsSwept(bytes20,bytes32)"),
            (&events::MOVING_FUNDS_COMPLETED, "MovingFundsCompleted(bytes20,bytes32)"),
            (&events::MOVED_FUNDS_SWEPT, "MovedFundsSwept(bytes20,bytes32)"),
        ];
        for (declaration, canonical) in topics {
            assert_eq!(
                declaration.topic(),
                Hash32(keccak256(canonical.as_bytes())),
                "{canonical}"
            );
        }
        assert!(events::REDEMPTIONS_COMPLETED.first_argument_indexed());
        assert!(!events::DEPOSITS_SWEPT.first_argument_indexed());
        let selectors = [
            (&functions::WALLETS, "wallets(bytes20)"),
            (&functions::LIVE_WALLETS_COUNT, "liveWalletsCount()"),
            (&functions::WALLET_PARAMETERS, "walletParameters()"),
            (&functions::GET_OPERATOR_ID, "getOperatorID(address)"),
            (
                &functions::SUBMIT_MOVING_FUNDS_COMMITMENT,
                "submitMovingFundsCommitment(bytes20,(bytes32,uint32,uint64),uint32[],uint256,bytes20[])",
            ),
            (
                &functions::PENDING_REDEMPTIONS,
                "pendingRedemptions(uint256)",
            ),
            (&functions::DEPOSITS, "deposits(uint256)"),
            (&functions::REDEMPTION_PARAMETERS, "redemptionParameters()"),
            (&functions::DEPOSIT_PARAMETERS, "depositParameters()"),
            (
                &functions::MOVING_FUNDS_PARAMETERS,
                "movingFundsParameters()",
            ),
            (
                &functions::GET_REDEMPTION_WATCHTOWER,
                "getRedemptionWatchtower()",
            ),
            (
                &functions::GET_REDEMPTION_DELAY,
                "getRedemptionDelay(uint256)",
            ),
            (
                &functions::MOVED_FUNDS_SWEEP_REQUESTS,
                "movedFundsSweepRequests(uint256)",
            ),
            (&functions::GET_ID_OPERATORS, "getIDOperators(uint32[])"),
            (
                &functions::OPERATOR_TO_STAKING_PROVIDER,
                "operatorToStakingProvider(address)",
            ),
            (&functions::ROLES_OF, "rolesOf(address)"),
        ];
        for (declaration, canonical) in selectors {
            assert_eq!(
                declaration.selector(),
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
        // Bridge.wallets: 9 words, the state (uint8) then the commitment hash last.
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
                [0xC0; 32],
            ]
            .concat()
        };
        let ok = BridgeWallet::decode(&wallet(4, 1_700_000_000)).unwrap();
        assert_eq!((ok.state, ok.created_at), (4, 1_700_000_000));
        assert_eq!(ok.pending_moved_funds_sweep_requests, 3);
        assert_eq!(ok.moving_funds_commitment, Hash32([0xC0; 32]));
        // A Bridge that ends before the commitment hash is not the Bridge this node reads.
        assert!(BridgeWallet::decode(&wallet(4, 5)[..8 * 32]).is_err());
        assert!(BridgeWallet::decode(&wallet(256, 0)).is_err());
        assert!(BridgeWallet::decode(&wallet(0, 1 << 32)).is_err());
        // A trailing field a newer Bridge appends is ignored.
        let mut longer = wallet(1, 5);
        longer.extend_from_slice(&[0xCD; 32]);
        assert_eq!(BridgeWallet::decode(&longer).unwrap().state, 1);
    }

    #[test]
    fn a_moved_funds_sweep_request_and_its_key_read_as_the_bridge_writes_them() {
        // keccak256(txHash || uint32 index), as abi.encodePacked packs them.
        let tx = Hash32([0x21; 32]);
        let mut packed = [0x21u8; 36];
        packed[32..].copy_from_slice(&[0, 0, 0, 3]);
        assert_eq!(moved_funds_sweep_key(&tx, 3), Hash32(keccak256(&packed)));
        assert_eq!(moved_funds_sweep_key(&tx, 3), deposit_key(&tx, 3));
        assert_eq!(
            &moved_funds_sweep_requests_call(&Hash32([9; 32]))[4..],
            &[9u8; 32]
        );

        let mut pkh = [0u8; 32];
        pkh[..20].copy_from_slice(&[0x42; 20]);
        let record = [pkh, w(150_000), w(1_700_000_000), w(1)].concat();
        assert_eq!(
            MovedFundsSweepRecord::decode(&record).unwrap(),
            MovedFundsSweepRecord {
                wallet: WalletPkh([0x42; 20]),
                value: 150_000,
                created_at: 1_700_000_000,
                state: MovedFundsSweepRecord::PENDING,
            }
        );
        // A state past uint8, a createdAt past uint32, dirty bytes20 padding: refused.
        assert!(MovedFundsSweepRecord::decode(&[pkh, w(1), w(1), w(256)].concat()).is_err());
        assert!(MovedFundsSweepRecord::decode(&[pkh, w(1), w(1 << 32), w(1)].concat()).is_err());
        let mut dirty = pkh;
        dirty[31] = 1;
        assert!(MovedFundsSweepRecord::decode(&[dirty, w(1), w(1), w(1)].concat()).is_err());
        assert!(MovedFundsSweepRecord::decode(&record[..96]).is_err());

        assert_eq!(
            decode_moving_funds_tx_hash(&[0x5C; 32]).unwrap(),
            Hash32([0x5C; 32])
        );
        assert!(decode_moving_funds_tx_hash(&[0x5C; 31]).is_err());
    }
}
