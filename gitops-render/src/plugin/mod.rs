//! [`PluginRenderer`]: Argo CD's config-management plugins (CMP v2 sidecars, spec `render.md`
//! §7) as local subprocesses.

mod config;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gitops_core::Object;
use gitops_core::engine::{EngineError, EntryKind, RenderInput, Renderer, SourceTree};
use gitops_core::load;
use serde_json::Value;

pub use config::{PluginCommand, PluginConfig, PluginDiscover};

use crate::helm::build_env;
use crate::helm::exec::{self, COPY_LIMITS, TempDir, shown};

/// How long each plugin command may run by default (Argo CD's `ARGOCD_EXEC_TIMEOUT`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Most directory entries a discovery glob looks at.
const MAX_DISCOVERY_ENTRIES: usize = 10_000;

/// Renders sources with config-management plugins ([`PluginConfig`]s), as Argo CD's CMP
/// sidecars do.
///
/// # Selection
/// - `spec.source.plugin.name` set: the plugin whose [`full_name`](PluginConfig::full_name)
///   (`<name>` or `<name>-<version>`) is exactly that; none is [`ErrorKind::Unsupported`].
/// - Otherwise (a `plugin` block without a name, or no source type at all): the first plugin,
///   in the order given, whose discovery rule matches the app directory
///   ([`discover`](Self::discover)). Plugins without a discovery rule are used only by name.
///   [`supports`](Renderer::supports) is true for an explicit `plugin` block and, for a source
///   with no explicit type, when a plugin discovers it (a discovering plugin wins over
///   Kustomize/Helm/Directory detection when the [`SourceRenderer`](crate::SourceRenderer) asks).
///
/// # Running
/// The repository is copied (through the tree, without `.git`, bounded to 100 000 files and
/// 256 MiB; file modes kept only with `preserveFileMode`) to a temporary directory, then `init`
/// (if any) and `generate` run in the app directory of the copy, each with the timeout
/// ([`DEFAULT_TIMEOUT`]; the process group gets `TERM`, then `KILL`). Their environment is this
/// process's plus:
/// - the build environment ([`build_env`]: `ARGOCD_APP_NAME`, `ARGOCD_APP_NAMESPACE`, …),
///   `KUBE_VERSION` and `KUBE_API_VERSIONS` (comma-joined; see
///   [`with_kube_version`](Self::with_kube_version));
/// - with a `plugin` block in the source: `ARGOCD_ENV_<name>=<value>` for each `plugin.env`
///   entry (values `envsubst`ed with the build environment), `ARGOCD_APP_PARAMETERS` (the
///   source's parameters as JSON, Argo CD's encoding) and `PARAM_<NAME>`, `PARAM_<NAME>_<i>`
///   (arrays), `PARAM_<NAME>_<KEY>` (maps), names upper-cased with `[^A-Z0-9_]` → `_`.
///
/// `generate`'s standard output (trailing newline trimmed) is parsed as YAML/JSON objects.
///
/// # Errors
/// A command that exits non-zero is [`ErrorKind::Invalid`] with its standard error; one that
/// cannot be started is [`ErrorKind::Unsupported`]; a timeout is [`ErrorKind::Timeout`];
/// output that is not objects is [`ErrorKind::Invalid`].
///
/// [`ErrorKind::Unsupported`]: gitops_core::engine::ErrorKind::Unsupported
/// [`ErrorKind::Invalid`]: gitops_core::engine::ErrorKind::Invalid
/// [`ErrorKind::Timeout`]: gitops_core::engine::ErrorKind::Timeout
///
/// ```
/// use gitops_core::engine::{AppContext, RenderInput, Renderer};
/// use gitops_core::model::{ApplicationSource, SourcePlugin};
/// use gitops_render::FsTree;
/// use gitops_render::plugin::{PluginConfig, PluginRenderer};
/// # #[cfg(unix)] {
/// let dir = std::env::temp_dir().join(format!("gitops-render-plugin-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("app"))?;
/// let plugin = PluginConfig::from_yaml(
///     "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata: {name: echo}\n\
///      spec:\n  generate:\n    command: [sh, -c]\n    args: ['printf \"kind: ConfigMap\\napiVersion: v1\\nmetadata: {name: %s}\\n\" \"$ARGOCD_APP_NAME\"']\n",
/// )?;
/// let tree = FsTree::open(&dir, "local")?;
/// let app = AppContext::new("guestbook", "argocd", "default", "web");
/// let source = ApplicationSource {
///     plugin: Some(SourcePlugin { name: Some("echo".into()), ..Default::default() }),
///     ..Default::default()
/// };
/// let objects = PluginRenderer::new(vec![plugin]).render(&RenderInput::new(&app, &source, &tree, "app"))?;
/// assert_eq!(objects[0].name(), "guestbook");
/// # std::fs::remove_dir_all(&dir)?;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PluginRenderer {
    plugins: Vec<PluginConfig>,
    timeout: Duration,
    kube_version: String,
    api_versions: Vec<String>,
}

