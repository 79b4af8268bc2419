//! Remote kustomization targets: kustomize's Git URL forms in `resources:`/`components:`
//! (kustomize docs, "remote targets").

use std::fmt;
use std::sync::Arc;

use gitops_core::engine::SourceResolver;

/// Whether a `resources`/`components` entry names something remote rather than a path in the
/// tree.
pub(crate) fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
        || entry.starts_with("github.com/")
        || entry.starts_with("github.com:")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.contains("?ref=")
        || entry.contains("?version=")
        || entry.contains(".git//")
}

/// A remote kustomization target: a Git repository, a revision and a directory in it.
///
/// Parsed from kustomize's forms:
///
/// | entry | repository | path |
/// |---|---|---|
/// | `https://github.com/org/repo//path/to/base?ref=v1.2.0` | `https://github.com/org/repo` | `path/to/base` |
/// | `github.com/org/repo/path?ref=main` | `https://github.com/org/repo` | `path` |
/// | `git::https://gitlab.com/org/repo.git//dir?ref=x` | `https://gitlab.com/org/repo.git` | `dir` |
/// | `ssh://git@host/org/repo.git//dir?ref=tag` | `ssh://git@host/org/repo.git` | `dir` |
/// | `git@github.com:org/repo/dir?version=v2` | `git@github.com:org/repo` | `dir` |
/// | `https://dev.azure.com/org/project/_git/repo/dir` | `https://dev.azure.com/org/project/_git/repo` | `dir` |
/// | `file:///abs/repo//dir?ref=x` | `file:///abs/repo` | `dir` |
///
/// `//` separates the repository from the path; without it the repository ends at a segment
/// ending in `.git`, at the segment after `_git` (Azure DevOps), after `org/repo` on
/// `github.com`, `gitlab.com` and `bitbucket.org`, and otherwise at the end. `?ref=` (or its
/// older spelling `?version=`) selects the revision; other query parameters (`timeout`,
/// `submodules`) are ignored.
///
/// ```
/// use gitops_render::kustomize::RemoteTarget;
/// let t = RemoteTarget::parse("https://github.com/org/repo//deploy/base?ref=v1.2.0").ok_or("not remote")?;
/// assert_eq!(t.repo_url, "https://github.com/org/repo");
/// assert_eq!(t.path, "deploy/base");
/// assert_eq!(t.reference.as_deref(), Some("v1.2.0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteTarget {
    /// The repository URL, as a [`SourceResolver`] takes it in `repoURL`.
    pub repo_url: String,
    /// The directory in the repository (`""` = the root), without leading or trailing `/`.
    pub path: String,
    /// The revision (`?ref=`/`?version=`); `None` = the default branch.
    pub reference: Option<String>,
}

impl RemoteTarget {
    /// Parses a remote `resources`/`components` entry; `None` when `entry` is not a Git target
    /// (a local path, or an HTTP URL of a single file).
    pub fn parse(entry: &str) -> Option<RemoteTarget> {
        let entry = entry.trim();
        if !is_remote(entry) {
            return None;
        }
        let (base, query) = match entry.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (entry, None),
        };
        let mut reference = None;
        let mut version = None;
        for param in query.unwrap_or("").split('&') {
            match param.split_once('=') {
                Some(("ref", v)) if !v.is_empty() => reference = Some(v.to_owned()),
                Some(("version", v)) if !v.is_empty() => version = Some(v.to_owned()),
                _ => {}
            }
        }
        let reference = reference.or(version);
        let base = base.strip_prefix("git::").unwrap_or(base);
        let (prefix, host, rest) = split_host(base)?;
        if rest.is_empty() {
            return None;
        }
        let (repo, path) = split_repo(&host, rest)?;
        let repo = repo.trim_end_matches('/');
        if repo.is_empty() || repo == "/" {
            return None;
        }
        let path = path.trim_matches('/').to_owned();
        let explicit = rest.contains("//") || reference.is_some() || repo.ends_with(".git");
        let is_http = prefix.starts_with("http://") || prefix.starts_with("https://");
        if is_http && !explicit {
            let last = rest.rsplit('/').next().unwrap_or("");
            if [".yaml", ".yml", ".json"].iter().any(|x| last.ends_with(x)) {
                // a single file over HTTP, not a repository
                return None;
            }
        }
        Some(RemoteTarget {
            repo_url: format!("{prefix}{repo}"),
            path,
            reference,
        })
    }

    /// The `kustomize` form of the target (`repo//path?ref=x`), for messages.
    pub fn display(&self) -> String {
        let mut s = self.repo_url.clone();
        if !self.path.is_empty() {
            s.push_str("//");
            s.push_str(&self.path);
        }
        if let Some(r) = &self.reference {
            s.push_str("?ref=");
            s.push_str(r);
        }
        s
    }
}

