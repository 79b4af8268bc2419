//! Field specs: which fields of which kinds a transformer edits (kustomize's builtin tables,
//! `api/internal/konfig/builtinpluginconsts`, Apache-2.0, © The Kubernetes Authors), and a
//! walker over them.

use serde_json::{Map, Value};

use super::res::{Res, split_api_version};

/// A field in objects of a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub path: Vec<String>,
    pub create: bool,
}

impl FieldSpec {
    pub(crate) fn new(group: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            group: (group != "*").then(|| group.to_owned()),
            version: None,
            kind: (!kind.is_empty()).then(|| kind.to_owned()),
            path: split_path(path),
            create,
        }
    }

    /// From a `fieldSpecs` entry of a kustomization or transformer config.
    pub(crate) fn from_value(v: &Value) -> Option<FieldSpec> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (mut group, mut version) = (s("group"), s("version"));
        if let Some(av) = s("apiVersion") {
            let (g, ver) = split_api_version(&av);
            group = Some(g.to_owned());
            version = Some(ver.to_owned());
        }
        Some(FieldSpec {
            group,
            version,
            kind: s("kind"),
            path: split_path(&s("path")?),
            create: v.get("create").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    pub(crate) fn applies(&self, r: &Res) -> bool {
        let (g, v) = split_api_version(r.api_version());
        self.kind.as_deref().is_none_or(|k| k == r.kind())
            && self.group.as_deref().is_none_or(|x| x == g)
            && self.version.as_deref().is_none_or(|x| x == v)
    }
}

/// Splits `a/b\/c/d[]` into `["a", "b/c", "d[]"]` (a `[]` suffix marks a list, see [`walk`]).
pub(crate) fn split_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Calls `f` on each field at `path` below `v` (lists are walked through). With `create`, missing
/// intermediate mappings are created and `f` gets `Value::Null` for a missing last field (and may
/// leave it null to not create it).
pub(crate) fn walk<E>(
    v: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    match v {
        Value::Array(items) => {
            for item in items {
                walk(item, path, create, f)?;
            }
            Ok(())
        }
        Value::Object(m) => {
            let Some((first, rest)) = path.split_first() else {
                return f(v);
            };
            walk_map(m, first, rest, create, f)
        }
        _ => Ok(()),
    }
}

fn walk_map<E>(
    m: &mut Map<String, Value>,
    key: &str,
    rest: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    // `name[]` marks a list: walked into when present, never created
    let (key, list) = match key.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (key, false),
    };
    match m.get_mut(key) {
        Some(child) if !child.is_null() => {
            if rest.is_empty() {
                f(child)
            } else {
                walk(child, rest, create, f)
            }
        }
        _ if create && !list => {
            let mut child = if rest.is_empty() {
                Value::Null
            } else {
                Value::Object(Map::new())
            };
            if rest.is_empty() {
                f(&mut child)?;
            } else {
                walk(&mut child, rest, create, f)?;
            }
            if !child.is_null() {
                m.insert(key.to_owned(), child);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The pod spec locations of workload kinds: (group, kind, prefix).
pub(crate) const POD_SPECS: &[(&str, &str, &str)] = &[
    ("", "Pod", "spec"),
    ("*", "Deployment", "spec/template/spec"),
    ("*", "ReplicaSet", "spec/template/spec"),
    ("*", "DaemonSet", "spec/template/spec"),
    ("*", "StatefulSet", "spec/template/spec"),
    ("batch", "Job", "spec/template/spec"),
    ("batch", "CronJob", "spec/jobTemplate/spec/template/spec"),
    ("", "ReplicationController", "spec/template/spec"),
    ("", "PodTemplate", "template/spec"),
];

/// `commonLabels` (with selectors).
pub(crate) fn common_labels() -> Vec<FieldSpec> {
    let mut v = vec![
        FieldSpec::new("*", "", "metadata/labels", true),
        FieldSpec::new("", "Service", "spec/selector", true),
        FieldSpec::new("", "ReplicationController", "spec/selector", true),
        FieldSpec::new("", "ReplicationController", "spec/template/metadata/labels", true),
        FieldSpec::new("*", "Deployment", "spec/selector/matchLabels", true),
        FieldSpec::new("*", "Deployment", "spec/template/metadata/labels", true),
        FieldSpec::new("*", "ReplicaSet", "spec/selector/matchLabels", true),
        FieldSpec::new("*", "ReplicaSet", "spec/template/metadata/labels", true),
        FieldSpec::new("*", "DaemonSet", "spec/selector/matchLabels", true),
        FieldSpec::new("*", "DaemonSet", "spec/template/metadata/labels", true),
        FieldSpec::new("apps", "StatefulSet", "spec/selector/matchLabels", true),
        FieldSpec::new("apps", "StatefulSet", "spec/template/metadata/labels", true),
        FieldSpec::new(
            "apps",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ),
        FieldSpec::new("batch", "Job", "spec/selector/matchLabels", false),
        FieldSpec::new("batch", "Job", "spec/template/metadata/labels", true),
        FieldSpec::new(
            "batch",
            "CronJob",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ),
        FieldSpec::new("batch", "CronJob", "spec/jobTemplate/metadata/labels", true),
        FieldSpec::new(
            "batch",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/labels",
            true,
        ),
        FieldSpec::new(
            "policy",
            "PodDisruptionBudget",
            "spec/selector/matchLabels",
            false,
        ),
        FieldSpec::new(
            "networking.k8s.io",
            "NetworkPolicy",
            "spec/podSelector/matchLabels",
            false,
        ),
        FieldSpec::new(
            "networking.k8s.io",
            "NetworkPolicy",
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ),
        FieldSpec::new(
            "networking.k8s.io",
            "NetworkPolicy",
            "spec/egress/to/podSelector/matchLabels",
            false,
        ),
    ];
    for (g, k) in [("apps", "Deployment"), ("apps", "StatefulSet")] {
        for aff in ["podAffinity", "podAntiAffinity"] {
            v.push(FieldSpec::new(
                g,
                k,
                &format!("spec/template/spec/affinity/{aff}/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels"),
                false,
            ));
            v.push(FieldSpec::new(
                g,
                k,
                &format!("spec/template/spec/affinity/{aff}/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels"),
                false,
            ));
        }
        v.push(FieldSpec::new(
            g,
            k,
            "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
            false,
        ));
    }
    v
}

/// `metadata/<field>` of the pod templates of the workload kinds (and of CronJob's job template).
fn template_metadata(field: &str) -> Vec<FieldSpec> {
    let mut v: Vec<FieldSpec> = [
        ("", "ReplicationController"),
        ("*", "Deployment"),
        ("*", "ReplicaSet"),
        ("*", "DaemonSet"),
        ("apps", "StatefulSet"),
        ("batch", "Job"),
    ]
    .into_iter()
    .map(|(g, k)| FieldSpec::new(g, k, &format!("spec/template/metadata/{field}"), true))
    .collect();
    v.push(FieldSpec::new(
        "batch",
        "CronJob",
        &format!("spec/jobTemplate/metadata/{field}"),
        true,
    ));
    v.push(FieldSpec::new(
        "batch",
        "CronJob",
        &format!("spec/jobTemplate/spec/template/metadata/{field}"),
        true,
    ));
    v
}

/// `labels` with `includeTemplates` (no selectors).
pub(crate) fn template_labels() -> Vec<FieldSpec> {
    template_metadata("labels")
}

/// `commonAnnotations`.
pub(crate) fn common_annotations() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::new("*", "", "metadata/annotations", true)];
    v.extend(template_metadata("annotations"));
    v
}

/// `images`.
pub(crate) fn images() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new("*", "", "spec/containers[]/image", false),
        FieldSpec::new("*", "", "spec/initContainers[]/image", false),
        FieldSpec::new("*", "", "spec/template/spec/containers[]/image", false),
        FieldSpec::new("*", "", "spec/template/spec/initContainers[]/image", false),
    ]
}

