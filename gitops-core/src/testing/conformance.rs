//! The [`ClusterBackend`] conformance suite: behaviour every backend must show.
//!
//! Run the whole suite with [`cluster_backend`], giving it a function that returns a fresh, empty
//! backend (one per check), or run single checks, each a `pub async fn` taking a backend. A check
//! panics with a message naming the violated rule, so the suite is meant for tests:
//!
//! ```
//! use gitops_core::testing::{conformance, MemoryCluster};
//! futures::executor::block_on(conformance::cluster_backend(MemoryCluster::new));
//! ```
//!
//! The checks create the namespaces they use (applying a `Namespace`), all named `conformance-…`.
//! Checks of optional features (dry-run, propagation, watch) are skipped when the backend's
//! [`Capabilities`](crate::engine::Capabilities) say it lacks them. Garbage collection may be
//! asynchronous: checks that wait for it poll the backend a bounded number of times, yielding between
//! attempts (no timer, so they run on any executor).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::{Value, json};

use crate::engine::{
    ApplyOptions, ApplyOutcome, ClusterBackend, ClusterBackendExt, DeleteOptions, DeleteOutcome, EngineError,
    ErrorKind, ListQuery, Propagation, Scope, TRACKING_ID_ANNOTATION, TrackingMethod, WatchEvent,
};
use crate::object::{GroupKind, Object, ObjectRef};
use crate::selector::LabelSelector;

/// How many times an eventual condition is polled before the check fails.
const EVENTUAL_ATTEMPTS: usize = 200;

/// Runs every check, each against a fresh backend from `make`.
pub async fn cluster_backend<B: ClusterBackend>(make: impl Fn() -> B) {
    scope_of_builtin_kinds(&make()).await;
    apply_creates_then_is_unchanged(&make()).await;
    update_changes_and_bumps_resource_version(&make()).await;
    try_get_missing_is_none(&make()).await;
    get_missing_is_not_found(&make()).await;
    delete_missing_is_not_found(&make()).await;
    dry_run_apply_leaves_no_trace(&make()).await;
    dry_run_delete_keeps_object(&make()).await;
    stale_resource_version_conflicts(&make()).await;
    namespaced_kind_without_namespace_is_invalid(&make()).await;
    generate_name_creates_distinct_names(&make()).await;
    list_filters_and_is_stable(&make()).await;
    delete_with_finalizer_is_pending(&make()).await;
    background_propagation_deletes_dependents(&make()).await;
    orphan_propagation_keeps_dependents(&make()).await;
    watch_sees_changes(&make()).await;
}

fn must<T>(result: Result<T, EngineError>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("conformance: {what}: unexpected error ({}): {e}", e.kind()),
    }
}

fn must_fail<T: std::fmt::Debug>(result: Result<T, EngineError>, kind: ErrorKind, what: &str) -> EngineError {
    match result {
        Ok(v) => panic!("conformance: {what}: expected a {kind} error, got Ok({v:?})"),
        Err(e) if e.kind() == kind => e,
        Err(e) => panic!(
            "conformance: {what}: expected a {kind} error, got {} ({e})",
            e.kind()
        ),
    }
}

fn object(v: Value) -> Object {
    match Object::from_value(v) {
        Ok(o) => o,
        Err(e) => panic!("conformance: bad test object: {e}"),
    }
}

fn config_map(ns: &str, name: &str, data: Value) -> Object {
    object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }))
}

fn cm_ref(ns: &str, name: &str) -> ObjectRef {
    ObjectRef::new("", "ConfigMap", Some(ns), name)
}

/// Applies a `Namespace` named `name` (created or already there).
pub async fn ensure_namespace<B: ClusterBackend>(backend: &B, name: &str) {
    let ns = Object::new("v1", "Namespace", None, name);
    must(
        backend.apply(&ns, &ApplyOptions::default()).await,
        &format!("creating namespace {name}"),
    );
}

async fn apply<B: ClusterBackend>(backend: &B, obj: &Object) -> Object {
    must(
        backend.apply(obj, &ApplyOptions::default()).await,
        &format!("applying {}", obj.object_ref()),
    )
    .object
}

/// Yields once to the executor.
fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
    YieldNow(false)
}

/// Polls `try_get` until the object is gone (`true`) or the attempts run out (`false`).
async fn eventually_gone<B: ClusterBackend>(backend: &B, r: &ObjectRef) -> bool {
    for _ in 0..EVENTUAL_ATTEMPTS {
        if must(backend.try_get(r).await, &format!("reading {r}")).is_none() {
            return true;
        }
        yield_now().await;
    }
    false
}

