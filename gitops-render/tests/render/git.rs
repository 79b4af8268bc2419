//! Git sources: revision resolution over file://, git:// and smart HTTP, trees read without
//! checkout, caching, fallback to the last good commit, path safety, and manifest-generate-paths.
//!
//! Repositories are made with the `git` CLI in temporary directories.

// Helpers shared by the tests unwrap like the tests do.
#![allow(clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::engine::{
    AppContext, EngineError, EntryKind, ErrorKind, ResolveContext, SourceResolver, SourceTree,
};
use gitops_core::model::{ApplicationSource, SourceDirectory};
use gitops_render::git::{Credential, CredentialSet, DefaultResolver, GitResolver, affects};
use gitops_render::{DirectoryRenderer, render_source};

use crate::cm;
use crate::support::run_git;

mod http_server;

use http_server::{HttpBackend, basic_authorization};

fn write(dir: &Path, path: &str, content: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

fn symlink(dir: &Path, path: &str, target: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, p).expect("symlink");
}

fn commit(dir: &Path, msg: &str) -> String {
    run_git(dir, &["add", "-A"]);
    run_git(dir, &["commit", "-q", "--allow-empty", "-m", msg]);
    run_git(dir, &["rev-parse", "HEAD"])
}

/// A monorepo with branches, semver tags and links.
struct Fixture {
    tmp: tempfile::TempDir,
    /// v1.0.0 (annotated), app-1.5.0.
    c1: String,
    /// v1.2.3 (lightweight).
    c2: String,
    /// v2.0.0, main.
    c3: String,
    /// dev.
    dev: String,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("src");
        std::fs::create_dir_all(&dir).expect("mkdir");
        run_git(&dir, &["init", "-q"]);
        write(&dir, "apps/guestbook/cm.yaml", &cm("guestbook-v1"));
        write(&dir, "apps/guestbook/nested/svc.yaml", &cm("guestbook-nested"));
        write(&dir, "apps/other/cm.yaml", &cm("other-v1"));
        write(&dir, "shared/values.yaml", "a: 1\n");
        write(&dir, "README.md", "# repo\n");
        symlink(&dir, "links/inside.yaml", "../apps/guestbook/cm.yaml");
        symlink(&dir, "links/apps", "../apps");
        symlink(&dir, "links/outside", "../../outside-secret");
        symlink(&dir, "links/absolute", "/etc/passwd");
        symlink(&dir, "links/dangling", "nope.yaml");
        let c1 = commit(&dir, "one");
        run_git(&dir, &["tag", "-a", "v1.0.0", "-m", "v1.0.0"]);
        run_git(&dir, &["tag", "app-1.5.0"]);
        run_git(&dir, &["branch", "dev"]);
        write(&dir, "apps/guestbook/cm.yaml", &cm("guestbook-v2"));
        let c2 = commit(&dir, "two");
        run_git(&dir, &["tag", "v1.2.3"]);
        write(&dir, "apps/other/cm.yaml", &cm("other-v2"));
        write(&dir, "shared/values.yaml", "a: 2\n");
        let c3 = commit(&dir, "three");
        run_git(&dir, &["tag", "v2.0.0"]);
        run_git(&dir, &["checkout", "-q", "dev"]);
        write(&dir, "apps/dev-only/cm.yaml", &cm("dev"));
        let dev = commit(&dir, "dev");
        run_git(&dir, &["checkout", "-q", "main"]);
        Fixture { tmp, c1, c2, c3, dev }
    }

    fn src(&self) -> PathBuf {
        self.tmp.path().join("src")
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.src().display())
    }

    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }
}

fn fails<T>(r: Result<T, EngineError>) -> EngineError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn source(url: &str, rev: &str, path: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: url.into(),
        target_revision: (!rev.is_empty()).then(|| rev.to_owned()),
        path: Some(path.into()),
        ..Default::default()
    }
}

