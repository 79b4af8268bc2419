//! Health configuration: which script assesses which group/Kind.
//!
//! Two sources give a [`HealthConfig`]:
//!
//! # Argo CD's `argocd-cm` ConfigMap (spec/health.md §6.1)
//!
//! [`HealthConfig::from_argocd_cm`] reads, exactly as Argo CD does:
//!
//! * the legacy key `resource.customizations`: a YAML map from `group/Kind` (or `Kind` for the
//!   core group, or a glob such as `"*.aws.crossplane.io/*"`) to an object with the fields
//!   `health.lua` (script text) and `health.lua.useOpenLibs` (bool); other fields (`actions`,
//!   `ignoreDifferences`, …) are ignored here;
//! * then the split keys `resource.customizations.<type>.<groupkind>`, which set or override the
//!   fields of the same entry. The key is split on `.` into at most four parts, so everything
//!   after the third dot is `<groupkind>`: `group_Kind` (exactly one `_`), `Kind` alone for the
//!   core group, or `all` (meaning `*/*`). More than one `_` is an error. `<type>` is `health`
//!   (the script), `useOpenLibs` (a bool parsed strictly like Go's `strconv.ParseBool`:
//!   `1 t T TRUE true True 0 f F FALSE false False`), or one of `actions`, `ignoreDifferences`,
//!   `ignoreResourceUpdates`, `knownTypeFields` (accepted and ignored). Any other type is an
//!   error.
//!
//! Scripts from `argocd-cm` are Lua. Entries without a script are kept (they may only set
//! `useOpenLibs`) but never match an object.
//!
//! # The native format
//!
//! [`HealthConfig::from_native`] reads gitops-rs' own format, which can name Rhai or Lua scripts:
//!
//! ```yaml
//! apiVersion: gitops.rs/v1alpha1
//! kind: HealthConfig
//! spec:
//!   scripts:
//!     - group: cert-manager.io        # "" or absent for the core group; globs allowed
//!       kind: Certificate             # required; globs allowed
//!       language: rhai                # rhai | lua; default from the file extension
//!       file: scripts/certificate.rhai  # relative to the config file's directory
//!     - kind: PersistentVolumeClaim
//!       language: lua
//!       useOpenLibs: true             # lua only; default false
//!       script: |
//!         return {status = "Healthy"}
//! ```
//!
//! Each entry has exactly one of `script` (inline text) and `file`. Its key is `group/Kind`, or
//! `Kind` when the group is empty — the same keys as `argocd-cm`, including globs (`*` also
//! matches `/`). Two entries for the same key, unknown fields, or a bad value are errors naming
//! the field (`spec.scripts[1].language: …`).
//!
//! [`HealthConfig::from_yaml`] and [`HealthConfig::load_file`] detect the format from the
//! document's `apiVersion`/`kind`: `gitops.rs/v1alpha1` `HealthConfig` is native, a `v1`
//! `ConfigMap` is `argocd-cm`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use gitops_core::Object;
use serde_json::{Map, Value};

use crate::script::ScriptLanguage;

/// The `apiVersion` of the native format.
pub const NATIVE_API_VERSION: &str = "gitops.rs/v1alpha1";
/// The `kind` of the native format.
pub const NATIVE_KIND: &str = "HealthConfig";

const CUSTOMIZATIONS: &str = "resource.customizations";

/// One configured health script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEntry {
    /// The key it applies to: `group/Kind`, `Kind` (core group) or a glob.
    pub key: String,
    /// The script's language.
    pub language: ScriptLanguage,
    /// The script text (may be empty: such an entry never matches).
    pub script: String,
    /// Lua only: run with the open libraries (`useOpenLibs`).
    pub use_open_libs: bool,
    /// Where the script came from, used as the script's name in messages (the `argocd-cm` key,
    /// or `<file>: spec.scripts[i]`).
    pub origin: String,
}

/// Health scripts per group/Kind key (see the [module documentation](self)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthConfig {
    entries: BTreeMap<String, ScriptEntry>,
}

