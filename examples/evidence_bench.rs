//! Fault evidence figures: fills a history with N impersonation faults, each with its own
//! signed pubsub message (a window per fault), then measures the export
//! (`faults --evidence --json`: the query, the entries and the JSON) and the verification
//! (`verify-evidence`: parsing and checking every signature, seat and window), the median of
//! a few runs.
//!
//!     cargo run --release --example evidence_bench -- --faults 10000 --runs 5

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use tbtc_coord::engine::history::HistoryWriter;
use tbtc_coord::engine::records::FaultFilter;
use tbtc_coord::evidence::{seats_of, verify_against, EvidenceEntry, SourceHash};
use tbtc_coord::net::envelope::Envelope;
use tbtc_coord::net::pubsub::PubsubMessage;
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::proposal::HexBytes;
use tbtc_coord::protocol::WalletInfo;
use tbtc_coord::protocol::{
    checklist, coordination_seed, CoordinationMessage, CoordinationResult, CoordinationWindow,
    Fault, FaultEvidence, FaultType, Hash32, Proposal, Role, SigningGroup, WalletPublicKey,
};
use tbtc_coord::store::Store;

#[derive(Parser)]
struct Args {
    /// Faults in the history.
    #[arg(long, default_value_t = 10_000)]
    faults: u64,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("history.sqlite3"))?;
    let keys: Vec<OperatorKey> = (1..=10u8)
        .map(|i| OperatorKey::from_secret(&[i; 32]))
        .collect::<Result<_, _>>()?;
    let public_key =
        WalletPublicKey::of_secret(&[0x77; 32]).ok_or_else(|| anyhow::anyhow!("wallet key"))?;
    let wallet = WalletInfo {
        wallet: public_key.pkh(),
        public_key: Some(public_key),
        operators: keys.iter().map(|k| k.address()).collect(),
    };
    let group = SigningGroup::new(wallet.operators.clone())?;
    let topic = wallet.coordination_topic();

    let filled = Instant::now();
    for n in 1..=args.faults {
        let cb = n * 900;
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&n.to_be_bytes());
        let safe_block_hash = Hash32(hash);
        let seed = coordination_seed(&wallet.wallet, &safe_block_hash);
        let leader = group
            .leader(&seed)
            .ok_or_else(|| anyhow::anyhow!("no leader"))?;
        let seat = if leader.member_index == 1 { 2 } else { 1 };
        let key = &keys[usize::from(seat - 1)];
        let message = CoordinationMessage {
            sender_member_index: seat,
            coordination_block: cb,
            wallet: wallet.wallet,
            proposal: Proposal::Heartbeat {
                message: HexBytes(vec![0xFF; 16]),
            },
        };
        let envelope = Envelope {
            sender: key.keypair().public(),
            payload: message.encode(),
            sequence_number: 1,
        };
        let bytes = PubsubMessage::signed(key, &topic, envelope.encode(), 0x1000 + n).to_bytes();
        let fault = Fault {
            fault: FaultType::LeaderImpersonation,
            culprit: key.address(),
        };
        let window = CoordinationWindow::new(cb);
        store.record_result(&CoordinationResult {
            wallet: wallet.wallet,
            window,
            safe_block_hash,
            seed,
            leader: leader.operator,
            leader_member_index: leader.member_index,
            role: Role::Follower,
            checklist: checklist(window, &seed),
            proposal: Proposal::Noop,
            faults: vec![fault],
            members_connected: Some(9),
            evidence: BTreeMap::from([(fault, FaultEvidence::Message(bytes))]),
            proposed_actions: BTreeMap::from([(fault, message.proposal.action_type())]),
            refusals: Vec::new(),
        })?;
    }
    println!(
        "history of {} faults with evidence written in {:.1?}",
        args.faults,
        filled.elapsed()
    );

    let seats = seats_of(vec![wallet]);
    let mut exports = Vec::new();
    let mut verifications = Vec::new();
    let mut size = 0;
    for _ in 0..args.runs {
        let started = Instant::now();
        let entries: Vec<EvidenceEntry> = store
            .fault_evidence(&FaultFilter::default(), 0, u64::MAX)?
            .iter()
            .map(EvidenceEntry::from_row)
            .collect();
        let json = serde_json::to_string(&entries)?;
        exports.push(started.elapsed());
        size = json.len();

        let started = Instant::now();
        let parsed: Vec<EvidenceEntry> = serde_json::from_str(&json)?;
        // The safe block hashes from the history, as `verify-evidence --data-dir` reads them.
        let mut passed = 0;
        for e in &parsed {
            let hash = match store.safe_block_hash(&e.wallet, e.coordination_block)? {
                Some(hash) => SourceHash::Known {
                    hash,
                    source: "the history".into(),
                },
                None => SourceHash::Unknown("no result recorded".into()),
            };
            passed += usize::from(verify_against(e, &seats, &hash).passed);
        }
        verifications.push(started.elapsed());
        anyhow::ensure!(
            passed == parsed.len(),
            "{} of {} failed",
            parsed.len() - passed,
            parsed.len()
        );
    }
    println!(
        "export of {} faults ({:.1} MB of JSON): median {:.1?} over {} runs",
        args.faults,
        size as f64 / 1e6,
        median(&mut exports),
        args.runs
    );
    println!(
        "verification of {} faults (all pass): median {:.1?} over {} runs ({:.1?} per entry)",
        args.faults,
        median(&mut verifications),
        args.runs,
        median(&mut verifications) / u32::try_from(args.faults.max(1)).unwrap_or(u32::MAX)
    );
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
