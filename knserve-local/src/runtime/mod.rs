//! The local orchestrator: keeps every applied Service's objects, runs their
//! revisions' instances, and drives the autoscaler and the request path.
//!
//! One control loop owns the decisions. Each second it cuts every instance's request
//! stats and feeds them (and the activator's) to the KPA; every 2 s
//! ([`TICK_INTERVAL`](knserve_core::autoscaler::TICK_INTERVAL)) it ticks the KPA; on
//! every pass — also woken at once by an apply, a delete, an instance changing state or
//! a poke from the activator — it reconciles each revision's PodAutoscaler, starts or
//! stops instances to match, publishes ready instances to the router (Serve mode) or
//! sends the revision through the activator (Proxy mode), and recomputes the statuses
//! and routes of every Service. A revision that has not reached its initial scale
//! when its progress deadline passes is failed then and there (see `progress`): the
//! loop also wakes at the earliest such deadline.

mod control;
pub mod dashboard;
pub mod datapath;
mod env;
pub mod instance;
mod persist;
mod ports;
mod progress;
mod revision;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use knserve_core::{
    RevisionKey,
    api::{
        Configuration, EnvObject, Manifest, Resource, Revision, Route, Service, parse_manifests,
    },
    reconcile::{self, ApplyAction, ApplyContext, ServiceSet},
    router::{Hops, RouteTable},
    time::Timestamp,
};
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

use self::{datapath::ActivatorControl, instance::Factory, revision::RevisionRt};
use crate::{
    admin::{Applied, ApplyResponse},
    config::ServerConfig,
    state::StateDir,
};
use knserve_core::autoscaler::{Kpa, write_autoscaler_metrics};
use knserve_core::net::exposition::Exposition;

/// A handle on the orchestrator; clones share it.
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ServerConfig,
    state: Mutex<State>,
    epoch: Instant,
    activator: ActivatorControl,
    activator_address: std::net::SocketAddr,
    tables: watch::Sender<Arc<RouteTable>>,
    hops: watch::Sender<Hops>,
    wake: Notify,
    persist: Option<StateDir>,
    search_path: Vec<PathBuf>,
    control: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct State {
    services: BTreeMap<(String, String), Entry>,
    revisions: HashMap<RevisionKey, RevisionRt>,
    kpa: Kpa<RevisionKey>,
    last_tick: Option<Timestamp>,
    routes_fingerprint: String,
    env: env::EnvObjects,
}

/// One applied Service: its objects and what runs its revisions.
struct Entry {
    set: ServiceSet,
    source: Source,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("service", &self.set.service.metadata.name)
            .finish_non_exhaustive()
    }
}

/// What a Service's revisions run as.
#[derive(Clone)]
enum Source {
    /// The first container's command, as a child process.
    Process,
    /// Services from a factory registered through the library.
    InProcess(Factory),
}

/// Why an apply was refused: one line per problem, nothing applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .errors.join("\n"))]
pub struct ApplyError {
    /// `"<document>: <field path>: <rule>"` lines, or the file that could not be
    /// written and why.
    pub errors: Vec<String>,
    /// Whose fault it is: the input's, or the server's storage.
    pub kind: ApplyErrorKind,
}

/// What kind of problem refused an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyErrorKind {
    /// The input is not a valid Service (a client error).
    Invalid,
    /// The Services were valid but could not be stored durably (e.g. the disk is
    /// full); nothing was applied.
    Storage,
}

impl ApplyError {
    fn invalid(errors: Vec<String>) -> Self {
        Self {
            errors,
            kind: ApplyErrorKind::Invalid,
        }
    }
}

pub use self::persist::PersistError;

/// The documents of an apply, by what they are.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    /// ConfigMaps and Secrets.
    pub objects: Vec<EnvObject>,
    /// Services.
    pub services: Vec<Service>,
}

impl Runtime {
    /// Applies every Service, ConfigMap and Secret in `yaml`, all or nothing. With
    /// `dry_run` it only validates.
    pub fn apply_yaml(&self, yaml: &str, dry_run: bool) -> Result<ApplyResponse, ApplyError> {
        let manifests = Self::decode_manifests(yaml)?;
        self.apply_manifests(manifests, dry_run)
    }

