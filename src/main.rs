//! The `tbtc-coord` binary: parses the command line and runs the command.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tbtc_coord::app::{self, Settings};
use tbtc_coord::cli::{Cli, Command, RunArgs};
use tbtc_coord::config::FileConfig;

/// Exit status for bad input (flags, values, config file).
const EXIT_USAGE: u8 = 2;
/// Exit status for a failure while running.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
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
            // One line that names the argument; clap's own text spans several.
            let text = e.to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let file = match FileConfig::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli.command, file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(command: Option<Command>, file: FileConfig) -> anyhow::Result<()> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match command {
        Some(Command::Inspect(inspect)) => app::inspect_command(&inspect),
        Some(Command::Faults(args)) => {
            let settings = Settings::resolve(&file, &args.chain, None)?;
            app::faults_command(settings, &args)
        }
        Some(Command::DryRun(args)) => {
            let settings = Settings::resolve(&file, &args.chain, None)?;
            runtime()?.block_on(app::dry_run_command(settings, &args))
        }
        Some(Command::Run(args)) => run_node(args, &file, runtime()?),
        None => run_node(RunArgs::default(), &file, runtime()?),
    }
}

fn run_node(
    mut args: RunArgs,
    file: &FileConfig,
    runtime: tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let settings = Settings::resolve(file, &args.chain, Some(&args))?;
    app::init_logging(&settings.log_level);
    if !args.headless {
        // The console needs a terminal; without one, say so and print events instead.
        if !std::io::stdout().is_terminal() {
            eprintln!("stdout is not a terminal: running headless");
        } else {
            eprintln!("the console is not available yet: running headless");
        }
        args.headless = true;
    }
    runtime.block_on(app::run_headless(settings, &args))
}
