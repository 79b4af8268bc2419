//! Sync engine behaviour, section by section of spec/sync.md, on the simulated cluster.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use gitops_core::engine::{
    ClusterBackend, Health, HealthCode, SharedHealthCheck, TRACKING_ID_ANNOTATION, TrackingMethod, health_fn,
};
use gitops_core::load::load_objects;
use gitops_core::model::{Application, OperationPhase, ResultCode, SyncOperationResource};
use gitops_core::sync::exec::StepOutcome;
use gitops_core::sync::plan::{KIND_ORDER, plan};
use gitops_core::sync::{SyncEvent, SyncOptions, Syncer};
use gitops_core::testing::{ChaosLayer, MemoryCluster};
use gitops_core::{Object, ObjectRef, SyncStatusCode};

/// Health like Argo CD's for the kinds these tests use (gitops-health has the full set).
pub(crate) fn test_health() -> SharedHealthCheck {
    Arc::new(health_fn(|o: &Object| {
        let cond = |t: &str| {
            o.pointer("/status/conditions")
                .and_then(|c| c.as_array())
                .and_then(|a| {
                    a.iter()
                        .find(|c| c["type"] == t && c["status"] == "True")
                        .map(|c| c["message"].as_str().unwrap_or("").to_owned())
                })
        };
        Ok(match o.kind() {
            "Deployment" | "StatefulSet" => {
                let want = o.pointer("/spec/replicas").and_then(|v| v.as_i64()).unwrap_or(1);
                let ready = o
                    .pointer("/status/availableReplicas")
                    .or_else(|| o.pointer("/status/readyReplicas"))
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                Some(if ready >= want {
                    Health::healthy()
                } else {
                    Health::progressing("rolling out")
                })
            }
            "Job" => Some(match (cond("Failed"), cond("Complete")) {
                (Some(m), _) => Health::degraded(m),
                (None, Some(_)) => Health::healthy(),
                _ => Health::progressing(""),
            }),
            _ => None,
        })
    }))
}

fn objs(yaml: &str) -> Vec<Object> {
    load_objects(yaml, "test.yaml")
        .unwrap()
        .into_iter()
        .map(|l| l.object)
        .collect()
}

fn app(name: &str, extra_options: &[&str]) -> Application {
    let mut options = vec!["CreateNamespace=true"];
    options.extend_from_slice(extra_options);
    serde_yaml::from_str(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd}}\n\
         spec:\n  project: default\n  source: {{repoURL: ./r, path: p}}\n  destination: {{server: \"https://kubernetes.default.svc\", namespace: {name}}}\n  syncPolicy: {{syncOptions: [{}]}}\n",
        options.join(", ")
    ))
    .unwrap()
}

fn syncer_for<B: ClusterBackend>(backend: B, c: &MemoryCluster) -> Syncer {
    let clock = c.clone();
    Syncer::new(Arc::new(backend), test_health())
        .with_waiter(c.ticker())
        .with_clock(Arc::new(move || clock.now()))
}

/// Records the order in which tasks complete.
fn recorder(s: Syncer) -> (Syncer, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let s = s.with_progress(Arc::new(move |e: &SyncEvent| {
        if let SyncEvent::TaskDone { result, .. } = e {
            l.lock()
                .unwrap()
                .push(format!("{}/{}:{:?}", result.kind, result.name, result.status));
        }
    }));
    (s, log)
}

/// The seed article's wave example with the real annotations.
fn seed_waves(fail_migration: bool) -> Vec<Object> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seed/04-sync-waves.yaml"
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace(
            "argocd.argoproj.io/hook-sync-wave",
            "argocd.argoproj.io/sync-wave",
        )
        .replace("BeforeSyncFinished", "HookSucceeded");
    let mut o = objs(&text);
    if fail_migration {
        o[0].set_annotation("gitops.test/fail", "true");
    }
    o
}

