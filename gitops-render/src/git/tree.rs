//! [`GitTree`]: a [`SourceTree`] over a commit's tree, read from the object database without a
//! checkout.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use gitops_core::engine::{EngineError, EntryKind, SourceTree, TreeEntry};
use gix::ObjectId;

use crate::tree::{
    DEFAULT_MAX_DIR_ENTRIES, DEFAULT_MAX_FILE_BYTES, lowercase_first, normalize_relative, shown,
};

/// Most symbolic links followed while resolving one path (Linux's `MAXSYMLINKS`).
const MAX_LINK_HOPS: usize = 40;

/// Most decoded trees kept per [`GitTree`] (the cache is cleared when it is full).
const MAX_CACHED_TREES: usize = 4096;

/// A read-only [`SourceTree`] over the tree of one commit in a (bare) Git repository, read
/// straight from the object database: nothing is checked out.
///
/// [`revision`](SourceTree::revision) is the commit SHA.
///
/// # Security
/// The same rules as [`FsTree`](crate::FsTree), applied to the Git tree:
/// - absolute paths and `..` components that leave the root are
///   [`ErrorKind::Forbidden`](gitops_core::engine::ErrorKind::Forbidden);
/// - a symbolic link (a blob of mode `120000`) is followed when its target, taken relative to
///   the link's directory, stays inside the tree; an absolute target or one that leaves the tree
///   is `Forbidden`; more than 40 links in one path is `Invalid`;
/// - blobs larger than [`with_max_file_bytes`](Self::with_max_file_bytes) (checked from the
///   object header, before the blob is loaded) and trees with more than
///   [`with_max_dir_entries`](Self::with_max_dir_entries) entries are `Invalid`.
///
/// Listings report a link as what it points at; a link leaving the tree is listed as a file
/// (reading it is refused, as with [`FsTree`](crate::FsTree)); a dangling link and a submodule
/// (gitlink) are [`EntryKind::Other`]. Entries whose names are not UTF-8 are left out.
pub struct GitTree {
    state: Mutex<State>,
    commit: String,
    root: ObjectId,
    repo_label: String,
    max_file_bytes: u64,
    max_dir_entries: usize,
}

impl fmt::Debug for GitTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitTree")
            .field("repo", &self.repo_label)
            .field("commit", &self.commit)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_dir_entries", &self.max_dir_entries)
            .finish()
    }
}

/// What a path designates once links are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Tree(ObjectId),
    Blob(ObjectId),
    Submodule,
}

/// The repository handle and the trees decoded so far (a tree is immutable).
struct State {
    repo: gix::Repository,
    trees: HashMap<ObjectId, Arc<Vec<Entry>>>,
}

/// A decoded tree entry.
struct Entry {
    name: Vec<u8>,
    mode: gix::object::tree::EntryMode,
    oid: ObjectId,
}

impl GitTree {
    /// The tree of `commit` (full hex SHA) in the repository at `git_dir`; `repo_label` is the
    /// (redacted) repository URL used in messages.
    pub(crate) fn open(
        git_dir: &std::path::Path,
        commit: &str,
        repo_label: &str,
    ) -> Result<GitTree, EngineError> {
        let repo = super::open_repo(git_dir, repo_label)?;
        let id = ObjectId::from_hex(commit.as_bytes()).map_err(|e| {
            EngineError::invalid(format!(
                "repository {repo_label}: {commit} is not a commit sha: {e}"
            ))
        })?;
        let root = repo
            .find_commit(id)
            .and_then(|c| c.tree_id().map(gix::Id::detach))
            .map_err(|e| {
                EngineError::not_found(format!(
                    "repository {repo_label}: commit {commit} is not in the local cache: {}",
                    lowercase_first(&e.to_string())
                ))
            })?;
        Ok(GitTree {
            state: Mutex::new(State {
                repo,
                trees: HashMap::new(),
            }),
            commit: commit.to_owned(),
            root,
            repo_label: repo_label.to_owned(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_dir_entries: DEFAULT_MAX_DIR_ENTRIES,
        })
    }

    /// Sets the largest blob [`read_file`](SourceTree::read_file) accepts, in bytes (default
    /// [`DEFAULT_MAX_FILE_BYTES`]).
    #[must_use]
    pub fn with_max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
        self
    }

