//! Normalization of desired and live objects before comparing them (spec §5.2), and the
//! clone-free "nothing to do" check used as the fast path.

use serde_json::{Map, Value};

use super::{DiffOptions, IgnoreStatus};
use crate::patch::json_eq;
use crate::patch::strategic::{ListKind, Ty, field, keys_match};

/// The annotation `kubectl apply` stores the applied configuration in.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata fields the API server populates; never compared.
pub(crate) const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "managedFields",
    "selfLink",
    "creationTimestamp",
];

/// Whether the `status` of an object of this kind is ignored.
pub(crate) fn status_ignored(opts: &DiffOptions, group: &str, kind: &str) -> bool {
    match opts.ignore_status {
        IgnoreStatus::All => true,
        IgnoreStatus::Crd => group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition",
        IgnoreStatus::None => false,
    }
}

/// Kinds whose normalization rewrites content (so the fast path cannot be used).
pub(crate) fn needs_rewrite(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("", "Secret" | "Endpoints") | ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
    )
}

/// Normalizes one side in place: server metadata, `status`, and the kind-specific rules.
pub(crate) fn normalize(v: &mut Value, group: &str, kind: &str, opts: &DiffOptions) {
    let Value::Object(m) = v else { return };
    if let Some(Value::Object(meta)) = m.get_mut("metadata") {
        for f in SERVER_METADATA {
            meta.shift_remove(*f);
        }
        if let Some(Value::Object(anns)) = meta.get_mut("annotations") {
            anns.shift_remove(LAST_APPLIED);
        }
        if meta.get("annotations").is_some_and(is_empty) {
            meta.shift_remove("annotations");
        }
    }
    if status_ignored(opts, group, kind) {
        m.shift_remove("status");
    }
    match (group, kind) {
        ("", "Secret") => normalize_secret(m),
        ("", "Endpoints") => normalize_endpoints(m),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            let aggregated =
                opts.ignore_aggregated_roles && m.get("aggregationRule").is_some_and(|a| !a.is_null());
            if aggregated
                || m.get("rules")
                    .is_some_and(|r| matches!(r, Value::Array(a) if a.is_empty()))
            {
                m.insert("rules".to_owned(), Value::Null);
            }
        }
        _ => {}
    }
}

fn normalize_secret(m: &mut Map<String, Value>) {
    if let Some(Value::Object(string_data)) = m.shift_remove("stringData") {
        let data = m.entry("data").or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Value::Object(data) = data {
            for (k, v) in string_data {
                let encoded = match &v {
                    Value::String(s) => base64(s.as_bytes()),
                    Value::Null => String::new(),
                    other => base64(other.to_string().as_bytes()),
                };
                data.insert(k, Value::String(encoded));
            }
        }
    }
    if let Some(Value::Object(data)) = m.get_mut("data") {
        for v in data.values_mut() {
            if v.is_null() {
                *v = Value::String(String::new());
            }
        }
    }
}

fn normalize_endpoints(m: &mut Map<String, Value>) {
    if let Some(Value::Array(subsets)) = m.get_mut("subsets") {
        for s in subsets.iter_mut() {
            if let Some(Value::Array(ports)) = s.get_mut("ports") {
                for p in ports {
                    if let Value::Object(p) = p {
                        p.entry("protocol")
                            .or_insert_with(|| Value::String("TCP".to_owned()));
                    }
                }
            }
        }
        subsets.sort_by_cached_key(|s| s.to_string());
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `null`, `{}` and `[]`: values that compare equal to an absent field.
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Equality where numbers compare by value and `null`/`{}`/`[]` equal an absent field.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.iter()
                .all(|(k, v)| y.get(k).map_or_else(|| is_empty(v), |w| loose_eq(v, w)))
                && y.iter().all(|(k, w)| x.contains_key(k) || is_empty(w))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loose_eq(p, q))
        }
        _ if is_empty(a) && is_empty(b) => true,
        _ => json_eq(a, b),
    }
}