    /// The Services, ConfigMaps and Secrets in `yaml`, decoded as
    /// [`parse_manifests`] reads them (at most
    /// [`MAX_DOCUMENTS`](knserve_core::api::MAX_DOCUMENTS) documents, nesting at most
    /// [`MAX_DEPTH`](knserve_core::api::MAX_DEPTH) deep); any other kind is refused.
    /// The CPU-bound half of [`Self::apply_yaml`]; it touches no state.
    pub fn decode_manifests(yaml: &str) -> Result<Manifests, ApplyError> {
        let documents =
            parse_manifests(yaml).map_err(|e| ApplyError::invalid(vec![e.to_string()]))?;
        let mut manifests = Manifests::default();
        let mut errors = Vec::new();
        for (index, document) in documents.into_iter().enumerate() {
            match document {
                Manifest::Serving(resource) => match *resource {
                    Resource::Service(service) => manifests.services.push(service),
                    other => errors.push(format!(
                        "document {}: kind {} is not accepted here; apply a Service, which owns its Configuration, Revisions and Route",
                        index + 1,
                        other.kind()
                    )),
                },
                Manifest::Env(object) => manifests.objects.push(*object),
            }
        }
        if !errors.is_empty() {
            return Err(ApplyError::invalid(errors));
        }
        Ok(manifests)
    }

    /// Applies decoded manifests: the Services are checked first, then the ConfigMaps
    /// and Secrets are stored, then the Services applied, so a Service applied with
    /// the objects it reads finds them. Results list the objects first.
    pub fn apply_manifests(
        &self,
        manifests: Manifests,
        dry_run: bool,
    ) -> Result<ApplyResponse, ApplyError> {
        let Manifests { objects, services } = manifests;
        if objects.is_empty() {
            return self.apply_services(services, dry_run);
        }
        self.apply_services(services.clone(), true)?;
        let mut results = self.apply_objects(objects, dry_run)?;
        results.extend(self.apply_services(services, dry_run)?.results);
        Ok(ApplyResponse { results })
    }

    /// Stores ConfigMaps and Secrets (durably first), and wakes the control loop so
    /// that revisions waiting for them retry.
    fn apply_objects(
        &self,
        objects: Vec<EnvObject>,
        dry_run: bool,
    ) -> Result<Vec<Applied>, ApplyError> {
        let mut state = self.inner.lock();
        let (next, results) = state
            .env
            .with(objects, dry_run)
            .map_err(ApplyError::invalid)?;
        if !dry_run {
            if let Some(dir) = &self.inner.persist {
                next.save(dir).map_err(|e| storage_error(&e))?;
            }
            state.env = next;
            drop(state);
            self.inner.wake.notify_one();
        }
        Ok(results)
    }

    /// Applies decoded Services as local processes, all or nothing; with `dry_run` it
    /// only validates. The half of [`Self::apply_yaml`] that takes the state's lock and
    /// syncs files.
    pub fn apply_services(
        &self,
        services: Vec<Service>,
        dry_run: bool,
    ) -> Result<ApplyResponse, ApplyError> {
        let services = services.into_iter().map(|s| (s, Source::Process)).collect();
        self.apply(services, dry_run)
    }

    /// Applies one Service whose instances are in-process services made by `factory`:
    /// the same routing, buffering and scaling as processes, with no child process and
    /// no port of its own but the instance's queue-proxy. Its containers' `command` and
    /// `image` are not used (an `image` is still required by validation, as Knative
    /// requires one).
    pub fn apply_in_process(
        &self,
        service: Service,
        factory: impl Fn() -> knserve_core::queue::stack::HttpService + Send + Sync + 'static,
    ) -> Result<Applied, ApplyError> {
        let source = Source::InProcess(Arc::new(factory));
        let mut response = self.apply(vec![(service, source)], false)?;
        Ok(response.results.remove(0))
    }

