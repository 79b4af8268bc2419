//! Sync planning: which task runs in which phase and wave, in Argo CD's order.
//!
//! Tasks are ordered by phase (PreSync, Sync, PostSync, SyncFail), then wave
//! (`argocd.argoproj.io/sync-wave`, falling back to `helm.sh/hook-weight`, then 0), then the
//! position of the kind in Argo CD's kind order (unlisted kinds last), then name. Ties on all
//! four keys are broken by group, then namespace, then kind, so a plan is fully deterministic
//! (Argo CD leaves them unspecified). Prune tasks get their wave from the live object, mirrored
//! so that the highest waves are pruned first, and run before applies of the same wave.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use crate::model::SyncPhase;
use crate::object::{Object, ObjectRef};

/// Annotation naming the hook phases of an object.
pub const HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// Annotation naming hook delete policies.
pub const HOOK_DELETE_POLICY_ANNOTATION: &str = "argocd.argoproj.io/hook-delete-policy";
/// Annotation holding the sync wave.
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";
/// Annotation holding per-resource sync options.
pub const SYNC_OPTIONS_ANNOTATION: &str = "argocd.argoproj.io/sync-options";
/// Helm's hook annotation.
pub const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";
/// Helm's hook weight annotation (wave fallback).
pub const HELM_HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// Helm's hook delete policy annotation.
pub const HELM_HOOK_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// Argo CD's kind order (from Helm's kind sorter). Kinds not listed sort after all of these.
pub const KIND_ORDER: [&str; 35] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Position of a kind in [`KIND_ORDER`]; unlisted kinds get `KIND_ORDER.len()`.
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// Splits a comma-separated annotation value: items trimmed, empties dropped, duplicates removed.
pub fn csv(value: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The sync wave of an object: `sync-wave`, else `helm.sh/hook-weight`, else 0.
pub fn wave_of(obj: &Object) -> i64 {
    obj.annotation(SYNC_WAVE_ANNOTATION)
        .and_then(|w| w.trim().parse().ok())
        .or_else(|| {
            obj.annotation(HELM_HOOK_WEIGHT_ANNOTATION)
                .and_then(|w| w.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// How an object takes part in a sync, from its hook annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookRole {
    /// Not a hook: applied in the Sync phase.
    Resource,
    /// A hook running in these phases (sorted, deduplicated).
    Hook(Vec<SyncPhase>),
    /// `Skip`: never applied.
    Skip,
    /// A hook with no phase this engine runs (e.g. only `PostDelete`, or Helm `test`): left out of the sync.
    Ignored,
}

/// Reads the hook annotations of an object (Argo CD's first, Helm's only when Argo's name no phase).
pub fn hook_role(obj: &Object) -> HookRole {
    let argo = obj.annotation(HOOK_ANNOTATION);
    let helm = obj.annotation(HELM_HOOK_ANNOTATION);
    let mut phases = BTreeSet::new();
    let mut skip = false;
    if let Some(v) = argo {
        for item in csv(v) {
            match item {
                "Skip" => skip = true,
                other => {
                    if let Some(p) = SyncPhase::parse(other) {
                        if matches!(
                            p,
                            SyncPhase::PreSync | SyncPhase::Sync | SyncPhase::PostSync | SyncPhase::SyncFail
                        ) {
                            phases.insert(p);
                        }
                    }
                }
            }
        }
    }
    if phases.is_empty() && !skip {
        if let Some(v) = helm {
            for item in csv(v) {
                match item {
                    "pre-install" | "pre-upgrade" => {
                        phases.insert(SyncPhase::PreSync);
                    }
                    "post-install" | "post-upgrade" => {
                        phases.insert(SyncPhase::PostSync);
                    }
                    _ => {}
                }
            }
        }
    }
    let is_hook = argo.is_some() || helm.is_some_and(|h| h.trim() != "crd-install");
    if !is_hook {
        return HookRole::Resource;
    }
    if !phases.is_empty() {
        return HookRole::Hook(phases.into_iter().collect());
    }
    if skip { HookRole::Skip } else { HookRole::Ignored }
}

/// A hook delete policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeletePolicy {
    /// Delete an existing hook object before creating it again (the default).
    BeforeHookCreation,
    /// Delete when the whole sync succeeded.
    HookSucceeded,
    /// Delete when the sync failed.
    HookFailed,
}

/// The delete policies of a hook (Argo CD and Helm annotations unioned; default BeforeHookCreation).
pub fn delete_policies(obj: &Object) -> BTreeSet<DeletePolicy> {
    let mut out = BTreeSet::new();
    if let Some(v) = obj.annotation(HOOK_DELETE_POLICY_ANNOTATION) {
        for p in csv(v) {
            match p {
                "BeforeHookCreation" => out.insert(DeletePolicy::BeforeHookCreation),
                "HookSucceeded" => out.insert(DeletePolicy::HookSucceeded),
                "HookFailed" => out.insert(DeletePolicy::HookFailed),
                _ => false,
            };
        }
    }
    if let Some(v) = obj.annotation(HELM_HOOK_DELETE_POLICY_ANNOTATION) {
        for p in csv(v) {
            match p {
                "before-hook-creation" => out.insert(DeletePolicy::BeforeHookCreation),
                "hook-succeeded" => out.insert(DeletePolicy::HookSucceeded),
                "hook-failed" => out.insert(DeletePolicy::HookFailed),
                _ => false,
            };
        }
    }
    if out.is_empty() {
        out.insert(DeletePolicy::BeforeHookCreation);
    }
    out
}

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskAction {
    /// Create or update the object.
    Apply,
    /// Delete a live object that is no longer desired.
    Prune,
}

/// One step of a sync: apply or prune one object in one phase and wave.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Phase.
    pub phase: SyncPhase,
    /// Effective wave.
    pub wave: i64,
    /// Apply or prune.
    pub action: TaskAction,
    /// Whether the object is a hook.
    pub hook: bool,
    /// The object: the desired object for applies, the live object for prunes.
    pub object: Object,
}

impl Task {
    /// The object's reference.
    pub fn object_ref(&self) -> ObjectRef {
        self.object.object_ref()
    }

    fn sort_key(&self) -> (SyncPhase, i64, u8, usize, &str, &str, &str, &str) {
        (
            self.phase,
            self.wave,
            // Within one wave, prunes run before applies.
            match self.action {
                TaskAction::Prune => 0,
                TaskAction::Apply => 1,
            },
            kind_rank(self.object.kind()),
            task_name(&self.object),
            self.object.group(),
            self.object.namespace().unwrap_or(""),
            self.object.kind(),
        )
    }
}

fn task_name(o: &Object) -> &str {
    if o.name().is_empty() {
        o.generate_name().unwrap_or("")
    } else {
        o.name()
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            TaskAction::Apply if self.hook => "hook",
            TaskAction::Apply => "apply",
            TaskAction::Prune => "prune",
        };
        write!(f, "{} {verb} {}", self.phase, self.object.object_ref())
    }
}

/// One wave of one phase: the tasks that run together.
#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    /// Phase.
    pub phase: SyncPhase,
    /// Wave number.
    pub wave: i64,
    /// Tasks in execution order.
    pub tasks: Vec<Task>,
}

