use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = zeta_bench::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "zeta_bench=info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zeta-bench: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    std::process::ExitCode::from(runtime.block_on(zeta_bench::cli::main(cli)))
}
