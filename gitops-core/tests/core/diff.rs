//! The diff engine and the patch module, table-driven (spec §5.2–5.4, RFC 6902/7386,
//! strategic merge patch).

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::time::{Duration, Instant};

use gitops_core::diff::{ChangeKind, DiffError, DiffOptions, IgnoreRule, IgnoreStatus, diff, unified};
use gitops_core::model::ResourceIgnoreDifferences;
use gitops_core::patch::{json_merge, json_patch, strategic};
use gitops_core::{GroupKind, Object};
use proptest::prelude::*;
use serde_json::{Value, json};

fn obj(v: Value) -> Object {
    Object::from_value(v).unwrap()
}

fn deployment(image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "web", "image": image, "ports": [{"containerPort": 8080}],
                     "env": [{"name": "MODE", "value": "prod"}]},
                    {"name": "x", "image": "sidecar:1"}
                ]}
            }
        }
    })
}

/// What a real API server adds to a Deployment.
fn with_server_fields(mut v: Value) -> Value {
    let meta = v["metadata"].as_object_mut().unwrap();
    meta.insert("uid".into(), json!("0c4f"));
    meta.insert("resourceVersion".into(), json!("123"));
    meta.insert("generation".into(), json!(4));
    meta.insert("creationTimestamp".into(), json!("2024-01-01T00:00:00Z"));
    meta.insert(
        "managedFields".into(),
        json!([{"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}}]),
    );
    v["spec"]["progressDeadlineSeconds"] = json!(600);
    v["spec"]["revisionHistoryLimit"] = json!(10);
    v["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}});
    let c = &mut v["spec"]["template"]["spec"]["containers"][0];
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["terminationMessagePath"] = json!("/dev/termination-log");
    c["ports"][0]["protocol"] = json!("TCP");
    v["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    v["spec"]["template"]["spec"]["dnsPolicy"] = json!("ClusterFirst");
    v["status"] =
        json!({"replicas": 2, "readyReplicas": 2, "conditions": [{"type": "Available", "status": "True"}]});
    v
}

fn with_last_applied(mut live: Value, applied: &Value) -> Value {
    live["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": applied.to_string()});
    live
}

#[test]
fn defaults_status_and_server_metadata_are_not_differences() {
    let config = obj(deployment("web:1", 2));
    let live = obj(with_server_fields(deployment("web:1", 2)));
    for opts in [
        DiffOptions::default(),
        DiffOptions::default().with_values(true),
        DiffOptions::default().with_rule(IgnoreRule::new("*", "*").with_json_pointer("/nothing")),
    ] {
        let d = diff(Some(&config), Some(&live), &opts).unwrap();
        assert!(!d.modified, "{:?}", d.changes);
        assert!(d.changes.is_empty());
    }
    // `diff(x, x)` is never modified, even for a full server object.
    let d = diff(Some(&live), Some(&live), &DiffOptions::default()).unwrap();
    assert!(!d.modified);
}

#[test]
fn status_is_compared_only_when_asked() {
    let mut c = deployment("web:1", 2);
    c["status"] = json!({"replicas": 5});
    let config = obj(c);
    let live = obj(with_server_fields(deployment("web:1", 2)));
    let cases = [
        (IgnoreStatus::All, false),
        (IgnoreStatus::Crd, true),
        (IgnoreStatus::None, true),
    ];
    for (mode, modified) in cases {
        let d = diff(
            Some(&config),
            Some(&live),
            &DiffOptions::default().with_ignore_status(mode),
        )
        .unwrap();
        assert_eq!(d.modified, modified, "{mode:?}");
    }
    assert_eq!(IgnoreStatus::from_setting("off"), IgnoreStatus::None);
    assert_eq!(IgnoreStatus::from_setting("CRD"), IgnoreStatus::Crd);
    assert_eq!(IgnoreStatus::from_setting("weird"), IgnoreStatus::All);
}

#[test]
fn changes_are_reported_with_dotted_paths() {
    let config = obj(deployment("web:2", 3));
    let live = obj(with_server_fields(deployment("web:1", 2)));
    let d = diff(Some(&config), Some(&live), &DiffOptions::default()).unwrap();
    assert!(d.modified);
    let paths: Vec<(&str, ChangeKind)> = d.changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
    assert_eq!(
        paths,
        [
            ("spec.replicas", ChangeKind::Changed),
            ("spec.template.spec.containers[0].image", ChangeKind::Changed)
        ]
    );
    assert_eq!(
        d.changes[1].to_string(),
        "spec.template.spec.containers[0].image: \"web:1\" → \"web:2\""
    );
}

#[test]
fn list_merge_by_key_for_containers() {
    // An injected container in live is not a difference; a changed one is, wherever it is.
    let config = obj(deployment("web:1", 2));
    let mut l = with_server_fields(deployment("web:1", 2));
    let containers = l["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap();
    containers.insert(0, json!({"name": "istio-proxy", "image": "proxy:1"}));
    let live = obj(l.clone());
    assert!(
        !diff(Some(&config), Some(&live), &DiffOptions::default())
            .unwrap()
            .modified
    );
    l["spec"]["template"]["spec"]["containers"][2]["image"] = json!("sidecar:2");
    let live = obj(l);
    let d = diff(Some(&config), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].path, "spec.template.spec.containers[2].image");
    // For a custom resource lists are compared whole.
    let cr = |items: Value| {
        obj(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"items": items}}),
        )
    };
    let d = diff(
        Some(&cr(json!([{"name": "a"}]))),
        Some(&cr(json!([{"name": "a", "default": 1}]))),
        &DiffOptions::default(),
    )
    .unwrap();
    assert!(d.modified);
}

#[test]
fn three_way_detects_deletions() {
    // `env` and label `tier` were applied before and are gone from the config now.
    let applied = {
        let mut a = deployment("web:1", 2);
        a["metadata"]["labels"]["tier"] = json!("front");
        a
    };
    let mut config = deployment("web:1", 2);
    config["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("env");
    let mut live = with_server_fields(applied.clone());
    live["metadata"]["labels"]["added-by-someone"] = json!("x");
    let live = obj(with_last_applied(live, &applied));
    let d = diff(Some(&obj(config.clone())), Some(&live), &DiffOptions::default()).unwrap();
    assert!(d.modified);
    let removed: Vec<&str> = d
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Removed)
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(
        removed,
        ["metadata.labels.tier", "spec.template.spec.containers[0].env"]
    );
    // Without last-applied the same objects are in sync (two-way: live-only fields are kept).
    let mut no_la = with_server_fields(applied);
    no_la["metadata"]["labels"]["added-by-someone"] = json!("x");
    assert!(
        !diff(
            Some(&obj(config.clone())),
            Some(&obj(no_la)),
            &DiffOptions::default()
        )
        .unwrap()
        .modified
    );
    // Unparseable last-applied falls back to two-way.
    let mut bad = with_server_fields(deployment("web:1", 2));
    bad["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": "{not json"});
    assert!(
        !diff(
            Some(&obj(deployment("web:1", 2))),
            Some(&obj(bad)),
            &DiffOptions::default()
        )
        .unwrap()
        .modified
    );
    // JSON merge three-way for a custom resource.
    let cr = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    let applied = cr(json!({"a": 1, "b": 2}));
    let live = obj(with_last_applied(
        cr(json!({"a": 1, "b": 2, "server": true})),
        &applied,
    ));
    let d = diff(
        Some(&obj(cr(json!({"a": 1})))),
        Some(&live),
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(d.changes.len(), 1);
    assert_eq!(
        (d.changes[0].path.as_str(), d.changes[0].kind),
        ("spec.b", ChangeKind::Removed)
    );
}

#[test]
fn create_and_prune_cases() {
    let config = obj(deployment("web:1", 2));
    let d = diff(Some(&config), None, &DiffOptions::default()).unwrap();
    assert!(d.modified);
    assert!(d.normalized_live.is_none() && d.predicted_live.is_some());
    let d = diff(None, Some(&config), &DiffOptions::default()).unwrap();
    assert!(!d.modified);
    assert!(d.predicted_live.is_none() && d.normalized_live.is_some());
    assert!(!diff(None, None, &DiffOptions::default()).unwrap().modified);
}

#[test]
fn secret_string_data_equals_data() {
    let config = obj(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"user": "admin", "password": "s3cr3t!"}, "data": {"empty": null}}),
    );
    let live = obj(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "uid": "u"}, "type": "Opaque",
        "data": {"user": "YWRtaW4=", "password": "czNjcjN0IQ==", "empty": ""}}),
    );
    let d = diff(Some(&config), Some(&live), &DiffOptions::default()).unwrap();
    assert!(!d.modified, "{:?}", d.changes);
    let wrong = obj(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"user": "cm9vdA==", "password": "czNjcjN0IQ==", "empty": ""}}),
    );
    let d = diff(Some(&config), Some(&wrong), &DiffOptions::default()).unwrap();
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].path, "data.user");
}

