//! Embedding knserve: a Service whose instances are tower services in this process.
//!
//! The revision gets the same request path as a process-backed one — ingress routing,
//! the activator buffering requests while it has no instance, a queue-proxy per
//! instance enforcing `containerConcurrency`, and the KPA adding and removing
//! instances — but each instance is a service made by the factory below instead of a
//! child process.
//!
//! ```text
//! cargo run -p knserve-examples --example embedded -- --listen 127.0.0.1:8080
//! curl -H "Host: greeter.default.example.com" http://127.0.0.1:8080/
//! ```

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use clap::Parser;
use http::{Request, Response};
use knserve_core::{
    api::{Resource, parse_yaml},
    net::{self, Body, BoxError},
};
use knserve_local::server::{ServeOptions, Server};
use tower::{service_fn, util::BoxCloneService};

/// The Service: scale to zero when idle, four requests at a time per instance.
const SERVICE: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: greeter
  namespace: default
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "0"
    spec:
      containerConcurrency: 4
      containers:
      - image: in-process/greeter
"#;

/// Serve an in-process Service through an embedded knserve.
#[derive(Debug, Parser)]
struct Args {
    /// The ingress listener (default: `$KNSERVE_LISTEN`, else 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listen = match (args.listen, std::env::var("KNSERVE_LISTEN")) {
        (Some(listen), _) => listen,
        (None, Ok(listen)) => listen
            .parse()
            .context("KNSERVE_LISTEN must be an address")?,
        (None, Err(_)) => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let server = Server::start(ServeOptions {
        listen,
        ..ServeOptions::default()
    })
    .await?;
    println!("embedded knserve listening on {}", server.ingress_address());
    let Some(Resource::Service(service)) = parse_yaml(SERVICE)?.pop() else {
        anyhow::bail!("SERVICE holds one Service");
    };

    // Each call makes one instance; the counter tells them apart in the answers.
    let instances = Arc::new(AtomicUsize::new(0));
    server.runtime().apply_in_process(service, move || {
        let id = instances.fetch_add(1, Ordering::Relaxed) + 1;
        BoxCloneService::new(service_fn(move |request: Request<Body>| async move {
            let body = format!(
                "Hello from in-process instance {id}: {}\n",
                request.uri().path()
            );
            Ok::<_, BoxError>(Response::new(net::full(body)))
        }))
    })?;
    let ready = server
        .runtime()
        .wait_ready("default", "greeter", Duration::from_secs(60))
        .await
        .context("waiting for greeter")?;
    let url = ready.status.and_then(|s| s.url).unwrap_or_default();
    let host = url.trim_start_matches("http://");
    println!("greeter is ready at {url}");
    println!(
        "curl -H \"Host: {host}\" http://{}/",
        server.ingress_address()
    );

    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
