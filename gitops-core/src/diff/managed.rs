//! `metadata.managedFields[].fieldsV1`: the field sets of server-side apply.
//!
//! The format is a tree of mappings whose keys are `f:<field>` (a field of a mapping),
//! `k:<json>` (the element of an associative list with these key fields), `v:<json>` (the
//! element of a set-like list with this value), `i:<n>` (a list index) and `.` (the element
//! itself, when its parent is a list element). A leaf is `{}`.

use serde_json::{Map, Value};

use super::normalize::is_empty;
use crate::patch::json_eq;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FSeg {
    /// `f:name`.
    Field(String),
    /// `k:{..}`: the list element with these key values.
    Key(Map<String, Value>),
    /// `v:..`: the list element with this value.
    Val(Value),
    /// `i:n`.
    Index(usize),
}

/// A path owned by a manager.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Owned {
    /// Where.
    pub(crate) path: Vec<FSeg>,
    /// True for a list element owned as a whole (`.`), false for a leaf field.
    pub(crate) element: bool,
}

/// The `fieldsV1` of every `managedFields` entry of `live` whose manager satisfies `which`.
pub(crate) fn owned_by(live: &Value, which: impl Fn(&str) -> bool) -> Vec<Owned> {
    let mut out = Vec::new();
    let Some(Value::Array(entries)) = live.pointer("/metadata/managedFields") else {
        return out;
    };
    for e in entries {
        if e.get("manager").and_then(Value::as_str).is_some_and(&which)
            && let Some(fields) = e.get("fieldsV1")
        {
            walk(fields, &mut Vec::new(), &mut out);
        }
    }
    out
}

fn parse_seg(k: &str) -> Option<FSeg> {
    let (tag, rest) = k.split_at_checked(2)?;
    match tag {
        "f:" => Some(FSeg::Field(rest.to_owned())),
        "k:" => match serde_json::from_str(rest).ok()? {
            Value::Object(m) => Some(FSeg::Key(m)),
            _ => None,
        },
        "v:" => serde_json::from_str(rest).ok().map(FSeg::Val),
        "i:" => rest.parse().ok().map(FSeg::Index),
        _ => None,
    }
}

fn walk(node: &Value, path: &mut Vec<FSeg>, out: &mut Vec<Owned>) {
    let Value::Object(m) = node else { return };
    let is_element = matches!(path.last(), Some(FSeg::Key(_) | FSeg::Val(_) | FSeg::Index(_)));
    if m.is_empty() {
        if !path.is_empty() {
            out.push(Owned {
                path: path.clone(),
                element: is_element,
            });
        }
        return;
    }
    for (k, child) in m {
        if k == "." {
            if is_element {
                out.push(Owned {
                    path: path.clone(),
                    element: true,
                });
            }
            continue;
        }
        if let Some(seg) = parse_seg(k) {
            path.push(seg);
            walk(child, path, out);
            path.pop();
        }
    }
}

fn step<'a>(v: &'a Value, seg: &FSeg) -> Option<&'a Value> {
    match (seg, v) {
        (FSeg::Field(f), Value::Object(m)) => m.get(f),
        (FSeg::Key(k), Value::Array(a)) => a.iter().find(|e| element_has(e, k)),
        (FSeg::Val(x), Value::Array(a)) => a.iter().find(|e| json_eq(e, x)),
        (FSeg::Index(i), Value::Array(a)) => a.get(*i),
        _ => None,
    }
}

fn element_has(e: &Value, keys: &Map<String, Value>) -> bool {
    matches!(e, Value::Object(m) if keys.iter().all(|(k, v)| m.get(k).is_some_and(|w| json_eq(v, w))))
}

/// The value at `path`, if any.
pub(crate) fn locate<'a>(doc: &'a Value, path: &[FSeg]) -> Option<&'a Value> {
    path.iter().try_fold(doc, step)
}

/// Removes the value at `path`; nothing happens if it does not exist.
pub(crate) fn remove_at(doc: &mut Value, path: &[FSeg]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = doc;
    for seg in parent {
        let next = match (seg, cur) {
            (FSeg::Field(f), Value::Object(m)) => m.get_mut(f),
            (FSeg::Key(k), Value::Array(a)) => a.iter_mut().find(|e| element_has(e, k)),
            (FSeg::Val(x), Value::Array(a)) => a.iter_mut().find(|e| json_eq(e, x)),
            (FSeg::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur) {
        (FSeg::Field(f), Value::Object(m)) => {
            m.shift_remove(f);
        }
        (FSeg::Key(k), Value::Array(a)) => {
            if let Some(i) = a.iter().position(|e| element_has(e, k)) {
                a.remove(i);
            }
        }
        (FSeg::Val(x), Value::Array(a)) => {
            if let Some(i) = a.iter().position(|e| json_eq(e, x)) {
                a.remove(i);
            }
        }
        (FSeg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// `managedFieldsManagers`: removes from both sides the fields those managers own where the
/// config would change them (a leaf whose values differ, an element present on one side only).
pub(crate) fn ignore_owned(owned: &[Owned], config: &mut Value, live: &mut Value) {
    for o in owned {
        let differs = {
            let c = locate(config, &o.path);
            let l = locate(live, &o.path);
            if o.element {
                c.is_some() != l.is_some()
            } else {
                match (c, l) {
                    (Some(c), Some(l)) => !super::normalize::loose_eq(c, l),
                    (Some(x), None) | (None, Some(x)) => !is_empty(x),
                    (None, None) => false,
                }
            }
        };
        if differs {
            remove_at(config, &o.path);
            remove_at(live, &o.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_field_sets() {
        let live = json!({"metadata": {"managedFields": [{"manager": "hpa", "operation": "Update", "fieldsV1": {
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}}
            }}}},
            "f:metadata": {"f:finalizers": {"v:\"a\"": {}}}
        }}]}});
        let owned = owned_by(&live, |m| m == "hpa");
        assert_eq!(owned.len(), 4);
        assert_eq!(
            owned[0].path,
            vec![FSeg::Field("spec".into()), FSeg::Field("replicas".into())]
        );
        assert!(
            owned
                .iter()
                .any(|o| o.element && matches!(o.path.last(), Some(FSeg::Key(_))))
        );
        assert!(
            owned
                .iter()
                .any(|o| o.element && o.path.last() == Some(&FSeg::Val(json!("a"))))
        );
        let doc = json!({"spec": {"template": {"spec": {"containers": [{"name": "x"}, {"name": "web", "image": "i"}]}}}});
        let img = owned
            .iter()
            .find(|o| o.path.last() == Some(&FSeg::Field("image".into())))
            .unwrap();
        assert_eq!(locate(&doc, &img.path), Some(&json!("i")));
        assert!(owned_by(&live, |m| m == "other").is_empty());
    }
}
