//! Comparison of desired and live objects: Argo CD's `diff.Diff` (spec §5.2–5.4).
//!
//! [`diff`] normalizes both sides (server-populated metadata, `status`, Secret `stringData`,
//! empty Role rules, Endpoints defaults), applies the `ignoreDifferences` rules to both sides,
//! then predicts the live object after applying the configuration:
//!
//! - **three-way** when the live object carries a parseable
//!   `kubectl.kubernetes.io/last-applied-configuration`: fields in the last applied
//!   configuration but not in the new one are deleted (strategic merge for built-in kinds,
//!   JSON merge for others, see [`crate::patch`]);
//! - **two-way** otherwise (the last applied configuration is the config itself): only what the
//!   config sets counts, so fields only the live object has — API defaults, fields written by
//!   controllers — are never a difference. Lists of built-in types merge by key (an injected
//!   sidecar container is not a difference); other lists must match as a whole;
//! - **server-side** (opt-in, [`DiffOptions::server_side`]) when the live object has
//!   `managedFields`: like two-way, plus the fields our manager owns but the config no longer
//!   sets (and no other manager owns) are deleted. This approximates a server-side apply
//!   dry-run without calling the API server.
//!
//! The resource is modified iff the predicted live object differs from the normalized live
//! object, where numbers compare by value and `null`, `{}` and `[]` equal an absent field.
//!
//! A fast path answers "not modified" without cloning anything when no ignore rule applies,
//! the live object has no last-applied configuration and the kind needs no rewriting; the
//! values of [`ResourceDiff`] are then only filled in when [`DiffOptions::include_values`] is
//! set.

mod jq;
mod managed;
mod normalize;
mod unified;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::model::ResourceIgnoreDifferences;
use crate::object::{Object, ObjectRef};
use crate::patch::{PatchError, json_merge, json_patch, strategic};
use normalize::{LAST_APPLIED, is_empty, loose_eq};

/// The field manager of Argo CD's server-side apply.
pub const DEFAULT_MANAGER: &str = "argocd-controller";

/// Which `status` fields are ignored (`resource.compareoptions` `ignoreResourceStatusField`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IgnoreStatus {
    /// Status is ignored on every kind (the default).
    #[default]
    All,
    /// Status is ignored on CustomResourceDefinitions only.
    Crd,
    /// Status is compared.
    None,
}

impl IgnoreStatus {
    /// Parses the `argocd-cm` setting: `all`, `crd`, `none` (`off`/`false` mean none);
    /// anything else behaves as `all`.
    pub fn from_setting(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "crd" => IgnoreStatus::Crd,
            "none" | "off" | "false" => IgnoreStatus::None,
            _ => IgnoreStatus::All,
        }
    }
}

/// One ignoreDifferences rule (application `spec.ignoreDifferences[]` or system level).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IgnoreRule {
    /// Group glob (`*` matches any run of characters); `""` is the core group.
    pub group: String,
    /// Kind glob; `""` matches any kind.
    pub kind: String,
    /// Exact name; `None` matches any.
    pub name: Option<String>,
    /// Exact namespace; `None` matches any.
    pub namespace: Option<String>,
    /// RFC 6901 pointers removed from both sides (missing paths are ignored).
    pub json_pointers: Vec<String>,
    /// jq path expressions, each applied as `del(<expr>)` to both sides.
    pub jq_path_expressions: Vec<String>,
    /// Managers whose fields (per live `managedFields`) are ignored where the config changes them.
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreRule {
    /// A rule for objects of `group`/`kind` (globs) ignoring nothing yet.
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        IgnoreRule {
            group: group.into(),
            kind: kind.into(),
            ..IgnoreRule::default()
        }
    }

    /// Restricts the rule to one name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Restricts the rule to one namespace.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Adds a JSON pointer.
    #[must_use]
    pub fn with_json_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.json_pointers.push(pointer.into());
        self
    }

    /// Adds a jq path expression.
    #[must_use]
    pub fn with_jq(mut self, expression: impl Into<String>) -> Self {
        self.jq_path_expressions.push(expression.into());
        self
    }

    /// Adds a field manager.
    #[must_use]
    pub fn with_manager(mut self, manager: impl Into<String>) -> Self {
        self.managed_fields_managers.push(manager.into());
        self
    }

    /// Whether the rule applies to an object.
    pub fn matches(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        glob(&self.group, group)
            && (self.kind.is_empty() || glob(&self.kind, kind))
            && self.name.as_deref().is_none_or(|n| n.is_empty() || n == name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| n.is_empty() || Some(n) == namespace)
    }
}

