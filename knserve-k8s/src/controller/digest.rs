//! Tag-to-digest resolution of a revision's images, as Knative's Revision reconciler does
//! it (`pkg/reconciler/revision/resolve.go`, `background.go`): before the Deployment
//! exists, every container image given by tag is looked up in its registry
//! (Docker Registry HTTP API v2, `HEAD /v2/<repository>/manifests/<tag>`) and the
//! `Docker-Content-Digest` the registry answers becomes `<registry>/<repository>@sha256:…`,
//! recorded in the Revision's `status.containerStatuses` (`initContainerStatuses` for init
//! containers) and used in the pod spec, so that every pod of the revision runs the same
//! image even when the tag moves.
//!
//! - An image already given by digest is kept as it is.
//! - An image of a registry in `config-deployment`'s `registries-skipping-tag-resolving`
//!   (default `kind.local,ko.local,dev.local`) is not looked up: its status carries an
//!   empty `imageDigest` and the pod runs the image as written.
//! - A failure (the registry refuses, the tag does not exist, `digest-resolution-timeout`,
//!   default 10 s, passes) is reported as Knative reports it:
//!   `Unable to fetch image "<image>": failed to resolve image to digest: <cause>`.
//!
//! References are read as go-containerregistry reads them with weak validation: a first
//! path component with a `.` or a `:`, or `localhost`, names the registry, else the
//! registry is Docker Hub (`index.docker.io`, with `library/` before a one-component
//! repository); no tag means `latest`.
//!
//! Choice, as go-containerregistry chooses: plain HTTP for a registry on `localhost`, a
//! loopback address or a private (RFC 1918) address such as the in-cluster
//! `10.244.0.1:5000`; HTTPS, verified against the system's CA bundle and the cluster's CA,
//! for every other. No credentials are used: registries that answer 401 with a `Bearer`
//! challenge are asked for an anonymous pull token (Knative also reads the service
//! account's and the revision's image pull secrets; knserve does not yet).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// The manifest media types asked for, as go-containerregistry's `remote.Head` asks:
/// an index or list is resolved to its own digest (the one `containerd` pulls by).
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws,\
    application/vnd.docker.distribution.manifest.v2+json,\
    application/vnd.oci.image.manifest.v1+json,\
    application/vnd.docker.distribution.manifest.list.v2+json,\
    application/vnd.oci.image.index.v1+json";

/// Docker Hub's registry, as go-containerregistry names it.
const DOCKER_HUB: &str = "index.docker.io";

/// CA bundles trusted for HTTPS registries: the system's (the image's `ca-certificates`)
/// and the cluster's, as Knative's resolver trusts them.
const CA_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
];

/// A token response or an error body is read up to this size.
const BODY_LIMIT: usize = 64 * 1024;

/// An image reference by tag, split as the registry API needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedImage {
    /// `host[:port]`; `index.docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path inside the registry (`library/nginx`).
    pub repository: String,
    /// The tag (`latest` when none is written).
    pub tag: String,
}

/// What an image reference is, for resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageReference {
    /// Already by digest (`…@sha256:…`): kept as it is.
    Digest,
    /// By tag: to be resolved.
    Tagged(TaggedImage),
}

