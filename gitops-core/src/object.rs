//! The dynamic Kubernetes object model: [`Object`], [`ObjectRef`] and [`GroupKind`].
//!
//! An [`Object`] is a JSON document that is known to have `apiVersion`, `kind` and
//! `metadata.name` (or `metadata.generateName`). Everything else is kept as it was written,
//! so unknown kinds and fields survive a round trip untouched.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Kubernetes API group and kind, e.g. `apps`/`Deployment`. The core group is `""`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct GroupKind {
    /// API group; empty for the core group.
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupKind {
    /// Builds a group/kind pair.
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        GroupKind {
            group: group.into(),
            kind: kind.into(),
        }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}/{}", self.group, self.kind)
        }
    }
}

/// Identifies one object: group, kind, namespace (none for cluster-scoped objects) and name.
///
/// Its `Display` is the one way objects are named in messages across the workspace:
/// `apps/Deployment prod/web`, `ConfigMap prod/settings`, `rbac.authorization.k8s.io/ClusterRole admin`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    /// API group; empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects (and for namespaced ones not yet placed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
}

impl ObjectRef {
    /// Builds a reference. An empty namespace is treated as none.
    pub fn new(
        group: impl Into<String>,
        kind: impl Into<String>,
        namespace: Option<&str>,
        name: impl Into<String>,
    ) -> Self {
        ObjectRef {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.filter(|n| !n.is_empty()).map(str::to_owned),
            name: name.into(),
        }
    }

    /// The group and kind of the referenced object.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(self.group.clone(), self.kind.clone())
    }

    /// The same reference in another namespace.
    #[must_use]
    pub fn with_namespace(mut self, namespace: Option<&str>) -> Self {
        self.namespace = namespace.filter(|n| !n.is_empty()).map(str::to_owned);
        self
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        f.write_str(&self.kind)?;
        f.write_str(" ")?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

/// Why a JSON value is not a Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The document is not a mapping.
    #[error("document is not a mapping but {found}")]
    NotAMapping {
        /// What was found instead (`a list`, `a string`, …).
        found: &'static str,
    },
    /// A required field is absent or empty.
    #[error("missing required field `{field}`")]
    MissingField {
        /// Dotted field path, e.g. `metadata.name`.
        field: &'static str,
    },
    /// A field has the wrong type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// Dotted field path.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
}

/// `apiVersion` prefix of kustomization files, which need no `metadata.name`.
const KUSTOMIZE_GROUP_PREFIX: &str = "kustomize.config.k8s.io/";

/// Describes a JSON value's type for messages: `null`, `a boolean`, `a number`, `a string`,
/// `a list` or `a mapping`.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A Kubernetes object of any kind, backed by JSON.
///
/// Construct one with [`Object::from_value`], which checks `apiVersion`, `kind` and a name.
/// Accessors return borrowed data; setters create intermediate maps as needed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Object(Value);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Object::from_value(v).map_err(serde::de::Error::custom)
    }
}