/// Why a health configuration could not be loaded. The message names the key or field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// The text is not valid YAML, or not a configuration at all.
    #[error("{source_name}: {message}")]
    Document {
        /// File name or other origin label.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// An `argocd-cm` key or a native field has a bad value.
    #[error("{source_name}: {field}: {message}")]
    Field {
        /// File name or other origin label.
        source_name: String,
        /// The `argocd-cm` key or the path of the native field (`spec.scripts[0].kind`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl HealthConfig {
    /// An empty configuration (no scripts).
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = &ScriptEntry> {
        self.entries.values()
    }

    /// The entry for exactly this key, if any.
    pub fn get(&self, key: &str) -> Option<&ScriptEntry> {
        self.entries.get(key)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds or replaces the entry for `entry.key`.
    pub fn insert(&mut self, entry: ScriptEntry) {
        self.entries.insert(entry.key.clone(), entry);
    }

    /// Reads the health settings of an `argocd-cm` ConfigMap object (legacy block first, then
    /// split keys; see the module documentation).
    ///
    /// # Errors
    /// [`ConfigError::Field`] naming the key: a `<groupkind>` with more than one `_`, an unknown
    /// customization type, a bad `useOpenLibs` value, an invalid legacy block, or a non-string
    /// value under `data`.
    ///
    /// ```
    /// use gitops_health::config::HealthConfig;
    /// use gitops_health::core::Object;
    /// let cm = Object::from_value(serde_json::json!({
    ///     "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"},
    ///     "data": {
    ///         "resource.customizations.health.example.com_Widget": "return {status = 'Healthy'}",
    ///         "resource.customizations.useOpenLibs.example.com_Widget": "true",
    ///     },
    /// }))?;
    /// let config = HealthConfig::from_argocd_cm(&cm)?;
    /// assert!(config.get("example.com/Widget").is_some_and(|e| e.use_open_libs));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_argocd_cm(cm: &Object) -> Result<HealthConfig, ConfigError> {
        let source_name = format!("ConfigMap {}", cm.name());
        let data = match cm.as_value().get("data") {
            None | Some(Value::Null) => return Ok(HealthConfig::new()),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(ConfigError::Field {
                    source_name,
                    field: "data".into(),
                    message: "must be a map of strings".into(),
                });
            }
        };
        let mut strings = BTreeMap::new();
        for (k, v) in data {
            match v {
                Value::String(s) => {
                    strings.insert(k.as_str(), s.as_str());
                }
                Value::Null => {}
                _ => {
                    return Err(ConfigError::Field {
                        source_name,
                        field: format!("data.{k}"),
                        message: "must be a string".into(),
                    });
                }
            }
        }
        from_cm_data(&strings, &source_name)
    }

    /// Reads a native configuration document (already parsed). `base_dir` resolves `file`
    /// entries; `source_name` labels messages.
    ///
    /// # Errors
    /// [`ConfigError::Field`] naming the field, or [`ConfigError::Io`] for an unreadable script
    /// file.
    pub fn from_native(doc: &Value, base_dir: &Path, source_name: &str) -> Result<HealthConfig, ConfigError> {
        parse_native(doc, base_dir, source_name)
    }

    /// Parses YAML text holding either format (detected from `apiVersion`/`kind`; the first
    /// document only). `base_dir` resolves native `file` entries.
    ///
    /// # Errors
    /// [`ConfigError::Document`] when the text is not YAML or is neither format; otherwise as
    /// [`HealthConfig::from_argocd_cm`] and [`HealthConfig::from_native`].
    pub fn from_yaml(text: &str, base_dir: &Path, source_name: &str) -> Result<HealthConfig, ConfigError> {
        let doc_error = |message: String| ConfigError::Document {
            source_name: source_name.to_owned(),
            message,
        };
        let docs = gitops_core::load::parse_yaml_documents(text, source_name)
            .map_err(|e| doc_error(e.to_string()))?;
        let doc = docs.into_iter().next().ok_or_else(|| {
            doc_error("empty document: expected an argocd-cm ConfigMap or a HealthConfig".into())
        })?;
        let api_version = doc.value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
        match (api_version, kind) {
            (NATIVE_API_VERSION, NATIVE_KIND) => parse_native(&doc.value, base_dir, source_name),
            ("v1", "ConfigMap") => {
                let cm = Object::from_value(doc.value)
                    .map_err(|e| doc_error(format!("invalid ConfigMap: {e}")))?;
                HealthConfig::from_argocd_cm(&cm).map_err(|e| match e {
                    ConfigError::Field { field, message, .. } => ConfigError::Field {
                        source_name: source_name.to_owned(),
                        field,
                        message,
                    },
                    other => other,
                })
            }
            _ => Err(doc_error(format!(
                "expected an argocd-cm ConfigMap (apiVersion v1, kind ConfigMap) or a {NATIVE_KIND} \
                 (apiVersion {NATIVE_API_VERSION}), got apiVersion {api_version:?}, kind {kind:?}"
            ))),
        }
    }

    /// Reads a configuration file of either format (see [`HealthConfig::from_yaml`]); native
    /// `file` entries are relative to the file's directory.
    ///
    /// # Errors
    /// [`ConfigError::Io`] when the file cannot be read; otherwise as [`HealthConfig::from_yaml`].
    pub fn load_file(path: &Path) -> Result<HealthConfig, ConfigError> {
        let text = gitops_core::load::read_text(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            message: e.kind.to_string(),
        })?;
        let base = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        HealthConfig::from_yaml(&text, &base, &path.display().to_string())
    }
}

