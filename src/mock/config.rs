//! Command-line configuration of a mock service. URLs that may hold
//! credentials are read from the environment by default and never logged.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct MockConfig {
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Tenants `tenant_001` … `tenant_N` exist; others are rejected (404).
    #[arg(long, default_value_t = 100)]
    pub tenants: u32,
    /// backend-api: the ml-engine to call (else it answers on its own).
    #[arg(long, env = "ZETA_ML_ENGINE_URL")]
    pub ml_engine: Option<String>,
    /// backend-api: PostgreSQL for tenants and events (else memory).
    #[arg(long, env = "ZETA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Redis for the recommendation / embedding cache (else memory).
    #[arg(long, env = "ZETA_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// OTLP/HTTP endpoint to export traces to, e.g. http://jaeger:4318.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Also append the JSON log lines to this file.
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// Do not write request log lines to stdout.
    #[arg(long)]
    pub quiet: bool,
    /// When `--log-file` reaches this size (MiB), it is renamed to
    /// `FILE.1` (replacing the previous one) and a new file is begun, as
    /// logrotate's `copytruncate`-free rotation does: a long run keeps at
    /// most twice this per service.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub log_file_max_mb: u64,
    /// ml-engine: how long a training job runs.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub train_duration: std::time::Duration,
    /// Report a memory limit (MiB) the way cAdvisor reports a container's,
    /// `container_memory_usage_bytes` / `container_spec_memory_limit_bytes`
    /// with `name` = the service, so HighMemoryUsage sees this mock where no
    /// cAdvisor runs.
    #[arg(long)]
    pub memory_limit_mb: Option<u64>,
    /// A bearer token `/admin/faults` requires (the harness makes one per
    /// run). Without it the admin API is open, as for a mock on loopback
    /// during development.
    #[arg(long, env = "ZETA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// ml-engine: when a tenant's model version is deployed, precompute the
    /// embeddings of `user_1` … `user_N` into the cache, as a batch embedding
    /// job does for known users. Without it the embedding cache only ever
    /// sees a user when backend-api's cache misses, which is that user's
    /// first request: its hit ratio would stay near 0 and CacheHitRateLow
    /// would fire on a healthy stack.
    #[arg(long, default_value_t = 0)]
    pub warm_users: u32,
    /// ml-engine: share of training jobs that fail (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub train_failure_ratio: f64,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::input::units::parse_duration(s)
        .ok_or_else(|| crate::input::units::DURATION_EXPECTED.to_string())
}

impl MockConfig {
    /// Defaults for tests and benchmarks: memory stores, no traces, quiet.
    pub fn in_memory() -> MockConfig {
        MockConfig {
            listen: "127.0.0.1:0".parse().expect("static address"),
            tenants: 100,
            ml_engine: None,
            database_url: None,
            redis_url: None,
            otlp_endpoint: None,
            log_file: None,
            quiet: true,
            log_file_max_mb: 256,
            train_duration: std::time::Duration::from_secs(30),
            train_failure_ratio: 0.0,
            memory_limit_mb: None,
            admin_token: None,
            warm_users: 0,
        }
    }
}
