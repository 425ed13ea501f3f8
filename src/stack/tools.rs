//! The stack's own validators, when installed: `promtool check config`
//! (which also checks the rule files) and `amtool check-config`.

use std::path::Path;
use std::process::Command;

use super::files::{ALERTMANAGER_CONFIG, PROMETHEUS_CONFIG};
use super::process::which;

/// One line per tool: `Ok` what passed (or that it was skipped), `Err` what
/// failed with the tool's own output.
pub fn check(stack: &Path) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    for (tool, args, file) in [
        ("promtool", vec!["check", "config"], PROMETHEUS_CONFIG),
        ("amtool", vec!["check-config"], ALERTMANAGER_CONFIG),
    ] {
        let path = stack.join(file);
        if which(tool).is_none() {
            out.push(Ok(format!(
                "{tool}: not installed, {} not checked by it",
                path.display()
            )));
            continue;
        }
        match Command::new(tool).args(&args).arg(&path).output() {
            Ok(o) if o.status.success() => out.push(Ok(format!(
                "{tool} {}: {} is valid",
                args.join(" "),
                path.display()
            ))),
            Ok(o) => out.push(Err(format!(
                "{tool} {} {} failed:\n{}{}",
                args.join(" "),
                path.display(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ))),
            Err(e) => out.push(Err(format!("{tool}: cannot run: {e}"))),
        }
    }
    out
}
