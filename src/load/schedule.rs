//! When each request is due, and what it is. Everything random comes from
//! one seeded generator, so the same seed gives the same request sequence.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Zipf};

use crate::scenario::plan::PlannedPhase;
use crate::scenario::{Arrivals, MixEntry, TenantDistribution, Tenants, tenant_name};

/// Items drawn per request (`{item}`); users come from the scenario.
pub const ITEMS: u32 = 10_000;

/// The arrival rate over one phase: constant, a linear ramp, or a ramp in
/// equal steps. Arrivals are placed by inverting the cumulative count
/// N(t) = ∫ rate: the i-th constant arrival at N(t) = i, Poisson arrivals at
/// N(t) = the running sum of unit exponentials (a time-changed Poisson
/// process, exact for any rate shape).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateShape {
    Constant(f64),
    Ramp {
        from: f64,
        to: f64,
        steps: Option<u32>,
    },
}

impl RateShape {
    pub fn of(p: &PlannedPhase) -> RateShape {
        match p.ramp_to {
            Some(to) => RateShape::Ramp {
                from: p.rate_per_second,
                to,
                steps: p.steps,
            },
            None => RateShape::Constant(p.rate_per_second),
        }
    }

    /// The time t in [0, len) at which N(t) = c, if any.
    pub fn invert(self, c: f64, len: f64) -> Option<f64> {
        let t = match self {
            RateShape::Constant(r) if r > 0.0 => c / r,
            RateShape::Constant(_) => return None,
            RateShape::Ramp {
                from,
                to,
                steps: None,
            } => {
                // N(t) = from·t + (to − from)·t² / (2·len)
                let a = (to - from) / (2.0 * len);
                if a.abs() < 1e-12 {
                    if from <= 0.0 {
                        return None;
                    }
                    c / from
                } else {
                    let disc = from * from + 4.0 * a * c;
                    if disc < 0.0 {
                        return None;
                    }
                    (-from + disc.sqrt()) / (2.0 * a)
                }
            }
            RateShape::Ramp {
                from,
                to,
                steps: Some(k),
            } => {
                // k equal segments; segment i runs at from + (to − from)·i/(k − 1).
                let seg = len / k as f64;
                let mut left = c;
                let mut t = 0.0;
                let mut found = None;
                for i in 0..k {
                    let r = from + (to - from) * i as f64 / (k - 1).max(1) as f64;
                    let n = r * seg;
                    if left <= n && r > 0.0 {
                        found = Some(t + left / r);
                        break;
                    }
                    left -= n;
                    t += seg;
                }
                found?
            }
        };
        (t >= 0.0 && t < len).then_some(t)
    }
}

/// One arrival stream within a phase.
#[derive(Default)]
struct Stream {
    index: u64,
    /// Cumulative count reached (Poisson).
    c: f64,
    /// The next offset within the phase, once computed.
    peek: Option<Option<f64>>,
}

impl Stream {
    fn peek(
        &mut self,
        arrivals: Arrivals,
        shape: RateShape,
        len: f64,
        rng: &mut ChaCha8Rng,
    ) -> Option<f64> {
        if self.peek.is_none() {
            let c = match arrivals {
                Arrivals::Constant => {
                    let c = self.index as f64;
                    self.index += 1;
                    c
                }
                Arrivals::Poisson => {
                    let exp = Exp::new(1.0).expect("unit rate");
                    self.c += exp.sample(rng);
                    self.c
                }
            };
            self.peek = Some(shape.invert(c, len));
        }
        self.peek.flatten()
    }
}

/// Arrival offsets from the start of load, phase by phase, with a phase's
/// noisy-tenant stream merged in.
pub struct ArrivalIter {
    phases: Vec<PlannedPhase>,
    phase: usize,
    base: Stream,
    surge: Stream,
    rng: ChaCha8Rng,
}

impl ArrivalIter {
    pub fn new(phases: &[PlannedPhase], seed: u64) -> Self {
        ArrivalIter {
            phases: phases.to_vec(),
            phase: 0,
            base: Stream::default(),
            surge: Stream::default(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_a771),
        }
    }
}

impl Iterator for ArrivalIter {
    /// (offset from load start, phase index, tenant forced by a surge)
    type Item = (Duration, usize, Option<u32>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let p = self.phases.get(self.phase)?;
            let len = p.duration.as_secs_f64();
            let base = self
                .base
                .peek(p.arrivals, RateShape::of(p), len, &mut self.rng);
            let (surge_tenant, surge_rate) = p.surge.unwrap_or((0, 0.0));
            let surge = self.surge.peek(
                p.arrivals,
                RateShape::Constant(surge_rate),
                len,
                &mut self.rng,
            );
            let pick = match (base, surge) {
                (Some(b), Some(s)) if s < b => Some((s, Some(surge_tenant))),
                (Some(b), _) => Some((b, None)),
                (None, Some(s)) => Some((s, Some(surge_tenant))),
                (None, None) => None,
            };
            match pick {
                Some((t, forced)) => {
                    if forced.is_some() {
                        self.surge.peek = None;
                    } else {
                        self.base.peek = None;
                    }
                    return Some((p.start + Duration::from_secs_f64(t), self.phase, forced));
                }
                None => {
                    self.phase += 1;
                    self.base = Stream::default();
                    self.surge = Stream::default();
                }
            }
        }
    }
}

