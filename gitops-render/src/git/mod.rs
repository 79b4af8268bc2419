//! Git sources: [`GitResolver`] fetches remote repositories with [gix](https://docs.rs/gix) into
//! a local cache (local repositories are read in place), resolves `targetRevision` to a commit,
//! and serves the commit's tree as a [`GitTree`] read straight from the object database (no
//! checkout). [`DefaultResolver`] dispatches between it and [`LocalResolver`].
//!
//! No `git` program is ever run, except `ssh` for SSH URLs.
//!
//! # Transports
//! - `git://` (the git daemon protocol) is pure Rust.
//! - `file://` URLs and local paths are not fetched: the repository (bare or with a work tree)
//!   is opened in place with gix and read directly, in process (see
//!   [Local repositories](#local-repositories-in-place)).
//! - `ssh://` and `git@host:path` run the `ssh` program (`-o BatchMode=yes`; with
//!   [`Credential::SshKey`], `-i <key> -o IdentitiesOnly=yes`).
//! - `http://` and `https://` use Git's smart HTTP protocol, in process (reqwest, with rustls and
//!   the ring crypto provider, which is installed as the process default when no other provider
//!   is; server certificates are checked against the system's trust store). The dumb HTTP
//!   protocol is not supported.
//!
//! Repositories are opened *isolated*: the user's and the system's Git configuration, credential
//! helpers and prompts are never consulted; credentials come only from [`Credentials`].
//!
//! # Credentials over HTTP
//! [`Credential::Basic`] and [`Credential::Token`] are sent as HTTP basic authentication when the
//! server asks for them (a `401` response), as `git` does; user information in the URL
//! (`https://user:password@host/repo`) is sent with the first request. Like `git` and Argo CD,
//! credentials are sent over plain `http://` too when they are configured for such a URL. A
//! server asking for credentials when none are configured is an error.
//!
//! # Revision resolution (Argo CD `lsRemote`, spec ops §5.1)
//! 1. A full 40-hex SHA is used as is: no network call when the commit is already cached.
//! 2. Otherwise the remote's refs are listed (cached for [`GitResolver::with_ref_cache_ttl`],
//!    3 minutes by default, per repository; this holds for local repositories too, whose refs
//!    are read from disk). Empty means `HEAD`, the remote's default branch.
//! 3. An exact version (`v1.2.3`, `1.0`) is a plain name; a semver constraint (`*`, `1.2.*`,
//!    `>=1.0.0 <2.0.0`, `~1.2`, `^1.2`, `1.0 - 2.0`, `a || b`, `v` prefixes allowed) picks the
//!    highest matching *tag*; pre-releases need a `-0` suffix. `tagPrefix` filters tags by
//!    prefix and strips it before matching; with a `tagPrefix` the revision must be a constraint.
//! 4. A name matches `refs/heads/<name>`, `refs/tags/<name>` (first listed wins, branches before
//!    tags) or a full ref name (`refs/heads/main`); `HEAD` follows the symbolic ref.
//! 5. A truncated SHA (7+ hex digits) that matched no ref is looked up among the fetched objects.
//! 6. Anything else is [`ErrorKind::NotFound`]: `unable to resolve '<rev>' to a commit sha`.
//!
//! # Fetching and caching
//! - One bare repository per URL under the cache directory (the directory name is a readable
//!   tail and a hash of the URL without user information).
//! - Listing refs and fetching share one connection: the pack is only requested when the
//!   resolved commit is not already in the cache (`git cat-file -t` in Argo CD). A fetch is a
//!   full one (`+refs/heads/*`, `+refs/tags/*`), never a single revision (issue #8845).
//! - A commit is immutable: trees are cached by commit, and a full SHA already in the cache is
//!   served without any network call.
//! - When the remote cannot be reached, a revision resolved before keeps resolving to its last
//!   good commit; the error is kept in [`GitResolver::last_error`].
//!
//! # Local repositories, in place
//! A `file://` URL (`file:///path` or `file://localhost/path`) or a local path naming a Git
//! repository, bare or not, is never fetched or copied: it is opened where it is with
//! `gix::open` (isolated, as above) and refs, tags, SHAs and semver constraints are resolved, and
//! trees read, from its own object database. Nothing is written to the cache directory.
//! - Ref lookups keep the TTL semantics: a branch that moves in the repository is seen once the
//!   listed refs are older than the TTL (or at once after [`GitResolver::invalidate_refs`], or
//!   with a TTL of zero). Each reading of the refs counts as one
//!   [`ls_remotes`](GitStats::ls_remotes); [`fetches`](GitStats::fetches) never grows.
//! - Trees are cached by commit, as for remote repositories.
//! - When the repository cannot be opened (moved away, deleted), a revision resolved before keeps
//!   resolving to its last good commit as long as that commit's [`GitTree`] is in the tree cache
//!   (it was served before), and the error is kept in [`GitResolver::last_error`]. There is no
//!   copy of the objects: the served tree reads its objects from the repository, so files (and
//!   directories) not read before may then fail to read.
//!
//! # Local repositories ([`DefaultResolver`])
//! A local path or `file://` URL naming a **work tree** is read as a directory ([`FsTree`](crate::FsTree),
//! revision `local`, uncommitted changes included) unless `targetRevision` is set to something
//! other than `HEAD`; then the committed tree at that revision is read through Git. A **bare**
//! repository is always read through Git (it has no files to read). Anything that is not a Git
//! repository is a plain directory.
//!
//! # Errors
//! Messages are lowercase and name the repository with its user information redacted
//! (`https://***@host/org/repo`) and the revision; passwords and tokens never appear in errors
//! or `Debug` output.