/// The resolution cases shared by file:// and git://; `fetches` is the number of pack fetches
/// expected (none for file://, read in place).
fn check_resolution(f: &Fixture, url: &str, fetches: u64) {
    let git = GitResolver::new(f.cache());
    let r = |rev: &str| {
        git.resolve_revision(url, rev, "")
            .unwrap_or_else(|e| panic!("{rev}: {e}"))
    };
    assert_eq!(r("main"), f.c3);
    assert_eq!(r("refs/heads/main"), f.c3);
    assert_eq!(r("dev"), f.dev);
    assert_eq!(r("HEAD"), f.c3);
    assert_eq!(r(""), f.c3);
    assert_eq!(r("v1.0.0"), f.c1, "annotated tag peeled to its commit");
    assert_eq!(r("refs/tags/v1.2.3"), f.c2);
    assert_eq!(r(&f.c1), f.c1, "full sha");
    assert_eq!(r(&f.c1.to_uppercase()), f.c1, "full sha, uppercase");
    assert_eq!(r(&f.c2[..8]), f.c2, "short sha of a commit that is no ref tip");
    assert_eq!(r("1.2.*"), f.c2);
    assert_eq!(r(">=1.0.0 <2.0.0"), f.c2);
    assert_eq!(r("~1.0"), f.c1);
    assert_eq!(r("~1.2"), f.c2);
    assert_eq!(r("^1.0"), f.c2);
    assert_eq!(r("^v2"), f.c3);
    assert_eq!(r("*"), f.c3);
    assert_eq!(
        git.resolve_revision(url, "^1", "app-").unwrap(),
        f.c1,
        "tagPrefix"
    );
    let e = git.resolve_revision(url, "no-such-branch", "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("unable to resolve 'no-such-branch'"), "{e}");
    let e = git.resolve_revision(url, "^9", "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = git.resolve_revision(url, "main", "app-").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    // Through the SourceResolver trait: a tree at the commit.
    let tree = git
        .resolve(
            &source(url, "v1.0.0", "apps/guestbook"),
            &ResolveContext::default(),
        )
        .unwrap();
    assert_eq!(tree.revision(), f.c1);
    assert_eq!(
        tree.read_file("apps/guestbook/cm.yaml").unwrap(),
        cm("guestbook-v1").as_bytes()
    );
    let e = fails(git.resolve(&source(url, "main", "apps/missing"), &ResolveContext::default()));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // One ref listing per distinct resolve round within the TTL: only the first one connected
    // (or read the refs of the local repository).
    assert_eq!(git.stats().ls_remotes, 1, "{:?}", git.stats());
    assert_eq!(git.stats().fetches, fetches, "{:?}", git.stats());
}

#[test]
fn resolves_revisions_over_file_urls() {
    let f = Fixture::new();
    check_resolution(&f, &f.file_url(), 0);
    // Read in place: nothing was written to the cache directory.
    assert!(!f.cache().exists());
}

/// A `git daemon` on a free loopback port, killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(base: &Path) -> Result<Daemon, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    // `git daemon` runs `git-daemon` as a child process that killing `git` would leave behind:
    // start `git-daemon` itself so that the test can stop it.
    let exec_path = Command::new("git")
        .arg("--exec-path")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let daemon_bin = Path::new(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-daemon");
    if !daemon_bin.is_file() {
        return Err(format!("{} does not exist", daemon_bin.display()));
    }
    let child = Command::new(daemon_bin)
        .args([
            "--reuseaddr",
            &format!("--base-path={}", base.display()),
            "--export-all",
            &format!("--port={port}"),
            "--listen=127.0.0.1",
        ])
        .arg(base)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start git daemon: {e}"))?;
    let mut daemon = Daemon { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(daemon);
        }
        if let Ok(Some(status)) = daemon.child.try_wait() {
            return Err(format!("git daemon exited with {status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("git daemon did not listen within 10 s".into())
}

/// Starts the daemon or skips (a failure when `CI` is set).
fn daemon_or_skip(base: &Path) -> Option<Daemon> {
    match start_daemon(base) {
        Ok(d) => Some(d),
        Err(reason) if std::env::var_os("CI").is_some() => panic!("git daemon unavailable in CI: {reason}"),
        Err(reason) => {
            println!("skipped: git daemon unavailable: {reason}");
            None
        }
    }
}

#[test]
fn resolves_revisions_over_git_daemon() {
    let f = Fixture::new();
    let Some(daemon) = daemon_or_skip(f.tmp.path()) else {
        return;
    };
    check_resolution(&f, &format!("git://127.0.0.1:{}/src", daemon.port), 1);
}

#[test]
fn unreachable_git_daemon_keeps_serving_the_last_good_commit() {
    let f = Fixture::new();
    let Some(daemon) = daemon_or_skip(f.tmp.path()) else {
        return;
    };
    let url = format!("git://127.0.0.1:{}/src", daemon.port);
    let git = GitResolver::new(f.cache()).with_ref_cache_ttl(Duration::ZERO);
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), f.c3);
    drop(daemon);
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), f.c3);
    let err = git.last_error(&url).expect("the error is kept");
    assert!(err.contains(&url) && err.contains("main"), "{err}");
}

/// Starts `git http-backend` behind a test HTTP server, or skips (a failure when `CI` is set).
fn http_or_skip(root: &Path, basic_auth: Option<(&str, &str)>) -> Option<HttpBackend> {
    match HttpBackend::start(root, basic_auth) {
        Ok(server) => Some(server),
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!("git http-backend unavailable in CI: {reason}")
        }
        Err(reason) => {
            println!("skipped: git http-backend unavailable: {reason}");
            None
        }
    }
}

