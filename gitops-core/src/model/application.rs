//! The `Application` resource (`argoproj.io/v1alpha1`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::meta::{ObjectMeta, skip_false};
use super::status::{ApplicationStatus, Operation};

/// Argo CD's API group.
pub const ARGO_GROUP: &str = "argoproj.io";
/// Argo CD's API version.
pub const ARGO_API_VERSION: &str = "argoproj.io/v1alpha1";
/// The in-cluster destination server.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The in-cluster destination name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// Cascade-delete finalizer (foreground).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// Default `revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i64 = 10;

/// An Argo CD Application: one source (or several) deployed to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `argoproj.io/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `Application`.
    #[serde(default = "default_app_kind")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: ApplicationSpec,
    /// Observed state, written by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ApplicationStatus>,
    /// A requested operation (sync), consumed by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

fn default_api_version() -> String {
    ARGO_API_VERSION.to_owned()
}
fn default_app_kind() -> String {
    "Application".to_owned()
}

impl Application {
    /// The sources in effect: `spec.sources` when non-empty, else `spec.source` (Argo CD's `GetSources`).
    pub fn sources(&self) -> Vec<&ApplicationSource> {
        if !self.spec.sources.is_empty() {
            self.spec.sources.iter().collect()
        } else {
            self.spec.source.iter().collect()
        }
    }

    /// Whether this is a multi-source application.
    pub fn has_multiple_sources(&self) -> bool {
        !self.spec.sources.is_empty()
    }

    /// The project, `default` when empty.
    pub fn project(&self) -> &str {
        if self.spec.project.is_empty() {
            "default"
        } else {
            &self.spec.project
        }
    }

    /// The app's sync options (`spec.syncPolicy.syncOptions`).
    pub fn sync_options(&self) -> &[String] {
        self.spec
            .sync_policy
            .as_ref()
            .map(|p| p.sync_options.as_slice())
            .unwrap_or_default()
    }

    /// Whether a sync option `key=value` is set (case-insensitive value, as Argo CD compares).
    pub fn has_sync_option(&self, key: &str, value: &str) -> bool {
        self.sync_options().iter().any(|o| {
            o.split_once('=')
                .is_some_and(|(k, v)| k.trim() == key && v.trim().eq_ignore_ascii_case(value))
        })
    }

    /// Whether automated sync is on (`automated` present and `enabled` not false).
    pub fn is_automated(&self) -> bool {
        self.spec
            .sync_policy
            .as_ref()
            .and_then(|p| p.automated.as_ref())
            .is_some_and(|a| a.enabled != Some(false))
    }

    /// The instance name used for resource tracking: `name`, or `namespace_name` for apps
    /// outside the control-plane namespace `control_ns` (Argo CD's app-in-any-namespace rule).
    pub fn instance_name(&self, control_ns: &str) -> String {
        match self.metadata.namespace.as_deref() {
            Some(ns) if !ns.is_empty() && ns != control_ns => format!("{ns}_{}", self.metadata.name),
            _ => self.metadata.name.clone(),
        }
    }

    /// The effective revision history limit (default 10).
    pub fn revision_history_limit(&self) -> i64 {
        self.spec
            .revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
    }
}

/// `spec` of an Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Single source (ignored when `sources` is non-empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Multiple sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// Where to deploy.
    #[serde(default)]
    pub destination: ApplicationDestination,
    /// Project name; empty means `default`.
    #[serde(default)]
    pub project: String,
    /// Sync policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Differences to ignore when comparing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
    /// Extra information shown in the UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<Info>,
    /// How many history entries to keep (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    /// Source hydrator (takes precedence over `source`/`sources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<SourceHydrator>,
}

/// A `{name, value}` pair of `spec.info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// Where manifests come from: a repository, a revision, a path and tool options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    /// Repository URL (Git, Helm repository, OCI; or, in gitops-rs, a local path or `file://` URL).
    #[serde(default, rename = "repoURL")]
    pub repo_url: String,
    /// Directory inside the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Branch, tag, commit or semver constraint (HEAD when empty); the chart version for Helm repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// Helm chart name in a Helm repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// Reference name for multi-source `$ref` value files.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Display name of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tag prefix filter for semver constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_prefix: Option<String>,
    /// Helm options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<SourceHelm>,
    /// Kustomize options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<SourceKustomize>,
    /// Plain-directory options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<SourceDirectory>,
    /// Config-management plugin options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<SourcePlugin>,
}

/// The explicit source type of an [`ApplicationSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceType {
    /// Helm.
    Helm,
    /// Kustomize.
    Kustomize,
    /// Plain directory.
    Directory,
    /// Config-management plugin.
    Plugin,
}

impl SourceType {
    /// Argo CD's name for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Helm => "Helm",
            SourceType::Kustomize => "Kustomize",
            SourceType::Directory => "Directory",
            SourceType::Plugin => "Plugin",
        }
    }
}

impl ApplicationSource {
    /// The source types set explicitly, in Argo CD's order (Helm, Kustomize, Directory, Plugin).
    /// More than one is an error (`multiple application sources defined`).
    pub fn explicit_types(&self) -> Vec<SourceType> {
        let mut t = Vec::new();
        if self.helm.is_some() {
            t.push(SourceType::Helm);
        }
        if self.kustomize.is_some() {
            t.push(SourceType::Kustomize);
        }
        if self.directory.is_some() {
            t.push(SourceType::Directory);
        }
        if self.plugin.is_some() {
            t.push(SourceType::Plugin);
        }
        t
    }

