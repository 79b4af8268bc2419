//! Patches: strategic merge (through [`gitops_core::patch::strategic`]) and JSON 6902 (through
//! [`gitops_core::patch::json_patch`]), and `target` selectors.

use gitops_core::GroupKind;
use gitops_core::patch::{json_patch, strategic};
use serde_json::{Map, Value};

use super::regex::Regex;
use super::res::{Id, Res, split_api_version};
use super::util::LabelSelector;

/// A `target` selector.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

impl Selector {
    pub(crate) fn from_value(v: &Value) -> Selector {
        let s = |k: &str| {
            v.get(k)
                .and_then(super::util::scalar_string)
                .filter(|s| !s.is_empty())
        };
        let mut sel = Selector {
            group: s("group"),
            version: s("version"),
            kind: s("kind"),
            name: s("name"),
            namespace: s("namespace"),
            label_selector: s("labelSelector"),
            annotation_selector: s("annotationSelector"),
        };
        if let Some(av) = s("apiVersion") {
            let (g, ver) = split_api_version(&av);
            sel.group = Some(g.to_owned());
            sel.version = Some(ver.to_owned());
        }
        sel
    }
}

/// A compiled selector.
pub(crate) struct Matcher {
    fields: Vec<(usize, Regex)>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

impl Matcher {
    pub(crate) fn new(sel: &Selector) -> Result<Matcher, String> {
        let mut fields = Vec::new();
        for (i, f) in [&sel.group, &sel.version, &sel.kind, &sel.name, &sel.namespace]
            .into_iter()
            .enumerate()
        {
            if let Some(p) = f {
                let re =
                    Regex::new(p).ok_or_else(|| format!("invalid regular expression {p:?} in target"))?;
                fields.push((i, re));
            }
        }
        let ls = |s: &Option<String>| -> Result<Option<LabelSelector>, String> {
            match s {
                None => Ok(None),
                Some(s) => LabelSelector::parse(s)
                    .map(Some)
                    .ok_or_else(|| format!("invalid selector {s:?} in target")),
            }
        };
        Ok(Matcher {
            fields,
            labels: ls(&sel.label_selector)?,
            annotations: ls(&sel.annotation_selector)?,
        })
    }

    fn id_matches(&self, id: &Id) -> bool {
        self.fields.iter().all(|(i, re)| {
            let v = match i {
                0 => &id.group,
                1 => &id.version,
                2 => &id.kind,
                3 => &id.name,
                _ => &id.namespace,
            };
            re.full_match(v)
        })
    }

    pub(crate) fn matches(&self, r: &Res) -> bool {
        r.all_ids().iter().any(|id| self.id_matches(id))
            && self.labels.as_ref().is_none_or(|l| l.matches(r.labels()))
            && self
                .annotations
                .as_ref()
                .is_none_or(|l| l.matches(r.annotations()))
    }
}

/// A parsed patch.
#[derive(Debug, Clone)]
pub(crate) enum Patch {
    /// Strategic merge patch documents.
    Smp(Vec<Value>),
    /// JSON 6902 operations.
    Json(Value),
    /// Nothing (an empty file).
    Empty,
}

/// Parses patch text: a list of operations is JSON 6902, mappings are strategic merge patches.
pub(crate) fn parse(text: &str, file: &str) -> Result<Patch, String> {
    let docs = super::util::parse_yaml(text, file).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [] => Ok(Patch::Empty),
        [Value::Array(_)] => Ok(Patch::Json(docs.into_iter().next().unwrap_or(Value::Null))),
        _ => {
            if docs.iter().all(Value::is_object) {
                Ok(Patch::Smp(docs))
            } else {
                Err("patch is neither a strategic merge patch nor a list of json patch operations".into())
            }
        }
    }
}

