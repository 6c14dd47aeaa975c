//! Wallet lifecycles on the real contracts, beyond [`RealTbtc::create_wallet`]: wallets made
//! one after another, a DKG result naming misbehaved seats, a first result challenged away
//! before the approved one, a wallet closed through the Bridge's own path (no main UTXO, so
//! Live → Closing → Closed without moving funds), and a wallet terminated by a fraud
//! challenge nobody defeats.

use ethers_core::abi::Token;
use serde_json::json;

use super::real::{uint, RealTbtc, RANDOM_BEACON, TOKEN_STAKING};
use super::{call_data, mine, rpc, send, token_address};
use tbtc_coord::protocol::types::keccak256;
use tbtc_coord::protocol::{Address, WalletPkh, WalletPublicKey};

/// An empty `BitcoinTx.UTXO`: a wallet without a main UTXO.
fn no_utxo() -> Token {
    Token::Tuple(vec![Token::FixedBytes(vec![0; 32]), uint(0), uint(0)])
}

impl RealTbtc {
    /// Bridge governance: a new wallet may be requested whenever no DKG runs (no creation
    /// period, no balance asked of the active wallet), and a closing wallet may close a
    /// second after it began.
    pub async fn allow_wallets_back_to_back(&self) {
        let mut parameters = self
            .view(&self.bridge_abi, &self.bridge, "walletParameters", &[])
            .await
            .expect("the Bridge's wallet parameters");
        // creationPeriod, creationMinBtcBalance, creationMaxBtcBalance (above the minimum),
        // closureMinBtcBalance, maxAge, maxBtcTransfer, closingPeriod (above zero)
        parameters[0] = uint(0);
        parameters[1] = uint(0);
        parameters[2] = uint(1);
        parameters[6] = uint(1);
        let update = call_data(&self.bridge_abi, "updateWalletParameters", &parameters);
        send(&self.url, Some(&self.bridge.to_checksum()), &update).await;
    }

    /// A DKG result naming `members` (in seat order), the 1-based `misbehaved` seats and the
    /// group key `key`, submitted by `members[0]`; signatures are dummies, checked only if
    /// the result is challenged.
    async fn dkg_result(
        &self,
        key: &WalletPublicKey,
        members: &[Address],
        misbehaved: &[u8],
    ) -> Token {
        let mut ids = Vec::new();
        for member in members {
            let id = self
                .view(
                    &self.pool_abi,
                    &self.pool,
                    "getOperatorID",
                    &[token_address(member)],
                )
                .await
                .expect("a member's id");
            ids.push(id.into_iter().next().expect("one id"));
        }
        let members_hash = keccak256(&ethers_core::abi::encode(&[Token::Array(ids.clone())]));
        Token::Tuple(vec![
            uint(1),
            Token::Bytes(key.uncompressed()[1..].to_vec()),
            Token::Array(misbehaved.iter().map(|m| uint(u128::from(*m))).collect()),
            Token::Bytes(vec![]),
            Token::Array(vec![]),
            Token::Array(ids),
            Token::FixedBytes(members_hash.to_vec()),
        ])
    }

    /// As [`RealTbtc::create_wallet`], with the 1-based `misbehaved` seats in the approved
    /// result; with `rejected` members, a first result naming them is submitted and
    /// challenged (the real validator finds its dummy signatures invalid) before it.
    pub async fn create_wallet_with(
        &self,
        secret: &[u8; 32],
        members: &[Address],
        misbehaved: &[u8],
        rejected: Option<&[Address]>,
    ) -> WalletPublicKey {
        let request = call_data(&self.bridge_abi, "requestNewWallet", &[no_utxo()]);
        send(&self.url, Some(&self.bridge.to_checksum()), &request).await;
        let seed = call_data(
            &self.registry_abi,
            "__beaconCallback",
            &[uint(12345), uint(0)],
        );
        self.send_as(&RANDOM_BEACON, &self.registry, &seed).await;

        let key = WalletPublicKey::of_secret(secret).expect("a valid secret key");
        if let Some(rejected) = rejected {
            let other = WalletPublicKey::of_secret(&[0xEE; 32]).expect("a valid secret key");
            let result = self.dkg_result(&other, rejected, &[]).await;
            let submit = call_data(
                &self.registry_abi,
                "submitDkgResult",
                std::slice::from_ref(&result),
            );
            self.send_as(&rejected[0], &self.registry, &submit).await;
            // The registry slashes the submitter through TokenStaking, which here only has
            // to accept the call: code that does nothing.
            rpc(
                &self.url,
                "anvil_setCode",
                json!([TOKEN_STAKING.to_checksum(), "0x00"]),
            )
            .await;
            let challenge = call_data(&self.registry_abi, "challengeDkgResult", &[result]);
            let challenger = Address([0xC4; 20]);
            self.send_as(&challenger, &self.registry, &challenge).await;
        }
        let result = self.dkg_result(&key, members, misbehaved).await;
        let submit = call_data(
            &self.registry_abi,
            "submitDkgResult",
            std::slice::from_ref(&result),
        );
        self.send_as(&members[0], &self.registry, &submit).await;
        mine(&self.url, self.challenge_period + 1, 12).await;
        let approve = call_data(&self.registry_abi, "approveDkgResult", &[result]);
        self.send_as(&members[0], &self.registry, &approve).await;
        key
    }

