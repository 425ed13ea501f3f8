//! The docker provider's containers: the components `stack/docker-compose.yml`
//! pins (Prometheus, Alertmanager, node-exporter, PostgreSQL and the
//! exporters, Redis, Loki, Promtail, Jaeger and Grafana), run through
//! testcontainers with the image tags of that file, while the mock services
//! stay processes of the harness. cAdvisor is left out: the mocks are not
//! containers, and they report their memory the way it would.
//!
//! Every container uses the host's network namespace (rather than a bridge
//! network and `host.docker.internal`), so the configs the native provider
//! renders (127.0.0.1 addresses, free ports) work as they are, the mocks
//! are reachable from the containers without a gateway, and two runs at
//! once do not collide. The run directory is bind-mounted at the same path, so
//! the rendered config files and data directories are where the flags say.
//! A container's output is saved to the component's log in the run
//! directory when it is removed.
//!
//! Faults map onto the engine: kill = `docker kill` (stop with timeout 0),
//! stop = stop with a grace period, freeze = pause, thaw = unpause,
//! restart = start the same container again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testcontainers::core::{Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::process::{Spec, StartError, last_lines};

/// Which compose service each containerised component runs as: the
/// component catalogue's `compose_service`s
/// ([`super::components::compose_services`]).
pub type Services<'a> = &'a [(&'static str, &'static str)];

/// Images whose entrypoint is a script taking the program as the first
/// word of the command; the others take flags only.
const COMMAND_IMAGES: &[&str] = &["postgres", "redis"];

/// Component → `image:tag`, from `stack/docker-compose.yml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Images(BTreeMap<String, String>);

impl Images {
    pub fn from_compose(stack_dir: &Path, services: Services<'_>) -> anyhow::Result<Images> {
        let path = stack_dir.join("docker-compose.yml");
        let text = crate::input::read_bounded_text(&path, crate::input::limits::STACK_FILE)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Images::parse(&text, services).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn parse(compose: &str, services: Services<'_>) -> Result<Images, String> {
        let v: serde_yaml::Value = serde_yaml::from_str(compose).map_err(|e| e.to_string())?;
        let mut map = BTreeMap::new();
        for (component, service) in services {
            let image = v["services"][*service]["image"]
                .as_str()
                .ok_or_else(|| format!("services.{service}.image is missing"))?;
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            if tag.is_empty() || tag == "latest" || image.ends_with('/') {
                return Err(format!(
                    "services.{service}.image {image:?} must pin a tag (not latest)"
                ));
            }
            map.insert(component.to_string(), image.to_string());
        }
        Ok(Images(map))
    }

    pub fn get(&self, component: &str) -> Option<&str> {
        self.0.get(component).map(String::as_str)
    }
}

/// Whether a Docker engine answers on `DOCKER_HOST` (unix://) or
/// /var/run/docker.sock: `Ok(socket)` or why not.
pub async fn engine() -> Result<String, String> {
    let socket = match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => h.trim_start_matches("unix://").to_string(),
        Ok(h) if !h.is_empty() => {
            return Err(format!(
                "DOCKER_HOST={h} is not a unix socket; only local engines are supported"
            ));
        }
        _ => "/var/run/docker.sock".to_string(),
    };
    let ping = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::UnixStream::connect(&socket).await?;
        s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(answer)) if answer.starts_with("HTTP/1.") && answer.contains(" 200 ") => Ok(socket),
        Ok(Ok(answer)) => Err(format!(
            "the engine at {socket} answered /_ping with {:?}",
            answer.lines().next().unwrap_or("")
        )),
        Ok(Err(e)) => Err(format!("no Docker engine at {socket}: {e}")),
        Err(_) => Err(format!(
            "the Docker engine at {socket} did not answer /_ping within 2 s"
        )),
    }
}