impl From<&ResourceIgnoreDifferences> for IgnoreRule {
    fn from(r: &ResourceIgnoreDifferences) -> Self {
        IgnoreRule {
            group: r.group.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            json_pointers: r.json_pointers.clone(),
            jq_path_expressions: r.jq_path_expressions.clone(),
            managed_fields_managers: r.managed_fields_managers.clone(),
        }
    }
}

/// `*`-glob matching (`*` matches any run of characters, everything else literally).
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for p in parts {
        match remaining.find(p) {
            Some(i) => remaining = &remaining[i + p.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// How to compare; build with [`DiffOptions::default`] and the `with_*` setters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiffOptions {
    /// ignoreDifferences rules (application and system level).
    pub ignore: Vec<IgnoreRule>,
    /// Which `status` fields are ignored.
    pub ignore_status: IgnoreStatus,
    /// `ignoreAggregatedRoles`: null the `rules` of roles with an `aggregationRule`.
    pub ignore_aggregated_roles: bool,
    /// Server-side-apply-aware comparison (see the module documentation).
    pub server_side: bool,
    /// Our field manager, for `server_side`.
    pub manager: String,
    /// Time bound of each jq expression (default 1 s).
    pub jq_timeout: Duration,
    /// Always fill `normalized_live`/`predicted_live`, even for unmodified resources.
    pub include_values: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            ignore: Vec::new(),
            ignore_status: IgnoreStatus::All,
            ignore_aggregated_roles: false,
            server_side: false,
            manager: DEFAULT_MANAGER.to_owned(),
            jq_timeout: Duration::from_secs(1),
            include_values: false,
        }
    }
}

impl DiffOptions {
    /// Adds one rule.
    #[must_use]
    pub fn with_rule(mut self, rule: IgnoreRule) -> Self {
        self.ignore.push(rule);
        self
    }

    /// Adds the rules of an Application's `spec.ignoreDifferences`.
    #[must_use]
    pub fn with_ignore_differences(mut self, rules: &[ResourceIgnoreDifferences]) -> Self {
        self.ignore.extend(rules.iter().map(IgnoreRule::from));
        self
    }

    /// Sets which `status` fields are ignored.
    #[must_use]
    pub fn with_ignore_status(mut self, ignore_status: IgnoreStatus) -> Self {
        self.ignore_status = ignore_status;
        self
    }

    /// Sets `ignoreAggregatedRoles`.
    #[must_use]
    pub fn with_ignore_aggregated_roles(mut self, on: bool) -> Self {
        self.ignore_aggregated_roles = on;
        self
    }

    /// Turns the server-side-apply-aware comparison on or off.
    #[must_use]
    pub fn with_server_side(mut self, on: bool) -> Self {
        self.server_side = on;
        self
    }

    /// Sets our field manager (default [`DEFAULT_MANAGER`]).
    #[must_use]
    pub fn with_manager(mut self, manager: impl Into<String>) -> Self {
        self.manager = manager.into();
        self
    }

    /// Sets the time bound of jq expressions.
    #[must_use]
    pub fn with_jq_timeout(mut self, timeout: Duration) -> Self {
        self.jq_timeout = timeout;
        self
    }

    /// Always fills the values of [`ResourceDiff`].
    #[must_use]
    pub fn with_values(mut self, on: bool) -> Self {
        self.include_values = on;
        self
    }
}

/// Why a comparison failed. Messages are lowercase.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// A jq expression does not compile (or cannot be run at all).
    #[error("cannot evaluate jq expression `{expression}`: {message}")]
    Jq {
        /// The expression as written in the rule.
        expression: String,
        /// Why.
        message: String,
    },
    /// A jq expression did not finish in time.
    #[error("jq expression `{expression}` did not finish within {timeout:?}")]
    JqTimeout {
        /// The expression.
        expression: String,
        /// The time bound.
        timeout: Duration,
    },
    /// A JSON pointer of a rule is malformed.
    #[error("invalid ignoreDifferences rule: {0}")]
    Pointer(#[source] PatchError),
    /// The configuration could not be patched onto the live object.
    #[error("cannot predict the live object: {0}")]
    Patch(#[source] PatchError),
}

/// How a field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only desired has it.
    Added,
    /// Only live has it (the sync will delete it).
    Removed,
    /// Both have it, with different values.
    Changed,
}

