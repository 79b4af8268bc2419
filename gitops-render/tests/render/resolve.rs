use gitops_core::engine::{ErrorKind, ResolveContext, SourceResolver};
use gitops_core::model::ApplicationSource;
use gitops_render::LocalResolver;

use crate::fixtures;

/// `unwrap_err` for results holding a `SharedSourceTree` (which is not `Debug`).
fn fails<T>(r: Result<T, gitops_core::engine::EngineError>) -> gitops_core::engine::EngineError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn source(repo_url: &str, path: Option<&str>) -> ApplicationSource {
    ApplicationSource {
        repo_url: repo_url.into(),
        path: path.map(Into::into),
        ..Default::default()
    }
}

#[test]
fn relative_repo_url_resolves_against_base_dir() {
    let ctx = ResolveContext::with_base_dir(fixtures().join("plain"));
    for url in ["..", "../", "./..", "../../repo"] {
        let tree = LocalResolver::new()
            .resolve(&source(url, Some("plain/sub")), &ctx)
            .unwrap();
        assert_eq!(tree.revision(), "local");
        assert_eq!(
            tree.local_root(),
            Some(std::fs::canonicalize(fixtures()).unwrap()),
            "{url}"
        );
        assert_eq!(tree.read_dir("plain/sub").unwrap().len(), 2);
    }
    let ctx = ResolveContext::with_base_dir(fixtures());
    let tree = LocalResolver::new()
        .resolve(&source("./plain", Some("sub")), &ctx)
        .unwrap();
    assert_eq!(
        tree.local_root(),
        Some(std::fs::canonicalize(fixtures().join("plain")).unwrap())
    );
}

#[test]
fn relative_repo_url_without_base_dir_is_invalid() {
    let e = fails(LocalResolver::new().resolve(&source("./repo", None), &ResolveContext::default()));
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().contains("relative path"), "{e}");
}

#[test]
fn absolute_path_and_file_url() {
    let abs = fixtures().display().to_string();
    let ctx = ResolveContext::default();
    let tree = LocalResolver::new()
        .resolve(&source(&abs, Some("plain")), &ctx)
        .unwrap();
    assert!(tree.read_file("plain/d.json").is_ok());
    let url = format!("file://{abs}");
    let tree = LocalResolver::new()
        .resolve(&source(&url, Some("./plain/")), &ctx)
        .unwrap();
    assert!(tree.read_file("plain/d.json").is_ok());
}

#[test]
fn remote_urls_are_unsupported() {
    for url in [
        "https://github.com/argoproj/argocd-example-apps.git",
        "git@github.com:argoproj/argocd-example-apps.git",
        "ssh://git@github.com/argoproj/argocd-example-apps.git",
        "oci://ghcr.io/org/chart",
    ] {
        let e =
            fails(LocalResolver::new().resolve(&source(url, Some("guestbook")), &ResolveContext::default()));
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{url}");
        let msg = e.to_string();
        assert!(
            msg.contains("remote Git repositories are not supported yet"),
            "{msg}"
        );
        assert!(msg.contains("a local path or a file:// URL works"), "{msg}");
    }
    let chart = ApplicationSource {
        chart: Some("nginx".into()),
        ..source("https://charts.example.com", None)
    };
    let e = fails(LocalResolver::new().resolve(&chart, &ResolveContext::default()));
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[test]
fn missing_repo_and_path_are_not_found() {
    let ctx = ResolveContext::with_base_dir(fixtures());
    let e = fails(LocalResolver::new().resolve(&source("./nope", None), &ctx));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().starts_with("repository ./nope not found"), "{e}");

    let e = fails(LocalResolver::new().resolve(&source(".", Some("apps/missing")), &ctx));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "path apps/missing does not exist in repository .");

    let e = fails(LocalResolver::new().resolve(&source(".", Some("plain/d.json")), &ctx));
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        "path plain/d.json in repository . is not a directory"
    );
}

#[test]
fn path_escaping_the_repo_is_forbidden() {
    let ctx = ResolveContext::with_base_dir(fixtures());
    for path in ["..", "../..", "plain/../../..", "plain/../../repo"] {
        let e = fails(LocalResolver::new().resolve(&source("./plain", Some(path)), &ctx));
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{path}: {e}");
        assert!(e.to_string().contains(path), "{e}");
    }
}
