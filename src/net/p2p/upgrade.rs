//! The security upgrade `/keep/handshake/1.0.0`: standard libp2p TLS, then keep's three acts
//! inside the TLS stream, then the firewall. Its output is the TLS stream, so the muxer is
//! negotiated after it by multistream-select (rust-libp2p's TLS offers only ALPN `libp2p`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo};
use libp2p::futures::future::BoxFuture;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use libp2p::identity::{Keypair, PeerId};
use libp2p::tls::TlsStream;
use prost::Message;
use rand::RngCore;
use tokio::sync::broadcast;

use super::firewall::Firewall;
use super::handshake::{self, HandshakeError, MAX_FRAME};
use super::PeerEvent;
use crate::net::signing::peer_public_key;

pub const PROTOCOL_ID: &str = "/keep/handshake/1.0.0";

/// Cap on admission reasons waiting for the swarm to pick them up.
const REASONS_CAP: usize = 1024;

/// Admission reasons by peer, written by the upgrade and read by the swarm when it reports the
/// connection (the upgrade's output can only carry the peer ID).
#[derive(Clone, Default)]
pub(crate) struct Reasons(Arc<Mutex<HashMap<PeerId, String>>>);

impl Reasons {
    fn put(&self, peer: PeerId, reason: String) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= REASONS_CAP {
                map.clear();
            }
            map.insert(peer, reason);
        }
    }

    pub fn take(&self, peer: &PeerId) -> Option<String> {
        self.0.lock().ok().and_then(|mut map| map.remove(peer))
    }
}

/// keep-client's security protocol as a libp2p connection upgrade.
#[derive(Clone)]
pub struct KeepHandshake {
    keypair: Keypair,
    tls: libp2p::tls::Config,
    firewall: Arc<dyn Firewall>,
    events: Option<broadcast::Sender<PeerEvent>>,
    reasons: Reasons,
}

impl KeepHandshake {
    pub fn new(keypair: Keypair, firewall: Arc<dyn Firewall>) -> Result<Self, HandshakeError> {
        let tls = libp2p::tls::Config::new(&keypair).map_err(|e| {
            HandshakeError::Tls(libp2p::tls::UpgradeError::CertificateGeneration(e))
        })?;
        Ok(KeepHandshake {
            keypair,
            tls,
            firewall,
            events: None,
            reasons: Reasons::default(),
        })
    }

    /// Where refusals are announced, and where admission reasons are left for the swarm.
    pub(crate) fn with_hooks(
        mut self,
        events: broadcast::Sender<PeerEvent>,
        reasons: Reasons,
    ) -> Self {
        self.events = Some(events);
        self.reasons = reasons;
        self
    }

    /// Logs a failed handshake; a TLS-authenticated peer that broke the protocol (rather than
    /// hung up) is announced as refused, so the console can say why.
    fn failed(&self, peer: PeerId, error: &HandshakeError, direction: &str) {
        tracing::info!(%peer, %error, direction, "keep handshake failed");
        if matches!(error, HandshakeError::Io(_)) {
            return;
        }
        if let Some(events) = &self.events {
            let _ = events.send(PeerEvent::Refused {
                peer,
                reason: error.to_string(),
            });
        }
    }

    /// Runs the firewall on the authenticated peer, announcing a refusal.
    async fn admit(&self, peer: PeerId) -> Result<(), HandshakeError> {
        let key = peer_public_key(&peer).ok_or(HandshakeError::WrongSignature(peer))?;
        match self.firewall.admit(&key).await {
            Ok(admitted) => {
                tracing::debug!(%peer, reason = %admitted.0, "firewall admitted a peer");
                self.reasons.put(peer, admitted.0);
                Ok(())
            }
            Err(refused) => {
                tracing::info!(%peer, reason = %refused, "firewall refused a peer");
                if let Some(events) = &self.events {
                    let _ = events.send(PeerEvent::Refused {
                        peer,
                        reason: refused.0.clone(),
                    });
                }
                Err(HandshakeError::Refused(refused))
            }
        }
    }
}

