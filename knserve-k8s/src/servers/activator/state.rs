//! [`ActivatorState`]: watched Revisions and EndpointSlices, turned into the
//! activator's revision table, throttlers and probed backends.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use knserve_core::{
    RevisionKey,
    activator::{
        Backends, Membership,
        handler::{RevisionInfo, RevisionTable},
        probing::{Endpoints, ProberConfig, prober},
        throttler::ThrottlerRegistry,
    },
};
use kube::runtime::watcher::Event;
use tokio::{sync::watch, task::JoinHandle};
use tracing::debug;

use crate::crd::Revision;
use crate::desired::sks::private_service_name;
use crate::servers::ingress::{
    endpoints::{self, SliceInfo, SliceKey},
    mirror::Mirror,
};

/// The queue-proxy's serving port: where the activator sends a revision's requests.
pub const QUEUE_SERVING_PORT: u16 = 8012;
/// The private Service's port name whose slice port is [`QUEUE_SERVING_PORT`].
pub const SERVING_PORT_NAME: &str = "http";

/// One change seen by a watcher, in the form the state takes it.
// Each event moves once, from a watcher to the state: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ActivatorEvent {
    /// A Revision changed.
    Revision(Event<Revision>),
    /// An EndpointSlice changed (`<rev>-private`: the pods; `<rev>`: the activator
    /// subset).
    EndpointSlice(Event<EndpointSlice>),
}

/// The channels and prober of one revision the activator serves.
#[derive(Debug)]
struct Tracked {
    endpoints: watch::Sender<Endpoints>,
    membership: watch::Sender<Membership>,
    prober: JoinHandle<()>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.prober.abort();
    }
}

/// The activator's view of the cluster, fed one watch event at a time (by the
/// watchers of [`run`](super::run), or directly by tests).
///
/// - Every Revision gets a [`RevisionTable`] entry (containerConcurrency and
///   timeouts), a throttler and a prober from the moment it is seen, so requests can
///   wait for it before any pod exists (§3.3).
/// - The ready and not-ready addresses of the `<rev>-private` slices, at their `http`
///   port (else 8012), are the prober's endpoints (§3.6).
/// - The ready addresses of the `<rev>` (public) slices give this activator's
///   [`Membership`] (§3.5) when its own pod IP is known; without it, it acts alone.
#[derive(Debug)]
pub struct ActivatorState {
    table: RevisionTable,
    registry: ThrottlerRegistry,
    pod_ip: Option<IpAddr>,
    prober: ProberConfig,
    revisions: Mirror<(String, String), RevisionInfo>,
    slices: Mirror<SliceKey, SliceInfo>,
    tracked: HashMap<RevisionKey, Tracked>,
}

impl ActivatorState {
    /// An empty state filling `table` and `registry`.
    pub fn new(
        table: RevisionTable,
        registry: ThrottlerRegistry,
        pod_ip: Option<IpAddr>,
        prober: ProberConfig,
    ) -> Self {
        Self {
            table,
            registry,
            pod_ip,
            prober,
            revisions: Mirror::default(),
            slices: Mirror::default(),
            tracked: HashMap::new(),
        }
    }

    /// Applies one event. Must be called inside a tokio runtime (probers are tasks).
    pub fn apply(&mut self, event: ActivatorEvent) {
        match event {
            ActivatorEvent::Revision(event) => {
                let key = |r: &Revision| {
                    (
                        r.metadata.namespace.clone().unwrap_or_default(),
                        r.metadata.name.clone().unwrap_or_default(),
                    )
                };
                if self.revisions.apply(event, key, |r| Some(revision_info(r))) {
                    self.sync_revisions();
                }
            }
            ActivatorEvent::EndpointSlice(event) => {
                if self
                    .slices
                    .apply(event, endpoints::slice_key, endpoints::slice_info)
                {
                    self.refresh_all();
                }
            }
        }
    }