/// One field that differs between normalized live and predicted live.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Dotted path, e.g. `spec.template.spec.containers[0].image`; keys that are not plain
    /// identifiers are quoted: `metadata.annotations["example.com/x"]`. Empty for the whole object.
    pub path: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// Live value.
    pub live: Option<Value>,
    /// Desired (predicted) value.
    pub desired: Option<Value>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| match v {
            None => "<absent>".to_owned(),
            Some(v) => {
                let s = v.to_string();
                if s.chars().count() > 60 {
                    format!("{}…", s.chars().take(59).collect::<String>())
                } else {
                    s
                }
            }
        };
        write!(f, "{}: {} → {}", self.path, show(&self.live), show(&self.desired))
    }
}

/// The result of [`diff`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ResourceDiff {
    /// Whether applying the config would change the live object. `true` for a config without
    /// live object; `false` for a live object without config (the caller decides about pruning).
    pub modified: bool,
    /// The live object after applying the config, normalized. `None` without config, and for an
    /// unmodified resource unless [`DiffOptions::include_values`] is set.
    pub predicted_live: Option<Value>,
    /// The normalized live object. `None` without live object, and for an unmodified resource
    /// unless [`DiffOptions::include_values`] is set.
    pub normalized_live: Option<Value>,
    /// The differing fields (empty iff not modified).
    pub changes: Vec<FieldChange>,
}

/// Compares a desired object (`config`) with a live one (spec §5.2).
pub fn diff(
    config: Option<&Object>,
    live: Option<&Object>,
    opts: &DiffOptions,
) -> Result<ResourceDiff, DiffError> {
    match (config, live) {
        (None, None) => Ok(ResourceDiff::default()),
        (Some(c), None) => {
            let (group, kind) = (c.group(), c.kind());
            let mut v = c.as_value().clone();
            normalize::normalize(&mut v, group, kind, opts);
            apply_ignore(&mut [&mut v], c, opts)?;
            Ok(ResourceDiff {
                modified: true,
                changes: vec![FieldChange {
                    path: String::new(),
                    kind: ChangeKind::Added,
                    live: None,
                    desired: Some(v.clone()),
                }],
                predicted_live: Some(v),
                normalized_live: None,
            })
        }
        (None, Some(l)) => {
            let mut v = l.as_value().clone();
            normalize::normalize(&mut v, l.group(), l.kind(), opts);
            apply_ignore(&mut [&mut v], l, opts)?;
            Ok(ResourceDiff {
                modified: false,
                predicted_live: None,
                normalized_live: Some(v),
                changes: Vec::new(),
            })
        }
        (Some(c), Some(l)) => diff_pair(c, l, opts),
    }
}

fn rules_for<'a>(obj: &'a Object, opts: &'a DiffOptions) -> impl Iterator<Item = &'a IgnoreRule> + 'a {
    opts.ignore
        .iter()
        .filter(move |r| r.matches(obj.group(), obj.kind(), obj.namespace(), obj.name()))
}

/// Applies the jsonPointers and jq expressions of the matching rules to every value.
fn apply_ignore(values: &mut [&mut Value], obj: &Object, opts: &DiffOptions) -> Result<(), DiffError> {
    for rule in rules_for(obj, opts) {
        for v in values.iter_mut() {
            json_patch::remove_paths(v, &rule.json_pointers).map_err(DiffError::Pointer)?;
            for expr in &rule.jq_path_expressions {
                jq::delete(v, expr, opts.jq_timeout)?;
            }
        }
    }
    Ok(())
}

