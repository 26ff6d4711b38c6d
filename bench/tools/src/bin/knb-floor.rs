//! The bare hyper proxy floor: one thread, HTTP/1.1 keep-alive on both legs, no
//! features. What a queue-proxy costs at the very least with hyper.
//! Usage: `knb-floor --listen ADDR --upstream ADDR`. Prints `listening ADDR`.

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, combinators::UnsyncBoxBody};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use knserve_bench_tools::{Args, runtime};
use tokio::net::TcpListener;

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

fn main() {
    let args = Args::from_env();
    let listen = args.addr("listen", Some("127.0.0.1:8014"));
    let upstream = args.addr("upstream", Some("127.0.0.1:8080"));
    runtime().block_on(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<_, Incoming> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(connector);
        let listener = TcpListener::bind(listen).await.expect("bind");
        println!("listening {}", listener.local_addr().expect("address"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| forward(client.clone(), upstream, req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn forward(
    client: Client<HttpConnector, Incoming>,
    upstream: std::net::SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("http://{upstream}{path}").parse::<Uri>() else {
        return Ok(bad_gateway());
    };
    *req.uri_mut() = uri;
    match client.request(req).await {
        Ok(response) => Ok(response.map(|b| b.boxed_unsync())),
        Err(_) => Ok(bad_gateway()),
    }
}

fn bad_gateway() -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}
