//! No panics and no escapes, whatever the input.

use gitops_core::engine::{ErrorKind, SourceTree};
use gitops_render::{DirectoryRenderer, FsTree};
use proptest::prelude::*;

use crate::{dir_source, fixture_tree, render_with, temp_repo};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_file_content_renders_or_errors(text in ".{0,200}", json in ".{0,80}") {
        let yaml = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n{text}");
        let repo = temp_repo(&[("a.yaml", yaml.as_str()), ("b.yaml", text.as_str()), ("c.json", json.as_str())]);
        let tree = FsTree::open(repo.path(), "local").expect("open");
        let _ = render_with(&DirectoryRenderer::new(), &tree, "", &dir_source(None));
    }

    #[test]
    fn paths_never_leave_the_tree(parts in proptest::collection::vec(
        prop_oneof![Just(".."), Just("."), Just(""), Just("plain"), Just("sub"), Just("d.json"), Just("/")],
        0..8,
    )) {
        let tree = fixture_tree();
        let path = parts.concat();
        let root = tree.local_root().expect("local");
        for result in [tree.read_file(&path).map(|_| ()), tree.read_dir(&path).map(|_| ())] {
            if let Err(e) = result {
                prop_assert!(matches!(e.kind(), ErrorKind::Forbidden | ErrorKind::NotFound | ErrorKind::Invalid), "{e}");
            }
        }
        // Whatever resolves is inside the root.
        let mut depth: i32 = 0;
        let mut escaped = path.starts_with('/');
        for c in path.split('/') {
            match c {
                ".." => depth -= 1,
                "" | "." => {}
                _ => depth += 1,
            }
            escaped |= depth < 0;
        }
        if escaped {
            prop_assert_eq!(tree.read_dir(&path).map(|_| ()).unwrap_err().kind(), ErrorKind::Forbidden);
        }
        prop_assert!(root.is_absolute());
    }
}
