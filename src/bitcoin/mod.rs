//! The node's view of Bitcoin: what it reads of the chain (tip, transactions, script histories,
//! fee estimates) to propose and check wallet actions (SPEC §13). For now this holds the
//! Electrum client the view will be built on: a JSON-RPC client over `tcp://`, `ssl://`,
//! `ws://` and `wss://` that fails over across a list of servers and refuses a server of
//! another network.

pub mod electrum;
