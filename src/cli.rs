//! The command line: what an operator and their scripts can ask of tbtc-coord.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use libp2p::{Multiaddr, PeerId};

use crate::devnet::DevnetTransport;
use crate::devnet::{MAX_OPERATORS, MAX_WALLETS, MIN_OPERATORS};
use crate::protocol::window::{COORDINATION_FREQUENCY_BLOCKS, WINDOW_DURATION_BLOCKS};
use crate::protocol::{Address, BlockHashRule, FaultType, Hash32, Seed, WalletPkh};
use crate::tui::theme::ThemeName;
use crate::values::{
    parse_block_time, parse_coordination_block, parse_listen_addr, parse_metrics_addr,
    parse_operator_peer_id, parse_peer_addr, parse_poll_interval, parse_rate, uint,
};

const ABOUT: &str = "tBTC v2 wallet coordination (RFC 12): a node and an operator console";

const LONG_ABOUT: &str = "\
tBTC v2 wallet coordination (RFC 12): a node and an operator console.

Every 900 Ethereum blocks a coordination window opens. For each wallet, a seed drawn from a \
safe block hash picks a leader among the wallet's operators; the leader proposes one action \
and the followers check it, recording faults against misbehaving operators. tbtc-coord runs \
that procedure exactly as the reference Go client does, keeps a history of results and \
faults, and shows it all.

Without a command it opens the operator console on the embedded devnet: a simulated chain \
with simulated peer operators and live tBTC activity. When stdout is not a terminal it runs \
headless instead.";

const AFTER_HELP: &str = "\
Examples:
  tbtc-coord                                     the console on the embedded devnet
  tbtc-coord --theme light                       the same, light colours (NO_COLOR: none)
  tbtc-coord run --headless                      watch a devnet coordinate, as text
  tbtc-coord run --headless --json --stop-after-windows 3
  tbtc-coord dry-run --wallet <PKH>              what would happen in the next window
  tbtc-coord faults --type LeaderIdleness --csv  the fault history
  tbtc-coord inspect leader --seed <HEX> --operators 0xA…,0xB…

Settings come from flags, then the config file (--config, or ~/.config/tbtc-coord/config.toml),
then defaults. History is kept in ~/.local/share/tbtc-coord/ unless --data-dir says otherwise.";