#[test]
fn seed_wave_example_runs_in_order() {
    let c = MemoryCluster::new();
    let (s, log) = recorder(syncer_for(c.clone(), &c));
    let res = block_on(s.sync(&app("api", &[]), seed_waves(false), &SyncOptions::default())).unwrap();
    assert_eq!(res.phase, OperationPhase::Succeeded, "{}", res.message);
    let order: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !l.starts_with("Namespace"))
        .cloned()
        .collect();
    assert_eq!(
        order,
        [
            "Job/db-migrate:Synced",
            "Deployment/api:Synced",
            "Job/smoke-test:Synced"
        ]
    );
    // HookSucceeded hooks are gone after the successful sync; the Deployment stays.
    assert!(
        c.object(&ObjectRef::new("batch", "Job", Some("api"), "db-migrate"))
            .is_none()
    );
    assert!(
        c.object(&ObjectRef::new("apps", "Deployment", Some("api"), "api"))
            .is_some()
    );
    let waves: Vec<(String, i64)> = plan(&seed_waves(false), &[], false)
        .tasks()
        .map(|t| (format!("{}:{}", t.phase, t.object.name()), t.wave))
        .collect();
    assert_eq!(
        waves,
        [
            ("PreSync:db-migrate".into(), 0),
            ("Sync:api".into(), 1),
            ("PostSync:smoke-test".into(), 2)
        ]
    );
}

#[test]
fn failed_migration_never_applies_api_and_runs_syncfail_hooks() {
    let c = MemoryCluster::new();
    let (s, log) = recorder(syncer_for(c.clone(), &c));
    let mut manifests = seed_waves(true);
    manifests.extend(objs(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: notify-failure, annotations: {argocd.argoproj.io/hook: SyncFail}}\n\
         spec: {template: {spec: {restartPolicy: Never, containers: [{name: n, image: curl}]}}}\n",
    ));
    let res = block_on(s.sync(&app("api", &[]), manifests, &SyncOptions::default())).unwrap();
    assert_eq!(res.phase, OperationPhase::Failed);
    assert!(
        res.message.contains("batch/Job api/db-migrate"),
        "{}",
        res.message
    );
    assert!(
        res.message
            .contains("Job has reached the specified backoff limit"),
        "{}",
        res.message
    );
    assert!(
        c.object(&ObjectRef::new("apps", "Deployment", Some("api"), "api"))
            .is_none(),
        "api is never applied"
    );
    let log = log.lock().unwrap().clone();
    assert!(log.contains(&"Job/notify-failure:Synced".to_owned()), "{log:?}");
    assert!(
        !log.iter()
            .any(|l| l.starts_with("Deployment/") || l.contains("smoke-test")),
        "{log:?}"
    );
    let notify = res.results.iter().find(|r| r.name == "notify-failure").unwrap();
    assert_eq!(notify.hook_phase, Some(OperationPhase::Succeeded));
}

#[test]
fn all_35_kinds_in_argo_cd_order_then_unknown_kinds() {
    let mut yaml = String::new();
    for (i, kind) in KIND_ORDER.iter().rev().enumerate() {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: {kind}\nmetadata: {{name: n{i}, namespace: x}}\n"
        ));
    }
    yaml.push_str("---\napiVersion: example.com/v1\nkind: AAA\nmetadata: {name: a, namespace: x}\n");
    let p = plan(&objs(&yaml), &[], false);
    let kinds: Vec<&str> = p.tasks().map(|t| t.object.kind()).collect();
    let mut expected: Vec<&str> = KIND_ORDER.to_vec();
    expected.push("AAA");
    assert_eq!(kinds, expected);
}

#[test]
fn delete_policies() {
    let hook = |policy: &str, fail: bool| {
        let fail = if fail { ", gitops.test/fail: \"true\"" } else { "" };
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: h, annotations: {{argocd.argoproj.io/hook: PreSync, \
             argocd.argoproj.io/hook-delete-policy: {policy}{fail}}}}}\nspec: {{template: {{spec: {{restartPolicy: Never}}}}}}\n"
        )
    };
    let job = ObjectRef::new("batch", "Job", Some("d"), "h");
    // HookSucceeded: deleted at the successful end.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let r = block_on(s.sync(
        &app("d", &[]),
        objs(&hook("HookSucceeded", false)),
        &SyncOptions::default(),
    ))
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded);
    assert!(c.object(&job).is_none());
    // HookFailed: kept on success, deleted on failure.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    block_on(s.sync(
        &app("d", &[]),
        objs(&hook("HookFailed", false)),
        &SyncOptions::default(),
    ))
    .unwrap();
    assert!(c.object(&job).is_some());
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let r = block_on(s.sync(
        &app("d", &[]),
        objs(&hook("HookFailed", true)),
        &SyncOptions::default(),
    ))
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(c.object(&job).is_none());
    // BeforeHookCreation (the default): the old hook is replaced by a new one on the next sync.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let h = objs(&hook("BeforeHookCreation", false));
    block_on(s.sync(&app("d", &[]), h.clone(), &SyncOptions::default())).unwrap();
    let uid1 = c.object(&job).unwrap().uid().unwrap().to_owned();
    block_on(s.sync(&app("d", &[]), h, &SyncOptions::default())).unwrap();
    let uid2 = c.object(&job).unwrap().uid().unwrap().to_owned();
    assert_ne!(uid1, uid2, "the hook was deleted and created again");
}