#[test]
fn resolves_revisions_over_smart_http() {
    let f = Fixture::new();
    let Some(server) = http_or_skip(f.tmp.path(), None) else {
        return;
    };
    check_resolution(&f, &server.url("src"), 1);
    assert!(server.authorizations().iter().all(Option::is_none));
}

#[test]
fn http_credentials_reach_the_server_and_never_show_up() {
    let f = Fixture::new();
    let Some(server) = http_or_skip(f.tmp.path(), Some(("bot", "pa55-secret"))) else {
        return;
    };
    let url = server.url("src");
    let with = |cache: &str, credential: Credential| {
        GitResolver::new(f.tmp.path().join(cache))
            .with_credentials(CredentialSet::new().with(url.clone(), credential))
    };
    let hidden = |shown: &str| {
        for secret in ["pa55-secret", "wr0ng-secret", "t0k3n-secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            !shown.contains(&basic_authorization("bot", "pa55-secret")[6..]),
            "{shown}"
        );
    };

    // The right credentials: branch, tag and tree.
    let git = with("cache", Credential::basic("bot", "pa55-secret"));
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), f.c3);
    assert_eq!(git.resolve_revision(&url, "v1.2.3", "").unwrap(), f.c2);
    let tree = git
        .resolve(
            &source(&url, "v1.0.0", "apps/guestbook"),
            &ResolveContext::default(),
        )
        .unwrap();
    assert_eq!(tree.revision(), f.c1);
    assert_eq!(
        tree.read_file("apps/guestbook/cm.yaml").unwrap(),
        cm("guestbook-v1").as_bytes()
    );
    let auths = server.authorizations();
    assert_eq!(
        auths.first(),
        Some(&None),
        "asked for only after a 401: {auths:?}"
    );
    assert!(
        auths.contains(&Some(basic_authorization("bot", "pa55-secret"))),
        "{auths:?}"
    );
    hidden(&format!("{git:?}"));

    // No credentials, a wrong password, a wrong token: errors without secrets.
    let anonymous = GitResolver::new(f.tmp.path().join("cache-anonymous"));
    let e = anonymous.resolve_revision(&url, "main", "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.message().contains("no credentials are configured"), "{e}");
    for (cache, credential) in [
        ("cache-wrong", Credential::basic("bot", "wr0ng-secret")),
        ("cache-token", Credential::token("t0k3n-secret")),
    ] {
        let git = with(cache, credential);
        let e = git.resolve_revision(&url, "main", "").unwrap_err();
        assert!(
            e.message()
                .starts_with(&format!("repository {url} at revision main: ")),
            "{e}"
        );
        hidden(&format!("{e} {e:?} {git:?} {:?}", git.last_error(&url)));
    }
    let token = basic_authorization(Credential::TOKEN_USERNAME, "t0k3n-secret");
    assert!(server.authorizations().contains(&Some(token)));

    // User information in the URL: sent, and redacted from errors.
    let in_url = |user_info: &str| url.replacen("http://", &format!("http://{user_info}@"), 1);
    let git = GitResolver::new(f.tmp.path().join("cache-url"));
    assert_eq!(
        git.resolve_revision(&in_url("bot:pa55-secret"), "main", "")
            .unwrap(),
        f.c3
    );
    let wrong = in_url("bot:wr0ng-secret");
    let e = GitResolver::new(f.tmp.path().join("cache-url-wrong"))
        .resolve_revision(&wrong, "main", "")
        .unwrap_err();
    assert!(e.message().contains("not accepted"), "{e}");
    let shown = format!("{e} {e:?}");
    hidden(&shown);
    assert!(shown.contains(&in_url("***")), "{shown}");
}