#[test]
fn role_empty_rules_and_aggregated_roles() {
    let role = |rules: Value| {
        obj(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}, "rules": rules}),
        )
    };
    let d = diff(
        Some(&role(json!([]))),
        Some(&role(Value::Null)),
        &DiffOptions::default(),
    )
    .unwrap();
    assert!(!d.modified);
    let no_rules =
        obj(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}));
    let empty = obj(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}, "rules": []}),
    );
    assert!(
        !diff(Some(&empty), Some(&no_rules), &DiffOptions::default())
            .unwrap()
            .modified
    );
    // Aggregated: the controller fills `rules`.
    let agg = |rules: Value| {
        obj(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}, "rules": rules}),
        )
    };
    let config = agg(json!([]));
    let live = agg(json!([{"verbs": ["get"], "resources": ["pods"], "apiGroups": [""]}]));
    assert!(
        diff(Some(&config), Some(&live), &DiffOptions::default())
            .unwrap()
            .modified
    );
    assert!(
        !diff(
            Some(&config),
            Some(&live),
            &DiffOptions::default().with_ignore_aggregated_roles(true)
        )
        .unwrap()
        .modified
    );
}

#[test]
fn endpoints_defaults() {
    let ep = |subsets: Value| {
        obj(json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"}, "subsets": subsets}))
    };
    let config = ep(
        json!([{"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 80}]}, {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 81}]}]),
    );
    let live = ep(
        json!([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 81, "protocol": "TCP"}]}, {"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 80, "protocol": "TCP"}]}]),
    );
    assert!(
        !diff(Some(&config), Some(&live), &DiffOptions::default())
            .unwrap()
            .modified
    );
}

/// Every form of ignoreDifferences, table-driven: (rule, config change, live change, modified after).
#[test]
fn ignore_differences_forms() {
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, IgnoreRule, Edit, bool)> = vec![
        (
            "no rule",
            IgnoreRule::new("x", "Nothing"),
            |v| v["spec"]["replicas"] = json!(9),
            true,
        ),
        (
            "json pointer",
            IgnoreRule::new("apps", "Deployment").with_json_pointer("/spec/replicas"),
            |v| v["spec"]["replicas"] = json!(9),
            false,
        ),
        (
            "kind glob",
            IgnoreRule::new("*", "Deploy*").with_json_pointer("/spec/replicas"),
            |v| v["spec"]["replicas"] = json!(9),
            false,
        ),
        (
            "other name",
            IgnoreRule::new("apps", "Deployment")
                .with_name("api")
                .with_json_pointer("/spec/replicas"),
            |v| v["spec"]["replicas"] = json!(9),
            true,
        ),
        (
            "same namespace",
            IgnoreRule::new("apps", "Deployment")
                .with_namespace("prod")
                .with_json_pointer("/spec/replicas"),
            |v| v["spec"]["replicas"] = json!(9),
            false,
        ),
        (
            "other namespace",
            IgnoreRule::new("apps", "Deployment")
                .with_namespace("dev")
                .with_json_pointer("/spec/replicas"),
            |v| v["spec"]["replicas"] = json!(9),
            true,
        ),
        (
            "escaped pointer",
            IgnoreRule::new("apps", "Deployment").with_json_pointer("/metadata/annotations/example.com~1rev"),
            |v| v["metadata"]["annotations"] = json!({"example.com/rev": "7"}),
            false,
        ),
        (
            "missing path",
            IgnoreRule::new("apps", "Deployment")
                .with_json_pointer("/spec/nope/deeper")
                .with_json_pointer("/spec/replicas"),
            |v| v["spec"]["replicas"] = json!(9),
            false,
        ),
        (
            "jq select",
            IgnoreRule::new("apps", "Deployment")
                .with_jq(r#".spec.template.spec.containers[] | select(.name == "x") | .image"#),
            |v| v["spec"]["template"]["spec"]["containers"][1]["image"] = json!("sidecar:9"),
            false,
        ),
        (
            "jq select other container",
            IgnoreRule::new("apps", "Deployment")
                .with_jq(r#".spec.template.spec.containers[] | select(.name == "x") | .image"#),
            |v| v["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:9"),
            true,
        ),
        (
            "jq runtime error ignores nothing",
            IgnoreRule::new("apps", "Deployment").with_jq(".spec.nothing[]"),
            |v| v["spec"]["replicas"] = json!(9),
            true,
        ),
        (
            "managed fields manager",
            IgnoreRule::new("apps", "Deployment").with_manager("hpa-controller"),
            |v| v["spec"]["replicas"] = json!(9),
            false,
        ),
        (
            "managed fields other manager",
            IgnoreRule::new("apps", "Deployment").with_manager("someone-else"),
            |v| v["spec"]["replicas"] = json!(9),
            true,
        ),
    ];
    for (name, rule, edit, modified) in cases {
        let config = obj(deployment("web:1", 2));
        let mut l = with_server_fields(deployment("web:1", 2));
        l["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"manager": "hpa-controller", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}));
        edit(&mut l);
        let live = obj(l);
        let d = diff(
            Some(&config),
            Some(&live),
            &DiffOptions::default().with_rule(rule),
        )
        .unwrap();
        assert_eq!(d.modified, modified, "{name}: {:?}", d.changes);
    }
    // Built from an Application's ResourceIgnoreDifferences.
    let r: ResourceIgnoreDifferences =
        serde_yaml::from_str("{group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}").unwrap();
    let opts = DiffOptions::default().with_ignore_differences(&[r]);
    let config = obj(deployment("web:1", 2));
    let live = obj(deployment("web:1", 5));
    assert!(!diff(Some(&config), Some(&live), &opts).unwrap().modified);
    // A malformed pointer and a jq syntax error are reported.
    let bad =
        DiffOptions::default().with_rule(IgnoreRule::new("apps", "Deployment").with_json_pointer("spec"));
    let e = diff(Some(&config), Some(&live), &bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid ignoreDifferences rule: invalid json pointer `spec`: must be empty or start with `/`"
    );
    let bad = DiffOptions::default().with_rule(IgnoreRule::new("apps", "Deployment").with_jq(".spec | ]"));
    let e = diff(Some(&config), Some(&live), &bad).unwrap_err();
    assert!(matches!(e, DiffError::Jq { .. }), "{e}");
}

#[test]
fn jq_without_end_is_a_timeout() {
    let config = obj(deployment("web:1", 2));
    let live = obj(deployment("web:1", 3));
    for expr in [
        "repeat(.spec)",
        "range(1e12) as $i | .spec.replicas",
        "last(range(1e8)) as $x | .spec",
    ] {
        let opts = DiffOptions::default()
            .with_jq_timeout(Duration::from_millis(100))
            .with_rule(IgnoreRule::new("apps", "Deployment").with_jq(expr));
        let start = Instant::now();
        let e = diff(Some(&config), Some(&live), &opts).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2), "{expr}");
        assert!(
            matches!(e, DiffError::JqTimeout { .. }) || e.to_string().contains("more than"),
            "{expr}: {e}"
        );
        if let DiffError::JqTimeout { .. } = e {
            assert!(
                e.to_string()
                    .starts_with(&format!("jq expression `{expr}` did not finish within")),
                "{e}"
            );
        }
    }
    // The next expression still works (a fresh helper thread).
    let opts =
        DiffOptions::default().with_rule(IgnoreRule::new("apps", "Deployment").with_jq(".spec.replicas"));
    assert!(!diff(Some(&config), Some(&live), &opts).unwrap().modified);
}

#[test]
fn server_side_mode_uses_our_managed_fields() {
    // We applied `env` before (our manager owns it); the config no longer has it.
    let mut config = deployment("web:1", 2);
    config["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("env");
    let mut live = deployment("web:1", 2);
    live["metadata"]["managedFields"] = json!([
        {"manager": "argocd-controller", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}, "f:env": {}}}}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    ]);
    let config = obj(config);
    let live = obj(live);
    assert!(
        !diff(Some(&config), Some(&live), &DiffOptions::default())
            .unwrap()
            .modified
    );
    let d = diff(
        Some(&config),
        Some(&live),
        &DiffOptions::default().with_server_side(true),
    )
    .unwrap();
    assert!(d.modified);
    assert_eq!(d.changes[0].path, "spec.template.spec.containers[0].env");
    assert_eq!(d.changes[0].kind, ChangeKind::Removed);
}

#[test]
fn unified_diff_snapshot() {
    let config = obj(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "prod"},
        "data": {"a": "1", "b": "new", "c": "3"}}),
    );
    let live = obj(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "prod", "uid": "x"},
        "data": {"a": "1", "b": "old", "c": "3"}}),
    );
    let d = diff(Some(&config), Some(&live), &DiffOptions::default()).unwrap();
    let text = unified(&d, &config.object_ref(), 1);
    assert_eq!(
        text,
        "--- live/ConfigMap prod/cm\n+++ desired/ConfigMap prod/cm\n@@ -7,3 +7,3 @@\n   a: '1'\n-  b: old\n+  b: new\n   c: '3'\n"
    );
    let same = diff(Some(&config), Some(&config), &DiffOptions::default()).unwrap();
    assert_eq!(unified(&same, &config.object_ref(), 3), "");
}

