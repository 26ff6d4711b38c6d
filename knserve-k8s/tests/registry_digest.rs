//! Tag-to-digest resolution against a real registry: Debian's `docker-registry` (the CNCF
//! distribution server, installed by `scripts/kube-testenv.sh build-node`) started on
//! 127.0.0.1 with storage in a temporary directory, images pushed to it with the
//! registry API's own uploads, and the digest the resolver reads checked against the
//! SHA-256 of the manifest bytes (computed by `sha256sum`, independently of the registry).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use knserve_k8s::controller::digest::{resolve, resolve_all};
use knserve_k8s::desired::revision::DeploymentConfig;
use tokio::io::AsyncReadExt;

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A `docker-registry` process, stopped by its PID when dropped.
struct Registry {
    child: Child,
    address: String,
    dir: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn http() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Starts the registry on a free loopback port and waits for `GET /v2/` to answer 200.
async fn start_registry() -> Registry {
    assert!(
        Path::new(REGISTRY_BINARY).exists(),
        "{REGISTRY_BINARY} is missing: scripts/kube-testenv.sh build-node installs it"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("knserve-registry-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).expect("registry dir");
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {address}\n  secret: knserve-test\n",
            dir.join("data").display()
        ),
    )
    .expect("registry config");
    let child = Command::new(REGISTRY_BINARY)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting docker-registry");
    let registry = Registry {
        child,
        address,
        dir,
    };
    let client = http();
    for _ in 0..100 {
        let uri = format!("http://{}/v2/", registry.address);
        if let Ok(response) = client.get(uri.parse().expect("uri")).await
            && response.status() == StatusCode::OK
        {
            return registry;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("docker-registry did not answer on {}", registry.address);
}

/// `sha256:<hex>` of `bytes`, by `sha256sum`.
fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("writing to sha256sum");
    let out = child.wait_with_output().expect("sha256sum output");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    format!("sha256:{}", &text[..64])
}

async fn call(
    client: &Http,
    method: Method,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> http::Response<hyper::body::Incoming> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    client.request(request).await.expect("registry request")
}

/// Uploads a blob (monolithic upload: `POST` then `PUT ?digest=`); returns its digest.
async fn push_blob(client: &Http, registry: &Registry, repository: &str, blob: &[u8]) -> String {
    let digest = sha256(blob);
    let start = format!("http://{}/v2/{repository}/blobs/uploads/", registry.address);
    let response = call(
        client,
        Method::POST,
        &start,
        "application/octet-stream",
        vec![],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "starting an upload"
    );
    let location = response.headers()[http::header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let location = if location.starts_with('/') {
        format!("http://{}{location}", registry.address)
    } else {
        location
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let put = format!("{location}{separator}digest={digest}");
    let response = call(
        client,
        Method::PUT,
        &put,
        "application/octet-stream",
        blob.to_vec(),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "finishing an upload"
    );
    digest
}

/// Pushes a one-layer OCI image as `repository:tag`; returns the manifest's digest as
/// `sha256sum` computes it.
async fn push_image(registry: &Registry, repository: &str, tag: &str, layer: &[u8]) -> String {
    let client = http();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(&client, registry, repository, config).await;
    let layer_digest = push_blob(&client, registry, repository, layer).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest");
    let uri = format!(
        "http://{}/v2/{repository}/manifests/{tag}",
        registry.address
    );
    let response = call(&client, Method::PUT, &uri, OCI_MANIFEST, manifest.clone()).await;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "pushing the manifest: {}",
        String::from_utf8_lossy(&body)
    );
    sha256(&manifest)
}

#[tokio::test]
async fn tags_resolve_to_the_digest_the_registry_serves() {
    let registry = start_registry().await;
    let config = DeploymentConfig::default();
    let skip = &config.registries_skipping_tag_resolving;
    let timeout = config.digest_resolution_timeout;
    let first = push_image(&registry, "test/app", "v1", b"first layer").await;
    let image = format!("{}/test/app:v1", registry.address);
    assert_eq!(
        resolve(&image, skip, timeout).await,
        Ok(format!("{}/test/app@{first}", registry.address))
    );

    // The tag moves: the next resolution follows it (nothing is cached per image).
    let second = push_image(&registry, "test/app", "v1", b"second layer").await;
    assert_ne!(first, second);
    assert_eq!(
        resolve(&image, skip, timeout).await,
        Ok(format!("{}/test/app@{second}", registry.address))
    );

    // No tag means `latest`.
    let latest = push_image(&registry, "test/app", "latest", b"latest layer").await;
    assert_eq!(
        resolve(&format!("{}/test/app", registry.address), skip, timeout).await,
        Ok(format!("{}/test/app@{latest}", registry.address))
    );

    // Each distinct image once; an image by digest is kept as written.
    let pinned = format!("{}/test/app@{first}", registry.address);
    let resolved = resolve_all(
        &[image.clone(), pinned.clone(), image.clone()],
        skip,
        timeout,
    )
    .await
    .expect("both resolve");
    assert_eq!(resolved.len(), 2);
    assert_eq!(resolved[&pinned], pinned);
}

#[tokio::test]
async fn a_missing_tag_is_reported_as_knative_reports_it() {
    let registry = start_registry().await;
    let config = DeploymentConfig::default();
    push_image(&registry, "test/app", "v1", b"layer").await;
    let image = format!("{}/test/app:nope", registry.address);
    let error = resolve_all(
        std::slice::from_ref(&image),
        &config.registries_skipping_tag_resolving,
        config.digest_resolution_timeout,
    )
    .await
    .expect_err("the tag does not exist");
    assert!(
        error.starts_with(&format!(
            "Unable to fetch image {image:?}: failed to resolve image to digest: HEAD http://{}/v2/test/app/manifests/nope: unexpected status code 404 Not Found",
            registry.address
        )),
        "{error}"
    );
}

#[tokio::test]
async fn a_skipped_registry_is_not_asked() {
    // Listed, the registry is not contacted at all: there is nothing on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let image = format!("127.0.0.1:{port}/test/app:v1");
    let listed: BTreeSet<String> = [format!("127.0.0.1:{port}")].into();
    assert_eq!(
        resolve(&image, &listed, Duration::from_secs(10)).await,
        Ok(String::new())
    );
    let error = resolve(&image, &BTreeSet::new(), Duration::from_secs(10))
        .await
        .expect_err("nothing listens there");
    assert!(error.contains("connecting"), "{error}");
}

#[tokio::test]
async fn a_registry_that_never_answers_fails_at_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let address = listener.local_addr().expect("address");
    // Accepts and reads, never answers.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            held.push(stream);
        }
    });
    let image = format!("{address}/test/app:v1");
    let error = resolve(&image, &BTreeSet::new(), Duration::from_millis(500))
        .await
        .expect_err("no answer");
    assert!(error.contains("digest-resolution-timeout"), "{error}");
    silent.abort();
}