const TWO_CMS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n---\n\
apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, annotations: {argocd.argoproj.io/sync-wave: \"3\"}}\ndata: {k: v}\n";

fn cm(ns: &str, name: &str) -> ObjectRef {
    ObjectRef::new("", "ConfigMap", Some(ns), name)
}

#[test]
fn sync_options() {
    // Prune=false on the resource: never pruned, stays OutOfSync.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let a = app("o", &[]);
    let mut keep = objs(TWO_CMS);
    keep[0].set_annotation("argocd.argoproj.io/sync-options", "Prune=false");
    block_on(s.sync(&a, keep, &SyncOptions::default())).unwrap();
    let r = block_on(s.sync(
        &a,
        objs(TWO_CMS)[1..].to_vec(),
        &SyncOptions::default().prune(true),
    ))
    .unwrap();
    let pa = r.results.iter().find(|x| x.name == "a").unwrap();
    assert_eq!(
        (pa.status, pa.message.as_str()),
        (ResultCode::PruneSkipped, "ignored (no prune)")
    );
    assert!(c.object(&cm("o", "a")).is_some());

    // PruneLast: the prune runs after every other Sync wave.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let a = app("o", &["PruneLast=true"]);
    block_on(s.sync(&a, objs(TWO_CMS), &SyncOptions::default())).unwrap();
    let mut next = objs(TWO_CMS)[1..].to_vec();
    next.extend(objs("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {argocd.argoproj.io/sync-wave: \"5\"}}\n"));
    let r = block_on(s.sync(&a, next, &SyncOptions::default().prune(true))).unwrap();
    let names: Vec<&str> = r.results.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"a"), "{names:?}");

    // ApplyOutOfSyncOnly: in-sync objects are not applied again.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let a = app("o", &["ApplyOutOfSyncOnly=true"]);
    block_on(s.sync(&a, objs(TWO_CMS), &SyncOptions::default())).unwrap();
    let r = block_on(s.sync(
        &a,
        objs(&TWO_CMS.replacen("{k: v}", "{k: w}", 1)),
        &SyncOptions::default(),
    ))
    .unwrap();
    let names: Vec<&str> = r.results.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["a"]);

    // PrunePropagationPolicy=orphan: the owner goes, dependents stay.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let a = app("o", &["PrunePropagationPolicy=orphan"]);
    let dep = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1, template: {spec: {containers: [{name: c, image: x}]}}}\n";
    block_on(s.sync(&a, objs(dep), &SyncOptions::default())).unwrap();
    let rs_before = c
        .objects()
        .into_iter()
        .filter(|o| o.kind() == "ReplicaSet")
        .count();
    assert_eq!(rs_before, 1);
    block_on(s.sync(&a, Vec::new(), &SyncOptions::default().prune(true))).unwrap();
    assert!(
        c.object(&ObjectRef::new("apps", "Deployment", Some("o"), "web"))
            .is_none()
    );
    assert_eq!(
        c.objects()
            .into_iter()
            .filter(|o| o.kind() == "ReplicaSet")
            .count(),
        1,
        "orphaned"
    );

    // FailOnSharedResource: an object tracked by another app fails the operation.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    block_on(s.sync(&app("o", &[]), objs(TWO_CMS), &SyncOptions::default())).unwrap();
    let mut other = app("p", &["FailOnSharedResource=true"]);
    other.spec.destination.namespace = Some("o".into());
    let r = block_on(s.sync(&other, objs(TWO_CMS), &SyncOptions::default())).unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(r.message.starts_with("Shared resource found"), "{}", r.message);

    // Replace=true: the apply replaces the object.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let mut rep = objs(TWO_CMS);
    rep[0].set_annotation("argocd.argoproj.io/sync-options", "Replace=true");
    let r = block_on(s.sync(&app("o", &[]), rep, &SyncOptions::default())).unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded);

    // SkipDryRunOnMissingResource: an unknown kind no longer fails the dry run (the apply does).
    let c = MemoryCluster::permissive();
    let s = syncer_for(c.clone(), &c);
    let r = block_on(s.sync(
        &app("o", &["SkipDryRunOnMissingResource=true"]),
        objs(TWO_CMS),
        &SyncOptions::default(),
    ))
    .unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded);
}

