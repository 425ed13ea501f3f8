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

/// What a test needs from the machine, and why it is missing if it is.
/// A missing need skips the test off CI (counted and listed by
/// `scripts/test.sh`, never shown as a pass) and fails it under CI,
/// unless CI cannot have it either ([`Need::optional`]).
pub struct Need {
    missing: Option<String>,
    ci_must_have: bool,
}

impl Need {
    /// Met when `ok`; otherwise missing, for `why`.
    pub fn unless(ok: bool, why: impl Into<String>) -> Need {
        Need {
            missing: (!ok).then(|| why.into()),
            ci_must_have: true,
        }
    }

    /// CI may lack it too (a Docker engine): skipped there as well.
    pub fn optional(self) -> Need {
        Need {
            ci_must_have: false,
            ..self
        }
    }

    /// Whether the need is met; if not, the skip is said and recorded (or,
    /// under CI, the test fails).
    pub fn check(self, test: &str) -> bool {
        let Some(why) = self.missing else {
            return true;
        };
        assert!(
            !(self.ci_must_have && std::env::var_os("CI").is_some()),
            "{test}: {why}, and CI must have it (scripts/install.sh installs it)"
        );
        record_skip(test, &why);
        false
    }
}

/// Where skipped tests are listed, one `test: why` a line, for
/// `scripts/test.sh`'s count.
pub fn skip_log() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt")
}

/// A line for the person running the tests, straight to stderr (which the
/// test harness does not capture).
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Say that a test is skipped, and why: on stderr, which the test harness
/// does not capture, and in [`skip_log`].
fn record_skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skip_log())
        .and_then(|mut f| writeln!(f, "{test}: {why}"));
}

/// The test's own name, from the type name of a function declared in it
/// (`crate::test_fn::{{closure}}::here` inside an async test).
pub fn test_name_of(type_name: &str) -> &str {
    type_name
        .split("::")
        .filter(|seg| *seg != "here" && *seg != "{{closure}}")
        .last()
        .unwrap_or(type_name)
}

/// The name of the test function this is written in.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn here() {}
        $crate::common::test_name_of(std::any::type_name_of_val(&here))
    }};
}

/// Return from the test, skipped, unless every need is met.
#[macro_export]
macro_rules! needs {
    ($($need:expr),+ $(,)?) => {
        $(
            if !$crate::common::Need::check($need, $crate::test_name!()) {
                return;
            }
        )+
    };
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Prometheus and Alertmanager, which every end-to-end run starts.
pub fn stack() -> Need {
    Need::unless(
        on_path("prometheus") && (on_path("prometheus-alertmanager") || on_path("alertmanager")),
        "prometheus and prometheus-alertmanager are not installed",
    )
}

/// Whether the Go-built `toxiproxy-server` is where the harness looks.
pub fn toxiproxy_built() -> bool {
    zeta_bench::stack::binaries::find(
        &zeta_bench::stack::binaries::Binaries::new(Default::default()),
        "toxiproxy",
        zeta_bench::stack::toxiproxy::PROGRAMS,
    )
    .is_some()
}

/// The Go-built Toxiproxy (network faults).
pub fn toxiproxy() -> Need {
    Need::unless(
        toxiproxy_built(),
        "toxiproxy-server is not built (scripts/go-tools.sh)",
    )
}

/// One of these programs, for `what`.
pub fn program(names: &[&str], what: &str) -> Need {
    Need::unless(
        names.iter().any(|n| on_path(n)),
        format!("{} is not installed ({what})", names[0]),
    )
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

    /// The shipped stack with ServiceDown reading a recording rule
    /// (`job:up:min`, in a rule file of its own), the way most teams write
    /// alerts.
    pub fn service_down_on_a_recording_rule(&self) {
        self.edit(
            "stack/prometheus/alert-rules.yml",
            "expr: up{job=~\"backend-api|ml-engine\"} == 0",
            "expr: job:up:min == 0",
        );
        self.write(
            "stack/prometheus/recording-rules.yml",
            "groups:\n  - name: recorded\n    rules:\n      - record: job:up:min\n        expr: min by (job, instance, service) (up{job=~\"backend-api|ml-engine\"})\n",
        );
        self.edit(
            "stack/prometheus/prometheus.yml",
            "  - alert-rules.yml",
            "  - alert-rules.yml\n  - recording-rules.yml",
        );
    }

    /// `zeta-bench run SCENARIO --out reports` in this project: its exit
    /// code and output, after checking that no process it started
    /// survived it.
    pub fn run_scenario(&self, scenario: &str) -> (i32, String) {
        let out = self.run(&["run", scenario, "--out", "reports"]);
        let text = text(&out);
        let dir = self.run_dir();
        assert!(survivors(&dir).is_empty(), "{:?}", survivors(&dir));
        (out.status.code().unwrap_or(-1), text)
    }

    /// The run's `result.json`, through the crate's own model.
    pub fn result(&self) -> zeta_bench::report::model::RunResult {
        let path = self.run_dir().join("result.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The status of one SLO in the run's `result.json`.
    pub fn status(&self, slo: zeta_bench::names::SloKind) -> zeta_bench::slo::check::Status {
        let r = self.result();
        r.slos
            .iter()
            .find(|s| s.name == slo)
            .unwrap_or_else(|| panic!("result.json has no {slo} SLO"))
            .status
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

pub fn copy_tree(from: &Path, to: &Path) {
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
