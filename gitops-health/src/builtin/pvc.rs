//! `v1` PersistentVolumeClaim (spec §3.7). The message is always empty.

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let phase = At::root(obj.as_value()).path(&["status", "phase"])?.str()?;
    let code = match phase {
        "Lost" => HealthCode::Degraded,
        "Pending" => HealthCode::Progressing,
        "Bound" => HealthCode::Healthy,
        _ => HealthCode::Unknown,
    };
    Ok(Health::new(code, ""))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn pvc(status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "d"}, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(pvc(json!({"phase": "Lost"})), HealthCode::Degraded, "");
        assert_health(pvc(json!({"phase": "Pending"})), HealthCode::Progressing, "");
        assert_health(pvc(json!({"phase": "Bound"})), HealthCode::Healthy, "");
        assert_health(pvc(json!({})), HealthCode::Unknown, "");
        assert_health(pvc(json!({"phase": "bound"})), HealthCode::Unknown, "");
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            pvc(json!({"phase": ["Bound"]})),
            "failed to convert unstructured PersistentVolumeClaim to typed: ",
        );
        assert_unknown(
            pvc(json!(12)),
            "failed to convert unstructured PersistentVolumeClaim to typed: ",
        );
    }
}