    /// Sets the most entries [`read_dir`](SourceTree::read_dir) lists in one directory (default
    /// [`DEFAULT_MAX_DIR_ENTRIES`]).
    #[must_use]
    pub fn with_max_dir_entries(mut self, limit: usize) -> Self {
        self.max_dir_entries = limit;
        self
    }

    /// The commit SHA.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// What `path` is (following links inside the tree), with the checks of
    /// [`read_file`](SourceTree::read_file).
    pub fn entry_kind(&self, path: &str) -> Result<EntryKind, EngineError> {
        let mut state = self.lock()?;
        Ok(match self.resolve(&mut state, path)? {
            Node::Tree(_) => EntryKind::Dir,
            Node::Blob(_) => EntryKind::File,
            Node::Submodule => EntryKind::Other,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, EngineError> {
        self.state
            .lock()
            .map_err(|_| EngineError::other(format!("repository {}: tree lock poisoned", self.repo_label)))
    }

    fn git_error(&self, what: &str, e: impl fmt::Display) -> EngineError {
        EngineError::other(format!(
            "repository {} at revision {}: {what}: {}",
            self.repo_label,
            self.commit,
            lowercase_first(&e.to_string())
        ))
    }

    /// The entries of tree `id`.
    fn entries(&self, state: &mut State, id: ObjectId, path: &str) -> Result<Arc<Vec<Entry>>, EngineError> {
        if let Some(entries) = state.trees.get(&id) {
            return Ok(Arc::clone(entries));
        }
        let tree = state
            .repo
            .find_tree(id)
            .map_err(|e| self.git_error(&format!("cannot read tree {}", shown(path)), e))?;
        let decoded = tree
            .decode()
            .map_err(|e| self.git_error(&format!("cannot decode tree {}", shown(path)), e))?;
        if decoded.entries.len() > self.max_dir_entries {
            return Err(EngineError::invalid(format!(
                "directory {} has more than {} entries",
                shown(path),
                self.max_dir_entries
            )));
        }
        let entries: Arc<Vec<Entry>> = Arc::new(
            decoded
                .entries
                .iter()
                .map(|e| Entry {
                    name: e.filename.to_vec(),
                    mode: e.mode,
                    oid: e.oid.to_owned(),
                })
                .collect(),
        );
        drop(decoded);
        drop(tree);
        if state.trees.len() >= MAX_CACHED_TREES {
            state.trees.clear();
        }
        state.trees.insert(id, Arc::clone(&entries));
        Ok(entries)
    }

    fn read_blob(
        &self,
        repo: &gix::Repository,
        id: ObjectId,
        path: &str,
        limit: u64,
    ) -> Result<Vec<u8>, EngineError> {
        let header = repo
            .find_header(id)
            .map_err(|e| self.git_error(&format!("cannot read file {}", shown(path)), e))?;
        if header.size() > limit {
            return Err(EngineError::invalid(format!(
                "file too large: {path} is {} bytes, more than the limit of {limit} bytes",
                header.size()
            )));
        }
        let object = repo
            .find_object(id)
            .map_err(|e| self.git_error(&format!("cannot read file {}", shown(path)), e))?;
        Ok(object.detach().data)
    }

    /// Walks `path` from the root, following links that stay inside the tree.
    fn resolve(&self, state: &mut State, path: &str) -> Result<Node, EngineError> {
        let parts = normalize_relative(path)?;
        let mut pending: Vec<String> = parts.iter().rev().map(|p| (*p).to_owned()).collect();
        // The resolved components so far and the tree they lead to.
        let mut done: Vec<String> = Vec::new();
        let mut node = Node::Tree(self.root);
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            let Node::Tree(tree) = node else {
                return Err(EngineError::not_found(format!(
                    "path {} does not exist in the repository",
                    shown(path)
                )));
            };
            let so_far = done.join("/");
            let entries = self.entries(state, tree, &so_far)?;
            let Some(entry) = entries.iter().find(|e| e.name == part.as_bytes()) else {
                return Err(EngineError::not_found(format!(
                    "path {} does not exist in the repository",
                    shown(path)
                )));
            };
            if entry.mode.is_link() {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(EngineError::invalid(format!(
                        "path {path}: too many levels of symbolic links"
                    )));
                }
                let target = self.read_blob(&state.repo, entry.oid, path, 4096)?;
                let target = String::from_utf8(target).map_err(|_| {
                    EngineError::invalid(format!("path {path}: symbolic link target is not valid utf-8"))
                })?;
                let joined = if target.starts_with('/') {
                    return Err(EngineError::forbidden(format!(
                        "path {path} resolves through a symbolic link to outside the repository root"
                    )));
                } else if so_far.is_empty() {
                    target
                } else {
                    format!("{so_far}/{target}")
                };
                let resolved = normalize_relative(&joined).map_err(|_| {
                    // The target is not named: it is outside the repository and may be sensitive.
                    EngineError::forbidden(format!(
                        "path {path} resolves through a symbolic link to outside the repository root"
                    ))
                })?;
                for p in resolved.iter().rev() {
                    pending.push((*p).to_owned());
                }
                done.clear();
                node = Node::Tree(self.root);
                continue;
            }
            done.push(part);
            node = if entry.mode.is_tree() {
                Node::Tree(entry.oid)
            } else if entry.mode.is_commit() {
                Node::Submodule
            } else {
                Node::Blob(entry.oid)
            };
        }
        Ok(node)
    }
}

impl SourceTree for GitTree {
    fn revision(&self) -> &str {
        &self.commit
    }

