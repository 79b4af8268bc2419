//! What the Helm and plugin renderers share: running a tool with a timeout, Argo CD's build
//! environment and `envsubst`, temporary directories, and copying a tree to disk.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use gitops_core::engine::{EngineError, EntryKind, RenderInput, SourceTree};

/// Most bytes kept from a tool's standard output or standard error.
pub(crate) const MAX_OUTPUT_BYTES: usize = gitops_core::load::MAX_INPUT_BYTES;

/// How long a process group gets between `TERM` and `KILL` after a timeout (Argo CD: 5 s).
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Argo CD's build environment for a source (spec `render.md` §6, Argo CD's `newEnv`):
/// `ARGOCD_APP_NAME`, `ARGOCD_APP_NAMESPACE` (the destination namespace),
/// `ARGOCD_APP_PROJECT_NAME`, `ARGOCD_APP_REVISION`, `ARGOCD_APP_REVISION_SHORT` (7 characters),
/// `ARGOCD_APP_REVISION_SHORT_8`, `ARGOCD_APP_SOURCE_REPO_URL`, `ARGOCD_APP_SOURCE_PATH` and
/// `ARGOCD_APP_SOURCE_TARGET_REVISION` (both as written in the source).
///
/// ```
/// use gitops_core::engine::{AppContext, RenderInput};
/// use gitops_core::model::ApplicationSource;
/// use gitops_render::FsTree;
/// use gitops_render::helm::build_env;
/// let dir = std::env::temp_dir();
/// let tree = FsTree::open(&dir, "0123456789abcdef")?;
/// let app = AppContext::new("guestbook", "argocd", "default", "web");
/// let source = ApplicationSource { repo_url: "https://example.com/repo.git".into(), ..Default::default() };
/// let env = build_env(&RenderInput::new(&app, &source, &tree, ""));
/// assert!(env.contains(&("ARGOCD_APP_NAMESPACE".into(), "web".into())));
/// assert!(env.contains(&("ARGOCD_APP_REVISION_SHORT".into(), "0123456".into())));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build_env(input: &RenderInput<'_>) -> Vec<(String, String)> {
    let revision = input.tree.revision();
    let short = |n: usize| revision.chars().take(n).collect::<String>();
    let pairs = [
        ("ARGOCD_APP_NAME", input.app.name.clone()),
        ("ARGOCD_APP_NAMESPACE", input.app.destination_namespace.clone()),
        ("ARGOCD_APP_PROJECT_NAME", input.app.project.clone()),
        ("ARGOCD_APP_REVISION", revision.to_owned()),
        ("ARGOCD_APP_REVISION_SHORT", short(7)),
        ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
        ("ARGOCD_APP_SOURCE_REPO_URL", input.source.repo_url.clone()),
        (
            "ARGOCD_APP_SOURCE_PATH",
            input.source.path.clone().unwrap_or_default(),
        ),
        (
            "ARGOCD_APP_SOURCE_TARGET_REVISION",
            input.source.target_revision.clone().unwrap_or_default(),
        ),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Argo CD's `Env.Envsubst`: Go's `os.Expand` over `env` — `$NAME` and `${NAME}` are replaced
/// by the value (unknown names by nothing), `$$` is a literal `$`, a `$` not followed by a name
/// stays, and invalid `${…` syntax is dropped as Go drops it.
///
/// ```
/// use gitops_render::helm::envsubst;
/// let env = [("APP".to_owned(), "web".to_owned())];
/// assert_eq!(envsubst("values-$APP.yaml", &env), "values-web.yaml");
/// assert_eq!(envsubst("${APP}-$MISSING-$$-$", &env), "web--$-$");
/// ```
pub fn envsubst(s: &str, env: &[(String, String)]) -> String {
    let lookup = |name: &str| -> String {
        if name == "$" {
            return "$".to_owned();
        }
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0; // start of the pending literal text
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            out.push_str(&s[i..j]);
            let (name, w) = shell_name(&s[j + 1..]);
            match name {
                None if w > 0 => {} // invalid syntax: eaten
                None => out.push('$'),
                Some(name) => out.push_str(&lookup(name)),
            }
            j += w;
            i = j + 1;
        }
        j += 1;
    }
    if i < s.len() {
        out.push_str(&s[i..]);
    }
    out
}

