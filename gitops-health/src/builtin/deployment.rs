//! `apps/v1` Deployment (spec §3.1), after `kubectl rollout status`.

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError, conditions, go_quote};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let root = At::root(obj.as_value());
    let spec = root.field("spec")?;
    let status = root.field("status")?;
    let paused = spec.field("paused")?.bool()?;
    let want = spec.field("replicas")?.opt_int()?;
    let generation = root.path(&["metadata", "generation"])?.int()?;
    let observed = status.field("observedGeneration")?.int()?;
    let replicas = status.field("replicas")?.int()?;
    let updated = status.field("updatedReplicas")?.int()?;
    let available = status.field("availableReplicas")?.int()?;
    let conds = conditions(&status.field("conditions")?)?;

    if paused {
        return Ok(Health::new(HealthCode::Suspended, "Deployment is paused"));
    }
    if generation > observed {
        return Ok(Health::progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        ));
    }
    let deadline_exceeded = conds
        .iter()
        .find(|c| c.kind == "Progressing")
        .is_some_and(|c| c.reason == "ProgressDeadlineExceeded");
    if deadline_exceeded {
        return Ok(Health::degraded(format!(
            "Deployment {} exceeded its progress deadline",
            go_quote(obj.name())
        )));
    }
    Ok(match want {
        Some(want) if updated < want => Health::progressing(format!(
            "Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."
        )),
        _ if replicas > updated => Health::progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        )),
        _ if available < updated => Health::progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        )),
        _ => Health::healthy(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn dep(spec: Value, status: Value, generation: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation}, "spec": spec, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(
            dep(json!({"paused": true}), json!({"observedGeneration": 0}), 5),
            HealthCode::Suspended,
            "Deployment is paused",
        );
        assert_health(
            dep(json!({}), json!({"observedGeneration": 1}), 2),
            HealthCode::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
        assert_health(
            dep(
                json!({"replicas": 3}),
                json!({"observedGeneration": 1, "conditions": [
                    {"type": "Available", "reason": "ProgressDeadlineExceeded"},
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
                1,
            ),
            HealthCode::Degraded,
            "Deployment \"web\" exceeded its progress deadline",
        );
        assert_health(
            dep(json!({"replicas": 3}), json!({"updatedReplicas": 1}), 0),
            HealthCode::Progressing,
            "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
        );
        assert_health(
            dep(json!({}), json!({"replicas": 3, "updatedReplicas": 1}), 0),
            HealthCode::Progressing,
            "Waiting for rollout to finish: 2 old replicas are pending termination...",
        );
        assert_health(
            dep(
                json!({"replicas": 2}),
                json!({"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
                0,
            ),
            HealthCode::Progressing,
            "Waiting for rollout to finish: 1 of 2 updated replicas are available...",
        );
        assert_health(dep(json!({}), json!({}), 0), HealthCode::Healthy, "");
    }

    #[test]
    fn wrong_types_are_unknown() {
        for (spec, status) in [
            (json!({"replicas": "3"}), json!({})),
            (json!({"paused": "yes"}), json!({})),
            (json!({}), json!({"conditions": {"type": "Progressing"}})),
            (json!({}), json!({"conditions": [{"type": 1}]})),
            (json!([]), json!({})),
            (json!({}), json!("ok")),
            (json!({}), json!({"updatedReplicas": 1.5})),
        ] {
            assert_unknown(
                dep(spec, status, 0),
                "failed to convert unstructured Deployment to typed: field ",
            );
        }
        let bad_generation = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": "1"}});
        assert_unknown(
            bad_generation,
            "failed to convert unstructured Deployment to typed: ",
        );
    }
}
