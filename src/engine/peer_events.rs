//! Peer events on the node's bus: who connected (and why the firewall let them in), who left
//! and who was refused, for the console, the headless output and the metrics.

use tokio_util::sync::CancellationToken;

use super::{Event, EventBus};
use crate::net::p2p::PeerEvent;
use crate::net::signing::{operator_address, peer_public_key};

/// Puts who connected, left or was refused on the node's bus, for the console and the
/// headless output.
pub async fn announce(
    mut peers: tokio::sync::broadcast::Receiver<PeerEvent>,
    bus: EventBus,
    cancel: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = peers.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "peer events came faster than they were announced");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        let announced = match event {
            PeerEvent::Connected { peer, admitted } => Event::PeerConnected {
                operator: peer_public_key(&peer).and_then(|k| operator_address(&k)),
                peer: peer.to_base58(),
                admitted,
            },
            PeerEvent::Disconnected { peer } => Event::PeerDisconnected {
                peer: peer.to_base58(),
            },
            PeerEvent::Refused { peer, reason } => Event::PeerRefused {
                peer: peer.to_base58(),
                reason,
            },
            PeerEvent::Dialing { .. } | PeerEvent::Joined { .. } => continue,
        };
        bus.publish(announced);
    }
}
