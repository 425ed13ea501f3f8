//! The run's result ([`model::RunResult`], one versioned serde model) and
//! its renderers. Every renderer reads only the result, so a report can be
//! re-rendered later from `result.json` (`zeta-bench report`).

pub mod baseline;
pub mod charts;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod read;
pub mod terminal;

pub use model::{RunResult, Verdict};

/// A scenario of a suite that produced no result: its file, exit code and
/// the message it exited with.
#[derive(Debug, Clone)]
pub struct Errored {
    pub scenario: String,
    pub exit: u8,
    pub message: String,
}

/// Write `report.html`, `junit.xml` and `summary.md` beside `result.json`.
pub fn write_all(r: &RunResult, dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::write(dir.join("report.html"), html::render(r)?).context("writing report.html")?;
    std::fs::write(
        dir.join("junit.xml"),
        junit::render(std::slice::from_ref(r)),
    )
    .context("writing junit.xml")?;
    std::fs::write(
        dir.join("summary.md"),
        markdown::render(std::slice::from_ref(r)),
    )
    .context("writing summary.md")?;
    Ok(())
}
