//! [`HealthCheck`]: how healthy a live object is.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::EngineError;
use crate::object::Object;

/// Argo CD's health status codes.
///
/// `Ord` follows Argo CD's aggregation order from best to worst:
/// `Healthy < Suspended < Progressing < Missing < Degraded < Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthCode {
    /// Fully healthy.
    Healthy,
    /// Paused or suspended, waiting for an outside event.
    Suspended,
    /// Not healthy yet, but can still get there.
    Progressing,
    /// The object does not exist.
    Missing,
    /// Failed, or did not become healthy in time.
    Degraded,
    /// The assessment itself failed.
    Unknown,
}

impl HealthCode {
    /// The code as Argo CD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCode::Healthy => "Healthy",
            HealthCode::Suspended => "Suspended",
            HealthCode::Progressing => "Progressing",
            HealthCode::Missing => "Missing",
            HealthCode::Degraded => "Degraded",
            HealthCode::Unknown => "Unknown",
        }
    }

    /// Parses a code as Argo CD spells it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Healthy" => HealthCode::Healthy,
            "Suspended" => HealthCode::Suspended,
            "Progressing" => HealthCode::Progressing,
            "Missing" => HealthCode::Missing,
            "Degraded" => HealthCode::Degraded,
            "Unknown" => HealthCode::Unknown,
            _ => return None,
        })
    }
}

impl fmt::Display for HealthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A health assessment: a status code and a message (often empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The status code.
    pub status: HealthCode,
    /// A human-readable explanation; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Health {
    /// A health with a message.
    pub fn new(status: HealthCode, message: impl Into<String>) -> Self {
        Health {
            status,
            message: message.into(),
        }
    }
    /// `Healthy` with no message.
    pub fn healthy() -> Self {
        Health::new(HealthCode::Healthy, "")
    }
    /// `Progressing` with a message.
    pub fn progressing(message: impl Into<String>) -> Self {
        Health::new(HealthCode::Progressing, message)
    }
    /// `Degraded` with a message.
    pub fn degraded(message: impl Into<String>) -> Self {
        Health::new(HealthCode::Degraded, message)
    }
}

/// Assesses the health of live objects.
///
/// # Behavior
/// - `Ok(None)` means "no check for this kind" (Argo CD's *no result*): the sync engine treats
///   such objects as healthy as soon as they are applied, and app health ignores them.
/// - `Err` means the assessment failed; callers report `Unknown` with the error's message.
/// - Checks must be fast and must not block: they run inside the sync loop.
pub trait HealthCheck: Send + Sync + 'static {
    /// Assesses one live object.
    fn check(&self, obj: &Object) -> Result<Option<Health>, EngineError>;
}

/// A shared, type-erased health check.
pub type SharedHealthCheck = Arc<dyn HealthCheck>;

impl<T: HealthCheck + ?Sized> HealthCheck for Arc<T> {
    fn check(&self, obj: &Object) -> Result<Option<Health>, EngineError> {
        (**self).check(obj)
    }
}

impl<T: HealthCheck + ?Sized> HealthCheck for Box<T> {
    fn check(&self, obj: &Object) -> Result<Option<Health>, EngineError> {
        (**self).check(obj)
    }
}

/// A health check from a closure (see [`health_fn`]).
pub struct HealthFn<F>(F);

impl<F> fmt::Debug for HealthFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HealthFn")
    }
}

impl<F> HealthCheck for HealthFn<F>
where
    F: Fn(&Object) -> Result<Option<Health>, EngineError> + Send + Sync + 'static,
{
    fn check(&self, obj: &Object) -> Result<Option<Health>, EngineError> {
        (self.0)(obj)
    }
}

/// Makes a [`HealthCheck`] from a closure.
///
/// ```
/// use gitops_core::engine::{health_fn, Health, HealthCheck, HealthCode};
/// use gitops_core::Object;
/// let check = health_fn(|o: &Object| Ok((o.kind() == "Widget").then(Health::healthy)));
/// let w = Object::new("example.com/v1", "Widget", Some("ns"), "w");
/// assert_eq!(check.check(&w).unwrap().unwrap().status, HealthCode::Healthy);
/// ```
pub fn health_fn<F>(f: F) -> HealthFn<F>
where
    F: Fn(&Object) -> Result<Option<Health>, EngineError> + Send + Sync + 'static,
{
    HealthFn(f)
}

/// A chain of checks: the first that returns a result wins.
#[derive(Clone, Default)]
pub struct HealthChain {
    checks: Vec<SharedHealthCheck>,
}

impl fmt::Debug for HealthChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthChain")
            .field("checks", &self.checks.len())
            .finish()
    }
}

impl HealthChain {
    /// An empty chain (no results for anything).
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a check, consulted after those already in the chain.
    #[must_use]
    pub fn then(mut self, check: impl HealthCheck) -> Self {
        self.checks.push(Arc::new(check));
        self
    }
}

impl HealthCheck for HealthChain {
    fn check(&self, obj: &Object) -> Result<Option<Health>, EngineError> {
        for c in &self.checks {
            if let Some(h) = c.check(obj)? {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }
}