    /// Closes a wallet without a main UTXO the Bridge's way: anyone may notify it closeable
    /// (it is not the active wallet and holds too few satoshis), which starts its closing
    /// period; after that period anyone may notify it elapsed, and the wallet is Closed.
    /// Needs [`RealTbtc::allow_wallets_back_to_back`]'s one-second closing period.
    pub async fn close_wallet(&self, wallet: &WalletPkh) {
        let pkh = Token::FixedBytes(wallet.0.to_vec());
        let closeable = call_data(
            &self.bridge_abi,
            "notifyWalletCloseable",
            &[pkh.clone(), no_utxo()],
        );
        send(&self.url, Some(&self.bridge.to_checksum()), &closeable).await;
        mine(&self.url, 1, 12).await;
        let elapsed = call_data(&self.bridge_abi, "notifyWalletClosingPeriodElapsed", &[pkh]);
        send(&self.url, Some(&self.bridge.to_checksum()), &elapsed).await;
    }

    /// Terminates the wallet of group key `secret` (members `members`) the Bridge's way: a
    /// fraud challenge with a signature by the wallet's key (the test holds it: the DKG
    /// result was its own) that the wallet never defeats. Governance first makes the
    /// challenge free and its defeat timeout one second; the registry then slashes the
    /// members through TokenStaking, which here only has to accept the call.
    pub async fn terminate_wallet(&self, secret: &[u8; 32], members: &[Address]) {
        use ethers_signers::LocalWallet;
        use sha2::{Digest, Sha256};

        let mut parameters = self
            .view(&self.bridge_abi, &self.bridge, "fraudParameters", &[])
            .await
            .expect("the Bridge's fraud parameters");
        parameters[0] = uint(0);
        parameters[1] = uint(1);
        let update = call_data(&self.bridge_abi, "updateFraudParameters", &parameters);
        send(&self.url, Some(&self.bridge.to_checksum()), &update).await;

        let key = WalletPublicKey::of_secret(secret).expect("a valid secret key");
        let key64 = Token::Bytes(key.uncompressed()[1..].to_vec());
        let preimage = Token::Bytes(vec![0x5F; 32]);
        let sighash: [u8; 32] = Sha256::digest([0x5F; 32]).into();
        let signer = LocalWallet::from_bytes(secret).expect("a signing key");
        let signature = signer.sign_hash(sighash.into()).expect("a signature");
        let word = |v: ethers_core::types::U256| {
            let mut out = [0u8; 32];
            v.to_big_endian(&mut out);
            Token::FixedBytes(out.to_vec())
        };
        let rsv = Token::Tuple(vec![
            word(signature.r),
            word(signature.s),
            uint(u128::from(signature.v)),
        ]);
        let challenge = call_data(
            &self.bridge_abi,
            "submitFraudChallenge",
            &[key64.clone(), preimage.clone(), rsv],
        );
        send(&self.url, Some(&self.bridge.to_checksum()), &challenge).await;
        mine(&self.url, 1, 12).await;

        rpc(
            &self.url,
            "anvil_setCode",
            json!([TOKEN_STAKING.to_checksum(), "0x00"]),
        )
        .await;
        let ids = match self.dkg_result(&key, members, &[]).await {
            Token::Tuple(fields) => fields[5].clone(),
            other => panic!("a DKG result: {other:?}"),
        };
        let timeout = call_data(
            &self.bridge_abi,
            "notifyFraudChallengeDefeatTimeout",
            &[key64, ids, preimage],
        );
        send(&self.url, Some(&self.bridge.to_checksum()), &timeout).await;
    }

    /// The Bridge's state of `wallet` (1 Live, 2 MovingFunds, 3 Closing, 4 Closed, 5
    /// Terminated).
    pub async fn wallet_state(&self, wallet: &WalletPkh) -> u64 {
        let fields = self.wallet_record(wallet).await;
        match fields.get(7) {
            Some(Token::Uint(state)) => state.as_u64(),
            other => panic!("the wallet's state (its eighth field): {other:?}"),
        }
    }
}
