use std::collections::HashMap;
use std::sync::Arc;

use futures::executor::block_on;

use super::controller::{AppController, ControllerError, ReconcileOptions};
use super::*;
use crate::engine::{
    Health, RenderInput, Renderer, ResolveContext, SharedSourceTree, SourceResolver, SourceTree, TreeEntry,
    health_fn,
};
use crate::load::load_objects;
use crate::model::{ApplicationSource, ResultCode};
use crate::testing::MemoryCluster;

/// A small health check for tests (gitops-health has the real one).
fn test_health() -> SharedHealthCheck {
    Arc::new(health_fn(|o: &Object| {
        let cond = |t: &str| {
            o.pointer("/status/conditions")
                .and_then(|c| c.as_array())
                .is_some_and(|a| a.iter().any(|c| c["type"] == t && c["status"] == "True"))
        };
        Ok(match o.kind() {
            "Deployment" => {
                let want = o.pointer("/spec/replicas").and_then(|v| v.as_i64()).unwrap_or(1);
                let avail = o
                    .pointer("/status/availableReplicas")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                let observed = o
                    .pointer("/status/observedGeneration")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                Some(if observed >= o.generation() && avail >= want {
                    Health::healthy()
                } else {
                    Health::progressing("rolling out")
                })
            }
            "Job" if cond("Failed") => Some(Health::degraded("job failed")),
            "Job" if cond("Complete") => Some(Health::healthy()),
            "Job" => Some(Health::progressing("")),
            _ => None,
        })
    }))
}

fn app(yaml: &str) -> Application {
    serde_yaml::from_str(yaml).unwrap()
}

fn objs(yaml: &str) -> Vec<Object> {
    load_objects(yaml, "test.yaml")
        .unwrap()
        .into_iter()
        .map(|l| l.object)
        .collect()
}

fn syncer(c: &MemoryCluster) -> Syncer {
    let clock = c.clone();
    Syncer::new(c.clone().into_shared(), test_health())
        .with_waiter(c.ticker())
        .with_clock(Arc::new(move || clock.now()))
}

const APP: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  project: default
  source: {repoURL: ./repo, path: web}
  destination: {server: "https://kubernetes.default.svc", namespace: web}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
"#;

const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, annotations: {argocd.argoproj.io/sync-wave: "1"}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: prod}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, annotations: {argocd.argoproj.io/hook: PreSync}}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: m, image: "migrate:1"}]}
"#;

#[test]
fn first_sync_applies_in_order_and_second_is_a_no_op() {
    let c = MemoryCluster::new();
    let s = syncer(&c);
    let a = app(APP);
    let res = block_on(s.sync(&a, objs(MANIFESTS), &SyncOptions::default())).unwrap();
    assert_eq!(res.phase, OperationPhase::Succeeded, "{}", res.message);
    let order: Vec<String> = res
        .results
        .iter()
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect();
    assert_eq!(
        order,
        [
            "Namespace/web",
            "Job/migrate",
            "ConfigMap/settings",
            "Deployment/web"
        ]
    );
    assert_eq!(res.comparison.sync_status, SyncStatusCode::Synced);
    assert_eq!(res.health.status, HealthCode::Healthy, "{:?}", res.health);
    let dep = block_on(c.try_get(&ObjectRef::new("apps", "Deployment", Some("web"), "web")))
        .unwrap()
        .unwrap();
    assert_eq!(
        dep.annotation(TRACKING_ID_ANNOTATION),
        Some("web:apps/Deployment:web/web"),
        "objects carry Argo CD's tracking id"
    );

    let prepared = block_on(s.prepare(&a, objs(MANIFESTS), &SyncOptions::default())).unwrap();
    let cmp = block_on(s.compare(&a, prepared, &SyncOptions::default())).unwrap();
    assert_eq!(cmp.sync_status, SyncStatusCode::Synced);
    assert!(cmp.diffs.is_empty());
}

#[test]
fn drift_is_detected_and_resynced() {
    let c = MemoryCluster::new();
    let s = syncer(&c);
    let a = app(APP);
    block_on(s.sync(&a, objs(MANIFESTS), &SyncOptions::default())).unwrap();
    let edited = MANIFESTS.replace("mode: prod", "mode: debug");
    let prepared = block_on(s.prepare(&a, objs(&edited), &SyncOptions::default())).unwrap();
    let cmp = block_on(s.compare(&a, prepared, &SyncOptions::default())).unwrap();
    assert_eq!(cmp.sync_status, SyncStatusCode::OutOfSync);
    assert_eq!(cmp.diffs.len(), 1);
    assert_eq!(cmp.diffs[0].1[0].path, "data.mode");
    let opts = SyncOptions::default();
    let res = block_on(s.run(&a, cmp.desired, s.new_operation(&a, &opts), &opts, None, None)).unwrap();
    assert!(
        res.changes
            .iter()
            .any(|ch| ch.object.name == "settings" && ch.action == "configured")
    );
    assert_eq!(res.comparison.sync_status, SyncStatusCode::Synced);
}