mod credentials;
mod paths;
mod revision;
mod tree;
mod url;

pub use credentials::{Credential, CredentialSet, Credentials, NoCredentials, Secret};
pub use paths::{MANIFEST_GENERATE_PATHS_ANNOTATION, affects};
pub use tree::GitTree;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use gitops_core::engine::{EngineError, ErrorKind, ResolveContext, SharedSourceTree, SourceResolver};
use gitops_core::model::ApplicationSource;
use gix::ObjectId;

use crate::resolve::{LocalResolver, check_app_dir, is_remote};
use crate::tree::{DEFAULT_MAX_DIR_ENTRIES, DEFAULT_MAX_FILE_BYTES, lowercase_first};
use revision::{RemoteRef, Resolution};
use url::Transport;

/// How long listed refs are reused by default (Argo CD's revision cache expiration fallback).
pub const DEFAULT_REF_CACHE_TTL: Duration = Duration::from_secs(180);

/// Most commit trees kept per repository (the cache is cleared when it is full).
const MAX_CACHED_TREES: usize = 64;

/// Counters of network operations, for tests and metrics (Argo CD's
/// `argocd_git_request_total{request_type=ls-remote|fetch}`).
///
/// For local repositories (read in place), each reading of the refs from disk counts as an
/// `ls_remote`, and nothing is ever fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitStats {
    /// Ref listings (`ls-remote`), successful or not.
    pub ls_remotes: u64,
    /// Pack fetches, successful or not (never for local repositories).
    pub fetches: u64,
}

/// A [`SourceResolver`] for Git repositories, with a local cache of bare repositories for
/// remote ones.
///
/// See the [module documentation](self) for transports, revision resolution and caching.
/// `file://` URLs and local paths that are Git repositories are accepted too and read through
/// Git, in place (use [`DefaultResolver`] to read work trees as directories).
///
/// ```no_run
/// use gitops_core::engine::{ResolveContext, SourceResolver};
/// use gitops_core::model::ApplicationSource;
/// use gitops_render::git::GitResolver;
/// let git = GitResolver::new("/var/cache/gitops/repos");
/// let source = ApplicationSource {
///     repo_url: "git://git.example.com/apps.git".into(),
///     target_revision: Some("^1.2".into()),
///     path: Some("guestbook".into()),
///     ..Default::default()
/// };
/// let tree = git.resolve(&source, &ResolveContext::default())?;
/// println!("guestbook at {}", tree.revision());
/// # Ok::<(), gitops_core::engine::EngineError>(())
/// ```
pub struct GitResolver {
    cache_dir: PathBuf,
    credentials: Arc<dyn Credentials>,
    ref_ttl: Duration,
    max_file_bytes: u64,
    max_dir_entries: usize,
    repos: Mutex<HashMap<String, Arc<RepoEntry>>>,
    ls_remotes: AtomicU64,
    fetches: AtomicU64,
}

impl fmt::Debug for GitResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitResolver")
            .field("cache_dir", &self.cache_dir)
            .field("credentials", &self.credentials)
            .field("ref_ttl", &self.ref_ttl)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_dir_entries", &self.max_dir_entries)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// One cached repository.
struct RepoEntry {
    /// The bare repository in the cache directory, or the local repository itself when `local`.
    dir: PathBuf,
    /// A `file://` repository, read in place: never fetched.
    local: bool,
    /// Held during network operations and cache initialisation on this repository.
    net: Mutex<()>,
    state: Mutex<RepoState>,
}

#[derive(Default)]
struct RepoState {
    /// The last ref listing and when it was made.
    refs: Option<(Instant, Arc<Vec<RemoteRef>>)>,
    /// Last good commit per (tagPrefix, revision).
    last_good: HashMap<(String, String), String>,
    /// The error of the last failed remote operation, cleared by a successful one.
    last_error: Option<String>,
    /// Trees by commit.
    trees: HashMap<String, Arc<GitTree>>,
}

/// Locks a mutex, turning poisoning into an error.
fn lock<'a, T>(m: &'a Mutex<T>, what: &str) -> Result<MutexGuard<'a, T>, EngineError> {
    m.lock()
        .map_err(|_| EngineError::other(format!("{what}: lock poisoned by a panic in another thread")))
}

/// Opens a bare cache repository, isolated from the user's and the system's configuration.
pub(crate) fn open_repo(git_dir: &Path, repo_label: &str) -> Result<gix::Repository, EngineError> {
    open_repo_with(git_dir, repo_label, Vec::new())
}

fn open_repo_with(
    git_dir: &Path,
    repo_label: &str,
    overrides: Vec<String>,
) -> Result<gix::Repository, EngineError> {
    gix::open_opts(
        git_dir,
        gix::open::Options::isolated().config_overrides(overrides),
    )
    .map_err(|e| {
        EngineError::other(format!(
            "repository {repo_label}: cannot open the cache at {}: {}",
            git_dir.display(),
            lowercase_first(&e.to_string())
        ))
    })
}

