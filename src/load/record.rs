//! Recording request outcomes in bounded memory: HdrHistograms (no
//! per-request sample lists), a per-second series, and a bounded sample of
//! trace ids per endpoint for the trace-coverage check.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, 1 µs to 1 h, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Status(u16),
    Timeout,
    Connect,
    OtherError,
}

impl Outcome {
    pub fn class(self) -> &'static str {
        match self {
            Outcome::Status(s) if s < 200 => "1xx",
            Outcome::Status(s) if s < 300 => "2xx",
            Outcome::Status(s) if s < 400 => "3xx",
            Outcome::Status(s) if s < 500 => "4xx",
            Outcome::Status(_) => "5xx",
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect_error",
            Outcome::OtherError => "error",
        }
    }

    pub fn is_error(self) -> bool {
        !matches!(self, Outcome::Status(s) if s < 500)
    }
}

/// One finished request, sent by a worker to the recorder.
#[derive(Debug, Clone)]
pub struct Sample {
    pub endpoint: usize,
    pub phase: usize,
    /// When the schedule meant to send it, from load start.
    pub intended: Duration,
    /// When it was actually sent, from load start.
    pub sent: Duration,
    /// When the response (or error) came back, from load start.
    pub done: Duration,
    pub outcome: Outcome,
    pub trace_id: u128,
    pub tenant: u32,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Quantiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Quantiles {
    fn of(h: &Histogram<u64>) -> Quantiles {
        if h.is_empty() {
            return Quantiles::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Quantiles {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndpointStats {
    pub endpoint: String,
    pub requests: u64,
    pub dropped: u64,
    pub by_class: BTreeMap<String, u64>,
    /// From the intended send time: what a user arriving on schedule saw.
    pub latency: Quantiles,
    /// From the actual send time (what tools without coordinated-omission
    /// correction report).
    pub latency_uncorrected: Quantiles,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhaseStats {
    pub name: String,
    pub planned_rate: f64,
    pub sent: u64,
    pub dropped: u64,
    pub achieved_rate: f64,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecondPoint {
    /// Seconds from load start.
    pub t: u64,
    pub requests: u64,
    pub errors: u64,
    pub p95_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TraceSample {
    pub trace_id: String,
    pub endpoint: String,
    pub tenant: String,
    pub outcome: String,
    pub sent_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct LoadReport {
    pub target: String,
    pub endpoints: Vec<EndpointStats>,
    pub phases: Vec<PhaseStats>,
    pub timeline: Vec<SecondPoint>,
    /// How late requests left versus their schedule.
    pub send_lateness: Quantiles,
    pub total_sent: u64,
    pub total_dropped: u64,
    pub total_errors: u64,
    pub trace_samples: Vec<TraceSample>,
    /// Whether the run was cut short (Ctrl-C).
    pub interrupted: bool,
    /// Wall-clock time of offset 0 (every `sent_s` counts from here).
    #[serde(default)]
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
}

struct Cell {
    corrected: Histogram<u64>,
    actual: Histogram<u64>,
}

/// Accumulates samples. Memory: one pair of histograms per
/// (endpoint, status class, phase), one per second of run, and at most
/// `trace_cap` trace samples per endpoint.
pub struct Recorder {
    endpoints: Vec<String>,
    phases: Vec<(String, f64, Duration)>,
    cells: BTreeMap<(usize, &'static str, usize), Cell>,
    dropped: Vec<(usize, usize)>,
    seconds: Vec<(u64, u64, Histogram<u64>)>,
    lateness: Histogram<u64>,
    traces: Vec<Vec<TraceSample>>,
    trace_cap: usize,
    tenants: Vec<String>,
}

impl Recorder {
    pub fn new(
        endpoints: Vec<String>,
        phases: Vec<(String, f64, Duration)>,
        tenants: Vec<String>,
        trace_cap: usize,
    ) -> Self {
        let n = endpoints.len();
        Recorder {
            endpoints,
            phases,
            cells: BTreeMap::new(),
            dropped: Vec::new(),
            seconds: Vec::new(),
            lateness: histogram(),
            traces: vec![Vec::new(); n],
            trace_cap,
            tenants,
        }
    }

    pub fn dropped(&mut self, endpoint: usize, phase: usize) {
        self.dropped.push((endpoint, phase));
    }

    pub fn record(&mut self, s: &Sample) {
        let cell = self
            .cells
            .entry((s.endpoint, s.outcome.class(), s.phase))
            .or_insert_with(|| Cell {
                corrected: histogram(),
                actual: histogram(),
            });
        let corrected = micros(s.done.saturating_sub(s.intended));
        cell.corrected.saturating_record(corrected);
        cell.actual
            .saturating_record(micros(s.done.saturating_sub(s.sent)));
        self.lateness
            .saturating_record(micros(s.sent.saturating_sub(s.intended)));

        let second = s.intended.as_secs() as usize;
        while self.seconds.len() <= second {
            self.seconds.push((0, 0, histogram()));
        }
        let slot = &mut self.seconds[second];
        slot.0 += 1;
        slot.1 += u64::from(s.outcome.is_error());
        slot.2.saturating_record(corrected);

        let traces = &mut self.traces[s.endpoint];
        if traces.len() < self.trace_cap {
            traces.push(TraceSample {
                trace_id: format!("{:032x}", s.trace_id),
                endpoint: self.endpoints[s.endpoint].clone(),
                tenant: self
                    .tenants
                    .get(s.tenant as usize)
                    .cloned()
                    .unwrap_or_default(),
                outcome: s.outcome.class().to_string(),
                sent_s: s.sent.as_secs_f64(),
            });
        }
    }

    pub fn finish(self, target: String, interrupted: bool) -> LoadReport {
        let mut endpoints = Vec::new();
        for (ei, name) in self.endpoints.iter().enumerate() {
            let mut corrected = histogram();
            let mut actual = histogram();
            let mut by_class = BTreeMap::new();
            for ((e, class, _), cell) in &self.cells {
                if *e != ei {
                    continue;
                }
                corrected.add(&cell.corrected).expect("same bounds");
                actual.add(&cell.actual).expect("same bounds");
                *by_class.entry(class.to_string()).or_insert(0) += cell.corrected.len();
            }
            endpoints.push(EndpointStats {
                endpoint: name.clone(),
                requests: corrected.len(),
                dropped: self.dropped.iter().filter(|(e, _)| *e == ei).count() as u64,
                by_class,
                latency: Quantiles::of(&corrected),
                latency_uncorrected: Quantiles::of(&actual),
            });
        }
        let phases = self
            .phases
            .iter()
            .enumerate()
            .map(|(pi, (name, rate, len))| {
                let (mut sent, mut errors) = (0, 0);
                for ((_, class, p), cell) in &self.cells {
                    if *p == pi {
                        sent += cell.corrected.len();
                        if !matches!(*class, "1xx" | "2xx" | "3xx" | "4xx") {
                            errors += cell.corrected.len();
                        }
                    }
                }
                PhaseStats {
                    name: name.clone(),
                    planned_rate: *rate,
                    sent,
                    dropped: self.dropped.iter().filter(|(_, p)| *p == pi).count() as u64,
                    achieved_rate: if len.is_zero() {
                        0.0
                    } else {
                        sent as f64 / len.as_secs_f64()
                    },
                    errors,
                }
            })
            .collect::<Vec<_>>();
        let timeline = self
            .seconds
            .iter()
            .enumerate()
            .map(|(t, (n, e, h))| SecondPoint {
                t: t as u64,
                requests: *n,
                errors: *e,
                p95_ms: Quantiles::of(h).p95_ms,
            })
            .collect();
        LoadReport {
            target,
            total_sent: endpoints.iter().map(|e| e.requests).sum(),
            total_dropped: self.dropped.len() as u64,
            total_errors: phases.iter().map(|p| p.errors).sum(),
            endpoints,
            phases,
            timeline,
            send_lateness: Quantiles::of(&self.lateness),
            trace_samples: self.traces.into_iter().flatten().collect(),
            interrupted,
            started_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(
        endpoint: usize,
        intended_ms: u64,
        sent_ms: u64,
        done_ms: u64,
        outcome: Outcome,
    ) -> Sample {
        Sample {
            endpoint,
            phase: 0,
            intended: Duration::from_millis(intended_ms),
            sent: Duration::from_millis(sent_ms),
            done: Duration::from_millis(done_ms),
            outcome,
            trace_id: 1,
            tenant: 0,
        }
    }

    #[test]
    fn corrected_latency_counts_from_the_intended_time() {
        let mut r = Recorder::new(
            vec!["GET /a".into()],
            vec![("p".into(), 10.0, Duration::from_secs(1))],
            vec!["tenant_001".into()],
            10,
        );
        // Sent 900 ms late (the client was stalled), answered in 10 ms.
        r.record(&sample(0, 100, 1000, 1010, Outcome::Status(200)));
        let rep = r.finish("t".into(), false);
        let e = &rep.endpoints[0];
        assert!((e.latency.max_ms - 910.0).abs() < 1.0, "{:?}", e.latency);
        assert!(
            (e.latency_uncorrected.max_ms - 10.0).abs() < 0.1,
            "{:?}",
            e.latency_uncorrected
        );
        assert!((rep.send_lateness.max_ms - 900.0).abs() < 1.0);
    }

    #[test]
    fn classes_errors_drops_and_trace_cap() {
        let mut r = Recorder::new(
            vec!["GET /a".into(), "POST /b".into()],
            vec![("p".into(), 10.0, Duration::from_secs(2))],
            vec!["tenant_001".into()],
            2,
        );
        r.record(&sample(0, 0, 0, 5, Outcome::Status(200)));
        r.record(&sample(0, 10, 10, 15, Outcome::Status(503)));
        r.record(&sample(0, 20, 20, 25, Outcome::Connect));
        r.record(&sample(1, 1500, 1500, 1510, Outcome::Status(404)));
        r.dropped(1, 0);
        let rep = r.finish("t".into(), false);
        assert_eq!(rep.endpoints[0].requests, 3);
        assert_eq!(rep.endpoints[0].by_class["5xx"], 1);
        assert_eq!(rep.endpoints[0].by_class["connect_error"], 1);
        assert_eq!(rep.endpoints[1].dropped, 1);
        assert_eq!(
            rep.total_errors, 2,
            "5xx and connect errors; 4xx is the client's fault"
        );
        assert_eq!(rep.phases[0].sent, 4);
        assert_eq!(rep.timeline.len(), 2);
        assert_eq!(rep.timeline[0].errors, 2);
        assert_eq!(
            rep.trace_samples
                .iter()
                .filter(|t| t.endpoint == "GET /a")
                .count(),
            2
        );
    }
}
