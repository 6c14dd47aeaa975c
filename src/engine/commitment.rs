//! The leader's moving-funds commitment (SPEC §12): a wallet in MovingFunds cannot propose
//! moving its funds until a member has committed to the target wallets on chain. The leader
//! that reaches MovingFunds with no commitment submits one and gives it six blocks to be
//! mined, as the reference client does; then it generates again, now with the targets.

use std::future::Future;

use crate::chain::Chain;
use crate::protocol::commitment::{commitment_hash, MovingFundsCommitment};
use crate::protocol::{Hash32, WalletSnapshot};

/// Blocks a submitted commitment is given to show in the wallet's state.
pub const COMMITMENT_WAIT_BLOCKS: u64 = 6;

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Mined: the wallet as of the first block that holds the commitment.
    Mined {
        tx: Hash32,
        snapshot: Box<WalletSnapshot>,
    },
    /// Sent, but not seen in the wallet's state within [`COMMITMENT_WAIT_BLOCKS`].
    NotIncluded { tx: Hash32 },
    /// Not sent: the chain refused it or could not be reached.
    Failed(String),
    /// The node stopped while waiting.
    Stopped,
}

/// Submits `commitment` at head `head`, then reads the wallet at each of the next
/// [`COMMITMENT_WAIT_BLOCKS`] blocks (`wait_for_block` waits for one; `None` if the node
/// stops) until it holds a commitment whose targets can be read.
pub async fn submit_commitment<W, F>(
    chain: &dyn Chain,
    commitment: &MovingFundsCommitment,
    head: u64,
    mut wait_for_block: W,
) -> Committed
where
    W: FnMut(u64) -> F,
    F: Future<Output = Option<u64>>,
{
    let tx = match chain.submit_moving_funds_commitment(commitment).await {
        Ok(tx) => tx,
        Err(e) => return Committed::Failed(e.to_string()),
    };
    for target in head + 1..=head + COMMITMENT_WAIT_BLOCKS {
        let Some(block) = wait_for_block(target).await else {
            return Committed::Stopped;
        };
        match chain.wallet_snapshot(&commitment.wallet, block).await {
            // The Bridge's hash and the targets its event names, both there and agreeing (a
            // node may answer for the state before it indexes the block's logs).
            Ok(snapshot)
                if snapshot.moving_funds_commitment.is_some()
                    && snapshot.moving_funds_commitment
                        == Some(commitment_hash(&snapshot.moving_funds_targets)) =>
            {
                return Committed::Mined {
                    tx,
                    snapshot: Box::new(snapshot),
                };
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(wallet = %commitment.wallet, block, error = %e,
                    "cannot read the wallet while waiting for its commitment");
            }
        }
    }
    Committed::NotIncluded { tx }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::chain::{ActionRequest, BlockStream, ChainError};
    use crate::protocol::bitcoin_facts::MainUtxo;
    use crate::protocol::{ActionOutcome, BlockHashRule, BlockRef, WalletInfo, WalletPkh};

    /// Takes every commitment, and shows it in the wallet's state from block `shows_at` on;
    /// the event naming its targets is found from block `logs_at` on.
    struct Bridge {
        shows_at: u64,
        logs_at: u64,
        sent: Mutex<u32>,
    }

    #[async_trait::async_trait]
    impl Chain for Bridge {
        fn chain_key(&self) -> String {
            "test".into()
        }
        async fn subscribe_blocks(&self) -> Result<BlockStream, ChainError> {
            Err(ChainError::Unavailable("not used".into()))
        }
        async fn latest_block(&self) -> Result<BlockRef, ChainError> {
            Err(ChainError::Unavailable("not used".into()))
        }
        async fn block_hash(&self, _: u64, _: BlockHashRule) -> Result<Hash32, ChainError> {
            Err(ChainError::Unavailable("not used".into()))
        }
        async fn wallets(&self) -> Result<Vec<WalletInfo>, ChainError> {
            Ok(Vec::new())
        }
        async fn wallet_snapshot(
            &self,
            wallet: &WalletPkh,
            block: u64,
        ) -> Result<WalletSnapshot, ChainError> {
            let targets = commitment().target_wallets;
            Ok(WalletSnapshot {
                wallet: *wallet,
                block,
                moving_funds_commitment: (block >= self.shows_at)
                    .then(|| commitment_hash(&targets)),
                moving_funds_targets: if block >= self.logs_at {
                    targets
                } else {
                    Vec::new()
                },
                ..WalletSnapshot::default()
            })
        }
        async fn submit_moving_funds_commitment(
            &self,
            _: &MovingFundsCommitment,
        ) -> Result<Hash32, ChainError> {
            *self.sent.lock().unwrap() += 1;
            Ok(Hash32([1; 32]))
        }
        async fn execute_action(&self, _: ActionRequest) -> Result<ActionOutcome, ChainError> {
            Err(ChainError::Unavailable("not used".into()))
        }
    }

    fn commitment() -> MovingFundsCommitment {
        MovingFundsCommitment {
            wallet: WalletPkh([1; 20]),
            main_utxo: MainUtxo {
                tx_hash: Hash32([2; 32]),
                output_index: 0,
                value: 1,
            },
            wallet_members_ids: vec![1],
            wallet_member_index: 1,
            target_wallets: vec![WalletPkh([3; 20])],
        }
    }

    /// Runs a submission at head 100 and lists the blocks it waited for.
    async fn run(chain: &dyn Chain, stop_at: Option<u64>) -> (Committed, Vec<u64>) {
        let waited = Mutex::new(Vec::new());
        let outcome = submit_commitment(chain, &commitment(), 100, |block| {
            waited.lock().unwrap().push(block);
            async move { (Some(block) != stop_at).then_some(block) }
        })
        .await;
        (outcome, waited.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_commitment_is_given_six_blocks_and_read_at_the_first_that_holds_it() {
        let bridge = Bridge {
            shows_at: 103,
            logs_at: 103,
            sent: Mutex::new(0),
        };
        let (outcome, waited) = run(&bridge, None).await;
        let Committed::Mined { tx, snapshot } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!((tx, snapshot.block), (Hash32([1; 32]), 103));
        assert_eq!(waited, vec![101, 102, 103]);
        assert_eq!(*bridge.sent.lock().unwrap(), 1, "sent once");

        let late = Bridge {
            shows_at: 107,
            logs_at: 107,
            sent: Mutex::new(0),
        };
        let (outcome, waited) = run(&late, None).await;
        assert_eq!(
            outcome,
            Committed::NotIncluded {
                tx: Hash32([1; 32])
            }
        );
        assert_eq!(
            waited,
            (101..=106).collect::<Vec<_>>(),
            "six blocks, no more"
        );

        // The hash is read a block before the node finds the event naming the targets: the
        // wait goes on until both agree.
        let lagging = Bridge {
            shows_at: 102,
            logs_at: 104,
            sent: Mutex::new(0),
        };
        let (outcome, waited) = run(&lagging, None).await;
        let Committed::Mined { snapshot, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(snapshot.block, 104);
        assert_eq!(snapshot.moving_funds_targets, commitment().target_wallets);
        assert_eq!(waited, vec![101, 102, 103, 104]);
    }

    #[tokio::test]
    async fn a_refused_submission_waits_for_nothing_and_a_stop_ends_the_wait() {
        let devnet =
            crate::devnet::chain::Devnet::new(crate::devnet::chain::DevnetConfig::default())
                .unwrap();
        let (outcome, waited) = run(&devnet, None).await;
        assert!(
            matches!(&outcome, Committed::Failed(e) if e.contains("no moving-funds commitment")),
            "{outcome:?}"
        );
        assert!(waited.is_empty());

        let bridge = Bridge {
            shows_at: 200,
            logs_at: 200,
            sent: Mutex::new(0),
        };
        let (outcome, waited) = run(&bridge, Some(102)).await;
        assert_eq!(outcome, Committed::Stopped);
        assert_eq!(waited, vec![101, 102]);
    }
}
