//! The moving-funds commitment (SPEC §12): before a wallet in MovingFunds can propose moving
//! its funds, one of its members commits on Ethereum to the wallets that will receive them.
//! The leader that reaches MovingFunds on its checklist with no commitment yet submits one, as
//! keep-core's moving-funds task does; these are the rules that shape it. The Bridge checks
//! every one of them (`submitMovingFundsCommitment`) and refuses a commitment that breaks any.

use serde::{Deserialize, Serialize};

use super::bitcoin_facts::MainUtxo;
use super::proposal::WalletState;
use super::types::keccak256;
use super::{Address, Hash32, WalletPkh};

/// What `submitMovingFundsCommitment` is called with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovingFundsCommitment {
    pub wallet: WalletPkh,
    /// The wallet's main UTXO, which the Bridge checks against its hash.
    pub main_utxo: MainUtxo,
    /// The sortition pool's ID of each seat's operator, in seat order.
    pub wallet_members_ids: Vec<u32>,
    /// The submitter's first seat, 1-based.
    pub wallet_member_index: u32,
    /// Ascending, as the Bridge requires.
    pub target_wallets: Vec<WalletPkh>,
}

impl MovingFundsCommitment {
    /// One line: `2 target wallets (0x…, 0x…) as member 3 of 100`.
    pub fn summary(&self) -> String {
        let targets: Vec<String> = self.target_wallets.iter().map(|w| w.short()).collect();
        let noun = if self.target_wallets.len() == 1 {
            "target wallet"
        } else {
            "target wallets"
        };
        format!(
            "{} {noun} ({}) as member {} of {}",
            self.target_wallets.len(),
            targets.join(", "),
            self.wallet_member_index,
            self.wallet_members_ids.len()
        )
    }
}

/// The Bridge's `movingFundsTargetWalletsCommitmentHash` of `targets`:
/// `keccak256(abi.encodePacked(targets))`, where a packed array pads each `bytes20` to a
/// 32-byte word.
pub fn commitment_hash(targets: &[WalletPkh]) -> Hash32 {
    let mut packed = Vec::with_capacity(32 * targets.len());
    for t in targets {
        packed.extend_from_slice(&t.0);
        packed.extend_from_slice(&[0; 12]);
    }
    Hash32(keccak256(&packed))
}

/// How many wallets a moving wallet's `balance` goes to: `min(live wallets,
/// ceil(balance / walletMaxBtcTransfer))`, at least one when there is something to move.
pub fn target_count(balance: u64, max_btc_transfer: u64, live_wallets: usize) -> usize {
    if balance == 0 || live_wallets == 0 {
        return 0;
    }
    let needed = balance.div_ceil(max_btc_transfer.max(1));
    usize::try_from(needed)
        .unwrap_or(usize::MAX)
        .min(live_wallets)
}

/// The target wallets: the newest `count` Live wallets other than `source`, walking the
/// registrations from the newest (the likeliest to be Live, as the reference walks them), then
/// sorted ascending by their 20 bytes as the Bridge requires. `None` when fewer than `count`
/// are Live.
pub fn choose_targets(
    newest_first: impl IntoIterator<Item = (WalletPkh, WalletState)>,
    source: &WalletPkh,
    count: usize,
) -> Option<Vec<WalletPkh>> {
    let mut targets: Vec<WalletPkh> = newest_first
        .into_iter()
        .filter(|(w, state)| w != source && *state == WalletState::Live)
        .map(|(w, _)| w)
        .take(count)
        .collect();
    if targets.len() < count {
        return None;
    }
    targets.sort_by_key(|w| w.0);
    Some(targets)
}

/// The 1-based index of `submitter`'s first seat among `operators` (seat order), as the
/// WalletRegistry's `isWalletMember` checks it; `None` if it holds no seat.
pub fn member_index(operators: &[Address], submitter: &Address) -> Option<u32> {
    let seat = operators.iter().position(|o| o == submitter)?;
    u32::try_from(seat + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkh(b: u8) -> WalletPkh {
        WalletPkh([b; 20])
    }

    #[test]
    fn a_moving_wallet_splits_its_balance_over_at_most_the_live_wallets() {
        let max = 100 * 100_000_000;
        assert_eq!(target_count(250 * 100_000_000, max, 5), 3);
        assert_eq!(target_count(250 * 100_000_000, max, 2), 2);
        assert_eq!(target_count(200 * 100_000_000, max, 5), 2, "exact multiple");
        assert_eq!(target_count(1, max, 5), 1);
        assert_eq!(target_count(0, max, 5), 0);
        assert_eq!(target_count(10, max, 0), 0);
        assert_eq!(
            target_count(10, 0, 3),
            3,
            "a zero maximum cannot divide by zero"
        );
    }

    #[test]
    fn targets_are_the_newest_live_wallets_but_the_source_sorted_ascending() {
        use WalletState::*;
        let newest_first = [
            (pkh(9), Live),
            (pkh(1), MovingFunds), // the source itself, never a target
            (pkh(7), Closed),
            (pkh(3), Live),
            (pkh(5), Live),
            (pkh(2), Live),
        ];
        assert_eq!(
            choose_targets(newest_first, &pkh(1), 3),
            Some(vec![pkh(3), pkh(5), pkh(9)])
        );
        assert_eq!(
            choose_targets(newest_first, &pkh(1), 5),
            None,
            "only 4 Live"
        );
        // A Live source is still not its own target.
        let live_source = [(pkh(1), Live), (pkh(4), Live)];
        assert_eq!(choose_targets(live_source, &pkh(1), 1), Some(vec![pkh(4)]));
    }

    #[test]
    fn the_member_index_is_the_first_seat_one_based() {
        let a = Address([0xA; 20]);
        let b = Address([0xB; 20]);
        let operators = [a, b, a, b];
        assert_eq!(member_index(&operators, &a), Some(1));
        assert_eq!(member_index(&operators, &b), Some(2));
        assert_eq!(member_index(&operators, &Address([0xC; 20])), None);
    }

    #[test]
    fn the_summary_names_the_targets_and_the_seat() {
        let c = MovingFundsCommitment {
            wallet: pkh(1),
            main_utxo: MainUtxo {
                tx_hash: crate::protocol::Hash32([1; 32]),
                output_index: 0,
                value: 5,
            },
            wallet_members_ids: vec![4, 8, 15],
            wallet_member_index: 2,
            target_wallets: vec![pkh(2)],
        };
        assert_eq!(
            c.summary(),
            format!("1 target wallet ({}) as member 2 of 3", pkh(2).short())
        );
    }
}
