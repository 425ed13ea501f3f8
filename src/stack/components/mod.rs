//! One module per stack component, holding everything zeta-bench knows
//! about it: how its config is rendered and time-scaled, how it is started
//! (process or container spec, readiness), how an already-running one is
//! probed (readiness and version), which faults it takes, and which SLOs
//! cannot be measured without it.
//!
//! [`ALL`] is the catalogue, in the order the harness brings components
//! up. The providers iterate it: the native and docker providers call each
//! entry's [`Start`] ([`super::native`]), the external provider probes the
//! entries a scenario gives URLs for ([`super::external`]), the docker
//! provider takes each `compose_service`'s pinned image, and the game
//! day's access table, the fault preflight and the "not measured" reasons
//! read the same entries. Adding a component means adding its module and
//! its entry in [`ALL`].
//!
//! What a start hands on to the next (addresses, the mocks' environment,
//! the rendered configs) travels in the bring-up context, [`Build`].

pub mod alertmanager;
mod build;
pub mod grafana;
pub mod jaeger;
pub mod loki;
pub mod mocks;
pub mod node_exporter;
pub mod postgres_exporter;
pub mod postgresql;
pub mod prometheus;
pub mod redis;
pub mod redis_exporter;
pub mod shipper;

use std::future::Future;
use std::pin::Pin;

pub use build::{Build, Exporter, READY_TIMEOUT, Running, STOP_GRACE};

use crate::names::{ComponentName, SloKind};
use crate::scenario::FaultKind;

/// What zeta-bench knows about one component.
pub struct Component {
    pub name: ComponentName,
    /// What it is for, as the game day's access table says.
    pub purpose: &'static str,
    /// Its service in `stack/docker-compose.yml`, whose pinned image the
    /// docker provider runs; `None` for what the harness always runs itself
    /// (the mocks) or what the compose file does not pin (Alloy).
    pub compose_service: Option<&'static str>,
    /// How a running instance is probed over HTTP: the external provider's
    /// readiness check and version. `None`: not reachable by URL.
    pub probe: Option<Probe>,
    /// The faults aimed at it, with the target name a scenario writes.
    pub faults: &'static [(FaultKind, &'static str)],
    /// Whether this machine can carry out a fault on it (programs, rights);
    /// `docker` when its programs come from images. `None`: always.
    pub can_fault: Option<fn(docker: bool) -> Result<(), String>>,
    /// SLOs that are not measured without it.
    pub needed_by: &'static [Need],
    /// How the native and docker providers bring it up. `None`: another
    /// component's start brings it up (Alloy, when Promtail is absent).
    pub start: Option<Start>,
}

impl Component {
    /// A component with no faults, no SLOs that need it, no URL probe and
    /// no image: the builders below add what it has.
    pub const fn new(name: ComponentName, purpose: &'static str) -> Component {
        Component {
            name,
            purpose,
            compose_service: None,
            probe: None,
            faults: &[],
            can_fault: None,
            needed_by: &[],
            start: None,
        }
    }

    /// The docker provider runs this compose service's pinned image.
    pub const fn compose(mut self, service: &'static str) -> Component {
        self.compose_service = Some(service);
        self
    }

    /// An external stack may give its URL; this is how it is probed.
    pub const fn probe(mut self, probe: Probe) -> Component {
        self.probe = Some(probe);
        self
    }

    /// The faults it takes, and whether this machine can carry them out.
    pub const fn faults(
        mut self,
        faults: &'static [(FaultKind, &'static str)],
        can_fault: Option<fn(bool) -> Result<(), String>>,
    ) -> Component {
        self.faults = faults;
        self.can_fault = can_fault;
        self
    }

    /// SLOs that are not measured without it.
    pub const fn needed_by(mut self, needs: &'static [Need]) -> Component {
        self.needed_by = needs;
        self
    }

    /// How the native and docker providers start it.
    pub const fn start(mut self, run: StartFn) -> Component {
        self.start = Some(Start { reserve: None, run });
        self
    }

    /// [`Component::start`], with a reservation made before anything starts.
    pub const fn start_reserving(mut self, reserve: ReserveFn, run: StartFn) -> Component {
        self.start = Some(Start {
            reserve: Some(reserve),
            run,
        });
        self
    }
}

/// An SLO that a component's absence leaves unmeasured.
pub struct Need {
    pub slo: SloKind,
    /// What was therefore not done, after the component's absence reason.
    pub not_done: &'static str,
    /// When the harness started the stack, a stand-in of its own measures
    /// instead (and the judge never lets a stand-in pass); the reason then
    /// applies only to a stack the harness did not start.
    pub stand_in_when_started: bool,
}

