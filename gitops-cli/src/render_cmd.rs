//! `gitops render <dir|app.yaml>`: prints the objects a source renders to, as Argo CD would
//! render them.
//!
//! * A directory is an application source whose repository is the directory itself (or
//!   `--repo`): its type is detected as Argo CD does (a discovering `--plugin`, else
//!   `kustomization.yaml` → Kustomize, `Chart.yaml` → Helm, else Directory), or forced with
//!   `--kustomize`, `--helm` or `--directory`. `--name` (default: the directory's name) and
//!   `--dest-namespace` stand in for the Application (release name, `ARGOCD_APP_*`).
//! * An Application file renders every Application in it, each source in order; a
//!   multi-source app's `ref` sources feed Helm `$ref/...` value files, and a source with a
//!   `ref` but no `path` or `chart` is not rendered itself.
//!
//! Output: the objects in render order (the order the engine receives them), as YAML documents
//! separated by `---`, or with `-o json` as one JSON list. Helm needs a `helm` binary on `PATH`
//! or in `GITOPS_HELM`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;

use gitops_core::engine::{
    AppContext, EngineError, RenderInput, ResolveContext, SharedSourceResolver, SharedSourceTree,
};
use gitops_core::model::{ApplicationSource, SourceDirectory, SourceHelm, SourceKustomize, SourceType};
use gitops_render::helm::HelmRenderer;
use gitops_render::plugin::{PluginConfig, PluginRenderer};
use gitops_render::{FsTree, LOCAL_REVISION, SourceRenderer, detect_source_type};

/// Arguments of `gitops render`.
#[derive(clap::Args, Debug)]
pub(crate) struct RenderArgs {
    /// A directory to render as an application source, or an Application YAML file.
    target: PathBuf,
    /// Render the directory as a Kustomize source.
    #[arg(long, conflicts_with_all = ["helm", "directory"])]
    kustomize: bool,
    /// Render the directory as a Helm chart.
    #[arg(long, conflicts_with = "directory")]
    helm: bool,
    /// Render the directory as a plain directory of manifests.
    #[arg(long)]
    directory: bool,
    /// For a directory: the application name (Helm release name, ARGOCD_APP_NAME); default: the
    /// directory's name.
    #[arg(long)]
    name: Option<String>,
    /// For a directory: the destination namespace (Helm --namespace, ARGOCD_APP_NAMESPACE).
    #[arg(long = "dest-namespace", value_name = "NAMESPACE")]
    dest_namespace: Option<String>,
    /// For a directory: the repository root (default: the directory itself).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// A config-management plugin's plugin.yaml (repeatable; discovery tries them in order).
    #[arg(long = "plugin", value_name = "PLUGIN_YAML")]
    plugins: Vec<PathBuf>,
}

/// The resolver for Applications' `repoURL`s (swap in a Git-capable resolver here).
fn resolver() -> SharedSourceResolver {
    // Local directories as they are, Git repositories through gix (cached under .gitops/git).
    Arc::new(gitops_render::DefaultResolver::new(".gitops/git"))
}

