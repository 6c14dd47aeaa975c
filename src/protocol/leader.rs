//! Leader selection (SPEC §4): distinct seat holders sorted by their EIP-55 strings, shuffled
//! by Go's `math/rand` seeded with the seed's first 8 bytes; the first one leads, speaking
//! through its lowest seat.

use super::gorand::GoRand;
use super::types::{Address, Seed};

/// The most seats a signing group can have. Member indices are one byte (`u8`) on the wire,
/// and the reference client's member indices (`senderID`) run 1..=255, so seat 256 has no
/// index. The one definition of the seat limit: the wallets file, discovery and the CLI use it.
pub const MAX_SEATS: usize = 255;

/// The size of a tBTC v2 signing group (keep-core's `GroupSize`): what mainnet wallets have,
/// and the largest group the devnet draws.
pub const GROUP_SIZE: usize = 100;

/// Why a list of seat holders is not a signing group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningGroupError {
    #[error("a signing group of {size} seats is too large: at most {limit} seats have a member index (1..={limit})")]
    TooManySeats { size: usize, limit: usize },
}

/// A wallet's signing group: seat `k` (member index `k`, 1-based) is held by `seats[k-1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningGroup {
    seats: Vec<Address>,
    /// Distinct holders sorted as the reference client sorts them; computed once, because
    /// the group does not change from window to window.
    candidates: Vec<Address>,
}

impl SigningGroup {
    /// A group of at most [`MAX_SEATS`] seats (an empty one has no leader).
    pub fn new(seats: Vec<Address>) -> Result<Self, SigningGroupError> {
        check_seat_count(seats.len())?;
        let candidates = leader_candidates(&seats);
        Ok(SigningGroup { seats, candidates })
    }

    pub fn seats(&self) -> &[Address] {
        &self.seats
    }

    pub fn size(&self) -> usize {
        self.seats.len()
    }

    /// Distinct operators in the reference client's order (before shuffling).
    pub fn candidates(&self) -> &[Address] {
        &self.candidates
    }

    /// The operator holding a member index, if the index is a seat of this group.
    pub fn holder(&self, member_index: u8) -> Option<Address> {
        let i = usize::from(member_index).checked_sub(1)?;
        self.seats.get(i).copied()
    }

    /// Every member index an operator holds, ascending.
    pub fn seats_of(&self, operator: &Address) -> Vec<u8> {
        seats_held(&self.seats, operator)
    }

    /// The lowest member index an operator holds.
    pub fn lowest_seat(&self, operator: &Address) -> Option<u8> {
        self.seats
            .iter()
            .position(|a| a == operator)
            .and_then(member_index)
    }

    /// The leader of a window with this seed.
    pub fn leader(&self, seed: &Seed) -> Option<Leader> {
        self.leader_with(seed, &mut GoRand::new(0))
    }

    /// As [`Self::leader`], reusing a generator (re-seeded here).
    pub fn leader_with(&self, seed: &Seed, rng: &mut GoRand) -> Option<Leader> {
        let operator = shuffled_first(&self.candidates, seed, rng)?;
        let member_index = self.lowest_seat(&operator)?;
        Some(Leader {
            operator,
            member_index,
        })
    }
}

/// Refuses a seat count above [`MAX_SEATS`].
pub fn check_seat_count(size: usize) -> Result<(), SigningGroupError> {
    if size > MAX_SEATS {
        return Err(SigningGroupError::TooManySeats {
            size,
            limit: MAX_SEATS,
        });
    }
    Ok(())
}

/// The member index of the seat at position `i` (0-based); none past [`MAX_SEATS`], rather
/// than a wrapped one.
fn member_index(i: usize) -> Option<u8> {
    u8::try_from(i.checked_add(1)?).ok()
}

/// The member indices (1-based) that `operator` holds among `seats`, ascending. Seats past
/// [`MAX_SEATS`] have no index and are left out.
pub fn seats_held(seats: &[Address], operator: &Address) -> Vec<u8> {
    seats
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == operator)
        .filter_map(|(i, _)| member_index(i))
        .collect()
}

/// A window's leader and the seat it speaks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leader {
    pub operator: Address,
    pub member_index: u8,
}

/// Distinct seat holders, sorted ascending by their `0x`-prefixed EIP-55 strings, byte by byte.
pub fn leader_candidates(seats: &[Address]) -> Vec<Address> {
    let mut keyed: Vec<(String, Address)> = seats.iter().map(|a| (a.to_checksum(), *a)).collect();
    keyed.sort();
    keyed.dedup_by(|a, b| a.1 == b.1);
    keyed.into_iter().map(|(_, a)| a).collect()
}

