//! A session: the harness's listeners (notification receivers, OTLP trace
//! sink) and the stack they are wired into, started in that order because
//! the rendered Alertmanager config points at the receivers and the mocks
//! export to the sink. `zeta-bench run` and `zeta-bench up` both start one,
//! so start-up is written once.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::observe::alertmanager::receiver::Receivers;
use crate::observe::jaeger::traces::TraceSink;
use crate::scenario::StackRef;
use crate::stack::{ProviderDecision, Stack, StackOptions};
use crate::stackfiles::StackFiles;

/// What a session is started with.
pub struct SessionOptions {
    pub files: StackFiles,
    pub decision: ProviderDecision,
    pub time_scale: f64,
    pub run_dir: PathBuf,
    pub self_exe: PathBuf,
    /// A fixed receiver address (`stack.receivers`), else a free port.
    pub receivers_at: Option<SocketAddr>,
    /// Listen at `receivers_at` (a run), or only send there (`zeta-bench
    /// up --receivers ADDR`: a later run with `stack.receivers: ADDR`
    /// listens and measures the deliveries).
    pub serve_receivers: bool,
    /// Mount the size-limited filesystem for `disk_pressure`.
    pub disk: bool,
    /// Send Prometheus' alerts through a Toxiproxy link, for
    /// `prometheus_to_alertmanager_cut`.
    pub alerting_link: bool,
    /// The scenario's `stack:` (URLs for the external provider).
    pub stack_ref: Option<StackRef>,
    /// Users per tenant of the load (see [`StackOptions::mock_users`]).
    pub mock_users: u32,
    /// Chosen component binaries (`--bin`, `stack.binaries`, `ZETA_BIN`).
    pub binaries: crate::stack::binaries::Binaries,
}

pub struct Session {
    pub stack: Stack,
    pub receivers: Receivers,
    pub trace_sink: TraceSink,
    /// Cancelled when observing ends; the listeners stop with it.
    pub observers: CancellationToken,
    listeners: Vec<JoinHandle<()>>,
}

impl Session {
    pub async fn start(o: SessionOptions, cancel: &CancellationToken) -> anyhow::Result<Session> {
        let observers = cancel.child_token();
        let receivers = Receivers::new();
        let (receiver_base, receiver_task) = match (o.receivers_at, o.serve_receivers) {
            (Some(addr), false) => Ok((format!("http://{addr}"), tokio::spawn(async {}))),
            (Some(addr), true) => receivers.serve_on(addr, observers.clone()).await,
            (None, _) => receivers.serve(observers.clone()).await,
        }
        .context("starting the notification receivers")?;
        let trace_sink = TraceSink::default();
        let (otlp_endpoint, trace_task) = trace_sink
            .serve(observers.clone())
            .await
            .context("starting the OTLP trace receiver")?;
        tracing::info!("provider {}: {}", o.decision.name, o.decision.reason);
        let stack = Stack::start(
            o.decision,
            StackOptions {
                files: o.files,
                time_scale: o.time_scale,
                run_dir: o.run_dir,
                self_exe: o.self_exe,
                receiver_base,
                otlp_endpoint: Some(otlp_endpoint),
                disk: o.disk,
                alerting_link: o.alerting_link,
                stack_ref: o.stack_ref,
                mock_users: o.mock_users,
                binaries: o.binaries,
            },
            cancel,
        )
        .await?;
        let mut stack = stack;
        stack.receiver_switch = receivers.switch();
        Ok(Session {
            stack,
            receivers,
            trace_sink,
            observers,
            listeners: vec![receiver_task, trace_task],
        })
    }

    /// Stop the listeners (and everything else under `observers`) and wait
    /// for them.
    pub async fn stop_listening(&mut self) {
        self.observers.cancel();
        for t in self.listeners.drain(..) {
            let _ = t.await;
        }
    }
}
