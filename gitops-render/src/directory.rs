//! [`DirectoryRenderer`]: plain directories of YAML and JSON manifests (Argo CD's `Directory`
//! source type, `findManifests` in its repo server).

use gitops_core::Object;
use gitops_core::engine::{EngineError, EntryKind, RenderInput, Renderer, SourceTree};
use gitops_core::load::{LoadError, documents_to_objects, parse_json_document, parse_yaml_documents};
use gitops_core::model::is_application;
use gitops_core::model::{SourceDirectory, SourceType};
use gitops_core::sync::SOURCE_FILE_ANNOTATION;
use globset::{GlobBuilder, GlobMatcher};

/// The marker that makes the directory renderer skip a file, anywhere in its text.
pub const SKIP_FILE_RENDERING_MARKER: &str = "+argocd:skip-file-rendering";

/// Default bound on the combined size of the manifest files of one source, in bytes
/// (Argo CD's `--max-combined-directory-manifests-size` default, `10M`).
pub const DEFAULT_MAX_COMBINED_BYTES: u64 = 10_000_000;

/// Deepest directory nesting the renderer descends into below the source path.
pub const MAX_DEPTH: usize = 64;

/// Most directory entries (files and directories) one render looks at.
pub const MAX_WALK_ENTRIES: usize = 1_000_000;

/// Renders a plain directory of manifests, following Argo CD.
///
/// # Behavior
/// - The source path is walked in lexical (byte) order, depth first; subdirectories only with
///   `directory.recurse: true`. Symbolic links inside the repository are followed (the tree
///   refuses ones that point outside with [`ErrorKind::Forbidden`](gitops_core::engine::ErrorKind::Forbidden));
///   entries that are neither files nor directories are skipped.
/// - Only `*.yaml`, `*.yml`, `*.json` and `*.jsonnet` files are considered (case-sensitive),
///   unless `directory.disableExtensionFilter` is set.
/// - `directory.exclude`, then `directory.include`, are globs matched against the path relative
///   to the source path; `*` and `?` also match `/`, `{a,b}` is alternation, `\` escapes.
///   Exclude wins over include.
/// - A file containing [`SKIP_FILE_RENDERING_MARKER`] is skipped.
/// - `.jsonnet` files are not evaluated yet: an included one is
///   [`ErrorKind::Unsupported`](gitops_core::engine::ErrorKind::Unsupported) (exclude it or mark it
///   to render the rest).
/// - `.json`: one value per file (a second one is an error); any error is
///   [`ErrorKind::Invalid`](gitops_core::engine::ErrorKind::Invalid).
/// - Other files are multi-document YAML. A file that fails to load (bad syntax, or a document
///   that is not a Kubernetes object) is an error only if its text contains `apiVersion:`,
///   `kind:` and `metadata:`; otherwise it is ignored as an unrelated file (`values.yaml`, CI
///   configuration), as Argo CD does.
/// - `List` kinds are expanded into their items; empty documents are dropped.
/// - Errors name the file relative to the repository root, with document index and line.
/// - Objects come out in walk order, documents in file order.
///
/// ```
/// use gitops_core::engine::{AppContext, RenderInput, Renderer};
/// use gitops_core::model::ApplicationSource;
/// use gitops_render::{DirectoryRenderer, FsTree};
/// let dir = std::env::temp_dir().join(format!("gitops-render-dir-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")?;
/// std::fs::write(dir.join("values.yaml"), "replicas: 3\n")?; // not a manifest: ignored
/// let tree = FsTree::open(&dir, "local")?;
/// let app = AppContext::new("demo", "argocd", "default", "demo");
/// let source = ApplicationSource::default();
/// let objects = DirectoryRenderer::new().render(&RenderInput::new(&app, &source, &tree, ""))?;
/// assert_eq!(objects.len(), 1);
/// assert_eq!(objects[0].name(), "a");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DirectoryRenderer {
    max_combined_bytes: u64,
}

