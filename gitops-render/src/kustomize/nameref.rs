//! Name references: after prefixes, suffixes and hashes changed names, fields that refer to
//! those objects by name are updated (kustomize's `nameReference` table,
//! `builtinpluginconsts/namereference.go`, Apache-2.0, © The Kubernetes Authors, condensed).

use serde_json::Value;

use super::fieldspec::{FieldSpec, POD_SPECS, walk};
use super::res::{Id, Res};

/// One referral kind and the fields that refer to it.
#[derive(Debug, Clone)]
pub(crate) struct BackRef {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: String,
    pub referrers: Vec<FieldSpec>,
}

fn pod_paths(paths: &[&str]) -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (g, k, pre) in POD_SPECS {
        for p in paths {
            v.push(FieldSpec::new(g, k, &format!("{pre}/{p}"), false));
        }
    }
    v
}

fn back(group: &str, kind: &str, referrers: Vec<FieldSpec>) -> BackRef {
    BackRef {
        group: Some(group.to_owned()),
        version: None,
        kind: kind.to_owned(),
        referrers,
    }
}

/// The builtin table.
pub(crate) fn builtin() -> Vec<BackRef> {
    let mut cm = pod_paths(&[
        "volumes/configMap/name",
        "containers/env/valueFrom/configMapKeyRef/name",
        "initContainers/env/valueFrom/configMapKeyRef/name",
        "ephemeralContainers/env/valueFrom/configMapKeyRef/name",
        "containers/envFrom/configMapRef/name",
        "initContainers/envFrom/configMapRef/name",
        "ephemeralContainers/envFrom/configMapRef/name",
        "volumes/projected/sources/configMap/name",
    ]);
    cm.push(FieldSpec::new("*", "", "spec/configSource/configMap", false));
    let rbac = "rbac.authorization.k8s.io";
    let resource_names = [
        FieldSpec::new(rbac, "Role", "rules/resourceNames", false),
        FieldSpec::new(rbac, "ClusterRole", "rules/resourceNames", false),
    ];
    cm.extend(resource_names.iter().cloned());
    let mut secret = pod_paths(&[
        "volumes/secret/secretName",
        "containers/env/valueFrom/secretKeyRef/name",
        "initContainers/env/valueFrom/secretKeyRef/name",
        "ephemeralContainers/env/valueFrom/secretKeyRef/name",
        "containers/envFrom/secretRef/name",
        "initContainers/envFrom/secretRef/name",
        "ephemeralContainers/envFrom/secretRef/name",
        "imagePullSecrets/name",
        "volumes/projected/sources/secret/name",
        "volumes/cephfs/secretRef/name",
        "volumes/cinder/secretRef/name",
        "volumes/flexVolume/secretRef/name",
        "volumes/rbd/secretRef/name",
        "volumes/iscsi/secretRef/name",
        "volumes/azureFile/secretName",
        "volumes/csi/nodePublishSecretRef/name",
    ]);
    secret.extend([
        FieldSpec::new("", "ServiceAccount", "imagePullSecrets/name", false),
        FieldSpec::new("", "ServiceAccount", "secrets/name", false),
        FieldSpec::new("*", "Ingress", "spec/tls/secretName", false),
        FieldSpec::new(
            "*",
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
            false,
        ),
        FieldSpec::new(
            "*",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
            false,
        ),
        FieldSpec::new(
            "*",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
            false,
        ),
        FieldSpec::new(
            "storage.k8s.io",
            "StorageClass",
            "parameters/adminSecretName",
            false,
        ),
        FieldSpec::new("storage.k8s.io", "StorageClass", "parameters/secretName", false),
        FieldSpec::new(
            "",
            "PersistentVolume",
            "spec/csi/nodePublishSecretRef/name",
            false,
        ),
        FieldSpec::new(
            "",
            "PersistentVolume",
            "spec/csi/controllerPublishSecretRef/name",
            false,
        ),
        FieldSpec::new("", "PersistentVolume", "spec/csi/nodeStageSecretRef/name", false),
    ]);
    secret.extend(resource_names);
    let service = vec![
        FieldSpec::new("*", "Ingress", "spec/rules/http/paths/backend/serviceName", false),
        FieldSpec::new("*", "Ingress", "spec/backend/serviceName", false),
        FieldSpec::new(
            "*",
            "Ingress",
            "spec/rules/http/paths/backend/service/name",
            false,
        ),
        FieldSpec::new("*", "Ingress", "spec/defaultBackend/service/name", false),
        FieldSpec::new("apps", "StatefulSet", "spec/serviceName", false),
        FieldSpec::new("apiregistration.k8s.io", "APIService", "spec/service/name", false),
        FieldSpec::new(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            "webhooks/clientConfig/service",
            false,
        ),
        FieldSpec::new(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            "webhooks/clientConfig/service",
            false,
        ),
        FieldSpec::new(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "spec/conversion/webhook/clientConfig/service",
            false,
        ),
    ];
    let mut sa = pod_paths(&["serviceAccountName", "serviceAccount"]);
    sa.push(FieldSpec::new(rbac, "RoleBinding", "subjects", false));
    sa.push(FieldSpec::new(rbac, "ClusterRoleBinding", "subjects", false));
    let hpa = |k: &str| {
        back(
            "*",
            k,
            vec![FieldSpec::new(
                "*",
                "HorizontalPodAutoscaler",
                "spec/scaleTargetRef/name",
                false,
            )],
        )
    };
    let mut out = vec![
        hpa("Deployment"),
        hpa("ReplicationController"),
        hpa("ReplicaSet"),
        hpa("StatefulSet"),
        back("", "ConfigMap", cm),
        back("", "Secret", secret),
        back("", "Service", service),
        back(
            rbac,
            "Role",
            vec![FieldSpec::new(rbac, "RoleBinding", "roleRef/name", false)],
        ),
        back(
            rbac,
            "ClusterRole",
            vec![
                FieldSpec::new(rbac, "RoleBinding", "roleRef/name", false),
                FieldSpec::new(rbac, "ClusterRoleBinding", "roleRef/name", false),
            ],
        ),
        back("", "ServiceAccount", sa),
        back(
            "",
            "PersistentVolumeClaim",
            pod_paths(&["volumes/persistentVolumeClaim/claimName"]),
        ),
        back(
            "",
            "PersistentVolume",
            vec![FieldSpec::new(
                "",
                "PersistentVolumeClaim",
                "spec/volumeName",
                false,
            )],
        ),
        back(
            "scheduling.k8s.io",
            "PriorityClass",
            pod_paths(&["priorityClassName"]),
        ),
        back(
            "networking.k8s.io",
            "IngressClass",
            vec![FieldSpec::new("*", "Ingress", "spec/ingressClassName", false)],
        ),
        back(
            "storage.k8s.io",
            "StorageClass",
            vec![
                FieldSpec::new("", "PersistentVolumeClaim", "spec/storageClassName", false),
                FieldSpec::new("", "PersistentVolume", "spec/storageClassName", false),
                FieldSpec::new(
                    "apps",
                    "StatefulSet",
                    "spec/volumeClaimTemplates/spec/storageClassName",
                    false,
                ),
            ],
        ),
    ];
    out.push(back(
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        vec![FieldSpec::new(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
            false,
        )],
    ));
    for b in &mut out {
        if b.group.as_deref() == Some("*") {
            b.group = None;
        }
    }
    out
}

