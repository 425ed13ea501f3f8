//! Command line: argument parsing ([`args`]), one file per subcommand, and
//! the exit codes ([`Exit`]). `main` is a table of contents: one line per
//! subcommand.
//!
//! Exit codes: 0 every SLO passed · 1 an SLO failed or a required SLO could
//! not be measured · 2 invalid input · 3 the stack or harness could not run
//! (or the run was interrupted or is incomplete).

mod args;
mod exit;
mod fault;
mod load;
mod mock;
mod plan;
mod read;
mod report;
mod revert;
mod run;
mod up;
mod validate;

pub use args::{Cli, Command, MockService, ProviderArg};
pub use exit::Exit;

pub async fn main(cli: Cli) -> u8 {
    let exit = match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Validate { files } => validate::validate_all(&files),
        Command::Report(a) => report::report(a),
        Command::Revert { run_dir } => revert::revert(&run_dir).await,
        Command::Schema => report::schema(),
        Command::Up(a) => up::up(a).await,
        Command::Fault(a) => fault::fault(a).await,
        Command::Load(a) => load::load(a).await,
        Command::Mock { service, config } => mock::mock(service, config).await,
    };
    exit.code()
}
