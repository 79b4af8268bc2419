//! `replacements` and `vars`.

use serde_json::{Map, Value};

use super::fieldspec::{FieldSpec, walk};
use super::patches::{Matcher, Selector};
use super::res::{Res, split_api_version};
use super::util::scalar_string;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Match(String, String),
    Index(usize),
    Any,
}

fn parse_path(p: &str) -> Vec<Seg> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    let mut out = Vec::new();
    for part in parts.into_iter().filter(|s| !s.is_empty()) {
        // `name[0]` (vars) and `[k=v]` / `[key]` (kyaml)
        let (head, mut rest) = match part.find('[') {
            Some(0) => ("", part.as_str()),
            Some(i) => (&part[..i], &part[i..]),
            None => (part.as_str(), ""),
        };
        if !head.is_empty() {
            out.push(match head {
                "*" => Seg::Any,
                h => match h.parse::<usize>() {
                    Ok(n) => Seg::Index(n),
                    Err(_) => Seg::Key(h.to_owned()),
                },
            });
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            let body = &inner[..end];
            rest = &inner[end + 1..];
            match body.split_once('=') {
                Some((k, v)) => out.push(Seg::Match(k.to_owned(), v.to_owned())),
                None => match body.parse::<usize>() {
                    Ok(n) => out.push(Seg::Index(n)),
                    Err(_) => out.push(Seg::Key(body.to_owned())),
                },
            }
        }
    }
    out
}

fn get<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    match (first, v) {
        (Seg::Key(k), Value::Object(m)) => get(m.get(k)?, rest),
        (Seg::Index(i), Value::Array(a)) => get(a.get(*i)?, rest),
        (Seg::Match(k, val), Value::Array(a)) => get(
            a.iter().find(|e| match e {
                Value::Object(m) if !k.is_empty() => m.get(k).and_then(scalar_string).as_deref() == Some(val),
                other => k.is_empty() && scalar_string(other).as_deref() == Some(val),
            })?,
            rest,
        ),
        (Seg::Any, Value::Array(a)) => a.iter().find_map(|e| get(e, rest)),
        _ => None,
    }
}