/// Builds the override key from a split key's `<groupkind>` (Argo CD's `convertToOverrideKey`).
fn override_key(group_kind: &str) -> Option<String> {
    let parts: Vec<&str> = group_kind.split('_').collect();
    match parts.as_slice() {
        [group, kind] => Some(format!("{group}/{kind}")),
        [kind] if !kind.is_empty() => Some((*kind).to_owned()),
        _ => None,
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn from_cm_data(data: &BTreeMap<&str, &str>, source_name: &str) -> Result<HealthConfig, ConfigError> {
    let field_error = |field: &str, message: String| ConfigError::Field {
        source_name: source_name.to_owned(),
        field: field.to_owned(),
        message,
    };
    let mut config = HealthConfig::new();
    if let Some(block) = data.get(CUSTOMIZATIONS).filter(|b| !b.trim().is_empty()) {
        parse_legacy(block, &mut config).map_err(|m| field_error(CUSTOMIZATIONS, m))?;
    }
    for (&k, &v) in data {
        if !k.starts_with(CUSTOMIZATIONS) {
            continue;
        }
        let parts: Vec<&str> = k.splitn(4, '.').collect();
        let [_, _, kind_of_setting, group_kind] = parts.as_slice() else {
            continue;
        };
        let Some(mut key) = override_key(group_kind) else {
            return Err(field_error(
                k,
                format!(
                    "group kind should be in format `resource.customizations.<type>.<group_kind>` or \
                     `resource.customizations.<type>.<kind>`, got group kind: '{group_kind}'"
                ),
            ));
        };
        if key == "all" {
            key = "*/*".to_owned();
        }
        let mut entry = config.entries.get(&key).cloned().unwrap_or_else(|| ScriptEntry {
            key: key.clone(),
            language: ScriptLanguage::Lua,
            script: String::new(),
            use_open_libs: false,
            origin: k.to_owned(),
        });
        match *kind_of_setting {
            "health" => {
                entry.script = v.to_owned();
                entry.origin = k.to_owned();
            }
            "useOpenLibs" => {
                entry.use_open_libs = parse_go_bool(v)
                    .ok_or_else(|| field_error(k, format!("invalid bool {v:?} (expected true or false)")))?;
            }
            "actions" | "ignoreDifferences" | "ignoreResourceUpdates" | "knownTypeFields" => continue,
            other => {
                return Err(field_error(
                    k,
                    format!("resource customization type {other} not supported"),
                ));
            }
        }
        config.insert(entry);
    }
    Ok(config)
}

/// Parses the legacy `resource.customizations` YAML block into `config`.
fn parse_legacy(block: &str, config: &mut HealthConfig) -> Result<(), String> {
    let value: Value = serde_yaml::from_str(block).map_err(|e| format!("invalid YAML: {e}"))?;
    let map = match value {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        _ => return Err("must be a YAML map from group/Kind to customizations".into()),
    };
    for (key, item) in map {
        let fields = match item {
            Value::Null => continue,
            Value::Object(fields) => fields,
            _ => return Err(format!("{key}: must be a map")),
        };
        let script = match fields.get("health.lua") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("{key}: health.lua must be a string")),
        };
        let use_open_libs = match fields.get("health.lua.useOpenLibs") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(format!("{key}: health.lua.useOpenLibs must be a bool")),
        };
        config.insert(ScriptEntry {
            key: key.clone(),
            language: ScriptLanguage::Lua,
            script,
            use_open_libs,
            origin: format!("{CUSTOMIZATIONS}[{key}]"),
        });
    }
    Ok(())
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
    source_name: &'a str,
}