    /// Tracks new revisions, updates changed ones and forgets deleted ones.
    fn sync_revisions(&mut self) {
        let mut seen = Vec::new();
        for ((namespace, name), info) in self.revisions.iter() {
            let key = RevisionKey::new(namespace.as_str(), name.as_str());
            if self.table.get(&key) != Some(*info) {
                self.table.insert(key.clone(), *info);
            }
            seen.push(key);
        }
        for key in &seen {
            if !self.tracked.contains_key(key) {
                self.track(key.clone());
            }
        }
        let gone: Vec<RevisionKey> = self
            .tracked
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        for key in gone {
            debug!(revision = %key, "revision removed");
            self.tracked.remove(&key);
            self.table.remove(&key);
            self.registry.remove(&key);
        }
    }

    fn track(&mut self, key: RevisionKey) {
        let cc = self
            .table
            .get(&key)
            .unwrap_or_default()
            .container_concurrency;
        let (endpoints, endpoints_rx) = watch::channel(self.endpoints_of(&key));
        let (membership, membership_rx) = watch::channel(self.membership_of(&key));
        let (backends_tx, backends_rx) = watch::channel(Backends::default());
        self.registry
            .upsert(key.clone(), cc, backends_rx, membership_rx);
        let prober = tokio::spawn(prober(endpoints_rx, backends_tx, self.prober));
        debug!(revision = %key, container_concurrency = cc, "revision tracked");
        self.tracked.insert(
            key,
            Tracked {
                endpoints,
                membership,
                prober,
            },
        );
    }

    fn refresh_all(&self) {
        for (key, tracked) in &self.tracked {
            let endpoints = self.endpoints_of(key);
            tracked.endpoints.send_if_modified(|current| {
                let changed = *current != endpoints;
                if changed {
                    debug!(revision = %key, ready = endpoints.ready.len(), not_ready = endpoints.not_ready.len(), "endpoints changed");
                    *current = endpoints.clone();
                }
                changed
            });
            let membership = self.membership_of(key);
            tracked.membership.send_if_modified(|current| {
                let changed = *current != membership;
                *current = membership;
                changed
            });
        }
    }

    /// The pods of `key`: its private Service's slices at the serving port.
    pub(super) fn endpoints_of(&self, key: &RevisionKey) -> Endpoints {
        let private = private_service_name(&key.name);
        let mut result = Endpoints::default();
        for slice in endpoints::slices_of(&self.slices, &key.namespace, &private) {
            let port = slice
                .ports
                .iter()
                .find(|(name, _)| name == SERVING_PORT_NAME)
                .map_or(QUEUE_SERVING_PORT, |(_, port)| *port);
            let at = |ip: &IpAddr| SocketAddr::new(*ip, port);
            result.ready.extend(slice.ready.iter().map(at));
            result.not_ready.extend(slice.not_ready.iter().map(at));
        }
        for list in [&mut result.ready, &mut result.not_ready] {
            list.sort();
            list.dedup();
        }
        result
    }

    /// This activator's place among the activators the public Service lists.
    pub(super) fn membership_of(&self, key: &RevisionKey) -> Membership {
        let Some(own) = self.pod_ip else {
            return Membership::default();
        };
        let mut activators: Vec<String> =
            endpoints::slices_of(&self.slices, &key.namespace, &key.name)
                .flat_map(|slice| slice.ready.iter().map(ToString::to_string))
                .collect();
        activators.sort();
        activators.dedup();
        if activators.is_empty() {
            return Membership::default();
        }
        Membership {
            index: activators.iter().position(|ip| *ip == own.to_string()),
            activators: activators.len(),
        }
    }
}

/// What the activator needs of a Revision's spec: containerConcurrency (0 when unset)
/// and the three timeouts (`timeoutSeconds` 300 when unset or not positive).
pub fn revision_info(revision: &Revision) -> RevisionInfo {
    let spec = &revision.spec;
    let seconds = |s: Option<i64>| {
        s.and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
    };
    RevisionInfo {
        container_concurrency: spec
            .container_concurrency
            .and_then(|cc| u32::try_from(cc).ok())
            .unwrap_or(0),
        timeout: seconds(spec.timeout_seconds).unwrap_or(RevisionInfo::default().timeout),
        response_start_timeout: seconds(spec.response_start_timeout_seconds),
        idle_timeout: seconds(spec.idle_timeout_seconds),
    }
}
