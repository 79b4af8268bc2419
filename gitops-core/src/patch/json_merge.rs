//! JSON merge patch, [RFC 7386](https://www.rfc-editor.org/rfc/rfc7386).
//!
//! A merge patch is a JSON document: mappings are merged recursively, `null` deletes a key, and
//! anything else (including lists) replaces the target value.
//!
//! ```
//! use gitops_core::patch::json_merge;
//! use serde_json::json;
//!
//! let target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
//! let patch = json!({"a": "z", "c": {"f": null}});
//! assert_eq!(json_merge::apply(&target, &patch), json!({"a": "z", "c": {"d": "e"}}));
//! ```

use serde_json::{Map, Value};

use super::json_eq;

/// Applies `patch` to a copy of `target` (RFC 7386 `MergePatch`).
pub fn apply(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    apply_in_place(&mut out, patch);
    out
}

/// Applies `patch` to `target` in place.
pub fn apply_in_place(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return;
    };
    for (k, pv) in p {
        if pv.is_null() {
            t.remove(k);
        } else if let Some(tv) = t.get_mut(k) {
            apply_in_place(tv, pv);
        } else {
            let mut tv = Value::Null;
            apply_in_place(&mut tv, pv);
            t.insert(k.clone(), tv);
        }
    }
}

/// The merge patch that turns `original` into `modified`.
///
/// `apply(original, &create_merge_patch(original, modified)) == modified` holds whenever
/// `modified` contains no `null` inside a mapping (RFC 7386 cannot express those).
pub fn create_merge_patch(original: &Value, modified: &Value) -> Value {
    match (original, modified) {
        (Value::Object(o), Value::Object(m)) => Value::Object(diff_maps(o, m)),
        _ => modified.clone(),
    }
}

fn diff_maps(o: &Map<String, Value>, m: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for k in o.keys() {
        if !m.contains_key(k) {
            patch.insert(k.clone(), Value::Null);
        }
    }
    for (k, mv) in m {
        match o.get(k) {
            None => {
                patch.insert(k.clone(), mv.clone());
            }
            Some(ov) if json_eq(ov, mv) => {}
            Some(Value::Object(om)) => match mv {
                Value::Object(mm) => {
                    let sub = diff_maps(om, mm);
                    if !sub.is_empty() {
                        patch.insert(k.clone(), Value::Object(sub));
                    }
                }
                _ => {
                    patch.insert(k.clone(), mv.clone());
                }
            },
            Some(_) => {
                patch.insert(k.clone(), mv.clone());
            }
        }
    }
    patch
}

/// The three-way JSON merge patch `kubectl apply` uses for kinds without a strategic schema.
///
/// Additions and changes come from `current → modified` (fields only in `current` are kept);
/// deletions come from `original → modified` (fields the last applied configuration had and the
/// new one drops). Lists are replaced as a whole.
pub fn three_way(original: &Value, modified: &Value, current: &Value) -> Value {
    let delta = without_nulls(create_merge_patch(current, modified));
    let deletions = only_nulls(create_merge_patch(original, modified));
    match (deletions, delta) {
        (Some(mut d), Some(a)) => {
            merge_patches(&mut d, a);
            d
        }
        (Some(d), None) => d,
        (None, Some(a)) => a,
        (None, None) => Value::Object(Map::new()),
    }
}

/// Drops deletions (`null`s) from a merge patch; `None` when nothing is left of a mapping.
fn without_nulls(patch: Value) -> Option<Value> {
    match patch {
        Value::Null => None,
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match v {
                    Value::Null => {}
                    Value::Object(_) => {
                        if let Some(v) = without_nulls(v) {
                            out.insert(k, v);
                        }
                    }
                    other => {
                        out.insert(k, other);
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        other => Some(other),
    }
}

/// Keeps only deletions (`null`s) of a merge patch.
fn only_nulls(patch: Value) -> Option<Value> {
    match patch {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match v {
                    Value::Null => {
                        out.insert(k, Value::Null);
                    }
                    Value::Object(_) => {
                        if let Some(v) = only_nulls(v) {
                            out.insert(k, v);
                        }
                    }
                    _ => {}
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ => None,
    }
}

/// Deep-merges patch `b` into patch `a` (`b` wins on conflicts).
pub(crate) fn merge_patches(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(am), Value::Object(bm)) => {
            for (k, bv) in bm {
                match am.get_mut(&k) {
                    Some(av) if av.is_object() && bv.is_object() => merge_patches(av, bv),
                    _ => {
                        am.insert(k, bv);
                    }
                }
            }
        }
        (a, b) => *a = b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7386 appendix A.
    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(apply(&target, &patch), want, "{target} + {patch}");
        }
    }

    #[test]
    fn create_patch_round_trips() {
        let a = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": true});
        let b = json!({"a": 2, "b": {"c": [1], "d": "x"}, "new": {"k": "v"}});
        let p = create_merge_patch(&a, &b);
        assert_eq!(
            p,
            json!({"gone": null, "a": 2, "b": {"c": [1]}, "new": {"k": "v"}})
        );
        assert_eq!(apply(&a, &p), b);
    }

    #[test]
    fn three_way_keeps_current_only_fields() {
        let original = json!({"a": 1, "b": 2});
        let modified = json!({"a": 1});
        let current = json!({"a": 1, "b": 2, "defaulted": true});
        let p = three_way(&original, &modified, &current);
        assert_eq!(p, json!({"b": null}));
        assert_eq!(apply(&current, &p), json!({"a": 1, "defaulted": true}));
    }
}