#[test]
fn failing_presync_hook_stops_the_sync() {
    let c = MemoryCluster::new();
    let s = syncer(&c);
    let a = app(APP);
    let failing = MANIFESTS.replace(
        "annotations: {argocd.argoproj.io/hook: PreSync}",
        "annotations: {argocd.argoproj.io/hook: PreSync, gitops.test/fail: \"true\"}",
    );
    let res = block_on(s.sync(&a, objs(&failing), &SyncOptions::default())).unwrap();
    assert_eq!(res.phase, OperationPhase::Failed);
    assert!(res.message.contains("batch/Job web/migrate"), "{}", res.message);
    assert!(
        block_on(c.try_get(&ObjectRef::new("apps", "Deployment", Some("web"), "web")))
            .unwrap()
            .is_none()
    );
}

#[test]
fn unknown_kind_and_missing_namespace_change_nothing() {
    let c = MemoryCluster::new();
    let s = syncer(&c);
    let before = c.objects().len();
    let bad = format!("{MANIFESTS}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w}}\n");
    let err = block_on(s.sync(&app(APP), objs(&bad), &SyncOptions::default())).unwrap_err();
    assert!(
        err.to_string()
            .contains("example.com/Widget w: the cluster has no resource type"),
        "{err}"
    );
    assert_eq!(c.objects().len(), before);

    let no_ns = APP.replace(", namespace: web}", "}");
    let err = block_on(s.sync(&app(&no_ns), objs(MANIFESTS), &SyncOptions::default())).unwrap_err();
    assert!(err.to_string().contains("has no metadata.namespace"), "{err}");
    assert_eq!(c.objects().len(), before);

    // An object in a namespace that does not exist fails the dry run: nothing is applied.
    let other = format!(
        "{MANIFESTS}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: nowhere}}\n"
    );
    let res = block_on(s.sync(&app(APP), objs(&other), &SyncOptions::default())).unwrap();
    assert_eq!(res.phase, OperationPhase::Failed);
    assert!(res.message.contains("dry run"), "{}", res.message);
    assert_eq!(c.objects().len(), before);
}

#[test]
fn prune_only_when_enabled() {
    let c = MemoryCluster::new();
    let s = syncer(&c);
    let a = app(APP);
    block_on(s.sync(&a, objs(MANIFESTS), &SyncOptions::default())).unwrap();
    let without_cm: Vec<Object> = objs(MANIFESTS)
        .into_iter()
        .filter(|o| o.kind() != "ConfigMap")
        .collect();
    let res = block_on(s.sync(&a, without_cm.clone(), &SyncOptions::default())).unwrap();
    let r = res.results.iter().find(|r| r.kind == "ConfigMap").unwrap();
    assert_eq!(r.status, ResultCode::PruneSkipped);
    assert_eq!(res.comparison.sync_status, SyncStatusCode::OutOfSync);
    let res = block_on(s.sync(&a, without_cm, &SyncOptions::default().prune(true))).unwrap();
    let r = res.results.iter().find(|r| r.kind == "ConfigMap").unwrap();
    assert_eq!(r.status, ResultCode::Pruned);
    assert_eq!(res.comparison.sync_status, SyncStatusCode::Synced);
}

/// A resolver + renderer serving manifests from memory, keyed by `repoURL` + path.
#[derive(Clone, Default)]
struct MapSource(Arc<HashMap<String, String>>);

struct EmptyTree;
impl SourceTree for EmptyTree {
    fn revision(&self) -> &str {
        "abc1234567"
    }
    fn read_dir(&self, _: &str) -> Result<Vec<TreeEntry>, EngineError> {
        Ok(Vec::new())
    }
    fn read_file(&self, p: &str) -> Result<Vec<u8>, EngineError> {
        Err(EngineError::not_found(p.to_owned()))
    }
}

impl SourceResolver for MapSource {
    fn resolve(&self, _: &ApplicationSource, _: &ResolveContext) -> Result<SharedSourceTree, EngineError> {
        Ok(Arc::new(EmptyTree))
    }
}

impl Renderer for MapSource {
    fn name(&self) -> &str {
        "Map"
    }
    fn supports(&self, _: &RenderInput<'_>) -> bool {
        true
    }
    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError> {
        let text = self
            .0
            .get(input.path)
            .ok_or_else(|| EngineError::not_found(format!("no path {}", input.path)))?;
        Ok(objs(text))
    }
}

