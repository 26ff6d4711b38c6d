//! The control loop: stats in, decisions out (see the module docs of [`super`]).

use std::{collections::HashMap, sync::Arc, time::Duration};

use knserve_core::{
    RevisionKey,
    api::{CONFIG_ERROR_REASON, EnvStore, MissingEnvSource, Revision},
    autoscaler::{
        Autoscaler, DeciderStatus, Observed, Reachability, ScalingParams, SksMode, TICK_INTERVAL,
        metrics::Stat,
    },
    net::pressure,
    reconcile,
    router::{Hop, RouteTable, RouteTraffic},
    time::Timestamp,
};
use tokio::{
    sync::mpsc,
    time::{Instant, MissedTickBehavior},
};
use tracing::{debug, info, warn};

use super::{
    Inner, Source, State,
    instance::{Instance, InstanceSettings, ProcessTemplate, Workload},
    progress::{Progress, Seen, progress_deadline},
    revision::RevisionRt,
};
use crate::process::{Ledger, ProcessSpec, RestartPolicy};

/// How often instance stats are cut and fed to the autoscaler (Knative scrapes each
/// second).
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

/// Runs until the runtime is dropped.
pub(super) async fn run(inner: Arc<Inner>, mut stats: mpsc::Receiver<(RevisionKey, Stat)>) {
    let mut scrape = tokio::time::interval(SCRAPE_INTERVAL);
    scrape.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let deadline = inner.next_progress_deadline();
        tokio::select! {
            _ = scrape.tick() => inner.scrape(),
            Some((key, stat)) = stats.recv() => inner.record(&key, &stat),
            () = inner.wake.notified() => {}
            () = sleep_until_some(deadline) => {}
        }
        inner.pass();
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a pass decided to do outside the lock.
struct Actions {
    starts: Vec<(RevisionKey, String, Workload, InstanceSettings, Duration)>,
    stops: Vec<(Instance, Duration)>,
}

impl Inner {
    /// The earliest progress deadline of a revision still coming up: the pass that
    /// fails it runs then, not at the next scrape.
    fn next_progress_deadline(&self) -> Option<Instant> {
        let state = self.lock();
        let at = state
            .revisions
            .values()
            .filter_map(|rt| rt.progress.pending_until())
            .min()?;
        Some(self.epoch + at.since_epoch())
    }

    /// Cuts every instance's stats and records them.
    fn scrape(&self) {
        let now = self.now();
        let mut state = self.lock();
        let State { revisions, kpa, .. } = &mut *state;
        for (key, rt) in revisions.iter() {
            for instance in &rt.instances {
                let stats = instance.stats();
                let stat = stats.report(stats.now());
                if kpa.record(now, key, &stat) {
                    kpa.decide(now, key);
                }
            }
        }
    }

    /// Records a stat from the activator; a poke (demand at zero) is decided at once.
    ///
    /// The KPA takes a poke only from a revision whose last decision was zero. A
    /// revision with no decision yet — created at an initial scale of 0, or never
    /// given data to decide on — is at zero too when it runs no instance; Knative
    /// leaves its first request waiting for the next 2 s tick, here demand decides it
    /// at once as well.
    fn record(&self, key: &RevisionKey, stat: &Stat) {
        let now = self.now();
        let mut state = self.lock();
        let undecided_at_zero = stat.average_concurrent_requests > 0.0
            && state.kpa.status(key).is_some_and(|s| s.desired.is_none())
            && state
                .revisions
                .get(key)
                .is_some_and(|rt| rt.target == 0 && rt.instances.is_empty() && rt.starting == 0);
        if state.kpa.record(now, key, stat) || undecided_at_zero {
            debug!(revision = %key, "poked: deciding now");
            state.kpa.decide(now, key);
        }
    }

    /// One reconcile of everything.
    fn pass(self: &Arc<Self>) {
        let now = self.now();
        let mut actions = Actions {
            starts: Vec::new(),
            stops: Vec::new(),
        };
        {
            let mut state = self.lock();
            self.collect_garbage(&mut state);
            self.sync_revisions(&mut state, now, &mut actions);
            if state
                .last_tick
                .is_none_or(|last| now.saturating_since(last) >= TICK_INTERVAL)
            {
                let mut changed = Vec::new();
                state.kpa.tick(now, &mut changed);
                state.last_tick = Some(now);
            }
            let State { revisions, kpa, .. } = &mut *state;
            for rt in revisions.values_mut() {
                scale(rt, kpa, now, &mut actions);
            }
            self.publish(&state);
            self.observe(&mut state);
        }
        for (key, id, workload, settings, grace) in actions.starts {
            tokio::spawn(start_instance(
                self.clone(),
                key,
                id,
                workload,
                settings,
                grace,
            ));
        }
        for (instance, grace) in actions.stops {
            tokio::spawn(instance.stop(grace));
        }
    }

    /// Deletes the revisions `config-gc` says to (Knative's revision GC), from memory
    /// and from the stored Service; `sync_revisions` then stops their instances.
    ///
    /// Runs at the start of every pass — each scrape tick (1 s) and each apply — where
    /// Knative runs it whenever a Configuration is reconciled. A set whose new state
    /// cannot be stored keeps its revisions, and the next pass tries again.
    fn collect_garbage(&self, state: &mut State) {
        if self.config.gc.is_disabled() {
            return;
        }
        let now = crate::cli::unix_now();
        for ((namespace, name), entry) in &mut state.services {
            let set = &entry.set;
            let latest_ready = set
                .configuration
                .status
                .as_ref()
                .and_then(|s| s.latest_ready_revision_name.as_deref());
            let doomed =
                reconcile::collect_revisions(&set.revisions, latest_ready, &self.config.gc, now);
            if doomed.is_empty() {
                continue;
            }
            let mut kept = set.clone();
            kept.revisions
                .retain(|r| !doomed.iter().any(|d| d == r.metadata.name()));
            if let (Some(dir), Source::Process) = (&self.persist, &entry.source) {
                let stored = super::persist::stage(dir, &kept)
                    .and_then(|staged| super::persist::commit(vec![staged]));
                if let Err(error) = stored {
                    warn!(service = %format!("{namespace}/{name}"), %error, "revision garbage collection not stored");
                    continue;
                }
            }
            for revision in &doomed {
                info!(revision = %format!("{namespace}/{revision}"), "stale revision garbage-collected");
            }
            entry.set = kept;
        }
    }

    /// Creates the runtime side of new revisions and removes that of deleted ones.
    fn sync_revisions(&self, state: &mut State, now: Timestamp, actions: &mut Actions) {
        let mut wanted = HashMap::new();
        for entry in state.services.values() {
            for revision in &entry.set.revisions {
                let key = RevisionKey::new(revision.metadata.namespace(), revision.metadata.name());
                wanted.insert(key, (revision, &entry.source));
            }
        }
        let gone: Vec<_> = state
            .revisions
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(mut rt) = state.revisions.remove(&key) {
                info!(revision = %key, "revision deleted; stopping its instances");
                state.kpa.remove(&key);
                self.activator.registry.remove(&key);
                self.activator.table.remove(&key);
                self.activator.backends.remove(&key);
                let grace = rt.grace;
                actions
                    .stops
                    .extend(rt.instances.drain(..).map(|i| (i, grace)));
            }
        }
        for (key, (revision, source)) in wanted {
            if let Some(rt) = state.revisions.get_mut(&key) {
                if rt.env_blocked {
                    self.retry_env(rt, revision, state.env.store());
                }
                continue;
            }
            let annotations = &revision.metadata.annotations;
            let configured = self.config.deployment.progress_deadline;
            let params = match ScalingParams::for_revision(
                annotations,
                revision.spec.container_concurrency,
                &self.config.validation.autoscaler,
                configured,
            ) {
                Ok(params) => params,
                Err(errors) => {
                    warn!(revision = %key, ?errors, "revision annotations rejected");
                    continue;
                }
            };
            let (workload, env_problem) = match source {
                Source::InProcess(factory) => (Workload::InProcess(factory.clone()), None),
                Source::Process => {
                    let (template, problem) = self.template(revision, state.env.store());
                    (Workload::Process(Box::new(template)), problem)
                }
            };
            state.kpa.upsert(now, key.clone(), params.clone(), 0);
            let deadline = progress_deadline(annotations, configured);
            let mut rt =
                RevisionRt::new(now, revision, params, workload, &self.activator, deadline);
            if let Some(problem) = env_problem {
                block_on_env(&mut rt, &problem);
            }
            info!(revision = %key, initial_scale = rt.target, progress_deadline = ?deadline, "revision created");
            state.revisions.insert(key, rt);
        }
    }

    /// Tries again to resolve the environment of a revision that could not create its
    /// container, as the kubelet retries: once it resolves, instances may start.
    fn retry_env(&self, rt: &mut RevisionRt, revision: &Revision, store: &EnvStore) {
        match self.template(revision, store) {
            (template, None) => {
                info!(revision = %rt.key, "environment resolved; starting instances");
                rt.workload = Workload::Process(Box::new(template));
                rt.env_blocked = false;
                rt.failure = None;
            }
            (_, Some(problem)) => block_on_env(rt, &problem),
        }
    }

    /// The process a revision's instances run, and why its environment cannot be
    /// resolved if it cannot (a missing ConfigMap, Secret or key).
    fn template(
        &self,
        revision: &Revision,
        store: &EnvStore,
    ) -> (ProcessTemplate, Option<MissingEnvSource>) {
        let spec = &revision.spec;
        let container = spec.serving_container().or(spec.containers.first());
        let meta = &revision.metadata;
        // Knative appends its variables after the container's, so (as on a node) an
        // `env` value cannot refer to them; `command` and `args` can, and are expanded
        // per instance once `PORT` is known.
        let resolved = container.map(|c| store.resolve(meta.namespace(), c));
        let (mut variables, problem) = match resolved {
            Some(Ok(variables)) => (variables, None),
            Some(Err(problem)) => (Vec::new(), Some(problem)),
            None => (Vec::new(), None),
        };
        let (mut command, args, working_dir, probe) = match container {
            Some(c) => (
                c.command.clone(),
                c.args.clone(),
                c.working_dir.clone(),
                c.readiness_probe.clone(),
            ),
            None => Default::default(),
        };
        let program = if command.is_empty() {
            String::new()
        } else {
            command.remove(0)
        };
        for (name, label) in [
            ("K_SERVICE", "serving.knative.dev/service"),
            ("K_CONFIGURATION", "serving.knative.dev/configuration"),
        ] {
            variables.push((
                name.to_owned(),
                meta.label(label).unwrap_or_default().to_owned(),
            ));
        }
        variables.push(("K_REVISION".to_owned(), meta.name().to_owned()));
        let local = &self.config.local;
        let template = ProcessTemplate {
            process: ProcessSpec {
                program,
                args: command.into_iter().chain(args).collect(),
                env: variables,
                working_dir: working_dir.map(Into::into),
                search_path: self.search_path.clone(),
                name: String::new(),
                ledger: self
                    .persist
                    .as_ref()
                    .map(|dir| Ledger::new(dir.processes_dir())),
            },
            probe,
            container_port: spec.user_port(),
            restart: RestartPolicy {
                initial_backoff: local.restart_initial_backoff,
                max_backoff: local.restart_max_backoff,
                crash_loop_after: local.crash_loop_failures,
                ..RestartPolicy::default()
            },
        };
        (template, problem)
    }

    /// Gives the request path the current instances and modes.
    fn publish(&self, state: &State) {
        let mut hops = HashMap::new();
        for (key, rt) in &state.revisions {
            let ready = rt.ready_addresses();
            rt.publish_endpoints(&ready);
            let hop = if rt.mode == SksMode::Serve && !ready.is_empty() {
                Hop::Serve(ready)
            } else {
                Hop::Proxy(self.activator_address)
            };
            hops.insert(key.clone(), hop);
        }
        self.hops.send_if_modified(|current| {
            let changed = **current != hops;
            if changed {
                *current = Arc::new(hops);
            }
            changed
        });
    }

    /// Recomputes every Service's statuses, and the route table when traffic moved.
    fn observe(&self, state: &mut State) {
        let State {
            services,
            revisions,
            routes_fingerprint,
            ..
        } = state;
        let routing = &self.config.routing;
        let now = super::persist::rfc3339_now();
        for ((namespace, _), entry) in services.iter_mut() {
            let observation = |name: &str| {
                let rt = revisions.get(&RevisionKey::new(namespace.as_str(), name))?;
                Some(rt.observation(rt.ready_addresses().len() as u32))
            };
            reconcile::observe_at(&mut entry.set, &observation, routing, &now);
        }
        for entry in services.values() {
            for revision in &entry.set.revisions {
                let key = RevisionKey::new(revision.metadata.namespace(), revision.metadata.name());
                if let Some(rt) = revisions.get_mut(&key) {
                    rt.routing_state = revision
                        .metadata
                        .label("serving.knative.dev/routingState")
                        .map(str::to_owned);
                }
            }
        }
        let traffic: Vec<RouteTraffic> = services
            .values()
            .filter_map(|e| route_traffic(&e.set))
            .collect();
        let fingerprint = format!("{traffic:?}");
        if *routes_fingerprint == fingerprint {
            return;
        }
        *routes_fingerprint = fingerprint;
        let (table, errors) = RouteTable::build(routing, &self.config.validation.features, traffic);
        for error in errors {
            warn!(%error, "route not programmed");
        }
        self.tables.send_replace(Arc::new(table));
    }
}

