//! The build pipeline (spec `render.md` §3.2).

use std::sync::Arc;

use gitops_core::Object;
use gitops_core::engine::{ErrorKind, ResolveContext, SharedSourceTree, SourceTree};
use gitops_core::model::ApplicationSource;
use serde_json::{Map, Value};

use super::fieldspec::{self, FieldSpec};
use super::generate;
use super::nameref::{self, BackRef};
use super::patches::{self, Matcher, Patch, Selector};
use super::remote::{RemoteTarget, is_remote};
use super::replace::{self, Var};
use super::res::{Origin, Res};
use super::transform::{self, Image};
use super::util::{self, get_str, is_within, join, shown};
use super::{BuildOptions, KUSTOMIZATION_NAMES, KustomizeError, LoadRestrictions, Reorder};

/// Deepest nesting of kustomizations.
const MAX_DEPTH: usize = 64;

/// A loaded kustomization file.
#[derive(Debug, Clone)]
pub(crate) struct Kust {
    file: String,
    dir: String,
    doc: Value,
    component: bool,
}

/// Custom field specs from `configurations`.
#[derive(Debug, Clone, Default)]
struct Config {
    nameref: Vec<BackRef>,
    labels: Vec<FieldSpec>,
    annotations: Vec<FieldSpec>,
    images: Vec<FieldSpec>,
    varref: Vec<FieldSpec>,
    namespace: Vec<FieldSpec>,
    replicas: Vec<FieldSpec>,
    prefix: Vec<FieldSpec>,
    suffix: Vec<FieldSpec>,
}

impl Config {
    fn extend(&mut self, o: Config) {
        self.nameref.extend(o.nameref);
        self.labels.extend(o.labels);
        self.annotations.extend(o.annotations);
        self.images.extend(o.images);
        self.varref.extend(o.varref);
        self.namespace.extend(o.namespace);
        self.replicas.extend(o.replicas);
        self.prefix.extend(o.prefix);
        self.suffix.extend(o.suffix);
    }
}

/// What a kustomization accumulates.
#[derive(Debug, Default)]
struct Acc {
    res: Vec<Res>,
    vars: Vec<Var>,
    config: Config,
}

struct Builder<'a> {
    tree: &'a dyn SourceTree,
    opts: &'a BuildOptions,
    /// Kustomization directories being built, outermost first (keyed with [`Builder::key`]).
    stack: Vec<String>,
    /// Identifies the tree in `stack` keys: `""` for the build's own tree, `repo?ref//` for a
    /// remote one.
    key: String,
    /// The repository and `ref` of a remote tree, for origins.
    remote: Option<Arc<(String, String)>>,
}

type KResult<T> = Result<T, KustomizeError>;

fn engine_err(e: &gitops_core::engine::EngineError, file: &str) -> KustomizeError {
    if e.kind() == ErrorKind::Forbidden {
        KustomizeError::Forbidden {
            message: e.message().to_owned(),
        }
    } else {
        KustomizeError::Io {
            file: shown(file),
            message: e.message().to_owned(),
        }
    }
}

/// Wraps `origin` as one in the remote repository `remote`, if any.
fn tag_origin(remote: &Option<Arc<(String, String)>>, origin: Origin) -> Origin {
    match remote {
        Some(r) if !matches!(origin, Origin::Remote { .. }) => Origin::Remote {
            repo: r.0.clone(),
            reference: r.1.clone(),
            inner: Box::new(origin),
        },
        _ => origin,
    }
}

fn strings(doc: &Value, key: &str) -> Vec<String> {
    match doc.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(util::scalar_string).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn list<'v>(doc: &'v Value, key: &str) -> &'v [Value] {
    match doc.get(key) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

