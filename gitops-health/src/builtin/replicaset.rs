//! `apps/v1` ReplicaSet (spec §3.3).

use gitops_core::Object;
use gitops_core::engine::Health;

use super::convert::{At, ConvError, conditions};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let root = At::root(obj.as_value());
    let status = root.field("status")?;
    let generation = root.path(&["metadata", "generation"])?.int()?;
    let want = root.path(&["spec", "replicas"])?.opt_int()?;
    let observed = status.field("observedGeneration")?.int()?;
    let available = status.field("availableReplicas")?.int()?;
    let conds = conditions(&status.field("conditions")?)?;

    if generation > observed {
        return Ok(Health::progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        ));
    }
    if let Some(failure) = conds
        .iter()
        .find(|c| c.kind == "ReplicaFailure" && c.status == "True")
    {
        return Ok(Health::degraded(failure.message));
    }
    Ok(match want {
        Some(want) if available < want => Health::progressing(format!(
            "Waiting for rollout to finish: {available} out of {want} new replicas are available..."
        )),
        _ => Health::healthy(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn rs(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "generation": 2}, "spec": spec, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(
            rs(json!({}), json!({"observedGeneration": 1})),
            HealthCode::Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
        assert_health(
            rs(
                json!({"replicas": 2}),
                json!({"observedGeneration": 2, "conditions": [
                    {"type": "ReplicaFailure", "status": "False", "message": "no"},
                    {"type": "ReplicaFailure", "status": "True", "message": "quota exceeded"}]}),
            ),
            HealthCode::Degraded,
            "quota exceeded",
        );
        assert_health(
            rs(
                json!({"replicas": 2}),
                json!({"observedGeneration": 2, "availableReplicas": 1}),
            ),
            HealthCode::Progressing,
            "Waiting for rollout to finish: 1 out of 2 new replicas are available...",
        );
        assert_health(
            rs(json!({}), json!({"observedGeneration": 2})),
            HealthCode::Healthy,
            "",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            rs(json!({"replicas": true}), json!({})),
            "failed to convert unstructured ReplicaSet to typed: ",
        );
        assert_unknown(
            rs(json!({}), json!({"conditions": [{"message": ["x"]}]})),
            "failed to convert unstructured ReplicaSet to typed: ",
        );
    }
}
