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
                    if let Some(p) = SyncPhase::parse(other)
                        && matches!(
                            p,
                            SyncPhase::PreSync | SyncPhase::Sync | SyncPhase::PostSync | SyncPhase::SyncFail
                        )
                    {
                        phases.insert(p);
                    }
                }
            }
        }
    }
    if phases.is_empty()
        && !skip
        && let Some(v) = helm
    {
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

/// Why one task must run before another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dependency {
    /// The next (phase, wave) starts only after the previous one is done.
    Wave,
    /// A Namespace comes before the objects in it.
    Namespace,
    /// A CustomResourceDefinition comes before its custom resources.
    CustomResourceDefinition,
}

/// A whole sync plan: waves in execution order, and the dependency graph behind that order.
///
/// The order is a deterministic topological order of a DAG whose nodes are the tasks; edges go
/// from every task of one (phase, wave) to every task of the next (through a barrier), from a
/// Namespace to the objects in it, and from a CRD to its custom resources. Ties are broken by
/// phase, wave, kind order, name, then group, namespace and kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncPlan {
    /// The waves, in order.
    pub waves: Vec<Wave>,
    /// Dependency edges between task indices (positions in [`SyncPlan::tasks`]), excluding the
    /// implied wave-to-wave edges.
    edges: Vec<(usize, usize, Dependency)>,
}

impl SyncPlan {
    /// The plan grouped by phase: `(phase, waves of that phase)` in execution order.
    pub fn phases(&self) -> Vec<(SyncPhase, Vec<&Wave>)> {
        let mut out: Vec<(SyncPhase, Vec<&Wave>)> = Vec::new();
        for w in &self.waves {
            match out.last_mut() {
                Some((p, ws)) if *p == w.phase => ws.push(w),
                _ => out.push((w.phase, vec![w])),
            }
        }
        out
    }

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

    /// Explicit dependency edges `(before, after, why)` between task indices in execution order.
    /// Together with the wave order they form the plan's DAG; every edge points forward.
    pub fn dependencies(&self) -> &[(usize, usize, Dependency)] {
        &self.edges
    }

    /// The plan as a Graphviz `dot` digraph: one cluster per (phase, wave).
    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph sync {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
        let mut idx = 0;
        let mut firsts = Vec::new();
        for (wi, w) in self.waves.iter().enumerate() {
            out.push_str(&format!(
                "  subgraph cluster_{wi} {{\n    label=\"{} wave {}\";\n",
                w.phase, w.wave
            ));
            firsts.push(idx);
            for t in &w.tasks {
                out.push_str(&format!(
                    "    t{idx} [label=\"{}\"];\n",
                    dot_escape(&t.to_string())
                ));
                idx += 1;
            }
            out.push_str("  }\n");
        }
        for pair in firsts.windows(2) {
            out.push_str(&format!(
                "  t{} -> t{} [style=dashed, label=\"wave\"];\n",
                pair[0], pair[1]
            ));
        }
        for (a, b, why) in &self.edges {
            out.push_str(&format!("  t{a} -> t{b} [label=\"{why:?}\"];\n"));
        }
        out.push_str("}\n");
        out
    }

