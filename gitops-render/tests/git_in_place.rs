//! `file://` repositories and local paths are read in place: no `git` program (such as
//! `git-upload-pack`) is ever run.
//!
//! The repository is made with the `git` CLI; the resolver then runs in a child process (this
//! test binary, re-executed) whose `PATH` and `GIT_EXEC_PATH` hold only fake `git`,
//! `git-upload-pack` and `ssh` programs that leave a marker file when they run. The environment
//! of this process is never changed, so other tests are not affected.

// Tests unwrap.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use gitops_core::engine::{ResolveContext, SourceResolver, SourceTree};
use gitops_core::model::ApplicationSource;
use gitops_render::git::{DefaultResolver, GitResolver};

#[path = "render/support.rs"]
mod support;

use support::run_git;

/// Set in the child process: the directory holding the `src` repository, `cache` and `marker`.
const CHILD_ENV: &str = "GITOPS_RENDER_GIT_IN_PLACE_CHILD";

fn commit(dir: &Path, file: &str, content: &str) -> String {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    run_git(dir, &["add", "-A"]);
    run_git(dir, &["commit", "-q", "-m", file]);
    run_git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn file_urls_run_no_git_program() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    run_git(&src, &["init", "-q"]);
    let c1 = commit(&src, "apps/a/cm.yaml", "a: 1\n");
    run_git(&src, &["tag", "-a", "v1.0.0", "-m", "v1.0.0"]);
    let c2 = commit(&src, "apps/a/cm.yaml", "a: 2\n");
    run_git(&src, &["tag", "v1.1.0"]);
    run_git(&src, &["branch", "dev", &c1]);
    let bare = tmp.path().join("bare.git");
    run_git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &src.display().to_string(),
            &bare.display().to_string(),
        ],
    );
    std::fs::write(tmp.path().join("commits"), format!("{c1}\n{c2}\n")).unwrap();

    // Fake programs that leave a marker when run.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = tmp.path().join("marker");
    for name in ["git", "git-upload-pack", "ssh"] {
        let script = bin.join(name);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexit 1\n",
                marker.display()
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
    }

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, tmp.path())
        .env("PATH", &bin)
        .env("GIT_EXEC_PATH", &bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !marker.exists(),
        "a program was run: {}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
}

/// Runs the resolver in the child process started by [`file_urls_run_no_git_program`] (does
/// nothing otherwise).
#[test]
fn child() {
    let Some(base) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let base = Path::new(&base);
    let commits = std::fs::read_to_string(base.join("commits")).unwrap();
    let mut commits = commits.lines();
    let (c1, c2) = (commits.next().unwrap(), commits.next().unwrap());
    let url = format!("file://{}", base.join("src").display());
    let git = Arc::new(GitResolver::new(base.join("cache")));
    let r = |rev: &str| git.resolve_revision(&url, rev, "").unwrap();
    assert_eq!(r("main"), c2);
    assert_eq!(r(""), c2);
    assert_eq!(r("dev"), c1);
    assert_eq!(r("v1.0.0"), c1);
    assert_eq!(r("^1.0"), c2);
    assert_eq!(r("~1.0.0"), c1);
    assert_eq!(r(c1), c1);
    assert_eq!(r(&c1[..9]), c1);
    let tree = git.tree(&url, c1).unwrap();
    assert_eq!(tree.read_file("apps/a/cm.yaml").unwrap(), b"a: 1\n");
    assert_eq!(git.changed_paths(&url, c1, c2).unwrap(), ["apps/a/cm.yaml"]);
    assert_eq!(git.stats().fetches, 0);
    assert!(!base.join("cache").exists(), "nothing is copied");

    // Local paths and bare repositories through the DefaultResolver.
    let resolver = DefaultResolver::with_git(Arc::clone(&git));
    let ctx = ResolveContext::with_base_dir(base);
    for (repo, rev) in [("./src", "v1.0.0"), ("./bare.git", ""), ("./bare.git", "dev")] {
        let source = ApplicationSource {
            repo_url: repo.into(),
            target_revision: Some(rev.into()),
            path: Some("apps/a".into()),
            ..Default::default()
        };
        let tree = resolver.resolve(&source, &ctx).unwrap();
        let expected = if rev.is_empty() { c2 } else { c1 };
        assert_eq!(tree.revision(), expected, "{repo} {rev}");
    }
}
