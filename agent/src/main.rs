//! `frontier`: the on-device agent. Thin: parse the command line, run the
//! command, turn errors into one line on stderr and an exit code.

use clap::Parser;

fn main() {
    let cli = frontier_agent::cli::Cli::parse();
    match frontier_agent::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
