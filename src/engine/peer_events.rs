//! Peer events on the node's bus: who connected (and why the firewall let them in, and
//! whether it is a bootstrap peer), who left and who was refused, and ping round trips, for
//! the console, the headless output and the metrics.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use tokio_util::sync::CancellationToken;

use super::{Event, EventBus};
use crate::net::p2p::PeerEvent;
use crate::net::signing::{operator_address, peer_public_key};

/// A ping is announced again only once it moved by this share of the last announced one…
const PING_CHANGE_DIVISOR: u32 = 4;
/// …and by at least this much, so loopback jitter of microseconds stays quiet.
const PING_CHANGE_MIN: Duration = Duration::from_millis(1);

/// Which pings are worth a bus event: the first of each connection, then only real changes.
/// libp2p pings every connection every 15 s; announcing each would be steady noise that
/// tells the console nothing new.
#[derive(Debug, Default)]
pub struct PingFilter {
    last: HashMap<PeerId, Duration>,
}

impl PingFilter {
    /// Whether to announce `rtt` for `peer` (and remember it if so).
    pub fn announce(&mut self, peer: PeerId, rtt: Duration) -> bool {
        let changed = match self.last.get(&peer) {
            None => true,
            Some(&last) => {
                let moved = rtt.abs_diff(last);
                moved >= PING_CHANGE_MIN && moved >= last / PING_CHANGE_DIVISOR
            }
        };
        if changed {
            self.last.insert(peer, rtt);
        }
        changed
    }

    /// A peer left: its next connection starts with a fresh first ping.
    pub fn forget(&mut self, peer: &PeerId) {
        self.last.remove(peer);
    }
}

/// Puts who connected, left or was refused, and changed pings, on the node's bus.
pub async fn announce(
    mut peers: tokio::sync::broadcast::Receiver<PeerEvent>,
    bus: EventBus,
    cancel: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut pings = PingFilter::default();
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
        if let Some(announced) = to_event(event, &mut pings) {
            bus.publish(announced);
        }
    }
}

/// The bus event for a peer event, if it is one to announce.
pub fn to_event(event: PeerEvent, pings: &mut PingFilter) -> Option<Event> {
    Some(match event {
        PeerEvent::Connected {
            peer,
            admitted,
            bootstrap,
        } => {
            pings.forget(&peer);
            Event::PeerConnected {
                operator: peer_public_key(&peer).and_then(|k| operator_address(&k)),
                peer: peer.to_base58(),
                admitted,
                bootstrap,
            }
        }
        PeerEvent::Disconnected { peer } => {
            pings.forget(&peer);
            Event::PeerDisconnected {
                peer: peer.to_base58(),
            }
        }
        PeerEvent::Refused { peer, reason } => Event::PeerRefused {
            peer: peer.to_base58(),
            reason,
        },
        PeerEvent::Ping { peer, rtt } => {
            if !pings.announce(peer, rtt) {
                return None;
            }
            Event::PeerPing {
                peer: peer.to_base58(),
                rtt_us: u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
            }
        }
        PeerEvent::Dialing { .. } | PeerEvent::Joined { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::signing::OperatorKey;

    fn ping(peer: PeerId, ms: u64) -> PeerEvent {
        PeerEvent::Ping {
            peer,
            rtt: Duration::from_micros(ms * 1000),
        }
    }

    #[test]
    fn pings_are_announced_first_and_then_only_when_they_change() {
        let key = OperatorKey::generate();
        let (peer, other) = (key.peer_id(), OperatorKey::generate().peer_id());
        let mut f = PingFilter::default();
        let announced = |f: &mut PingFilter, e| to_event(e, f).is_some();
        assert!(announced(&mut f, ping(peer, 40)), "the first");
        assert!(!announced(&mut f, ping(peer, 45)), "12% is jitter");
        assert!(
            !announced(&mut f, ping(peer, 35)),
            "measured from 40, not 45"
        );
        assert!(announced(&mut f, ping(peer, 50)), "25% up");
        assert!(announced(&mut f, ping(other, 50)), "per peer");
        assert!(announced(&mut f, ping(peer, 30)), "40% down");
        // Sub-millisecond loopback pings move by large shares and tiny amounts.
        assert!(announced(
            &mut f,
            PeerEvent::Ping {
                peer,
                rtt: Duration::from_micros(100)
            }
        ));
        assert!(!announced(
            &mut f,
            PeerEvent::Ping {
                peer,
                rtt: Duration::from_micros(400)
            }
        ));
        // A reconnection starts over.
        let connected = PeerEvent::Connected {
            peer,
            admitted: "allowlisted".into(),
            bootstrap: true,
        };
        match to_event(connected, &mut f) {
            Some(Event::PeerConnected {
                operator,
                bootstrap,
                ..
            }) => {
                assert_eq!(operator, Some(key.address()));
                assert!(bootstrap);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            to_event(
                PeerEvent::Ping {
                    peer,
                    rtt: Duration::from_micros(400)
                },
                &mut f
            ),
            Some(Event::PeerPing { rtt_us: 400, .. })
        ));
    }
}