impl GitResolver {
    /// A resolver caching repositories under `cache_dir` (created on first use), with no
    /// credentials and a ref cache TTL of [`DEFAULT_REF_CACHE_TTL`].
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        GitResolver {
            cache_dir: cache_dir.into(),
            credentials: Arc::new(NoCredentials),
            ref_ttl: DEFAULT_REF_CACHE_TTL,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_dir_entries: DEFAULT_MAX_DIR_ENTRIES,
            repos: Mutex::new(HashMap::new()),
            ls_remotes: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        }
    }

    /// Uses `credentials` for every repository.
    #[must_use]
    pub fn with_credentials(mut self, credentials: impl Credentials) -> Self {
        self.credentials = Arc::new(credentials);
        self
    }

    /// How long a ref listing is reused before branches and `HEAD` are looked up again
    /// (`Duration::ZERO` lists refs on every resolve).
    #[must_use]
    pub fn with_ref_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ref_ttl = ttl;
        self
    }

    /// The largest file the returned trees read, in bytes.
    #[must_use]
    pub fn with_max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
        self
    }

    /// The most entries the returned trees list in one directory.
    #[must_use]
    pub fn with_max_dir_entries(mut self, limit: usize) -> Self {
        self.max_dir_entries = limit;
        self
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Where the bare repository for `repo_url` is (or will be) cached. Local repositories
    /// (`file://`) are read in place and never cached there.
    pub fn repo_dir(&self, repo_url: &str) -> PathBuf {
        self.cache_dir.join(url::cache_dir_name(repo_url))
    }

    /// The network operations done so far.
    pub fn stats(&self) -> GitStats {
        GitStats {
            ls_remotes: self.ls_remotes.load(Ordering::Relaxed),
            fetches: self.fetches.load(Ordering::Relaxed),
        }
    }

    /// The error of the last failed remote operation on `repo_url` (redacted), if the last
    /// operation failed — including when the resolver fell back to a last good commit.
    pub fn last_error(&self, repo_url: &str) -> Option<String> {
        let entry = self.entry_if_known(repo_url)?;
        let state = entry.state.lock().ok()?;
        state.last_error.clone()
    }

    /// Forgets the listed refs of `repo_url`, so that the next resolve lists them again (a hard
    /// refresh).
    pub fn invalidate_refs(&self, repo_url: &str) {
        if let Some(entry) = self.entry_if_known(repo_url)
            && let Ok(mut state) = entry.state.lock()
        {
            state.refs = None;
        }
    }

    /// Resolves `revision` (with an optional `tag_prefix`, `""` for none) to a full commit SHA,
    /// fetching what is missing (local repositories are read in place). See the
    /// [module documentation](self).
    pub fn resolve_revision(
        &self,
        repo_url: &str,
        revision: &str,
        tag_prefix: &str,
    ) -> Result<String, EngineError> {
        let repo_url = repo_url.trim();
        let entry = self.entry(repo_url)?;
        let _net = lock(&entry.net, "git cache")?;
        self.resolve_locked(&entry, repo_url, revision, tag_prefix)
    }

    /// The tree of `commit` (a full SHA) in `repo_url`, fetching when the commit is not cached
    /// (local repositories are read in place).
    pub fn tree(&self, repo_url: &str, commit: &str) -> Result<Arc<GitTree>, EngineError> {
        let repo_url = repo_url.trim();
        let entry = self.entry(repo_url)?;
        let _net = lock(&entry.net, "git cache")?;
        let commit = commit.to_ascii_lowercase();
        if !revision::is_full_sha(&commit) {
            return Err(EngineError::invalid(format!(
                "repository {}: {commit} is not a full commit sha",
                url::redact(repo_url)
            )));
        }
        self.ensure_commit(&entry, repo_url, &commit)?;
        self.tree_locked(&entry, repo_url, &commit)
    }

    /// The files that differ between commits `from_commit` and `to_commit` of `repo_url`
    /// (repository-relative paths, sorted), fetching what is missing; input for
    /// [`affects`].
    pub fn changed_paths(
        &self,
        repo_url: &str,
        from_commit: &str,
        to_commit: &str,
    ) -> Result<Vec<String>, EngineError> {
        let repo_url = repo_url.trim();
        let label = url::redact(repo_url);
        let entry = self.entry(repo_url)?;
        let _net = lock(&entry.net, "git cache")?;
        let mut roots = Vec::new();
        for commit in [from_commit, to_commit] {
            let commit = if revision::is_full_sha(commit) {
                commit.to_ascii_lowercase()
            } else {
                self.resolve_locked(&entry, repo_url, commit, "")?
            };
            self.ensure_commit(&entry, repo_url, &commit)?;
            roots.push(commit);
        }
        let repo = self.open_entry(&entry, repo_url, &format!("{from_commit}..{to_commit}"))?;
        let tree_of = |commit: &str| -> Result<ObjectId, EngineError> {
            let id = ObjectId::from_hex(commit.as_bytes()).map_err(|e| {
                EngineError::invalid(format!("repository {label}: {commit} is not a sha: {e}"))
            })?;
            repo.find_commit(id)
                .and_then(|c| c.tree_id().map(gix::Id::detach))
                .map_err(|e| {
                    self.error(
                        ErrorKind::NotFound,
                        &label,
                        commit,
                        "cannot read commit",
                        &e.to_string(),
                        repo_url,
                    )
                })
        };
        let (a, b) = (tree_of(&roots[0])?, tree_of(&roots[1])?);
        paths::diff_trees(&repo, a, b).map_err(|e| {
            self.error(
                ErrorKind::Other,
                &label,
                &format!("{}..{}", roots[0], roots[1]),
                "cannot compare trees",
                &e.to_string(),
                repo_url,
            )
        })
    }

    /// A lowercase error naming the repository and revision, with credentials scrubbed.
    fn error(
        &self,
        kind: ErrorKind,
        label: &str,
        revision: &str,
        what: &str,
        cause: &str,
        repo_url: &str,
    ) -> EngineError {
        let credential = self.credentials.credential_for(repo_url);
        let cause = url::scrub(&lowercase_first(cause), repo_url, &credential.secrets());
        EngineError::new(
            kind,
            format!("repository {label} at revision {revision}: {what}: {cause}"),
        )
    }

    fn entry_if_known(&self, repo_url: &str) -> Option<Arc<RepoEntry>> {
        let repos = self.repos.lock().ok()?;
        repos.get(&url::cache_key(repo_url)).cloned()
    }

    fn entry(&self, repo_url: &str) -> Result<Arc<RepoEntry>, EngineError> {
        let key = url::cache_key(repo_url);
        let local = url::transport(repo_url) == Some(Transport::File);
        let dir = if local {
            file_url_path(repo_url)?
        } else {
            self.repo_dir(repo_url)
        };
        let mut repos = lock(&self.repos, "git cache")?;
        Ok(Arc::clone(repos.entry(key).or_insert_with(|| {
            Arc::new(RepoEntry {
                dir,
                local,
                net: Mutex::new(()),
                state: Mutex::new(RepoState::default()),
            })
        })))
    }

    fn resolve_locked(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        rev: &str,
        tag_prefix: &str,
    ) -> Result<String, EngineError> {
        let label = url::redact(repo_url);
        let rev = rev.trim();
        let shown_rev = if rev.is_empty() { "HEAD" } else { rev };
        if revision::is_full_sha(rev) {
            let commit = rev.to_ascii_lowercase();
            self.ensure_commit(entry, repo_url, &commit)?;
            return Ok(commit);
        }
        let key = (tag_prefix.to_owned(), shown_rev.to_owned());
        let cached = {
            let state = lock(&entry.state, "git cache")?;
            state
                .refs
                .as_ref()
                .filter(|(at, _)| at.elapsed() < self.ref_ttl)
                .map(|(_, refs)| Arc::clone(refs))
        };
        let result = match cached {
            Some(refs) => {
                let resolution = self.resolution(&refs, repo_url, shown_rev, tag_prefix)?;
                self.materialize(entry, repo_url, shown_rev, resolution)
            }
            None if entry.local => self.list_local(entry, repo_url, shown_rev, tag_prefix),
            None => self.list_and_fetch(entry, repo_url, shown_rev, tag_prefix),
        };
        let mut state = lock(&entry.state, "git cache")?;
        match result {
            Ok(commit) => {
                state.last_good.insert(key, commit.clone());
                state.last_error = None;
                Ok(commit)
            }
            Err(e) if e.kind() == ErrorKind::Unavailable || e.kind() == ErrorKind::Timeout => {
                state.last_error = Some(e.message().to_owned());
                let servable = |commit: &str| {
                    (entry.local && state.trees.contains_key(commit))
                        || self.has_commit(entry, &label, commit)
                };
                match state.last_good.get(&key) {
                    Some(commit) if servable(commit) => Ok(commit.clone()),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn resolution(
        &self,
        refs: &[RemoteRef],
        repo_url: &str,
        rev: &str,
        tag_prefix: &str,
    ) -> Result<Resolution, EngineError> {
        let label = url::redact(repo_url);
        match revision::resolve(refs, rev, tag_prefix) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(unresolved(&label, rev)),
            Err(msg) => Err(EngineError::invalid(format!(
                "repository {label} at revision {rev}: {msg}"
            ))),
        }
    }

    /// Turns a resolution into a commit that is in the cache, fetching if needed.
    fn materialize(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        rev: &str,
        resolution: Resolution,
    ) -> Result<String, EngineError> {
        match resolution {
            Resolution::Commit(commit) => {
                self.ensure_commit(entry, repo_url, &commit)?;
                Ok(commit)
            }
            Resolution::ShortSha(prefix) => {
                let label = url::redact(repo_url);
                if let Some(found) = self.lookup_prefix(entry, repo_url, &prefix, rev)? {
                    return Ok(found);
                }
                if entry.local {
                    return Err(unresolved(&label, rev));
                }
                self.fetch_all(entry, repo_url, rev)?;
                self.lookup_prefix(entry, repo_url, &prefix, rev)?
                    .ok_or_else(|| unresolved(&label, rev))
            }
        }
    }

    /// Lists the remote's refs and, in the same connection, fetches when the resolved commit is
    /// not cached.
    fn list_and_fetch(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        rev: &str,
        tag_prefix: &str,
    ) -> Result<String, EngineError> {
        let label = url::redact(repo_url);
        let mut outcome: Option<Result<Resolution, EngineError>> = None;
        let mut decide = |repo: &gix::Repository, refs: &[RemoteRef]| -> bool {
            let resolution = self.resolution(refs, repo_url, rev, tag_prefix);
            let fetch = match &resolution {
                Ok(Resolution::Commit(c)) => !repo_has_commit(repo, c),
                Ok(Resolution::ShortSha(p)) => !matches!(lookup_prefix_in(repo, p), Ok(Some(_))),
                Err(_) => false,
            };
            outcome = Some(resolution);
            fetch
        };
        self.remote_round(entry, repo_url, rev, &mut decide)?;
        let resolution = outcome.unwrap_or_else(|| {
            Err(EngineError::other(format!(
                "repository {label} at revision {rev}: no refs were listed"
            )))
        })?;
        match resolution {
            Resolution::Commit(commit) => {
                if self.has_commit(entry, &label, &commit) {
                    Ok(commit)
                } else {
                    Err(EngineError::not_found(format!(
                        "repository {label} at revision {rev}: commit {commit} was not fetched"
                    )))
                }
            }
            Resolution::ShortSha(prefix) => self
                .lookup_prefix(entry, repo_url, &prefix, rev)?
                .ok_or_else(|| unresolved(&label, rev)),
        }
    }

    /// Reads the refs of a local repository in place (counted as a ref listing) and resolves
    /// `rev` against them; nothing is fetched.
    fn list_local(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        rev: &str,
        tag_prefix: &str,
    ) -> Result<String, EngineError> {
        let label = url::redact(repo_url);
        self.ls_remotes.fetch_add(1, Ordering::Relaxed);
        let repo = self.open_entry(entry, repo_url, rev)?;
        let refs = local_refs(&repo).map_err(|e| {
            self.error(
                ErrorKind::Unavailable,
                &label,
                rev,
                "cannot list refs",
                &e,
                repo_url,
            )
        })?;
        let refs = Arc::new(refs);
        lock(&entry.state, "git cache")?.refs = Some((Instant::now(), Arc::clone(&refs)));
        let resolution = self.resolution(&refs, repo_url, rev, tag_prefix)?;
        self.materialize(entry, repo_url, rev, resolution)
    }

    /// Opens the repository of `entry`: the local repository itself (an error is
    /// [`ErrorKind::Unavailable`]) or the cache.
    fn open_entry(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        rev: &str,
    ) -> Result<gix::Repository, EngineError> {
        let label = url::redact(repo_url);
        if !entry.local {
            return open_repo(&entry.dir, &label);
        }
        gix::open_opts(&entry.dir, gix::open::Options::isolated()).map_err(|e| {
            self.error(
                ErrorKind::Unavailable,
                &label,
                rev,
                &format!("cannot open the repository at {}", entry.dir.display()),
                &error_chain(&e),
                repo_url,
            )
        })
    }

    /// Makes sure `commit` is in the cache, fetching everything when it is not. For a local
    /// repository, makes sure the commit is in it (or its tree in the tree cache).
    fn ensure_commit(&self, entry: &RepoEntry, repo_url: &str, commit: &str) -> Result<(), EngineError> {
        let label = url::redact(repo_url);
        if entry.local {
            if lock(&entry.state, "git cache")?.trees.contains_key(commit) {
                return Ok(());
            }
            let repo = self.open_entry(entry, repo_url, commit)?;
            return if repo_has_commit(&repo, commit) {
                Ok(())
            } else {
                Err(EngineError::not_found(format!(
                    "repository {label}: unable to resolve '{commit}' to a commit sha: no such commit"
                )))
            };
        }
        if self.has_commit(entry, &label, commit) {
            return Ok(());
        }
        self.fetch_all(entry, repo_url, commit)?;
        if self.has_commit(entry, &label, commit) {
            Ok(())
        } else {
            Err(EngineError::not_found(format!(
                "repository {label}: unable to resolve '{commit}' to a commit sha: no such commit"
            )))
        }
    }

    fn fetch_all(&self, entry: &RepoEntry, repo_url: &str, rev: &str) -> Result<(), EngineError> {
        if entry.local {
            // Read in place: there is nothing to fetch (and no `git-upload-pack` to run).
            return Ok(());
        }
        let mut always = |_: &gix::Repository, _: &[RemoteRef]| true;
        self.remote_round(entry, repo_url, rev, &mut always)
    }

    fn has_commit(&self, entry: &RepoEntry, label: &str, commit: &str) -> bool {
        if !entry.dir.exists() {
            return false;
        }
        open_repo(&entry.dir, label).is_ok_and(|repo| repo_has_commit(&repo, commit))
    }

    fn lookup_prefix(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        prefix: &str,
        rev: &str,
    ) -> Result<Option<String>, EngineError> {
        let label = url::redact(repo_url);
        if !entry.local && !entry.dir.exists() {
            return Ok(None);
        }
        let repo = self.open_entry(entry, repo_url, rev)?;
        lookup_prefix_in(&repo, prefix)
            .map_err(|msg| EngineError::invalid(format!("repository {label} at revision {rev}: {msg}")))
    }

    fn tree_locked(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        commit: &str,
    ) -> Result<Arc<GitTree>, EngineError> {
        if let Some(tree) = lock(&entry.state, "git cache")?.trees.get(commit) {
            return Ok(Arc::clone(tree));
        }
        let tree = Arc::new(
            GitTree::open(&entry.dir, commit, &url::redact(repo_url))?
                .with_max_file_bytes(self.max_file_bytes)
                .with_max_dir_entries(self.max_dir_entries),
        );
        let mut state = lock(&entry.state, "git cache")?;
        if state.trees.len() >= MAX_CACHED_TREES {
            state.trees.clear();
        }
        state.trees.insert(commit.to_owned(), Arc::clone(&tree));
        Ok(tree)
    }

    /// Creates the bare cache repository if needed.
    fn init_cache(&self, entry: &RepoEntry, label: &str) -> Result<(), EngineError> {
        if entry.dir.join("HEAD").exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.cache_dir).map_err(|e| {
            EngineError::other(format!(
                "repository {label}: cannot create the cache directory {}: {}",
                self.cache_dir.display(),
                lowercase_first(&e.to_string())
            ))
        })?;
        // Initialised under a temporary name and renamed, so that a half-made cache is never used.
        let tmp = self.cache_dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            url::cache_dir_name(label)
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        gix::init_bare(&tmp).map_err(|e| {
            EngineError::other(format!(
                "repository {label}: cannot initialise the cache at {}: {}",
                tmp.display(),
                lowercase_first(&e.to_string())
            ))
        })?;
        std::fs::rename(&tmp, &entry.dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            EngineError::other(format!(
                "repository {label}: cannot create the cache at {}: {}",
                entry.dir.display(),
                lowercase_first(&e.to_string())
            ))
        })
    }

    /// One connection: handshake, list refs (updating the ref cache), and fetch a pack when
    /// `decide` says so.
    fn remote_round(
        &self,
        entry: &RepoEntry,
        repo_url: &str,
        rev: &str,
        decide: &mut dyn FnMut(&gix::Repository, &[RemoteRef]) -> bool,
    ) -> Result<(), EngineError> {
        let label = url::redact(repo_url);
        let credential = self.credentials.credential_for(repo_url);
        // Configured credentials first, else the URL's user information (which gix also sends
        // with the first request).
        let user_password = credential
            .user_password()
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
            .or_else(|| url_user_password(repo_url));
        let mut owned_secrets: Vec<String> = credential.secrets().into_iter().map(str::to_owned).collect();
        if let Some((_, password)) = &user_password {
            owned_secrets.push(password.clone());
        }
        let secrets: Vec<&str> = owned_secrets.iter().map(String::as_str).collect();
        let fail = |kind: ErrorKind, what: &str, cause: &dyn std::error::Error| {
            let cause = url::scrub(&error_chain(cause), repo_url, &secrets);
            EngineError::new(
                kind,
                format!("repository {label} at revision {rev}: {what}: {cause}"),
            )
        };
        let transport = url::transport(repo_url);
        if transport == Some(Transport::Http) {
            install_tls_provider();
        }
        let gix_url = to_gix_url(repo_url);
        self.init_cache(entry, &label)?;
        let mut overrides = Vec::new();
        if matches!(transport, Some(Transport::Ssh)) {
            let mut cmd = "ssh -o BatchMode=yes".to_owned();
            if let Credential::SshKey { path } = &credential {
                let path = path.display().to_string().replace('\'', "'\\''");
                cmd.push_str(&format!(" -i '{path}' -o IdentitiesOnly=yes"));
            }
            overrides.push(format!("core.sshCommand={cmd}"));
        }
        let repo = open_repo_with(&entry.dir, &label, overrides)?;
        let remote = repo
            .remote_at(gix_url.as_str())
            .and_then(|r| {
                r.with_refspecs(
                    ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                    gix::remote::Direction::Fetch,
                )
            })
            .map(|r| r.with_fetch_tags(gix::remote::fetch::Tags::None))
            .map_err(|e| fail(ErrorKind::Invalid, "invalid repository url", &e))?;
        self.ls_remotes.fetch_add(1, Ordering::Relaxed);
        let connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| fail(ErrorKind::Unavailable, "cannot connect", &e))?
            .with_credentials(move |action| credential_callback(&user_password, action));
        let options = gix::remote::ref_map::Options {
            prefix_from_spec_as_filter_on_remote: false,
            ..Default::default()
        };
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, options)
            .map_err(|e| fail(ErrorKind::Unavailable, "cannot list refs", &e))?;
        let refs = Arc::new(convert_refs(&prepare.ref_map().remote_refs));
        lock(&entry.state, "git cache")?.refs = Some((Instant::now(), Arc::clone(&refs)));
        if !decide(&repo, &refs) {
            return Ok(());
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let interrupt = AtomicBool::new(false);
        prepare
            .with_write_packed_refs_only(true)
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| fail(ErrorKind::Unavailable, "cannot fetch", &e))?;
        Ok(())
    }
}

