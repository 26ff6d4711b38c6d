//! A small HTTP/1 client for the admin API ([`crate::admin`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use crate::admin::ErrorBody;
use crate::state::{ServerInfo, StateDir, StateError};

/// Why an admin API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the address in `server.json`.
    #[error(
        "the knserve server of {dir} is not running (nothing listens on {admin}); start one with `knserve serve --state-dir {dir}`"
    )]
    NotRunning {
        /// The state directory.
        dir: String,
        /// The admin address `server.json` named.
        admin: SocketAddr,
    },
    /// The request could not be sent or the answer read.
    #[error("admin API request to {admin} failed")]
    Transport {
        /// The admin address.
        admin: SocketAddr,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered with an error status.
    #[error("{status}: {}", errors.join("; "))]
    Status {
        /// The status.
        status: StatusCode,
        /// The [`ErrorBody`] lines, or the body text when it is not one.
        errors: Vec<String>,
    },
    /// A success answer that is not the JSON the contract promises.
    #[error("unexpected answer from {path}")]
    Decode {
        /// The request path.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The error status, if the server answered with one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one running server, holding its address and token.
#[derive(Debug, Clone)]
pub struct AdminClient {
    server: ServerInfo,
    token: String,
    dir: PathBuf,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    /// Reads `server.json` and `admin-token` from `state`.
    pub fn from_state(state: &StateDir) -> Result<Self, StateError> {
        let server = state.read_server()?;
        let token = state.read_token()?;
        Ok(Self {
            server,
            token,
            dir: state.root().to_owned(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Where the server says it listens.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// The dashboard's URL, the token in its fragment (which browsers never send).
    /// A token is hex, so it needs no escaping; one edited by hand is escaped anyway.
    pub fn dashboard_url(&self) -> String {
        let token: String = self
            .token
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!(
            "http://{}{}#token={token}",
            self.server.admin,
            crate::admin::DASHBOARD_PATH
        )
    }

    /// Sends a request; a 2xx answer's body, else [`ClientError::Status`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<Bytes, ClientError> {
        let admin = self.server.admin;
        let transport = |source: Box<dyn std::error::Error + Send + Sync>| ClientError::Transport {
            admin,
            source,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{admin}{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        if let Some((content_type, _)) = &body {
            request = request.header(header::CONTENT_TYPE, *content_type);
        }
        let body = body.map(|(_, bytes)| bytes).unwrap_or_default();
        let request = request
            .body(Full::new(body))
            .map_err(|e| transport(e.into()))?;
        let response = self.http.request(request).await.map_err(|e| {
            if e.is_connect() {
                ClientError::NotRunning {
                    dir: self.dir.display().to_string(),
                    admin,
                }
            } else {
                transport(e.into())
            }
        })?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.into()))?
            .to_bytes();
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(ClientError::Status {
                status,
                errors: error_lines(&bytes),
            })
        }
    }

    /// `GET path`, decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let bytes = self.send(Method::GET, path, None).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            path: path.to_owned(),
            source,
        })
    }
}

/// The lines of an [`ErrorBody`], or the body as text when it is not one.
fn error_lines(body: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => error.errors,
        Err(_) => vec![String::from_utf8_lossy(body).trim().to_owned()],
    }
}

/// `/v1/<collection>/<ns>/<name>` with both segments percent-encoded.
pub fn object_path(collection: &str, namespace: &str, name: &str) -> String {
    format!(
        "/v1/{collection}/{}/{}",
        encode_segment(namespace),
        encode_segment(name)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_encode_their_segments() {
        assert_eq!(
            object_path("services", "default", "hello"),
            "/v1/services/default/hello"
        );
        assert_eq!(
            object_path("revisions", "a b", "x/y"),
            "/v1/revisions/a%20b/x%2Fy",
            "a name cannot escape its path segment"
        );
    }

    #[test]
    fn error_bodies_become_lines_and_other_bodies_text() {
        assert_eq!(
            error_lines(br#"{"errors":["documents[0]: spec: bad","documents[1]: x: y"]}"#),
            ["documents[0]: spec: bad", "documents[1]: x: y"]
        );
        assert_eq!(error_lines(b"Internal error\n"), ["Internal error"]);
    }

    #[tokio::test]
    async fn a_refused_connection_means_the_server_is_not_running() {
        let dir = std::env::temp_dir().join(format!("knserve-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let admin = listener.local_addr().expect("address");
        drop(listener);
        let info = format!(r#"{{"pid":1,"admin":"{admin}","ingress":"127.0.0.1:1"}}"#);
        std::fs::write(dir.join("server.json"), info).expect("server.json");
        std::fs::write(dir.join("admin-token"), "t\n").expect("token");
        let client = AdminClient::from_state(&StateDir::new(&dir)).expect("state is readable");
        let err = client
            .send(Method::GET, "/v1/services", None)
            .await
            .expect_err("nothing listens there");
        std::fs::remove_dir_all(&dir).ok();
        assert!(
            matches!(err, ClientError::NotRunning { .. }),
            "refused is reported as not running: {err:?}"
        );
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
    }
}