/// All regular files of a tree, walking directories (links are left out, as ls-tree lists them
/// as blobs of another mode).
fn walk(tree: &dyn SourceTree, dir: &str, out: &mut Vec<String>) {
    for e in tree.read_dir(dir).unwrap() {
        let path = if dir.is_empty() {
            e.name.clone()
        } else {
            format!("{dir}/{}", e.name)
        };
        if path.starts_with("links") {
            continue;
        }
        match e.kind {
            EntryKind::Dir => walk(tree, &path, out),
            EntryKind::File => out.push(path),
            _ => {}
        }
    }
}

#[test]
fn tree_at_commit_matches_ls_tree_and_renders() {
    let f = Fixture::new();
    let git = GitResolver::new(f.cache());
    for commit in [&f.c1, &f.c3, &f.dev] {
        let tree = git.tree(&f.file_url(), commit).unwrap();
        assert_eq!(tree.revision(), commit.as_str());
        let mut files = Vec::new();
        walk(&*tree, "", &mut files);
        files.sort();
        let ls = git_ls_files(&f.src(), commit);
        assert_eq!(files, ls);
        for file in &ls {
            let expected = run_git(&f.src(), &["cat-file", "blob", &format!("{commit}:{file}")]);
            let got = String::from_utf8(tree.read_file(file).unwrap()).unwrap();
            assert_eq!(got.trim(), expected, "{file}");
        }
    }
    // A file:// repository is read in place: nothing was copied or checked out in the cache.
    assert!(!git.repo_dir(&f.file_url()).exists() && !f.cache().exists());

    // Render an app path from the Git tree.
    let resolver = DefaultResolver::with_git(Arc::new(GitResolver::new(f.cache())));
    let mut src = source(&f.file_url(), "v1.2.3", "apps/guestbook");
    src.directory = Some(SourceDirectory {
        recurse: true,
        ..Default::default()
    });
    let app = AppContext::new("guestbook", "argocd", "default", "guestbook");
    let rendered = render_source(
        &resolver,
        &DirectoryRenderer::new(),
        &app,
        &src,
        &ResolveContext::default(),
    )
    .unwrap();
    assert_eq!(rendered.revision, f.c2);
    let names: Vec<&str> = rendered.objects.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["guestbook-v2", "guestbook-nested"]);
}

fn git_ls_files(dir: &Path, commit: &str) -> Vec<String> {
    let out = run_git(dir, &["ls-tree", "-r", commit]);
    let mut files: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("100644") || l.starts_with("100755"))
        .filter_map(|l| l.split_once('\t').map(|(_, p)| p.to_owned()))
        .filter(|p| !p.starts_with("links"))
        .collect();
    files.sort();
    files
}

