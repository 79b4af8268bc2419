//! `autoscaling` HorizontalPodAutoscaler, v1 and v2 (spec §3.11, HEAD behaviour: two passes).
//!
//! v2 reads `status.conditions`; v1 reads the JSON in the
//! `autoscaling.alpha.kubernetes.io/conditions` annotation, matching its keys case-insensitively
//! the way Go's JSON decoder does.

use gitops_core::engine::{Health, HealthCode};
use gitops_core::{Object, value_kind};
use serde_json::Value;

use super::convert::{At, ConvError, conditions};

/// Annotation holding an autoscaling/v1 HPA's conditions as a JSON list.
const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

const WAITING: &str = "Waiting to Autoscale";

/// (type, reason) pairs that make an HPA Degraded, whatever the condition's status.
const DEGRADED: &[(&str, &str)] = &[
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "FailedGetObjectMetric"),
    ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"),
    ("ScalingActive", "FailedComputeMetricsReplicas"),
    ("ScalingActive", "InvalidSelector"),
];

/// An HPA condition, owned so v1's annotation and v2's status share one evaluation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct HpaCondition {
    kind: String,
    status: String,
    reason: String,
    message: String,
}

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let conds = if obj.version() == "v1" {
        let Some(raw) = obj.annotation(CONDITIONS_ANNOTATION) else {
            return Ok(Health::progressing(WAITING));
        };
        match parse_annotation(raw) {
            Ok(c) => c,
            Err(detail) => {
                return Ok(Health::new(
                    HealthCode::Unknown,
                    format!("failed to convert conditions annotation to typed: {detail}"),
                ));
            }
        }
    } else {
        conditions(&At::root(obj.as_value()).path(&["status", "conditions"])?)?
            .into_iter()
            .map(|c| HpaCondition {
                kind: c.kind.to_owned(),
                status: c.status.to_owned(),
                reason: c.reason.to_owned(),
                message: c.message.to_owned(),
            })
            .collect()
    };
    Ok(evaluate(&conds))
}

fn evaluate(conds: &[HpaCondition]) -> Health {
    if let Some(c) = conds
        .iter()
        .find(|c| DEGRADED.iter().any(|(t, r)| c.kind == *t && c.reason == *r))
    {
        return Health::degraded(c.message.clone());
    }
    if let Some(c) = conds
        .iter()
        .find(|c| (c.kind == "AbleToScale" || c.kind == "ScalingLimited") && c.status == "True")
    {
        return Health::new(HealthCode::Healthy, c.message.clone());
    }
    Health::progressing(WAITING)
}

/// Case folding as Go's JSON decoder applies it to field names: ASCII case, plus the two
/// non-ASCII letters that fold to ASCII ones (`ſ` → `s`, Kelvin sign → `k`).
fn fold(c: char) -> char {
    match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    }
}

fn key_is(key: &str, field: &str) -> bool {
    key.chars().map(fold).eq(field.chars())
}

/// Parses the v1 conditions annotation: a JSON list (or `null`) of condition objects.
fn parse_annotation(raw: &str) -> Result<Vec<HpaCondition>, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(format!("expected a list, found {}", value_kind(&other))),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let mut cond = HpaCondition::default();
        let entries = match item {
            Value::Null => {
                out.push(cond);
                continue;
            }
            Value::Object(m) => m,
            other => {
                return Err(format!("[{i}]: expected a mapping, found {}", value_kind(&other)));
            }
        };
        for (key, v) in entries {
            let slot = if key_is(&key, "type") {
                &mut cond.kind
            } else if key_is(&key, "status") {
                &mut cond.status
            } else if key_is(&key, "reason") {
                &mut cond.reason
            } else if key_is(&key, "message") {
                &mut cond.message
            } else if key_is(&key, "lasttransitiontime") {
                match v {
                    Value::Null | Value::String(_) => continue,
                    other => {
                        return Err(format!(
                            "[{i}].{key}: expected a string, found {}",
                            value_kind(&other)
                        ));
                    }
                }
            } else {
                continue;
            };
            match v {
                Value::Null => {}
                Value::String(s) => *slot = s,
                other => {
                    return Err(format!(
                        "[{i}].{key}: expected a string, found {}",
                        value_kind(&other)
                    ));
                }
            }
        }
        out.push(cond);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn v1(annotation: Option<&str>) -> Value {
        let mut o = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"}});
        if let (Some(a), Some(meta)) = (annotation, o["metadata"].as_object_mut()) {
            meta.insert(
                "annotations".into(),
                json!({"autoscaling.alpha.kubernetes.io/conditions": a}),
            );
        }
        o
    }

    fn v2(conditions: Value) -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"}, "status": {"conditions": conditions}})
    }

    #[test]
    fn v1_annotation() {
        assert_health(v1(None), HealthCode::Progressing, "Waiting to Autoscale");
        assert_health(v1(Some("[]")), HealthCode::Progressing, "Waiting to Autoscale");
        assert_health(v1(Some("null")), HealthCode::Progressing, "Waiting to Autoscale");
        assert_unknown(
            v1(Some("[{")),
            "failed to convert conditions annotation to typed: ",
        );
        assert_unknown(
            v1(Some("{}")),
            "failed to convert conditions annotation to typed: ",
        );
        assert_unknown(
            v1(Some(r#"[{"type": "AbleToScale", "status": true}]"#)),
            "failed to convert conditions annotation to typed: [0].status: expected a string",
        );
        // Keys match case-insensitively, including Go's two non-ASCII folds.
        assert_health(
            v1(Some(
                r#"[{"TYPE": "AbleToScale", "ſtatus": "True", "Message": "fine", "extra": 1}]"#,
            )),
            HealthCode::Healthy,
            "fine",
        );
    }

    #[test]
    fn degraded_wins_over_healthy() {
        assert_health(
            v2(json!([
                {"type": "AbleToScale", "status": "True", "message": "ok"},
                {"type": "ScalingActive", "status": "True", "reason": "FailedGetPodsMetric", "message": "no metric"}])),
            HealthCode::Degraded,
            "no metric",
        );
        assert_health(
            v2(json!([
                {"type": "AbleToScale", "status": "False", "message": "a"},
                {"type": "ScalingLimited", "status": "True", "message": "limited"}])),
            HealthCode::Healthy,
            "limited",
        );
        assert_health(
            v2(json!([{"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}])),
            HealthCode::Progressing,
            "Waiting to Autoscale",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            v2(json!({"type": "AbleToScale"})),
            "failed to convert unstructured HPA to typed: ",
        );
        assert_unknown(
            v2(json!([{"reason": 1}])),
            "failed to convert unstructured HPA to typed: ",
        );
    }
}
