//! `v1` Pod (spec §3.6), with hook detection and the ignore-restart-policy annotation.

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};

use super::convert::{At, ConvError, conditions, go_quote};
use gitops_core::health::hooks::{IGNORE_RESTART_POLICY_ANNOTATION, is_hook};

/// What the check needs from one container status.
struct ContainerStatus<'a> {
    name: &'a str,
    waiting_reason: &'a str,
    waiting_message: &'a str,
    has_waiting: bool,
    terminated: Option<Terminated<'a>>,
    has_last_terminated: bool,
}

struct Terminated<'a> {
    message: &'a str,
    reason: &'a str,
    exit_code: i64,
}

fn container_statuses<'a>(at: &At<'a>) -> Result<Vec<ContainerStatus<'a>>, ConvError> {
    at.list()?
        .iter()
        .map(|c| {
            c.mapping()?;
            let state = c.field("state")?;
            let waiting = state.field("waiting")?;
            let terminated = state.field("terminated")?;
            let last_terminated = c.path(&["lastState", "terminated"])?;
            Ok(ContainerStatus {
                name: c.field("name")?.str()?,
                has_waiting: waiting.mapping()?,
                waiting_reason: waiting.field("reason")?.str()?,
                waiting_message: waiting.field("message")?.str()?,
                terminated: if terminated.mapping()? {
                    Some(Terminated {
                        message: terminated.field("message")?.str()?,
                        reason: terminated.field("reason")?.str()?,
                        exit_code: terminated.field("exitCode")?.int()?,
                    })
                } else {
                    None
                },
                has_last_terminated: last_terminated.mapping()?,
            })
        })
        .collect()
}

/// A waiting reason that means the container cannot start on its own.
fn is_failing_reason(reason: &str) -> bool {
    reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
}

