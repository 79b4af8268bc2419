//! Comparing and syncing an application: [`Syncer`] plans the desired objects into phases and
//! waves ([`plan`]), dry-runs every apply first so a bad manifest changes nothing, then applies
//! wave by wave, waits for each wave to be healthy, runs hooks, prunes, and reports per-resource
//! results and the app's sync and health status. [`controller::AppController`] drives whole
//! app-of-apps trees.
//!
//! Waiting is delegated to a [`Waiter`]: against the simulated cluster it advances the simulated
//! clock one tick (`MemoryCluster::ticker()`); against a real cluster it sleeps.

pub mod compare;
pub mod controller;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::engine::{
    ApplyOptions, ApplyOutcome, BoxFuture, ClusterBackend, DeleteOptions, EngineError, ErrorKind, HealthCode,
    INSTANCE_LABEL, ListQuery, Propagation, Scope, SharedClusterBackend, SharedHealthCheck,
    TRACKING_ID_ANNOTATION, TrackingMethod,
};
use crate::model::{
    AppHealthStatus, Application, OperationPhase, OperationState, ResourceHealth, ResourceResult,
    ResourceStatus, ResultCode, SyncOperation, SyncOperationResult, SyncPhase, SyncStatusCode,
    is_application,
};
use crate::object::{GroupKind, Object, ObjectRef};

use crate::health::aggregate::{ResourceHealthInput, aggregate};
use crate::health::{WithAppHealth, resource_health};
use compare::FieldDiff;
use plan::{DeletePolicy, HookRole, SyncPlan, Task, TaskAction, delete_policies, hook_role};

/// Annotation a renderer may set to say which repository file an object came from. The sync
/// engine removes it before applying (it is never stored in the cluster).
pub const SOURCE_FILE_ANNOTATION: &str = "gitops.rs/source-file";

/// Waits between sync steps (until the next wave may be healthy).
pub trait Waiter: Send + Sync + 'static {
    /// Waits one step.
    fn wait(&self) -> BoxFuture<'_, ()>;
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
}

/// Something the sync did to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// `created`, `configured`, `pruned`, `hook created`, `hook deleted`.
    pub action: String,
    /// What differed before the change (for `configured`).
    pub diff: Vec<FieldDiff>,
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
#[derive(Debug, Clone, PartialEq)]
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
    pub diffs: Vec<(ObjectRef, Vec<FieldDiff>)>,
    /// The app's sync status.
    pub sync_status: SyncStatusCode,
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

fn kubectl_name(o: &ObjectRef) -> String {
    let kind = o.kind.to_lowercase();
    if o.group.is_empty() {
        format!("{kind}/{}", o.name)
    } else {
        format!("{kind}.{}/{}", o.group, o.name)
    }
}

