//! The legacy output order (kind priority, then GVK, then namespace/name).

use std::cmp::Ordering;

use super::res::{Id, Res};

/// Kinds first, in this order.
pub(crate) const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds last, in this order.
pub(crate) const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn rank(kind: &str, first: &[String], last: &[String]) -> i64 {
    if let Some(i) = first.iter().position(|k| k == kind) {
        return i as i64 - first.len() as i64;
    }
    if let Some(i) = last.iter().position(|k| k == kind) {
        return i as i64 + 1;
    }
    0
}

fn gvk_string(id: &Id) -> String {
    let or = |s: &str, d: &str| if s.is_empty() { d.to_owned() } else { s.to_owned() };
    format!(
        "{}_{}_{}",
        or(&id.group, "~G"),
        or(&id.version, "~V"),
        or(&id.kind, "~K")
    )
}

/// Sorts in legacy order, stable.
pub(crate) fn legacy(res: &mut [Res], first: &[String], last: &[String]) {
    res.sort_by(|a, b| {
        let (x, y) = (a.id(), b.id());
        let gx = (x.group.as_str(), x.version.as_str(), x.kind.as_str());
        let gy = (y.group.as_str(), y.version.as_str(), y.kind.as_str());
        if gx != gy {
            let (rx, ry) = (rank(&x.kind, first, last), rank(&y.kind, first, last));
            if rx != ry {
                return rx.cmp(&ry);
            }
            let o = gvk_string(&x).cmp(&gvk_string(&y));
            if x.kind == "Namespace" && y.kind == "Namespace" && (x.group.is_empty() || y.group.is_empty()) {
                return o.reverse();
            }
            return o;
        }
        let key = |id: &Id| {
            format!(
                "{}|{}",
                if id.namespace.is_empty() {
                    "~X"
                } else {
                    &id.namespace
                },
                if id.name.is_empty() { "~N" } else { &id.name }
            )
        };
        match key(&x).cmp(&key(&y)) {
            Ordering::Equal => Ordering::Equal,
            o => o,
        }
    });
}
