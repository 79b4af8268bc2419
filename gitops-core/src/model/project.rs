//! The `AppProject` resource.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::meta::{ObjectMeta, skip_false};

/// An AppProject: which sources, destinations and resource kinds its applications may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProject {
    /// `argoproj.io/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `AppProject`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: AppProjectSpec,
    /// Status (`jwtTokensByRole`), kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

fn default_api_version() -> String {
    super::application::ARGO_API_VERSION.to_owned()
}
fn default_kind() -> String {
    "AppProject".to_owned()
}

impl AppProject {
    /// The project Argo CD creates at start-up: every source, destination and kind allowed.
    pub fn default_project(namespace: &str) -> Self {
        AppProject {
            api_version: default_api_version(),
            kind: default_kind(),
            metadata: ObjectMeta {
                name: "default".into(),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            spec: AppProjectSpec {
                source_repos: vec!["*".into()],
                destinations: vec![ProjectDestination {
                    server: Some("*".into()),
                    name: None,
                    namespace: Some("*".into()),
                }],
                cluster_resource_whitelist: vec![ResourceSpec {
                    group: "*".into(),
                    kind: "*".into(),
                    name: None,
                }],
                ..Default::default()
            },
            status: None,
        }
    }
}

/// `spec` of an AppProject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    /// Allowed source repositories (globs, `!` negates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
    /// Namespaces Applications of this project may live in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_namespaces: Vec<String>,
    /// Allowed destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<ProjectDestination>,
    /// Only clusters scoped to this project.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub permit_only_project_scoped_clusters: bool,
    /// Service accounts to impersonate per destination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_service_accounts: Vec<DestinationServiceAccount>,
    /// Allowed cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_whitelist: Vec<ResourceSpec>,
    /// Denied cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<ResourceSpec>,
    /// Allowed namespaced kinds (`None` = all; empty = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_resource_whitelist: Option<Vec<ResourceSpec>>,
    /// Denied namespaced kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_blacklist: Vec<ResourceSpec>,
    /// Description (at most 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Project roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ProjectRole>,
    /// Orphaned-resource monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned_resources: Option<OrphanedResources>,
    /// Sync windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_windows: Vec<SyncWindow>,
    /// Deprecated GPG key ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature_keys: Vec<Value>,
    /// Source integrity policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_integrity: Option<Value>,
}

/// A project destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDestination {
    /// Server URL glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Cluster name glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A destination service account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationServiceAccount {
    /// Server URL glob.
    #[serde(default)]
    pub server: String,
    /// Namespace glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Service account.
    #[serde(default)]
    pub default_service_account: String,
}

/// A group/kind (and optional name glob) in a resource allow or deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Group glob.
    #[serde(default)]
    pub group: String,
    /// Kind glob.
    #[serde(default)]
    pub kind: String,
    /// Name glob (cluster-scoped lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A project role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRole {
    /// Role name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Casbin policy lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Issued tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_tokens: Vec<JwtToken>,
    /// SSO groups bound to the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A project token record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtToken {
    /// Issued at (Unix seconds).
    #[serde(default)]
    pub iat: i64,
    /// Expires at (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Orphaned-resource monitoring settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanedResources {
    /// Warn with a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<bool>,
    /// Resources to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<ResourceSpec>,
}

/// A sync window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncWindow {
    /// `allow` or `deny`.
    #[serde(default)]
    pub kind: String,
    /// Cron schedule.
    #[serde(default)]
    pub schedule: String,
    /// Duration, e.g. `1h`.
    #[serde(default)]
    pub duration: String,
    /// Application globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// Namespace globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Cluster globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
    /// Let manual syncs through.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub manual_sync: bool,
    /// Time zone of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// AND the selectors instead of OR.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub and_operator: bool,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Let running syncs continue across window changes.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub sync_overrun: bool,
}
