//! The benchmark's backend ("user container"): one thread, HTTP/1.1 keep-alive.
//!
//! `GET /` answers `hello\n`; `GET /bytes/N` answers N bytes (N ≤ 1 MiB);
//! `GET /sleep?ms=N` answers `hello\n` after N ms.
//!
//! Usage: `knb-backend [--listen ADDR] [--start-delay-ms N]`. Without `--listen` it
//! binds `127.0.0.1:$PORT` (as knserve sets `PORT` for its instances), else
//! `127.0.0.1:8080`. `--start-delay-ms` sleeps before binding, to stand for an app
//! that starts slowly. Prints `listening ADDR realtime_ns=T` once listening, where `T`
//! is `CLOCK_REALTIME` in nanoseconds read right after `listen()`: the cold-start
//! benchmark compares it with its own clock taken before the exec (same clock, same
//! machine), which is how it measures the app's own start time.

use std::{
    convert::Infallible,
    io::Write,
    rc::Rc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

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
    let port = std::env::var("PORT").ok().filter(|p| !p.is_empty());
    let default = format!("127.0.0.1:{}", port.as_deref().unwrap_or("8080"));
    let listen = args.addr("listen", Some(&default));
    let delay = Duration::from_millis(args.get("start-delay-ms", Some(0)));
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let bodies = Rc::new([
        Bytes::from(vec![b'x'; 1024]),
        Bytes::from(vec![b'x'; 65536]),
    ]);
    runtime().block_on(async move {
        let listener = TcpListener::bind(listen).await.expect("bind");
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "listening {} realtime_ns={at}",
            listener.local_addr().expect("address")
        );
        let _ = out.flush();
        drop(out);
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