/// The fast path: whether applying `config` onto `live` (two-way, with the merge semantics of
/// the kind) would change nothing. Borrowing only; agrees with the full pipeline when no ignore
/// rule applies, the live object has no last-applied configuration and the kind needs no
/// content rewrite.
pub(crate) fn config_is_applied(
    config: &Map<String, Value>,
    live: &Map<String, Value>,
    root: Option<Ty>,
    skip_status: bool,
) -> bool {
    let strategic = root.is_some();
    let ty = root.unwrap_or(Ty::Any);
    config.iter().all(|(k, cv)| match k.as_str() {
        "apiVersion" => true,
        "status" if skip_status => true,
        "metadata" => match (cv, live.get("metadata")) {
            (Value::Object(cm), Some(Value::Object(lm))) => cm.iter().all(|(mk, mv)| {
                if SERVER_METADATA.contains(&mk.as_str()) {
                    return true;
                }
                if mk == "annotations"
                    && let (Value::Object(ca), Some(Value::Object(la))) = (mv, lm.get("annotations"))
                {
                    return ca.iter().all(|(ak, av)| {
                        ak == LAST_APPLIED
                            || la
                                .get(ak)
                                .map_or_else(|| is_empty(av), |lv| applied(av, lv, ty, "", strategic))
                    });
                }
                let (_, mty) = field(ty, "metadata");
                match lm.get(mk) {
                    None => is_empty(mv) || (!strategic && mv.is_null()),
                    Some(lv) => applied_field(mv, lv, mty, mk, strategic),
                }
            }),
            (cv, Some(lv)) => applied_field(cv, lv, ty, k, strategic),
            (cv, None) => is_empty(cv),
        },
        _ => match live.get(k) {
            None => is_empty(cv),
            Some(lv) => applied_field(cv, lv, ty, k, strategic),
        },
    })
}

/// Whether field `name` (of parent type `parent`) with config value `cv` is already `lv`.
fn applied_field(cv: &Value, lv: &Value, parent: Ty, name: &str, strategic: bool) -> bool {
    applied(cv, lv, parent, name, strategic)
}

fn applied(cv: &Value, lv: &Value, parent: Ty, name: &str, strategic: bool) -> bool {
    // Only containers need the schema; scalars are compared directly.
    if !cv.is_object() && !cv.is_array() {
        return match cv {
            Value::Null if !strategic => true,
            _ => loose_eq(cv, lv),
        };
    }
    let (list, child) = if strategic && parent != Ty::Any {
        field(parent, name)
    } else {
        (ListKind::Replace, Ty::Any)
    };
    match (cv, lv) {
        (Value::Object(cm), Value::Object(lm)) => cm.iter().all(|(k, v)| match lm.get(k) {
            None => is_empty(v) || (!strategic && v.is_null()),
            Some(w) => applied(v, w, child, k, strategic),
        }),
        (Value::Array(ca), Value::Array(la)) => match list {
            ListKind::Replace => loose_eq(cv, lv),
            ListKind::Set => ca.iter().all(|c| la.iter().any(|l| json_eq(c, l))),
            ListKind::Merge(keys) => ca.iter().all(|c| match c {
                Value::Object(cm) => {
                    if keys
                        .first()
                        .is_none_or(|(k, _)| cm.get(*k).is_none_or(Value::is_null))
                    {
                        return false;
                    }
                    la.iter()
                        .find_map(|l| match l {
                            Value::Object(lm) if keys_match(cm, lm, keys) => Some(lm),
                            _ => None,
                        })
                        .is_some_and(|lm| {
                            cm.iter().all(|(k, v)| match lm.get(k) {
                                None => is_empty(v),
                                Some(w) => applied(v, w, child, k, strategic),
                            })
                        })
                }
                other => la.iter().any(|l| json_eq(other, l)),
            }),
        },
        (Value::Null, _) if !strategic => true,
        _ => loose_eq(cv, lv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }
}
