//! Recording request outcomes in bounded memory: HdrHistograms (no
//! per-request sample lists), a per-second series, and a bounded sample of
//! trace ids per endpoint for the trace-coverage check.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, 1 µs to 1 h, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
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
    pub(super) fn of(h: &Histogram<u64>) -> Quantiles {
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
    /// The latencies of the requests a service answered (from the actual
    /// send time; refused connections and timeouts left out), as an
    /// encoded histogram: what a server-side latency histogram should have
    /// seen, which the dashboard truth check buckets as Prometheus would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
}

impl EndpointStats {
    /// Requests answered within `seconds` (actual latency), and all of
    /// them, from [`Self::latency_histogram`].
    pub fn answered_within(&self, seconds: f64) -> Option<(u64, u64)> {
        let h = decode(self.latency_histogram.as_deref()?).ok()?;
        let micros = (seconds * 1e6).floor();
        let at_or_below = if micros < 1.0 {
            0
        } else {
            h.count_between(0, micros.min(h.high() as f64) as u64)
        };
        Some((at_or_below, h.len()))
    }
}

/// Requests the load sent to one endpoint for one tenant that ended one
/// way: the ground truth of every request-counting dashboard panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestCount {
    pub endpoint: String,
    pub tenant: String,
    /// The HTTP status, or none when no response came (timeout, refused).
    pub status: Option<u16>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhaseStats {
    pub name: String,
    /// The schedule's mean rate over the phase (whole schedule, not shard).
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
    /// When its response came back, from load start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_s: Option<f64>,
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
    /// (second from load start, requests dropped in it), where known (not
    /// kept through a shard merge).
    #[serde(default)]
    pub dropped_by_second: Vec<(u64, u64)>,
    pub total_errors: u64,
    pub trace_samples: Vec<TraceSample>,
    /// Requests per (endpoint, tenant, status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestCount>,
    /// Whether the run was cut short (Ctrl-C).
    pub interrupted: bool,
    /// Wall-clock time of offset 0 (every `sent_s` counts from here).
    #[serde(default)]
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Which share of the schedule this run sent, when sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The recorder's state (histograms, not quantiles), so that shards
    /// merge losslessly (`zeta-bench report a.json b.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawLoad>,
}

/// The i-th of N shares of a schedule: every arrival whose index is i
/// modulo N (0-based `index`), so N shards together send exactly the
/// schedule one engine would, with the same requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `i/N` with 1 ≤ i ≤ N, as on the command line (1-based).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let err = || format!("expected a shard like \"1/4\" (1 ≤ i ≤ N), found {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let (i, n): (u32, u32) = (
            i.trim().parse().map_err(|_| err())?,
            n.trim().parse().map_err(|_| err())?,
        );
        if n == 0 || i == 0 || i > n {
            return Err(err());
        }
        Ok(Shard {
            index: i - 1,
            count: n,
        })
    }

    pub fn owns(self, arrival: u64) -> bool {
        arrival % u64::from(self.count) == u64::from(self.index)
    }
}

/// A histogram as text: HdrHistogram's V2 deflate encoding, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    use base64::Engine;
    use hdrhistogram::serialization::Serializer;
    let mut buf = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing to memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// The most trace samples per endpoint a report may keep.
const MAX_TRACE_CAP: usize = 1 << 20;

/// The largest serialized histogram read back (ours take a few KB).
const MAX_ENCODED: usize = 1 << 20;

