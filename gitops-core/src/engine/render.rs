//! [`Renderer`]: turns an application source into Kubernetes objects; [`SourceTree`] is the
//! read-only file tree it renders from, and [`SourceResolver`] finds that tree for a source.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::error::EngineError;
use crate::model::ApplicationSource;
use crate::object::Object;

/// What kind of entry a [`TreeEntry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else (sockets, devices, dangling links): renderers skip these.
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The entry's name (no slashes).
    pub name: String,
    /// File, directory or other; symbolic links are reported as what they point at.
    pub kind: EntryKind,
}

/// A read-only tree of files at one revision: a directory on disk, a Git tree, an archive.
///
/// Paths are relative to the tree's root, use `/` as separator, and `""` is the root.
///
/// # Behavior
/// - A path that leaves the tree (through `..` or a symbolic link that points outside) is
///   [`ErrorKind::Forbidden`](super::ErrorKind::Forbidden).
/// - A missing path is [`ErrorKind::NotFound`](super::ErrorKind::NotFound).
/// - `read_dir` returns entries sorted by name (byte order).
pub trait SourceTree: Send + Sync {
    /// The revision the tree was read at (a commit SHA, or a label like `local` for a working directory).
    fn revision(&self) -> &str;
    /// Lists a directory.
    fn read_dir(&self, path: &str) -> Result<Vec<TreeEntry>, EngineError>;
    /// Reads a file.
    fn read_file(&self, path: &str) -> Result<Vec<u8>, EngineError>;
    /// Where the tree is on the local disk, if it is a directory there (for renderers that run
    /// external tools).
    fn local_root(&self) -> Option<PathBuf> {
        None
    }
}

/// A shared source tree.
pub type SharedSourceTree = Arc<dyn SourceTree>;

/// The application a source is rendered for (Argo CD passes these to tools as `ARGOCD_APP_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppContext {
    /// Application name.
    pub name: String,
    /// Namespace of the Application object.
    pub namespace: String,
    /// Project name.
    pub project: String,
    /// Destination namespace.
    pub destination_namespace: String,
}

impl AppContext {
    /// Builds a context.
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        project: impl Into<String>,
        destination_namespace: impl Into<String>,
    ) -> Self {
        AppContext {
            name: name.into(),
            namespace: namespace.into(),
            project: project.into(),
            destination_namespace: destination_namespace.into(),
        }
    }
}

/// Everything a renderer needs for one source.
#[derive(Clone)]
#[non_exhaustive]
pub struct RenderInput<'a> {
    /// The application.
    pub app: &'a AppContext,
    /// The source with its type-specific options.
    pub source: &'a ApplicationSource,
    /// The tree the source resolved to.
    pub tree: &'a dyn SourceTree,
    /// The source's path inside the tree (`""` for the root), normalised without leading or trailing `/`.
    pub path: &'a str,
    /// Trees of the application's `ref` sources (multi-source apps), by ref name without `$`;
    /// Helm value files written `$<ref>/path` are read from them.
    pub refs: &'a [(String, SharedSourceTree)],
}

impl fmt::Debug for RenderInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderInput")
            .field("app", &self.app)
            .field("source", &self.source.repo_url)
            .field("revision", &self.tree.revision())
            .field("path", &self.path)
            .finish()
    }
}

impl<'a> RenderInput<'a> {
    /// Builds an input.
    pub fn new(
        app: &'a AppContext,
        source: &'a ApplicationSource,
        tree: &'a dyn SourceTree,
        path: &'a str,
    ) -> Self {
        RenderInput {
            app,
            source,
            tree,
            path,
            refs: &[],
        }
    }

    /// The same input with the trees of the app's `ref` sources.
    #[must_use]
    pub fn with_refs(mut self, refs: &'a [(String, SharedSourceTree)]) -> Self {
        self.refs = refs;
        self
    }
}

/// Renders a source into objects (directory, Kustomize, Helm, plugins).
///
/// # Behavior
/// - `supports` is cheap and side-effect free; auto-detection calls it on each renderer in turn.
/// - `render` returns objects in the order the tool emits them; the engine orders them for sync.
/// - A source that cannot be rendered is [`ErrorKind::Invalid`](super::ErrorKind::Invalid) with a
///   message naming the file and field.
pub trait Renderer: Send + Sync + 'static {
    /// A short name: `Directory`, `Kustomize`, `Helm`, `Plugin` (Argo CD's source type names).
    fn name(&self) -> &str;
    /// Whether this renderer handles the input (explicit options or auto-detection).
    fn supports(&self, input: &RenderInput<'_>) -> bool;
    /// Renders the input.
    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError>;
}

/// A shared, type-erased renderer.
pub type SharedRenderer = Arc<dyn Renderer>;

impl<T: Renderer + ?Sized> Renderer for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn supports(&self, input: &RenderInput<'_>) -> bool {
        (**self).supports(input)
    }
    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError> {
        (**self).render(input)
    }
}

/// Where an Application came from, for resolving relative repository locations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolveContext {
    /// Directory of the file the Application was loaded from, if any. A `repoURL` that is a
    /// relative path is resolved against it.
    pub base_dir: Option<PathBuf>,
}

impl ResolveContext {
    /// A context resolving relative paths against `dir`.
    pub fn with_base_dir(dir: impl Into<PathBuf>) -> Self {
        ResolveContext {
            base_dir: Some(dir.into()),
        }
    }
}

/// Finds the tree for a source's `repoURL` and `targetRevision` (a Git repository, a local directory).
///
/// # Behavior
/// - An unsupported `repoURL` scheme is `Unsupported`; an unreachable repository is `Unavailable`.
pub trait SourceResolver: Send + Sync + 'static {
    /// Resolves a source to a tree.
    fn resolve(
        &self,
        source: &ApplicationSource,
        ctx: &ResolveContext,
    ) -> Result<SharedSourceTree, EngineError>;
}

/// A shared, type-erased resolver.
pub type SharedSourceResolver = Arc<dyn SourceResolver>;

impl<T: SourceResolver + ?Sized> SourceResolver for Arc<T> {
    fn resolve(
        &self,
        source: &ApplicationSource,
        ctx: &ResolveContext,
    ) -> Result<SharedSourceTree, EngineError> {
        (**self).resolve(source, ctx)
    }
}