#[test]
fn prune_confirm_waits_for_approval() {
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let mut a = app("o", &["Prune=confirm"]);
    block_on(s.sync(&a, objs(TWO_CMS), &SyncOptions::default())).unwrap();
    let opts = SyncOptions::default().prune(true).max_wait_steps(3);
    let r = block_on(s.sync(&a, objs(TWO_CMS)[1..].to_vec(), &opts)).unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(
        r.message.contains("pruning confirmation of ConfigMap o/a"),
        "{}",
        r.message
    );
    assert!(c.object(&cm("o", "a")).is_some());
    a.metadata.annotations.insert(
        "argocd.argoproj.io/deletion-approved".into(),
        "2100-01-01T00:00:00Z".into(),
    );
    let r = block_on(s.sync(&a, objs(TWO_CMS)[1..].to_vec(), &opts)).unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert!(c.object(&cm("o", "a")).is_none());
}

#[test]
fn tracking_methods() {
    for method in [
        TrackingMethod::Annotation,
        TrackingMethod::Label,
        TrackingMethod::AnnotationAndLabel,
    ] {
        let c = MemoryCluster::new();
        let s = syncer_for(c.clone(), &c);
        let a = app("t", &[]);
        let mut opts = SyncOptions::default().prune(true);
        opts.tracking = method;
        block_on(s.sync(&a, objs(TWO_CMS), &opts)).unwrap();
        let live = c.object(&cm("t", "a")).unwrap();
        match method {
            TrackingMethod::Label => {
                assert_eq!(live.label("app.kubernetes.io/instance"), Some("t"));
                assert!(live.annotation(TRACKING_ID_ANNOTATION).is_none());
            }
            TrackingMethod::Annotation => {
                assert_eq!(live.annotation(TRACKING_ID_ANNOTATION), Some("t:/ConfigMap:t/a"));
                assert!(live.label("app.kubernetes.io/instance").is_none());
            }
            _ => {
                assert_eq!(live.annotation(TRACKING_ID_ANNOTATION), Some("t:/ConfigMap:t/a"));
                assert_eq!(live.label("app.kubernetes.io/instance"), Some("t"));
            }
        }
        let r = block_on(s.sync(&a, objs(TWO_CMS)[1..].to_vec(), &opts)).unwrap();
        assert!(
            r.results
                .iter()
                .any(|x| x.name == "a" && x.status == ResultCode::Pruned),
            "{method:?}"
        );
        assert_eq!(r.comparison.sync_status, SyncStatusCode::Synced);
    }
    // A copied tracking annotation (naming another object) does not make an object prunable.
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let a = app("t", &[]);
    block_on(s.sync(&a, objs(TWO_CMS), &SyncOptions::default())).unwrap();
    let mut copy = Object::new("v1", "ConfigMap", Some("t"), "copy");
    copy.set_annotation(TRACKING_ID_ANNOTATION, "t:/ConfigMap:t/a");
    block_on(c.apply(&copy, &Default::default())).unwrap();
    let r = block_on(s.sync(&a, objs(TWO_CMS), &SyncOptions::default().prune(true))).unwrap();
    assert!(!r.results.iter().any(|x| x.name == "copy"));
    assert!(c.object(&cm("t", "copy")).is_some());
}

