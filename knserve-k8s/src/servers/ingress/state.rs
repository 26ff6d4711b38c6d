//! [`IngressState`]: the watched objects, turned into the [`Snapshot`] the request
//! path reads.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::Arc,
};

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use kube::runtime::watcher::Event;
use tokio::sync::watch;
use tracing::debug;

use super::Balancers;
use super::{
    endpoints::{self, ServicePort, SliceInfo, SliceKey},
    mirror::Mirror,
    status::{is_current, status_for},
    table::{BackendRef, ClassFilter, IngressTable, Programmed},
};
use crate::crd::{Ingress, IngressStatus};

/// One change seen by a watcher, in the form the state takes it.
// Each event moves once, from a watcher to the state: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum IngressEvent {
    /// A KIngress changed.
    Ingress(Event<Ingress>),
    /// An EndpointSlice changed.
    EndpointSlice(Event<EndpointSlice>),
    /// A Service changed (its port names map split ports to slice ports).
    Service(Event<Service>),
}

/// What the request path reads: the table, and each of its backends' ready addresses.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Host → paths → splits.
    pub table: Arc<IngressTable>,
    addresses: HashMap<BackendRef, Arc<[SocketAddr]>>,
    h2c: HashSet<BackendRef>,
}

impl Snapshot {
    /// The ready addresses of `target` (empty when it has none).
    pub fn addresses(&self, target: &BackendRef) -> &[SocketAddr] {
        self.addresses.get(target).map_or(&[], |a| a)
    }

    /// Whether `target` speaks cleartext HTTP/2 only (its Service port is named `h2c` or
    /// has `appProtocol: kubernetes.io/h2c`): requests go to it as h2c.
    pub fn is_h2c(&self, target: &BackendRef) -> bool {
        self.h2c.contains(target)
    }
}

/// A status the ingress should write.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusWrite {
    /// The KIngress's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The status.
    pub status: IngressStatus,
}

/// The ingress's view of the cluster, fed one watch event at a time (by the watchers
/// in [`run`](super::run), or directly by tests) and published as a [`Snapshot`] on a
/// watch channel after every change.
///
/// The table is rebuilt when a KIngress changes; backend addresses are re-resolved on
/// every change (only for Services some rule names).
#[derive(Debug)]
pub struct IngressState {
    filter: ClassFilter,
    balancers: Balancers,
    ingresses: Mirror<(String, String), Ingress>,
    slices: Mirror<SliceKey, SliceInfo>,
    services: Mirror<(String, String), Vec<ServicePort>>,
    table: Arc<IngressTable>,
    outcomes: Vec<Programmed>,
    written: HashMap<(String, String), IngressStatus>,
    published: watch::Sender<Arc<Snapshot>>,
}

impl IngressState {
    /// An empty state programming the KIngress objects `filter` accepts; statuses name
    /// `balancers` as the load balancers.
    pub fn new(filter: ClassFilter, balancers: Balancers) -> Self {
        Self {
            filter,
            balancers,
            ingresses: Mirror::default(),
            slices: Mirror::default(),
            services: Mirror::default(),
            table: Arc::default(),
            outcomes: Vec::new(),
            written: HashMap::new(),
            published: watch::Sender::new(Arc::default()),
        }
    }

    /// Follows the published snapshots.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.published.subscribe()
    }

    /// Applies one event and publishes the new snapshot; returns the statuses to
    /// write (each once per generation and outcome).
    pub fn apply(&mut self, event: IngressEvent) -> Vec<StatusWrite> {
        let changed = match event {
            IngressEvent::Ingress(event) => {
                let filter = &self.filter;
                let changed = self.ingresses.apply(event, object_key, |i: &Ingress| {
                    filter.accepts(i).then(|| i.clone())
                });
                if changed {
                    let (table, outcomes) =
                        IngressTable::build(self.ingresses.iter().map(|(_, i)| i));
                    self.table = Arc::new(table);
                    self.outcomes = outcomes;
                }
                changed
            }
            IngressEvent::EndpointSlice(event) => {
                self.slices
                    .apply(event, endpoints::slice_key, endpoints::slice_info)
            }
            IngressEvent::Service(event) => {
                self.services
                    .apply(event, object_key, endpoints::service_ports)
            }
        };
        if changed {
            self.publish();
        }
        self.status_writes()
    }

    fn publish(&self) {
        let mut addresses = HashMap::new();
        let mut h2c = HashSet::new();
        for target in self.table.backends() {
            if !addresses.contains_key(target) {
                let resolved = endpoints::resolve(&self.slices, &self.services, target);
                addresses.insert(target.clone(), Arc::from(resolved));
                if endpoints::is_h2c(&self.services, target) {
                    h2c.insert(target.clone());
                }
            }
        }
        debug!(
            hosts = self.table.hosts().count(),
            backends = addresses.len(),
            "ingress snapshot"
        );
        self.published.send_replace(Arc::new(Snapshot {
            table: self.table.clone(),
            addresses,
            h2c,
        }));
    }

    fn status_writes(&mut self) -> Vec<StatusWrite> {
        let outcomes = &self.outcomes;
        self.written.retain(|(namespace, name), _| {
            outcomes
                .iter()
                .any(|p| p.namespace == *namespace && p.name == *name)
        });
        let mut writes = Vec::new();
        for programmed in &self.outcomes {
            let key = (programmed.namespace.clone(), programmed.name.clone());
            let Some(ingress) = self.ingresses.get(&key) else {
                continue;
            };
            let status = status_for(programmed, &self.balancers);
            if is_current(ingress.status.as_ref(), &status)
                || self.written.get(&key) == Some(&status)
            {
                continue;
            }
            self.written.insert(key, status.clone());
            writes.push(StatusWrite {
                namespace: programmed.namespace.clone(),
                name: programmed.name.clone(),
                status,
            });
        }
        writes
    }

    /// Forgets that `write` was made (it failed), so the next event retries it.
    pub fn write_failed(&mut self, write: &StatusWrite) {
        self.written
            .remove(&(write.namespace.clone(), write.name.clone()));
    }
}

fn object_key<K: kube::Resource>(object: &K) -> (String, String) {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}