/// `scope` knows `ConfigMap` is namespaced, `Namespace` cluster-scoped, and an unknown kind is `None`.
pub async fn scope_of_builtin_kinds<B: ClusterBackend>(backend: &B) {
    let cm = must(
        backend.scope(&GroupKind::new("", "ConfigMap")).await,
        "scope of ConfigMap",
    );
    assert_eq!(
        cm,
        Some(Scope::Namespaced),
        "conformance: ConfigMap must be namespaced"
    );
    let ns = must(
        backend.scope(&GroupKind::new("", "Namespace")).await,
        "scope of Namespace",
    );
    assert_eq!(
        ns,
        Some(Scope::Cluster),
        "conformance: Namespace must be cluster-scoped"
    );
    let deploy = must(
        backend.scope(&GroupKind::new("apps", "Deployment")).await,
        "scope of Deployment",
    );
    assert_eq!(
        deploy,
        Some(Scope::Namespaced),
        "conformance: apps/Deployment must be namespaced"
    );
}

/// Applying a new object creates it; applying it again is `Unchanged` and keeps its resourceVersion.
pub async fn apply_creates_then_is_unchanged<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-apply";
    ensure_namespace(backend, ns).await;
    let cm = config_map(ns, "settings", json!({"greeting": "hello"}));
    let first = must(backend.apply(&cm, &ApplyOptions::default()).await, "first apply");
    assert_eq!(
        first.outcome,
        ApplyOutcome::Created,
        "conformance: first apply must create"
    );
    assert!(
        first.object.uid().is_some(),
        "conformance: a created object must have metadata.uid"
    );
    assert!(
        first.object.resource_version().is_some(),
        "conformance: a created object must have metadata.resourceVersion"
    );
    let second = must(backend.apply(&cm, &ApplyOptions::default()).await, "second apply");
    assert_eq!(
        second.outcome,
        ApplyOutcome::Unchanged,
        "conformance: applying the same object twice must be unchanged the second time"
    );
    assert_eq!(
        second.object.resource_version(),
        first.object.resource_version(),
        "conformance: an unchanged apply must not bump resourceVersion"
    );
    let live = must(backend.get(&cm_ref(ns, "settings")).await, "get after apply");
    assert_eq!(
        live.pointer("/data/greeting"),
        Some(&json!("hello")),
        "conformance: data must be stored"
    );
}

/// Changing an object is `Configured`, stores the change and bumps resourceVersion.
pub async fn update_changes_and_bumps_resource_version<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-update";
    ensure_namespace(backend, ns).await;
    let created = apply(backend, &config_map(ns, "settings", json!({"greeting": "hello"}))).await;
    let changed = config_map(ns, "settings", json!({"greeting": "bonjour"}));
    let updated = must(backend.apply(&changed, &ApplyOptions::default()).await, "update");
    assert_eq!(
        updated.outcome,
        ApplyOutcome::Configured,
        "conformance: a change must be configured"
    );
    assert_ne!(
        updated.object.resource_version(),
        created.resource_version(),
        "conformance: an update must bump resourceVersion"
    );
    assert_eq!(
        updated.object.uid(),
        created.uid(),
        "conformance: an update must keep the uid"
    );
    let live = must(backend.get(&cm_ref(ns, "settings")).await, "get after update");
    assert_eq!(
        live.pointer("/data/greeting"),
        Some(&json!("bonjour")),
        "conformance: the update must be stored"
    );
}

/// `try_get` of a missing object is `Ok(None)`.
pub async fn try_get_missing_is_none<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-missing";
    ensure_namespace(backend, ns).await;
    let got = must(
        backend.try_get(&cm_ref(ns, "absent")).await,
        "try_get of a missing object",
    );
    assert!(
        got.is_none(),
        "conformance: try_get of a missing object must be Ok(None)"
    );
}

/// `get` (from [`ClusterBackendExt`]) of a missing object is a `NotFound` error.
pub async fn get_missing_is_not_found<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-missing";
    ensure_namespace(backend, ns).await;
    must_fail(
        backend.get(&cm_ref(ns, "absent")).await,
        ErrorKind::NotFound,
        "get of a missing object",
    );
}

/// Deleting a missing object is a `NotFound` error.
pub async fn delete_missing_is_not_found<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-missing";
    ensure_namespace(backend, ns).await;
    must_fail(
        backend
            .delete(&cm_ref(ns, "absent"), &DeleteOptions::default())
            .await,
        ErrorKind::NotFound,
        "delete of a missing object",
    );
}

