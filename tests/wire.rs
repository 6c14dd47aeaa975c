//! keep-client's wire format (SPEC §11) against `tests/data/wire_public.json`, byte for byte:
//! operator identities, wallet topics, coordination messages, envelopes and StrictSign
//! pubsub messages; and strict decoding that never panics, over random and mutated bytes.

use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;
use serde::Deserialize;
use serde_json::Value;
use tbtc_coord::net::envelope::Envelope;
use tbtc_coord::net::pubsub::PubsubMessage;
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::proposal::{DepositKey, HexBytes};
use tbtc_coord::protocol::wire;
use tbtc_coord::protocol::{ActionType, CoordinationMessage, Hash32, Proposal};
use tbtc_coord::protocol::{WalletPkh, WalletPublicKey};

#[derive(Deserialize)]
struct Vectors {
    operators: Vec<OperatorVector>,
    wallets: Vec<WalletVector>,
    coordination_messages: Vec<MessageVector>,
    envelopes: Vec<EnvelopeVector>,
    pubsub_messages: Vec<PubsubVector>,
}

#[derive(Deserialize)]
struct OperatorVector {
    private_key: String,
    public_key_compressed: String,
    libp2p_public_key: String,
    peer_id_bytes: String,
    peer_id: String,
    address: String,
}

#[derive(Deserialize)]
struct WalletVector {
    public_key_uncompressed: String,
    public_key_compressed: String,
    pkh: String,
    coordination_topic: String,
}

#[derive(Deserialize)]
struct MessageVector {
    sender_id: u8,
    coordination_block: u64,
    wallet_pkh: String,
    action_type: u8,
    proposal: Value,
    payload: String,
    bytes: String,
}

#[derive(Deserialize)]
struct EnvelopeVector {
    operator: usize,
    coordination_message: usize,
    #[serde(rename = "type")]
    kind: String,
    sequence_number: u64,
    bytes: String,
}

#[derive(Deserialize)]
struct PubsubVector {
    envelope: usize,
    topic: String,
    seqno: String,
    signed_bytes: String,
    signature: String,
    message_bytes: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("data/wire_public.json")).expect("vectors parse")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