    fn apply(
        &self,
        services: Vec<(Service, Source)>,
        dry_run: bool,
    ) -> Result<ApplyResponse, ApplyError> {
        let now = persist::rfc3339_now();
        let mut state = self.inner.lock();
        let mut staged = Vec::new();
        let mut errors = Vec::new();
        for (index, (service, source)) in services.into_iter().enumerate() {
            let label = describe_document(index, &service);
            if let (Source::Process, Some(problem)) = (&source, command_problem(&service)) {
                errors.push(format!("{label}: {problem}"));
                continue;
            }
            let key = (
                service
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
                service.metadata.name().to_owned(),
            );
            let previous = staged
                .iter()
                .rev()
                .find(|(k, _, _)| *k == key)
                .map(|(_, applied, _): &(_, reconcile::Applied, _)| &applied.set)
                .or_else(|| state.services.get(&key).map(|e| &e.set));
            let name_taken = |ns: &str, name: &str| {
                state
                    .revision_owner(ns, name)
                    .is_some_and(|owner| owner != key.1)
            };
            let ctx = ApplyContext {
                config: &self.inner.config.validation,
                now: &now,
                name_taken: &name_taken,
            };
            match reconcile::apply(previous, service, &ctx) {
                Ok(applied) => staged.push((key, applied, source)),
                Err(e) => {
                    errors.extend(e.to_string().lines().map(|line| format!("{label}: {line}")))
                }
            }
        }
        if !errors.is_empty() {
            return Err(ApplyError::invalid(errors));
        }
        let results = staged
            .iter()
            .map(|((namespace, name), applied, _)| Applied {
                kind: "Service".to_owned(),
                namespace: namespace.clone(),
                name: name.clone(),
                action: match (dry_run, &applied.action) {
                    (true, _) => "valid",
                    (false, ApplyAction::Created) => "created",
                    (false, ApplyAction::Configured) => "configured",
                    (false, ApplyAction::Unchanged) => "unchanged",
                }
                .to_owned(),
                warnings: applied.warnings.clone(),
            })
            .collect();
        if !dry_run {
            // Durable before acknowledged, and in memory only once durable: a failed
            // write leaves both the files and the running state as they were.
            self.persist(&staged)?;
            for (key, applied, source) in staged {
                state.services.insert(
                    key,
                    Entry {
                        set: applied.set,
                        source,
                    },
                );
            }
            drop(state);
            self.inner.wake.notify_one();
        }
        Ok(ApplyResponse { results })
    }

    /// Writes the staged Services that run as processes, all or none.
    fn persist(
        &self,
        staged: &[((String, String), reconcile::Applied, Source)],
    ) -> Result<(), ApplyError> {
        let Some(dir) = &self.inner.persist else {
            return Ok(());
        };
        let mut written = Vec::new();
        // A Service given twice in one apply is written once, as it ends up, unless
        // nothing about it changed.
        let last = |index: usize, key: &(String, String)| {
            staged[index + 1..].iter().all(|(k, _, _)| k != key)
        };
        let changed = |key: &(String, String)| {
            staged
                .iter()
                .any(|(k, applied, _)| k == key && applied.action != ApplyAction::Unchanged)
        };
        let sets = staged
            .iter()
            .enumerate()
            .filter(|(index, (key, _, source))| {
                matches!(source, Source::Process) && last(*index, key) && changed(key)
            })
            .map(|(_, (_, applied, _))| &applied.set);
        for set in sets {
            match persist::stage(dir, set) {
                Ok(file) => written.push(file),
                Err(error) => {
                    persist::discard(written);
                    return Err(storage_error(&error));
                }
            }
        }
        persist::commit(written).map_err(|error| storage_error(&error))
    }

    /// Deletes a Service with everything it owns; `Ok(false)` if there is none. The
    /// file is removed first: if that fails the Service stays, and the error says why.
    pub fn delete(&self, namespace: &str, name: &str) -> Result<bool, PersistError> {
        let mut state = self.inner.lock();
        let key = (namespace.to_owned(), name.to_owned());
        let Some(entry) = state.services.get(&key) else {
            return Ok(false);
        };
        if let (Some(dir), Source::Process) = (&self.inner.persist, &entry.source) {
            persist::remove(dir, namespace, name).inspect_err(|error| {
                tracing::warn!(service = %format!("{namespace}/{name}"), %error, "delete not stored");
            })?;
        }
        state.services.remove(&key);
        drop(state);
        self.inner.wake.notify_one();
        Ok(true)
    }

    /// Every Service, with status.
    pub fn services(&self) -> Vec<Service> {
        self.collect(|set| vec![set.service.clone()])
    }

    /// Every Configuration.
    pub fn configurations(&self) -> Vec<Configuration> {
        self.collect(|set| vec![set.configuration.clone()])
    }

    /// Every Revision.
    pub fn revisions(&self) -> Vec<Revision> {
        self.collect(|set| set.revisions.clone())
    }

