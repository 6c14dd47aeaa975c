//! Wiring: turns the command line and the config file into settings, and runs the commands.
//!
//! - `settings`: flags and the config file resolved into [`Settings`], and its paths;
//! - `logging`: the log filter and the headless subscriber;
//! - `run`: the devnet's run modes (`run --headless`, the console); `ethereum` those of
//!   Ethereum mode;
//! - one file per one-off command: `config_init`, `dry_run`, `faults`, `inspect`, `key`,
//!   `evidence` (`verify-evidence`), and `node_socket` (`status`, and the control socket's
//!   wiring);
//! - `exit`: how a failed command ends (its line and exit status);
//! - `lock`, `metrics_endpoint`, `network`, `signals`: what the run modes share.

mod config_init;
mod dry_run;
mod ethereum;
mod evidence;
pub mod exit;
mod faults;
mod inspect;
mod key;
mod lock;
mod logging;
mod metrics_endpoint;
mod network;
mod node_socket;
mod run;
mod settings;
mod signals;

pub use config_init::{config_init, CONFIG_EXAMPLE};
pub use dry_run::dry_run_command;
pub(crate) use dry_run::print_dry_run;
pub use ethereum::EthereumSettings;
pub use evidence::verify_evidence_command;
pub use faults::faults_command;
pub(crate) use faults::open_history_read_only;
pub use inspect::inspect_command;
pub use key::key_command;
pub use lock::{lock_history, lock_path, HistoryLock, LockError};
pub use logging::{init_logging, log_filter};
pub use node_socket::status_command;
pub(crate) use run::{console_history, print_until_done, stop_tasks};
pub use run::{run_console, run_headless};
pub use settings::{NodeConfigSettings, Settings, DEFAULT_FAULT_RATE};
