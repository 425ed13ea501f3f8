//! JUnit XML: one test suite per scenario, one test case per SLO, for CI
//! test views. A failed SLO is a `<failure>`; one that was not measured is
//! `<skipped>` when optional and a `<failure>` when required; a run that did
//! not complete is an `<error>`.

use std::fmt::Write;

use super::model::{RunResult, Verdict};
use crate::slo::check::Status;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub fn render(results: &[RunResult]) -> String {
    render_suite(results, &[])
}

/// A suite's JUnit file: every result, and every scenario that could not
/// run as an errored test case carrying its message, so a JUnit gate never
/// looks green because a scenario is missing.
pub fn render_suite(results: &[RunResult], errored: &[super::Errored]) -> String {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (tests, failures): (usize, usize) = results.iter().fold((0, 0), |(t, f), r| {
        (
            t + r.slos.len(),
            f + r.slos.iter().filter(|s| s.fails_run()).count(),
        )
    });
    let errors = errored.len()
        + results
            .iter()
            .filter(|r| r.verdict == Verdict::Incomplete)
            .count();
    let _ = writeln!(
        o,
        "<testsuites name=\"zeta-bench\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        tests + errored.len()
    );
    for e in errored {
        let _ = writeln!(
            o,
            "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    <testcase classname=\"zeta-bench.{0}\" name=\"run\"><error message=\"could not run (exit {1})\">{2}</error></testcase>\n  </testsuite>",
            escape(&e.scenario),
            e.exit,
            escape(&e.message)
        );
    }
    for r in results {
        let secs = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
        let fails = r.slos.iter().filter(|s| s.fails_run()).count();
        let skipped = r
            .slos
            .iter()
            .filter(|s| !s.required && s.status == Status::NotMeasured)
            .count();
        let errors = usize::from(r.verdict == Verdict::Incomplete);
        let _ = writeln!(
            o,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{secs:.3}\" timestamp=\"{}\">",
            escape(&r.scenario.name),
            r.slos.len(),
            r.started_at.format("%Y-%m-%dT%H:%M:%S")
        );
        for s in &r.slos {
            let _ = write!(
                o,
                "    <testcase classname=\"zeta-bench.{}\" name=\"{}\">",
                escape(&r.scenario.name),
                escape(s.name.name())
            );
            let body = format!(
                "target: {}\nmeasured: {}\n{}",
                s.target,
                s.measured.as_deref().unwrap_or("not measured"),
                s.details.join("\n")
            );
            match (s.status, s.required) {
                (Status::Pass, _) => {}
                (Status::Fail, _) => {
                    let _ = write!(
                        o,
                        "<failure message=\"{} failed\">{}</failure>",
                        escape(s.name.name()),
                        escape(&body)
                    );
                }
                (Status::NotMeasured, true) => {
                    let _ = write!(
                        o,
                        "<failure message=\"{} is required but was not measured\">{}</failure>",
                        escape(s.name.name()),
                        escape(&body)
                    );
                }
                (Status::NotMeasured, false) => {
                    let _ = write!(
                        o,
                        "<skipped message=\"not measured: {}\"/>",
                        escape(s.details.first().map(String::as_str).unwrap_or(""))
                    );
                }
            }
            o.push_str("</testcase>\n");
        }
        if r.verdict == Verdict::Incomplete {
            let _ = writeln!(
                o,
                "    <testcase classname=\"zeta-bench.{}\" name=\"run\"><error message=\"the run did not complete\">{}</error></testcase>",
                escape(&r.scenario.name),
                escape(&r.notes.join("\n"))
            );
        }
        o.push_str("  </testsuite>\n");
    }
    o.push_str("</testsuites>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\u{FFFD}"
        );
    }
}
