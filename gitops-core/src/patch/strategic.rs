//! Kubernetes strategic merge patch for built-in kinds.
//!
//! Like a JSON merge patch, but lists of built-in types are merged element by element using a
//! *merge key*, and a few `$`-directives control the merge. Kinds outside the built-in API groups
//! (CRDs and other custom resources) have no strategic schema: for them [`apply`] and
//! [`three_way`] fall back to JSON merge semantics, which replace lists wholesale — exactly
//! what `kubectl apply`/`kubectl patch` do.
//!
//! ## Merge keys and patch strategies
//!
//! Taken from the `patchStrategy`/`patchMergeKey` struct tags (and the `listMapKeys` of
//! server-side apply for secondary keys) in `k8s.io/api` (core/v1, apps/v1, batch/v1,
//! meta/v1 `types.go`), Kubernetes 1.30:
//!
//! | Type | Field | Strategy | Merge key(s) |
//! |---|---|---|---|
//! | ObjectMeta (every built-in kind, pod templates) | `ownerReferences` | merge | `uid` |
//! | ObjectMeta | `finalizers` | merge (set of strings) | — |
//! | PodSpec | `containers`, `initContainers`, `ephemeralContainers` | merge | `name` |
//! | PodSpec | `volumes` | merge, retainKeys | `name` |
//! | PodSpec | `imagePullSecrets`, `resourceClaims`, `schedulingGates` | merge | `name` |
//! | PodSpec | `hostAliases` | merge | `ip` |
//! | PodSpec | `topologySpreadConstraints` | merge | `topologyKey` (+`whenUnsatisfiable`) |
//! | PodSpec | `tolerations`, `readinessGates` | replace | — |
//! | Container | `ports` | merge | `containerPort` (+`protocol`, default `TCP`) |
//! | Container | `env` | merge | `name` |
//! | Container | `volumeMounts` | merge | `mountPath` |
//! | Container | `volumeDevices` | merge | `devicePath` |
//! | Container | `args`, `command`, `envFrom` | replace | — |
//! | ServiceSpec | `ports` | merge | `port` (+`protocol`, default `TCP`) |
//! | ServiceAccount | `secrets`, `imagePullSecrets` | merge | `name` |
//! | any built-in `status` (Pod, Node, Deployment, …) | `conditions` | merge | `type` |
//! | NodeStatus | `addresses` | merge | `type` |
//! | PodTemplateSpec | `metadata`, `spec` | (map) | ObjectMeta, PodSpec |
//!
//! Pod templates are found at `spec.template` of Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! ReplicationController and Job, at `spec.jobTemplate.spec.template` of CronJob, at `template` of
//! PodTemplate; a Pod's `spec` is a PodSpec. Every other list of a built-in kind is replaced.
//! Secondary keys (`protocol`, `whenUnsatisfiable`) must also match, a missing value counting as
//! its default; Kubernetes' own strategic merge only uses the primary key, which merges
//! `53/TCP` and `53/UDP` into one port — the server-side apply `listMapKeys` do not.
//!
//! ## Directives
//!
//! - `$patch: replace` in a mapping replaces it; `$patch: delete` deletes it; `$patch: merge` is
//!   the default. A list element `{"$patch": "replace"}` replaces the whole list with the other
//!   elements; an element `{"name": "x", "$patch": "delete"}` deletes the matching element.
//! - `$retainKeys: [..]` drops the original's keys not in the list (and not in the patch).
//! - `$deleteFromPrimitiveList/<field>: [..]` removes those values from a primitive list.
//! - `$setElementOrder/<field>: [..]` orders the merged list: listed elements first, in that
//!   order (matched by merge key, or by value for primitive lists), then the others.
//!
//! Elements merged into a list keep the original's position; new elements are appended in patch
//! order (apimachinery's behaviour; Kustomize v5's kyaml puts patch elements first).

use serde_json::{Map, Value};

use super::{PatchError, child_path, json_eq, json_merge};
use crate::object::{GroupKind, value_kind};

/// A merge key: field name and the value a missing field counts as.
type Key = (&'static str, Option<&'static str>);

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Replaced as a whole (the default, and the only strategy for unknown kinds).
    Replace,
    /// A set of primitives: patch values are added (`finalizers`).
    Set,
    /// Elements are mappings merged by key; the first key is the `patchMergeKey`.
    Merge(&'static [Key]),
}