/// A dry-run apply returns the would-be object and stores nothing.
pub async fn dry_run_apply_leaves_no_trace<B: ClusterBackend>(backend: &B) {
    if !backend.capabilities().dry_run {
        return;
    }
    let ns = "conformance-dry-run";
    ensure_namespace(backend, ns).await;
    let cm = config_map(ns, "ghost", json!({"a": "b"}));
    let applied = must(
        backend.apply(&cm, &ApplyOptions::default().dry_run(true)).await,
        "dry-run apply",
    );
    assert_eq!(
        applied.outcome,
        ApplyOutcome::Created,
        "conformance: a dry-run create must say created"
    );
    assert_eq!(
        applied.object.name(),
        "ghost",
        "conformance: a dry-run apply must return the object"
    );
    let got = must(
        backend.try_get(&cm_ref(ns, "ghost")).await,
        "try_get after dry-run apply",
    );
    assert!(
        got.is_none(),
        "conformance: a dry-run apply must not store the object"
    );

    let stored = apply(backend, &config_map(ns, "real", json!({"a": "b"}))).await;
    let changed = config_map(ns, "real", json!({"a": "changed"}));
    let dry = must(
        backend
            .apply(&changed, &ApplyOptions::default().dry_run(true))
            .await,
        "dry-run update",
    );
    assert_eq!(
        dry.outcome,
        ApplyOutcome::Configured,
        "conformance: a dry-run change must say configured"
    );
    assert_eq!(dry.object.pointer("/data/a"), Some(&json!("changed")));
    let live = must(backend.get(&cm_ref(ns, "real")).await, "get after dry-run update");
    assert_eq!(
        live.pointer("/data/a"),
        Some(&json!("b")),
        "conformance: a dry-run update must not be stored"
    );
    assert_eq!(
        live.resource_version(),
        stored.resource_version(),
        "conformance: a dry-run update must not bump resourceVersion"
    );
}

/// A dry-run delete leaves the object in place.
pub async fn dry_run_delete_keeps_object<B: ClusterBackend>(backend: &B) {
    if !backend.capabilities().dry_run {
        return;
    }
    let ns = "conformance-dry-run";
    ensure_namespace(backend, ns).await;
    apply(backend, &config_map(ns, "keep", json!({}))).await;
    let outcome = must(
        backend
            .delete(&cm_ref(ns, "keep"), &DeleteOptions::default().dry_run(true))
            .await,
        "dry-run delete",
    );
    assert_eq!(
        outcome,
        DeleteOutcome::Deleted,
        "conformance: a dry-run delete must report what it would do"
    );
    let got = must(
        backend.try_get(&cm_ref(ns, "keep")).await,
        "try_get after dry-run delete",
    );
    assert!(
        got.is_some(),
        "conformance: a dry-run delete must keep the object"
    );
}

/// Applying with a stale `metadata.resourceVersion` is a `Conflict`.
pub async fn stale_resource_version_conflicts<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-conflict";
    ensure_namespace(backend, ns).await;
    let first = apply(backend, &config_map(ns, "settings", json!({"v": "1"}))).await;
    let mut stale = first.clone();
    apply(backend, &config_map(ns, "settings", json!({"v": "2"}))).await;
    if let Some(data) = stale.as_map_mut().get_mut("data") {
        *data = json!({"v": "3"});
    }
    let e = must_fail(
        backend.apply(&stale, &ApplyOptions::default()).await,
        ErrorKind::Conflict,
        "apply with a stale resourceVersion",
    );
    assert!(e.is_retryable(), "conformance: a conflict must be retryable");
    let live = must(backend.get(&cm_ref(ns, "settings")).await, "get after conflict");
    assert_eq!(
        live.pointer("/data/v"),
        Some(&json!("2")),
        "conformance: a conflicting write must not be stored"
    );
}

/// A namespaced kind without a namespace is `Invalid`.
pub async fn namespaced_kind_without_namespace_is_invalid<B: ClusterBackend>(backend: &B) {
    let cm = object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nowhere"}}));
    must_fail(
        backend.apply(&cm, &ApplyOptions::default()).await,
        ErrorKind::Invalid,
        "apply of a namespaced kind without namespace",
    );
}