/// The user name and password in an `http(s)://` URL (percent-decoded), if it has both.
fn url_user_password(repo_url: &str) -> Option<(String, String)> {
    if url::transport(repo_url) != Some(Transport::Http) {
        return None;
    }
    let parsed = gix::url::parse(gix::bstr::BStr::new(repo_url.trim())).ok()?;
    Some((parsed.user()?.to_owned(), parsed.password()?.to_owned()))
}

/// An error and its sources, each starting lowercase, separated by `: ` (a source whose text is
/// already part of the message is left out).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = lowercase_first(&error.to_string());
    let mut source = error.source();
    while let Some(e) = source {
        let part = lowercase_first(&e.to_string());
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// Makes rustls' ring provider the process-wide default unless a provider is installed already:
/// reqwest is built without one (`rustls-no-provider`) and takes the default when gix creates
/// its HTTP client.
fn install_tls_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // An error means that another thread installed a provider first, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// Answers gix's credential requests (an HTTP server asking for authentication) from our
/// [`Credential`] only, never from helpers or prompts.
fn credential_callback(
    user_password: &Option<(String, String)>,
    action: gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    match (action, user_password) {
        (gix::credentials::helper::Action::Get(ctx), Some((username, password))) => {
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            }))
        }
        (gix::credentials::helper::Action::Get(_), None) => Err(gix::error::unauthenticated(
            "the server requires authentication and no credentials are configured for this repository",
        )
        .unauthenticated_error()),
        // Store and erase: nothing is stored.
        _ => Ok(None),
    }
}

