//! [`KustomizeRenderer`]: Argo CD's `Kustomize` source type over the native engine.

use gitops_core::Object;
use gitops_core::engine::{EngineError, RenderInput, Renderer, SharedSourceResolver};
use gitops_core::model::SourceKustomize;
use serde_json::{Map, Value, json};

use super::{BuildOptions, KustomizeError, build_with_kustomization};

/// Renders Kustomize sources natively, applying the Application's `spec.source.kustomize`
/// overrides the way Argo CD does (`kustomize edit set nameprefix|namesuffix|image|replicas|
/// namespace`, `edit add label|annotation|component`, appended `patches`) — here by editing an
/// in-memory copy of the kustomization, never the tree.
///
/// - `supports`: an explicit `kustomize` block, or no explicit type and a kustomization file
///   directly in the source path.
/// - Errors: a kustomization that cannot be built is
///   [`ErrorKind::Invalid`](gitops_core::engine::ErrorKind::Invalid); a refused path
///   `Forbidden`; a remote target that cannot be loaded the resolver's kind; remote targets
///   without a resolver ([`with_remote_resolver`](Self::with_remote_resolver)), plugins and
///   Helm charts `Unsupported`.
#[derive(Debug, Clone, Default)]
pub struct KustomizeRenderer {
    options: BuildOptions,
}

impl KustomizeRenderer {
    /// Argo CD's source type name.
    pub const NAME: &'static str = "Kustomize";

    /// A renderer with default build options (legacy order, root-only loading).
    pub fn new() -> Self {
        KustomizeRenderer::default()
    }

    /// A renderer with the given build options (Argo CD's `kustomize.buildOptions`, see
    /// [`BuildOptions::from_flags`]).
    pub fn with_options(options: BuildOptions) -> Self {
        KustomizeRenderer { options }
    }

    /// The renderer loading remote bases and components (`https://github.com/org/repo//dir?ref=v1`)
    /// through `resolver`, typically the one the engine resolves sources with (see
    /// [`BuildOptions::with_remote`]). Without it remote targets are `Unsupported`.
    #[must_use]
    pub fn with_remote_resolver(mut self, resolver: SharedSourceResolver) -> Self {
        self.options = self.options.with_remote(resolver);
        self
    }
}

impl Renderer for KustomizeRenderer {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn supports(&self, input: &RenderInput<'_>) -> bool {
        let types = input.source.explicit_types();
        if !types.is_empty() {
            return types == [gitops_core::model::SourceType::Kustomize];
        }
        input.tree.read_dir(input.path).is_ok_and(|es| {
            es.iter()
                .any(|e| crate::KUSTOMIZATION_FILES.contains(&e.name.as_str()))
        })
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Vec<Object>, EngineError> {
        let path = input.path.trim_matches('/');
        let entries = input.tree.read_dir(path)?;
        let Some(file) = crate::KUSTOMIZATION_FILES
            .iter()
            .find(|n| entries.iter().any(|e| e.name == **n))
        else {
            return Err(EngineError::invalid(format!(
                "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '/{path}'"
            )));
        };
        let file_path = if path.is_empty() {
            (*file).to_owned()
        } else {
            format!("{path}/{file}")
        };
        let bytes = input.tree.read_file(&file_path)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut doc = super::util::parse_yaml(&text, &file_path)
            .map_err(to_engine)?
            .into_iter()
            .next()
            .unwrap_or(Value::Object(Map::new()));
        if let Some(k) = &input.source.kustomize {
            let env = Env {
                app: &input.app.name,
                namespace: &input.app.destination_namespace,
                project: &input.app.project,
                revision: input.tree.revision(),
            };
            apply_overrides(&mut doc, k, &env, |c| {
                let dir = super::util::join(path, c).unwrap_or_default();
                input.tree.read_dir(&dir).is_ok()
            });
        }
        build_with_kustomization(input.tree, path, &doc, &self.options).map_err(to_engine)
    }
}

fn to_engine(e: KustomizeError) -> EngineError {
    match &e {
        KustomizeError::Forbidden { .. } => EngineError::forbidden(e.to_string()),
        KustomizeError::Unsupported { .. } => EngineError::unsupported(e.to_string()),
        KustomizeError::Remote { kind, .. } => EngineError::new(*kind, e.to_string()),
        KustomizeError::Io { .. } => EngineError::invalid(e.to_string()),
        _ => EngineError::invalid(e.to_string()),
    }
}

struct Env<'a> {
    app: &'a str,
    namespace: &'a str,
    project: &'a str,
    revision: &'a str,
}

impl Env<'_> {
    /// Argo CD's envsubst: `$VAR`/`${VAR}` for the `ARGOCD_APP_*` variables, `$$` is `$`.
    fn subst(&self, s: &str) -> String {
        let vars = [
            ("ARGOCD_APP_NAME", self.app),
            ("ARGOCD_APP_NAMESPACE", self.namespace),
            ("ARGOCD_APP_PROJECT_NAME", self.project),
            ("ARGOCD_APP_REVISION", self.revision),
            (
                "ARGOCD_APP_REVISION_SHORT",
                self.revision.get(..7).unwrap_or(self.revision),
            ),
        ];
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(a) = after.strip_prefix('$') {
                out.push('$');
                rest = a;
                continue;
            }
            let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                match b.find('}') {
                    Some(j) => (&b[..j], &b[j + 1..]),
                    None => ("", after),
                }
            } else {
                let n = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..n], &after[n..])
            };
            match vars.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('$');
                    rest = after;
                    continue;
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        out
    }
}