fn key(v: &OperatorVector) -> OperatorKey {
    OperatorKey::from_secret(&unhex(&v.private_key).try_into().unwrap()).unwrap()
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn number(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// The vector's proposal, read field by field from its JSON (the vectors name fields as
/// keep-client's Go structs do, not as our serde form).
fn proposal_of(m: &MessageVector) -> Proposal {
    let p = &m.proposal;
    let hash = |s: &str| Hash32(unhex(s).try_into().unwrap());
    let pkh = |s: &str| WalletPkh(unhex(s).try_into().unwrap());
    let list = |field: &str| p[field].as_array().unwrap().clone();
    match ActionType::from_number(m.action_type).unwrap() {
        ActionType::Noop => Proposal::Noop,
        ActionType::Heartbeat => Proposal::Heartbeat {
            message: HexBytes(unhex(text(p, "message"))),
        },
        ActionType::DepositSweep => Proposal::DepositSweep {
            deposits: list("deposits")
                .iter()
                .map(|d| DepositKey {
                    funding_tx_hash: hash(text(d, "funding_tx_hash")),
                    output_index: number(d, "funding_output_index") as u32,
                })
                .collect(),
            sweep_tx_fee: number(p, "sweep_tx_fee"),
            reveal_blocks: list("reveal_blocks")
                .iter()
                .map(|b| b.as_u64().unwrap())
                .collect(),
        },
        ActionType::Redemption => Proposal::Redemption {
            redeemers_output_scripts: list("redeemer_output_scripts")
                .iter()
                .map(|s| HexBytes(unhex(s.as_str().unwrap())))
                .collect(),
            redemption_tx_fee: number(p, "redemption_tx_fee"),
        },
        ActionType::MovingFunds => Proposal::MovingFunds {
            target_wallets: list("target_wallets")
                .iter()
                .map(|w| pkh(w.as_str().unwrap()))
                .collect(),
            moving_funds_tx_fee: number(p, "moving_funds_tx_fee"),
        },
        ActionType::MovedFundsSweep => Proposal::MovedFundsSweep {
            moving_funds_tx_hash: hash(text(p, "moving_funds_tx_hash")),
            moving_funds_tx_output_index: number(p, "moving_funds_tx_output_index") as u32,
            sweep_tx_fee: number(p, "sweep_tx_fee"),
        },
    }
}

fn message_of(m: &MessageVector) -> CoordinationMessage {
    CoordinationMessage {
        sender_member_index: m.sender_id,
        coordination_block: m.coordination_block,
        wallet: m.wallet_pkh.parse().unwrap(),
        proposal: proposal_of(m),
    }
}

#[test]
fn operator_keys_give_the_vectors_libp2p_keys_peer_ids_and_addresses() {
    for v in vectors().operators {
        let key = key(&v);
        let public = key.keypair().public();
        assert_eq!(hex::encode(public.encode_protobuf()), v.libp2p_public_key);
        assert_eq!(
            hex::encode(public.clone().try_into_secp256k1().unwrap().to_bytes()),
            v.public_key_compressed
        );
        assert_eq!(hex::encode(key.peer_id().to_bytes()), v.peer_id_bytes);
        assert_eq!(key.peer_id().to_base58(), v.peer_id);
        assert_eq!(key.address().to_checksum(), v.address);
    }
}

#[test]
fn wallet_keys_give_the_vectors_pkhs_and_topics() {
    for v in vectors().wallets {
        let key: WalletPublicKey = v.public_key_uncompressed.parse().unwrap();
        assert_eq!(hex::encode(key.compressed()), v.public_key_compressed);
        assert_eq!(key.pkh().to_hex(), v.pkh);
        assert_eq!(key.coordination_topic(), v.coordination_topic);
    }
}

#[test]
fn coordination_messages_encode_and_decode_byte_for_byte() {
    let vectors = vectors();
    assert_eq!(vectors.coordination_messages.len(), 18);
    for v in &vectors.coordination_messages {
        let message = message_of(v);
        assert_eq!(
            hex::encode(wire::encode_payload(&message.proposal)),
            v.payload
        );
        assert_eq!(hex::encode(message.encode()), v.bytes, "{:?}", message);
        assert_eq!(CoordinationMessage::decode(&unhex(&v.bytes)), Ok(message));
    }
}

#[test]
fn envelopes_encode_and_decode_byte_for_byte() {
    let vectors = vectors();
    for v in &vectors.envelopes {
        assert_eq!(v.kind, "tbtc/coordination_message");
        let sender = key(&vectors.operators[v.operator]).keypair().public();
        let envelope = Envelope {
            sender,
            payload: unhex(&vectors.coordination_messages[v.coordination_message].bytes),
            sequence_number: v.sequence_number,
        };
        assert_eq!(hex::encode(envelope.encode()), v.bytes);
        assert_eq!(Envelope::decode(&unhex(&v.bytes)), Ok(envelope));
    }
}

#[test]
fn pubsub_messages_are_signed_as_strictsign_does_and_verify() {
    let vectors = vectors();
    for v in &vectors.pubsub_messages {
        let envelope = &vectors.envelopes[v.envelope];
        let operator = &vectors.operators[envelope.operator];
        let seqno = u64::from_be_bytes(unhex(&v.seqno).try_into().unwrap());
        let ours = PubsubMessage::signed(&key(operator), &v.topic, unhex(&envelope.bytes), seqno);
        assert_eq!(hex::encode(ours.signed_bytes()), v.signed_bytes);
        // RFC 6979 signatures are deterministic: the same key and bytes give the same DER.
        assert_eq!(hex::encode(ours.signature.as_deref().unwrap()), v.signature);
        assert_eq!(hex::encode(ours.encode_to_vec()), v.message_bytes);

        let theirs = PubsubMessage::decode_strict(&unhex(&v.message_bytes)).unwrap();
        let author = theirs.verify().expect("the vector's signature verifies");
        assert_eq!(author.peer.to_base58(), operator.peer_id);
        assert_eq!(author.address.to_checksum(), operator.address);
        assert_eq!(theirs.data.as_deref(), Some(&unhex(&envelope.bytes)[..]));
        assert!(
            theirs.seqno.as_deref().unwrap()[0] != 0,
            "js-libp2p drops a leading zero"
        );
    }
}

#[test]
fn a_flipped_bit_anywhere_in_a_signed_message_is_caught() {
    let vectors = vectors();
    let bytes = unhex(&vectors.pubsub_messages[1].message_bytes);
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut flipped = bytes.clone();
            flipped[i] ^= bit;
            if let Ok(m) = PubsubMessage::decode_strict(&flipped) {
                assert!(m.verify().is_err(), "byte {i} bit {bit:#x} went unnoticed");
            }
        }
    }
}

