//! `knserve-queue`: a drop-in replacement for Knative's queue-proxy sidecar.
//!
//! Run with the environment Knative's controller sets (see the README), for example on
//! loopback:
//!
//! ```text
//! SERVING_NAMESPACE=default SERVING_CONFIGURATION=hello SERVING_REVISION=hello-00001 \
//! SERVING_POD=hello-0 SERVING_POD_IP=127.0.0.1 QUEUE_SERVING_PORT=8012 \
//! QUEUE_SERVING_TLS_PORT=8112 USER_PORT=8080 CONTAINER_CONCURRENCY=0 \
//! REVISION_TIMEOUT_SECONDS=300 KNSERVE_QUEUE_BIND=127.0.0.1 \
//! cargo run -p knserve-k8s --bin knserve-queue
//! ```

use std::process::ExitCode;

use knserve_k8s::queue::QueueEnv;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let env = match QueueEnv::from_process() {
        Ok(env) => env,
        Err(error) => {
            eprintln!("knserve-queue: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(format!(
            "warn,knserve={}",
            env.logging_level
        )))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("knserve-queue: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(knserve_k8s::queue::run_until_signal(env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("knserve-queue: {}", chain(&*error));
            ExitCode::FAILURE
        }
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
