//! A first comparison of desired and live objects.
//!
//! Every field the desired object sets must have the same value in the live object; fields only
//! the live object has (defaults, server-populated metadata, `status`) are ignored. Lists are
//! compared element by element and must have the same length. This is a "desired is a subset of
//! live" normalisation, enough to tell Synced from OutOfSync for manifests applied by this engine.

use serde_json::Value;

use crate::object::Object;

/// One field that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    /// Dotted path (`spec.replicas`, `spec.template.spec.containers[0].image`).
    pub path: String,
    /// Desired value.
    pub desired: Value,
    /// Live value (`null` when absent).
    pub live: Value,
}

impl std::fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} → {}",
            self.path,
            short(&self.live),
            short(&self.desired)
        )
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "<absent>".to_owned(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

/// Differences between a desired and a live object (empty when in sync).
pub fn diff(desired: &Object, live: &Object) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let (Some(d), Some(l)) = (desired.as_value().as_object(), live.as_value().as_object()) else {
        return out;
    };
    for (k, dv) in d {
        match k.as_str() {
            "status" | "apiVersion" | "kind" => {}
            "metadata" => {
                for field in ["labels", "annotations"] {
                    if let Some(dm) = dv.get(field) {
                        let lm = l
                            .get("metadata")
                            .and_then(|m| m.get(field))
                            .unwrap_or(&Value::Null);
                        walk(dm, lm, &format!("metadata.{field}"), &mut out);
                    }
                }
            }
            _ => walk(dv, l.get(k).unwrap_or(&Value::Null), k, &mut out),
        }
    }
    out
}

fn walk(d: &Value, l: &Value, path: &str, out: &mut Vec<FieldDiff>) {
    match (d, l) {
        (Value::Object(dm), Value::Object(lm)) => {
            for (k, dv) in dm {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match lm.get(k) {
                    Some(lv) => walk(dv, lv, &child, out),
                    // A desired null or empty map/list matches an absent field.
                    None if is_empty(dv) => {}
                    None => out.push(FieldDiff {
                        path: child,
                        desired: dv.clone(),
                        live: Value::Null,
                    }),
                }
            }
        }
        (Value::Array(da), Value::Array(la)) if da.len() == la.len() => {
            for (i, (dv, lv)) in da.iter().zip(la).enumerate() {
                walk(dv, lv, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        _ if d == l => {}
        _ if is_empty(d) && is_empty(l) => {}
        _ => out.push(FieldDiff {
            path: path.to_owned(),
            desired: d.clone(),
            live: l.clone(),
        }),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn o(v: Value) -> Object {
        Object::from_value(v).unwrap()
    }

    #[test]
    fn defaults_and_status_in_live_are_ignored() {
        let d = o(
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","labels":{"x":"1"}},"spec":{"replicas":2}}),
        );
        let l = o(json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"a","uid":"u","labels":{"x":"1","extra":"y"}},
            "spec":{"replicas":2,"revisionHistoryLimit":10},"status":{"replicas":2}}));
        assert!(diff(&d, &l).is_empty());
    }

    #[test]
    fn changed_fields_are_reported() {
        let d = o(
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"new","n":"1"}}),
        );
        let l = o(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"old"}}));
        let d = diff(&d, &l);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].to_string(), "data.k: \"old\" → \"new\"");
        assert_eq!(d[1].path, "data.n");
    }

    #[test]
    fn list_length_matters() {
        let d = o(json!({"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"spec":{"l":[1]}}));
        let l = o(json!({"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"spec":{"l":[1,2]}}));
        assert_eq!(diff(&d, &l).len(), 1);
    }
}
