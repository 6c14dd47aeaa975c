//! The acts against the published vectors byte for byte, and each way a handshake fails.

use super::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct Vectors {
    pub operators: Vec<Operator>,
    pub handshakes: Vec<Case>,
}

#[derive(Deserialize)]
pub(crate) struct Operator {
    pub private_key: String,
    pub public_key_uncompressed: String,
    pub libp2p_public_key: String,
    pub peer_id_bytes: String,
    pub peer_id: String,
    pub address: String,
}

#[derive(Deserialize)]
pub(crate) struct Case {
    initiator: usize,
    responder: usize,
    nonce1: u64,
    nonce2: u64,
    challenge: String,
    act1: String,
    act2: String,
    act3: String,
    act1_envelope: String,
    act2_envelope: String,
    act3_envelope: String,
}

pub(crate) fn vectors() -> Vectors {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/wire_public.json"
    ));
    serde_json::from_str(text).expect("vectors parse")
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).expect("hex")
}

pub(crate) fn keypair(operator: &Operator) -> Keypair {
    let secret =
        libp2p::identity::secp256k1::SecretKey::try_from_bytes(unhex(&operator.private_key))
            .expect("secret key");
    libp2p::identity::secp256k1::Keypair::from(secret).into()
}

fn peer(operator: &Operator) -> PeerId {
    operator.peer_id.parse().expect("peer id")
}

#[test]
fn operators_keys_give_the_vector_peer_ids() {
    for operator in vectors().operators {
        let key = keypair(&operator).public();
        assert_eq!(
            hex::encode(key.encode_protobuf()),
            operator.libp2p_public_key
        );
        assert_eq!(
            hex::encode(key.to_peer_id().to_bytes()),
            operator.peer_id_bytes
        );
        assert_eq!(key.to_peer_id(), peer(&operator));
        assert_eq!(peer_public_key(&peer(&operator)), Some(key));
    }
}

#[test]
fn acts_encode_as_the_vectors() {
    for case in vectors().handshakes {
        assert_eq!(
            hex::encode(challenge(case.nonce1, case.nonce2)),
            case.challenge
        );
        assert_eq!(hex::encode(act1(case.nonce1).encode_to_vec()), case.act1);
        assert_eq!(
            hex::encode(act2(case.nonce1, case.nonce2).encode_to_vec()),
            case.act2
        );
        let challenge = challenge(case.nonce1, case.nonce2);
        assert_eq!(hex::encode(act3(challenge).encode_to_vec()), case.act3);
    }
}

/// Signatures are deterministic (RFC 6979, low S): re-signing gives the vectors' bytes.
#[test]
fn envelopes_reseal_byte_for_byte() {
    let v = vectors();
    for case in &v.handshakes {
        let initiator = keypair(&v.operators[case.initiator]);
        let responder = keypair(&v.operators[case.responder]);
        for (key, act, envelope) in [
            (&initiator, &case.act1, &case.act1_envelope),
            (&responder, &case.act2, &case.act2_envelope),
            (&initiator, &case.act3, &case.act3_envelope),
        ] {
            let sealed = seal(key, unhex(act)).unwrap();
            assert_eq!(hex::encode(sealed.encode_to_vec()), *envelope);
        }
    }
}

/// The responder and the initiator accept each other's vector envelopes.
#[test]
fn vector_envelopes_pass_every_check() {
    let v = vectors();
    for case in &v.handshakes {
        let initiator = peer(&v.operators[case.initiator]);
        let responder = peer(&v.operators[case.responder]);
        let e1 = decode_envelope(&unhex(&case.act1_envelope)).unwrap();
        assert_eq!(
            check_act1(open(&e1, &initiator).unwrap()).unwrap(),
            case.nonce1
        );
        let e2 = decode_envelope(&unhex(&case.act2_envelope)).unwrap();
        let c = check_act2(open(&e2, &responder).unwrap(), case.nonce1).unwrap();
        assert_eq!(hex::encode(c), case.challenge);
        let e3 = decode_envelope(&unhex(&case.act3_envelope)).unwrap();
        check_act3(open(&e3, &initiator).unwrap(), &c).unwrap();
    }
}

fn first_case() -> (Vectors, PeerId, PeerId) {
    let v = vectors();
    let initiator = peer(&v.operators[v.handshakes[0].initiator]);
    let responder = peer(&v.operators[v.handshakes[0].responder]);
    (v, initiator, responder)
}