#[test]
fn cache_avoids_fetches_and_sees_branch_moves_after_the_ttl() {
    let f = Fixture::new();
    let url = f.file_url();
    // file:// is read in place: reading its refs counts as an ls-remote, nothing is fetched.
    let git = GitResolver::new(f.cache()).with_ref_cache_ttl(Duration::from_millis(300));
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), f.c3);
    assert_eq!(git.stats().ls_remotes, 1);
    assert_eq!(git.stats().fetches, 0);
    // Same revision within the TTL: the refs are not read again.
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), f.c3);
    assert_eq!(git.resolve_revision(&url, "v1.0.0", "").unwrap(), f.c1);
    assert_eq!(git.stats().ls_remotes, 1);
    assert_eq!(git.stats().fetches, 0);
    // A full SHA: no ref listing, and the tree object is reused.
    let t1 = git.tree(&url, &f.c1).unwrap();
    let t2 = git.tree(&url, &f.c1).unwrap();
    assert!(Arc::ptr_eq(&t1, &t2));
    let tree = git
        .resolve(&source(&url, &f.c2, "apps"), &ResolveContext::default())
        .unwrap();
    assert_eq!(tree.revision(), f.c2);
    assert_eq!(git.stats().ls_remotes, 1);
    assert_eq!(git.stats().fetches, 0);

    // The branch moves: still the cached commit within the TTL, the new one after it.
    write(&f.src(), "apps/guestbook/cm.yaml", &cm("guestbook-v4"));
    let c4 = commit(&f.src(), "four");
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), f.c3);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), c4);
    assert_eq!(git.stats().ls_remotes, 2);
    assert_eq!(git.stats().fetches, 0);
    // After the TTL again, unchanged: refs read again.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(git.resolve_revision(&url, "main", "").unwrap(), c4);
    assert_eq!(git.stats().ls_remotes, 3);
    assert_eq!(git.stats().fetches, 0);
    // A hard refresh lists refs again at once.
    git.invalidate_refs(&url);
    assert_eq!(git.resolve_revision(&url, "HEAD", "").unwrap(), c4);
    assert_eq!(git.stats().ls_remotes, 4);

    // A second resolver finds a commit by SHA in the repository, without listing refs.
    let again = GitResolver::new(f.cache());
    assert_eq!(again.resolve_revision(&url, &f.c2, "").unwrap(), f.c2);
    assert_eq!(again.stats().ls_remotes + again.stats().fetches, 0);
}