impl Default for PluginRenderer {
    fn default() -> Self {
        PluginRenderer::new(Vec::new())
    }
}

impl PluginRenderer {
    /// The renderer's name (Argo CD's source type).
    pub const NAME: &'static str = "Plugin";

    /// A renderer with these plugins (discovery tries them in this order).
    pub fn new(plugins: Vec<PluginConfig>) -> Self {
        PluginRenderer {
            plugins,
            timeout: DEFAULT_TIMEOUT,
            kube_version: String::new(),
            api_versions: Vec::new(),
        }
    }

    /// Kills each command after `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The destination cluster's version, passed as `KUBE_VERSION` (empty by default).
    #[must_use]
    pub fn with_kube_version(mut self, version: impl Into<String>) -> Self {
        self.kube_version = version.into();
        self
    }

    /// The destination cluster's API versions, passed comma-joined as `KUBE_API_VERSIONS`.
    #[must_use]
    pub fn with_api_versions(mut self, versions: Vec<String>) -> Self {
        self.api_versions = versions;
        self
    }

    /// The configured plugins.
    pub fn plugins(&self) -> &[PluginConfig] {
        &self.plugins
    }

    /// The plugin applications name `name` (its [`full_name`](PluginConfig::full_name)).
    pub fn find(&self, name: &str) -> Option<&PluginConfig> {
        self.plugins.iter().find(|p| p.full_name() == name)
    }

    /// The first plugin whose discovery rule matches the input's app directory, if any.
    /// `find.command` runs like `generate` does (in a copy of the repository when the tree has
    /// no directory on disk, else in the app directory itself); a command that fails or times
    /// out does not match.
    pub fn discover(&self, input: &RenderInput<'_>) -> Option<&PluginConfig> {
        self.plugins.iter().find(|p| self.matches(p, input))
    }

    /// The plugin for `input`: by name, else by discovery.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`](gitops_core::engine::ErrorKind::Unsupported) when no plugin is
    /// named so, or none discovers the source.
    pub fn select(&self, input: &RenderInput<'_>) -> Result<&PluginConfig, EngineError> {
        let named = input
            .source
            .plugin
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .filter(|n| !n.is_empty());
        let configured = || {
            if self.plugins.is_empty() {
                "no plugins are configured".to_owned()
            } else {
                let names: Vec<String> = self.plugins.iter().map(PluginConfig::full_name).collect();
                format!("configured: {}", names.join(", "))
            }
        };
        match named {
            Some(name) => self.find(name).ok_or_else(|| {
                EngineError::unsupported(format!(
                    "config management plugin {name} is not configured ({})",
                    configured()
                ))
            }),
            None => self.discover(input).ok_or_else(|| {
                EngineError::unsupported(format!(
                    "no config management plugin discovers the source at {} ({})",
                    shown(input.path),
                    configured()
                ))
            }),
        }
    }

