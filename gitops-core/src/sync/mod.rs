//! Comparing and syncing an application: [`Syncer`] plans the desired objects into phases and
//! waves ([`plan`]), dry-runs every apply first so a bad manifest changes nothing, then applies
//! wave by wave, waits for each wave to be healthy, runs hooks, prunes, and reports per-resource
//! results and the app's sync and health status. [`controller::AppController`] drives whole
//! app-of-apps trees.
//!
//! Waiting is delegated to a [`Waiter`]: against the simulated cluster it advances the simulated
//! clock one tick (`MemoryCluster::ticker()`); against a real cluster it sleeps.

pub mod controller;
pub mod delete;
pub mod exec;
pub mod plan;
pub mod windows;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::engine::{
    BoxFuture, ClusterBackend, EngineError, HealthCode, INSTANCE_LABEL, ListQuery, Scope,
    SharedClusterBackend, SharedHealthCheck, TRACKING_ID_ANNOTATION, TrackingMethod,
};
use crate::model::{
    AppHealthStatus, Application, OperationPhase, OperationState, ResourceHealth, ResourceResult,
    ResourceStatus, RetryStrategy, SyncOperationResource, SyncPhase, SyncStatusCode,
};
use crate::object::{GroupKind, Object, ObjectRef};

use crate::diff::{DiffOptions, FieldChange};
use crate::health::aggregate::{ResourceHealthInput, aggregate};
use crate::health::{WithAppHealth, resource_health};
use plan::{HookRole, hook_role};

/// Annotation a renderer may set to say which repository file an object came from. The sync
/// engine removes it before applying (it is never stored in the cluster).
pub const SOURCE_FILE_ANNOTATION: &str = "gitops.rs/source-file";

/// Waits between sync steps (until the next wave may be healthy).
pub trait Waiter: Send + Sync + 'static {
    /// Waits one step.
    fn wait(&self) -> BoxFuture<'_, ()>;

    /// Waits about `d` (retry backoff, wave delay). The default waits `ceil(d)` steps of one
    /// second each, which is exact for the simulated cluster's ticker.
    fn wait_for(&self, d: std::time::Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let steps = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            for _ in 0..steps {
                self.wait().await;
            }
        })
    }
}

/// A waiter that returns at once (for backends whose state changes by themselves between calls).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWait;

impl Waiter for NoWait {
    fn wait(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Waiter for crate::testing::Ticker {
    fn wait(&self) -> BoxFuture<'_, ()> {
        self.tick();
        Box::pin(async {})
    }
}

/// Options of one sync operation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Delete live objects that are no longer desired. `None` takes the app's `automated.prune`.
    pub prune: Option<bool>,
    /// Plan and dry-run only; change nothing.
    pub dry_run: bool,
    /// After the last wave, keep waiting until the app is no longer `Progressing`.
    pub wait_for_health: bool,
    /// Most wait steps for one wave (or for final health) before giving up with a timeout.
    pub max_wait_steps: u32,
    /// Resource tracking method.
    pub tracking: TrackingMethod,
    /// Namespace of the control plane (Applications there use their bare name as instance name).
    pub control_namespace: String,
    /// Revision being synced (recorded in results; used in generated hook names).
    pub revision: String,
    /// Selective sync: only these resources (no hooks run; Argo CD's rule).
    pub resources: Vec<SyncOperationResource>,
    /// Retry strategy for a failed operation (`spec.syncPolicy.retry`).
    pub retry: Option<RetryStrategy>,
    /// Whether automated sync started the operation.
    pub automated: bool,
    /// Extra wait between waves (Argo CD's `ARGOCD_SYNC_WAVE_DELAY`; 0 here because the wave gate
    /// already waits for fresh, healthy status).
    pub wave_delay: std::time::Duration,
    /// For a self-heal operation: which attempt this is (`operation.sync.autoHealAttemptsCount`).
    pub heal_attempt: Option<i64>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            prune: None,
            dry_run: false,
            wait_for_health: true,
            max_wait_steps: 600,
            tracking: TrackingMethod::Annotation,
            control_namespace: "argocd".to_owned(),
            revision: "local".to_owned(),
            resources: Vec::new(),
            retry: None,
            automated: false,
            wave_delay: std::time::Duration::ZERO,
            heal_attempt: None,
        }
    }
}

