//! The application controller: renders an Application and its child Applications (App of
//! Apps), checks the whole tree before touching the cluster, then reconciles each app — compare,
//! sync when out of sync, write `status` into the Application object — recursively.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::engine::{
    AppContext, ApplyOptions, BoxFuture, ClusterBackend, EngineError, HealthCode, RenderInput,
    ResolveContext, SharedRenderer, SharedSourceResolver,
};
use crate::model::{
    AppHealthStatus, Application, ApplicationStatus, OperationPhase, OperationState, RevisionHistory,
    SyncStatus, SyncStatusCode, is_application,
};
use crate::object::{Object, ObjectRef};

use super::exec::OperationSink;
use super::windows::{AlwaysOpen, SyncWindows};
use super::{Change, ChildApps, Comparison, SOURCE_FILE_ANNOTATION, SyncError, SyncOptions, Syncer};
use crate::diff::FieldChange;

/// One Application of a tree, rendered and checked.
#[derive(Debug, Clone)]
pub struct AppNode {
    /// The Application.
    pub app: Application,
    /// Where its relative `repoURL` is resolved from.
    pub resolve: ResolveContext,
    /// Rendered objects (not yet placed in namespaces).
    pub objects: Vec<Object>,
    /// Revision the source resolved to.
    pub revision: String,
    /// Child Applications found among `objects` (excluding the app itself), in manifest order.
    pub children: Vec<AppNode>,
}

impl AppNode {
    /// This node and all descendants, depth first.
    pub fn walk(&self) -> Vec<(usize, &AppNode)> {
        let mut out = Vec::new();
        fn go<'a>(n: &'a AppNode, depth: usize, out: &mut Vec<(usize, &'a AppNode)>) {
            out.push((depth, n));
            for c in &n.children {
                go(c, depth + 1, out);
            }
        }
        go(self, 0, &mut out);
        out
    }
}

/// What reconciling one app did.
#[derive(Debug, Clone, PartialEq)]
pub struct AppReport {
    /// Application name.
    pub name: String,
    /// Application namespace.
    pub namespace: String,
    /// Depth in the app tree (0 for the root).
    pub depth: usize,
    /// Sync status after reconciling.
    pub sync_status: SyncStatusCode,
    /// Health after reconciling.
    pub health: AppHealthStatus,
    /// Phase of the sync operation, if one ran.
    pub operation: Option<OperationPhase>,
    /// Operation message, if one ran.
    pub message: String,
    /// Drift found before syncing (out-of-sync fields per object).
    pub drift: Vec<(ObjectRef, Vec<FieldChange>)>,
    /// What changed in the cluster.
    pub changes: Vec<Change>,
}

/// Problems found while loading an app tree; nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeErrors(pub Vec<String>);

impl fmt::Display for TreeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(e)?;
        }
        Ok(())
    }
}

impl std::error::Error for TreeErrors {}

/// Errors from the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// The app tree has problems; nothing was applied.
    #[error("the application tree is not valid:\n{0}")]
    InvalidTree(TreeErrors),
    /// A sync could not start.
    #[error("sync of application {app} could not start")]
    Sync {
        /// Application name.
        app: String,
        /// Cause.
        #[source]
        source: SyncError,
    },
    /// The cluster failed.
    #[error("cluster error")]
    Cluster(#[from] EngineError),
}

/// Options for [`AppController::reconcile`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReconcileOptions {
    /// Sync options for the root app (a manual sync); child apps follow their own sync policy.
    pub sync: SyncOptions,
    /// Sync the root even when it is in sync.
    pub force: bool,
    /// Sync child apps manually too (like the root), instead of by their automated policy.
    pub force_children: bool,
}

/// What the controller does with one app.
#[derive(Debug)]
enum Decision {
    /// Run (or resume) an operation.
    Sync {
        state: Option<Box<OperationState>>,
        sopts: Box<SyncOptions>,
    },
    /// No operation; the reason is reported.
    Skip(String),
}

/// Self-heal backoff (Argo CD's defaults): 2 s, ×3, capped at 300 s; the first attempt is immediate.
fn self_heal_delay(attempts: i64) -> i64 {
    if attempts <= 0 {
        return 0;
    }
    let mut d: i64 = 2;
    for _ in 1..attempts {
        d = (d * 3).min(300);
    }
    d.min(300)
}

