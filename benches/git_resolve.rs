//! Revision resolution + reading an app path from a Git commit: gitops-render's gix-based
//! `GitResolver`/`GitTree` against the `git` CLI (`git rev-parse` + `git ls-tree -r` +
//! `git cat-file --batch`) on the same generated repository.
//!
//! Run: `cargo bench -p gitops-benches --bench git_resolve` (needs `git` on `PATH`).
//! Environment: `GIT_BENCH_FILES` (default 2000 files in 20 app directories), `GIT_BENCH_RUNS`
//! (default 15).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitops_core::engine::{EntryKind, SourceTree};
use gitops_render::git::GitResolver;

const APPS: usize = 20;

fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.invalid")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.invalid")
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("utf-8").trim().to_owned()
}

/// A repository with `files` manifests spread over `APPS` app directories, two commits.
fn generate(root: &Path, files: usize) -> PathBuf {
    let dir = root.join("src");
    std::fs::create_dir_all(&dir).expect("mkdir");
    git(&dir, &["init", "-q"]);
    for i in 0..files {
        let app = dir.join(format!("apps/app-{:02}", i % APPS));
        std::fs::create_dir_all(&app).expect("mkdir");
        let body = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  value: \"{}\"\n",
            "x".repeat(64 + i % 200)
        );
        std::fs::write(app.join(format!("cm-{i:05}.yaml")), body).expect("write");
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "one"]);
    git(&dir, &["tag", "v1.0.0"]);
    std::fs::write(dir.join("apps/app-00/extra.yaml"), "kind: ConfigMap\n").expect("write");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "two"]);
    dir
}

/// Reads every file under `dir` of `tree`; returns (files, bytes).
fn read_all(tree: &dyn SourceTree, dir: &str) -> (usize, usize) {
    let mut files = 0;
    let mut bytes = 0;
    for e in tree.read_dir(dir).expect("read_dir") {
        let path = if dir.is_empty() {
            e.name.clone()
        } else {
            format!("{dir}/{}", e.name)
        };
        match e.kind {
            EntryKind::Dir => {
                let (f, b) = read_all(tree, &path);
                files += f;
                bytes += b;
            }
            EntryKind::File => {
                files += 1;
                bytes += tree.read_file(&path).expect("read_file").len();
            }
            _ => {}
        }
    }
    (files, bytes)
}

/// The CLI way: rev-parse, ls-tree -r of the path, cat-file --batch of its blobs.
fn cli(dir: &Path, rev: &str, path: &str) -> (usize, usize) {
    let sha = text(git(dir, &["rev-parse", &format!("{rev}^{{commit}}")]));
    let mut args = vec!["ls-tree", "-r", sha.as_str()];
    if !path.is_empty() {
        args.push(path);
    }
    let listing = text(git(dir, &args));
    let blobs: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git cat-file");
    // Written from another thread: cat-file's output would fill the pipe otherwise.
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = blobs.iter().map(|b| format!("{b}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("cat-file output");
    writer.join().expect("writer thread").expect("write to cat-file");
    (blobs.len(), out.stdout.len())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(runs: usize, mut f: impl FnMut() -> (usize, usize)) -> (Duration, (usize, usize)) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        last = std::hint::black_box(f());
        samples.push(start.elapsed());
    }
    (median(samples), last)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let files: usize = std::env::var("GIT_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let runs: usize = std::env::var("GIT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let root = std::env::temp_dir().join(format!("gitops-bench-git-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let src = generate(&root, files);
    let url = format!("file://{}", src.display());
    let cache = root.join("cache");

    let start = Instant::now();
    let warm = GitResolver::new(&cache);
    let head = warm.resolve_revision(&url, "main", "").expect("resolve");
    println!(
        "git_resolve: {files} files in {APPS} apps, {runs} runs, median times\n\
         initial clone into the cache (gix over file://): {:.1} ms",
        ms(start.elapsed())
    );

    // The CLI reads the same packed bare repository gix reads (the cache), not the loose-object
    // source repository.
    let packed = warm.repo_dir(&url);
    let app = "apps/app-07";
    for (label, path) in [("app path", app), ("whole tree", "")] {
        // gix, warm resolver: ref listing cached (TTL), fresh tree (no decoded-tree reuse).
        let (gix_warm, n1) = measure(runs, || {
            let sha = warm.resolve_revision(&url, "main", "").expect("resolve");
            let tree = GitResolver::new(&cache).tree(&url, &sha).expect("tree");
            read_all(&*tree, path)
        });
        // gix, cold resolver: lists refs over file:// (spawns git-upload-pack), no fetch.
        let (gix_cold, n2) = measure(runs, || {
            let fresh = GitResolver::new(&cache);
            let sha = fresh.resolve_revision(&url, "main", "").expect("resolve");
            let tree = fresh.tree(&url, &sha).expect("tree");
            read_all(&*tree, path)
        });
        let (cli_t, n3) = measure(runs, || cli(&packed, "main", path));
        assert_eq!(n1.0, n3.0, "same files read");
        assert_eq!(n1, n2);
        println!(
            "{label:>10} ({} files, {} KiB): gix warm {:.2} ms | gix with ls-remote {:.2} ms | git CLI {:.2} ms | \
             CLI/gix-warm {:.1}x, CLI/gix-ls-remote {:.1}x",
            n1.0,
            n1.1 / 1024,
            ms(gix_warm),
            ms(gix_cold),
            ms(cli_t),
            cli_t.as_secs_f64() / gix_warm.as_secs_f64(),
            cli_t.as_secs_f64() / gix_cold.as_secs_f64(),
        );
    }
    // Resolving a full SHA that is cached: no network, no process.
    let (sha_t, _) = measure(runs, || {
        let sha = GitResolver::new(&cache)
            .resolve_revision(&url, &head, "")
            .expect("resolve");
        (sha.len(), 0)
    });
    let (cli_sha, _) = measure(runs, || {
        (
            text(git(&packed, &["rev-parse", &format!("{head}^{{commit}}")])).len(),
            0,
        )
    });
    println!(
        "resolve of a cached full sha: gix {:.3} ms | git rev-parse {:.3} ms",
        ms(sha_t),
        ms(cli_sha)
    );
    let _ = std::fs::remove_dir_all(&root);
}
