//! [`FsTree`]: a [`SourceTree`] over a directory on the local disk.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use gitops_core::engine::{EngineError, EntryKind, ErrorKind, SourceTree, TreeEntry};

/// Largest file [`FsTree`] reads by default, in bytes (16 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Most entries [`FsTree`] lists in one directory by default.
pub const DEFAULT_MAX_DIR_ENTRIES: usize = 100_000;

/// A read-only [`SourceTree`] over a directory on disk.
///
/// # Security
/// Every path is checked before it is touched, so that a repository cannot make the renderer
/// read files outside of it (the class of Argo CD's CVE-2022-24348):
/// - absolute paths and paths whose `..` components leave the root are
///   [`ErrorKind::Forbidden`];
/// - symbolic links are followed only when their target resolves inside the root; a path that
///   resolves outside is [`ErrorKind::Forbidden`] with a message naming the path;
/// - files larger than [`max_file_bytes`](Self::with_max_file_bytes) and directories with more
///   than [`max_dir_entries`](Self::with_max_dir_entries) entries are [`ErrorKind::Invalid`].
///
/// Directory listings report a symbolic link as what it points at (so a link to a file outside
/// the root is listed as a file, and reading it is refused); dangling links are
/// [`EntryKind::Other`]. Entries whose names are not valid UTF-8 are left out of listings.
/// The checks resolve paths at the moment of the call; a tree that is modified concurrently by
/// someone else is outside this type's threat model.
///
/// ```
/// use gitops_core::engine::{EntryKind, ErrorKind, SourceTree};
/// use gitops_render::FsTree;
/// let dir = std::env::temp_dir().join(format!("gitops-render-fstree-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("app"))?;
/// std::fs::write(dir.join("app/cm.yaml"), "kind: ConfigMap\n")?;
/// let tree = FsTree::open(&dir, "local")?;
/// assert_eq!(tree.revision(), "local");
/// assert_eq!(tree.read_dir("app")?[0].kind, EntryKind::File);
/// assert_eq!(tree.read_file("app/cm.yaml")?, b"kind: ConfigMap\n");
/// assert_eq!(tree.read_file("../etc/passwd").unwrap_err().kind(), ErrorKind::Forbidden);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FsTree {
    root: PathBuf,
    revision: String,
    max_file_bytes: u64,
    max_dir_entries: usize,
}

impl FsTree {
    /// Opens the directory `root` (canonicalized) as a tree read at `revision_label` (a commit
    /// SHA, or `local` for a working directory).
    ///
    /// A missing root is [`ErrorKind::NotFound`]; a root that is not a directory is
    /// [`ErrorKind::Invalid`].
    pub fn open(root: impl AsRef<Path>, revision_label: impl Into<String>) -> Result<FsTree, EngineError> {
        let given = root.as_ref();
        let root = fs::canonicalize(given)
            .map_err(|e| io_error(e, &format!("cannot open directory {}", given.display())))?;
        let meta = fs::metadata(&root)
            .map_err(|e| io_error(e, &format!("cannot open directory {}", given.display())))?;
        if !meta.is_dir() {
            return Err(EngineError::invalid(format!(
                "{} is not a directory",
                given.display()
            )));
        }
        Ok(FsTree {
            root,
            revision: revision_label.into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_dir_entries: DEFAULT_MAX_DIR_ENTRIES,
        })
    }

    /// Sets the largest file [`read_file`](SourceTree::read_file) accepts, in bytes.
    #[must_use]
    pub fn with_max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
        self
    }

    /// Sets the most entries [`read_dir`](SourceTree::read_dir) lists in one directory.
    #[must_use]
    pub fn with_max_dir_entries(mut self, limit: usize) -> Self {
        self.max_dir_entries = limit;
        self
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What `path` is (following symbolic links inside the tree), with the same checks as
    /// [`read_file`](SourceTree::read_file): [`ErrorKind::NotFound`] when it does not exist,
    /// [`ErrorKind::Forbidden`] when it leaves the tree.
    pub fn entry_kind(&self, path: &str) -> Result<EntryKind, EngineError> {
        let real = self.resolve(path)?;
        let meta = fs::metadata(&real).map_err(|e| io_error(e, &format!("cannot read {}", shown(path))))?;
        Ok(kind_of(&meta))
    }

    /// Maps a tree path to a canonical path on disk inside the root, refusing escapes.
    fn resolve(&self, path: &str) -> Result<PathBuf, EngineError> {
        let parts = normalize_relative(path)?;
        let mut joined = self.root.clone();
        for p in &parts {
            joined.push(p);
        }
        let real = match fs::canonicalize(&joined) {
            Ok(real) => real,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A dangling link may point outside: say so rather than "not found".
                if self.dangling_link_outside(&parts) {
                    return Err(EngineError::forbidden(format!(
                        "path {path} is a symbolic link to outside the repository root"
                    )));
                }
                return Err(EngineError::not_found(format!(
                    "path {} does not exist in the repository",
                    shown(path)
                )));
            }
            Err(e) => return Err(io_error(e, &format!("cannot resolve path {}", shown(path)))),
        };
        if !real.starts_with(&self.root) {
            // The target is not named: it is outside the repository and may be sensitive.
            return Err(EngineError::forbidden(format!(
                "path {path} resolves through a symbolic link to outside the repository root"
            )));
        }
        Ok(real)
    }

    /// For a path that does not resolve, whether its last component is a symbolic link whose
    /// target is lexically outside the root (for a clearer error).
    fn dangling_link_outside(&self, parts: &[&str]) -> bool {
        let Some((last, dir)) = parts.split_last() else {
            return false;
        };
        let mut parent = self.root.clone();
        for p in dir {
            parent.push(p);
        }
        let Ok(parent) = fs::canonicalize(parent) else {
            return false;
        };
        let Ok(target) = fs::read_link(parent.join(last)) else {
            return false;
        };
        !lexical_normalize(&parent.join(target)).starts_with(&self.root)
    }
}