/// Decides whether to sync an app, following Argo CD's automated-sync rules (spec/sync.md §4).
fn decide(
    app: &Application,
    cmp: &Comparison,
    live: Option<&ApplicationStatus>,
    manual: bool,
    opts: &ReconcileOptions,
    rev: &str,
    now: i64,
) -> Decision {
    let last = live.and_then(|s| s.operation_state.as_ref());
    // An operation a previous controller left running is resumed from its persisted state.
    if let Some(op) = last.filter(|o| o.phase == OperationPhase::Running) {
        let sopts = SyncOptions {
            prune: op.operation.sync.as_ref().map(|s| s.prune),
            resources: op
                .operation
                .sync
                .as_ref()
                .map(|s| s.resources.clone())
                .unwrap_or_default(),
            retry: op.operation.retry.clone(),
            automated: op.operation.initiated_by.as_ref().is_some_and(|i| i.automated),
            ..opts.sync.clone()
        };
        return Decision::Sync {
            state: Some(Box::new(op.clone())),
            sopts: Box::new(sopts),
        };
    }
    if manual {
        if cmp.sync_status == SyncStatusCode::Synced && !opts.force {
            return Decision::Skip(String::new());
        }
        let retry = opts
            .sync
            .retry
            .clone()
            .or_else(|| app.spec.sync_policy.as_ref().and_then(|p| p.retry.clone()));
        return Decision::Sync {
            state: None,
            sopts: Box::new(SyncOptions {
                retry,
                ..opts.sync.clone()
            }),
        };
    }
    if !app.is_automated() {
        return Decision::Skip(if cmp.sync_status == SyncStatusCode::Synced {
            String::new()
        } else {
            "out of sync; automated sync is off".to_owned()
        });
    }
    if cmp.sync_status != SyncStatusCode::OutOfSync {
        return Decision::Skip(String::new());
    }
    let auto = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.clone())
        .unwrap_or_default();
    let prune = auto.prune == Some(true);
    let not_synced: Vec<&crate::model::ResourceStatus> = cmp
        .resources
        .iter()
        .filter(|r| r.status != SyncStatusCode::Synced)
        .collect();
    if !prune && !not_synced.is_empty() && not_synced.iter().all(|r| r.requires_pruning) {
        return Decision::Skip(
            "auto-sync skipped: only pruning is needed and automated prune is off".to_owned(),
        );
    }
    if prune
        && auto.allow_empty != Some(true)
        && !cmp.resources.is_empty()
        && cmp.resources.iter().all(|r| r.requires_pruning)
    {
        return Decision::Skip(
            "auto-sync refused: it would wipe out all resources (allowEmpty is off)".to_owned(),
        );
    }
    let attempted = last.is_some_and(|o| {
        o.sync_result.as_ref().is_none_or(|r| r.revision == rev)
            && o.operation.sync.as_ref().and_then(|s| s.revision.as_deref()) == Some(rev)
    });
    let retry = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.retry.clone())
        .or(Some(crate::model::RetryStrategy {
            limit: 5,
            ..Default::default()
        }));
    let base = SyncOptions {
        prune: Some(prune),
        automated: true,
        retry,
        ..opts.sync.clone()
    };
    match last {
        Some(op) if attempted && op.phase != OperationPhase::Succeeded => {
            Decision::Skip(format!("Failed last sync attempt to {rev}: {}", op.message))
        }
        Some(op) if attempted => {
            if auto.self_heal != Some(true) {
                return Decision::Skip("out of sync; self-heal is off".to_owned());
            }
            let attempts = op
                .operation
                .sync
                .as_ref()
                .and_then(|s| s.auto_heal_attempts_count)
                .unwrap_or(0);
            let since = op
                .finished_at
                .as_deref()
                .and_then(crate::time::parse_rfc3339)
                .map(|f| now - f)
                .unwrap_or(i64::MAX);
            let wait = self_heal_delay(attempts) - since;
            if wait > 0 {
                return Decision::Skip(format!("self-heal backoff: next attempt in {wait}s"));
            }
            // A self-heal is selective: only what drifted, no hooks, no history.
            let resources = not_synced
                .iter()
                .filter(|r| !r.requires_pruning || prune)
                .map(|r| crate::model::SyncOperationResource {
                    group: r.group.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    namespace: (!r.namespace.is_empty()).then(|| r.namespace.clone()),
                })
                .collect();
            Decision::Sync {
                state: None,
                sopts: Box::new(SyncOptions {
                    resources,
                    heal_attempt: Some(attempts + 1),
                    ..base
                }),
            }
        }
        _ => Decision::Sync {
            state: None,
            sopts: Box::new(base),
        },
    }
}

