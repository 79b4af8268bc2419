//! Application-level health aggregation (spec/health.md §4).
//!
//! The app starts `Healthy`; each managed resource that counts makes it worse (worst wins, in
//! [`HealthCode`]'s order). Inputs are [`ResourceHealthInput`]s, one per managed resource (a
//! target/live pair); the result is an [`AppHealth`] with the app's health and, per input, what
//! was recorded for that resource.
//!
//! ```
//! use gitops_core::Object;
//! use gitops_core::engine::{health_fn, Health, HealthCode};
//! use gitops_core::health::aggregate::{ResourceHealthInput, aggregate};
//! // A toy check: a PersistentVolumeClaim whose phase is Lost is Degraded (gitops-health has the real ones).
//! let check = health_fn(|o: &Object| Ok((o.kind() == "PersistentVolumeClaim")
//!     .then(|| if o.pointer("/status/phase") == Some(&"Lost".into()) { Health::degraded("") } else { Health::healthy() })));
//! let svc = Object::new("v1", "Service", Some("prod"), "web");
//! let mut pvc = Object::new("v1", "PersistentVolumeClaim", Some("prod"), "data");
//! pvc.set_status(serde_json::json!({"phase": "Lost"}));
//! let app = aggregate(&[ResourceHealthInput::live(&svc), ResourceHealthInput::live(&pvc)], &check);
//! assert_eq!(app.health.status, HealthCode::Degraded);
//! assert_eq!(app.health.message, "Caused by PersistentVolumeClaim:prod/data");
//! ```

use crate::engine::{Health, HealthCheck, HealthCode};
use crate::{Object, ObjectRef};

use super::hooks::{ignores_healthcheck, is_hook, is_skip_hook};

/// At most this many resources are named in the "Caused by" message.
const MAX_CAUSES: usize = 3;

/// The live side of a managed resource.
#[derive(Debug, Clone)]
pub enum LiveState<'a> {
    /// The resource does not exist in the cluster.
    Absent,
    /// The live object; its health is computed by the check given to [`aggregate`].
    Object(&'a Object),
    /// The live object was already assessed elsewhere (e.g. by the cluster cache).
    Assessed(LiveAssessment),
}

/// A live object's precomputed health and the annotations aggregation needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveAssessment {
    /// The health; `None` means the kind has no check (no result).
    pub health: Option<Health>,
    /// The live object is a hook (see [`super::hooks::is_hook`]).
    pub is_hook: bool,
    /// The live object has `argocd.argoproj.io/ignore-healthcheck: "true"`.
    pub ignore_healthcheck: bool,
}

/// One managed resource, as app health sees it.
#[derive(Debug, Clone)]
pub struct ResourceHealthInput<'a> {
    /// Which resource this is (used in the "Caused by" message).
    pub object_ref: ObjectRef,
    /// The target (desired) object is a Skip-only hook (`argocd.argoproj.io/hook: Skip`).
    pub target_is_skip_hook: bool,
    /// The live object, its health, or its absence.
    pub live: LiveState<'a>,
    /// This is the app's own Application object (a self-managing app); it never counts.
    pub is_own_application: bool,
}

impl<'a> ResourceHealthInput<'a> {
    /// A resource whose live object exists (named after the object).
    pub fn live(obj: &'a Object) -> Self {
        ResourceHealthInput {
            object_ref: obj.object_ref(),
            target_is_skip_hook: false,
            live: LiveState::Object(obj),
            is_own_application: false,
        }
    }

    /// A resource with no live object.
    pub fn missing(object_ref: ObjectRef) -> Self {
        ResourceHealthInput {
            object_ref,
            target_is_skip_hook: false,
            live: LiveState::Absent,
            is_own_application: false,
        }
    }

    /// A resource whose live object was assessed already.
    pub fn assessed(object_ref: ObjectRef, assessment: LiveAssessment) -> Self {
        ResourceHealthInput {
            object_ref,
            target_is_skip_hook: false,
            live: LiveState::Assessed(assessment),
            is_own_application: false,
        }
    }

    /// Records the target object: sets [`Self::target_is_skip_hook`] from its annotations.
    #[must_use]
    pub fn with_target(mut self, target: &Object) -> Self {
        self.target_is_skip_hook = is_skip_hook(target);
        self
    }

    /// Marks this resource as the app's own Application object.
    #[must_use]
    pub fn own_application(mut self) -> Self {
        self.is_own_application = true;
        self
    }
}

/// Why a resource was left out entirely (its health is not even recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The target is a Skip-only hook.
    SkipHookTarget,
    /// The live object is a hook.
    LiveHook,
    /// The live object has `argocd.argoproj.io/ignore-healthcheck: "true"`.
    IgnoreHealthcheck,
    /// The app's own Application object.
    OwnApplication,
}