/// The id a strategic merge patch names.
pub(crate) fn patch_id(p: &Value) -> Id {
    let (g, v) = split_api_version(p.get("apiVersion").and_then(Value::as_str).unwrap_or(""));
    let md = p.get("metadata");
    let s = |k: &str| {
        md.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Id {
        group: g.to_owned(),
        version: v.to_owned(),
        kind: p.get("kind").and_then(Value::as_str).unwrap_or("").to_owned(),
        name: s("name"),
        namespace: s("namespace"),
    }
}

/// Applies a strategic merge patch to `r`; `Ok(false)` when the resource is deleted.
pub(crate) fn apply_smp(
    r: &mut Res,
    patch: &Value,
    allow_name: bool,
    allow_kind: bool,
) -> Result<bool, String> {
    if patch.get("$patch").and_then(Value::as_str) == Some("delete") {
        return Ok(false);
    }
    let (name, ns, kind, av) = (
        r.name().to_owned(),
        r.namespace().to_owned(),
        r.kind().to_owned(),
        r.api_version().to_owned(),
    );
    let before = r.id();
    let gk = GroupKind::new(r.group(), r.kind());
    // kyaml only knows `$patch`: apimachinery's other directives are copied as ordinary keys.
    let patch = &hide_directives(patch, true);
    strategic::apply_in_place(&mut r.obj, patch, &gk).map_err(|e| e.to_string())?;
    r.obj = hide_directives(&r.obj, false);
    if strategic::is_builtin(&gk) {
        kyaml_order(&mut r.obj, patch);
    }
    match r.obj.as_object() {
        Some(m) if !m.is_empty() => {}
        _ => return Ok(false),
    }
    let Some(m) = r.obj.as_object_mut() else {
        return Ok(false);
    };
    if !allow_kind {
        m.insert("kind".into(), Value::String(kind));
        m.insert("apiVersion".into(), Value::String(av));
    }
    if let Some(md) = super::util::child_map(m, "metadata") {
        if !allow_name {
            md.insert("name".into(), Value::String(name));
        }
        if ns.is_empty() {
            md.shift_remove("namespace");
        } else {
            md.insert("namespace".into(), Value::String(ns));
        }
    }
    if r.id() != before {
        r.prev.push(before);
    }
    Ok(true)
}

const HIDDEN: &str = "\u{1}";

/// Renames `$setElementOrder/…`, `$deleteFromPrimitiveList/…` and `$retainKeys` keys so the
/// strategic merge treats them as data (`hide`), or back.
fn hide_directives(v: &Value, hide: bool) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let k = if hide && k.starts_with('$') && k != "$patch" {
                        format!("{HIDDEN}{}", &k[1..])
                    } else if !hide && k.starts_with(HIDDEN) {
                        format!("${}", &k[HIDDEN.len()..])
                    } else {
                        k.clone()
                    };
                    (k, hide_directives(v, hide))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|e| hide_directives(e, hide)).collect()),
        other => other.clone(),
    }
}

/// Applies JSON 6902 operations to `r`.
pub(crate) fn apply_json(r: &mut Res, ops: &Value) -> Result<(), String> {
    let before = r.id();
    let ops = yaml11_values(ops);
    json_patch::apply_in_place(&mut r.obj, &ops).map_err(|e| e.to_string())?;
    if let Some(md) = r.obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["labels", "annotations"] {
            if let Some(Value::Object(m)) = md.get_mut(key) {
                for v in m.values_mut() {
                    if !v.is_string() {
                        *v = Value::String(super::util::scalar_string(v).unwrap_or_default());
                    }
                }
            }
        }
    }
    if r.id() != before {
        r.prev.push(before);
    }
    Ok(())
}

/// JSON 6902 values are decoded with YAML 1.1 by kustomize: `y`, `yes`, `on` … are booleans.
fn yaml11_values(ops: &Value) -> Value {
    let mut ops = ops.clone();
    if let Value::Array(list) = &mut ops {
        for op in list.iter_mut() {
            if let Some(v) = op.get_mut("value") {
                yaml11(v);
            }
        }
    }
    ops
}

fn yaml11(v: &mut Value) {
    match v {
        Value::String(s) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => *v = Value::Bool(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => *v = Value::Bool(false),
            _ => {}
        },
        Value::Array(a) => a.iter_mut().for_each(yaml11),
        Value::Object(m) => m.values_mut().for_each(yaml11),
        _ => {}
    }
}

const KEYS: [&str; 9] = [
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "topologyKey",
    "uid",
    "type",
];

/// kyaml's merge puts the patch's elements of a merged list first (in patch order), then the
/// elements only the original had.
fn kyaml_order(result: &mut Value, patch: &Value) {
    let (Value::Object(rm), Value::Object(pm)) = (result, patch) else {
        return;
    };
    for (k, pv) in pm {
        let Some(rv) = rm.get_mut(k) else { continue };
        match (rv, pv) {
            (Value::Object(_), Value::Object(_)) => {
                if let Some(rv) = rm.get_mut(k) {
                    kyaml_order(rv, pv);
                }
            }
            (Value::Array(ra), Value::Array(pa)) => reorder_list(ra, pa),
            _ => {}
        }
    }
}

fn elem_key<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

fn reorder_list(ra: &mut Vec<Value>, pa: &[Value]) {
    let elems: Vec<&Map<String, Value>> = pa
        .iter()
        .filter_map(Value::as_object)
        .filter(|m| !(m.len() == 1 && m.contains_key("$patch")))
        .collect();
    if elems.is_empty()
        || elems.len()
            != pa
                .iter()
                .filter(|v| !matches!(v, Value::Object(m) if m.len() == 1 && m.contains_key("$patch")))
                .count()
    {
        return;
    }
    let Some(key) = KEYS
        .iter()
        .find(|k| elems.iter().all(|m| elem_key(m, k).is_some()))
    else {
        return;
    };
    let mut rest: Vec<Option<Value>> = std::mem::take(ra).into_iter().map(Some).collect();
    for pe in &elems {
        let kv = elem_key(pe, key);
        let pos = rest.iter().position(|e| {
            e.as_ref()
                .and_then(Value::as_object)
                .and_then(|m| elem_key(m, key))
                == kv
        });
        if let Some(mut e) = pos.and_then(|p| rest.get_mut(p)).and_then(Option::take) {
            kyaml_order(&mut e, &Value::Object((*pe).clone()));
            ra.push(e);
        }
    }
    ra.extend(rest.into_iter().flatten());
}