impl Default for DirectoryRenderer {
    fn default() -> Self {
        DirectoryRenderer {
            max_combined_bytes: DEFAULT_MAX_COMBINED_BYTES,
        }
    }
}

impl DirectoryRenderer {
    /// The renderer's name, Argo CD's source type name.
    pub const NAME: &'static str = "Directory";

    /// A renderer with the default bounds.
    pub fn new() -> Self {
        DirectoryRenderer::default()
    }

    /// Sets the bound on the combined size of the manifest files of one source, in bytes.
    #[must_use]
    pub fn with_max_combined_bytes(mut self, limit: u64) -> Self {
        self.max_combined_bytes = limit;
        self
    }
}

impl Renderer for DirectoryRenderer {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// True when the source sets no type or only `directory`.
    fn supports(&self, input: &RenderInput<'_>) -> bool {
        let types = input.source.explicit_types();
        types.is_empty() || types == [SourceType::Directory]
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError> {
        let options = input.source.directory.clone().unwrap_or_default();
        let mut walk = Walk {
            tree: input.tree,
            app_path: input.path.trim_matches('/'),
            include: compile_glob(options.include.as_deref(), "include")?,
            exclude: compile_glob(options.exclude.as_deref(), "exclude")?,
            options: &options,
            max_combined_bytes: self.max_combined_bytes,
            combined_bytes: 0,
            entries_seen: 0,
            objects: Vec::new(),
        };
        walk.dir("", 0)?;
        Ok(walk.objects)
    }
}

/// Compiles a gobwas-style glob: no separator semantics, brace alternation, `\` escapes.
fn compile_glob(pattern: Option<&str>, field: &str) -> Result<Option<GlobMatcher>, EngineError> {
    let Some(pattern) = pattern.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let glob = GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|e| {
            EngineError::invalid(format!("invalid directory.{field} pattern {pattern:?}: {e}")).with_source(e)
        })?;
    Ok(Some(glob.compile_matcher()))
}

struct Walk<'a> {
    tree: &'a dyn SourceTree,
    app_path: &'a str,
    include: Option<GlobMatcher>,
    exclude: Option<GlobMatcher>,
    options: &'a SourceDirectory,
    max_combined_bytes: u64,
    combined_bytes: u64,
    entries_seen: usize,
    objects: Vec<Object>,
}