/// What the router serves for a Service: its Route's programmed traffic; or, while the
/// Route has none yet (its first revision is not ready), the spec's traffic with each
/// configuration target sent to the latest created revision.
///
/// A deliberate difference from Knative, whose ingress answers 404 until the route is
/// programmed: here a request made while the first revision deploys goes through the
/// activator and waits for it, as it would at scale zero — and if that revision fails,
/// it gets a 503 naming the reason instead of a 404 that says nothing. Status reporting
/// is unchanged: the Route stays not Ready until its traffic is really assigned.
fn route_traffic(set: &reconcile::ServiceSet) -> Option<RouteTraffic> {
    let route = &set.route;
    let programmed = route.status.as_ref().is_some_and(|s| !s.traffic.is_empty());
    let resolved = if programmed {
        RouteTraffic::from_route(route)
    } else {
        let latest = set
            .configuration
            .status
            .as_ref()
            .and_then(|s| s.latest_created_revision_name.clone());
        RouteTraffic::from_spec(route, |_| latest.clone())
    };
    match resolved {
        Ok(traffic) if !traffic.targets.is_empty() => Some(traffic),
        Ok(_) => None,
        Err(e) => {
            debug!(route = %route.metadata.name(), error = %e, "route not programmed yet");
            None
        }
    }
}

