//! The application controller: renders an Application and its child Applications (App of
//! Apps), checks the whole tree before touching the cluster, then reconciles each app — compare,
//! sync when out of sync, write `status` into the Application object — recursively.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::engine::{
    AppContext, ApplyOptions, BoxFuture, ClusterBackend, EngineError, HealthCode, RenderInput,
    ResolveContext, SharedRenderer, SharedSourceResolver,
};
use crate::model::{
    AppHealthStatus, Application, ApplicationStatus, OperationPhase, RevisionHistory, SyncStatus,
    SyncStatusCode, is_application,
};
use crate::object::{Object, ObjectRef};

use super::compare::FieldDiff;
use super::{Change, ChildApps, SOURCE_FILE_ANNOTATION, SyncError, SyncOptions, Syncer};

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
    pub drift: Vec<(ObjectRef, Vec<FieldDiff>)>,
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
    /// Sync options.
    pub sync: SyncOptions,
    /// Sync even when the app is in sync.
    pub force: bool,
}

/// Renders and reconciles Applications, including App-of-Apps trees.
#[derive(Clone)]
pub struct AppController {
    syncer: Syncer,
    resolver: SharedSourceResolver,
    renderer: SharedRenderer,
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
        }
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
        for source in sources {
            let tree = self.resolver.resolve(source, ctx)?;
            let path = source.normalized_path();
            let input = RenderInput::new(&actx, source, tree.as_ref(), &path);
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
                    node.objects = objs;
                    node.revision = rev;
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
        if let Some(live) = backend.try_get(&root_obj.object_ref()).await? {
            if let Some(st) = live.status() {
                root_obj.set_status(st.clone());
            }
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
                .compare(app, prepared, &sopts)
                .await
                .map_err(sync_err)?;
            let drift = cmp.diffs.clone();
            let children = ChildReconciler {
                controller: self,
                node,
                depth,
                opts,
                reports,
            };
            let (sync_status, health, op_state, changes) =
                if cmp.sync_status != SyncStatusCode::Synced || opts.force {
                    let res = self
                        .syncer
                        .run(app, cmp, &sopts, Some(&children))
                        .await
                        .map_err(sync_err)?;
                    (
                        res.comparison.sync_status,
                        res.health,
                        Some(res.operation_state),
                        res.changes,
                    )
                } else {
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
                };
            self.write_status(node, sync_status, &health, op_state.as_ref())
                .await?;
            let mut r = reports.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rep) = r.get_mut(index) {
                rep.sync_status = sync_status;
                rep.health = health;
                rep.operation = op_state.as_ref().map(|o| o.phase);
                rep.message = op_state.as_ref().map(|o| o.message.clone()).unwrap_or_default();
                rep.drift = drift;
                rep.changes = changes;
            }
            Ok(())
        })
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
            if op.phase == OperationPhase::Succeeded {
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

/// Groups reports by app for printing: `(name, report)` in tree order.
pub fn reports_by_name(reports: &[AppReport]) -> BTreeMap<&str, &AppReport> {
    reports.iter().map(|r| (r.name.as_str(), r)).collect()
}
