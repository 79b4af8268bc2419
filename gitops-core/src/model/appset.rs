//! The `ApplicationSet` resource.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::application::ApplicationSpec;
use super::meta::{ObjectMeta, skip_false};

/// An ApplicationSet: generators produce parameters, a template turns each set into an Application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSet {
    /// `argoproj.io/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `ApplicationSet`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: ApplicationSetSpec,
    /// Status, as written by the controller (kept as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

fn default_api_version() -> String {
    super::application::ARGO_API_VERSION.to_owned()
}
fn default_kind() -> String {
    "ApplicationSet".to_owned()
}

/// `spec` of an ApplicationSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSpec {
    /// Generators (required).
    #[serde(default)]
    pub generators: Vec<ApplicationSetGenerator>,
    /// Application template (required).
    #[serde(default)]
    pub template: ApplicationSetTemplate,
    /// Use Go templates instead of fasttemplate.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub go_template: bool,
    /// Go template options such as `missingkey=error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub go_template_options: Vec<String>,
    /// A template patch (Go templates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_patch: Option<String>,
    /// Sync policy for generated Applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<ApplicationSetSyncPolicy>,
    /// Progressive sync strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ApplicationSetStrategy>,
    /// Fields of generated Applications the controller leaves alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserved_fields: Option<PreservedFields>,
    /// Differences of generated Applications to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_application_differences: Vec<ApplicationSetIgnoreDifferences>,
    /// Deprecated and ignored: nested selectors are always applied.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub apply_nested_selectors: bool,
}

/// One generator entry. Exactly one generator key should be set; bodies are kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetGenerator {
    /// List generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Value>,
    /// Cluster generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Value>,
    /// Git generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<Value>,
    /// SCM provider generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scm_provider: Option<Value>,
    /// Cluster decision resource generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_decision_resource: Option<Value>,
    /// Pull request generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Value>,
    /// Matrix generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Value>,
    /// Merge generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Value>,
    /// Plugin generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Value>,
    /// Post-selector on generated parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Value>,
}

impl ApplicationSetGenerator {
    /// The generator keys that are set, with their bodies.
    pub fn entries(&self) -> Vec<(&'static str, &Value)> {
        [
            ("list", &self.list),
            ("clusters", &self.clusters),
            ("git", &self.git),
            ("scmProvider", &self.scm_provider),
            ("clusterDecisionResource", &self.cluster_decision_resource),
            ("pullRequest", &self.pull_request),
            ("matrix", &self.matrix),
            ("merge", &self.merge),
            ("plugin", &self.plugin),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect()
    }
}

/// The Application template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplicationSetTemplate {
    /// Template metadata.
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// Template spec.
    #[serde(default)]
    pub spec: ApplicationSpec,
}

/// Template metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMeta {
    /// Name (templated).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Finalizers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// `spec.syncPolicy` of an ApplicationSet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSyncPolicy {
    /// Keep generated apps' resources when the ApplicationSet is deleted.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub preserve_resources_on_deletion: bool,
    /// `create-only`, `create-update`, `create-delete` or `sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications_sync: Option<String>,
}

/// `spec.strategy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetStrategy {
    /// `AllAtOnce` or `RollingSync`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// RollingSync steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_sync: Option<Value>,
    /// Deletion order (`AllAtOnce`, `Reverse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_order: Option<String>,
}

/// `spec.preservedFields`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreservedFields {
    /// Annotation keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// Label keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// `spec.ignoreApplicationDifferences[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetIgnoreDifferences {
    /// Application name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// JSON pointers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq path expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
}