#[test]
fn selective_sync_runs_only_the_named_resources_and_no_hooks() {
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let sel = vec![SyncOperationResource {
        group: "".into(),
        kind: "ConfigMap".into(),
        name: "b".into(),
        namespace: None,
    }];
    let mut m = objs(TWO_CMS);
    m.extend(seed_waves(false));
    let r = block_on(s.sync(&app("s", &[]), m, &SyncOptions::default().resources(sel))).unwrap();
    let names: Vec<&str> = r.results.iter().map(|x| x.name.as_str()).collect();
    // The destination namespace (CreateNamespace=true) and the selected object; no hooks.
    assert_eq!(names, ["s", "b"]);
    assert!(c.object(&cm("s", "a")).is_none());
}

/// A random manifest set for one app: config maps, deployments and hooks in random waves.
fn random_manifests(seed: u64) -> Vec<Object> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut yaml = String::new();
    for i in 0..(3 + next(8)) {
        let wave = next(4) as i64 - 1;
        let doc = match next(4) {
            0 | 1 => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm{i}, annotations: {{argocd.argoproj.io/sync-wave: \"{wave}\"}}}}\ndata: {{v: \"{}\"}}\n",
                next(3)
            ),
            2 => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}, annotations: {{argocd.argoproj.io/sync-wave: \"{wave}\"}}}}\nspec: {{replicas: {}, template: {{spec: {{containers: [{{name: c, image: \"i:{}\"}}]}}}}}}\n",
                1 + next(3),
                next(2)
            ),
            _ => format!(
                "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: hook{i}, annotations: {{argocd.argoproj.io/hook: {}, argocd.argoproj.io/hook-delete-policy: HookSucceeded}}}}\nspec: {{template: {{spec: {{restartPolicy: Never}}}}}}\n",
                ["PreSync", "Sync", "PostSync"][next(3) as usize]
            ),
        };
        yaml.push_str("---\n");
        yaml.push_str(&doc);
    }
    objs(&yaml)
}

#[test]
fn chaos_at_20_percent_converges() {
    let c = MemoryCluster::new();
    let chaos = ChaosLayer::new(c.clone(), 0.2, 42);
    let shared = Arc::new(chaos);
    let backend: gitops_core::engine::SharedClusterBackend = shared.clone();
    let clock = c.clone();
    let hook_creations = Arc::new(Mutex::new(Vec::<String>::new()));
    let hc = hook_creations.clone();
    let s = Syncer::new(backend, test_health())
        .with_waiter(c.ticker())
        .with_clock(Arc::new(move || clock.now()))
        .with_progress(Arc::new(move |e: &SyncEvent| {
            if let SyncEvent::TaskDone { result, .. } = e
                && result.hook_type.is_some()
                && result.message.ends_with("created")
            {
                hc.lock().unwrap().push(result.name.clone());
            }
        }));
    let retry = gitops_core::model::RetryStrategy {
        limit: 10,
        ..Default::default()
    };
    for i in 0..200u64 {
        let a = app(&format!("chaos{}", i % 20), &[]);
        let m = random_manifests(i);
        hook_creations.lock().unwrap().clear();
        let opts = SyncOptions::default().prune(true).retry(Some(retry.clone()));
        let r = block_on(s.sync(&a, m.clone(), &opts)).unwrap();
        assert_eq!(r.phase, OperationPhase::Succeeded, "sync {i}: {}", r.message);
        // Every desired object is present exactly once, and the app is Synced and Healthy.
        let plain = Syncer::new(c.clone().into_shared(), test_health());
        let prepared = block_on(plain.prepare(&a, m.clone(), &SyncOptions::default())).unwrap();
        let cmp = block_on(plain.compare(&a, prepared, &SyncOptions::default())).unwrap();
        assert_eq!(cmp.sync_status, SyncStatusCode::Synced, "sync {i}");
        assert_eq!(plain.app_health(&a, &cmp).status, HealthCode::Healthy, "sync {i}");
        // No hook ran twice within one operation (retries re-run the operation from scratch).
        let created = hook_creations.lock().unwrap().clone();
        let mut uniq = created.clone();
        uniq.sort();
        uniq.dedup();
        let attempts = r.operation_state.retry_count.unwrap_or(0) as usize + 1;
        assert!(
            created.len() <= uniq.len() * attempts,
            "sync {i}: hooks {created:?}"
        );
    }
    assert!(
        shared.injected() > 100,
        "faults were injected: {}",
        shared.injected()
    );
}