/// Persists the operation state into the Application's `status.operationState` after each step.
struct StatusSink<'a> {
    controller: &'a AppController,
    node: &'a AppNode,
}

impl OperationSink for StatusSink<'_> {
    fn save<'b>(&'b self, state: &'b OperationState) -> BoxFuture<'b, ()> {
        Box::pin(async move {
            let backend = self.controller.syncer.backend();
            let r = self.node.app.object_ref();
            if let Ok(Some(mut live)) = backend.try_get(&r).await {
                let mut status = live.status().cloned().unwrap_or_else(|| serde_json::json!({}));
                if let (Some(m), Ok(v)) = (status.as_object_mut(), serde_json::to_value(state)) {
                    m.insert("operationState".into(), v);
                }
                live.set_status(status);
                // Best effort: a failed write is retried at the next step.
                let _ = backend.apply(&live, &ApplyOptions::default()).await;
            }
        })
    }
}

/// Renders and reconciles Applications, including App-of-Apps trees.
#[derive(Clone)]
pub struct AppController {
    syncer: Syncer,
    resolver: SharedSourceResolver,
    renderer: SharedRenderer,
    windows: std::sync::Arc<dyn SyncWindows>,
}

impl fmt::Debug for AppController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppController")
            .field("renderer", &self.renderer.name())
            .finish_non_exhaustive()
    }
}

impl AppController {
    /// A controller syncing with `syncer`, finding sources with `resolver` and rendering with `renderer`.
    pub fn new(syncer: Syncer, resolver: SharedSourceResolver, renderer: SharedRenderer) -> Self {
        AppController {
            syncer,
            resolver,
            renderer,
            windows: std::sync::Arc::new(AlwaysOpen),
        }
    }

    /// Consults `windows` before starting any operation (AppProject sync windows).
    #[must_use]
    pub fn with_sync_windows(mut self, windows: std::sync::Arc<dyn SyncWindows>) -> Self {
        self.windows = windows;
        self
    }

    /// The syncer.
    pub fn syncer(&self) -> &Syncer {
        &self.syncer
    }

    /// Renders one Application's sources.
    pub fn render(
        &self,
        app: &Application,
        ctx: &ResolveContext,
    ) -> Result<(Vec<Object>, String), EngineError> {
        let actx = AppContext::new(
            app.metadata.name.clone(),
            app.metadata.namespace.clone().unwrap_or_default(),
            app.project(),
            app.spec.destination.namespace(),
        );
        let mut objects = Vec::new();
        let mut revision = String::new();
        let sources = app.sources();
        if sources.is_empty() {
            return Err(EngineError::invalid(
                "application has no source (spec.source or spec.sources)",
            ));
        }
        // Multi-source: `ref` sources are resolved first and passed to the others ($ref value files);
        // a source that only provides a ref (no path, no chart) renders nothing itself.
        let mut refs: Vec<(String, crate::engine::SharedSourceTree)> = Vec::new();
        if app.has_multiple_sources() {
            for source in &sources {
                if let Some(name) = source.reference.as_deref().filter(|r| !r.is_empty()) {
                    refs.push((name.to_owned(), self.resolver.resolve(source, ctx)?));
                }
            }
        }
        for source in sources {
            if source.reference.is_some() && source.path.is_none() && source.chart.is_none() {
                continue;
            }
            let tree = self.resolver.resolve(source, ctx)?;
            let path = source.normalized_path();
            let input = RenderInput::new(&actx, source, tree.as_ref(), &path).with_refs(&refs);
            objects.extend(self.renderer.render(&input)?);
            if revision.is_empty() {
                revision = tree.revision().to_owned();
            }
        }
        Ok((objects, revision))
    }

