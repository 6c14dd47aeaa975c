//! The Electrum client against a fake server that misbehaves: answers out of order, oversized
//! lines, garbage, unknown ids and another protocol version. Each is an error naming what was
//! wrong (or, out of order, no error at all), never a hang or an allocation without bound,
//! and the client recovers on the next request.

mod electrum_support;
mod loopback_support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tbtc_coord::bitcoin::electrum::{
    BitcoinNetwork, ElectrumClient, ElectrumConfig, ElectrumError, ServerUrl,
};

use electrum_support::{test_config, FakeServer, Reply, DEADLINE};

async fn connect(server: &FakeServer, config: ElectrumConfig) -> ElectrumClient {
    let servers = ServerUrl::parse_list(&server.url()).expect("a server URL");
    ElectrumClient::connect(servers, BitcoinNetwork::Regtest, config)
        .await
        .expect("connected to the fake server")
}

fn misbehaving(method: &str) -> Reply {
    match method {
        "first" => Reply::AfterNext(json!("first")),
        "second" => Reply::Result(json!("second")),
        "garbage" => Reply::Raw("this is not json".to_string()),
        "array" => Reply::Raw("[1, 2, 3]".to_string()),
        "wrong_id" => Reply::Raw(r#"{"jsonrpc":"2.0","id":987654,"result":1}"#.to_string()),
        "empty" => Reply::Empty,
        "oversized" => Reply::Endless(4 << 20),
        "silent" => Reply::Silent,
        m => Reply::Result(json!(m)),
    }
}

#[tokio::test]
async fn answers_out_of_order_reach_their_callers() {
    let server = FakeServer::start("1.4", misbehaving).await;
    let client = connect(&server, test_config()).await;
    let (first, second) = tokio::join!(client.call("first", json!([])), async {
        // Sent after "first", whose answer the server sends after this one's.
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.call("second", json!([])).await
    });
    assert_eq!(first.expect("first answered"), json!("first"));
    assert_eq!(second.expect("second answered"), json!("second"));
    client.shutdown().await;
}

#[tokio::test]
async fn an_oversized_line_is_an_error_not_a_hang() {
    let server = FakeServer::start("1.4", misbehaving).await;
    let config = ElectrumConfig {
        max_message_bytes: 64 << 10,
        ..test_config()
    };
    let client = connect(&server, config).await;
    let began = Instant::now();
    let err = client
        .call("oversized", json!([]))
        .await
        .expect_err("a line past the limit is an error");
    assert!(began.elapsed() < DEADLINE, "took {:?}", began.elapsed());
    assert!(
        matches!(err, ElectrumError::TooLarge { limit, .. } if limit == 64 << 10),
        "{err}"
    );
    assert!(err.to_string().contains("65536"), "{err}");
    // The client recovers on a new session.
    assert_eq!(
        client.call("after", json!([])).await.expect("recovered"),
        json!("after")
    );
    assert!(client
        .status()
        .last_error
        .is_some_and(|e| e.contains("65536")));
    client.shutdown().await;
}

#[tokio::test]
async fn garbage_and_unknown_ids_are_errors_and_the_client_recovers() {
    let server = FakeServer::start("1.4", misbehaving).await;
    let client = connect(&server, test_config()).await;
    for (method, named) in [
        ("garbage", "this is not json"),
        ("array", "[1, 2, 3]"),
        ("wrong_id", "987654"),
        ("empty", "neither result nor error"),
    ] {
        let err = client
            .call(method, json!([]))
            .await
            .expect_err("a malformed answer is an error");
        assert!(
            matches!(err, ElectrumError::Protocol { .. }),
            "{method}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains(named), "{method}: {text} names {named:?}");
        assert!(
            text.contains(&server.url()),
            "{method}: {text} names the server"
        );
        assert_eq!(
            client.call("ok", json!([])).await.expect("recovered"),
            json!("ok"),
            "after {method}"
        );
    }
    // Each malformed answer ended its session: the handshake, then one per recovery.
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        5
    );
    client.shutdown().await;
}

#[tokio::test]
async fn a_server_error_answer_keeps_the_session() {
    let server = FakeServer::start("1.4", |m| match m {
        "bad" => Reply::Raw(
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"unknown method"}}"#.to_string(),
        ),
        m => Reply::Result(json!(m)),
    })
    .await;
    let client = connect(&server, test_config()).await;
    let err = client
        .call("bad", json!([]))
        .await
        .expect_err("an error answer");
    assert!(
        matches!(&err, ElectrumError::Server { code: 1, method, .. } if method == "bad"),
        "{err}"
    );
    assert_eq!(
        client.call("ok", json!([])).await.expect("answered"),
        json!("ok")
    );
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    client.shutdown().await;
}

#[tokio::test]
async fn another_protocol_version_is_refused() {
    let server = FakeServer::start("1.2", |_| Reply::Result(Value::Null)).await;
    let servers = ServerUrl::parse_list(&server.url()).expect("a server URL");
    let err = ElectrumClient::connect(servers, BitcoinNetwork::Regtest, test_config())
        .await
        .expect_err("protocol 1.2 refused");
    assert!(matches!(err, ElectrumError::WrongVersion { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("1.2") && text.contains("1.4"), "{text}");
}

#[tokio::test]
async fn calls_observer_sees_each_method() {
    let server = FakeServer::start("1.4", misbehaving).await;
    let client = connect(&server, test_config()).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    client.observe_calls(std::sync::Arc::new(move |method, _latency, ok| {
        s.lock()
            .expect("observer lock")
            .push((method.to_string(), ok));
    }));
    client.call("one", json!([])).await.expect("answered");
    let _ = client.call("garbage", json!([])).await;
    let seen = seen.lock().expect("observer lock").clone();
    assert!(seen.contains(&("one".to_string(), true)), "{seen:?}");
    assert!(seen.contains(&("garbage".to_string(), false)), "{seen:?}");
    assert!(client.status().last_latency.is_some());
    client.shutdown().await;
}

#[tokio::test]
async fn calls_after_shutdown_fail() {
    let server = FakeServer::start("1.4", misbehaving).await;
    let client = connect(&server, test_config()).await;
    client.shutdown().await;
    let err = client.call("one", json!([])).await.expect_err("shut down");
    assert!(matches!(err, ElectrumError::Shutdown), "{err}");
}

#[tokio::test]
async fn a_request_never_answered_times_out_within_its_retry_window() {
    let server = FakeServer::start("1.4", misbehaving).await;
    let config = ElectrumConfig {
        request_timeout: Duration::from_millis(200),
        request_retry_window: Duration::from_millis(600),
        ..test_config()
    };
    let client = connect(&server, config).await;
    let err = client
        .call("silent", json!([]))
        .await
        .expect_err("no answer is an error");
    assert!(matches!(err, ElectrumError::Unavailable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("silent took longer than 200ms"), "{text}");
    // Each try timed out and ended its session; the next one opened another.
    assert!(server.connections.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert_eq!(
        client.call("ok", json!([])).await.expect("answered"),
        json!("ok")
    );
    client.shutdown().await;
}

#[tokio::test]
async fn keepalive_pings_the_server() {
    let server = FakeServer::start("1.4", misbehaving).await;
    let config = ElectrumConfig {
        ping_interval: Duration::from_millis(50),
        ..test_config()
    };
    let client = connect(&server, config).await;
    let deadline = Instant::now() + DEADLINE;
    while server.pings.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "no keepalive pings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.shutdown().await;
}