/// Parses `nameReference` entries of a `configurations` file.
pub(crate) fn from_config(v: &Value) -> Vec<BackRef> {
    let Some(Value::Array(list)) = v.get("nameReference") else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            let (mut group, mut version) = (s("group"), s("version"));
            if let Some(av) = s("apiVersion") {
                let (g, ver) = super::res::split_api_version(&av);
                group = Some(g.to_owned());
                version = Some(ver.to_owned());
            }
            Some(BackRef {
                group,
                version,
                kind: s("kind")?,
                referrers: e
                    .get("fieldSpecs")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(FieldSpec::from_value).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Name references declared by a `crds:` file: an OpenAPI definitions map in which properties
/// marked `x-kubernetes-object-ref-kind` (and `x-kubernetes-object-ref-api-version`) refer by
/// `name` to objects of that kind.
pub(crate) fn from_crd_schema(doc: &Value) -> Vec<BackRef> {
    let Some(defs) = doc.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (def_name, def) in defs {
        let kind = def_name.rsplit('.').next().unwrap_or(def_name);
        let schema = def.get("Schema").unwrap_or(def);
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        if kind.ends_with("List") || !props.contains_key("kind") || !props.contains_key("metadata") {
            continue;
        }
        let mut path = Vec::new();
        crd_refs(defs, schema, kind, &mut path, &mut out, 0);
    }
    out
}

/// Walks the properties of `schema` (following `$ref`s into `defs`), collecting object
/// references of `kind` objects.
fn crd_refs(
    defs: &serde_json::Map<String, Value>,
    schema: &Value,
    kind: &str,
    path: &mut Vec<String>,
    out: &mut Vec<BackRef>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => match defs.get(r) {
            Some(d) => d.get("Schema").unwrap_or(d),
            None => return,
        },
        None => schema,
    };
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, prop) in props {
        if depth == 0 && matches!(name.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
            continue;
        }
        path.push(name.clone());
        if let Some(ref_kind) = prop.get("x-kubernetes-object-ref-kind").and_then(Value::as_str) {
            let (group, version) = match prop
                .get("x-kubernetes-object-ref-api-version")
                .and_then(Value::as_str)
            {
                Some(av) => {
                    let (g, v) = super::res::split_api_version(av);
                    (Some(g.to_owned()), Some(v.to_owned()))
                }
                None => (None, None),
            };
            let field = format!("{}/name", path.join("/"));
            out.push(BackRef {
                group,
                version,
                kind: ref_kind.to_owned(),
                referrers: vec![FieldSpec::new("*", kind, &field, false)],
            });
        } else {
            crd_refs(defs, prop, kind, path, out, depth + 1);
        }
        path.pop();
    }
}

fn gvk_selected(b: &BackRef, id: &Id) -> bool {
    b.kind == id.kind
        && b.group.as_deref().is_none_or(|g| g == id.group)
        && b.version.as_deref().is_none_or(|v| v == id.version)
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return true;
    }
    let n = a.len().min(b.len());
    a[a.len() - n..] == b[b.len() - n..]
}