    fn matches(&self, plugin: &PluginConfig, input: &RenderInput<'_>) -> bool {
        let d = &plugin.discover;
        if let Some(pattern) = d.file_name.as_deref().filter(|s| !s.is_empty()) {
            return glob_matches(input.tree, input.path, pattern, false);
        }
        if let Some(pattern) = d.find_glob.as_deref().filter(|s| !s.is_empty()) {
            return glob_matches(input.tree, input.path, pattern, true);
        }
        if let Some(cmd) = d.find_command.as_ref().filter(|c| !c.is_empty()) {
            let env = self.env(input);
            let run = |dir: &Path| {
                self.run_command(plugin, "discover", cmd, dir, &env)
                    .is_ok_and(|out| !out.trim().is_empty())
            };
            return match input.tree.local_root() {
                Some(root) => run(&root.join(input.path)),
                None => {
                    let Ok(temp) = TempDir::new("gitops-cmp") else {
                        return false;
                    };
                    exec::materialize(input.tree, temp.path(), &[".git"], None, COPY_LIMITS).is_ok()
                        && run(&temp.path().join(input.path))
                }
            };
        }
        false
    }

    /// The request environment of §7 (without the inherited process environment).
    fn env(&self, input: &RenderInput<'_>) -> Vec<(String, String)> {
        let mut env = build_env(input);
        env.push(("KUBE_VERSION".into(), self.kube_version.clone()));
        env.push(("KUBE_API_VERSIONS".into(), self.api_versions.join(",")));
        let Some(plugin) = input.source.plugin.as_ref() else {
            return env;
        };
        let build = env.clone();
        for entry in &plugin.env {
            env.push((
                format!("ARGOCD_ENV_{}", entry.name),
                crate::helm::envsubst(&entry.value, &build),
            ));
        }
        env.extend(parameter_env(&plugin.parameters));
        env
    }

    /// Runs one command in `dir`; its standard output on success.
    fn run_command(
        &self,
        plugin: &PluginConfig,
        stage: &str,
        cmd: &PluginCommand,
        dir: &Path,
        env: &[(String, String)],
    ) -> Result<String, EngineError> {
        let name = plugin.full_name();
        let Some((program, first)) = cmd.command.split_first() else {
            return Err(EngineError::invalid(format!(
                "plugin {name}: the {stage} command is empty"
            )));
        };
        let mut command = Command::new(program);
        command
            .args(first)
            .args(&cmd.args)
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)));
        exec::stdout_text(
            exec::run(command, self.timeout),
            self.timeout,
            &format!("plugin {name}: the {stage} command"),
            &format!("plugin {name}: {stage} command"),
            |e| format!("plugin {name}: cannot run the {stage} command {program}: {e}"),
        )
    }
}

