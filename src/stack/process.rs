//! Child processes the harness starts, and the guarantee that it stops them.
//!
//! Every component runs in its own process group, so that stopping it stops
//! whatever it forked too. Stopping is SIGTERM, then SIGKILL after a grace
//! period. A [`Supervised`] that is dropped while its process still runs
//! (early return, panic) SIGKILLs the group on the spot: teardown does not
//! depend on every code path remembering to call it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How to start one component and how to tell it is ready.
#[derive(Clone)]
pub struct Spec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// stdout and stderr go here (appended across restarts).
    pub log: PathBuf,
    pub ready: Ready,
    pub ready_timeout: Duration,
    /// What asks it to stop (PostgreSQL: SIGINT, its "fast" shutdown).
    pub stop_signal: Signal,
    /// Every spawn appends `name pid ready_url` here, so that anyone (a
    /// person, a test) can check afterwards that nothing survived.
    pub pid_file: Option<PathBuf>,
}

impl Spec {
    /// The same spec, given `timeout` to become ready (a component slower
    /// to start than most).
    pub fn ready_within(self, timeout: Duration) -> Spec {
        Spec {
            ready_timeout: timeout,
            ..self
        }
    }
}

/// Environment values can be secrets (Grafana's admin password): `Debug`
/// names the variables only.
impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("name", &self.name)
            .field("program", &self.program)
            .field("args", &self.args)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("log", &self.log)
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

/// How to tell a component is ready.
#[derive(Debug, Clone)]
pub enum Ready {
    /// The URL answers 2xx.
    Http(String),
    /// The address accepts TCP connections.
    Tcp(String),
    /// A PostgreSQL session opens and answers a query.
    Postgres(String),
}

impl Ready {
    /// Where it listens, as recorded in pids.txt.
    pub fn address(&self) -> String {
        match self {
            Ready::Http(u) => u.clone(),
            Ready::Tcp(a) => format!("tcp://{a}"),
            Ready::Postgres(c) => c
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("port="))
                .map(|p| format!("tcp://127.0.0.1:{p}"))
                .unwrap_or_default(),
        }
    }

    pub async fn check(&self, http: &reqwest::Client) -> Result<(), String> {
        match self {
            Ready::Http(url) => match http.get(url).timeout(Duration::from_secs(1)).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(crate::http::http_error(&e)),
            },
            Ready::Tcp(addr) => {
                match tokio::time::timeout(
                    Duration::from_secs(1),
                    tokio::net::TcpStream::connect(addr),
                )
                .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("connect timed out".into()),
                }
            }
            Ready::Postgres(conn) => {
                let attempt = tokio::time::timeout(Duration::from_secs(2), async {
                    let (client, connection) =
                        tokio_postgres::connect(conn, tokio_postgres::NoTls).await?;
                    let task = tokio::spawn(connection);
                    let r = client.simple_query("SELECT 1").await.map(|_| ());
                    drop(client);
                    task.abort();
                    r
                })
                .await;
                match attempt {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".into()),
                }
            }
        }
    }
}

/// Why a component could not start: named, with its last log lines.
#[derive(Debug, thiserror::Error)]
#[error("{component} could not start: {reason}\n--- last lines of {log} ---\n{last_lines}")]
pub struct StartError {
    pub component: String,
    pub reason: String,
    pub log: String,
    pub last_lines: String,
}

pub struct Supervised {
    pub spec: Spec,
    child: Option<Child>,
    pgid: Option<i32>,
    pub started_at: Option<Instant>,
    /// SIGSTOPped by a freeze fault: stop() resumes it first.
    frozen: bool,
}