impl Builder<'_> {
    fn tag(&self, origin: Origin) -> Origin {
        tag_origin(&self.remote, origin)
    }

    /// Resolves a remote target's tree and loads the kustomization at its path; the error when
    /// there is no resolver, the target does not parse or cannot be loaded.
    fn load_remote(
        &self,
        k: &Kust,
        field: &str,
        entry: &str,
    ) -> KResult<(RemoteTarget, SharedSourceTree, Kust)> {
        let Some(resolver) = self.opts.remote() else {
            let message = if field == "components" {
                format!("remote component {entry}: remote resources are not supported")
            } else {
                format!(
                    "remote resource {entry}: remote git and http resources are not supported by the native kustomize renderer"
                )
            };
            return Err(KustomizeError::unsupported(&shown(&k.file), field, message));
        };
        let Some(target) = RemoteTarget::parse(entry) else {
            return Err(KustomizeError::unsupported(
                &shown(&k.file),
                field,
                format!("remote resource {entry}: only git repositories are supported, not http files"),
            ));
        };
        if target.path.split('/').any(|p| p == "..") {
            return Err(KustomizeError::Forbidden {
                message: format!("remote target '{entry}' leaves its repository root"),
            });
        }
        let remote_err = |kind: ErrorKind, message: String| KustomizeError::Remote {
            file: shown(&k.file),
            field: field.to_owned(),
            target: entry.to_owned(),
            kind,
            message,
        };
        let source = ApplicationSource {
            repo_url: target.repo_url.clone(),
            target_revision: target.reference.clone(),
            ..ApplicationSource::default()
        };
        let tree = resolver
            .resolve(&source, &ResolveContext::default())
            .map_err(|e| remote_err(e.kind(), e.message().to_owned()))?;
        let sub = Builder {
            tree: &*tree,
            opts: self.opts,
            stack: Vec::new(),
            key: String::new(),
            remote: None,
        };
        let kust = sub
            .load_kust(&target.path)
            .map_err(|e| remote_err(ErrorKind::Invalid, e.to_string()))?
            .ok_or_else(|| {
                remote_err(
                    ErrorKind::Invalid,
                    format!(
                        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
                        shown(&target.path)
                    ),
                )
            })?;
        Ok((target, tree, kust))
    }

    /// Runs the remote kustomization `kust` of `tree` over `acc`.
    fn run_remote(
        &self,
        target: &RemoteTarget,
        tree: &dyn SourceTree,
        kust: &Kust,
        acc: Acc,
    ) -> KResult<Acc> {
        let reference = target.reference.clone().unwrap_or_default();
        let mut sub = Builder {
            tree,
            opts: self.opts,
            stack: self.stack.clone(),
            key: format!("{}?ref={reference}//", target.repo_url),
            remote: Some(Arc::new((target.repo_url.clone(), reference))),
        };
        sub.run(kust, acc)
    }

    fn invalid(&self, k: &Kust, field: &str, msg: impl Into<String>) -> KustomizeError {
        KustomizeError::invalid(&shown(&k.file), field, msg)
    }

    /// Finds and parses the kustomization in `dir`; `None` when there is none.
    fn load_kust(&self, dir: &str) -> KResult<Option<Kust>> {
        let entries = self.tree.read_dir(dir).map_err(|e| engine_err(&e, dir))?;
        let found: Vec<&str> = KUSTOMIZATION_NAMES
            .iter()
            .copied()
            .filter(|n| entries.iter().any(|e| e.name == *n))
            .collect();
        let name = match found.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            _ => {
                return Err(KustomizeError::Invalid {
                    file: shown(dir),
                    field: "kustomization".into(),
                    message: format!("found multiple kustomization files: {}", found.join(", ")),
                });
            }
        };
        let file = join(dir, name).unwrap_or_else(|()| name.to_owned());
        let bytes = self.tree.read_file(&file).map_err(|e| engine_err(&e, &file))?;
        let text = String::from_utf8_lossy(&bytes);
        let docs = match util::parse_yaml(&text, &shown(&file)) {
            Ok(d) => d,
            // kyaml keeps the last of repeated top-level keys (`apiVersion` written twice)
            Err(e) if e.to_string().contains("duplicate entry") => {
                util::parse_yaml(&dedupe_top_level(&text), &shown(&file)).map_err(|_| e)?
            }
            Err(e) => return Err(e),
        };
        let doc = match docs.into_iter().next() {
            Some(Value::Object(m)) => Value::Object(fix_field_case(m)),
            None => Value::Object(Map::new()),
            Some(_) => {
                return Err(KustomizeError::Parse {
                    file: shown(&file),
                    message: "a kustomization must be a mapping".into(),
                });
            }
        };
        let component = get_str(&doc, "kind") == Some("Component");
        Ok(Some(Kust {
            file,
            dir: dir.to_owned(),
            doc,
            component,
        }))
    }

    /// Resolves `rel` against the kustomization directory for a file it reads.
    fn file_path(&self, k: &Kust, rel: &str) -> KResult<String> {
        let path = join(&k.dir, rel).map_err(|()| KustomizeError::Forbidden {
            message: format!("file '{rel}' is not in or below '{}'", shown(&k.dir)),
        })?;
        if self.opts.load_restrictions == LoadRestrictions::RootOnly && !is_within(&path, &k.dir) {
            return Err(KustomizeError::Forbidden {
                message: format!("file '{}' is not in or below '{}'", shown(&path), shown(&k.dir)),
            });
        }
        Ok(path)
    }

    fn read_text(&self, k: &Kust, rel: &str) -> KResult<String> {
        let path = self.file_path(k, rel)?;
        let bytes = self.tree.read_file(&path).map_err(|e| engine_err(&e, &path))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn run(&mut self, k: &Kust, mut acc: Acc) -> KResult<Acc> {
        if self.stack.len() > MAX_DEPTH {
            return Err(self.invalid(k, "resources", "kustomizations are nested too deeply"));
        }
        let key = format!("{}{}", self.key, k.dir);
        if self.stack.contains(&key) {
            return Err(self.invalid(
                k,
                "resources",
                format!("cycle detected: '{}' includes itself", shown(&k.dir)),
            ));
        }
        self.stack.push(key);
        let r = self.run_inner(k, &mut acc);
        self.stack.pop();
        r.map(|()| acc)
    }

    fn run_inner(&mut self, k: &Kust, acc: &mut Acc) -> KResult<()> {
        let doc = &k.doc;
        for unsupported in [
            "helmCharts",
            "helmChartInflationGenerator",
            "openapi",
            "validators",
        ] {
            if doc
                .get(unsupported)
                .is_some_and(|v| !v.is_null() && v != &Value::Array(vec![]))
            {
                return Err(KustomizeError::unsupported(
                    &shown(&k.file),
                    unsupported,
                    "this field is not implemented",
                ));
            }
        }
        for c in strings(doc, "configurations") {
            let text = self.read_text(k, &c)?;
            for d in util::parse_yaml(&text, &c)? {
                acc.config.extend(parse_config(&d));
            }
        }
        for c in strings(doc, "crds") {
            let text = self.read_text(k, &c)?;
            for d in util::parse_yaml(&text, &c)? {
                acc.config.nameref.extend(nameref::from_crd_schema(&d));
            }
        }
        let mut entries = strings(doc, "resources");
        entries.extend(strings(doc, "bases"));
        for entry in entries {
            self.accumulate(k, &entry, acc)?;
        }
        // generators
        let global = doc.get("generatorOptions");
        for (kind, field) in [("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")] {
            for (i, spec) in list(doc, field).iter().enumerate() {
                let origin = self.tag(Origin::builtin(&k.file, &format!("{kind}Generator"), None));
                self.generate(k, kind, spec, global, acc, &format!("{field}[{i}]"), origin)?;
            }
        }
        for g in strings(doc, "generators") {
            for (cfg, file) in self.plugin_configs(k, &g, "generators")? {
                let kind = get_str(&cfg, "kind").unwrap_or("").to_owned();
                match kind.as_str() {
                    "ConfigMapGenerator" | "SecretGenerator" => {
                        let origin = self.tag(Origin::builtin(&file, &kind, Some(&cfg)));
                        let kind = kind.trim_end_matches("Generator").to_owned();
                        let spec = flatten_generator(&cfg);
                        self.generate(k, &kind, &spec, None, acc, "generators", origin)?;
                    }
                    "IAMPolicyGenerator" if get_str(&cfg, "apiVersion") == Some("builtin") => {
                        let mut r = iam_policy(&cfg).map_err(|m| self.invalid(k, "generators", m))?;
                        r.origin = Some(self.tag(Origin::builtin(&file, &kind, Some(&cfg))));
                        append(acc, r).map_err(|m| self.invalid(k, "generators", m))?;
                    }
                    _ => return Err(self.plugin_error(k, "generators", &cfg)),
                }
            }
        }
        // components
        for c in strings(doc, "components") {
            if is_remote(&c) {
                let (target, tree, comp) = self.load_remote(k, "components", &c)?;
                if !comp.component {
                    return Err(self.invalid(
                        k,
                        "components",
                        format!("accumulating components: expected kind 'Component' for '{c}'"),
                    ));
                }
                let taken = std::mem::take(acc);
                *acc = self.run_remote(&target, &*tree, &comp, taken)?;
                continue;
            }
            let dir = join(&k.dir, &c).map_err(|()| KustomizeError::Forbidden {
                message: format!("component '{c}' leaves the repository root"),
            })?;
            let comp = self
                .load_kust(&dir)
                .map_err(|e| self.invalid(k, "components", format!("accumulating components: {e}")))?
                .ok_or_else(|| {
                    self.invalid(
                        k,
                        "components",
                        format!("accumulating components: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'", shown(&dir)),
                    )
                })?;
            if !comp.component {
                return Err(self.invalid(
                    k,
                    "components",
                    format!(
                        "accumulating components: expected kind 'Component' for path '{}'",
                        shown(&dir)
                    ),
                ));
            }
            let taken = std::mem::take(acc);
            *acc = self.run(&comp, taken)?;
        }
        self.transform(k, acc)?;
        for v in list(doc, "vars") {
            let Some(var) = Var::from_value(v) else {
                return Err(self.invalid(k, "vars", "a var needs a name and an objref"));
            };
            if acc.vars.iter().any(|x| x.name == var.name) {
                return Err(self.invalid(k, "vars", format!("var '{}' already encountered", var.name)));
            }
            acc.vars.push(var);
        }
        Ok(())
    }

    fn accumulate(&mut self, k: &Kust, entry: &str, acc: &mut Acc) -> KResult<()> {
        if is_remote(entry) {
            let (target, tree, sub) = self.load_remote(k, "resources", entry)?;
            if sub.component {
                return Err(self.invalid(
                    k,
                    "resources",
                    format!(
                        "accumulating resources from '{entry}': expected kind != 'Component' for a resource"
                    ),
                ));
            }
            let sub_acc = self.run_remote(&target, &*tree, &sub, Acc::default())?;
            return self.merge(k, acc, sub_acc);
        }
        if entry.starts_with('/') {
            return Err(KustomizeError::Forbidden {
                message: format!(
                    "absolute path '{entry}' in resources of {} is not allowed",
                    shown(&k.file)
                ),
            });
        }
        let path = join(&k.dir, entry).map_err(|()| KustomizeError::Forbidden {
            message: format!(
                "resource '{entry}' in {} leaves the repository root",
                shown(&k.file)
            ),
        })?;
        let wrap = |e: KustomizeError| match e {
            KustomizeError::Forbidden { .. } => e,
            other => KustomizeError::invalid(
                &shown(&k.file),
                "resources",
                format!("accumulating resources from '{entry}': {other}"),
            ),
        };
        match self.tree.read_dir(&path) {
            Ok(_) => {
                let sub = self.load_kust(&path).map_err(wrap)?.ok_or_else(|| {
                    wrap(KustomizeError::Invalid {
                        file: shown(&path),
                        field: "resources".into(),
                        message: format!("unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'", shown(&path)),
                    })
                })?;
                if sub.component {
                    return Err(wrap(KustomizeError::invalid(
                        &shown(&sub.file),
                        "kind",
                        "expected kind != 'Component' for a resource",
                    )));
                }
                let sub_acc = self.run(&sub, Acc::default()).map_err(wrap)?;
                self.merge(k, acc, sub_acc)
            }
            Err(e) if e.kind() == ErrorKind::Forbidden => Err(engine_err(&e, &path)),
            Err(_) => {
                if self.opts.load_restrictions == LoadRestrictions::RootOnly && !is_within(&path, &k.dir) {
                    return Err(KustomizeError::Forbidden {
                        message: format!("file '{}' is not in or below '{}'", shown(&path), shown(&k.dir)),
                    });
                }
                let bytes = self
                    .tree
                    .read_file(&path)
                    .map_err(|e| wrap(engine_err(&e, &path)))?;
                let text = String::from_utf8_lossy(&bytes);
                for mut r in load_resources(&text, &path).map_err(wrap)? {
                    r.origin = r.origin.map(|o| self.tag(o));
                    append(acc, r).map_err(|m| self.invalid(k, "resources", m))?;
                }
                Ok(())
            }
        }
    }

    /// Adds a built base's resources, vars and configurations to `acc`.
    fn merge(&self, k: &Kust, acc: &mut Acc, sub_acc: Acc) -> KResult<()> {
        for r in sub_acc.res {
            append(acc, r).map_err(|m| self.invalid(k, "resources", m))?;
        }
        for v in sub_acc.vars {
            if acc.vars.iter().any(|x| x.name == v.name) {
                return Err(self.invalid(k, "vars", format!("var '{}' already encountered", v.name)));
            }
            acc.vars.push(v);
        }
        acc.config.extend(sub_acc.config);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        k: &Kust,
        kind: &str,
        spec: &Value,
        global: Option<&Value>,
        acc: &mut Acc,
        field: &str,
        origin: Origin,
    ) -> KResult<()> {
        let read = |rel: &str| -> Result<Vec<u8>, String> {
            let path = self.file_path(k, rel).map_err(|e| e.to_string())?;
            self.tree
                .read_file(&path)
                .map_err(|e| engine_err(&e, &path).to_string())
        };
        let (mut r, behavior) =
            generate::generate(kind, spec, global, &read).map_err(|m| self.invalid(k, field, m))?;
        r.origin = Some(origin);
        let id = r.id();
        let found = acc.res.iter().position(|x| {
            x.kind() == kind
                && x.all_ids().iter().any(|xi| {
                    xi.kind == id.kind
                        && xi.name == id.name
                        && (id.namespace.is_empty() || xi.effective_ns() == id.effective_ns())
                })
        });
        match (behavior.as_str(), found) {
            ("create" | "", None) => {
                acc.res.push(r);
                Ok(())
            }
            ("create" | "", Some(_)) => Err(self.invalid(
                k,
                field,
                format!("id {id} exists; behavior must be merge or replace"),
            )),
            (b, Some(i)) => {
                if let Some(old) = acc.res.get_mut(i) {
                    generate::merge_into(old, r, b);
                }
                Ok(())
            }
            (_, None) => Err(self.invalid(
                k,
                field,
                format!("id {id} does not exist; cannot merge or replace"),
            )),
        }
    }

    fn transform(&mut self, k: &Kust, acc: &mut Acc) -> KResult<()> {
        let doc = &k.doc;
        let remote = self.remote.clone();
        let here = |kind: &str| tag_origin(&remote, Origin::builtin(&k.file, kind, None));
        // patchesStrategicMerge
        for (i, p) in strings(doc, "patchesStrategicMerge").iter().enumerate() {
            let field = format!("patchesStrategicMerge[{i}]");
            let text = self.patch_text(k, p)?;
            match patches::parse(&text, &field).map_err(|m| self.invalid(k, &field, m))? {
                Patch::Smp(docs) => {
                    for d in docs {
                        self.smp_by_id(k, &field, &d, acc)?;
                    }
                }
                Patch::Json(_) => {
                    return Err(self.invalid(
                        k,
                        &field,
                        "a json patch cannot be used in patchesStrategicMerge",
                    ));
                }
                Patch::Empty => {
                    return Err(self.invalid(k, &field, format!("patch appears to be empty; file={p}")));
                }
            }
            note(acc, here("PatchStrategicMergeTransformer"));
        }
        // patches
        for (i, p) in list(doc, "patches").iter().enumerate() {
            let field = format!("patches[{i}]");
            self.patch_entry(k, &field, p, acc)?;
            note(acc, here("PatchTransformer"));
        }
        // namespace
        if let Some(ns) = get_str(doc, "namespace").filter(|s| !s.is_empty()) {
            let extra = acc.config.namespace.clone();
            transform::namespace(&mut acc.res, ns, &extra, false, "defaultOnly");
            note(acc, here("NamespaceTransformer"));
        }
        // prefix / suffix
        let prefix = get_str(doc, "namePrefix").unwrap_or("");
        let suffix = get_str(doc, "nameSuffix").unwrap_or("");
        // `metadata/name` specs from `configurations` restrict the renaming to their kinds
        let names = |specs: &[FieldSpec]| -> Option<Vec<FieldSpec>> {
            let v: Vec<FieldSpec> = specs
                .iter()
                .filter(|f| f.path == ["metadata", "name"])
                .cloned()
                .collect();
            (!v.is_empty()).then_some(v)
        };
        if !prefix.is_empty() {
            let specs = names(&acc.config.prefix);
            transform::prefix_suffix(&mut acc.res, prefix, "", specs.as_deref());
        }
        if !suffix.is_empty() {
            let specs = names(&acc.config.suffix);
            transform::prefix_suffix(&mut acc.res, "", suffix, specs.as_deref());
        }
        if !prefix.is_empty() {
            note(acc, here("PrefixTransformer"));
        }
        if !suffix.is_empty() {
            note(acc, here("SuffixTransformer"));
        }
        // labels
        let common = transform::string_map(doc.get("commonLabels"));
        if !common.is_empty() {
            let mut specs = fieldspec::common_labels();
            specs.extend(acc.config.labels.iter().cloned());
            transform::add_map(&mut acc.res, &common, &specs)
                .map_err(|m| self.invalid(k, "commonLabels", m))?;
            note(acc, here("LabelTransformer"));
        }
        for (i, l) in list(doc, "labels").iter().enumerate() {
            let pairs = transform::string_map(l.get("pairs"));
            let mut specs = if l.get("includeSelectors").and_then(Value::as_bool) == Some(true) {
                let mut s = fieldspec::common_labels();
                s.extend(acc.config.labels.iter().cloned());
                s
            } else {
                let mut s = vec![FieldSpec::new("*", "", "metadata/labels", true)];
                if l.get("includeTemplates").and_then(Value::as_bool) == Some(true) {
                    s.extend(fieldspec::template_labels());
                }
                if l.get("includeVolumeClaimTemplates").and_then(Value::as_bool) == Some(true) {
                    s.push(FieldSpec::new(
                        "apps",
                        "StatefulSet",
                        "spec/volumeClaimTemplates[]/metadata/labels",
                        true,
                    ));
                }
                s
            };
            if let Some(Value::Array(fs)) = l.get("fields") {
                specs.extend(fs.iter().filter_map(FieldSpec::from_value));
            }
            transform::add_map(&mut acc.res, &pairs, &specs)
                .map_err(|m| self.invalid(k, &format!("labels[{i}]"), m))?;
            note(acc, here("LabelTransformer"));
        }
        let ann = transform::string_map(doc.get("commonAnnotations"));
        if !ann.is_empty() {
            let mut specs = fieldspec::common_annotations();
            specs.extend(acc.config.annotations.iter().cloned());
            transform::add_map(&mut acc.res, &ann, &specs)
                .map_err(|m| self.invalid(k, "commonAnnotations", m))?;
            note(acc, here("AnnotationsTransformer"));
        }
        // patchesJson6902
        for (i, p) in list(doc, "patchesJson6902").iter().enumerate() {
            let field = format!("patchesJson6902[{i}]");
            self.patch_entry(k, &field, p, acc)?;
            note(acc, here("PatchJson6902Transformer"));
        }
        // replicas
        let mut rspecs = fieldspec::replicas();
        rspecs.extend(acc.config.replicas.iter().cloned());
        for r in list(doc, "replicas") {
            let name = get_str(r, "name").unwrap_or("");
            let count = r.get("count").cloned().unwrap_or(Value::Null);
            transform::replicas(&mut acc.res, name, &count, &rspecs);
            note(acc, here("ReplicaCountTransformer"));
        }
        // images
        let images: Vec<Image> = list(doc, "images").iter().map(Image::from_value).collect();
        let custom = acc.config.images.clone();
        transform::images(&mut acc.res, &images, &custom);
        for _ in &images {
            note(acc, here("ImageTagTransformer"));
        }
        // replacements
        for (i, r) in list(doc, "replacements").iter().enumerate() {
            let field = format!("replacements[{i}]");
            let reps = match get_str(r, "path") {
                Some(p) => {
                    let text = self.read_text(k, p)?;
                    let mut out = Vec::new();
                    for d in util::parse_yaml(&text, p)? {
                        match d {
                            Value::Array(a) => out.extend(a),
                            other => out.push(other),
                        }
                    }
                    out
                }
                None => vec![r.clone()],
            };
            for rep in reps {
                replace::replacement(&mut acc.res, &rep).map_err(|m| self.invalid(k, &field, m))?;
            }
            note(acc, here("ReplacementTransformer"));
        }
        // transformers:
        for t in strings(doc, "transformers") {
            for (cfg, file) in self.plugin_configs(k, &t, "transformers")? {
                self.builtin_transformer(k, &cfg, acc)?;
                let kind = get_str(&cfg, "kind").unwrap_or("");
                note(acc, self.tag(Origin::builtin(&file, kind, Some(&cfg))));
            }
        }
        Ok(())
    }

    fn patch_text(&self, k: &Kust, p: &str) -> KResult<String> {
        // inline YAML or a file
        if p.contains('\n') || p.trim_start().starts_with('{') || p.trim_start().starts_with('[') {
            return Ok(p.to_owned());
        }
        self.read_text(k, p)
    }

    fn smp_by_id(&self, k: &Kust, field: &str, d: &Value, acc: &mut Acc) -> KResult<()> {
        let id = patches::patch_id(d);
        let matches: Vec<usize> = acc
            .res
            .iter()
            .enumerate()
            .filter(|(_, r)| r.all_ids().iter().any(|x| x.equals(&id)))
            .map(|(i, _)| i)
            .collect();
        let matches = if matches.is_empty() {
            // kustomize also accepts a patch naming the current or an earlier id without a namespace
            acc.res
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.all_ids().iter().any(|x| {
                        x.kind == id.kind
                            && x.name == id.name
                            && x.group == id.group
                            && id.namespace.is_empty()
                    })
                })
                .map(|(i, _)| i)
                .collect()
        } else {
            matches
        };
        match matches.as_slice() {
            [i] => {
                let i = *i;
                if let Some(r) = acc.res.get_mut(i) {
                    let keep =
                        patches::apply_smp(r, d, false, false).map_err(|m| self.invalid(k, field, m))?;
                    if !keep {
                        acc.res.remove(i);
                    }
                }
                Ok(())
            }
            [] => Err(self.invalid(
                k,
                field,
                format!("no matches for Id {id}; failed to find unique target for patch {id}"),
            )),
            _ => Err(self.invalid(
                k,
                field,
                format!("multiple matches for Id {id}; failed to find unique target for patch {id}"),
            )),
        }
    }

    /// A `patches` or `patchesJson6902` entry.
    fn patch_entry(&self, k: &Kust, field: &str, p: &Value, acc: &mut Acc) -> KResult<()> {
        let text = match (get_str(p, "patch"), get_str(p, "path")) {
            (Some(t), _) => t.to_owned(),
            (None, Some(path)) => self.read_text(k, path)?,
            (None, None) => {
                if let Some(ops) = p.get("jsonOp") {
                    ops.to_string()
                } else {
                    return Err(self.invalid(k, field, "must specify a patch or a path"));
                }
            }
        };
        let opts = p.get("options");
        let flag = |n: &str| {
            opts.and_then(|o| o.get(n))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let patch = patches::parse(&text, field).map_err(|m| self.invalid(k, field, m))?;
        let target = match p.get("target") {
            Some(t) if !t.is_null() => {
                Some(Matcher::new(&Selector::from_value(t)).map_err(|m| self.invalid(k, field, m))?)
            }
            _ => None,
        };
        match (patch, target) {
            (Patch::Empty, _) => Ok(()),
            (Patch::Smp(docs), None) => {
                for d in docs {
                    self.smp_by_id(k, field, &d, acc)?;
                }
                Ok(())
            }
            (Patch::Smp(docs), Some(m)) => {
                for d in docs {
                    let mut i = 0;
                    while i < acc.res.len() {
                        let hit = acc.res.get(i).is_some_and(|r| m.matches(r));
                        if hit {
                            if let Some(r) = acc.res.get_mut(i) {
                                let keep = patches::apply_smp(
                                    r,
                                    &d,
                                    flag("allowNameChange"),
                                    flag("allowKindChange"),
                                )
                                .map_err(|e| self.invalid(k, field, e))?;
                                if !keep {
                                    acc.res.remove(i);
                                    continue;
                                }
                            }
                        }
                        i += 1;
                    }
                }
                Ok(())
            }
            (Patch::Json(_), None) => Err(self.invalid(k, field, "must specify a target for a json patch")),
            (Patch::Json(ops), Some(m)) => {
                for r in acc.res.iter_mut().filter(|r| m.matches(r)) {
                    patches::apply_json(r, &ops)
                        .map_err(|e| self.invalid(k, field, format!("{e} (target {})", r.id())))?;
                }
                Ok(())
            }
        }
    }

    /// The configs named by a `transformers:`/`generators:` entry: inline YAML, a file, or a
    /// kustomization directory whose output are the configs.
    /// Each config comes with the tree path of the file that configured it.
    fn plugin_configs(&mut self, k: &Kust, entry: &str, field: &str) -> KResult<Vec<(Value, String)>> {
        let with = |v: Vec<Value>, f: &str| v.into_iter().map(|c| (c, f.to_owned())).collect();
        if entry.contains('\n') {
            return Ok(with(util::parse_yaml(entry, field)?, &k.file));
        }
        if is_remote(entry) {
            return Err(KustomizeError::unsupported(
                &shown(&k.file),
                field,
                format!("remote {entry}"),
            ));
        }
        let path = join(&k.dir, entry).map_err(|()| KustomizeError::Forbidden {
            message: format!("'{entry}' leaves the repository root"),
        })?;
        if self.tree.read_dir(&path).is_ok() {
            let sub = self
                .load_kust(&path)?
                .ok_or_else(|| self.invalid(k, field, format!("no kustomization in '{}'", shown(&path))))?;
            let acc = self.run(&sub, Acc::default())?;
            return Ok(with(acc.res.into_iter().map(|r| r.obj).collect(), &sub.file));
        }
        let text = self.read_text(k, entry)?;
        let file = self.file_path(k, entry)?;
        Ok(with(util::parse_yaml(&text, entry)?, &file))
    }

    fn plugin_error(&self, k: &Kust, field: &str, cfg: &Value) -> KustomizeError {
        let kind = get_str(cfg, "kind").unwrap_or("");
        if get_str(cfg, "apiVersion") == Some("builtin") {
            self.invalid(k, field, format!("unable to load builtin {kind}.builtin.[noGrp]"))
        } else {
            KustomizeError::unsupported(
                &shown(&k.file),
                field,
                format!("plugin {kind}: exec, go and container plugins are not supported"),
            )
        }
    }

    fn builtin_transformer(&mut self, k: &Kust, cfg: &Value, acc: &mut Acc) -> KResult<()> {
        let field = "transformers";
        if get_str(cfg, "apiVersion") != Some("builtin") {
            return Err(self.plugin_error(k, field, cfg));
        }
        let specs = |c: &Value| -> Vec<FieldSpec> {
            match c.get("fieldSpecs") {
                Some(Value::Array(a)) => a.iter().filter_map(FieldSpec::from_value).collect(),
                _ => Vec::new(),
            }
        };
        match get_str(cfg, "kind").unwrap_or("") {
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                let s = specs(cfg);
                transform::prefix_suffix(
                    &mut acc.res,
                    get_str(cfg, "prefix").unwrap_or(""),
                    get_str(cfg, "suffix").unwrap_or(""),
                    Some(&s),
                );
            }
            "LabelTransformer" => {
                let pairs = transform::string_map(cfg.get("labels"));
                transform::add_map(&mut acc.res, &pairs, &specs(cfg))
                    .map_err(|m| self.invalid(k, field, m))?;
            }
            "AnnotationsTransformer" => {
                let pairs = transform::string_map(cfg.get("annotations"));
                transform::add_map(&mut acc.res, &pairs, &specs(cfg))
                    .map_err(|m| self.invalid(k, field, m))?;
            }
            "NamespaceTransformer" => {
                let ns = cfg
                    .get("metadata")
                    .and_then(|m| get_str(m, "namespace"))
                    .unwrap_or("")
                    .to_owned();
                let unset = cfg.get("unsetOnly").and_then(Value::as_bool).unwrap_or(false);
                let subjects = get_str(cfg, "setRoleBindingSubjects")
                    .unwrap_or("defaultOnly")
                    .to_owned();
                transform::namespace(&mut acc.res, &ns, &specs(cfg), unset, &subjects);
            }
            "ImageTagTransformer" => {
                let img = cfg.get("imageTag").map(Image::from_value).unwrap_or_default();
                let s = specs(cfg);
                transform::images(&mut acc.res, &[img], &s);
            }
            "ReplicaCountTransformer" => {
                let r = cfg.get("replica").cloned().unwrap_or(Value::Null);
                let s = specs(cfg);
                let s = if s.is_empty() { fieldspec::replicas() } else { s };
                transform::replicas(
                    &mut acc.res,
                    get_str(&r, "name").unwrap_or(""),
                    &r.get("count").cloned().unwrap_or(Value::Null),
                    &s,
                );
            }
            "PatchTransformer" | "PatchJson6902Transformer" => {
                self.patch_entry(k, field, cfg, acc)?;
            }
            "PatchStrategicMergeTransformer" => {
                let mut texts = Vec::new();
                for p in strings(cfg, "paths") {
                    texts.push(self.read_text(k, &p)?);
                }
                if let Some(p) = get_str(cfg, "patches") {
                    texts.push(p.to_owned());
                }
                for t in texts {
                    if let Patch::Smp(docs) =
                        patches::parse(&t, field).map_err(|m| self.invalid(k, field, m))?
                    {
                        for d in docs {
                            self.smp_by_id(k, field, &d, acc)?;
                        }
                    }
                }
            }
            "ReplacementTransformer" => {
                for rep in list(cfg, "replacements") {
                    replace::replacement(&mut acc.res, rep).map_err(|m| self.invalid(k, field, m))?;
                }
            }
            _ => return Err(self.plugin_error(k, field, cfg)),
        }
        Ok(())
    }
}

