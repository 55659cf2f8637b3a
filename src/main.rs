//! The `faultline` binary: parse flags, dispatch to a command, map the outcome to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use faultline::cli::{self, Cli};
use faultline::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            // A closed pipe (`faultline … | head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return Exit::Ok.into();
            }
            let _ = writeln!(std::io::stderr(), "faultline: {err:#}");
            Exit::Error.into()
        }
    }
}
