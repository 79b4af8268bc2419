//! Argo CD's built-in health checks (spec/health.md §2 and §3), one module per kind.
//!
//! [`BuiltinHealth`] is the whole pipeline without overrides: the "Pending deletion" rule first
//! (it applies to every kind), then the check chosen by group and kind. Bad data never gives an
//! error: a wrong API version or a field of the wrong JSON type gives `Unknown` with a message.

use gitops_core::Object;
use gitops_core::engine::{EngineError, Health, HealthCheck, HealthCode};

use gitops_core::health::hooks::HOOK_FINALIZER;

mod apiservice;
pub(crate) mod convert;
mod daemonset;
mod deployment;
mod hpa;
mod ingress;
mod job;
mod pod;
mod pvc;
mod replicaset;
mod service;
mod statefulset;
mod workflow;

use convert::ConvError;

/// The message of the "Pending deletion" rule.
pub const PENDING_DELETION: &str = "Pending deletion";

/// Argo CD's built-in Go health checks, re-implemented.
///
/// Returns `Ok(None)` for kinds without a check (unless the object is being deleted, see
/// [`pending_deletion`]) and `Ok(Some(_))` otherwise; it never returns `Err`.
///
/// ```
/// use gitops_health::core::engine::{HealthCheck, HealthCode};
/// use gitops_health::core::Object;
/// use gitops_health::BuiltinHealth;
/// let cm = Object::new("v1", "ConfigMap", Some("ns"), "settings");
/// assert_eq!(BuiltinHealth.check(&cm).unwrap(), None);
/// let pvc = Object::new("v1", "PersistentVolumeClaim", Some("ns"), "data");
/// assert_eq!(BuiltinHealth.check(&pvc).unwrap().unwrap().status, HealthCode::Unknown);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuiltinHealth;

impl HealthCheck for BuiltinHealth {
    fn check(&self, obj: &Object) -> Result<Option<Health>, EngineError> {
        Ok(builtin_health(obj))
    }
}

/// Assesses `obj` with the built-in checks: [`pending_deletion`] first, then the Go check for its
/// group and kind. `None` means the kind has no check.
///
/// ```
/// use gitops_health::core::engine::HealthCode;
/// use gitops_health::core::Object;
/// use gitops_health::builtin_health;
/// let svc = Object::new("v1", "Service", Some("ns"), "web");
/// assert_eq!(builtin_health(&svc).map(|h| h.status), Some(HealthCode::Healthy));
/// ```
pub fn builtin_health(obj: &Object) -> Option<Health> {
    pending_deletion(obj).or_else(|| go_check(obj))
}

/// Rule 1 of spec §2: an object with `metadata.deletionTimestamp` and without the
/// `argocd.argoproj.io/hook-finalizer` finalizer is `Progressing` / "Pending deletion", whatever
/// its kind.
///
/// Pipelines that consult overrides (Lua) must apply this rule **before** the override; it is
/// public for that purpose.
pub fn pending_deletion(obj: &Object) -> Option<Health> {
    let deleting = obj.deletion_timestamp().is_some_and(|t| !t.is_empty());
    (deleting && !obj.finalizers().contains(&HOOK_FINALIZER)).then(|| Health::progressing(PENDING_DELETION))
}

/// Whether a built-in check exists for the group and kind (whatever the version).
pub fn has_builtin_check(group: &str, kind: &str) -> bool {
    check_for(group, kind).is_some()
}

/// One check: the label used in its messages, the versions it accepts (`None`: any), and the
/// function.
struct Check {
    label: &'static str,
    versions: Option<&'static [&'static str]>,
    run: CheckFn,
}

/// A kind's check, run after the version is accepted.
type CheckFn = fn(&Object) -> Result<Health, ConvError>;

const V1: Option<&[&str]> = Some(&["v1"]);

fn check_for(group: &str, kind: &str) -> Option<Check> {
    let (label, versions, run): (&'static str, _, CheckFn) = match (group, kind) {
        ("apps", "Deployment") => ("Deployment", V1, deployment::check),
        ("apps", "StatefulSet") => ("StatefulSet", V1, statefulset::check),
        ("apps", "ReplicaSet") => ("ReplicaSet", V1, replicaset::check),
        ("apps", "DaemonSet") => ("DaemonSet", V1, daemonset::check),
        ("extensions" | "networking.k8s.io", "Ingress") => ("Ingress", None, ingress::check),
        ("argoproj.io", "Workflow") => ("Workflow", None, workflow::check),
        ("apiregistration.k8s.io", "APIService") => {
            ("APIService", Some(&["v1", "v1beta1"][..]), apiservice::check)
        }
        ("", "Service") => ("Service", V1, service::check),
        ("", "PersistentVolumeClaim") => ("PersistentVolumeClaim", V1, pvc::check),
        ("", "Pod") => ("Pod", V1, pod::check),
        ("batch", "Job") => ("Job", V1, job::check),
        ("autoscaling", "HorizontalPodAutoscaler") => ("HPA", Some(&["v1", "v2"][..]), hpa::check),
        _ => return None,
    };
    Some(Check { label, versions, run })
}