impl Walk<'_> {
    /// Path inside the repository of `rel` (relative to the app path).
    fn repo_path(&self, rel: &str) -> String {
        join(self.app_path, rel)
    }

    fn dir(&mut self, rel: &str, depth: usize) -> Result<(), EngineError> {
        let entries = self.tree.read_dir(&self.repo_path(rel))?;
        for entry in entries {
            self.entries_seen += 1;
            if self.entries_seen > MAX_WALK_ENTRIES {
                return Err(EngineError::invalid(format!(
                    "source path {} has more than {MAX_WALK_ENTRIES} files and directories",
                    shown(self.app_path)
                )));
            }
            let child = join(rel, &entry.name);
            match entry.kind {
                EntryKind::Dir if self.options.recurse => {
                    if depth + 1 > MAX_DEPTH {
                        return Err(EngineError::invalid(format!(
                            "directory {} is nested more than {MAX_DEPTH} levels deep \
                             (is there a symbolic link loop?)",
                            self.repo_path(&child)
                        )));
                    }
                    self.dir(&child, depth + 1)?;
                }
                EntryKind::File => self.file(&child, &entry.name)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn file(&mut self, rel: &str, name: &str) -> Result<(), EngineError> {
        if !self.options.disable_extension_filter && !has_manifest_extension(name) {
            return Ok(());
        }
        if self.exclude.as_ref().is_some_and(|g| g.is_match(rel)) {
            return Ok(());
        }
        if self.include.as_ref().is_some_and(|g| !g.is_match(rel)) {
            return Ok(());
        }
        let path = self.repo_path(rel);
        let bytes = self.tree.read_file(&path)?;
        self.combined_bytes = self.combined_bytes.saturating_add(bytes.len() as u64);
        if self.combined_bytes > self.max_combined_bytes {
            return Err(EngineError::invalid(format!(
                "exceeded max combined manifest file size of {} bytes at {path}",
                self.max_combined_bytes
            )));
        }
        let text = decode_text(&bytes);
        if text.contains(SKIP_FILE_RENDERING_MARKER) {
            return Ok(());
        }
        if name.ends_with(".jsonnet") {
            return Err(EngineError::unsupported(format!(
                "{path}: jsonnet is not supported yet; exclude the file with directory.exclude \
                 or mark it with {SKIP_FILE_RENDERING_MARKER}"
            )));
        }
        if name.ends_with(".json") {
            let loaded = parse_json_document(&text, &path)
                .and_then(|docs| documents_to_objects(docs, &path))
                .map_err(load_error)?;
            self.objects
                .extend(loaded.into_iter().map(|l| with_source_file(l.object, &path)));
            return Ok(());
        }
        match parse_yaml_documents(&text, &path).and_then(|docs| documents_to_objects(docs, &path)) {
            Ok(loaded) => self
                .objects
                .extend(loaded.into_iter().map(|l| with_source_file(l.object, &path))),
            Err(e) if looks_like_manifest(&text) => return Err(load_error(e)),
            // An unrelated YAML file (Helm values, CI configuration): ignored, as Argo CD does.
            Err(_) => {}
        }
        Ok(())
    }
}

/// Child Applications remember the repository file they came from (the sync engine strips the
/// annotation before applying), so that a relative `repoURL` in them resolves against that file.
fn with_source_file(mut obj: Object, path: &str) -> Object {
    if is_application(&obj) {
        obj.set_annotation(SOURCE_FILE_ANNOTATION, path);
    }
    obj
}

/// Argo CD's `^.*\.(yaml|yml|json|jsonnet)$`.
fn has_manifest_extension(name: &str) -> bool {
    [".yaml", ".yml", ".json", ".jsonnet"]
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

/// Argo CD's test for a file that failed to parse: is it meant to be a manifest?
fn looks_like_manifest(text: &str) -> bool {
    ["apiVersion:", "kind:", "metadata:"]
        .iter()
        .all(|k| text.contains(k))
}

fn load_error(e: LoadError) -> EngineError {
    EngineError::invalid(e.to_string()).with_source(e)
}

/// UTF-8 (a BOM is dropped) or UTF-16 with a BOM; invalid sequences become U+FFFD.
fn decode_text(bytes: &[u8]) -> String {
    let utf16 = |chunks: std::slice::ChunksExact<'_, u8>, le: bool| {
        let units = chunks.map(|c| {
            let pair = [c[0], c[1]];
            if le {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect::<String>()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest.chunks_exact(2), true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest.chunks_exact(2), false),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert!(has_manifest_extension("a.yaml"));
        assert!(has_manifest_extension("a.jsonnet"));
        assert!(!has_manifest_extension("a.YAML"));
        assert!(!has_manifest_extension("a.yaml.bak"));
        assert!(!has_manifest_extension("README.md"));
    }

    #[test]
    fn globs_without_separators() {
        let g = compile_glob(Some("*.yaml"), "include").unwrap().unwrap();
        assert!(g.is_match("sub/dir/a.yaml"));
        let g = compile_glob(Some("{a.yaml,sub/*}"), "include").unwrap().unwrap();
        assert!(g.is_match("a.yaml"));
        assert!(g.is_match("sub/x/y.json"));
        assert!(!g.is_match("b.yaml"));
        assert!(compile_glob(Some(""), "include").unwrap().is_none());
        let e = compile_glob(Some("{a"), "exclude").unwrap_err();
        assert!(
            e.to_string().starts_with("invalid directory.exclude pattern"),
            "{e}"
        );
    }

    #[test]
    fn decodes_boms() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFkind: x"), "kind: x");
        assert_eq!(decode_text(b"\xFF\xFEk\x00i\x00"), "ki");
        assert_eq!(decode_text(b"\xFE\xFF\x00k\x00i\x00"), "ki");
    }
}
