//! The PostgreSQL server the mocks keep their data in: natively from the
//! Debian/Ubuntu package `postgresql` (initdb, a data directory per run),
//! or the image the compose file pins.
//!
//! PostgreSQL refuses to run as root. When zeta-bench runs as root, initdb
//! and postgres run as the `postgres` user (which the package creates)
//! through `setpriv`, with the data directory in a private directory under
//! the system temp dir that user can reach; it is removed at teardown.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use crate::stack::process::{Ready, Spec, which};

/// The PostgreSQL role and database the mocks use.
pub const PG_USER: &str = "zeta";
pub const PG_DB: &str = "postgres";

/// A PostgreSQL server binary (initdb, postgres): on PATH, else the newest
/// under /usr/lib/postgresql/*/bin (Debian does not put them on PATH).
pub fn pg_bin(name: &str) -> Option<PathBuf> {
    if let Some(p) = which(name) {
        return Some(p);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.components()
            .nth(4)
            .and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// uid and gid of a user, from /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// How to run a PostgreSQL binary: as ourselves, or as `postgres` when root.
fn pg_command(bin: &Path, uid: Option<(u32, u32)>) -> (PathBuf, Vec<String>) {
    match uid {
        None => (bin.to_path_buf(), Vec::new()),
        Some((u, g)) => (
            which("setpriv").unwrap_or_else(|| PathBuf::from("/usr/bin/setpriv")),
            vec![
                format!("--reuid={u}"),
                format!("--regid={g}"),
                "--clear-groups".into(),
                "--".into(),
                bin.display().to_string(),
            ],
        ),
    }
}

/// An initialised PostgreSQL data directory, removed on drop.
pub struct PgData {
    pub dir: tempfile::TempDir,
    uid: Option<(u32, u32)>,
    /// The harness user's random per-run password (scram-sha-256).
    pub password: String,
}

/// `initdb` a fresh cluster with password authentication (scram-sha-256)
/// for its one user, whose password is random per run and never written
/// beyond initdb's password file, which is removed at once. It listens on
/// loopback only. Fails with an actionable message when PostgreSQL or the
/// `postgres` user is missing.
pub async fn init_postgres(
    log: &Path,
    cancel: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<PgData> {
    let initdb = pg_bin("initdb")
        .context("initdb not found (install the Debian/Ubuntu package `postgresql`)")?;
    let uid = if is_root() {
        Some(user_ids("postgres").context(
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it as; install the `postgresql` package or run zeta-bench as a normal user",
        )?)
    } else {
        None
    };
    let dir = tempfile::Builder::new()
        .prefix("zeta-bench-pg-")
        .tempdir()
        .context("creating PostgreSQL's data directory")?;
    if let Some((u, g)) = uid {
        std::os::unix::fs::chown(dir.path(), Some(u), Some(g))
            .context("giving the data directory to `postgres`")?;
    }
    let password = crate::secret::random();
    let pwfile = dir.path().join("pwfile");
    write_owner_only(&pwfile, &password, uid)?;
    let (program, mut args) = pg_command(&initdb, uid);
    args.extend([
        "-D".to_string(),
        dir.path().join("data").display().to_string(),
        "-U".into(),
        PG_USER.into(),
        "--auth=scram-sha-256".into(),
        format!("--pwfile={}", pwfile.display()),
        "-E".into(),
        "UTF8".into(),
        "--no-sync".into(),
    ]);
    // kill_on_drop: an interrupted start-up kills initdb with it.
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&args).kill_on_drop(true);
    let out = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(60), cmd.output()) => r
            .context("initdb did not finish within 60s")?
            .with_context(|| format!("running {}", program.display()))?,
        _ = cancel.cancelled() => bail!("interrupted while initialising PostgreSQL"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&pwfile);
    let _ = std::fs::write(log, &text);
    if !out.status.success() {
        bail!(
            "initdb failed ({}):\n{}",
            out.status,
            crate::stack::process::last_lines(log, 20)
        );
    }
    Ok(PgData { dir, uid, password })
}

/// A file only its owner (`uid`, else the harness) can read.
fn write_owner_only(path: &Path, text: &str, uid: Option<(u32, u32)>) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    if let Some((u, g)) = uid {
        std::os::unix::fs::chown(path, Some(u), Some(g))
            .with_context(|| format!("giving {} to `postgres`", path.display()))?;
    }
    Ok(())
}

impl PgData {
    /// The server, on `port` of 127.0.0.1 only, without unix sockets.
    pub fn spec(&self, port: u16, log: PathBuf, pid_file: Option<PathBuf>) -> anyhow::Result<Spec> {
        let postgres = pg_bin("postgres").context("postgres not found (install `postgresql`)")?;
        let (program, mut args) = pg_command(&postgres, self.uid);
        args.extend([
            "-D".to_string(),
            self.dir.path().join("data").display().to_string(),
            "-p".into(),
            port.to_string(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            "unix_socket_directories=".into(),
            // A test database: durability is not what is measured.
            "-c".into(),
            "fsync=off".into(),
            "-c".into(),
            "max_connections=50".into(),
        ]);
        Ok(Spec {
            name: "postgresql".into(),
            program,
            args,
            env: vec![],
            log,
            ready: Ready::Postgres(conn_string(port, &self.password)),
            ready_timeout: Duration::from_secs(30),
            // "Fast" shutdown: SIGTERM would wait for every client to leave.
            stop_signal: Signal::SIGINT,
            pid_file,
        })
    }
}

/// PostgreSQL in the pinned `postgres` image (docker provider): its
/// entrypoint initialises the cluster (scram-sha-256 with the per-run
/// password, the harness's user and database), then runs the same server
/// settings as natively.
pub fn docker_postgres_spec(
    port: u16,
    password: &str,
    log: PathBuf,
    pid_file: Option<PathBuf>,
) -> Spec {
    Spec {
        name: "postgresql".into(),
        program: PathBuf::from("postgres"),
        args: [
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=50",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        env: vec![
            ("POSTGRES_USER".into(), PG_USER.into()),
            ("POSTGRES_DB".into(), PG_DB.into()),
            ("POSTGRES_PASSWORD".into(), password.into()),
            ("POSTGRES_HOST_AUTH_METHOD".into(), "scram-sha-256".into()),
            ("POSTGRES_INITDB_ARGS".into(), "--auth=scram-sha-256".into()),
        ],
        log,
        ready: Ready::Postgres(conn_string(port, password)),
        // The image pulls and initialises on first use.
        ready_timeout: Duration::from_secs(180),
        stop_signal: Signal::SIGINT,
        pid_file,
    }
}

pub fn conn_string(port: u16, password: &str) -> String {
    format!(
        "host=127.0.0.1 port={port} user={PG_USER} password={password} dbname={PG_DB} connect_timeout=2"
    )
}

pub fn url(port: u16, password: &str) -> String {
    format!("postgresql://{PG_USER}:{password}@127.0.0.1:{port}/{PG_DB}?sslmode=disable")
}
