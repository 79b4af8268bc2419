//! `apiregistration.k8s.io` APIService, v1 and v1beta1 (spec §3.10). Never Degraded.

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError, conditions};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let conds = conditions(&At::root(obj.as_value()).path(&["status", "conditions"])?)?;
    Ok(match conds.iter().find(|c| c.kind == "Available") {
        Some(c) => {
            let code = if c.status == "True" {
                HealthCode::Healthy
            } else {
                HealthCode::Progressing
            };
            Health::new(code, format!("{}: {}", c.reason, c.message))
        }
        None => Health::progressing("Waiting to be processed"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn svc(conditions: Value) -> Value {
        json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "a"},
            "status": {"conditions": conditions}})
    }

    #[test]
    fn rules() {
        assert_health(
            svc(json!([{"type": "Available", "status": "True", "reason": "Passed", "message": "ok"}])),
            HealthCode::Healthy,
            "Passed: ok",
        );
        assert_health(
            svc(json!([{"type": "Available", "status": "Unknown"}])),
            HealthCode::Progressing,
            ": ",
        );
        assert_health(svc(json!([])), HealthCode::Progressing, "Waiting to be processed");
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            svc(json!([{"type": "Available", "reason": 5}])),
            "failed to convert unstructured APIService to typed: ",
        );
    }
}
