//! `argocd.argoproj.io/manifest-generate-paths`: which files changed between two commits, and
//! whether those changes affect an application (spec ops §5.4).

use gix::ObjectId;

/// The annotation naming the paths an application's manifests depend on.
pub const MANIFEST_GENERATE_PATHS_ANNOTATION: &str = "argocd.argoproj.io/manifest-generate-paths";

/// Whether the `changed` files (repository-relative paths, as returned by
/// [`GitResolver::changed_paths`](super::GitResolver::changed_paths)) affect an application
/// whose source path is `app_path` and whose `manifest-generate-paths` annotation is
/// `annotation_value` (Argo CD's `GetSourceRefreshPaths` + `AppFilesHaveChanged`).
///
/// - The value is `;`-separated; each entry is trimmed and empty entries are ignored.
/// - An entry with a leading `/` is relative to the repository root; any other entry is joined
///   with `app_path` and cleaned, so `.` is the application directory and `../shared` a
///   sibling.
/// - A changed file affects the application when it equals an entry, lies under it, or matches
///   it as a glob (`*`, `?`, `[...]`; `*` does not cross `/`, as Go's `filepath.Match`).
/// - An annotation without entries means "always refresh": `true`. No changed file: `false`
///   (callers that do not know which files changed, such as a webhook without a file list,
///   should refresh without asking).
///
/// ```
/// use gitops_render::git::affects;
/// let changed = vec!["apps/guestbook/deploy.yaml".to_owned()];
/// assert!(affects(".", "apps/guestbook", &changed));
/// assert!(!affects(".", "apps/other", &changed));
/// assert!(affects("/apps/*/deploy.yaml", "apps/other", &changed));
/// assert!(affects("../guestbook; .", "apps/other", &changed));
/// assert!(affects("", "apps/other", &changed)); // no paths: always
/// ```
pub fn affects(annotation_value: &str, app_path: &str, changed: &[String]) -> bool {
    let paths = refresh_paths(annotation_value, app_path);
    if paths.is_empty() {
        return true;
    }
    changed.iter().any(|file| {
        let file = clean(file.trim_start_matches('/'));
        paths.iter().any(|p| path_matches(p, &file))
    })
}

/// The annotation's entries as repository-relative, cleaned paths (`""` is the root).
fn refresh_paths(annotation_value: &str, app_path: &str) -> Vec<String> {
    annotation_value
        .split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| match entry.strip_prefix('/') {
            Some(abs) => clean(abs),
            None => clean(&format!("{}/{entry}", app_path.trim_matches('/'))),
        })
        .collect()
}

/// Lexical cleaning like Go's `path.Clean` on a relative path: `.` removed, `..` applied, a
/// `..` above the root kept (it then never matches a file).
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    out.join("/")
}

fn path_matches(pattern: &str, file: &str) -> bool {
    if pattern.is_empty() || pattern == file {
        return true;
    }
    if file.len() > pattern.len() && file.starts_with(pattern) && file.as_bytes()[pattern.len()] == b'/' {
        return true;
    }
    if !pattern.contains(['*', '?', '[']) {
        return false;
    }
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher().is_match(file))
        .unwrap_or(false)
}

/// The files that differ between the trees `from` and `to` (added, removed, modified, or whose
/// mode changed), repository-relative, sorted.
pub(crate) fn diff_trees(
    repo: &gix::Repository,
    from: ObjectId,
    to: ObjectId,
) -> Result<Vec<String>, gix::Error> {
    let mut out = Vec::new();
    diff_into(repo, Some(from), Some(to), "", &mut out)?;
    out.sort();
    out.dedup();
    Ok(out)
}

struct Item {
    name: String,
    tree: bool,
    mode: u32,
    oid: ObjectId,
}

fn items(repo: &gix::Repository, id: Option<ObjectId>) -> Result<Vec<Item>, gix::Error> {
    let Some(id) = id else {
        return Ok(Vec::new());
    };
    let tree = repo.find_tree(id)?;
    let decoded = tree.decode()?;
    let mut items: Vec<Item> = decoded
        .entries
        .iter()
        .map(|e| Item {
            name: String::from_utf8_lossy(e.filename).into_owned(),
            tree: e.mode.is_tree(),
            mode: u32::from(e.mode.value()),
            oid: e.oid.to_owned(),
        })
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(items)
}

fn diff_into(
    repo: &gix::Repository,
    from: Option<ObjectId>,
    to: Option<ObjectId>,
    prefix: &str,
    out: &mut Vec<String>,
) -> Result<(), gix::Error> {
    if from == to {
        return Ok(());
    }
    let a = items(repo, from)?;
    let b = items(repo, to)?;
    let (mut i, mut j) = (0, 0);
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        }
    };
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.name.cmp(&y.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let x = &a[i];
                side(repo, x, &join(&x.name), out)?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let y = &b[j];
                side(repo, y, &join(&y.name), out)?;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (&a[i], &b[j]);
                let path = join(&x.name);
                match (x.tree, y.tree) {
                    (true, true) => diff_into(repo, Some(x.oid), Some(y.oid), &path, out)?,
                    (false, false) => {
                        if x.oid != y.oid || x.mode != y.mode {
                            out.push(path);
                        }
                    }
                    _ => {
                        side(repo, x, &path, out)?;
                        side(repo, y, &path, out)?;
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}

/// An entry present on one side only: the file, or every file under the directory.
fn side(repo: &gix::Repository, item: &Item, path: &str, out: &mut Vec<String>) -> Result<(), gix::Error> {
    if item.tree {
        diff_into(repo, Some(item.oid), None, path, out)
    } else {
        out.push(path.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn refresh_path_rules() {
        assert_eq!(
            refresh_paths(" . ; /shared ;; ../lib ", "apps/a/"),
            ["apps/a", "shared", "apps/lib"]
        );
        assert_eq!(refresh_paths("../../..", "a"), ["../.."]);
        assert_eq!(clean("a/./b/../c"), "a/c");
    }

    #[test]
    fn matching() {
        let changed = files(&["apps/a/x.yaml", "shared/values.yaml", "README.md"]);
        assert!(affects(".", "apps/a", &changed));
        assert!(!affects(".", "apps/b", &changed));
        assert!(affects("/shared", "apps/b", &changed));
        assert!(affects("/shared/values.yaml", "apps/b", &changed)); // a file
        assert!(affects("/*.md", "apps/b", &changed));
        assert!(!affects("/apps/*.yaml", "apps/b", &changed)); // `*` does not cross `/`
        assert!(affects("/apps/*/x.yaml", "apps/b", &changed));
        assert!(!affects("/apps/aa", "apps/b", &changed)); // a prefix is not a parent
        assert!(!affects(".", "apps/a", &[]));
        assert!(affects(" ; ", "apps/a", &[]));
        assert!(affects("/", "apps/b", &changed)); // the repository root
    }
}
