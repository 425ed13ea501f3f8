//! The load engine's hot paths, per request: placing an arrival on the
//! schedule, picking its request and tenant, expanding its template, and
//! recording its outcome. At 5,000 requests/s the engine has 200 µs per
//! request in total; these show how little of it they take.
//!
//! `cargo bench --bench engine` (figures in the README).

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use zeta_bench::load::record::{Outcome, Recorder, Sample};
use zeta_bench::load::schedule::{ArrivalIter, Picker};
use zeta_bench::scenario::plan::PlannedPhase;
use zeta_bench::scenario::template::Values;
use zeta_bench::scenario::{Arrivals, MixEntry, RequestTemplate, TenantDistribution, Tenants};

fn phase(arrivals: Arrivals, ramp_to: Option<f64>) -> PlannedPhase {
    PlannedPhase {
        name: "p".into(),
        start: Duration::ZERO,
        duration: Duration::from_secs(100),
        rate_per_second: 1000.0,
        ramp_to,
        steps: None,
        arrivals,
        surge: None,
    }
}

fn mix() -> Vec<MixEntry> {
    vec![
        MixEntry {
            request: RequestTemplate::parse(
                "GET /api/v1/recommendations?user_id={user}&k=10",
                None,
            )
            .unwrap(),
            weight: 70,
        },
        MixEntry {
            request: RequestTemplate::parse(
                "POST /api/v1/events",
                Some(r#"{"user_id":"{user}","item_id":"{item}","tenant":"{tenant}"}"#),
            )
            .unwrap(),
            weight: 30,
        },
    ]
}

fn schedule(c: &mut Criterion) {
    let mut g = c.benchmark_group("schedule");
    const N: u64 = 100_000;
    g.throughput(Throughput::Elements(N));
    for (name, p) in [
        ("constant", phase(Arrivals::Constant, None)),
        ("poisson", phase(Arrivals::Poisson, None)),
        ("linear ramp", phase(Arrivals::Constant, Some(3000.0))),
    ] {
        g.bench_function(format!("{name}: 100k arrivals"), |b| {
            b.iter(|| {
                ArrivalIter::new(std::slice::from_ref(&p), 7)
                    .take(N as usize)
                    .count()
            })
        });
    }
    let tenants = Tenants {
        count: 50,
        distribution: TenantDistribution::Zipf { skew: 1.1 },
        seed: 42,
        users: 1000,
    };
    let m = mix();
    g.bench_function("pick request and zipf tenant: 100k", |b| {
        let mut p = Picker::new(&m, &tenants);
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..N {
                acc += u64::from(p.pick().user);
            }
            acc
        })
    });
    g.finish();
}

fn template(c: &mut Criterion) {
    let mut g = c.benchmark_group("template");
    g.throughput(Throughput::Elements(1));
    let m = mix();
    let v = Values {
        tenant: "tenant_042",
        user: 123,
        item: 4567,
        random: 0x5eed,
    };
    g.bench_function("expand URL into a reused buffer", |b| {
        let mut s = String::with_capacity(256);
        b.iter(|| {
            s.clear();
            s.push_str("http://127.0.0.1:8000");
            m[0].request.target.expand_into(&mut s, v);
            s.len()
        })
    });
    g.bench_function("expand JSON body", |b| {
        let body = m[1].request.body.as_ref().unwrap();
        b.iter(|| body.expand(v).len())
    });
    g.finish();
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    const N: u64 = 100_000;
    g.throughput(Throughput::Elements(N));
    let samples: Vec<Sample> = (0..N)
        .map(|i| Sample {
            endpoint: (i % 2) as usize,
            phase: 0,
            intended: Duration::from_micros(i * 200),
            sent: Duration::from_micros(i * 200 + 30),
            done: Duration::from_micros(i * 200 + 900 + (i * 7919) % 5000),
            outcome: if i % 50 == 0 {
                Outcome::Status(503)
            } else {
                Outcome::Status(200)
            },
            trace_id: u128::from(i),
            tenant: (i % 50) as u32,
        })
        .collect();
    let new = || {
        Recorder::new(
            vec!["GET /a".into(), "POST /b".into()],
            vec![("p".into(), 5000.0, Duration::from_secs(20))],
            (1..=50).map(|i| format!("tenant_{i:03}")).collect(),
            1000,
        )
    };
    g.bench_function("record 100k outcomes (20 s at 5000/s)", |b| {
        b.iter_batched(
            new,
            |mut r| {
                for s in &samples {
                    r.record(s);
                }
                r
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, schedule, template, record);
criterion_main!(benches);