    /// Every Route.
    pub fn routes(&self) -> Vec<Route> {
        self.collect(|set| vec![set.route.clone()])
    }

    /// One Service.
    pub fn service(&self, namespace: &str, name: &str) -> Option<Service> {
        let state = self.inner.lock();
        let entry = state
            .services
            .get(&(namespace.to_owned(), name.to_owned()))?;
        Some(entry.set.service.clone())
    }

    /// One Revision.
    pub fn revision(&self, namespace: &str, name: &str) -> Option<Revision> {
        self.revisions()
            .into_iter()
            .find(|r| r.metadata.namespace() == namespace && r.metadata.name() == name)
    }

    /// The last `tail` output lines of every instance of a revision, oldest first per
    /// instance: `<instance> <stream> <line>`. `None` if the revision does not exist.
    pub fn logs(&self, namespace: &str, name: &str, tail: usize) -> Option<Vec<String>> {
        self.revision(namespace, name)?;
        let state = self.inner.lock();
        let Some(rt) = state.revisions.get(&RevisionKey::new(namespace, name)) else {
            return Some(Vec::new());
        };
        let mut lines = Vec::new();
        for instance in &rt.instances {
            if let Some(logs) = instance.logs() {
                lines.extend(logs.tail(tail).into_iter().map(|line| {
                    format!(
                        "{} {} {}",
                        instance.id(),
                        stream_name(line.stream),
                        line.text
                    )
                }));
            }
        }
        Some(lines)
    }

    /// Prometheus text, each family once: the activator's counts and cold starts, each
    /// instance's request metrics, and each revision's activator concurrency and
    /// autoscaler figures.
    pub fn metrics_text(&self) -> String {
        let mut out = Exposition::new();
        self.inner.activator.cold_starts.write(&mut out);
        let state = self.inner.lock();
        for rt in state.revisions.values() {
            for instance in &rt.instances {
                instance.metrics().write(&mut out);
            }
            if let Some(load) = self.inner.activator.registry.load(&rt.key) {
                out.gauge(
                    "activator_request_concurrency",
                    "Requests in the activator for the revision: forwarded or waiting for capacity",
                    &rt.settings.labels,
                    f64::from(load.in_flight) + load.waiting as f64,
                );
            }
            if let Some(figures) = state.kpa.figures(&rt.key) {
                let ready = rt.ready_addresses().len() as i64;
                let labels = &rt.settings.labels;
                let requested = Some(i64::from(rt.target));
                write_autoscaler_metrics(&mut out, labels, &figures, requested, Some(ready));
            }
        }
        out.render()
    }

    /// The activator's address.
    pub fn activator_address(&self) -> std::net::SocketAddr {
        self.inner.activator_address
    }

    fn collect<T>(&self, f: impl Fn(&ServiceSet) -> Vec<T>) -> Vec<T> {
        let state = self.inner.lock();
        state.services.values().flat_map(|e| f(&e.set)).collect()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every step leaves the state consistent; a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.epoch.elapsed())
    }
}

impl State {
    /// The Service owning the revision `namespace/name`, if any.
    fn revision_owner(&self, namespace: &str, name: &str) -> Option<String> {
        self.services.iter().find_map(|((ns, service), entry)| {
            (ns == namespace
                && entry
                    .set
                    .revisions
                    .iter()
                    .any(|r| r.metadata.name() == name))
            .then(|| service.clone())
        })
    }
}

fn storage_error(error: &PersistError) -> ApplyError {
    tracing::warn!(%error, "apply not stored; nothing applied");
    ApplyError {
        errors: vec![format!("not applied: {error}")],
        kind: ApplyErrorKind::Storage,
    }
}

fn describe_document(index: usize, service: &Service) -> String {
    format!(
        "document {} (Service {}/{})",
        index + 1,
        service.metadata.namespace.as_deref().unwrap_or("default"),
        service.metadata.name()
    )
}

/// The local backend runs a container's command; one without cannot run here.
fn command_problem(service: &Service) -> Option<String> {
    let containers = &service.spec.template.spec.containers;
    let index = service
        .spec
        .template
        .spec
        .serving_container_index()
        .unwrap_or(0);
    let container = containers.get(index)?;
    container.command.is_empty().then(|| {
        format!(
            "spec.template.spec.containers[{index}].command: required by the local backend, which runs the container's command as a process (the image is only used on Kubernetes)"
        )
    })
}