/// Marks a revision whose container cannot be created for want of a ConfigMap, Secret
/// or key: no instance starts, and it is failed with the kubelet's reason and message
/// (logged when it changes).
fn block_on_env(rt: &mut RevisionRt, problem: &MissingEnvSource) {
    let failure = (CONFIG_ERROR_REASON.to_owned(), problem.to_string());
    if rt.failure.as_ref() != Some(&failure) {
        warn!(revision = %rt.key, reason = %failure.0, message = %failure.1, "revision cannot create its container");
    }
    rt.failure = Some(failure);
    rt.env_blocked = true;
}

/// One revision's PodAutoscaler step, and the instances it asks for.
fn scale(
    rt: &mut RevisionRt,
    kpa: &mut knserve_core::autoscaler::Kpa<RevisionKey>,
    now: Timestamp,
    actions: &mut Actions,
) {
    let ready = rt.ready_addresses().len() as u32;
    if ready > 0 {
        rt.ever_ready = true;
        rt.failure = None;
    } else if let Some(failure) = rt.crash_loop() {
        if rt.failure.as_ref() != Some(&failure) {
            warn!(revision = %rt.key, reason = %failure.0, message = %failure.1, "revision failing");
        }
        rt.failure = Some(failure);
    }
    let reachable = Reachability::of_revision(
        rt.routing_state.as_deref(),
        rt.failure.is_some() || rt.progress.state() == Progress::Exceeded,
        rt.target > 0,
        ready,
    )
    .is_reachable();
    kpa.observe(&rt.key, ready, reachable);
    let decider = kpa
        .status(&rt.key)
        .unwrap_or_else(|| DeciderStatus::initial(&rt.params));
    let observed = Observed {
        ready,
        reachable,
        activator_in_path: rt.mode == SksMode::Proxy,
    };
    let reconciled = rt.pa.reconcile(now, &rt.params, decider, observed);
    let initialized = reconciled.scale_target_initialized;
    let exceeded = progress_exceeded(rt, now, ready, initialized);
    if exceeded {
        rt.target = 0;
    } else if let Some(target) = reconciled.scale
        && target != rt.target
    {
        info!(revision = %rt.key, from = rt.target, to = target, "scaling");
        if rt.target == 0 && rt.instances.is_empty() && rt.starting == 0 {
            rt.settings.trace.decided(tokio::time::Instant::now());
        }
        rt.target = target;
    }
    rt.mode = reconciled.mode;
    // Knative's ResourcesAvailable follows the PA's ScaleTargetInitialized: a revision is
    // ready once it reached its initial scale, which an initial scale of 0 does at once.
    if initialized && rt.failure.is_none() && !exceeded {
        rt.ever_ready = true;
    }
    if rt.env_blocked {
        return;
    }
    let live = rt.instances.len() as u32 + rt.starting;
    for _ in live..rt.target {
        let id = format!("{}-{}", rt.key.name, rt.next_id);
        rt.next_id += 1;
        rt.starting += 1;
        actions.starts.push((
            rt.key.clone(),
            id,
            rt.workload.clone(),
            rt.settings.clone(),
            rt.grace,
        ));
    }
    let keep = rt.target.saturating_sub(rt.starting) as usize;
    let grace = rt.grace;
    actions
        .stops
        .extend(rt.take_victims(keep).into_iter().map(|i| (i, grace)));
}