/// The schema "types" that carry list strategies. `Any` means nothing is known below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// No strategic knowledge: lists are replaced, mappings merged.
    Any,
    /// The top level of a built-in kind with no further special fields.
    Root,
    /// Pod.
    PodRoot,
    /// Workloads with `spec.template`.
    WorkloadRoot,
    /// `spec` of workloads.
    WorkloadSpec,
    /// CronJob.
    CronJobRoot,
    /// CronJob `spec`.
    CronJobSpec,
    /// CronJob `spec.jobTemplate`.
    JobTemplate,
    /// PodTemplate.
    PodTemplateRoot,
    /// Service.
    ServiceRoot,
    /// Service `spec`.
    ServiceSpec,
    /// ServiceAccount.
    ServiceAccountRoot,
    /// Node.
    NodeRoot,
    /// Node `status`.
    NodeStatus,
    /// `metadata`.
    ObjectMeta,
    /// Pod template.
    PodTemplateSpec,
    /// PodSpec.
    PodSpec,
    /// Container.
    Container,
    /// A `status` with conditions.
    Status,
}

const BY_NAME: &[Key] = &[("name", None)];

/// Strategy and element type of field `name` of type `ty`.
pub(crate) fn field(ty: Ty, name: &str) -> (ListKind, Ty) {
    use ListKind::{Merge, Replace, Set};
    match (ty, name) {
        (Ty::Any, _) => (Replace, Ty::Any),
        (
            Ty::Root
            | Ty::PodRoot
            | Ty::WorkloadRoot
            | Ty::CronJobRoot
            | Ty::PodTemplateRoot
            | Ty::ServiceRoot
            | Ty::ServiceAccountRoot
            | Ty::NodeRoot
            | Ty::PodTemplateSpec
            | Ty::JobTemplate,
            "metadata",
        ) => (Replace, Ty::ObjectMeta),
        (Ty::NodeRoot, "status") => (Replace, Ty::NodeStatus),
        (
            Ty::Root
            | Ty::PodRoot
            | Ty::WorkloadRoot
            | Ty::CronJobRoot
            | Ty::ServiceRoot
            | Ty::ServiceAccountRoot
            | Ty::PodTemplateRoot,
            "status",
        ) => (Replace, Ty::Status),
        (Ty::PodRoot, "spec") => (Replace, Ty::PodSpec),
        (Ty::WorkloadRoot, "spec") | (Ty::JobTemplate, "spec") => (Replace, Ty::WorkloadSpec),
        (Ty::WorkloadSpec, "template") | (Ty::PodTemplateRoot, "template") => (Replace, Ty::PodTemplateSpec),
        (Ty::CronJobRoot, "spec") => (Replace, Ty::CronJobSpec),
        (Ty::CronJobSpec, "jobTemplate") => (Replace, Ty::JobTemplate),
        (Ty::ServiceRoot, "spec") => (Replace, Ty::ServiceSpec),
        (Ty::ServiceAccountRoot, "secrets" | "imagePullSecrets") => (Merge(BY_NAME), Ty::Any),
        (Ty::PodTemplateSpec, "spec") => (Replace, Ty::PodSpec),
        (Ty::ObjectMeta, "ownerReferences") => (Merge(&[("uid", None)]), Ty::Any),
        (Ty::ObjectMeta, "finalizers") => (Set, Ty::Any),
        (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            (Merge(BY_NAME), Ty::Container)
        }
        (Ty::PodSpec, "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates") => {
            (Merge(BY_NAME), Ty::Any)
        }
        (Ty::PodSpec, "hostAliases") => (Merge(&[("ip", None)]), Ty::Any),
        (Ty::PodSpec, "topologySpreadConstraints") => (
            Merge(&[
                ("topologyKey", None),
                ("whenUnsatisfiable", Some("DoNotSchedule")),
            ]),
            Ty::Any,
        ),
        (Ty::Container, "ports") => (
            Merge(&[("containerPort", None), ("protocol", Some("TCP"))]),
            Ty::Any,
        ),
        (Ty::Container, "env") => (Merge(BY_NAME), Ty::Any),
        (Ty::Container, "volumeMounts") => (Merge(&[("mountPath", None)]), Ty::Any),
        (Ty::Container, "volumeDevices") => (Merge(&[("devicePath", None)]), Ty::Any),
        (Ty::ServiceSpec, "ports") => (Merge(&[("port", None), ("protocol", Some("TCP"))]), Ty::Any),
        (Ty::Status | Ty::NodeStatus, "conditions") => (Merge(&[("type", None)]), Ty::Any),
        (Ty::NodeStatus, "addresses") => (Merge(&[("type", None)]), Ty::Any),
        _ => (Replace, Ty::Any),
    }
}

