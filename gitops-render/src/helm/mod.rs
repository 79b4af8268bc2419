//! [`HelmRenderer`]: Argo CD's `Helm` source type, by running an external `helm template` with the
//! exact command line Argo CD uses (spec `render.md` §4.1).
//!
//! There is no native Helm engine: the renderer needs a `helm` binary (Helm 3.x or 4.x). Tests
//! and CI use a shim over the PyPI package `helm-python-sdk` (Helm's Go SDK), written by
//! `.ci/setup-helm`.
//!
//! The module also exposes what every external renderer shares: [`build_env`] (Argo CD's
//! `ARGOCD_APP_*` variables) and [`envsubst`].

pub(crate) mod exec;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gitops_core::Object;
use gitops_core::engine::{
    EngineError, EntryKind, ErrorKind, RenderInput, Renderer, SharedSourceTree, SourceTree,
};
use gitops_core::load;
use gitops_core::model::{SourceHelm, SourceType};

use crate::detect::detect_source_type;
use exec::{COPY_LIMITS, TempDir, join_tree_path, shown};
pub use exec::{build_env, envsubst};

/// The environment variable [`HelmRenderer::from_env`] reads the helm binary from.
pub const HELM_BINARY_ENV: &str = "GITOPS_HELM";

/// How long `helm template` may run by default (Argo CD's `ARGOCD_EXEC_TIMEOUT` default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Renders Helm charts by running `helm template` (Argo CD's `Helm` source type).
///
/// # What it runs
/// In the chart directory (the source path on disk), with the environment of the process plus
/// Argo CD's build environment ([`build_env`]):
///
/// ```text
/// helm template . --name-template <helm.releaseName | app name> [--namespace <helm.namespace | destination namespace>]
///      [--kube-version <helm.kubeVersion | with_kube_version>]
///      [--set name=value]… [--set-string name=value]… (parameters, forceString) [--set-file name=<path>]…
///      [--values <valueFile>]… [--values <temporary file holding helm.valuesObject or helm.values>]
///      [--api-versions <v>]… (helm.apiVersions, else with_api_versions)
///      [--include-crds] (unless skipCrds) [--skip-schema-validation] [--skip-tests]
/// ```
///
/// - Parameter values and value-file paths get Argo CD's `envsubst` ([`envsubst`]) with the
///   build environment; `,` in a `--set` value is escaped unless the value is `{…}`.
/// - Value files are relative to the chart directory; a glob (`*`, `?`, `[`) expands to the
///   matching files in lexical order (files listed explicitly elsewhere keep their own position).
///   `$name/path` reads `path` from the root of the source whose `ref` is `name`: pass those
///   trees with [`render_with_refs`](Self::render_with_refs); [`Renderer::render`] has no ref
///   sources and refuses such a file ([`ErrorKind::Invalid`]).
/// - A value or `--set-file` path that is absolute, leaves the repository through `..`, or
///   resolves through a symbolic link to outside it is [`ErrorKind::Forbidden`]. (Argo CD reads
///   absolute paths as relative to the repository root; gitops-rs refuses them.) Remote
///   (`http(s)://`) value files are [`ErrorKind::Unsupported`].
/// - A missing value file is [`ErrorKind::NotFound`], or skipped with `ignoreMissingValueFiles`.
/// - A tree without a directory on disk ([`SourceTree::local_root`] is `None`) is copied to a
///   temporary directory first (bounded: 100 000 files, 256 MiB). A `Chart.lock` that the run
///   creates is removed afterwards.
/// - The output is parsed as multi-document YAML with the core loader (hooks and CRDs included,
///   in helm's order).
///
/// # Errors
/// - no helm binary: [`ErrorKind::Unsupported`], naming what to install;
/// - `helm` exits non-zero: [`ErrorKind::Invalid`] with its standard error;
/// - it runs longer than the timeout ([`DEFAULT_TIMEOUT`]): [`ErrorKind::Timeout`], after its
///   process group was killed.
///
/// Not done: `helm dependency build` on missing dependencies, charts from Helm repositories
/// (`chart:`), remote value files, `passCredentials`.
///
/// ```no_run
/// use gitops_core::engine::{AppContext, RenderInput, Renderer};
/// use gitops_core::model::ApplicationSource;
/// use gitops_render::FsTree;
/// use gitops_render::helm::HelmRenderer;
/// let tree = FsTree::open("charts-repo", "local")?;
/// let app = AppContext::new("guestbook", "argocd", "default", "web");
/// let source = ApplicationSource::default(); // Chart.yaml in the path: detected as Helm
/// let objects = HelmRenderer::from_env().render(&RenderInput::new(&app, &source, &tree, "guestbook"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HelmRenderer {
    binary: PathBuf,
    timeout: Duration,
    kube_version: Option<String>,
    api_versions: Vec<String>,
}