/// The element Go's `Shuffle` leaves first, for a list already in candidate order.
fn shuffled_first(candidates: &[Address], seed: &Seed, rng: &mut GoRand) -> Option<Address> {
    if candidates.is_empty() {
        return None;
    }
    rng.seed(seed.rng_seed());
    // Shuffle positions, not addresses: the swaps are the same and cheaper. A signing group
    // has at most MAX_SEATS (255) seats, so the positions fit on the stack; larger lists
    // (`select_leader` takes any slice) take the heap.
    let n = candidates.len();
    let first = if n <= 256 {
        let mut order = [0u8; 256];
        for (i, slot) in order.iter_mut().enumerate().take(n) {
            *slot = i as u8;
        }
        rng.shuffle(&mut order[..n]);
        usize::from(order[0])
    } else {
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        order[0]
    };
    Some(candidates[first])
}

/// The leader operator of a list of seat holders (duplicates allowed, in seat order).
pub fn select_leader(seats: &[Address], seed: &Seed) -> Option<Address> {
    shuffled_first(&leader_candidates(seats), seed, &mut GoRand::new(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_client_vector() {
        let seats: Vec<Address> = [
            "957ECF59507a6A74b8d98747f07a74De270D3CC3",
            "5E14c0f27612fbfB7A6FE40b5A6Ec997fA62fc04",
            "D2662604f8b4540336fBd3c1F48d7e9cdFbD079c",
            "7CBD87ABC182216A7Aa0E8d19aA21abFA2511383",
            "FAc73b03884d94a08a5c6c7BB12Ac0b20571F162",
            "705C76445651530fe0D25eeE287b6164cE2c7216",
            "7CBD87ABC182216A7Aa0E8d19aA21abFA2511383",
            "405ad1f632b49A0617fbdc1fD427aF54BA9Bb3dd",
            "7CBD87ABC182216A7Aa0E8d19aA21abFA2511383",
            "5E14c0f27612fbfB7A6FE40b5A6Ec997fA62fc04",
        ]
        .iter()
        .map(|s| format!("0x{s}").parse().unwrap())
        .collect();
        let seed: Seed = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            .parse()
            .unwrap();
        let group = SigningGroup::new(seats).unwrap();
        let leader = group.leader(&seed).unwrap();
        assert_eq!(
            leader.operator.to_checksum(),
            "0xD2662604f8b4540336fBd3c1F48d7e9cdFbD079c"
        );
        assert_eq!(leader.member_index, 3);
        // The 7CBD… operator holds seats 4, 7 and 9: it speaks through 4.
        let multi: Address = "0x7CBD87ABC182216A7Aa0E8d19aA21abFA2511383"
            .parse()
            .unwrap();
        assert_eq!(group.seats_of(&multi), vec![4, 7, 9]);
        assert_eq!(group.lowest_seat(&multi), Some(4));
        assert_eq!(group.holder(9), Some(multi));
        assert_eq!(group.holder(0), None);
        assert_eq!(group.holder(11), None);
    }

    #[test]
    fn candidates_sort_by_checksum_string_not_by_value() {
        // As strings, '0'..'9' < 'A'..'F' < 'a'..'f': "0xA…" sorts before "0xa…".
        let upper: Address = "0xAC8c263372473eAE5ce08bB9E993Fc96c61E4dC9"
            .parse()
            .unwrap();
        let lower: Address = "0xaf5b4ab687d7F1dFa4863e5524D65Bb8FcF8C43e"
            .parse()
            .unwrap();
        let digit: Address = "0x94012cB784fE2b60257De8C50A7A2a2a9615c27B"
            .parse()
            .unwrap();
        assert_eq!(
            leader_candidates(&[lower, upper, digit, upper]),
            vec![digit, upper, lower]
        );
    }

    #[test]
    fn a_group_of_255_seats_works_and_256_is_refused() {
        let seats = |n: usize| -> Vec<Address> {
            (0..n)
                .map(|i| {
                    let mut a = [0u8; 20];
                    a[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
                    Address(a)
                })
                .collect()
        };
        let full = SigningGroup::new(seats(MAX_SEATS)).unwrap();
        let last = seats(MAX_SEATS)[MAX_SEATS - 1];
        assert_eq!(full.lowest_seat(&last), Some(255));
        assert_eq!(full.seats_of(&last), vec![255]);
        assert_eq!(full.holder(255), Some(last));
        let err = SigningGroup::new(seats(MAX_SEATS + 1)).unwrap_err();
        assert_eq!(
            err,
            SigningGroupError::TooManySeats {
                size: 256,
                limit: 255
            }
        );
        let text = err.to_string();
        assert!(text.contains("256") && text.contains("255"), "{text}");
        // A raw slice past the limit: seat 256 has no index, instead of index 0.
        let mut long = seats(MAX_SEATS);
        let me = Address([0xEE; 20]);
        long.push(me);
        assert_eq!(seats_held(&long, &me), Vec::<u8>::new());
    }
}
