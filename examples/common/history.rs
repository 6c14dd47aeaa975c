//! A synthetic fault history for the benchmarks that page or count it.

use tbtc_coord::engine::history::HistoryWriter;
use tbtc_coord::protocol::{
    Address, CoordinationResult, CoordinationWindow, Fault, FaultType, Hash32, Proposal, Role,
    Seed, WalletPkh,
};
use tbtc_coord::store::Store;

/// Ten faults per result, over 50 wallets and 40 operators.
pub fn fill(store: &Store, faults: u64) {
    let results = faults.div_ceil(10);
    for i in 0..results {
        let cb = 900 * (i / 50 + 1);
        let wallet = WalletPkh([(i % 50) as u8 + 1; 20]);
        let leader = Address([(i % 40) as u8 + 1; 20]);
        let n = (faults - i * 10).min(10);
        let faults = (0..n)
            .map(|k| Fault {
                fault: FaultType::ALL[(k % 3) as usize],
                culprit: Address([((i + k) % 40) as u8 + 1; 20]),
            })
            .collect();
        store
            .record_result(&CoordinationResult {
                wallet,
                window: CoordinationWindow::new(cb),
                safe_block_hash: Hash32([7; 32]),
                seed: Seed([9; 32]),
                leader,
                leader_member_index: 1,
                role: Role::Follower,
                checklist: vec![],
                proposal: Proposal::Noop,
                faults,
                members_connected: None,
                evidence: Default::default(),
                proposed_actions: Default::default(),
                refusals: Vec::new(),
            })
            .expect("record");
    }
}