/// API groups whose kinds are built into Kubernetes (and so have a strategic merge schema).
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "apiregistration.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "certificates.k8s.io",
    "node.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "extensions",
];

/// Whether `kind` belongs to a built-in API group, i.e. has a strategic merge schema.
pub fn is_builtin(kind: &GroupKind) -> bool {
    BUILTIN_GROUPS.contains(&kind.group.as_str())
}

/// The schema type at the top of an object of `kind`; `None` for kinds without a schema.
pub(crate) fn root_type(group: &str, kind: &str) -> Option<Ty> {
    if !BUILTIN_GROUPS.contains(&group) {
        return None;
    }
    Some(match (group, kind) {
        ("", "Pod") => Ty::PodRoot,
        ("", "PodTemplate") => Ty::PodTemplateRoot,
        ("", "ReplicationController")
        | ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Ty::WorkloadRoot,
        ("batch", "CronJob") => Ty::CronJobRoot,
        ("", "Service") => Ty::ServiceRoot,
        ("", "ServiceAccount") => Ty::ServiceAccountRoot,
        ("", "Node") => Ty::NodeRoot,
        _ => Ty::Root,
    })
}

/// Applies a strategic merge `patch` to a copy of `original`.
///
/// Kinds outside the built-in API groups get JSON merge semantics (RFC 7386), with the
/// directives left as ordinary keys.
pub fn apply(original: &Value, patch: &Value, kind: &GroupKind) -> Result<Value, PatchError> {
    let mut out = original.clone();
    apply_in_place(&mut out, patch, kind)?;
    Ok(out)
}

/// Applies a strategic merge `patch` to `target` in place. On error `target` may be partly
/// patched; use [`apply`] for all-or-nothing behaviour.
pub fn apply_in_place(target: &mut Value, patch: &Value, kind: &GroupKind) -> Result<(), PatchError> {
    match root_type(&kind.group, &kind.kind) {
        None => {
            json_merge::apply_in_place(target, patch);
            Ok(())
        }
        Some(ty) => merge_value(target, patch, ty, ""),
    }
}

/// Merges `patch` into `target`.
pub(crate) fn merge_value(target: &mut Value, patch: &Value, ty: Ty, path: &str) -> Result<(), PatchError> {
    match patch {
        Value::Object(pm) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(tm) = target
                && merge_map(tm, pm, ty, path)? == Outcome::Delete
            {
                *target = Value::Object(Map::new());
            }
            Ok(())
        }
        other => {
            *target = other.clone();
            Ok(())
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    Delete,
}

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";
const SET_ORDER: &str = "$setElementOrder/";

fn directive<'a>(m: &'a Map<String, Value>, path: &str) -> Result<Option<&'a str>, PatchError> {
    match m.get(PATCH) {
        None => Ok(None),
        Some(Value::String(s)) if matches!(s.as_str(), "replace" | "delete" | "merge") => Ok(Some(s)),
        Some(other) => Err(PatchError::InvalidDirective {
            path: path.to_owned(),
            message: format!("unknown `$patch` directive {other}"),
        }),
    }
}

