//! Peer events on the node's bus: who connected (and why the firewall let them in, and
//! whether it is a bootstrap peer), who left and who was refused, and ping round trips, for
//! the console, the headless output and the metrics.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::PeerId;
use tokio_util::sync::CancellationToken;

use super::{Event, EventBus};
use crate::net::p2p::{ConnectedPeer, P2pNetwork, PeerEvent};
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

/// Puts who connected, left or was refused, and changed pings, on the node's bus. It starts
/// from the peers connected already, and if it falls behind the network's events it
/// resyncs from the connections, so the bus never keeps a peer that left or misses one that
/// came (a lost ping or refusal is only logged).
pub async fn announce(network: P2pNetwork, bus: EventBus, cancel: CancellationToken) {
    use tokio::sync::broadcast::error::RecvError;
    let mut peers = network.peer_events();
    let mut pings = PingFilter::default();
    let mut announced = Announced::default();
    announced.resync(network.connections(), &bus, &mut pings);
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = peers.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "peer events came faster than they were announced; resyncing");
                    announced.resync(network.connections(), &bus, &mut pings);
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        if !announced.is_news(&event) {
            continue;
        }
        if let Some(e) = to_event(event, &mut pings) {
            bus.publish(e);
        }
    }
}

/// The peers the bus has been told are connected.
#[derive(Debug, Default)]
pub struct Announced(HashSet<PeerId>);

impl Announced {
    /// Whether `event` changes what the bus knows (a connect or disconnect already told is
    /// not news; other events always are).
    pub fn is_news(&mut self, event: &PeerEvent) -> bool {
        match event {
            PeerEvent::Connected { peer, .. } => self.0.insert(*peer),
            PeerEvent::Disconnected { peer } => self.0.remove(peer),
            _ => true,
        }
    }

    /// Announces the difference between what the bus was told and `now`.
    pub fn resync(&mut self, now: Vec<ConnectedPeer>, bus: &EventBus, pings: &mut PingFilter) {
        let live: HashSet<PeerId> = now.iter().map(|c| c.peer).collect();
        let gone: Vec<PeerId> = self.0.difference(&live).copied().collect();
        let events = gone
            .into_iter()
            .map(|peer| PeerEvent::Disconnected { peer })
            .chain(now.into_iter().map(|c| PeerEvent::Connected {
                peer: c.peer,
                admitted: c.admitted,
                bootstrap: c.bootstrap,
            }));
        for event in events {
            if self.is_news(&event) {
                if let Some(e) = to_event(event, pings) {
                    bus.publish(e);
                }
            }
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

    /// A subscriber that fell behind resyncs: the peer that left is announced gone, the one
    /// that came is announced, and the one still there is not announced twice.
    #[test]
    fn a_resync_announces_only_the_difference() {
        let bus = EventBus::new(64);
        let mut events = bus.subscribe();
        let (a, b, c) = (
            OperatorKey::generate().peer_id(),
            OperatorKey::generate().peer_id(),
            OperatorKey::generate().peer_id(),
        );
        let connected = |peer, bootstrap| ConnectedPeer {
            peer,
            admitted: "allowlisted".into(),
            bootstrap,
        };
        let mut pings = PingFilter::default();
        let mut announced = Announced::default();
        announced.resync(
            vec![connected(a, true), connected(b, false)],
            &bus,
            &mut pings,
        );
        // The same connect again, from the event stream, is not news.
        assert!(!announced.is_news(&PeerEvent::Connected {
            peer: b,
            admitted: "allowlisted".into(),
            bootstrap: false
        }));
        announced.resync(
            vec![connected(b, false), connected(c, false)],
            &bus,
            &mut pings,
        );
        let mut seen = Vec::new();
        while let Ok(e) = events.try_recv() {
            seen.push(match e {
                Event::PeerConnected {
                    peer, bootstrap, ..
                } => format!("+{peer}{}", if bootstrap { " (bootstrap)" } else { "" }),
                Event::PeerDisconnected { peer } => format!("-{peer}"),
                other => panic!("unexpected {other:?}"),
            });
        }
        let mut first = [format!("+{a} (bootstrap)"), format!("+{b}")];
        first.sort();
        seen[..2].sort();
        assert_eq!(seen[..2], first[..]);
        assert_eq!(seen[2..], [format!("-{a}"), format!("+{c}")]);
        // A disconnect of a peer the bus never heard of is not news either.
        assert!(!announced.is_news(&PeerEvent::Disconnected { peer: a }));
    }
}