impl fmt::Display for RemoteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Splits `base` into the URL prefix up to the repository path (scheme, host and `/`), the
/// host name, and the rest.
fn split_host(base: &str) -> Option<(String, String, &str)> {
    for scheme in ["https://", "http://", "ssh://", "git://"] {
        if let Some(after) = base.strip_prefix(scheme) {
            let (host, rest) = after.split_once('/')?;
            if host.is_empty() {
                return None;
            }
            let name = host.rsplit('@').next().unwrap_or(host);
            let name = name.split(':').next().unwrap_or(name).to_owned();
            return Some((format!("{scheme}{host}/"), name, rest));
        }
    }
    if let Some(after) = base.strip_prefix("file://") {
        // file:///abs/repo: the path keeps its leading '/'
        if !after.starts_with('/') {
            return None;
        }
        return Some(("file://".to_owned(), String::new(), after));
    }
    if base.contains("://") {
        return None;
    }
    // scp-like: [user@]host:org/repo
    if let Some((host, rest)) = base.split_once(':') {
        if !host.contains('/') && (host.contains('@') || host == "github.com") && !rest.starts_with('/') {
            let name = host.rsplit('@').next().unwrap_or(host).to_owned();
            if name == "github.com" && !host.contains('@') {
                return Some(("https://github.com/".to_owned(), name, rest));
            }
            return Some((format!("{host}:"), name, rest));
        }
    }
    // a host without scheme: github.com/org/repo is https
    let (host, rest) = base.split_once('/')?;
    if host.contains('.') && !host.starts_with('.') && !host.contains(':') {
        return Some((format!("https://{host}/"), host.to_owned(), rest));
    }
    None
}

/// Splits the repository part of a URL from the directory in it.
fn split_repo<'r>(host: &str, rest: &'r str) -> Option<(&'r str, &'r str)> {
    // `//` separates, but a file URL's own leading '/' does not count
    let lead = usize::from(rest.starts_with('/'));
    if let Some(i) = rest.get(lead..).and_then(|r| r.find("//")) {
        let i = i + lead;
        return Some((rest.get(..i)?, rest.get(i + 2..)?));
    }
    let segs: Vec<(usize, &str)> = segments(rest);
    let end_at = |n: usize| -> Option<(&'r str, &'r str)> {
        let (start, s) = segs.get(n)?;
        let end = start + s.len();
        Some((rest.get(..end)?, rest.get(end..)?))
    };
    if let Some(n) = segs.iter().position(|(_, s)| s.ends_with(".git")) {
        return end_at(n);
    }
    if let Some(n) = segs.iter().position(|(_, s)| *s == "_git") {
        return end_at(n + 1).or(Some((rest, "")));
    }
    let known = ["github.com", "gitlab.com", "bitbucket.org"];
    if known.contains(&host) && segs.len() > 2 {
        return end_at(1);
    }
    Some((rest, ""))
}

/// The non-empty `/`-separated segments of `s` with their byte offsets.
fn segments(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for part in s.split('/') {
        if !part.is_empty() {
            out.push((start, part));
        }
        start += part.len() + 1;
    }
    out
}

/// The resolver a build loads remote targets with ([`super::BuildOptions::with_remote`]).
#[derive(Clone)]
pub(crate) struct Remote(pub(crate) Arc<dyn SourceResolver>);

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Remote(..)")
    }
}

impl PartialEq for Remote {
    fn eq(&self, other: &Remote) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Remote {}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(entry: &str) -> (String, String, Option<String>) {
        let r = RemoteTarget::parse(entry).unwrap_or_else(|| panic!("{entry} should parse"));
        (r.repo_url, r.path, r.reference)
    }

    fn s(a: &str, b: &str, c: Option<&str>) -> (String, String, Option<String>) {
        (a.to_owned(), b.to_owned(), c.map(str::to_owned))
    }