/// A `ConfigMapGenerator`/`SecretGenerator` config as a generator entry.
fn flatten_generator(cfg: &Value) -> Value {
    let mut out = cfg.as_object().cloned().unwrap_or_default();
    if let Some(md) = cfg.get("metadata") {
        for k in ["name", "namespace"] {
            if let Some(v) = md.get(k) {
                // the top-level field names the generated object; metadata names the config
                out.entry(k).or_insert_with(|| v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The builtin `IAMPolicyGenerator`: a ServiceAccount bound to a cloud identity (GKE Workload
/// Identity, the only cloud kustomize supports).
fn iam_policy(cfg: &Value) -> Result<Res, String> {
    let cloud = get_str(cfg, "cloud").unwrap_or("");
    if cloud != "gke" {
        return Err(format!("cloud provider {cloud} not supported yet"));
    }
    let ks = cfg.get("kubernetesService").cloned().unwrap_or(Value::Null);
    let sa = cfg.get("serviceAccount").cloned().unwrap_or(Value::Null);
    let name = get_str(&ks, "name")
        .filter(|s| !s.is_empty())
        .ok_or("kubernetesService.name is required")?;
    let gsa = get_str(&sa, "name")
        .filter(|s| !s.is_empty())
        .ok_or("serviceAccount.name is required")?;
    let project = get_str(&sa, "projectId")
        .filter(|s| !s.is_empty())
        .ok_or("serviceAccount.projectId is required")?;
    let mut md = Map::new();
    let mut ann = Map::new();
    ann.insert(
        "iam.gke.io/gcp-service-account".into(),
        Value::String(format!("{gsa}@{project}.iam.gserviceaccount.com")),
    );
    md.insert("annotations".into(), Value::Object(ann));
    md.insert("name".into(), Value::String(name.to_owned()));
    if let Some(ns) = get_str(&ks, "namespace").filter(|s| !s.is_empty()) {
        md.insert("namespace".into(), Value::String(ns.to_owned()));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String("ServiceAccount".into()));
    obj.insert("metadata".into(), Value::Object(md));
    Ok(Res::new(Value::Object(obj)))
}

/// The fields of a kustomization file.
const KUSTOMIZATION_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

/// kustomize decodes a kustomization like Go's `encoding/json`: a key that matches no field
/// exactly matches one case-insensitively (`nameprefix` is `namePrefix`).
fn fix_field_case(m: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut loose = Vec::new();
    for (k, v) in m {
        let exact = KUSTOMIZATION_FIELDS.contains(&k.as_str());
        match KUSTOMIZATION_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&k)) {
            Some(f) if !exact => loose.push(((*f).to_owned(), v)),
            _ => {
                out.insert(k, v);
            }
        }
    }
    // an exact spelling wins over a case-insensitive one
    for (k, v) in loose {
        out.entry(k).or_insert(v);
    }
    out
}

/// Drops earlier repetitions of top-level keys of a single-document YAML mapping.
fn dedupe_top_level(text: &str) -> String {
    let mut blocks: Vec<(Option<String>, String)> = Vec::new();
    for line in text.lines() {
        let top = !line.is_empty() && !line.starts_with([' ', '\t', '-', '#']) && line.contains(':');
        if top {
            let key = line.split(':').next().unwrap_or("").trim().to_owned();
            blocks.push((Some(key), format!("{line}\n")));
        } else if let Some(last) = blocks.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        } else {
            blocks.push((None, format!("{line}\n")));
        }
    }
    let mut out = String::new();
    for (i, (key, body)) in blocks.iter().enumerate() {
        let repeated = key
            .as_ref()
            .is_some_and(|k| blocks.iter().skip(i + 1).any(|(k2, _)| k2.as_ref() == Some(k)));
        if !repeated {
            out.push_str(body);
        }
    }
    out
}

fn parse_config(d: &Value) -> Config {
    let specs = |key: &str| -> Vec<FieldSpec> {
        match d.get(key) {
            Some(Value::Array(a)) => a.iter().filter_map(FieldSpec::from_value).collect(),
            _ => Vec::new(),
        }
    };
    Config {
        nameref: nameref::from_config(d),
        labels: specs("commonLabels"),
        annotations: specs("commonAnnotations"),
        images: specs("images"),
        varref: specs("varReference"),
        namespace: specs("namespace"),
        replicas: specs("replicas"),
        prefix: specs("namePrefix"),
        suffix: specs("nameSuffix"),
    }
}

/// Records that a transformer ran over every resource accumulated so far.
fn note(acc: &mut Acc, origin: Origin) {
    for r in acc.res.iter_mut() {
        r.transformations.push(origin.clone());
    }
}

fn append(acc: &mut Acc, r: Res) -> Result<(), String> {
    let id = r.id();
    if acc.res.iter().any(|x| x.id().equals(&id)) {
        return Err(format!(
            "may not add resource with an already registered id: {id}"
        ));
    }
    acc.res.push(r);
    Ok(())
}

const NEEDS_HASH: &str = "kustomize.config.k8s.io/needs-hash";

/// Parses the resource file at tree path `path` into resources (`List` kinds are flattened).
fn load_resources(text: &str, path: &str) -> KResult<Vec<Res>> {
    let file = shown(path);
    let mut out = Vec::new();
    for d in util::parse_yaml(text, &file)? {
        push_resource(d, &file, &mut out)?;
    }
    for r in out.iter_mut() {
        r.origin = Some(Origin::File(path.to_owned()));
    }
    Ok(out)
}

fn push_resource(d: Value, file: &str, out: &mut Vec<Res>) -> KResult<()> {
    let Value::Object(mut m) = d else {
        return Err(KustomizeError::Parse {
            file: file.to_owned(),
            message: "a resource must be a mapping".into(),
        });
    };
    stringify_metadata_maps(&mut m);
    let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.ends_with("List") {
        if let Some(Value::Array(items)) = m.get("items") {
            for item in items.clone() {
                push_resource(item, file, out)?;
            }
            return Ok(());
        }
    }
    if kind.is_empty() {
        return Err(KustomizeError::Parse {
            file: file.to_owned(),
            message: "missing kind in object".into(),
        });
    }
    let mut r = Res::new(Value::Object(m));
    if r.annotations()
        .and_then(|a| a.get(NEEDS_HASH))
        .and_then(Value::as_str)
        == Some("true")
    {
        r.needs_hash = true;
    }
    out.push(r);
    Ok(())
}

/// Builds `path` (the top-level kustomization) and finishes: hashes, name references, vars,
/// local-config removal, order.
pub(crate) fn build_top(
    tree: &dyn SourceTree,
    path: &str,
    opts: &BuildOptions,
    override_doc: Option<&Value>,
) -> KResult<Vec<Object>> {
    let values = build_values(tree, path, opts, override_doc)?;
    values
        .into_iter()
        .map(|v| {
            let id = Res::new(v.clone()).id();
            to_object(v).map_err(|e| KustomizeError::Invalid {
                file: shown(path),
                field: "resources".into(),
                message: format!("{id}: {e}"),
            })
        })
        .collect()
}

/// Wraps a built value as an [`Object`]. kustomize passes objects without `apiVersion` through
/// (a `kind` is enough for it); those are wrapped as they are once the rest of the object checks
/// out.
fn to_object(v: Value) -> Result<Object, gitops_core::ObjectError> {
    let has_av = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let Value::Object(map) = v else {
        return Object::from_value(v);
    };
    if has_av
        || map
            .get("apiVersion")
            .is_some_and(|a| !a.is_null() && !a.is_string())
    {
        return Object::from_value(Value::Object(map));
    }
    let mut probe = map.clone();
    probe.insert("apiVersion".into(), Value::String("v1".into()));
    Object::from_value(Value::Object(probe))?;
    let mut o = Object::new("v1", "", None, "");
    *o.as_map_mut() = map;
    Ok(o)
}

/// kustomize reads labels and annotations as strings: scalar values become their text.
fn stringify_metadata_maps(m: &mut Map<String, Value>) {
    let Some(Value::Object(md)) = m.get_mut("metadata") else {
        return;
    };
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(entries)) = md.get_mut(key) {
            for v in entries.values_mut() {
                let text = match v {
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                *v = Value::String(text);
            }
        }
    }
}

/// Like [`build_top`], returning plain values.
pub(crate) fn build_values(
    tree: &dyn SourceTree,
    path: &str,
    opts: &BuildOptions,
    override_doc: Option<&Value>,
) -> KResult<Vec<Value>> {
    let path = path.trim_matches('/');
    let path = if path == "." { "" } else { path };
    if path.split('/').any(|p| p == "..") {
        return Err(KustomizeError::Forbidden {
            message: format!("build path '{path}' leaves the repository root"),
        });
    }
    let mut b = Builder {
        tree,
        opts,
        stack: Vec::new(),
        key: String::new(),
        remote: None,
    };
    let mut k = b.load_kust(path)?.ok_or_else(|| KustomizeError::Invalid {
        file: shown(path),
        field: "kustomization".into(),
        message: format!(
            "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
            shown(path)
        ),
    })?;
    if let Some(doc) = override_doc {
        k.doc = doc.clone();
        k.component = get_str(doc, "kind") == Some("Component");
    }
    let file = shown(&k.file);
    let sort = sort_options(&k.doc, &file)?;
    let acc = b.run(&k, Acc::default())?;
    let mut res = acc.res;
    for r in res.iter_mut() {
        if let Some(md) = r.metadata_mut() {
            if let Some(Value::Object(a)) = md.get_mut("annotations") {
                a.shift_remove(NEEDS_HASH);
                if a.is_empty() {
                    md.shift_remove("annotations");
                }
            }
        }
        if r.needs_hash {
            if let Some(h) = generate::hash(&r.obj) {
                let name = format!("{}-{h}", r.name());
                r.set_name(&name);
            }
        }
    }
    let mut table = nameref::builtin();
    table.extend(acc.config.nameref.iter().cloned());
    nameref::fix(&mut res, &table).map_err(|m| KustomizeError::invalid(&file, "resources", m))?;
    let mut varref = fieldspec::var_references();
    varref.extend(acc.config.varref.iter().cloned());
    replace::resolve_vars(&mut res, &acc.vars, &varref)
        .map_err(|m| KustomizeError::invalid(&file, "vars", m))?;
    res.retain(|r| {
        r.annotations()
            .and_then(|a| a.get("config.kubernetes.io/local-config"))
            .and_then(Value::as_str)
            != Some("true")
    });
    build_metadata(&mut res, &k)?;
    let legacy = match (sort, opts.reorder) {
        (Some(s), _) => s,
        (None, Reorder::None) => None,
        (None, _) => Some((
            sort_strings(super::sort::ORDER_FIRST),
            sort_strings(super::sort::ORDER_LAST),
        )),
    };
    if let Some((first, last)) = legacy {
        super::sort::legacy(&mut res, &first, &last);
    }
    Ok(res.into_iter().map(|r| r.obj).collect())
}

/// The `managedByLabel` value: the kustomize release this engine follows.
const MANAGED_BY: &str = "kustomize-v5.8.1";

/// `buildMetadata`: origin and transformer annotations, the managed-by label.
fn build_metadata(res: &mut [Res], k: &Kust) -> KResult<()> {
    let wanted = strings(&k.doc, "buildMetadata");
    for w in &wanted {
        if !["originAnnotations", "transformerAnnotations", "managedByLabel"].contains(&w.as_str()) {
            return Err(KustomizeError::invalid(
                &shown(&k.file),
                "buildMetadata",
                format!("unknown buildMetadata option '{w}'"),
            ));
        }
    }
    let has = |o: &str| wanted.iter().any(|w| w == o);
    for r in res.iter_mut() {
        let origin = r
            .origin
            .as_ref()
            .filter(|_| has("originAnnotations"))
            .map(|o| o.to_yaml(&k.dir, false));
        let transformations = if has("transformerAnnotations") && !r.transformations.is_empty() {
            Some(
                r.transformations
                    .iter()
                    .map(|t| t.to_yaml(&k.dir, true))
                    .collect::<String>(),
            )
        } else {
            None
        };
        let managed = has("managedByLabel");
        let Some(md) = r.metadata_mut() else { continue };
        for (key, text) in [
            ("config.kubernetes.io/origin", origin),
            ("alpha.config.kubernetes.io/transformations", transformations),
        ] {
            if let Some(text) = text {
                if let Some(a) = util::child_map(md, "annotations") {
                    a.insert(key.into(), Value::String(text));
                }
            }
        }
        if managed {
            if let Some(l) = util::child_map(md, "labels") {
                l.insert(
                    "app.kubernetes.io/managed-by".into(),
                    Value::String(MANAGED_BY.into()),
                );
            }
        }
    }
    Ok(())
}

fn sort_strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

type Legacy = Option<(Vec<String>, Vec<String>)>;

/// `sortOptions`: `None` = not set; `Some(None)` = fifo; `Some(Some(lists))` = legacy.
fn sort_options(doc: &Value, file: &str) -> KResult<Option<Legacy>> {
    let Some(so) = doc.get("sortOptions").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let order = get_str(so, "order");
    let legacy_opts = so.get("legacySortOptions").filter(|v| !v.is_null());
    match order {
        Some("fifo") => {
            if legacy_opts.is_some() {
                return Err(KustomizeError::invalid(
                    file,
                    "sortOptions",
                    "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                ));
            }
            Ok(Some(None))
        }
        Some("legacy") => {
            let l = |k: &str, d: &[&str]| match legacy_opts.and_then(|o| o.get(k)) {
                Some(Value::Array(a)) => a.iter().filter_map(util::scalar_string).collect(),
                _ => sort_strings(d),
            };
            Ok(Some(Some((
                l("orderFirst", super::sort::ORDER_FIRST),
                l("orderLast", super::sort::ORDER_LAST),
            ))))
        }
        _ => Err(KustomizeError::invalid(
            file,
            "sortOptions",
            "the field 'sortOptions.order' must be one of [fifo, legacy]",
        )),
    }
}
