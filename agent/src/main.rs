//! `frontier`: the on-device agent. Thin: parse the command line, run the
//! command, turn errors into one line on stderr and an exit code.

use clap::{CommandFactory, FromArgMatches};

fn main() {
    let matches = frontier_agent::cli::Cli::command().get_matches();
    let mut cli = match frontier_agent::cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    cli.note_explicit(&matches);
    match frontier_agent::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
