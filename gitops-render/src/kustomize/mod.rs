//! A native Kustomize build engine (`kustomize build` semantics of the v5.8 line, Argo CD's pin)
//! over any [`SourceTree`], and [`KustomizeRenderer`], Argo CD's `Kustomize` source type.
//!
//! Supported: `resources`/`bases` (files, multi-document YAML, `List` kinds, nested
//! kustomizations), `components`, `patches` (strategic merge and JSON 6902, inline or from files,
//! `target` selectors with regular expressions and label/annotation selectors),
//! `patchesStrategicMerge`, `patchesJson6902`, `images`, `replicas`, `namePrefix`/`nameSuffix`
//! with name-reference updates, `namespace`, `commonLabels`, `labels`, `commonAnnotations`,
//! `configMapGenerator`/`secretGenerator` (with `behavior`, `generatorOptions` and the v5 name
//! hash), `replacements`, `vars`, `sortOptions`, `crds` (object references declared in OpenAPI
//! definitions), `configurations`, `buildMetadata` (origin and transformer annotations, the
//! managed-by label), and the builtin transformer and generator configurations of
//! `transformers:`/`generators:` (including `IAMPolicyGenerator`). Kustomization field names
//! match case-insensitively, as in kustomize. Patches use the shared implementations of
//! [`gitops_core::patch`].
//!
//! Remote bases and components (Git URLs in kustomize's forms, see [`RemoteTarget`]) are built
//! from trees of the [`SourceResolver`] given with [`BuildOptions::with_remote`]; without one
//! they are [`KustomizeError::Unsupported`].
//!
//! Not supported: HTTP resources (single files by URL), `helmCharts`, exec/container plugins
//! and custom OpenAPI schemas; these are [`KustomizeError::Unsupported`].
//!
//! ```
//! use gitops_render::FsTree;
//! use gitops_render::kustomize::{BuildOptions, build, to_yaml};
//! let dir = std::env::temp_dir().join(format!("gitops-kustomize-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("kustomization.yaml"), "namePrefix: dev-\nresources: [cm.yaml]\n")?;
//! std::fs::write(dir.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")?;
//! let tree = FsTree::open(&dir, "local")?;
//! let objects = build(&tree, "", &BuildOptions::default())?;
//! assert_eq!(objects[0].name(), "dev-a");
//! assert_eq!(to_yaml(&objects), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dev-a\n");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![allow(clippy::collapsible_if, clippy::collapsible_match)]

mod builder;
mod emit;
mod fieldspec;
mod generate;
mod nameref;
mod patches;
mod regex;
mod remote;
mod renderer;
mod replace;
mod res;
mod sort;
mod transform;
mod util;

pub use emit::{to_yaml, value_to_yaml};

pub(crate) use crate::KUSTOMIZATION_FILES as KUSTOMIZATION_NAMES;
pub use remote::RemoteTarget;
pub use renderer::KustomizeRenderer;

use gitops_core::Object;
use gitops_core::engine::{ErrorKind, SharedSourceResolver, SourceResolver, SourceTree};

/// The output order of a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reorder {
    /// `legacy` unless the kustomization has `sortOptions` (the CLI's and Argo CD's default).
    #[default]
    Unspecified,
    /// Kind-priority order (`--reorder legacy`).
    Legacy,
    /// Depth-first input order (`--reorder none`).
    None,
}

/// Which files a kustomization may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoadRestrictions {
    /// Files must be in or below the directory of the kustomization that names them
    /// (`LoadRestrictionsRootOnly`, the default). Kustomization directories may be anywhere in
    /// the tree.
    #[default]
    RootOnly,
    /// Any file in the tree (`LoadRestrictionsNone`). Paths still cannot leave the tree.
    None,
}

/// Options of [`build`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Output order.
    pub reorder: Reorder,
    /// File load restrictions.
    pub load_restrictions: LoadRestrictions,
    /// Where remote targets are loaded from; `None` refuses them.
    remote: Option<remote::Remote>,
}

impl BuildOptions {
    /// Options with the given order.
    pub fn with_reorder(mut self, reorder: Reorder) -> Self {
        self.reorder = reorder;
        self
    }

    /// Options with the given load restrictions.
    pub fn with_load_restrictions(mut self, restrictions: LoadRestrictions) -> Self {
        self.load_restrictions = restrictions;
        self
    }

