//! `targetRevision` resolution over a list of remote refs (Argo CD's `nativeGitClient.lsRemote`,
//! spec ops §5.1), independent of any transport.

use semver::{Version, VersionReq};

/// One ref listed by the remote, peeled to the commit it designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteRef {
    /// Full name: `HEAD`, `refs/heads/main`, `refs/tags/v1.0.0`.
    pub(crate) name: String,
    /// For a symbolic ref (`HEAD`), the ref it points to.
    pub(crate) target: Option<String>,
    /// The commit (hex), annotated tags peeled.
    pub(crate) commit: String,
}

/// What a revision resolved to against the listed refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// A full commit SHA (lowercase hex).
    Commit(String),
    /// A truncated SHA that matched no ref: to be looked up among the fetched objects.
    ShortSha(String),
}

/// Whether `rev` is a full 40-hex SHA-1.
pub(crate) fn is_full_sha(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `rev` looks like a truncated SHA (7 or more hex digits).
pub(crate) fn is_short_sha(rev: &str) -> bool {
    rev.len() >= 7 && rev.len() <= 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `rev` means the remote's default branch.
pub(crate) fn is_head(rev: &str) -> bool {
    rev.is_empty() || rev == "HEAD"
}

/// Resolves `rev` against `refs` (spec ops §5.1 steps 3–6). `Ok(None)` when nothing matches;
/// `Err` with a message for an invalid use of `tag_prefix`.
pub(crate) fn resolve(refs: &[RemoteRef], rev: &str, tag_prefix: &str) -> Result<Option<Resolution>, String> {
    let rev = if rev.is_empty() { "HEAD" } else { rev };
    if is_full_sha(rev) {
        return Ok(Some(Resolution::Commit(rev.to_ascii_lowercase())));
    }
    // Semver step: an exact version is a pin (resolved as a plain name below); a constraint picks
    // the highest matching tag.
    if parse_version(rev).is_none() {
        match parse_constraint(rev) {
            Some(req) => return Ok(max_tag(refs, &req, tag_prefix)),
            None if !tag_prefix.is_empty() => {
                return Err(format!(
                    "revision {rev} is not a semver constraint, which a tagPrefix ({tag_prefix}) requires"
                ));
            }
            None => {}
        }
    } else if !tag_prefix.is_empty() {
        return Err(format!(
            "revision {rev} is an exact version, but a tagPrefix ({tag_prefix}) requires a semver constraint"
        ));
    }
    for r in refs {
        if r.name == rev || short_name(&r.name) == Some(rev) {
            return Ok(Some(Resolution::Commit(r.commit.clone())));
        }
    }
    if is_short_sha(rev) {
        return Ok(Some(Resolution::ShortSha(rev.to_ascii_lowercase())));
    }
    Ok(None)
}

/// `refs/heads/x`, `refs/tags/x`, `refs/remotes/x` → `x` (go-git's `Name().Short()` for the
/// common namespaces).
fn short_name(name: &str) -> Option<&str> {
    ["refs/heads/", "refs/tags/", "refs/remotes/"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
}

/// The highest tag satisfying `req` (with `tag_prefix` filtered and stripped).
fn max_tag(refs: &[RemoteRef], req: &[VersionReq], tag_prefix: &str) -> Option<Resolution> {
    let mut best: Option<(Version, &RemoteRef)> = None;
    for r in refs {
        let Some(tag) = r.name.strip_prefix("refs/tags/") else {
            continue;
        };
        let Some(tag) = tag.strip_prefix(tag_prefix) else {
            continue;
        };
        let Some(v) = parse_version(tag) else {
            continue;
        };
        if !req.iter().any(|alt| alt.matches(&v)) {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, r));
        }
    }
    best.map(|(_, r)| Resolution::Commit(r.commit.clone()))
}

/// A version as Masterminds' `NewVersion` reads it: an optional `v`, one to three numeric parts
/// (missing ones are 0), then optional pre-release and build metadata.
pub(crate) fn parse_version(s: &str) -> Option<Version> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let core_end = s.find(['-', '+']).unwrap_or(s.len());
    let (core, rest) = s.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut full = parts.join(".");
    for _ in parts.len()..3 {
        full.push_str(".0");
    }
    full.push_str(rest);
    Version::parse(&full).ok()
}

