//! Resource health for gitops-rs: Argo CD's built-in health checks and app-level aggregation.
//!
//! * [`BuiltinHealth`] implements [`core::engine::HealthCheck`] with Argo CD's built-in checks
//!   (Deployment, StatefulSet, ReplicaSet, DaemonSet, Job, Pod, PersistentVolumeClaim, Service,
//!   Ingress, APIService, HorizontalPodAutoscaler, Argo Workflow), plus the "Pending deletion" rule
//!   that applies to every kind. Kinds without a check give `Ok(None)`. Bad data (an unsupported
//!   version, a field of the wrong JSON type) gives `Unknown` with a message, never an error or a
//!   panic. [`builtin_health`] is the same as a plain function.
//! * [`aggregate()`] combines the health of an app's managed resources into the app's health
//!   (the rules live in `gitops_core::health`, shared with the sync engine).
//!
//! Statuses and messages follow `spec/health.md` (Argo CD HEAD behaviour).
//!
//! ```
//! use gitops_health::core::engine::{HealthCheck, HealthCode};
//! use gitops_health::core::Object;
//! use gitops_health::BuiltinHealth;
//!
//! let deployment = Object::from_value(serde_json::json!({
//!     "apiVersion": "apps/v1",
//!     "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "prod", "generation": 2},
//!     "spec": {"replicas": 3},
//!     "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1},
//! }))?;
//! let health = BuiltinHealth.check(&deployment)?.expect("Deployments have a check");
//! assert_eq!(health.status, HealthCode::Progressing);
//! assert_eq!(
//!     health.message,
//!     "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use gitops_core as core;

mod builtin;
pub mod config;
pub mod library;
pub mod registry;
pub mod script;

pub use gitops_core::health::aggregate::{AppHealth, ResourceHealthInput};
pub use gitops_core::health::hooks;

/// Aggregates app health with the built-in checks: [`gitops_core::health::aggregate::aggregate`]
/// with [`BuiltinHealth`].
pub fn aggregate(resources: &[ResourceHealthInput<'_>]) -> AppHealth {
    gitops_core::health::aggregate::aggregate(resources, &BuiltinHealth)
}
pub use builtin::{BuiltinHealth, PENDING_DELETION, builtin_health, has_builtin_check, pending_deletion};
pub use gitops_core::engine::{Health, HealthCode};