fn diff_pair(c: &Object, l: &Object, opts: &DiffOptions) -> Result<ResourceDiff, DiffError> {
    let (group, kind) = (c.group(), c.kind());
    let root = strategic::root_type(group, kind);
    let last_applied = l.annotation(LAST_APPLIED);
    let has_rules = rules_for(c, opts).next().is_some();
    let server_side = opts.server_side && l.pointer("/metadata/managedFields").is_some_and(|m| !is_empty(m));
    if !has_rules
        && last_applied.is_none()
        && !server_side
        && !normalize::needs_rewrite(group, kind)
        && let (Value::Object(cm), Value::Object(lm)) = (c.as_value(), l.as_value())
        && normalize::config_is_applied(cm, lm, root, normalize::status_ignored(opts, group, kind))
    {
        let mut out = ResourceDiff::default();
        if opts.include_values {
            let mut lv = l.as_value().clone();
            normalize::normalize(&mut lv, group, kind, opts);
            out.predicted_live = Some(lv.clone());
            out.normalized_live = Some(lv);
        }
        return Ok(out);
    }

    let mut cfg = c.as_value().clone();
    let mut live = l.as_value().clone();
    // Argo CD converts the live object to the config's version.
    if let (Value::Object(lm), Some(av)) = (&mut live, c.as_value().get("apiVersion")) {
        lm.insert("apiVersion".to_owned(), av.clone());
    }
    let mut orig = last_applied
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object);
    for v in [Some(&mut cfg), Some(&mut live), orig.as_mut()]
        .into_iter()
        .flatten()
    {
        normalize::normalize(v, group, kind, opts);
    }
    match orig.as_mut() {
        Some(o) => apply_ignore(&mut [&mut cfg, &mut live, o], c, opts)?,
        None => apply_ignore(&mut [&mut cfg, &mut live], c, opts)?,
    }
    let managers: Vec<&str> = rules_for(c, opts)
        .flat_map(|r| r.managed_fields_managers.iter().map(String::as_str))
        .collect();
    if !managers.is_empty() {
        let owned = managed::owned_by(l.as_value(), |m| managers.contains(&m));
        managed::ignore_owned(&owned, &mut cfg, &mut live);
    }
    if let Some(o) = orig.as_mut() {
        // As Argo CD: the namespace and empty annotations never make a three-way deletion.
        for v in [o, &mut cfg] {
            if let Some(Value::Object(meta)) = v.get_mut("metadata") {
                meta.shift_remove("namespace");
                if meta.get("annotations").is_some_and(is_empty) {
                    meta.shift_remove("annotations");
                }
            }
        }
    }

    let gk = c.group_kind();
    let patch = strategic::three_way(orig.as_ref().unwrap_or(&cfg), &cfg, &live, &gk)
        .or_else(|_| strategic::three_way(&cfg, &cfg, &live, &gk))
        .or_else(|e| {
            if root.is_some() {
                Ok(json_merge::three_way(orig.as_ref().unwrap_or(&cfg), &cfg, &live))
            } else {
                Err(e)
            }
        })
        .map_err(DiffError::Patch)?;
    let mut predicted = live.clone();
    if strategic::apply_in_place(&mut predicted, &patch, &gk).is_err() {
        predicted = live.clone();
        json_merge::apply_in_place(&mut predicted, &patch);
    }
    if server_side {
        let ours = managed::owned_by(l.as_value(), |m| m == opts.manager);
        let others = managed::owned_by(l.as_value(), |m| m != opts.manager);
        for o in &ours {
            if managed::locate(&cfg, &o.path).is_none() && !others.iter().any(|x| x.path == o.path) {
                managed::remove_at(&mut predicted, &o.path);
            }
        }
    }

    let mut changes = Vec::new();
    compare(&live, &predicted, &mut String::new(), &mut changes);
    let modified = !changes.is_empty();
    let keep = modified || opts.include_values;
    Ok(ResourceDiff {
        modified,
        predicted_live: keep.then_some(predicted),
        normalized_live: keep.then_some(live),
        changes,
    })
}

fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    }
}

