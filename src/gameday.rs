//! Game days: `zeta-bench up` brings the stack and the mocks up and keeps
//! them up until Ctrl-C or SIGTERM; `zeta-bench fault` injects a fault into
//! that stack through a control endpoint of the `up` process (loopback
//! only), so faults only ever touch what the harness started.
//!
//! `up` writes `<out>/up.json` with the control URL and a per-run secret,
//! readable by its owner only; `fault` reads it and sends the secret as a
//! bearer token. Any request without it gets 401 and changes nothing, so
//! another local user cannot kill services, stop PostgreSQL or fill the
//! disk. A fault reverts on its own when its duration ends, when the
//! `fault` command is interrupted, and at teardown.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::fault::{self, FaultRecord};
use crate::run::session::{Session, SessionOptions};
use crate::scenario::plan::PlannedFault;
use crate::scenario::{FaultKind, FaultParams};
use crate::stack::{self, Stack};
use crate::stackfiles::StackFiles;

/// What `fault` sends to `up`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRequest {
    pub kind: FaultKind,
    pub target: String,
    #[serde(with = "crate::input::units::serde_duration")]
    pub duration: Duration,
    #[serde(default)]
    pub params: FaultParams,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpState {
    pub control: String,
    /// The bearer token the control endpoint requires.
    #[serde(default)]
    pub token: String,
    /// The bearer token of the mocks' `/admin/faults` (give it to an
    /// external-provider run as ZETA_ADMIN_TOKEN).
    #[serde(default)]
    pub admin_token: Option<String>,
    pub run_dir: String,
    pub components: Vec<stack::ComponentInfo>,
}

struct Control {
    token: String,
    stack: Mutex<Stack>,
    faults: Mutex<Vec<(PlannedFault, FaultRecord, CancellationToken)>>,
    next: std::sync::atomic::AtomicU64,
}

/// The seed's "Access the Services" table, for what this stack runs: each
/// component's purpose, as its catalogue entry says.
fn purpose(name: &str) -> &'static str {
    crate::names::ComponentName::from_name(name)
        .map(|n| stack::components::get(n).purpose)
        .unwrap_or("")
}

