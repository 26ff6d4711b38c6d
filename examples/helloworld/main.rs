//! `helloworld`: answers `Hello <TARGET>!` — the app of Knative's helloworld-go sample.
//!
//! Run with:
//!
//! ```text
//! TARGET=knserve PORT=8080 cargo run -p knserve-examples --bin helloworld
//! curl http://127.0.0.1:8080/
//! ```
//!
//! `PORT` (default 8080) is the port knserve and Knative set; `TARGET` (default `World`)
//! is who to greet; `BIND_ADDRESS` (default `127.0.0.1`) is the address to listen on —
//! set `0.0.0.0` in a container. SIGTERM or Ctrl-C stops accepting connections and exits
//! once the requests in flight are answered.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use http::{Request, Response};
use knserve_core::net::{self, Body, BoxError};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "8080".into())
        .parse()
        .context("PORT must be a port number")?;
    let bind: IpAddr = std::env::var("BIND_ADDRESS")
        .unwrap_or_else(|_| "127.0.0.1".into())
        .parse()
        .context("BIND_ADDRESS must be an IP address")?;
    // Installed before the first request can arrive, so SIGTERM is never fatal.
    let shutdown = shutdown_signal()?;
    let target = std::env::var("TARGET").unwrap_or_else(|_| "World".into());
    let greeting = format!("Hello {target}!\n");
    let listener = TcpListener::bind(SocketAddr::new(bind, port))
        .await
        .with_context(|| format!("listening on {bind}:{port}"))?;
    let service = tower::service_fn(move |request: Request<Body>| {
        eprintln!("helloworld: {} {}", request.method(), request.uri());
        let body = greeting.clone();
        async move { Ok::<_, BoxError>(Response::new(net::full(body))) }
    });
    let server = net::serve(listener, service)?;
    println!("helloworld listening on {}", server.local_addr());
    shutdown.await;
    server.shutdown().await;
    Ok(())
}

/// Resolves on SIGTERM (what Kubernetes and knserve send) or Ctrl-C.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let terminate = terminate.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = terminate => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
}
