//! Loading Kubernetes objects from multi-document YAML and from JSON.
//!
//! Every error carries the file, the document index (0-based, as `kubectl` counts) and the line
//! where the document starts, so a user can find the problem. Empty documents and a trailing
//! `---` are accepted. `List` kinds (`v1/List`, `ConfigMapList`, …) are expanded into their items.
//! YAML aliases are expanded with a bound, so an "alias bomb" fails with a clear error instead of
//! exhausting memory.
//!
//! ```
//! use gitops_core::load::load_objects;
//! let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n";
//! let objs = load_objects(yaml, "inline.yaml").unwrap();
//! assert_eq!(objs.len(), 1);
//! assert_eq!(objs[0].object.name(), "a");
//! ```

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::object::{Object, ObjectError};

/// Largest input the loader accepts, in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// One parsed YAML or JSON document, before it is checked to be a Kubernetes object.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 0-based index of the document in its file.
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
    /// The document's content (never `null`: empty documents are dropped).
    pub value: Value,
}

/// A Kubernetes object with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The object.
    pub object: Object,
    /// 0-based document index in the file.
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
}

/// What went wrong while loading.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The text is not valid YAML or JSON.
    #[error("invalid {format}: {message}")]
    Syntax {
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// Alias expansion or nesting went over the loader's bounds.
    #[error("document too large after expanding YAML aliases or too deeply nested: {message}")]
    TooLarge {
        /// The parser's message.
        message: String,
    },
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error("input is {size} bytes, more than the limit of {limit} bytes")]
    InputTooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A value that JSON cannot hold (a NaN, a non-scalar mapping key).
    #[error("unsupported value at {path}: {message}")]
    Unsupported {
        /// Field path inside the document.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The document is not a Kubernetes object.
    #[error("not a Kubernetes object{}: {error}", at_path(path))]
    NotAnObject {
        /// Path inside the document (`items[2]` for a List item), empty for the document itself.
        path: String,
        /// The missing or mistyped field.
        error: ObjectError,
    },
    /// A `.json` file held more than one object.
    #[error("found multiple objects in a JSON file")]
    MultipleJsonObjects,
    /// The file could not be read.
    #[error("cannot read file: {message}")]
    Io {
        /// The operating system's message.
        message: String,
    },
}

fn at_path(p: &str) -> String {
    if p.is_empty() {
        String::new()
    } else {
        format!(" at {p}")
    }
}

/// An error from loading, with file, document and line.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    /// File name or other origin label.
    pub file: String,
    /// 0-based document index, when known.
    pub document: Option<usize>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What went wrong.
    pub kind: LoadErrorKind,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(doc) = self.document {
            write!(f, " (document {doc})")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for LoadError {}

/// Start lines (1-based) of the documents in a YAML stream, by `---` markers.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    let mut seen_content = false;
    for (i, line) in text.lines().enumerate() {
        let is_marker = line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if is_marker {
            if seen_content {
                starts.push(i + 1);
            } else if let Some(first) = starts.last_mut() {
                // A leading marker opens the first document.
                *first = i + 1;
                seen_content = true;
            }
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') && !line.starts_with('%') {
            seen_content = true;
        }
    }
    starts
}

/// Parses a multi-document YAML stream (JSON is valid YAML) into documents, dropping empty ones.
pub fn parse_yaml_documents(text: &str, file: &str) -> Result<Vec<Document>, LoadError> {
    check_size(text, file)?;
    let starts = document_start_lines(text);
    let mut docs = Vec::new();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let line = starts.get(index).copied().unwrap_or(1);
        let yaml = serde_yaml::Value::deserialize(de).map_err(|e| {
            let msg = e.to_string();
            let kind = if msg.contains("repetition limit") || msg.contains("recursion limit") {
                LoadErrorKind::TooLarge { message: msg }
            } else {
                LoadErrorKind::Syntax {
                    format: "YAML",
                    message: msg,
                }
            };
            LoadError {
                file: file.to_owned(),
                document: Some(index),
                line: e.location().map(|l| l.line()).or(Some(line)),
                kind,
            }
        })?;
        let value = yaml_to_json(yaml, "").map_err(|(path, message)| LoadError {
            file: file.to_owned(),
            document: Some(index),
            line: Some(line),
            kind: LoadErrorKind::Unsupported {
                path: if path.is_empty() {
                    "document root".into()
                } else {
                    path
                },
                message,
            },
        })?;
        if !value.is_null() {
            docs.push(Document { index, line, value });
        }
    }
    Ok(docs)
}

/// Parses a JSON file, which must hold exactly one value (as Argo CD requires).
pub fn parse_json_document(text: &str, file: &str) -> Result<Vec<Document>, LoadError> {
    check_size(text, file)?;
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let err = |e: serde_json::Error| LoadError {
        file: file.to_owned(),
        document: Some(0),
        line: Some(e.line()),
        kind: LoadErrorKind::Syntax {
            format: "JSON",
            message: e.to_string(),
        },
    };
    let first = match stream.next() {
        None => return Ok(Vec::new()),
        Some(v) => v.map_err(err)?,
    };
    if let Some(next) = stream.next() {
        next.map_err(err)?;
        return Err(LoadError {
            file: file.to_owned(),
            document: Some(1),
            line: None,
            kind: LoadErrorKind::MultipleJsonObjects,
        });
    }
    Ok(if first.is_null() {
        Vec::new()
    } else {
        vec![Document {
            index: 0,
            line: 1,
            value: first,
        }]
    })
}