/// `replicas`.
pub(crate) fn replicas() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new("*", "Deployment", "spec/replicas", true),
        FieldSpec::new("", "ReplicationController", "spec/replicas", true),
        FieldSpec::new("*", "ReplicaSet", "spec/replicas", true),
        FieldSpec::new("apps", "StatefulSet", "spec/replicas", true),
    ]
}

/// `vars` references.
pub(crate) fn var_references() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (g, k, pre) in POD_SPECS {
        for c in ["containers", "initContainers"] {
            for f in ["command", "args", "env/value", "image", "workingDir"] {
                v.push(FieldSpec::new(g, k, &format!("{pre}/{c}/{f}"), false));
            }
        }
        v.push(FieldSpec::new(g, k, &format!("{pre}/volumes/nfs/server"), false));
        for c in ["containers", "initContainers"] {
            v.push(FieldSpec::new(
                g,
                k,
                &format!("{pre}/{c}/volumeMounts/mountPath"),
                false,
            ));
        }
        if let Some(tpl) = pre.strip_suffix("/spec") {
            v.push(FieldSpec::new(
                g,
                k,
                &format!("{tpl}/metadata/annotations"),
                false,
            ));
        }
    }
    for p in ["spec/rules/host", "spec/tls/hosts", "spec/tls/secretName"] {
        v.push(FieldSpec::new("*", "Ingress", p, false));
    }
    v.push(FieldSpec::new("*", "", "metadata/annotations", false));
    v.push(FieldSpec::new("*", "", "metadata/labels", false));
    v.push(FieldSpec::new("", "Service", "spec/ports/targetPort", false));
    v.push(FieldSpec::new("", "Service", "spec/ports/port", false));
    v.push(FieldSpec::new("batch", "CronJob", "spec/schedule", false));
    // further volume locations kustomize resolves vars in (seen in its conformance cases)
    v.push(FieldSpec::new(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/template/volumes/nfs/server",
        false,
    ));
    v.push(FieldSpec::new(
        "apps",
        "StatefulSet",
        "spec/volumeClaimTemplates/spec/nfs/server",
        false,
    ));
    v.push(FieldSpec::new("", "PersistentVolume", "spec/nfs/server", false));
    v.push(FieldSpec::new("", "ConfigMap", "data", false));
    v
}

/// Group/kind pairs that are cluster-scoped.
pub(crate) fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    const TABLE: &[(&str, &str)] = &[
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("networking.k8s.io", "IngressClass"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("policy", "PodSecurityPolicy"),
        ("extensions", "PodSecurityPolicy"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("authentication.k8s.io", "TokenReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
    ];
    TABLE.iter().any(|(g, k)| *g == group && *k == kind)
}
