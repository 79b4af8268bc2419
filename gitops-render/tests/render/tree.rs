use gitops_core::engine::{EntryKind, ErrorKind, SourceTree};
use gitops_render::FsTree;

use crate::{fixture_tree, fixtures, temp_repo};

#[test]
fn lists_sorted_by_name_and_reads_files() {
    let tree = fixture_tree();
    assert_eq!(tree.revision(), "local");
    assert_eq!(
        tree.local_root(),
        Some(std::fs::canonicalize(fixtures()).unwrap())
    );
    let entries = tree.read_dir("plain").unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a-deploy.yaml",
            "b-multi.yaml",
            "c-list.yaml",
            "d.json",
            "notes.md",
            "skipped.yaml",
            "sub",
            "values.yaml"
        ]
    );
    assert_eq!(entries[6].kind, EntryKind::Dir);
    assert_eq!(entries[0].kind, EntryKind::File);
    assert!(tree.read_file("plain/d.json").unwrap().starts_with(b"{"));
    // `.` and inner `..` that stay inside are fine.
    assert!(tree.read_file("./plain/sub/../d.json").is_ok());
    assert_eq!(
        tree.read_dir("").unwrap().len(),
        tree.read_dir(".").unwrap().len()
    );
}

#[test]
fn byte_order_sorting() {
    let repo = temp_repo(&[("b.yaml", ""), ("B.yaml", ""), ("a.yaml", ""), ("_x.yaml", "")]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let names: Vec<String> = tree.read_dir("").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["B.yaml", "_x.yaml", "a.yaml", "b.yaml"]);
}

#[test]
fn missing_paths_are_not_found() {
    let tree = fixture_tree();
    let e = tree.read_file("plain/nope.yaml").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("plain/nope.yaml"), "{e}");
    assert_eq!(tree.read_dir("nope").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        tree.read_dir("plain/d.json").unwrap_err().kind(),
        ErrorKind::Invalid
    );
    assert_eq!(tree.read_file("plain").unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(
        tree.read_file("plain/d.json/x.yaml").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn dot_dot_escape_and_absolute_paths_are_forbidden() {
    let tree = FsTree::open(fixtures().join("plain"), "local").unwrap();
    for path in [
        "../bad-yaml/ok.yaml",
        "sub/../../helm-app/Chart.yaml",
        "..",
        "/etc/passwd",
    ] {
        let e = tree.read_file(path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{path}: {e}");
        assert!(e.to_string().contains(path), "{path}: {e}");
    }
    assert_eq!(tree.read_dir("..").unwrap_err().kind(), ErrorKind::Forbidden);
}

#[cfg(unix)]
#[test]
fn symlinks_outside_are_forbidden_inside_are_followed() {
    use std::os::unix::fs::symlink;
    let outside = temp_repo(&[("secret.yaml", &crate::cm("secret"))]);
    let repo = temp_repo(&[
        ("app/real.yaml", &crate::cm("real")),
        ("shared/cm.yaml", &crate::cm("shared")),
    ]);
    symlink(
        outside.path().join("secret.yaml"),
        repo.path().join("app/evil.yaml"),
    )
    .unwrap();
    symlink(outside.path(), repo.path().join("app/evil-dir")).unwrap();
    symlink("../shared/cm.yaml", repo.path().join("app/inside.yaml")).unwrap();
    symlink("../shared", repo.path().join("app/inside-dir")).unwrap();
    symlink(
        "/nonexistent/gitops-render-test",
        repo.path().join("app/dangling.yaml"),
    )
    .unwrap();

    let tree = FsTree::open(repo.path(), "local").unwrap();
    let kinds: Vec<(String, EntryKind)> = tree
        .read_dir("app")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("dangling.yaml".to_owned(), EntryKind::Other),
            ("evil-dir".to_owned(), EntryKind::Dir),
            ("evil.yaml".to_owned(), EntryKind::File),
            ("inside-dir".to_owned(), EntryKind::Dir),
            ("inside.yaml".to_owned(), EntryKind::File),
            ("real.yaml".to_owned(), EntryKind::File),
        ]
    );
    let e = tree.read_file("app/evil.yaml").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(
        e.to_string(),
        "path app/evil.yaml resolves through a symbolic link to outside the repository root"
    );
    assert_eq!(
        tree.read_dir("app/evil-dir").unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    assert_eq!(
        tree.read_file("app/evil-dir/secret.yaml").unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    let e = tree.read_file("app/dangling.yaml").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    assert_eq!(
        tree.read_file("app/inside.yaml").unwrap(),
        crate::cm("shared").as_bytes()
    );
    assert_eq!(tree.read_dir("app/inside-dir").unwrap()[0].name, "cm.yaml");

    // A root that is itself reached through a link is canonicalized: inside stays inside.
    let link_root = outside.path().join("link-to-repo");
    symlink(repo.path(), &link_root).unwrap();
    let tree = FsTree::open(&link_root, "local").unwrap();
    assert!(tree.read_file("app/real.yaml").is_ok());
}

#[test]
fn bounds_on_file_size_and_entries() {
    let repo = temp_repo(&[("big.yaml", "0123456789"), ("a", ""), ("b", ""), ("c", "")]);
    let tree = FsTree::open(repo.path(), "local").unwrap().with_max_file_bytes(9);
    let e = tree.read_file("big.yaml").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().starts_with("file too large: big.yaml"), "{e}");
    let tree = tree.with_max_dir_entries(3);
    let e = tree.read_dir("").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().contains("more than 3 entries"), "{e}");
    // The default limit is 16 MiB: a sparse file just over it.
    let f = std::fs::File::create(repo.path().join("huge.yaml")).unwrap();
    f.set_len(gitops_render::DEFAULT_MAX_FILE_BYTES + 1).unwrap();
    let tree = FsTree::open(repo.path(), "local").unwrap();
    assert!(
        tree.read_file("huge.yaml")
            .unwrap_err()
            .to_string()
            .starts_with("file too large")
    );
}

#[test]
fn open_errors() {
    let e = FsTree::open(fixtures().join("does-not-exist"), "local").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = FsTree::open(fixtures().join("plain/d.json"), "local").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
}
