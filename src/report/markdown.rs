//! A Markdown summary for a pull-request comment or `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write;

use super::model::{RunResult, Verdict};
use crate::slo::check::Status;

/// Markdown table cells: no pipes or line breaks from user text.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn render(results: &[RunResult]) -> String {
    render_suite(results, &[])
}

/// A suite's summary: every result, and every scenario that could not run
/// with its message.
pub fn render_suite(results: &[RunResult], errored: &[super::Errored]) -> String {
    let mut o = String::new();
    let overall = results.iter().map(|r| r.verdict).max_by_key(|v| match v {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
        Verdict::Incomplete => 2,
    });
    let icon = |v: Verdict| match v {
        Verdict::Pass => "✅ PASS",
        Verdict::Fail => "❌ FAIL",
        Verdict::Incomplete => "⚠️ INCOMPLETE",
    };
    let headline = if errored.is_empty() {
        overall.map(icon).unwrap_or("no scenario ran")
    } else {
        "⛔ ERROR: not every scenario could run"
    };
    let _ = writeln!(o, "## zeta-bench: {headline}\n");
    for e in errored {
        let _ = writeln!(
            o,
            "### {} — ⛔ could not run (exit {})\n\n```\n{}\n```\n",
            cell(&e.scenario),
            e.exit,
            e.message.replace('`', "'")
        );
    }
    for r in results {
        let _ = writeln!(o, "### {} — {}\n", cell(&r.scenario.name), icon(r.verdict));
        if r.time_scale != 1.0 {
            let _ = writeln!(
                o,
                "Time scale {}: detection times are real-time equivalents (wall × {}).\n",
                r.time_scale, r.time_scale
            );
        }
        o.push_str("| SLO | Status | Target | Measured |\n|---|---|---|---|\n");
        for s in &r.slos {
            let status = match (s.status, s.required) {
                (Status::Pass, _) => "✅ pass",
                (Status::Fail, _) => "❌ fail",
                (Status::NotMeasured, true) => "❌ not measured (required)",
                (Status::NotMeasured, false) => "➖ not measured",
            };
            let _ = writeln!(
                o,
                "| {} | {status} | {} | {} |",
                s.name,
                cell(&s.target),
                cell(s.measured.as_deref().unwrap_or(""))
            );
        }
        let findings: Vec<String> = r
            .slos
            .iter()
            .filter(|s| s.status == Status::Fail)
            .flat_map(|s| {
                s.details
                    .iter()
                    .map(move |d| format!("- **{}**: {}", s.name, cell(d)))
            })
            .collect();
        if !findings.is_empty() {
            let _ = writeln!(o, "\n{}", findings.join("\n"));
        }
        o.push('\n');
    }
    o
}
