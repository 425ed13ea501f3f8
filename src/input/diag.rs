//! Diagnostics: one problem in one input file, printed as
//! `file:line:column: field.path: expected …, found …`.

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

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: ",
            self.file.display(),
            self.pos.line,
            self.pos.column
        )?;
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