/// Collects the fields where `live` and `desired` differ (numbers by value; `null`/`{}`/`[]`
/// equal an absent field).
fn compare(live: &Value, desired: &Value, path: &mut String, out: &mut Vec<FieldChange>) {
    match (live, desired) {
        (Value::Object(lm), Value::Object(dm)) => {
            let len = path.len();
            for (k, lv) in lm {
                push_key(path, k);
                match dm.get(k) {
                    Some(dv) => compare(lv, dv, path, out),
                    None if is_empty(lv) => {}
                    None => out.push(FieldChange {
                        path: path.clone(),
                        kind: ChangeKind::Removed,
                        live: Some(lv.clone()),
                        desired: None,
                    }),
                }
                path.truncate(len);
            }
            for (k, dv) in dm {
                if lm.contains_key(k) || is_empty(dv) {
                    continue;
                }
                push_key(path, k);
                out.push(FieldChange {
                    path: path.clone(),
                    kind: ChangeKind::Added,
                    live: None,
                    desired: Some(dv.clone()),
                });
                path.truncate(len);
            }
        }
        (Value::Array(la), Value::Array(da)) => {
            let len = path.len();
            for i in 0..la.len().max(da.len()) {
                path.push_str(&format!("[{i}]"));
                match (la.get(i), da.get(i)) {
                    (Some(lv), Some(dv)) => compare(lv, dv, path, out),
                    (Some(lv), None) => out.push(FieldChange {
                        path: path.clone(),
                        kind: ChangeKind::Removed,
                        live: Some(lv.clone()),
                        desired: None,
                    }),
                    (None, Some(dv)) => out.push(FieldChange {
                        path: path.clone(),
                        kind: ChangeKind::Added,
                        live: None,
                        desired: Some(dv.clone()),
                    }),
                    (None, None) => {}
                }
                path.truncate(len);
            }
        }
        _ if loose_eq(live, desired) => {}
        _ => out.push(FieldChange {
            path: path.clone(),
            kind: if is_empty(live) {
                ChangeKind::Added
            } else if is_empty(desired) {
                ChangeKind::Removed
            } else {
                ChangeKind::Changed
            },
            live: Some(live.clone()),
            desired: Some(desired.clone()),
        }),
    }
}

/// A unified diff of the normalized live object (`--- live/<object>`) and the predicted live
/// object (`+++ desired/<object>`), both rendered as YAML, with `context` lines around each
/// change. Empty when there is nothing to show.
pub fn unified(diff: &ResourceDiff, object: &ObjectRef, context: usize) -> String {
    let yaml = |v: &Option<Value>| match v {
        Some(v) => serde_yaml::to_string(v).unwrap_or_default(),
        None => String::new(),
    };
    let old = yaml(&diff.normalized_live);
    let new = yaml(&diff.predicted_live);
    unified::unified_text(
        &old,
        &new,
        &format!("live/{object}"),
        &format!("desired/{object}"),
        context,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn o(v: Value) -> Object {
        Object::from_value(v).unwrap()
    }

    #[test]
    fn globs() {
        assert!(glob("*", "apps"));
        assert!(glob("", ""));
        assert!(!glob("", "apps"));
        assert!(glob("*.k8s.io", "networking.k8s.io"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("Deploy*", "Deployment"));
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        let cases = [
            (
                json!({"spec": {"replicas": 2}}),
                json!({"spec": {"replicas": 2, "x": 1}}),
            ),
            (json!({"spec": {"replicas": 2}}), json!({"spec": {"replicas": 3}})),
            (json!({"spec": {"l": [1]}}), json!({"spec": {"l": [1, 2]}})),
            (json!({"spec": {"n": null}}), json!({"spec": {"n": 1}})),
            (json!({"spec": {"e": {}}}), json!({"spec": {}})),
            (
                json!({"metadata": {"finalizers": ["a"]}}),
                json!({"metadata": {"finalizers": ["b", "a"]}}),
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "b"}, {"name": "a", "image": "x", "p": 1}]}}}}),
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "y"}]}}}}),
            ),
        ];
        for (api, kind) in [("apps/v1", "Deployment"), ("example.com/v1", "Widget")] {
            for (c, l) in &cases {
                let mk = |extra: &Value| {
                    let mut v = json!({"apiVersion": api, "kind": kind, "metadata": {"name": "n"}});
                    crate::patch::json_merge::apply_in_place(&mut v, extra);
                    if let Some(f) = extra.pointer("/metadata/finalizers") {
                        v["metadata"]["finalizers"] = f.clone();
                    }
                    if extra.pointer("/spec/n").is_some_and(Value::is_null) {
                        v["spec"]["n"] = Value::Null;
                    }
                    o(v)
                };
                let (c, l) = (mk(c), mk(l));
                let fast = diff(Some(&c), Some(&l), &DiffOptions::default())
                    .unwrap()
                    .modified;
                // A rule that matches but ignores nothing forces the full pipeline.
                let slow_opts =
                    DiffOptions::default().with_rule(IgnoreRule::new("*", "*").with_json_pointer("/nope"));
                let slow = diff(Some(&c), Some(&l), &slow_opts).unwrap();
                assert_eq!(fast, slow.modified, "{kind}: {c:?} vs {l:?}: {:?}", slow.changes);
            }
        }
    }
}
