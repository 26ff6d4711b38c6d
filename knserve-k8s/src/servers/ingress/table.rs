//! [`IngressTable`]: Host and path to weighted backends, from KIngress objects (spec
//! §6.1, §6.2). Pure: built from objects, asked with a random draw.

use std::{collections::HashMap, sync::Arc};

use http::{HeaderMap, HeaderName, HeaderValue};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knserve_core::{net::headers::KNATIVE_SERVING_REVISION, router::normalize_host};

use super::hash::ingress_hash;
use crate::crd::{
    Ingress,
    networking::{HttpIngressPath, IngressBackendSplit},
};

/// The annotation that names the ingress implementation a KIngress is for.
pub const INGRESS_CLASS_ANNOTATION: &str = "networking.knative.dev/ingress.class";
/// The visibility of a rule served on the internal listener only.
const CLUSTER_LOCAL: &str = "ClusterLocal";

/// knserve's ingress class (set `ingress-class` in `config-network` to it).
pub const INGRESS_CLASS: &str = "knserve.ingress.networking.knative.dev";

/// Which KIngress objects this ingress programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFilter {
    /// The class to accept ([`INGRESS_CLASS`] by default).
    pub class: String,
    /// Also program objects without the class annotation.
    pub accept_unannotated: bool,
}

impl Default for ClassFilter {
    fn default() -> Self {
        Self {
            class: INGRESS_CLASS.to_owned(),
            accept_unannotated: false,
        }
    }
}

impl ClassFilter {
    /// Whether `ingress` is ours.
    pub fn accepts(&self, ingress: &Ingress) -> bool {
        let annotations = ingress.metadata.annotations.as_ref();
        match annotations.and_then(|a| a.get(INGRESS_CLASS_ANNOTATION)) {
            Some(class) => *class == self.class,
            None => self.accept_unannotated,
        }
    }
}

/// A Service, by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A Service port as a split names it: by number (the Service's `port`) or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortRef {
    /// The Service port with this `port` number.
    Number(i32),
    /// The Service port with this name.
    Name(String),
}

/// One backend Service port: what a split sends requests to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendRef {
    /// The Service.
    pub service: ServiceKey,
    /// Its port.
    pub port: PortRef,
}

/// One split of a path: its backend, weight and headers.
#[derive(Debug)]
pub struct Backend {
    /// The Service port requests go to.
    pub target: BackendRef,
    /// What 503s name: `namespace/revision` from the split's `Knative-Serving-Revision`
    /// header, else `namespace/service`.
    pub revision: String,
    /// The split's `appendHeaders`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The running total of weights up to and including this split.
    upto: u32,
}

/// A path of a rule with its splits.
#[derive(Debug)]
struct PathRule {
    prefix: String,
    /// The request headers the path requires (`headers`, exact values).
    matches: Vec<(HeaderName, HeaderValue)>,
    backends: Vec<Backend>,
    headers: Vec<(HeaderName, HeaderValue)>,
    rewrite_host: Option<HeaderValue>,
    /// Whether its rule is `ExternalIP` (served on both listeners) rather than
    /// `ClusterLocal` (the internal listener only).
    external: bool,
    /// The hash of its KIngress ([`ingress_hash`]).
    hash: HeaderValue,
}

impl PathRule {
    fn answers(&self, path: &str, headers: &HeaderMap, listener: Listener) -> bool {
        (self.external || listener == Listener::Internal)
            && path.starts_with(&self.prefix)
            && self
                .matches
                .iter()
                .all(|(name, value)| headers.get(name) == Some(value))
    }
}

/// Which of the ingress's listeners a request came in on (Knative's two gateways).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The public one (the `knserve-ingress` Service): `ExternalIP` rules only, so a
    /// `ClusterLocal` host is a 404 from outside the cluster.
    External,
    /// The cluster-local one (the `knserve-ingress-internal` Service, the
    /// `privateLoadBalancer`): every rule.
    Internal,
}

/// Where one request goes: a backend and the headers to append.
#[derive(Debug)]
pub struct Decision<'a> {
    /// The chosen split.
    pub backend: &'a Backend,
    /// The path's `appendHeaders` (the split's are in [`Backend::headers`]).
    pub path_headers: &'a [(HeaderName, HeaderValue)],
    /// The path's `rewriteHost`: the Host the backend is sent.
    pub rewrite_host: Option<&'a HeaderValue>,
    /// The hash of the KIngress the path belongs to (what a hash probe with
    /// `K-Network-Hash: override` carries on).
    pub hash: &'a HeaderValue,
}