pub async fn up(
    stack_dir: &Path,
    time_scale: f64,
    out: &Path,
    self_exe: PathBuf,
    binaries: crate::stack::binaries::Binaries,
    receivers_for: Option<std::net::SocketAddr>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let files = StackFiles::load(stack_dir).map_err(|d| anyhow::anyhow!("{d}"))?;
    let scaled_min = crate::scenario::plan::scale(files.min_interval(), time_scale);
    if scaled_min < Duration::from_secs(1) {
        bail!("time scale {time_scale} would put the shortest scrape/evaluation interval under 1s");
    }
    let dir = out.join(format!(
        "up-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    std::fs::create_dir_all(&dir)?;
    let decision = stack::choose_provider(crate::scenario::ProviderChoice::Auto)
        .await
        .map_err(anyhow::Error::msg)?;
    let session = Session::start(
        SessionOptions {
            files,
            decision,
            time_scale,
            run_dir: dir.clone(),
            self_exe,
            receivers_at: receivers_for,
            serve_receivers: receivers_for.is_none(),
            // disk_pressure for `zeta-bench fault`, where this machine
            // allows it.
            disk: stack::native::can_fault("disk", false).is_ok(),
            // prometheus_to_alertmanager_cut for `zeta-bench fault`, where
            // Toxiproxy is built.
            alerting_link: true,
            stack_ref: None,
            // The scenarios' default users per tenant.
            mock_users: crate::scenario::Tenants::default().users,
            binaries,
        },
        &cancel,
    )
    .await?;
    let Session {
        stack,
        receivers,
        observers,
        ..
    } = session;
    let components = stack.components.clone();
    let admin_token = stack.admin_token().map(str::to_string);
    // What this game day runs without: the alerts and checks that need it
    // cannot be drilled.
    let without: Vec<String> = stack
        .missing
        .iter()
        .chain(&stack.absent)
        .map(|(name, why)| format!("  {name}: {why}"))
        .collect();
    let token = crate::secret::random();
    let control = Arc::new(Control {
        token: token.clone(),
        stack: Mutex::new(stack),
        faults: Mutex::new(Vec::new()),
        next: std::sync::atomic::AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/faults", get(list).post(inject))
        .route("/faults/{name}", delete(revert_one))
        .layer(axum::middleware::from_fn_with_state(
            control.clone(),
            require_token,
        ))
        .with_state(control.clone());
    let (control_url, server) = crate::http::serve_loopback(app, observers.clone()).await?;
    let state = UpState {
        control: control_url.clone(),
        token,
        admin_token,
        run_dir: dir
            .canonicalize()
            .unwrap_or(dir.clone())
            .display()
            .to_string(),
        components: components.clone(),
    };
    write_private(&out.join("up.json"), &serde_json::to_string_pretty(&state)?)?;

    print_access(&components, &without, receivers_for, &control_url, out);

    print_notifications(&receivers, &cancel).await;
    eprintln!("zeta-bench up: reverting faults and stopping the stack…");
    for (f, r, token) in control.faults.lock().await.iter_mut() {
        token.cancel();
        if r.took_effect_at.is_some() && r.reverted_at.is_none() && fault::knobs(f).is_some() {
            let mut stack = control.stack.lock().await;
            fault::revert(&mut stack, f, r).await;
        }
    }
    observers.cancel();
    let _ = server.await;
    let notes = control.stack.lock().await.teardown().await;
    for n in notes {
        eprintln!("{n}");
    }
    let _ = std::fs::remove_file(out.join("up.json"));
    Ok(())
}

/// The seed's "Access the Services" table for what runs, what does not,
/// where notifications go, and how to inject faults.
fn print_access(
    components: &[stack::ComponentInfo],
    without: &[String],
    receivers_for: Option<std::net::SocketAddr>,
    control_url: &str,
    out: &Path,
) {
    println!("\n| Service | URL | Purpose |\n|---|---|---|");
    for c in components {
        println!("| {} | {} | {} |", c.name, c.url, purpose(&c.name));
    }
    if !without.is_empty() {
        println!("\nNot running here:\n{}", without.join("\n"));
    }
    match receivers_for {
        None => println!("\nNotifications arrive at the harness's receivers and are printed here."),
        Some(a) => println!(
            "\nAlertmanager sends notifications to http://{a}: a run with `stack.receivers: {a}` receives and measures them."
        ),
    }
    println!(
        "Inject faults with: zeta-bench fault KIND --target NAME --duration D   (control {control_url}, {}/up.json)",
        out.display()
    );
    println!("Ctrl-C tears everything down.\n");
}

/// Write `text` to `path` readable and writable by the owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Every control request carries `Authorization: Bearer <token>`.
async fn require_token(
    State(c): State<Arc<Control>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if crate::secret::bearer_matches(req.headers(), &c.token) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "the control endpoint needs the token in up.json (use `zeta-bench fault`)"})),
        )
            .into_response()
    }
}

/// Print notifications as they arrive, until Ctrl-C.
async fn print_notifications(
    receivers: &crate::observe::alertmanager::receiver::Receivers,
    cancel: &CancellationToken,
) {
    let mut seen = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = receivers.arrived() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let ns = receivers.notifications();
        for n in &ns[seen..] {
            println!(
                "{}  {:?} {} → {}  {}",
                n.at.format("%H:%M:%S%.3f"),
                n.status,
                n.alert_names().join(","),
                n.destination,
                n.summary
            );
        }
        seen = ns.len();
    }
}

async fn list(State(c): State<Arc<Control>>) -> Json<Vec<FaultRecord>> {
    Json(
        c.faults
            .lock()
            .await
            .iter()
            .map(|(_, r, _)| r.clone())
            .collect(),
    )
}

