//! The admission webhook over real HTTPS on loopback: a rustls client that trusts only
//! the webhook's generated CA posts AdmissionReview JSON, as the API server does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use knserve_core::api::ValidationConfig;
use knserve_core::config::DefaultsConfig;
use knserve_k8s::webhook::{
    CertStore, PatchOp, Serving, WebhookCerts, apply, provider, serving_names, start,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const HELLOWORLD: &str = include_str!("../../knserve-core/tests/data/helloworld-go.yaml");

struct Webhook {
    serving: Serving,
    certs: WebhookCerts,
    store: Arc<CertStore>,
    settings: watch::Sender<ValidationConfig>,
}

async fn webhook() -> Webhook {
    let certs = WebhookCerts::generate(
        &serving_names("webhook", "knative-serving"),
        SystemTime::now(),
    )
    .expect("rcgen makes certificates");
    let store = CertStore::new(&certs).expect("the certificate loads");
    let (settings, receiver) = watch::channel(ValidationConfig::default());
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let serving = start(any_port, Arc::clone(&store), receiver)
        .await
        .expect("the webhook starts without a cluster");
    Webhook {
        serving,
        certs,
        store,
        settings,
    }
}

/// A TLS connection to `addr` trusting only `ca`, checking the certificate for `name`.
async fn connect(
    addr: SocketAddr,
    ca: &WebhookCerts,
    name: &str,
    alpn: &[u8],
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.ca_der().expect("the CA is PEM"))
        .expect("the CA is a certificate");
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// One HTTP/1.1 request over TLS; the status and the body.
async fn call(
    webhook: &Webhook,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let tls = connect(
        webhook.serving.addr,
        &webhook.certs,
        "127.0.0.1",
        b"http/1.1",
    )
    .await
    .expect("the client trusts the generated CA for 127.0.0.1");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a request");
    let response = sender.send_request(request).await.expect("a response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, body.to_vec())
}

fn admission_review(operation: &str, object: &Value) -> Vec<u8> {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "serving.knative.dev", "version": "v1", "kind": "Service"},
            "resource": {"group": "serving.knative.dev", "version": "v1", "resource": "services"},
            "requestKind": {"group": "serving.knative.dev", "version": "v1", "kind": "Service"},
            "name": "helloworld-go",
            "namespace": "example",
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    });
    serde_json::to_vec(&review).expect("serializes")
}

fn helloworld() -> Value {
    serde_yaml_ng::from_str(HELLOWORLD).expect("the sample parses")
}

/// POSTs a CREATE review to `path`; the `response` of the answer.
async fn admit(webhook: &Webhook, path: &str, object: &Value) -> Value {
    let (status, body) = call(
        webhook,
        Method::POST,
        path,
        admission_review("CREATE", object),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a well-formed review is answered with 200"
    );
    let review: Value = serde_json::from_slice(&body).expect("the answer is JSON");
    assert_eq!(
        review["apiVersion"], "admission.k8s.io/v1",
        "answered in the request's version"
    );
    assert_eq!(
        review["kind"], "AdmissionReview",
        "the answer is an AdmissionReview"
    );
    let response = review["response"].clone();
    assert_eq!(
        response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002",
        "the uid is echoed"
    );
    response
}

fn patch_ops(response: &Value) -> Vec<PatchOp> {
    if response.get("patch").is_none() {
        return Vec::new();
    }
    assert_eq!(response["patchType"], "JSONPatch", "patches are RFC 6902");
    let bytes: Vec<u8> = serde_json::from_value(response["patch"].clone()).expect("patch bytes");
    serde_json::from_slice(&bytes).expect("the patch is a JSON Patch")
}

#[tokio::test]
async fn healthz_answers_over_tls_and_unknown_paths_are_404() {
    let webhook = webhook().await;
    let (status, body) = call(&webhook, Method::GET, "/healthz", Vec::new()).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, &b"ok"[..]),
        "healthz is ok"
    );
    let (status, _) = call(&webhook, Method::POST, "/mutate", Vec::new()).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only /defaulting and /validation review"
    );
}