impl Fields<'_> {
    fn error(&self, field: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError::Field {
            source_name: self.source_name.to_owned(),
            field: if field.is_empty() {
                self.path.clone()
            } else {
                format!("{}.{field}", self.path)
            },
            message: message.to_string(),
        }
    }

    fn string(&self, field: &str) -> Result<Option<&str>, ConfigError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(field, "must be a string")),
        }
    }

    fn deny_unknown(&self, known: &[&str]) -> Result<(), ConfigError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(self.error(
                k,
                format!("unknown field (expected one of: {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }
}

fn parse_native(doc: &Value, base_dir: &Path, source_name: &str) -> Result<HealthConfig, ConfigError> {
    let error = |field: &str, message: &str| ConfigError::Field {
        source_name: source_name.to_owned(),
        field: field.to_owned(),
        message: message.to_owned(),
    };
    let root = doc.as_object().ok_or_else(|| error("", "must be a map"))?;
    let top = Fields {
        map: root,
        path: String::new(),
        source_name,
    };
    if let Some(k) = root
        .keys()
        .find(|k| !["apiVersion", "kind", "metadata", "spec"].contains(&k.as_str()))
    {
        return Err(error(
            k,
            "unknown field (expected one of: apiVersion, kind, metadata, spec)",
        ));
    }
    if top.string("apiVersion")? != Some(NATIVE_API_VERSION) {
        return Err(error("apiVersion", &format!("must be {NATIVE_API_VERSION}")));
    }
    if top.string("kind")? != Some(NATIVE_KIND) {
        return Err(error("kind", &format!("must be {NATIVE_KIND}")));
    }
    let spec = match root.get("spec") {
        None | Some(Value::Null) => return Ok(HealthConfig::new()),
        Some(Value::Object(spec)) => spec,
        Some(_) => return Err(error("spec", "must be a map")),
    };
    let spec_fields = Fields {
        map: spec,
        path: "spec".into(),
        source_name,
    };
    spec_fields.deny_unknown(&["scripts"])?;
    let scripts = match spec.get("scripts") {
        None | Some(Value::Null) => return Ok(HealthConfig::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(error("spec.scripts", "must be a list")),
    };
    let mut config = HealthConfig::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in scripts.iter().enumerate() {
        let path = format!("spec.scripts[{i}]");
        let map = item.as_object().ok_or_else(|| error(&path, "must be a map"))?;
        let f = Fields {
            map,
            path: path.clone(),
            source_name,
        };
        f.deny_unknown(&["group", "kind", "language", "script", "file", "useOpenLibs"])?;
        let group = f.string("group")?.unwrap_or("");
        let kind = f
            .string("kind")?
            .filter(|k| !k.is_empty())
            .ok_or_else(|| f.error("kind", "missing (the resource kind, e.g. Certificate)"))?;
        let key = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{group}/{kind}")
        };
        let (script, file) = match (f.string("script")?, f.string("file")?) {
            (Some(s), None) => (s.to_owned(), None),
            (None, Some(file)) => {
                let full = base_dir.join(file);
                let text = gitops_core::load::read_text(&full)
                    .map_err(|e| f.error("file", format!("cannot read {}: {}", full.display(), e.kind)))?;
                (text, Some(file))
            }
            (Some(_), Some(_)) => return Err(f.error("", "has both script and file (give exactly one)")),
            (None, None) => return Err(f.error("", "needs a script or a file")),
        };
        let language = match f.string("language")? {
            Some("rhai") => ScriptLanguage::Rhai,
            Some("lua") => ScriptLanguage::Lua,
            Some(other) => {
                return Err(f.error(
                    "language",
                    format!("unknown language {other:?} (expected rhai or lua)"),
                ));
            }
            None => match file
                .and_then(|p| Path::new(p).extension())
                .and_then(|e| e.to_str())
            {
                Some("rhai") => ScriptLanguage::Rhai,
                Some("lua") => ScriptLanguage::Lua,
                _ => {
                    return Err(f.error(
                        "language",
                        "missing (rhai or lua; it can only be omitted for .rhai and .lua files)",
                    ));
                }
            },
        };
        let use_open_libs = match map.get("useOpenLibs") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(f.error("useOpenLibs", "must be true or false")),
        };
        if use_open_libs && language != ScriptLanguage::Lua {
            return Err(f.error("useOpenLibs", "only applies to lua scripts"));
        }
        if let Some(first) = seen.insert(key.clone(), i) {
            return Err(f.error(
                "",
                format!("duplicate entry for {key} (also spec.scripts[{first}])"),
            ));
        }
        config.insert(ScriptEntry {
            key,
            language,
            script,
            use_open_libs,
            origin: match file {
                Some(file) => file.to_owned(),
                None => format!("{source_name}: {path}"),
            },
        });
    }
    Ok(config)
}
