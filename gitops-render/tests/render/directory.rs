use gitops_core::engine::{ErrorKind, RenderInput, Renderer};
use gitops_core::model::{ApplicationSource, SourceDirectory, SourceKustomize};
use gitops_render::{DirectoryRenderer, FsTree};

use crate::{app, cm, dir_source, fixture_tree, names, render_with, temp_repo};

fn render_dir(
    path: &str,
    directory: Option<SourceDirectory>,
) -> Result<Vec<String>, gitops_core::engine::EngineError> {
    let tree = fixture_tree();
    let objects = render_with(&DirectoryRenderer::new(), &tree, path, &dir_source(directory))?;
    Ok(names(&objects).into_iter().map(str::to_owned).collect())
}

fn recurse() -> SourceDirectory {
    SourceDirectory {
        recurse: true,
        ..Default::default()
    }
}

#[test]
fn plain_directory_without_recurse() {
    // Walk order; documents in file order; List expanded; values.yaml, notes.md and the
    // marked file skipped; subdirectories not entered.
    assert_eq!(
        render_dir("plain", None).unwrap(),
        ["web", "multi-1", "multi-2", "list-1", "list-2", "json-1"]
    );
}

#[test]
fn plain_directory_with_recurse() {
    assert_eq!(
        render_dir("plain", Some(recurse())).unwrap(),
        [
            "web", "multi-1", "multi-2", "list-1", "list-2", "json-1", "deeper-f", "sub-e"
        ]
    );
}