/// Objects with only `generateName` get distinct generated names starting with it.
pub async fn generate_name_creates_distinct_names<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-generate";
    ensure_namespace(backend, ns).await;
    let cm = object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"generateName": "job-", "namespace": ns},
    }));
    let a = must(
        backend.apply(&cm, &ApplyOptions::default()).await,
        "first generateName apply",
    );
    let b = must(
        backend.apply(&cm, &ApplyOptions::default()).await,
        "second generateName apply",
    );
    for x in [&a, &b] {
        assert_eq!(
            x.outcome,
            ApplyOutcome::Created,
            "conformance: generateName must create"
        );
        assert!(
            x.object.name().starts_with("job-") && x.object.name().len() > "job-".len(),
            "conformance: a generated name must extend generateName, got {:?}",
            x.object.name()
        );
    }
    assert_ne!(
        a.object.name(),
        b.object.name(),
        "conformance: generated names must be distinct"
    );
    let got = must(
        backend.try_get(&cm_ref(ns, a.object.name())).await,
        "get of a generated object",
    );
    assert!(
        got.is_some(),
        "conformance: a generated object must be readable under its name"
    );
}

/// `list` filters by namespace, kind, label selector and tracking, in a stable order.
pub async fn list_filters_and_is_stable<B: ClusterBackend>(backend: &B) {
    let (a, b) = ("conformance-list-a", "conformance-list-b");
    ensure_namespace(backend, a).await;
    ensure_namespace(backend, b).await;
    let mut web = config_map(a, "web", json!({}));
    web.set_label("tier", "frontend");
    web.set_annotation(TRACKING_ID_ANNOTATION, &format!("shop:/ConfigMap:{a}/web"));
    let mut db = config_map(a, "db", json!({}));
    db.set_label("tier", "backend");
    let mut other = config_map(b, "web", json!({}));
    other.set_label("tier", "frontend");
    let secret = object(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": a},
        "stringData": {"k": "v"},
    }));
    for o in [&web, &db, &other, &secret] {
        apply(backend, o).await;
    }
    let names =
        |objs: &[Object]| -> Vec<String> { objs.iter().map(|o| o.object_ref().to_string()).collect() };

    let cms = GroupKind::new("", "ConfigMap");
    let in_a = must(
        backend.list(&ListQuery::all().namespace(a)).await,
        "list by namespace",
    );
    assert!(
        in_a.iter().all(|o| o.namespace() == Some(a)) && in_a.len() == 3,
        "conformance: list by namespace {a} must give its 3 objects, got {:?}",
        names(&in_a)
    );
    let cms_in_a = must(
        backend
            .list(&ListQuery::all().namespace(a).kind(cms.clone()))
            .await,
        "list by namespace and kind",
    );
    assert_eq!(
        names(&cms_in_a),
        vec![format!("ConfigMap {a}/db"), format!("ConfigMap {a}/web")],
        "conformance: list by kind must give only that kind, sorted by name"
    );
    let frontend = match LabelSelector::parse("tier=frontend") {
        Ok(s) => s,
        Err(e) => panic!("conformance: {e}"),
    };
    let front = must(
        backend
            .list(&ListQuery::all().kind(cms.clone()).selector(frontend))
            .await,
        "list by label selector",
    );
    let front_names = names(&front);
    assert!(
        front_names.contains(&format!("ConfigMap {a}/web"))
            && front_names.contains(&format!("ConfigMap {b}/web"))
            && front.len() == 2,
        "conformance: list by selector tier=frontend must give both web ConfigMaps, got {front_names:?}"
    );
    let tracked = must(
        backend
            .list(&ListQuery::all().tracked_by("shop", TrackingMethod::Annotation))
            .await,
        "list by tracking id",
    );
    assert_eq!(
        names(&tracked),
        vec![format!("ConfigMap {a}/web")],
        "conformance: list tracked by app shop must give the annotated object only"
    );
    let again = must(backend.list(&ListQuery::all().namespace(a)).await, "second list");
    assert_eq!(
        names(&again),
        names(&in_a),
        "conformance: list order must be stable"
    );
}