pub(super) fn decode(s: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine;
    if s.len() > MAX_ENCODED * 4 / 3 + 4 {
        return Err(format!("histogram is over {} KiB", MAX_ENCODED >> 10));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    check_header(&bytes)?;
    let h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram does not decode: {e:?}"))?;
    let mut out = histogram();
    out.add(&h)
        .map_err(|e| format!("histogram out of bounds: {e:?}"))?;
    Ok(out)
}

/// A serialized histogram's header must describe one like ours before the
/// deserializer allocates what it says: the counts array it declares grows
/// with its highest value and significant figures, so a hostile header
/// (2^63, 5 figures) would ask for gigabytes.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    const V2: u32 = 0x1c84_9313;
    const V2_DEFLATE: u32 = 0x1c84_9314;
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let be64 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let inner: Vec<u8> = match be32(bytes, 0) {
        Some(V2) => bytes.to_vec(),
        Some(V2_DEFLATE) => {
            use std::io::Read;
            let mut out = Vec::new();
            // Only the 40-byte header is needed.
            flate2::read::ZlibDecoder::new(bytes.get(8..).unwrap_or_default())
                .take(40)
                .read_to_end(&mut out)
                .map_err(|e| format!("histogram does not decode: {e}"))?;
            out
        }
        _ => return Err("histogram does not decode: not an HdrHistogram V2 encoding".into()),
    };
    let (Some(V2), Some(figures), Some(lowest), Some(highest)) = (
        be32(&inner, 0),
        be32(&inner, 12),
        be64(&inner, 16),
        be64(&inner, 24),
    ) else {
        return Err("histogram does not decode: its header is cut short".into());
    };
    let ours = histogram();
    if figures > 3 || lowest < 1 || highest > ours.high() * 2 {
        return Err(format!(
            "histogram header declares {figures} significant figures over {lowest}..{highest}; zeta-bench writes 3 over 1..{}",
            ours.high()
        ));
    }
    Ok(())
}

/// [`Recorder`]'s state in JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct RawLoad {
    pub endpoints: Vec<String>,
    /// (name, planned rate per second, length in seconds)
    pub phases: Vec<(String, f64, f64)>,
    pub tenants: Vec<String>,
    pub trace_cap: usize,
    /// (endpoint, status class, phase, corrected, uncorrected)
    pub cells: Vec<(usize, String, usize, String, String)>,
    /// (endpoint, phase, count)
    pub dropped: Vec<(usize, usize, u64)>,
    /// Per second: (requests, errors, corrected latency histogram)
    pub seconds: Vec<(u64, u64, String)>,
    pub lateness: String,
    /// (endpoint, tenant, status or 0 for no response, count)
    #[serde(default)]
    pub counts: Vec<(usize, u32, u16, u64)>,
}

struct Cell {
    corrected: Histogram<u64>,
    actual: Histogram<u64>,
}