    /// Renders `app` and, recursively, every child Application in its manifests; validates every
    /// app; places every object (namespaces, known kinds). Reports all problems together, and
    /// touches nothing in the cluster. Child cycles are errors; an app that lists itself is not.
    pub async fn load_tree(
        &self,
        app: Application,
        ctx: ResolveContext,
        opts: &SyncOptions,
    ) -> Result<AppNode, ControllerError> {
        let mut errors = Vec::new();
        let mut stack = Vec::new();
        let root = self.load_node(app, ctx, &mut stack, &mut errors, opts).await?;
        if errors.is_empty() {
            Ok(root)
        } else {
            Err(ControllerError::InvalidTree(TreeErrors(errors)))
        }
    }

    fn load_node<'a>(
        &'a self,
        app: Application,
        ctx: ResolveContext,
        stack: &'a mut Vec<ObjectRef>,
        errors: &'a mut Vec<String>,
        opts: &'a SyncOptions,
    ) -> BoxFuture<'a, Result<AppNode, ControllerError>> {
        Box::pin(async move {
            let me = app.object_ref();
            let label = format!("application {}", app.metadata.name);
            let mut node = AppNode {
                app,
                resolve: ctx,
                objects: Vec::new(),
                revision: String::new(),
                children: Vec::new(),
            };
            if let Err(e) = node.app.validate() {
                for fe in e.0 {
                    errors.push(format!("{label}: {fe}"));
                }
                return Ok(node);
            }
            match self.render(&node.app, &node.resolve) {
                Ok((objs, rev)) => {
                    // A local directory has no commit: name the revision after the rendered content,
                    // so that an edit is a new revision (a sync with hooks) and not drift (self-heal).
                    node.revision = if rev == "local" {
                        content_revision(&objs)
                    } else {
                        rev
                    };
                    node.objects = objs;
                }
                Err(e) => {
                    errors.push(format!("{label}: cannot render: {e}"));
                    return Ok(node);
                }
            }
            if let Err(e) = self.syncer.prepare(&node.app, node.objects.clone(), opts).await {
                match e {
                    SyncError::Cluster(e) => return Err(ControllerError::Cluster(e)),
                    other => errors.push(format!("{label}: {other}")),
                }
            }
            stack.push(me.clone());
            let child_objs: Vec<Object> = node
                .objects
                .iter()
                .filter(|o| is_application(o))
                .cloned()
                .collect();
            for obj in child_objs {
                let mut child_ref = obj.object_ref();
                if child_ref.namespace.is_none() {
                    child_ref.namespace = node
                        .app
                        .spec
                        .destination
                        .namespace
                        .clone()
                        .filter(|n| !n.is_empty());
                }
                if child_ref == me {
                    continue; // the app manages its own Application object
                }
                if let Some(pos) = stack.iter().position(|r| *r == child_ref) {
                    let cycle: Vec<String> = stack[pos..]
                        .iter()
                        .chain(std::iter::once(&child_ref))
                        .map(|r| r.name.clone())
                        .collect();
                    errors.push(format!("{label}: application cycle: {}", cycle.join(" -> ")));
                    continue;
                }
                let mut child_obj = obj.clone();
                let source_file = child_obj.remove_annotation(SOURCE_FILE_ANNOTATION);
                let mut child = match Application::from_object(&child_obj) {
                    Ok(a) => a,
                    Err(e) => {
                        errors.push(format!("{label}: {e}"));
                        continue;
                    }
                };
                if child.metadata.namespace.is_none() {
                    child.metadata.namespace = child_ref.namespace.clone();
                }
                let child_ctx = child_context(&node, source_file.as_deref());
                let c = self.load_node(child, child_ctx, stack, errors, opts).await?;
                node.children.push(c);
            }
            stack.pop();
            // Children in the order the parent's sync creates them: by wave, then name.
            node.children.sort_by(|a, b| {
                let wave = |n: &AppNode| {
                    n.app
                        .metadata
                        .annotations
                        .get(super::plan::SYNC_WAVE_ANNOTATION)
                        .and_then(|w| w.trim().parse::<i64>().ok())
                        .unwrap_or(0)
                };
                (wave(a), &a.app.metadata.name).cmp(&(wave(b), &b.app.metadata.name))
            });
            Ok(node)
        })
    }

    /// Reconciles a loaded tree: each app is compared and, when out of sync (or `force`), synced;
    /// child apps are reconciled when the parent's wave that creates them has been applied (or,
    /// when the parent is already in sync, after it). Status is written into each Application.
    pub async fn reconcile(
        &self,
        tree: &AppNode,
        opts: &ReconcileOptions,
    ) -> Result<Vec<AppReport>, ControllerError> {
        // The root Application must exist in the cluster (as `kubectl apply -f root-app.yaml` would do).
        let ns = tree
            .app
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| opts.sync.control_namespace.clone());
        let ns_ref = ObjectRef::new("", "Namespace", None, ns.clone());
        let backend = self.syncer.backend();
        if backend.try_get(&ns_ref).await?.is_none() {
            backend
                .apply(
                    &Object::new("v1", "Namespace", None, &ns),
                    &ApplyOptions::default(),
                )
                .await?;
        }
        let mut root_app = tree.app.clone();
        root_app.metadata.namespace = Some(ns);
        root_app.status = None;
        let mut root_obj = root_app
            .to_object()
            .map_err(|e| EngineError::invalid(e.to_string()))?;
        if let Some(live) = backend.try_get(&root_obj.object_ref()).await?
            && let Some(st) = live.status()
        {
            root_obj.set_status(st.clone());
        }
        backend.apply(&root_obj, &ApplyOptions::default()).await?;
        let reports = Mutex::new(Vec::new());
        self.reconcile_node(tree, 0, opts, &reports).await?;
        Ok(reports.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    fn reconcile_node<'a>(
        &'a self,
        node: &'a AppNode,
        depth: usize,
        opts: &'a ReconcileOptions,
        reports: &'a Mutex<Vec<AppReport>>,
    ) -> BoxFuture<'a, Result<(), ControllerError>> {
        Box::pin(async move {
            let app = &node.app;
            let name = app.metadata.name.clone();
            let sync_err = |source| ControllerError::Sync {
                app: name.clone(),
                source,
            };
            let index = {
                let mut r = reports.lock().unwrap_or_else(|e| e.into_inner());
                r.push(AppReport {
                    name: name.clone(),
                    namespace: app.metadata.namespace.clone().unwrap_or_default(),
                    depth,
                    sync_status: SyncStatusCode::Unknown,
                    health: AppHealthStatus::default(),
                    operation: None,
                    message: String::new(),
                    drift: Vec::new(),
                    changes: Vec::new(),
                });
                r.len() - 1
            };
            let mut sopts = opts.sync.clone();
            sopts.revision = node.revision.clone();
            let prepared = self
                .syncer
                .prepare(app, node.objects.clone(), &sopts)
                .await
                .map_err(sync_err)?;
            let cmp = self
                .syncer
                .compare(app, prepared.clone(), &sopts)
                .await
                .map_err(sync_err)?;
            let drift = cmp.diffs.clone();
            let live_status = self.live_status(node).await?;
            let decision = decide(
                app,
                &cmp,
                live_status.as_ref(),
                depth == 0 || opts.force_children,
                opts,
                &node.revision,
                self.syncer.clock_now(),
            );
            let children = ChildReconciler {
                controller: self,
                node,
                depth,
                opts,
                reports,
            };
            let mut note = String::new();
            let (sync_status, health, op_state, changes) = match decision {
                Decision::Sync { state, sopts: extra } => {
                    let so = SyncOptions {
                        revision: node.revision.clone(),
                        ..*extra
                    };
                    let state = state
                        .map(|b| *b)
                        .unwrap_or_else(|| self.syncer.new_operation(app, &so));
                    let sink = StatusSink {
                        controller: self,
                        node,
                    };
                    let res = self
                        .syncer
                        .run(app, prepared, state, &so, Some(&children), Some(&sink))
                        .await
                        .map_err(sync_err)?;
                    (
                        res.comparison.sync_status,
                        res.health,
                        Some(res.operation_state),
                        res.changes,
                    )
                }
                Decision::Skip(reason) => {
                    note = reason;
                    for child in &node.children {
                        self.reconcile_node(child, depth + 1, opts, reports).await?;
                    }
                    // Children's status may have changed the parent's health.
                    let cmp = self
                        .syncer
                        .compare(app, cmp.desired, &sopts)
                        .await
                        .map_err(sync_err)?;
                    let health = self.syncer.app_health(app, &cmp);
                    (cmp.sync_status, health, None, Vec::new())
                }
            };
            self.write_status(node, sync_status, &health, op_state.as_ref())
                .await?;
            let mut r = reports.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rep) = r.get_mut(index) {
                rep.sync_status = sync_status;
                rep.health = health;
                rep.operation = op_state.as_ref().map(|o| o.phase);
                rep.message = op_state.as_ref().map(|o| o.message.clone()).unwrap_or(note);
                rep.drift = drift;
                rep.changes = changes;
            }
            Ok(())
        })
    }

    async fn live_status(&self, node: &AppNode) -> Result<Option<ApplicationStatus>, ControllerError> {
        let live = self.syncer.backend().try_get(&node.app.object_ref()).await?;
        Ok(live.and_then(|l| l.status().and_then(|s| serde_json::from_value(s.clone()).ok())))
    }

    async fn write_status(
        &self,
        node: &AppNode,
        sync_status: SyncStatusCode,
        health: &AppHealthStatus,
        op: Option<&crate::model::OperationState>,
    ) -> Result<(), ControllerError> {
        let backend = self.syncer.backend();
        let r = node.app.object_ref();
        let Some(live) = backend.try_get(&r).await? else {
            return Ok(());
        };
        let mut status: ApplicationStatus = live
            .status()
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default();
        let prev_health = status.health.status;
        status.sync = SyncStatus {
            status: sync_status,
            revision: Some(node.revision.clone()),
            compared_to: Some(crate::model::ComparedTo {
                source: node.app.spec.source.clone(),
                sources: node.app.spec.sources.clone(),
                destination: node.app.spec.destination.clone(),
                ignore_differences: Vec::new(),
            }),
            revisions: Vec::new(),
        };
        let mut h = health.clone();
        if prev_health == h.status {
            h.last_transition_time = status
                .health
                .last_transition_time
                .clone()
                .or(h.last_transition_time);
        }
        status.health = h;
        status.reconciled_at = Some(self.syncer.now());
        status.source_type = Some("Directory".to_owned());
        status.summary = Some(crate::model::ApplicationSummary {
            is_app_of_apps: !node.children.is_empty(),
            ..Default::default()
        });
        if let Some(op) = op {
            let selective = op
                .operation
                .sync
                .as_ref()
                .is_some_and(|s| !s.resources.is_empty() || s.dry_run);
            if op.phase == OperationPhase::Succeeded && !selective {
                let id = status.history.last().map(|h| h.id + 1).unwrap_or(0);
                status.history.push(RevisionHistory {
                    id,
                    revision: Some(node.revision.clone()),
                    source: node.app.spec.source.clone(),
                    deployed_at: op.finished_at.clone(),
                    deploy_started_at: op.started_at.clone(),
                    ..Default::default()
                });
                let limit = node.app.revision_history_limit().max(0) as usize;
                if status.history.len() > limit {
                    let excess = status.history.len() - limit;
                    status.history.drain(..excess);
                }
            }
            status.operation_state = Some(op.clone());
        }
        let mut obj = live.clone();
        obj.set_status(serde_json::to_value(&status).map_err(|e| EngineError::other(e.to_string()))?);
        backend.apply(&obj, &ApplyOptions::default()).await?;
        Ok(())
    }
}