fn is_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9')
}

/// Go's `getShellName`: the name after a `$` and how many bytes it used.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        for i in 1..b.len() {
            if b[i] == b'}' {
                if i == 1 {
                    return (None, 2);
                }
                return (Some(&s[1..i]), i + 1);
            }
        }
        return (None, 1);
    }
    if is_special(b[0]) {
        return (Some(&s[0..1]), 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    if n == 0 { (None, 0) } else { (Some(&s[..n]), n) }
}

/// What a finished tool produced.
#[derive(Debug)]
pub(crate) struct ToolOutput {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl ToolOutput {
    /// Standard error as text, trimmed.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// Why a tool did not finish.
#[derive(Debug)]
pub(crate) enum RunError {
    /// It could not be started.
    Spawn(io::Error),
    /// It ran longer than the timeout and was killed; what it wrote to stderr so far is lost.
    Timeout,
    /// Waiting for it failed, or its output was larger than [`MAX_OUTPUT_BYTES`].
    Io(String),
}

/// The standard output of a tool [`run`] with `timeout`, as text, or the error the renderers
/// report: `spawn` words a tool that could not be started, `subject` (`helm template in …`)
/// begins the messages for a timeout, a failed exit and output that is not UTF-8, and
/// `io_subject` the message for an I/O failure.
pub(crate) fn stdout_text(
    result: Result<ToolOutput, RunError>,
    timeout: Duration,
    subject: &str,
    io_subject: &str,
    spawn: impl FnOnce(&io::Error) -> String,
) -> Result<String, EngineError> {
    let out = match result {
        Ok(out) => out,
        Err(RunError::Spawn(e)) => return Err(EngineError::unsupported(spawn(&e))),
        Err(RunError::Timeout) => {
            return Err(EngineError::timeout(format!(
                "{subject} did not finish within {}s and was killed",
                timeout.as_secs_f64()
            )));
        }
        Err(RunError::Io(e)) => return Err(EngineError::other(format!("{io_subject}: {e}"))),
    };
    if !out.status.success() {
        return Err(EngineError::invalid(format!(
            "{subject} failed ({}): {}",
            out.status,
            out.stderr_text()
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| EngineError::invalid(format!("{subject} wrote output that is not UTF-8")))
}

/// Runs `cmd` (stdin closed, output captured) in its own process group, killing the group when
/// it runs longer than `timeout`: `TERM`, then `KILL` after a grace period (Argo CD's
/// behaviour).
pub(crate) fn run(mut cmd: Command, timeout: Duration) -> Result<ToolOutput, RunError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send((true, read_bounded(out)));
        });
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send((false, read_bounded(err)));
        });
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                terminate(&mut child);
                return Err(RunError::Io(format!("cannot wait for the process: {e}")));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            terminate(&mut child);
            return Err(RunError::Timeout);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    // The pipes close when every process holding them has exited (children it left behind too).
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    for _ in 0..2 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok((is_stdout, Ok(bytes))) => {
                if is_stdout {
                    stdout = bytes;
                } else {
                    stderr = bytes;
                }
            }
            Ok((_, Err(e))) => return Err(RunError::Io(e)),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                signal_group(&child, "KILL");
                return Err(RunError::Timeout);
            }
        }
    }
    Ok(ToolOutput {
        status,
        stdout,
        stderr,
    })
}

fn read_bounded(mut r: impl Read) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut too_large = false;
    loop {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if buf.len() + n > MAX_OUTPUT_BYTES {
                    too_large = true; // keep draining so the process does not block
                } else {
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the output: {e}")),
        }
    }
    if too_large {
        return Err(format!(
            "the output is larger than the limit of {MAX_OUTPUT_BYTES} bytes"
        ));
    }
    Ok(buf)
}

fn terminate(child: &mut Child) {
    signal_group(child, "TERM");
    let until = Instant::now() + KILL_GRACE;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            signal_group(child, "KILL"); // whatever it left behind
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    signal_group(child, "KILL");
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends `signal` to the child's process group (Unix), or kills the child (elsewhere).
fn signal_group(child: &Child, signal: &str) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", child.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    #[cfg(not(unix))]
    {
        let _ = (child, signal);
    }
}

