//! The upgrade over real TCP on 127.0.0.1, against honest peers and against a peer that
//! completes TLS and then breaks one rule of the acts.

use super::*;
use crate::net::p2p::firewall::{AdmitAll, Allowlist};
use libp2p::futures::io::Cursor;
use libp2p::tcp::tokio::TcpStream;
use std::future::Future;
use std::time::Duration;

const TLS: &str = "/tls/1.0.0";

async fn guard<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("hang guard: the handshake did not finish within 30 s")
}

/// A connected (client, server) pair of TCP streams on loopback.
async fn pair() -> (TcpStream, TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    (TcpStream(client.unwrap()), TcpStream(server.unwrap().0))
}

fn honest(keypair: &Keypair) -> KeepHandshake {
    KeepHandshake::new(keypair.clone(), Arc::new(AdmitAll)).unwrap()
}

/// Runs an honest responder against `client`, a peer that does TLS with `tls_key` and then
/// whatever `acts` do; returns the responder's result.
async fn against_rogue_initiator<F, Fut>(
    tls_key: Keypair,
    acts: F,
) -> Result<PeerId, HandshakeError>
where
    F: FnOnce(TlsStream<TcpStream>) -> Fut,
    Fut: Future<Output = ()>,
{
    let (client, server) = pair().await;
    let responder = honest(&Keypair::generate_secp256k1());
    let rogue = async move {
        let tls = libp2p::tls::Config::new(&tls_key).unwrap();
        let (_, stream) = OutboundConnectionUpgrade::upgrade_outbound(tls, client, TLS)
            .await
            .unwrap();
        acts(stream).await;
    };
    let (result, ()) = guard(async {
        tokio::join!(
            InboundConnectionUpgrade::upgrade_inbound(responder, server, PROTOCOL_ID),
            rogue
        )
    })
    .await;
    result.map(|(peer, _)| peer)
}

#[tokio::test]
async fn honest_peers_complete_the_upgrade_and_keep_the_tls_stream() {
    let (client, server) = pair().await;
    let (a, b) = (Keypair::generate_secp256k1(), Keypair::generate_secp256k1());
    let (outbound, inbound) = guard(async {
        tokio::join!(
            OutboundConnectionUpgrade::upgrade_outbound(honest(&a), client, PROTOCOL_ID),
            InboundConnectionUpgrade::upgrade_inbound(honest(&b), server, PROTOCOL_ID),
        )
    })
    .await;
    let (b_seen, mut to_b) = outbound.unwrap();
    let (a_seen, mut to_a) = inbound.unwrap();
    assert_eq!(b_seen, b.public().to_peer_id());
    assert_eq!(a_seen, a.public().to_peer_id());
    to_b.write_all(b"after the acts").await.unwrap();
    to_b.flush().await.unwrap();
    let mut heard = [0u8; 14];
    guard(to_a.read_exact(&mut heard)).await.unwrap();
    assert_eq!(&heard, b"after the acts");
}

