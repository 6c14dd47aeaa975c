//! When to dial a disconnected bootstrap peer again: 1 s, doubling to a 60 s cap, and back
//! to 1 s once a connection succeeds, so a restarted bootstrap node is found quickly without
//! hammering one that stays down.

use std::time::Duration;

use tokio::time::Instant;

pub const FIRST: Duration = Duration::from_secs(1);
pub const MAX: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Redial {
    delay: Duration,
    due: Option<Instant>,
}

impl Redial {
    /// A peer to dial right away (at start).
    pub fn now() -> Self {
        Redial {
            delay: FIRST,
            due: Some(Instant::now()),
        }
    }

    /// When the next dial is due, if one is scheduled.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|t| t <= now)
    }

    /// A dial started: nothing more is scheduled until it ends.
    pub fn dialing(&mut self) {
        self.due = None;
    }

    /// The dial failed or the connection closed: try again after the delay, then wait longer.
    /// A second report before that dial (say, another connection closing) changes nothing.
    pub fn failed(&mut self, now: Instant) {
        if self.due.is_some() {
            return;
        }
        self.due = Some(now + self.delay);
        self.delay = (self.delay * 2).min(MAX);
    }

    /// Connected: the next loss starts again from the first delay.
    pub fn connected(&mut self) {
        self.delay = FIRST;
        self.due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_delay_doubles_to_a_minute_and_resets_on_a_connection() {
        let start = Instant::now();
        let mut redial = Redial::now();
        assert!(redial.is_due(start));
        redial.dialing();
        assert_eq!(redial.due(), None);
        let mut delays = Vec::new();
        for _ in 0..8 {
            let now = Instant::now();
            redial.failed(now);
            let due = redial.due().unwrap();
            assert!(!redial.is_due(now));
            delays.push((due - now).as_secs());
            tokio::time::advance(due - now).await;
            assert!(redial.is_due(Instant::now()));
            redial.dialing();
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        let now = Instant::now();
        redial.failed(now);
        redial.failed(now);
        assert_eq!(
            redial.due(),
            Some(now + MAX),
            "a second report does not push it back"
        );
        redial.connected();
        assert_eq!(redial.due(), None);
        let now = Instant::now();
        redial.failed(now);
        assert_eq!(redial.due(), Some(now + FIRST));
    }
}