#[test]
fn deterministic_order() {
    let first = render_dir("plain", Some(recurse())).unwrap();
    for _ in 0..5 {
        assert_eq!(render_dir("plain", Some(recurse())).unwrap(), first);
    }
    // Files and directories interleave in byte order, depth first.
    let repo = temp_repo(&[
        ("c.yaml", &cm("c")),
        ("b/z.yaml", &cm("b-z")),
        ("b/a.yaml", &cm("b-a")),
        ("a.yaml", &cm("a")),
        ("B.yaml", &cm("upper-b")),
        ("b.yaml", &cm("b-file")),
    ]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let objects = render_with(&DirectoryRenderer::new(), &tree, "", &dir_source(Some(recurse()))).unwrap();
    assert_eq!(names(&objects), ["upper-b", "a", "b-a", "b-z", "b-file", "c"]);
}

#[test]
fn include_and_exclude_globs() {
    let with = |include: Option<&str>, exclude: Option<&str>| {
        render_dir(
            "plain",
            Some(SourceDirectory {
                recurse: true,
                include: include.map(Into::into),
                exclude: exclude.map(Into::into),
                ..Default::default()
            }),
        )
        .unwrap()
    };
    // `*` crosses `/`.
    assert_eq!(with(Some("*.yml"), None), ["deeper-f"]);
    assert_eq!(with(Some("sub/*"), None), ["deeper-f", "sub-e"]);
    // Brace alternation.
    assert_eq!(with(Some("{a-deploy.yaml,d.json}"), None), ["web", "json-1"]);
    assert_eq!(
        with(None, Some("{*.json,sub/*}")),
        ["web", "multi-1", "multi-2", "list-1", "list-2"]
    );
    // Exclude beats include.
    assert_eq!(with(Some("{a-deploy.yaml,d.json}"), Some("d.json")), ["web"]);
    assert_eq!(with(Some("*"), Some("*")), Vec::<String>::new());
    // Empty patterns mean "not set".
    assert_eq!(with(Some(""), Some("")).len(), 8);
}

#[test]
fn include_does_not_bring_back_other_extensions() {
    assert_eq!(
        render_dir(
            "plain",
            Some(SourceDirectory {
                include: Some("notes.md".into()),
                ..Default::default()
            })
        )
        .unwrap(),
        Vec::<String>::new()
    );
    // Unless the extension filter is disabled.
    assert_eq!(
        render_dir(
            "plain",
            Some(SourceDirectory {
                include: Some("notes.md".into()),
                disable_extension_filter: true,
                ..Default::default()
            })
        )
        .unwrap(),
        ["not-a-manifest-extension"]
    );
}

#[test]
fn invalid_glob_is_invalid() {
    let e = render_dir(
        "plain",
        Some(SourceDirectory {
            include: Some("{a.yaml".into()),
            ..Default::default()
        }),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.to_string()
            .starts_with("invalid directory.include pattern \"{a.yaml\""),
        "{e}"
    );
}

#[test]
fn skip_file_rendering_marker() {
    // plain/skipped.yaml is broken YAML with apiVersion/kind/metadata, but marked: no error.
    assert!(
        render_dir(
            "plain",
            Some(SourceDirectory {
                include: Some("skipped.yaml".into()),
                ..Default::default()
            })
        )
        .unwrap()
        .is_empty()
    );
    // The marker also works in JSON and anywhere in the text.
    let repo = temp_repo(&[
        ("a.json", "{\"x\": \"+argocd:skip-file-rendering\"}"),
        (
            "b.yaml",
            &format!("{}data:\n  note: see +argocd:skip-file-rendering\n", cm("b")),
        ),
        ("c.yaml", &cm("c")),
    ]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let objects = render_with(&DirectoryRenderer::new(), &tree, "", &dir_source(None)).unwrap();
    assert_eq!(names(&objects), ["c"]);
}

#[test]
fn bad_yaml_with_manifest_fields_is_an_error() {
    let e = render_dir("bad-yaml", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let msg = e.to_string();
    assert!(msg.starts_with("bad-yaml/broken.yaml:"), "{msg}");
    assert!(msg.contains("(document 1)"), "{msg}");
    assert!(msg.contains("invalid YAML"), "{msg}");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn bad_yaml_without_manifest_fields_is_ignored() {
    assert_eq!(render_dir("unrelated-yaml", None).unwrap(), ["ok"]);
}

#[test]
fn yaml_document_that_is_not_an_object() {
    // Has the three fields, so it is meant as a manifest: an error naming file, document, line.
    let repo = temp_repo(&[(
        "app/x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata:\n  name: b\n",
    )]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let e = render_with(&DirectoryRenderer::new(), &tree, "app", &dir_source(None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.to_string(),
        "app/x.yaml:4 (document 1): not a Kubernetes object: missing required field `kind`"
    );
}

#[test]
fn json_with_two_objects_is_an_error() {
    let e = render_dir("json-two", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.to_string(),
        "json-two/two.json (document 1): found multiple objects in a JSON file"
    );
}

#[test]
fn json_that_is_not_an_object_is_an_error() {
    // Argo CD fails on a stray package.json too (exclude it).
    let e = render_dir("not-object-json", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().starts_with("not-object-json/package.json"), "{e}");
    let ok = render_dir(
        "not-object-json",
        Some(SourceDirectory {
            exclude: Some("package.json".into()),
            ..Default::default()
        }),
    );
    assert!(ok.unwrap().is_empty());
}

#[test]
fn list_expansion() {
    assert_eq!(
        render_dir(
            "plain",
            Some(SourceDirectory {
                include: Some("c-list.yaml".into()),
                ..Default::default()
            })
        )
        .unwrap(),
        ["list-1", "list-2"]
    );
}

#[test]
fn jsonnet_is_unsupported_only_when_included() {
    let e = render_dir("jsonnet", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string()
            .starts_with("jsonnet/main.jsonnet: jsonnet is not supported yet"),
        "{e}"
    );
    let ok = render_dir(
        "jsonnet",
        Some(SourceDirectory {
            exclude: Some("*.jsonnet".into()),
            ..Default::default()
        }),
    );
    assert_eq!(ok.unwrap(), ["ok"]);
}

#[test]
fn kustomization_file_does_not_break_an_explicit_directory_source() {
    // With `directory` set, the Kustomize detection does not apply: the kustomization file is a
    // YAML file like any other. Whether it comes out as an object depends on the core loader's
    // view of `kustomize.config.k8s.io` documents without metadata (ignored when they are not
    // objects, by the apiVersion/kind/metadata rule); the rest renders either way.
    let tree = fixture_tree();
    let source = dir_source(Some(SourceDirectory::default()));
    let objects = render_with(&DirectoryRenderer::new(), &tree, "kustomize-app", &source).unwrap();
    assert_eq!(objects[0].name(), "web");
    assert!(objects[1..].iter().all(|o| o.kind() == "Kustomization"));
}

#[test]
fn supports_only_directory_or_untyped_sources() {
    let tree = fixture_tree();
    let app = app();
    let r = DirectoryRenderer::new();
    assert_eq!(r.name(), "Directory");
    let untyped = ApplicationSource::default();
    assert!(r.supports(&RenderInput::new(&app, &untyped, &tree, "")));
    let dir = dir_source(Some(SourceDirectory::default()));
    assert!(r.supports(&RenderInput::new(&app, &dir, &tree, "")));
    let kust = ApplicationSource {
        kustomize: Some(SourceKustomize::default()),
        ..Default::default()
    };
    assert!(!r.supports(&RenderInput::new(&app, &kust, &tree, "")));
}

#[test]
fn combined_size_bound() {
    let tree = fixture_tree();
    let r = DirectoryRenderer::new().with_max_combined_bytes(100);
    let e = render_with(&r, &tree, "plain", &dir_source(None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.to_string()
            .starts_with("exceeded max combined manifest file size of 100 bytes"),
        "{e}"
    );
}

#[test]
fn bom_and_empty_files() {
    let repo = temp_repo(&[
        ("a.yaml", &format!("\u{feff}{}", cm("bom"))),
        ("b.yaml", ""),
        ("c.json", ""),
        ("d.yaml", "---\n---\n"),
    ]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let objects = render_with(&DirectoryRenderer::new(), &tree, "", &dir_source(None)).unwrap();
    assert_eq!(names(&objects), ["bom"]);
}

#[cfg(unix)]
#[test]
fn symlink_outside_the_repo_is_forbidden_when_rendered() {
    use std::os::unix::fs::symlink;
    let outside = temp_repo(&[("secret.yaml", &cm("secret"))]);
    let repo = temp_repo(&[("app/a.yaml", &cm("a")), ("shared/s.yaml", &cm("shared"))]);
    symlink("../shared/s.yaml", repo.path().join("app/b-inside.yaml")).unwrap();
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let objects = render_with(&DirectoryRenderer::new(), &tree, "app", &dir_source(None)).unwrap();
    assert_eq!(names(&objects), ["a", "shared"]);

    symlink(
        outside.path().join("secret.yaml"),
        repo.path().join("app/c-evil.yaml"),
    )
    .unwrap();
    let e = render_with(&DirectoryRenderer::new(), &tree, "app", &dir_source(None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert!(e.to_string().contains("app/c-evil.yaml"), "{e}");
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_bounded() {
    use std::os::unix::fs::symlink;
    let repo = temp_repo(&[("app/a.yaml", &cm("a"))]);
    symlink(".", repo.path().join("app/loop")).unwrap();
    let tree = FsTree::open(repo.path(), "local").unwrap();
    // Without recurse the loop is never entered.
    let objects = render_with(&DirectoryRenderer::new(), &tree, "app", &dir_source(None)).unwrap();
    assert_eq!(names(&objects), ["a"]);
    let e = render_with(
        &DirectoryRenderer::new(),
        &tree,
        "app",
        &dir_source(Some(recurse())),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(e.to_string().contains("app/loop/loop"), "{e}");
    // Two loops: the depth-first walk stops on the first chain, it does not explode.
    symlink(".", repo.path().join("app/loop2")).unwrap();
    let e = render_with(
        &DirectoryRenderer::new(),
        &tree,
        "app",
        &dir_source(Some(recurse())),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
}
