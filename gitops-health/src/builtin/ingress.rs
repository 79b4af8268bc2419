//! Ingress in `extensions` or `networking.k8s.io`, any version (spec §3.9). Read unstructured:
//! anything but a non-empty list at `status.loadBalancer.ingress` is Progressing.

use gitops_core::Object;
use gitops_core::engine::Health;

use super::convert::ConvError;

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let assigned = obj
        .pointer("/status/loadBalancer/ingress")
        .and_then(|v| v.as_array())
        .is_some_and(|entries| !entries.is_empty());
    Ok(if assigned {
        Health::healthy()
    } else {
        Health::progressing("")
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn ing(status: Value) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(
            ing(json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}})),
            HealthCode::Healthy,
            "",
        );
        assert_health(
            ing(json!({"loadBalancer": {"ingress": [7]}})),
            HealthCode::Healthy,
            "",
        );
        assert_health(
            ing(json!({"loadBalancer": {"ingress": []}})),
            HealthCode::Progressing,
            "",
        );
        assert_health(
            ing(json!({"loadBalancer": {"ingress": "x"}})),
            HealthCode::Progressing,
            "",
        );
        assert_health(ing(json!("x")), HealthCode::Progressing, "");
        assert_health(ing(json!(null)), HealthCode::Progressing, "");
    }
}