impl SyncOptions {
    /// Sets pruning.
    #[must_use]
    pub fn prune(mut self, on: bool) -> Self {
        self.prune = Some(on);
        self
    }
    /// Sets dry-run.
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
    /// Sets whether to wait for final health.
    #[must_use]
    pub fn wait_for_health(mut self, on: bool) -> Self {
        self.wait_for_health = on;
        self
    }
    /// Sets the wait bound.
    #[must_use]
    pub fn max_wait_steps(mut self, n: u32) -> Self {
        self.max_wait_steps = n;
        self
    }
    /// Sets the revision label.
    #[must_use]
    pub fn revision(mut self, rev: impl Into<String>) -> Self {
        self.revision = rev.into();
        self
    }
    /// Selects resources (selective sync).
    #[must_use]
    pub fn resources(mut self, resources: Vec<SyncOperationResource>) -> Self {
        self.resources = resources;
        self
    }
    /// Sets the retry strategy.
    #[must_use]
    pub fn retry(mut self, retry: Option<RetryStrategy>) -> Self {
        self.retry = retry;
        self
    }
    /// Marks the operation as started by automated sync.
    #[must_use]
    pub fn automated(mut self, on: bool) -> Self {
        self.automated = on;
        self
    }
    /// Sets the delay between waves.
    #[must_use]
    pub fn wave_delay(mut self, d: std::time::Duration) -> Self {
        self.wave_delay = d;
        self
    }
}

/// Something the sync did to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// `created`, `configured`, `pruned`, `hook created`, `hook deleted`.
    pub action: String,
    /// What differed before the change (for `configured`).
    pub diff: Vec<FieldChange>,
}

/// Progress reported while a sync runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// A wave starts.
    WaveStarted {
        /// Application name.
        app: String,
        /// Phase.
        phase: SyncPhase,
        /// Wave.
        wave: i64,
        /// Objects in the wave, as `verb object`.
        tasks: Vec<String>,
    },
    /// A task finished.
    TaskDone {
        /// Application name.
        app: String,
        /// The per-resource result.
        result: ResourceResult,
    },
    /// The sync waits for objects to become healthy or hooks to complete.
    Waiting {
        /// Application name.
        app: String,
        /// What it waits for.
        reason: String,
    },
}

/// Callback receiving [`SyncEvent`]s.
pub type ProgressFn = Arc<dyn Fn(&SyncEvent) + Send + Sync>;

/// Result of comparing an app's desired objects with the cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    /// Desired objects, placed in namespaces and tracked, hooks included.
    pub desired: Vec<Object>,
    /// Live objects by reference (for desired objects that exist, and prune candidates).
    pub live: BTreeMap<ObjectRef, Object>,
    /// Per-resource status (hooks excluded).
    pub resources: Vec<ResourceStatus>,
    /// Tracked live objects that are no longer desired.
    pub to_prune: Vec<Object>,
    /// Field differences of out-of-sync objects.
    pub diffs: Vec<(ObjectRef, Vec<FieldChange>)>,
    /// The app's sync status.
    pub sync_status: SyncStatusCode,
    /// Desired objects whose live counterpart is tracked by another application (Argo CD's
    /// `SharedResourceWarning`), with that application's instance name.
    pub shared: Vec<(ObjectRef, String)>,
    /// Objects whose comparison failed (e.g. a jq expression timed out): Argo CD's `ComparisonError`.
    pub errors: Vec<String>,
}