#[derive(Debug, Parser)]
#[command(
    name = "tbtc-coord",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Config file (TOML). Default: the platform config dir's tbtc-coord/config.toml, if present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Without a command: the flags of `run` (console by default).
    #[command(flatten)]
    pub run: RunArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the operator console: attached to the node running on the data directory (or
    /// --attach SOCKET), else on a node of its own, which quitting the console stops. The
    /// default when stdout is a terminal.
    Console(ConsoleArgs),
    /// Run a node, on the devnet or with --rpc-url in Ethereum mode: with --headless (or when
    /// stdout is not a terminal) its events printed, else the console on it.
    Run(NodeRunArgs),
    /// One dry run: seed, leader, checklist and the proposal this node would make as leader.
    /// Nothing is sent or dispatched; the dry run is kept in the history.
    DryRun(DryRunArgs),
    /// Query the fault history (through the running node, if one is).
    Faults(FaultsArgs),
    /// The node at a glance: head, next window, wallets, executors, peers, the last faults.
    /// From the running node over its control socket, else from the history.
    Status(StatusArgs),
    /// Check a fault evidence export (faults --evidence --json) offline: signatures, authors,
    /// seats, the safe block hash against the chain or the history, and for a mistake the
    /// recomputed checklist. Exits 0 if every entry is verified, 1 if any fails, 3 if none
    /// fails but some could not be checked, 2 on bad input.
    // It signs nothing and runs no node: the Ethereum flags for those are not its own.
    #[command(
        mut_arg("keystore", |a| a.hide(true)),
        mut_arg("password_file", |a| a.hide(true)),
        mut_arg("token_staking", |a| a.hide(true)),
        mut_arg("wallet_proposal_validator", |a| a.hide(true)),
        mut_arg("electrum_url", |a| a.hide(true)),
        mut_arg("bitcoin_network", |a| a.hide(true)),
        mut_arg("btc_confirmations", |a| a.hide(true)),
        mut_arg("poll_interval", |a| a.hide(true)),
        mut_arg("btc_fee_rate", |a| a.hide(true)),
        mut_arg("operator", |a| a.help(
            "The operator whose evidence it is: with --rpc-url, discovery lists the wallets in \
             which it holds a seat"
        ))
    )]
    VerifyEvidence(VerifyEvidenceArgs),
    /// Compute protocol values from explicit inputs (no chain needed).
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// Operator keys: the Ethereum key that is also the node's libp2p identity.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The config file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write the example config file, every key commented, to the platform config path
    /// (~/.config/tbtc-coord/config.toml on Linux) or --config FILE. Never overwrites.
    Init,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a new operator key in an encrypted keystore (never overwrites), and print its
    /// address and peer ID.
    New(KeyArgs),
    /// Print the address and peer ID of the key in a keystore.
    Show(KeyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// The encrypted keystore file (the JSON V3 format geth and keep-client use).
    #[arg(long, value_name = "FILE")]
    pub keystore: PathBuf,
    /// File holding the keystore password; default: the TBTC_COORD_KEYSTORE_PASSWORD
    /// environment variable.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The peer network (SPEC §11): keep-client's libp2p protocol.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Peer network")]
pub struct NetworkArgs {
    /// Listen for peers on this multiaddr (default /ip4/0.0.0.0/tcp/3919). This, --p2p-peers
    /// or a [network] config section joins the peer network; without any, Ethereum mode hears
    /// no peer and records no fault against leaders.
    #[arg(long, value_name = "MULTIADDR", value_parser = parse_listen_addr)]
    pub p2p_listen: Option<Multiaddr>,
    /// Bootstrap peers, /ip4/HOST/tcp/PORT/p2p/PEER_ID (or /ipfs/PEER_ID), comma-separated.
    /// They are allowlisted and redialled while disconnected.
    #[arg(long, value_name = "ADDR,…", value_delimiter = ',', value_parser = parse_peer_addr)]
    pub p2p_peers: Vec<Multiaddr>,
    /// Further peers admitted whatever the firewall says, by peer ID, comma-separated.
    #[arg(long, value_name = "PEER_ID,…", value_delimiter = ',', value_parser = parse_operator_peer_id)]
    pub p2p_allow: Vec<PeerId>,
}

/// Which history a command reads: its directory, and the chain it is of (the devnet of a
/// seed, or with --chain-id an Ethereum chain).
#[derive(Debug, Clone, Args, Default)]
pub struct HistoryArgs {
    /// Directory of the history databases (one per chain).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seed of the embedded devnet: keys, wallets, blocks and activity all follow from it.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = uint::<u64>(0, u64::MAX))]
    pub devnet_seed: Option<u64>,
    /// Ethereum mode: the chain id the RPC node must serve. It also names the history
    /// (chain-ID.sqlite3), so `faults --chain-id 1` reads mainnet's without a node.
    #[arg(long, value_name = "ID", allow_negative_numbers = true,
          value_parser = uint::<u64>(0, u64::MAX))]
    pub chain_id: Option<u64>,
}

/// Which chain, where its history lives, and how a node on it computes.
#[derive(Debug, Clone, Args, Default)]
pub struct ChainArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Number of wallets on the devnet (1 to 10000).
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = uint::<usize>(1, MAX_WALLETS as u64))]
    pub devnet_wallets: Option<usize>,
    /// Number of operators on the devnet, this node being one of them (2 to 1000).
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = uint::<usize>(MIN_OPERATORS as u64, MAX_OPERATORS as u64))]
    pub devnet_operators: Option<usize>,
    /// Which hash of the safe block seeds a window: keep-v2 (what the reference Go nodes
    /// compute) or canonical (the chain's own block hash).
    #[arg(long, value_name = "RULE")]
    pub block_hash_rule: Option<BlockHashRule>,
    /// Estimated Bitcoin fee rate, sat/vB: proposals raise it by a quarter (at least 5) and
    /// keep the fee within the Bridge's maximum.
    #[arg(long, value_name = "SAT_PER_VB", allow_negative_numbers = true,
          value_parser = uint::<u64>(0, u64::MAX))]
    pub btc_fee_rate: Option<u64>,
}