fn child_app(name: &str, path: &str, wave: i64) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd, annotations: {{argocd.argoproj.io/sync-wave: \"{wave}\"}}}}\n\
         spec:\n  project: default\n  source: {{repoURL: ./r, path: {path}}}\n  destination: {{server: \"https://kubernetes.default.svc\", namespace: {name}}}\n  syncPolicy: {{automated: {{prune: true, selfHeal: true}}, syncOptions: [CreateNamespace=true]}}\n"
    )
}

fn controller(c: &MemoryCluster, files: &[(&str, String)]) -> AppController {
    let src = MapSource(Arc::new(
        files.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
    ));
    AppController::new(syncer(c), Arc::new(src.clone()), Arc::new(src))
}

const ROOT: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: root, namespace: argocd}
spec:
  project: default
  source: {repoURL: ./r, path: apps}
  destination: {server: "https://kubernetes.default.svc", namespace: argocd}
"#;

#[test]
fn app_of_apps_syncs_children_in_wave_order_then_is_a_no_op() {
    let c = MemoryCluster::new();
    let ctl = controller(
        &c,
        &[
            (
                "apps",
                format!("{}---\n{}", child_app("db", "db", 0), child_app("api", "api", 1)),
            ),
            (
                "db",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\ndata: {a: b}\n".to_owned(),
            ),
            ("api", MANIFESTS.to_owned()),
        ],
    );
    let tree =
        block_on(ctl.load_tree(app(ROOT), ResolveContext::default(), &SyncOptions::default())).unwrap();
    assert_eq!(tree.children.len(), 2);
    let reports = block_on(ctl.reconcile(&tree, &ReconcileOptions::default())).unwrap();
    let names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["root", "db", "api"]);
    for r in &reports {
        assert_eq!(r.sync_status, SyncStatusCode::Synced, "{r:?}");
        assert_eq!(r.health.status, HealthCode::Healthy, "{r:?}");
    }
    let api = block_on(c.try_get(&ObjectRef::new(
        "argoproj.io",
        "Application",
        Some("argocd"),
        "api",
    )))
    .unwrap()
    .unwrap();
    assert_eq!(
        api.pointer("/status/sync/status").and_then(|v| v.as_str()),
        Some("Synced")
    );
    assert_eq!(
        api.pointer("/status/health/status").and_then(|v| v.as_str()),
        Some("Healthy")
    );

    let again = block_on(ctl.reconcile(&tree, &ReconcileOptions::default())).unwrap();
    assert!(
        again
            .iter()
            .all(|r| r.changes.is_empty() && r.operation.is_none()),
        "{again:?}"
    );
}