impl Comparison {
    /// The sync status of one resource, if it is part of the comparison.
    pub fn status_of(&self, obj: &ObjectRef) -> Option<SyncStatusCode> {
        self.resources
            .iter()
            .find(|r| {
                r.group == obj.group
                    && r.kind == obj.kind
                    && r.name == obj.name
                    && Some(r.namespace.as_str()) == obj.namespace.as_deref().or(Some(""))
            })
            .map(|r| r.status)
    }
}

/// Result of a sync operation.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    /// Final operation phase.
    pub phase: OperationPhase,
    /// Operation message.
    pub message: String,
    /// Per-resource results in execution order.
    pub results: Vec<ResourceResult>,
    /// What changed in the cluster.
    pub changes: Vec<Change>,
    /// Comparison after the sync.
    pub comparison: Comparison,
    /// App health after the sync.
    pub health: AppHealthStatus,
    /// The operation state to store in `status.operationState`.
    pub operation_state: OperationState,
}

/// Errors that stop a sync before it starts (the per-object failures of a started sync are
/// reported in [`SyncResult`] instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A desired object cannot be placed or is not valid for the cluster.
    #[error("{object}: {message}")]
    InvalidObject {
        /// The object.
        object: ObjectRef,
        /// What is wrong.
        message: String,
    },
    /// The cluster failed.
    #[error("cluster error")]
    Cluster(#[from] EngineError),
}

/// Reconciles child Applications created by a parent's sync (App of Apps).
pub trait ChildApps: Send + Sync {
    /// Called after the wave that applied `child` (a live `argoproj.io/Application`); returns
    /// when the child app has been reconciled, or an error message that fails the parent's task.
    fn reconcile_child<'a>(&'a self, child: &'a Object) -> BoxFuture<'a, Result<(), String>>;
}

/// Compares and syncs applications against a cluster backend.
#[derive(Clone)]
pub struct Syncer {
    backend: SharedClusterBackend,
    health: SharedHealthCheck,
    waiter: Arc<dyn Waiter>,
    progress: Option<ProgressFn>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl fmt::Debug for Syncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Syncer").finish_non_exhaustive()
    }
}

/// The tracking id of an object for an app instance: `<app>:<group>/<kind>:<namespace>/<name>`.
pub fn tracking_id(instance: &str, obj: &Object) -> String {
    format!(
        "{instance}:{}/{}:{}/{}",
        obj.group(),
        obj.kind(),
        obj.namespace().unwrap_or(""),
        obj.name()
    )
}

impl Syncer {
    /// A syncer over a backend and a health check, waiting with [`NoWait`].
    pub fn new(backend: SharedClusterBackend, health: SharedHealthCheck) -> Self {
        Syncer {
            backend,
            health,
            waiter: Arc::new(NoWait),
            progress: None,
            clock: Arc::new(crate::time::now_unix),
        }
    }

    /// Sets the waiter used between steps.
    #[must_use]
    pub fn with_waiter(mut self, waiter: impl Waiter) -> Self {
        self.waiter = Arc::new(waiter);
        self
    }