/// A private temporary directory, removed when dropped.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory under the system's temporary directory.
    pub(crate) fn new(prefix: &str) -> Result<TempDir, EngineError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let mut last = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = base.join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            match builder.create(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(EngineError::other(format!(
                        "cannot create a temporary directory in {}: {e}",
                        base.display()
                    )));
                }
            }
        }
        Err(EngineError::other(format!(
            "cannot create a temporary directory in {}: {}",
            base.display(),
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Bounds for [`materialize`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyLimits {
    /// Most files.
    pub(crate) max_files: usize,
    /// Most bytes in all.
    pub(crate) max_bytes: u64,
    /// Deepest directory nesting.
    pub(crate) max_depth: usize,
}

/// The default [`CopyLimits`]: 100 000 files, 256 MiB, 64 levels.
pub(crate) const COPY_LIMITS: CopyLimits = CopyLimits {
    max_files: 100_000,
    max_bytes: 256 * 1024 * 1024,
    max_depth: 64,
};

/// Copies the tree (through the [`SourceTree`] API, so its path checks apply) to `dest`,
/// leaving out the directories named in `skip_dirs` at any level. With `modes_from`, file modes
/// are copied from that local directory (the tree's root on disk).
pub(crate) fn materialize(
    tree: &dyn SourceTree,
    dest: &Path,
    skip_dirs: &[&str],
    modes_from: Option<&Path>,
    limits: CopyLimits,
) -> Result<(), EngineError> {
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut stack: Vec<(String, usize)> = vec![(String::new(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        if depth > limits.max_depth {
            return Err(EngineError::invalid(format!(
                "cannot copy the repository: {dir} is nested more than {} levels deep",
                limits.max_depth
            )));
        }
        let target = dest.join(&dir);
        std::fs::create_dir_all(&target)
            .map_err(|e| EngineError::other(format!("cannot create {}: {e}", target.display())))?;
        for entry in tree.read_dir(&dir)? {
            let path = if dir.is_empty() {
                entry.name.clone()
            } else {
                format!("{dir}/{}", entry.name)
            };
            match entry.kind {
                EntryKind::Dir if !skip_dirs.contains(&entry.name.as_str()) => {
                    stack.push((path, depth + 1));
                }
                EntryKind::File => {
                    let data = match tree.read_file(&path) {
                        Ok(d) => d,
                        // A link to outside the repository is not copied; reading it through
                        // the copy then fails like a missing file.
                        Err(e) if e.kind() == gitops_core::engine::ErrorKind::Forbidden => continue,
                        Err(e) => return Err(e),
                    };
                    files += 1;
                    bytes += data.len() as u64;
                    if files > limits.max_files || bytes > limits.max_bytes {
                        return Err(EngineError::invalid(format!(
                            "cannot copy the repository: more than {} files or {} bytes",
                            limits.max_files, limits.max_bytes
                        )));
                    }
                    let out = dest.join(&path);
                    std::fs::write(&out, &data)
                        .map_err(|e| EngineError::other(format!("cannot write {}: {e}", out.display())))?;
                    if let Some(meta) = modes_from.and_then(|root| std::fs::metadata(root.join(&path)).ok()) {
                        let _ = std::fs::set_permissions(&out, meta.permissions());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Normalises `rel` against the tree directory `base` without touching the disk: `.` and `..`
/// are resolved, `..` above the root and absolute paths are [`ErrorKind::Forbidden`]
/// (`what` names the field in the message).
///
/// [`ErrorKind::Forbidden`]: gitops_core::engine::ErrorKind::Forbidden
pub(crate) fn join_tree_path(base: &str, rel: &str, what: &str) -> Result<String, EngineError> {
    if rel.starts_with('/') || rel.starts_with('\\') || Path::new(rel).has_root() {
        return Err(EngineError::forbidden(format!(
            "{what} {rel}: absolute paths are not allowed; use a path relative to the source path"
        )));
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(EngineError::forbidden(format!(
                        "{what} {rel} leaves the repository root"
                    )));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// A shown form of a tree path: `.` for the root.
pub(crate) fn shown(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}