/// The container command for a spec: the program's name and its
/// arguments for script entrypoints, the arguments alone otherwise.
pub fn command(image: &str, spec: &Spec) -> Vec<String> {
    let repo = image.split(':').next().unwrap_or(image);
    let name = repo.rsplit('/').next().unwrap_or(repo);
    let mut cmd = Vec::new();
    if COMMAND_IMAGES.contains(&name) {
        cmd.push(
            spec.program
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }
    cmd.extend(spec.args.iter().cloned());
    cmd
}

/// One component as a container.
pub struct Container {
    pub spec: Spec,
    image: String,
    run_dir: PathBuf,
    /// Unique per run: `zeta-bench-<run dir name>-<component>`.
    name: String,
    container: Option<ContainerAsync<GenericImage>>,
    paused: bool,
}

impl Container {
    pub fn new(spec: Spec, image: &str, run_dir: &Path) -> Container {
        let run = run_dir
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("zeta-bench-{run}-{}", spec.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Container {
            spec,
            image: image.to_string(),
            run_dir: run_dir.to_path_buf(),
            name,
            container: None,
            paused: false,
        }
    }

    fn request(&self) -> testcontainers::ContainerRequest<GenericImage> {
        let (repo, tag) = self
            .image
            .rsplit_once(':')
            .unwrap_or((&self.image, "latest"));
        let run_dir = self.run_dir.display().to_string();
        let mut req = GenericImage::new(repo, tag)
            .with_wait_for(WaitFor::Nothing)
            .with_network("host")
            .with_container_name(&self.name)
            .with_mount(Mount::bind_mount(run_dir.clone(), run_dir))
            .with_cmd(command(&self.image, &self.spec))
            .with_startup_timeout(self.spec.ready_timeout);
        for (k, v) in &self.spec.env {
            req = req.with_env_var(k, v);
        }
        // Flag-only images write into the bind-mounted run directory:
        // run them as the harness's user so it owns (and can remove) what
        // they write. Script entrypoints (postgres, redis) switch users
        // themselves.
        if !COMMAND_IMAGES
            .iter()
            .any(|i| self.image.starts_with(&format!("{i}:")))
        {
            req = req.with_user(format!(
                "{}:{}",
                nix::unistd::getuid(),
                nix::unistd::getgid()
            ));
        }
        req
    }

    fn fail(&self, reason: String) -> StartError {
        StartError {
            component: self.spec.name.clone(),
            reason,
            log: self.spec.log.display().to_string(),
            last_lines: last_lines(&self.spec.log, 20),
        }
    }

    /// Create and start the container (or start it again after a stop),
    /// then wait until the spec's readiness check passes.
    pub async fn start(&mut self, http: &reqwest::Client) -> Result<(), StartError> {
        match &self.container {
            Some(c) => c
                .start()
                .await
                .map_err(|e| self.fail(format!("docker start {}: {e}", self.name)))?,
            None => {
                let c = self.request().start().await.map_err(|e| {
                    self.fail(format!("starting {} from {}: {e}", self.name, self.image))
                })?;
                if let Some(file) = &self.spec.pid_file {
                    use std::io::Write;
                    let line = format!(
                        "{} container:{} {}\n",
                        self.spec.name,
                        c.id(),
                        self.spec.ready.address()
                    );
                    let _ = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(file)
                        .and_then(|mut f| f.write_all(line.as_bytes()));
                }
                self.container = Some(c);
            }
        }
        let deadline = Instant::now() + self.spec.ready_timeout;
        loop {
            let attempt = self.spec.ready.check(http).await;
            if attempt.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.save_logs().await;
                return Err(self.fail(format!(
                    "timed out after {:?} waiting for it to be ready at {} (last: {})",
                    self.spec.ready_timeout,
                    self.spec.ready.address(),
                    attempt.err().unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn is_running(&self) -> bool {
        match &self.container {
            Some(c) => c.is_running().await.unwrap_or(false),
            None => false,
        }
    }

    /// `docker kill`: no grace.
    pub async fn kill(&mut self) {
        if let Some(c) = &self.container {
            let _ = c.stop_with_timeout(Some(0)).await;
        }
        self.paused = false;
    }

    /// Stop with a grace period; whether it stopped within it.
    pub async fn stop(&mut self, grace: Duration) -> bool {
        let Some(c) = &self.container else {
            return true;
        };
        if self.paused {
            let _ = c.unpause().await;
            self.paused = false;
        }
        let t = Instant::now();
        let _ = c.stop_with_timeout(Some(grace.as_secs() as i32)).await;
        t.elapsed() < grace
    }

    pub async fn freeze(&mut self) -> bool {
        match &self.container {
            Some(c) if c.pause().await.is_ok() => {
                self.paused = true;
                true
            }
            _ => false,
        }
    }

    pub async fn thaw(&mut self) {
        if let Some(c) = &self.container {
            let _ = c.unpause().await;
        }
        self.paused = false;
    }

    /// Append the container's output to the component's log.
    async fn save_logs(&self) {
        let Some(c) = &self.container else { return };
        let mut out = c.stdout_to_vec().await.unwrap_or_default();
        out.extend(c.stderr_to_vec().await.unwrap_or_default());
        use std::io::Write;
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .and_then(|mut f| f.write_all(&out));
    }

    /// Stop, keep the logs, remove the container.
    pub async fn remove(&mut self, grace: Duration) -> bool {
        let graceful = self.stop(grace).await;
        self.save_logs().await;
        if let Some(c) = self.container.take() {
            let _ = c.rm().await;
        }
        graceful
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    fn spec(program: &str, args: &[&str]) -> Spec {
        Spec {
            name: "redis".into(),
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            log: "/dev/null".into(),
            ready: super::super::process::Ready::Tcp("127.0.0.1:1".into()),
            ready_timeout: Duration::from_secs(1),
            stop_signal: Signal::SIGTERM,
            pid_file: None,
        }
    }

    #[test]
    fn images_come_pinned_from_the_shipped_compose_file() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let services = super::super::components::compose_services();
        let images = Images::from_compose(&stack, &services).unwrap();
        assert_eq!(services.len(), 11, "{services:?}");
        for (component, _) in &services {
            let image = images.get(component).unwrap();
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "{component}: {image}"
            );
        }
        assert!(
            images
                .get("prometheus")
                .unwrap()
                .starts_with("prom/prometheus:")
        );
        let compose = std::fs::read_to_string(stack.join("docker-compose.yml")).unwrap();
        let pinned = images.get("prometheus").unwrap();
        let latest = compose.replace(pinned, "prom/prometheus:latest");
        let e = Images::parse(&latest, &services).unwrap_err();
        assert!(e.contains("services.prometheus.image"), "{e}");
        assert!(e.contains("must pin a tag"), "{e}");
        assert!(
            Images::parse("services: {}\n", &services)
                .unwrap_err()
                .contains("services.node-exporter.image is missing"),
            "the first component the catalogue containerises is named"
        );
    }

    #[test]
    fn script_entrypoints_get_the_program_flag_images_only_flags() {
        let s = spec("/usr/bin/redis-server", &["--port", "7000"]);
        assert_eq!(
            command("redis:7.4.5", &s),
            vec!["redis-server", "--port", "7000"]
        );
        let s = spec("/usr/bin/prometheus", &["--config.file=/x"]);
        assert_eq!(
            command("prom/prometheus:v3.5.0", &s),
            vec!["--config.file=/x"]
        );
        let s = spec("postgres", &["-p", "5433"]);
        assert_eq!(command("postgres:16.9", &s), vec!["postgres", "-p", "5433"]);
    }

    #[test]
    fn container_names_are_unique_per_run_and_valid() {
        let c = Container::new(
            spec("redis-server", &[]),
            "redis:7.4.5",
            Path::new("/tmp/reports/smoke-20261125T120000.000Z-42"),
        );
        assert_eq!(c.name, "zeta-bench-smoke-20261125T120000.000Z-42-redis");
    }

    /// With an engine, this starts a real container; without one it says
    /// so in one line and passes (CI machines here have no engine).
    #[tokio::test]
    async fn a_real_container_when_an_engine_answers() {
        let socket = match engine().await {
            Ok(s) => s,
            Err(why) => {
                // Straight to stderr: the harness swallows a passing
                // test's eprintln!.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED a_real_container_when_an_engine_answers: {why}"
                );
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let port = super::super::process::free_port().unwrap();
        let mut s = spec(
            "redis-server",
            &[
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ],
        );
        s.ready = super::super::process::Ready::Tcp(format!("127.0.0.1:{port}"));
        s.ready_timeout = Duration::from_secs(120);
        s.log = dir.path().join("redis.log");
        let mut c = Container::new(s, "redis:7.4.5", dir.path());
        let http = reqwest::Client::new();
        c.start(&http)
            .await
            .unwrap_or_else(|e| panic!("engine at {socket}: {e}"));
        assert!(c.is_running().await);
        assert!(c.freeze().await);
        c.thaw().await;
        c.kill().await;
        assert!(!c.is_running().await);
        c.start(&http).await.unwrap();
        assert!(c.remove(Duration::from_secs(5)).await);
    }
}