    fn read_dir(&self, path: &str) -> Result<Vec<TreeEntry>, EngineError> {
        let mut state = self.lock()?;
        let Node::Tree(id) = self.resolve(&mut state, path)? else {
            return Err(EngineError::invalid(format!(
                "{} is not a directory",
                shown(path)
            )));
        };
        let dir = normalize_relative(path)?.join("/");
        let mut out = Vec::new();
        let entries = self.entries(&mut state, id, path)?;
        for entry in entries.iter() {
            let Ok(name) = String::from_utf8(entry.name.clone()) else {
                continue;
            };
            let kind = if entry.mode.is_tree() {
                EntryKind::Dir
            } else if entry.mode.is_commit() {
                EntryKind::Other
            } else if entry.mode.is_link() {
                let child = if dir.is_empty() {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                match self.resolve(&mut state, &child) {
                    Ok(Node::Tree(_)) => EntryKind::Dir,
                    Ok(Node::Blob(_)) => EntryKind::File,
                    Ok(Node::Submodule) => EntryKind::Other,
                    Err(e) if e.kind() == gitops_core::engine::ErrorKind::Forbidden => EntryKind::File,
                    Err(_) => EntryKind::Other,
                }
            } else {
                EntryKind::File
            };
            out.push(TreeEntry { name, kind });
        }
        out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(out)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, EngineError> {
        let mut state = self.lock()?;
        match self.resolve(&mut state, path)? {
            Node::Blob(id) => self.read_blob(&state.repo, id, path, self.max_file_bytes),
            Node::Tree(_) => Err(EngineError::invalid(format!(
                "{} is a directory, not a file",
                shown(path)
            ))),
            Node::Submodule => Err(EngineError::invalid(format!(
                "{} is a submodule, not a regular file",
                shown(path)
            ))),
        }
    }
}