/// Like [`same_ending`], but an empty list only matches an empty one.
fn strict_ending(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    same_ending(a, b)
}

/// The referral `old` names, seen from `referrer` (index `ri`), or an error when ambiguous.
fn select<'a>(
    res: &'a [Res],
    b: &BackRef,
    old: &str,
    referrer: &Res,
    role_kind: Option<&str>,
    name_only: bool,
) -> Result<Option<&'a Res>, String> {
    let mut cands: Vec<&Res> = res
        .iter()
        .filter(|r| r.all_ids().iter().any(|id| id.name == old))
        .filter(|r| r.all_ids().iter().any(|id| gvk_selected(b, id)))
        .filter(|r| role_kind.is_none_or(|k| r.kind() == k))
        .filter(|r| {
            same_ending(&r.prefixes, &referrer.prefixes) && same_ending(&r.suffixes, &referrer.suffixes)
        })
        .collect();
    if cands.len() == 1 {
        return Ok(cands.first().copied());
    }
    // prefer candidates whose prefixes and suffixes end like the referrer's, where an empty
    // list only matches an empty one
    let strict = |r: &Res| {
        strict_ending(&r.prefixes, &referrer.prefixes) && strict_ending(&r.suffixes, &referrer.suffixes)
    };
    if cands.iter().any(|r| strict(r)) {
        cands.retain(|r| strict(r));
    }
    let rid = referrer.id();
    let referrer_cluster = super::fieldspec::is_cluster_scoped(&rid.group, &rid.kind);
    if !referrer_cluster {
        cands.retain(|r| {
            let id = r.id();
            super::fieldspec::is_cluster_scoped(&id.group, &id.kind)
                || id.effective_ns() == rid.effective_ns()
        });
    }
    match cands.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        [first, rest @ ..] => {
            // for a plain name field, candidates that all carry the same name are unambiguous
            if rest
                .iter()
                .all(|r| r.id().equals(&first.id()) || (name_only && r.name() == first.name()))
            {
                Ok(Some(*first))
            } else {
                let ids: Vec<String> = cands.iter().map(|r| r.id().to_string()).collect();
                Err(format!("found multiple possible referrals: {}", ids.join(", ")))
            }
        }
    }
}