// -- patches --------------------------------------------------------------------------------------

#[test]
fn merge_patch_rfc7386() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
        (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
        (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
    ];
    for (t, p, want) in cases {
        assert_eq!(json_merge::apply(&t, &p), want);
    }
}

#[test]
fn json_patch_ops_and_errors() {
    let doc = json!({"a": {"b/c": 1, "l": [1, 2]}});
    let cases: Vec<(Value, Result<Value, &str>)> = vec![
        (
            json!([{"op": "add", "path": "/a/l/0", "value": 0}]),
            Ok(json!({"a": {"b/c": 1, "l": [0, 1, 2]}})),
        ),
        (
            json!([{"op": "remove", "path": "/a/b~1c"}]),
            Ok(json!({"a": {"l": [1, 2]}})),
        ),
        (
            json!([{"op": "replace", "path": "/a/l/1", "value": 5}]),
            Ok(json!({"a": {"b/c": 1, "l": [1, 5]}})),
        ),
        (
            json!([{"op": "move", "from": "/a/l", "path": "/l"}]),
            Ok(json!({"a": {"b/c": 1}, "l": [1, 2]})),
        ),
        (
            json!([{"op": "copy", "from": "/a/l/0", "path": "/a/l/-"}]),
            Ok(json!({"a": {"b/c": 1, "l": [1, 2, 1]}})),
        ),
        (
            json!([{"op": "test", "path": "/a/b~1c", "value": 1.0}]),
            Ok(doc.clone()),
        ),
        (
            json!([{"op": "remove", "path": "/a/x"}]),
            Err("operation 0 (remove): path `/a/x` does not exist"),
        ),
        (
            json!([{"op": "replace", "path": "/a/l/2", "value": 1}]),
            Err("operation 0 (replace): path `/a/l/2` does not exist"),
        ),
        (
            json!([{"op": "test", "path": "/a/l", "value": []}]),
            Err("operation 0 (test): value at `/a/l` is not []"),
        ),
        (
            json!([{"op": "add", "path": "/a/l/9", "value": 1}]),
            Err("operation 0 (add): path `/a/l/9` does not exist"),
        ),
        (
            json!([{"op": "add", "path": "/a"}]),
            Err("operation 0: `add` needs a `value`"),
        ),
        (
            json!({"op": "add"}),
            Err("operation 0: a json patch must be a list of operations, found a mapping"),
        ),
    ];
    for (ops, want) in cases {
        match (json_patch::apply(&doc, &ops), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{ops}"),
            (Err(e), Err(want)) => assert_eq!(e.to_string(), want, "{ops}"),
            (got, want) => panic!("{ops}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn strategic_patch_directives() {
    let gk = GroupKind::new("apps", "Deployment");
    let orig = deployment("web:1", 2);
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "x", "$patch": "delete"}, {"name": "web", "env": [{"name": "NEW", "value": "1"}]}],
        "$setElementOrder/containers": [{"name": "web"}]
    }}}});
    let out = strategic::apply(&orig, &patch, &gk).unwrap();
    let containers = out["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "NEW", "value": "1"}])
    );
    // CRDs: JSON merge semantics.
    let out = strategic::apply(
        &json!({"l": [1, 2]}),
        &json!({"l": [3]}),
        &GroupKind::new("x.io", "Y"),
    )
    .unwrap();
    assert_eq!(out, json!({"l": [3]}));
    assert!(strategic::is_builtin(&gk));
    assert!(!strategic::is_builtin(&GroupKind::new(
        "argoproj.io",
        "Application"
    )));
}