impl ImageReference {
    /// Reads `image` as go-containerregistry's `name.NewTag` with weak validation does.
    ///
    /// # Errors
    /// An empty reference or an empty repository, in the words of Knative's message
    /// (`failed to parse image name "<image>" into a tag`).
    pub fn parse(image: &str) -> Result<Self, String> {
        if image.contains('@') {
            return Ok(Self::Digest);
        }
        let invalid = |why: &str| format!("failed to parse image name {image:?} into a tag: {why}");
        let (name, tag) = match image.rfind(':') {
            Some(colon) if !image[colon..].contains('/') => (&image[..colon], &image[colon + 1..]),
            _ => (image, "latest"),
        };
        if tag.is_empty() {
            return Err(invalid("the tag is empty"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = if registry == "docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        if repository.is_empty() {
            return Err(invalid("the repository is empty"));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        Ok(Self::Tagged(TaggedImage {
            registry,
            repository,
            tag: tag.to_owned(),
        }))
    }
}

impl TaggedImage {
    /// `http` or `https`, as go-containerregistry's `Registry.Scheme` picks it (see the
    /// module docs).
    pub fn scheme(&self) -> &'static str {
        let host = host_of(&self.registry);
        let plain = host == "localhost"
            || match host.parse::<IpAddr>() {
                Ok(IpAddr::V4(v4)) => v4.is_loopback() || v4.is_private(),
                Ok(IpAddr::V6(v6)) => v6.is_loopback(),
                Err(_) => false,
            };
        if plain { "http" } else { "https" }
    }

    fn manifest_url(&self) -> String {
        format!(
            "{}://{}/v2/{}/manifests/{}",
            self.scheme(),
            self.registry,
            self.repository,
            self.tag
        )
    }
}

/// The host of `host[:port]` (brackets of an IPv6 literal removed).
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Resolves each distinct image of `images` (Knative resolves an image once per revision
/// however many containers use it): the resolved reference, or `""` for an image kept as
/// written (a skipped registry). An image already by digest resolves to itself.
///
/// # Errors
/// The first failure, as Knative words it (see the module docs).
pub async fn resolve_all(
    images: &[String],
    skipped: &BTreeSet<String>,
    timeout: Duration,
) -> Result<BTreeMap<String, String>, String> {
    let mut resolved = BTreeMap::new();
    for image in images {
        if resolved.contains_key(image) {
            continue;
        }
        let image = image.as_str();
        let digest = resolve(image, skipped, timeout).await.map_err(|cause| {
            format!("Unable to fetch image {image:?}: failed to resolve image to digest: {cause}")
        })?;
        resolved.insert(image.to_owned(), digest);
    }
    Ok(resolved)
}

/// One image: `<registry>/<repository>@sha256:…`, the image itself when by digest, or `""`
/// when its registry is skipped.
///
/// # Errors
/// Why the registry gave no digest (its status, a connection error, the timeout).
pub async fn resolve(
    image: &str,
    skipped: &BTreeSet<String>,
    timeout: Duration,
) -> Result<String, String> {
    let tagged = match ImageReference::parse(image)? {
        ImageReference::Digest => return Ok(image.to_owned()),
        ImageReference::Tagged(tagged) => tagged,
    };
    if skipped.contains(&tagged.registry) {
        return Ok(String::new());
    }
    let url = tagged.manifest_url();
    let digest = tokio::time::timeout(timeout, head_digest(&tagged, &url))
        .await
        .map_err(|_| {
            format!("HEAD {url}: no answer within {timeout:?} (digest-resolution-timeout)")
        })??;
    Ok(format!(
        "{}/{}@{digest}",
        tagged.registry, tagged.repository
    ))
}

/// `HEAD` the manifest (after an anonymous token when challenged) and read its digest.
async fn head_digest(tagged: &TaggedImage, url: &str) -> Result<String, String> {
    let mut response = send(Method::HEAD, url, None).await?;
    if response.status() == StatusCode::UNAUTHORIZED {
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let token = anonymous_token(&challenge, &tagged.repository).await?;
        response = send(Method::HEAD, url, Some(&token)).await?;
    }
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "HEAD {url}: unexpected status code {status} (HEAD responses have no body, use GET \
             for details)"
        ));
    }
    let digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("HEAD {url}: the response has no Docker-Content-Digest header"))?;
    check_digest(digest).map_err(|why| format!("HEAD {url}: Docker-Content-Digest {why}"))?;
    Ok(digest.to_owned())
}

/// `sha256:` and 64 lowercase hexadecimal digits.
fn check_digest(digest: &str) -> Result<(), String> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{digest:?} is not sha256: and 64 lowercase hex digits"
        )),
    }
}