    #[test]
    fn https_with_double_slash_and_ref() {
        assert_eq!(
            t("https://github.com/org/repo//path/to/base?ref=v1.2.0"),
            s("https://github.com/org/repo", "path/to/base", Some("v1.2.0"))
        );
        assert_eq!(
            t("https://github.com/org/repo.git//path/?ref=v1&timeout=10s"),
            s("https://github.com/org/repo.git", "path", Some("v1"))
        );
    }

    #[test]
    fn github_shorthand() {
        assert_eq!(
            t("github.com/org/repo/path?ref=main"),
            s("https://github.com/org/repo", "path", Some("main"))
        );
        assert_eq!(
            t("github.com/org/repo?ref=main"),
            s("https://github.com/org/repo", "", Some("main"))
        );
        assert_eq!(
            t("https://github.com/org/repo/a/b"),
            s("https://github.com/org/repo", "a/b", None)
        );
        assert_eq!(
            t("github.com:org/repo//a?ref=x"),
            s("https://github.com/org/repo", "a", Some("x"))
        );
    }

    #[test]
    fn git_prefix() {
        assert_eq!(
            t("git::https://gitlab.com/org/repo.git//dir?ref=x"),
            s("https://gitlab.com/org/repo.git", "dir", Some("x"))
        );
        assert_eq!(
            t("git::https://example.com/org/repo?ref=x"),
            s("https://example.com/org/repo", "", Some("x"))
        );
    }

    #[test]
    fn ssh_and_scp_like() {
        assert_eq!(
            t("ssh://git@host/org/repo.git//dir?ref=tag"),
            s("ssh://git@host/org/repo.git", "dir", Some("tag"))
        );
        assert_eq!(
            t("ssh://git@github.com:22/org/repo/dir"),
            s("ssh://git@github.com:22/org/repo", "dir", None)
        );
        assert_eq!(
            t("git@github.com:org/repo/dir?version=v2"),
            s("git@github.com:org/repo", "dir", Some("v2"))
        );
        assert_eq!(
            t("git@gitlab.example.com:group/repo.git/deploy/base?ref=v3"),
            s("git@gitlab.example.com:group/repo.git", "deploy/base", Some("v3"))
        );
    }

    #[test]
    fn azure_git() {
        assert_eq!(
            t("https://dev.azure.com/org/project/_git/repo/dir/sub?ref=main"),
            s(
                "https://dev.azure.com/org/project/_git/repo",
                "dir/sub",
                Some("main")
            )
        );
        assert_eq!(
            t("https://org@dev.azure.com/org/project/_git/repo"),
            s("https://org@dev.azure.com/org/project/_git/repo", "", None)
        );
    }

    #[test]
    fn file_urls() {
        assert_eq!(
            t("file:///abs/repo//dir?ref=x"),
            s("file:///abs/repo", "dir", Some("x"))
        );
        assert_eq!(t("file:///abs/repo?ref=x"), s("file:///abs/repo", "", Some("x")));
        assert_eq!(
            t("file:///abs/repo.git/base"),
            s("file:///abs/repo.git", "base", None)
        );
    }

    #[test]
    fn ref_wins_over_version() {
        assert_eq!(
            t("github.com/org/repo?version=a&ref=b"),
            s("https://github.com/org/repo", "", Some("b"))
        );
    }

    #[test]
    fn not_git_targets() {
        for e in [
            "../base",
            "deploy.yaml",
            "base/",
            "https://raw.githubusercontent.com/org/repo/main/deploy.yaml",
            "oci://registry/x",
            "file://relative/path",
            "https://",
        ] {
            assert_eq!(RemoteTarget::parse(e), None, "{e}");
        }
    }

    #[test]
    fn detection() {
        for e in [
            "https://github.com/org/repo//a?ref=v1",
            "github.com/org/repo/a",
            "git::https://x/y",
            "git@github.com:org/repo",
            "ssh://git@host/r.git",
            "file:///abs/repo//dir",
        ] {
            assert!(is_remote(e), "{e}");
        }
        for e in ["../base", "base", "a/b.yaml"] {
            assert!(!is_remote(e), "{e}");
        }
    }

    #[test]
    fn display_round_trips() {
        let r = RemoteTarget::parse("github.com/org/repo/a/b?ref=v1").unwrap_or_else(|| panic!("parse"));
        assert_eq!(r.to_string(), "https://github.com/org/repo//a/b?ref=v1");
        assert_eq!(RemoteTarget::parse(&r.to_string()), Some(r));
    }
}
