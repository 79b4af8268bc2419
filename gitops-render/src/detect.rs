//! Source-type detection and [`SourceRenderer`], the auto-detecting renderer.

use std::sync::Arc;

use gitops_core::Object;
use gitops_core::engine::{EngineError, EntryKind, RenderInput, Renderer, SharedRenderer, SourceTree};
use gitops_core::model::{ApplicationSource, SourceType};

use crate::directory::DirectoryRenderer;

/// Kustomize's file names, any of which directly in the source path makes it a Kustomize source.
pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Why a source has the type it has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detection {
    /// Set explicitly with `spec.source.{helm,kustomize,directory,plugin}`.
    Explicit(SourceType),
    /// Found a file directly in the source path (`kustomization.yaml`, `Chart.yaml`).
    File(SourceType, String),
    /// Nothing else matched: a plain directory.
    Default,
}

impl Detection {
    /// The detected type.
    pub fn source_type(&self) -> SourceType {
        match self {
            Detection::Explicit(t) | Detection::File(t, _) => *t,
            Detection::Default => SourceType::Directory,
        }
    }
}

/// Decides a source's type, as Argo CD does (spec `render.md` §6).
///
/// - An explicit `helm`, `kustomize`, `directory` or `plugin` block wins; more than one is
///   [`ErrorKind::Invalid`](gitops_core::engine::ErrorKind::Invalid):
///   `multiple application sources defined: Kustomize,Plugin` (Helm, Kustomize, Directory,
///   Plugin order).
/// - Otherwise files directly in `path` (a tree path, `""` for the root):
///   [`KUSTOMIZATION_FILES`] → Kustomize; a name ending in `Chart.yaml` → Helm (Kustomize wins
///   when both exist); else Directory.
///
/// Config-management plugin discovery is not done yet.
pub fn detect_source_type(
    source: &ApplicationSource,
    tree: &dyn SourceTree,
    path: &str,
) -> Result<Detection, EngineError> {
    let explicit = source.explicit_types();
    match explicit.as_slice() {
        [] => {}
        [one] => return Ok(Detection::Explicit(*one)),
        many => {
            let names: Vec<&str> = many.iter().map(|t| t.as_str()).collect();
            return Err(EngineError::invalid(format!(
                "multiple application sources defined: {}",
                names.join(",")
            )));
        }
    }
    let entries = tree.read_dir(path)?;
    let mut chart = None;
    for entry in &entries {
        if entry.kind == EntryKind::Dir {
            continue;
        }
        if KUSTOMIZATION_FILES.contains(&entry.name.as_str()) {
            return Ok(Detection::File(SourceType::Kustomize, entry.name.clone()));
        }
        if chart.is_none() && entry.name.ends_with("Chart.yaml") {
            chart = Some(entry.name.clone());
        }
    }
    Ok(match chart {
        Some(name) => Detection::File(SourceType::Helm, name),
        None => Detection::Default,
    })
}

/// The renderer the engine uses: detects the source type ([`detect_source_type`]) and hands
/// the source to the registered renderer of that name.
///
/// [`SourceRenderer::new`] registers the [`DirectoryRenderer`], the native Kustomize renderer,
/// the Helm renderer (an external `helm`) and the config-management plugin renderer; more can be
/// added with [`register`](Self::register). A discovering plugin wins over auto-detection, as in
/// Argo CD. A source whose type has no renderer is
/// [`ErrorKind::Unsupported`](gitops_core::engine::ErrorKind::Unsupported) with a message saying
/// what to do instead.
///
/// ```
/// use gitops_core::engine::{AppContext, RenderInput, Renderer};
/// use gitops_core::model::ApplicationSource;
/// use gitops_render::{FsTree, SourceRenderer};
/// let dir = std::env::temp_dir().join(format!("gitops-render-detect-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("kustomization.yaml"), "resources: [cm.yaml]\nnamePrefix: dev-\n")?;
/// std::fs::write(dir.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")?;
/// let tree = FsTree::open(&dir, "local")?;
/// let app = AppContext::default();
/// let source = ApplicationSource::default();
/// let objects = SourceRenderer::new().render(&RenderInput::new(&app, &source, &tree, ""))?;
/// assert_eq!(objects[0].name(), "dev-settings");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SourceRenderer {
    renderers: Vec<SharedRenderer>,
}

