//! The real tBTC v2 contracts on anvil: the published packages are whole, the Bridge deploys
//! behind its proxy linked to its libraries, and the on-chain WalletProposalValidator judges
//! the heartbeat proposals this node's generator makes.

mod ethereum_support;

use ethereum_support::real::{Artifact, RealTbtc, BRIDGE_LIBRARIES, REIMBURSEMENT_POOL, RELAY};
use ethereum_support::Anvil;
use ethers_core::abi::Token;
use tbtc_coord::chain::ethereum::{Contracts, EthereumChain, EthereumConfig};
use tbtc_coord::chain::Chain;
use tbtc_coord::protocol::proposal::{heartbeat_message, WalletState};
use tbtc_coord::protocol::{Address, WalletPkh};

#[test]
fn the_pinned_packages_hold_what_the_deployment_needs() {
    let bridge = Artifact::load(
        "keep-network-tbtc-v2-1.6.0",
        "build/contracts/bridge/Bridge.sol/Bridge.json",
    );
    let mut expected: Vec<String> = BRIDGE_LIBRARIES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(bridge.libraries(), expected);
    let validator = Artifact::load(
        "keep-network-tbtc-v2-1.6.0",
        "build/contracts/bridge/WalletProposalValidator.sol/WalletProposalValidator.json",
    );
    for kind in [
        "Redemption",
        "DepositSweep",
        "MovedFundsSweep",
        "MovingFunds",
        "Heartbeat",
    ] {
        let name = format!("validate{kind}Proposal");
        assert!(validator.abi.function(&name).is_ok(), "{name} is declared");
    }
    let proxy = Artifact::load(
        "openzeppelin-contracts-4.8.3",
        "build/contracts/TransparentUpgradeableProxy.json",
    );
    assert!(proxy.bytecode.len() > 2, "the proxy has creation code");
}

fn address(token: &Token) -> Address {
    match token {
        Token::Address(a) => Address(a.0),
        other => panic!("not an address: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_deploys_behind_its_proxy_and_keeps_what_it_was_given() {
    let anvil = Anvil::start(&[]).await;
    let tbtc = RealTbtc::deploy(&anvil.http_url(), &[]).await;
    let references = tbtc
        .view(&tbtc.bridge_abi, &tbtc.bridge, "contractReferences", &[])
        .await
        .expect("the proxied Bridge answers");
    let got: Vec<Address> = references.iter().map(address).collect();
    assert_eq!(
        got,
        vec![tbtc.bank, RELAY, tbtc.registry, REIMBURSEMENT_POOL]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_validator_accepts_our_heartbeats_and_refuses_other_messages() {
    let anvil = Anvil::start(&[]).await;
    let tbtc = RealTbtc::deploy(&anvil.http_url(), &[]).await;
    let wallet = WalletPkh([0x42; 20]);
    let proposal = |message: Vec<u8>| {
        vec![Token::Tuple(vec![
            Token::FixedBytes(wallet.0.to_vec()),
            Token::Bytes(message),
        ])]
    };
    for block in [900, 1800, 123_456_700] {
        let ours = heartbeat_message(&wallet, block).to_vec();
        let verdict = tbtc
            .view(
                &tbtc.validator_abi,
                &tbtc.validator,
                "validateHeartbeatProposal",
                &proposal(ours),
            )
            .await
            .expect("a heartbeat of ours is valid");
        assert_eq!(verdict, vec![Token::Bool(true)]);
    }
    // Not the 0xFF prefix, or not 16 bytes: refused, with the validator's reason.
    let mut not_prefixed = heartbeat_message(&wallet, 900).to_vec();
    not_prefixed[0] = 0xFE;
    let too_long = [heartbeat_message(&wallet, 900).to_vec(), vec![0]].concat();
    for message in [not_prefixed, too_long] {
        let refused = tbtc
            .view(
                &tbtc.validator_abi,
                &tbtc.validator,
                "validateHeartbeatProposal",
                &proposal(message),
            )
            .await
            .expect_err("refused");
        assert!(
            refused.contains("Not a valid heartbeat message"),
            "{refused}"
        );
    }
    // The validator reads this Bridge.
    let bridge = tbtc
        .view(&tbtc.validator_abi, &tbtc.validator, "bridge", &[])
        .await
        .expect("the validator names its Bridge");
    assert_eq!(
        bridge.iter().map(address).collect::<Vec<_>>(),
        vec![tbtc.bridge]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_made_by_the_real_dkg_is_discovered_with_its_seats() {
    let anvil = Anvil::start(&[]).await;
    let operators: Vec<Address> = (1..=5u8).map(|i| Address([0xA0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&anvil.http_url(), &operators).await;
    // Seats in another order than the pool's, and one operator left out.
    let members = vec![operators[2], operators[0], operators[4], operators[1]];
    let key = tbtc.create_wallet(&[7; 32], &members).await;

    let mut config = EthereumConfig::new(anvil.http_url());
    config.contracts = Contracts {
        bridge: Some(tbtc.bridge),
        wallet_registry: Some(tbtc.registry),
        sortition_pool: Some(tbtc.pool),
        ..Contracts::default()
    };
    let chain = EthereumChain::connect(config, None).await.unwrap();
    let wallets = chain.wallets().await.unwrap();
    assert_eq!(wallets.len(), 1, "{wallets:?}");
    assert_eq!(wallets[0].wallet, key.pkh());
    assert_eq!(wallets[0].operators, members);
    assert_eq!(wallets[0].public_key, Some(key));

    // What the generator reads of it, from the real Bridge: a Live wallet with nothing
    // pending, and the Bridge's own redemption timeout.
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&key.pkh(), head).await.unwrap();
    assert_eq!(snapshot.state, WalletState::Live);
    assert!(snapshot.pending_redemptions.is_empty() && snapshot.deposits.is_empty());
    assert!(snapshot.redemption_timeout > 0);
    chain.shutdown().await;
}