/// The URL as gix parses it: scp-like addresses and URLs are passed as they are.
fn to_gix_url(repo_url: &str) -> String {
    repo_url.trim().to_owned()
}

fn convert_refs(refs: &[gix::protocol::handshake::Ref]) -> Vec<RemoteRef> {
    use gix::protocol::handshake::Ref;
    refs.iter()
        .filter_map(|r| match r {
            Ref::Peeled {
                full_ref_name,
                object,
                ..
            }
            | Ref::Direct {
                full_ref_name,
                object,
            } => Some(RemoteRef {
                name: full_ref_name.to_string(),
                target: None,
                commit: object.to_string(),
            }),
            Ref::Symbolic {
                full_ref_name,
                target,
                object,
                ..
            } => Some(RemoteRef {
                name: full_ref_name.to_string(),
                target: Some(target.to_string()),
                commit: object.to_string(),
            }),
            Ref::Unborn { .. } => None,
        })
        .collect()
}

/// The refs of a local repository as `git-upload-pack` would list them: `HEAD` (with its target
/// when symbolic; left out when unborn) and every ref, peeled to the object it designates.
/// Refs that cannot be read or peeled are left out, as `git` does.
fn local_refs(repo: &gix::Repository) -> Result<Vec<RemoteRef>, String> {
    let mut out = Vec::new();
    let head = repo
        .head()
        .map_err(|e| format!("cannot read HEAD: {}", error_chain(&e)))?;
    if !head.is_unborn() {
        let target = head.referent_name().map(|n| n.as_bstr().to_string());
        if let Ok(id) = head.into_peeled_id() {
            out.push(RemoteRef {
                name: "HEAD".to_owned(),
                target,
                commit: id.to_string(),
            });
        }
    }
    let platform = repo
        .references()
        .map_err(|e| format!("cannot read refs: {}", error_chain(&e)))?;
    let all = platform
        .all()
        .map_err(|e| format!("cannot read refs: {}", error_chain(&e)))?;
    for reference in all {
        let Ok(mut reference) = reference else {
            continue;
        };
        let name = reference.name().as_bstr().to_string();
        if let Ok(id) = reference.peel_to_id() {
            out.push(RemoteRef {
                name,
                target: None,
                commit: id.to_string(),
            });
        }
    }
    Ok(out)
}

