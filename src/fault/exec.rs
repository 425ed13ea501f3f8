//! The commands of `exec` faults: the engines a team already runs
//! (kubectl, docker, systemctl, ssh, a Chaos Mesh manifest), driven rather
//! than rewritten.
//!
//! Each command is an argv run without a shell, in a process group of its
//! own, with stdin closed and an explicit environment: `PATH` and `HOME`
//! from the harness, the `ZETA_*` variables that say which fault and target
//! it is for, the fault's `env:` as written, and the `pass_env:` names from
//! the harness's environment (credentials: their values are redacted from
//! every line the harness writes). Each has a timeout; past it the whole
//! group is killed. What it printed goes to the drill log, `faults.log` in
//! the run directory, and its last lines into any error that names it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::scenario::{ExecCommand, ExecFault};

/// The drill log in a run directory.
pub const LOG: &str = "faults.log";
/// How many of the last lines an error quotes.
const TAIL_LINES: usize = 8;
/// The most output kept from one command (the rest goes unread).
const KEEP_BYTES: usize = 64 * 1024;
/// After the command exits, how long output from children it left running
/// (a restarted service holding the pipe) is still read.
const AFTER_EXIT: Duration = Duration::from_millis(200);

/// The environment of a fault's commands, and the values to redact.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub vars: Vec<(String, String)>,
    secrets: Vec<String>,
}

/// What a fault's commands are told about it.
pub struct Context<'a> {
    pub fault: &'a str,
    pub target: &'a str,
    pub target_url: Option<&'a str>,
    pub run_dir: &'a Path,
}

impl Env {
    /// The environment for `spec`'s commands, or the `pass_env` name the
    /// harness's environment lacks.
    pub fn new(
        literal: &[(String, String)],
        pass_env: &[String],
        ctx: &Context<'_>,
    ) -> Result<Env, String> {
        let mut vars = vec![
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            ),
            ("ZETA_FAULT".into(), ctx.fault.to_string()),
            ("ZETA_TARGET".into(), ctx.target.to_string()),
            ("ZETA_RUN_DIR".into(), ctx.run_dir.display().to_string()),
        ];
        if let Ok(home) = std::env::var("HOME") {
            vars.push(("HOME".into(), home));
        }
        if let Some(url) = ctx.target_url {
            vars.push(("ZETA_TARGET_URL".into(), url.to_string()));
        }
        vars.extend(literal.iter().cloned());
        let mut secrets = Vec::new();
        for name in pass_env {
            let value = std::env::var(name).map_err(|_| {
                format!("pass_env names {name}, which is not set in zeta-bench's environment")
            })?;
            if value.len() >= 4 {
                secrets.push(value.clone());
            }
            vars.push((name.clone(), value));
        }
        Ok(Env { vars, secrets })
    }

    /// A journaled environment, with the `pass_env` values read again:
    /// those named in `secret_names` are redacted.
    pub fn from_vars(vars: Vec<(String, String)>, secret_names: &[String]) -> Env {
        let secrets = vars
            .iter()
            .filter(|(k, v)| secret_names.contains(k) && v.len() >= 4)
            .map(|(_, v)| v.clone())
            .collect();
        Env { vars, secrets }
    }

    /// For a fault of the scenario.
    pub fn for_fault(spec: &ExecFault, ctx: &Context<'_>) -> Result<Env, String> {
        Env::new(&spec.env, &spec.pass_env, ctx)
    }

    /// `text` with every secret value replaced.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s, "[redacted]"))
    }
}

/// How one command ended.
#[derive(Debug, Clone)]
pub struct Ran {
    /// Its exit code; None when it was killed (by the timeout or a signal).
    pub code: Option<i32>,
    pub timed_out: bool,
    /// Its last lines, redacted.
    pub tail: String,
    pub elapsed: Duration,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// "exit status 3", "killed after its 30s timeout", "killed by a signal".
    pub fn status(&self, timeout: Duration) -> String {
        match (self.code, self.timed_out) {
            (_, true) => format!(
                "killed after its {} timeout",
                crate::input::units::human_duration(timeout)
            ),
            (Some(c), _) => format!("exit status {c}"),
            (None, _) => "killed by a signal".into(),
        }
    }
}

/// The argv as a line a person can paste into a shell.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a fault's commands write: the drill log of a run directory.
#[derive(Debug, Clone)]
pub struct DrillLog(pub PathBuf);

impl DrillLog {
    pub fn in_dir(run_dir: &Path) -> Self {
        DrillLog(run_dir.join(LOG))
    }

    pub fn write(&self, line: &str) {
        use std::io::Write;
        let stamped = format!("{} {line}\n", chrono::Utc::now().format("%H:%M:%S%.3f"));
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .and_then(|mut f| f.write_all(stamped.as_bytes()));
        if let Err(e) = appended {
            tracing::warn!("writing the drill log {}: {e}", self.0.display());
        }
    }
}