impl From<HistoryArgs> for ChainArgs {
    /// A command that only reads a history: the chain's other settings are defaults.
    fn from(history: HistoryArgs) -> ChainArgs {
        ChainArgs {
            history,
            ..ChainArgs::default()
        }
    }
}

/// Ethereum mode: a real JSON-RPC node instead of the embedded devnet.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Ethereum mode")]
pub struct EthereumArgs {
    /// Run on this Ethereum JSON-RPC node instead of the devnet: ws:// or wss:// (new heads
    /// by subscription) or http:// or https:// (polled). URLs are shown without their path.
    #[arg(
        long,
        value_name = "URL",
        env = "TBTC_COORD_RPC_URL",
        hide_env_values = true
    )]
    pub rpc_url: Option<String>,
    /// Time between polls of an http(s) node, e.g. 500ms or 2s (default 2s; 1ms to 1h).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = parse_poll_interval)]
    pub poll_interval: Option<Duration>,
    /// The wallets to coordinate, from a TOML file of [[wallet]] entries (pkh, operators in
    /// seat order), instead of discovering them from the contracts.
    #[arg(long, value_name = "FILE")]
    pub wallets: Option<PathBuf>,
    /// The tBTC v2 contract addresses of a known network (Bridge, WalletRegistry,
    /// SortitionPool, TokenStaking, WalletProposalValidator); the address flags override them.
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<Network>,
    /// The tBTC v2 Bridge: wallet state, redemptions and deposits for proposals.
    #[arg(long, value_name = "ADDRESS")]
    pub bridge: Option<Address>,
    /// The ECDSA WalletRegistry, for wallet discovery.
    #[arg(long, value_name = "ADDRESS")]
    pub wallet_registry: Option<Address>,
    /// The ECDSA SortitionPool, for wallet discovery.
    #[arg(long, value_name = "ADDRESS")]
    pub sortition_pool: Option<Address>,
    /// The Threshold TokenStaking contract: with --wallet-registry, the peer firewall admits
    /// operators the chain recognises as staked, as keep-client does.
    #[arg(long, value_name = "ADDRESS")]
    pub token_staking: Option<Address>,
    /// The tBTC v2 WalletProposalValidator: a leader checks every candidate proposal with it
    /// before sending, and passes over what it refuses (set by --network mainnet).
    #[arg(long, value_name = "ADDRESS")]
    pub wallet_proposal_validator: Option<Address>,
    /// The coordination block from which both sweeps are on every window's checklist, as
    /// this chain activated keep-core's every-window sweeps (default: 24559289 on mainnet,
    /// 0, every window, on other chains). Leaders, followers and fault evidence use it.
    #[arg(long, value_name = "BLOCK")]
    pub sweeps_every_window_from: Option<u64>,
    /// Run as this operator without a key: the full coordination view and dry runs,
    /// nothing signed.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "keystore")]
    pub operator: Option<Address>,
    /// The operator's encrypted keystore file (a signing identity). The password comes from
    /// --password-file or the TBTC_COORD_KEYSTORE_PASSWORD environment variable.
    #[arg(long, value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// File holding the keystore password (one trailing newline is ignored).
    #[arg(long, value_name = "FILE", requires = "keystore")]
    pub password_file: Option<PathBuf>,
    /// Bitcoin confirmations to assume for every revealed deposit when no Electrum server is
    /// given (--electrum-url): a test override. Default: estimated from the reveal's age (one
    /// block per 10 minutes).
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = uint::<u32>(0, u32::MAX as u64))]
    pub btc_confirmations: Option<u32>,
    /// Electrum servers to read Bitcoin from, tried in order (tcp://, ssl://, ws://, wss://
    /// HOST:PORT): deposit confirmations and funding transactions, the wallets' main UTXOs
    /// and the fee rate. Without one, deposits' confirmations are estimated and sweeps and
    /// moving funds are not checked on chain.
    #[arg(long, value_name = "URL[,URL…]", env = "TBTC_COORD_ELECTRUM_URL")]
    pub electrum_url: Option<String>,
    /// The Bitcoin network the Electrum servers must serve (their genesis block is checked):
    /// mainnet (the default, and what --network mainnet implies), testnet or regtest.
    #[arg(long, value_name = "NETWORK")]
    pub bitcoin_network: Option<BitcoinNetworkArg>,
}