/// The local path of a `file://` URL (`file:///path` or `file://localhost/path`).
fn file_url_path(repo_url: &str) -> Result<PathBuf, EngineError> {
    let trimmed = repo_url.trim();
    let rest = trimmed.get("file://".len()..).unwrap_or("");
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(EngineError::invalid(format!(
            "repository {}: a file:// url must name an absolute local path (file:///path)",
            url::redact(trimmed)
        )))
    }
}

fn repo_has_commit(repo: &gix::Repository, commit: &str) -> bool {
    ObjectId::from_hex(commit.as_bytes()).is_ok_and(|id| repo.find_commit(id).is_ok())
}

/// The one commit whose SHA starts with `prefix`; `Err` when it is ambiguous.
fn lookup_prefix_in(repo: &gix::Repository, prefix: &str) -> Result<Option<String>, String> {
    let prefix_id =
        gix::hash::Prefix::from_hex(prefix).map_err(|e| format!("invalid sha prefix {prefix}: {e}"))?;
    match repo.objects.lookup_prefix(prefix_id, None) {
        Ok(Some(Ok(id))) => Ok(repo.find_commit(id).is_ok().then(|| id.to_string())),
        Ok(Some(Err(()))) => Err(format!("short sha {prefix} is ambiguous")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!(
            "cannot look up {prefix}: {}",
            lowercase_first(&e.to_string())
        )),
    }
}