/// What aggregation recorded for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceOutcome {
    /// Left out; no health recorded.
    Skipped(SkipReason),
    /// No live object: recorded as `Missing`, not aggregated.
    Missing,
    /// The kind has no health check: nothing recorded, not aggregated.
    NoResult,
    /// Health was computed and recorded.
    Assessed {
        /// The resource's health.
        health: Health,
        /// Whether it took part in the app's health (false for a child Application that is
        /// `Missing` or `Unknown`).
        aggregated: bool,
    },
}

impl ResourceOutcome {
    /// The health recorded for the resource, if any (`Missing` for absent resources).
    pub fn recorded_health(&self) -> Option<Health> {
        match self {
            ResourceOutcome::Missing => Some(Health::new(HealthCode::Missing, "")),
            ResourceOutcome::Assessed { health, .. } => Some(health.clone()),
            ResourceOutcome::Skipped(_) | ResourceOutcome::NoResult => None,
        }
    }
}

/// A health check that failed with an error while aggregating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthError {
    /// The resource being assessed.
    pub object_ref: ObjectRef,
    /// The error text (also the message of the resource's `Unknown` health).
    pub message: String,
}

/// The result of [`aggregate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppHealth {
    /// The app's health. When it is not `Healthy` and resources caused it, the message is
    /// `Caused by <ref>, <ref>, <ref> and N more`, each `<ref>` being
    /// `<group/Kind or Kind>:<ns/name or name>`; otherwise it is empty.
    pub health: Health,
    /// One outcome per input, in input order.
    pub resources: Vec<ResourceOutcome>,
    /// Errors returned by the health check, in input order. The affected resources count as
    /// `Unknown` with the error text.
    pub errors: Vec<HealthError>,
}

impl AppHealth {
    /// The first error, with a count of the others: `"<first>"` or `"<first> (and N more)"`.
    pub fn error_summary(&self) -> Option<String> {
        let first = self.errors.first()?;
        Some(match self.errors.len() - 1 {
            0 => format!("{}: {}", first.object_ref, first.message),
            n => format!("{}: {} (and {n} more)", first.object_ref, first.message),
        })
    }
}

