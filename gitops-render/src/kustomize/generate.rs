//! `configMapGenerator` and `secretGenerator`, and the v5 content hash.

use serde_json::{Map, Value};

use super::res::Res;
use super::util::{base64, basename, go_json, scalar_string, sha256_hex};

/// Reads a file relative to the kustomization, with the load restrictions applied.
pub(crate) type Reader<'a> = dyn Fn(&str) -> Result<Vec<u8>, String> + 'a;

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn list(spec: &Value, key: &str) -> Vec<String> {
    match spec.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(scalar_string).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

enum Data {
    Text(String),
    Binary(Vec<u8>),
}

/// Generates one ConfigMap or Secret from a generator entry. Returns the resource and its
/// behavior.
pub(crate) fn generate(
    kind: &str,
    spec: &Value,
    global: Option<&Value>,
    read: &Reader<'_>,
) -> Result<(Res, String), String> {
    let name = spec
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("a generator needs a name")?;
    let behavior = spec
        .get("behavior")
        .and_then(Value::as_str)
        .unwrap_or("create")
        .to_owned();
    if !matches!(behavior.as_str(), "create" | "merge" | "replace" | "") {
        return Err(format!("unknown generator behavior {behavior:?}"));
    }
    let mut pairs: Vec<(String, Data)> = Vec::new();
    let mut envs = list(spec, "envs");
    if let Some(e) = spec.get("env").and_then(Value::as_str) {
        envs.push(e.to_owned());
    }
    for env in envs {
        let bytes = read(&env)?;
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match trimmed.split_once('=') {
                Some((k, v)) => pairs.push((k.to_owned(), Data::Text(v.to_owned()))),
                None => {
                    if let Ok(v) = std::env::var(trimmed) {
                        pairs.push((trimmed.to_owned(), Data::Text(v)));
                    }
                }
            }
        }
    }
    for lit in list(spec, "literals") {
        let (k, v) = lit
            .split_once('=')
            .ok_or_else(|| format!("invalid literal source {lit}, expected key=value"))?;
        pairs.push((k.to_owned(), Data::Text(strip_quotes(v).to_owned())));
    }
    for f in list(spec, "files") {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_owned(), p.to_owned()),
            None => (basename(&f).to_owned(), f.clone()),
        };
        if key.is_empty() {
            return Err(format!("key name for file path {path} missing"));
        }
        let bytes = read(&path)?;
        match String::from_utf8(bytes) {
            Ok(s) => pairs.push((key, Data::Text(s))),
            Err(e) => pairs.push((key, Data::Binary(e.into_bytes()))),
        }
    }
    let mut data = Map::new();
    let mut binary = Map::new();
    for (k, v) in pairs {
        if data.contains_key(&k) || binary.contains_key(&k) {
            return Err(format!(
                "{} {name} illegally repeats the key `{k}`",
                kind.to_lowercase()
            ));
        }
        match (kind, v) {
            ("Secret", Data::Text(s)) => {
                data.insert(k, Value::String(wrapped_base64(s.as_bytes())));
            }
            ("Secret", Data::Binary(b)) => {
                data.insert(k, Value::String(wrapped_base64(&b)));
            }
            (_, Data::Text(s)) => {
                data.insert(k, Value::String(s));
            }
            (_, Data::Binary(b)) => {
                binary.insert(k, Value::String(wrapped_base64(&b)));
            }
        }
    }

    let opts = spec.get("options");
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut disable_hash = false;
    let mut immutable = false;
    for o in [global, opts].into_iter().flatten() {
        if let Some(Value::Object(l)) = o.get("labels") {
            labels.extend(super::transform::string_map(Some(&Value::Object(l.clone()))));
        }
        if let Some(Value::Object(a)) = o.get("annotations") {
            annotations.extend(super::transform::string_map(Some(&Value::Object(a.clone()))));
        }
        if let Some(b) = o.get("disableNameSuffixHash").and_then(Value::as_bool) {
            disable_hash = b;
        }
        if let Some(b) = o.get("immutable").and_then(Value::as_bool) {
            immutable = b;
        }
    }
    let mut md = Map::new();
    md.insert("name".into(), Value::String(name.to_owned()));
    if let Some(ns) = spec
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        md.insert("namespace".into(), Value::String(ns.to_owned()));
    }
    if !labels.is_empty() {
        md.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        md.insert("annotations".into(), Value::Object(annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.to_owned()));
    obj.insert("metadata".into(), Value::Object(md));
    if kind == "Secret" {
        let t = spec.get("type").and_then(Value::as_str).unwrap_or("Opaque");
        obj.insert("type".into(), Value::String(t.to_owned()));
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Res::new(Value::Object(obj));
    r.needs_hash = !disable_hash;
    r.generated = true;
    Ok((r, behavior))
}

/// Base64 the way kustomize stores generated data: encodings longer than 70 characters are
/// split into lines of 70, each ending in a newline.
fn wrapped_base64(data: &[u8]) -> String {
    const LINE: usize = 70;
    let b = base64(data);
    if b.len() <= LINE {
        return b;
    }
    let mut out = String::with_capacity(b.len() + b.len() / LINE + 1);
    for chunk in b.as_bytes().chunks(LINE) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

/// Merges generated `new` into `old` (`behavior: merge`) or replaces its data (`replace`).
pub(crate) fn merge_into(old: &mut Res, new: Res, behavior: &str) {
    let Res {
        obj: new_obj,
        needs_hash,
        origin,
        ..
    } = new;
    if behavior == "replace" {
        old.origin = origin;
    }
    // a plain resource merged with generated data keeps its name (no hash suffix)
    if old.generated {
        old.needs_hash = needs_hash;
    }
    let (Some(om), Value::Object(nm)) = (old.obj.as_object_mut(), new_obj) else {
        return;
    };
    for key in ["data", "binaryData"] {
        let nd = nm.get(key).cloned();
        if behavior == "replace" {
            om.shift_remove(key);
        }
        if let Some(Value::Object(nd)) = nd {
            if let Some(d) = super::util::child_map(om, key) {
                d.extend(nd);
            }
        }
    }
    if let Some(Value::Object(nmd)) = nm.get("metadata") {
        if let Some(md) = super::util::child_map(om, "metadata") {
            for key in ["labels", "annotations"] {
                if let Some(Value::Object(x)) = nmd.get(key) {
                    if let Some(m) = super::util::child_map(md, key) {
                        m.extend(x.clone());
                    }
                }
            }
        }
    }
    if let Some(i) = nm.get("immutable") {
        om.insert("immutable".into(), i.clone());
    }
}

/// The v5 name hash of a ConfigMap or Secret (spec `render.md` §3.5).
pub(crate) fn hash(obj: &Value) -> Option<String> {
    let kind = obj.get("kind").and_then(Value::as_str)?;
    let mut m = Map::new();
    m.insert("kind".into(), Value::String(kind.to_owned()));
    m.insert("name".into(), Value::String(String::new()));
    m.insert(
        "data".into(),
        obj.get("data").cloned().unwrap_or(Value::String(String::new())),
    );
    match kind {
        "ConfigMap" => {
            if let Some(b) = obj.get("binaryData") {
                m.insert("binaryData".into(), b.clone());
            }
        }
        "Secret" => {
            m.insert(
                "type".into(),
                obj.get("type").cloned().unwrap_or(Value::String(String::new())),
            );
            if let Some(b) = obj.get("stringData") {
                m.insert("stringData".into(), b.clone());
            }
        }
        _ => return None,
    }
    let mut s = String::new();
    go_json(&Value::Object(m), &mut s);
    let hex = sha256_hex(s.as_bytes());
    Some(
        hex.chars()
            .take(10)
            .map(|c| match c {
                '0' => 'g',
                '1' => 'h',
                '3' => 'k',
                'a' => 'm',
                'e' => 't',
                c => c,
            })
            .collect(),
    )
}