// -- properties -----------------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-d]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-e]{1,2}", json_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #[test]
    fn merge_patch_round_trips(a in json_object(), b in json_object()) {
        let p = json_merge::create_merge_patch(&a, &b);
        prop_assert_eq!(json_merge::apply(&a, &p), b);
    }

    #[test]
    fn diff_of_an_object_with_itself_is_never_modified(
        spec in json_object(),
        kind in prop_oneof![Just(("apps/v1", "Deployment")), Just(("v1", "Secret")), Just(("x.io/v1", "Thing")), Just(("rbac.authorization.k8s.io/v1", "Role"))],
        last_applied in any::<bool>(),
        rules in any::<bool>(),
    ) {
        let mut v = json!({"apiVersion": kind.0, "kind": kind.1, "metadata": {"name": "n"}, "spec": spec.clone(), "data": spec});
        if last_applied {
            v["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": v.to_string()});
        }
        let o = obj(v);
        let mut opts = DiffOptions::default().with_server_side(true);
        if rules {
            opts = opts.with_rule(IgnoreRule::new("*", "*").with_json_pointer("/spec/a"));
        }
        let d = diff(Some(&o), Some(&o), &opts).unwrap();
        prop_assert!(!d.modified, "{:?}", d.changes);
    }
}

/// Timing of 10,000 diffs (run with `cargo test --release -p gitops-core --test core -- --ignored timing`).
#[test]
#[ignore = "timing, run in release mode"]
fn timing_10k_objects() {
    let mut pairs = Vec::new();
    for i in 0..10_000 {
        let (mut c, mut l) = match i % 3 {
            0 => (deployment("web:1", 2), with_server_fields(deployment("web:1", 2))),
            1 => {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm{i}"), "namespace": "prod"},
                    "data": {"a": "1", "b": "2", "config.yaml": "key: value\nother: 2\n"}});
                let mut l = cm.clone();
                l["metadata"]["uid"] = json!("u");
                l["metadata"]["resourceVersion"] = json!("5");
                (cm, l)
            }
            _ => {
                let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("s{i}"), "namespace": "prod"},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
                let mut l = svc.clone();
                l["spec"]["clusterIP"] = json!("10.0.0.1");
                l["spec"]["type"] = json!("ClusterIP");
                l["spec"]["ports"][0]["protocol"] = json!("TCP");
                (svc, l)
            }
        };
        c["metadata"]["name"] = json!(format!("o{i}"));
        l["metadata"]["name"] = json!(format!("o{i}"));
        pairs.push((obj(c), obj(l)));
    }
    let opts = DiffOptions::default();
    for changed in [false, true] {
        let mut ps = pairs.clone();
        if changed {
            for (i, (c, _)) in ps.iter_mut().enumerate() {
                if i % 10 == 0 {
                    c.set_label("changed", "yes");
                }
            }
        }
        let start = Instant::now();
        let mut n = 0;
        for (c, l) in &ps {
            n += usize::from(diff(Some(c), Some(l), &opts).unwrap().modified);
        }
        eprintln!(
            "10k diffs ({}% changed): {:?}, {n} modified",
            if changed { 10 } else { 0 },
            start.elapsed()
        );
    }
    let all_changed: Vec<(Object, Object)> = pairs
        .iter()
        .map(|(c, l)| {
            let mut c = c.clone();
            c.set_label("changed", "yes");
            (c, l.clone())
        })
        .collect();
    let start = Instant::now();
    for (c, l) in &all_changed {
        assert!(diff(Some(c), Some(l), &opts).unwrap().modified);
    }
    eprintln!("10k diffs (all changed): {:?}", start.elapsed());
}