impl Renderer for PluginRenderer {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn supports(&self, input: &RenderInput<'_>) -> bool {
        let explicit = input.source.explicit_types();
        if input.source.plugin.is_some() && explicit.len() == 1 {
            return true;
        }
        explicit.is_empty() && self.discover(input).is_some()
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError> {
        let plugin = self.select(input)?;
        input.tree.read_dir(input.path)?;
        let temp = TempDir::new("gitops-cmp")?;
        let modes = if plugin.preserve_file_mode {
            input.tree.local_root()
        } else {
            None
        };
        exec::materialize(input.tree, temp.path(), &[".git"], modes.as_deref(), COPY_LIMITS)?;
        let dir = temp.path().join(input.path);
        let env = self.env(input);
        if let Some(init) = plugin.init.as_ref().filter(|c| !c.is_empty()) {
            self.run_command(plugin, "init", init, &dir, &env)?;
        }
        let out = self.run_command(plugin, "generate", &plugin.generate, &dir, &env)?;
        let out = out.strip_suffix('\n').unwrap_or(&out);
        let file = format!("output of plugin {}", plugin.full_name());
        let loaded = load::load_objects(out, &file).map_err(|e| EngineError::invalid(e.to_string()))?;
        Ok(loaded.into_iter().map(|l| l.object).collect())
    }
}

/// `ARGOCD_APP_PARAMETERS` and the `PARAM_*` variables for the source's parameters (Argo CD's
/// `ApplicationSourcePluginParameters.Environ`).
///
/// ```
/// use gitops_render::plugin::parameter_env;
/// let params = vec![serde_json::json!({"name": "image-tag", "string": "v1"}),
///                   serde_json::json!({"name": "extra", "map": {"a.b": "1"}, "array": ["x"]})];
/// let env = parameter_env(&params);
/// assert_eq!(env[0].1, r#"[{"name":"image-tag","string":"v1"},{"array":["x"],"map":{"a.b":"1"},"name":"extra"}]"#);
/// assert_eq!(env[1], ("PARAM_IMAGE_TAG".to_owned(), "v1".to_owned()));
/// assert_eq!(env[2], ("PARAM_EXTRA_A_B".to_owned(), "1".to_owned()));
/// assert_eq!(env[3], ("PARAM_EXTRA_0".to_owned(), "x".to_owned()));
/// ```
pub fn parameter_env(parameters: &[Value]) -> Vec<(String, String)> {
    let mut encoded = Vec::new();
    let mut env = Vec::new();
    for p in parameters {
        let name = p.get("name").map(scalar).unwrap_or_default();
        let mut out: BTreeMap<&str, Value> = BTreeMap::new();
        out.insert("name", Value::String(name.clone()));
        let base = format!("PARAM_{}", escaped(&name));
        if let Some(s) = p.get("string").filter(|v| !v.is_null()) {
            let s = scalar(s);
            env.push((base.clone(), s.clone()));
            out.insert("string", Value::String(s));
        }
        if let Some(m) = p.get("map") {
            let map: BTreeMap<String, String> = m
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
                .unwrap_or_default();
            for (k, v) in &map {
                env.push((format!("{base}_{}", escaped(k)), v.clone()));
            }
            out.insert(
                "map",
                Value::Object(map.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
            );
        }
        if let Some(a) = p.get("array") {
            let items: Vec<String> = a
                .as_array()
                .map(|a| a.iter().map(scalar).collect())
                .unwrap_or_default();
            for (i, v) in items.iter().enumerate() {
                env.push((format!("{base}_{i}"), v.clone()));
            }
            out.insert(
                "array",
                Value::Array(items.into_iter().map(Value::String).collect()),
            );
        }
        encoded.push(out);
    }
    let json = if parameters.is_empty() {
        "null".to_owned() // Go marshals a nil list so
    } else {
        go_html_escape(&serde_json::to_string(&encoded).unwrap_or_default())
    };
    let mut all = vec![("ARGOCD_APP_PARAMETERS".to_owned(), json)];
    all.extend(env);
    all
}

/// A parameter value as a string (non-strings in YAML, like `1` or `true`, as written).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Upper-cased, with every character outside `[A-Z0-9_]` replaced by `_`.
fn escaped(name: &str) -> String {
    name.to_uppercase()
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 (all only inside strings).
fn go_html_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a file under the app directory `base` matches `pattern` (relative to it): with
/// `deep`, `**` crosses directories (zglob); without, it is Go's `filepath.Glob`.
fn glob_matches(tree: &dyn SourceTree, base: &str, pattern: &str, deep: bool) -> bool {
    let pattern = pattern.trim_start_matches("./");
    let Ok(glob) = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
    else {
        return false;
    };
    let glob = glob.compile_matcher();
    let max_depth = if deep || pattern.contains("**") {
        64
    } else {
        pattern.split('/').count()
    };
    let mut stack = vec![(String::new(), 1usize)];
    let mut seen = 0usize;
    while let Some((rel, depth)) = stack.pop() {
        let dir = match (base.is_empty(), rel.is_empty()) {
            (true, _) => rel.clone(),
            (false, true) => base.to_owned(),
            (false, false) => format!("{base}/{rel}"),
        };
        let Ok(entries) = tree.read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            seen += 1;
            if seen > MAX_DISCOVERY_ENTRIES {
                return false;
            }
            let p = if rel.is_empty() {
                entry.name.clone()
            } else {
                format!("{rel}/{}", entry.name)
            };
            // Go's Glob matches directories too.
            if entry.kind != EntryKind::Other && glob.is_match(&p) {
                return true;
            }
            if entry.kind == EntryKind::Dir && depth < max_depth && entry.name != ".git" {
                stack.push((p, depth + 1));
            }
        }
    }
    false
}