/// The HTTP readiness check and version of a running component.
pub struct Probe {
    /// GET this path answers 2xx when the component is ready.
    pub ready: &'static str,
    /// Where it reports its own version, and where in the JSON.
    pub version: Option<(&'static str, PickVersion)>,
}

/// Where in a component's JSON answer its version is.
pub type PickVersion = fn(&serde_json::Value) -> Option<&str>;

/// A boxed start future: what [`Start`]'s functions return.
pub type Starting<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Bring a component up (or record why it is absent) and wait until it is
/// ready.
pub type StartFn = for<'a, 'b> fn(&'a mut Build<'b>) -> Starting<'a>;

/// Run for every component before any starts: find what must exist and
/// take the addresses others must know before it starts (Grafana's
/// datasource points at Prometheus, which starts last).
pub type ReserveFn = fn(&mut Build<'_>) -> anyhow::Result<()>;

/// The native and docker providers' part of a component.
pub struct Start {
    pub reserve: Option<ReserveFn>,
    pub run: StartFn,
}

/// Every component, in start order: what the mocks connect to at start-up
/// (the disk's node-exporter, PostgreSQL, Redis and their exporters), then
/// Loki and Jaeger (the mocks export from their first request), the mocks
/// (ml-engine before backend-api, which calls it), the log shipper and
/// Grafana, then Alertmanager and Prometheus, whose first scrapes must find
/// every target up.
pub const ALL: &[&Component] = &[
    &node_exporter::COMPONENT,
    &postgresql::COMPONENT,
    &postgres_exporter::COMPONENT,
    &redis::COMPONENT,
    &redis_exporter::COMPONENT,
    &loki::COMPONENT,
    &jaeger::COMPONENT,
    &mocks::ML_ENGINE,
    &mocks::BACKEND_API,
    &shipper::PROMTAIL,
    &shipper::ALLOY,
    &grafana::COMPONENT,
    &alertmanager::COMPONENT,
    &prometheus::COMPONENT,
];

/// The catalogue's entry for `name`.
pub fn get(name: ComponentName) -> &'static Component {
    ALL.iter()
        .copied()
        .find(|c| c.name == name)
        .expect("every component name has a catalogue entry (a test checks)")
}

/// The entry a fault target names (`postgresql`, `disk`, `backend-api`).
pub fn fault_target(target: &str) -> Option<&'static Component> {
    ALL.iter()
        .copied()
        .find(|c| c.faults.iter().any(|(_, t)| *t == target))
}

/// (component, compose service) of every component the docker provider
/// runs from an image.
pub fn compose_services() -> Vec<(&'static str, &'static str)> {
    ALL.iter()
        .filter_map(|c| c.compose_service.map(|s| (c.name.name(), s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_every_component_once() {
        for name in ComponentName::ALL {
            assert_eq!(ALL.iter().filter(|c| c.name == name).count(), 1, "{name}");
            assert_eq!(get(name).name, name);
        }
        assert_eq!(ALL.len(), ComponentName::ALL.len());
    }

    #[test]
    fn the_catalogues_faults_are_the_scenario_decoders() {
        // The decoder (a layer below) says what each kind may target; the
        // catalogue says which component takes it. They must agree both ways.
        // `exec` faults are the scenario's own commands: no component
        // carries them out, whatever they target. Receiver faults act on
        // the harness's own receivers, which are no stack component.
        let by_harness = [
            FaultKind::Exec,
            FaultKind::ReceiverFailing,
            FaultKind::ReceiverSlow,
        ];
        for kind in FaultKind::ALL
            .into_iter()
            .filter(|k| !by_harness.contains(k))
        {
            for target in kind.targets() {
                let c = fault_target(target).unwrap_or_else(|| panic!("{target}"));
                assert!(c.faults.contains(&(kind, target)), "{kind:?} on {target}");
            }
        }
        for c in ALL {
            for (kind, target) in c.faults {
                assert!(kind.targets().contains(target), "{} {kind:?}", c.name);
            }
        }
    }

    #[test]
    fn every_started_component_but_the_alternatives_has_a_start() {
        for c in ALL {
            let alternative = c.name == ComponentName::Alloy;
            assert_eq!(c.start.is_none(), alternative, "{}", c.name);
        }
    }
}
