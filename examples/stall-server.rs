//! A target for load-tool comparisons: answers `200 ok` at once, except
//! that every `--every` it stalls for `--stall` (like a stop-the-world GC
//! pause): requests arriving during a stall are answered when it ends.
//! With `--every 0` it never stalls (a throughput target).
//!
//! At 200 requests/s against `--every 5s --stall 1s`, a fifth of all
//! requests land in a stall and wait uniformly 0–1 s, so the latency a
//! user sees (from the intended send time) has p95 ≈ 0.75 s and
//! p99 ≈ 0.95 s; a tool that reports much less has coordinated omission.
//!
//! `cargo run --release --example stall-server -- --port 18080 --every 5s --stall 1s`

use std::time::{Duration, Instant};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn secs(s: &str) -> Duration {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| c.is_alphabetic()).unwrap_or(s.len()));
    let n: f64 = n
        .parse()
        .unwrap_or_else(|_| panic!("not a duration: {s:?}"));
    Duration::from_secs_f64(match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        other => panic!("unknown unit {other:?} in {s:?}"),
    })
}

fn main() {
    let port: u16 = arg("--port", "18080").parse().expect("--port");
    let every = secs(&arg("--every", "5s"));
    let stall = secs(&arg("--stall", "1s"));
    let threads: usize = arg("--threads", "1").parse().expect("--threads");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let t0 = Instant::now();
        let app = axum::Router::new().fallback(move || async move {
            if !every.is_zero() {
                // The last `stall` of every `every` is a pause.
                let into = t0.elapsed().as_secs_f64() % every.as_secs_f64();
                let pause_from = (every - stall).as_secs_f64();
                if into >= pause_from {
                    tokio::time::sleep(Duration::from_secs_f64(every.as_secs_f64() - into)).await;
                }
            }
            "ok"
        });
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the port");
        eprintln!("stall-server on 127.0.0.1:{port}: stalls {stall:?} every {every:?}");
        axum::serve(l, app).await.expect("serving");
    });
}