/// A constraint in Masterminds' syntax (`*`, `1.2.*`, `>=1.0.0 <2.0.0`, `~1.2`, `^1.2`,
/// `1.0 - 2.0`, `a || b`), as alternatives of Rust `semver` requirements. `None` when `s` is not
/// a constraint (a branch name, `HEAD`, a SHA).
pub(crate) fn parse_constraint(s: &str) -> Option<Vec<VersionReq>> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().any(|b| b.is_ascii_digit() || b == b'*') {
        return None;
    }
    let mut alternatives = Vec::new();
    for alt in s.split("||") {
        let tokens: Vec<&str> = alt.split([' ', ',']).filter(|t| !t.is_empty()).collect();
        if tokens.is_empty() {
            return None;
        }
        let mut comparators: Vec<String> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let tok = tokens[i];
            // Hyphen range: `a - b`.
            if tokens.get(i + 1) == Some(&"-") {
                let hi = tokens.get(i + 2)?;
                comparators.push(format!(">={}", strip_v(tok)));
                comparators.push(format!("<={}", strip_v(hi)));
                i += 3;
                continue;
            }
            // An operator separated from its version: `>= 1.0`.
            let (op, version) = if is_operator(tok) {
                i += 1;
                (tok, *tokens.get(i)?)
            } else {
                let split = tok
                    .find(|c: char| !matches!(c, '<' | '>' | '=' | '~' | '^' | '!'))
                    .unwrap_or(tok.len());
                tok.split_at(split)
            };
            i += 1;
            let version = strip_v(version);
            if version.is_empty()
                || !version
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'*' | b'x' | b'X'))
            {
                return None;
            }
            let op = match op {
                // A bare version inside a constraint is an exact match, as in Masterminds.
                "" if version.contains(['*', 'x', 'X']) => "",
                "" => "=",
                "==" => "=",
                "~>" => "~",
                "!=" => return None,
                other => other,
            };
            comparators.push(format!("{op}{version}"));
        }
        // A lone exact version is a pin, not a constraint (handled by the caller).
        if comparators.len() == 1
            && comparators[0].starts_with('=')
            && tokens.len() == 1
            && !tokens[0].starts_with('=')
        {
            return None;
        }
        alternatives.push(VersionReq::parse(&comparators.join(", ")).ok()?);
    }
    Some(alternatives)
}

fn is_operator(tok: &str) -> bool {
    matches!(
        tok,
        "<" | ">" | "<=" | ">=" | "=" | "==" | "~" | "^" | "~>" | "!="
    )
}

fn strip_v(s: &str) -> &str {
    s.strip_prefix(['v', 'V']).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, commit: &str) -> RemoteRef {
        RemoteRef {
            name: name.into(),
            target: None,
            commit: commit.into(),
        }
    }

    fn refs() -> Vec<RemoteRef> {
        vec![
            RemoteRef {
                name: "HEAD".into(),
                target: Some("refs/heads/main".into()),
                commit: "a".repeat(40),
            },
            r("refs/heads/main", &"a".repeat(40)),
            r("refs/heads/dev", &"b".repeat(40)),
            r("refs/tags/v1.0.0", &"1".repeat(40)),
            r("refs/tags/v1.2.3", &"2".repeat(40)),
            r("refs/tags/v2.0.0", &"3".repeat(40)),
            r("refs/tags/v2.1.0-rc.1", &"4".repeat(40)),
            r("refs/tags/app-1.5.0", &"5".repeat(40)),
            r("refs/tags/release", &"6".repeat(40)),
        ]
    }

    fn commit(rev: &str) -> String {
        commit_with(rev, "")
    }

    fn commit_with(rev: &str, prefix: &str) -> String {
        match resolve(&refs(), rev, prefix) {
            Ok(Some(Resolution::Commit(c))) => c[..1].to_owned(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn names_and_shas() {
        assert_eq!(commit("HEAD"), "a");
        assert_eq!(commit(""), "a");
        assert_eq!(commit("main"), "a");
        assert_eq!(commit("refs/heads/dev"), "b");
        assert_eq!(commit("release"), "6");
        assert_eq!(commit("v1.2.3"), "2"); // exact version: a pin, resolved as a name
        assert_eq!(commit(&"C".repeat(40)), "c");
        assert_eq!(
            resolve(&refs(), "abcdef12", ""),
            Ok(Some(Resolution::ShortSha("abcdef12".into())))
        );
        assert_eq!(resolve(&refs(), "nope", ""), Ok(None));
    }

    #[test]
    fn semver_constraints() {
        assert_eq!(commit("1.2.*"), "2");
        assert_eq!(commit(">=1.0.0 <2.0.0"), "2");
        assert_eq!(commit(">= 1.0.0, < 2.0.0"), "2");
        assert_eq!(commit("~1.0"), "1");
        assert_eq!(commit("^1.0"), "2");
        assert_eq!(commit("^v1.0"), "2");
        assert_eq!(commit("*"), "3"); // pre-releases are excluded
        assert_eq!(commit(">=2.1.0-0"), "4");
        assert_eq!(commit("1.0.0 - 1.9"), "2");
        assert_eq!(commit("~1.0 || ~2.0"), "3");
        assert_eq!(commit("^3"), "Ok(None)");
        assert_eq!(commit_with("^1", "app-"), "5");
        assert!(resolve(&refs(), "main", "app-").is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("v1.2"), Some(Version::new(1, 2, 0)));
        assert_eq!(parse_version("1"), Some(Version::new(1, 0, 0)));
        assert!(parse_version("main").is_none());
        assert!(parse_version("1.2.3.4").is_none());
        assert!(parse_constraint("main").is_none());
        assert!(parse_constraint("HEAD").is_none());
        assert!(parse_constraint("release-2").is_none());
    }
}
