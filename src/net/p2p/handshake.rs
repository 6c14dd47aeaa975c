//! keep-client's three-act handshake (SPEC §11), run inside TLS before the muxer.
//!
//! The acts prove that each side holds the key its peer ID names and that both speak the
//! `keep` protocol. Everything here is pure — encoding, signing, checking — so the tests can
//! drive the acts byte for byte without sockets; `upgrade.rs` moves the frames.

use libp2p::identity::{Keypair, PeerId};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::net::signing::peer_public_key;

/// The protocol string both sides put in their acts.
pub const PROTOCOL: &str = "keep";

/// keep-client's frame limit: enough for an envelope with a message, a peer ID and a
/// signature. The limit is on the protobuf message, without its varint prefix.
pub const MAX_FRAME: usize = 1024;

/// `Act1Message{nonce=1, protocol=2}`: the initiator's nonce.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Act1Message {
    #[prost(bytes = "vec", tag = "1")]
    pub nonce: Vec<u8>,
    #[prost(string, tag = "2")]
    pub protocol: String,
}

/// `Act2Message{nonce=1, challenge=2, protocol=3}`: the responder's nonce and the challenge.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Act2Message {
    #[prost(bytes = "vec", tag = "1")]
    pub nonce: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub challenge: Vec<u8>,
    #[prost(string, tag = "3")]
    pub protocol: String,
}

/// `Act3Message{challenge=1}`: the initiator echoes the challenge.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Act3Message {
    #[prost(bytes = "vec", tag = "1")]
    pub challenge: Vec<u8>,
}

/// `HandshakeEnvelope{message=1, signature=2, peerID=3}`: every act travels signed by its
/// sender, with the sender's peer ID (which inlines the key that verifies it).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HandshakeEnvelope {
    #[prost(bytes = "vec", tag = "1")]
    pub message: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub peer_id: Vec<u8>,
}

/// Why a handshake failed. Each one closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("TLS failed: {0}")]
    Tls(#[from] libp2p::tls::UpgradeError),
    #[error("connection failed during the handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("oversized frame: {0} bytes, the limit is {MAX_FRAME}")]
    OversizedFrame(u64),
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("wrong peer: expected {expected}, the envelope names {actual}")]
    WrongPeer { expected: PeerId, actual: String },
    #[error("wrong signature on an act from {0}")]
    WrongSignature(PeerId),
    #[error("wrong protocol string {0:?}, expected {PROTOCOL:?}")]
    WrongProtocol(String),
    #[error("bad nonce: {0} bytes, expected 8")]
    BadNonce(usize),
    #[error("bad challenge: {0}")]
    BadChallenge(&'static str),
    #[error("could not sign an act: {0}")]
    Signing(String),
    #[error("refused by the firewall: {0}")]
    Refused(#[from] super::firewall::Refused),
}

/// `sha256(LE nonce1 ‖ LE nonce2 ‖ 16 zero bytes)`: keep-client hashes a 32-byte buffer.
pub fn challenge(nonce1: u64, nonce2: u64) -> [u8; 32] {
    let mut buffer = [0u8; 32];
    buffer[..8].copy_from_slice(&nonce1.to_le_bytes());
    buffer[8..16].copy_from_slice(&nonce2.to_le_bytes());
    Sha256::digest(buffer).into()
}

pub fn act1(nonce1: u64) -> Act1Message {
    Act1Message {
        nonce: nonce1.to_le_bytes().to_vec(),
        protocol: PROTOCOL.to_string(),
    }
}

pub fn act2(nonce1: u64, nonce2: u64) -> Act2Message {
    Act2Message {
        nonce: nonce2.to_le_bytes().to_vec(),
        challenge: challenge(nonce1, nonce2).to_vec(),
        protocol: PROTOCOL.to_string(),
    }
}

pub fn act3(challenge: [u8; 32]) -> Act3Message {
    Act3Message {
        challenge: challenge.to_vec(),
    }
}

/// Wraps an encoded act in an envelope signed by `keypair`.
pub fn seal(keypair: &Keypair, message: Vec<u8>) -> Result<HandshakeEnvelope, HandshakeError> {
    let signature = keypair
        .sign(&message)
        .map_err(|e| HandshakeError::Signing(e.to_string()))?;
    Ok(HandshakeEnvelope {
        message,
        signature,
        peer_id: keypair.public().to_peer_id().to_bytes(),
    })
}

/// Checks that `envelope` comes from `expected` and is signed by it; returns the act inside.
pub fn open<'a>(
    envelope: &'a HandshakeEnvelope,
    expected: &PeerId,
) -> Result<&'a [u8], HandshakeError> {
    if envelope.peer_id != expected.to_bytes() {
        let actual = PeerId::from_bytes(&envelope.peer_id)
            .map(|p| p.to_string())
            .unwrap_or_else(|_| format!("0x{}", hex::encode(&envelope.peer_id)));
        return Err(HandshakeError::WrongPeer {
            expected: *expected,
            actual,
        });
    }
    let key = peer_public_key(expected).ok_or(HandshakeError::WrongSignature(*expected))?;
    if !key.verify(&envelope.message, &envelope.signature) {
        return Err(HandshakeError::WrongSignature(*expected));
    }
    Ok(&envelope.message)
}

fn decode<M: Message + Default>(bytes: &[u8], what: &str) -> Result<M, HandshakeError> {
    M::decode(bytes).map_err(|e| HandshakeError::Malformed(format!("{what}: {e}")))
}

fn nonce(bytes: &[u8]) -> Result<u64, HandshakeError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| HandshakeError::BadNonce(bytes.len()))?;
    Ok(u64::from_le_bytes(array))
}

fn protocol(found: &str) -> Result<(), HandshakeError> {
    if found == PROTOCOL {
        Ok(())
    } else {
        Err(HandshakeError::WrongProtocol(found.to_string()))
    }
}

/// The responder's check of Act1: returns the initiator's nonce.
pub fn check_act1(message: &[u8]) -> Result<u64, HandshakeError> {
    let act: Act1Message = decode(message, "act 1")?;
    protocol(&act.protocol)?;
    nonce(&act.nonce)
}

/// The initiator's check of Act2 against its own nonce: returns the challenge to echo.
pub fn check_act2(message: &[u8], nonce1: u64) -> Result<[u8; 32], HandshakeError> {
    let act: Act2Message = decode(message, "act 2")?;
    protocol(&act.protocol)?;
    let nonce2 = nonce(&act.nonce)?;
    let received: [u8; 32] = act
        .challenge
        .as_slice()
        .try_into()
        .map_err(|_| HandshakeError::BadChallenge("not 32 bytes"))?;
    if received != challenge(nonce1, nonce2) {
        return Err(HandshakeError::BadChallenge("does not match the nonces"));
    }
    Ok(received)
}

/// The responder's check of Act3 against the challenge it sent.
pub fn check_act3(message: &[u8], expected: &[u8; 32]) -> Result<(), HandshakeError> {
    let act: Act3Message = decode(message, "act 3")?;
    if act.challenge.len() != 32 {
        return Err(HandshakeError::BadChallenge("not 32 bytes"));
    }
    if act.challenge != expected {
        return Err(HandshakeError::BadChallenge("not the one sent"));
    }
    Ok(())
}

/// Decodes a frame body into an envelope, enforcing the frame limit.
pub fn decode_envelope(frame: &[u8]) -> Result<HandshakeEnvelope, HandshakeError> {
    if frame.len() > MAX_FRAME {
        return Err(HandshakeError::OversizedFrame(frame.len() as u64));
    }
    decode(frame, "envelope")
}

#[cfg(test)]
pub(crate) mod tests;
