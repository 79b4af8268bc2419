//! [`EngineError`]: the error every engine trait returns.

use std::fmt;

use crate::object::ObjectRef;

/// A boxed error usable as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`EngineError`] is. The sync executor decides between retrying and
/// failing from this kind alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object or resource type does not exist.
    NotFound,
    /// A write lost an optimistic-concurrency race, or the object already exists.
    Conflict,
    /// The request or object is invalid and will not succeed if retried unchanged.
    Invalid,
    /// The caller may not do this.
    Forbidden,
    /// The backend cannot be reached or is overloaded; retrying may help.
    Unavailable,
    /// The call did not finish in time; retrying may help.
    Timeout,
    /// The backend does not support the operation (see `Capabilities`).
    Unsupported,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// A short lowercase name, e.g. `not found`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type at every engine-trait boundary (`ClusterBackend`, `Renderer`, `HealthCheck`,
/// `Generator`): a kind, a message, optionally the object concerned and a source error.
///
/// ```
/// use gitops_core::engine::{EngineError, ErrorKind};
/// use gitops_core::ObjectRef;
/// let e = EngineError::not_found("object does not exist")
///     .with_object(ObjectRef::new("", "ConfigMap", Some("prod"), "settings"));
/// assert_eq!(e.kind(), ErrorKind::NotFound);
/// assert!(!e.is_retryable());
/// assert_eq!(e.to_string(), "object does not exist: ConfigMap prod/settings");
/// ```
pub struct EngineError {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    object: Option<ObjectRef>,
    source: Option<BoxError>,
    retryable: Option<bool>,
}

impl EngineError {
    /// A new error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                object: None,
                source: None,
                retryable: None,
            }),
        }
    }

    /// [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// [`ErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// [`ErrorKind::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    /// [`ErrorKind::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// [`ErrorKind::Timeout`].
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    /// [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// [`ErrorKind::Other`].
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// Names the object the error concerns.
    #[must_use]
    pub fn with_object(mut self, object: ObjectRef) -> Self {
        self.inner.object = Some(object);
        self
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Overrides whether the error is retryable (by default decided by the kind).
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = Some(retryable);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without object or source.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The object concerned, if any.
    pub fn object(&self) -> Option<&ObjectRef> {
        self.inner.object.as_ref()
    }

    /// Whether retrying the same call may succeed: `Conflict`, `Unavailable` and `Timeout` are
    /// retryable unless overridden with [`with_retryable`](Self::with_retryable).
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable.unwrap_or(matches!(
            self.inner.kind,
            ErrorKind::Conflict | ErrorKind::Unavailable | ErrorKind::Timeout
        ))
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        if let Some(o) = &self.inner.object {
            write!(f, ": {o}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineError")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("object", &self.inner.object)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_retryable_by_kind() {
        assert!(std::mem::size_of::<EngineError>() <= 16);
        assert!(EngineError::conflict("x").is_retryable());
        assert!(EngineError::timeout("x").is_retryable());
        assert!(EngineError::unavailable("x").is_retryable());
        assert!(!EngineError::invalid("x").is_retryable());
        assert!(!EngineError::conflict("x").with_retryable(false).is_retryable());
    }
}
