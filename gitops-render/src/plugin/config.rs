//! [`PluginConfig`]: a config-management plugin's `plugin.yaml` (`ConfigManagementPlugin`).

use std::path::Path;

use gitops_core::engine::EngineError;
use gitops_core::load;
use serde_json::Value;

/// A command of a plugin: `command[0]` is run with `command[1..]` followed by `args`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginCommand {
    /// The program and its first arguments.
    pub command: Vec<String>,
    /// More arguments.
    pub args: Vec<String>,
}

impl PluginCommand {
    /// A command.
    pub fn new(command: Vec<String>, args: Vec<String>) -> Self {
        PluginCommand { command, args }
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.command.is_empty()
    }
}

/// How a plugin recognises the sources it renders (`spec.discover`); the first non-empty of
/// `fileName`, `find.glob`, `find.command` is used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginDiscover {
    /// `fileName`: a Go `filepath.Glob` pattern relative to the app directory (`*` does not
    /// cross `/`).
    pub file_name: Option<String>,
    /// `find.glob`: a pattern relative to the app directory where `**` crosses directories.
    pub find_glob: Option<String>,
    /// `find.command`: matches when it exits 0 and prints something.
    pub find_command: Option<PluginCommand>,
}

impl PluginDiscover {
    /// Whether any rule is configured.
    pub fn is_configured(&self) -> bool {
        self.file_name.as_deref().is_some_and(|s| !s.is_empty())
            || self.find_glob.as_deref().is_some_and(|s| !s.is_empty())
            || self.find_command.as_ref().is_some_and(|c| !c.is_empty())
    }
}

/// A config-management plugin (Argo CD CMP v2, spec `render.md` §7), as written in its
/// `plugin.yaml`:
///
/// ```yaml
/// apiVersion: argoproj.io/v1alpha1
/// kind: ConfigManagementPlugin
/// metadata: {name: my-plugin}
/// spec:
///   version: v1.0
///   init: {command: [sh, -c], args: ["helm dependency build"]}
///   generate: {command: [sh, -c], args: ["helm template . --include-crds"]}
///   discover: {fileName: "./values.yaml"}
/// ```
///
/// ```
/// use gitops_render::plugin::PluginConfig;
/// let p = PluginConfig::from_yaml(
///     "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata: {name: cat}\n\
///      spec:\n  version: v1\n  generate: {command: [cat, cm.yaml]}\n",
/// )?;
/// assert_eq!(p.full_name(), "cat-v1");
/// assert_eq!(p.generate.command, ["cat", "cm.yaml"]);
/// # Ok::<(), gitops_core::engine::EngineError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PluginConfig {
    /// `metadata.name` (required).
    pub name: String,
    /// `spec.version`: when set, applications name the plugin `<name>-<version>`.
    pub version: Option<String>,
    /// `spec.init`: run before `generate`; its output is ignored.
    pub init: Option<PluginCommand>,
    /// `spec.generate` (required): its standard output is the YAML or JSON stream of objects.
    pub generate: PluginCommand,
    /// `spec.discover`.
    pub discover: PluginDiscover,
    /// `spec.parameters` as written (static and dynamic announcements); kept for callers that
    /// list parameters, not used to render.
    pub parameters: Option<Value>,
    /// `spec.preserveFileMode`: keep the repository's file modes in the copy the plugin runs in.
    pub preserve_file_mode: bool,
    /// `spec.provideGitCreds` (not used: gitops-rs passes no credentials to plugins).
    pub provide_git_creds: bool,
}

impl PluginConfig {
    /// A plugin named `name` running `generate`.
    pub fn new(name: impl Into<String>, generate: PluginCommand) -> Self {
        PluginConfig {
            name: name.into(),
            generate,
            ..Default::default()
        }
    }

