//! `zeta-bench up`: the stack and mocks for a game day, until Ctrl-C.

use super::Exit;
use super::args::UpArgs;

pub(super) async fn up(a: UpArgs) -> Exit {
    if let Err(e) = crate::input::units::check_time_scale(a.time_scale) {
        eprintln!("zeta-bench up: command line: --time-scale: {e}");
        return Exit::Input;
    }
    if let Some(why) = crate::fault::journal::refusal(&a.out, "up") {
        eprintln!("{why}");
        return Exit::CouldNotRun;
    }
    let cancel = crate::signal::cancel_on_signal(None);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("zeta-bench up: {e}");
            return Exit::CouldNotRun;
        }
    };
    match crate::gameday::up(
        &a.stack,
        a.time_scale,
        &a.out,
        exe,
        crate::stack::binaries::Binaries::new(a.bins.into_iter().collect()),
        a.receivers,
        cancel,
    )
    .await
    {
        Ok(()) => Exit::Pass,
        Err(e) => {
            eprintln!("zeta-bench up: could not run: {e:#}");
            Exit::CouldNotRun
        }
    }
}