    /// Options that build remote bases and components (`https://github.com/org/repo//dir?ref=v1`,
    /// see [`RemoteTarget`]) from the trees `resolver` returns for their repository URL and
    /// `ref` (as `repoURL` and `targetRevision`; no `ref` is `HEAD`). A
    /// [`GitResolver`](crate::GitResolver) or [`DefaultResolver`](crate::DefaultResolver) fits.
    /// Load restrictions apply inside the remote tree as in the local one.
    pub fn with_remote(mut self, resolver: SharedSourceResolver) -> Self {
        self.remote = Some(remote::Remote(resolver));
        self
    }

    /// The resolver remote targets are loaded with, if any.
    pub fn remote(&self) -> Option<&dyn SourceResolver> {
        self.remote.as_ref().map(|r| &*r.0 as &dyn SourceResolver)
    }

    /// Parses Argo CD's `kustomize.buildOptions` flags (`--load-restrictor
    /// LoadRestrictionsNone`, `--reorder none|legacy`); other flags are ignored.
    pub fn from_flags(flags: &[String]) -> Self {
        let mut opts = BuildOptions::default();
        let mut it = flags.iter().flat_map(|f| f.split_whitespace()).peekable();
        while let Some(f) = it.next() {
            let (flag, inline) = match f.split_once('=') {
                Some((a, b)) => (a, Some(b.to_owned())),
                None => (f, None),
            };
            let mut value = || inline.clone().or_else(|| it.next().map(str::to_owned));
            match flag {
                "--load-restrictor" | "--load_restrictor" => {
                    if value().as_deref() == Some("LoadRestrictionsNone") {
                        opts.load_restrictions = LoadRestrictions::None;
                    }
                }
                "--reorder" => match value().as_deref() {
                    Some("none") => opts.reorder = Reorder::None,
                    Some("legacy") => opts.reorder = Reorder::Legacy,
                    _ => {}
                },
                _ => {}
            }
        }
        opts
    }
}

/// Why a kustomization could not be built. Messages are lowercase and name the kustomization
/// file and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KustomizeError {
    /// A file or directory could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The tree path.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A path is refused: it leaves the tree, is absolute, or breaks the load restrictions.
    #[error("security; {message}")]
    Forbidden {
        /// What was refused.
        message: String,
    },
    /// A file does not parse.
    #[error("{file}: {message}")]
    Parse {
        /// The tree path.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A kustomization field is invalid.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The kustomization file.
        file: String,
        /// The field (`resources`, `patches[0]`, …).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A remote target could not be loaded: the resolver's error.
    #[error("{file}: {field}: remote target {target}: {message}")]
    Remote {
        /// The kustomization file.
        file: String,
        /// The field (`resources`, `components`).
        field: String,
        /// The entry as written.
        target: String,
        /// The resolver's error kind (`Unavailable` for an unreachable repository, …).
        kind: ErrorKind,
        /// The resolver's message.
        message: String,
    },
    /// A feature this engine does not implement.
    #[error("{file}: {field}: not supported: {message}")]
    Unsupported {
        /// The kustomization file.
        file: String,
        /// The field.
        field: String,
        /// What is not supported.
        message: String,
    },
}

impl KustomizeError {
    pub(crate) fn invalid(file: &str, field: &str, message: impl Into<String>) -> Self {
        KustomizeError::Invalid {
            file: file.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(file: &str, field: &str, message: impl Into<String>) -> Self {
        KustomizeError::Unsupported {
            file: file.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Builds the kustomization in directory `path` of `tree` (`""` = the root), like
/// `kustomize build`.
///
/// Objects come out in legacy kind order unless [`BuildOptions::reorder`] or the
/// kustomization's `sortOptions` say otherwise. Never panics; every failure is a
/// [`KustomizeError`].
pub fn build(tree: &dyn SourceTree, path: &str, opts: &BuildOptions) -> Result<Vec<Object>, KustomizeError> {
    builder::build_top(tree, path, opts, None)
}

/// Like [`build`], with the kustomization file's content replaced by `kustomization` (a YAML
/// mapping): how [`KustomizeRenderer`] applies Argo CD's overrides without writing to the tree.
pub fn build_with_kustomization(
    tree: &dyn SourceTree,
    path: &str,
    kustomization: &serde_json::Value,
    opts: &BuildOptions,
) -> Result<Vec<Object>, KustomizeError> {
    builder::build_top(tree, path, opts, Some(kustomization))
}