#[tokio::test]
async fn an_act1_from_another_key_than_tls_is_a_wrong_peer() {
    let (tls_key, other) = (Keypair::generate_secp256k1(), Keypair::generate_secp256k1());
    let result = against_rogue_initiator(tls_key.clone(), |mut stream| async move {
        let act = handshake::act1(1).encode_to_vec();
        send(&mut stream, &handshake::seal(&other, act).unwrap())
            .await
            .unwrap();
    })
    .await;
    match result {
        Err(HandshakeError::WrongPeer { expected, .. }) => {
            assert_eq!(expected, tls_key.public().to_peer_id())
        }
        other => panic!("expected a wrong peer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_protocol_string_is_refused_over_tcp() {
    let key = Keypair::generate_secp256k1();
    let signer = key.clone();
    let result = against_rogue_initiator(key, |mut stream| async move {
        let act = handshake::Act1Message {
            nonce: 1u64.to_le_bytes().to_vec(),
            protocol: "kepe".into(),
        };
        let envelope = handshake::seal(&signer, act.encode_to_vec()).unwrap();
        send(&mut stream, &envelope).await.unwrap();
    })
    .await;
    assert!(
        matches!(&result, Err(HandshakeError::WrongProtocol(p)) if p == "kepe"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_act3_challenge_is_refused_over_tcp() {
    let key = Keypair::generate_secp256k1();
    let signer = key.clone();
    let result = against_rogue_initiator(key, |mut stream| async move {
        let act = handshake::act1(7).encode_to_vec();
        send(&mut stream, &handshake::seal(&signer, act).unwrap())
            .await
            .unwrap();
        let _act2 = receive(&mut stream).await.unwrap();
        let wrong = handshake::act3(handshake::challenge(7, 8)).encode_to_vec();
        send(&mut stream, &handshake::seal(&signer, wrong).unwrap())
            .await
            .unwrap();
    })
    .await;
    assert!(
        matches!(result, Err(HandshakeError::BadChallenge(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_oversized_frame_is_refused_over_tcp() {
    let result = against_rogue_initiator(Keypair::generate_secp256k1(), |mut stream| async move {
        let mut frame = Vec::new();
        prost::encoding::encode_varint(1025, &mut frame);
        frame.extend(std::iter::repeat_n(0u8, 1025));
        // The responder may hang up before reading it all.
        let _ = stream.write_all(&frame).await;
        let _ = stream.flush().await;
    })
    .await;
    assert!(
        matches!(result, Err(HandshakeError::OversizedFrame(1025))),
        "{result:?}"
    );
}

/// The initiator checks Act2's signature against the TLS-authenticated responder.
#[tokio::test]
async fn a_flipped_act2_signature_bit_is_refused_by_the_initiator() {
    let (client, server) = pair().await;
    let (a, b) = (Keypair::generate_secp256k1(), Keypair::generate_secp256k1());
    let rogue = async move {
        let tls = libp2p::tls::Config::new(&b).unwrap();
        let (_, mut stream) = InboundConnectionUpgrade::upgrade_inbound(tls, server, TLS)
            .await
            .unwrap();
        let act1 = receive(&mut stream).await.unwrap();
        let nonce1 = handshake::check_act1(&act1.message).unwrap();
        let act2 = handshake::act2(nonce1, 9).encode_to_vec();
        let mut envelope = handshake::seal(&b, act2).unwrap();
        let last = envelope.signature.len() - 1;
        envelope.signature[last] ^= 1;
        send(&mut stream, &envelope).await.unwrap();
    };
    let (result, ()) = guard(async {
        tokio::join!(
            OutboundConnectionUpgrade::upgrade_outbound(honest(&a), client, PROTOCOL_ID),
            rogue
        )
    })
    .await;
    assert!(
        matches!(result, Err(HandshakeError::WrongSignature(_))),
        "{:?}",
        result.map(|(p, _)| p)
    );
}

/// The firewall runs after Act3; its refusal fails the upgrade and is announced.
#[tokio::test]
async fn the_firewall_refuses_after_the_acts() {
    let (client, server) = pair().await;
    let (a, b) = (Keypair::generate_secp256k1(), Keypair::generate_secp256k1());
    let (events, mut heard) = broadcast::channel(8);
    let strict = KeepHandshake::new(b, Arc::new(Allowlist::default()))
        .unwrap()
        .with_hooks(events, Reasons::default());
    let (outbound, inbound) = guard(async {
        tokio::join!(
            OutboundConnectionUpgrade::upgrade_outbound(honest(&a), client, PROTOCOL_ID),
            InboundConnectionUpgrade::upgrade_inbound(strict, server, PROTOCOL_ID),
        )
    })
    .await;
    // The initiator finished its acts and admitted the responder; the responder refused.
    assert!(outbound.is_ok());
    let Err(err) = inbound else {
        panic!("the firewall admitted a peer not on the allowlist");
    };
    assert!(matches!(err, HandshakeError::Refused(_)), "{err}");
    assert_eq!(
        heard.try_recv().unwrap(),
        PeerEvent::Refused {
            peer: a.public().to_peer_id(),
            reason: "not on the allowlist".into()
        }
    );
}

#[tokio::test]
async fn a_frame_over_1024_bytes_is_refused_before_its_body() {
    let mut bytes = Vec::new();
    prost::encoding::encode_varint(1025, &mut bytes);
    bytes.extend(std::iter::repeat_n(0u8, 1025));
    let err = receive(&mut Cursor::new(bytes)).await.unwrap_err();
    assert!(matches!(err, HandshakeError::OversizedFrame(1025)), "{err}");
    assert!(err.to_string().contains("oversized frame"));
}

#[tokio::test]
async fn a_frame_of_1024_bytes_is_read() {
    let envelope = handshake::HandshakeEnvelope {
        message: vec![7; 1021],
        ..Default::default()
    };
    assert_eq!(envelope.encoded_len(), 1024);
    let frame = envelope.encode_length_delimited_to_vec();
    let read = receive(&mut Cursor::new(frame)).await.unwrap();
    assert_eq!(read, envelope);
}
