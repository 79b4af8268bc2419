//! `argoproj.io` Workflow, any version (spec §3.12).

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let status = At::root(obj.as_value()).field("status")?;
    let phase = status.field("phase")?.str()?;
    let message = status.field("message")?.str()?;
    let code = match phase {
        "" | "Pending" | "Running" => HealthCode::Progressing,
        "Succeeded" => HealthCode::Healthy,
        "Failed" | "Error" => HealthCode::Degraded,
        _ => HealthCode::Unknown,
    };
    Ok(Health::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn wf(status: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(wf(json!({"phase": "Pending"})), HealthCode::Progressing, "");
        assert_health(
            wf(json!({"phase": "Error", "message": "e"})),
            HealthCode::Degraded,
            "e",
        );
        assert_health(wf(json!({"phase": "Failed"})), HealthCode::Degraded, "");
        assert_health(
            wf(json!({"phase": "Succeeded", "message": "ok"})),
            HealthCode::Healthy,
            "ok",
        );
        assert_health(
            wf(json!({"phase": "Omitted", "message": "?"})),
            HealthCode::Unknown,
            "?",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            wf(json!({"phase": {"x": 1}})),
            "failed to convert unstructured Workflow to typed: ",
        );
        assert_unknown(
            wf(json!([])),
            "failed to convert unstructured Workflow to typed: ",
        );
    }
}
