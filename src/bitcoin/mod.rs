//! The Bitcoin view (SPEC §12, §13): what the node reads of Bitcoin to propose sweeps and
//! moving funds, and to let the on-chain validator check them. `view` is the trait the engine
//! reads through; `reading` holds what is read out of Bitcoin data, whoever fetched it.

pub mod reading;
pub mod view;
