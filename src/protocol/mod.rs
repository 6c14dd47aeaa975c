//! The pure rules of RFC 12 as the reference client applies them: windows, seeds, block-hash
//! rules, Go's `math/rand`, leaders, checklists, actions, proposals, messages and faults, and
//! the chain facts every layer shares.
//! Nothing here does I/O, awaits, or reads a clock.

pub mod action;
pub mod bitcoin_facts;
pub mod chain;
pub mod checklist;
pub mod commitment;
pub mod fault;
pub mod follower;
pub mod generator;
pub mod gorand;
pub mod header;
pub mod leader;
pub mod message;
pub mod proposal;
pub mod result;
pub mod rng_cooked;
pub mod seed;
pub mod types;
pub mod validation;
pub mod wallet_key;
pub mod window;
pub mod wire;

pub use action::ActionType;
pub use chain::{BlockRef, ChainConnection, ChainStatus, WalletInfo};
pub use checklist::checklist;
pub use fault::{Fault, FaultEvidence, FaultType, HeardMessage, IdlenessContext};
pub use header::{BlockHashRule, BlockHeader};
pub use leader::{Leader, SigningGroup};
pub use message::CoordinationMessage;
pub use proposal::{Proposal, ProposalParams, WalletSnapshot};
pub use result::{ActionOutcome, CoordinationResult, Role};
pub use seed::coordination_seed;
pub use types::{Address, Hash32, Seed, WalletPkh};
pub use validation::{ActionEvaluation, Refusal, Validation};
pub use wallet_key::WalletPublicKey;
pub use window::CoordinationWindow;