/// Picks the request (mix entry), tenant, user and item for each arrival.
pub struct Picker {
    cumulative: Vec<u64>,
    tenants: Vec<String>,
    zipf: Option<Zipf<f64>>,
    /// Cumulative tenant weights, for explicit weights.
    weights: Option<Vec<f64>>,
    users: u32,
    rng: ChaCha8Rng,
}

pub struct Pick<'a> {
    pub entry: usize,
    pub tenant: &'a str,
    /// 0-based: `tenant` is `tenant_name(tenant_index + 1)`.
    pub tenant_index: u32,
    pub user: u32,
    pub item: u32,
    /// For the template's `{rand:…}`, `{float}` and `{uuid}`.
    pub random: u64,
}

impl Picker {
    pub fn new(mix: &[MixEntry], tenants: &Tenants) -> Self {
        let mut total = 0u64;
        let cumulative = mix
            .iter()
            .map(|m| {
                total += m.weight as u64;
                total
            })
            .collect();
        let zipf = match tenants.distribution {
            TenantDistribution::Zipf { skew } => Some(
                Zipf::new(tenants.count as f64, skew)
                    .expect("count ≥ 1 and skew > 0 are validated"),
            ),
            _ => None,
        };
        let weights = match &tenants.distribution {
            TenantDistribution::Weights(w) => Some(
                w.iter()
                    .scan(0.0, |acc, x| {
                        *acc += x;
                        Some(*acc)
                    })
                    .collect(),
            ),
            _ => None,
        };
        Picker {
            cumulative,
            tenants: (1..=tenants.count).map(tenant_name).collect(),
            zipf,
            weights,
            users: tenants.users.max(1),
            rng: ChaCha8Rng::seed_from_u64(tenants.seed),
        }
    }