fn result_for(
    obj: &Object,
    status: ResultCode,
    message: String,
    phase: SyncPhase,
    hook: bool,
) -> ResourceResult {
    ResourceResult {
        group: obj.group().to_owned(),
        version: obj.version().to_owned(),
        kind: obj.kind().to_owned(),
        namespace: obj.namespace().unwrap_or("").to_owned(),
        name: obj.name().to_owned(),
        status,
        message,
        hook_type: hook.then_some(phase),
        hook_phase: Some(match status {
            ResultCode::SyncFailed => OperationPhase::Failed,
            _ => OperationPhase::Succeeded,
        }),
        sync_phase: Some(phase),
        images: Vec::new(),
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
        let tracked = self
            .backend
            .list(&ListQuery::all().tracked_by(instance.clone(), opts.tracking))
            .await?;
        let mut live: BTreeMap<ObjectRef, Object> = BTreeMap::new();
        for o in tracked {
            live.insert(o.object_ref(), o);
        }
        let mut resources = Vec::new();
        let mut diffs = Vec::new();
        let mut desired_refs = BTreeSet::new();
        let mut in_sync = true;
        for d in &desired {
            let r = d.object_ref();
            let is_hook = matches!(hook_role(d), HookRole::Hook(_));
            if !d.name().is_empty() {
                desired_refs.insert(r.clone());
            }
            if is_hook {
                continue;
            }
            if !live.contains_key(&r) {
                if let Some(o) = self.backend.try_get(&r).await? {
                    live.insert(r.clone(), o);
                }
            }
            let l = live.get(&r);
            let status = match l {
                Some(l) => {
                    let d2 = compare::diff(d, l);
                    if d2.is_empty() {
                        SyncStatusCode::Synced
                    } else {
                        diffs.push((r.clone(), d2));
                        SyncStatusCode::OutOfSync
                    }
                }
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
            // Only objects this app tracks are pruned (not untracked objects found by name).
            if crate::engine::tracked_app(l, opts.tracking) != Some(instance.as_str()) {
                continue;
            }
            in_sync = false;
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
            sync_status: if in_sync {
                SyncStatusCode::Synced
            } else {
                SyncStatusCode::OutOfSync
            },
        })
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
        let cmp = self.compare(app, prepared, opts).await?;
        self.run(app, cmp, opts, children).await
    }

    /// Runs a sync operation from an existing comparison.
    pub async fn run(
        &self,
        app: &Application,
        cmp: Comparison,
        opts: &SyncOptions,
        children: Option<&dyn ChildApps>,
    ) -> Result<SyncResult, SyncError> {
        let started_at = self.now();
        let started_unix = (self.clock)();
        let name = app.metadata.name.clone();
        let prune_enabled = opts.prune.unwrap_or_else(|| {
            app.spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.automated.as_ref())
                .and_then(|a| a.prune)
                == Some(true)
        });
        let propagation = app
            .sync_options()
            .iter()
            .find_map(|o| o.strip_prefix("PrunePropagationPolicy="))
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "background" => Propagation::Background,
                "orphan" => Propagation::Orphan,
                _ => Propagation::Foreground,
            })
            .unwrap_or_default();

        let mut desired = cmp.desired.clone();
        // Hooks with only generateName get a deterministic name per operation.
        let rev = &opts.revision;
        let rev_part = if rev.len() >= 8 { &rev[..7] } else { rev.as_str() };
        // CreateNamespace=true: add the destination namespace unless a manifest defines it.
        let dest_ns = app.spec.destination.namespace().to_owned();
        if app.has_sync_option("CreateNamespace", "true")
            && !dest_ns.is_empty()
            && !desired
                .iter()
                .any(|o| o.group().is_empty() && o.kind() == "Namespace" && o.name() == dest_ns)
            && self
                .backend
                .try_get(&ObjectRef::new("", "Namespace", None, dest_ns.clone()))
                .await?
                .is_none()
        {
            let mut ns = Object::new("v1", "Namespace", None, &dest_ns);
            if let Some(m) = app
                .spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.managed_namespace_metadata.as_ref())
            {
                for (k, v) in &m.labels {
                    ns.set_label(k, v);
                }
                for (k, v) in &m.annotations {
                    ns.set_annotation(k, v);
                }
            }
            // Not tracked, so never pruned (as in Argo CD); the planner moves it before the first
            // task in that namespace.
            desired.insert(0, ns);
        }

        let prune_last = app.has_sync_option("PruneLast", "true");
        let mut plan = plan::plan(&desired, &cmp.to_prune, prune_last);
        for w in &mut plan.waves {
            for t in &mut w.tasks {
                if t.hook && t.object.name().is_empty() {
                    let prefix = t.object.generate_name().unwrap_or("hook-").to_owned();
                    let n = format!(
                        "{prefix}{}",
                        format!("{rev_part}-{}-{started_unix}", t.phase).to_lowercase()
                    );
                    t.object.set_name(&n);
                }
            }
        }
        let mut results: Vec<ResourceResult> = Vec::new();
        let mut changes: Vec<Change> = Vec::new();
        let diffs: BTreeMap<ObjectRef, Vec<FieldDiff>> = cmp.diffs.iter().cloned().collect();

        // Step 1: dry-run every apply, so a bad manifest fails the operation before anything changes.
        let failures = self.dry_run_plan(&plan).await;
        if !failures.is_empty() {
            let mut msgs = Vec::new();
            for (t, e) in &failures {
                msgs.push(format!("{}: {e}", t.object.object_ref()));
                results.push(result_for(
                    &t.object,
                    ResultCode::SyncFailed,
                    e.to_string(),
                    t.phase,
                    t.hook,
                ));
            }
            let message = format!(
                "one or more objects failed to apply (dry run): {}",
                msgs.join("; ")
            );
            return self
                .finish(
                    app,
                    cmp,
                    opts,
                    OperationPhase::Failed,
                    message,
                    results,
                    changes,
                    started_at,
                    false,
                )
                .await;
        }
        if opts.dry_run {
            for t in plan.tasks() {
                let (code, msg) = match t.action {
                    TaskAction::Apply => (
                        ResultCode::Synced,
                        format!("{} configured (dry run)", kubectl_name(&t.object_ref())),
                    ),
                    TaskAction::Prune => (ResultCode::Pruned, "pruned (dry run)".to_owned()),
                };
                results.push(result_for(&t.object, code, msg, t.phase, t.hook));
            }
            return self
                .finish(
                    app,
                    cmp,
                    opts,
                    OperationPhase::Succeeded,
                    "successfully synced (dry run)".into(),
                    results,
                    changes,
                    started_at,
                    false,
                )
                .await;
        }

        let multi_step = plan.is_multi_step();
        let mut failed: Option<String> = None;
        let mut hooks_run: Vec<Task> = Vec::new();
        let sync_waves: Vec<&plan::Wave> = plan
            .waves
            .iter()
            .filter(|w| w.phase != SyncPhase::SyncFail)
            .collect();
        let last_index = sync_waves.len().saturating_sub(1);
        for (wi, wave) in sync_waves.iter().enumerate() {
            self.emit(SyncEvent::WaveStarted {
                app: name.clone(),
                phase: wave.phase,
                wave: wave.wave,
                tasks: wave.tasks.iter().map(|t| t.to_string()).collect(),
            });
            let mut applied_apps: Vec<Object> = Vec::new();
            let mut waiting_on: Vec<Task> = Vec::new();
            for t in &wave.tasks {
                let res = match t.action {
                    TaskAction::Prune => self.prune_task(t, prune_enabled, propagation, &mut changes).await,
                    TaskAction::Apply => {
                        let r = self.apply_task(t, &diffs, propagation, &mut changes).await;
                        if let (ResultCode::Synced, Some(live)) = (&r.0.status, &r.1) {
                            if is_application(live) && !t.hook {
                                applied_apps.push(live.clone());
                            }
                        }
                        if r.0.status == ResultCode::Synced {
                            waiting_on.push(t.clone());
                            if t.hook {
                                hooks_run.push(t.clone());
                            }
                        }
                        r
                    }
                };
                self.emit(SyncEvent::TaskDone {
                    app: name.clone(),
                    result: res.0.clone(),
                });
                if res.0.status == ResultCode::SyncFailed && failed.is_none() {
                    failed = Some(format!("{}: {}", t.object.object_ref(), res.0.message));
                }
                results.push(res.0);
            }
            if failed.is_some() {
                break;
            }
            if let Some(ch) = children {
                for child in &applied_apps {
                    if child.object_ref() == app.object_ref() {
                        continue; // an app that manages itself
                    }
                    if let Err(e) = ch.reconcile_child(child).await {
                        failed = Some(format!("{}: child application failed: {e}", child.object_ref()));
                        if let Some(r) = results
                            .iter_mut()
                            .rev()
                            .find(|r| r.kind == "Application" && r.name == child.name())
                        {
                            r.status = ResultCode::SyncFailed;
                            r.hook_phase = Some(OperationPhase::Failed);
                            r.message = format!("child application failed: {e}");
                        }
                        break;
                    }
                }
            }
            if failed.is_some() {
                break;
            }
            // Wave gate: in a multi-step sync every task must be healthy (or have no health
            // check) before the next wave; hooks are always waited for. The last wave without
            // hooks is not waited on (Argo CD's rule; final health is awaited separately).
            let must_wait = wave.has_hooks() || (multi_step && wi < last_index);
            if must_wait {
                if let Err(msg) = self
                    .wait_wave(&name, &waiting_on, opts, wi == last_index || wave.has_hooks())
                    .await
                {
                    failed = Some(msg);
                    break;
                }
            }
        }

        let phase;
        let message;
        if let Some(msg) = failed {
            // SyncFail hooks, then HookFailed deletions.
            for wave in plan.waves.iter().filter(|w| w.phase == SyncPhase::SyncFail) {
                let mut waiting = Vec::new();
                for t in &wave.tasks {
                    let r = self.apply_task(t, &diffs, propagation, &mut changes).await;
                    if r.0.status == ResultCode::Synced {
                        waiting.push(t.clone());
                        hooks_run.push(t.clone());
                    }
                    results.push(r.0);
                }
                let _ = self.wait_wave(&name, &waiting, opts, true).await;
            }
            self.delete_hooks(&hooks_run, DeletePolicy::HookFailed, propagation, &mut changes)
                .await;
            phase = OperationPhase::Failed;
            message = format!("one or more objects failed to sync: {msg}");
        } else {
            self.delete_hooks(&hooks_run, DeletePolicy::HookSucceeded, propagation, &mut changes)
                .await;
            phase = OperationPhase::Succeeded;
            message = "successfully synced (all tasks run)".to_owned();
        }
        self.finish(
            app,
            cmp,
            opts,
            phase,
            message,
            results,
            changes,
            started_at,
            phase == OperationPhase::Succeeded,
        )
        .await
    }

    async fn dry_run_plan(&self, plan: &SyncPlan) -> Vec<(Task, EngineError)> {
        let mut created_ns = BTreeSet::new();
        let mut created_kinds = BTreeSet::new();
        for t in plan.tasks().filter(|t| t.action == TaskAction::Apply) {
            if t.object.group().is_empty() && t.object.kind() == "Namespace" {
                created_ns.insert(t.object.name().to_owned());
            }
            if t.object.kind() == "CustomResourceDefinition" {
                let g = t
                    .object
                    .pointer("/spec/group")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                let k = t
                    .object
                    .pointer("/spec/names/kind")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                created_kinds.insert(GroupKind::new(g, k));
            }
        }
        let mut failures = Vec::new();
        let dry = ApplyOptions::default().dry_run(true);
        for t in plan.tasks().filter(|t| t.action == TaskAction::Apply) {
            if created_kinds.contains(&t.object.group_kind()) {
                continue; // SkipDryRunOnMissingResource happens automatically when the CRD is in the sync
            }
            if let Err(e) = self.backend.apply(&t.object, &dry).await {
                let ns_pending = e.kind() == ErrorKind::NotFound
                    && t.object.namespace().is_some_and(|ns| created_ns.contains(ns));
                if !ns_pending {
                    failures.push((t.clone(), e));
                }
            }
        }
        failures
    }

    async fn prune_task(
        &self,
        t: &Task,
        prune_enabled: bool,
        propagation: Propagation,
        changes: &mut Vec<Change>,
    ) -> (ResourceResult, Option<Object>) {
        let opts_anno = t.object.annotation(plan::SYNC_OPTIONS_ANNOTATION).unwrap_or("");
        if plan::csv(opts_anno).contains(&"Prune=false") {
            return (
                result_for(
                    &t.object,
                    ResultCode::PruneSkipped,
                    "ignored (no prune)".into(),
                    t.phase,
                    false,
                ),
                None,
            );
        }
        if !prune_enabled {
            return (
                result_for(
                    &t.object,
                    ResultCode::PruneSkipped,
                    "ignored (requires pruning)".into(),
                    t.phase,
                    false,
                ),
                None,
            );
        }
        let r = t.object.object_ref();
        match self
            .backend
            .delete(&r, &DeleteOptions::default().propagation(propagation))
            .await
        {
            Ok(_) => {
                changes.push(Change {
                    object: r,
                    action: "pruned".into(),
                    diff: Vec::new(),
                });
                (
                    result_for(&t.object, ResultCode::Pruned, "pruned".into(), t.phase, false),
                    None,
                )
            }
            Err(e) if e.kind() == ErrorKind::NotFound => (
                result_for(&t.object, ResultCode::Pruned, "pruned".into(), t.phase, false),
                None,
            ),
            Err(e) => (
                result_for(&t.object, ResultCode::SyncFailed, e.to_string(), t.phase, false),
                None,
            ),
        }
    }

    async fn apply_task(
        &self,
        t: &Task,
        diffs: &BTreeMap<ObjectRef, Vec<FieldDiff>>,
        propagation: Propagation,
        changes: &mut Vec<Change>,
    ) -> (ResourceResult, Option<Object>) {
        let r = t.object.object_ref();
        let obj = t.object.clone();
        if t.hook {
            let policies = delete_policies(&obj);
            if policies.contains(&DeletePolicy::BeforeHookCreation) {
                if let Ok(Some(_)) = self.backend.try_get(&r).await {
                    match self
                        .backend
                        .delete(&r, &DeleteOptions::default().propagation(propagation))
                        .await
                    {
                        Ok(_) => changes.push(Change {
                            object: r.clone(),
                            action: "hook deleted".into(),
                            diff: Vec::new(),
                        }),
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => {
                            return (
                                result_for(&obj, ResultCode::SyncFailed, e.to_string(), t.phase, true),
                                None,
                            );
                        }
                    }
                }
            }
        }
        let sync_opts: Vec<&str> = obj
            .annotation(plan::SYNC_OPTIONS_ANNOTATION)
            .map(plan::csv)
            .unwrap_or_default();
        let opts = ApplyOptions::default()
            .replace(sync_opts.contains(&"Replace=true"))
            .force(sync_opts.contains(&"Force=true"))
            .server_side(sync_opts.contains(&"ServerSideApply=true"));
        let mut attempt = 0;
        loop {
            match self.backend.apply(&obj, &opts).await {
                Ok(applied) => {
                    let msg = format!("{} {}", kubectl_name(&r), applied.outcome.as_str());
                    if applied.outcome != ApplyOutcome::Unchanged {
                        changes.push(Change {
                            object: r.clone(),
                            action: if t.hook {
                                format!("hook {}", applied.outcome.as_str())
                            } else {
                                applied.outcome.as_str().to_owned()
                            },
                            diff: diffs.get(&r).cloned().unwrap_or_default(),
                        });
                    }
                    return (
                        result_for(&obj, ResultCode::Synced, msg, t.phase, t.hook),
                        Some(applied.object),
                    );
                }
                Err(e) if e.is_retryable() && attempt < 3 => {
                    attempt += 1;
                    self.waiter.wait().await;
                }
                Err(e) => {
                    return (
                        result_for(&obj, ResultCode::SyncFailed, e.to_string(), t.phase, t.hook),
                        None,
                    );
                }
            }
        }
    }

    /// Waits until every task of a wave is done: hooks completed, resources healthy or without
    /// a health check. Fails on Degraded, on a hook that disappeared, or after `max_wait_steps`.
    async fn wait_wave(
        &self,
        app: &str,
        tasks: &[Task],
        opts: &SyncOptions,
        hooks_only: bool,
    ) -> Result<(), String> {
        let mut steps = 0u32;
        loop {
            let mut pending: Vec<String> = Vec::new();
            for t in tasks {
                if hooks_only && !t.hook {
                    continue;
                }
                let r = t.object.object_ref();
                let live = match self.backend.try_get(&r).await {
                    Ok(l) => l,
                    Err(e) if e.is_retryable() => {
                        pending.push(format!("{r} (cluster: {e})"));
                        continue;
                    }
                    Err(e) => return Err(format!("{r}: {e}")),
                };
                let Some(live) = live else {
                    if t.hook {
                        return Err(format!("{r}: hook is missing, it might have been deleted"));
                    }
                    pending.push(format!("{r} (missing)"));
                    continue;
                };
                match resource_health(self.health.as_ref(), &live) {
                    None => {}
                    Some(h) => match h.status {
                        HealthCode::Healthy => {}
                        HealthCode::Degraded | HealthCode::Unknown
                            if t.hook || h.status == HealthCode::Degraded =>
                        {
                            let what = if t.hook {
                                "hook failed"
                            } else {
                                "resource is degraded"
                            };
                            let msg = if h.message.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", h.message)
                            };
                            return Err(format!("{r}: {what}{msg}"));
                        }
                        _ => pending.push(if h.message.is_empty() {
                            format!("{r} ({})", h.status)
                        } else {
                            format!("{r} ({}: {})", h.status, h.message)
                        }),
                    },
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if steps >= opts.max_wait_steps {
                return Err(format!(
                    "timed out after {steps} steps waiting for {}",
                    pending.join(", ")
                ));
            }
            if steps == 0 {
                self.emit(SyncEvent::Waiting {
                    app: app.to_owned(),
                    reason: pending.join(", "),
                });
            }
            steps += 1;
            self.waiter.wait().await;
        }
    }

    async fn delete_hooks(
        &self,
        hooks: &[Task],
        policy: DeletePolicy,
        propagation: Propagation,
        changes: &mut Vec<Change>,
    ) {
        let mut done = BTreeSet::new();
        for t in hooks {
            let r = t.object.object_ref();
            if !delete_policies(&t.object).contains(&policy) || !done.insert(r.clone()) {
                continue;
            }
            if self
                .backend
                .delete(&r, &DeleteOptions::default().propagation(propagation))
                .await
                .is_ok()
            {
                changes.push(Change {
                    object: r,
                    action: "hook deleted".into(),
                    diff: Vec::new(),
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        app: &Application,
        cmp: Comparison,
        opts: &SyncOptions,
        phase: OperationPhase,
        message: String,
        results: Vec<ResourceResult>,
        changes: Vec<Change>,
        started_at: String,
        wait_health: bool,
    ) -> Result<SyncResult, SyncError> {
        let desired = cmp.desired;
        let mut cmp = self.compare(app, desired, opts).await?;
        let mut health = self.app_health(app, &cmp);
        if wait_health && opts.wait_for_health {
            let mut steps = 0;
            while health.status == HealthCode::Progressing && steps < opts.max_wait_steps {
                if steps == 0 {
                    self.emit(SyncEvent::Waiting {
                        app: app.metadata.name.clone(),
                        reason: format!("health: {}", health.message),
                    });
                }
                self.waiter.wait().await;
                steps += 1;
                cmp = self.compare(app, cmp.desired, opts).await?;
                health = self.app_health(app, &cmp);
            }
        }
        let operation_state = OperationState {
            operation: crate::model::Operation {
                sync: Some(SyncOperation {
                    revision: Some(opts.revision.clone()),
                    prune: opts.prune.unwrap_or(false),
                    dry_run: opts.dry_run,
                    ..Default::default()
                }),
                ..Default::default()
            },
            phase,
            message: message.clone(),
            sync_result: Some(SyncOperationResult {
                resources: results.clone(),
                revision: opts.revision.clone(),
                source: app.spec.source.clone(),
                ..Default::default()
            }),
            started_at: Some(started_at),
            finished_at: Some(self.now()),
            retry_count: None,
        };
        Ok(SyncResult {
            phase,
            message,
            results,
            changes,
            comparison: cmp,
            health,
            operation_state,
        })
    }
}

#[cfg(test)]
mod tests;