#[test]
fn a_flipped_signature_bit_is_a_wrong_signature() {
    let (v, initiator, _) = first_case();
    let mut envelope = decode_envelope(&unhex(&v.handshakes[0].act1_envelope)).unwrap();
    let last = envelope.signature.len() - 1;
    envelope.signature[last] ^= 1;
    let err = open(&envelope, &initiator).unwrap_err();
    assert!(
        matches!(err, HandshakeError::WrongSignature(p) if p == initiator),
        "{err}"
    );
    assert!(err.to_string().contains("wrong signature"));
}

#[test]
fn a_flipped_message_bit_is_a_wrong_signature() {
    let (v, initiator, _) = first_case();
    let mut envelope = decode_envelope(&unhex(&v.handshakes[0].act1_envelope)).unwrap();
    envelope.message[2] ^= 1;
    let err = open(&envelope, &initiator).unwrap_err();
    assert!(matches!(err, HandshakeError::WrongSignature(_)), "{err}");
}

/// The responder expects Act1 from the TLS-authenticated peer: a validly signed Act1 from
/// someone else is a wrong peer.
#[test]
fn act1_from_another_peer_than_tls_is_a_wrong_peer() {
    let (v, initiator, responder) = first_case();
    let envelope = decode_envelope(&unhex(&v.handshakes[0].act1_envelope)).unwrap();
    let err = open(&envelope, &responder).unwrap_err();
    match &err {
        HandshakeError::WrongPeer { expected, actual } => {
            assert_eq!(*expected, responder);
            assert_eq!(*actual, initiator.to_string());
        }
        other => panic!("expected a wrong peer, got {other}"),
    }
    assert!(err.to_string().contains("wrong peer"));
}

#[test]
fn protocol_kepe_is_a_wrong_protocol() {
    let act = Act1Message {
        nonce: 1u64.to_le_bytes().to_vec(),
        protocol: "kepe".into(),
    };
    let err = check_act1(&act.encode_to_vec()).unwrap_err();
    assert!(
        matches!(&err, HandshakeError::WrongProtocol(p) if p == "kepe"),
        "{err}"
    );
    let act = Act2Message {
        protocol: "kepe".into(),
        ..act2(1, 2)
    };
    let err = check_act2(&act.encode_to_vec(), 1).unwrap_err();
    assert!(
        matches!(&err, HandshakeError::WrongProtocol(p) if p == "kepe"),
        "{err}"
    );
    assert!(err.to_string().contains("wrong protocol"));
}

#[test]
fn a_wrong_challenge_is_a_bad_challenge() {
    // Act2 whose challenge does not follow from the nonces.
    let mut act = act2(1, 2);
    act.challenge[0] ^= 1;
    let err = check_act2(&act.encode_to_vec(), 1).unwrap_err();
    assert!(matches!(err, HandshakeError::BadChallenge(_)), "{err}");
    // Act2 answering another nonce1.
    let err = check_act2(&act2(1, 2).encode_to_vec(), 3).unwrap_err();
    assert!(matches!(err, HandshakeError::BadChallenge(_)), "{err}");
    // Act3 echoing another challenge, or a short one.
    let err = check_act3(&act3(challenge(1, 3)).encode_to_vec(), &challenge(1, 2)).unwrap_err();
    assert!(matches!(err, HandshakeError::BadChallenge(_)), "{err}");
    let short = Act3Message {
        challenge: vec![0; 31],
    };
    let err = check_act3(&short.encode_to_vec(), &challenge(1, 2)).unwrap_err();
    assert!(err.to_string().contains("bad challenge"), "{err}");
}

#[test]
fn a_1025_byte_frame_is_oversized() {
    let err = decode_envelope(&[0u8; 1025]).unwrap_err();
    assert!(matches!(err, HandshakeError::OversizedFrame(1025)), "{err}");
    assert!(err.to_string().contains("oversized frame"));
}

#[test]
fn a_7_byte_nonce_is_a_bad_nonce() {
    let act = Act1Message {
        nonce: vec![1; 7],
        protocol: PROTOCOL.into(),
    };
    let err = check_act1(&act.encode_to_vec()).unwrap_err();
    assert!(matches!(err, HandshakeError::BadNonce(7)), "{err}");
    let act = Act2Message {
        nonce: vec![2; 7],
        ..act2(1, 2)
    };
    let err = check_act2(&act.encode_to_vec(), 1).unwrap_err();
    assert!(matches!(err, HandshakeError::BadNonce(7)), "{err}");
}