#[test]
fn unreachable_remote_keeps_serving_the_last_good_commit() {
    let f = Fixture::new();
    let url = f.file_url();
    let git = GitResolver::new(f.cache()).with_ref_cache_ttl(Duration::ZERO);
    // file:// is read in place, so the last good commit is served from the tree cache: the
    // trees were served before the repository went away.
    let before = git
        .resolve(
            &source(&url, "main", "apps/guestbook"),
            &ResolveContext::default(),
        )
        .unwrap();
    assert_eq!(before.revision(), f.c3);
    assert_eq!(
        before.read_file("apps/guestbook/cm.yaml").unwrap(),
        cm("guestbook-v2").as_bytes()
    );
    git.tree(&url, &f.c1).unwrap();
    assert!(git.last_error(&url).is_none());
    std::fs::rename(f.src(), f.tmp.path().join("moved")).unwrap();

    let tree = git
        .resolve(
            &source(&url, "main", "apps/guestbook"),
            &ResolveContext::default(),
        )
        .unwrap();
    assert_eq!(tree.revision(), f.c3);
    assert!(Arc::ptr_eq(&tree, &before), "the cached tree is served");
    let err = git.last_error(&url).expect("the error is reported");
    assert!(
        err.starts_with(&format!("repository {url} at revision main")),
        "{err}"
    );
    // A revision never resolved before cannot be served.
    let e = git.resolve_revision(&url, "dev", "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.is_retryable());
    // A commit by SHA whose tree is cached needs no repository; another one is unavailable.
    assert_eq!(git.resolve_revision(&url, &f.c1, "").unwrap(), f.c1);
    let e = git.resolve_revision(&url, &f.c2, "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");

    // Back online: the error is cleared.
    std::fs::rename(f.tmp.path().join("moved"), f.src()).unwrap();
    assert_eq!(git.resolve_revision(&url, "dev", "").unwrap(), f.dev);
    assert!(git.last_error(&url).is_none());
}

#[test]
fn paths_leaving_the_tree_are_refused() {
    let f = Fixture::new();
    let git = GitResolver::new(f.cache());
    let tree = git.tree(&f.file_url(), &f.c1).unwrap();
    for bad in [
        "../src/README.md",
        "apps/../../x",
        "/etc/passwd",
        "links/outside",
        "links/absolute",
    ] {
        let e = tree.read_file(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{bad}: {e}");
        assert!(
            !e.message().contains("/etc/passwd") || bad == "/etc/passwd",
            "{e}"
        );
    }
    assert_eq!(tree.read_dir("..").unwrap_err().kind(), ErrorKind::Forbidden);
    // Inward links are followed, for files and directories.
    assert_eq!(
        tree.read_file("links/inside.yaml").unwrap(),
        cm("guestbook-v1").as_bytes()
    );
    assert_eq!(
        tree.read_file("links/apps/other/cm.yaml").unwrap(),
        cm("other-v1").as_bytes()
    );
    let names: Vec<String> = tree
        .read_dir("links/apps")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["guestbook", "other"]);
    assert_eq!(
        tree.read_file("links/dangling").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        tree.read_file("apps/nope").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(tree.read_file("apps").unwrap_err().kind(), ErrorKind::Invalid);
    let kinds: Vec<(String, EntryKind)> = tree
        .read_dir("links")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("absolute".to_owned(), EntryKind::File),
            ("apps".to_owned(), EntryKind::Dir),
            ("dangling".to_owned(), EntryKind::Other),
            ("inside.yaml".to_owned(), EntryKind::File),
            ("outside".to_owned(), EntryKind::File),
        ]
    );
    // Bounded sizes and entry counts.
    let small = GitResolver::new(f.tmp.path().join("cache2"))
        .with_max_file_bytes(10)
        .with_max_dir_entries(2);
    let tree = small.tree(&f.file_url(), &f.c1).unwrap();
    assert_eq!(
        tree.read_file("apps/other/cm.yaml").unwrap_err().kind(),
        ErrorKind::Invalid
    );
    assert_eq!(tree.read_dir("").unwrap_err().kind(), ErrorKind::Invalid);
    // A source path leaving the tree.
    let e = fails(git.resolve(&source(&f.file_url(), "main", "../x"), &ResolveContext::default()));
    assert_eq!(e.kind(), ErrorKind::Forbidden);
}

#[test]
fn manifest_generate_paths() {
    let f = Fixture::new();
    let git = GitResolver::new(f.cache());
    let url = f.file_url();
    assert_eq!(
        git.changed_paths(&url, &f.c1, &f.c2).unwrap(),
        ["apps/guestbook/cm.yaml"]
    );
    assert_eq!(
        git.changed_paths(&url, &f.c2, &f.c3).unwrap(),
        ["apps/other/cm.yaml", "shared/values.yaml"]
    );
    assert_eq!(
        git.changed_paths(&url, &f.c1, &f.dev).unwrap(),
        ["apps/dev-only/cm.yaml"]
    );
    assert!(git.changed_paths(&url, &f.c3, &f.c3).unwrap().is_empty());
    // Revisions are accepted too.
    assert_eq!(
        git.changed_paths(&url, "v1.0.0", "v1.2.3").unwrap(),
        ["apps/guestbook/cm.yaml"]
    );

    let c1_c2 = git.changed_paths(&url, &f.c1, &f.c2).unwrap();
    let c2_c3 = git.changed_paths(&url, &f.c2, &f.c3).unwrap();
    assert!(affects(".", "apps/guestbook", &c1_c2));
    assert!(!affects(".", "apps/other", &c1_c2));
    assert!(affects(".", "apps/other", &c2_c3));
    assert!(!affects(".", "apps/guestbook", &c2_c3));
    assert!(affects(".; /shared", "apps/guestbook", &c2_c3));
    assert!(affects("../../shared/values.yaml", "apps/guestbook", &c2_c3));
    assert!(affects("/apps/*/cm.yaml", "apps/guestbook", &c2_c3));
    assert!(!affects("/apps/*.yaml", "apps/guestbook", &c2_c3));
    assert!(!affects("/docs", "apps/guestbook", &c2_c3));
    assert!(affects("", "apps/guestbook", &c2_c3), "no paths: always refresh");
    assert!(!affects(".", "apps/guestbook", &[]), "no changes: no refresh");
}

