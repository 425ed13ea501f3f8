//! `zeta-bench mock`: one mock service, as the stack starts it.

use super::Exit;
use super::args::MockService;

pub(super) async fn mock(service: MockService, config: crate::mock::MockConfig) -> Exit {
    let built = match service {
        MockService::BackendApi => crate::mock::backend::build(&config).await,
        MockService::MlEngine => crate::mock::ml::build(&config).await,
    };
    let router = match built {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zeta-bench mock: cannot start: {e:#}");
            return Exit::CouldNotRun;
        }
    };
    match crate::mock::serve(router, config.listen).await {
        Ok(()) => Exit::Pass,
        Err(e) => {
            eprintln!("zeta-bench mock: {e:#}");
            Exit::CouldNotRun
        }
    }
}
