//! `batch/v1` Job (spec §3.5, HEAD behaviour).

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError, conditions};

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let root = At::root(obj.as_value());
    let conds = conditions(&root.path(&["status", "conditions"])?)?;
    let mut failed = false;
    let mut finished = false;
    let mut suspended = false;
    let mut fail_msg = "";
    let mut msg = "";
    for c in &conds {
        match c.kind {
            "Failed" => {
                failed = true;
                finished = true;
                fail_msg = c.message;
            }
            "Complete" => {
                finished = true;
                msg = c.message;
            }
            "Suspended" => {
                finished = true;
                msg = c.message;
                suspended = c.status == "True";
            }
            _ => {}
        }
    }
    Ok(if !finished {
        Health::progressing(msg)
    } else if failed {
        Health::degraded(fail_msg)
    } else if suspended {
        Health::new(HealthCode::Suspended, msg)
    } else {
        Health::new(HealthCode::Healthy, msg)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn job(conditions: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "status": {"conditions": conditions}})
    }

    #[test]
    fn rules() {
        assert_health(job(json!(null)), HealthCode::Progressing, "");
        assert_health(
            job(json!([{"type": "SuccessCriteriaMet", "status": "True", "message": "x"}])),
            HealthCode::Progressing,
            "",
        );
        assert_health(
            job(json!([{"type": "FailureTarget", "status": "True"},
                       {"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}])),
            HealthCode::Degraded,
            "BackoffLimitExceeded",
        );
        assert_health(
            job(json!([{"type": "Complete", "status": "True", "message": "done"}])),
            HealthCode::Healthy,
            "done",
        );
        assert_health(
            job(json!([{"type": "Suspended", "status": "True", "message": "Job suspended"}])),
            HealthCode::Suspended,
            "Job suspended",
        );
        assert_health(
            job(json!([{"type": "Suspended", "status": "False", "message": "Job resumed"}])),
            HealthCode::Healthy,
            "Job resumed",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        assert_unknown(
            job(json!("Complete")),
            "failed to convert unstructured Job to typed: ",
        );
        assert_unknown(
            job(json!([{"type": "Complete", "status": true}])),
            "failed to convert unstructured Job to typed: ",
        );
    }
}