/// The Bitcoin networks an Electrum server may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitcoinNetworkArg {
    Mainnet,
    Testnet,
    Regtest,
}

impl From<BitcoinNetworkArg> for crate::bitcoin::electrum::BitcoinNetwork {
    fn from(n: BitcoinNetworkArg) -> Self {
        use crate::bitcoin::electrum::BitcoinNetwork;
        match n {
            BitcoinNetworkArg::Mainnet => BitcoinNetwork::Mainnet,
            BitcoinNetworkArg::Testnet => BitcoinNetwork::Testnet,
            BitcoinNetworkArg::Regtest => BitcoinNetwork::Regtest,
        }
    }
}

/// Networks whose tBTC v2 contract addresses are built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Network {
    Mainnet,
}

/// What every node takes, run by `run` or by the console: its chain, peers and devnet, its
/// log filter and its metrics endpoint.
#[derive(Debug, Clone, Args, Default)]
pub struct NodeArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Time between devnet blocks, e.g. 2ms, 100ms, 1s (at most 1h).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = parse_block_time)]
    pub block_time: Option<Duration>,
    /// What carries the devnet's messages: hub (in memory) or libp2p (a real swarm per
    /// simulated operator on 127.0.0.1, with keep's handshake and gossipsub).
    #[arg(long, value_name = "TRANSPORT")]
    pub devnet_transport: Option<DevnetTransport>,
    /// Share of (wallet, window) pairs in which a simulated peer misbehaves.
    #[arg(long, value_name = "0..1", allow_negative_numbers = true, value_parser = parse_rate)]
    pub devnet_fault_rate: Option<f64>,
    /// Log filter, e.g. info or tbtc_coord=debug (default: warn on stderr when headless,
    /// info in the console's Logs tab and in the log an attached console reads).
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Serve Prometheus metrics (/metrics), /diagnostics and /healthz on this address, e.g.
    /// 127.0.0.1:9601 (keep-client's port). Off by default.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_metrics_addr)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    // Last: a flattened group's help heading holds for the arguments after it.
    #[command(flatten)]
    pub ethereum: EthereumArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// Printing a node's events instead of showing them in the console.
#[derive(Debug, Clone, Args, Default)]
pub struct HeadlessArgs {
    /// Print events instead of opening the console.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: one JSON object per line, each with a "type" field.
    #[arg(long)]
    pub json: bool,
    /// Also print per-block and per-executor events.
    #[arg(long)]
    pub all_events: bool,
    /// Exit (status 0) once this many windows (at least 1) have been fully processed or
    /// reported missed.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = uint::<u64>(1, u64::MAX))]
    pub stop_after_windows: Option<u64>,
}

/// The console's own flags.
#[derive(Debug, Clone, Args, Default)]
pub struct ConsoleFlags {
    /// Console colours: dark or light. NO_COLOR in the environment turns colour off.
    #[arg(long, value_name = "THEME")]
    pub theme: Option<ThemeName>,
    /// Attach to the node serving this control socket (a node serves
    /// <data-dir>/<chain>.sock) instead of starting one. Without it, the console attaches
    /// to the node already running on its data directory, if there is one.
    #[arg(long, value_name = "SOCKET")]
    pub attach: Option<PathBuf>,
}

/// Everything a node's run may be given: the flags of `tbtc-coord` without a command, and
/// what `console` and `run` each resolve to.
#[derive(Debug, Clone, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub output: HeadlessArgs,
    #[command(flatten)]
    pub console: ConsoleFlags,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `console`: a node's flags (for the node it starts if none runs) and the console's own.
#[derive(Debug, Clone, Args, Default)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub console: ConsoleFlags,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `run`: a node's flags and how its events are printed. On a terminal without --headless it
/// shows the console, in the colours of the config file's `theme` (or a hidden --theme).
#[derive(Debug, Clone, Args, Default)]
pub struct NodeRunArgs {
    #[command(flatten)]
    pub output: HeadlessArgs,
    /// Console colours, when `run` shows the console: `console --theme` is where it belongs.
    #[arg(long, value_name = "THEME", hide = true)]
    pub theme: Option<ThemeName>,
    #[command(flatten)]
    pub node: NodeArgs,
}