impl std::fmt::Debug for SourceRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRenderer")
            .field(
                "renderers",
                &self.renderers.iter().map(|r| r.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for SourceRenderer {
    fn default() -> Self {
        SourceRenderer::new()
    }
}

impl SourceRenderer {
    /// The renderer's name.
    pub const NAME: &'static str = "Auto";

    /// A renderer with the [`DirectoryRenderer`] registered.
    pub fn new() -> Self {
        SourceRenderer {
            renderers: vec![
                Arc::new(DirectoryRenderer::new()),
                Arc::new(crate::kustomize::KustomizeRenderer::new()),
                Arc::new(crate::helm::HelmRenderer::from_env()),
                Arc::new(crate::plugin::PluginRenderer::default()),
            ],
        }
    }

    /// A renderer with nothing registered.
    pub fn empty() -> Self {
        SourceRenderer {
            renderers: Vec::new(),
        }
    }

    /// Registers a renderer for the source type named by its [`Renderer::name`] (`Directory`,
    /// `Kustomize`, `Helm`, `Plugin`), replacing one registered under the same name.
    pub fn register(&mut self, renderer: SharedRenderer) {
        let name = renderer.name().to_owned();
        self.renderers.retain(|r| r.name() != name);
        self.renderers.push(renderer);
    }

    /// [`register`](Self::register), by value.
    #[must_use]
    pub fn with(mut self, renderer: SharedRenderer) -> Self {
        self.register(renderer);
        self
    }

    /// The registered renderers.
    pub fn renderers(&self) -> &[SharedRenderer] {
        &self.renderers
    }

    /// Detects the input's source type and renders it, returning the type too.
    pub fn render_detected(&self, input: &RenderInput<'_>) -> Result<(SourceType, Vec<Object>), EngineError> {
        // A discovering config-management plugin wins over detection (spec render.md §6).
        if input.source.explicit_types().is_empty() {
            let plugin = self
                .renderers
                .iter()
                .find(|r| r.name() == SourceType::Plugin.as_str());
            if let Some(p) = plugin.filter(|p| p.supports(input)) {
                return Ok((SourceType::Plugin, p.render(input)?));
            }
        }
        let detection = detect_source_type(input.source, input.tree, input.path)?;
        let ty = detection.source_type();
        let renderer = self.renderers.iter().find(|r| r.name() == ty.as_str());
        match renderer {
            Some(r) => Ok((ty, r.render(input)?)),
            None => Err(not_available(&detection, input.path)),
        }
    }
}

fn not_available(detection: &Detection, path: &str) -> EngineError {
    let ty = detection.source_type();
    let why = match detection {
        Detection::Explicit(_) => String::new(),
        Detection::File(_, file) => {
            let at = if path.is_empty() {
                file.clone()
            } else {
                format!("{path}/{file}")
            };
            format!(" (detected from {at})")
        }
        Detection::Default => String::new(),
    };
    let what = match ty {
        SourceType::Kustomize => "kustomize rendering is",
        SourceType::Helm => "helm rendering is",
        SourceType::Plugin => "config management plugins are",
        SourceType::Directory => {
            return EngineError::unsupported("no renderer is registered for Directory sources");
        }
    };
    EngineError::unsupported(format!(
        "{what} not available yet in gitops-render{why}; use a plain directory \
         (spec.source.directory) for now"
    ))
}

impl Renderer for SourceRenderer {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// Always true: every source gets a type; one without a renderer is an error from `render`.
    fn supports(&self, _input: &RenderInput<'_>) -> bool {
        true
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError> {
        self.render_detected(input).map(|(_, objects)| objects)
    }
}
