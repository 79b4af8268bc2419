//! Kubernetes label selectors: the string form (`app=web,tier!=db,env in (dev,qa),!legacy`) and
//! the structured form (`matchLabels` / `matchExpressions`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the key is absent).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also true when the key is absent).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<&str, &str>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k.as_str()) == Some(&v.as_str()),
            Requirement::NotEquals(k, v) => labels.get(k.as_str()) != Some(&v.as_str()),
            Requirement::In(k, vs) => labels.get(k.as_str()).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => !labels.get(k.as_str()).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => labels.contains_key(k.as_str()),
            Requirement::DoesNotExist(k) => !labels.contains_key(k.as_str()),
        }
    }
}

/// A label selector: all requirements must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelector {
    /// The requirements, all of which must hold.
    pub requirements: Vec<Requirement>,
}

/// A selector string that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    /// The selector text.
    pub selector: String,
    /// What is wrong.
    pub reason: String,
}

impl LabelSelector {
    /// A selector requiring `key=value` for every pair.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        LabelSelector {
            requirements: labels
                .into_iter()
                .map(|(k, v)| Requirement::Equals(k.into(), v.into()))
                .collect(),
        }
    }

    /// Parses the string form used by `kubectl -l` and the `labelSelector` query parameter.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let err = |reason: &str| SelectorError {
            selector: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(check_key(key.trim()).map_err(|r| err(&r))?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(check_key(k.trim()).map_err(|r| err(&r))?, v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(check_key(k.trim()).map_err(|r| err(&r))?, v.trim().to_owned())
            } else if let Some((k, rest)) = split_set_op(part, " notin ") {
                Requirement::NotIn(
                    check_key(k).map_err(|r| err(&r))?,
                    parse_set(rest).map_err(|r| err(&r))?,
                )
            } else if let Some((k, rest)) = split_set_op(part, " in ") {
                Requirement::In(
                    check_key(k).map_err(|r| err(&r))?,
                    parse_set(rest).map_err(|r| err(&r))?,
                )
            } else {
                Requirement::Exists(check_key(part).map_err(|r| err(&r))?)
            };
            requirements.push(req);
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds a selector from a Kubernetes `LabelSelector` JSON object (`matchLabels`, `matchExpressions`).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, SelectorError> {
        let err = |reason: String| SelectorError {
            selector: v.to_string(),
            reason,
        };
        let mut requirements = Vec::new();
        if let Some(m) = v.get("matchLabels").and_then(|m| m.as_object()) {
            for (k, val) in m {
                let val = val
                    .as_str()
                    .ok_or_else(|| err(format!("matchLabels.{k} must be a string")))?;
                requirements.push(Requirement::Equals(k.clone(), val.to_owned()));
            }
        }
        if let Some(exprs) = v.get("matchExpressions").and_then(|m| m.as_array()) {
            for (i, e) in exprs.iter().enumerate() {
                let key = e
                    .get("key")
                    .and_then(|k| k.as_str())
                    .ok_or_else(|| err(format!("matchExpressions[{i}].key missing")))?;
                let values: Vec<String> = e
                    .get("values")
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let op = e.get("operator").and_then(|o| o.as_str()).unwrap_or_default();
                requirements.push(match op {
                    "In" => Requirement::In(key.into(), values),
                    "NotIn" => Requirement::NotIn(key.into(), values),
                    "Exists" => Requirement::Exists(key.into()),
                    "DoesNotExist" => Requirement::DoesNotExist(key.into()),
                    other => return Err(err(format!("matchExpressions[{i}].operator {other:?} is not In, NotIn, Exists or DoesNotExist"))),
                });
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<&str, &str>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r {
                Requirement::Equals(k, v) => write!(f, "{k}={v}")?,
                Requirement::NotEquals(k, v) => write!(f, "{k}!={v}")?,
                Requirement::In(k, vs) => write!(f, "{k} in ({})", vs.join(","))?,
                Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", vs.join(","))?,
                Requirement::Exists(k) => write!(f, "{k}")?,
                Requirement::DoesNotExist(k) => write!(f, "!{k}")?,
            }
        }
        Ok(())
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn split_set_op<'a>(part: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    part.find(op)
        .map(|i| (part[..i].trim(), part[i + op.len()..].trim()))
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| "set values must be in parentheses".to_owned())?;
    Ok(inner
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

fn check_key(key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("empty label key".into());
    }
    if key.chars().any(|c| c.is_whitespace() || c == '(' || c == ')') {
        return Err(format!("invalid label key {key:?}"));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let s = LabelSelector::parse("app=web, tier!=db,env in (dev, qa),!legacy,team").unwrap();
        let mut l = BTreeMap::new();
        l.insert("app", "web");
        l.insert("env", "qa");
        l.insert("team", "x");
        assert!(s.matches(&l));
        l.insert("legacy", "1");
        assert!(!s.matches(&l));
        assert!(LabelSelector::parse("env in dev").is_err());
        assert_eq!(
            LabelSelector::parse("a=b,c notin (d)").unwrap().to_string(),
            "a=b,c notin (d)"
        );
    }
}
