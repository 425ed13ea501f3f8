//! The stack's own validators, when installed: `promtool check config`
//! (which also checks the rule files) and `amtool check-config`. `validate`
//! runs them on `stack/`; a native run runs the chosen versions' own tools
//! on the rendered configs before starting anything, so each Prometheus and
//! Alertmanager version checks what it is given.

use std::path::Path;
use std::process::Command;

use crate::stackfiles::files::{ALERTMANAGER_CONFIG, PROMETHEUS_CONFIG};

/// A server's own config check: the tool, and its arguments before the
/// file.
pub struct Validator {
    pub tool: &'static str,
    pub args: &'static [&'static str],
}

/// Prometheus' (which also checks the rule files).
pub const PROMTOOL: Validator = Validator {
    tool: "promtool",
    args: &["check", "config"],
};

/// Alertmanager's.
pub const AMTOOL: Validator = Validator {
    tool: "amtool",
    args: &["check-config"],
};

/// The validator beside a chosen server binary (`promtool` next to
/// `prometheus`), else the chosen or usual one.
pub fn validator(
    binaries: &super::binaries::Binaries,
    tool: &str,
    server: &Path,
) -> Option<std::path::PathBuf> {
    if let Some(p) = binaries.get(tool) {
        return Some(p.to_path_buf());
    }
    let sibling = server.parent().map(|d| d.join(tool));
    sibling
        .filter(|p| p.is_file())
        .or_else(|| super::binaries::find(binaries, tool, &[tool]))
}

/// Run `tool args… file`; `Err` with the tool's output when it refuses it.
pub fn run_check(tool: &Path, args: &[&str], file: &Path) -> Result<String, String> {
    match Command::new(tool).args(args).arg(file).output() {
        Ok(o) if o.status.success() => Ok(format!(
            "{} {}: {} is valid",
            tool.display(),
            args.join(" "),
            file.display()
        )),
        Ok(o) => Err(format!(
            "{} {} {} failed:\n{}{}",
            tool.display(),
            args.join(" "),
            file.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("{}: cannot run: {e}", tool.display())),
    }
}

/// A rendered config checked by the chosen server's own validator
/// (`promtool check config` beside `prometheus`, `amtool check-config`
/// beside `alertmanager`), when there is one: a config one version accepts
/// and another refuses is found before the server starts.
pub fn check_rendered(
    binaries: &super::binaries::Binaries,
    check: &Validator,
    server: &Path,
    file: &Path,
) -> anyhow::Result<()> {
    let Some(tool) = validator(binaries, check.tool, server) else {
        return Ok(());
    };
    match run_check(&tool, check.args, file) {
        Ok(line) => {
            tracing::info!("{line}");
            Ok(())
        }
        Err(e) => anyhow::bail!("the rendered config does not pass this version's own check: {e}"),
    }
}

/// One line per tool: `Ok` what passed (or that it was skipped), `Err` what
/// failed with the tool's own output. The tools are the chosen ones, else
/// those on PATH, else the install cache's.
pub fn check(stack: &Path, binaries: &super::binaries::Binaries) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    for (check, file) in [(PROMTOOL, PROMETHEUS_CONFIG), (AMTOOL, ALERTMANAGER_CONFIG)] {
        let path = stack.join(file);
        match super::binaries::find(binaries, check.tool, &[check.tool]) {
            None => out.push(Ok(format!(
                "{}: not installed, {} not checked by it",
                check.tool,
                path.display()
            ))),
            Some(program) => out.push(run_check(&program, check.args, &path)),
        }
    }
    out
}
