//! Diagnostics: one problem in one input file, printed as
//! `file:line:column: field.path: expected …, found …`.
//!
//! A problem with no place in a file is never printed at a made-up `:0:0`:
//! a command-line value (a field named `--flag`) reads
//! `command line: --flag: …`, and a problem with the whole file (it cannot
//! be read) reads `file: …`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Pos;

/// A problem in a user's file, with everything needed to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    /// Dotted path of the field, e.g. `faults[0].duration`.
    pub field: String,
    pub message: String,
}

impl Diagnostic {
    /// Whether the value came from the command line (`--trials`), not a file.
    fn is_a_flag(&self) -> bool {
        self.field.starts_with("--")
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_a_flag() {
            f.write_str("command line: ")?;
        } else if self.pos.line == 0 {
            write!(f, "{}: ", self.file.display())?;
        } else {
            write!(
                f,
                "{}:{}:{}: ",
                self.file.display(),
                self.pos.line,
                self.pos.column
            )?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one or more files. Validation returns this instead
/// of stopping at the first problem.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, file: &Path, pos: Pos, field: &str, message: impl Into<String>) {
        self.0.push(Diagnostic {
            file: file.to_path_buf(),
            pos,
            field: field.to_string(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Sorted by file and position, so the output reads top to bottom.
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// A validated value together with where it was written, so that checks that
/// run later (cross-references, plan limits) can still point at the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub pos: Pos,
    pub field: String,
}

impl<T> Located<T> {
    pub fn new(value: T, pos: Pos, field: impl Into<String>) -> Self {
        Located {
            value,
            pos,
            field: field.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(file: &str, line: usize, column: usize, field: &str) -> String {
        let mut d = Diagnostics::default();
        d.push(
            Path::new(file),
            Pos { line, column },
            field,
            "expected x, found y",
        );
        d.to_string()
    }

    #[test]
    fn a_problem_without_a_place_never_prints_zero_zero() {
        assert_eq!(
            diag("s.yml", 3, 7, "load.rate"),
            "s.yml:3:7: load.rate: expected x, found y"
        );
        assert_eq!(
            diag("s.yml", 0, 0, "--trials"),
            "command line: --trials: expected x, found y"
        );
        assert_eq!(
            diag("--time-scale", 0, 0, "--time-scale"),
            "command line: --time-scale: expected x, found y"
        );
        assert_eq!(diag("s.yml", 0, 0, ""), "s.yml: expected x, found y");
    }
}
