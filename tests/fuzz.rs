//! A bounded mutation fuzzer for the decoders users feed from pull requests
//! (scenario and SLO files), the PromQL time-scale rewriter, and the files
//! `report` reads back (results, load shards) and dashboards, on the
//! stable toolchain. See `fuzz/README.md`. Each target runs for
//! `ZETA_FUZZ_SECONDS` (default 10) and fails on a panic (also one the
//! code catches itself: its message still reaches the user's terminal), a
//! slow input (over 2 s) or a peak memory over 1 GiB.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SLOW: Duration = Duration::from_secs(2);
const MAX_RSS_KB: u64 = 1 << 20;

const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "<<: *a",
    "{",
    "}",
    "[",
    "]",
    ": ",
    "- ",
    "\n  ",
    "'",
    "\"",
    "#",
    "!!str ",
    "99999999999999h",
    "1e308",
    "-1",
    "NaN",
    "0/s",
    "1000000000000/s",
    "~",
    "null",
    "[5m]",
    "[0s]",
    " offset 5m",
    "@ 100",
    "{__name__=~\".+\"}",
    "rate(",
    ")",
    " by (x) ",
    "|= \"",
    " | json",
    "`",
    "\\",
    "\u{feff}",
    "\u{0}",
];

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", root.display());
    seeds
}

fn mutate(rng: &mut ChaCha8Rng, seed: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..8) {
        let at = if v.is_empty() {
            0
        } else {
            rng.random_range(0..=v.len())
        };
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !v.is_empty() => {
                let end = (at + rng.random_range(1..32)).min(v.len());
                v.drain(at.min(v.len())..end);
            }
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            3 if !v.is_empty() => {
                let start = rng.random_range(0..v.len());
                let end = (start + rng.random_range(1..64)).min(v.len());
                let chunk = v[start..end].to_vec();
                v.splice(at..at, chunk);
            }
            4 => {
                let other = &others[rng.random_range(0..others.len())];
                if !other.is_empty() {
                    let start = rng.random_range(0..other.len());
                    let end = (start + rng.random_range(1..128)).min(other.len());
                    v.splice(at..at, other[start..end].iter().copied());
                }
            }
            _ => {
                let n: u64 = rng.random();
                v.splice(at..at, n.to_string().into_bytes());
            }
        }
    }
    v
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn budget() -> Duration {
    let secs = std::env::var("ZETA_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

thread_local! {
    /// The message of a panic on this thread since the last input, even
    /// one the code caught itself: its message still reaches the user's
    /// terminal, so it counts as a panic.
    static PANICKED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Record every panic on its thread (then report it as usual).
fn record_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|p| *p.borrow_mut() = Some(info.to_string()));
            previous(info);
        }));
    });
}

/// Run `target` on the seeds and on mutations of them until the budget is
/// spent; panics (caught by the code or not) name the input's file under
/// target/fuzz-failures/.
fn fuzz(name: &str, dir: &str, target: impl Fn(&str)) {
    record_panics();
    let seeds = corpus(dir);
    let seed: u64 = std::env::var("ZETA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        // Fixed by default, so the test command is repeatable; set
        // ZETA_FUZZ_SEED for other inputs.
        .unwrap_or(20_261_201);
    eprintln!("fuzz {name}: ZETA_FUZZ_SEED={seed}, {} seeds", seeds.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut runs = 0u64;
    let check = |input: &[u8], runs: u64| {
        let text = String::from_utf8_lossy(input);
        PANICKED.with(|p| p.borrow_mut().take());
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&text)));
        let took = t.elapsed();
        let caught = PANICKED.with(|p| p.borrow_mut().take());
        let problem = match (outcome, caught) {
            (Err(_), _) => Some("panicked".to_string()),
            (Ok(()), Some(m)) => Some(format!("panicked inside, and the code caught it ({m})")),
            _ if took > SLOW => Some(format!("took {took:?}")),
            _ if peak_rss_kb() > MAX_RSS_KB => {
                Some(format!("peak memory {} MiB", peak_rss_kb() / 1024))
            }
            _ => None,
        };
        if let Some(p) = problem {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{seed}-{runs}.txt"));
            let _ = std::fs::write(&file, input);
            panic!("fuzz {name}: an input {p}; it is in {}", file.display());
        }
    };
    for s in &seeds {
        check(s, runs);
        runs += 1;
    }
    while started.elapsed() < budget() {
        let base = &seeds[rng.random_range(0..seeds.len())];
        let input = mutate(&mut rng, base, &seeds);
        check(&input, runs);
        runs += 1;
    }
    eprintln!("fuzz {name}: {runs} inputs in {:?}", started.elapsed());
    assert!(runs > seeds.len() as u64, "the fuzzer ran no mutation");
}

