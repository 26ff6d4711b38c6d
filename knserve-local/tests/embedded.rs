//! The library API: in-process instances get the same routing, buffering and scaling
//! as processes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use knserve_core::{
    api::{Resource, parse_yaml},
    net::{self, Body, BoxError},
};
use knserve_local::{
    config::ServerConfig,
    server::{ServeOptions, Server},
};
use tower::{service_fn, util::BoxCloneService};

const SERVICE: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: inproc, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "0"
        autoscaling.knative.dev/min-scale: "0"
    spec:
      containerConcurrency: 1
      containers:
      - image: in-process
"#;

async fn get(ingress: std::net::SocketAddr) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{ingress}/"))
        .header("host", "inproc.default.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_revision_at_zero_buffers_its_first_requests_and_scales_out_under_cc_1() {
    let config =
        ServerConfig::parse("config-autoscaler:\n  allow-zero-initial-scale: \"true\"\n").unwrap();
    let server = Server::start(ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        config,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let Some(Resource::Service(service)) = parse_yaml(SERVICE).unwrap().pop() else {
        panic!("one Service");
    };
    let made = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let factory = {
        let (made, most) = (made.clone(), most.clone());
        move || {
            let id = made.fetch_add(1, Ordering::SeqCst) + 1;
            // Each instance counts its own requests in flight.
            let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), most.clone());
            BoxCloneService::new(service_fn(move |_: Request<Body>| {
                let (in_flight, most) = (in_flight.clone(), most.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, BoxError>(Response::new(net::full(format!("instance {id}"))))
                }
            }))
        }
    };
    server.runtime().apply_in_process(service, factory).unwrap();
    server
        .runtime()
        .wait_ready("default", "inproc", Duration::from_secs(20))
        .await
        .expect("an initial scale of 0 is ready at once");
    assert_eq!(
        made.load(Ordering::SeqCst),
        0,
        "no instance until a request comes"
    );

    // Six requests at once against CC 1: buffered in the activator, served by several
    // instances made from the factory.
    let ingress = server.ingress_address();
    let requests: Vec<_> = (0..6).map(|_| tokio::spawn(get(ingress))).collect();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("instance "), "{body}");
    }
    assert!(
        made.load(Ordering::SeqCst) >= 2,
        "demand at CC 1 scales out: {} instances made",
        made.load(Ordering::SeqCst)
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "containerConcurrency 1: no instance ever handled two requests at once"
    );
    server.shutdown().await;
}