impl Object {
    /// Checks that `value` is a Kubernetes object and wraps it.
    ///
    /// A valid object is a mapping with a non-empty string `apiVersion` and `kind`, a mapping
    /// `metadata`, and a non-empty `metadata.name` or `metadata.generateName`.
    /// The one exception is a kustomization file (`apiVersion: kustomize.config.k8s.io/…`), for
    /// which Kustomize requires neither `metadata` nor a name; its name is then `""`.
    pub fn from_value(value: Value) -> Result<Self, ObjectError> {
        let map = value.as_object().ok_or(ObjectError::NotAMapping {
            found: value_kind(&value),
        })?;
        for field in ["apiVersion", "kind"] {
            match map.get(field) {
                None | Some(Value::Null) => {
                    return Err(ObjectError::MissingField {
                        field: if field == "kind" { "kind" } else { "apiVersion" },
                    });
                }
                Some(Value::String(s)) if s.is_empty() => {
                    return Err(ObjectError::MissingField {
                        field: if field == "kind" { "kind" } else { "apiVersion" },
                    });
                }
                Some(Value::String(_)) => {}
                Some(_) => {
                    return Err(ObjectError::WrongType {
                        field: if field == "kind" { "kind" } else { "apiVersion" },
                        expected: "a string",
                    });
                }
            }
        }
        // A kustomization file (`kustomize.config.k8s.io` Kustomization/Component) is build input,
        // never applied to a cluster, and Kustomize does not require a name or metadata for it.
        let kustomize_file = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with(KUSTOMIZE_GROUP_PREFIX));
        let meta = match map.get("metadata") {
            None | Some(Value::Null) if kustomize_file => return Ok(Object(value)),
            None | Some(Value::Null) => return Err(ObjectError::MissingField { field: "metadata" }),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(ObjectError::WrongType {
                    field: "metadata",
                    expected: "a mapping",
                });
            }
        };
        let has = |k: &str| meta.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !has("name") && !has("generateName") && !kustomize_file {
            if meta.get("name").is_some_and(|v| !v.is_string() && !v.is_null()) {
                return Err(ObjectError::WrongType {
                    field: "metadata.name",
                    expected: "a string",
                });
            }
            return Err(ObjectError::MissingField {
                field: "metadata.name",
            });
        }
        if meta
            .get("namespace")
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return Err(ObjectError::WrongType {
                field: "metadata.namespace",
                expected: "a string",
            });
        }
        for k in ["labels", "annotations"] {
            if let Some(m) = meta.get(k) {
                let ok = match m {
                    Value::Null => true,
                    Value::Object(entries) => entries.values().all(Value::is_string),
                    _ => false,
                };
                if !ok {
                    return Err(ObjectError::WrongType {
                        field: if k == "labels" {
                            "metadata.labels"
                        } else {
                            "metadata.annotations"
                        },
                        expected: "a mapping of strings to strings",
                    });
                }
            }
        }
        Ok(Object(value))
    }

    /// Builds a minimal object with the given apiVersion, kind, namespace and name.
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        let mut meta = Map::new();
        meta.insert("name".into(), Value::String(name.into()));
        if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
            meta.insert("namespace".into(), Value::String(ns.into()));
        }
        let mut m = Map::new();
        m.insert("apiVersion".into(), Value::String(api_version.into()));
        m.insert("kind".into(), Value::String(kind.into()));
        m.insert("metadata".into(), Value::Object(meta));
        Object(Value::Object(m))
    }

    /// The underlying JSON value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// Consumes the object, returning its JSON value.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// Mutable access to the top-level mapping. Callers must keep `apiVersion`, `kind` and the name.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        ensure_map(&mut self.0)
    }

    fn str_at(&self, key: &str) -> &str {
        self.0.get(key).and_then(Value::as_str).unwrap_or_default()
    }

    fn meta(&self) -> Option<&Map<String, Value>> {
        self.0.get("metadata").and_then(Value::as_object)
    }

    fn meta_str(&self, key: &str) -> Option<&str> {
        self.meta()
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn meta_mut(&mut self) -> &mut Map<String, Value> {
        let m = ensure_map(&mut self.0);
        ensure_map(m.entry("metadata").or_insert_with(|| Value::Object(Map::new())))
    }

    /// `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        self.str_at("apiVersion")
    }

    /// The API group: the part of `apiVersion` before `/`, or `""` for the core group.
    pub fn group(&self) -> &str {
        self.api_version().rsplit_once('/').map(|(g, _)| g).unwrap_or("")
    }

    /// The API version without the group, e.g. `v1`.
    pub fn version(&self) -> &str {
        let av = self.api_version();
        av.rsplit_once('/').map(|(_, v)| v).unwrap_or(av)
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.str_at("kind")
    }

    /// Group and kind.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(self.group(), self.kind())
    }

    /// `metadata.name`, or `""` when only `generateName` is set.
    pub fn name(&self) -> &str {
        self.meta_str("name").unwrap_or_default()
    }

    /// `metadata.generateName`.
    pub fn generate_name(&self) -> Option<&str> {
        self.meta_str("generateName")
    }

    /// `metadata.namespace`, if set and non-empty.
    pub fn namespace(&self) -> Option<&str> {
        self.meta_str("namespace")
    }

    /// Sets or clears `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: Option<&str>) {
        let meta = self.meta_mut();
        match namespace.filter(|n| !n.is_empty()) {
            Some(ns) => {
                meta.insert("namespace".into(), Value::String(ns.into()));
            }
            None => {
                meta.remove("namespace");
            }
        }
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.meta_mut().insert("name".into(), Value::String(name.into()));
    }

    /// The reference that identifies this object.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.group(), self.kind(), self.namespace(), self.name())
    }

    /// `metadata`.
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.meta()
    }

    /// `metadata.labels`, empty when absent.
    pub fn labels(&self) -> BTreeMap<&str, &str> {
        self.string_map("labels")
    }

    /// `metadata.annotations`, empty when absent.
    pub fn annotations(&self) -> BTreeMap<&str, &str> {
        self.string_map("annotations")
    }

    fn string_map(&self, key: &str) -> BTreeMap<&str, &str> {
        self.meta()
            .and_then(|m| m.get(key))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.meta()?.get("labels")?.get(key)?.as_str()
    }

    /// One annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.meta()?.get("annotations")?.get(key)?.as_str()
    }

    /// Sets a label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let meta = self.meta_mut();
        ensure_map(meta.entry("labels").or_insert_with(|| Value::Object(Map::new())))
            .insert(key.into(), Value::String(value.into()));
    }

    /// Sets an annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        let meta = self.meta_mut();
        ensure_map(
            meta.entry("annotations")
                .or_insert_with(|| Value::Object(Map::new())),
        )
        .insert(key.into(), Value::String(value.into()));
    }

    /// Removes an annotation, returning its value.
    pub fn remove_annotation(&mut self, key: &str) -> Option<String> {
        let meta = self.meta_mut();
        let anns = meta.get_mut("annotations")?.as_object_mut()?;
        match anns.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// `spec`.
    pub fn spec(&self) -> Option<&Value> {
        self.0.get("spec")
    }

    /// `status`.
    pub fn status(&self) -> Option<&Value> {
        self.0.get("status")
    }

    /// Replaces `status`.
    pub fn set_status(&mut self, status: Value) {
        ensure_map(&mut self.0).insert("status".into(), status);
    }

    /// The value at a JSON pointer (`/spec/replicas`).
    pub fn pointer(&self, ptr: &str) -> Option<&Value> {
        self.0.pointer(ptr)
    }

    /// `metadata.resourceVersion`.
    pub fn resource_version(&self) -> Option<&str> {
        self.meta_str("resourceVersion")
    }

    /// `metadata.uid`.
    pub fn uid(&self) -> Option<&str> {
        self.meta_str("uid")
    }

    /// `metadata.generation` (0 when absent).
    pub fn generation(&self) -> i64 {
        self.meta()
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// `metadata.deletionTimestamp`.
    pub fn deletion_timestamp(&self) -> Option<&str> {
        self.meta_str("deletionTimestamp")
    }

    /// `metadata.finalizers`.
    pub fn finalizers(&self) -> Vec<&str> {
        self.meta()
            .and_then(|m| m.get("finalizers"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The `uid`s named in `metadata.ownerReferences`.
    pub fn owner_uids(&self) -> Vec<&str> {
        self.meta()
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.get("uid").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Turns `v` into an empty mapping unless it is one, and returns the mapping.
pub(crate) fn ensure_map(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just replaced with a mapping"),
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.object_ref().fmt(f)
    }
}

impl TryFrom<Value> for Object {
    type Error = ObjectError;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Object::from_value(value)
    }
}

impl From<Object> for Value {
    fn from(o: Object) -> Value {
        o.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_of_refs() {
        assert_eq!(
            ObjectRef::new("apps", "Deployment", Some("prod"), "web").to_string(),
            "apps/Deployment prod/web"
        );
        assert_eq!(
            ObjectRef::new("", "ConfigMap", Some("prod"), "settings").to_string(),
            "ConfigMap prod/settings"
        );
        assert_eq!(
            ObjectRef::new("rbac.authorization.k8s.io", "ClusterRole", None, "admin").to_string(),
            "rbac.authorization.k8s.io/ClusterRole admin"
        );
    }

    #[test]
    fn accessors() {
        let o = Object::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"a": "b"}, "annotations": {"x": "y"}},
            "spec": {"replicas": 2}
        }))
        .unwrap();
        assert_eq!(o.group(), "apps");
        assert_eq!(o.version(), "v1");
        assert_eq!(o.label("a"), Some("b"));
        assert_eq!(o.annotation("x"), Some("y"));
        assert_eq!(o.pointer("/spec/replicas"), Some(&json!(2)));
        assert_eq!(o.object_ref().to_string(), "apps/Deployment prod/web");
    }

    #[test]
    fn missing_fields_are_named() {
        let e = Object::from_value(json!({"apiVersion": "v1", "metadata": {"name": "x"}})).unwrap_err();
        assert_eq!(e.to_string(), "missing required field `kind`");
        let e =
            Object::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})).unwrap_err();
        assert_eq!(e.to_string(), "missing required field `metadata.name`");
        let e = Object::from_value(json!([1])).unwrap_err();
        assert_eq!(e.to_string(), "document is not a mapping but a list");
    }
}