/// No rule answers the host and path; the ingress answers 404.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no ingress rule for host {host:?} and path {path:?}")]
pub struct NoRoute {
    /// The host as looked up: port stripped, lowercased.
    pub host: String,
    /// The request path.
    pub path: String,
}

/// Why a KIngress (or one of its hosts) was not programmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// An `appendHeaders` or `headers` entry is not a valid header (name or value);
    /// the whole object is left out.
    #[error("{field} entry {name:?} is not a valid header")]
    BadHeader {
        /// `appendHeaders`, `headers` or `rewriteHost`.
        field: &'static str,
        /// The offending header name.
        name: String,
    },
    /// An earlier KIngress (in `namespace/name` order) already answers the host.
    #[error("host {host} is already served by ingress {owner}")]
    HostTaken {
        /// The contested host.
        host: String,
        /// The ingress that keeps it.
        owner: String,
    },
}

/// The outcome of programming one KIngress, for its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programmed {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The `metadata.generation` programmed.
    pub generation: Option<i64>,
    /// The first problem, when it is not (fully) programmed.
    pub error: Option<TableError>,
}

/// Host → paths → weighted backends, for a set of KIngress objects (§6.2).
///
/// - Hosts are exact (lowercased, port and trailing dot stripped).
/// - `ExternalIP` rules (and rules that name no visibility, Knative's default) answer
///   on both listeners, `ClusterLocal` ones on the internal listener only
///   ([`Listener`]).
/// - Paths are tried in order: a path answers when the request's path starts with its
///   prefix (an empty one matches all) and it carries every header of the path's
///   `headers` with its exact value.
/// - A split is picked with probability `percent / total`; splits at 0 % are never
///   picked. When every split of a path is at 0 % they share equally: Knative forces a
///   single target to 100 %, and an all-zero path is otherwise unroutable.
/// - A host claimed by two objects goes to the first in `namespace/name` order; the
///   other's status says so.
#[derive(Debug, Default)]
pub struct IngressTable {
    hosts: HashMap<String, Vec<Arc<PathRule>>>,
    owners: HashMap<String, String>,
}