/// Writes `envelope` as an unsigned-varint length-prefixed frame, in one write and flushed,
/// so each act is a TLS record of its own. keep-client reads the acts through a buffered
/// reader it drops after Act3: bytes of the muxer negotiation sharing Act3's record could be
/// lost to it.
async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    envelope: &handshake::HandshakeEnvelope,
) -> Result<(), HandshakeError> {
    let frame = envelope.encode_length_delimited_to_vec();
    stream.write_all(&frame).await?;
    stream.flush().await?;
    Ok(())
}

/// Reads one length-prefixed frame, refusing one over [`MAX_FRAME`] before reading its body.
async fn receive<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<handshake::HandshakeEnvelope, HandshakeError> {
    let mut length: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        length |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            break;
        }
        if i == 9 {
            return Err(HandshakeError::Malformed(
                "frame length varint too long".into(),
            ));
        }
    }
    if length > MAX_FRAME as u64 {
        return Err(HandshakeError::OversizedFrame(length));
    }
    let mut frame = vec![0u8; length as usize];
    stream.read_exact(&mut frame).await?;
    handshake::decode_envelope(&frame)
}

/// The initiator's acts: Act1 out, Act2 in, Act3 out.
async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    keypair: &Keypair,
    remote: &PeerId,
) -> Result<(), HandshakeError> {
    let nonce1 = rand::rngs::OsRng.next_u64();
    send(
        stream,
        &handshake::seal(keypair, handshake::act1(nonce1).encode_to_vec())?,
    )
    .await?;
    let envelope = receive(stream).await?;
    let challenge = handshake::check_act2(handshake::open(&envelope, remote)?, nonce1)?;
    send(
        stream,
        &handshake::seal(keypair, handshake::act3(challenge).encode_to_vec())?,
    )
    .await
}

/// The responder's acts: Act1 in (from the TLS-authenticated peer), Act2 out, Act3 in.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    keypair: &Keypair,
    remote: &PeerId,
) -> Result<(), HandshakeError> {
    let envelope = receive(stream).await?;
    let nonce1 = handshake::check_act1(handshake::open(&envelope, remote)?)?;
    let nonce2 = rand::rngs::OsRng.next_u64();
    send(
        stream,
        &handshake::seal(keypair, handshake::act2(nonce1, nonce2).encode_to_vec())?,
    )
    .await?;
    let envelope = receive(stream).await?;
    handshake::check_act3(
        handshake::open(&envelope, remote)?,
        &handshake::challenge(nonce1, nonce2),
    )
}

impl UpgradeInfo for KeepHandshake {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(PROTOCOL_ID)
    }
}

impl<C> InboundConnectionUpgrade<C> for KeepHandshake
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, TlsStream<C>);
    type Error = HandshakeError;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            let tls = self.tls.clone();
            let (peer, mut stream) =
                InboundConnectionUpgrade::upgrade_inbound(tls, socket, "/tls/1.0.0").await?;
            if let Err(e) = respond(&mut stream, &self.keypair, &peer).await {
                self.failed(peer, &e, "inbound");
                return Err(e);
            }
            self.admit(peer).await?;
            Ok((peer, stream))
        }
        .boxed()
    }
}

impl<C> OutboundConnectionUpgrade<C> for KeepHandshake
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, TlsStream<C>);
    type Error = HandshakeError;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            let tls = self.tls.clone();
            let (peer, mut stream) =
                OutboundConnectionUpgrade::upgrade_outbound(tls, socket, "/tls/1.0.0").await?;
            if let Err(e) = initiate(&mut stream, &self.keypair, &peer).await {
                self.failed(peer, &e, "outbound");
                return Err(e);
            }
            self.admit(peer).await?;
            Ok((peer, stream))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
