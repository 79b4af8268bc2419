//! [`ClusterBackend`]: where objects live (a Kubernetes API server, or the simulated cluster).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_core::stream::BoxStream;

use super::error::EngineError;
use crate::object::{GroupKind, Object, ObjectRef};
use crate::selector::LabelSelector;

/// A boxed, `Send` future, as returned by the `Dyn*` mirrors of the engine traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Annotation holding Argo CD's resource tracking id (`<app>:<group>/<kind>:<namespace>/<name>`).
pub const TRACKING_ID_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Label used by label-based resource tracking.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// Whether a resource type is namespaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Objects live in a namespace.
    Namespaced,
    /// Objects are cluster-wide.
    Cluster,
}

/// What a backend can do. The engine checks these before calling and fails early with
/// [`ErrorKind::Unsupported`](super::ErrorKind::Unsupported) otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `ApplyOptions::dry_run` is honoured (nothing is persisted).
    pub dry_run: bool,
    /// `ApplyOptions::server_side` is honoured.
    pub server_side_apply: bool,
    /// [`ClusterBackend::watch`] is implemented.
    pub watch: bool,
    /// `DeleteOptions::propagation` is honoured.
    pub propagation: bool,
}

impl Capabilities {
    /// A backend that supports nothing optional.
    pub const NONE: Capabilities = Capabilities {
        dry_run: false,
        server_side_apply: false,
        watch: false,
        propagation: false,
    };
    /// A backend that supports everything.
    pub const ALL: Capabilities = Capabilities {
        dry_run: true,
        server_side_apply: true,
        watch: true,
        propagation: true,
    };
}

/// How resources are tied to the Application that manages them (Argo CD's `application.resourceTrackingMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TrackingMethod {
    /// The `argocd.argoproj.io/tracking-id` annotation (Argo CD's default since 3.0).
    #[default]
    Annotation,
    /// The `app.kubernetes.io/instance` label.
    Label,
    /// Both; the annotation decides.
    AnnotationAndLabel,
}

/// Which objects a [`ClusterBackend::list`] returns. All set conditions must hold.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ListQuery {
    /// Only this group/kind; all kinds when `None`.
    pub kind: Option<GroupKind>,
    /// Only this namespace; all namespaces (and cluster-scoped objects) when `None`.
    pub namespace: Option<String>,
    /// Only objects whose labels match.
    pub selector: Option<LabelSelector>,
    /// Only objects tracked as belonging to this application instance name.
    pub tracked_by: Option<(String, TrackingMethod)>,
}

impl ListQuery {
    /// Every object.
    pub fn all() -> Self {
        Self::default()
    }
    /// Objects of one group/kind.
    #[must_use]
    pub fn kind(mut self, kind: GroupKind) -> Self {
        self.kind = Some(kind);
        self
    }
    /// Objects in one namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    /// Objects whose labels match `selector`.
    #[must_use]
    pub fn selector(mut self, selector: LabelSelector) -> Self {
        self.selector = Some(selector);
        self
    }
    /// Objects tracked as managed by application instance `app`.
    #[must_use]
    pub fn tracked_by(mut self, app: impl Into<String>, method: TrackingMethod) -> Self {
        self.tracked_by = Some((app.into(), method));
        self
    }

    /// Whether `obj` satisfies the query (backends may use this to filter).
    pub fn matches(&self, obj: &Object) -> bool {
        if let Some(k) = &self.kind
            && (obj.group() != k.group || obj.kind() != k.kind)
        {
            return false;
        }
        if let Some(ns) = &self.namespace
            && obj.namespace() != Some(ns.as_str())
        {
            return false;
        }
        if let Some(sel) = &self.selector
            && !sel.matches(&obj.labels())
        {
            return false;
        }
        if let Some((app, method)) = &self.tracked_by
            && tracked_app(obj, *method) != Some(app.as_str())
        {
            return false;
        }
        true
    }
}

/// The application instance that tracks `obj` under `method`, if any.
pub fn tracked_app(obj: &Object, method: TrackingMethod) -> Option<&str> {
    let by_annotation = || {
        obj.annotation(TRACKING_ID_ANNOTATION)
            .and_then(|id| id.split_once(':'))
            .map(|(a, _)| a)
    };
    match method {
        TrackingMethod::Annotation | TrackingMethod::AnnotationAndLabel => by_annotation(),
        TrackingMethod::Label => obj.label(INSTANCE_LABEL),
    }
}

/// Options for [`ClusterBackend::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Validate and compute the result without persisting anything.
    pub dry_run: bool,
    /// Use server-side apply (field ownership) instead of client-side apply.
    pub server_side: bool,
    /// Field manager name for server-side apply.
    pub field_manager: String,
    /// Take over conflicting fields (server-side apply) or delete and re-create on an
    /// immutable-field error (client-side, Argo CD's `Force=true`).
    pub force: bool,
    /// Replace the object (`kubectl replace`/`create`) instead of applying.
    pub replace: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            dry_run: false,
            server_side: false,
            field_manager: "gitops-rs".to_owned(),
            force: false,
            replace: false,
        }
    }
}

