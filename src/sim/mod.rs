//! The devnet's simulated peers: misbehaviour as strategies the executor is handed (the
//! engine's [`Behaviour`](crate::engine::executor::Behaviour)), so production code has no
//! simulation branches. [`FaultInjector`] decides who misbehaves where; [`Scripted`] is the
//! behaviour of a simulated peer, honest except where the plan says otherwise.

mod injector;
mod strategies;

pub use injector::{FaultInjector, Injection, SLOW_LEADER_DELAY_BLOCKS};
pub use strategies::{IdleLeader, Impersonator, Scripted, SlowLeader, WrongAction};