    /// The plan as a Mermaid flowchart: one subgraph per (phase, wave).
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let mut idx = 0;
        let mut firsts = Vec::new();
        for (wi, w) in self.waves.iter().enumerate() {
            out.push_str(&format!("  subgraph w{wi}[\"{} wave {}\"]\n", w.phase, w.wave));
            firsts.push(idx);
            for t in &w.tasks {
                out.push_str(&format!("    t{idx}[\"{}\"]\n", t.to_string().replace('"', "'")));
                idx += 1;
            }
            out.push_str("  end\n");
        }
        for pair in (0..self.waves.len()).collect::<Vec<_>>().windows(2) {
            out.push_str(&format!("  w{} --> w{}\n", pair[0], pair[1]));
        }
        for (a, b, why) in &self.edges {
            out.push_str(&format!("  t{a} -. {why:?} .-> t{b}\n"));
        }
        out
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Orders tasks as a deterministic topological sort of their dependency DAG (petgraph), with
/// `rank` (the Argo CD sort position) breaking ties. Returns the new order and the explicit
/// dependency edges in that order, or the tasks unchanged when the graph has a cycle.
/// Tasks in order, with the explicit dependency edges between their positions.
type Ordered = (Vec<Task>, Vec<(usize, usize, Dependency)>);

fn topological(tasks: Vec<Task>) -> Result<Ordered, Vec<Task>> {
    use petgraph::graph::{DiGraph, NodeIndex};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let n = tasks.len();
    let mut g: DiGraph<usize, Option<Dependency>> = DiGraph::with_capacity(n * 2, n * 2);
    let nodes: Vec<NodeIndex> = (0..n).map(|i| g.add_node(i)).collect();
    // Wave barriers: tasks of one (phase, wave) -> barrier -> tasks of the next.
    let mut i = 0;
    let mut prev_barrier: Option<NodeIndex> = None;
    while i < n {
        let key = (tasks[i].phase, tasks[i].wave);
        let mut j = i;
        while j < n && (tasks[j].phase, tasks[j].wave) == key {
            j += 1;
        }
        let barrier = g.add_node(usize::MAX);
        for &node in &nodes[i..j] {
            if let Some(b) = prev_barrier {
                g.add_edge(b, node, None);
            }
            g.add_edge(node, barrier, None);
        }
        prev_barrier = Some(barrier);
        i = j;
    }
    // Namespace and CRD dependencies.
    for (a, t) in tasks.iter().enumerate() {
        if t.action != TaskAction::Apply {
            continue;
        }
        let o = &t.object;
        if o.group().is_empty() && o.kind() == "Namespace" {
            for (b, u) in tasks.iter().enumerate() {
                if b != a && u.action == TaskAction::Apply && u.object.namespace() == Some(o.name()) {
                    g.add_edge(nodes[a], nodes[b], Some(Dependency::Namespace));
                }
            }
        } else if o.group() == "apiextensions.k8s.io" && o.kind() == "CustomResourceDefinition" {
            let grp = o.pointer("/spec/group").and_then(|v| v.as_str()).unwrap_or("");
            let kind = o
                .pointer("/spec/names/kind")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            for (b, u) in tasks.iter().enumerate() {
                if u.action == TaskAction::Apply && u.object.group() == grp && u.object.kind() == kind {
                    g.add_edge(nodes[a], nodes[b], Some(Dependency::CustomResourceDefinition));
                }
            }
        }
    }
    // Kahn's algorithm, smallest rank first (barriers rank after the tasks they close).
    let rank = |ix: NodeIndex| -> (usize, usize) {
        let w = g[ix];
        if w == usize::MAX {
            (usize::MAX, ix.index())
        } else {
            (w, 0)
        }
    };
    let mut indeg: Vec<usize> = g
        .node_indices()
        .map(|ix| g.neighbors_directed(ix, petgraph::Incoming).count())
        .collect();
    let mut heap: BinaryHeap<Reverse<((usize, usize), usize)>> = g
        .node_indices()
        .filter(|ix| indeg[ix.index()] == 0)
        .map(|ix| Reverse((rank(ix), ix.index())))
        .collect();
    let mut order: Vec<usize> = Vec::with_capacity(n);
    while let Some(Reverse((_, ix))) = heap.pop() {
        let ix = NodeIndex::new(ix);
        if g[ix] != usize::MAX {
            order.push(g[ix]);
        }
        for next in g.neighbors_directed(ix, petgraph::Outgoing) {
            indeg[next.index()] -= 1;
            if indeg[next.index()] == 0 {
                heap.push(Reverse((rank(next), next.index())));
            }
        }
    }
    if order.len() != n {
        return Err(tasks);
    }
    let mut pos = vec![0usize; n];
    for (p, &t) in order.iter().enumerate() {
        pos[t] = p;
    }
    let mut edges: Vec<(usize, usize, Dependency)> = g
        .edge_indices()
        .filter_map(|e| {
            let why = g[e]?;
            let (a, b) = g.edge_endpoints(e)?;
            Some((pos[g[a]], pos[g[b]], why))
        })
        .collect();
    edges.sort_unstable_by_key(|(a, b, _)| (*a, *b));
    edges.dedup();
    let mut slots: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    let ordered = order.into_iter().filter_map(|i| slots[i].take()).collect();
    Ok((ordered, edges))
}

/// Builds a plan from desired objects (already placed in namespaces) and prune candidates
/// (live objects no longer desired).
///
/// Skip and ignored hooks are left out. Namespaces move before the first task that targets them
/// (inheriting its phase and wave), and CRDs before the first custom resource of their kind, as
/// Argo CD's dependency adjustment does.
pub fn plan(desired: &[Object], prune: &[Object], prune_last: bool) -> SyncPlan {
    plan_owned(desired.to_vec(), prune.to_vec(), prune_last)
}

/// Like [`plan`], taking the objects by value (no copies are made).
pub fn plan_owned(desired: Vec<Object>, prune: Vec<Object>, prune_last: bool) -> SyncPlan {
    let mut tasks: Vec<Task> = Vec::with_capacity(desired.len() + prune.len());
    for obj in desired {
        let wave = wave_of(&obj);
        match hook_role(&obj) {
            HookRole::Resource => tasks.push(Task {
                phase: SyncPhase::Sync,
                wave,
                action: TaskAction::Apply,
                hook: false,
                object: obj,
            }),
            HookRole::Hook(mut phases) => {
                // A hook in several phases runs once per phase: copies for all but the last.
                let last = phases.pop();
                for phase in phases {
                    tasks.push(Task {
                        phase,
                        wave,
                        action: TaskAction::Apply,
                        hook: true,
                        object: obj.clone(),
                    });
                }
                if let Some(phase) = last {
                    tasks.push(Task {
                        phase,
                        wave,
                        action: TaskAction::Apply,
                        hook: true,
                        object: obj,
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
        .into_iter()
        .map(|obj| {
            let w = wave_of(&obj);
            let idx = prune_waves.iter().position(|x| *x == w).unwrap_or(0);
            let mirrored = prune_waves[prune_waves.len() - 1 - idx];
            Task {
                phase: SyncPhase::Sync,
                wave: mirrored,
                action: TaskAction::Prune,
                hook: false,
                object: obj,
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
    // Sort by precomputed keys: computing a key reads several fields of the object, so doing it
    // once per task instead of once per comparison matters for large apps.
    let order: Vec<usize> = {
        let keys: Vec<_> = tasks.iter().map(Task::sort_key).collect();
        let mut order: Vec<usize> = (0..tasks.len()).collect();
        order.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
        order
    };
    let mut slots: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    let mut tasks: Vec<Task> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    adjust_dependencies(&mut tasks);
    adjust_dependencies(&mut tasks);
    // The adjusted order is consistent with the dependency DAG, so the topological sort keeps it;
    // it also yields the explicit edges. (A cycle cannot happen: every edge points forward.)
    let (tasks, edges) = match topological(tasks) {
        Ok(t) => t,
        Err(tasks) => (tasks, Vec::new()),
    };

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
    SyncPlan { waves, edges }
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