impl ApplyOptions {
    /// Sets dry-run.
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
    /// Sets server-side apply.
    #[must_use]
    pub fn server_side(mut self, on: bool) -> Self {
        self.server_side = on;
        self
    }
    /// Sets force.
    #[must_use]
    pub fn force(mut self, on: bool) -> Self {
        self.force = on;
        self
    }
    /// Sets replace.
    #[must_use]
    pub fn replace(mut self, on: bool) -> Self {
        self.replace = on;
        self
    }
    /// Sets the field manager.
    #[must_use]
    pub fn field_manager(mut self, name: impl Into<String>) -> Self {
        self.field_manager = name.into();
        self
    }
}

/// What an apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApplyOutcome {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Configured,
    /// The object existed and already matched.
    Unchanged,
}

impl ApplyOutcome {
    /// `created`, `configured` or `unchanged`, as kubectl prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Configured => "configured",
            ApplyOutcome::Unchanged => "unchanged",
        }
    }
}

/// The result of an apply: the object as stored (or as it would be, for dry-run) and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The resulting live object.
    pub object: Object,
    /// What happened.
    pub outcome: ApplyOutcome,
}

/// Deletion propagation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Propagation {
    /// Dependents are deleted before the owner disappears (Argo CD's prune default).
    #[default]
    Foreground,
    /// The owner disappears at once; dependents are deleted afterwards.
    Background,
    /// Dependents are left in place with their owner reference removed.
    Orphan,
}

/// Options for [`ClusterBackend::delete`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteOptions {
    /// Propagation policy.
    pub propagation: Propagation,
    /// Check without deleting.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Sets the propagation policy.
    #[must_use]
    pub fn propagation(mut self, p: Propagation) -> Self {
        self.propagation = p;
        self
    }
    /// Sets dry-run.
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeleteOutcome {
    /// The object is gone.
    Deleted,
    /// The object is marked for deletion and waits for finalizers or dependents.
    Pending,
}

/// A change seen by [`ClusterBackend::watch`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The object was created or changed.
    Applied(Object),
    /// The object was deleted (its last state).
    Deleted(Object),
}

/// A place objects live: a Kubernetes cluster or the simulated [`MemoryCluster`](crate::testing).
///
/// # Behavior
/// - `try_get` returns `Ok(None)` for an object that does not exist; an unknown kind is also `Ok(None)`.
/// - `apply` creates or updates; it is idempotent (applying the same object twice gives
///   [`ApplyOutcome::Unchanged`] the second time). With `dry_run` nothing is persisted and the
///   returned object is what would have been stored. A namespaced kind without a namespace is
///   [`ErrorKind::Invalid`](super::ErrorKind::Invalid). An object with only `generateName` is
///   created under a generated name.
/// - `delete` of an absent object is [`ErrorKind::NotFound`](super::ErrorKind::NotFound).
///   An object with finalizers is only marked ([`DeleteOutcome::Pending`]).
/// - Implementations must be cheap to share across tasks; methods take `&self`.
///
/// Implement it with `async fn`; the engine stores backends as [`SharedClusterBackend`].
pub trait ClusterBackend: Send + Sync + 'static {
    /// What optional features this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// Whether a kind is namespaced, cluster-scoped, or unknown to the cluster (`None`).
    fn scope(&self, kind: &GroupKind) -> impl Future<Output = Result<Option<Scope>, EngineError>> + Send;

    /// Reads one object.
    fn try_get(&self, obj: &ObjectRef) -> impl Future<Output = Result<Option<Object>, EngineError>> + Send;

    /// Lists objects matching `query`, in a stable order.
    fn list(&self, query: &ListQuery) -> impl Future<Output = Result<Vec<Object>, EngineError>> + Send;

    /// Creates or updates an object.
    fn apply(
        &self,
        obj: &Object,
        opts: &ApplyOptions,
    ) -> impl Future<Output = Result<Applied, EngineError>> + Send;

    /// Deletes an object.
    fn delete(
        &self,
        obj: &ObjectRef,
        opts: &DeleteOptions,
    ) -> impl Future<Output = Result<DeleteOutcome, EngineError>> + Send;

    /// Streams changes to objects matching `query`. The default says the backend cannot watch.
    fn watch(
        &self,
        query: &ListQuery,
    ) -> impl Future<Output = Result<BoxStream<'static, WatchEvent>, EngineError>> + Send {
        let _ = query;
        async { Err(EngineError::unsupported("this cluster backend cannot watch")) }
    }
}