/// The token flow of the registry's `Bearer realm="…",service="…",scope="…"` challenge,
/// without credentials.
async fn anonymous_token(challenge: &str, repository: &str) -> Result<String, String> {
    let Some(params) = challenge
        .strip_prefix("Bearer ")
        .or_else(|| challenge.strip_prefix("bearer "))
    else {
        return Err(format!(
            "the registry asks for credentials ({challenge:?}) and none are configured"
        ));
    };
    let params = challenge_params(params);
    let realm = params
        .get("realm")
        .ok_or_else(|| format!("the Bearer challenge {challenge:?} names no realm"))?;
    let scope = params
        .get("scope")
        .cloned()
        .unwrap_or_else(|| format!("repository:{repository}:pull"));
    let mut url = format!("{realm}?scope={}", query_escape(&scope));
    if let Some(service) = params.get("service") {
        url.push_str(&format!("&service={}", query_escape(service)));
    }
    let response = send(Method::GET, &url, None).await?;
    let status = response.status();
    let body = Limited::new(response.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("GET {url}: reading the token: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "GET {url}: unexpected status code {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("GET {url}: the token response is not JSON: {e}"))?;
    json.get("token")
        .or_else(|| json.get("access_token"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("GET {url}: the response has no token"))
}

/// `key="value",key=value` pairs of a challenge.
fn challenge_params(params: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((value, after)) => (value, after),
                None => (quoted, ""),
            }
        } else {
            match after.split_once(',') {
                Some((value, after)) => (value, after),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_owned());
        rest = after.trim_start_matches(',').trim();
    }
    out
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One request on a connection of its own (a revision's images are resolved once, so no
/// pool is kept), over TLS for `https` URLs.
async fn send(
    method: Method,
    url: &str,
    token: Option<&str>,
) -> Result<Response<Incoming>, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{method} {url}: {e}"))?;
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{method} {url}: {what}: {e}");
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{method} {url}: no host"))?
        .clone();
    let https = uri.scheme_str() == Some("https");
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let host = host_of(authority.as_str()).to_owned();
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| fail("connecting", &e))?;
    let path = uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let mut request = Request::builder()
        .method(&method)
        .uri(path)
        .header(HOST, authority.as_str())
        .header(ACCEPT, MANIFEST_TYPES)
        .header(http::header::USER_AGENT, "knserve-controller");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail("building the request", &e))?;
    let response = if https {
        let name = ServerName::try_from(host.clone()).map_err(|e| fail("server name", &e))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, tcp)
            .await
            .map_err(|e| fail("TLS handshake", &e))?;
        exchange(TokioIo::new(tls), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    };
    response.map_err(|e| fail("request", &e))
}

/// HTTP/1.1 on an open connection.
async fn exchange<T>(io: T, request: Request<Empty<Bytes>>) -> hyper::Result<Response<Incoming>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "registry connection");
        }
    });
    sender.send_request(request).await
}

/// The client TLS configuration, built once from [`CA_BUNDLES`] (the ones that exist).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for bundle in CA_BUNDLES {
                let Ok(certs) = CertificateDer::pem_file_iter(bundle) else {
                    continue;
                };
                let (added, _ignored) = roots.add_parsable_certificates(certs.flatten());
                tracing::debug!(bundle, added, "registry CA certificates");
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS configuration: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::revision::DeploymentConfig;

    fn tagged(image: &str) -> TaggedImage {
        match ImageReference::parse(image) {
            Ok(ImageReference::Tagged(t)) => t,
            other => panic!("{image}: {other:?}"),
        }
    }

    #[test]
    fn references_are_read_as_go_containerregistry_reads_them() {
        let t = tagged("nginx");
        assert_eq!(
            (t.registry.as_str(), t.repository.as_str(), t.tag.as_str()),
            ("index.docker.io", "library/nginx", "latest")
        );
        let t = tagged("docker.io/user/app:v1");
        assert_eq!(
            (t.registry.as_str(), t.repository.as_str(), t.tag.as_str()),
            ("index.docker.io", "user/app", "v1")
        );
        let t = tagged("10.244.0.1:5000/serving/helloworld");
        assert_eq!(
            (t.registry.as_str(), t.repository.as_str(), t.tag.as_str()),
            ("10.244.0.1:5000", "serving/helloworld", "latest")
        );
        assert_eq!(t.scheme(), "http");
        assert_eq!(tagged("localhost:5000/a:b").scheme(), "http");
        assert_eq!(tagged("127.0.0.1:5000/a").scheme(), "http");
        assert_eq!(tagged("ghcr.io/knserve/knserve:dev").scheme(), "https");
        assert_eq!(tagged("8.8.8.8:5000/a").scheme(), "https");
        assert_eq!(tagged("kind.local/app").registry, "kind.local");
        assert_eq!(
            ImageReference::parse(&format!("ghcr.io/a@sha256:{}", "0".repeat(64))),
            Ok(ImageReference::Digest)
        );
        assert!(ImageReference::parse("app:").is_err());
    }

    #[test]
    fn bearer_challenges_are_split_into_their_parameters() {
        let p = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/nginx:pull");
        assert_eq!(
            query_escape("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn digests_must_be_sha256_hex() {
        assert!(check_digest(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_digest(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(check_digest("sha512:00").is_err());
    }

    #[tokio::test]
    async fn skipped_registries_and_digests_are_not_looked_up() {
        let config = DeploymentConfig::default();
        let skipped = &config.registries_skipping_tag_resolving;
        assert_eq!(skipped.len(), 3);
        assert_eq!(
            resolve("ko.local/app:v1", skipped, config.digest_resolution_timeout).await,
            Ok(String::new())
        );
        let by_digest = format!("example.com/app@sha256:{}", "b".repeat(64));
        assert_eq!(
            resolve(&by_digest, skipped, config.digest_resolution_timeout).await,
            Ok(by_digest.clone())
        );
    }
}