impl SourceResolver for GitResolver {
    fn resolve(
        &self,
        source: &ApplicationSource,
        ctx: &ResolveContext,
    ) -> Result<SharedSourceTree, EngineError> {
        let given = source.repo_url.trim();
        if let Some(chart) = source.chart.as_deref().filter(|c| !c.is_empty()) {
            return Err(EngineError::unsupported(format!(
                "chart {chart} from repository {}: Helm repositories are not supported by the git resolver",
                url::redact(given)
            )));
        }
        let repo_url = match url::transport(given) {
            Some(_) => given.to_owned(),
            None if is_remote(given) => {
                return Err(EngineError::unsupported(format!(
                    "repository {}: not a git url (git://, ssh://, git@host:, file:// or a local path)",
                    url::redact(given)
                )));
            }
            None => local_file_url(&LocalResolver::local_dir(given, ctx)?),
        };
        let label = url::redact(given);
        let rev = source.target_revision();
        let tag_prefix = source.tag_prefix.as_deref().unwrap_or("");
        let commit = self.resolve_revision(&repo_url, rev, tag_prefix)?;
        let tree = self.tree(&repo_url, &commit)?;
        let path = source.normalized_path();
        check_app_dir(
            tree.entry_kind(&path),
            &path,
            &label,
            &format!(" at revision {rev}"),
        )?;
        Ok(tree)
    }
}