/// Step 3 of spec §2: the Go check chosen by group and kind.
fn go_check(obj: &Object) -> Option<Health> {
    let (group, version, kind) = (obj.group(), obj.version(), obj.kind());
    let check = check_for(group, kind)?;
    if let Some(versions) = check.versions
        && !versions.contains(&version)
    {
        return Some(Health::new(
            HealthCode::Unknown,
            format!("unsupported {} GVK: {group}/{version}, Kind={kind}", check.label),
        ));
    }
    Some((check.run)(obj).unwrap_or_else(|e| {
        Health::new(
            HealthCode::Unknown,
            format!("failed to convert unstructured {} to typed: {e}", check.label),
        )
    }))
}

#[cfg(test)]
pub(crate) mod testutil {
    use gitops_core::Object;
    use gitops_core::engine::{Health, HealthCode};
    use serde_json::Value;

    /// Builds an object from JSON; panics on invalid input (tests only).
    #[allow(clippy::unwrap_used)]
    pub(crate) fn obj(v: Value) -> Object {
        Object::from_value(v).unwrap()
    }

    /// Runs the built-in checks and expects a result.
    #[allow(clippy::unwrap_used)]
    pub(crate) fn health(v: Value) -> Health {
        super::builtin_health(&obj(v)).unwrap()
    }

    /// Asserts status and message.
    #[track_caller]
    pub(crate) fn assert_health(v: Value, status: HealthCode, message: &str) {
        let h = health(v);
        assert_eq!((h.status, h.message.as_str()), (status, message));
    }

    /// Asserts an `Unknown` whose message starts with `prefix`.
    #[track_caller]
    pub(crate) fn assert_unknown(v: Value, prefix: &str) {
        let h = health(v);
        assert_eq!(h.status, HealthCode::Unknown, "{}", h.message);
        assert!(h.message.starts_with(prefix), "{}", h.message);
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn pending_deletion_applies_to_every_kind() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z"}});
        assert_health(cm, HealthCode::Progressing, "Pending deletion");
        let hook = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z",
                "finalizers": ["argocd.argoproj.io/hook-finalizer"]}});
        assert_eq!(builtin_health(&obj(hook)), None);
    }

    #[test]
    fn no_check_for_other_kinds() {
        for (av, kind) in [
            ("extensions/v1beta1", "Deployment"),
            ("argoproj.io/v1alpha1", "Application"),
            ("serving.knative.dev/v1", "Service"),
            ("batch/v1", "CronJob"),
        ] {
            let o = json!({"apiVersion": av, "kind": kind, "metadata": {"name": "x"}});
            assert_eq!(builtin_health(&obj(o)), None, "{av} {kind}");
        }
        assert!(has_builtin_check("apps", "Deployment"));
        assert!(!has_builtin_check("apps", "Widget"));
    }

    #[test]
    fn unsupported_versions() {
        let d = json!({"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "x"}});
        assert_health(
            d,
            HealthCode::Unknown,
            "unsupported Deployment GVK: apps/v1beta2, Kind=Deployment",
        );
        let h = json!({"apiVersion": "autoscaling/v2beta1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "x"}});
        assert_health(
            h,
            HealthCode::Unknown,
            "unsupported HPA GVK: autoscaling/v2beta1, Kind=HorizontalPodAutoscaler",
        );
        let p = json!({"apiVersion": "v2", "kind": "Pod", "metadata": {"name": "x"}});
        assert_health(p, HealthCode::Unknown, "unsupported Pod GVK: /v2, Kind=Pod");
    }

    #[test]
    fn any_version_for_unstructured_checks() {
        let i = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "x"}});
        assert_health(i, HealthCode::Progressing, "");
        let w = json!({"apiVersion": "argoproj.io/v9", "kind": "Workflow", "metadata": {"name": "x"}});
        assert_health(w, HealthCode::Progressing, "");
    }

    #[test]
    fn deletion_before_version_check() {
        let d = json!({"apiVersion": "apps/v1beta2", "kind": "Deployment",
            "metadata": {"name": "x", "deletionTimestamp": "2024-01-01T00:00:00Z"}});
        assert_health(d, HealthCode::Progressing, "Pending deletion");
    }
}