/// The message of a Failed pod without `status.message`: from the first terminated container that
/// explains itself, init containers first.
fn failure_message(statuses: &[ContainerStatus<'_>]) -> String {
    let terminated = statuses
        .iter()
        .filter_map(|s| s.terminated.as_ref().map(|t| (s.name, t)));
    for (name, t) in terminated {
        if !t.message.is_empty() {
            return t.message.to_owned();
        }
        if t.reason == "OOMKilled" {
            return "OOMKilled".to_owned();
        }
        if t.exit_code != 0 {
            return format!(
                "container {} failed with exit code {}",
                go_quote(name),
                t.exit_code
            );
        }
    }
    String::new()
}

pub(super) fn check(obj: &Object) -> Result<Health, ConvError> {
    let root = At::root(obj.as_value());
    let status = root.field("status")?;
    let restart_policy = root.path(&["spec", "restartPolicy"])?.str()?;
    let phase = status.field("phase")?.str()?;
    let message = status.field("message")?.str()?;
    let init = container_statuses(&status.field("initContainerStatuses")?)?;
    let containers = container_statuses(&status.field("containerStatuses")?)?;
    let conds = conditions(&status.field("conditions")?)?;

    let ignore_rp = obj.annotation(IGNORE_RESTART_POLICY_ANNOTATION) == Some("true");
    let long_running = restart_policy == "Always" || (ignore_rp && !is_hook(obj));

    if long_running {
        let failing: Vec<&str> = containers
            .iter()
            .filter(|c| c.has_waiting && is_failing_reason(c.waiting_reason))
            .map(|c| c.waiting_message)
            .collect();
        if !failing.is_empty() {
            return Ok(Health::degraded(failing.join(", ")));
        }
    }

    Ok(match phase {
        "Pending" => Health::progressing(message),
        "Succeeded" => Health::new(HealthCode::Healthy, message),
        "Failed" => {
            if message.is_empty() {
                let all: Vec<ContainerStatus<'_>> = init.into_iter().chain(containers).collect();
                Health::degraded(failure_message(&all))
            } else {
                Health::degraded(message)
            }
        }
        "Running" if long_running => {
            let ready = conds.iter().any(|c| c.kind == "Ready" && c.status == "True");
            if ready {
                Health::new(HealthCode::Healthy, message)
            } else if containers.iter().any(|c| c.has_last_terminated) {
                Health::degraded(message)
            } else {
                Health::progressing(message)
            }
        }
        "Running" if restart_policy == "OnFailure" || restart_policy == "Never" => {
            Health::progressing(message)
        }
        _ => Health::new(HealthCode::Unknown, message),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use gitops_core::engine::HealthCode;
    use serde_json::{Value, json};

    fn pod(annotations: Value, restart: &str, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"restartPolicy": restart}, "status": status})
    }

    fn waiting(reason: &str, message: &str) -> Value {
        json!({"name": "c", "state": {"waiting": {"reason": reason, "message": message}}})
    }

    #[test]
    fn failing_containers() {
        let s = json!({"phase": "Running", "containerStatuses": [
            waiting("CrashLoopBackOff", "a"), waiting("ContainerCreating", "x"),
            waiting("ErrImagePull", ""), waiting("CreateContainerConfigError", "")]});
        assert_health(pod(json!({}), "Always", s.clone()), HealthCode::Degraded, "a, , ");
        // Not long-running: waiting reasons are not consulted.
        assert_health(pod(json!({}), "Never", s.clone()), HealthCode::Progressing, "");
        let ignore = json!({"argocd.argoproj.io/ignore-restart-policy": "true"});
        assert_health(pod(ignore, "Never", s.clone()), HealthCode::Degraded, "a, , ");
        let hook = json!({"argocd.argoproj.io/ignore-restart-policy": "true",
            "argocd.argoproj.io/hook": "PreSync"});
        assert_health(pod(hook, "Never", s), HealthCode::Progressing, "");
    }

    #[test]
    fn phases() {
        assert_health(
            pod(json!({}), "Never", json!({"phase": "Pending", "message": "m"})),
            HealthCode::Progressing,
            "m",
        );
        assert_health(
            pod(json!({}), "Never", json!({"phase": "Succeeded"})),
            HealthCode::Healthy,
            "",
        );
        assert_health(
            pod(
                json!({}),
                "Never",
                json!({"phase": "Failed", "message": "evicted"}),
            ),
            HealthCode::Degraded,
            "evicted",
        );
        assert_health(
            pod(
                json!({}),
                "Never",
                json!({"phase": "Failed",
                "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 0}}}],
                "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
                    {"name": "b", "state": {"terminated": {"exitCode": 1}}}]}),
            ),
            HealthCode::Degraded,
            "OOMKilled",
        );
        assert_health(
            pod(
                json!({}),
                "Never",
                json!({"phase": "Failed",
                "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 2}}}],
                "containerStatuses": [{"name": "b", "state": {"terminated": {"message": "boom"}}}]}),
            ),
            HealthCode::Degraded,
            "container \"init\" failed with exit code 2",
        );
        assert_health(
            pod(
                json!({}),
                "Always",
                json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}),
            ),
            HealthCode::Healthy,
            "",
        );
        assert_health(
            pod(
                json!({}),
                "Always",
                json!({"phase": "Running",
                "containerStatuses": [{"name": "c", "lastState": {"terminated": {"exitCode": 1}}}]}),
            ),
            HealthCode::Degraded,
            "",
        );
        assert_health(
            pod(json!({}), "Always", json!({"phase": "Running"})),
            HealthCode::Progressing,
            "",
        );
        assert_health(
            pod(json!({}), "", json!({"phase": "Running", "message": "?"})),
            HealthCode::Unknown,
            "?",
        );
        assert_health(
            pod(json!({}), "Always", json!({"phase": "Unknown"})),
            HealthCode::Unknown,
            "",
        );
    }

    #[test]
    fn wrong_types_are_unknown() {
        for status in [
            json!({"phase": 1}),
            json!({"containerStatuses": {"name": "c"}}),
            json!({"containerStatuses": [{"state": {"waiting": "yes"}}]}),
            json!({"initContainerStatuses": [{"state": {"terminated": {"exitCode": "1"}}}]}),
            json!({"conditions": [{"status": false}]}),
        ] {
            assert_unknown(
                pod(json!({}), "Always", status),
                "failed to convert unstructured Pod to typed: ",
            );
        }
    }
}
