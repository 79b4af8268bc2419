//! Health rules that do not depend on a particular check: the "Pending deletion" rule, the
//! health of child Applications, hook detection ([`hooks`]) and app-level aggregation
//! ([`aggregate`]). The checks themselves (Argo CD's built-in ones) live in gitops-health.

pub mod aggregate;
pub mod hooks;

use crate::engine::{Health, HealthCheck, HealthCode, SharedHealthCheck};
use crate::model::is_application;
use crate::object::Object;

pub use hooks::{HOOK_FINALIZER, IGNORE_HEALTHCHECK_ANNOTATION};

/// The health of one live object, as the sync engine and app aggregation see it.
///
/// An object being deleted (with no hook finalizer) is `Progressing` "Pending deletion"; an
/// Argo CD Application reports its own `status.health`; otherwise the check decides, and a check
/// error is `Unknown` with the error's message. `None` means the kind has no health check.
pub fn resource_health(check: &dyn HealthCheck, obj: &Object) -> Option<Health> {
    if obj.deletion_timestamp().is_some() && !obj.finalizers().contains(&HOOK_FINALIZER) {
        return Some(Health::progressing("Pending deletion"));
    }
    match check.check(obj) {
        Ok(Some(h)) => Some(h),
        Err(e) => Some(Health::new(HealthCode::Unknown, e.to_string())),
        Ok(None) if is_application(obj) => {
            let status = obj
                .pointer("/status/health/status")
                .and_then(|s| s.as_str())
                .and_then(HealthCode::parse);
            let message = obj
                .pointer("/status/health/message")
                .and_then(|s| s.as_str())
                .unwrap_or_default();
            Some(Health::new(status.unwrap_or(HealthCode::Progressing), message))
        }
        Ok(None) => None,
    }
}

/// A health check that adds the rules every check shares: "Pending deletion" first, then the
/// wrapped check, then, for an Argo CD Application the check has no rule for, its own
/// `status.health` (what Argo CD's documented Application health script does; missing status is
/// Progressing). Errors become `Unknown` with the error's message.
#[derive(Clone)]
pub struct WithAppHealth(pub SharedHealthCheck);

impl std::fmt::Debug for WithAppHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WithAppHealth")
    }
}

impl HealthCheck for WithAppHealth {
    fn check(&self, obj: &Object) -> Result<Option<Health>, crate::engine::EngineError> {
        Ok(resource_health(self.0.as_ref(), obj))
    }
}