fn arb_proposal() -> impl Strategy<Value = Proposal> {
    let hash = any::<[u8; 32]>().prop_map(Hash32);
    prop_oneof![
        Just(Proposal::Noop),
        any::<[u8; 16]>().prop_map(|m| Proposal::Heartbeat {
            message: HexBytes(m.to_vec())
        }),
        (
            vec((hash.clone(), any::<u32>(), any::<u64>()), 0..5),
            any::<u64>()
        )
            .prop_map(|(deposits, fee)| Proposal::DepositSweep {
                reveal_blocks: deposits.iter().map(|d| d.2).collect(),
                deposits: deposits
                    .into_iter()
                    .map(|(funding_tx_hash, output_index, _)| DepositKey {
                        funding_tx_hash,
                        output_index
                    })
                    .collect(),
                sweep_tx_fee: fee,
            }),
        (vec(vec(any::<u8>(), 0..40), 0..5), any::<u64>()).prop_map(|(scripts, fee)| {
            Proposal::Redemption {
                redeemers_output_scripts: scripts.into_iter().map(HexBytes).collect(),
                redemption_tx_fee: fee,
            }
        }),
        (vec(any::<[u8; 20]>(), 0..4), any::<u64>()).prop_map(|(targets, fee)| {
            Proposal::MovingFunds {
                target_wallets: targets.into_iter().map(WalletPkh).collect(),
                moving_funds_tx_fee: fee,
            }
        }),
        (hash, any::<u32>(), any::<u64>()).prop_map(|(h, i, fee)| Proposal::MovedFundsSweep {
            moving_funds_tx_hash: h,
            moving_funds_tx_output_index: i,
            sweep_tx_fee: fee,
        }),
    ]
}

fn arb_message() -> impl Strategy<Value = CoordinationMessage> {
    (1u8..=255, any::<u64>(), any::<[u8; 20]>(), arb_proposal()).prop_map(
        |(seat, cb, wallet, proposal)| CoordinationMessage {
            sender_member_index: seat,
            coordination_block: cb,
            wallet: WalletPkh(wallet),
            proposal,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(message in arb_message()) {
        prop_assert_eq!(CoordinationMessage::decode(&message.encode()), Ok(message));
    }

    /// Whatever the bytes, decoding returns; and what it accepts is exactly its own encoding.
    #[test]
    fn random_bytes_never_panic_and_accepted_bytes_are_canonical(bytes in vec(any::<u8>(), 0..300)) {
        if let Ok(m) = CoordinationMessage::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes.clone());
        }
        if let Ok(e) = Envelope::decode(&bytes) {
            prop_assert_eq!(e.encode(), bytes.clone());
        }
        if let Ok(m) = PubsubMessage::decode_strict(&bytes) {
            prop_assert_eq!(m.encode_to_vec(), bytes.clone());
            let _ = m.verify();
        }
    }

    #[test]
    fn mutated_messages_are_rejected_or_re_encode_identically(
        message in arb_message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = message.encode();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(m) = CoordinationMessage::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes.clone());
        }
        let short = &bytes[..cut.index(bytes.len())];
        if let Ok(m) = CoordinationMessage::decode(short) {
            prop_assert_eq!(m.encode(), short.to_vec());
        }
    }
}