    /// The name applications select the plugin by: `<name>-<version>`, or `<name>` without a
    /// version.
    pub fn full_name(&self) -> String {
        match self.version.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{}-{v}", self.name),
            None => self.name.clone(),
        }
    }

    /// Parses a `plugin.yaml`: one `ConfigManagementPlugin` document.
    ///
    /// # Errors
    /// [`ErrorKind::Invalid`](gitops_core::engine::ErrorKind::Invalid) for YAML errors, another
    /// kind, a missing `metadata.name` or `spec.generate.command`, or a field of the wrong type.
    pub fn from_yaml(text: &str) -> Result<PluginConfig, EngineError> {
        Self::parse(text, "plugin.yaml")
    }

    /// Reads and parses a `plugin.yaml` file ([`from_yaml`](Self::from_yaml)); errors name the
    /// file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<PluginConfig, EngineError> {
        let path = path.as_ref();
        let text = load::read_text(path).map_err(|e| EngineError::invalid(e.to_string()))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, file: &str) -> Result<PluginConfig, EngineError> {
        let docs = load::parse_yaml_documents(text, file).map_err(|e| EngineError::invalid(e.to_string()))?;
        let err = |m: String| EngineError::invalid(format!("{file}: invalid plugin configuration: {m}"));
        let doc = match docs.as_slice() {
            [one] => &one.value,
            [] => return Err(err("the file is empty".into())),
            _ => return Err(err("expected one document".into())),
        };
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind != "ConfigManagementPlugin" {
            return Err(err(format!(
                "kind should be ConfigManagementPlugin, found {kind:?}"
            )));
        }
        let name = opt_string(doc, "/metadata/name")
            .map_err(err)?
            .unwrap_or_default();
        if name.is_empty() {
            return Err(err("metadata.name should be non-empty".into()));
        }
        let generate = command(doc, "/spec/generate")
            .map_err(err)?
            .filter(|c| !c.is_empty())
            .ok_or_else(|| err("spec.generate.command should be non-empty".into()))?;
        let discover = PluginDiscover {
            file_name: opt_string(doc, "/spec/discover/fileName").map_err(err)?,
            find_glob: opt_string(doc, "/spec/discover/find/glob").map_err(err)?,
            find_command: {
                // `find.command` is a list of strings; `find.args` adds to it.
                let c = strings(doc, "/spec/discover/find/command").map_err(err)?;
                let a = strings(doc, "/spec/discover/find/args").map_err(err)?;
                (!c.is_empty()).then(|| PluginCommand::new(c, a))
            },
        };
        Ok(PluginConfig {
            name,
            version: opt_string(doc, "/spec/version")
                .map_err(err)?
                .filter(|v| !v.is_empty()),
            init: command(doc, "/spec/init").map_err(err)?.filter(|c| !c.is_empty()),
            generate,
            discover,
            parameters: doc.pointer("/spec/parameters").filter(|v| !v.is_null()).cloned(),
            preserve_file_mode: flag(doc, "/spec/preserveFileMode").map_err(err)?,
            provide_git_creds: flag(doc, "/spec/provideGitCreds").map_err(err)?,
        })
    }
}

fn field(ptr: &str) -> String {
    ptr.trim_start_matches('/').replace('/', ".")
}

fn opt_string(doc: &Value, ptr: &str) -> Result<Option<String>, String> {
    match doc.pointer(ptr) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{} should be a string", field(ptr))),
    }
}

fn flag(doc: &Value, ptr: &str) -> Result<bool, String> {
    match doc.pointer(ptr) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{} should be true or false", field(ptr))),
    }
}

fn strings(doc: &Value, ptr: &str) -> Result<Vec<String>, String> {
    match doc.pointer(ptr) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err(format!("{} should be a list of strings", field(ptr))),
            })
            .collect(),
        Some(_) => Err(format!("{} should be a list of strings", field(ptr))),
    }
}

fn command(doc: &Value, ptr: &str) -> Result<Option<PluginCommand>, String> {
    if doc.pointer(ptr).is_none_or(Value::is_null) {
        return Ok(None);
    }
    Ok(Some(PluginCommand::new(
        strings(doc, &format!("{ptr}/command"))?,
        strings(doc, &format!("{ptr}/args"))?,
    )))
}