impl SourceTree for FsTree {
    fn revision(&self) -> &str {
        &self.revision
    }

    fn read_dir(&self, path: &str) -> Result<Vec<TreeEntry>, EngineError> {
        let real = self.resolve(path)?;
        let what = format!("cannot list directory {}", shown(path));
        let meta = fs::metadata(&real).map_err(|e| io_error(e, &what))?;
        if !meta.is_dir() {
            return Err(EngineError::invalid(format!(
                "{} is not a directory",
                shown(path)
            )));
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(&real).map_err(|e| io_error(e, &what))? {
            let entry = entry.map_err(|e| io_error(e, &what))?;
            if entries.len() >= self.max_dir_entries {
                return Err(EngineError::invalid(format!(
                    "directory {} has more than {} entries",
                    shown(path),
                    self.max_dir_entries
                )));
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let file_type = entry.file_type().map_err(|e| io_error(e, &what))?;
            let kind = if file_type.is_symlink() {
                // Reported as what it points at; reading it checks where that is.
                match fs::metadata(entry.path()) {
                    Ok(m) => kind_of(&m),
                    Err(_) => EntryKind::Other,
                }
            } else if file_type.is_dir() {
                EntryKind::Dir
            } else if file_type.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            entries.push(TreeEntry { name, kind });
        }
        entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(entries)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, EngineError> {
        let real = self.resolve(path)?;
        let what = format!("cannot read file {}", shown(path));
        let meta = fs::metadata(&real).map_err(|e| io_error(e, &what))?;
        if meta.is_dir() {
            return Err(EngineError::invalid(format!(
                "{} is a directory, not a file",
                shown(path)
            )));
        }
        if !meta.is_file() {
            return Err(EngineError::invalid(format!(
                "{} is not a regular file",
                shown(path)
            )));
        }
        let too_large = |size: u64| {
            EngineError::invalid(format!(
                "file too large: {path} is {size} bytes, more than the limit of {} bytes",
                self.max_file_bytes
            ))
        };
        if meta.len() > self.max_file_bytes {
            return Err(too_large(meta.len()));
        }
        let file = fs::File::open(&real).map_err(|e| io_error(e, &what))?;
        let mut buf = Vec::new();
        // Bounded even if the file grows while it is read.
        file.take(self.max_file_bytes.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| io_error(e, &what))?;
        if buf.len() as u64 > self.max_file_bytes {
            return Err(too_large(buf.len() as u64));
        }
        Ok(buf)
    }

    fn local_root(&self) -> Option<PathBuf> {
        Some(self.root.clone())
    }
}

/// Splits a tree path into its components with `.` and `..` resolved lexically, refusing what
/// leaves the root: a NUL byte is [`ErrorKind::Invalid`]; an absolute path (or a Windows
/// prefix) and a `..` above the root are [`ErrorKind::Forbidden`]. Shared by [`FsTree`] and
/// the Git tree.
pub(crate) fn normalize_relative(path: &str) -> Result<Vec<&str>, EngineError> {
    if path.contains('\0') {
        return Err(EngineError::invalid(format!("path {path:?} contains a NUL byte")));
    }
    if path.starts_with('/') || Path::new(path).has_root() || has_prefix(path) {
        return Err(EngineError::forbidden(format!(
            "absolute path {path} is not allowed: paths must be relative to the repository root"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(EngineError::forbidden(format!(
                        "path {path} leaves the repository root"
                    )));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts)
}

fn kind_of(meta: &fs::Metadata) -> EntryKind {
    if meta.is_dir() {
        EntryKind::Dir
    } else if meta.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

/// `""` is shown as `.` in messages.
pub(crate) fn shown(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

/// Whether the path starts with a Windows drive or UNC prefix.
fn has_prefix(path: &str) -> bool {
    matches!(Path::new(path).components().next(), Some(Component::Prefix(_)))
}

/// Resolves `.` and `..` without touching the disk.
fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// An I/O error as an engine error: missing (or under a file) → NotFound, a symbolic link loop → Invalid,
/// anything else → Other.
fn io_error(e: io::Error, what: &str) -> EngineError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ErrorKind::NotFound,
        _ if is_link_loop(&e) => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    };
    let msg = lowercase_first(&e.to_string());
    EngineError::new(kind, format!("{what}: {msg}")).with_source(e)
}

/// `ELOOP`: too many levels of symbolic links.
fn is_link_loop(e: &io::Error) -> bool {
    let eloop = if cfg!(any(target_os = "linux", target_os = "android")) {
        40
    } else if cfg!(unix) {
        62
    } else {
        return false;
    };
    e.raw_os_error() == Some(eloop)
}

pub(crate) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
