//! Diagnostics for real-world mistakes in Argo CD YAML.
//!
//! Users copy examples from blog posts; many of them use fields and annotations that Argo CD (or
//! Argo Rollouts, or the Image Updater) does not have. This module reads **raw** documents (so
//! fields the typed [`crate::model`] would drop are still visible) and reports each mistake with
//! the field path it concerns and, where one exists, the real equivalent.
//!
//! Severity follows one rule: a field or annotation that Kubernetes or Argo CD would **silently
//! drop** is a [`Severity::Warning`]; a value that **breaks behaviour** (a hook delete policy that
//! does not exist, an invalid spec, authentication turned off) is a [`Severity::Error`].
//!
//! What is checked:
//! - every object: `argocd.argoproj.io/*` annotation keys (with did-you-mean) and the values of
//!   `hook`, `hook-delete-policy`, `sync-wave` and `sync-options`; Image Updater annotations on
//!   anything but an Application;
//! - `Application`, `ApplicationSet` (on `spec.template.spec`) and `AppProject`: unknown fields at
//!   every level of `spec` (with did-you-mean), `source.kustomize.overlays`, a `plugin` named after
//!   a built-in tool, and every [`Application::validate`](crate::model::Application::validate)
//!   error;
//! - the `argocd-cm` ConfigMap (health customisation keys, `oidc.config`) and the
//!   `argocd-image-updater-config` ConfigMap (`registries.conf`);
//! - Argo Rollouts `Rollout` and `AnalysisTemplate` fields that are not real;
//! - an `argocd-server` workload run as a StatefulSet or with `--disable-auth`.
//!
//! The [`Display`](std::fmt::Display) of a [`Diagnostic`] is
//! `file[:line]: severity: [object: ][path: ]message[ (suggestion)]`, for example:
//!
//! ```text
//! 04-sync-waves.yaml:1: warning: batch/Job db-migrate: metadata.annotations["argocd.argoproj.io/hook-sync-wave"]: not an Argo CD annotation; it is ignored and the hook runs in wave 0 (use `argocd.argoproj.io/sync-wave`)
//! ```
//!
//! ```
//! use gitops_core::diagnostics::{check_file_text, Severity};
//! let yaml = r#"
//! apiVersion: batch/v1
//! kind: Job
//! metadata:
//!   name: migrate
//!   annotations:
//!     argocd.argoproj.io/hook: PreSync
//!     argocd.argoproj.io/hook-delete-policy: BeforeSyncFinished
//! "#;
//! let diags = check_file_text(yaml, "job.yaml");
//! assert_eq!(diags.len(), 1);
//! assert_eq!(diags[0].severity, Severity::Error);
//! assert!(diags[0].suggestion.as_deref().unwrap_or("").contains("BeforeHookCreation"));
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::ObjectRef;
use crate::load::{Document, LoadError, documents_to_objects, parse_yaml_documents};
use crate::model::{AppProject, Application, ApplicationSet, FieldError};

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// A value that breaks behaviour, or a security problem.
    Error,
    /// Something that is silently dropped or ignored.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding, with where it is and what to use instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File name or other origin label.
    pub file: String,
    /// 1-based line where the document starts, when known.
    pub line: Option<usize>,
    /// 0-based document index in the file, when known.
    pub document: Option<usize>,
    /// The object concerned, when the document names one.
    pub object: Option<ObjectRef>,
    /// Field path inside the document, e.g. `spec.source.plugin.name` or
    /// `metadata.annotations["argocd.argoproj.io/hook-sync-wave"]`; empty for the whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The real equivalent, or how to fix it.
    pub suggestion: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}: ", self.severity)?;
        if let Some(obj) = &self.object {
            if obj.name.is_empty() {
                // A kustomization file has no name.
                write!(f, "{}: ", obj.group_kind())?;
            } else {
                write!(f, "{obj}: ")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), by characters.
fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, v) in d[0].iter_mut().enumerate() {
        *v = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// The candidate closest to `input` by edit distance (optimal string alignment, compared
/// case-insensitively), if it is within `max(2, len/3)` edits. Ties go to the earlier candidate.
///
/// ```
/// use gitops_core::diagnostics::did_you_mean;
/// assert_eq!(did_you_mean("syncOption", ["syncPolicy", "syncOptions"]), Some("syncOptions"));
/// assert_eq!(did_you_mean("destinaton", ["source", "destination"]), Some("destination"));
/// assert_eq!(did_you_mean("xyz", ["destination"]), None);
/// ```
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Guard against pathological inputs: nothing sensible is that long.
    if input.len() > 256 {
        return None;
    }
    let lower = input.to_lowercase();
    let limit = (input.chars().count() / 3).max(2);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c.len() > 256 {
            continue;
        }
        let d = osa_distance(&lower, &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// Field schemas.

/// The known shape of a part of a document.
#[derive(Debug, Clone, Copy)]
enum Node {
    /// A scalar or a free-form value: not checked further.
    Any,
    /// A mapping with these fields.
    Obj(&'static [(&'static str, Node)]),
    /// A list of items of this shape.
    List(&'static Node),
}

use Node::{Any, List, Obj};

const NAME_VALUE: Node = Obj(&[("name", Any), ("value", Any)]);
const HELM: Node = Obj(&[
    ("valueFiles", Any),
    ("values", Any),
    ("valuesObject", Any),
    (
        "parameters",
        List(&Obj(&[("name", Any), ("value", Any), ("forceString", Any)])),
    ),
    ("fileParameters", List(&Obj(&[("name", Any), ("path", Any)]))),
    ("releaseName", Any),
    ("namespace", Any),
    ("passCredentials", Any),
    ("ignoreMissingValueFiles", Any),
    ("skipCrds", Any),
    ("skipTests", Any),
    ("skipSchemaValidation", Any),
    ("version", Any),
    ("kubeVersion", Any),
    ("apiVersions", Any),
]);
const KUSTOMIZE: Node = Obj(&[
    ("namePrefix", Any),
    ("nameSuffix", Any),
    ("namespace", Any),
    ("images", Any),
    ("commonLabels", Any),
    ("commonAnnotations", Any),
    ("commonAnnotationsEnvsubst", Any),
    ("forceCommonLabels", Any),
    ("forceCommonAnnotations", Any),
    ("labelWithoutSelector", Any),
    ("labelIncludeTemplates", Any),
    ("replicas", List(&Obj(&[("name", Any), ("count", Any)]))),
    (
        "patches",
        List(&Obj(&[
            ("path", Any),
            ("patch", Any),
            (
                "target",
                Obj(&[
                    ("group", Any),
                    ("version", Any),
                    ("kind", Any),
                    ("name", Any),
                    ("namespace", Any),
                    ("annotationSelector", Any),
                    ("labelSelector", Any),
                ]),
            ),
            ("options", Any),
        ])),
    ),
    ("components", Any),
    ("ignoreMissingComponents", Any),
    ("version", Any),
    ("kubeVersion", Any),
    ("apiVersions", Any),
]);
const JSONNET_VAR: Node = Obj(&[("name", Any), ("value", Any), ("code", Any)]);
const DIRECTORY: Node = Obj(&[
    ("recurse", Any),
    ("include", Any),
    ("exclude", Any),
    (
        "jsonnet",
        Obj(&[
            ("extVars", List(&JSONNET_VAR)),
            ("tlas", List(&JSONNET_VAR)),
            ("libs", Any),
        ]),
    ),
    ("disableExtensionFilter", Any),
]);
const PLUGIN: Node = Obj(&[
    ("name", Any),
    ("env", List(&NAME_VALUE)),
    (
        "parameters",
        List(&Obj(&[
            ("name", Any),
            ("string", Any),
            ("array", Any),
            ("map", Any),
        ])),
    ),
]);
const SOURCE: Node = Obj(&[
    ("repoURL", Any),
    ("path", Any),
    ("targetRevision", Any),
    ("chart", Any),
    ("ref", Any),
    ("name", Any),
    ("tagPrefix", Any),
    ("helm", HELM),
    ("kustomize", KUSTOMIZE),
    ("directory", DIRECTORY),
    ("plugin", PLUGIN),
]);
const HYDRATOR: Node = Obj(&[
    (
        "drySource",
        Obj(&[
            ("repoURL", Any),
            ("targetRevision", Any),
            ("path", Any),
            ("helm", HELM),
            ("kustomize", KUSTOMIZE),
            ("directory", DIRECTORY),
            ("plugin", PLUGIN),
        ]),
    ),
    (
        "syncSource",
        Obj(&[("targetBranch", Any), ("path", Any), ("repoURL", Any)]),
    ),
    ("hydrateTo", Obj(&[("targetBranch", Any)])),
]);
const SYNC_POLICY: Node = Obj(&[
    (
        "automated",
        Obj(&[
            ("prune", Any),
            ("selfHeal", Any),
            ("allowEmpty", Any),
            ("enabled", Any),
        ]),
    ),
    ("syncOptions", Any),
    (
        "retry",
        Obj(&[
            ("limit", Any),
            (
                "backoff",
                Obj(&[("duration", Any), ("factor", Any), ("maxDuration", Any)]),
            ),
            ("refresh", Any),
        ]),
    ),
    (
        "managedNamespaceMetadata",
        Obj(&[("labels", Any), ("annotations", Any)]),
    ),
]);
const APP_SPEC: Node = Obj(&[
    ("source", SOURCE),
    ("sources", List(&SOURCE)),
    (
        "destination",
        Obj(&[("server", Any), ("name", Any), ("namespace", Any)]),
    ),
    ("project", Any),
    ("syncPolicy", SYNC_POLICY),
    (
        "ignoreDifferences",
        List(&Obj(&[
            ("group", Any),
            ("kind", Any),
            ("name", Any),
            ("namespace", Any),
            ("jsonPointers", Any),
            ("jqPathExpressions", Any),
            ("managedFieldsManagers", Any),
        ])),
    ),
    ("info", List(&NAME_VALUE)),
    ("revisionHistoryLimit", Any),
    ("sourceHydrator", HYDRATOR),
]);
const TOP_LEVEL: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status", "operation"];
const GENERATOR: Node = Obj(&[
    ("list", Any),
    ("clusters", Any),
    ("git", Any),
    ("scmProvider", Any),
    ("clusterDecisionResource", Any),
    ("pullRequest", Any),
    ("matrix", Any),
    ("merge", Any),
    ("plugin", Any),
    ("selector", Any),
]);
const APPSET_SPEC: Node = Obj(&[
    ("generators", List(&GENERATOR)),
    (
        "template",
        Obj(&[
            (
                "metadata",
                Obj(&[
                    ("name", Any),
                    ("namespace", Any),
                    ("labels", Any),
                    ("annotations", Any),
                    ("finalizers", Any),
                ]),
            ),
            ("spec", APP_SPEC),
        ]),
    ),
    ("goTemplate", Any),
    ("goTemplateOptions", Any),
    ("templatePatch", Any),
    (
        "syncPolicy",
        Obj(&[("preserveResourcesOnDeletion", Any), ("applicationsSync", Any)]),
    ),
    (
        "strategy",
        Obj(&[("type", Any), ("rollingSync", Any), ("deletionOrder", Any)]),
    ),
    ("preservedFields", Obj(&[("annotations", Any), ("labels", Any)])),
    (
        "ignoreApplicationDifferences",
        List(&Obj(&[
            ("name", Any),
            ("jsonPointers", Any),
            ("jqPathExpressions", Any),
        ])),
    ),
    ("applyNestedSelectors", Any),
]);
const RESOURCE_SPEC: Node = Obj(&[("group", Any), ("kind", Any), ("name", Any)]);
const PROJECT_SPEC: Node = Obj(&[
    ("sourceRepos", Any),
    ("sourceNamespaces", Any),
    (
        "destinations",
        List(&Obj(&[("server", Any), ("name", Any), ("namespace", Any)])),
    ),
    ("permitOnlyProjectScopedClusters", Any),
    (
        "destinationServiceAccounts",
        List(&Obj(&[
            ("server", Any),
            ("namespace", Any),
            ("defaultServiceAccount", Any),
        ])),
    ),
    ("clusterResourceWhitelist", List(&RESOURCE_SPEC)),
    ("clusterResourceBlacklist", List(&RESOURCE_SPEC)),
    ("namespaceResourceWhitelist", List(&RESOURCE_SPEC)),
    ("namespaceResourceBlacklist", List(&RESOURCE_SPEC)),
    ("description", Any),
    (
        "roles",
        List(&Obj(&[
            ("name", Any),
            ("description", Any),
            ("policies", Any),
            (
                "jwtTokens",
                List(&Obj(&[("iat", Any), ("exp", Any), ("id", Any)])),
            ),
            ("groups", Any),
        ])),
    ),
    (
        "orphanedResources",
        Obj(&[("warn", Any), ("ignore", List(&RESOURCE_SPEC))]),
    ),
    (
        "syncWindows",
        List(&Obj(&[
            ("kind", Any),
            ("schedule", Any),
            ("duration", Any),
            ("applications", Any),
            ("namespaces", Any),
            ("clusters", Any),
            ("manualSync", Any),
            ("timeZone", Any),
            ("andOperator", Any),
            ("description", Any),
            ("syncOverrun", Any),
        ])),
    ),
    ("signatureKeys", Any),
    ("sourceIntegrity", Any),
]);

const BACKGROUND_ANALYSIS: Node = Obj(&[
    (
        "templates",
        List(&Obj(&[("templateName", Any), ("clusterScope", Any)])),
    ),
    ("args", Any),
    ("dryRun", Any),
    ("measurementRetention", Any),
    ("analysisRunMetadata", Any),
    ("startingStep", Any),
]);
const CANARY: Node = Obj(&[
    ("canaryService", Any),
    ("stableService", Any),
    ("steps", Any),
    ("maxSurge", Any),
    ("maxUnavailable", Any),
    ("trafficRouting", Any),
    ("analysis", BACKGROUND_ANALYSIS),
    ("antiAffinity", Any),
    ("canaryMetadata", Any),
    ("stableMetadata", Any),
    ("scaleDownDelaySeconds", Any),
    ("scaleDownDelayRevisionLimit", Any),
    ("abortScaleDownDelaySeconds", Any),
    ("dynamicStableScale", Any),
    ("pingPong", Any),
    ("minPodsPerReplicaSet", Any),
    ("replicaProgressThreshold", Any),
]);
const METRIC: Node = Obj(&[
    ("name", Any),
    ("interval", Any),
    ("initialDelay", Any),
    ("count", Any),
    ("successCondition", Any),
    ("failureCondition", Any),
    ("failureLimit", Any),
    ("inconclusiveLimit", Any),
    ("consecutiveErrorLimit", Any),
    ("consecutiveSuccessLimit", Any),
    ("provider", Any),
]);
const ANALYSIS_TEMPLATE_SPEC: Node = Obj(&[
    ("metrics", List(&METRIC)),
    ("args", Any),
    ("dryRun", Any),
    ("measurementRetention", Any),
    (
        "templates",
        List(&Obj(&[("templateName", Any), ("clusterScope", Any)])),
    ),
]);

/// Keys of `oidc.config` in argocd-cm.
const OIDC_KEYS: &[&str] = &[
    "name",
    "issuer",
    "clientID",
    "clientSecret",
    "cliClientID",
    "requestedScopes",
    "requestedIDTokenClaims",
    "enableUserInfoGroups",
    "userInfoPath",
    "userInfoBaseURL",
    "userInfoCacheExpiration",
    "logoutURL",
    "refreshTokenThreshold",
    "rootCA",
    "enablePKCEAuthentication",
    "domainHint",
    "azure",
    "allowedAudiences",
    "skipAudienceCheckWhenTokenHasNoAudience",
];

/// Keys of one `registries.conf` entry (parsed strictly by the Image Updater).
const REGISTRY_KEYS: &[&str] = &[
    "name",
    "api_url",
    "prefix",
    "ping",
    "credentials",
    "credsexpire",
    "tagsortmode",
    "insecure",
    "ca_file",
    "ca_data",
    "defaultns",
    "default",
    "limit",
];

/// The annotations Argo CD reads under `argocd.argoproj.io/`.
pub const ARGOCD_ANNOTATIONS: &[&str] = &[
    "argocd.argoproj.io/hook",
    "argocd.argoproj.io/hook-delete-policy",
    "argocd.argoproj.io/sync-wave",
    "argocd.argoproj.io/sync-options",
    "argocd.argoproj.io/compare-options",
    "argocd.argoproj.io/tracking-id",
    "argocd.argoproj.io/installation-id",
    "argocd.argoproj.io/deletion-approved",
    "argocd.argoproj.io/ignore-healthcheck",
    "argocd.argoproj.io/ignore-restart-policy",
    "argocd.argoproj.io/ignore-default-links",
    "argocd.argoproj.io/client-side-apply-migration-manager",
    "argocd.argoproj.io/refresh",
    "argocd.argoproj.io/skip-reconcile",
    "argocd.argoproj.io/manifest-generate-paths",
    "argocd.argoproj.io/application-set-refresh",
    "argocd.argoproj.io/hydrate",
];

/// Argo CD hook types.
pub const HOOK_TYPES: &[&str] = &[
    "PreSync",
    "Sync",
    "PostSync",
    "SyncFail",
    "Skip",
    "PreDelete",
    "PostDelete",
];

/// Argo CD hook delete policies.
pub const HOOK_DELETE_POLICIES: &[&str] = &["HookSucceeded", "HookFailed", "BeforeHookCreation"];

const ANNOTATION_PREFIX: &str = "argocd.argoproj.io/";
const IMAGE_UPDATER_PREFIX: &str = "argocd-image-updater.argoproj.io/";

// ---------------------------------------------------------------------------------------------
// The checker.

/// Collects diagnostics for one object.
struct Checker<'a> {
    file: &'a str,
    line: Option<usize>,
    document: Option<usize>,
    object: Option<ObjectRef>,
    out: Vec<Diagnostic>,
}

