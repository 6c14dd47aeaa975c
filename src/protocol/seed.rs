//! The coordination seed (SPEC §3): `sha256(wallet_pkh[20] || safe_block_hash[32])`.

use sha2::{Digest, Sha256};

use super::types::{Hash32, Seed, WalletPkh};

pub fn coordination_seed(wallet: &WalletPkh, safe_block_hash: &Hash32) -> Seed {
    let mut hasher = Sha256::new();
    hasher.update(wallet.0);
    hasher.update(safe_block_hash.0);
    Seed(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_client_vector() {
        let wallet: WalletPkh = "aa768412ceed10bd423c025542ca90071f9fb62d".parse().unwrap();
        let hash: Hash32 = "1322996cbcbc38fc924a46f4df5f9064279d3ab43396e58386dac9b87440d64f"
            .parse()
            .unwrap();
        assert_eq!(
            coordination_seed(&wallet, &hash).to_hex(),
            "e55c779d6d83183409ddc90c6cd5130567f0593349a9c82494b402048ec2d03d"
        );
    }
}