/// Accumulates samples. Memory: one pair of histograms per
/// (endpoint, status class, phase), the per-second series (a few hundred
/// bytes per second, see [`super::timeline`]), and at most `trace_cap`
/// trace samples per endpoint.
///
/// The trace samples are a uniform reservoir (Algorithm R) over every
/// request of the endpoint that reached a service (an HTTP status came
/// back), from the first to the last: the requests after a fault and a
/// restart are as likely to be checked as those before it, and refused
/// connections during an outage do not use the sample up.
pub struct Recorder {
    endpoints: Vec<String>,
    phases: Vec<(String, f64, Duration)>,
    cells: BTreeMap<(usize, &'static str, usize), Cell>,
    /// (endpoint, phase) → requests dropped.
    dropped: BTreeMap<(usize, usize), u64>,
    /// Second from load start → requests dropped in it (bounded by the
    /// run's length in seconds).
    dropped_by_second: BTreeMap<u64, u64>,
    seconds: super::timeline::Timeline,
    lateness: Histogram<u64>,
    traces: Vec<Vec<TraceSample>>,
    trace_cap: usize,
    /// Per endpoint, requests that reached a service (the reservoir's n).
    reached: Vec<u64>,
    /// The reservoir's random source (SplitMix64, fixed seed: the same
    /// requests give the same sample).
    rng: u64,
    tenants: Vec<String>,
    /// (endpoint, tenant, status or 0) → requests: bounded by endpoints ×
    /// tenants × the statuses the services answer.
    counts: BTreeMap<(usize, u32, u16), u64>,
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
            dropped: BTreeMap::new(),
            dropped_by_second: BTreeMap::new(),
            seconds: Default::default(),
            lateness: histogram(),
            traces: vec![Vec::new(); n],
            trace_cap,
            reached: vec![0; n],
            rng: 0x5eed_7ace,
            tenants,
            counts: BTreeMap::new(),
        }
    }

    /// The run writes no raw record (no shard merge to feed): sealed
    /// seconds keep only their p95, so memory does not grow with the run's
    /// length by the histograms' encodings.
    pub fn summaries_only(&mut self) {
        self.seconds.summaries_only();
    }

    pub fn dropped(&mut self, endpoint: usize, phase: usize) {
        *self.dropped.entry((endpoint, phase)).or_default() += 1;
    }

    /// A drop `second` seconds after the load started.
    pub fn dropped_at(&mut self, endpoint: usize, phase: usize, second: u64) {
        self.dropped(endpoint, phase);
        *self.dropped_by_second.entry(second).or_default() += 1;
    }

    pub fn record(&mut self, s: &Sample) {
        let status = match s.outcome {
            Outcome::Status(code) => code,
            _ => 0,
        };
        *self
            .counts
            .entry((s.endpoint, s.tenant, status))
            .or_default() += 1;
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

        self.seconds.record(
            s.intended.as_secs() as usize,
            s.outcome.is_error(),
            corrected,
        );

        if matches!(s.outcome, Outcome::Status(_)) {
            self.sample_trace(s);
        }
    }

    /// Algorithm R: the n-th request that reached a service replaces a
    /// random one of the `trace_cap` kept with probability cap / n.
    fn sample_trace(&mut self, s: &Sample) {
        let e = s.endpoint;
        self.reached[e] += 1;
        let n = self.reached[e];
        let slot = if self.traces[e].len() < self.trace_cap {
            None
        } else {
            let j = splitmix(&mut self.rng) % n;
            match usize::try_from(j) {
                Ok(j) if j < self.trace_cap => Some(j),
                _ => return,
            }
        };
        let sample = TraceSample {
            trace_id: format!("{:032x}", s.trace_id),
            endpoint: self.endpoints[e].clone(),
            tenant: self
                .tenants
                .get(s.tenant as usize)
                .cloned()
                .unwrap_or_default(),
            outcome: s.outcome.class().to_string(),
            sent_s: s.sent.as_secs_f64(),
            answered_s: Some(s.done.as_secs_f64()),
        };
        match slot {
            Some(j) => self.traces[e][j] = sample,
            None => self.traces[e].push(sample),
        }
    }

    pub fn finish(self, target: String, interrupted: bool) -> LoadReport {
        let mut endpoints = Vec::new();
        for (ei, name) in self.endpoints.iter().enumerate() {
            let mut corrected = histogram();
            let mut actual = histogram();
            let mut answered = histogram();
            let mut by_class = BTreeMap::new();
            for ((e, class, _), cell) in &self.cells {
                if *e != ei {
                    continue;
                }
                corrected.add(&cell.corrected).expect("same bounds");
                actual.add(&cell.actual).expect("same bounds");
                if class.ends_with("xx") {
                    answered.add(&cell.actual).expect("same bounds");
                }
                *by_class.entry(class.to_string()).or_insert(0) += cell.corrected.len();
            }
            endpoints.push(EndpointStats {
                endpoint: name.clone(),
                requests: corrected.len(),
                dropped: self
                    .dropped
                    .iter()
                    .filter(|((e, _), _)| *e == ei)
                    .map(|(_, n)| n)
                    .sum(),
                by_class,
                latency: Quantiles::of(&corrected),
                latency_uncorrected: Quantiles::of(&actual),
                latency_histogram: (!answered.is_empty()).then(|| encode(&answered)),
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
                    dropped: self
                        .dropped
                        .iter()
                        .filter(|((_, p), _)| *p == pi)
                        .map(|(_, n)| n)
                        .sum(),
                    achieved_rate: if len.is_zero() {
                        0.0
                    } else {
                        sent as f64 / len.as_secs_f64()
                    },
                    errors,
                }
            })
            .collect::<Vec<_>>();
        let timeline = self.seconds.points();
        LoadReport {
            target,
            total_sent: endpoints.iter().map(|e| e.requests).sum(),
            total_dropped: self.dropped.values().sum(),
            dropped_by_second: self.dropped_by_second.into_iter().collect(),
            total_errors: phases.iter().map(|p| p.errors).sum(),
            endpoints,
            phases,
            timeline,
            send_lateness: Quantiles::of(&self.lateness),
            trace_samples: self.traces.into_iter().flatten().collect(),
            requests: self
                .counts
                .iter()
                .map(|((e, t, status), n)| RequestCount {
                    endpoint: self.endpoints[*e].clone(),
                    tenant: self.tenants.get(*t as usize).cloned().unwrap_or_default(),
                    status: (*status != 0).then_some(*status),
                    count: *n,
                })
                .collect(),
            interrupted,
            started_at: None,
            shard: None,
            raw: None,
        }
    }

    /// (sent, errors, dropped, p95 ms of the last complete second), for
    /// progress reports.
    pub fn live(&self) -> (u64, u64, u64, f64) {
        let (sent, errors) = self.seconds.totals();
        (
            sent,
            errors,
            self.dropped.values().sum(),
            self.seconds.recent_p95_ms(),
        )
    }

    /// The state as JSON-ready text, for merging later.
    pub fn raw(&self) -> RawLoad {
        RawLoad {
            endpoints: self.endpoints.clone(),
            phases: self
                .phases
                .iter()
                .map(|(n, r, d)| (n.clone(), *r, d.as_secs_f64()))
                .collect(),
            tenants: self.tenants.clone(),
            trace_cap: self.trace_cap,
            cells: self
                .cells
                .iter()
                .map(|((e, c, p), cell)| {
                    (
                        *e,
                        c.to_string(),
                        *p,
                        encode(&cell.corrected),
                        encode(&cell.actual),
                    )
                })
                .collect(),
            dropped: self
                .dropped
                .iter()
                .map(|((e, p), n)| (*e, *p, *n))
                .collect(),
            seconds: self.seconds.raw(),
            lateness: encode(&self.lateness),
            counts: self
                .counts
                .iter()
                .map(|((e, t, s), n)| (*e, *t, *s, *n))
                .collect(),
        }
    }

    /// A recorder holding `raw` (and the report's trace samples).
    pub fn from_raw(raw: &RawLoad, traces: &[TraceSample]) -> Result<Recorder, String> {
        if raw.trace_cap > MAX_TRACE_CAP {
            return Err(format!(
                "trace_cap: expected at most {MAX_TRACE_CAP}, found {}",
                raw.trace_cap
            ));
        }
        let mut r = Recorder::new(
            raw.endpoints.clone(),
            raw.phases
                .iter()
                .map(|(n, rate, d)| {
                    let d = crate::input::units::checked_secs(*d).ok_or_else(|| {
                        format!(
                            "phase {n:?} lasts {} s, not a length of time",
                            crate::input::units::show_number(*d)
                        )
                    })?;
                    if !(rate.is_finite() && *rate >= 0.0) {
                        return Err(format!("phase {n:?} has a rate of {rate}/s"));
                    }
                    Ok((n.clone(), *rate, d))
                })
                .collect::<Result<_, String>>()?,
            raw.tenants.clone(),
            raw.trace_cap,
        );
        for (e, class, p, corrected, actual) in &raw.cells {
            if *e >= r.endpoints.len() || *p >= r.phases.len() {
                return Err(format!(
                    "a histogram names endpoint {e} / phase {p}, which the report does not have"
                ));
            }
            let class = CLASSES
                .iter()
                .find(|c| **c == class)
                .ok_or_else(|| format!("unknown status class {class:?}"))?;
            r.cells.insert(
                (*e, class, *p),
                Cell {
                    corrected: decode(corrected)?,
                    actual: decode(actual)?,
                },
            );
        }
        for (e, p, n) in &raw.dropped {
            r.dropped.insert((*e, *p), *n);
        }
        for (e, t, s, n) in &raw.counts {
            if *e >= r.endpoints.len() || *t as usize >= r.tenants.len().max(1) {
                return Err(format!(
                    "a request count names endpoint {e} / tenant {t}, which the report does not have"
                ));
            }
            let c = r.counts.entry((*e, *t, *s)).or_default();
            *c = c.saturating_add(*n);
        }
        r.seconds = super::timeline::Timeline::from_raw(&raw.seconds)?;
        r.lateness = decode(&raw.lateness)?;
        for t in traces {
            if let Some(i) = r.endpoints.iter().position(|e| *e == t.endpoint) {
                r.traces[i].push(t.clone());
            }
        }
        Ok(r)
    }

    /// Add `other`'s counts and histograms to this one's. Both must come
    /// from the same schedule (same endpoints and phases).
    pub fn merge(&mut self, other: Recorder) -> Result<(), String> {
        if self.endpoints != other.endpoints || self.phases != other.phases {
            return Err(
                "the reports come from different schedules (endpoints or phases differ)".into(),
            );
        }
        for (k, cell) in other.cells {
            match self.cells.get_mut(&k) {
                Some(c) => {
                    c.corrected
                        .add(&cell.corrected)
                        .map_err(|e| format!("{e:?}"))?;
                    c.actual.add(&cell.actual).map_err(|e| format!("{e:?}"))?;
                }
                None => {
                    self.cells.insert(k, cell);
                }
            }
        }
        for (k, n) in other.dropped {
            *self.dropped.entry(k).or_default() += n;
        }
        for (k, n) in other.counts {
            let c = self.counts.entry(k).or_default();
            *c = c.saturating_add(n);
        }
        self.seconds.merge(other.seconds)?;
        self.lateness
            .add(&other.lateness)
            .map_err(|e| format!("{e:?}"))?;
        for (mine, theirs) in self.traces.iter_mut().zip(other.traces) {
            mine.extend(theirs);
            mine.truncate(self.trace_cap);
        }
        Ok(())
    }
}

