//! The Electrum client against a real ElectrumX over a real regtest bcoin (tests/bitcoin_support):
//! every transport answers the tip, a client of another network refuses the server, and the
//! client fails over from a dead first server and returns to it once it answers again.

mod bitcoin_support;
mod electrum_support;
mod loopback_support;

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, CompressedPublicKey, Network, PrivateKey, PublicKey};
use serde_json::json;
use tbtc_coord::bitcoin::electrum::{
    BitcoinNetwork, ElectrumClient, ElectrumConfig, ElectrumError, ServerUrl,
};

use bitcoin_support::{free_port, BitcoinNode, ElectrumServices};
use electrum_support::{test_config, wait_for_status, Proxy, TestCertificate, DEADLINE};

/// A regtest address to mine to.
fn miner_address() -> String {
    let secret = SecretKey::from_slice(&[7; 32]).expect("a valid secret key");
    let public = PublicKey::from_private_key(
        &Secp256k1::new(),
        &PrivateKey::new(secret, Network::Regtest),
    );
    let key = CompressedPublicKey::try_from(public).expect("a compressed key");
    Address::p2wpkh(&key, Network::Regtest).to_string()
}

async fn bcoin_height(node: &BitcoinNode) -> u64 {
    node.rpc("getblockcount", json!([]))
        .await
        .as_u64()
        .expect("a block count")
}

async fn connect(url: &str, config: ElectrumConfig) -> ElectrumClient {
    let servers = ServerUrl::parse_list(url).expect("server URLs");
    ElectrumClient::connect(servers, BitcoinNetwork::Regtest, config)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

#[tokio::test]
async fn every_transport_answers_the_tip_and_follows_new_blocks() {
    let cert = TestCertificate::new();
    let (ssl, ws, wss) = (free_port(), free_port(), free_port());
    let node = BitcoinNode::start_with(ElectrumServices {
        extra: vec![
            format!("ssl://127.0.0.1:{ssl}"),
            format!("ws://127.0.0.1:{ws}"),
            format!("wss://127.0.0.1:{wss}"),
        ],
        tls: Some((cert.cert_file.clone(), cert.key_file.clone())),
    })
    .await;
    node.mine(3, &miner_address()).await;
    node.wait_for_tip(3).await;
    let tip = bcoin_height(&node).await;

    let config = ElectrumConfig {
        extra_root_certificates: vec![cert.der.clone()],
        ..test_config()
    };
    let mut clients = Vec::new();
    for url in [
        format!("tcp://127.0.0.1:{}", node.electrum_port),
        format!("ssl://127.0.0.1:{ssl}"),
        format!("ws://127.0.0.1:{ws}"),
        format!("wss://127.0.0.1:{wss}/"),
    ] {
        let client = connect(&url, config.clone()).await;
        let answer = client
            .call("blockchain.headers.subscribe", json!([]))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(answer["height"].as_u64(), Some(tip), "{url}: {answer}");
        let status = client.status();
        assert!(status.connected && status.primary, "{url}: {status:?}");
        assert_eq!(status.server, url.trim_end_matches('/'));
        clients.push((url, client));
    }

    // A new block reaches every client's header subscription.
    node.mine(1, &miner_address()).await;
    for (url, client) in &clients {
        let mut headers = client.subscribe_headers();
        let waited = tokio::time::timeout(
            DEADLINE,
            headers.wait_for(|t| t.as_ref().is_some_and(|t| t.height > tip)),
        )
        .await;
        let tip_seen = waited
            .unwrap_or_else(|_| panic!("{url}: no new tip within {DEADLINE:?}"))
            .expect("the client is running")
            .clone()
            .expect("a tip");
        assert_eq!(tip_seen.height, tip + 1, "{url}");
        assert_eq!(tip_seen.header_hex.len(), 160, "{url}");
    }
    for (_, client) in clients {
        client.shutdown().await;
    }
}

#[tokio::test]
async fn a_server_of_another_network_is_refused() {
    let node = BitcoinNode::start().await;
    let url = format!("tcp://127.0.0.1:{}", node.electrum_port);
    let servers = ServerUrl::parse_list(&url).expect("a server URL");
    let err = ElectrumClient::connect(servers, BitcoinNetwork::Mainnet, test_config())
        .await
        .expect_err("a regtest server refused by a mainnet client");
    assert!(matches!(err, ElectrumError::WrongNetwork { .. }), "{err}");
    let text = err.to_string();
    for part in [
        url.as_str(),
        &BitcoinNetwork::Mainnet.genesis_hash(),
        &BitcoinNetwork::Regtest.genesis_hash(),
    ] {
        assert!(text.contains(part), "{text} names {part}");
    }
}

#[tokio::test]
async fn fails_over_from_a_dead_first_server_and_returns_to_it() {
    let node = BitcoinNode::start().await;
    let first_port = free_port();
    let first = format!("tcp://127.0.0.1:{first_port}");
    let second = format!("tcp://127.0.0.1:{}", node.electrum_port);
    // Nobody listens on the first server's port yet.
    let client = connect(&format!("{first},{second}"), test_config()).await;
    let status = client.status();
    assert_eq!(status.server, second, "{status:?}");
    assert!(!status.primary, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(&first)),
        "{status:?}"
    );
    let tip = client
        .call("blockchain.headers.subscribe", json!([]))
        .await
        .expect("the second server answers");
    assert_eq!(tip["height"].as_u64(), Some(bcoin_height(&node).await));

    // The first server comes back (a proxy to the same ElectrumX on its port).
    let proxy = Proxy::start_on(first_port, node.electrum_port).await;
    wait_for_status(&client, "the return to the first server", |s| {
        s.primary && s.connected && s.server == first
    })
    .await;
    let through_first = proxy.connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(through_first >= 1);
    client
        .call("server.ping", json!([]))
        .await
        .expect("the first server answers");

    // The first server dies again: the next request goes to the second one.
    proxy.cut();
    client
        .call("blockchain.headers.subscribe", json!([]))
        .await
        .expect("answered by the second server");
    let status = client.status();
    assert_eq!(status.server, second, "{status:?}");
    assert!(status.connected && !status.primary, "{status:?}");
    client.shutdown().await;
}