    pub fn pick(&mut self) -> Pick<'_> {
        self.pick_for(None)
    }

    /// A pick, with the tenant forced (a noisy tenant's extra arrival).
    pub fn pick_for(&mut self, forced: Option<u32>) -> Pick<'_> {
        let total = *self.cumulative.last().expect("mix is never empty");
        let w = self.rng.random_range(0..total);
        let entry = self.cumulative.partition_point(|&c| c <= w);
        let last = self.tenants.len() - 1;
        let t = match (forced, &self.zipf, &self.weights) {
            (Some(i), _, _) => (i as usize).min(last),
            // Zipf samples 1..=n as floats; rank 1 is the busiest tenant.
            (None, Some(z), _) => (z.sample(&mut self.rng) as usize).clamp(1, last + 1) - 1,
            (None, None, Some(w)) => {
                let x = self
                    .rng
                    .random_range(0.0..*w.last().expect("validated non-empty"));
                w.partition_point(|&c| c <= x).min(last)
            }
            (None, None, None) => self.rng.random_range(0..=last),
        };
        Pick {
            entry,
            tenant: &self.tenants[t],
            tenant_index: t as u32,
            user: self.rng.random_range(1..=self.users),
            item: self.rng.random_range(1..=ITEMS),
            random: self.rng.random(),
        }
    }

    /// The name of the tenant with 0-based index `i`.
    pub fn tenant(&self, i: u32) -> &str {
        &self.tenants[i as usize]
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::RequestTemplate;

    fn phase(start: u64, secs: u64, rate: f64, arrivals: Arrivals) -> PlannedPhase {
        PlannedPhase {
            name: "p".into(),
            start: Duration::from_secs(start),
            duration: Duration::from_secs(secs),
            rate_per_second: rate,
            ramp_to: None,
            steps: None,
            arrivals,
            surge: None,
        }
    }

    #[test]
    fn a_linear_ramp_sends_the_area_under_it() {
        let mut p = phase(0, 100, 10.0, Arrivals::Constant);
        p.ramp_to = Some(30.0);
        let a: Vec<_> = ArrivalIter::new(&[p.clone()], 1).collect();
        // (10 + 30) / 2 × 100 s = 2000.
        assert!((a.len() as i64 - 2000).abs() <= 1, "{}", a.len());
        let first = a.iter().filter(|x| x.0 < Duration::from_secs(10)).count();
        let last = a.iter().filter(|x| x.0 >= Duration::from_secs(90)).count();
        assert!(
            (105..=115).contains(&first) && (285..=295).contains(&last),
            "{first} {last}"
        );
        p.arrivals = Arrivals::Poisson;
        let n = ArrivalIter::new(&[p], 9).count() as f64;
        assert!((n - 2000.0).abs() < 150.0, "{n}");
    }

    #[test]
    fn steps_hold_each_rate_for_an_equal_share() {
        let mut p = phase(0, 40, 10.0, Arrivals::Constant);
        p.ramp_to = Some(40.0);
        p.steps = Some(4);
        let a: Vec<_> = ArrivalIter::new(&[p], 1).collect();
        let count = |from: u64, to: u64| {
            a.iter()
                .filter(|x| x.0 >= Duration::from_secs(from) && x.0 < Duration::from_secs(to))
                .count()
        };
        // 10/s, 20/s, 30/s, 40/s for 10 s each.
        assert_eq!(
            (count(0, 10), count(10, 20), count(20, 30), count(30, 40)),
            (100, 200, 300, 400)
        );
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced_and_counted() {
        let a: Vec<_> = ArrivalIter::new(
            &[
                phase(0, 2, 10.0, Arrivals::Constant),
                phase(2, 1, 4.0, Arrivals::Constant),
            ],
            1,
        )
        .collect();
        assert_eq!(a.len(), 24);
        assert_eq!(a[1].0, Duration::from_millis(100));
        assert_eq!(a[20], (Duration::from_secs(2), 1, None));
        assert_eq!(a[21].0, Duration::from_millis(2250));
    }

    #[test]
    fn a_surge_adds_its_tenant_on_top_of_the_base_rate() {
        let mut p = phase(0, 100, 100.0, Arrivals::Constant);
        // Tenant index 2 gets 90 extra requests per second.
        p.surge = Some((2, 90.0));
        let a: Vec<_> = ArrivalIter::new(&[p], 1).collect();
        assert_eq!(a.len(), 19_000);
        assert_eq!(a.iter().filter(|x| x.2 == Some(2)).count(), 9_000);
        assert!(
            a.windows(2).all(|w| w[0].0 <= w[1].0),
            "merged in time order"
        );
    }

    #[test]
    fn poisson_mean_matches_the_rate() {
        let n = ArrivalIter::new(&[phase(0, 1000, 50.0, Arrivals::Poisson)], 7).count() as f64;
        // 50 000 expected; the standard deviation is √50 000 ≈ 224.
        assert!((n - 50_000.0).abs() < 1_200.0, "{n}");
    }

    #[test]
    fn explicit_weights_set_each_tenants_share() {
        let mix = vec![MixEntry {
            request: RequestTemplate::parse("GET /a", None).unwrap(),
            weight: 1,
        }];
        let tenants = Tenants {
            count: 4,
            distribution: TenantDistribution::Weights(vec![6.0, 2.0, 2.0, 0.0]),
            seed: 1,
            users: 5,
        };
        let mut p = Picker::new(&mix, &tenants);
        let mut n = [0u32; 4];
        for _ in 0..20_000 {
            let t = p.pick().tenant.to_string();
            n[t.trim_start_matches("tenant_").parse::<usize>().unwrap() - 1] += 1;
        }
        // 12 000 / 4 000 / 4 000 / 0 expected; σ ≈ 70.
        assert!((n[0] as i64 - 12_000).abs() < 400, "{n:?}");
        assert!((n[1] as i64 - 4_000).abs() < 300, "{n:?}");
        assert_eq!(n[3], 0, "a zero weight sends nothing");
        assert!((crate::scenario::plan::tenant_share(&tenants, 0) - 0.6).abs() < 1e-9);
    }

    #[test]
    fn same_seed_same_sequence() {
        let mix = vec![
            MixEntry {
                request: RequestTemplate::parse("GET /a", None).unwrap(),
                weight: 70,
            },
            MixEntry {
                request: RequestTemplate::parse("GET /b", None).unwrap(),
                weight: 30,
            },
        ];
        let tenants = Tenants {
            count: 50,
            distribution: TenantDistribution::Zipf { skew: 1.1 },
            seed: 42,
            users: 20,
        };
        let run = || {
            let mut p = Picker::new(&mix, &tenants);
            (0..1000)
                .map(|_| {
                    let x = p.pick();
                    (x.entry, x.tenant.to_string(), x.user)
                })
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let share_a = a.iter().filter(|x| x.0 == 0).count();
        assert!((620..780).contains(&share_a), "{share_a}");
        let top = a.iter().filter(|x| x.1 == "tenant_001").count();
        let last = a.iter().filter(|x| x.1 == "tenant_050").count();
        assert!(top > 5 * last.max(1), "zipf skew: {top} vs {last}");
    }
}