/// The object-safe mirror of [`ClusterBackend`]; every `ClusterBackend` implements it.
pub trait DynClusterBackend: Send + Sync + 'static {
    /// See [`ClusterBackend::capabilities`].
    fn capabilities_dyn(&self) -> Capabilities;
    /// See [`ClusterBackend::scope`].
    fn scope_dyn<'a>(&'a self, kind: &'a GroupKind) -> BoxFuture<'a, Result<Option<Scope>, EngineError>>;
    /// See [`ClusterBackend::try_get`].
    fn try_get_dyn<'a>(&'a self, obj: &'a ObjectRef) -> BoxFuture<'a, Result<Option<Object>, EngineError>>;
    /// See [`ClusterBackend::list`].
    fn list_dyn<'a>(&'a self, query: &'a ListQuery) -> BoxFuture<'a, Result<Vec<Object>, EngineError>>;
    /// See [`ClusterBackend::apply`].
    fn apply_dyn<'a>(
        &'a self,
        obj: &'a Object,
        opts: &'a ApplyOptions,
    ) -> BoxFuture<'a, Result<Applied, EngineError>>;
    /// See [`ClusterBackend::delete`].
    fn delete_dyn<'a>(
        &'a self,
        obj: &'a ObjectRef,
        opts: &'a DeleteOptions,
    ) -> BoxFuture<'a, Result<DeleteOutcome, EngineError>>;
    /// See [`ClusterBackend::watch`].
    fn watch_dyn<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> BoxFuture<'a, Result<BoxStream<'static, WatchEvent>, EngineError>>;
}

impl<T: ClusterBackend> DynClusterBackend for T {
    fn capabilities_dyn(&self) -> Capabilities {
        self.capabilities()
    }
    fn scope_dyn<'a>(&'a self, kind: &'a GroupKind) -> BoxFuture<'a, Result<Option<Scope>, EngineError>> {
        Box::pin(self.scope(kind))
    }
    fn try_get_dyn<'a>(&'a self, obj: &'a ObjectRef) -> BoxFuture<'a, Result<Option<Object>, EngineError>> {
        Box::pin(self.try_get(obj))
    }
    fn list_dyn<'a>(&'a self, query: &'a ListQuery) -> BoxFuture<'a, Result<Vec<Object>, EngineError>> {
        Box::pin(self.list(query))
    }
    fn apply_dyn<'a>(
        &'a self,
        obj: &'a Object,
        opts: &'a ApplyOptions,
    ) -> BoxFuture<'a, Result<Applied, EngineError>> {
        Box::pin(self.apply(obj, opts))
    }
    fn delete_dyn<'a>(
        &'a self,
        obj: &'a ObjectRef,
        opts: &'a DeleteOptions,
    ) -> BoxFuture<'a, Result<DeleteOutcome, EngineError>> {
        Box::pin(self.delete(obj, opts))
    }
    fn watch_dyn<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> BoxFuture<'a, Result<BoxStream<'static, WatchEvent>, EngineError>> {
        Box::pin(self.watch(query))
    }
}

/// A shared, type-erased cluster backend, as the engine stores it.
pub type SharedClusterBackend = Arc<dyn DynClusterBackend>;

impl ClusterBackend for SharedClusterBackend {
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities_dyn()
    }
    async fn scope(&self, kind: &GroupKind) -> Result<Option<Scope>, EngineError> {
        (**self).scope_dyn(kind).await
    }
    async fn try_get(&self, obj: &ObjectRef) -> Result<Option<Object>, EngineError> {
        (**self).try_get_dyn(obj).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<Object>, EngineError> {
        (**self).list_dyn(query).await
    }
    async fn apply(&self, obj: &Object, opts: &ApplyOptions) -> Result<Applied, EngineError> {
        (**self).apply_dyn(obj, opts).await
    }
    async fn delete(&self, obj: &ObjectRef, opts: &DeleteOptions) -> Result<DeleteOutcome, EngineError> {
        (**self).delete_dyn(obj, opts).await
    }
    async fn watch(&self, query: &ListQuery) -> Result<BoxStream<'static, WatchEvent>, EngineError> {
        (**self).watch_dyn(query).await
    }
}

/// Conveniences over any [`ClusterBackend`].
pub trait ClusterBackendExt: ClusterBackend {
    /// Like [`try_get`](ClusterBackend::try_get) but an absent object is a `NotFound` error.
    fn get(&self, obj: &ObjectRef) -> impl Future<Output = Result<Object, EngineError>> + Send {
        async move {
            self.try_get(obj)
                .await?
                .ok_or_else(|| EngineError::not_found("object not found").with_object(obj.clone()))
        }
    }

    /// Wraps this backend into a [`SharedClusterBackend`].
    fn shared(self) -> SharedClusterBackend
    where
        Self: Sized,
    {
        Arc::new(self)
    }
}

impl<T: ClusterBackend + ?Sized> ClusterBackendExt for T {}
