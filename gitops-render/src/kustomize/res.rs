//! A resource in a build, with the ids it had before renames (patches and references match
//! those too).

use std::fmt;

use serde_json::{Map, Value};

/// A resource id: group, version, kind, name, namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Id {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl Id {
    /// The namespace with `""` read as `default`.
    pub(crate) fn effective_ns(&self) -> &str {
        if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Same group, version, kind, name and (effective) namespace.
    pub(crate) fn equals(&self, other: &Id) -> bool {
        self.group == other.group
            && self.version == other.version
            && self.kind == other.kind
            && self.name == other.name
            && self.effective_ns() == other.effective_ns()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = if self.group.is_empty() {
            "[noGrp]"
        } else {
            &self.group
        };
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(f, "{}.{}.{}/{}.{}", self.kind, self.version, g, self.name, ns)
    }
}

/// Splits an apiVersion into group and version.
pub(crate) fn split_api_version(av: &str) -> (&str, &str) {
    match av.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", av),
    }
}

/// One resource.
#[derive(Debug, Clone)]
pub(crate) struct Res {
    /// The object (always a mapping).
    pub obj: Value,
    /// Ids the resource had before, oldest first.
    pub prev: Vec<Id>,
    /// Name prefixes applied, innermost first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied, innermost first.
    pub suffixes: Vec<String>,
    /// Gets a content-hash name suffix at the end of the build.
    pub needs_hash: bool,
    /// Made by a generator (ConfigMap/Secret).
    pub generated: bool,
    /// Where the resource came from (`buildMetadata: [originAnnotations]`).
    pub origin: Option<Origin>,
    /// The transformers that ran over the resource, in order
    /// (`buildMetadata: [transformerAnnotations]`).
    pub transformations: Vec<Origin>,
}

/// Where a resource or a transformer was configured: a resource file (`path`), or the file
/// that configured a generator or transformer (`configuredIn`) with its `configuredBy` id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Loaded from this tree path.
    File(String),
    /// Configured in a file (tree path) by a builtin plugin.
    Plugin {
        /// The tree path of the kustomization or plugin config file.
        configured_in: String,
        /// `apiVersion`, `kind`, and optional `name` and `namespace` of the plugin config.
        by: Vec<(&'static str, String)>,
    },
    /// An origin in a remote repository; the inner origin's paths are relative to its root.
    Remote {
        /// The repository URL.
        repo: String,
        /// The `ref` (empty when none was given).
        reference: String,
        /// The origin in the repository's tree.
        inner: Box<Origin>,
    },
}

impl Origin {
    /// A builtin plugin configured in `file`, with the name and namespace of `cfg`'s metadata.
    pub(crate) fn builtin(file: &str, kind: &str, cfg: Option<&Value>) -> Origin {
        let mut by = vec![("apiVersion", "builtin".to_owned()), ("kind", kind.to_owned())];
        let md = cfg.and_then(|c| c.get("metadata"));
        for key in ["name", "namespace"] {
            if let Some(v) = md.and_then(|m| m.get(key)).and_then(Value::as_str) {
                by.push((key, v.to_owned()));
            }
        }
        Origin::Plugin {
            configured_in: file.to_owned(),
            by,
        }
    }

    /// The origin as YAML lines, paths relative to `root`; `item` formats it as a list element.
    pub(crate) fn to_yaml(&self, root: &str, item: bool) -> String {
        let q = |s: &str| {
            super::emit::value_to_yaml(&Value::String(s.to_owned()))
                .trim_end()
                .to_owned()
        };
        let mut lines = Vec::new();
        match self {
            Origin::File(p) => lines.push(format!("path: {}", q(&super::util::relative(root, p)))),
            Origin::Remote {
                repo,
                reference,
                inner,
            } => {
                // kustomize's field order: path, repo, ref, configuredIn, configuredBy
                let mut remote = vec![format!("repo: {}", q(repo))];
                if !reference.is_empty() {
                    remote.push(format!("ref: {}", q(reference)));
                }
                let inner_text = inner.to_yaml("", false);
                let mut inner_lines: Vec<String> = inner_text.lines().map(str::to_owned).collect();
                let at = usize::from(inner_lines.first().is_some_and(|l| l.starts_with("path:")));
                let tail = inner_lines.split_off(at.min(inner_lines.len()));
                lines.extend(inner_lines);
                lines.extend(remote);
                lines.extend(tail);
            }
            Origin::Plugin { configured_in, by } => {
                lines.push(format!(
                    "configuredIn: {}",
                    q(&super::util::relative(root, configured_in))
                ));
                lines.push("configuredBy:".to_owned());
                for (k, v) in by {
                    lines.push(format!("  {k}: {}", q(v)));
                }
            }
        }
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            if item {
                out.push_str(if i == 0 { "- " } else { "  " });
            }
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

impl Res {
    pub(crate) fn new(obj: Value) -> Res {
        Res {
            obj,
            prev: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            generated: false,
            origin: None,
            transformations: Vec::new(),
        }
    }

    pub(crate) fn str_at(&self, a: &str, b: &str) -> &str {
        self.obj
            .get(a)
            .and_then(|m| if b.is_empty() { Some(m) } else { m.get(b) })
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub(crate) fn api_version(&self) -> &str {
        self.obj.get("apiVersion").and_then(Value::as_str).unwrap_or("")
    }

    pub(crate) fn kind(&self) -> &str {
        self.obj.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub(crate) fn group(&self) -> &str {
        split_api_version(self.api_version()).0
    }

    pub(crate) fn name(&self) -> &str {
        self.str_at("metadata", "name")
    }

    pub(crate) fn namespace(&self) -> &str {
        self.str_at("metadata", "namespace")
    }

    pub(crate) fn id(&self) -> Id {
        let (g, v) = split_api_version(self.api_version());
        Id {
            group: g.to_owned(),
            version: v.to_owned(),
            kind: self.kind().to_owned(),
            name: self.name().to_owned(),
            namespace: self.namespace().to_owned(),
        }
    }

    /// Earlier ids then the current one.
    pub(crate) fn all_ids(&self) -> Vec<Id> {
        let mut v = self.prev.clone();
        v.push(self.id());
        v
    }

    fn remember(&mut self) {
        let id = self.id();
        if self.prev.last() != Some(&id) {
            self.prev.push(id);
        }
    }

    pub(crate) fn metadata_mut(&mut self) -> Option<&mut Map<String, Value>> {
        let m = self.obj.as_object_mut()?;
        super::util::child_map(m, "metadata")
    }

    pub(crate) fn set_name(&mut self, name: &str) {
        if self.name() == name {
            return;
        }
        self.remember();
        if let Some(md) = self.metadata_mut() {
            md.insert("name".into(), Value::String(name.to_owned()));
        }
    }

    pub(crate) fn set_namespace(&mut self, ns: &str) {
        if self.namespace() == ns {
            return;
        }
        self.remember();
        if let Some(md) = self.metadata_mut() {
            if ns.is_empty() {
                md.shift_remove("namespace");
            } else {
                md.insert("namespace".into(), Value::String(ns.to_owned()));
            }
        }
    }

    pub(crate) fn labels(&self) -> Option<&Value> {
        self.obj.get("metadata").and_then(|m| m.get("labels"))
    }

    pub(crate) fn annotations(&self) -> Option<&Value> {
        self.obj.get("metadata").and_then(|m| m.get("annotations"))
    }
}
