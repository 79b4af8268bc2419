//! Repository URLs: redaction of credentials, transport classification and cache keys.

/// How a repository URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `file://` URL.
    File,
    /// `git://` (the git daemon protocol, plain TCP).
    Git,
    /// `http://` or `https://`.
    Http,
    /// `ssh://` or scp-like `user@host:path`.
    Ssh,
}

/// The transport of a remote URL, `None` for anything that is not a Git URL (a local path,
/// `oci://`, …).
pub(crate) fn transport(url: &str) -> Option<Transport> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("file://") {
        Some(Transport::File)
    } else if lower.starts_with("git://") {
        Some(Transport::Git)
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        Some(Transport::Http)
    } else if lower.starts_with("ssh://")
        || lower.starts_with("git+ssh://")
        || lower.starts_with("ssh+git://")
    {
        Some(Transport::Ssh)
    } else if lower.contains("://") {
        None
    } else if is_scp_like(url) {
        Some(Transport::Ssh)
    } else {
        None
    }
}

/// `user@host:path` or `host:path` (a colon before the first slash, not a Windows drive).
fn is_scp_like(url: &str) -> bool {
    if url.starts_with('.') || url.starts_with('/') {
        return false;
    }
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon > 1 && colon < slash,
        (Some(colon), None) => colon > 1,
        _ => false,
    }
}

/// `url` with any user information (`user:password@`) replaced by `***@`, so that it can be
/// shown in messages and logs. scp-like addresses (`git@host:org/repo`) carry a user name but no
/// secret and are kept as they are.
pub(crate) fn redact(url: &str) -> String {
    let url = url.trim();
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => format!("{}***{}", &url[..rest_start], &rest[at..]),
        None => url.to_owned(),
    }
}

/// Removes every occurrence of the URL's user information (and the raw URL itself) from a
/// message produced by a library, replacing the URL by its redacted form.
pub(crate) fn scrub(message: &str, url: &str, secrets: &[&str]) -> String {
    let mut out = message.replace(url.trim(), &redact(url));
    if let Some(userinfo) = userinfo(url) {
        if !userinfo.is_empty() {
            out = out.replace(userinfo, "***");
        }
        if let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
        {
            out = out.replace(password, "***");
        }
    }
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret, "***");
        }
    }
    out
}

/// The `user:password` part of a URL with a scheme.
fn userinfo(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")?;
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    authority.rfind('@').map(|at| &authority[..at])
}

/// The key repositories are cached under: the redacted URL, lowercased scheme and host, without
/// a trailing `/` or `.git`, so that `https://host/org/repo` and `https://host/org/repo.git`
/// share one cache.
pub(crate) fn cache_key(url: &str) -> String {
    let mut key = redact(url);
    while key.ends_with('/') {
        key.pop();
    }
    if let Some(stripped) = key.strip_suffix(".git") {
        key = stripped.to_owned();
    }
    if let Some(scheme_end) = key.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = key[rest_start..].find('/').map_or(key.len(), |i| rest_start + i);
        let lowered = key[..authority_end].to_ascii_lowercase();
        key.replace_range(..authority_end, &lowered);
    }
    key
}

/// A directory name for the cache of `url`: a readable tail of the URL and a 64-bit FNV-1a hash
/// of the [`cache_key`].
pub(crate) fn cache_dir_name(url: &str) -> String {
    let key = cache_key(url);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let tail: String = key
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let tail = if tail.is_empty() { "repo".to_owned() } else { tail };
    format!("{tail}-{hash:016x}.git")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info() {
        assert_eq!(
            redact("https://user:s3cret@host/org/repo"),
            "https://***@host/org/repo"
        );
        assert_eq!(redact("https://tok@host/a@b"), "https://***@host/a@b");
        assert_eq!(redact("https://host/org/repo"), "https://host/org/repo");
        assert_eq!(redact("git@github.com:org/repo"), "git@github.com:org/repo");
        let msg = scrub(
            "cannot reach https://user:s3cret@host/r: bad password s3cret",
            "https://user:s3cret@host/r",
            &["tok"],
        );
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[test]
    fn classifies() {
        assert_eq!(transport("file:///srv/x"), Some(Transport::File));
        assert_eq!(transport("git://127.0.0.1:9418/x"), Some(Transport::Git));
        assert_eq!(transport("HTTPS://h/x"), Some(Transport::Http));
        assert_eq!(transport("ssh://git@h/x"), Some(Transport::Ssh));
        assert_eq!(transport("git@github.com:org/repo.git"), Some(Transport::Ssh));
        assert_eq!(transport("oci://registry/x"), None);
        assert_eq!(transport("./repo"), None);
        assert_eq!(transport("/abs/repo"), None);
        assert_eq!(transport("C:/repo"), None);
    }

    #[test]
    fn cache_keys() {
        assert_eq!(cache_key("https://Host/org/repo.git/"), "https://host/org/repo");
        assert_eq!(
            cache_dir_name("https://host/org/repo.git"),
            cache_dir_name("https://HOST/org/repo")
        );
        assert!(cache_dir_name("https://u:p@host/org/repo").starts_with("repo-"));
    }
}
