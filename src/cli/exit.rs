//! The process exit code, as a type: every subcommand returns an [`Exit`],
//! and conversions from the library's outcomes keep the mapping in one
//! place.

use crate::report::{RunResult, Verdict};
use crate::run::RunError;

/// 0 pass · 1 an SLO failed · 2 invalid input · 3 could not run or
/// incomplete. Ordered, so the worst of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Pass = 0,
    SloFailed = 1,
    Input = 2,
    CouldNotRun = 3,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Verdict> for Exit {
    fn from(v: Verdict) -> Exit {
        match v {
            Verdict::Pass => Exit::Pass,
            Verdict::Fail => Exit::SloFailed,
            Verdict::Incomplete => Exit::CouldNotRun,
        }
    }
}

impl From<&RunResult> for Exit {
    fn from(r: &RunResult) -> Exit {
        r.verdict.into()
    }
}

impl From<&RunError> for Exit {
    fn from(e: &RunError) -> Exit {
        match e {
            RunError::Input(_) => Exit::Input,
            RunError::CouldNotRun(_) => Exit::CouldNotRun,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_readme_and_order_by_severity() {
        assert_eq!(Exit::Pass.code(), 0);
        assert_eq!(Exit::SloFailed.code(), 1);
        assert_eq!(Exit::Input.code(), 2);
        assert_eq!(Exit::CouldNotRun.code(), 3);
        assert_eq!(Exit::from(Verdict::Incomplete), Exit::CouldNotRun);
        assert_eq!(
            Exit::Pass.max(Exit::Input).max(Exit::SloFailed),
            Exit::Input
        );
    }
}
