//! The Bitcoin view (SPEC §12, §13): what the node reads of Bitcoin to propose sweeps and
//! moving funds, and to let the on-chain validator check them.
//!
//! - `view`: the trait the engine reads through;
//! - `reading`: what is read out of Bitcoin data, whoever fetched it;
//! - `electrum`: the Electrum client, a JSON-RPC client over `tcp://`, `ssl://`, `ws://` and
//!   `wss://` that fails over across a list of servers and refuses a server of another
//!   network;
//! - `electrum_view`: the view over that client, with what never changes kept.

pub mod electrum;
pub mod electrum_view;
pub mod reading;
pub mod view;