/// Aggregates app health, computing live objects' health with `check` (e.g. gitops-health's `BuiltinHealth`, or a chain of scripted
/// overrides and it). Resources given as [`LiveState::Assessed`] are not
/// re-checked.
///
/// Rules, in order, per resource: skip a Skip-only hook target; skip a live hook; skip a live
/// object with `ignore-healthcheck: "true"`; an absent live object is recorded `Missing` but not
/// aggregated; skip the app's own Application; no result is not aggregated; a child
/// `argoproj.io/Application` that is `Missing` or `Unknown` is not aggregated; otherwise the worse
/// status wins. After the walk, if some resource is not a hook but no resource exists live, the
/// app is `Missing` (when that is worse than what it has).
pub fn aggregate(resources: &[ResourceHealthInput<'_>], check: &dyn HealthCheck) -> AppHealth {
    let mut status = HealthCode::Healthy;
    let mut causes: Vec<&ObjectRef> = Vec::new();
    let mut outcomes = Vec::with_capacity(resources.len());
    let mut errors = Vec::new();
    let mut has_non_hook = false;
    let mut has_live = false;

    for res in resources {
        let (live_is_hook, ignored) = match &res.live {
            LiveState::Absent => (false, false),
            LiveState::Object(obj) => (is_hook(obj), ignores_healthcheck(obj)),
            LiveState::Assessed(a) => (a.is_hook, a.ignore_healthcheck),
        };
        if !matches!(res.live, LiveState::Absent) {
            has_live = true;
        }
        let outcome = if res.target_is_skip_hook {
            ResourceOutcome::Skipped(SkipReason::SkipHookTarget)
        } else if live_is_hook {
            ResourceOutcome::Skipped(SkipReason::LiveHook)
        } else {
            has_non_hook = true;
            if ignored {
                ResourceOutcome::Skipped(SkipReason::IgnoreHealthcheck)
            } else if matches!(res.live, LiveState::Absent) {
                ResourceOutcome::Missing
            } else if res.is_own_application {
                ResourceOutcome::Skipped(SkipReason::OwnApplication)
            } else {
                let health = match &res.live {
                    LiveState::Object(obj) => check.check(obj).unwrap_or_else(|e| {
                        let message = e.to_string();
                        errors.push(HealthError {
                            object_ref: res.object_ref.clone(),
                            message: message.clone(),
                        });
                        Some(Health::new(HealthCode::Unknown, message))
                    }),
                    LiveState::Assessed(a) => a.health.clone(),
                    LiveState::Absent => None,
                };
                match health {
                    None => ResourceOutcome::NoResult,
                    Some(health) => {
                        let child_app =
                            res.object_ref.group == "argoproj.io" && res.object_ref.kind == "Application";
                        let aggregated = !(child_app
                            && matches!(health.status, HealthCode::Missing | HealthCode::Unknown));
                        if aggregated {
                            if health.status > status {
                                status = health.status;
                                causes.clear();
                            }
                            if health.status == status {
                                causes.push(&res.object_ref);
                            }
                        }
                        ResourceOutcome::Assessed { health, aggregated }
                    }
                }
            }
        };
        outcomes.push(outcome);
    }

    if has_non_hook && !has_live && HealthCode::Missing > status {
        status = HealthCode::Missing;
        causes.clear();
    }
    let message = if status == HealthCode::Healthy {
        String::new()
    } else {
        caused_by(&causes)
    };
    AppHealth {
        health: Health::new(status, message),
        resources: outcomes,
        errors,
    }
}

/// `<group/Kind or Kind>:<ns/name or name>`.
fn cause_name(r: &ObjectRef) -> String {
    let mut s = String::new();
    if !r.group.is_empty() {
        s.push_str(&r.group);
        s.push('/');
    }
    s.push_str(&r.kind);
    s.push(':');
    if let Some(ns) = &r.namespace {
        s.push_str(ns);
        s.push('/');
    }
    s.push_str(&r.name);
    s
}

/// `Caused by a, b, c and N more`, or `""` with no causes.
fn caused_by(causes: &[&ObjectRef]) -> String {
    if causes.is_empty() {
        return String::new();
    }
    let named: Vec<String> = causes.iter().take(MAX_CAUSES).map(|r| cause_name(r)).collect();
    let mut message = format!("Caused by {}", named.join(", "));
    if causes.len() > MAX_CAUSES {
        message.push_str(&format!(" and {} more", causes.len() - MAX_CAUSES));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineError, health_fn};

    /// PersistentVolumeClaim by phase (as Argo CD's check), nothing else: enough for these rules.
    fn test_check() -> impl HealthCheck {
        health_fn(|o: &Object| {
            Ok((o.kind() == "PersistentVolumeClaim").then(|| {
                match o.pointer("/status/phase").and_then(|p| p.as_str()) {
                    Some("Bound") => Health::healthy(),
                    Some("Pending") => Health::new(HealthCode::Progressing, ""),
                    Some("Lost") => Health::new(HealthCode::Degraded, ""),
                    _ => Health::new(HealthCode::Unknown, ""),
                }
            }))
        })
    }
    use serde_json::json;

    #[allow(clippy::unwrap_used)]
    fn obj(v: serde_json::Value) -> Object {
        Object::from_value(v).unwrap()
    }

    fn pvc(name: &str, phase: &str) -> Object {
        obj(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "ns"}, "status": {"phase": phase}}))
    }

    fn assessed(group: &str, kind: &str, name: &str, code: HealthCode) -> ResourceHealthInput<'static> {
        ResourceHealthInput::assessed(
            ObjectRef::new(group, kind, Some("ns"), name),
            LiveAssessment {
                health: Some(Health::new(code, "")),
                ..LiveAssessment::default()
            },
        )
    }

    #[test]
    fn empty_app_is_healthy() {
        let app = aggregate(&[], &test_check());
        assert_eq!(app.health, Health::healthy());
    }

    #[test]
    fn worst_wins_and_causes() {
        let a = pvc("a", "Bound");
        let b = pvc("b", "Pending");
        let c = pvc("c", "Lost");
        let app = aggregate(
            &[
                ResourceHealthInput::live(&a),
                ResourceHealthInput::live(&b),
                ResourceHealthInput::live(&c),
            ],
            &test_check(),
        );
        assert_eq!(app.health.status, HealthCode::Degraded);
        assert_eq!(app.health.message, "Caused by PersistentVolumeClaim:ns/c");
        assert_eq!(
            app.resources[1],
            ResourceOutcome::Assessed {
                health: Health::progressing(""),
                aggregated: true
            }
        );
    }

    #[test]
    fn at_most_three_causes() {
        let inputs: Vec<_> = (0..5)
            .map(|i| assessed("apps", "Deployment", &format!("d{i}"), HealthCode::Progressing))
            .chain([assessed("", "ConfigMap", "ok", HealthCode::Healthy)])
            .collect();
        let app = aggregate(&inputs, &test_check());
        assert_eq!(app.health.status, HealthCode::Progressing);
        assert_eq!(
            app.health.message,
            "Caused by apps/Deployment:ns/d0, apps/Deployment:ns/d1, apps/Deployment:ns/d2 and 2 more"
        );
        let cluster = ResourceHealthInput::assessed(
            ObjectRef::new("rbac.authorization.k8s.io", "ClusterRole", None, "admin"),
            LiveAssessment {
                health: Some(Health::degraded("x")),
                ..LiveAssessment::default()
            },
        );
        let app = aggregate(&[cluster], &test_check());
        assert_eq!(
            app.health.message,
            "Caused by rbac.authorization.k8s.io/ClusterRole:admin"
        );
    }

    #[test]
    fn skips_and_missing() {
        let mut hook = pvc("hook", "Lost");
        hook.set_annotation("argocd.argoproj.io/hook", "PostSync");
        let mut ignored = pvc("ignored", "Lost");
        ignored.set_annotation("argocd.argoproj.io/ignore-healthcheck", "true");
        let mut skip_target = pvc("skip", "Lost");
        skip_target.set_annotation("argocd.argoproj.io/hook", "Skip");
        let skip_live = pvc("skip", "Lost");
        let own = obj(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "me", "namespace": "argocd"}}),
        );
        let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}));
        let app = aggregate(
            &[
                ResourceHealthInput::live(&hook),
                ResourceHealthInput::live(&ignored),
                ResourceHealthInput::live(&skip_live).with_target(&skip_target),
                ResourceHealthInput::missing(ObjectRef::new("apps", "Deployment", Some("ns"), "gone")),
                ResourceHealthInput::live(&own).own_application(),
                ResourceHealthInput::live(&cm),
            ],
            &test_check(),
        );
        assert_eq!(app.health, Health::healthy());
        assert_eq!(
            app.resources,
            vec![
                ResourceOutcome::Skipped(SkipReason::LiveHook),
                ResourceOutcome::Skipped(SkipReason::IgnoreHealthcheck),
                ResourceOutcome::Skipped(SkipReason::SkipHookTarget),
                ResourceOutcome::Missing,
                ResourceOutcome::Skipped(SkipReason::OwnApplication),
                ResourceOutcome::NoResult,
            ]
        );
        assert_eq!(
            app.resources[3].recorded_health().map(|h| h.status),
            Some(HealthCode::Missing)
        );
    }

    #[test]
    fn all_missing_makes_app_missing() {
        let gone = || ResourceHealthInput::missing(ObjectRef::new("", "Service", Some("ns"), "s"));
        let app = aggregate(&[gone(), gone()], &test_check());
        assert_eq!(app.health, Health::new(HealthCode::Missing, ""));
        // Only hooks: nothing to be missing.
        let mut hook = pvc("h", "Bound");
        hook.set_annotation("helm.sh/hook", "pre-install");
        let app = aggregate(&[ResourceHealthInput::live(&hook)], &test_check());
        assert_eq!(app.health.status, HealthCode::Healthy);
        // One live resource: missing ones are not aggregated.
        let live = pvc("a", "Pending");
        let app = aggregate(&[gone(), ResourceHealthInput::live(&live)], &test_check());
        assert_eq!(app.health.status, HealthCode::Progressing);
    }

    #[test]
    fn child_applications() {
        let app = aggregate(
            &[
                assessed("argoproj.io", "Application", "child1", HealthCode::Unknown),
                assessed("argoproj.io", "Application", "child2", HealthCode::Missing),
                assessed("argoproj.io", "Application", "child3", HealthCode::Suspended),
            ],
            &test_check(),
        );
        assert_eq!(app.health.status, HealthCode::Suspended);
        assert_eq!(app.health.message, "Caused by argoproj.io/Application:ns/child3");
        // Other kinds reporting Missing do count.
        let app = aggregate(
            &[assessed("example.com", "Widget", "w", HealthCode::Missing)],
            &test_check(),
        );
        assert_eq!(app.health.status, HealthCode::Missing);
    }

    #[test]
    fn errors_count_as_unknown() {
        let failing = health_fn(|_: &Object| Err(EngineError::other("lua exploded")));
        let a = pvc("a", "Bound");
        let b = pvc("b", "Bound");
        let app = aggregate(
            &[ResourceHealthInput::live(&a), ResourceHealthInput::live(&b)],
            &failing,
        );
        assert_eq!(app.health.status, HealthCode::Unknown);
        assert_eq!(app.errors.len(), 2);
        assert!(app.error_summary().is_some_and(|s| s.ends_with("(and 1 more)")));
    }
}