impl From<ConsoleArgs> for RunArgs {
    fn from(args: ConsoleArgs) -> RunArgs {
        RunArgs {
            node: args.node,
            output: HeadlessArgs::default(),
            console: args.console,
        }
    }
}

impl From<NodeRunArgs> for RunArgs {
    fn from(args: NodeRunArgs) -> RunArgs {
        RunArgs {
            node: args.node,
            output: args.output,
            console: ConsoleFlags {
                theme: args.theme,
                attach: None,
            },
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many of the newest faults to show.
    #[arg(long, value_name = "N", default_value_t = 5, allow_negative_numbers = true,
          value_parser = uint::<u64>(0, 1_000))]
    pub last_faults: u64,
    /// Ask the node serving this control socket (default: <data-dir>/<chain>.sock).
    #[arg(long, value_name = "SOCKET")]
    pub attach: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DryRunArgs {
    /// The wallet's public key hash (20 bytes of hex).
    #[arg(long, value_name = "PKH")]
    pub wallet: WalletPkh,
    /// The window's coordination block (a multiple of 900). Default: the next window if its
    /// leader is known (its safe block mined), else the current one; the output says which.
    #[arg(long, value_name = "BLOCK", allow_negative_numbers = true,
          value_parser = parse_coordination_block)]
    pub window: Option<u64>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub ethereum: EthereumArgs,
}

#[derive(Debug, Clone, Args)]
pub struct FaultsArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Only faults in this wallet.
    #[arg(long, value_name = "PKH")]
    pub wallet: Option<WalletPkh>,
    /// Only faults blamed on this operator.
    #[arg(long, value_name = "ADDRESS")]
    pub operator: Option<Address>,
    /// Only this fault type: LeaderIdleness, LeaderMistake or LeaderImpersonation.
    #[arg(long = "type", value_name = "TYPE")]
    pub fault_type: Option<FaultType>,
    /// Only windows from this coordination block on.
    #[arg(long, value_name = "BLOCK", allow_negative_numbers = true,
          value_parser = uint::<u64>(0, u64::MAX))]
    pub from: Option<u64>,
    /// Only windows up to this coordination block.
    #[arg(long, value_name = "BLOCK", allow_negative_numbers = true,
          value_parser = uint::<u64>(0, u64::MAX))]
    pub to: Option<u64>,
    /// At most this many faults, newest first.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = uint::<u64>(0, u64::MAX))]
    pub limit: Option<u64>,
    /// One JSON array.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header line.
    #[arg(long)]
    pub csv: bool,
    /// With --json: each fault with its evidence (the offending signed message, or an
    /// idleness's context) and its window's facts, for verify-evidence.
    #[arg(long, requires = "json")]
    pub evidence: bool,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyEvidenceArgs {
    /// The export of `faults --evidence --json`, a regular file of at most 1 GiB; `-` reads
    /// standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where the wallets' seats come from: a wallets file (--wallets), the chain (--rpc-url
    /// with discovery's contract flags and --operator), or a node's own history (--data-dir,
    /// with --devnet-seed or --chain-id naming the history). The safe block hashes are checked
    /// against the chain (--rpc-url, under --block-hash-rule) or else the history
    /// (--data-dir); with neither, entries stay unchecked (exit 3), never verified.
    /// One JSON array of verdicts (each with its outcome: verified, failed or unchecked)
    /// instead of text; nothing else on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub ethereum: EthereumArgs,
}