fn arr<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Vec<Value>> {
    let e = m
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !e.is_array() {
        *e = Value::Array(Vec::new());
    }
    e.as_array_mut()
}

/// Parses Argo CD's image override `[old=]name[:tag|@digest]` into a kustomization `images` entry.
fn image_entry(s: &str) -> Value {
    let (old, new) = match s.split_once('=') {
        Some((o, n)) => (Some(o), n),
        None => (None, s),
    };
    let (name, tag, digest) = super::transform::split_image(new);
    let mut m = Map::new();
    match old {
        Some(o) => {
            m.insert("name".into(), Value::String(o.to_owned()));
            m.insert("newName".into(), Value::String(name));
        }
        None => {
            m.insert("name".into(), Value::String(name));
        }
    }
    if let Some(t) = tag {
        m.insert("newTag".into(), Value::String(t));
    }
    if let Some(d) = digest {
        m.insert("digest".into(), Value::String(d));
    }
    Value::Object(m)
}

fn apply_overrides(
    doc: &mut Value,
    k: &SourceKustomize,
    env: &Env<'_>,
    component_exists: impl Fn(&str) -> bool,
) {
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(m) = doc.as_object_mut() else { return };
    if let Some(p) = &k.name_prefix {
        m.insert("namePrefix".into(), Value::String(p.clone()));
    }
    if let Some(s) = &k.name_suffix {
        m.insert("nameSuffix".into(), Value::String(s.clone()));
    }
    if let Some(ns) = k.namespace.as_deref().filter(|s| !s.is_empty()) {
        m.insert("namespace".into(), Value::String(ns.to_owned()));
    }
    if !k.images.is_empty() {
        if let Some(images) = arr(m, "images") {
            for img in &k.images {
                let entry = image_entry(&env.subst(img));
                let name = entry.get("name").cloned();
                match images.iter_mut().find(|e| e.get("name") == name.as_ref()) {
                    Some(e) => *e = entry,
                    None => images.push(entry),
                }
            }
        }
    }
    if !k.replicas.is_empty() {
        if let Some(reps) = arr(m, "replicas") {
            for r in &k.replicas {
                let count = match &r.count {
                    Value::String(s) => s
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(s.clone())),
                    other => other.clone(),
                };
                let entry = json!({"name": r.name, "count": count});
                match reps
                    .iter_mut()
                    .find(|e| e.get("name").and_then(Value::as_str) == Some(&r.name))
                {
                    Some(e) => *e = entry,
                    None => reps.push(entry),
                }
            }
        }
    }
    if !k.common_labels.is_empty() {
        let pairs: Map<String, Value> = k
            .common_labels
            .iter()
            .map(|(a, b)| (a.clone(), Value::String(env.subst(b))))
            .collect();
        if k.label_without_selector {
            if let Some(labels) = arr(m, "labels") {
                let mut e = Map::new();
                e.insert("pairs".into(), Value::Object(pairs));
                if k.label_include_templates {
                    e.insert("includeTemplates".into(), Value::Bool(true));
                }
                labels.push(Value::Object(e));
            }
        } else if let Some(cl) = super::util::child_map(m, "commonLabels") {
            for (a, b) in pairs {
                if k.force_common_labels || !cl.contains_key(&a) {
                    cl.insert(a, b);
                }
            }
        }
    }
    if !k.common_annotations.is_empty() {
        if let Some(ca) = super::util::child_map(m, "commonAnnotations") {
            for (a, b) in &k.common_annotations {
                let v = if k.common_annotations_envsubst {
                    env.subst(b)
                } else {
                    b.clone()
                };
                if k.force_common_annotations || !ca.contains_key(a) {
                    ca.insert(a.clone(), Value::String(v));
                }
            }
        }
    }
    if !k.components.is_empty() {
        if let Some(cs) = arr(m, "components") {
            for c in &k.components {
                if k.ignore_missing_components && !component_exists(c) {
                    continue;
                }
                cs.push(Value::String(c.clone()));
            }
        }
    }
    if !k.patches.is_empty() {
        if let Some(ps) = arr(m, "patches") {
            for p in &k.patches {
                if let Ok(v) = serde_json::to_value(p) {
                    ps.push(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envsubst_and_images() {
        let env = Env {
            app: "guestbook",
            namespace: "ns",
            project: "default",
            revision: "0123456789",
        };
        assert_eq!(
            env.subst("a-$ARGOCD_APP_NAME-${ARGOCD_APP_NAMESPACE}-$$x-$OTHER"),
            "a-guestbook-ns-$x-$OTHER"
        );
        assert_eq!(
            image_entry("nginx=repo/nginx:1.2"),
            json!({"name": "nginx", "newName": "repo/nginx", "newTag": "1.2"})
        );
        assert_eq!(
            image_entry("nginx:1.2"),
            json!({"name": "nginx", "newTag": "1.2"})
        );
    }
}
