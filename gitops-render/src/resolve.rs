//! [`LocalResolver`]: resolves a source whose `repoURL` is a directory on the local disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gitops_core::engine::{
    EngineError, EntryKind, ErrorKind, ResolveContext, SharedSourceTree, SourceResolver,
};
use gitops_core::model::ApplicationSource;

use crate::tree::FsTree;

/// The revision label of trees resolved by [`LocalResolver`].
pub const LOCAL_REVISION: &str = "local";

/// A [`SourceResolver`] for repositories on the local disk.
///
/// `repoURL` may be
/// - a `file://` URL with an absolute path (`file:///srv/repos/app`, `%XX` escapes decoded),
/// - an absolute path (`/srv/repos/app`),
/// - a relative path (`./repo`, `../`, `..`, `repo`), resolved against
///   [`ResolveContext::base_dir`] (the directory of the file the Application came from);
///   without a base directory it is [`ErrorKind::Invalid`].
///
/// The directory is opened as an [`FsTree`] with revision label [`LOCAL_REVISION`]; a Git work
/// tree is read as it is on disk (uncommitted changes included) and `targetRevision` is ignored.
/// Remote URLs (`https://`, `ssh://`, `git@host:`, `oci://`, …) and Helm repository charts are
/// [`ErrorKind::Unsupported`] until remote Git support lands.
///
/// The source's `path` must be a directory inside the tree: a missing path or a file is
/// [`ErrorKind::NotFound`], a path leaving the tree is [`ErrorKind::Forbidden`].
///
/// ```
/// use gitops_core::engine::{ErrorKind, ResolveContext, SourceResolver};
/// use gitops_core::model::ApplicationSource;
/// use gitops_render::LocalResolver;
/// let source = ApplicationSource {
///     repo_url: "https://github.com/argoproj/argocd-example-apps".into(),
///     ..Default::default()
/// };
/// let Err(err) = LocalResolver::new().resolve(&source, &ResolveContext::default()) else {
///     panic!("remote URLs are not supported yet");
/// };
/// assert_eq!(err.kind(), ErrorKind::Unsupported);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LocalResolver {
    _private: (),
}

impl LocalResolver {
    /// A resolver.
    pub fn new() -> Self {
        LocalResolver::default()
    }

    /// The local directory `repo_url` names, without checking that it exists.
    pub fn local_dir(repo_url: &str, ctx: &ResolveContext) -> Result<PathBuf, EngineError> {
        let url = repo_url.trim();
        if url.is_empty() {
            return Err(EngineError::invalid("repoURL is empty"));
        }
        if let Some(rest) = strip_prefix_ignore_case(url, "file://") {
            let path = percent_decode(rest);
            if !path.starts_with('/') {
                return Err(EngineError::invalid(format!(
                    "file URL {url} must name an absolute path, as in file:///path/to/repo"
                )));
            }
            return Ok(PathBuf::from(path));
        }
        if is_remote(url) {
            return Err(EngineError::unsupported(format!(
                "repoURL {url}: remote Git repositories are not supported yet; \
                 a local path or a file:// URL works"
            )));
        }
        let path = Path::new(url);
        if path.is_absolute() {
            return Ok(path.to_path_buf());
        }
        match &ctx.base_dir {
            Some(base) => Ok(base.join(path)),
            None => Err(EngineError::invalid(format!(
                "repoURL {url} is a relative path but there is no base directory to resolve it \
                 against; use an absolute path or a file:// URL"
            ))),
        }
    }
}

impl SourceResolver for LocalResolver {
    fn resolve(
        &self,
        source: &ApplicationSource,
        ctx: &ResolveContext,
    ) -> Result<SharedSourceTree, EngineError> {
        let url = source.repo_url.trim();
        if let Some(chart) = source.chart.as_deref().filter(|c| !c.is_empty()) {
            return Err(EngineError::unsupported(format!(
                "chart {chart} from repository {url}: Helm repositories are not supported yet; \
                 a local path or a file:// URL works"
            )));
        }
        let dir = LocalResolver::local_dir(url, ctx)?;
        let tree = FsTree::open(&dir, LOCAL_REVISION).map_err(|e| {
            let msg = match e.kind() {
                ErrorKind::NotFound => format!(
                    "repository {url} not found: directory {} does not exist",
                    dir.display()
                ),
                _ => format!("cannot open repository {url}: {}", e.message()),
            };
            EngineError::new(e.kind(), msg).with_source(e)
        })?;
        let path = source.normalized_path();
        check_app_dir(tree.entry_kind(&path), &path, url, "")?;
        Ok(Arc::new(tree))
    }
}

/// Checks that the application's `path` of repository `repo` is a directory, given what the
/// tree said it is (`kind`): `NotFound` when it is something else or does not exist,
/// `Forbidden` when the tree refused it, other errors unchanged. `at` follows the repository in
/// the `NotFound` messages (` at revision main`, or empty).
pub(crate) fn check_app_dir(
    kind: Result<EntryKind, EngineError>,
    path: &str,
    repo: &str,
    at: &str,
) -> Result<(), EngineError> {
    let shown = if path.is_empty() { "." } else { path };
    match kind {
        Ok(EntryKind::Dir) => Ok(()),
        Ok(_) => Err(EngineError::not_found(format!(
            "path {shown} in repository {repo}{at} is not a directory"
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(EngineError::not_found(format!(
            "path {shown} does not exist in repository {repo}{at}"
        ))
        .with_source(e)),
        Err(e) if e.kind() == ErrorKind::Forbidden => Err(EngineError::forbidden(format!(
            "path {shown} of repository {repo} is not allowed: {}",
            e.message()
        ))
        .with_source(e)),
        Err(e) => Err(e),
    }
}

pub(crate) fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// A URL with a scheme (`https://`, `ssh://`, `oci://`, …) or an scp-like Git address
/// (`git@github.com:org/repo`, `github.com:org/repo`).
pub(crate) fn is_remote(url: &str) -> bool {
    if url.contains("://") {
        return true;
    }
    if url.starts_with('.') || url.starts_with('/') {
        return false;
    }
    // scp-like: a colon before the first slash.
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Decodes `%XX` escapes; malformed escapes and escapes that do not form UTF-8 are kept as is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_urls() {
        for remote in [
            "https://github.com/a/b",
            "ssh://git@github.com/a/b",
            "git@github.com:a/b.git",
            "github.com:a/b",
            "oci://registry/x",
            "git://host/x",
        ] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in ["./repo", "..", "../", "repo", "/abs/path", "a/b:c"] {
            assert!(!is_remote(local), "{local}");
        }
    }

    #[test]
    fn local_dirs() {
        let ctx = ResolveContext::with_base_dir("/base");
        assert_eq!(
            LocalResolver::local_dir("file:///srv/my%20repo", &ctx).unwrap(),
            PathBuf::from("/srv/my repo")
        );
        assert_eq!(
            LocalResolver::local_dir("..", &ctx).unwrap(),
            PathBuf::from("/base/..")
        );
        assert_eq!(
            LocalResolver::local_dir("/abs", &ctx).unwrap(),
            PathBuf::from("/abs")
        );
        let e = LocalResolver::local_dir("./repo", &ResolveContext::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        let e = LocalResolver::local_dir("file://host/x", &ctx).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "%ff");
    }
}