#[test]
fn fuzz_scenario_decoder() {
    let file = Path::new("scenarios/fuzz.yml");
    fuzz("scenario", "scenario", |text| {
        if let Ok(s) = zeta_bench::scenario::parse_scenario(file, text) {
            let _ = zeta_bench::scenario::plan::plan(&s, s.stack.time_scale.clone(), None);
        }
    });
}

#[test]
fn fuzz_slo_decoder() {
    let file = Path::new("slo/fuzz.yml");
    fuzz("slo", "slo", |text| {
        let _ = zeta_bench::slo::spec::parse_slo(file, text);
    });
}

#[test]
fn fuzz_promql_rewriter() {
    fuzz("promql", "promql", |text| {
        for k in [1.0, 15.0, 0.5] {
            let _ = zeta_bench::stackfiles::prometheus::promql::scale_expr(text, k);
        }
        let _ = zeta_bench::stackfiles::prometheus::promql::range_windows(text);
        let _ = zeta_bench::stackfiles::logql::check(text);
    });
}

#[test]
fn fuzz_result_reader_and_renderers() {
    let file = Path::new("result.json");
    fuzz("result", "result", |text| {
        if let Ok(r) = zeta_bench::report::read::parse_result(file, text) {
            let _ = zeta_bench::report::terminal::render(&r);
            let _ = zeta_bench::report::markdown::render(std::slice::from_ref(&r));
        }
    });
}

#[test]
fn fuzz_shard_merge() {
    fuzz("shard", "shard", |text| {
        if let Ok(r) = serde_json::from_str::<zeta_bench::load::record::LoadReport>(text) {
            let _ = zeta_bench::load::record::merge_reports(&[r.clone(), r]);
        }
    });
}

#[test]
fn fuzz_dashboard_model() {
    let file = Path::new("dashboard.json");
    fuzz("dashboard", "dashboard", |text| {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            if let Ok(d) = zeta_bench::stackfiles::grafana::model::parse_dashboard(file, &v) {
                for v in &d.variables {
                    let _ = zeta_bench::stackfiles::grafana::vars::referenced(&v.query);
                    let _ = zeta_bench::stackfiles::grafana::vars::variable_promql(&v.query);
                }
            }
        }
    });
}

/// The stack-file loader and its checks: each input stands in, in turn,
/// for the rules file, `prometheus.yml` and `alertmanager.yml` of a copy of
/// the shipped `stack/`, which is then loaded, linted and scanned for
/// time-scale hazards as `validate` and `run` do.
#[test]
fn fuzz_stack_files() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
    let dir = tempfile::tempdir().unwrap();
    for sub in [
        "prometheus",
        "alertmanager",
        "grafana/dashboards",
        "grafana/provisioning",
    ] {
        copy_dir(&shipped.join(sub), &dir.path().join(sub));
    }
    let roles = [
        "prometheus/alert-rules.yml",
        "prometheus/prometheus.yml",
        "alertmanager/alertmanager.yml",
    ];
    let originals: Vec<Vec<u8>> = roles
        .iter()
        .map(|r| std::fs::read(dir.path().join(r)).unwrap())
        .collect();
    fuzz("stack", "stack", |text| {
        for (role, original) in roles.iter().zip(&originals) {
            let file = dir.path().join(role);
            std::fs::write(&file, text).unwrap();
            if let Ok(files) = zeta_bench::stackfiles::StackFiles::load(dir.path()) {
                for k in [1.0, 15.0] {
                    let _ = zeta_bench::stackfiles::lint::check(&files, k);
                }
            }
            std::fs::write(&file, original).unwrap();
        }
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `zeta-bench load`'s flags, one argument per line, parsed by the CLI and
/// decoded as `load` decodes them before it sends anything.
#[test]
fn fuzz_load_flags() {
    use clap::Parser;
    fuzz("flags", "flags", |text| {
        let args = ["zeta-bench", "load"]
            .into_iter()
            .map(String::from)
            .chain(text.lines().map(String::from));
        if let Ok(cli) = zeta_bench::cli::Cli::try_parse_from(args) {
            if let zeta_bench::cli::Command::Load(a) = cli.command {
                let _ = zeta_bench::load::cli::decode(&a);
            }
        }
    });
}

#[test]
#[should_panic(expected = "an input panicked")]
fn the_fuzzer_fails_on_a_panic() {
    fuzz("selftest", "slo", |text| {
        assert!(!text.contains("mttd"), "a planted bug");
    });
}

#[test]
#[should_panic(expected = "panicked inside, and the code caught it")]
fn the_fuzzer_fails_on_a_panic_the_code_catches() {
    fuzz("selftest-caught", "slo", |text| {
        let _ = std::panic::catch_unwind(|| assert!(!text.contains("mttd"), "a planted bug"));
    });
}
