//! The recent chain as this node has seen it: the header of each recent height, linked by
//! parent hash. It decides, for each new head, whether it extends the chain, fills a gap,
//! or replaces blocks already announced (a reorg), and which blocks to announce to the
//! window watch. Pure: fetching the missing parents is the caller's job.
//!
//! What gets announced, and why:
//! - a head that extends the tip: itself;
//! - a reorg: the new branch from the fork point on, in order (the window watch never
//!   decides a window twice, so re-announcing heights is safe);
//! - a short gap (a skipped notification, a poll spanning a few blocks): every missing
//!   height, in order;
//! - a long gap (a reconnect after minutes): the missing headers are fetched and kept, but
//!   only the newest head is announced. Replaying old heights would make the window watch
//!   believe it saw a coordination block on time and open a window whose active phase is
//!   long over, blaming an idle leader for messages this node could not hear; a jump lets it
//!   apply SPEC §2 instead (late start while the active phase lasts, else "missed").

use std::collections::BTreeMap;

use super::header::RpcHeader;
use crate::protocol::BlockRef;
use crate::protocol::Hash32;

/// How many recent heights are kept: well past the safe-block shift (32) and a window's
/// length (100), so the safe block of any running window is at hand without an RPC call.
pub const RECENT_CAPACITY: usize = 512;
/// Gaps up to this many blocks are announced height by height.
pub const GAP_ANNOUNCE_LIMIT: u64 = 16;
/// How far back a new head's ancestry is fetched to link it to a known block.
pub const MAX_BACKFILL: usize = 128;

/// Where a header stands relative to the known chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderLink {
    /// This very block is known.
    Known,
    /// Its parent is the known block at the height below (or it is the genesis block).
    Linked,
    /// Nothing known to link it to: the first head, or older than everything kept.
    Unanchored,
    /// Its parent must be fetched first.
    NeedParent { number: u64, hash: Hash32 },
}

#[derive(Debug, Default)]
pub struct RecentBlocks {
    blocks: BTreeMap<u64, RpcHeader>,
}

impl RecentBlocks {
    pub fn new() -> Self {
        RecentBlocks::default()
    }

    pub fn tip(&self) -> Option<&RpcHeader> {
        self.blocks.values().next_back()
    }

    pub fn get(&self, number: u64) -> Option<&RpcHeader> {
        self.blocks.get(&number)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
    }

    /// Where `h` stands.
    pub fn link(&self, h: &RpcHeader) -> HeaderLink {
        let n = h.number();
        if self
            .blocks
            .get(&n)
            .is_some_and(|known| known.hash == h.hash)
        {
            return HeaderLink::Known;
        }
        let Some(parent_number) = n.checked_sub(1) else {
            return HeaderLink::Linked;
        };
        match self.blocks.get(&parent_number) {
            Some(parent) if parent.hash == h.parent_hash() => HeaderLink::Linked,
            Some(_) => HeaderLink::NeedParent {
                number: parent_number,
                hash: h.parent_hash(),
            },
            None => match self.blocks.first_key_value() {
                None => HeaderLink::Unanchored,
                Some((&lowest, _)) if parent_number < lowest => HeaderLink::Unanchored,
                // Above the tip (a gap) or in a hole left by an earlier jump.
                Some(_) => HeaderLink::NeedParent {
                    number: parent_number,
                    hash: h.parent_hash(),
                },
            },
        }
    }