impl Default for HelmRenderer {
    fn default() -> Self {
        HelmRenderer::new()
    }
}

impl HelmRenderer {
    /// The renderer's name (Argo CD's source type).
    pub const NAME: &'static str = "Helm";

    /// A renderer running `helm` from `PATH`.
    pub fn new() -> Self {
        HelmRenderer {
            binary: PathBuf::from("helm"),
            timeout: DEFAULT_TIMEOUT,
            kube_version: None,
            api_versions: Vec::new(),
        }
    }

    /// A renderer running the binary named by the environment variable [`HELM_BINARY_ENV`]
    /// (`GITOPS_HELM`) when it is set and not empty, else `helm` from `PATH`.
    pub fn from_env() -> Self {
        match std::env::var_os(HELM_BINARY_ENV) {
            Some(v) if !v.is_empty() => HelmRenderer::new().with_binary(v),
            _ => HelmRenderer::new(),
        }
    }

    /// Runs `binary`: a path, or a bare name looked up on `PATH`.
    #[must_use]
    pub fn with_binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = binary.into();
        self
    }

    /// Kills `helm` after `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The destination cluster's version, passed as `--kube-version` unless the source sets
    /// `helm.kubeVersion`.
    #[must_use]
    pub fn with_kube_version(mut self, version: impl Into<String>) -> Self {
        self.kube_version = Some(version.into());
        self
    }

    /// The destination cluster's API versions, passed as `--api-versions` unless the source sets
    /// `helm.apiVersions`.
    #[must_use]
    pub fn with_api_versions(mut self, versions: Vec<String>) -> Self {
        self.api_versions = versions;
        self
    }

    /// The helm binary the renderer would run: the configured path, or the first executable of
    /// that name on `PATH`.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] when there is none, saying what to install.
    pub fn find_binary(&self) -> Result<PathBuf, EngineError> {
        find_executable(&self.binary).ok_or_else(|| {
            EngineError::unsupported(format!(
                "helm rendering needs a helm binary, and {} was not found; install helm 3.x or \
                 newer (https://helm.sh/docs/intro/install/) on PATH or set {HELM_BINARY_ENV} to \
                 its path (for tests: run .ci/setup-helm, which writes a helm shim over the \
                 helm-python-sdk package)",
                if self.binary.components().count() > 1 {
                    self.binary.display().to_string()
                } else {
                    format!("{} on PATH", self.binary.display())
                }
            ))
        })
    }

    /// Renders `input`, resolving `$name/...` value files against `refs`: the trees of the
    /// application's sources that have `ref: name`, keyed by `name` (a leading `$` in a key is
    /// ignored). The path after `$name/` is relative to the root of that tree.
    ///
    /// # Errors
    /// As [`HelmRenderer`] describes; a `$name/` value file whose `name` is not in `refs` is
    /// [`ErrorKind::Invalid`].
    pub fn render_with_refs(
        &self,
        input: &RenderInput<'_>,
        refs: &HashMap<String, SharedSourceTree>,
    ) -> Result<Vec<Object>, EngineError> {
        let refs: HashMap<&str, &SharedSourceTree> = refs
            .iter()
            .map(|(k, v)| (k.strip_prefix('$').unwrap_or(k), v))
            .collect();
        let helm = input.source.helm.clone().unwrap_or_default();
        let env = build_env(input);
        // The chart directory must be a directory inside the tree.
        input.tree.read_dir(input.path)?;
        let mut scratch = Scratch::default();
        let root = match input.tree.local_root() {
            Some(root) => root,
            None => {
                let dir = scratch.dir()?.join("repo");
                exec::materialize(input.tree, &dir, &[".git"], None, COPY_LIMITS)?;
                dir
            }
        };
        let chart_dir = root.join(input.path);
        let mut files = LocalFiles {
            tree: input.tree,
            root: &root,
            refs: &refs,
            scratch,
        };

        let mut args: Vec<String> = vec!["template".into(), ".".into()];
        let release = helm
            .release_name
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| input.app.name.clone());
        if !release.is_empty() {
            args.extend(["--name-template".into(), release]);
        }
        let namespace = helm
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| input.app.destination_namespace.clone());
        if !namespace.is_empty() {
            args.extend(["--namespace".into(), namespace]);
        }
        if let Some(v) = helm
            .kube_version
            .clone()
            .filter(|v| !v.is_empty())
            .or_else(|| self.kube_version.clone())
        {
            args.extend(["--kube-version".into(), v]);
        }
        for force_string in [false, true] {
            for p in helm.parameters.iter().filter(|p| p.force_string == force_string) {
                let flag = if force_string { "--set-string" } else { "--set" };
                let value = clean_set_parameter(&envsubst(&p.value, &env));
                args.extend([flag.into(), format!("{}={value}", p.name)]);
            }
        }
        for p in &helm.file_parameters {
            let raw = envsubst(&p.path, &env);
            let path = files.local(input.path, &raw, "helm file parameter", false)?;
            let Some(path) = path.first() else {
                continue;
            };
            let path = clean_set_parameter(&path.display().to_string());
            args.extend(["--set-file".into(), format!("{}={path}", p.name)]);
        }
        for file in value_files(&helm, &env, &mut files, input.path)? {
            args.extend(["--values".into(), file.display().to_string()]);
        }
        if let Some(values) = inline_values(&helm)? {
            let path = files.scratch.dir()?.join("values.yaml");
            std::fs::write(&path, values)
                .map_err(|e| EngineError::other(format!("cannot write {}: {e}", path.display())))?;
            args.extend(["--values".into(), path.display().to_string()]);
        }
        let api_versions = if helm.api_versions.is_empty() {
            &self.api_versions
        } else {
            &helm.api_versions
        };
        for v in api_versions {
            args.extend(["--api-versions".into(), v.clone()]);
        }
        if !helm.skip_crds {
            args.push("--include-crds".into());
        }
        if helm.skip_schema_validation {
            args.push("--skip-schema-validation".into());
        }
        if helm.skip_tests {
            args.push("--skip-tests".into());
        }
        let binary = self.find_binary()?;
        let lock = chart_dir.join("Chart.lock");
        let had_lock = lock.exists();
        let mut cmd = Command::new(&binary);
        cmd.args(&args).current_dir(&chart_dir).envs(env);
        let result = exec::run(cmd, self.timeout);
        if !had_lock && input.tree.local_root().is_some() && lock.exists() {
            let _ = std::fs::remove_file(&lock);
        }
        let at = shown(input.path);
        let subject = format!("helm template in {at}");
        let text = exec::stdout_text(result, self.timeout, &subject, &subject, |e| {
            format!("cannot run {}: {e}", binary.display())
        })?;
        let loaded = load::load_objects(&text, &format!("helm template output for {at}"))
            .map_err(|e| EngineError::invalid(e.to_string()))?;
        Ok(loaded.into_iter().map(|l| l.object).collect())
    }
}