/// Steps the revision's progress deadline; true once it is exceeded, when the revision
/// is to run no instance (Knative scales it to zero) and requests for it are refused.
fn progress_exceeded(rt: &mut RevisionRt, now: Timestamp, ready: u32, initialized: bool) -> bool {
    let before = rt.progress.state();
    let after = rt.progress.step(now, Seen { ready, initialized });
    if after == Progress::Exceeded && before != after {
        warn!(revision = %rt.key, message = %rt.progress.message(), "progress deadline exceeded; stopping its instances");
    }
    after == Progress::Exceeded
}

/// [`Instance::start`], retried with back-off while it fails for want of descriptors,
/// memory or processes (`EMFILE`, `ENOMEM`, `EAGAIN`), pausing 50 ms up to 2 s: that is
/// the machine's state, not the revision's fault, so it never marks the revision failed. Idle client
/// connections are shed before each retry; warnings are limited to one per second per
/// revision. `None` when the revision went away meanwhile.
async fn start_retrying(
    inner: &Inner,
    key: &RevisionKey,
    id: &str,
    workload: &Workload,
    settings: &InstanceSettings,
) -> Option<std::io::Result<Instance>> {
    let mut pauses = pressure::START_PAUSES;
    loop {
        let error = match Instance::start(id.to_owned(), workload, settings).await {
            Err(error) if pressure::is_resource_exhaustion(&error) => error,
            other => return Some(other),
        };
        pressure::shed_idle_connections();
        let delay = pauses.pause();
        if let Some(suppressed) = settings.start_warnings.check(tokio::time::Instant::now()) {
            warn!(revision = %key, instance = %id, %error, retrying_in = ?delay, suppressed, "instance could not start for want of resources; retrying");
        }
        tokio::time::sleep(delay).await;
        if !inner.lock().revisions.contains_key(key) {
            return None;
        }
    }
}