#[tokio::test]
async fn defaulting_patches_helloworld_into_a_defaulted_service_once() {
    let webhook = webhook().await;
    let object = helloworld();
    let response = admit(&webhook, "/defaulting", &object).await;
    assert_eq!(response["allowed"], true, "defaulting allows a valid ksvc");
    let ops = patch_ops(&response);
    let mut defaulted = object.clone();
    apply(&mut defaulted, &ops).expect("the patch applies to the object sent");
    let spec = &defaulted["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["name"], "user-container",
        "the container is named"
    );
    assert_eq!(
        spec["timeoutSeconds"], 300,
        "the stock revision timeout is set"
    );
    assert_eq!(
        defaulted["metadata"]["annotations"]["serving.knative.dev/creator"], "kubernetes-admin",
        "the requesting user is recorded as creator"
    );

    let again = admit(&webhook, "/defaulting", &defaulted).await;
    assert_eq!(
        patch_ops(&again),
        vec![],
        "defaulting a defaulted object changes nothing"
    );
    let validated = admit(&webhook, "/validation", &defaulted).await;
    assert_eq!(
        validated["allowed"], true,
        "the defaulted ksvc is valid: {validated}"
    );
}

#[tokio::test]
async fn validation_denies_an_invalid_service_naming_the_field() {
    let webhook = webhook().await;
    let mut object = helloworld();
    object["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8012}]);
    let response = admit(&webhook, "/validation", &object).await;
    assert_eq!(response["allowed"], false, "a reserved port is refused");
    assert_eq!(response["status"]["code"], 400, "denials carry 400");
    let message = response["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("spec.template.spec.containers[0].ports.containerPort"),
        "the message names the field: {message}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_admission_review_is_a_400_naming_the_problem() {
    let webhook = webhook().await;
    let (status, body) = call(&webhook, Method::POST, "/validation", b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "garbage is a bad request");
    let review: Value = serde_json::from_slice(&body).expect("still answered in JSON");
    assert_eq!(
        review["response"]["allowed"], false,
        "garbage is never allowed"
    );
    let message = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.starts_with("decoding the AdmissionReview"),
        "{message}"
    );
}

#[tokio::test]
async fn the_certificate_covers_the_service_names_and_http2_is_offered() {
    let webhook = webhook().await;
    for name in serving_names("webhook", "knative-serving") {
        connect(webhook.serving.addr, &webhook.certs, &name, b"http/1.1")
            .await
            .unwrap_or_else(|e| panic!("the serving certificate is valid for {name}: {e}"));
    }
    let wrong = connect(
        webhook.serving.addr,
        &webhook.certs,
        "webhook.default.svc",
        b"h2",
    )
    .await;
    assert!(wrong.is_err(), "names outside the certificate are refused");

    let tls = connect(webhook.serving.addr, &webhook.certs, "127.0.0.1", b"h2")
        .await
        .expect("TLS with ALPN h2");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "h2 is negotiated"
    );
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let request = Request::post("https://127.0.0.1/validation")
        .body(Full::new(Bytes::from(admission_review(
            "CREATE",
            &helloworld(),
        ))))
        .expect("a request");
    let response = sender
        .send_request(request)
        .await
        .expect("an HTTP/2 response");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "reviews are served over HTTP/2 too"
    );
}

#[tokio::test]
async fn a_replaced_certificate_is_served_to_new_connections() {
    let webhook = webhook().await;
    let renewed = WebhookCerts::generate(
        &serving_names("webhook", "knative-serving"),
        SystemTime::now(),
    )
    .expect("rcgen makes certificates");
    webhook
        .store
        .replace(&renewed)
        .expect("the renewed certificate loads");
    let addr = webhook.serving.addr;
    assert!(
        connect(addr, &webhook.certs, "127.0.0.1", b"http/1.1")
            .await
            .is_err(),
        "the old CA no longer verifies the served certificate"
    );
    connect(addr, &renewed, "127.0.0.1", b"http/1.1")
        .await
        .expect("the new CA verifies it, without a restart");
}

#[tokio::test]
async fn new_settings_apply_to_the_next_review() {
    let webhook = webhook().await;
    let defaults = DefaultsConfig::from_map(&[("revision-timeout-seconds", "120")])
        .expect("a valid config-defaults");
    webhook
        .settings
        .send_modify(|settings| settings.defaults = defaults);
    let object = helloworld();
    let mut defaulted = object.clone();
    apply(
        &mut defaulted,
        &patch_ops(&admit(&webhook, "/defaulting", &object).await),
    )
    .expect("the patch applies");
    assert_eq!(
        defaulted["spec"]["template"]["spec"]["timeoutSeconds"], 120,
        "config-defaults' revision-timeout-seconds is the default timeout"
    );
}
