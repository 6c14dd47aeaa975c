//! What a wallet snapshot's event scans keep from one window to the next. The reference
//! look-backs (SPEC §12) are tens of thousands of blocks; read again every window, they cost
//! several `eth_getLogs` requests per wallet and event. Kept here, a scan reads only the
//! blocks since the last one, plus the last [`SETTLED_DEPTH`] blocks every time, which a
//! reorganisation may still change. Deposits the Bridge recorded as swept are kept too: a
//! sweep is never undone, so their `deposits(key)` is not asked again.
//!
//! Bounded: one entry per (contract, topics) scanned, each holding only the logs of its
//! latest look-back, and the swept keys of the deposits seen in a look-back.

use std::collections::{HashMap, HashSet};

use super::client::{lock, Inner};
use super::logs::Log;
use crate::chain::ChainError;
use crate::protocol::{Address, Hash32};

/// Blocks below the head that are read again by every scan: deeper than any reorganisation
/// of proof-of-stake Ethereum short of a finality failure (finality is 64 blocks).
pub const SETTLED_DEPTH: u64 = 64;

/// Deposit keys kept as swept, at most: far above the deposits of any wallet's look-back, a
/// bound on memory if a chain sweeps without end. Past it the set starts again.
const MAX_SWEPT_KEYS: usize = 100_000;

type ScanKey = (Address, Vec<Option<Hash32>>);

/// The logs of blocks `from..=to` of one scan.
struct Scanned {
    from: u64,
    to: u64,
    logs: Vec<Log>,
}

#[derive(Default)]
pub(super) struct ScanCache {
    scans: HashMap<ScanKey, Scanned>,
    swept: HashSet<Hash32>,
}

impl ScanCache {
    /// Where a scan of `from..=to` must start reading, and the logs already known before
    /// that block.
    fn plan(&self, key: &ScanKey, from: u64, to: u64) -> (u64, Vec<Log>) {
        match self.scans.get(key) {
            Some(s) if s.from <= from && s.to.saturating_add(1) >= from => {
                let known = s
                    .logs
                    .iter()
                    .filter(|l| l.block_number >= from && l.block_number <= to)
                    .cloned()
                    .collect();
                (s.to.saturating_add(1).max(from), known)
            }
            _ => (from, Vec::new()),
        }
    }

    /// Keeps what a scan of `from..=to` found, up to its settled block. A scan of an older
    /// range than the one kept leaves the entry alone.
    fn keep(&mut self, key: ScanKey, from: u64, to: u64, logs: &[Log]) {
        let settled = to.saturating_sub(SETTLED_DEPTH);
        if settled < from {
            return;
        }
        if let Some(s) = self.scans.get(&key) {
            if s.to >= settled {
                return;
            }
        }
        let logs = logs
            .iter()
            .filter(|l| l.block_number <= settled)
            .cloned()
            .collect();
        self.scans.insert(
            key,
            Scanned {
                from,
                to: settled,
                logs,
            },
        );
    }
}

impl Inner {
    /// `eth_getLogs` of `address` and `topics` over `from..=to`, reading only what the last
    /// scan of the same events did not (see the module comment). Without the cache
    /// (`EthereumConfig::scan_cache` off), every block is read every time.
    pub(super) async fn scan(
        &self,
        address: Address,
        topics: &[Option<Hash32>],
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, ChainError> {
        if !self.config.scan_cache {
            return self.logs(address, topics, from, to).await;
        }
        let key = (address, topics.to_vec());
        let (read_from, mut logs) = lock(&self.scan_cache).plan(&key, from, to);
        if read_from <= to {
            logs.extend(self.logs(address, topics, read_from, to).await?);
        }
        lock(&self.scan_cache).keep(key, from, to, &logs);
        Ok(logs)
    }

    /// Whether the Bridge was seen to record deposit `key` as swept.
    pub(super) fn known_swept(&self, key: &Hash32) -> bool {
        self.config.scan_cache && lock(&self.scan_cache).swept.contains(key)
    }

    /// Remembers that the Bridge recorded deposit `key` as swept.
    pub(super) fn remember_swept(&self, key: Hash32) {
        if !self.config.scan_cache {
            return;
        }
        let mut cache = lock(&self.scan_cache);
        if cache.swept.len() >= MAX_SWEPT_KEYS {
            cache.swept.clear();
        }
        cache.swept.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(block: u64) -> Log {
        Log {
            topics: vec![],
            data: vec![],
            block_number: block,
            log_index: 0,
        }
    }

    fn key() -> ScanKey {
        (Address([1; 20]), vec![Some(Hash32([2; 32])), None])
    }

    #[test]
    fn a_scan_reads_only_past_what_has_settled_and_forgets_what_left_the_look_back() {
        let mut cache = ScanCache::default();
        // Nothing kept: read everything.
        assert_eq!(cache.plan(&key(), 1_000, 10_000).0, 1_000);
        let found = [log(1_500), log(9_000), log(9_990)];
        cache.keep(key(), 1_000, 10_000, &found);
        // The next window: from the settled block on, with what was found before it; the
        // log within the unsettled tail is read again, not kept.
        let (read_from, known) = cache.plan(&key(), 1_900, 10_900);
        assert_eq!(read_from, 10_000 - SETTLED_DEPTH + 1);
        assert_eq!(known, vec![log(9_000)], "1500 left the look-back");
        // A scan of an older range leaves the entry alone.
        cache.keep(key(), 0, 5_000, &[]);
        assert_eq!(
            cache.plan(&key(), 1_900, 10_900).0,
            10_000 - SETTLED_DEPTH + 1
        );
        // A look-back reaching before what was kept reads it all again.
        assert_eq!(cache.plan(&key(), 500, 10_900), (500, vec![]));
        // Another set of topics is another scan.
        let other = (Address([1; 20]), vec![Some(Hash32([3; 32]))]);
        assert_eq!(cache.plan(&other, 1_900, 10_900).0, 1_900);
    }

    #[test]
    fn a_scan_whose_kept_range_ends_before_the_look_back_starts_reads_it_all() {
        let mut cache = ScanCache::default();
        cache.keep(key(), 0, 1_000, &[log(10)]);
        // Kept up to 936; a look-back from 2000 has a gap: read from its start.
        assert_eq!(cache.plan(&key(), 2_000, 3_000), (2_000, vec![]));
        // A scan so short that nothing has settled keeps nothing.
        let mut fresh = ScanCache::default();
        fresh.keep(key(), 950, 1_000, &[log(990)]);
        assert_eq!(fresh.plan(&key(), 950, 1_010).0, 950);
    }
}