/// Deleting an object with finalizers is `Pending` and sets `deletionTimestamp`; removing the
/// finalizers completes the deletion.
pub async fn delete_with_finalizer_is_pending<B: ClusterBackend>(backend: &B) {
    let ns = "conformance-finalizer";
    ensure_namespace(backend, ns).await;
    let held = object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": ns, "finalizers": ["example.com/hold"]},
    }));
    apply(backend, &held).await;
    let r = cm_ref(ns, "held");
    let outcome = must(
        backend.delete(&r, &DeleteOptions::default()).await,
        "delete with finalizer",
    );
    assert_eq!(
        outcome,
        DeleteOutcome::Pending,
        "conformance: deleting an object with finalizers must be pending"
    );
    let live = must(backend.get(&r).await, "get of a terminating object");
    assert!(
        live.deletion_timestamp().is_some(),
        "conformance: a terminating object must have metadata.deletionTimestamp"
    );
    // Release it: apply without finalizers.
    let released = object(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "namespace": ns},
    }));
    apply(backend, &released).await;
    assert!(
        eventually_gone(backend, &r).await,
        "conformance: removing the last finalizer of a terminating object must complete its deletion"
    );
}

/// Owner and dependent linked by `ownerReferences`.
async fn owner_and_dependent<B: ClusterBackend>(backend: &B, ns: &str) -> (ObjectRef, ObjectRef, String) {
    ensure_namespace(backend, ns).await;
    let owner = apply(backend, &config_map(ns, "owner", json!({}))).await;
    let uid = match owner.uid() {
        Some(u) => u.to_owned(),
        None => panic!("conformance: a created object must have metadata.uid"),
    };
    let dependent = object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "dependent", "namespace": ns, "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid},
        ]},
    }));
    apply(backend, &dependent).await;
    (cm_ref(ns, "owner"), cm_ref(ns, "dependent"), uid)
}

/// Background propagation deletes the owner and (eventually) its dependents.
pub async fn background_propagation_deletes_dependents<B: ClusterBackend>(backend: &B) {
    if !backend.capabilities().propagation {
        return;
    }
    let (owner, dependent, _) = owner_and_dependent(backend, "conformance-background").await;
    let outcome = must(
        backend
            .delete(
                &owner,
                &DeleteOptions::default().propagation(Propagation::Background),
            )
            .await,
        "background delete",
    );
    assert_eq!(
        outcome,
        DeleteOutcome::Deleted,
        "conformance: a background delete must delete the owner"
    );
    assert!(
        eventually_gone(backend, &owner).await,
        "conformance: the owner must be gone"
    );
    assert!(
        eventually_gone(backend, &dependent).await,
        "conformance: background propagation must delete dependents"
    );
}

/// Orphan propagation deletes the owner and keeps dependents, without the owner reference.
pub async fn orphan_propagation_keeps_dependents<B: ClusterBackend>(backend: &B) {
    if !backend.capabilities().propagation {
        return;
    }
    let (owner, dependent, uid) = owner_and_dependent(backend, "conformance-orphan").await;
    must(
        backend
            .delete(&owner, &DeleteOptions::default().propagation(Propagation::Orphan))
            .await,
        "orphan delete",
    );
    assert!(
        eventually_gone(backend, &owner).await,
        "conformance: the owner must be gone"
    );
    let mut kept = None;
    for _ in 0..EVENTUAL_ATTEMPTS {
        match must(backend.try_get(&dependent).await, "get of the orphan") {
            Some(o) if !o.owner_uids().contains(&uid.as_str()) => {
                kept = Some(o);
                break;
            }
            Some(_) => yield_now().await,
            None => panic!("conformance: orphan propagation must keep dependents"),
        }
    }
    assert!(
        kept.is_some(),
        "conformance: an orphaned dependent must lose its owner reference to the deleted owner"
    );
}

/// A watch sees an object being applied and deleted.
pub async fn watch_sees_changes<B: ClusterBackend>(backend: &B) {
    if !backend.capabilities().watch {
        return;
    }
    let ns = "conformance-watch";
    ensure_namespace(backend, ns).await;
    let mut stream = must(backend.watch(&ListQuery::all().namespace(ns)).await, "watch");
    apply(backend, &config_map(ns, "watched", json!({"a": "b"}))).await;
    must(
        backend
            .delete(&cm_ref(ns, "watched"), &DeleteOptions::default())
            .await,
        "delete of watched",
    );
    let mut saw_applied = false;
    for _ in 0..64 {
        let next = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await;
        match next {
            None => panic!("conformance: the watch stream ended early"),
            Some(WatchEvent::Applied(o)) if o.name() == "watched" => saw_applied = true,
            Some(WatchEvent::Deleted(o)) if o.name() == "watched" => {
                assert!(
                    saw_applied,
                    "conformance: a watch must see the apply before the delete"
                );
                return;
            }
            Some(_) => {}
        }
    }
    panic!("conformance: a watch must see an applied and then deleted object");
}