/// Starts one instance and hands it to its revision (or stops it if the revision went
/// away meanwhile); its state changes wake the control loop.
async fn start_instance(
    inner: Arc<Inner>,
    key: RevisionKey,
    id: String,
    workload: Workload,
    settings: InstanceSettings,
    grace: Duration,
) {
    let Some(started) = start_retrying(&inner, &key, &id, &workload, &settings).await else {
        return;
    };
    let leftover = {
        let mut state = inner.lock();
        match (state.revisions.get_mut(&key), started) {
            (Some(rt), Ok(instance)) => {
                rt.starting = rt.starting.saturating_sub(1);
                let mut changes = instance.state();
                rt.instances.push(instance);
                let waker = inner.clone();
                tokio::spawn(async move {
                    while changes.changed().await.is_ok() {
                        waker.wake.notify_one();
                    }
                });
                None
            }
            (Some(rt), Err(error)) => {
                rt.starting = rt.starting.saturating_sub(1);
                warn!(instance = %id, %error, "instance could not start");
                rt.failure = Some(("InstanceStartFailed".to_owned(), error.to_string()));
                None
            }
            (None, started) => started.ok(),
        }
    };
    if let Some(instance) = leftover {
        instance.stop(grace).await;
    }
    inner.wake.notify_one();
}
