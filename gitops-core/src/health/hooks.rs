//! Hook and annotation helpers shared by health checks (the Pod check) and app-level aggregation.
//!
//! See spec/health.md §3.6 and §7.

use crate::Object;

/// Annotation that marks an Argo CD hook; its value is a comma-separated list of hook types.
pub const ARGOCD_HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// Annotation that marks a Helm hook.
pub const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";
/// Finalizer that keeps a hook from being reported as "Pending deletion" while it is deleted.
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";
/// Annotation (`"true"`) that keeps a live resource out of app-level health.
pub const IGNORE_HEALTHCHECK_ANNOTATION: &str = "argocd.argoproj.io/ignore-healthcheck";
/// Annotation (`"true"`) that makes a non-hook Pod with restartPolicy Never or OnFailure be
/// assessed like an `Always` pod.
pub const IGNORE_RESTART_POLICY_ANNOTATION: &str = "argocd.argoproj.io/ignore-restart-policy";

/// The hook types listed in an Argo CD hook annotation value: split on `,`, trimmed, empty
/// entries dropped.
fn hook_types(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Whether the annotation value names exactly one hook type and that type is `Skip`.
fn is_skip_only(value: &str) -> bool {
    let mut types = hook_types(value);
    matches!((types.next(), types.next()), (Some("Skip"), None))
}

/// Whether `obj` is an Argo CD hook whose only type is `Skip` (`argocd.argoproj.io/hook: Skip`).
///
/// Such a target is never applied, so app health skips it.
pub fn is_skip_hook(obj: &Object) -> bool {
    obj.annotation(ARGOCD_HOOK_ANNOTATION).is_some_and(is_skip_only)
}

/// Whether `obj` is a hook: it carries `argocd.argoproj.io/hook` with anything but `Skip` alone,
/// or (without that annotation) `helm.sh/hook` with any value other than `crd-install`.
///
/// ```
/// use gitops_core::Object;
/// use gitops_core::health::hooks::is_hook;
/// let mut pod = Object::new("v1", "Pod", Some("ns"), "migrate");
/// assert!(!is_hook(&pod));
/// pod.set_annotation("argocd.argoproj.io/hook", "PreSync");
/// assert!(is_hook(&pod));
/// pod.set_annotation("argocd.argoproj.io/hook", "Skip");
/// assert!(!is_hook(&pod));
/// ```
pub fn is_hook(obj: &Object) -> bool {
    match obj.annotation(ARGOCD_HOOK_ANNOTATION) {
        Some(value) => !is_skip_only(value),
        None => obj
            .annotation(HELM_HOOK_ANNOTATION)
            .is_some_and(|v| v != "crd-install"),
    }
}

/// Whether `obj` has `argocd.argoproj.io/ignore-healthcheck: "true"`.
pub fn ignores_healthcheck(obj: &Object) -> bool {
    obj.annotation(IGNORE_HEALTHCHECK_ANNOTATION) == Some("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: &str, value: &str) -> Object {
        let mut o = Object::new("v1", "ConfigMap", Some("ns"), "x");
        o.set_annotation(key, value);
        o
    }

    #[test]
    fn hook_detection() {
        assert!(is_hook(&with(ARGOCD_HOOK_ANNOTATION, "PostSync")));
        assert!(is_hook(&with(ARGOCD_HOOK_ANNOTATION, "Skip,PreSync")));
        assert!(!is_hook(&with(ARGOCD_HOOK_ANNOTATION, " Skip ")));
        assert!(is_skip_hook(&with(ARGOCD_HOOK_ANNOTATION, "Skip")));
        assert!(!is_skip_hook(&with(ARGOCD_HOOK_ANNOTATION, "Skip,PreSync")));
        assert!(is_hook(&with(HELM_HOOK_ANNOTATION, "pre-install")));
        assert!(!is_hook(&with(HELM_HOOK_ANNOTATION, "crd-install")));
        assert!(!is_hook(&Object::new("v1", "Pod", None, "p")));
        assert!(ignores_healthcheck(&with(IGNORE_HEALTHCHECK_ANNOTATION, "true")));
        assert!(!ignores_healthcheck(&with(IGNORE_HEALTHCHECK_ANNOTATION, "True")));
    }
}