/// `path.key`, or `path["key"]` when the key is not a plain identifier.
fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        format!("{path}[{key:?}]")
    } else if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

impl Checker<'_> {
    fn push(
        &mut self,
        severity: Severity,
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) {
        self.out.push(Diagnostic {
            severity,
            file: self.file.to_owned(),
            line: self.line,
            document: self.document,
            object: self.object.clone(),
            path: path.into(),
            message: message.into(),
            suggestion,
        });
    }

    fn warn(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: impl Into<Option<String>>,
    ) {
        self.push(Severity::Warning, path, message, suggestion.into());
    }

    fn error(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: impl Into<Option<String>>,
    ) {
        self.push(Severity::Error, path, message, suggestion.into());
    }

    /// Reports fields not in `node`, recursively. `skip` names `(parent field, field)` pairs that
    /// are reported elsewhere with a better message.
    fn walk(&mut self, value: &Value, node: Node, path: &str, field: &str, skip: &[(&str, &str)]) {
        match (node, value) {
            (Obj(fields), Value::Object(map)) => {
                for (key, v) in map {
                    match fields.iter().find(|(k, _)| k == key) {
                        Some((_, sub)) => self.walk(v, *sub, &child(path, key), key, skip),
                        None if skip.contains(&(field, key.as_str())) => {}
                        None => self.unknown_field(path, key, fields.iter().map(|(k, _)| *k)),
                    }
                }
            }
            (List(item), Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk(v, *item, &format!("{path}[{i}]"), field, skip);
                }
            }
            _ => {}
        }
    }

    fn unknown_field<'k>(&mut self, path: &str, key: &str, known: impl IntoIterator<Item = &'k str> + Clone) {
        let at = child(path, key);
        match did_you_mean(key, known.clone()) {
            Some(near) => self.warn(
                at,
                format!("unknown field {}; Kubernetes drops it", code(key)),
                format!("did you mean {}?", code(&child(path, near))),
            ),
            None => {
                let list: Vec<&str> = known.into_iter().collect();
                self.warn(
                    at,
                    format!("unknown field {}; Kubernetes drops it", code(key)),
                    format!("known fields here: {}", list.join(", ")),
                )
            }
        }
    }

    fn check_top_level(&mut self, value: &Value) {
        if let Value::Object(map) = value {
            for key in map.keys() {
                if !TOP_LEVEL.contains(&key.as_str()) {
                    self.unknown_field("", key, TOP_LEVEL.iter().copied());
                }
            }
        }
    }

    // -- annotations -------------------------------------------------------------------------

    fn check_annotations(&mut self, value: &Value, is_app: bool, kind: &str, group: &str) {
        let Some(Value::Object(ann)) = value.get("metadata").and_then(|m| m.get("annotations")) else {
            return;
        };
        let base = "metadata.annotations";
        for (key, v) in ann {
            let path = child(base, key);
            let Some(text) = v.as_str() else {
                if !v.is_null() {
                    self.error(
                        &path,
                        "annotation values must be strings; the object is rejected",
                        format!("quote the value: \"{}\"", v.to_string().trim_matches('"')),
                    );
                }
                continue;
            };
            if let Some(suffix) = key.strip_prefix(IMAGE_UPDATER_PREFIX) {
                let updater_cr = group == "argocd-image-updater.argoproj.io" && kind == "ImageUpdater";
                if !(is_app || updater_cr) {
                    let extra = if group == "kustomize.config.k8s.io" {
                        "; kustomization.yaml is only a write-back target"
                    } else {
                        ""
                    };
                    self.warn(
                        &path,
                        format!(
                            "the Image Updater reads its annotations only from an Argo CD Application, never from a {kind}{extra}"
                        ),
                        format!(
                            "move `{IMAGE_UPDATER_PREFIX}{suffix}` to the Application's metadata.annotations (or configure an ImageUpdater resource)"
                        ),
                    );
                }
                continue;
            }
            if !key.starts_with(ANNOTATION_PREFIX) {
                continue;
            }
            if !ARGOCD_ANNOTATIONS.contains(&key.as_str()) {
                self.unknown_annotation(&path, key);
                continue;
            }
            match key.as_str() {
                "argocd.argoproj.io/hook" => self.check_csv(&path, text, HOOK_TYPES, "hook type", |near| {
                    match near {
                        Some(n) => format!("did you mean `{n}`? hook types are {}", HOOK_TYPES.join(", ")),
                        None => format!("use one of {}", HOOK_TYPES.join(", ")),
                    }
                }),
                "argocd.argoproj.io/hook-delete-policy" => {
                    self.check_csv(&path, text, HOOK_DELETE_POLICIES, "hook delete policy", |near| match near {
                        Some(n) => format!(
                            "did you mean `{n}`? policies are BeforeHookCreation (the default), HookSucceeded and HookFailed"
                        ),
                        None => "use `BeforeHookCreation` (the default), `HookSucceeded` or `HookFailed`".to_owned(),
                    })
                }
                "argocd.argoproj.io/sync-wave" if text.trim().parse::<i64>().is_err() || text.trim() != text => {
                    self.warn(
                        &path,
                        format!("sync wave {text:?} is not an integer; Argo CD ignores it and uses wave 0"),
                        "use an integer string such as \"1\" or \"-1\"".to_owned(),
                    );
                }
                "argocd.argoproj.io/sync-options" => {
                    for opt in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                        if let Some((msg, near)) = crate::model::check_sync_option(opt) {
                            self.error(
                                &path,
                                format!("{msg}; Argo CD ignores it"),
                                near.map(|n| format!("did you mean `{n}`?")),
                            );
                        }
                    }
                }
                "argocd.argoproj.io/compare-options" => {
                    const OPTS: &[&str] = &["IgnoreExtraneous", "ServerSideDiff", "IncludeMutationWebhook"];
                    for opt in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                        let k = opt.split('=').next().unwrap_or(opt).trim();
                        if !OPTS.contains(&k) {
                            self.error(
                                &path,
                                format!("unknown compare option {opt:?}; Argo CD ignores it"),
                                Some(match did_you_mean(k, OPTS.iter().copied()) {
                                    Some(n) => format!("did you mean `{n}`?"),
                                    None => format!("compare options are {}", OPTS.join(", ")),
                                }),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn unknown_annotation(&mut self, path: &str, key: &str) {
        let suffix = &key[ANNOTATION_PREFIX.len()..];
        let suffixes = || ARGOCD_ANNOTATIONS.iter().map(|k| &k[ANNOTATION_PREFIX.len()..]);
        // A close spelling, else the longest real name the key contains (`hook-sync-wave` → `sync-wave`).
        let near = did_you_mean(suffix, suffixes()).or_else(|| {
            suffixes()
                .filter(|s| s.len() >= 4 && suffix.contains(s))
                .max_by_key(|s| s.len())
        });
        let what = if suffix.contains("wave") {
            "not an Argo CD annotation; it is ignored and the resource (or hook) runs in wave 0"
        } else {
            "not an Argo CD annotation; it is ignored"
        };
        match near {
            Some(n) => self.warn(path, what, format!("use `{ANNOTATION_PREFIX}{n}`")),
            None => self.warn(
                path,
                what,
                format!("Argo CD reads {}", ARGOCD_ANNOTATIONS.join(", ")),
            ),
        }
    }

    fn check_csv(
        &mut self,
        path: &str,
        text: &str,
        allowed: &[&'static str],
        what: &str,
        suggest: impl Fn(Option<&str>) -> String,
    ) {
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !allowed.contains(&item) {
                let near = did_you_mean(item, allowed.iter().copied());
                self.error(
                    path,
                    format!("{item:?} is not a {what}; Argo CD ignores it"),
                    suggest(near),
                );
            }
        }
    }

    // -- Argo CD resources -------------------------------------------------------------------

    /// Checks that belong to one source: a plugin named after a built-in tool, `kustomize.overlays`.
    fn check_source(&mut self, src: &Value, path: &str) {
        if let Some(name) = src.get("plugin").and_then(|p| str_at(p, "name")) {
            let builtin = ["kustomize", "helm", "jsonnet", "directory"]
                .into_iter()
                .find(|b| name.eq_ignore_ascii_case(b));
            if let Some(tool) = builtin {
                let (option, shown) = match tool {
                    "kustomize" => ("kustomize", "Kustomize"),
                    "helm" => ("helm", "Helm"),
                    "jsonnet" => ("directory", "Jsonnet"),
                    _ => ("directory", "plain-directory rendering"),
                };
                self.error(
                    format!("{path}.plugin.name"),
                    format!(
                        "no config management plugin named {name:?} ships with Argo CD; {shown} is built in, so manifest generation fails unless a sidecar plugin of that name is installed"
                    ),
                    format!(
                        "drop `plugin`: Argo CD detects {shown} from the files under `path`; set `{path}.{option}` for options"
                    ),
                );
            }
        }
        if let Some(overlays) = src.get("kustomize").and_then(|k| k.get("overlays")) {
            let base = str_at(src, "path").unwrap_or("").trim_end_matches('/');
            let first = match overlays {
                Value::Array(items) => items.first().and_then(Value::as_str),
                Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            let target = match first {
                Some(o) if !base.is_empty() => format!("{base}/{}", o.trim_start_matches("./")),
                Some(o) => o.to_owned(),
                None => format!("{base}/overlays/<env>"),
            };
            self.warn(
                format!("{path}.kustomize.overlays"),
                "`overlays` is not a field of source.kustomize; Kubernetes drops it and the base is rendered instead",
                format!("point `{path}.path` at the overlay directory: `{target}`"),
            );
        }
    }

    fn check_spec_sources(&mut self, spec: &Value, prefix: &str) {
        if let Some(src) = spec.get("source") {
            self.check_source(src, &format!("{prefix}.source"));
        }
        if let Some(Value::Array(srcs)) = spec.get("sources") {
            for (i, s) in srcs.iter().enumerate() {
                self.check_source(s, &format!("{prefix}.sources[{i}]"));
            }
        }
        if let Some(Value::Array(opts)) = spec.get("syncPolicy").and_then(|p| p.get("syncOptions")) {
            for (i, o) in opts.iter().enumerate() {
                let Some(o) = o.as_str() else { continue };
                if o.contains("{{") {
                    continue;
                }
                if let Some((msg, near)) = crate::model::check_sync_option(o) {
                    self.error(
                        format!("{prefix}.syncPolicy.syncOptions[{i}]"),
                        msg,
                        near.map(|n| format!("did you mean `{n}`?")),
                    );
                }
            }
        }
    }

    fn validation_errors(&mut self, errors: Vec<FieldError>) {
        for e in errors {
            // Sync options are reported by `check_spec_sources` with a suggestion.
            if e.path.contains(".syncOptions[") {
                continue;
            }
            let suggestion = suggestion_for(&e);
            self.error(e.path, e.message, suggestion);
        }
    }

    fn check_application(&mut self, value: &Value) {
        self.check_top_level(value);
        if let Some(spec) = value.get("spec") {
            self.walk(spec, APP_SPEC, "spec", "spec", &[("kustomize", "overlays")]);
            self.check_spec_sources(spec, "spec");
        }
        match serde_json::from_value::<Application>(value.clone()) {
            Ok(app) => {
                if let Err(e) = app.validate() {
                    self.validation_errors(e.0);
                }
            }
            Err(e) => self.error("", format!("cannot be read as an Application: {e}"), None),
        }
    }

    fn check_appset(&mut self, value: &Value) {
        self.check_top_level(value);
        if let Some(spec) = value.get("spec") {
            self.walk(spec, APPSET_SPEC, "spec", "spec", &[("kustomize", "overlays")]);
            if let Some(tspec) = spec.get("template").and_then(|t| t.get("spec")) {
                self.check_spec_sources(tspec, "spec.template.spec");
            }
        }
        match serde_json::from_value::<ApplicationSet>(value.clone()) {
            Ok(set) => {
                if let Err(e) = set.validate() {
                    self.validation_errors(e.0);
                }
            }
            Err(e) => self.error("", format!("cannot be read as an ApplicationSet: {e}"), None),
        }
    }

    fn check_project(&mut self, value: &Value) {
        self.check_top_level(value);
        if let Some(spec) = value.get("spec") {
            self.walk(spec, PROJECT_SPEC, "spec", "spec", &[]);
        }
        match serde_json::from_value::<AppProject>(value.clone()) {
            Ok(p) => {
                if let Err(e) = p.validate() {
                    self.validation_errors(e.0);
                }
            }
            Err(e) => self.error("", format!("cannot be read as an AppProject: {e}"), None),
        }
    }

    // -- ConfigMaps --------------------------------------------------------------------------

    fn check_argocd_cm(&mut self, data: &Map<String, Value>) {
        for (key, v) in data {
            let path = child("data", key);
            if let Some(rest) = key.strip_prefix("resource.customizations.") {
                let target = rest.split_once('.').map(|(_, t)| t).unwrap_or("");
                if let Some(kind) = target.strip_prefix("certmanager.k8s.io_") {
                    let fixed = key.replacen("certmanager.k8s.io", "cert-manager.io", 1);
                    self.warn(
                        &path,
                        format!(
                            "`certmanager.k8s.io` is the API group of cert-manager before v0.11; current cert-manager {kind}s are `cert-manager.io/{kind}` and do not match this key"
                        ),
                        format!("use `{fixed}`"),
                    );
                }
            }
            if key == "oidc.config"
                && let Some(text) = v.as_str()
            {
                self.check_oidc(&path, text);
            }
        }
    }

    fn check_oidc(&mut self, path: &str, text: &str) {
        let parsed: Result<serde_yaml::Value, _> = serde_yaml::from_str(text);
        let map = match parsed {
            Ok(serde_yaml::Value::Mapping(m)) => m,
            Ok(serde_yaml::Value::Null) => return,
            Ok(_) => {
                self.error(path, "oidc.config must be a YAML mapping", None);
                return;
            }
            Err(e) => {
                self.error(path, format!("oidc.config is not valid YAML: {e}"), None);
                return;
            }
        };
        for key in map.keys().filter_map(serde_yaml::Value::as_str) {
            if OIDC_KEYS.contains(&key) {
                continue;
            }
            let at = child(path, key);
            match key {
                "claimsMapping" | "claimMapping" => self.warn(
                    at,
                    "`claimsMapping` is not an Argo CD oidc.config field (the similar `claimMapping` belongs to Dex connectors in dex.config); it is ignored",
                    "groups come from the `groups` claim: keep `groups` in `requestedScopes` and pick the claim with `scopes` in argocd-rbac-cm (default `[groups]`)".to_owned(),
                ),
                "userInfoURL" => self.warn(at, "unknown oidc.config field; it is ignored", "use `userInfoBaseURL`".to_owned()),
                _ => {
                    let near = did_you_mean(key, OIDC_KEYS.iter().copied());
                    self.warn(
                        at,
                        format!("unknown oidc.config field {}; it is ignored", code(key)),
                        near.map(|n| format!("did you mean `{n}`?")),
                    )
                }
            }
        }
    }

    fn check_image_updater_cm(&mut self, data: &Map<String, Value>) {
        let Some(text) = data.get("registries.conf").and_then(Value::as_str) else {
            return;
        };
        let path = child("data", "registries.conf");
        let parsed: Result<serde_yaml::Value, _> = serde_yaml::from_str(text);
        let root = match parsed {
            Ok(v) => v,
            Err(e) => {
                self.error(&path, format!("registries.conf is not valid YAML: {e}"), None);
                return;
            }
        };
        let Some(entries) = root.get("registries").and_then(serde_yaml::Value::as_sequence) else {
            if !root.is_null() {
                self.error(
                    &path,
                    "registries.conf needs a top-level `registries:` list",
                    None,
                );
            }
            return;
        };
        for (i, e) in entries.iter().enumerate() {
            let at = format!("{path}.registries[{i}]");
            let Some(m) = e.as_mapping() else { continue };
            for key in m.keys().filter_map(serde_yaml::Value::as_str) {
                if !REGISTRY_KEYS.contains(&key) {
                    let near = did_you_mean(key, REGISTRY_KEYS.iter().copied());
                    self.error(
                        child(&at, key),
                        format!(
                            "unknown registries.conf field {}; the Image Updater parses strictly and fails",
                            code(key)
                        ),
                        Some(match near {
                            Some(n) => format!("did you mean `{n}`?"),
                            None => format!("fields are {}", REGISTRY_KEYS.join(", ")),
                        }),
                    );
                }
            }
            for required in ["name", "api_url"] {
                let set = m
                    .get(required)
                    .and_then(serde_yaml::Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                if !set {
                    self.error(child(&at, required), format!("{required} is required"), None);
                }
            }
        }
    }

    // -- Argo Rollouts -----------------------------------------------------------------------

    fn check_rollout(&mut self, value: &Value) {
        let Some(canary) = value
            .get("spec")
            .and_then(|s| s.get("strategy"))
            .and_then(|s| s.get("canary"))
        else {
            return;
        };
        let base = "spec.strategy.canary";
        self.walk(
            canary,
            CANARY,
            base,
            "canary",
            &[
                ("canary", "trafficWeight"),
                ("analysis", "interval"),
                ("analysis", "threshold"),
            ],
        );
        if canary.get("trafficWeight").is_some() {
            self.warn(
                format!("{base}.trafficWeight"),
                "not a Rollout field (it mirrors `status.canary.weights`, which the controller writes); Kubernetes drops it",
                "declare weights with `setWeight` steps (stable gets the rest) and route traffic with `canary.trafficRouting`".to_owned(),
            );
        }
        if let Some(analysis) = canary.get("analysis") {
            let ap = format!("{base}.analysis");
            if let Some(Value::Array(ts)) = analysis.get("templates") {
                for (i, t) in ts.iter().enumerate() {
                    if t.get("name").is_some() && t.get("templateName").is_none() {
                        // The generic walk reported it without the rename; replace that finding.
                        let at = format!("{ap}.templates[{i}].name");
                        self.out.retain(|d| d.path != at);
                        let name = str_at(t, "name").unwrap_or("<template>");
                        self.warn(
                            at,
                            "analysis template references use `templateName`, not `name`; Kubernetes drops `name` and no template is referenced",
                            format!("use `templateName: {name}`"),
                        );
                    }
                }
            }
            if let Some(interval) = analysis.get("interval") {
                let shown = interval
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| interval.to_string());
                self.warn(
                    format!("{ap}.interval"),
                    "a Rollout's analysis has no `interval`; Kubernetes drops it",
                    format!("set `interval: {shown}` on each metric in the AnalysisTemplate"),
                );
            }
            if let Some(threshold) = analysis.get("threshold") {
                let n = threshold
                    .as_i64()
                    .or_else(|| threshold.as_str().and_then(|s| s.parse().ok()));
                let limit = n
                    .map(|n| (n - 1).max(0).to_string())
                    .unwrap_or_else(|| "<n>".into());
                self.warn(
                    format!("{ap}.threshold"),
                    "a Rollout's analysis has no `threshold` (that is Flagger's); Kubernetes drops it",
                    format!(
                        "set `failureLimit: {limit}` on each metric in the AnalysisTemplate (a metric fails when failures exceed failureLimit)"
                    ),
                );
            }
        }
    }

    fn check_analysis_template(&mut self, value: &Value) {
        let Some(spec) = value.get("spec") else { return };
        self.walk(
            spec,
            ANALYSIS_TEMPLATE_SPEC,
            "spec",
            "spec",
            &[("metrics", "thresholdResults"), ("metrics", "thresholdRange")],
        );
        let Some(Value::Array(metrics)) = spec.get("metrics") else {
            return;
        };
        for (i, m) in metrics.iter().enumerate() {
            for key in ["thresholdResults", "thresholdRange"] {
                let Some(t) = m.get(key) else { continue };
                let bound = |k: &str| {
                    t.get(k).and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                };
                let mut conds = Vec::new();
                if let Some(min) = bound("min") {
                    conds.push(format!("result[0] >= {min}"));
                }
                if let Some(max) = bound("max") {
                    conds.push(format!("result[0] <= {max}"));
                }
                let cond = if conds.is_empty() {
                    "result[0] >= <threshold>".to_owned()
                } else {
                    conds.join(" && ")
                };
                self.warn(
                    format!("spec.metrics[{i}].{key}"),
                    format!("`{key}` is not an Argo Rollouts metric field (it resembles Flagger's thresholdRange); Kubernetes drops it and every measurement counts as successful"),
                    format!("use `successCondition: {cond}` (safer: `len(result) > 0 && {cond}`)"),
                );
            }
        }
    }

    // -- workloads ---------------------------------------------------------------------------

    fn check_workload(&mut self, value: &Value, kind: &str, name: &str) {
        let pod_spec_path = if kind == "Pod" {
            "spec"
        } else {
            "spec.template.spec"
        };
        let pod_spec = if kind == "Pod" {
            value.get("spec")
        } else {
            value
                .get("spec")
                .and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec"))
        };
        let mut runs_server = name == "argocd-server";
        let mut findings = Vec::new();
        if let Some(pod_spec) = pod_spec {
            for list in ["initContainers", "containers"] {
                let Some(Value::Array(cs)) = pod_spec.get(list) else {
                    continue;
                };
                for (i, c) in cs.iter().enumerate() {
                    let mut words: Vec<(String, &str)> = Vec::new();
                    for field in ["command", "args"] {
                        if let Some(Value::Array(items)) = c.get(field) {
                            for (j, w) in items.iter().enumerate() {
                                if let Some(w) = w.as_str() {
                                    words.push((format!("{pod_spec_path}.{list}[{i}].{field}[{j}]"), w));
                                }
                            }
                        }
                    }
                    let server_here = name == "argocd-server"
                        || words
                            .iter()
                            .any(|(_, w)| w.rsplit('/').next() == Some("argocd-server"));
                    runs_server |= server_here;
                    if server_here {
                        for (p, w) in words {
                            if w == "--disable-auth"
                                || w.starts_with("--disable-auth=") && !w.ends_with("=false")
                            {
                                findings.push(p);
                            }
                        }
                    }
                }
            }
        }
        for p in findings {
            self.error(
                p,
                "`--disable-auth` turns authentication off: anyone who can reach the API server gets admin-equivalent access (a security finding, not an HA setting)",
                "remove `--disable-auth`; `argocd admin export`/`import` talk to the Kubernetes API and never need it".to_owned(),
            );
        }
        if runs_server && kind == "StatefulSet" {
            self.warn(
                "kind",
                "argocd-server is a stateless Deployment; running it as a StatefulSet adds nothing",
                "use `kind: Deployment`; HA comes from replicas of each component (set ARGOCD_API_SERVER_REPLICAS to the replica count) and the sharded application controller".to_owned(),
            );
        }
    }
}

/// A fix for a validation error, by its path and message.
fn suggestion_for(e: &FieldError) -> Option<String> {
    let m = e.message.as_str();
    let s = if m.starts_with("application destination can't have both") {
        "set only one of `server` or `name`"
    } else if m == "Destination server missing from app spec" {
        "set `destination.server` (e.g. https://kubernetes.default.svc) or `destination.name`"
    } else if m.starts_with("multiple application sources defined") {
        "keep only one of `helm`, `kustomize`, `directory` or `plugin`"
    } else if m.starts_with("invalid duration") {
        "use a Go duration such as `5s`, `1m30s` or `3m`"
    } else if m.starts_with("either path") {
        "set `path` (a directory in the repository) or `chart` (a Helm chart)"
    } else if m.starts_with("targetRevision is required") {
        "set `targetRevision` to the chart version"
    } else if m.contains("RFC 1123") {
        "use lowercase letters, digits, '-' and '.'"
    } else {
        return None;
    };
    Some(s.to_owned())
}

fn object_ref(v: &Value) -> Option<ObjectRef> {
    let kind = str_at(v, "kind").filter(|k| !k.is_empty())?;
    let api = str_at(v, "apiVersion").unwrap_or("");
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let meta = v.get("metadata");
    let name = meta
        .and_then(|m| str_at(m, "name").or_else(|| str_at(m, "generateName")))
        .unwrap_or("");
    let ns = meta.and_then(|m| str_at(m, "namespace"));
    Some(ObjectRef::new(group, kind, ns, name))
}

fn check_value(value: &Value, c: &mut Checker<'_>) {
    c.object = object_ref(value);
    let api = str_at(value, "apiVersion").unwrap_or("");
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = str_at(value, "kind").unwrap_or("");
    let name = value
        .get("metadata")
        .and_then(|m| str_at(m, "name"))
        .unwrap_or("");
    let is_app = group == "argoproj.io" && kind == "Application";
    c.check_annotations(value, is_app, kind, group);
    match (group, kind) {
        ("argoproj.io", "Application") => c.check_application(value),
        ("argoproj.io", "ApplicationSet") => c.check_appset(value),
        ("argoproj.io", "AppProject") => c.check_project(value),
        ("argoproj.io", "Rollout") => c.check_rollout(value),
        ("argoproj.io", "AnalysisTemplate" | "ClusterAnalysisTemplate") => c.check_analysis_template(value),
        ("", "ConfigMap") => {
            if let Some(Value::Object(data)) = value.get("data") {
                match name {
                    "argocd-cm" => c.check_argocd_cm(data),
                    "argocd-image-updater-config" => c.check_image_updater_cm(data),
                    _ => {}
                }
            }
        }
        ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("", "Pod") => {
            c.check_workload(value, kind, name)
        }
        _ => {}
    }
}

/// Checks one raw document (a `List` is checked item by item).
pub fn check_document(doc: &Document, file: &str) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        line: Some(doc.line),
        document: Some(doc.index),
        object: None,
        out: Vec::new(),
    };
    let kind = str_at(&doc.value, "kind").unwrap_or("");
    match doc.value.get("items") {
        Some(Value::Array(items)) if kind.ends_with("List") => {
            for item in items {
                check_value(item, &mut c);
            }
        }
        _ => check_value(&doc.value, &mut c),
    }
    c.out
}

fn load_error(e: LoadError) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: e.file,
        line: e.line,
        document: e.document,
        object: None,
        path: String::new(),
        message: e.kind.to_string(),
        suggestion: None,
    }
}

/// Checks YAML (or JSON) text. Documents that cannot be parsed or are not Kubernetes objects
/// become [`Severity::Error`] diagnostics; this never panics.
pub fn check_file_text(text: &str, file: &str) -> Vec<Diagnostic> {
    let docs = match parse_yaml_documents(text, file) {
        Ok(docs) => docs,
        Err(e) => return vec![load_error(e)],
    };
    let mut out = Vec::new();
    for doc in docs {
        if let Err(e) = documents_to_objects(vec![doc.clone()], file) {
            out.push(load_error(e));
        }
        out.extend(check_document(&doc, file));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(osa_distance("abc", "acb"), 1);
        assert_eq!(osa_distance("", "abc"), 3);
        assert_eq!(osa_distance("kitten", "sitting"), 3);
        assert_eq!(did_you_mean("hook", HOOK_TYPES.iter().copied()), None);
        assert_eq!(
            did_you_mean("presync", HOOK_TYPES.iter().copied()),
            Some("PreSync")
        );
    }

    #[test]
    fn paths() {
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(child("spec", "source"), "spec.source");
        assert_eq!(
            child("metadata.annotations", "argocd.argoproj.io/hook"),
            "metadata.annotations[\"argocd.argoproj.io/hook\"]"
        );
    }

    #[test]
    fn unknown_fields_get_did_you_mean() {
        let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n  destinaton: {server: x}\n  destination: {server: x}\n  source: {repoURL: r, path: p}\n  syncPolicy: {syncOption: [CreateNamespace=true]}\n";
        let d = check_file_text(yaml, "a.yaml");
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["spec.destinaton", "spec.syncPolicy.syncOption"], "{d:#?}");
        assert!(
            d[1].suggestion
                .as_deref()
                .unwrap_or("")
                .contains("spec.syncPolicy.syncOptions")
        );
    }
}
