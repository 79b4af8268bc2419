//! JSON patch, [RFC 6902](https://www.rfc-editor.org/rfc/rfc6902), with
//! [RFC 6901](https://www.rfc-editor.org/rfc/rfc6901) pointers (`~0` is `~`, `~1` is `/`).
//!
//! A patch is applied atomically: on error the input is left untouched and the error names the
//! operation index and the path.
//!
//! ```
//! use gitops_core::patch::json_patch;
//! use serde_json::json;
//!
//! let doc = json!({"metadata": {"annotations": {"example.com/a": "1"}}});
//! let ops = json!([
//!     {"op": "replace", "path": "/metadata/annotations/example.com~1a", "value": "2"},
//!     {"op": "add", "path": "/spec", "value": {"replicas": 3}},
//! ]);
//! let out = json_patch::apply(&doc, &ops).unwrap();
//! assert_eq!(out, json!({"metadata": {"annotations": {"example.com/a": "2"}}, "spec": {"replicas": 3}}));
//! ```

use serde_json::Value;

use super::{PatchError, json_eq};

/// Splits an RFC 6901 pointer into unescaped reference tokens. `""` is the whole document.
pub fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::InvalidPointer {
            pointer: pointer.to_owned(),
            reason: "must be empty or start with `/`",
        });
    };
    rest.split('/')
        .map(|t| {
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(PatchError::InvalidPointer {
                                pointer: pointer.to_owned(),
                                reason: "`~` must be followed by `0` or `1`",
                            });
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// Parses an array index token: digits without leading zeros.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || (token.len() > 1 && token.starts_with('0'))
        || !token.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    token.parse().ok()
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(a) => array_index(t).and_then(|i| a.get(i)),
        _ => None,
    })
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get_mut(t),
        Value::Array(a) => array_index(t).and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// Removes the value at `tokens`, returning it; `None` if it does not exist.
fn remove(doc: &mut Value, tokens: &[String]) -> Option<Value> {
    let (last, parent) = tokens.split_last()?;
    match get_mut(doc, parent)? {
        Value::Object(m) => m.shift_remove(last),
        Value::Array(a) => {
            let i = array_index(last)?;
            (i < a.len()).then(|| a.remove(i))
        }
        _ => None,
    }
}

/// Adds `value` at `tokens` (RFC 6902 `add`); `false` if the parent does not exist.
fn add(doc: &mut Value, tokens: &[String], value: Value) -> bool {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return true;
    };
    match get_mut(doc, parent) {
        Some(Value::Object(m)) => {
            m.insert(last.clone(), value);
            true
        }
        Some(Value::Array(a)) => {
            if last == "-" {
                a.push(value);
                return true;
            }
            match array_index(last) {
                Some(i) if i <= a.len() => {
                    a.insert(i, value);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Applies the operations of `patch` (a JSON array) to a copy of `doc`.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let mut out = doc.clone();
    apply_in_place(&mut out, patch)?;
    Ok(out)
}

/// Applies the operations of `patch` to `doc` in place. On error `doc` may be partly patched;
/// use [`apply`] for all-or-nothing behaviour.
pub fn apply_in_place(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::InvalidOperation {
            index: 0,
            message: format!(
                "a json patch must be a list of operations, found {}",
                crate::object::value_kind(patch)
            ),
        });
    };
    for (index, op) in ops.iter().enumerate() {
        apply_op(doc, index, op)?;
    }
    Ok(())
}

fn apply_op(doc: &mut Value, index: usize, op: &Value) -> Result<(), PatchError> {
    let invalid = |message: String| PatchError::InvalidOperation { index, message };
    let Value::Object(m) = op else {
        return Err(invalid(format!(
            "operation must be a mapping, found {}",
            crate::object::value_kind(op)
        )));
    };
    let field = |name: &str| -> Result<&str, PatchError> {
        m.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("missing string field `{name}`")))
    };
    let name = field("op")?;
    let path = field("path")?;
    let tokens = parse_pointer(path)?;
    let value = || {
        m.get("value")
            .ok_or_else(|| invalid(format!("`{name}` needs a `value`")))
    };
    let not_found = |op: &'static str, path: &str| PatchError::PathNotFound {
        index,
        op,
        path: path.to_owned(),
    };
    match name {
        "add" => {
            let v = value()?.clone();
            if !add(doc, &tokens, v) {
                return Err(not_found("add", path));
            }
        }
        "remove" => {
            if tokens.is_empty() {
                return Err(invalid("cannot remove the whole document".to_owned()));
            }
            remove(doc, &tokens).ok_or_else(|| not_found("remove", path))?;
        }
        "replace" => {
            let v = value()?.clone();
            let slot = get_mut(doc, &tokens).ok_or_else(|| not_found("replace", path))?;
            *slot = v;
        }
        "move" | "copy" => {
            let from = field("from")?;
            let from_tokens = parse_pointer(from)?;
            let op: &'static str = if name == "move" { "move" } else { "copy" };
            let v = if op == "move" {
                if from_tokens.len() < tokens.len() && tokens.starts_with(&from_tokens) {
                    return Err(invalid(format!(
                        "cannot move `{from}` into its own child `{path}`"
                    )));
                }
                if from_tokens == tokens {
                    return get(doc, &tokens).map(|_| ()).ok_or_else(|| not_found(op, from));
                }
                if from_tokens.is_empty() {
                    return Err(invalid("cannot move the whole document".to_owned()));
                }
                remove(doc, &from_tokens).ok_or_else(|| not_found(op, from))?
            } else {
                get(doc, &from_tokens)
                    .cloned()
                    .ok_or_else(|| not_found(op, from))?
            };
            if !add(doc, &tokens, v) {
                return Err(not_found(op, path));
            }
        }
        "test" => {
            let want = value()?;
            match get(doc, &tokens) {
                Some(have) if json_eq(have, want) => {}
                _ => {
                    return Err(PatchError::TestFailed {
                        index,
                        path: path.to_owned(),
                        expected: want.to_string(),
                    });
                }
            }
        }
        other => return Err(invalid(format!("unknown operation `{other}`"))),
    }
    Ok(())
}

