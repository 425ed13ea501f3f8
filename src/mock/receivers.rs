//! The switch that makes the harness's own notification receivers (its
//! PagerDuty, Slack and webhook stand-ins) fail, stop answering or answer
//! late: the `receiver_failing` and `receiver_slow` faults. It lives here,
//! below both the faults that set it and the receivers that obey it,
//! because those two stages may not refer to each other.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The receivers a fault can target, by the kind of service they stand
/// in for.
pub const RECEIVER_KINDS: &[&str] = crate::scenario::RECEIVER_TARGETS;

/// How a receiver misbehaves while its fault is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverFault {
    /// Answer every notification with this 5xx status (as PagerDuty or
    /// Slack does in an incident of its own).
    Error { status: u16 },
    /// Accept the connection and never answer: Alertmanager's own timeout
    /// ends each attempt.
    NoAnswer,
    /// Answer normally, after this delay.
    Slow { delay: Duration },
}

impl std::fmt::Display for ReceiverFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiverFault::Error { status } => write!(f, "answering {status}"),
            ReceiverFault::NoAnswer => f.write_str("not answering"),
            ReceiverFault::Slow { delay } => write!(f, "answering after {delay:?}"),
        }
    }
}

/// Shared between the faults (which set it) and the receivers (which read
/// it on every notification). Cloning shares the same switch.
#[derive(Debug, Clone, Default)]
pub struct ReceiverSwitch {
    faults: Arc<Mutex<BTreeMap<String, ReceiverFault>>>,
}

impl ReceiverSwitch {
    /// Put `kind`'s receiver under `fault`, or back to normal with `None`.
    /// An unknown kind is an error, not a silent no-op.
    pub fn set(&self, kind: &str, fault: Option<ReceiverFault>) -> Result<(), String> {
        if !RECEIVER_KINDS.contains(&kind) {
            return Err(format!(
                "no harness receiver {kind:?}; expected one of {}",
                RECEIVER_KINDS.join(", ")
            ));
        }
        let mut faults = self.faults.lock().map_err(|_| "receiver switch poisoned")?;
        match fault {
            Some(f) => faults.insert(kind.to_string(), f),
            None => faults.remove(kind),
        };
        Ok(())
    }

    /// The fault `kind`'s receiver is under now, if any.
    pub fn get(&self, kind: &str) -> Option<ReceiverFault> {
        self.faults.lock().ok()?.get(kind).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_shares_the_switch_and_unknown_receivers_are_refused() {
        let s = ReceiverSwitch::default();
        let seen = s.clone();
        s.set("pagerduty", Some(ReceiverFault::Error { status: 500 }))
            .unwrap();
        assert_eq!(
            seen.get("pagerduty"),
            Some(ReceiverFault::Error { status: 500 })
        );
        assert_eq!(seen.get("slack"), None);
        s.set("pagerduty", None).unwrap();
        assert_eq!(seen.get("pagerduty"), None);
        assert!(s.set("opsgenie", Some(ReceiverFault::NoAnswer)).is_err());
    }
}
