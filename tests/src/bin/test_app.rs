//! `knserve-test-app`: the app the end-to-end tests deploy as a real process.
//!
//! Answers every request with `<K_REVISION> <pid> in_flight=<n>` after `DELAY_MS`
//! (default 0), and prints one line per request to stdout with the number of requests
//! it was handling at once, so a test can read from `knserve logs` whether a limit held.
//! `GET /max` answers the most requests it ever handled at once; `GET /args` its
//! command-line arguments, one a line; `GET /env/<NAME>` the value of the variable
//! `NAME` (404 when unset). With `EXIT_AT_START`
//! set to a code it prints a reason to stderr and exits with that code instead of
//! serving. Listens on `127.0.0.1:$PORT`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::{Request, Response};
use knserve_core::net::{self, Body, BoxError};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    if let Ok(code) = std::env::var("EXIT_AT_START") {
        eprintln!("knserve-test-app: refusing to start (EXIT_AT_START={code})");
        std::process::exit(code.parse().unwrap_or(1));
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let delay = Duration::from_millis(
        std::env::var("DELAY_MS")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    );
    let revision = std::env::var("K_REVISION").unwrap_or_default();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let service = tower::service_fn(move |request: Request<Body>| {
        let (in_flight, max, revision) = (in_flight.clone(), max.clone(), revision.clone());
        async move {
            if request.uri().path() == "/max" {
                let body = format!("{}\n", max.load(Ordering::SeqCst));
                return Ok::<_, BoxError>(Response::new(net::full(body)));
            }
            if let Some(response) = request
                .uri()
                .path()
                .strip_prefix("/header/")
                .map(|name| header_answer(request.headers(), name))
            {
                return Ok::<_, BoxError>(response);
            }
            if let Some(response) = introspect(request.uri().path()) {
                return Ok(response);
            }
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            println!(
                "{} {} in_flight={now}",
                request.method(),
                request.uri().path()
            );
            tokio::time::sleep(delay).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let body = format!("{revision} {} in_flight={now}\n", std::process::id());
            Ok(Response::new(net::full(body)))
        }
    });
    let server = net::serve(listener, service)?;
    println!("knserve-test-app listening on {}", server.local_addr());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    terminate.recv().await;
    server.shutdown().await;
    Ok(())
}

/// The answer to `/header/<name>`: the request header's value as the app received it
/// (404 when it has none).
fn header_answer(headers: &http::HeaderMap, name: &str) -> Response<Body> {
    match headers.get(name) {
        Some(value) => Response::new(net::full(value.as_bytes().to_vec())),
        None => {
            let mut response = Response::new(net::full(format!("no {name} header\n")));
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            response
        }
    }
}

/// The answer to `/args` and `/env/<NAME>`, or `None` for any other path.
fn introspect(path: &str) -> Option<Response<Body>> {
    if path == "/args" {
        let args: Vec<String> = std::env::args().skip(1).map(|a| a + "\n").collect();
        return Some(Response::new(net::full(args.concat())));
    }
    let name = path.strip_prefix("/env/")?;
    let response = match std::env::var(name) {
        Ok(value) => Response::new(net::full(value)),
        Err(_) => {
            let mut response = Response::new(net::full(format!("{name} is not set\n")));
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            response
        }
    };
    Some(response)
}
