//! What the console's wallet details show of Bitcoin: at each window's start, a node with a
//! Bitcoin view reads every wallet it coordinates on both chains (the Bridge's main UTXO hash,
//! the output it names, its confirmations, and whether it is unspent) and announces it. A
//! follower has no other reason to read Bitcoin, so without this an operator would see a
//! wallet's main UTXO only in the windows it leads.

use std::sync::Arc;

use super::bitcoin_read::read_main_utxo;
use super::context::NodeContext;
use super::events::Event;
use super::records::WalletBitcoin;
use crate::bitcoin::view::BitcoinView;
use crate::chain::Chain;
use crate::protocol::WalletPkh;

/// `wallet` as of Ethereum block `block`, read through `view`; what failed is kept in the
/// reading, never invented around.
pub async fn read_wallet_bitcoin(
    chain: &dyn Chain,
    view: &dyn BitcoinView,
    wallet: WalletPkh,
    block: u64,
) -> WalletBitcoin {
    let mut reading = WalletBitcoin {
        wallet,
        block,
        has_main_utxo: false,
        main_utxo: None,
        confirmations: None,
        synced: None,
        warning: None,
        error: None,
    };
    let hash = match chain.main_utxo_hash(&wallet, block).await {
        Ok(Some(hash)) => hash,
        Ok(None) => return reading,
        Err(e) => {
            reading.error = Some(format!("the Bridge: {e}"));
            return reading;
        }
    };
    reading.has_main_utxo = true;
    let found = async {
        let main = read_main_utxo(view, &wallet, &hash).await?;
        let confirmations = match &main.utxo {
            Some(u) => Some(view.confirmations(&u.tx_hash, u.output_index).await?),
            None => None,
        };
        Ok::<_, crate::bitcoin::view::BitcoinError>((main, confirmations))
    }
    .await;
    match found {
        Ok((main, confirmations)) => {
            reading.main_utxo = main.utxo;
            reading.confirmations = confirmations;
            reading.synced = Some(main.synced);
            reading.warning = main.disagreement;
        }
        Err(e) => reading.error = Some(format!("Bitcoin: {e}")),
    }
    reading
}

/// Reads `wallets` at `block` in the background, one after another, and announces each.
pub fn spawn_readings(ctx: &Arc<NodeContext>, wallets: Vec<WalletPkh>, block: u64) {
    let Some(view) = ctx.config.bitcoin.clone() else {
        return;
    };
    let task = ctx.clone();
    ctx.tasks.spawn(async move {
        for wallet in wallets {
            let reading = tokio::select! {
                biased;
                _ = task.cancel.cancelled() => return,
                r = read_wallet_bitcoin(task.chain.as_ref(), view.as_ref(), wallet, block) => r,
            };
            task.bus.publish(Event::WalletBitcoin(Box::new(reading)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainError;
    use crate::devnet::chain::{Devnet, DevnetConfig};
    use crate::protocol::Hash32;

    #[tokio::test]
    async fn a_wallet_s_main_utxo_is_the_output_the_bridge_names_with_its_confirmations() {
        let devnet = Devnet::new(DevnetConfig::default()).unwrap();
        let wallet = devnet.wallets().await.unwrap()[0].wallet;
        let head = devnet.latest_block().await.unwrap().number;
        let reading = read_wallet_bitcoin(&devnet, &devnet, wallet, head).await;
        assert_eq!(reading.error, None);
        assert!(reading.has_main_utxo);
        let utxo = reading.main_utxo.expect("found on the simulated Bitcoin");
        let named = devnet.main_utxo_hash(&wallet, head).await.unwrap();
        assert_eq!(Some(utxo.bridge_hash()), named);
        assert_eq!(
            reading.confirmations,
            Some(
                devnet
                    .confirmations(&utxo.tx_hash, utxo.output_index)
                    .await
                    .unwrap()
            )
        );
        assert_eq!(reading.synced, Some(true));
    }

    #[tokio::test]
    async fn what_cannot_be_read_is_said_not_invented() {
        let devnet = Devnet::new(DevnetConfig::default()).unwrap();
        let unknown = WalletPkh([0xEE; 20]);
        let reading = read_wallet_bitcoin(&devnet, &devnet, unknown, 0).await;
        assert_eq!(
            reading.error,
            Some(format!(
                "the Bridge: {}",
                ChainError::UnknownWallet(unknown)
            ))
        );
        assert!(!reading.has_main_utxo);
        assert_eq!((reading.main_utxo, reading.synced), (None, None));

        // The Bridge names an output Bitcoin does not have: a disagreement, not an error.
        struct Elsewhere(Devnet);
        #[async_trait::async_trait]
        impl Chain for Elsewhere {
            fn chain_key(&self) -> String {
                self.0.chain_key()
            }
            async fn subscribe_blocks(&self) -> Result<crate::chain::BlockStream, ChainError> {
                self.0.subscribe_blocks().await
            }
            async fn latest_block(&self) -> Result<crate::protocol::BlockRef, ChainError> {
                self.0.latest_block().await
            }
            async fn block_hash(
                &self,
                n: u64,
                rule: crate::protocol::BlockHashRule,
            ) -> Result<Hash32, ChainError> {
                self.0.block_hash(n, rule).await
            }
            async fn wallets(&self) -> Result<Vec<crate::protocol::WalletInfo>, ChainError> {
                self.0.wallets().await
            }
            async fn wallet_snapshot(
                &self,
                wallet: &WalletPkh,
                block: u64,
            ) -> Result<crate::protocol::WalletSnapshot, ChainError> {
                let mut s = self.0.wallet_snapshot(wallet, block).await?;
                s.main_utxo_hash = Some(Hash32([0x99; 32]));
                Ok(s)
            }
            async fn execute_action(
                &self,
                r: crate::chain::ActionRequest,
            ) -> Result<crate::protocol::ActionOutcome, ChainError> {
                self.0.execute_action(r).await
            }
        }
        let wallet = devnet.wallets().await.unwrap()[0].wallet;
        let reading = read_wallet_bitcoin(&Elsewhere(devnet.clone()), &devnet, wallet, 0).await;
        assert_eq!(reading.error, None);
        assert!(reading.has_main_utxo);
        assert_eq!((reading.main_utxo, reading.synced), (None, Some(false)));
        assert!(
            reading
                .warning
                .as_deref()
                .unwrap()
                .contains(&Hash32([0x99; 32]).to_string()),
            "{:?}",
            reading.warning
        );
    }
}
