//! tbtc-coord: a tBTC v2 wallet coordination node (RFC 12) with an operator console.

pub mod app;
pub mod bitcoin;
pub mod chain;
pub mod cli;
pub mod config;
pub mod control;
pub mod devnet;
pub mod engine;
#[cfg(test)]
mod engine_tests;
pub mod evidence;
pub mod files;
pub mod headless;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod store;
pub mod tui;
pub mod values;
