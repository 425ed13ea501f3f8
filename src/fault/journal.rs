//! The revert journal: what would still have to be undone if the harness
//! died now.
//!
//! Before an `exec` fault's inject command runs, the fault and its revert
//! command are appended to `revert-journal.jsonl` in the run directory and
//! synced to disk; after its revert succeeded, a line crosses it out. A
//! harness killed in between (SIGKILL, a crash, a lost machine) leaves the
//! fault open. `zeta-bench revert RUN_DIR` replays what is open, and `run`
//! and `up` refuse to start while any run directory in their output
//! directory has an open journal.
//!
//! Only names are kept of `pass_env` variables: their values (credentials)
//! are read again from the environment of `zeta-bench revert`.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::scenario::ExecCommand;

/// The journal's file name in a run directory.
pub const FILE: &str = "revert-journal.jsonl";
/// The largest journal read back (a run has at most a few hundred faults).
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// Written before the inject command runs.
    Open(OpenFault),
    /// Written once the revert succeeded.
    Closed {
        key: String,
        at: DateTime<Utc>,
        by: String,
    },
}

/// A fault that may be in force: everything needed to revert it by hand
/// or with `zeta-bench revert`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpenFault {
    /// The fault's name, and its trial when the run had several.
    pub key: String,
    pub target: String,
    pub revert: ExecCommand,
    /// The environment as given to the inject command, without the
    /// `pass_env` values.
    pub env: Vec<(String, String)>,
    pub pass_env: Vec<String>,
    pub at: DateTime<Utc>,
}

/// The journal of one run directory.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn in_dir(run_dir: &Path) -> Self {
        Journal {
            path: run_dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record `fault` as possibly in force, on disk, before it is injected.
    pub fn open(&self, fault: &OpenFault) -> std::io::Result<()> {
        self.append(&Entry::Open(fault.clone()))
    }

    /// Cross `key` out: it was reverted (`by` says how).
    pub fn close(&self, key: &str, by: &str) -> std::io::Result<()> {
        self.append(&Entry::Closed {
            key: key.to_string(),
            at: Utc::now(),
            by: by.to_string(),
        })
    }

    fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = owner_only().create(true).append(true).open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()
    }

    /// The faults opened and never closed, oldest first.
    pub fn still_open(&self) -> Result<Vec<OpenFault>, String> {
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        let text = crate::input::read_bounded_text(&self.path, MAX_BYTES)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let mut open: Vec<OpenFault> = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match serde_json::from_str::<Entry>(line) {
                Ok(Entry::Open(f)) => open.push(f),
                Ok(Entry::Closed { key, .. }) => open.retain(|f| f.key != key),
                // A line cut short by a crash mid-write: the open line
                // before it (synced first) still stands.
                Err(e) if i + 1 == text.lines().count() && !text.ends_with('\n') => {
                    tracing::warn!("{}: last line cut short: {e}", self.path.display());
                }
                Err(e) => {
                    return Err(format!(
                        "{}:{}: not a journal line: {e}",
                        self.path.display(),
                        i + 1
                    ));
                }
            }
        }
        Ok(open)
    }
}

fn owner_only() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.mode(0o600);
    o
}

/// Every run directory directly under `out` whose journal is still open,
/// with its open faults; or why one could not be read.
pub fn open_under(out: &Path) -> Vec<(PathBuf, Result<Vec<OpenFault>, String>)> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|dir| dir.join(FILE).is_file())
        .filter_map(|dir| {
            let open = Journal::in_dir(&dir).still_open();
            match &open {
                Ok(v) if v.is_empty() => None,
                _ => Some((dir, open)),
            }
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Why `run` or `up` will not start: every open journal under `out`, its
/// faults, and how to clear it. None when there is none.
pub fn refusal(out: &Path, command: &str) -> Option<String> {
    let open = open_under(out);
    if open.is_empty() {
        return None;
    }
    let mut s = format!(
        "zeta-bench {command}: not starting: an earlier run's faults may still be in force (its revert journal is open):"
    );
    for (dir, faults) in &open {
        match faults {
            Ok(faults) => {
                for f in faults {
                    s.push_str(&format!(
                        "\n  {}: fault {} on {} (revert: {})",
                        dir.display(),
                        f.key,
                        f.target,
                        super::exec::shell_line(&f.revert.argv)
                    ));
                }
            }
            Err(e) => s.push_str(&format!("\n  {}: unreadable journal: {e}", dir.display())),
        }
    }
    for (dir, _) in &open {
        s.push_str(&format!(
            "\nrun `zeta-bench revert {}` to revert and clear it (or revert by hand and delete {})",
            dir.display(),
            dir.join(FILE).display()
        ));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fault(key: &str) -> OpenFault {
        OpenFault {
            key: key.into(),
            target: "backend-api".into(),
            revert: ExecCommand {
                argv: vec!["systemctl".into(), "start".into(), "backend-api".into()],
                timeout: Duration::from_secs(30),
            },
            env: vec![("ZETA_FAULT".into(), key.into())],
            pass_env: vec!["TOKEN".into()],
            at: Utc::now(),
        }
    }

    #[test]
    fn a_fault_stays_open_until_crossed_out() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("run-1");
        std::fs::create_dir(&dir).unwrap();
        let j = Journal::in_dir(&dir);
        assert!(j.still_open().unwrap().is_empty());
        j.open(&fault("a")).unwrap();
        j.open(&fault("b")).unwrap();
        j.close("a", "reverted").unwrap();
        let open = j.still_open().unwrap();
        assert_eq!(open, vec![fault_at(&open[0], "b")]);
        let refusal = refusal(out.path(), "run").unwrap();
        assert!(
            refusal.contains("fault b on backend-api (revert: systemctl start backend-api)"),
            "{refusal}"
        );
        assert!(
            refusal.contains(&format!("zeta-bench revert {}", dir.display())),
            "{refusal}"
        );
        j.close("b", "reverted").unwrap();
        assert!(j.still_open().unwrap().is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(j.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    fn fault_at(like: &OpenFault, key: &str) -> OpenFault {
        OpenFault {
            at: like.at,
            ..fault(key)
        }
    }

    #[test]
    fn a_line_cut_short_by_a_crash_leaves_the_open_fault_open() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::in_dir(dir.path());
        j.open(&fault("a")).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap();
        f.write_all(br#"{"event":"closed","ke"#).unwrap();
        assert_eq!(j.still_open().unwrap().len(), 1);
    }

    #[test]
    fn a_garbled_journal_is_an_error_not_an_empty_one() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("run-1");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(FILE), "not json\n{}\n").unwrap();
        assert!(Journal::in_dir(&dir).still_open().is_err());
        let found = open_under(out.path());
        assert!(found.iter().any(|(d, r)| *d == dir && r.is_err()));
    }

    #[test]
    fn run_directories_without_open_journals_do_not_refuse() {
        let out = tempfile::tempdir().unwrap();
        let run = out.path().join("run-1");
        std::fs::create_dir(&run).unwrap();
        let j = Journal::in_dir(&run);
        j.open(&fault("a")).unwrap();
        j.close("a", "reverted").unwrap();
        assert!(refusal(out.path(), "run").is_none());
        assert!(refusal(&out.path().join("missing"), "run").is_none());
    }
}