impl Wave {
    /// Whether the wave contains hooks.
    pub fn has_hooks(&self) -> bool {
        self.tasks.iter().any(|t| t.hook)
    }
}

/// A whole sync plan: waves in execution order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncPlan {
    /// The waves, in order.
    pub waves: Vec<Wave>,
}

impl SyncPlan {
    /// Every task in execution order.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.waves.iter().flat_map(|w| w.tasks.iter())
    }

    /// Whether the plan spans more than one (phase, wave): only then does a wave wait for the
    /// health of the previous one (Argo CD's rule).
    pub fn is_multi_step(&self) -> bool {
        self.waves
            .iter()
            .filter(|w| w.phase != SyncPhase::SyncFail)
            .count()
            > 1
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.waves.iter().map(|w| w.tasks.len()).sum()
    }

    /// Whether the plan has no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds a plan from desired objects (already placed in namespaces) and prune candidates
/// (live objects no longer desired).
///
/// Skip and ignored hooks are left out. Namespaces move before the first task that targets them
/// (inheriting its phase and wave), and CRDs before the first custom resource of their kind, as
/// Argo CD's dependency adjustment does.
pub fn plan(desired: &[Object], prune: &[Object], prune_last: bool) -> SyncPlan {
    let mut tasks: Vec<Task> = Vec::new();
    for obj in desired {
        match hook_role(obj) {
            HookRole::Resource => tasks.push(Task {
                phase: SyncPhase::Sync,
                wave: wave_of(obj),
                action: TaskAction::Apply,
                hook: false,
                object: obj.clone(),
            }),
            HookRole::Hook(phases) => {
                for phase in phases {
                    tasks.push(Task {
                        phase,
                        wave: wave_of(obj),
                        action: TaskAction::Apply,
                        hook: true,
                        object: obj.clone(),
                    });
                }
            }
            HookRole::Skip | HookRole::Ignored => {}
        }
    }
    // Prune waves: mirror the distinct waves so the highest is pruned first.
    let prune_waves: Vec<i64> = {
        let set: BTreeSet<i64> = prune.iter().map(wave_of).collect();
        set.into_iter().collect()
    };
    let mut prune_tasks: Vec<Task> = prune
        .iter()
        .map(|obj| {
            let w = wave_of(obj);
            let idx = prune_waves.iter().position(|x| *x == w).unwrap_or(0);
            let mirrored = prune_waves[prune_waves.len() - 1 - idx];
            Task {
                phase: SyncPhase::Sync,
                wave: mirrored,
                action: TaskAction::Prune,
                hook: false,
                object: obj.clone(),
            }
        })
        .collect();
    let prune_last_for = |o: &Object| {
        prune_last
            || o.annotation(SYNC_OPTIONS_ANNOTATION)
                .is_some_and(|v| csv(v).contains(&"PruneLast=true"))
    };
    if prune_tasks.iter().any(|t| prune_last_for(&t.object)) {
        let max_sync_wave = tasks
            .iter()
            .chain(prune_tasks.iter())
            .filter(|t| t.phase == SyncPhase::Sync)
            .map(|t| t.wave)
            .max()
            .unwrap_or(0);
        let last = max_sync_wave.max(0) + 1;
        for t in prune_tasks.iter_mut() {
            if prune_last_for(&t.object) {
                t.wave = last;
            }
        }
    }
    tasks.extend(prune_tasks);
    tasks.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    adjust_dependencies(&mut tasks);
    adjust_dependencies(&mut tasks);

    let mut waves: Vec<Wave> = Vec::new();
    for t in tasks {
        match waves.last_mut() {
            Some(w) if w.phase == t.phase && w.wave == t.wave => w.tasks.push(t),
            _ => waves.push(Wave {
                phase: t.phase,
                wave: t.wave,
                tasks: vec![t],
            }),
        }
    }
    SyncPlan { waves }
}

