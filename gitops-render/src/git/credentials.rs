//! [`Credentials`]: where the Git resolver gets user names, passwords, tokens and SSH keys.

use std::fmt;
use std::path::PathBuf;

/// A secret string (a password or token). Its `Debug` and `Display` print `***`; the value is
/// only available through [`expose`](Secret::expose).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

/// The credential to use for one repository.
///
/// `Debug` never shows passwords or tokens.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// Anonymous access.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An access token, sent as HTTP basic authentication with the user name
    /// [`TOKEN_USERNAME`](Credential::TOKEN_USERNAME) (accepted by GitHub, GitLab, Gitea, Bitbucket).
    Token(Secret),
    /// An SSH private key file, used for `ssh://` and `git@host:` URLs (through the `ssh`
    /// program, with `IdentitiesOnly=yes`).
    SshKey {
        /// Path of the private key file.
        path: PathBuf,
    },
}

impl Credential {
    /// The user name a [`Credential::Token`] is sent with.
    pub const TOKEN_USERNAME: &'static str = "x-access-token";

    /// HTTP basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credential::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// An access token.
    pub fn token(token: impl Into<Secret>) -> Self {
        Credential::Token(token.into())
    }

    /// An SSH private key file.
    pub fn ssh_key(path: impl Into<PathBuf>) -> Self {
        Credential::SshKey { path: path.into() }
    }

    /// The user name and password sent over HTTP, if any.
    pub(crate) fn user_password(&self) -> Option<(&str, &str)> {
        match self {
            Credential::Basic { username, password } => Some((username, password.expose())),
            Credential::Token(token) => Some((Credential::TOKEN_USERNAME, token.expose())),
            _ => None,
        }
    }

    /// The secret strings to scrub from messages.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Credential::Basic { password, .. } => vec![password.expose()],
            Credential::Token(token) => vec![token.expose()],
            _ => Vec::new(),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::None => f.write_str("None"),
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Credential::Token(_) => f.write_str("Token(***)"),
            Credential::SshKey { .. } => f.write_str("SshKey { path: *** }"),
        }
    }
}

/// Supplies the [`Credential`] for a repository URL (Argo CD's repository secrets and
/// credential templates).
///
/// Implementations must not log what they return; the resolver never puts credentials in
/// errors, `Debug` output or cache paths.
pub trait Credentials: Send + Sync + fmt::Debug + 'static {
    /// The credential for `repo_url` (as written in the source, possibly with user information).
    fn credential_for(&self, repo_url: &str) -> Credential;
}

/// No credentials: every repository is accessed anonymously.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl Credentials for NoCredentials {
    fn credential_for(&self, _repo_url: &str) -> Credential {
        Credential::None
    }
}

/// Credentials by URL prefix, like Argo CD's repository credential templates: the longest
/// prefix that `repo_url` starts with wins; no match is anonymous.
///
/// ```
/// use gitops_render::git::{Credential, CredentialSet, Credentials};
/// let creds = CredentialSet::new()
///     .with("https://git.example.com/", Credential::token("t0ken"))
///     .with("https://git.example.com/team/", Credential::basic("bot", "pw"));
/// assert_eq!(
///     creds.credential_for("https://git.example.com/team/app.git"),
///     Credential::basic("bot", "pw")
/// );
/// assert!(!format!("{creds:?}").contains("t0ken"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct CredentialSet {
    entries: Vec<(String, Credential)>,
}

impl CredentialSet {
    /// An empty set.
    pub fn new() -> Self {
        CredentialSet::default()
    }

    /// Adds `credential` for URLs starting with `prefix`.
    #[must_use]
    pub fn with(mut self, prefix: impl Into<String>, credential: Credential) -> Self {
        self.entries.push((prefix.into(), credential));
        self
    }
}

impl Credentials for CredentialSet {
    fn credential_for(&self, repo_url: &str) -> Credential {
        self.entries
            .iter()
            .filter(|(prefix, _)| repo_url.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }
}
