//! `apps/v1` StatefulSet (spec §3.2). Never Degraded.

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let root = At::root(obj.as_value());
    let spec = root.field("spec")?;
    let status = root.field("status")?;
    let generation = root.path(&["metadata", "generation"])?.int()?;
    let want = spec.field("replicas")?.opt_int()?;
    let strategy = spec.field("updateStrategy")?;
    let strategy_type = strategy.field("type")?.str()?;
    let rolling = strategy.field("rollingUpdate")?;
    let has_rolling = rolling.mapping()?;
    let partition = rolling.field("partition")?.opt_int()?;
    let observed = status.field("observedGeneration")?.int()?;
    let ready = status.field("readyReplicas")?.int()?;
    let updated = status.field("updatedReplicas")?.int()?;
    let current = status.field("currentReplicas")?.int()?;
    let update_rev = status.field("updateRevision")?.str()?;
    let current_rev = status.field("currentRevision")?.str()?;

    if observed == 0 || generation > observed {
        return Ok(Health::progressing(
            "Waiting for statefulset spec update to be observed...",
        ));
    }
    if let Some(want) = want
        && ready < want
    {
        return Ok(Health::progressing(format!(
            "Waiting for {} pods to be ready...",
            want - ready
        )));
    }
    if strategy_type == "RollingUpdate" && has_rolling {
        if let (Some(want), Some(partition)) = (want, partition) {
            let target = want - partition;
            if updated < target {
                return Ok(Health::progressing(format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {target} new pods have been updated..."
                )));
            }
        }
        return Ok(Health::new(
            HealthCode::Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        ));
    }
    if strategy_type == "OnDelete" {
        return Ok(Health::new(
            HealthCode::Healthy,
            format!("statefulset has {ready} ready pods"),
        ));
    }
    if update_rev != current_rev {
        return Ok(Health::progressing(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}..."
        )));
    }
    Ok(Health::new(
        HealthCode::Healthy,
        format!("statefulset rolling update complete {current} pods at revision {current_rev}..."),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn sts(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(
            sts(json!({}), json!({})),
            HealthCode::Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
        assert_health(
            sts(
                json!({"replicas": 3}),
                json!({"observedGeneration": 1, "readyReplicas": 1}),
            ),
            HealthCode::Progressing,
            "Waiting for 2 pods to be ready...",
        );
        let rolling = json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}});
        assert_health(
            sts(
                rolling.clone(),
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1}),
            ),
            HealthCode::Progressing,
            "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
        );
        assert_health(
            sts(
                rolling,
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 2}),
            ),
            HealthCode::Healthy,
            "partitioned roll out complete: 2 new pods have been updated...",
        );
        assert_health(
            sts(
                json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {}}}),
                json!({"observedGeneration": 1, "updatedReplicas": 4, "updateRevision": "a", "currentRevision": "b"}),
            ),
            HealthCode::Healthy,
            "partitioned roll out complete: 4 new pods have been updated...",
        );
        assert_health(
            sts(
                json!({"updateStrategy": {"type": "RollingUpdate"}}),
                json!({"observedGeneration": 1, "updatedReplicas": 1, "updateRevision": "r2", "currentRevision": "r1"}),
            ),
            HealthCode::Progressing,
            "waiting for statefulset rolling update to complete 1 pods at revision r2...",
        );
        assert_health(
            sts(
                json!({}),
                json!({"observedGeneration": 1, "currentReplicas": 2, "updateRevision": "r1", "currentRevision": "r1"}),
            ),
            HealthCode::Healthy,
            "statefulset rolling update complete 2 pods at revision r1...",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        for (spec, status) in [
            (json!({"updateStrategy": {"rollingUpdate": 3}}), json!({})),
            (json!({"updateStrategy": "OnDelete"}), json!({})),
            (json!({}), json!({"currentRevision": 7})),
        ] {
            assert_unknown(
                sts(spec, status),
                "failed to convert unstructured StatefulSet to typed: ",
            );
        }
    }
}
