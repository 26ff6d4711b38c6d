//! The [`Orchestrator`] trait.

use tokio::sync::watch;

use super::{Endpoints, OrchestratorError, ScaleRequest, WorkloadStatus};
use crate::{RevisionKey, api::Revision};

/// A boxed, sendable future: what the [`Orchestrator`] methods that do I/O return.
pub type BoxFuture<'a, T> = futures_util::future::BoxFuture<'a, T>;

/// What a backend provides to the core: a Revision's workload, its scale, its ready
/// endpoints and its failures.
///
/// The request path and the autoscaler know a backend only through this trait; the
/// local backend (processes and in-process services) and the Kubernetes backend
/// (Deployments and EndpointSlices) implement it.
///
/// # Flow
/// [`create`](Self::create) once per Revision, then [`scale`](Self::scale) on every
/// decision of the autoscaler; the activator's prober follows
/// [`endpoints`](Self::endpoints); status reconciles read [`status`](Self::status);
/// [`remove`](Self::remove) when the Revision is deleted.
///
/// # Why boxed futures
/// The methods that do I/O return a [`BoxFuture`] rather than being `async fn`s or
/// generic, so the trait is object-safe: the backend is chosen at run time (a flag of
/// `knserve`, the conformance suite that runs both) and held as
/// `Arc<dyn Orchestrator>`. The box costs one allocation per control-plane call —
/// a few per revision per autoscaler tick, never one per request.
/// [`endpoints`](Self::endpoints) and [`status`](Self::status) are synchronous: they
/// read what the backend's own watchers keep current.
///
/// # Example
/// A backend that keeps everything in memory, its instances at made-up addresses:
///
/// ```
/// use std::{collections::HashMap, net::SocketAddr, sync::Mutex};
///
/// use knserve_core::{
///     RevisionKey,
///     api::{ObjectMeta, Revision, RevisionSpec},
///     orchestrator::{
///         BoxFuture, Endpoints, Orchestrator, OrchestratorError, RevisionHealth,
///         ScaleRequest, WorkloadStatus, revision_key,
///     },
/// };
/// use tokio::sync::watch;
///
/// #[derive(Debug, Default)]
/// struct InMemory(Mutex<HashMap<RevisionKey, watch::Sender<Endpoints>>>);
///
/// impl InMemory {
///     fn sender(&self, key: &RevisionKey) -> Result<watch::Sender<Endpoints>, OrchestratorError> {
///         let workloads = self.0.lock().unwrap();
///         let sender = workloads.get(key).cloned();
///         sender.ok_or_else(|| OrchestratorError::UnknownRevision(key.clone()))
///     }
/// }
///
/// impl Orchestrator for InMemory {
///     fn create<'a>(
///         &'a self,
///         revision: &'a Revision,
///     ) -> BoxFuture<'a, Result<RevisionKey, OrchestratorError>> {
///         Box::pin(async move {
///             let key = revision_key(revision)?;
///             let mut workloads = self.0.lock().unwrap();
///             workloads.entry(key.clone()).or_insert_with(|| watch::channel(Endpoints::default()).0);
///             Ok(key)
///         })
///     }
///
///     fn scale(&self, request: ScaleRequest) -> BoxFuture<'_, Result<(), OrchestratorError>> {
///         Box::pin(async move {
///             let ready = (0..request.replicas)
///                 .map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16)))
///                 .collect();
///             self.sender(&request.revision)?.send_replace(Endpoints { ready, ..Endpoints::default() });
///             Ok(())
///         })
///     }
///
///     fn endpoints(&self, revision: &RevisionKey) -> Result<watch::Receiver<Endpoints>, OrchestratorError> {
///         Ok(self.sender(revision)?.subscribe())
///     }
///
///     fn status(&self, revision: &RevisionKey) -> Result<WorkloadStatus, OrchestratorError> {
///         let ready = self.sender(revision)?.borrow().ready.len() as u32;
///         Ok(WorkloadStatus {
///             health: if ready > 0 { RevisionHealth::Ready } else { RevisionHealth::Deploying },
///             actual_replicas: ready,
///             desired_replicas: Some(ready),
///             active: Some(ready > 0),
///         })
///     }
///
///     fn remove<'a>(&'a self, revision: &'a RevisionKey) -> BoxFuture<'a, Result<bool, OrchestratorError>> {
///         Box::pin(async move { Ok(self.0.lock().unwrap().remove(revision).is_some()) })
///     }
/// }
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # runtime.block_on(async {
/// let backend: Box<dyn Orchestrator> = Box::new(InMemory::default());
/// let revision = Revision::new(ObjectMeta::named("hello-00001", "default"), RevisionSpec::default());
/// let key = backend.create(&revision).await?;
/// let mut endpoints = backend.endpoints(&key)?;
/// backend.scale(ScaleRequest { revision: key.clone(), replicas: 2 }).await?;
/// endpoints.changed().await.unwrap();
/// assert_eq!(endpoints.borrow().ready.len(), 2, "scaling to 2 publishes 2 ready endpoints");
/// assert_eq!(backend.status(&key)?.health, RevisionHealth::Ready);
/// assert!(backend.remove(&key).await?, "the workload existed");
/// assert!(matches!(backend.status(&key), Err(OrchestratorError::UnknownRevision(_))));
/// # Ok::<_, OrchestratorError>(())
/// # }).unwrap();
/// ```
pub trait Orchestrator: Send + Sync {
    /// Makes the workload of `revision` exist, from the Revision as written (its
    /// container, scale annotations, timeouts), and returns its key. Creating a
    /// workload that exists already is not an error: it is left as it is, since a
    /// Revision's spec never changes.
    fn create<'a>(
        &'a self,
        revision: &'a Revision,
    ) -> BoxFuture<'a, Result<RevisionKey, OrchestratorError>>;

    /// Runs `request.replicas` instances of the revision's workload.
    fn scale(&self, request: ScaleRequest) -> BoxFuture<'_, Result<(), OrchestratorError>>;

    /// The revision's endpoints, kept current: ready and not-ready instances, and the
    /// [`Failure`](super::Failure) text when no instance will become ready (the
    /// activator fails the requests it holds with it at once).
    fn endpoints(
        &self,
        revision: &RevisionKey,
    ) -> Result<watch::Receiver<Endpoints>, OrchestratorError>;

    /// What the backend last observed of the workload: its health (with the reason
    /// and message that go into the Revision's conditions when it cannot become ready;
    /// see [`Failure::of`](super::Failure::of)) and its replica counts.
    fn status(&self, revision: &RevisionKey) -> Result<WorkloadStatus, OrchestratorError>;

    /// Removes the revision's workload and its instances; false when there was none.
    fn remove<'a>(
        &'a self,
        revision: &'a RevisionKey,
    ) -> BoxFuture<'a, Result<bool, OrchestratorError>>;
}