impl Supervised {
    pub fn new(spec: Spec) -> Self {
        Supervised {
            spec,
            child: None,
            pgid: None,
            started_at: None,
            frozen: false,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.pgid.map(|p| p as u32)
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Spawn and wait until ready. On failure the process is stopped and the
    /// error carries the reason and the log's last lines.
    pub async fn start(&mut self, http: &reqwest::Client) -> Result<(), StartError> {
        let spec = &self.spec;
        let fail = |reason: String| StartError {
            component: spec.name.clone(),
            reason,
            log: spec.log.display().to_string(),
            last_lines: last_lines(&spec.log, 20),
        };
        let log = open_log(&spec.log).map_err(|e| fail(format!("cannot open its log: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| fail(format!("cannot open its log: {e}")))?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", spec.program.display())))?;
        self.pgid = child.id().map(|p| p as i32);
        if let (Some(file), Some(pid)) = (&spec.pid_file, self.pgid) {
            use std::io::Write;
            let line = format!("{} {pid} {}\n", spec.name, spec.ready.address());
            let _ = open_log(file).and_then(|mut f| f.write_all(line.as_bytes()));
        }
        self.child = Some(child);
        self.started_at = Some(Instant::now());

        let deadline = Instant::now() + spec.ready_timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let reason = format!("it exited during start-up ({status})");
                self.child = None;
                return Err(fail_now(&self.spec, reason));
            }
            let attempt = self.spec.ready.check(http).await;
            if attempt.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let last = attempt.err().unwrap_or_default();
                self.kill().await;
                return Err(fail_now(
                    &self.spec,
                    format!(
                        "timed out after {:?} waiting for it to be ready at {} (last: {last})",
                        self.spec.ready_timeout,
                        self.spec.ready.address()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL the process group and reap the child.
    pub async fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
        self.pgid = None;
    }

    /// Its stop signal (SIGTERM unless the spec says otherwise), then
    /// SIGKILL after `grace`. Returns whether it stopped within the grace
    /// period.
    pub async fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        // A stopped process cannot act on a stop signal.
        if self.frozen {
            self.thaw();
        }
        self.signal(self.spec.stop_signal);
        let graceful = tokio::time::timeout(grace, c.wait()).await.is_ok();
        // The group may still hold children even when the leader exited.
        self.signal(Signal::SIGKILL);
        if !graceful {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
        self.pgid = None;
        graceful
    }

    /// SIGSTOP the process group: the process stays, answers nothing.
    pub fn freeze(&mut self) -> bool {
        if !self.is_running() {
            return false;
        }
        self.signal(Signal::SIGSTOP);
        self.frozen = true;
        true
    }

    /// SIGHUP: reload the configuration (Prometheus, Alertmanager).
    pub fn reload(&mut self) -> bool {
        if !self.is_running() {
            return false;
        }
        self.signal(Signal::SIGHUP);
        true
    }

    /// SIGCONT a frozen process group.
    pub fn thaw(&mut self) {
        self.signal(Signal::SIGCONT);
        self.frozen = false;
    }

    fn signal(&self, sig: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (already gone) is the normal case after an exit.
            let _ = killpg(Pid::from_raw(pgid), sig);
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal(Signal::SIGKILL);
        }
    }
}

fn fail_now(spec: &Spec, reason: String) -> StartError {
    StartError {
        component: spec.name.clone(),
        reason,
        log: spec.log.display().to_string(),
        last_lines: last_lines(&spec.log, 20),
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// The last `n` lines of a log file, for error messages.
pub fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    if lines.is_empty() {
        "(the log is empty)".to_string()
    } else {
        lines[start..].join("\n")
    }
}

/// A free TCP port on 127.0.0.1, chosen below the kernel's ephemeral range
/// (`ip_local_port_range`). A port from `bind(0)` comes from that range,
/// where every outgoing connection (the load engine opens thousands) also
/// takes its local port, so between choosing it and the component binding
/// it another connection could take it. Below the range only another
/// listener can; start-up then fails with the component's own "address in
/// use" line in the error. Falls back to `bind(0)`.
///
/// A port is only tested, not held, until its component binds it, so two
/// choices could meet: a run picks 30 to 40 ports at random from about
/// 22 000 (a 2–3 % chance of picking one twice), and two runs at once pick
/// from the same range. Each port handed out is therefore reserved, in this
/// process and, through a file named after it in [`ports_dir`] holding the
/// owner's pid, against every other zeta-bench on the machine; a file whose
/// process is gone is stale and is taken over. [`release_ports`] removes
/// this process's files and sweeps those of processes that are gone.
pub fn free_port() -> std::io::Result<u16> {
    let low = ephemeral_low().unwrap_or(32768);
    let (from, to) = (10_000u16, low.saturating_sub(1).max(10_001));
    for _ in 0..256 {
        let port = rand::random_range(from..=to);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() && reserve(port) {
            return Ok(port);
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Ports this process has handed out.
static RESERVED: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Where zeta-bench processes on this machine record the ports they hold.
pub fn ports_dir() -> PathBuf {
    std::env::temp_dir().join("zeta-bench-ports")
}

/// Claim `port` for this process: not yet handed out here, and no live
/// zeta-bench holds its file.
fn reserve(port: u16) -> bool {
    let mut mine = RESERVED.lock().expect("port reservations poisoned");
    if mine.contains(&port) {
        return false;
    }
    let dir = ports_dir();
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(port.to_string());
    let me = std::process::id().to_string();
    let claimed = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
    {
        Ok(mut f) => std::io::Write::write_all(&mut f, me.as_bytes()).is_ok(),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let owner = std::fs::read_to_string(&file).unwrap_or_default();
            let alive = owner.trim().parse::<u32>().is_ok_and(|pid| {
                pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
            });
            !alive && std::fs::write(&file, &me).is_ok()
        }
        // No writable temp dir: this process's own set still holds.
        Err(_) => true,
    };
    if claimed {
        mine.insert(port);
    }
    claimed
}

/// Give back every port this process reserved (its components are gone),
/// and sweep the files of processes that are gone: one killed before its
/// teardown, or one whose stack failed to start, cannot clean up itself.
pub fn release_ports() {
    let mut mine = RESERVED.lock().expect("port reservations poisoned");
    let me = std::process::id().to_string();
    for port in std::mem::take(&mut *mine) {
        let file = ports_dir().join(port.to_string());
        if std::fs::read_to_string(&file).is_ok_and(|o| o.trim() == me) {
            let _ = std::fs::remove_file(file);
        }
    }
    for e in std::fs::read_dir(ports_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let owner = std::fs::read_to_string(e.path()).unwrap_or_default();
        let gone = owner
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if gone {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The low end of the kernel's ephemeral port range, where it says.
fn ephemeral_low() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Find a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The first of `names` found on PATH.
pub fn which_any(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|n| which(n))
}

/// First line of `program --version` (both Prometheus and Alertmanager print
/// it on stderr).
pub async fn version(program: &Path) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        Command::new(program).arg("--version").output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    version_line(&String::from_utf8_lossy(&text))
}

/// The version from a `--version` output's first line. Jaeger v2 has no
/// `--version`, but logs `application version: git-commit=…,
/// git-version=v…` before refusing the flag: that becomes `jaeger v…`.
fn version_line(text: &str) -> Option<String> {
    let first = text.lines().next()?.trim();
    match first.split_once("application version:") {
        Some((_, rest)) => {
            let v = rest
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("git-version="))
                .filter(|v| !v.is_empty())
                .unwrap_or("(version not set at build time)");
            Some(format!("jaeger {v}"))
        }
        None => Some(first.to_string()),
    }
}

/// A component of the stack: a child process, or (docker provider) a
/// container. The same lifecycle and fault operations on both.
// About ten per run: their size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Unit {
    Process(Supervised),
    Container(super::docker::Container),
}

impl Unit {
    pub fn spec(&self) -> &Spec {
        match self {
            Unit::Process(p) => &p.spec,
            Unit::Container(c) => &c.spec,
        }
    }

    /// How it is identified in logs: its process group or its container.
    pub fn describe(&self) -> String {
        match self {
            Unit::Process(p) => format!("pid {}", p.pid().unwrap_or(0)),
            Unit::Container(_) => "container".into(),
        }
    }

    pub async fn start(&mut self, http: &reqwest::Client) -> Result<(), StartError> {
        match self {
            Unit::Process(p) => p.start(http).await,
            Unit::Container(c) => c.start(http).await,
        }
    }

    pub async fn is_running(&mut self) -> bool {
        match self {
            Unit::Process(p) => p.is_running(),
            Unit::Container(c) => c.is_running().await,
        }
    }

    pub async fn kill(&mut self) {
        match self {
            Unit::Process(p) => p.kill().await,
            Unit::Container(c) => c.kill().await,
        }
    }

    /// Stop (to be started again, e.g. by a fault's revert).
    pub async fn stop(&mut self, grace: Duration) -> bool {
        match self {
            Unit::Process(p) => p.stop(grace).await,
            Unit::Container(c) => c.stop(grace).await,
        }
    }

    /// Stop for good (teardown): a container is also removed.
    pub async fn shut_down(&mut self, grace: Duration) -> bool {
        match self {
            Unit::Process(p) => p.stop(grace).await,
            Unit::Container(c) => c.remove(grace).await,
        }
    }

    pub async fn freeze(&mut self) -> bool {
        match self {
            Unit::Process(p) => p.freeze(),
            Unit::Container(c) => c.freeze().await,
        }
    }

    pub async fn thaw(&mut self) {
        match self {
            Unit::Process(p) => p.thaw(),
            Unit::Container(c) => c.thaw().await,
        }
    }

    /// Reload its configuration (SIGHUP); a container is not reloaded.
    pub fn reload(&mut self) -> bool {
        match self {
            Unit::Process(p) => p.reload(),
            Unit::Container(_) => false,
        }
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn free_ports_are_reserved_once_released_and_stale_ones_taken_over() {
        let ports: Vec<u16> = (0..500).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
        let file = ports_dir().join(ports[0].to_string());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            std::process::id().to_string(),
            "reserved machine-wide"
        );
        release_ports();
        assert!(!file.exists());
        // In the same test: release_ports gives back all of this process's.
        let dir = ports_dir();
        std::fs::create_dir_all(&dir).unwrap();
        // pid 0 is never a live process in /proc; pid 1 always is.
        std::fs::write(dir.join("10007"), "0").unwrap();
        assert!(reserve(10_007));
        assert_eq!(
            std::fs::read_to_string(dir.join("10007")).unwrap(),
            std::process::id().to_string()
        );
        std::fs::write(dir.join("10008"), "1").unwrap();
        assert!(!reserve(10_008));
        let _ = std::fs::remove_file(dir.join("10008"));
        // A dead process's file is swept at release.
        std::fs::write(dir.join("10009"), "0").unwrap();
        release_ports();
        assert!(!dir.join("10007").exists());
        assert!(!dir.join("10009").exists());
    }
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn jaegers_log_line_becomes_its_version() {
        let line = "2026/12/01 13:59:48 application version: git-commit=, git-version=v1.76.0, build-date=\nError: unknown flag";
        assert_eq!(super::version_line(line).as_deref(), Some("jaeger v1.76.0"));
        assert_eq!(
            super::version_line("prometheus, version 2.42.0+ds (branch: debian/sid)").as_deref(),
            Some("prometheus, version 2.42.0+ds (branch: debian/sid)")
        );
        assert!(super::version_line("").is_none());
    }

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_bindable() {
        let low = super::ephemeral_low().unwrap_or(32768);
        for _ in 0..20 {
            let p = super::free_port().unwrap();
            assert!(p < low, "{p} is in the ephemeral range from {low}");
            std::net::TcpListener::bind(("127.0.0.1", p)).unwrap();
        }
    }
}