/// Moves Namespace tasks before the first task in that namespace, and CRD tasks before the first
/// custom resource they define, inheriting its phase and wave.
fn adjust_dependencies(tasks: &mut Vec<Task>) {
    let mut i = 0;
    while i < tasks.len() {
        let t = &tasks[i];
        if t.action != TaskAction::Apply {
            i += 1;
            continue;
        }
        let target = if t.object.group().is_empty() && t.object.kind() == "Namespace" {
            let ns = t.object.name().to_owned();
            tasks
                .iter()
                .position(|o| o.action == TaskAction::Apply && o.object.namespace() == Some(ns.as_str()))
        } else if t.object.group() == "apiextensions.k8s.io" && t.object.kind() == "CustomResourceDefinition"
        {
            let g = t
                .object
                .pointer("/spec/group")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            let k = t
                .object
                .pointer("/spec/names/kind")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            tasks
                .iter()
                .position(|o| o.action == TaskAction::Apply && o.object.group() == g && o.object.kind() == k)
        } else {
            None
        };
        match target {
            Some(j) if j < i => {
                let mut moved = tasks.remove(i);
                moved.phase = tasks[j].phase;
                moved.wave = tasks[j].wave;
                tasks.insert(j, moved);
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// Compares two tasks in execution order (exposed for property tests and custom planners).
pub fn task_order(a: &Task, b: &Task) -> Ordering {
    a.sort_key().cmp(&b.sort_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_objects;

    fn objs(y: &str) -> Vec<Object> {
        load_objects(y, "t.yaml")
            .unwrap()
            .into_iter()
            .map(|l| l.object)
            .collect()
    }

    #[test]
    fn orders_by_phase_wave_kind_name() {
        let d = objs(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: a, namespace: n}
---
apiVersion: v1
kind: Service
metadata: {name: z, namespace: n}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: n, annotations: {argocd.argoproj.io/sync-wave: "-1"}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: n, annotations: {argocd.argoproj.io/hook: PreSync}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: smoke, namespace: n, annotations: {argocd.argoproj.io/hook: "PostSync"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: n}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: n}
"#,
        );
        let p = plan(&d, &[], false);
        let order: Vec<String> = p
            .tasks()
            .map(|t| format!("{}:{}:{}", t.phase, t.wave, t.object.name()))
            .collect();
        assert_eq!(
            order,
            [
                "PreSync:0:n",
                "PreSync:0:migrate",
                "Sync:-1:b",
                "Sync:0:z",
                "Sync:0:a",
                "Sync:0:w",
                "PostSync:0:smoke"
            ]
        );
        assert!(p.is_multi_step());
    }

    #[test]
    fn hook_roles() {
        let o = |a: &str| {
            let mut o = Object::new("v1", "Pod", Some("n"), "p");
            o.set_annotation(HOOK_ANNOTATION, a);
            o
        };
        assert_eq!(hook_role(&o("Skip")), HookRole::Skip);
        assert_eq!(
            hook_role(&o("Skip,PreSync")),
            HookRole::Hook(vec![SyncPhase::PreSync])
        );
        assert_eq!(hook_role(&o("PostDelete")), HookRole::Ignored);
        assert_eq!(
            hook_role(&o("PreSync, PostSync")),
            HookRole::Hook(vec![SyncPhase::PreSync, SyncPhase::PostSync])
        );
        let mut h = Object::new("v1", "Pod", Some("n"), "p");
        h.set_annotation(HELM_HOOK_ANNOTATION, "crd-install");
        assert_eq!(hook_role(&h), HookRole::Resource);
        h.set_annotation(HELM_HOOK_ANNOTATION, "pre-install");
        assert_eq!(hook_role(&h), HookRole::Hook(vec![SyncPhase::PreSync]));
    }

    #[test]
    fn prune_waves_are_mirrored() {
        let live = objs(
            r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: n, annotations: {argocd.argoproj.io/sync-wave: "1"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: n, annotations: {argocd.argoproj.io/sync-wave: "5"}}
"#,
        );
        let p = plan(&[], &live, false);
        let order: Vec<(String, i64)> = p.tasks().map(|t| (t.object.name().to_owned(), t.wave)).collect();
        assert_eq!(order, [("b".to_owned(), 1), ("a".to_owned(), 5)]);
        let p = plan(&[], &live, true);
        assert!(p.tasks().all(|t| t.wave == 6));
    }

    #[test]
    fn wave_fallbacks() {
        let mut o = Object::new("v1", "ConfigMap", Some("n"), "c");
        assert_eq!(wave_of(&o), 0);
        o.set_annotation(HELM_HOOK_WEIGHT_ANNOTATION, "3");
        assert_eq!(wave_of(&o), 3);
        o.set_annotation(SYNC_WAVE_ANNOTATION, "x");
        assert_eq!(wave_of(&o), 3);
        o.set_annotation(SYNC_WAVE_ANNOTATION, "-2");
        assert_eq!(wave_of(&o), -2);
    }
}