#[test]
fn an_interrupted_operation_is_resumed_by_a_fresh_engine() {
    for stop_after in 1..6 {
        let a = app("r", &[]);
        let m = seed_waves(false);
        // Uninterrupted reference run.
        let reference = MemoryCluster::new();
        let s = syncer_for(reference.clone(), &reference);
        let full = block_on(s.sync(&a, m.clone(), &SyncOptions::default())).unwrap();
        // Interrupted run: a few steps, persist the state as JSON, drop the engine.
        let c = MemoryCluster::new();
        let opts = SyncOptions::default();
        let persisted = {
            let s = syncer_for(c.clone(), &c);
            let prepared = block_on(s.prepare(&a, m.clone(), &opts)).unwrap();
            let mut state = s.new_operation(&a, &opts);
            let mut changes = Vec::new();
            for _ in 0..stop_after {
                let cmp = block_on(s.compare(&a, prepared.clone(), &opts)).unwrap();
                if block_on(s.step(&a, &cmp, &mut state, &opts, None, &mut changes)).unwrap()
                    == StepOutcome::Done
                {
                    break;
                }
                c.tick();
            }
            serde_json::to_string(&state).unwrap()
        };
        let state = serde_json::from_str(&persisted).unwrap();
        let fresh = syncer_for(c.clone(), &c);
        let prepared = block_on(fresh.prepare(&a, m.clone(), &opts)).unwrap();
        let resumed = block_on(fresh.run(&a, prepared, state, &opts, None, None)).unwrap();
        assert_eq!(resumed.phase, full.phase, "stop after {stop_after}");
        let summary = |r: &gitops_core::sync::SyncResult| {
            r.results
                .iter()
                .map(|x| format!("{}/{}:{:?}", x.kind, x.name, x.status))
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&resumed), summary(&full), "stop after {stop_after}");
        let names = |c: &MemoryCluster| {
            let mut v: Vec<String> = c.objects().iter().map(|o| o.object_ref().to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&c), names(&reference), "stop after {stop_after}");
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn manifests() -> impl Strategy<Value = Vec<Object>> {
        proptest::collection::vec((0usize..6, -3i64..4, 0usize..40, 0usize..3), 0..25).prop_map(|items| {
            let kinds = ["ConfigMap", "Secret", "Service", "ServiceAccount", "Widget", "Namespace"];
            // Namespaces are named ns0..ns2 so that the Namespace dependency edges are exercised.
            let mut yaml = String::new();
            for (i, (k, wave, name, ns)) in items.into_iter().enumerate() {
                let kind = kinds[k];
                let api = if kind == "Widget" { "example.com/v1" } else { "v1" };
                let meta_ns = if kind == "Namespace" { String::new() } else { format!(", namespace: ns{ns}") };
                let obj_name = if kind == "Namespace" { format!("ns{ns}") } else { format!("n{name}x{i}") };
                yaml.push_str(&format!(
                    "---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: {obj_name}{meta_ns}, annotations: {{argocd.argoproj.io/sync-wave: \"{wave}\"}}}}\n"
                ));
            }
            objs(&yaml)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn plans_are_deterministic_and_go_forward(desired in manifests(), live in manifests()) {
            let a = plan(&desired, &live, false);
            let mut shuffled = desired.clone();
            shuffled.reverse();
            let b = plan(&shuffled, &live, false);
            let ka: Vec<String> = a.tasks().map(|t| t.to_string()).collect();
            let kb: Vec<String> = b.tasks().map(|t| t.to_string()).collect();
            prop_assert_eq!(ka, kb);
            // Every dependency edge points forward in execution order and in (phase, wave).
            let tasks: Vec<_> = a.tasks().collect();
            for (x, y, _) in a.dependencies() {
                prop_assert!(x < y);
                prop_assert!((tasks[*x].phase, tasks[*x].wave) <= (tasks[*y].phase, tasks[*y].wave));
            }
            // Waves only move forward in (phase, wave).
            let keys: Vec<_> = a.waves.iter().map(|w| (w.phase, w.wave)).collect();
            for pair in keys.windows(2) {
                prop_assert!(pair[0] < pair[1], "{:?}", keys);
            }
            // Prune tasks run in reverse order of their live waves.
            let prune_waves: Vec<i64> = a
                .tasks()
                .filter(|t| t.action == gitops_core::sync::plan::TaskAction::Prune)
                .map(|t| gitops_core::sync::plan::wave_of(&t.object))
                .collect();
            for pair in prune_waves.windows(2) {
                prop_assert!(pair[0] >= pair[1], "{:?}", prune_waves);
            }
        }

        #[test]
        fn applying_a_plan_then_comparing_gives_synced(desired in manifests()) {
            let c = MemoryCluster::permissive();
            let s = syncer_for(c.clone(), &c);
            let a = app("p", &[]);
            // Namespaces ns0..ns2 exist, as the manifests expect.
            for ns in ["ns0", "ns1", "ns2"] {
                block_on(c.apply(&Object::new("v1", "Namespace", None, ns), &Default::default())).unwrap();
            }
            let r = block_on(s.sync(&a, desired.clone(), &SyncOptions::default())).unwrap();
            prop_assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
            let prepared = block_on(s.prepare(&a, desired, &SyncOptions::default())).unwrap();
            let cmp = block_on(s.compare(&a, prepared, &SyncOptions::default())).unwrap();
            prop_assert_eq!(cmp.sync_status, SyncStatusCode::Synced);
        }
    }
}

#[test]
fn ignore_differences_and_respect_ignore_differences() {
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let dep = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n\
               spec: {replicas: 2, template: {spec: {containers: [{name: c, image: \"x:1\"}]}}}\n";
    let mut a = app("i", &["RespectIgnoreDifferences=true"]);
    block_on(s.sync(&a, objs(dep), &SyncOptions::default())).unwrap();
    // An autoscaler changes replicas in the cluster, and someone edits the image.
    let r = ObjectRef::new("apps", "Deployment", Some("i"), "web");
    let mut live = c.object(&r).unwrap();
    let m = live.as_map_mut();
    m["spec"]["replicas"] = 5.into();
    m["spec"]["template"]["spec"]["containers"][0]["image"] = "x:hotfix".into();
    m["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    block_on(c.apply(&live, &Default::default())).unwrap();
    let compare = |a: &Application| {
        let p = block_on(s.prepare(a, objs(dep), &SyncOptions::default())).unwrap();
        block_on(s.compare(a, p, &SyncOptions::default())).unwrap()
    };
    assert_eq!(
        compare(&a).diffs[0].1.len(),
        2,
        "without rules both fields differ"
    );
    a.spec.ignore_differences = vec![gitops_core::model::ResourceIgnoreDifferences {
        group: "apps".into(),
        kind: "Deployment".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    }];
    let cmp = compare(&a);
    let paths: Vec<&str> = cmp.diffs[0].1.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["spec.template.spec.containers[0].image"]);
    // A jq expression selecting the container's image ignores the other difference too.
    a.spec.ignore_differences[0].jq_path_expressions =
        vec![".spec.template.spec.containers[] | select(.name == \"c\") | .image".into()];
    assert_eq!(compare(&a).sync_status, SyncStatusCode::Synced);
    // Syncing with RespectIgnoreDifferences keeps the live replicas (the ignored field).
    a.spec.ignore_differences[0].jq_path_expressions.clear();
    block_on(s.sync(&a, objs(dep), &SyncOptions::default())).unwrap();
    let after = c.object(&r).unwrap();
    assert_eq!(after.pointer("/spec/replicas"), Some(&5.into()));
    assert_eq!(
        after.pointer("/spec/template/spec/containers/0/image"),
        Some(&"x:1".into())
    );
}

#[test]
fn hooks_carry_the_hook_finalizer_until_complete_and_termination_stops_them() {
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let a = app("h", &[]);
    let slow = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: slow, annotations: {argocd.argoproj.io/hook: PreSync, \
                argocd.argoproj.io/hook-delete-policy: HookFailed, gitops.test/duration-ticks: \"50\"}}\n\
                spec: {template: {spec: {restartPolicy: Never}}}\n---\n\
                apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after}\n";
    let opts = SyncOptions::default();
    let prepared = block_on(s.prepare(&a, objs(slow), &opts)).unwrap();
    let mut state = s.new_operation(&a, &opts);
    let mut changes = Vec::new();
    let job = ObjectRef::new("batch", "Job", Some("h"), "slow");
    for _ in 0..4 {
        let cmp = block_on(s.compare(&a, prepared.clone(), &opts)).unwrap();
        let _ = block_on(s.step(&a, &cmp, &mut state, &opts, None, &mut changes)).unwrap();
    }
    let live = c.object(&job).unwrap();
    assert!(
        live.finalizers().contains(&"argocd.argoproj.io/hook-finalizer"),
        "running hooks keep the finalizer"
    );
    assert_eq!(state.phase, OperationPhase::Running);
    let cmp = block_on(s.compare(&a, prepared.clone(), &opts)).unwrap();
    block_on(s.terminate(&a, &cmp, &mut state, &opts)).unwrap();
    assert_eq!(
        (state.phase, state.message.as_str()),
        (OperationPhase::Failed, "Operation terminated")
    );
    assert!(
        c.object(&job).is_none(),
        "a running hook is deleted on termination"
    );
    assert!(
        c.object(&cm("h", "after")).is_none(),
        "nothing after the hook ran"
    );

    // A hook that completes loses the finalizer (HookFailed keeps the object after success).
    let quick = slow.replace("\"50\"", "\"1\"");
    let r = block_on(s.sync(&a, objs(&quick), &opts)).unwrap();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    let live = c.object(&job).unwrap();
    assert!(live.finalizers().is_empty(), "{:?}", live.finalizers());
}

#[test]
fn a_hook_that_disappears_fails_the_operation() {
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let a = app("g", &[]);
    let slow = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: slow, annotations: {argocd.argoproj.io/hook: PreSync, \
                gitops.test/duration-ticks: \"50\"}}\nspec: {template: {spec: {restartPolicy: Never}}}\n";
    let opts = SyncOptions::default();
    let prepared = block_on(s.prepare(&a, objs(slow), &opts)).unwrap();
    let mut state = s.new_operation(&a, &opts);
    let mut changes = Vec::new();
    for _ in 0..3 {
        let cmp = block_on(s.compare(&a, prepared.clone(), &opts)).unwrap();
        block_on(s.step(&a, &cmp, &mut state, &opts, None, &mut changes)).unwrap();
    }
    // Someone removes the hook for good (finalizer and all).
    let job = ObjectRef::new("batch", "Job", Some("g"), "slow");
    c.remove_finalizer(&job, "argocd.argoproj.io/hook-finalizer")
        .unwrap();
    block_on(c.delete(&job, &Default::default())).unwrap();
    let r = block_on(s.run(&a, prepared, state, &opts, None, None)).unwrap();
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(
        r.message.contains("is missing, it might have been deleted"),
        "{}",
        r.message
    );
}

#[test]
fn managed_namespace_metadata_and_orphans() {
    let c = MemoryCluster::new();
    let s = syncer_for(c.clone(), &c);
    let mut a = app("m", &[]);
    a.spec.sync_policy.as_mut().unwrap().managed_namespace_metadata =
        Some(gitops_core::model::ManagedNamespaceMetadata {
            labels: [("team".to_owned(), "payments".to_owned())].into(),
            annotations: Default::default(),
        });
    block_on(s.sync(&a, objs(TWO_CMS), &SyncOptions::default())).unwrap();
    let ns = c.object(&ObjectRef::new("", "Namespace", None, "m")).unwrap();
    assert_eq!(ns.label("team"), Some("payments"));
    assert!(
        ns.annotation(TRACKING_ID_ANNOTATION).is_none(),
        "the generated namespace is not tracked"
    );
    // An object nobody tracks in the destination namespace is orphaned.
    block_on(c.apply(
        &Object::new("v1", "ConfigMap", Some("m"), "stray"),
        &Default::default(),
    ))
    .unwrap();
    block_on(c.apply(
        &Object::new("v1", "ServiceAccount", Some("m"), "default"),
        &Default::default(),
    ))
    .unwrap();
    let orphans = block_on(s.orphaned(&a, &SyncOptions::default())).unwrap();
    assert_eq!(orphans, [cm("m", "stray")]);
}
