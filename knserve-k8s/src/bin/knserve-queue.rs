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

use std::{process::ExitCode, str::FromStr};

use knserve_k8s::queue::QueueEnv;
use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

fn main() -> ExitCode {
    let env = match QueueEnv::from_process() {
        Ok(env) => env,
        Err(error) => {
            eprintln!("knserve-queue: {error}");
            return ExitCode::FAILURE;
        }
    };
    // A fixed per-target filter rather than `EnvFilter`: the sidecar runs beside every
    // instance, and the regex engine an `EnvFilter` pulls in costs it resident memory.
    let level = LevelFilter::from_str(&env.logging_level).unwrap_or(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(
            Targets::new()
                .with_default(LevelFilter::WARN)
                .with_target("knserve", level),
        )
        .init();
    let runtime = match knserve_core::net::server_runtime() {
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