/// Updates name references in all resources.
pub(crate) fn fix(res: &mut [Res], table: &[BackRef]) -> Result<(), String> {
    let snapshot: Vec<Res> = res.to_vec();
    for (i, referrer) in snapshot.iter().enumerate() {
        for b in table {
            for fs in b.referrers.iter().filter(|f| f.applies(referrer)) {
                let Some(target) = res.get_mut(i) else { continue };
                let role_kind = referrer
                    .obj
                    .get("roleRef")
                    .and_then(|r| r.get("kind"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let is_role_ref = fs.path.first().map(String::as_str) == Some("roleRef");
                let mut err = None;
                let _ = walk::<()>(&mut target.obj, &fs.path, false, &mut |v| {
                    let r = fix_value(
                        v,
                        &snapshot,
                        b,
                        referrer,
                        if is_role_ref { role_kind.as_deref() } else { None },
                    );
                    if let Err(e) = r {
                        err = Some(e);
                    }
                    Ok(())
                });
                if let Some(e) = err {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

fn fix_value(
    v: &mut Value,
    all: &[Res],
    b: &BackRef,
    referrer: &Res,
    role_kind: Option<&str>,
) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(t) = select(all, b, s, referrer, role_kind, true)? {
                *s = t.name().to_owned();
            }
        }
        Value::Array(items) => {
            for item in items {
                fix_value(item, all, b, referrer, role_kind)?;
            }
        }
        Value::Object(m) => {
            // `subjects` entries and webhook services: {kind?, name, namespace?}
            if let Some(k) = m.get("kind").and_then(Value::as_str) {
                if k != b.kind {
                    return Ok(());
                }
            }
            let Some(name) = m.get("name").and_then(Value::as_str).map(str::to_owned) else {
                return Ok(());
            };
            if m.get("namespace")
                .is_some_and(|v| v.is_null() || v.as_str() == Some(""))
            {
                return Err(format!(
                    "Invalid Input: namespace is blank for resource {}",
                    referrer.id()
                ));
            }
            let ns = m.get("namespace").and_then(Value::as_str).map(str::to_owned);
            let cands: Vec<Res> = all
                .iter()
                .filter(|r| match &ns {
                    Some(ns) => r
                        .all_ids()
                        .iter()
                        .any(|id| &id.namespace == ns || (ns == "default" && id.namespace.is_empty())),
                    None => true,
                })
                .cloned()
                .collect();
            if let Some(t) = select(&cands, b, &name, referrer, None, false)? {
                m.insert("name".into(), Value::String(t.name().to_owned()));
                if ns.is_some() || !t.namespace().is_empty() {
                    if !t.namespace().is_empty() {
                        m.insert("namespace".into(), Value::String(t.namespace().to_owned()));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}
