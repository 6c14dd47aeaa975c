//! The `tbtc-coord` binary: parses the command line and runs the command.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use tbtc_coord::app::exit::{exit_status, one_line, EXIT_USAGE};
use tbtc_coord::app::{self, Settings};
use tbtc_coord::cli::{Cli, Command, ConfigCommand, RunArgs, UsageError};
use tbtc_coord::config::FileConfig;
use tbtc_coord::tui::theme::Theme;
use tbtc_coord::tui::theme::ThemeName;

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // The console's flags are also accepted without a command; before a command they would
    // be silently ignored, so say so instead.
    if matches.subcommand().is_some() {
        let command = Cli::command();
        let is_flag = |id: &str| command.get_arguments().any(|a| a.get_id().as_str() == id);
        let misplaced: Vec<String> = matches
            .ids()
            .filter(|id| id.as_str() != "config" && is_flag(id.as_str()))
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| format!("--{}", id.as_str().replace('_', "-")))
            .collect();
        if !misplaced.is_empty() {
            eprintln!(
                "error: {} must come after the command (e.g. tbtc-coord run {} …), or be used without one",
                misplaced.join(", "),
                misplaced[0]
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    // `config init` writes the file, so it must not need one that parses.
    if let Some(Command::Config(ConfigCommand::Init)) = &cli.command {
        return match app::config_init(cli.config.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failed(&e),
        };
    }
    let file = match FileConfig::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli.command, cli.run, file, started) {
        Ok(()) => ExitCode::SUCCESS,
        // `tbtc-coord faults | head -1`: the reader has all it wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => failed(&e),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Settings that do not add up are bad input, like a bad flag.
fn usage(e: anyhow::Error) -> anyhow::Error {
    UsageError(format!("{e:#}")).into()
}

/// Help and version go to stdout with status 0; anything else is one line naming the
/// argument, status 2 (clap's own text spans several lines).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.to_string();
    eprintln!(
        "{}",
        text.lines().next().unwrap_or("error: invalid arguments")
    );
    ExitCode::from(EXIT_USAGE)
}

fn run(
    command: Option<Command>,
    default_run: RunArgs,
    file: FileConfig,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match command {
        Some(Command::Inspect(inspect)) => app::inspect_command(&inspect),
        Some(Command::Key(key)) => app::key_command(&key),
        Some(Command::Config(ConfigCommand::Init)) => app::config_init(None),
        Some(Command::Faults(args)) => {
            let chain = args.history.clone().into();
            let settings = Settings::resolve(&file, &chain, None).map_err(usage)?;
            runtime()?.block_on(app::faults_command(settings, &args))
        }
        Some(Command::Status(args)) => {
            let chain = args.history.clone().into();
            let settings = Settings::resolve(&file, &chain, None).map_err(usage)?;
            runtime()?.block_on(app::status_command(settings, &args))
        }
        Some(Command::VerifyEvidence(args)) => {
            let settings = Settings::resolve(&file, &args.chain, None).map_err(usage)?;
            runtime()?.block_on(app::verify_evidence_command(settings, &args))
        }
        Some(Command::DryRun(args)) => {
            let settings = Settings::resolve(&file, &args.chain, None).map_err(usage)?;
            runtime()?.block_on(app::dry_run_command(settings, &args))
        }
        Some(Command::Run(args)) => run_node(args.into(), &file, runtime()?, started),
        Some(Command::Console(args)) => run_node(args.into(), &file, runtime()?, started),
        None => run_node(default_run, &file, runtime()?, started),
    }
}

fn run_node(
    args: RunArgs,
    file: &FileConfig,
    runtime: tokio::runtime::Runtime,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let settings = Settings::resolve(file, &args.node.chain, Some(&args.node)).map_err(usage)?;
    let theme_name = args.console.theme.or(file.theme).unwrap_or(ThemeName::Dark);
    let log_level = args.node.log_level.as_deref();
    let headless = args.output.headless;
    if args.console.attach.is_some() && (headless || !std::io::stdout().is_terminal()) {
        return Err(UsageError(
            "--attach is for the console: it needs a terminal, and cannot be --headless".into(),
        )
        .into());
    }
    // What an attached console reads of this node's log: what its own console would show.
    let streamed = app::log_filter(log_level, file.log_level.as_deref(), "info")?;
    if headless || !std::io::stdout().is_terminal() {
        let filter = app::log_filter(log_level, file.log_level.as_deref(), "warn")?;
        if !headless {
            eprintln!("stdout is not a terminal: running headless (as run --headless)");
        }
        app::init_logging(filter, streamed);
        let result = runtime.block_on(app::run_headless(settings, &args));
        finish(runtime);
        return result;
    }
    let logs = streamed.to_string();
    tbtc_coord::tui::init_logging(streamed);
    let theme = Theme::select(theme_name, Theme::no_color_requested());
    let result = runtime.block_on(app::run_console(
        settings,
        args.console.attach.clone(),
        theme,
        logs,
        started,
    ));
    finish(runtime);
    result
}

/// Every task of the node has been awaited when its future returns. What may still run is
/// blocking work that a signal cut short (a key derivation), which must not hold the exit.
fn finish(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_background();
}

/// Prints `e` on one line and gives its exit status (see `app::exit`).
fn failed(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(e));
    ExitCode::from(exit_status(e))
}