/// A `file://` URL for a local directory (canonicalised when it exists).
fn local_file_url(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("file://{}", dir.display())
}

/// What a local directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocalKind {
    WorkTree,
    Bare,
    Plain,
}

fn local_kind(dir: &Path) -> LocalKind {
    if dir.join(".git").exists() {
        LocalKind::WorkTree
    } else if dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir() {
        LocalKind::Bare
    } else {
        LocalKind::Plain
    }
}

/// A [`SourceResolver`] that reads local directories with [`LocalResolver`] and Git
/// repositories with [`GitResolver`].
///
/// | `repoURL` | read as |
/// |---|---|
/// | `git://`, `ssh://`, `git@host:path`, `http(s)://` | [`GitResolver`] |
/// | local path or `file://` to a plain directory | [`FsTree`](crate::FsTree), revision `local` |
/// | local path or `file://` to a Git work tree, `targetRevision` empty or `HEAD` | [`FsTree`](crate::FsTree) of the work tree as it is (uncommitted changes included), revision `local` |
/// | local path or `file://` to a Git work tree, any other `targetRevision` | [`GitResolver`]: the committed tree at that revision |
/// | local path or `file://` to a bare repository | [`GitResolver`] |
/// | anything else (`oci://`, a Helm `chart`) | [`LocalResolver`]'s errors ([`ErrorKind::Unsupported`]) |
#[derive(Debug, Clone)]
pub struct DefaultResolver {
    local: LocalResolver,
    git: Arc<GitResolver>,
}

impl DefaultResolver {
    /// A resolver whose Git repositories are cached under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        DefaultResolver::with_git(Arc::new(GitResolver::new(cache_dir)))
    }

    /// A resolver using `git` for Git repositories.
    pub fn with_git(git: Arc<GitResolver>) -> Self {
        DefaultResolver {
            local: LocalResolver::new(),
            git,
        }
    }

    /// The Git resolver.
    pub fn git(&self) -> &Arc<GitResolver> {
        &self.git
    }

    fn route_local(
        &self,
        dir: &Path,
        source: &ApplicationSource,
        ctx: &ResolveContext,
    ) -> Result<SharedSourceTree, EngineError> {
        let through_git = match local_kind(dir) {
            LocalKind::Bare => true,
            LocalKind::WorkTree => !revision::is_head(source.target_revision()),
            LocalKind::Plain => false,
        };
        if through_git {
            let git_source = ApplicationSource {
                repo_url: local_file_url(dir),
                ..source.clone()
            };
            self.git.resolve(&git_source, ctx)
        } else {
            self.local.resolve(source, ctx)
        }
    }
}

impl SourceResolver for DefaultResolver {
    fn resolve(
        &self,
        source: &ApplicationSource,
        ctx: &ResolveContext,
    ) -> Result<SharedSourceTree, EngineError> {
        let url = source.repo_url.trim();
        if source.chart.as_deref().is_some_and(|c| !c.is_empty()) {
            return self.local.resolve(source, ctx);
        }
        match url::transport(url) {
            Some(Transport::File) => {
                let dir = LocalResolver::local_dir(url, ctx)?;
                self.route_local(&dir, source, ctx)
            }
            Some(_) => self.git.resolve(source, ctx),
            None if is_remote(url) || url.is_empty() => self.local.resolve(source, ctx),
            None => {
                let dir = LocalResolver::local_dir(url, ctx)?;
                self.route_local(&dir, source, ctx)
            }
        }
    }
}

/// The error for a revision that names no commit.
fn unresolved(label: &str, rev: &str) -> EngineError {
    EngineError::not_found(format!(
        "repository {label}: unable to resolve '{rev}' to a commit sha"
    ))
}