/// Run `cmd` for `what` ("inject of fault f"); Err only when it could not
/// be started at all.
pub async fn run(cmd: &ExecCommand, env: &Env, log: &DrillLog, what: &str) -> Result<Ran, String> {
    let line = shell_line(&cmd.argv);
    log.write(&format!("{what}: $ {}", env.redact(&line)));
    let (program, args) = cmd
        .argv
        .split_first()
        .ok_or_else(|| format!("{what}: the command is empty"))?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{what}: starting `{line}`: {e}"))?;
    let output = Arc::new(Mutex::new(Vec::<u8>::new()));
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn ReadPipe>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn ReadPipe>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| tokio::spawn(collect(pipe, output.clone())))
    .collect();
    let started = tokio::time::Instant::now();
    let (code, timed_out) = match tokio::time::timeout(cmd.timeout, child.wait()).await {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(e)) => return Err(format!("{what}: waiting for `{line}`: {e}")),
        Err(_) => {
            kill_group(&child);
            let _ = child.wait().await;
            (None, true)
        }
    };
    let elapsed = started.elapsed();
    let _ = tokio::time::timeout(AFTER_EXIT, futures::future::join_all(readers)).await;
    let text = String::from_utf8_lossy(&output.lock().expect("output poisoned")).into_owned();
    let text = env.redact(&text);
    for l in text.lines() {
        log.write(&format!("{what}: | {l}"));
    }
    let ran = Ran {
        code,
        timed_out,
        tail: last_lines(&text, TAIL_LINES),
        elapsed,
    };
    log.write(&format!(
        "{what}: {} after {:.1}s",
        ran.status(cmd.timeout),
        elapsed.as_secs_f64()
    ));
    Ok(ran)
}

/// A child's stdout or stderr.
trait ReadPipe: tokio::io::AsyncRead + Unpin + Send {}
impl<T: tokio::io::AsyncRead + Unpin + Send> ReadPipe for T {}

async fn collect(mut pipe: Box<dyn ReadPipe>, into: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut out = into.lock().expect("output poisoned");
        let room = KEEP_BYTES.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
}

fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// "`cmd` (exit status 2); its last lines: …", for errors.
pub fn describe_failure(cmd: &ExecCommand, ran: &Ran) -> String {
    let mut s = format!("`{}` {}", shell_line(&cmd.argv), ran.status(cmd.timeout));
    if ran.tail.trim().is_empty() {
        s.push_str(", printing nothing");
    } else {
        s.push_str("; its last lines:\n");
        s.push_str(&ran.tail);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(argv: &[&str], timeout_ms: u64) -> ExecCommand {
        ExecCommand {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn ctx(dir: &Path) -> Context<'_> {
        Context {
            fault: "f",
            target: "backend-api",
            target_url: Some("http://127.0.0.1:1"),
            run_dir: dir,
        }
    }

    #[tokio::test]
    async fn a_command_sees_only_the_explicit_environment_and_its_secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        // Cargo sets it for the test process: it stands for a credential.
        let secret = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        let env = Env::new(
            &[("MODE".into(), "drill".into())],
            &["CARGO_MANIFEST_DIR".into()],
            &ctx(dir.path()),
        )
        .unwrap();
        let log = DrillLog::in_dir(dir.path());
        let ran = run(
            &cmd(&["sh", "-c", "echo $MODE $ZETA_TARGET $ZETA_TARGET_URL $CARGO_MANIFEST_DIR; echo ${CARGO:-unset}"], 5_000),
            &env,
            &log,
            "inject of fault f",
        )
        .await
        .unwrap();
        assert!(ran.ok(), "{ran:?}");
        assert!(
            ran.tail
                .contains("drill backend-api http://127.0.0.1:1 [redacted]"),
            "{}",
            ran.tail
        );
        assert!(
            ran.tail.ends_with("unset"),
            "the harness's own environment leaked: {}",
            ran.tail
        );
        let written = std::fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert!(!written.contains(&secret), "{written}");
        assert!(written.contains("exit status 0"), "{written}");
    }

    #[tokio::test]
    async fn a_missing_pass_env_variable_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Env::new(&[], &["ZETA_TEST_EXEC_NEVER_SET".into()], &ctx(dir.path())).unwrap_err();
        assert!(e.contains("ZETA_TEST_EXEC_NEVER_SET"), "{e}");
    }

    #[tokio::test]
    async fn a_failing_command_gives_its_status_and_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::new(&[], &[], &ctx(dir.path())).unwrap();
        let c = cmd(
            &[
                "sh",
                "-c",
                "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; done; exit 3",
            ],
            5_000,
        );
        let ran = run(&c, &env, &DrillLog::in_dir(dir.path()), "x")
            .await
            .unwrap();
        assert_eq!(ran.code, Some(3));
        let why = describe_failure(&c, &ran);
        assert!(why.contains("exit status 3"), "{why}");
        assert!(
            why.contains("line 10") && !why.contains("line 2\n"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::new(&[], &[], &ctx(dir.path())).unwrap();
        let c = cmd(&["sh", "-c", "sleep 30 & sleep 30"], 300);
        let started = std::time::Instant::now();
        let ran = run(&c, &env, &DrillLog::in_dir(dir.path()), "x")
            .await
            .unwrap();
        assert!(ran.timed_out && !ran.ok());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(ran.status(c.timeout).contains("timeout"));
    }

    #[tokio::test]
    async fn a_command_that_leaves_a_service_running_returns_when_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::new(&[], &[], &ctx(dir.path())).unwrap();
        let c = cmd(&["sh", "-c", "sleep 3 & echo started"], 5_000);
        let started = std::time::Instant::now();
        let ran = run(&c, &env, &DrillLog::in_dir(dir.path()), "x")
            .await
            .unwrap();
        assert!(ran.ok());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_program_that_does_not_exist_cannot_start() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::new(&[], &[], &ctx(dir.path())).unwrap();
        let e = run(
            &cmd(&["/nonexistent/zeta"], 1_000),
            &env,
            &DrillLog::in_dir(dir.path()),
            "x",
        )
        .await
        .unwrap_err();
        assert!(e.contains("/nonexistent/zeta"), "{e}");
    }

    #[test]
    fn shell_lines_quote_what_a_shell_would_split() {
        let argv: Vec<String> = ["kubectl", "delete", "pod", "-l", "app=backend api", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_line(&argv),
            r"kubectl delete pod -l 'app=backend api' 'it'\''s'"
        );
    }
}