fn check_size(text: &str, file: &str) -> Result<(), LoadError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(LoadError {
            file: file.to_owned(),
            document: None,
            line: None,
            kind: LoadErrorKind::InputTooLarge {
                size: text.len(),
                limit: MAX_INPUT_BYTES,
            },
        });
    }
    Ok(())
}

/// Converts a YAML value to JSON. Errors carry a field path.
fn yaml_to_json(v: serde_yaml::Value, path: &str) -> Result<Value, (String, String)> {
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(
                    Number::from_f64(f)
                        .ok_or_else(|| (path.to_owned(), format!("{f} is not a finite number")))?,
                )
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_owned(),
                    other => {
                        return Err((
                            path.to_owned(),
                            format!("mapping key must be a scalar, found {}", yaml_kind(&other)),
                        ));
                    }
                };
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let val = yaml_to_json(val, &child)?;
                out.insert(key, val);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value, path)?,
    })
}

fn yaml_kind(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        _ => "a tagged value",
    }
}

/// Turns parsed documents into objects, expanding `List` kinds.
pub fn documents_to_objects(docs: Vec<Document>, file: &str) -> Result<Vec<Loaded>, LoadError> {
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let err = |path: String, error: ObjectError| LoadError {
            file: file.to_owned(),
            document: Some(doc.index),
            line: Some(doc.line),
            kind: LoadErrorKind::NotAnObject { path, error },
        };
        if is_list(&doc.value) {
            let items = match doc.value.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            for (i, item) in items.into_iter().enumerate() {
                if item.is_null() {
                    continue;
                }
                let object = Object::from_value(item).map_err(|e| err(format!("items[{i}]"), e))?;
                out.push(Loaded {
                    object,
                    index: doc.index,
                    line: doc.line,
                });
            }
        } else {
            let object = Object::from_value(doc.value).map_err(|e| err(String::new(), e))?;
            out.push(Loaded {
                object,
                index: doc.index,
                line: doc.line,
            });
        }
    }
    Ok(out)
}

fn is_list(v: &Value) -> bool {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    kind.ends_with("List") && v.get("items").is_some_and(|i| i.is_array() || i.is_null())
}

/// Parses YAML (or JSON, which is YAML) text into Kubernetes objects.
pub fn load_objects(text: &str, file: &str) -> Result<Vec<Loaded>, LoadError> {
    documents_to_objects(parse_yaml_documents(text, file)?, file)
}

/// Reads a `.yaml`, `.yml` or `.json` file into Kubernetes objects. A `.json` file must hold one value.
pub fn load_file(path: &Path) -> Result<Vec<Loaded>, LoadError> {
    let file = path.display().to_string();
    let text = read_text(path)?;
    let docs = if path.extension().is_some_and(|e| e == "json") {
        parse_json_document(&text, &file)?
    } else {
        parse_yaml_documents(&text, &file)?
    };
    documents_to_objects(docs, &file)
}

/// Reads a file as UTF-8 text with the loader's size bound.
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    let file = path.display().to_string();
    let io = |message: String| LoadError {
        file: file.clone(),
        document: None,
        line: None,
        kind: LoadErrorKind::Io { message },
    };
    let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
    if meta.len() > MAX_INPUT_BYTES as u64 {
        return Err(LoadError {
            file: file.clone(),
            document: None,
            line: None,
            kind: LoadErrorKind::InputTooLarge {
                size: meta.len() as usize,
                limit: MAX_INPUT_BYTES,
            },
        });
    }
    std::fs::read_to_string(path).map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_with_empty_and_trailing_separator() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n---\n";
        let objs = load_objects(text, "x.yaml").unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].object.kind(), "Secret");
        assert_eq!(objs[1].index, 2);
        assert_eq!(objs[1].line, 8);
    }

    #[test]
    fn errors_name_file_document_and_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata:\n  name: b\n";
        let e = load_objects(text, "x.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.yaml:4 (document 1): not a Kubernetes object: missing required field `kind`"
        );
        let e = load_objects("a: [1, 2\n", "bad.yaml").unwrap_err();
        assert!(matches!(e.kind, LoadErrorKind::Syntax { .. }), "{e}");
        assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
    }

    #[test]
    fn lists_are_expanded() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n";
        let objs = load_objects(text, "l.yaml").unwrap();
        assert_eq!(
            objs.iter().map(|o| o.object.name()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let bad = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {name: a}\n";
        let e = load_objects(bad, "l.yaml").unwrap_err();
        assert!(
            e.to_string()
                .contains("at items[0]: missing required field `kind`"),
            "{e}"
        );
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            text.push_str(&format!(
                "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = n;
        }
        let e = parse_yaml_documents(&text, "bomb.yaml").unwrap_err();
        assert!(matches!(e.kind, LoadErrorKind::TooLarge { .. }), "{e}");
    }

    #[test]
    fn json_single_object() {
        let docs = parse_json_document(
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}",
            "a.json",
        )
        .unwrap();
        assert_eq!(docs.len(), 1);
        let e = parse_json_document("{} {}", "a.json").unwrap_err();
        assert_eq!(e.kind, LoadErrorKind::MultipleJsonObjects);
    }
}
