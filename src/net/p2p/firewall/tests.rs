//! The rules, keep-client's cache and the 10-minute re-check, on tokio's paused clock.

use super::*;
use crate::net::p2p::handshake::tests::{keypair, unhex, vectors};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A chain that recognises the operators in `yes`, counting the questions, and can be told
/// to change its mind.
#[derive(Default)]
struct FakeChain {
    yes: Mutex<HashSet<Address>>,
    asked: AtomicUsize,
}

#[async_trait]
impl OnChainCheck for FakeChain {
    async fn is_recognised(&self, operator: Address) -> Result<bool, String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok(self.yes.lock().unwrap().contains(&operator))
    }
}

fn key(i: usize) -> PublicKey {
    keypair(&vectors().operators[i]).public()
}

fn address(i: usize) -> Address {
    vectors().operators[i].address.parse().unwrap()
}

fn no_members() -> MemberLookup {
    Arc::new(|_| None)
}

#[test]
fn eth_address_matches_the_vectors() {
    for (i, operator) in vectors().operators.iter().enumerate() {
        assert_eq!(operator_address(&key(i)), Some(address(i)));
        let uncompressed = unhex(&operator.public_key_uncompressed);
        let secp = key(i).try_into_secp256k1().unwrap();
        assert_eq!(secp.to_bytes_uncompressed().to_vec(), uncompressed);
    }
}

#[tokio::test]
async fn rules_admit_allowlisted_and_members_and_refuse_the_rest() {
    let members = members_from(HashMap::from([(address(1), "0xabcd…".to_string())]));
    let rules = Rules::new([key(0).to_peer_id()], members);
    assert_eq!(
        rules.admit(&key(0)).await,
        Ok(Admitted("allowlisted".into()))
    );
    assert_eq!(
        rules.admit(&key(1)).await,
        Ok(Admitted("holds a seat in wallet 0xabcd…".into()))
    );
    assert_eq!(
        rules.admit(&key(2)).await,
        Err(Refused(
            "not an operator of any wallet this node knows".into()
        ))
    );
    let ed25519 = libp2p::identity::Keypair::generate_ed25519().public();
    assert!(rules.admit(&ed25519).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn the_chain_cache_keeps_a_no_for_an_hour_and_a_yes_for_12_hours() {
    let chain = Arc::new(FakeChain::default());
    let rules = Rules::new([], no_members()).with_chain(chain.clone());
    assert!(rules.admit(&key(2)).await.is_err());
    assert_eq!(chain.asked.load(Ordering::SeqCst), 1);

    // The chain now says yes, but the cached no stands for an hour.
    chain.yes.lock().unwrap().insert(address(2));
    tokio::time::advance(CACHE_NO - Duration::from_secs(1)).await;
    assert!(rules.admit(&key(2)).await.is_err());
    assert_eq!(chain.asked.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(rules.admit(&key(2)).await.is_ok());
    assert_eq!(chain.asked.load(Ordering::SeqCst), 2);

    // The chain now says no, but the cached yes stands for 12 hours.
    chain.yes.lock().unwrap().clear();
    tokio::time::advance(CACHE_YES - Duration::from_secs(1)).await;
    assert!(rules.admit(&key(2)).await.is_ok());
    assert_eq!(chain.asked.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        rules.admit(&key(2)).await,
        Err(Refused("not a staked operator on chain".into()))
    );
    assert_eq!(chain.asked.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn recheck_refuses_connected_peers_every_10_minutes() {
    let start = tokio::time::Instant::now();
    let chain = Arc::new(FakeChain::default());
    chain.yes.lock().unwrap().insert(address(1));
    let rules: Arc<dyn Firewall> =
        Arc::new(Rules::new([key(0).to_peer_id()], no_members()).with_chain(chain.clone()));
    let peers: Vec<PeerId> = (0..3).map(|i| key(i).to_peer_id()).collect();
    let connected = Arc::new(Mutex::new(peers.clone()));
    let (tx, mut rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let list = connected.clone();
    let task = tokio::spawn(recheck(
        rules,
        move || list.lock().unwrap().clone(),
        tx,
        cancel.clone(),
    ));

    // Let the task start its clock, then see nothing happen before the first re-check.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::advance(RECHECK_EVERY - Duration::from_secs(1)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(rx.try_recv().is_err());
    assert_eq!(chain.asked.load(Ordering::SeqCst), 0);

    // At 10 minutes, peer 2 (unknown to the chain) is refused; the allowlisted peer 0 is
    // not asked about, and peer 1's yes is cached.
    let (peer, reason) = rx.recv().await.unwrap();
    assert_eq!(start.elapsed(), RECHECK_EVERY);
    assert_eq!(peer, peers[2]);
    assert_eq!(reason, Refused("not a staked operator on chain".into()));
    assert_eq!(chain.asked.load(Ordering::SeqCst), 2);
    connected.lock().unwrap().retain(|p| *p != peer);

    // Peer 1 loses its stake right away; the cached yes lets it stay until the first
    // re-check at least 12 hours after it was cached.
    chain.yes.lock().unwrap().clear();
    let (peer, _) = rx.recv().await.unwrap();
    assert_eq!(peer, peers[1]);
    assert_eq!(start.elapsed(), RECHECK_EVERY + CACHE_YES);
    cancel.cancel();
    task.await.unwrap();
}
