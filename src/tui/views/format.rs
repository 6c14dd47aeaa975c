//! Small text helpers shared by the panes.

use std::time::Duration;

use crate::engine::snapshot::{DispatcherState, ExecutorState};
use crate::protocol::window::{next_window_after, Phase};
use crate::protocol::{CoordinationWindow, Role};

/// `1 fault`, `3 faults`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `850ms`, `12s`, `3m 05s`, `2h 10m`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        format!("{}ms", d.as_millis())
    } else if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// An estimate for `blocks` blocks at the measured average block time.
pub fn eta(blocks: u64, average: Option<Duration>) -> String {
    match average {
        Some(avg) => format!(
            "~{}",
            duration(avg.saturating_mul(blocks.min(u32::MAX as u64) as u32))
        ),
        None => "~?".to_string(),
    }
}

/// The executor's state, with the phase of the window it is working on.
pub fn executor(state: &ExecutorState, head: Option<u64>) -> String {
    match state {
        ExecutorState::Idle => match head {
            Some(h) => format!("waiting for {}", next_window_after(h).coordination_block),
            None => "idle".into(),
        },
        ExecutorState::Running {
            coordination_block,
            role,
        } => {
            let role = match role {
                Role::Leader => "leading",
                Role::Follower => "following",
            };
            let phase =
                head.map(
                    |h| match CoordinationWindow::new(*coordination_block).phase_at(h) {
                        Phase::Active => " active",
                        Phase::Passive => " passive",
                        Phase::Before | Phase::Ended => "",
                    },
                );
            format!("{role} {coordination_block}{}", phase.unwrap_or(""))
        }
        ExecutorState::Busy { coordination_block } => format!("BUSY at {coordination_block}"),
        ExecutorState::Done { coordination_block } => format!("done {coordination_block}"),
        ExecutorState::Failed { coordination_block } => format!("FAILED {coordination_block}"),
    }
}

/// `#7 #40`: seats as seat numbers, not counts.
pub fn seat_list(seats: impl IntoIterator<Item = usize>) -> Vec<String> {
    seats.into_iter().map(|s| format!("#{s}")).collect()
}

pub fn dispatcher(state: &DispatcherState, head: Option<u64>) -> String {
    describe_dispatcher(state, head, false)
}

/// The dispatcher's state in a few words, for narrow screens: `Redemption 550 left`.
pub fn dispatcher_short(state: &DispatcherState, head: Option<u64>) -> String {
    describe_dispatcher(state, head, true)
}

fn describe_dispatcher(state: &DispatcherState, head: Option<u64>, short: bool) -> String {
    match state {
        DispatcherState::Idle => "idle".into(),
        DispatcherState::Dispatched {
            action,
            start_block,
            ..
        } => match head {
            Some(h) if h < *start_block => {
                let starts = if short { "in" } else { "starts in" };
                format!("{action} {starts} {}", start_block - h)
            }
            _ => format!("{action} dispatched"),
        },
        DispatcherState::Running {
            action,
            expiry_block,
            ..
        } => match head {
            Some(h) if h < *expiry_block => {
                let running = if short { "" } else { " running," };
                format!("{action}{running} {} left", expiry_block - h)
            }
            _ => format!("{action} running"),
        },
        DispatcherState::Finished {
            action, outcome, ..
        } => format!("{action} {}", outcome.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(850)), "850ms");
        assert_eq!(duration(Duration::from_millis(12_300)), "12.3s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration(Duration::from_secs(7800)), "2h 10m");
        assert_eq!(eta(566, Some(Duration::from_millis(100))), "~56.6s");
        assert_eq!(eta(10, None), "~?");
    }
}
