//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes strategic merge patch.
//!
//! Shared by the Kustomize renderer, the simulated cluster's `patch` API and the diff engine
//! ([`crate::diff`]). Everything here is pure logic on [`serde_json::Value`]s: no I/O, no panics on
//! any input, and errors that name the JSON path they are about.
//!
//! - [`json_merge`]: [`json_merge::apply`] and [`json_merge::create_merge_patch`];
//! - [`json_patch`]: RFC 6902 operations with RFC 6901 pointers, plus [`json_patch::remove_paths`]
//!   (the `jsonPointers` form of `ignoreDifferences`);
//! - [`strategic`]: strategic merge patch with a built-in table of merge keys, and the three-way
//!   patch `kubectl apply` computes.

pub mod json_merge;
pub mod json_patch;
pub mod strategic;

use serde_json::Value;

/// Why a patch could not be built or applied. Messages are lowercase and name the JSON path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// A JSON pointer is malformed (it must be empty or start with `/`).
    #[error("invalid json pointer `{pointer}`: {reason}")]
    InvalidPointer {
        /// The pointer as written.
        pointer: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A JSON patch document or operation is malformed.
    #[error("operation {index}: {message}")]
    InvalidOperation {
        /// Index of the operation in the patch (0-based).
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A JSON patch operation refers to a path that does not exist.
    #[error("operation {index} ({op}): path `{path}` does not exist")]
    PathNotFound {
        /// Index of the operation (0-based).
        index: usize,
        /// The operation name (`remove`, `replace`, …).
        op: &'static str,
        /// The JSON pointer.
        path: String,
    },
    /// A JSON patch `test` operation failed.
    #[error("operation {index} (test): value at `{path}` is not {expected}")]
    TestFailed {
        /// Index of the operation (0-based).
        index: usize,
        /// The JSON pointer.
        path: String,
        /// The expected value, as JSON.
        expected: String,
    },
    /// A value has a type the patch cannot work with.
    #[error("at `{path}`: expected {expected}, found {found}")]
    WrongType {
        /// JSON path (`spec.template.spec.containers`).
        path: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// An element of a list merged by key lacks the merge key.
    #[error("at `{path}`: list element does not contain the merge key `{key}`")]
    MissingMergeKey {
        /// JSON path of the list.
        path: String,
        /// The merge key.
        key: &'static str,
    },
    /// A strategic merge patch directive is invalid.
    #[error("at `{path}`: {message}")]
    InvalidDirective {
        /// JSON path of the map holding the directive.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Appends `.key` (or `key` at the root) to a dotted path.
pub(crate) fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_eq(&json!("1"), &json!(1)));
    }
}
