//! The admin API: how the `knserve` CLI talks to a running `knserve serve`.
//!
//! HTTP/1.1 on a loopback listener. Every path under `/v1/` requires
//! `Authorization: Bearer <token>`, the token the server wrote to its state directory
//! (see [`crate::state`]); `GET /metrics` (Prometheus text) does not. Bodies are JSON
//! except where noted. Errors are an [`ErrorBody`] with a 4xx/5xx status. In paths,
//! `{ns}` must be a DNS-1123 label and `{name}` a DNS-1123 subdomain (400 otherwise).
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /v1/apply` | YAML of Services and `v1` ConfigMaps and Secrets (one or more documents) | 200 [`ApplyResponse`] once every Service is durably on disk; 400 [`ErrorBody`] (invalid); 500 [`ErrorBody`] naming the file that could not be written — all or nothing |
//! | `POST /v1/validate` | Service YAML | 200 [`ApplyResponse`] (action `valid`); 400 [`ErrorBody`] |
//! | `GET /v1/services` | | `[Service]` with status |
//! | `GET /v1/configurations`, `/v1/revisions`, `/v1/routes` | | arrays of those objects |
//! | `GET /v1/services/{ns}/{name}` | | `Service`; 404 |
//! | `GET /v1/revisions/{ns}/{name}` | | `Revision`; 404 |
//! | `DELETE /v1/services/{ns}/{name}` | | 200 [`Deleted`] once the file is removed; 404; 500 (the Service stays) |
//! | `GET /v1/revisions/{ns}/{name}/logs?tail=N` | | `text/plain`, one line per output line: `<instance> <stdout\|stderr> <line>`; 404 |
//! | `GET /v1/dashboard` | | [`Dashboard`](crate::runtime::dashboard::Dashboard): every revision's scale, load and answers, and the latest cold starts |
//! | `GET /metrics` | | Prometheus text, no token needed |
//! | `GET /dashboard` | | the dashboard's page (HTML), no token needed: it holds no data |
//!
//! The dashboard (`knserve dashboard` prints its URL) is one HTML page with its script
//! and styles inline, shipped inside the binary: no build step, no CDN, no library.
//! Choice: hand-written script of a few hundred lines drawing SVG, rather than a
//! charting library, so that nothing is fetched and nothing needs updating. The token
//! travels in the URL's fragment (`/dashboard#token=…`), which browsers never send, and
//! the page sends it as `Authorization: Bearer` with each `/v1/dashboard` and
//! `/v1/services` request it polls (every second).
//!
//! ConfigMaps and Secrets an apply stores are read by revisions' environments only: no
//! endpoint lists or returns them, so a Secret is never printed.
//!
//! Apply and validate bodies are bounded: at most 4 MiB (413 naming the limit), at most
//! 1000 documents and nesting at most 100 levels deep (400 naming the document and the
//! rule, before the document is decoded). Bodies are decoded one at a time off the
//! request path (see [`parser`]); a body that waits longer than
//! [`parser::PARSER_WAIT`] for the parser is answered 503 with `Retry-After`, and
//! nothing of it is applied.

use serde::{Deserialize, Serialize};

pub mod parser;
pub mod server;

/// Every admin path that needs the token starts with this.
pub const API_PREFIX: &str = "/v1/";

/// The dashboard page's path.
pub const DASHBOARD_PATH: &str = "/dashboard";

/// The dashboard page.
const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// One resource an apply or validate touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// `Service`, `ConfigMap` or `Secret`.
    pub kind: String,
    /// Namespace (defaulted to `default`).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `created`, `configured` (a new generation), `unchanged`, or `valid` (validate).
    pub action: String,
    /// Warnings that did not block it (e.g. unknown `autoscaling.knative.dev/*` keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The answer to `POST /v1/apply` and `POST /v1/validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResponse {
    /// One entry per document, in input order.
    pub results: Vec<Applied>,
}

/// The answer to a successful delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// `namespace/name` of the Service removed (with its Configuration, Revisions, Route).
    pub deleted: String,
}

/// Every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One line per problem; for invalid input `"<document>: <field path>: <rule>"`.
    pub errors: Vec<String>,
}
