//! The window a fault's details are about: its stored result (the checklist as this node
//! computed it, and the action it accepted), read from the history once the details open, so
//! that an old fault shows them as well as a fresh one.

use super::loads::LoadWhat;
use super::state::Popup;
use crate::engine::records::{FaultRow, ResultRow};
use crate::protocol::WalletPkh;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultWindow {
    /// The wallet and window asked for last.
    key: Option<(WalletPkh, u64)>,
    /// Its answer: the stored result (`None` if the history has none), or why it failed.
    result: Option<Result<Option<ResultRow>, String>>,
}

impl FaultWindow {
    /// The read the open details wait for, if they wait for one (asked once per fault).
    pub fn wanted(&mut self, popup: Option<&Popup>) -> Option<LoadWhat> {
        let Some(Popup::FaultDetail(row)) = popup else {
            return None;
        };
        let key = (row.wallet, row.coordination_block);
        if self.key == Some(key) {
            return None;
        }
        self.key = Some(key);
        self.result = None;
        Some(LoadWhat::FaultWindow {
            wallet: row.wallet,
            coordination_block: row.coordination_block,
        })
    }

    /// Folds an answer in, if it is for the fault still asked about.
    pub fn loaded(
        &mut self,
        wallet: WalletPkh,
        coordination_block: u64,
        result: Result<Option<ResultRow>, String>,
    ) {
        if self.key == Some((wallet, coordination_block)) {
            self.result = Some(result);
        }
    }

    /// What is known of `row`'s window: `None` while it loads.
    pub fn of(&self, row: &FaultRow) -> Option<&Result<Option<ResultRow>, String>> {
        (self.key == Some((row.wallet, row.coordination_block)))
            .then_some(self.result.as_ref())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Address, FaultType};

    fn fault(cb: u64) -> FaultRow {
        FaultRow {
            id: 1,
            wallet: WalletPkh([1; 20]),
            coordination_block: cb,
            culprit: Address([2; 20]),
            fault: FaultType::LeaderIdleness,
            leader: Address([2; 20]),
            recorded_at: 0,
            proposed_action: None,
        }
    }

    #[test]
    fn the_window_is_read_once_per_fault_and_late_answers_are_dropped() {
        let mut w = FaultWindow::default();
        assert_eq!(w.wanted(None), None);
        let open = Popup::FaultDetail(Box::new(fault(900)));
        assert_eq!(
            w.wanted(Some(&open)),
            Some(LoadWhat::FaultWindow {
                wallet: WalletPkh([1; 20]),
                coordination_block: 900
            })
        );
        assert_eq!(w.wanted(Some(&open)), None, "asked once");
        assert_eq!(w.of(&fault(900)), None, "loading");
        // Another fault opened meanwhile: the first answer is not its.
        let other = Popup::FaultDetail(Box::new(fault(1800)));
        assert!(w.wanted(Some(&other)).is_some());
        w.loaded(WalletPkh([1; 20]), 900, Ok(None));
        assert_eq!(w.of(&fault(1800)), None);
        w.loaded(WalletPkh([1; 20]), 1800, Err("gone".into()));
        assert_eq!(w.of(&fault(1800)), Some(&Err("gone".to_string())));
    }
}