    /// `path` without leading `./` or `/` and without a trailing `/`; `""` for the root.
    pub fn normalized_path(&self) -> String {
        let p = self.path.as_deref().unwrap_or("").trim();
        let p = p.trim_start_matches("./").trim_matches('/');
        if p == "." { String::new() } else { p.to_owned() }
    }

    /// `targetRevision`, or `HEAD`.
    pub fn target_revision(&self) -> &str {
        self.target_revision
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("HEAD")
    }
}

/// Helm options of a source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceHelm {
    /// Values files, relative to the chart (or `$ref/...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// A block of values YAML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    /// Values as an object (wins over `values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_object: Option<Value>,
    /// `--set` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
    /// `--set-file` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<HelmFileParameter>,
    /// Release name (defaults to the app name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Release namespace (defaults to the destination namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Pass credentials to all domains.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub pass_credentials: bool,
    /// Ignore value files that do not exist.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub ignore_missing_value_files: bool,
    /// `--skip-crds`.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub skip_crds: bool,
    /// `--skip-tests`.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub skip_tests: bool,
    /// `--skip-schema-validation`.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub skip_schema_validation: bool,
    /// Helm version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `--kube-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// `--api-versions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

/// A Helm `--set` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmParameter {
    /// Name (dotted path).
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
    /// `--set-string` instead of `--set`.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub force_string: bool,
}

/// A Helm `--set-file` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelmFileParameter {
    /// Name (dotted path).
    #[serde(default)]
    pub name: String,
    /// File path.
    #[serde(default)]
    pub path: String,
}

/// Kustomize options of a source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceKustomize {
    /// Name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Name suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Image overrides `[old=]name[:tag|@digest]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Labels added to every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations added to every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Substitute environment variables in common annotations.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub common_annotations_envsubst: bool,
    /// Override existing labels.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub force_common_labels: bool,
    /// Override existing annotations.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub force_common_annotations: bool,
    /// Do not add common labels to selectors.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub label_without_selector: bool,
    /// Also label pod templates.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub label_include_templates: bool,
    /// Replica overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<KustomizeReplica>,
    /// Patches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<KustomizePatch>,
    /// Components.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Ignore components that do not exist.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub ignore_missing_components: bool,
    /// Kustomize version (registered in argocd-cm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kubernetes version for capabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// API versions for capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

/// A Kustomize replica override.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KustomizeReplica {
    /// Deployment/StatefulSet name.
    #[serde(default)]
    pub name: String,
    /// Count, an integer or a string holding one.
    #[serde(default)]
    pub count: Value,
}

/// A Kustomize patch from the Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KustomizePatch {
    /// Patch file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Inline patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Target selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<KustomizeSelector>,
    /// Patch options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, bool>,
}

/// A Kustomize patch target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeSelector {
    /// Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Annotation selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
    /// Label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// Plain-directory options of a source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDirectory {
    /// Descend into subdirectories.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub recurse: bool,
    /// Glob of files to include (`{a,b}` for several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    /// Glob of files to exclude (wins over include).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    /// Jsonnet options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonnet: Option<SourceJsonnet>,
    /// Consider files of every extension, not only `.yaml`, `.yml`, `.json`, `.jsonnet`.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub disable_extension_filter: bool,
}

/// Jsonnet options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceJsonnet {
    /// External variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext_vars: Vec<JsonnetVar>,
    /// Top-level arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlas: Vec<JsonnetVar>,
    /// Library paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libs: Vec<String>,
}

/// A Jsonnet variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonnetVar {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
    /// Whether the value is Jsonnet code.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub code: bool,
}

/// Config-management plugin options of a source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourcePlugin {
    /// Plugin name (`<name>` or `<name>-<version>` of a sidecar CMP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Environment variables (passed as `ARGOCD_ENV_<name>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvEntry>,
    /// Parameters (string, array or map each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Value>,
}

/// An environment variable entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvEntry {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// Source hydrator settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceHydrator {
    /// The dry (unrendered) source.
    #[serde(default)]
    pub dry_source: Value,
    /// Where hydrated manifests are synced from.
    #[serde(default)]
    pub sync_source: Value,
    /// Where hydrated manifests are pushed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydrate_to: Option<Value>,
}

/// Where an application is deployed: a cluster (by `server` URL or `name`) and a namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationDestination {
    /// Cluster API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace for namespaced resources without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ApplicationDestination {
    /// The namespace, or `""`.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// `spec.syncPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Automated sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<SyncPolicyAutomated>,
    /// Sync options such as `CreateNamespace=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Retry strategy for failed syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// Labels and annotations for a namespace created with `CreateNamespace=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
}

/// `spec.syncPolicy.automated`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicyAutomated {
    /// Delete resources no longer in Git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Revert live changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    /// Allow syncing to an empty set of resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty: Option<bool>,
    /// Switch automated sync off without removing the block (v3.1+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `spec.syncPolicy.retry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryStrategy {
    /// Maximum attempts; negative means unlimited.
    #[serde(default)]
    pub limit: i64,
    /// Backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Refresh the app before each retry.
    #[serde(default, skip_serializing_if = "skip_false")]
    pub refresh: bool,
}

/// Retry backoff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First wait, e.g. `5s` (a bare integer means seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Multiplier per attempt (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Longest wait, e.g. `3m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// `spec.syncPolicy.managedNamespaceMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedNamespaceMetadata {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One entry of `spec.ignoreDifferences`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceIgnoreDifferences {
    /// Group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// Kind (required).
    #[serde(default)]
    pub kind: String,
    /// Exact name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Exact namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// JSON pointers to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq path expressions to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    /// Field managers whose fields are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}
