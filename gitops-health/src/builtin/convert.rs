//! Typed reading of unstructured JSON, standing in for Kubernetes' unstructured → typed conversion.
//!
//! Upstream converts the whole object into a typed struct before checking it, so a field of the
//! wrong JSON type makes the check fail. Here each check reads only the fields it needs, through
//! [`At`], which reports such a mismatch as a [`ConvError`] naming the field. JSON `null` counts as
//! absent, as it does in the Go conversion.

use std::fmt;

use serde_json::Value;

/// A field holds a JSON value of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConvError {
    path: String,
    expected: &'static str,
    found: &'static str,
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "field {}: expected {}, found {}",
            self.path, self.expected, self.found
        )
    }
}

/// Describes a JSON value's type for messages.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A position in a JSON document: the value there (if any) and its dotted path for messages.
#[derive(Debug, Clone)]
pub(crate) struct At<'a> {
    value: Option<&'a Value>,
    path: String,
}

/// Shorthand for results of conversions.
pub(crate) type Conv<T> = Result<T, ConvError>;

impl<'a> At<'a> {
    /// The root of a document.
    pub(crate) fn root(v: &'a Value) -> Self {
        At {
            value: Some(v),
            path: String::new(),
        }
    }

    fn present(&self) -> Option<&'a Value> {
        self.value.filter(|v| !v.is_null())
    }

    fn mismatch(&self, expected: &'static str, found: &Value) -> ConvError {
        ConvError {
            path: if self.path.is_empty() {
                ".".to_owned()
            } else {
                self.path.clone()
            },
            expected,
            found: kind_of(found),
        }
    }

    /// The member `key` of the mapping here. Absent when this is absent; an error when this is
    /// not a mapping.
    pub(crate) fn field(&self, key: &str) -> Conv<At<'a>> {
        let path = format!("{}.{}", self.path, key);
        match self.present() {
            None => Ok(At { value: None, path }),
            Some(Value::Object(m)) => Ok(At {
                value: m.get(key),
                path,
            }),
            Some(other) => Err(self.mismatch("a mapping", other)),
        }
    }

    /// Follows several members in turn.
    pub(crate) fn path(&self, keys: &[&str]) -> Conv<At<'a>> {
        let mut at = self.clone();
        for k in keys {
            at = at.field(k)?;
        }
        Ok(at)
    }

    /// Checks that the value here, if any, is a mapping.
    pub(crate) fn mapping(&self) -> Conv<bool> {
        match self.present() {
            None => Ok(false),
            Some(Value::Object(_)) => Ok(true),
            Some(other) => Err(self.mismatch("a mapping", other)),
        }
    }

    /// A string, if set.
    pub(crate) fn opt_str(&self) -> Conv<Option<&'a str>> {
        match self.present() {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.mismatch("a string", other)),
        }
    }

    /// A string, `""` when absent.
    pub(crate) fn str(&self) -> Conv<&'a str> {
        Ok(self.opt_str()?.unwrap_or_default())
    }

    /// An integer, if set. Integral floats (`3.0`) are accepted.
    pub(crate) fn opt_int(&self) -> Conv<Option<i64>> {
        match self.present() {
            None => Ok(None),
            Some(v @ Value::Number(n)) => {
                if let Some(i) = n.as_i64() {
                    Ok(Some(i))
                } else if let Some(f) = n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f <= i64::MAX as f64)
                {
                    // Integral and in range, so the conversion is exact.
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(Some(f as i64))
                } else {
                    Err(self.mismatch("an integer", v))
                }
            }
            Some(other) => Err(self.mismatch("an integer", other)),
        }
    }

    /// An integer, 0 when absent.
    pub(crate) fn int(&self) -> Conv<i64> {
        Ok(self.opt_int()?.unwrap_or(0))
    }

    /// A boolean, `false` when absent.
    pub(crate) fn bool(&self) -> Conv<bool> {
        match self.present() {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.mismatch("a boolean", other)),
        }
    }

    /// The elements of the list here; empty when absent.
    pub(crate) fn list(&self) -> Conv<Vec<At<'a>>> {
        match self.present() {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| At {
                    value: Some(v),
                    path: format!("{}[{}]", self.path, i),
                })
                .collect()),
            Some(other) => Err(self.mismatch("a list", other)),
        }
    }
}

/// A status condition as most Kubernetes types spell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Condition<'a> {
    /// `type`.
    pub(crate) kind: &'a str,
    /// `status`: `"True"`, `"False"` or `"Unknown"`.
    pub(crate) status: &'a str,
    /// `reason`.
    pub(crate) reason: &'a str,
    /// `message`.
    pub(crate) message: &'a str,
}

/// Reads a list of conditions (`type`, `status`, `reason`, `message`, all strings).
pub(crate) fn conditions<'a>(at: &At<'a>) -> Conv<Vec<Condition<'a>>> {
    at.list()?
        .iter()
        .map(|c| {
            c.mapping()?;
            Ok(Condition {
                kind: c.field("type")?.str()?,
                status: c.field("status")?.str()?,
                reason: c.field("reason")?.str()?,
                message: c.field("message")?.str()?,
            })
        })
        .collect()
}

/// Quotes a string the way Go's `%q` does for the characters Kubernetes names and messages use.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_reports_paths() {
        let v = json!({"status": {"replicas": "3", "n": 2.0, "list": [1]}, "spec": 5});
        let root = At::root(&v);
        let err = root.path(&["status", "replicas"]).and_then(|a| a.int());
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("field .status.replicas: expected an integer, found a string".to_owned())
        );
        assert_eq!(root.path(&["status", "n"]).and_then(|a| a.int()), Ok(2));
        assert_eq!(root.path(&["status", "missing"]).and_then(|a| a.int()), Ok(0));
        assert!(root.path(&["spec", "replicas"]).is_err());
        let cond = root
            .path(&["status", "list"])
            .and_then(|a| conditions(&a))
            .map_err(|e| e.to_string());
        assert_eq!(
            cond,
            Err("field .status.list[0]: expected a mapping, found an integer".to_owned())
        );
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("web"), "\"web\"");
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"");
    }
}
