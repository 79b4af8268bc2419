//! Sources and renderers for gitops-rs: where an Application's manifests come from and how they
//! become Kubernetes objects.
//!
//! - [`FsTree`]: a [`SourceTree`](gitops_core::engine::SourceTree) over a directory on disk that refuses paths and symbolic
//!   links leaving the repository (Argo CD CVE-2022-24348 class) and bounds what it reads;
//! - [`LocalResolver`]: a [`SourceResolver`] for `repoURL`s that are local paths or `file://`
//!   URLs; [`git::GitResolver`] for Git repositories (gix: branches, tags, SHAs, semver
//!   constraints, a commit-keyed cache, trees read without a checkout); [`DefaultResolver`]
//!   picks between them;
//! - [`DirectoryRenderer`]: Argo CD's `Directory` source type (recurse, include/exclude globs,
//!   the skip marker, Argo CD's rules for files that do not parse);
//! - [`kustomize::KustomizeRenderer`]: a native Kustomize (no process), with Argo CD's kustomize
//!   source options; [`helm::HelmRenderer`]: `helm template` with Argo CD's command line;
//!   [`plugin::PluginRenderer`]: config management plugins (v2 contract);
//! - [`SourceRenderer`]: detects the source type ([`detect_source_type`]) and dispatches to the
//!   registered renderers;
//! - [`render_source`]: resolve + render in one call.
//!
//! ```
//! use gitops_core::engine::{AppContext, ResolveContext};
//! use gitops_core::model::{ApplicationSource, SourceDirectory};
//! use gitops_render::{LocalResolver, SourceRenderer, render_source};
//!
//! // A repository with an app directory holding a manifest and a nested one.
//! let repo = std::env::temp_dir().join(format!("gitops-render-lib-doc-{}", std::process::id()));
//! std::fs::create_dir_all(repo.join("guestbook/nested"))?;
//! std::fs::write(
//!     repo.join("guestbook/service.yaml"),
//!     "apiVersion: v1\nkind: Service\nmetadata:\n  name: guestbook-ui\nspec:\n  ports: [{port: 80}]\n",
//! )?;
//! std::fs::write(
//!     repo.join("guestbook/nested/cm.json"),
//!     r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}"#,
//! )?;
//!
//! let source = ApplicationSource {
//!     repo_url: "./".into(), // relative to the directory the Application was loaded from
//!     path: Some("guestbook".into()),
//!     directory: Some(SourceDirectory { recurse: true, ..Default::default() }),
//!     ..Default::default()
//! };
//! let app = AppContext::new("guestbook", "argocd", "default", "guestbook");
//! let rendered = render_source(
//!     &LocalResolver::new(),
//!     &SourceRenderer::new(),
//!     &app,
//!     &source,
//!     &ResolveContext::with_base_dir(&repo),
//! )?;
//! assert_eq!(rendered.revision, "local");
//! assert_eq!(rendered.source_type, "Directory");
//! let names: Vec<&str> = rendered.objects.iter().map(|o| o.name()).collect();
//! assert_eq!(names, ["settings", "guestbook-ui"]); // "nested" sorts before "service.yaml"
//! # std::fs::remove_dir_all(&repo)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use gitops_core as core;

mod detect;
mod directory;
pub mod git;
pub mod helm;
pub mod kustomize;
pub mod plugin;
mod resolve;
mod tree;

pub use detect::{Detection, KUSTOMIZATION_FILES, SourceRenderer, detect_source_type};
pub use directory::{
    DEFAULT_MAX_COMBINED_BYTES, DirectoryRenderer, MAX_DEPTH, MAX_WALK_ENTRIES, SKIP_FILE_RENDERING_MARKER,
};
pub use git::{DefaultResolver, GitResolver};
pub use resolve::{LOCAL_REVISION, LocalResolver};
pub use tree::{DEFAULT_MAX_DIR_ENTRIES, DEFAULT_MAX_FILE_BYTES, FsTree};

use gitops_core::Object;
use gitops_core::engine::{AppContext, EngineError, RenderInput, Renderer, ResolveContext, SourceResolver};
use gitops_core::model::ApplicationSource;

/// The result of [`render_source`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Rendered {
    /// The objects, in the order the renderer emitted them.
    pub objects: Vec<Object>,
    /// The revision the source was read at (a commit SHA, or `local` for a local directory).
    pub revision: String,
    /// Argo CD's name of the source type that rendered it: `Directory`, `Kustomize`, `Helm`,
    /// `Plugin`.
    pub source_type: String,
}

/// Resolves `source` to a tree with `resolver` and renders its path with `renderer`.
///
/// `source_type` is the detected type ([`detect_source_type`]) when `renderer` is a
/// [`SourceRenderer`] (or anything else named [`SourceRenderer::NAME`]), and the renderer's
/// [`name`](Renderer::name) otherwise. Errors are the resolver's and the renderer's, unchanged.
pub fn render_source(
    resolver: &dyn SourceResolver,
    renderer: &dyn Renderer,
    app: &AppContext,
    source: &ApplicationSource,
    ctx: &ResolveContext,
) -> Result<Rendered, EngineError> {
    let tree = resolver.resolve(source, ctx)?;
    let path = source.normalized_path();
    let input = RenderInput::new(app, source, &*tree, &path);
    let source_type = if renderer.name() == SourceRenderer::NAME {
        detect_source_type(source, &*tree, &path)?
            .source_type()
            .as_str()
            .to_owned()
    } else {
        renderer.name().to_owned()
    };
    let objects = renderer.render(&input)?;
    Ok(Rendered {
        objects,
        revision: tree.revision().to_owned(),
        source_type,
    })
}