/// SplitMix64: a small, good, seedable generator for the reservoir.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Every status class [`Outcome::class`] can name.
const CLASSES: &[&str] = &[
    "1xx",
    "2xx",
    "3xx",
    "4xx",
    "5xx",
    "timeout",
    "connect_error",
    "error",
];

/// Merge sharded load reports into the report of the whole schedule.
pub fn merge_reports(reports: &[LoadReport]) -> Result<LoadReport, String> {
    let first = reports.first().ok_or("nothing to merge")?;
    let mut shards: Vec<Shard> = Vec::new();
    let mut merged: Option<Recorder> = None;
    for (i, r) in reports.iter().enumerate() {
        let raw = r.raw.as_ref().ok_or_else(|| {
            format!(
                "report {} has no histograms (write it with `zeta-bench load --out`)",
                i + 1
            )
        })?;
        if let Some(s) = r.shard {
            if shards.contains(&s) {
                return Err(format!("shard {}/{} appears twice", s.index + 1, s.count));
            }
            shards.push(s);
        }
        let rec = Recorder::from_raw(raw, &r.trace_samples)
            .map_err(|e| format!("report {}: {e}", i + 1))?;
        match &mut merged {
            Some(m) => m.merge(rec).map_err(|e| format!("report {}: {e}", i + 1))?,
            None => merged = Some(rec),
        }
    }
    if let Some(n) = shards.first().map(|s| s.count) {
        if shards.iter().any(|s| s.count != n) {
            return Err("the reports come from different shard counts".into());
        }
        if let Some(s) = shards.iter().find(|s| s.index >= s.count) {
            return Err(format!(
                "a report says it is shard {} of {}",
                s.index + 1,
                s.count
            ));
        }
        // Listed lazily and at most ten: the count is what the file
        // declares, not what was given.
        let absent = n as usize - shards.len();
        if absent > 0 {
            let listed: Vec<String> = (0..n)
                .filter(|i| !shards.iter().any(|s| s.index == *i))
                .take(10)
                .map(|i| format!("{}/{n}", i + 1))
                .collect();
            let more = if absent > listed.len() {
                format!(", … ({absent} in all)")
            } else {
                String::new()
            };
            return Err(format!(
                "shard(s) {}{more} are missing; the merge would under-count",
                listed.join(", ")
            ));
        }
    }
    let merged = merged.expect("at least one report");
    let raw = merged.raw();
    let mut out = merged.finish(first.target.clone(), reports.iter().any(|r| r.interrupted));
    out.started_at = reports.iter().filter_map(|r| r.started_at).min();
    out.raw = Some(raw);
    Ok(out)
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

    #[test]
    fn trace_samples_are_a_reservoir_over_the_whole_run_of_reached_requests() {
        let mut r = Recorder::new(
            vec!["GET /a".into()],
            vec![("p".into(), 100.0, Duration::from_secs(100))],
            vec!["tenant_001".into()],
            100,
        );
        // 10 s of answers, 20 s of outage (refused), 70 s of answers.
        for i in 0..10_000u64 {
            let at = i * 10;
            let outcome = if (1_000..3_000).contains(&i) {
                Outcome::Connect
            } else {
                Outcome::Status(200)
            };
            let mut s = sample(0, at, at, at + 1, outcome);
            s.trace_id = u128::from(i);
            r.record(&s);
        }
        let rep = r.finish("t".into(), false);
        let t = &rep.trace_samples;
        assert_eq!(t.len(), 100);
        assert!(
            t.iter().all(|s| s.outcome == "2xx"),
            "refusals are not kept"
        );
        let after_outage = t.iter().filter(|s| s.sent_s >= 30.0).count();
        // 7000 of the 8000 reached requests came after the outage: about 87.
        assert!((70..=98).contains(&after_outage), "{after_outage} of 100");
        let ids: std::collections::BTreeSet<_> = t.iter().map(|s| &s.trace_id).collect();
        assert_eq!(ids.len(), 100, "each request at most once");
    }

    /// Samples across 3 s, 2 endpoints, 2 phases, every outcome class.
    fn samples() -> Vec<Sample> {
        let outcomes = [
            Outcome::Status(200),
            Outcome::Status(404),
            Outcome::Status(503),
            Outcome::Timeout,
            Outcome::Connect,
        ];
        (0..3000u64)
            .map(|i| Sample {
                endpoint: (i % 2) as usize,
                phase: usize::from(i >= 1500),
                intended: Duration::from_millis(i),
                sent: Duration::from_millis(i + i % 7),
                done: Duration::from_millis(i + 3 + (i * 37) % 900),
                outcome: outcomes[(i % 5) as usize],
                trace_id: u128::from(i),
                tenant: (i % 3) as u32,
            })
            .collect()
    }

    fn recorder() -> Recorder {
        Recorder::new(
            vec!["GET /a".into(), "POST /b".into()],
            vec![
                ("one".into(), 500.0, Duration::from_millis(1500)),
                ("two".into(), 500.0, Duration::from_millis(1500)),
            ],
            vec![
                "tenant_001".into(),
                "tenant_002".into(),
                "tenant_003".into(),
            ],
            0,
        )
    }

    #[test]
    fn shards_merge_into_exactly_the_whole_run() {
        let all = samples();
        let mut whole = recorder();
        let mut shards = [recorder(), recorder(), recorder()];
        for (i, s) in all.iter().enumerate() {
            whole.record(s);
            shards[i % 3].record(s);
        }
        whole.dropped(1, 1);
        shards[2].dropped(1, 1);
        let expected = whole.finish("t".into(), false);
        // Through JSON, as the shards' files would be.
        let reports: Vec<LoadReport> = shards
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let raw = r.raw();
                let mut rep = r.finish("t".into(), false);
                rep.shard = Some(Shard {
                    index: i as u32,
                    count: 3,
                });
                rep.raw = Some(raw);
                serde_json::from_str(&serde_json::to_string(&rep).unwrap()).unwrap()
            })
            .collect();
        let mut merged = merge_reports(&reports).unwrap();
        merged.raw = None;
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            serde_json::to_value(&expected).unwrap(),
            "quantiles, counts, per-second series and lateness all equal"
        );
        assert_eq!(merged.total_sent, 3000);
        assert_eq!(merged.total_dropped, 1);
    }

    #[test]
    fn merging_refuses_gaps_repeats_and_foreign_reports() {
        let rep = |i: u32, n: u32| {
            let r = recorder();
            let raw = r.raw();
            let mut rep = r.finish("t".into(), false);
            rep.shard = Some(Shard { index: i, count: n });
            rep.raw = Some(raw);
            rep
        };
        assert!(
            merge_reports(&[rep(0, 3), rep(1, 3)])
                .unwrap_err()
                .contains("3/3")
        );
        assert!(
            merge_reports(&[rep(0, 2), rep(0, 2)])
                .unwrap_err()
                .contains("twice")
        );
        assert!(merge_reports(&[rep(0, 2), rep(1, 3)]).is_err());
        let mut no_raw = rep(0, 1);
        no_raw.raw = None;
        assert!(
            merge_reports(&[no_raw])
                .unwrap_err()
                .contains("no histograms")
        );
        let mut other = rep(1, 2);
        other.raw.as_mut().unwrap().endpoints[0] = "GET /other".into();
        assert!(
            merge_reports(&[rep(0, 2), other])
                .unwrap_err()
                .contains("different schedules")
        );
        let mut bad = rep(0, 1);
        bad.raw.as_mut().unwrap().lateness = "not base64!".into();
        assert!(merge_reports(&[bad]).is_err());
    }

    #[test]
    fn shard_syntax() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 1, count: 4 });
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let s = Shard { index: 1, count: 3 };
        assert_eq!(
            (0..9).filter(|i| s.owns(*i)).collect::<Vec<_>>(),
            vec![1, 4, 7]
        );
    }

    #[test]
    fn a_histogram_header_declaring_gigabytes_is_refused_before_allocating() {
        let mut h = histogram();
        h.record(1234).unwrap();
        let ours = encode(&h);
        assert_eq!(
            decode(&ours).unwrap().len(),
            1,
            "our own encoding reads back"
        );
        // The same histogram with 5 significant figures up to 2^62: its
        // counts array alone would be gigabytes.
        let huge = Histogram::<u64>::new_with_bounds(1, 1 << 40, 5).unwrap();
        let err = decode(&encode(&huge)).unwrap_err();
        assert!(err.contains("declares 5 significant figures"), "{err}");
        use base64::Engine;
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&ours)
            .unwrap();
        bytes.truncate(6);
        let cut = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(decode(&cut).is_err());
        assert!(decode("AAAA").is_err());
    }

    #[test]
    fn a_shard_count_larger_than_the_reports_given_is_refused_without_allocating_it() {
        let mut r = Recorder::new(
            vec!["GET /".into()],
            vec![("p".into(), 1.0, Duration::from_secs(1))],
            vec![],
            0,
        );
        r.record(&sample(0, 0, 0, 1, Outcome::Status(200)));
        let raw = r.raw();
        let mut report = r.finish("http://127.0.0.1:1".into(), false);
        report.raw = Some(raw);
        report.shard = Some(Shard {
            index: 0,
            count: u32::MAX,
        });
        let err = merge_reports(&[report]).unwrap_err();
        assert!(
            err.contains("shard(s) 2/4294967295, 3/4294967295,")
                && err.contains("(4294967294 in all)"),
            "{err}"
        );
    }
}