/// The patch without its directives, recursively (for values that replace rather than merge).
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|e| !matches!(e, Value::Object(m) if m.len() == 1 && m.contains_key(PATCH)))
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Ty,
    path: &str,
) -> Result<Outcome, PatchError> {
    match directive(patch, path)? {
        Some("delete") => return Ok(Outcome::Delete),
        Some("replace") => {
            *target = match strip_directives(&Value::Object(patch.clone())) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            return Ok(Outcome::Keep);
        }
        _ => {}
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(keys) = retain else {
            return Err(PatchError::InvalidDirective {
                path: path.to_owned(),
                message: format!("`$retainKeys` must be a list, found {}", value_kind(retain)),
            });
        };
        target.retain(|k, _| patch.contains_key(k) || keys.iter().any(|r| r.as_str() == Some(k)));
    }
    for (k, pv) in patch {
        if let Some(fieldname) = k.strip_prefix(DELETE_FROM) {
            let Value::Array(del) = pv else {
                return Err(PatchError::InvalidDirective {
                    path: child_path(path, k),
                    message: format!("expected a list, found {}", value_kind(pv)),
                });
            };
            if let Some(Value::Array(list)) = target.get_mut(fieldname) {
                list.retain(|e| !del.iter().any(|d| json_eq(d, e)));
            }
        }
    }
    for (k, pv) in patch {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            target.shift_remove(k);
            continue;
        }
        let (list, child) = field(ty, k);
        let cpath = child_path(path, k);
        match (target.get_mut(k), pv) {
            (Some(Value::Object(tm)), Value::Object(pm)) => {
                if merge_map(tm, pm, child, &cpath)? == Outcome::Delete {
                    target.shift_remove(k);
                }
            }
            (Some(Value::Array(ta)), Value::Array(pa)) => merge_list(ta, pa, list, child, &cpath)?,
            (_, Value::Object(pm)) => {
                let mut m = Map::new();
                if merge_map(&mut m, pm, child, &cpath)? == Outcome::Delete {
                    target.shift_remove(k);
                } else {
                    target.insert(k.clone(), Value::Object(m));
                }
            }
            (_, Value::Array(pa)) => {
                let mut a = Vec::new();
                merge_list(&mut a, pa, list, child, &cpath)?;
                target.insert(k.clone(), Value::Array(a));
            }
            (_, other) => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
    for (k, pv) in patch {
        if let Some(fieldname) = k.strip_prefix(SET_ORDER) {
            let Value::Array(order) = pv else {
                return Err(PatchError::InvalidDirective {
                    path: child_path(path, k),
                    message: format!("expected a list, found {}", value_kind(pv)),
                });
            };
            let (list, _) = field(ty, fieldname);
            if let Some(Value::Array(items)) = target.get_mut(fieldname) {
                reorder(items, order, list);
            }
        }
    }
    Ok(Outcome::Keep)
}

fn reorder(items: &mut Vec<Value>, order: &[Value], list: ListKind) {
    let mut rest: Vec<Option<Value>> = std::mem::take(items).into_iter().map(Some).collect();
    for o in order {
        let pos = rest.iter().position(|e| match (e, list) {
            (Some(e), ListKind::Merge(keys)) => match (e, o) {
                (Value::Object(em), Value::Object(om)) => keys_match(om, em, keys),
                _ => json_eq(e, o),
            },
            (Some(e), _) => json_eq(e, o),
            (None, _) => false,
        });
        if let Some(e) = pos.and_then(|p| rest.get_mut(p)).and_then(Option::take) {
            items.push(e);
        }
    }
    items.extend(rest.into_iter().flatten());
}

/// Whether mapping `a` (from a patch) and `b` (from the target) name the same element.
/// The primary key must be present in `a`; other keys compare with their defaults.
pub(crate) fn keys_match(a: &Map<String, Value>, b: &Map<String, Value>, keys: &[Key]) -> bool {
    let mut first = true;
    for (key, default) in keys {
        let av = a.get(*key).filter(|v| !v.is_null());
        let bv = b.get(*key).filter(|v| !v.is_null());
        let equal = match (av, bv) {
            (Some(x), Some(y)) => json_eq(x, y),
            (None, None) => !first,
            (Some(x), None) | (None, Some(x)) => !first && default.is_some_and(|d| x.as_str() == Some(d)),
        };
        if !equal {
            return false;
        }
        first = false;
    }
    true
}

fn has_primary_key(m: &Map<String, Value>, keys: &[Key]) -> bool {
    keys.first()
        .is_some_and(|(k, _)| m.get(*k).is_some_and(|v| !v.is_null()))
}

fn merge_list(
    target: &mut Vec<Value>,
    patch: &[Value],
    list: ListKind,
    child: Ty,
    path: &str,
) -> Result<(), PatchError> {
    match list {
        ListKind::Replace => {
            *target = patch.iter().map(strip_directives).collect();
        }
        ListKind::Set => {
            for pv in patch {
                if !target.iter().any(|t| json_eq(t, pv)) {
                    target.push(pv.clone());
                }
            }
        }
        ListKind::Merge(keys) => {
            let is_replace = |v: &Value| matches!(v, Value::Object(m) if m.get(PATCH).and_then(Value::as_str) == Some("replace"));
            if patch.iter().any(is_replace) {
                target.clear();
                for pv in patch.iter().filter(|v| !is_replace(v)) {
                    let mut e = Value::Null;
                    merge_value(&mut e, pv, child, path)?;
                    target.push(e);
                }
                return Ok(());
            }
            for pv in patch {
                let Value::Object(pm) = pv else {
                    if !target.iter().any(|t| json_eq(t, pv)) {
                        target.push(pv.clone());
                    }
                    continue;
                };
                if !has_primary_key(pm, keys) {
                    return Err(PatchError::MissingMergeKey {
                        path: path.to_owned(),
                        key: keys.first().map_or("", |k| k.0),
                    });
                }
                if directive(pm, path)? == Some("delete") {
                    target.retain(|t| !matches!(t, Value::Object(tm) if keys_match(pm, tm, keys)));
                    continue;
                }
                let found = target
                    .iter()
                    .position(|t| matches!(t, Value::Object(tm) if keys_match(pm, tm, keys)));
                match found.and_then(|i| target.get_mut(i).map(|t| (i, t))) {
                    Some((i, Value::Object(tm))) => {
                        if merge_map(tm, pm, child, path)? == Outcome::Delete {
                            target.remove(i);
                        }
                    }
                    _ => {
                        let mut m = Map::new();
                        if merge_map(&mut m, pm, child, path)? == Outcome::Keep {
                            target.push(Value::Object(m));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// What a strategic diff records.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Additions and changes, no deletions.
    NoDeletions,
    /// Only deletions.
    DeletionsOnly,
}

/// The three-way strategic merge patch `kubectl apply` computes.
///
/// `original` is the last applied configuration, `modified` the new configuration and
/// `current` the live object. The patch deletes fields that are in `original` but not in
/// `modified`, sets everything `modified` changes relative to `current`, and leaves fields only
/// `current` has (defaults, fields set by others) alone. Kinds without a strategic schema get
/// the JSON merge three-way patch ([`json_merge::three_way`]).
///
/// Unlike kubectl, no `$setElementOrder` directives are generated: reordering the elements of
/// a merged list does not produce a patch.
pub fn three_way(
    original: &Value,
    modified: &Value,
    current: &Value,
    kind: &GroupKind,
) -> Result<Value, PatchError> {
    let Some(ty) = root_type(&kind.group, &kind.kind) else {
        return Ok(json_merge::three_way(original, modified, current));
    };
    let (Value::Object(o), Value::Object(m), Value::Object(c)) = (original, modified, current) else {
        let not_map = [original, modified, current].into_iter().find(|v| !v.is_object());
        return Err(PatchError::WrongType {
            path: String::new(),
            expected: "a mapping",
            found: not_map.map_or("null", value_kind),
        });
    };
    let mut deletions = Value::Object(diff_maps(o, m, ty, Mode::DeletionsOnly));
    let delta = Value::Object(diff_maps(c, m, ty, Mode::NoDeletions));
    merge_patches(&mut deletions, delta);
    Ok(deletions)
}

/// Deep-merges patch `b` into patch `a`: mappings merge, lists concatenate (applying the
/// elements one after the other has the same effect), anything else `b` wins.
fn merge_patches(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(am), Value::Object(bm)) => {
            for (k, bv) in bm {
                match am.get_mut(&k) {
                    Some(av) if (av.is_object() && bv.is_object()) || (av.is_array() && bv.is_array()) => {
                        merge_patches(av, bv)
                    }
                    _ => {
                        am.insert(k, bv);
                    }
                }
            }
        }
        (Value::Array(aa), Value::Array(ba)) => aa.extend(ba),
        (a, b) => *a = b,
    }
}

fn diff_maps(from: &Map<String, Value>, to: &Map<String, Value>, ty: Ty, mode: Mode) -> Map<String, Value> {
    let mut patch = Map::new();
    for (k, tv) in to {
        let Some(fv) = from.get(k) else {
            if mode == Mode::NoDeletions {
                patch.insert(k.clone(), tv.clone());
            }
            continue;
        };
        let (list, child) = field(ty, k);
        match (fv, tv) {
            (Value::Object(fm), Value::Object(tm)) => {
                let sub = diff_maps(fm, tm, child, mode);
                if !sub.is_empty() {
                    patch.insert(k.clone(), Value::Object(sub));
                }
            }
            (Value::Array(fa), Value::Array(ta)) => diff_lists(&mut patch, k, fa, ta, list, child, mode),
            _ => {
                if mode == Mode::NoDeletions && !json_eq(fv, tv) {
                    patch.insert(k.clone(), tv.clone());
                }
            }
        }
    }
    if mode == Mode::DeletionsOnly {
        for k in from.keys() {
            if !to.contains_key(k) {
                patch.insert(k.clone(), Value::Null);
            }
        }
    }
    patch
}

fn diff_lists(
    patch: &mut Map<String, Value>,
    k: &str,
    from: &[Value],
    to: &[Value],
    list: ListKind,
    child: Ty,
    mode: Mode,
) {
    match list {
        ListKind::Replace => {
            let same = from.len() == to.len() && from.iter().zip(to).all(|(a, b)| json_eq(a, b));
            if mode == Mode::NoDeletions && !same {
                patch.insert(k.to_owned(), Value::Array(to.to_vec()));
            }
        }
        ListKind::Set => {
            if mode == Mode::NoDeletions {
                let added: Vec<Value> = to
                    .iter()
                    .filter(|t| !from.iter().any(|f| json_eq(f, t)))
                    .cloned()
                    .collect();
                if !added.is_empty() {
                    patch.insert(k.to_owned(), Value::Array(added));
                }
            } else {
                let removed: Vec<Value> = from
                    .iter()
                    .filter(|f| !to.iter().any(|t| json_eq(f, t)))
                    .cloned()
                    .collect();
                if !removed.is_empty() {
                    patch.insert(format!("{DELETE_FROM}{k}"), Value::Array(removed));
                }
            }
        }
        ListKind::Merge(keys) => {
            let mut elements = Vec::new();
            for te in to {
                let Value::Object(tm) = te else {
                    if mode == Mode::NoDeletions && !from.iter().any(|f| json_eq(f, te)) {
                        elements.push(te.clone());
                    }
                    continue;
                };
                let found = from.iter().find_map(|f| match f {
                    Value::Object(fm) if has_primary_key(tm, keys) && keys_match(tm, fm, keys) => Some(fm),
                    _ => None,
                });
                match found {
                    Some(fm) => {
                        let mut sub = diff_maps(fm, tm, child, mode);
                        if !sub.is_empty() {
                            for (key, _) in keys {
                                if let Some(v) = tm.get(*key) {
                                    sub.insert((*key).to_owned(), v.clone());
                                }
                            }
                            elements.push(Value::Object(sub));
                        }
                    }
                    None if mode == Mode::NoDeletions => elements.push(te.clone()),
                    None => {}
                }
            }
            if mode == Mode::DeletionsOnly {
                for fe in from {
                    let Value::Object(fm) = fe else { continue };
                    if !has_primary_key(fm, keys) {
                        continue;
                    }
                    let kept = to
                        .iter()
                        .any(|t| matches!(t, Value::Object(tm) if has_primary_key(tm, keys) && keys_match(tm, fm, keys)));
                    if !kept {
                        let mut d = Map::new();
                        for (key, _) in keys {
                            if let Some(v) = fm.get(*key) {
                                d.insert((*key).to_owned(), v.clone());
                            }
                        }
                        d.insert(PATCH.to_owned(), Value::String("delete".to_owned()));
                        elements.push(Value::Object(d));
                    }
                }
            }
            if !elements.is_empty() {
                patch.insert(k.to_owned(), Value::Array(elements));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> GroupKind {
        GroupKind::new("apps", "Deployment")
    }

    fn pod_spec(containers: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn containers_merge_by_name() {
        let orig = pod_spec(
            json!([{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "image": "b:1"}]),
        );
        let patch = pod_spec(
            json!([{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}, {"name": "c", "image": "c:1"}]),
        );
        let out = apply(&orig, &patch, &deploy()).unwrap();
        assert_eq!(
            out,
            pod_spec(json!([
                {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "b", "image": "b:1"},
                {"name": "c", "image": "c:1"}
            ]))
        );
    }

    #[test]
    fn unknown_kinds_replace_lists() {
        let orig = json!({"spec": {"items": [{"name": "a", "x": 1}]}});
        let patch = json!({"spec": {"items": [{"name": "b"}]}});
        let out = apply(&orig, &patch, &GroupKind::new("example.com", "Widget")).unwrap();
        assert_eq!(out, json!({"spec": {"items": [{"name": "b"}]}}));
    }

    #[test]
    fn directives() {
        let gk = deploy();
        // element delete
        let orig = pod_spec(json!([{"name": "a"}, {"name": "b"}]));
        let out = apply(&orig, &pod_spec(json!([{"name": "a", "$patch": "delete"}])), &gk).unwrap();
        assert_eq!(out, pod_spec(json!([{"name": "b"}])));
        // list replace
        let out = apply(
            &orig,
            &pod_spec(json!([{"$patch": "replace"}, {"name": "z"}])),
            &gk,
        )
        .unwrap();
        assert_eq!(out, pod_spec(json!([{"name": "z"}])));
        // map replace and delete
        let orig =
            json!({"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}, "strategy": {"type": "X"}}});
        let out = apply(
            &orig,
            &json!({"spec": {"selector": {"matchLabels": {"$patch": "replace", "c": "3"}}, "strategy": {"$patch": "delete"}}}),
            &gk,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"selector": {"matchLabels": {"c": "3"}}}}));
        // retainKeys
        let orig = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let out = apply(
            &orig,
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            &gk,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
        // deleteFromPrimitiveList and set lists
        let orig = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
        let out = apply(
            &orig,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d", "a"]}}),
            &gk,
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"finalizers": ["a", "c", "d"]}}));
        // setElementOrder
        let orig = pod_spec(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}}}});
        let out = apply(&orig, &patch, &gk).unwrap();
        assert_eq!(
            out,
            pod_spec(json!([{"name": "c"}, {"name": "a"}, {"name": "b"}]))
        );
        // bad directive
        let e = apply(&orig, &json!({"spec": {"$patch": "explode"}}), &gk).unwrap_err();
        assert_eq!(e.to_string(), "at `spec`: unknown `$patch` directive \"explode\"");
        let e = apply(&orig, &pod_spec(json!([{"image": "x"}])), &gk).unwrap_err();
        assert_eq!(
            e.to_string(),
            "at `spec.template.spec.containers`: list element does not contain the merge key `name`"
        );
    }

    #[test]
    fn ports_use_protocol_as_secondary_key() {
        let gk = GroupKind::new("", "Service");
        let orig =
            json!({"spec": {"ports": [{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        let out = apply(&orig, &json!({"spec": {"ports": [{"port": 53, "name": "dns-udp", "protocol": "UDP"}, {"port": 53, "name": "dns"}]}}), &gk)
            .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"ports": [{"port": 53, "protocol": "TCP", "name": "dns"}, {"port": 53, "protocol": "UDP", "name": "dns-udp"}]}})
        );
    }

    #[test]
    fn three_way_deletes_only_what_was_applied() {
        let gk = deploy();
        let original = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x", "args": ["1"]}, {"name": "gone"}]}}}});
        let modified = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "y"}]}}}});
        let current = json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}, "spec": {"replicas": 2, "progressDeadlineSeconds": 600, "template": {"spec": {"containers": [{"name": "a", "image": "x", "args": ["1"], "imagePullPolicy": "Always"}, {"name": "gone"}, {"name": "sidecar"}]}}}});
        let p = three_way(&original, &modified, &current, &gk).unwrap();
        let out = apply(&current, &p, &gk).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"replicas": 3, "progressDeadlineSeconds": 600, "template": {"spec": {"containers": [{"name": "a", "image": "y", "imagePullPolicy": "Always"}, {"name": "sidecar"}]}}}})
        );
    }
}