/// Runs `gitops render`; `json` selects JSON output.
///
/// # Errors
/// The message when the target cannot be read or a source cannot be rendered.
pub(crate) fn run(args: &RenderArgs, json: bool) -> Result<ExitCode, String> {
    let mut renderer = SourceRenderer::new().with(Arc::new(
        gitops_render::kustomize::KustomizeRenderer::new().with_remote_resolver(resolver()),
    ));
    if !args.plugins.is_empty() {
        let configs = args
            .plugins
            .iter()
            .map(|p| PluginConfig::load_file(p).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        renderer.register(Arc::new(PluginRenderer::new(configs)));
    }
    let meta = std::fs::metadata(&args.target).map_err(|e| format!("{}: {e}", args.target.display()))?;
    let objects = if meta.is_dir() {
        render_dir(args, &renderer)?
    } else {
        if args.kustomize || args.helm || args.directory || args.repo.is_some() {
            return Err(
                "--kustomize, --helm, --directory and --repo apply to a directory, not to an \
                 Application file"
                    .into(),
            );
        }
        render_app_file(&args.target, &renderer)?
    };
    if json {
        let list = Value::Array(objects);
        println!(
            "{}",
            serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?
        );
    } else {
        let docs: Vec<String> = objects.iter().map(to_yaml).collect();
        print!("{}", docs.join("---\n"));
    }
    Ok(ExitCode::SUCCESS)
}

fn render_dir(args: &RenderArgs, renderer: &SourceRenderer) -> Result<Vec<Value>, String> {
    let canon = |p: &Path| p.canonicalize().map_err(|e| format!("{}: {e}", p.display()));
    let dir = canon(&args.target)?;
    let root = match &args.repo {
        Some(r) => canon(r)?,
        None => dir.clone(),
    };
    let rel = dir.strip_prefix(&root).map_err(|_| {
        format!(
            "{} is not inside the repository {}",
            args.target.display(),
            root.display()
        )
    })?;
    let path = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let source = ApplicationSource {
        repo_url: root.display().to_string(),
        path: (!path.is_empty()).then(|| path.clone()),
        kustomize: args.kustomize.then(SourceKustomize::default),
        helm: args.helm.then(SourceHelm::default),
        directory: args.directory.then(SourceDirectory::default),
        ..Default::default()
    };
    let name = args.name.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let app = AppContext::new(
        name,
        "argocd",
        "default",
        args.dest_namespace.clone().unwrap_or_default(),
    );
    let tree = FsTree::open(&root, LOCAL_REVISION).map_err(|e| e.to_string())?;
    let input = RenderInput::new(&app, &source, &tree, &path);
    let (_, objects) = renderer.render_detected(&input).map_err(|e| e.to_string())?;
    Ok(objects.into_iter().map(|o| o.into_value()).collect())
}

fn render_app_file(file: &Path, renderer: &SourceRenderer) -> Result<Vec<Value>, String> {
    let apps = crate::session::load_applications(file)?;
    let base_dir = file
        .canonicalize()
        .map_err(|e| format!("{}: {e}", file.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let ctx = ResolveContext::with_base_dir(&base_dir);
    let resolver = resolver();
    let mut out = Vec::new();
    for app in apps {
        let name = app.metadata.name.clone();
        let fail = |e: EngineError| format!("application {name}: cannot render: {e}");
        let actx = AppContext::new(
            app.metadata.name.clone(),
            app.metadata.namespace.clone().unwrap_or_default(),
            app.project(),
            app.spec.destination.namespace(),
        );
        let sources = app.sources();
        if sources.is_empty() {
            return Err(format!(
                "application {name}: no source (spec.source or spec.sources)"
            ));
        }
        let mut refs: HashMap<String, SharedSourceTree> = HashMap::new();
        for s in &sources {
            if let Some(r) = s.reference.as_deref().filter(|r| !r.is_empty()) {
                refs.insert(r.to_owned(), resolver.resolve(s, &ctx).map_err(fail)?);
            }
        }
        for source in sources {
            let ref_only = source.reference.as_deref().is_some_and(|r| !r.is_empty())
                && source.path.as_deref().is_none_or(str::is_empty)
                && source.chart.as_deref().is_none_or(str::is_empty);
            if ref_only {
                continue;
            }
            let tree = resolver.resolve(source, &ctx).map_err(fail)?;
            let path = source.normalized_path();
            let input = RenderInput::new(&actx, source, tree.as_ref(), &path);
            let helm_with_refs = !refs.is_empty()
                && source.explicit_types().len() <= 1
                && detect_source_type(source, tree.as_ref(), &path)
                    .is_ok_and(|d| d.source_type() == SourceType::Helm)
                && !discovered_by_plugin(renderer, &input);
            let objects = if helm_with_refs {
                HelmRenderer::from_env()
                    .render_with_refs(&input, &refs)
                    .map_err(fail)?
            } else {
                renderer.render_detected(&input).map_err(fail)?.1
            };
            out.extend(objects.into_iter().map(|o| o.into_value()));
        }
    }
    Ok(out)
}

/// Whether a registered plugin takes the (type-less) source by discovery.
fn discovered_by_plugin(renderer: &SourceRenderer, input: &RenderInput<'_>) -> bool {
    input.source.explicit_types().is_empty()
        && renderer
            .renderers()
            .iter()
            .any(|r| r.name() == SourceType::Plugin.as_str() && r.supports(input))
}

/// A JSON value as a block-style YAML document (ends with a newline).
fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => emit_seq(&mut out, a, 0),
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn emit_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    for (k, v) in m {
        pad(out, indent);
        out.push_str(&scalar_string(k));
        out.push(':');
        emit_nested(out, v, indent, indent + 2);
    }
}

fn emit_seq(out: &mut String, a: &[Value], indent: usize) {
    for item in a {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key goes on the dash's line.
                let mut inner = String::new();
                emit_map(&mut inner, m, indent + 2);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            _ => emit_nested(out, item, indent, indent + 2),
        }
    }
}

/// Writes what follows `key:` or `-`: a nested block on the next lines, or ` scalar\n`.
fn emit_nested(out: &mut String, v: &Value, indent: usize, child: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_map(out, m, child);
        }
        // Sequences under a key are not indented (as kubectl and helm print them).
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_seq(out, a, if out.ends_with("-\n") { child } else { indent });
        }
        Value::String(s) if literal_ok(s) => {
            out.push_str(if s.ends_with('\n') { " |\n" } else { " |-\n" });
            for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                if !line.is_empty() {
                    pad(out, child);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

/// Whether a multi-line string can be written as a literal block (`|` / `|-`).
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n', '\t'])
        && !s.ends_with("\n\n")
        && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        && !s.split('\n').any(|l| l.ends_with([' ', '\t']))
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a plain scalar when YAML reads it back as the same string, else double-quoted.
fn scalar_string(s: &str) -> String {
    if plain_ok(s) {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s || "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s == "<<" {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return false;
    }
    // Anything that may read as a number, a YAML 1.1 sexagesimal or a date (`1e3`, `0x1f`,
    // `1_000`, `1:20`, `2024-01-02`, `.inf`); `250m` or `1.2.3-beta` stay plain.
    let b = lower.as_bytes();
    let numeric_start = b[0].is_ascii_digit()
        || (matches!(b[0], b'+' | b'-' | b'.') && b.get(1).is_some_and(|c| c.is_ascii_digit() || *c == b'.'));
    let number_like = numeric_start
        && lower
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "xob._:+-".contains(c));
    !(number_like || lower.contains(".inf") || lower.contains(".nan"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_output_reads_back_as_the_same_value() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}, "annotations": {}},
            "data": {
                "script": "#!/bin/sh\necho hi\n",
                "nofinal": "a\nb",
                "spaces": " lead",
                "num": "1.0", "bool": "yes", "cpu": "250m", "hex": "0x1F", "date": "2024-01-02", "exp": "1e3", "empty": "", "colon": "a: b", "hash": "a #b",
                "quote": "it's \"x\"", "unicode": "é", "dash": "-x", "trailing": "x\n\n",
            },
            "list": [1, "two", {"a": 1, "b": [true, null]}, [], [1, [2]], {}],
            "nested": [{"k": {"x": "y"}, "l": ["m"]}],
        });
        let text = to_yaml(&v);
        let back = gitops_core::load::parse_yaml_documents(&text, "t").unwrap();
        assert_eq!(back.len(), 1, "{text}");
        assert_eq!(back[0].value, v, "{text}");
        assert!(text.contains("script: |\n    #!/bin/sh\n    echo hi\n"), "{text}");
        assert!(
            text.contains("cpu: 250m\n") && text.contains("hex: \"0x1F\"\n"),
            "{text}"
        );
    }
}