#[test]
fn default_resolver_dispatches_local_and_git_sources() {
    let f = Fixture::new();
    // Uncommitted change in the work tree.
    write(&f.src(), "apps/guestbook/cm.yaml", &cm("guestbook-dirty"));
    let resolver = DefaultResolver::new(f.cache());
    let ctx = ResolveContext::with_base_dir(f.tmp.path());
    let read = |url: &str, rev: &str| {
        let tree = resolver
            .resolve(&source(url, rev, "apps/guestbook"), &ctx)
            .unwrap();
        let content = String::from_utf8(tree.read_file("apps/guestbook/cm.yaml").unwrap()).unwrap();
        (tree.revision().to_owned(), content)
    };
    // Work tree without a revision (or HEAD): read as it is on disk.
    for (url, rev) in [("./src", ""), ("./src", "HEAD"), (f.file_url().as_str(), "")] {
        assert_eq!(
            read(url, rev),
            ("local".to_owned(), cm("guestbook-dirty")),
            "{url} {rev}"
        );
    }
    // Work tree with a revision: the committed tree through Git.
    assert_eq!(read("./src", "v1.0.0"), (f.c1.clone(), cm("guestbook-v1")));
    assert_eq!(read(&f.file_url(), "main"), (f.c3.clone(), cm("guestbook-v2")));
    // A bare repository: always through Git.
    let bare = f.tmp.path().join("bare.git");
    run_git(
        f.tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &f.src().display().to_string(),
            &bare.display().to_string(),
        ],
    );
    assert_eq!(read("./bare.git", ""), (f.c3.clone(), cm("guestbook-v2")));
    // A plain directory.
    let plain = f.tmp.path().join("plain");
    write(&plain, "apps/guestbook/cm.yaml", &cm("plain"));
    assert_eq!(read("./plain", "main"), ("local".to_owned(), cm("plain")));
    // https:// goes to the Git resolver (a closed port: the connection is refused).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = fails(resolver.resolve(
        &source(&format!("https://127.0.0.1:{port}/org/repo"), "", "."),
        &ctx,
    ));
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    // Not supported.
    let e = fails(resolver.resolve(&source("oci://registry/x", "", "."), &ctx));
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[test]
fn credentials_never_show_up_in_errors_or_debug() {
    let tmp = tempfile::tempdir().unwrap();
    // A closed port: the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let git = GitResolver::new(tmp.path().join("cache")).with_credentials(
        CredentialSet::new()
            .with("git://", Credential::token("t0k3n-secret"))
            .with("ssh://", Credential::basic("bot", "pa55-secret")),
    );
    let url = format!("git://user:pa55-secret@127.0.0.1:{port}/repo");
    let e = git.resolve_revision(&url, "main", "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains("pa55-secret") && !shown.contains("t0k3n"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("git://***@127.0.0.1:{port}/repo")),
        "{shown}"
    );
    assert!(shown.contains("at revision main"), "{shown}");
    let debug = format!("{git:?}");
    assert!(!debug.contains("secret") && !debug.contains("t0k3n"), "{debug}");
    assert!(!git.repo_dir(&url).display().to_string().contains("secret"));
}