    /// Sets a progress callback.
    #[must_use]
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Sets the clock (Unix seconds) used for time stamps.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> i64 + Send + Sync>) -> Self {
        self.clock = clock;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &SharedClusterBackend {
        &self.backend
    }

    /// The health check.
    pub fn health_check(&self) -> &SharedHealthCheck {
        &self.health
    }

    /// The current time in Unix seconds (from the syncer's clock).
    pub fn clock_now(&self) -> i64 {
        (self.clock)()
    }

    /// The current time stamp.
    pub fn now(&self) -> String {
        crate::time::rfc3339((self.clock)())
    }

    fn emit(&self, e: SyncEvent) {
        if let Some(p) = &self.progress {
            p(&e);
        }
    }

    /// Places desired objects: strips transient annotations, drops `Skip` and ignored hooks,
    /// gives namespaced objects without a namespace the destination namespace, clears the
    /// namespace of cluster-scoped ones, and adds tracking metadata.
    ///
    /// Fails with the first object whose kind the cluster does not know (and no CRD among the
    /// desired objects defines) or that needs a namespace when the destination has none.
    pub async fn prepare(
        &self,
        app: &Application,
        desired: Vec<Object>,
        opts: &SyncOptions,
    ) -> Result<Vec<Object>, SyncError> {
        let instance = app.instance_name(&opts.control_namespace);
        let dest_ns = app.spec.destination.namespace().to_owned();
        let mut crd_scopes: HashMap<GroupKind, Scope> = HashMap::new();
        for o in &desired {
            if o.group() == "apiextensions.k8s.io" && o.kind() == "CustomResourceDefinition" {
                let g = o.pointer("/spec/group").and_then(|v| v.as_str()).unwrap_or("");
                let k = o
                    .pointer("/spec/names/kind")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                let scope = match o.pointer("/spec/scope").and_then(|v| v.as_str()) {
                    Some("Cluster") => Scope::Cluster,
                    _ => Scope::Namespaced,
                };
                crd_scopes.insert(GroupKind::new(g, k), scope);
            }
        }
        let mut scopes: HashMap<GroupKind, Option<Scope>> = HashMap::new();
        let mut out: Vec<Object> = Vec::with_capacity(desired.len());
        let mut seen: BTreeMap<ObjectRef, usize> = BTreeMap::new();
        for mut o in desired {
            o.remove_annotation(SOURCE_FILE_ANNOTATION);
            if matches!(hook_role(&o), HookRole::Skip | HookRole::Ignored) {
                continue;
            }
            let gk = o.group_kind();
            let scope = match scopes.get(&gk) {
                Some(s) => *s,
                None => {
                    let s = match self.backend.scope(&gk).await? {
                        Some(s) => Some(s),
                        None => crd_scopes.get(&gk).copied(),
                    };
                    scopes.insert(gk.clone(), s);
                    s
                }
            };
            match scope {
                None => {
                    return Err(SyncError::InvalidObject {
                        object: o.object_ref(),
                        message: format!(
                            "the cluster has no resource type for kind {:?} in group {:?} (apiVersion {}); \
                             check apiVersion and kind, or add its CustomResourceDefinition",
                            o.kind(),
                            o.group(),
                            o.api_version()
                        ),
                    });
                }
                Some(Scope::Namespaced) => {
                    if o.namespace().is_none() {
                        if dest_ns.is_empty() {
                            return Err(SyncError::InvalidObject {
                                object: o.object_ref(),
                                message: "namespaced object has no metadata.namespace and the application \
                                          has no spec.destination.namespace"
                                    .to_owned(),
                            });
                        }
                        o.set_namespace(Some(&dest_ns));
                    }
                }
                Some(Scope::Cluster) => o.set_namespace(None),
            }
            let is_hook = matches!(hook_role(&o), HookRole::Hook(_));
            if !is_hook || !o.name().is_empty() {
                let id = tracking_id(&instance, &o);
                match opts.tracking {
                    TrackingMethod::Label => o.set_label(INSTANCE_LABEL, &instance),
                    TrackingMethod::AnnotationAndLabel => {
                        o.set_label(INSTANCE_LABEL, &instance);
                        o.set_annotation(TRACKING_ID_ANNOTATION, &id);
                    }
                    _ => o.set_annotation(TRACKING_ID_ANNOTATION, &id),
                }
            }
            // Two manifests for one object: the last wins (Argo CD raises RepeatedResourceWarning).
            let r = o.object_ref();
            if !o.name().is_empty() {
                if let Some(&i) = seen.get(&r) {
                    out[i] = o;
                    continue;
                }
                seen.insert(r, out.len());
            }
            out.push(o);
        }
        Ok(out)
    }

    /// Compares prepared desired objects with the cluster.
    pub async fn compare(
        &self,
        app: &Application,
        desired: Vec<Object>,
        opts: &SyncOptions,
    ) -> Result<Comparison, SyncError> {
        let instance = app.instance_name(&opts.control_namespace);
        let query = ListQuery::all().tracked_by(instance.clone(), opts.tracking);
        let tracked = self.retry_call(|| self.backend.list(&query)).await?;
        let mut live: BTreeMap<ObjectRef, Object> = BTreeMap::new();
        for o in tracked {
            live.insert(o.object_ref(), o);
        }
        let mut resources = Vec::new();
        let mut diffs = Vec::new();
        let mut desired_refs = BTreeSet::new();
        let mut in_sync = true;
        let mut shared = Vec::new();
        let mut comparison_errors: Vec<String> = Vec::new();
        let dopts = DiffOptions::default()
            .with_ignore_differences(&app.spec.ignore_differences)
            .with_server_side(app.has_sync_option("ServerSideApply", "true"));
        for d in &desired {
            let r = d.object_ref();
            let is_hook = matches!(hook_role(d), HookRole::Hook(_));
            if !d.name().is_empty() {
                desired_refs.insert(r.clone());
            }
            if is_hook {
                continue;
            }
            if !live.contains_key(&r)
                && let Some(o) = self.retry_call(|| self.backend.try_get(&r)).await?
            {
                if let Some(other) = crate::engine::tracked_app(&o, opts.tracking)
                    && other != instance
                {
                    shared.push((r.clone(), other.to_owned()));
                }
                live.insert(r.clone(), o);
            }
            let l = live.get(&r);
            let status = match l {
                Some(l) => match crate::diff::diff(Some(d), Some(l), &dopts) {
                    Ok(rd) if !rd.modified => SyncStatusCode::Synced,
                    Ok(rd) => {
                        diffs.push((r.clone(), rd.changes));
                        SyncStatusCode::OutOfSync
                    }
                    Err(e) => {
                        comparison_errors.push(format!("{r}: {e}"));
                        SyncStatusCode::Unknown
                    }
                },
                None => SyncStatusCode::OutOfSync,
            };
            if status != SyncStatusCode::Synced {
                in_sync = false;
            }
            let health = l.and_then(|l| resource_health(self.health.as_ref(), l));
            resources.push(ResourceStatus {
                group: d.group().to_owned(),
                version: d.version().to_owned(),
                kind: d.kind().to_owned(),
                namespace: d.namespace().unwrap_or("").to_owned(),
                name: d.name().to_owned(),
                status,
                health: match (l, health) {
                    (None, _) => Some(ResourceHealth {
                        status: HealthCode::Missing,
                        message: String::new(),
                    }),
                    (_, Some(h)) => Some(ResourceHealth {
                        status: h.status,
                        message: h.message,
                    }),
                    _ => None,
                },
                sync_wave: plan::wave_of(d),
                ..Default::default()
            });
        }
        let mut to_prune = Vec::new();
        for (r, l) in &live {
            if desired_refs.contains(r) || !matches!(hook_role(l), HookRole::Resource) {
                continue;
            }
            // Only top-level objects this app tracks are pruned (not untracked objects found by
            // name, not objects a controller owns), and with annotation tracking only when the
            // tracking id names the object itself (a copied annotation does not count).
            if crate::engine::tracked_app(l, opts.tracking) != Some(instance.as_str())
                || !l.owner_uids().is_empty()
            {
                continue;
            }
            if opts.tracking != TrackingMethod::Label
                && l.annotation(TRACKING_ID_ANNOTATION) != Some(tracking_id(&instance, l).as_str())
            {
                continue;
            }
            // `compare-options: IgnoreExtraneous` hides the "needs pruning" state from the app.
            let ignore_extraneous = l
                .annotation("argocd.argoproj.io/compare-options")
                .is_some_and(|v| plan::csv(v).contains(&"IgnoreExtraneous"));
            if !ignore_extraneous {
                in_sync = false;
            }
            to_prune.push(l.clone());
            resources.push(ResourceStatus {
                group: l.group().to_owned(),
                version: l.version().to_owned(),
                kind: l.kind().to_owned(),
                namespace: l.namespace().unwrap_or("").to_owned(),
                name: l.name().to_owned(),
                status: SyncStatusCode::OutOfSync,
                requires_pruning: true,
                sync_wave: plan::wave_of(l),
                ..Default::default()
            });
        }
        Ok(Comparison {
            desired,
            live,
            resources,
            to_prune,
            diffs,
            sync_status: if !comparison_errors.is_empty() {
                SyncStatusCode::Unknown
            } else if in_sync {
                SyncStatusCode::Synced
            } else {
                SyncStatusCode::OutOfSync
            },
            shared,
            errors: comparison_errors,
        })
    }

    /// Orphaned resources (spec/sync.md §5.7): top-level namespaced objects in the app's
    /// destination namespace that no application tracks, except the `default` ServiceAccount,
    /// ConfigMap `kube-root-ca.crt` and Service `kubernetes` in `default`. They never affect sync
    /// status and are never pruned; Argo CD reports them when the project enables it.
    pub async fn orphaned(&self, app: &Application, opts: &SyncOptions) -> Result<Vec<ObjectRef>, SyncError> {
        let ns = app.spec.destination.namespace();
        if ns.is_empty() {
            return Ok(Vec::new());
        }
        let query = ListQuery::all().namespace(ns);
        let objs = self.retry_call(|| self.backend.list(&query)).await?;
        Ok(objs
            .iter()
            .filter(|o| o.owner_uids().is_empty())
            .filter(|o| crate::engine::tracked_app(o, opts.tracking).is_none())
            .filter(|o| {
                let (g, k, n) = (o.group(), o.kind(), o.name());
                !(g.is_empty()
                    && ((k == "ServiceAccount" && n == "default")
                        || (k == "ConfigMap" && n == "kube-root-ca.crt")
                        || (k == "Service" && n == "kubernetes" && o.namespace() == Some("default"))))
            })
            .map(Object::object_ref)
            .collect())
    }

    /// App health from a comparison (Argo CD's aggregation over the app's managed resources).
    pub fn app_health(&self, app: &Application, cmp: &Comparison) -> AppHealthStatus {
        let self_ref = app.object_ref();
        let inputs: Vec<ResourceHealthInput<'_>> = cmp
            .desired
            .iter()
            .filter(|d| !d.name().is_empty())
            .map(|d| {
                let r = d.object_ref();
                let input = match cmp.live.get(&r) {
                    Some(l) => ResourceHealthInput::live(l),
                    None => ResourceHealthInput::missing(r.clone()),
                };
                let input = input.with_target(d);
                if r == self_ref {
                    input.own_application()
                } else {
                    input
                }
            })
            .chain(cmp.to_prune.iter().map(ResourceHealthInput::live))
            .collect();
        let agg = aggregate(&inputs, &WithAppHealth(self.health.clone()));
        AppHealthStatus {
            status: agg.health.status,
            message: agg.health.message,
            last_transition_time: Some(self.now()),
        }
    }

    /// Syncs `desired` (rendered, not yet prepared) for `app`.
    pub async fn sync(
        &self,
        app: &Application,
        desired: Vec<Object>,
        opts: &SyncOptions,
    ) -> Result<SyncResult, SyncError> {
        self.sync_with_children(app, desired, opts, None).await
    }

    /// Like [`sync`](Self::sync), calling `children` after each wave that applied child Applications.
    pub async fn sync_with_children(
        &self,
        app: &Application,
        desired: Vec<Object>,
        opts: &SyncOptions,
        children: Option<&dyn ChildApps>,
    ) -> Result<SyncResult, SyncError> {
        let prepared = self.prepare(app, desired, opts).await?;
        let state = self.new_operation(app, opts);
        self.run(app, prepared, state, opts, children, None).await
    }
}

#[cfg(test)]
mod tests;
