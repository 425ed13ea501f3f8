//! `zeta-bench load`: the load engine as a plain load tool.

use super::Exit;

pub(super) async fn load(args: crate::load::cli::LoadArgs) -> Exit {
    match crate::load::cli::run(args).await {
        Ok(()) => Exit::Pass,
        Err(crate::load::cli::LoadError::Input(e)) => {
            eprintln!("zeta-bench load: {e}");
            Exit::Input
        }
        Err(crate::load::cli::LoadError::Run(e)) => {
            eprintln!("zeta-bench load: {e:#}");
            Exit::CouldNotRun
        }
    }
}