/// A started runtime, with the route tables and hops the ingress reads.
pub(crate) type Started = (
    Runtime,
    watch::Receiver<Arc<RouteTable>>,
    watch::Receiver<Hops>,
);

impl Runtime {
    /// A runtime for `activator`'s request path, restoring the Services saved in
    /// `persist`; returns it with the route tables and hops the ingress reads. Spawns
    /// the control loop (it stops at [`shutdown`](Self::shutdown)). A saved file that
    /// cannot be trusted is an error naming it: the server does not start without it.
    pub(crate) fn start(
        config: ServerConfig,
        persist: Option<StateDir>,
        search_path: Vec<PathBuf>,
        activator: &datapath::Activator,
        stats: tokio::sync::mpsc::Receiver<(RevisionKey, knserve_core::autoscaler::metrics::Stat)>,
    ) -> Result<Started, PersistError> {
        let (tables, tables_rx) = watch::channel(Arc::new(RouteTable::default()));
        let (hops, hops_rx) = watch::channel(Hops::default());
        let mut state = State::default();
        if let Some(dir) = &persist {
            state.env = env::EnvObjects::load(dir)?;
            for set in persist::load(dir)? {
                let meta = &set.service.metadata;
                let key = (meta.namespace().to_owned(), meta.name().to_owned());
                tracing::info!(service = %format!("{}/{}", key.0, key.1), "restored");
                state.services.insert(
                    key,
                    Entry {
                        set,
                        source: Source::Process,
                    },
                );
            }
        }
        let inner = Arc::new(Inner {
            config,
            state: Mutex::new(state),
            epoch: Instant::now(),
            activator: activator.control.clone(),
            activator_address: activator.address(),
            tables,
            hops,
            wake: Notify::new(),
            persist,
            search_path,
            control: Mutex::new(None),
        });
        let task = tokio::spawn(control::run(inner.clone(), stats));
        *inner.control.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        Ok((Self { inner }, tables_rx, hops_rx))
    }

    /// Stops deciding, then stops every instance (SIGTERM, SIGKILL after at most
    /// `grace`).
    pub async fn shutdown(&self, grace: std::time::Duration) {
        if let Some(task) = self
            .inner
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        let instances: Vec<_> = {
            let mut state = self.inner.lock();
            state
                .revisions
                .values_mut()
                .flat_map(|rt| {
                    let g = rt.grace.min(grace);
                    rt.instances.drain(..).map(move |i| (i, g))
                })
                .collect()
        };
        futures_util::future::join_all(instances.into_iter().map(|(i, g)| i.stop(g))).await;
    }
}

fn stream_name(stream: crate::process::Stream) -> &'static str {
    match stream {
        crate::process::Stream::Stdout => "stdout",
        crate::process::Stream::Stderr => "stderr",
    }
}

/// Why [`Runtime::wait_ready`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// No such Service.
    #[error("Service {0} not found")]
    NotFound(String),
    /// Its `Ready` condition turned False.
    #[error("Service {service} failed: {reason}: {message}")]
    Failed {
        /// `namespace/name`.
        service: String,
        /// The condition's reason.
        reason: String,
        /// Its message.
        message: String,
    },
    /// Still not ready at the deadline.
    #[error("Service {0} not ready in time")]
    Timeout(String),
}

impl Runtime {
    /// Waits until a Service is Ready at its current generation (as `knserve apply`
    /// does), up to `within`.
    pub async fn wait_ready(
        &self,
        namespace: &str,
        name: &str,
        within: std::time::Duration,
    ) -> Result<Service, NotReady> {
        let id = format!("{namespace}/{name}");
        let deadline = Instant::now() + within;
        loop {
            let service = self
                .service(namespace, name)
                .ok_or_else(|| NotReady::NotFound(id.clone()))?;
            if let Some(status) = &service.status
                && status.observed_generation == service.metadata.generation
                && let Some(ready) = knserve_core::api::find_condition(&status.conditions, "Ready")
            {
                match ready.status {
                    knserve_core::api::ConditionStatus::True => return Ok(service),
                    knserve_core::api::ConditionStatus::False => {
                        return Err(NotReady::Failed {
                            service: id,
                            reason: ready.reason.clone().unwrap_or_default(),
                            message: ready.message.clone().unwrap_or_default(),
                        });
                    }
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(NotReady::Timeout(id));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
