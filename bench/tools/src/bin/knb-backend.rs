//! The benchmark's backend ("user container"): one thread, HTTP/1.1 keep-alive.
//!
//! `GET /` answers `hello\n`; `GET /bytes/N` answers N bytes (N ≤ 1 MiB);
//! `GET /sleep?ms=N` answers `hello\n` after N ms. Usage: `knb-backend --listen ADDR`.
//! Prints `listening ADDR` once bound.

use std::{convert::Infallible, rc::Rc, time::Duration};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use knserve_bench_tools::{Args, runtime};
use tokio::net::TcpListener;

const MAX_BYTES: usize = 1 << 20;

fn main() {
    let args = Args::from_env();
    let listen = args.addr("listen", Some("127.0.0.1:8080"));
    let bodies = Rc::new([
        Bytes::from(vec![b'x'; 1024]),
        Bytes::from(vec![b'x'; 65536]),
    ]);
    runtime().block_on(async move {
        let listener = TcpListener::bind(listen).await.expect("bind");
        println!("listening {}", listener.local_addr().expect("address"));
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let bodies = bodies.clone();
                    tokio::task::spawn_local(async move {
                        let service = service_fn(move |req| answer(req, bodies.clone()));
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
            .await;
    });
}

async fn answer(
    req: Request<Incoming>,
    bodies: Rc<[Bytes; 2]>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let body = if let Some(n) = path.strip_prefix("/bytes/") {
        match n.parse::<usize>() {
            Ok(1024) => bodies[0].clone(),
            Ok(65536) => bodies[1].clone(),
            Ok(n) if n <= MAX_BYTES => Bytes::from(vec![b'x'; n]),
            _ => return Ok(status(StatusCode::BAD_REQUEST)),
        }
    } else if path == "/sleep" {
        let ms = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        Bytes::from_static(b"hello\n")
    } else if path == "/" {
        Bytes::from_static(b"hello\n")
    } else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    Ok(Response::new(Full::new(body)))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