/// Sets every field at `path`, creating maps when `create`. Returns how many fields were set.
fn set_all(
    v: &mut Value,
    path: &[Seg],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<usize, String> {
    let Some((first, rest)) = path.split_first() else {
        f(v)?;
        return Ok(1);
    };
    match (first, v) {
        (Seg::Key(k), Value::Object(m)) => {
            if !m.contains_key(k) || m.get(k).is_some_and(Value::is_null) {
                if !create {
                    return Ok(0);
                }
                let next = match rest.first() {
                    None => Value::Null,
                    Some(Seg::Key(_)) => Value::Object(Map::new()),
                    Some(_) => Value::Array(Vec::new()),
                };
                m.insert(k.clone(), next);
            }
            match m.get_mut(k) {
                Some(c) => set_all(c, rest, create, f),
                None => Ok(0),
            }
        }
        (Seg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
            Some(c) => set_all(c, rest, create, f),
            None => Ok(0),
        },
        (Seg::Match(k, val), Value::Array(a)) => {
            let mut n = 0;
            for e in a.iter_mut() {
                let hit = match &*e {
                    Value::Object(m) if !k.is_empty() => {
                        m.get(k).and_then(scalar_string).as_deref() == Some(val)
                    }
                    other => k.is_empty() && scalar_string(other).as_deref() == Some(val),
                };
                if hit {
                    n += set_all(e, rest, create, f)?;
                }
            }
            if n == 0 && create && !k.is_empty() {
                let mut m = Map::new();
                m.insert(k.clone(), Value::String(val.clone()));
                let mut e = Value::Object(m);
                n += set_all(&mut e, rest, create, f)?;
                a.push(e);
            }
            Ok(n)
        }
        (Seg::Any, Value::Array(a)) => {
            let mut n = 0;
            for e in a.iter_mut() {
                n += set_all(e, rest, create, f)?;
            }
            Ok(n)
        }
        (Seg::Any, Value::Object(m)) => {
            let mut n = 0;
            for (_, e) in m.iter_mut() {
                n += set_all(e, rest, create, f)?;
            }
            Ok(n)
        }
        _ => Ok(0),
    }
}

fn opt_str(v: Option<&Value>, k: &str) -> Option<String> {
    v.and_then(|o| o.get(k)).and_then(scalar_string)
}

fn opt_index(v: Option<&Value>) -> i64 {
    v.and_then(|o| o.get("index"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Applies one `replacements` entry.
pub(crate) fn replacement(res: &mut [Res], rep: &Value) -> Result<(), String> {
    let src = rep.get("source").ok_or("replacement has no source")?;
    let sel = Selector::from_value(src);
    let m = Matcher::new(&sel)?;
    let matches: Vec<&Res> = res.iter().filter(|r| m.matches(r)).collect();
    let source = match matches.as_slice() {
        [one] => *one,
        [] => return Err(format!("nothing selected by {}", describe(src))),
        _ => return Err(format!("multiple matches for selector {}", describe(src))),
    };
    let fp = src
        .get("fieldPath")
        .and_then(Value::as_str)
        .unwrap_or("metadata.name");
    let mut value = get(&source.obj, &parse_path(fp)).cloned().ok_or_else(|| {
        format!(
            "fieldPath `{fp}` is missing for replacement source {}",
            source.id()
        )
    })?;
    let sopts = src.get("options");
    if let Some(d) = opt_str(sopts, "delimiter") {
        let s = scalar_string(&value).unwrap_or_default();
        let parts: Vec<&str> = s.split(d.as_str()).collect();
        let idx = opt_index(sopts);
        value = Value::String(
            usize::try_from(idx)
                .ok()
                .and_then(|i| parts.get(i))
                .map(|s| (*s).to_owned())
                .ok_or_else(|| format!("options.index {idx} is out of bounds for value {s}"))?,
        );
    }
    let Some(Value::Array(targets)) = rep.get("targets") else {
        return Ok(());
    };
    for t in targets {
        let select = match t.get("select") {
            Some(s) => Some(Matcher::new(&Selector::from_value(s))?),
            None => None,
        };
        let rejects: Vec<Matcher> = match t.get("reject") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|r| Matcher::new(&Selector::from_value(r)))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let topts = t.get("options");
        let create = topts
            .and_then(|o| o.get("create"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let delim = opt_str(topts, "delimiter");
        let idx = opt_index(topts);
        let paths: Vec<String> = match t.get("fieldPaths") {
            Some(Value::Array(a)) => a.iter().filter_map(scalar_string).collect(),
            _ => vec!["metadata.name".into()],
        };
        for r in res.iter_mut() {
            if !select.as_ref().is_some_and(|s| current_matches(s, r)) {
                continue;
            }
            if rejects.iter().any(|x| current_matches(x, r)) {
                continue;
            }
            for p in &paths {
                let segs = parse_path(p);
                let before = r.id();
                let n = set_all(&mut r.obj, &segs, create, &mut |v| {
                    *v = match &delim {
                        Some(d) => {
                            let cur = scalar_string(v).unwrap_or_default();
                            let mut parts: Vec<String> = cur.split(d.as_str()).map(str::to_owned).collect();
                            let rep = scalar_string(&value).unwrap_or_default();
                            if idx < 0 {
                                parts.insert(0, rep);
                            } else if let Some(slot) =
                                usize::try_from(idx).ok().and_then(|i| parts.get_mut(i))
                            {
                                *slot = rep;
                            } else {
                                parts.push(rep);
                            }
                            Value::String(parts.join(d))
                        }
                        None => value.clone(),
                    };
                    Ok(())
                })?;
                if n == 0 && !create {
                    return Err(format!(
                        "unable to find field \"{p}\" in replacement target {}",
                        r.id()
                    ));
                }
                if r.id() != before {
                    r.prev.push(before);
                }
            }
        }
    }
    Ok(())
}

fn current_matches(m: &Matcher, r: &Res) -> bool {
    m.matches(r)
}

fn describe(v: &Value) -> String {
    let mut s = String::new();
    super::util::go_json(v, &mut s);
    s
}

/// A `vars` entry.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    pub name: String,
    pub kind: String,
    pub obj_name: String,
    pub api_version: Option<String>,
    pub namespace: Option<String>,
    pub field: String,
}

impl Var {
    pub(crate) fn from_value(v: &Value) -> Option<Var> {
        let o = v.get("objref")?;
        let s = |x: &Value, k: &str| {
            x.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(Var {
            name: s(v, "name")?,
            kind: s(o, "kind").unwrap_or_default(),
            obj_name: s(o, "name").unwrap_or_default(),
            api_version: s(o, "apiVersion"),
            namespace: s(o, "namespace"),
            field: v
                .get("fieldref")
                .and_then(|f| s(f, "fieldpath").or_else(|| s(f, "fieldPath")))
                .unwrap_or_else(|| "metadata.name".into()),
        })
    }
}

/// Resolves `vars` and substitutes `$(NAME)` in the var-reference fields.
pub(crate) fn resolve_vars(res: &mut [Res], vars: &[Var], refs: &[FieldSpec]) -> Result<(), String> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    for v in vars {
        let matches: Vec<&Res> = res
            .iter()
            .filter(|r| {
                r.all_ids().iter().any(|id| {
                    id.kind == v.kind
                        && id.name == v.obj_name
                        && v.api_version.as_deref().is_none_or(|av| {
                            let (g, ver) = split_api_version(av);
                            g == id.group && (ver.is_empty() || ver == id.version)
                        })
                        && v.namespace
                            .as_deref()
                            .is_none_or(|ns| ns == id.effective_ns() || ns == id.namespace)
                })
            })
            .collect();
        let r = match matches.as_slice() {
            [one] => *one,
            [] => {
                return Err(format!(
                    "var '{}' cannot be mapped to a field in the set of known resources",
                    v.name
                ));
            }
            _ => {
                return Err(format!(
                    "unable to disambiguate var '{}': several objects match its objref",
                    v.name
                ));
            }
        };
        let val = get(&r.obj, &parse_path(&v.field)).cloned().ok_or_else(|| {
            format!(
                "field specified in var '{}' not found in corresponding resource",
                v.name
            )
        })?;
        values.push((v.name.clone(), val));
    }
    for r in res.iter_mut() {
        let applicable: Vec<FieldSpec> = refs.iter().filter(|f| f.applies(r)).cloned().collect();
        for fs in &applicable {
            let _ = walk::<()>(&mut r.obj, &fs.path, false, &mut |v| {
                substitute(v, &values);
                Ok(())
            });
        }
    }
    Ok(())
}

fn substitute(v: &mut Value, values: &[(String, Value)]) {
    match v {
        Value::String(s) => {
            if !s.contains("$(") {
                return;
            }
            for (name, val) in values {
                let pat = format!("$({name})");
                if *s == pat {
                    *v = val.clone();
                    return;
                }
                if s.contains(&pat) {
                    *s = s.replace(&pat, &scalar_string(val).unwrap_or_default());
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|e| substitute(e, values)),
        Value::Object(m) => m.values_mut().for_each(|e| substitute(e, values)),
        _ => {}
    }
}