/// Removes the values at `pointers`, silently skipping paths that do not exist.
///
/// This is how the `jsonPointers` of `ignoreDifferences` are applied. Only a malformed pointer
/// is an error.
pub fn remove_paths<S: AsRef<str>>(value: &mut Value, pointers: &[S]) -> Result<(), PatchError> {
    for p in pointers {
        let tokens = parse_pointer(p.as_ref())?;
        if tokens.is_empty() {
            *value = Value::Null;
        } else {
            remove(value, &tokens);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_unescape() {
        assert_eq!(parse_pointer("/a~1b/c~0d").unwrap(), ["a/b", "c~d"]);
        assert_eq!(parse_pointer("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_pointer("/").unwrap(), [""]);
        assert!(parse_pointer("a").is_err());
        assert_eq!(
            parse_pointer("/a~2").unwrap_err().to_string(),
            "invalid json pointer `/a~2`: `~` must be followed by `0` or `1`"
        );
    }

    #[test]
    fn all_operations() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "c": "x"});
        let ops = json!([
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 4},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/a/b", "path": "/list"},
            {"op": "test", "path": "/list", "value": [9, 2, 3, 4]},
            {"op": "test", "path": "/d", "value": "y"},
        ]);
        assert_eq!(
            apply(&doc, &ops).unwrap(),
            json!({"a": {}, "c": "y", "d": "y", "list": [9, 2, 3, 4]})
        );
    }

    #[test]
    fn errors_name_index_and_path() {
        let doc = json!({"a": 1});
        let e = apply(
            &doc,
            &json!([{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/b"}]),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "operation 1 (remove): path `/b` does not exist");
        let e = apply(&doc, &json!([{"op": "test", "path": "/a", "value": 2}])).unwrap_err();
        assert_eq!(e.to_string(), "operation 0 (test): value at `/a` is not 2");
        let e = apply(&doc, &json!([{"op": "frob", "path": "/a"}])).unwrap_err();
        assert_eq!(e.to_string(), "operation 0: unknown operation `frob`");
        let e = apply(&doc, &json!([{"op": "add", "path": "/x/y", "value": 1}])).unwrap_err();
        assert_eq!(e.to_string(), "operation 0 (add): path `/x/y` does not exist");
        let e = apply(
            &json!({"a": {"b": 1}}),
            &json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("own child"), "{e}");
        let e = apply(&json!([1]), &json!([{"op": "add", "path": "/01", "value": 1}])).unwrap_err();
        assert!(matches!(e, PatchError::PathNotFound { .. }));
    }

    #[test]
    fn remove_paths_ignores_missing() {
        let mut v = json!({"metadata": {"annotations": {"a/b": "1", "c": "2"}}, "spec": {"l": [1, 2]}});
        remove_paths(
            &mut v,
            &["/metadata/annotations/a~1b", "/nope/x", "/spec/l/5", "/spec/l/0"],
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"annotations": {"c": "2"}}, "spec": {"l": [2]}})
        );
        assert!(remove_paths(&mut v, &["spec"]).is_err());
    }
}
