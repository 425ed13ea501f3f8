//! Shared helpers for the end-to-end tests: a private copy of the project's
//! scenario/stack/SLO files to modify, the real binary, and checks that
//! nothing the harness started is still alive.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_zeta-bench");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a finished `zeta-bench` printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Say that a test is skipped, and why, where the person running the tests
/// sees it: straight to stderr, which the test harness does not capture
/// (`eprintln!` output of a passing test is swallowed).
pub fn skip(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Whether Prometheus and Alertmanager are installed. In CI they must be
/// (`.ci/run` installs them): a missing binary fails there instead of
/// skipping.
pub fn stack_binaries_present(test: &str) -> bool {
    let on_path = |n: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(n).is_file()))
            .unwrap_or(false)
    };
    let ok =
        on_path("prometheus") && (on_path("prometheus-alertmanager") || on_path("alertmanager"));
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: prometheus/prometheus-alertmanager are not installed, and CI must have them (scripts/install.sh)"
        );
        skip(&format!(
            "SKIPPED {test}: prometheus and prometheus-alertmanager are not installed; run scripts/install.sh"
        ));
    }
    ok
}

/// A temporary copy of `stack/`, `slo/` and `scenarios/`.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["stack", "slo", "scenarios"] {
            copy_tree(&repo().join(sub), &dir.path().join(sub));
        }
        Project { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Replace `from` by `to` in a file, asserting `from` was there.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.path(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn out(&self) -> PathBuf {
        self.path("reports")
    }

    /// `zeta-bench ARGS…` in this project, to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[])
    }

    /// `zeta-bench ARGS…` with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "zeta_bench=info")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("running zeta-bench")
    }

    /// The one run directory under reports/.
    pub fn run_dir(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.out())
            .expect("reports/ exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs.pop().unwrap()
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A fast scenario for variants: 15× time scale, ~16 s of load.
pub const FAST_SCENARIO: &str = r#"
name: service-down-fast
stack: { dir: ../stack, time_scale: 15 }
slo: ../slo/phase1.yml
tenants: { count: 10, seed: 7 }
load:
  phases:
    - { name: steady, duration: 4m, rate: 40/s }
  mix:
    - { request: "GET /api/v1/recommendations?user_id={user}&k=5", weight: 1 }
faults:
  - { kind: service_down, target: backend-api, at: 30s, duration: 2m30s }
expect:
  alerts:
    - { name: ServiceDown, labels: { job: backend-api } }
"#;

/// Each `name pid url` of `pids.txt` whose process still exists.
pub fn survivors(run_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run_dir.join("pids.txt")).unwrap_or_default();
    assert!(!text.is_empty(), "no pids.txt in {}", run_dir.display());
    // Give init a moment to reap what the harness killed on its way out.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let alive: Vec<String> = text
            .lines()
            .filter(|l| {
                let pid = l.split_whitespace().nth(1).unwrap_or("0");
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| !s.contains(") Z "))
                    .unwrap_or(false)
            })
            .map(String::from)
            .collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ports from `pids.txt` that still accept connections.
pub fn bound_ports(run_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run_dir.join("pids.txt")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter_map(|url| {
            url.strip_prefix("http://")?
                .split('/')
                .next()
                .map(String::from)
        })
        .filter(|addr| {
            std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(200))
                .is_ok()
        })
        .collect()
}

/// A running `zeta-bench` whose output lines (stdout and stderr) can be
/// awaited.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn start(project: &Project, args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(project.dir.path())
            .env("RUST_LOG", "zeta_bench=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning zeta-bench");
        // stdout and stderr both feed the lines waited for.
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx2.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Wait for an output line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let hit = line.contains(needle);
                self.seen.push(line);
                if hit {
                    return;
                }
            }
        }
        panic!(
            "timed out after {timeout:?} waiting for {needle:?}; stderr so far:\n{}",
            self.seen.join("\n")
        );
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Wait for exit (bounded) and return the exit code.
    pub fn wait(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(50)) {
                    self.seen.push(l);
                }
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "zeta-bench did not exit within {timeout:?}; stderr:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
