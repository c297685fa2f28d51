//! The `frontier` agent as a library: command-line definitions ([`cli`]) and
//! one module per command. `main.rs` only calls [`run`].
//!
//! Invariant: commands print results on stdout and logs, progress and errors
//! on stderr, so `--json` output can be piped.

pub mod active;
#[cfg(feature = "upload")]
pub mod agent_cmd;
pub mod backends;
#[cfg(feature = "upload")]
pub mod board;
pub mod check_cmd;
pub mod cli;
pub mod doctor;
pub mod export_cmd;
pub mod inspect_cmd;
pub mod profile;
pub mod search_cmd;
#[cfg(feature = "serve")]
pub mod serve_cmd;
#[cfg(not(feature = "serve"))]
#[path = "serve_off.rs"]
pub mod serve_cmd;
pub mod settings;
pub mod train_cmd;
#[cfg(feature = "upload")]
pub mod upload_cmd;
#[cfg(not(feature = "upload"))]
#[path = "upload_off.rs"]
pub mod upload_cmd;

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: cli::Cli) -> anyhow::Result<i32> {
    match cli.command {
        // `--check` measures nothing: its own command behind profile's flags.
        cli::Command::Profile(args) if args.check => check_cmd::run(&args),
        cli::Command::Profile(args) => profile::run(*args),
        cli::Command::Export(args) => export_cmd::run(args),
        cli::Command::Inspect(args) => inspect_cmd::run(args),
        cli::Command::Doctor(args) => doctor::run(args),
        cli::Command::Upload(args) => upload_cmd::run(args),
        cli::Command::Train(args) => train_cmd::train(args),
        cli::Command::Predict(args) => train_cmd::predict(args),
        cli::Command::Search(args) => search_cmd::run(args),
        cli::Command::Serve(args) => serve_cmd::run(args),
        #[cfg(feature = "upload")]
        cli::Command::Agent(args) => agent_cmd::run(*args),
        #[cfg(not(feature = "upload"))]
        cli::Command::Agent(_) => upload_cmd::run_agent(),
    }
}