#[test]
fn child_cycles_are_refused_before_anything_is_applied() {
    let c = MemoryCluster::new();
    let root = child_app("a", "a", 0).replace("namespace: a}", "namespace: argocd}");
    let ctl = controller(
        &c,
        &[
            ("a", child_app("b", "b", 0)),
            (
                "b",
                child_app("a", "a", 0).replace("namespace: a}", "namespace: argocd}"),
            ),
        ],
    );
    let before = c.objects().len();
    let err =
        block_on(ctl.load_tree(app(&root), ResolveContext::default(), &SyncOptions::default())).unwrap_err();
    match err {
        ControllerError::InvalidTree(e) => {
            assert!(e.to_string().contains("application cycle: a -> b -> a"), "{e}")
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(c.objects().len(), before);
}

const DELETABLE: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: w0}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: w2, annotations: {argocd.argoproj.io/sync-wave: "2"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: w1, annotations: {argocd.argoproj.io/sync-wave: "1"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, annotations: {argocd.argoproj.io/sync-options: Delete=false}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced}
---
apiVersion: batch/v1
kind: Job
metadata: {name: before, annotations: {argocd.argoproj.io/hook: PreDelete}}
spec: {template: {spec: {restartPolicy: Never}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: after, annotations: {argocd.argoproj.io/hook: PostDelete}}
spec: {template: {spec: {restartPolicy: Never}}}
"#;

fn deletable_root(finalizer: Option<&str>) -> Application {
    let mut a = app(&ROOT
        .replace("path: apps", "path: del")
        .replace("namespace: argocd}\n", "namespace: del}\n"));
    a.spec.destination.namespace = Some("del".into());
    a.spec.sync_policy = Some(crate::model::SyncPolicy {
        sync_options: vec!["CreateNamespace=true".into()],
        ..Default::default()
    });
    if let Some(f) = finalizer {
        a.metadata.finalizers.push(f.to_owned());
    }
    a
}

#[test]
fn cascading_delete_runs_hooks_and_deletes_highest_waves_first() {
    let c = MemoryCluster::new();
    let ctl = controller(&c, &[("del", DELETABLE.to_owned())]);
    let a = deletable_root(Some(crate::model::RESOURCES_FINALIZER));
    let tree = block_on(ctl.load_tree(a, ResolveContext::default(), &SyncOptions::default())).unwrap();
    block_on(ctl.reconcile(&tree, &ReconcileOptions::default())).unwrap();
    assert!(
        c.object(&ObjectRef::new("", "ConfigMap", Some("del"), "w2"))
            .is_some()
    );
    let report = block_on(ctl.delete(&tree, &SyncOptions::default())).unwrap();
    assert!(report.cascade);
    let deleted: Vec<&str> = report.deleted.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(deleted, ["w2", "w1", "w0"]);
    let kept: Vec<&str> = report.kept.iter().map(|(r, _)| r.name.as_str()).collect();
    assert_eq!(kept, ["keep", "widgets.example.com"]);
    let hooks: Vec<&str> = report.hooks.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(hooks, ["before", "after"]);
    assert!(
        c.object(&ObjectRef::new("", "ConfigMap", Some("del"), "keep"))
            .is_some()
    );
    assert!(
        c.object(&ObjectRef::new(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            "widgets.example.com"
        ))
        .is_some()
    );
    assert!(
        c.object(&ObjectRef::new("batch", "Job", Some("del"), "before"))
            .is_none(),
        "hooks are cleaned up"
    );
    assert!(
        c.object(&tree.app.object_ref()).is_none(),
        "the Application is gone"
    );
}

#[test]
fn non_cascading_delete_keeps_resources() {
    let c = MemoryCluster::new();
    let ctl = controller(&c, &[("del", DELETABLE.to_owned())]);
    let tree = block_on(ctl.load_tree(
        deletable_root(None),
        ResolveContext::default(),
        &SyncOptions::default(),
    ))
    .unwrap();
    block_on(ctl.reconcile(&tree, &ReconcileOptions::default())).unwrap();
    let report = block_on(ctl.delete(&tree, &SyncOptions::default())).unwrap();
    assert!(!report.cascade && report.deleted.is_empty());
    assert!(
        c.object(&ObjectRef::new("", "ConfigMap", Some("del"), "w2"))
            .is_some()
    );
    assert!(c.object(&tree.app.object_ref()).is_none());
}

#[test]
fn cascading_delete_of_an_app_of_apps_deletes_the_children_resources() {
    let c = MemoryCluster::new();
    let child = child_app("db", "db", 0).replace(
        "metadata: {name: db, namespace: argocd,",
        "metadata: {name: db, namespace: argocd, finalizers: [resources-finalizer.argocd.argoproj.io],",
    );
    let ctl = controller(
        &c,
        &[
            ("apps", child),
            (
                "db",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\ndata: {a: b}\n".to_owned(),
            ),
        ],
    );
    let mut root = app(ROOT);
    root.metadata
        .finalizers
        .push(crate::model::RESOURCES_FINALIZER.to_owned());
    let tree = block_on(ctl.load_tree(root, ResolveContext::default(), &SyncOptions::default())).unwrap();
    block_on(ctl.reconcile(&tree, &ReconcileOptions::default())).unwrap();
    let cm = ObjectRef::new("", "ConfigMap", Some("db"), "db");
    assert!(c.object(&cm).is_some());
    let report = block_on(ctl.delete(&tree, &SyncOptions::default())).unwrap();
    assert_eq!(report.children.len(), 1);
    assert!(
        c.object(&cm).is_none(),
        "the child's resources are deleted through its finalizer"
    );
    assert!(
        c.object(&ObjectRef::new(
            "argoproj.io",
            "Application",
            Some("argocd"),
            "db"
        ))
        .is_none()
    );
}

#[test]
fn multi_source_apps_skip_ref_only_sources_and_pass_refs() {
    let c = MemoryCluster::new();
    let ctl = controller(
        &c,
        &[(
            "web",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n".to_owned(),
        )],
    );
    let a = app(r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: multi, namespace: argocd}
spec:
  project: default
  sources:
    - {repoURL: ./values-repo, ref: values}
    - {repoURL: ./r, path: web}
  destination: {server: "https://kubernetes.default.svc", namespace: multi}
  syncPolicy: {syncOptions: [CreateNamespace=true]}
"#);
    let (objs, _) = ctl.render(&a, &ResolveContext::default()).unwrap();
    assert_eq!(objs.iter().map(|o| o.name()).collect::<Vec<_>>(), ["web"]);
}
