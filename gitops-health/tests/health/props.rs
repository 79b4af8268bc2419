//! Property tests: arbitrary JSON under `spec`, `status` and `metadata` of every checked kind
//! never makes the built-in checks panic or return an error.

use gitops_health::core::Object;
use gitops_health::core::engine::HealthCheck;
use gitops_health::{BuiltinHealth, ResourceHealthInput, aggregate};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1beta2", "Deployment"),
    ("batch/v1", "Job"),
    ("v1", "Pod"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("extensions/v1beta1", "Ingress"),
    ("networking.k8s.io/v1", "Ingress"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"),
    ("argoproj.io/v1alpha1", "Workflow"),
    ("v1", "ConfigMap"),
];

/// Keys the checks read, so random trees often hit them.
const KEYS: &[&str] = &[
    "replicas",
    "paused",
    "observedGeneration",
    "updatedReplicas",
    "availableReplicas",
    "readyReplicas",
    "currentReplicas",
    "updateRevision",
    "currentRevision",
    "updateStrategy",
    "rollingUpdate",
    "partition",
    "type",
    "status",
    "reason",
    "message",
    "conditions",
    "phase",
    "containerStatuses",
    "initContainerStatuses",
    "state",
    "lastState",
    "waiting",
    "terminated",
    "exitCode",
    "name",
    "restartPolicy",
    "loadBalancer",
    "ingress",
    "desiredNumberScheduled",
    "updatedNumberScheduled",
    "numberAvailable",
    "generation",
    "deletionTimestamp",
    "finalizers",
];

/// Strings the checks compare against.
const WORDS: &[&str] = &[
    "",
    "True",
    "False",
    "Progressing",
    "ProgressDeadlineExceeded",
    "RollingUpdate",
    "OnDelete",
    "Always",
    "Never",
    "OnFailure",
    "Running",
    "Pending",
    "Failed",
    "Succeeded",
    "Bound",
    "Lost",
    "LoadBalancer",
    "Available",
    "ReplicaFailure",
    "Complete",
    "Suspended",
    "CrashLoopBackOff",
    "ErrImagePull",
    "OOMKilled",
    "Ready",
    "AbleToScale",
    "ScalingActive",
    "FailedGetScale",
    "argocd.argoproj.io/hook-finalizer",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-5i64..5).prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(WORDS).prop_map(|s| json!(s)),
        ".*".prop_map(Value::String),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<String, Value>>(),
                )
            }),
        ]
    })
}

fn annotations() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(
        &[
            "argocd.argoproj.io/hook",
            "helm.sh/hook",
            "argocd.argoproj.io/ignore-restart-policy",
            "argocd.argoproj.io/ignore-healthcheck",
            "autoscaling.alpha.kubernetes.io/conditions",
        ][..],
    );
    let values = prop_oneof![
        Just("true".to_owned()),
        Just("Skip".to_owned()),
        Just("[{\"Type\":\"AbleToScale\",\"status\":\"True\"}]".to_owned()),
        tree().prop_map(|v| v.to_string()),
        ".*",
    ];
    prop::collection::vec((keys, values), 0..4).prop_map(|entries| {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn checks_never_panic(
        kind in prop::sample::select(KINDS),
        spec in tree(),
        status in tree(),
        extra_meta in tree(),
        anns in annotations(),
    ) {
        let (api_version, kind) = kind;
        let mut meta = match extra_meta {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        meta.insert("name".into(), json!("x"));
        meta.insert("annotations".into(), anns);
        meta.remove("namespace");
        let value = json!({"apiVersion": api_version, "kind": kind, "metadata": meta,
            "spec": spec, "status": status});
        // Some random metadata is rejected by Object validation; those inputs are not objects.
        if let Ok(obj) = Object::from_value(value) {
            let result = BuiltinHealth.check(&obj);
            prop_assert!(result.is_ok());
            let app = aggregate(&[ResourceHealthInput::live(&obj)]);
            prop_assert_eq!(app.resources.len(), 1);
        }
    }
}