impl Renderer for HelmRenderer {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// An explicit `helm` block, or a `*Chart.yaml` directly in the path (and no kustomization).
    fn supports(&self, input: &RenderInput<'_>) -> bool {
        detect_source_type(input.source, input.tree, input.path)
            .is_ok_and(|d| d.source_type() == SourceType::Helm)
    }

    /// [`render_with_refs`](Self::render_with_refs) without ref sources.
    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError> {
        let refs: HashMap<String, SharedSourceTree> =
            input.refs.iter().map(|(k, t)| (k.clone(), t.clone())).collect();
        self.render_with_refs(input, &refs)
    }
}

/// Argo CD's `cleanSetParameters`: escapes `,` (unless already escaped) so that helm does not
/// split the value, except for a `{…}` list.
fn clean_set_parameter(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut prev = None;
    for c in value.chars() {
        if c == ',' && prev != Some('\\') {
            out.push('\\');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// `helm.valuesObject` (as JSON, which is YAML) or else `helm.values`, if any.
fn inline_values(helm: &SourceHelm) -> Result<Option<String>, EngineError> {
    if let Some(obj) = helm.values_object.as_ref().filter(|v| !v.is_null()) {
        let text = serde_json::to_string_pretty(obj)
            .map_err(|e| EngineError::invalid(format!("helm.valuesObject: {e}")))?;
        return Ok(Some(text));
    }
    Ok(helm.values.clone().filter(|v| !v.trim().is_empty()))
}

/// Resolves `helm.valueFiles` to files on disk, in order.
fn value_files(
    helm: &SourceHelm,
    env: &[(String, String)],
    files: &mut LocalFiles<'_>,
    path: &str,
) -> Result<Vec<PathBuf>, EngineError> {
    let ignore_missing = helm.ignore_missing_value_files;
    // Files listed explicitly keep their own position when a glob matches them too.
    let explicit: BTreeSet<String> = helm
        .value_files
        .iter()
        .filter(|f| !f.starts_with('$') && !is_glob(f))
        .filter_map(|f| join_tree_path(path, &envsubst(f, env), "values file").ok())
        .collect();
    let mut out = Vec::new();
    for raw in &helm.value_files {
        if raw.starts_with("http://") || raw.starts_with("https://") {
            return Err(EngineError::unsupported(format!(
                "values file {raw}: remote values files are not supported; put the file in the \
                 repository or in a ref source"
            )));
        }
        if let Some((name, rest)) = ref_value_file(raw, env) {
            if let Some(p) = files.reference(name, &envsubst(rest, env), raw, ignore_missing)? {
                out.push(p);
            }
            continue;
        }
        let rel = envsubst(raw, env);
        if is_glob(&rel) {
            let matches = files.glob(path, &rel)?;
            if matches.is_empty() && !ignore_missing {
                return Err(EngineError::not_found(format!(
                    "values file pattern {raw} matches no file in {}",
                    shown(path)
                )));
            }
            for m in matches.into_iter().filter(|m| !explicit.contains(m)) {
                out.push(files.root.join(&m));
            }
            continue;
        }
        out.extend(files.local(path, &rel, "values file", ignore_missing)?);
    }
    Ok(out)
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `$name/rest` where `name` looks like a ref (and is not a build-environment variable).
fn ref_value_file<'s>(raw: &'s str, env: &[(String, String)]) -> Option<(&'s str, &'s str)> {
    let body = raw.strip_prefix('$')?;
    let (name, rest) = body.split_once('/')?;
    let is_ref_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !is_ref_name || env.iter().any(|(k, _)| k == name) {
        return None;
    }
    Some((name, rest))
}

/// Files of the source's tree and of ref sources, as paths on disk.
struct LocalFiles<'a> {
    tree: &'a dyn SourceTree,
    root: &'a Path,
    refs: &'a HashMap<&'a str, &'a SharedSourceTree>,
    /// Where files of trees without a directory on disk go.
    scratch: Scratch,
}

/// A temporary directory, created on first use and removed when dropped.
#[derive(Debug, Default)]
struct Scratch {
    temp: Option<TempDir>,
    files: usize,
}

impl Scratch {
    fn dir(&mut self) -> Result<PathBuf, EngineError> {
        if let Some(t) = &self.temp {
            return Ok(t.path().to_path_buf());
        }
        let t = TempDir::new("gitops-helm")?;
        let path = t.path().to_path_buf();
        self.temp = Some(t);
        Ok(path)
    }

    /// Writes `data` to a new file in the directory.
    fn write(&mut self, name: &str, data: &[u8]) -> Result<PathBuf, EngineError> {
        self.files += 1;
        let dir = self.dir()?.join(format!("file-{}", self.files));
        let path = dir.join(name);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, data))
            .map_err(|e| EngineError::other(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }
}

impl LocalFiles<'_> {
    /// `rel` relative to the tree directory `base`, checked through the tree: at most one path
    /// (none when it is missing and `ignore_missing`).
    fn local(
        &self,
        base: &str,
        rel: &str,
        what: &str,
        ignore_missing: bool,
    ) -> Result<Vec<PathBuf>, EngineError> {
        let p = join_tree_path(base, rel, what)?;
        match check_file(self.tree, &p, rel, what) {
            Ok(()) => Ok(vec![self.root.join(&p)]),
            Err(e) if e.kind() == ErrorKind::NotFound && ignore_missing => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `$name/rest`: `rest` from the root of the ref source `name`.
    fn reference(
        &mut self,
        name: &str,
        rest: &str,
        raw: &str,
        ignore_missing: bool,
    ) -> Result<Option<PathBuf>, EngineError> {
        let Some(tree) = self.refs.get(name) else {
            let why = if self.refs.is_empty() {
                "but no ref sources were given (a multi-source application's sources with `ref:`; \
                 use HelmRenderer::render_with_refs)"
                    .to_owned()
            } else {
                let mut known: Vec<&str> = self.refs.keys().copied().collect();
                known.sort_unstable();
                format!("but no source has ref {name} (refs: {})", known.join(", "))
            };
            return Err(EngineError::invalid(format!(
                "values file {raw} refers to the source with ref {name}, {why}"
            )));
        };
        let p = join_tree_path("", rest, "values file")
            .map_err(|e| EngineError::forbidden(format!("{} (in {raw})", e.message())))?;
        match check_file(tree.as_ref(), &p, raw, "values file") {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound && ignore_missing => return Ok(None),
            Err(e) => return Err(e),
        }
        if let Some(root) = tree.local_root() {
            return Ok(Some(root.join(&p)));
        }
        let data = tree.read_file(&p)?;
        let name = p.rsplit('/').next().unwrap_or("values.yaml");
        self.scratch.write(name, &data).map(Some)
    }

    /// The files matching `pattern` (relative to `base`), as tree paths in lexical order.
    fn glob(&self, base: &str, pattern: &str) -> Result<Vec<String>, EngineError> {
        let full = join_tree_path(base, pattern, "values file")?;
        let glob = globset::GlobBuilder::new(&full)
            .literal_separator(true)
            .build()
            .map_err(|e| EngineError::invalid(format!("values file pattern {pattern}: {e}")))?
            .compile_matcher();
        // Walk from the deepest directory without glob characters.
        let fixed: Vec<&str> = full.split('/').take_while(|c| !is_glob(c)).collect();
        let start = fixed[..fixed.len().saturating_sub(1)].join("/");
        let mut found = Vec::new();
        let mut stack = vec![(start, 0usize)];
        let mut seen = 0usize;
        while let Some((dir, depth)) = stack.pop() {
            let entries = match self.tree.read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                seen += 1;
                if seen > 100_000 || depth > 64 {
                    return Err(EngineError::invalid(format!(
                        "values file pattern {pattern} walks too many files"
                    )));
                }
                let p = if dir.is_empty() {
                    entry.name.clone()
                } else {
                    format!("{dir}/{}", entry.name)
                };
                match entry.kind {
                    EntryKind::Dir => stack.push((p, depth + 1)),
                    EntryKind::File if glob.is_match(&p) => {
                        check_file(self.tree, &p, &p, "values file")?;
                        found.push(p);
                    }
                    _ => {}
                }
            }
        }
        found.sort();
        Ok(found)
    }
}

/// Checks through the tree that `path` is a readable file inside it (so `..` and symbolic links
/// to outside are refused by the tree).
fn check_file(tree: &dyn SourceTree, path: &str, raw: &str, what: &str) -> Result<(), EngineError> {
    match tree.read_file(path) {
        Ok(_) => Ok(()),
        Err(e) => {
            let msg = match e.kind() {
                ErrorKind::NotFound => format!("{what} {raw} does not exist in the repository"),
                ErrorKind::Forbidden => format!("{what} {raw}: {}", e.message()),
                _ => format!("{what} {raw}: {}", e.message()),
            };
            Err(EngineError::new(e.kind(), msg).with_source(e))
        }
    }
}

/// `name` as given (a path), or the first executable file of that name on `PATH`.
fn find_executable(name: &Path) -> Option<PathBuf> {
    if name.as_os_str().is_empty() {
        return None;
    }
    if name.components().count() > 1 || name.is_absolute() {
        return is_executable(name).then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_escape_commas() {
        assert_eq!(clean_set_parameter("a,b"), "a\\,b");
        assert_eq!(clean_set_parameter("a\\,b"), "a\\,b");
        assert_eq!(clean_set_parameter("{a,b}"), "{a,b}");
    }

    #[test]
    fn envsubst_follows_go() {
        let env = vec![("A".to_owned(), "x".to_owned())];
        assert_eq!(envsubst("$A${A}$$A$", &env), "xx$A$");
        assert_eq!(envsubst("${}a${b", &env), "ab");
        assert_eq!(envsubst("$1b $-c", &env), "b c");
        assert_eq!(envsubst("$ é", &env), "$ é");
    }

    #[test]
    fn ref_files_are_told_apart_from_variables() {
        let env = vec![("ARGOCD_APP_NAME".to_owned(), "x".to_owned())];
        assert_eq!(ref_value_file("$values/a.yaml", &env), Some(("values", "a.yaml")));
        assert_eq!(ref_value_file("$ARGOCD_APP_NAME/a.yaml", &env), None);
        assert_eq!(ref_value_file("a.yaml", &env), None);
        assert_eq!(ref_value_file("$values", &env), None);
    }
}
