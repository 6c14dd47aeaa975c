//! tbtc-coord: a tBTC v2 wallet coordination node (RFC 12) with an operator console.

pub mod chain;
pub mod engine;
pub mod net;
pub mod protocol;
pub mod store;