struct ChildReconciler<'a> {
    controller: &'a AppController,
    node: &'a AppNode,
    depth: usize,
    opts: &'a ReconcileOptions,
    reports: &'a Mutex<Vec<AppReport>>,
}

impl ChildApps for ChildReconciler<'_> {
    fn reconcile_child<'b>(&'b self, child: &'b Object) -> BoxFuture<'b, Result<(), String>> {
        Box::pin(async move {
            let r = child.object_ref();
            let Some(node) = self.node.children.iter().find(|c| c.app.object_ref() == r) else {
                return Ok(());
            };
            self.controller
                .reconcile_node(node, self.depth + 1, self.opts, self.reports)
                .await
                .map_err(|e| error_chain(&e))?;
            let reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
            match reports
                .iter()
                .rev()
                .find(|rep| rep.name == node.app.metadata.name)
            {
                Some(rep) if rep.operation == Some(OperationPhase::Failed) => Err(rep.message.clone()),
                Some(rep) if rep.health.status == HealthCode::Degraded => Err(format!(
                    "application {} is Degraded: {}",
                    rep.name, rep.health.message
                )),
                _ => Ok(()),
            }
        })
    }
}

/// `local-<16 hex digits>`: a stable FNV-1a hash of the rendered objects.
fn content_revision(objs: &[Object]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for o in objs {
        for b in o.as_value().to_string().bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("local-{h:016x}")
}

/// Joins an error and its sources with `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The resolve context of a child app: the directory of the file it came from (when the renderer
/// said so and the parent's tree is on disk), else the parent's repository root, else the
/// parent's own context.
fn child_context(parent: &AppNode, source_file: Option<&str>) -> ResolveContext {
    let root: Option<PathBuf> = parent
        .app
        .sources()
        .first()
        .and_then(|s| local_repo_root(&s.repo_url, parent.resolve.base_dir.as_deref()));
    match (root, source_file) {
        (Some(root), Some(file)) => {
            let dir = Path::new(file).parent().map(|p| root.join(p)).unwrap_or(root);
            ResolveContext::with_base_dir(dir)
        }
        (Some(root), None) => ResolveContext::with_base_dir(root),
        (None, _) => parent.resolve.clone(),
    }
}

fn local_repo_root(repo_url: &str, base: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = repo_url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    if repo_url.contains("://") || repo_url.starts_with("git@") {
        return None;
    }
    let p = Path::new(repo_url);
    if p.is_absolute() {
        Some(p.to_path_buf())
    } else {
        base.map(|b| b.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Operation, ResourceStatus, SyncOperation, SyncOperationResult};

    fn app(automated: &str) -> Application {
        serde_yaml::from_str(&format!(
            "metadata: {{name: a, namespace: argocd}}\nspec:\n  project: default\n  source: {{repoURL: ./r, path: p}}\n  \
             destination: {{server: \"https://kubernetes.default.svc\", namespace: a}}\n  syncPolicy: {{{automated}}}\n"
        ))
        .unwrap()
    }

    fn cmp(statuses: &[(SyncStatusCode, bool)]) -> Comparison {
        let resources: Vec<ResourceStatus> = statuses
            .iter()
            .enumerate()
            .map(|(i, (s, prune))| ResourceStatus {
                kind: "ConfigMap".into(),
                name: format!("c{i}"),
                status: *s,
                requires_pruning: *prune,
                ..Default::default()
            })
            .collect();
        let out = resources.iter().any(|r| r.status != SyncStatusCode::Synced);
        Comparison {
            resources,
            sync_status: if out {
                SyncStatusCode::OutOfSync
            } else {
                SyncStatusCode::Synced
            },
            ..Default::default()
        }
    }

    fn last(rev: &str, phase: OperationPhase, finished: i64, heals: Option<i64>) -> ApplicationStatus {
        ApplicationStatus {
            operation_state: Some(OperationState {
                operation: Operation {
                    sync: Some(SyncOperation {
                        revision: Some(rev.into()),
                        auto_heal_attempts_count: heals,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                phase,
                message: "boom".into(),
                sync_result: Some(SyncOperationResult {
                    revision: rev.into(),
                    ..Default::default()
                }),
                started_at: Some(crate::time::rfc3339(finished - 1)),
                finished_at: Some(crate::time::rfc3339(finished)),
                retry_count: None,
            }),
            ..Default::default()
        }
    }

    fn kind(d: &Decision) -> String {
        match d {
            Decision::Sync { state: Some(_), .. } => "resume".into(),
            Decision::Sync { sopts, .. } if !sopts.resources.is_empty() => {
                format!("heal {}", sopts.resources.len())
            }
            Decision::Sync { .. } => "sync".into(),
            Decision::Skip(r) => format!("skip: {r}"),
        }
    }

    #[test]
    fn automated_sync_rules() {
        let opts = ReconcileOptions::default();
        let out = cmp(&[
            (SyncStatusCode::OutOfSync, false),
            (SyncStatusCode::Synced, false),
        ]);
        let auto = app("automated: {prune: true, selfHeal: true}");
        // Not automated: no sync.
        assert!(
            kind(&decide(
                &app("syncOptions: []"),
                &out,
                None,
                false,
                &opts,
                "r1",
                100
            ))
            .contains("automated sync is off")
        );
        // Synced apps are never auto-synced.
        assert!(
            kind(&decide(
                &auto,
                &cmp(&[(SyncStatusCode::Synced, false)]),
                None,
                false,
                &opts,
                "r1",
                100
            ))
            .starts_with("skip")
        );
        // A new revision is synced; the retry defaults to {limit: 5}.
        let d = decide(&auto, &out, None, false, &opts, "r1", 100);
        assert_eq!(kind(&d), "sync");
        if let Decision::Sync { sopts, .. } = &d {
            assert_eq!(sopts.retry.as_ref().map(|r| r.limit), Some(5));
            assert!(sopts.automated);
        }
        // A failed attempt at the same revision is not retried by auto-sync.
        let failed = last("r1", OperationPhase::Failed, 90, None);
        assert_eq!(
            kind(&decide(&auto, &out, Some(&failed), false, &opts, "r1", 100)),
            "skip: Failed last sync attempt to r1: boom"
        );
        assert_eq!(
            kind(&decide(&auto, &out, Some(&failed), false, &opts, "r2", 100)),
            "sync",
            "a new revision is tried"
        );
        // Drift after a successful sync: self-heal (selective) when on, nothing when off.
        let ok = last("r1", OperationPhase::Succeeded, 90, None);
        assert_eq!(
            kind(&decide(&auto, &out, Some(&ok), false, &opts, "r1", 100)),
            "heal 1"
        );
        let no_heal = app("automated: {prune: true}");
        assert!(
            kind(&decide(&no_heal, &out, Some(&ok), false, &opts, "r1", 100)).contains("self-heal is off")
        );
        // Self-heal backoff: 2 s after the first attempt, then 6 s.
        let healed_once = last("r1", OperationPhase::Succeeded, 99, Some(1));
        assert!(
            kind(&decide(&auto, &out, Some(&healed_once), false, &opts, "r1", 100))
                .contains("next attempt in 1s")
        );
        assert_eq!(
            kind(&decide(&auto, &out, Some(&healed_once), false, &opts, "r1", 102)),
            "heal 1"
        );
        // Only pruning needed and prune off: skip. Prune on, everything to prune, allowEmpty off: refuse.
        let prune_only = cmp(&[(SyncStatusCode::OutOfSync, true), (SyncStatusCode::Synced, false)]);
        assert!(
            kind(&decide(
                &no_heal.clone(),
                &prune_only,
                None,
                false,
                &opts,
                "r1",
                100
            ))
            .starts_with("sync")
        );
        let no_prune = app("automated: {selfHeal: true}");
        assert!(
            kind(&decide(&no_prune, &prune_only, None, false, &opts, "r1", 100)).contains("only pruning")
        );
        let all_prune = cmp(&[(SyncStatusCode::OutOfSync, true)]);
        assert!(kind(&decide(&auto, &all_prune, None, false, &opts, "r1", 100)).contains("wipe out"));
        let allow_empty = app("automated: {prune: true, allowEmpty: true}");
        assert_eq!(
            kind(&decide(&allow_empty, &all_prune, None, false, &opts, "r1", 100)),
            "sync"
        );
        // A running operation is resumed; a manual sync always runs when out of sync.
        let running = last("r1", OperationPhase::Running, 90, None);
        assert_eq!(
            kind(&decide(&auto, &out, Some(&running), false, &opts, "r1", 100)),
            "resume"
        );
        assert_eq!(
            kind(&decide(
                &app("syncOptions: []"),
                &out,
                None,
                true,
                &opts,
                "r1",
                100
            )),
            "sync"
        );
    }
}