async fn inject(State(c): State<Arc<Control>>, Json(req): Json<FaultRequest>) -> Response {
    // The control endpoint never runs commands it is sent.
    if req.kind == FaultKind::Exec {
        return (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": "exec faults run from a scenario (`zeta-bench run` with provider: external against this stack), never from the control endpoint"}))).into_response();
    }
    if !req.kind.targets().contains(&req.target.as_str()) {
        return (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": format!(
            "{} cannot target {:?}; expected one of {:?}", req.kind.name(), req.target, req.kind.targets())}))).into_response();
    }
    {
        let faults = c.faults.lock().await;
        if faults.iter().any(|(f, r, _)| {
            f.target == req.target && r.took_effect_at.is_some() && r.reverted_at.is_none()
        }) {
            return (StatusCode::CONFLICT, Json(serde_json::json!({"error": format!("a fault is already in force on {}", req.target)}))).into_response();
        }
    }
    let n = c.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let f = PlannedFault {
        name: format!("{}:{}#{n}", req.kind.name(), req.target),
        kind: req.kind,
        params: req.params,
        target: req.target,
        at: Duration::ZERO,
        duration: req.duration,
        trial: 1,
    };
    let mut r = fault::record_for(&f);
    {
        let mut stack = c.stack.lock().await;
        fault::inject(&mut stack, &f, &mut r).await;
    }
    let token = CancellationToken::new();
    let out = r.clone();
    c.faults.lock().await.push((f.clone(), r, token.clone()));
    if out.took_effect_at.is_some() {
        // Revert on its own after the duration, unless reverted before.
        let c2 = c.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(f.duration) => {}
                _ = token.cancelled() => {}
            }
            revert_named(&c2, &f.name).await;
        });
    }
    let status = if out.error.is_some() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    (status, Json(out)).into_response()
}

async fn revert_named(c: &Control, name: &str) -> Option<FaultRecord> {
    let mut faults = c.faults.lock().await;
    let (f, r, _) = faults.iter_mut().find(|(f, _, _)| f.name == name)?;
    if r.took_effect_at.is_some() && r.reverted_at.is_none() {
        let mut stack = c.stack.lock().await;
        fault::revert(&mut stack, f, r).await;
    }
    Some(r.clone())
}

async fn revert_one(
    State(c): State<Arc<Control>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match revert_named(&c, &name).await {
        Some(r) => Json(r).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no such fault"})),
        )
            .into_response(),
    }
}

/// `zeta-bench fault`: inject, wait for the duration (or Ctrl-C), make sure
/// it is reverted.
pub async fn fault_command(
    state_file: &Path,
    req: FaultRequest,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let text =
        crate::input::read_bounded_text(state_file, crate::input::limits::SMALL).map_err(|e| {
            anyhow::anyhow!(
                "reading {}: {e} (is `zeta-bench up` running?)",
                state_file.display()
            )
        })?;
    let state: UpState =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", state_file.display()))?;
    let http = crate::http::tls::client_builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;
    let duration = req.duration;
    let resp = http
        .post(format!("{}/faults", state.control))
        .bearer_auth(&state.token)
        .json(&req)
        .send()
        .await
        .with_context(|| format!("reaching `zeta-bench up` at {}", state.control))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    if !status.is_success() {
        bail!(
            "{}",
            body["error"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| body.to_string())
        );
    }
    let record: FaultRecord = serde_json::from_value(body)?;
    let name = record.name.clone();
    println!(
        "{} took effect at {}; reverts in {}",
        name,
        record
            .took_effect_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        crate::input::units::human_duration(duration)
    );
    tokio::select! {
        _ = tokio::time::sleep(duration + Duration::from_millis(500)) => {}
        _ = cancel.cancelled() => {
            eprintln!("interrupted: reverting {name} now");
        }
    }
    let r: FaultRecord = http
        .delete(format!(
            "{}/faults/{}",
            state.control,
            crate::http::path_segment(&name)
        ))
        .bearer_auth(&state.token)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "{} reverted at {} ({})",
        name,
        r.reverted_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "not reverted".into()),
        r.reverted_by.unwrap_or_default()
    );
    Ok(())
}
