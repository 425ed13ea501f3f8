//! Third-party parsers that can panic on hostile input (the PromQL parser
//! converts an absurd number to a `Duration` and panics): such a call is
//! caught and turned into an input error, and its panic message, which
//! would otherwise reach the user's terminal beside the error, is kept
//! off it.

use std::cell::Cell;
use std::panic::UnwindSafe;
use std::sync::Once;

thread_local! {
    /// Set while this thread runs a call through [`catch_quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Install, once, a panic hook that stays silent for panics inside
/// [`catch_quietly`] and passes every other panic to the hook before it.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Run `f`; a panic inside it is `Err` with its message, and prints
/// nothing.
pub fn catch_quietly<T>(f: impl FnOnce() -> T + UnwindSafe) -> Result<T, String> {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let outcome = std::panic::catch_unwind(f);
    QUIET.with(|q| q.set(was));
    outcome.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_an_error_with_its_message() {
        assert_eq!(catch_quietly(|| 7), Ok(7));
        let e = catch_quietly(|| -> u32 { panic!("absurd duration") }).unwrap_err();
        assert_eq!(e, "absurd duration");
        // The flag is cleared afterwards: later panics are reported again.
        assert!(!QUIET.with(Cell::get));
    }
}