    /// Takes a linked (or unanchored) run of headers, oldest first, and returns the blocks
    /// to announce, in order.
    pub fn apply(&mut self, segment: Vec<RpcHeader>) -> Vec<BlockRef> {
        let (Some(first), Some(last)) = (segment.first(), segment.last()) else {
            return Vec::new();
        };
        let first_number = first.number();
        let last_number = last.number();
        let old_tip = self.tip().map(RpcHeader::number);
        // Everything from the segment's start up is replaced: an old branch, or heights a
        // shorter new branch no longer has.
        self.blocks.retain(|n, _| *n < first_number);
        let refs: Vec<BlockRef> = segment.iter().map(RpcHeader::block_ref).collect();
        for h in segment {
            self.blocks.insert(h.number(), h);
        }
        while self.blocks.len() > RECENT_CAPACITY {
            self.blocks.pop_first();
        }
        let Some(old_tip) = old_tip else {
            // The first head: nothing before it to replay.
            return refs.last().copied().into_iter().collect();
        };
        let (replaced, new): (Vec<BlockRef>, Vec<BlockRef>) =
            refs.into_iter().partition(|b| b.number <= old_tip);
        let mut announce = replaced;
        let contiguous = new.first().is_some_and(|b| b.number == old_tip + 1)
            || (new.is_empty() && last_number <= old_tip);
        if contiguous && (new.len() as u64) <= GAP_ANNOUNCE_LIMIT {
            announce.extend(new);
        } else if let Some(newest) = new.last() {
            announce.push(*newest);
        }
        announce
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BlockHeader;

    /// A header on branch `fork` (its extra data), child of `parent`.
    fn header(number: u64, parent: Hash32, fork: u8) -> RpcHeader {
        let header = BlockHeader {
            parent_hash: parent,
            number,
            logs_bloom: vec![0; 256],
            extra_data: vec![fork],
            ..BlockHeader::default()
        };
        let hash = header.canonical_hash();
        RpcHeader {
            keep_v2: header.keep_v2_hash(),
            recomputed: hash,
            header,
            hash,
        }
    }

    fn chain(from: u64, to: u64, parent: Hash32, fork: u8) -> Vec<RpcHeader> {
        let mut out = Vec::new();
        let mut parent = parent;
        for n in from..=to {
            let h = header(n, parent, fork);
            parent = h.hash;
            out.push(h);
        }
        out
    }

    fn numbers(refs: &[BlockRef]) -> Vec<u64> {
        refs.iter().map(|b| b.number).collect()
    }

    #[test]
    fn extension_duplicates_short_and_long_gaps() {
        let c = chain(100, 200, Hash32::default(), 0);
        let mut r = RecentBlocks::new();
        assert_eq!(r.link(&c[0]), HeaderLink::Unanchored);
        assert_eq!(numbers(&r.apply(vec![c[0].clone()])), vec![100]);
        assert_eq!(r.link(&c[1]), HeaderLink::Linked);
        assert_eq!(numbers(&r.apply(vec![c[1].clone()])), vec![101]);
        assert_eq!(r.link(&c[1]), HeaderLink::Known);
        // A short gap: 102..=105 missing before 106.
        assert!(matches!(
            r.link(&c[6]),
            HeaderLink::NeedParent { number: 105, .. }
        ));
        assert_eq!(
            numbers(&r.apply(c[2..=6].to_vec())),
            vec![102, 103, 104, 105, 106]
        );
        // A long gap: only the newest is announced, all are kept.
        assert_eq!(numbers(&r.apply(c[7..=60].to_vec())), vec![160]);
        assert!(r.get(130).is_some());
        assert_eq!(r.tip().unwrap().number(), 160);
    }

    #[test]
    fn a_reorg_replays_the_new_branch_and_drops_the_old() {
        let main = chain(0, 50, Hash32::default(), 0);
        let mut r = RecentBlocks::new();
        r.apply(main.clone());
        // A new branch forks after block 45 and is one block longer.
        let branch = chain(46, 51, main[45].hash, 1);
        assert!(matches!(
            r.link(&branch[5]),
            HeaderLink::NeedParent { number: 50, .. }
        ));
        assert!(matches!(r.link(&branch[0]), HeaderLink::Linked));
        let announced = r.apply(branch.clone());
        assert_eq!(numbers(&announced), vec![46, 47, 48, 49, 50, 51]);
        assert_eq!(r.get(48).unwrap().hash, branch[2].hash);
        // A shorter branch drops the heights above it.
        let short = chain(40, 41, main[39].hash, 2);
        assert_eq!(numbers(&r.apply(short)), vec![40, 41]);
        assert_eq!(r.tip().unwrap().number(), 41);
        assert!(r.get(45).is_none());
    }

    #[test]
    fn capacity_is_bounded() {
        let c = chain(0, (RECENT_CAPACITY as u64) + 100, Hash32::default(), 0);
        let mut r = RecentBlocks::new();
        for h in c {
            r.apply(vec![h]);
        }
        assert_eq!(r.len(), RECENT_CAPACITY);
        assert!(r.get(0).is_none());
    }
}