impl IngressTable {
    /// The table for `ingresses` (any order) and what became of each.
    pub fn build<'a>(ingresses: impl IntoIterator<Item = &'a Ingress>) -> (Self, Vec<Programmed>) {
        let mut ingresses: Vec<&Ingress> = ingresses.into_iter().collect();
        ingresses.sort_by_key(|i| (i.metadata.namespace.clone(), i.metadata.name.clone()));
        let mut table = Self::default();
        let outcomes = ingresses
            .into_iter()
            .map(|ingress| {
                let error = table.add(ingress).err();
                Programmed {
                    namespace: ingress.metadata.namespace.clone().unwrap_or_default(),
                    name: ingress.metadata.name.clone().unwrap_or_default(),
                    generation: ingress.metadata.generation,
                    error,
                }
            })
            .collect();
        (table, outcomes)
    }

    fn add(&mut self, ingress: &Ingress) -> Result<(), TableError> {
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or_default();
        let id = format!(
            "{namespace}/{}",
            ingress.metadata.name.as_deref().unwrap_or_default()
        );
        let hash = HeaderValue::try_from(ingress_hash(ingress))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        let mut rules: Vec<(String, Arc<PathRule>)> = Vec::new();
        for rule in &ingress.spec.rules {
            let external = rule.visibility != CLUSTER_LOCAL;
            let paths = rule.http.iter().flat_map(|http| &http.paths);
            let paths = paths
                .map(|path| path_rule(namespace, path, external, &hash).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()?;
            for host in &rule.hosts {
                let host = normalize_host(host).into_owned();
                rules.extend(paths.iter().map(|p| (host.clone(), p.clone())));
            }
        }
        let mut first_error = None;
        for (host, rule) in rules {
            match self.owners.get(&host) {
                Some(owner) if *owner != id => {
                    first_error.get_or_insert(TableError::HostTaken {
                        host,
                        owner: owner.clone(),
                    });
                }
                _ => {
                    self.owners.insert(host.clone(), id.clone());
                    self.hosts.entry(host).or_default().push(rule);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The backend for a request to `host` (any case, with or without port), `path`
    /// and `headers` that came in on `listener`; `draw` is a uniformly random number
    /// that picks the split.
    pub fn route(
        &self,
        host: &str,
        path: &str,
        headers: &HeaderMap,
        listener: Listener,
        draw: u64,
    ) -> Result<Decision<'_>, NoRoute> {
        let host = normalize_host(host);
        let no_route = || NoRoute {
            host: host.clone().into_owned(),
            path: path.to_owned(),
        };
        let rules = self.hosts.get(host.as_ref()).ok_or_else(no_route)?;
        let rule = rules
            .iter()
            .find(|r| r.answers(path, headers, listener))
            .ok_or_else(no_route)?;
        let total = rule.backends.last().map_or(0, |b| b.upto);
        if total == 0 {
            return Err(no_route());
        }
        let r = u32::try_from(draw % u64::from(total)).unwrap_or(0);
        let index = rule.backends.partition_point(|b| b.upto <= r);
        let backend = rule.backends.get(index).ok_or_else(no_route)?;
        Ok(Decision {
            backend,
            path_headers: &rule.headers,
            rewrite_host: rule.rewrite_host.as_ref(),
            hash: &rule.hash,
        })
    }

    /// Every backend some rule may send to.
    pub fn backends(&self) -> impl Iterator<Item = &BackendRef> {
        self.hosts
            .values()
            .flatten()
            .flat_map(|rule| rule.backends.iter().map(|b| &b.target))
    }

    /// Every host the table answers.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }
}

fn path_rule(
    namespace: &str,
    path: &HttpIngressPath,
    external: bool,
    hash: &HeaderValue,
) -> Result<PathRule, TableError> {
    let all_zero = path.splits.iter().all(|s| s.percent <= 0);
    let mut upto = 0;
    let mut backends = Vec::new();
    for split in &path.splits {
        let weight = if all_zero {
            1
        } else {
            u32::try_from(split.percent).unwrap_or(0)
        };
        if weight == 0 {
            continue;
        }
        upto += weight;
        backends.push(backend(namespace, split, upto)?);
    }
    let rewrite_host = path
        .rewrite_host
        .as_deref()
        .filter(|host| !host.is_empty())
        .map(|host| {
            HeaderValue::from_str(host).map_err(|_| TableError::BadHeader {
                field: "rewriteHost",
                name: host.to_owned(),
            })
        })
        .transpose()?;
    let matches = path.headers.iter().map(|(name, m)| (name, &m.exact));
    Ok(PathRule {
        prefix: path.path.clone().unwrap_or_default(),
        matches: headers("headers", matches)?,
        backends,
        headers: headers("appendHeaders", &path.append_headers)?,
        rewrite_host,
        external,
        hash: hash.clone(),
    })
}

fn backend(namespace: &str, split: &IngressBackendSplit, upto: u32) -> Result<Backend, TableError> {
    let service_namespace = if split.service_namespace.is_empty() {
        namespace
    } else {
        &split.service_namespace
    };
    let headers = headers("appendHeaders", &split.append_headers)?;
    let revision = headers
        .iter()
        .find(|(name, _)| *name == KNATIVE_SERVING_REVISION)
        .and_then(|(_, value)| value.to_str().ok())
        .unwrap_or(&split.service_name);
    let port = match &split.service_port {
        IntOrString::Int(port) => PortRef::Number(*port),
        IntOrString::String(name) => PortRef::Name(name.clone()),
    };
    Ok(Backend {
        revision: format!("{service_namespace}/{revision}"),
        target: BackendRef {
            service: ServiceKey {
                namespace: service_namespace.to_owned(),
                name: split.service_name.clone(),
            },
            port,
        },
        headers,
        upto,
    })
}

fn headers<'a>(
    field: &'static str,
    map: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<(HeaderName, HeaderValue)>, TableError> {
    map.into_iter()
        .map(|(name, value)| {
            let bad = || TableError::BadHeader {
                field,
                name: name.clone(),
            };
            let name_parsed = HeaderName::try_from(name.as_str()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value).map_err(|_| bad())?;
            Ok((name_parsed, value))
        })
        .collect()
}
