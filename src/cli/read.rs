//! Reading earlier results back: `result.json` files for `report`, and the
//! `--baseline` with its `--tolerance`. Every failure is an input error
//! (exit 2) that names the file and, for JSON, the line and column.

use std::path::Path;

use crate::report::RunResult;
use crate::report::baseline::Tolerances;

use super::Exit;

/// A result file, or the message that says why it is not one.
pub(super) fn read_result(path: &Path) -> Result<RunResult, String> {
    let text = crate::input::read_bounded_text(path, crate::input::limits::RESULT)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    crate::report::read::parse_result(path, &text)
}

/// The baseline result and tolerances (`None` without `--baseline`).
pub(super) fn load_baseline(
    path: Option<&Path>,
    tolerance: Option<&str>,
) -> Result<Option<(RunResult, Tolerances)>, Exit> {
    let tol = match tolerance.map(Tolerances::parse) {
        None => Tolerances::default(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("zeta-bench: --tolerance: {e}");
            return Err(Exit::Input);
        }
    };
    let Some(path) = path else { return Ok(None) };
    match read_result(path) {
        Ok(base) => Ok(Some((base, tol))),
        Err(e) => {
            eprintln!("{e} (the baseline)");
            Err(Exit::Input)
        }
    }
}
