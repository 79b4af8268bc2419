//! Application status and operation types (Argo CD's `ApplicationStatus`, `OperationState`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::application::{ApplicationDestination, ApplicationSource, RetryStrategy};
use super::meta::skip_false;
use crate::engine::HealthCode;

/// Whether live state matches the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SyncStatusCode {
    /// Live matches desired.
    Synced,
    /// Live differs from desired.
    OutOfSync,
    /// Comparison failed or has not run.
    #[default]
    Unknown,
}

impl SyncStatusCode {
    /// Argo CD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatusCode::Synced => "Synced",
            SyncStatusCode::OutOfSync => "OutOfSync",
            SyncStatusCode::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for SyncStatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Phase of an operation, and of a task inside one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationPhase {
    /// In progress.
    Running,
    /// Termination requested.
    Terminating,
    /// A task failed, or the sync was terminated.
    Failed,
    /// Unexpected or internal error.
    Error,
    /// Done.
    Succeeded,
}

impl OperationPhase {
    /// Whether the phase is final (Failed, Error or Succeeded).
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            OperationPhase::Failed | OperationPhase::Error | OperationPhase::Succeeded
        )
    }
    /// Argo CD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationPhase::Running => "Running",
            OperationPhase::Terminating => "Terminating",
            OperationPhase::Failed => "Failed",
            OperationPhase::Error => "Error",
            OperationPhase::Succeeded => "Succeeded",
        }
    }
}

/// Per-resource result of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResultCode {
    /// Applied (or dry-run applied).
    Synced,
    /// Apply, prune or validation failed.
    SyncFailed,
    /// Deleted.
    Pruned,
    /// Prune was needed but not allowed.
    PruneSkipped,
}

/// A sync phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SyncPhase {
    /// Before the main sync.
    PreSync,
    /// The main sync.
    Sync,
    /// After every Sync-phase resource is healthy.
    PostSync,
    /// When the sync failed.
    SyncFail,
    /// Before an application is deleted.
    PreDelete,
    /// After an application is deleted.
    PostDelete,
}

impl SyncPhase {
    /// Argo CD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPhase::PreSync => "PreSync",
            SyncPhase::Sync => "Sync",
            SyncPhase::PostSync => "PostSync",
            SyncPhase::SyncFail => "SyncFail",
            SyncPhase::PreDelete => "PreDelete",
            SyncPhase::PostDelete => "PostDelete",
        }
    }
    /// Parses Argo CD's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PreSync" => SyncPhase::PreSync,
            "Sync" => SyncPhase::Sync,
            "PostSync" => SyncPhase::PostSync,
            "SyncFail" => SyncPhase::SyncFail,
            "PreDelete" => SyncPhase::PreDelete,
            "PostDelete" => SyncPhase::PostDelete,
            _ => return None,
        })
    }
}

impl std::fmt::Display for SyncPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status` of an Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Per-resource status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// Sync status.
    #[serde(default)]
    pub sync: SyncStatus,
    /// Aggregated health.
    #[serde(default)]
    pub health: AppHealthStatus,
    /// Deployment history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RevisionHistory>,
    /// Conditions (errors and warnings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ApplicationCondition>,
    /// When the app was last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// Deprecated: when the app was last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// The last (or current) operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// Source type (`Directory`, `Kustomize`, `Helm`, `Plugin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Source types of a multi-source app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_types: Vec<String>,
    /// Summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ApplicationSummary>,
    /// Where per-resource health lives (`""` inline, `appTree`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_health_source: Option<String>,
    /// Namespace of the controller that reconciles the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_namespace: Option<String>,
    /// Source hydrator status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<Value>,
}

/// `status.summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSummary {
    /// External URLs of ingresses and services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_urls: Vec<String>,
    /// Container images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Whether the tree contains Applications.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub is_app_of_apps: bool,
}

/// `status.resources[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Sync status.
    #[serde(default)]
    pub status: SyncStatusCode,
    /// Health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ResourceHealth>,
    /// Whether the resource is a hook.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub hook: bool,
    /// Whether the resource is live but no longer desired.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub requires_pruning: bool,
    /// Sync wave.
    #[serde(default)]
    pub sync_wave: i64,
    /// Whether deletion needs confirmation.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub requires_deletion_confirmation: bool,
}

/// Health of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceHealth {
    /// Status code.
    pub status: HealthCode,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// `status.sync`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Synced, OutOfSync or Unknown.
    #[serde(default)]
    pub status: SyncStatusCode,
    /// What was compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_to: Option<ComparedTo>,
    /// Revision compared against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Revisions of a multi-source app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
}

/// `status.sync.comparedTo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparedTo {
    /// Source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// Destination.
    #[serde(default)]
    pub destination: ApplicationDestination,
    /// ignoreDifferences in effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<Value>,
}

/// `status.health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppHealthStatus {
    /// Status code.
    pub status: HealthCode,
    /// Message ("Caused by …").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl Default for AppHealthStatus {
    fn default() -> Self {
        AppHealthStatus {
            status: HealthCode::Unknown,
            message: String::new(),
            last_transition_time: None,
        }
    }
}

/// `status.history[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionHistory {
    /// Increasing id.
    pub id: i64,
    /// Revision deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Revisions of a multi-source app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Source deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Sources deployed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// When the deployment finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<String>,
    /// When the deployment started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_at: Option<String>,
    /// Who started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
}

/// `status.conditions[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationCondition {
    /// Type, e.g. `InvalidSpecError`, `SyncError`, `OrphanedResourceWarning`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// When it was last seen to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// A requested operation (`Application.operation`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// A sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOperation>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
    /// Extra information.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<Value>,
    /// Retry strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
}

/// Who initiated an operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationInitiator {
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether automated sync started it.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub automated: bool,
}

/// A sync operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperation {
    /// Revision to sync to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Revisions of a multi-source app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Prune resources no longer desired.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub prune: bool,
    /// Dry run.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub dry_run: bool,
    /// Apply or hook strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_strategy: Option<Value>,
    /// Selective sync: only these resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<SyncOperationResource>,
    /// Source override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Sources override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// Manifests override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<String>,
    /// Sync options for this operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Self-heal attempts so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_heal_attempts_count: Option<i64>,
}

/// A resource named in a selective sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOperationResource {
    /// Group.
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `status.operationState`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// The operation.
    pub operation: Operation,
    /// Phase.
    pub phase: OperationPhase,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncOperationResult>,
    /// Start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// End time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Retries so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
}

/// `status.operationState.syncResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperationResult {
    /// Per-resource results, in first-seen order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceResult>,
    /// Revision synced.
    #[serde(default)]
    pub revision: String,
    /// Revisions of a multi-source app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Source synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Sources synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// Managed namespace metadata applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<Value>,
}

/// One resource's result in a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// Group.
    #[serde(default)]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Result code.
    pub status: ResultCode,
    /// Message (`deployment.apps/web created`, an error …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Hook type if this was a hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_type: Option<SyncPhase>,
    /// Phase of the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_phase: Option<OperationPhase>,
    /// Sync phase the task ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_phase: Option<SyncPhase>,
    /// Images of the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}
