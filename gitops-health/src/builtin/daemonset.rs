//! `apps/v1` DaemonSet (spec §3.4).

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError, go_quote};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let root = At::root(obj.as_value());
    let status = root.field("status")?;
    let generation = root.path(&["metadata", "generation"])?.int()?;
    let strategy = root.path(&["spec", "updateStrategy", "type"])?.str()?;
    let observed = status.field("observedGeneration")?.int()?;
    let desired = status.field("desiredNumberScheduled")?.int()?;
    let updated = status.field("updatedNumberScheduled")?.int()?;
    let available = status.field("numberAvailable")?.int()?;

    if generation > observed {
        return Ok(Health::progressing(
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        ));
    }
    if strategy == "OnDelete" {
        return Ok(Health::new(
            HealthCode::Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        ));
    }
    let name = go_quote(obj.name());
    if updated < desired {
        return Ok(Health::progressing(format!(
            "Waiting for daemon set {name} rollout to finish: {updated} out of {desired} new pods have been updated..."
        )));
    }
    if available < desired {
        return Ok(Health::progressing(format!(
            "Waiting for daemon set {name} rollout to finish: {available} of {desired} updated pods are available..."
        )));
    }
    Ok(Health::healthy())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn ds(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(
            ds(json!({}), json!({})),
            HealthCode::Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
        assert_health(
            ds(
                json!({"updateStrategy": {"type": "OnDelete"}}),
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1}),
            ),
            HealthCode::Healthy,
            "daemon set 1 out of 3 new pods have been updated",
        );
        assert_health(
            ds(
                json!({}),
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1}),
            ),
            HealthCode::Progressing,
            "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...",
        );
        assert_health(
            ds(
                json!({}),
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3, "numberAvailable": 2}),
            ),
            HealthCode::Progressing,
            "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...",
        );
        assert_health(
            ds(
                json!({}),
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3, "numberAvailable": 3}),
            ),
            HealthCode::Healthy,
            "",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            ds(json!({"updateStrategy": {"type": false}}), json!({})),
            "failed to convert unstructured DaemonSet to typed: ",
        );
        assert_unknown(
            ds(json!({}), json!({"numberAvailable": "2"})),
            "failed to convert unstructured DaemonSet to typed: ",
        );
    }
}
