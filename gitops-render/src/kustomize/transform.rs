//! The builtin transformers: namespace, name prefix/suffix, labels, annotations, images,
//! replicas.

use serde_json::{Map, Value};

use super::fieldspec::{self, FieldSpec, is_cluster_scoped, walk};
use super::res::Res;

type R = Result<(), String>;

/// Sets the namespace (spec `render.md` §3.6).
pub(crate) fn namespace(res: &mut [Res], ns: &str, extra: &[FieldSpec], unset_only: bool, subjects: &str) {
    for r in res.iter_mut() {
        let (g, k) = (r.group().to_owned(), r.kind().to_owned());
        if g.is_empty() && k == "Namespace" {
            if !unset_only {
                r.set_name(ns);
            }
            continue;
        }
        if !is_cluster_scoped(&g, &k) && (!unset_only || r.namespace().is_empty()) {
            r.set_namespace(ns);
        }
        if g == "rbac.authorization.k8s.io"
            && (k == "RoleBinding" || k == "ClusterRoleBinding")
            && subjects != "none"
        {
            if let Some(Value::Array(subs)) = r.obj.get_mut("subjects") {
                for s in subs.iter_mut().filter_map(Value::as_object_mut) {
                    let hit = match subjects {
                        "allServiceAccounts" => {
                            s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                        }
                        _ => s.get("name").and_then(Value::as_str) == Some("default"),
                    };
                    if hit {
                        s.insert("namespace".into(), Value::String(ns.to_owned()));
                    }
                }
            }
        }
        let mut specs = vec![
            FieldSpec::new(
                "apiregistration.k8s.io",
                "APIService",
                "spec/service/namespace",
                false,
            ),
            FieldSpec::new(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ];
        specs.extend(
            extra
                .iter()
                .filter(|f| f.path != ["metadata", "namespace"])
                .cloned(),
        );
        let applicable: Vec<FieldSpec> = specs.iter().filter(|f| f.applies(r)).cloned().collect();
        for fs in &applicable {
            let _ = walk::<()>(&mut r.obj, &fs.path, fs.create, &mut |v| {
                *v = Value::String(ns.to_owned());
                Ok(())
            });
        }
    }
}

/// Whether namePrefix/nameSuffix skip this kind.
fn skips_prefix(r: &Res) -> bool {
    matches!(
        (r.group(), r.kind()),
        (_, "CustomResourceDefinition") | ("apiregistration.k8s.io", "APIService") | ("", "Namespace")
    )
}

/// Adds a name prefix and suffix.
pub(crate) fn prefix_suffix(res: &mut [Res], prefix: &str, suffix: &str, specs: Option<&[FieldSpec]>) {
    for r in res.iter_mut() {
        if let Some(specs) = specs {
            if !specs
                .iter()
                .any(|f| f.applies(r) && f.path == ["metadata", "name"])
            {
                continue;
            }
        }
        if skips_prefix(r) {
            continue;
        }
        let name = format!("{prefix}{}{suffix}", r.name());
        r.set_name(&name);
        if !prefix.is_empty() {
            r.prefixes.push(prefix.to_owned());
        }
        if !suffix.is_empty() {
            r.suffixes.push(suffix.to_owned());
        }
    }
}

/// Adds `pairs` to the mapping fields of `specs`.
pub(crate) fn add_map(res: &mut [Res], pairs: &Map<String, Value>, specs: &[FieldSpec]) -> R {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in res.iter_mut() {
        let applicable: Vec<FieldSpec> = specs.iter().filter(|f| f.applies(r)).cloned().collect();
        for fs in &applicable {
            walk(&mut r.obj, &fs.path, fs.create, &mut |v| {
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                let Value::Object(m) = v else {
                    return Err(format!("{} is not a mapping", fs.path.join("/")));
                };
                for (k, val) in pairs {
                    m.insert(k.clone(), val.clone());
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// A label or annotation map with every value as a string.
pub(crate) fn string_map(v: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(Value::Object(m)) = v {
        for (k, val) in m {
            let s = match val {
                Value::Null => String::new(),
                other => super::util::scalar_string(other).unwrap_or_else(|| other.to_string()),
            };
            out.insert(k.clone(), Value::String(s));
        }
    }
    out
}

/// One `images` entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Image {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

impl Image {
    pub(crate) fn from_value(v: &Value) -> Image {
        let s = |k: &str| super::util::scalar_string(v.get(k)?).filter(|s| !s.is_empty());
        Image {
            name: s("name").unwrap_or_default(),
            new_name: s("newName"),
            new_tag: s("newTag"),
            digest: s("digest"),
            tag_suffix: s("tagSuffix"),
        }
    }

    fn matches(&self, image: &str) -> bool {
        // `^NAME(:tag)?(@digest)?$` with NAME as a regular expression.
        let pattern = format!(
            "{}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?",
            self.name
        );
        match super::regex::Regex::new(&pattern) {
            Some(re) => re.full_match(image),
            None => split_image(image).0 == self.name,
        }
    }

    fn apply(&self, image: &str) -> String {
        let (name, tag, digest) = split_image(image);
        let name = self.new_name.clone().unwrap_or(name);
        let (mut tag, mut digest) = (tag, digest);
        if let Some(t) = &self.new_tag {
            tag = Some(t.clone());
            digest = None;
        }
        if let Some(d) = &self.digest {
            digest = Some(d.clone());
            if self.new_tag.is_none() {
                tag = None;
            }
        }
        if let Some(sfx) = &self.tag_suffix {
            tag = Some(format!("{}{sfx}", tag.unwrap_or_default()));
        }
        let mut out = name;
        if let Some(t) = tag {
            out.push(':');
            out.push_str(&t);
        }
        if let Some(d) = digest {
            out.push('@');
            out.push_str(&d);
        }
        out
    }
}

/// Splits an image into name, tag and digest (a registry port is not a tag).
pub(crate) fn split_image(image: &str) -> (String, Option<String>, Option<String>) {
    let (rest, digest) = match image.split_once('@') {
        Some((a, d)) => (a, Some(d.to_owned())),
        None => (image, None),
    };
    let slash = rest.find('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (
            rest[..slash + i].to_owned(),
            Some(rest[slash + i + 1..].to_owned()),
            digest,
        ),
        None => (rest.to_owned(), None, digest),
    }
}

fn set_image(v: &mut Value, images: &[Image]) {
    if let Value::String(s) = v {
        if let Some(img) = images.iter().find(|i| i.matches(s)) {
            *s = img.apply(s);
        }
    }
}

/// Walks every `containers`/`initContainers` list below `v`.
fn legacy_images(v: &mut Value, images: &[Image]) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers") && child.is_array() {
                    if let Value::Array(cs) = child {
                        for c in cs.iter_mut() {
                            if let Some(img) = c.get_mut("image") {
                                set_image(img, images);
                            }
                        }
                    }
                } else {
                    legacy_images(child, images);
                }
            }
        }
        Value::Array(a) => {
            for e in a {
                legacy_images(e, images);
            }
        }
        _ => {}
    }
}

/// Updates image references.
pub(crate) fn images(res: &mut [Res], images: &[Image], custom: &[FieldSpec]) {
    if images.is_empty() {
        return;
    }
    let mut specs = fieldspec::images();
    specs.extend(custom.iter().cloned());
    for r in res.iter_mut() {
        if r.kind() != "CustomResourceDefinition" {
            legacy_images(&mut r.obj, images);
        }
        let applicable: Vec<FieldSpec> = specs.iter().filter(|f| f.applies(r)).cloned().collect();
        for fs in &applicable {
            let _ = walk::<()>(&mut r.obj, &fs.path, false, &mut |v| {
                set_image(v, images);
                Ok(())
            });
        }
    }
}

/// Sets `spec.replicas` of the workloads named `name` (now or before).
pub(crate) fn replicas(res: &mut [Res], name: &str, count: &Value, specs: &[FieldSpec]) {
    for r in res.iter_mut() {
        if !r.all_ids().iter().any(|id| id.name == name) {
            continue;
        }
        let applicable: Vec<FieldSpec> = specs.iter().filter(|f| f.applies(r)).cloned().collect();
        for fs in &applicable {
            let _ = walk::<()>(&mut r.obj, &fs.path, fs.create, &mut |v| {
                *v = count.clone();
                Ok(())
            });
        }
    }
}