#[derive(Debug, Subcommand)]
pub enum InspectCommand {
    /// The coordination seed: sha256(wallet PKH || safe block hash), as 64 hex digits.
    Seed {
        /// The wallet's public key hash (20 bytes of hex).
        #[arg(long, value_name = "PKH")]
        wallet: WalletPkh,
        /// The hash of the window's safe block (32 bytes of hex), under the hash rule the
        /// nodes use.
        #[arg(long, value_name = "HASH")]
        safe_block_hash: Hash32,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The leader (EIP-55) for a seed and the seat holders in seat order (duplicates allowed).
    Leader {
        /// The coordination seed (32 bytes of hex), as `inspect seed` prints it.
        #[arg(long, value_name = "HEX")]
        seed: Seed,
        /// The wallet's seat holders in seat order, comma-separated; an operator holding
        /// several seats appears once per seat.
        #[arg(
            long,
            value_name = "ADDR,ADDR,...",
            value_delimiter = ',',
            required = true
        )]
        operators: Vec<Address>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The actions checklist of a window, names joined by commas.
    Checklist {
        /// The window's coordination block (a positive multiple of 900).
        #[arg(long, value_name = "BLOCK", allow_negative_numbers = true,
              value_parser = parse_coordination_block)]
        block: u64,
        /// The window's coordination seed (32 bytes of hex), as `inspect seed` prints it.
        #[arg(long, value_name = "HEX")]
        seed: Seed,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The window containing a block and the next one, with their phases.
    Window {
        /// Any block whose next window still fits in 64 bits.
        #[arg(long, value_name = "N", allow_negative_numbers = true,
              value_parser = uint::<u64>(0, MAX_INSPECT_BLOCK))]
        block: u64,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Bad input found after the command line parsed (a config value, a combination of
/// flags, a log filter): reported like clap's errors, with exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A failure with an exit status of its own (documented by the command that returns it, e.g.
/// `verify-evidence`'s 3 for entries that could not be checked).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitStatusError {
    pub status: u8,
    pub message: String,
}

/// The last coordination block whose window ends inside `u64`.
const LAST_WINDOW: u64 = (u64::MAX - WINDOW_DURATION_BLOCKS) / COORDINATION_FREQUENCY_BLOCKS
    * COORDINATION_FREQUENCY_BLOCKS;
/// The highest block `inspect window` shows: its next window is [`LAST_WINDOW`].
pub const MAX_INSPECT_BLOCK: u64 = LAST_WINDOW - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_name_the_argument() {
        let err = Cli::try_parse_from([
            "tbtc-coord",
            "inspect",
            "seed",
            "--wallet",
            "00",
            "--safe-block-hash",
            "00",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--wallet"), "{err}");
        let err =
            Cli::try_parse_from(["tbtc-coord", "run", "--devnet-fault-rate", "1.5"]).unwrap_err();
        assert!(err.to_string().contains("--devnet-fault-rate"), "{err}");
        let err = Cli::try_parse_from(["tbtc-coord", "run", "--block-time", "0ms"]).unwrap_err();
        assert!(err.to_string().contains("--block-time"), "{err}");
        let err =
            Cli::try_parse_from(["tbtc-coord", "run", "--devnet-transport", "pigeon"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("--devnet-transport") && text.contains("\"pigeon\""),
            "{err}"
        );
        assert!(text.contains("expected hub or libp2p"), "{err}");
    }

    /// `run` shows the console on a terminal, so the theme it took before still parses.
    #[test]
    fn run_still_takes_a_theme_and_the_console_its_attach() {
        let cli = Cli::try_parse_from(["tbtc-coord", "run", "--theme", "light"]).unwrap();
        match cli.command {
            Some(Command::Run(args)) => {
                let args = RunArgs::from(args);
                assert_eq!(args.console.theme, Some(ThemeName::Light));
                assert_eq!(args.console.attach, None);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["tbtc-coord", "console", "--attach", "n.sock"]).unwrap();
        match cli.command {
            Some(Command::Console(args)) => {
                let args = RunArgs::from(args);
                assert_eq!(args.console.attach, Some(PathBuf::from("n.sock")));
                assert!(!args.output.headless);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn operators_split_on_commas() {
        let cli = Cli::try_parse_from([
            "tbtc-coord",
            "inspect",
            "leader",
            "--seed",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "--operators",
            "0x957ECF59507a6A74b8d98747f07a74De270D3CC3,5E14c0f27612fbfB7A6FE40b5A6Ec997fA62fc04",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Inspect(InspectCommand::Leader { operators, .. })) => {
                assert_eq!(operators.len(), 2)
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
