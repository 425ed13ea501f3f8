//! `zeta-bench report` (re-render earlier results, compare with a
//! baseline, merge sharded load reports) and `zeta-bench schema`.

use std::path::{Path, PathBuf};

use crate::report::{RunResult, terminal};

use super::Exit;
use super::args::ReportArgs;
use super::read::{load_baseline, read_result};

pub(super) fn report(a: ReportArgs) -> Exit {
    if let Some(exit) = merge_load_reports(&a.results, a.merged.as_deref()) {
        return exit;
    }
    let baseline = match load_baseline(a.baseline.as_deref(), a.tolerance.as_deref()) {
        Ok(b) => b,
        Err(exit) => return exit,
    };
    let mut loaded = Vec::new();
    for path in &a.results {
        match read_result(path) {
            Ok(r) => loaded.push(r),
            Err(e) => {
                eprintln!("{e}");
                return Exit::Input;
            }
        }
    }
    if let Some((base, tol)) = &baseline {
        for r in loaded.iter_mut() {
            crate::report::baseline::apply(r, base, *tol);
        }
    }
    for r in &loaded {
        print!("{}", terminal::render(r));
    }
    if let Err(e) = write_files(&a, &loaded) {
        eprintln!("zeta-bench report: {e:#}");
        return Exit::CouldNotRun;
    }
    loaded.iter().map(Exit::from).max().unwrap_or(Exit::Pass)
}

fn write_files(a: &ReportArgs, loaded: &[RunResult]) -> anyhow::Result<()> {
    if let Some(f) = &a.html {
        std::fs::write(f, crate::report::html::render(&loaded[0])?)?;
    }
    if let Some(f) = &a.junit {
        std::fs::write(f, crate::report::junit::render(loaded))?;
    }
    if let Some(f) = &a.markdown {
        std::fs::write(f, crate::report::markdown::render(loaded))?;
    }
    Ok(())
}

pub(super) fn schema() -> Exit {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::report::model::json_schema()).unwrap_or_default()
    );
    Exit::Pass
}

/// When every file is a load report (`zeta-bench load --out`), merge them
/// losslessly, print the merged summary and optionally write it; `None`
/// when the files are run results.
fn merge_load_reports(paths: &[PathBuf], out: Option<&Path>) -> Option<Exit> {
    let mut reports = Vec::new();
    for p in paths {
        let text = crate::input::read_bounded_text(p, crate::input::limits::RESULT).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        if v.get("schema_version").is_some() || v.get("raw").is_none() {
            return None;
        }
        match serde_json::from_value::<crate::load::record::LoadReport>(v) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("{}: not a zeta-bench load report: {e}", p.display());
                return Some(Exit::Input);
            }
        }
    }
    let merged = match crate::load::record::merge_reports(&reports) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "zeta-bench report: cannot merge {} load reports: {e}",
                reports.len()
            );
            return Some(Exit::Input);
        }
    };
    println!("merged {} load reports", reports.len());
    crate::load::cli::print_summary(&merged);
    if let Some(out) = out {
        let written = serde_json::to_string(&merged)
            .map_err(anyhow::Error::from)
            .and_then(|j| std::fs::write(out, j).map_err(anyhow::Error::from));
        if let Err(e) = written {
            eprintln!("zeta-bench report: writing {}: {e}", out.display());
            return Some(Exit::CouldNotRun);
        }
    }
    Some(Exit::Pass)
}
