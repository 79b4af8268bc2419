//! `v1` Service (spec §3.8). The message is always empty.

use gitops_core::Object;
use gitops_core::engine::Health;

use super::convert::{At, ConvError};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let root = At::root(obj.as_value());
    let service_type = root.path(&["spec", "type"])?.str()?;
    let ingress = root.path(&["status", "loadBalancer", "ingress"])?.list()?;
    for entry in &ingress {
        entry.mapping()?;
    }
    Ok(if service_type == "LoadBalancer" && ingress.is_empty() {
        Health::progressing("")
    } else {
        Health::healthy()
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn svc(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec, "status": status})
    }

    #[test]
    fn rules() {
        assert_health(
            svc(json!({"type": "ClusterIP"}), json!({})),
            HealthCode::Healthy,
            "",
        );
        assert_health(
            svc(json!({"type": "LoadBalancer"}), json!({})),
            HealthCode::Progressing,
            "",
        );
        assert_health(
            svc(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": []}}),
            ),
            HealthCode::Progressing,
            "",
        );
        assert_health(
            svc(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": [{}]}}),
            ),
            HealthCode::Healthy,
            "",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            svc(json!({"type": 3}), json!({})),
            "failed to convert unstructured Service to typed: ",
        );
        assert_unknown(
            svc(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": "1.2.3.4"}}),
            ),
            "failed to convert unstructured Service to typed: ",
        );
        assert_unknown(
            svc(json!({}), json!({"loadBalancer": {"ingress": ["1.2.3.4"]}})),
            "failed to convert unstructured Service to typed: ",
        );
    }
}
