//! The simulated controllers [`MemoryCluster::tick`](super::MemoryCluster::tick) runs.
//!
//! Each controller looks at one object, its bookkeeping ([`SimState`], kept per uid outside the object
//! so that status stays what the real controllers write) and the clock, and writes `status` the way the
//! real controller would. Only Deployments write other objects (their ReplicaSets). No Pods are created
//! for workloads: that keeps simulations of thousands of Deployments small and fast.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::memory::{NAME_ALPHABET, State};
use super::{DURATION_ANNOTATION, FAIL_ANNOTATION};
use crate::ObjectRef;
use crate::engine::ApplyOptions;
use crate::object::Object;
use crate::time::rfc3339;

/// A controller's memory of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct SimState {
    /// The generation last observed.
    generation: i64,
    /// Ticks since the controllers first saw the object.
    age: u64,
    /// Ticks during which the current revision progressed (not paused or suspended).
    rollout_ticks: u64,
    /// Hash of the pod template being rolled out.
    revision: String,
    /// Hash of the pod template rolled out before.
    previous_revision: String,
    /// Replicas of the previous revision when the current one started.
    previous_replicas: i64,
    /// Desired replicas at the last tick.
    replicas: i64,
}

/// The key controller bookkeeping is kept under: the uid, or the reference for objects without one.
pub(super) fn sim_key(obj: &Object) -> String {
    obj.uid()
        .map(str::to_owned)
        .unwrap_or_else(|| obj.object_ref().to_string())
}

type Controller = fn(&mut State, &Object, &mut SimState);

fn controller_for(key: &ObjectRef) -> Option<Controller> {
    let c: Controller = match (key.group.as_str(), key.kind.as_str()) {
        ("apps", "Deployment") => deployment,
        ("apps", "ReplicaSet") => replicaset,
        ("apps", "StatefulSet") => statefulset,
        ("apps", "DaemonSet") => daemonset,
        ("batch", "Job") => job,
        ("", "Pod") => pod,
        ("", "PersistentVolumeClaim") => pvc,
        ("", "Service") => service,
        ("networking.k8s.io" | "extensions", "Ingress") => ingress,
        _ => return None,
    };
    Some(c)
}

/// Runs every controller once over every object.
pub(super) fn run(st: &mut State) {
    let keys: Vec<(ObjectRef, Controller)> = st
        .objects
        .keys()
        .filter_map(|k| controller_for(k).map(|c| (k.clone(), c)))
        .collect();
    for (key, controller) in keys {
        let Some(obj) = st.objects.get(&key).cloned() else {
            continue;
        };
        let sk = sim_key(&obj);
        let mut sim = st.sim.remove(&sk).unwrap_or_default();
        sim.age += 1;
        sim.generation = obj.generation();
        controller(st, &obj, &mut sim);
        if st.objects.contains_key(&key) {
            st.sim.insert(sk, sim);
        }
    }
}

fn int_at(obj: &Object, ptr: &str) -> Option<i64> {
    obj.pointer(ptr).and_then(Value::as_i64)
}

fn is_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn template_annotation<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    obj.pointer("/spec/template/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// Whether the object (or its pod template) asks to fail.
fn fails(obj: &Object) -> bool {
    is_true(obj.annotation(FAIL_ANNOTATION)) || is_true(template_annotation(obj, FAIL_ANNOTATION))
}

/// How many ticks the object (or its pod template) asks to run; 2 by default.
fn duration(obj: &Object) -> u64 {
    obj.annotation(DURATION_ANNOTATION)
        .or_else(|| template_annotation(obj, DURATION_ANNOTATION))
        .and_then(|d| d.trim().parse::<u64>().ok())
        .filter(|d| *d > 0)
        .unwrap_or(2)
}

/// A stable 10-character hash of a pod template, in Kubernetes' name alphabet.
pub(super) fn template_hash(template: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(template, &mut canonical);
    // FNV-1a, 64 bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let base = NAME_ALPHABET.len() as u64;
    (0..10)
        .map(|_| {
            let c = NAME_ALPHABET[(h % base) as usize] as char;
            h /= base;
            c
        })
        .collect()
}

/// JSON with object keys sorted, so equal templates hash equally whatever their key order.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(child) = m.get(k) {
                    write_canonical(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, child) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(child, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One status condition, keeping the previous timestamps when nothing about it changed.
fn condition(
    prev_status: Option<&Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
    with_update_time: bool,
) -> Value {
    let prev = prev_status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        });
    let prev_str = |field: &str| prev.and_then(|p| p.get(field)).and_then(Value::as_str);
    let same_status = prev_str("status") == Some(status);
    let same_all = same_status && prev_str("reason") == Some(reason) && prev_str("message") == Some(message);
    let transition = if same_status {
        prev_str("lastTransitionTime").unwrap_or(now)
    } else {
        now
    };
    let mut c = Map::new();
    c.insert("type".into(), json!(type_));
    c.insert("status".into(), json!(status));
    if with_update_time {
        let update = if same_all {
            prev_str("lastUpdateTime").unwrap_or(now)
        } else {
            now
        };
        c.insert("lastUpdateTime".into(), json!(update));
    }
    c.insert("lastTransitionTime".into(), json!(transition));
    if !reason.is_empty() {
        c.insert("reason".into(), json!(reason));
    }
    if !message.is_empty() {
        c.insert("message".into(), json!(message));
    }
    Value::Object(c)
}

/// Inserts a count unless it is zero (Kubernetes omits zero counts).
fn put_count(status: &mut Map<String, Value>, field: &str, n: i64) {
    if n != 0 {
        status.insert(field.into(), json!(n));
    }
}

/// Advances the revision bookkeeping of a workload; returns the rollout tick (1 on the first tick of a
/// new revision, unless paused).
fn advance(sim: &mut SimState, revision: &str, replicas: i64, paused: bool) -> i64 {
    if sim.revision != revision {
        sim.previous_replicas = if sim.revision.is_empty() { 0 } else { sim.replicas };
        sim.previous_revision = std::mem::replace(&mut sim.revision, revision.to_owned());
        sim.rollout_ticks = 0;
    }
    sim.replicas = replicas;
    if !paused {
        sim.rollout_ticks += 1;
    }
    i64::try_from(sim.rollout_ticks).unwrap_or(i64::MAX)
}

fn deployment(st: &mut State, obj: &Object, sim: &mut SimState) {
    let now = rfc3339(st.clock);
    let name = obj.name().to_owned();
    let replicas = int_at(obj, "/spec/replicas").unwrap_or(1).max(0);
    let template = obj
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let hash = template_hash(&template);
    let paused = obj.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let fail = fails(obj);
    let revision_changed = sim.revision != hash;
    let superseded = sim.previous_revision.clone();
    let t = advance(sim, &hash, replicas, paused);

    let step = (replicas.saturating_add(3) / 4).max(1);
    let updated = step.saturating_mul(t).min(replicas);
    let new_available = if fail {
        0
    } else {
        step.saturating_mul(t - 1).clamp(0, replicas)
    };
    let done = !fail && new_available >= replicas;
    let old = if done || sim.previous_revision.is_empty() {
        0
    } else {
        sim.previous_replicas.saturating_sub(new_available).max(0)
    };
    let available = new_available.saturating_add(old);
    let rs_name = format!("{name}-{hash}");

    if let (Some(uid), Some(ns)) = (obj.uid(), obj.namespace()) {
        let owner = json!([{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true,
        }]);
        upsert_replicaset(
            st,
            obj,
            ns,
            &rs_name,
            &hash,
            &template,
            &owner,
            updated,
            new_available,
        );
        if !sim.previous_revision.is_empty() {
            let old_key = ObjectRef::new(
                "apps",
                "ReplicaSet",
                Some(ns),
                format!("{name}-{}", sim.previous_revision),
            );
            scale_replicaset(st, &old_key, old, old);
        }
        if revision_changed && !superseded.is_empty() && superseded != hash {
            let key = ObjectRef::new("apps", "ReplicaSet", Some(ns), format!("{name}-{superseded}"));
            scale_replicaset(st, &key, 0, 0);
        }
    }

    let prev = obj.status();
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(obj.generation()));
    put_count(&mut status, "replicas", updated.saturating_add(old));
    put_count(&mut status, "updatedReplicas", updated);
    put_count(&mut status, "readyReplicas", available);
    put_count(&mut status, "availableReplicas", available);
    put_count(
        &mut status,
        "unavailableReplicas",
        replicas.saturating_sub(available).max(0),
    );
    let available_cond = if available >= replicas {
        condition(
            prev,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            &now,
            true,
        )
    } else {
        condition(
            prev,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            &now,
            true,
        )
    };
    let progressing = if paused {
        condition(
            prev,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            &now,
            true,
        )
    } else if fail && t >= 3 {
        let msg = format!("ReplicaSet {rs_name:?} has timed out progressing.");
        condition(
            prev,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            &msg,
            &now,
            true,
        )
    } else if done {
        let msg = format!("ReplicaSet {rs_name:?} has successfully progressed.");
        condition(
            prev,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &msg,
            &now,
            true,
        )
    } else {
        let msg = format!("ReplicaSet {rs_name:?} is progressing.");
        condition(prev, "Progressing", "True", "ReplicaSetUpdated", &msg, &now, true)
    };
    status.insert("conditions".into(), json!([available_cond, progressing]));
    st.write_status(&obj.object_ref(), Value::Object(status));
}

/// Creates or updates the ReplicaSet a Deployment owns for its current template.
#[allow(clippy::too_many_arguments)]
fn upsert_replicaset(
    st: &mut State,
    deploy: &Object,
    ns: &str,
    rs_name: &str,
    hash: &str,
    template: &Value,
    owner: &Value,
    replicas: i64,
    available: i64,
) {
    let mut template = template.clone();
    if let Some(t) = template.as_object_mut() {
        let meta = crate::object::ensure_map(t.entry("metadata").or_insert_with(|| json!({})));
        let labels = crate::object::ensure_map(meta.entry("labels").or_insert_with(|| json!({})));
        labels.insert("pod-template-hash".into(), json!(hash));
    }
    let labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut selector = deploy
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(sel) = selector.as_object_mut() {
        let ml = crate::object::ensure_map(sel.entry("matchLabels").or_insert_with(|| json!({})));
        ml.insert("pod-template-hash".into(), json!(hash));
    }
    let desired_replicas = int_at(deploy, "/spec/replicas").unwrap_or(1).max(0);
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": ns,
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/desired-replicas": desired_replicas.to_string()},
            "ownerReferences": owner,
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    });
    let Ok(rs) = Object::from_value(rs) else {
        return;
    };
    let Ok(applied) = st.apply(&rs, &ApplyOptions::default()) else {
        return;
    };
    let mut status = Map::new();
    put_count(&mut status, "replicas", replicas);
    put_count(&mut status, "fullyLabeledReplicas", replicas);
    put_count(&mut status, "readyReplicas", available);
    put_count(&mut status, "availableReplicas", available);
    status.insert("observedGeneration".into(), json!(applied.object.generation()));
    st.write_status(&applied.object.object_ref(), Value::Object(status));
}

/// Sets an owned ReplicaSet's replicas and status, if it exists.
fn scale_replicaset(st: &mut State, key: &ObjectRef, replicas: i64, available: i64) {
    let Some(mut rs) = st.objects.get(key).cloned() else {
        return;
    };
    if int_at(&rs, "/spec/replicas") != Some(replicas) {
        if let Some(spec) = rs.as_map_mut().get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        match st.apply(&rs, &ApplyOptions::default()) {
            Ok(applied) => rs = applied.object,
            Err(_) => return,
        }
    }
    let mut status = Map::new();
    put_count(&mut status, "replicas", replicas);
    put_count(&mut status, "fullyLabeledReplicas", replicas);
    put_count(&mut status, "readyReplicas", available);
    put_count(&mut status, "availableReplicas", available);
    status.insert("observedGeneration".into(), json!(rs.generation()));
    st.write_status(key, Value::Object(status));
}

fn replicaset(st: &mut State, obj: &Object, _sim: &mut SimState) {
    // ReplicaSets a Deployment controls are driven by the Deployment controller.
    let controlled_by_deployment = obj
        .metadata()
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("kind").and_then(Value::as_str) == Some("Deployment")
                    && r.get("controller").and_then(Value::as_bool) == Some(true)
                    && r.get("uid")
                        .and_then(Value::as_str)
                        .is_some_and(|u| st.uids.contains_key(u))
            })
        });
    if controlled_by_deployment {
        return;
    }
    let replicas = int_at(obj, "/spec/replicas").unwrap_or(1).max(0);
    let available = if fails(obj) { 0 } else { replicas };
    let mut status = Map::new();
    put_count(&mut status, "replicas", replicas);
    put_count(&mut status, "fullyLabeledReplicas", replicas);
    put_count(&mut status, "readyReplicas", available);
    put_count(&mut status, "availableReplicas", available);
    status.insert("observedGeneration".into(), json!(obj.generation()));
    st.write_status(&obj.object_ref(), Value::Object(status));
}

fn statefulset(st: &mut State, obj: &Object, sim: &mut SimState) {
    let replicas = int_at(obj, "/spec/replicas").unwrap_or(1).max(0);
    let template = obj
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let revision = format!("{}-{}", obj.name(), template_hash(&template));
    let t = advance(sim, &revision, replicas, false);
    let first = sim.previous_revision.is_empty();
    let fail = fails(obj);
    let updated = t.min(replicas);
    let ready = if fail {
        0
    } else if first {
        updated
    } else {
        replicas
    };
    let done = updated >= replicas;
    let current_revision = if done || first {
        revision.clone()
    } else {
        sim.previous_revision.clone()
    };
    let current = if current_revision == revision {
        updated
    } else {
        (replicas - updated).max(0)
    };
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(obj.generation()));
    status.insert("replicas".into(), json!(if first { updated } else { replicas }));
    put_count(&mut status, "readyReplicas", ready);
    put_count(&mut status, "availableReplicas", ready);
    put_count(&mut status, "currentReplicas", current);
    put_count(&mut status, "updatedReplicas", updated);
    status.insert("currentRevision".into(), json!(current_revision));
    status.insert("updateRevision".into(), json!(revision));
    status.insert("collisionCount".into(), json!(0));
    st.write_status(&obj.object_ref(), Value::Object(status));
}

fn daemonset(st: &mut State, obj: &Object, sim: &mut SimState) {
    let template = obj
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let t = advance(sim, &template_hash(&template), 1, false);
    let ready = if t >= 2 && !fails(obj) { 1 } else { 0 };
    let updated = if t >= 2 { 1 } else { 0 };
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(obj.generation()));
    status.insert("desiredNumberScheduled".into(), json!(1));
    status.insert("currentNumberScheduled".into(), json!(1));
    status.insert("numberMisscheduled".into(), json!(0));
    status.insert("numberReady".into(), json!(ready));
    put_count(&mut status, "updatedNumberScheduled", updated);
    put_count(&mut status, "numberAvailable", ready);
    put_count(&mut status, "numberUnavailable", 1 - ready);
    st.write_status(&obj.object_ref(), Value::Object(status));
}

fn job(st: &mut State, obj: &Object, sim: &mut SimState) {
    let now = rfc3339(st.clock);
    let suspended = obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    let t = advance(sim, "job", 1, suspended);
    if t == 0 {
        return;
    }
    let prev = obj.status();
    let prev_str = |field: &str| {
        prev.and_then(|s| s.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let start = prev_str("startTime").unwrap_or_else(|| now.clone());
    let mut status = Map::new();
    status.insert("startTime".into(), json!(start));
    let finished = u64::try_from(t).unwrap_or(u64::MAX) >= duration(obj);
    if !finished {
        status.insert("active".into(), json!(1));
        status.insert("ready".into(), json!(1));
    } else if fails(obj) {
        let msg = "Job has reached the specified backoff limit";
        status.insert("failed".into(), json!(1));
        status.insert("ready".into(), json!(0));
        status.insert(
            "conditions".into(),
            json!([
                condition(
                    prev,
                    "FailureTarget",
                    "True",
                    "BackoffLimitExceeded",
                    msg,
                    &now,
                    false
                ),
                condition(prev, "Failed", "True", "BackoffLimitExceeded", msg, &now, false),
            ]),
        );
    } else {
        let completions = int_at(obj, "/spec/completions").unwrap_or(1).max(1);
        let msg = "Reached expected number of succeeded pods";
        status.insert("succeeded".into(), json!(completions));
        status.insert("ready".into(), json!(0));
        status.insert(
            "completionTime".into(),
            json!(prev_str("completionTime").unwrap_or_else(|| now.clone())),
        );
        status.insert(
            "conditions".into(),
            json!([
                condition(
                    prev,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    msg,
                    &now,
                    false
                ),
                condition(prev, "Complete", "True", "CompletionsReached", msg, &now, false),
            ]),
        );
    }
    st.write_status(&obj.object_ref(), Value::Object(status));
}

fn pod(st: &mut State, obj: &Object, sim: &mut SimState) {
    let now = rfc3339(st.clock);
    let t = sim.age;
    let prev = obj.status();
    let start = prev
        .and_then(|s| s.get("startTime"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| now.clone());
    let restart = obj
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    let fail = fails(obj);
    let terminates = restart != "Always";
    let finished = terminates && t >= duration(obj);
    let crash_looping = fail && !terminates;
    let (phase, ready) = match (finished, fail) {
        (true, true) => ("Failed", false),
        (true, false) => ("Succeeded", false),
        (false, _) => ("Running", !crash_looping),
    };
    let restarts = if crash_looping {
        t.saturating_sub(1).min(5)
    } else {
        0
    };
    let containers: Vec<Value> = obj
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let state = if finished {
                        let (code, reason) = if fail { (1, "Error") } else { (0, "Completed") };
                        json!({"terminated": {"exitCode": code, "reason": reason,
                                              "startedAt": start, "finishedAt": now}})
                    } else if crash_looping {
                        json!({"waiting": {"reason": "CrashLoopBackOff",
                                           "message": "back-off restarting failed container"}})
                    } else {
                        json!({"running": {"startedAt": start}})
                    };
                    json!({
                        "name": c.get("name").cloned().unwrap_or(Value::Null),
                        "image": c.get("image").cloned().unwrap_or(Value::Null),
                        "ready": ready,
                        "started": !finished && !crash_looping,
                        "restartCount": restarts,
                        "state": state,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let not_ready_reason = if finished {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let cond = |type_: &str, ok: bool| {
        if ok {
            condition(prev, type_, "True", "", "", &now, false)
        } else {
            condition(prev, type_, "False", not_ready_reason, "", &now, false)
        }
    };
    let conditions = json!([
        cond("Initialized", true),
        cond("Ready", ready),
        cond("ContainersReady", ready),
        cond("PodScheduled", true),
    ]);
    // Finished pods keep the status they finished with (so the finishedAt time does not move).
    if finished && prev.and_then(|s| s.get("phase")).and_then(Value::as_str) == Some(phase) {
        return;
    }
    let status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.10",
        "startTime": start,
        "containerStatuses": containers,
        "qosClass": "BestEffort",
    });
    st.write_status(&obj.object_ref(), status);
}

fn pvc(st: &mut State, obj: &Object, _sim: &mut SimState) {
    let mut status = Map::new();
    status.insert("phase".into(), json!("Bound"));
    if let Some(modes) = obj.pointer("/spec/accessModes") {
        status.insert("accessModes".into(), modes.clone());
    }
    if let Some(storage) = obj.pointer("/spec/resources/requests/storage") {
        status.insert("capacity".into(), json!({"storage": storage}));
    }
    st.write_status(&obj.object_ref(), Value::Object(status));
}

fn service(st: &mut State, obj: &Object, _sim: &mut SimState) {
    if obj.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer") {
        return;
    }
    st.write_status(
        &obj.object_ref(),
        json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}),
    );
}

fn ingress(st: &mut State, obj: &Object, _sim: &mut SimState) {
    st.write_status(
        &obj.object_ref(),
        json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}),
    );
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use serde_json::json;

    use super::*;
    use crate::engine::{ClusterBackend, DeleteOptions, ListQuery, Propagation};
    use crate::testing::MemoryCluster;

    fn apply(c: &MemoryCluster, v: Value) -> Object {
        block_on(c.apply(&Object::from_value(v).unwrap(), &ApplyOptions::default()))
            .unwrap()
            .object
    }

    fn get(c: &MemoryCluster, o: &Object) -> Object {
        c.object(&o.object_ref()).unwrap()
    }

    fn int(o: &Object, ptr: &str) -> i64 {
        o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
    }

    fn cond<'a>(o: &'a Object, type_: &str) -> Option<&'a Value> {
        o.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": image}]}},
            },
        })
    }

    fn replicasets(c: &MemoryCluster) -> Vec<Object> {
        block_on(c.list(&ListQuery::all().kind(crate::GroupKind::new("apps", "ReplicaSet")))).unwrap()
    }

    fn rolled_out(d: &Object) -> bool {
        let replicas = int(d, "/spec/replicas");
        int(d, "/status/observedGeneration") == d.generation()
            && int(d, "/status/updatedReplicas") == replicas
            && int(d, "/status/availableReplicas") == replicas
            && int(d, "/status/replicas") == replicas
    }

    #[test]
    fn deployment_rolls_out_over_ticks() {
        let c = MemoryCluster::new();
        let d = apply(&c, deployment(8, "nginx:1"));
        assert!(d.status().is_none());
        c.tick();
        let d1 = get(&c, &d);
        assert_eq!(int(&d1, "/status/observedGeneration"), 1);
        assert_eq!(int(&d1, "/status/updatedReplicas"), 2, "25% of 8 per tick");
        assert_eq!(int(&d1, "/status/availableReplicas"), 0);
        assert_eq!(cond(&d1, "Progressing").unwrap()["reason"], "ReplicaSetUpdated");
        assert_eq!(cond(&d1, "Available").unwrap()["status"], "False");
        let rs = replicasets(&c);
        assert_eq!(rs.len(), 1);
        assert!(rs[0].name().starts_with("web-") && rs[0].name().len() == "web-".len() + 10);
        assert_eq!(rs[0].owner_uids(), vec![d.uid().unwrap()]);
        assert_eq!(
            rs[0].label("pod-template-hash"),
            Some(&rs[0].name()["web-".len()..])
        );

        c.tick();
        let d2 = get(&c, &d);
        assert_eq!(int(&d2, "/status/updatedReplicas"), 4);
        assert_eq!(
            int(&d2, "/status/availableReplicas"),
            2,
            "available follows one tick later"
        );
        let mut ticks = 2;
        while !rolled_out(&get(&c, &d)) {
            c.tick();
            ticks += 1;
            assert!(ticks < 20, "never rolled out: {:?}", get(&c, &d).status());
        }
        assert_eq!(ticks, 5);
        let done = get(&c, &d);
        assert_eq!(
            cond(&done, "Available").unwrap()["reason"],
            "MinimumReplicasAvailable"
        );
        assert_eq!(
            cond(&done, "Progressing").unwrap()["reason"],
            "NewReplicaSetAvailable"
        );
        let rv = done.resource_version().map(str::to_owned);
        c.tick_n(3);
        assert_eq!(
            get(&c, &d).resource_version().map(str::to_owned),
            rv,
            "a settled deployment is quiet"
        );

        // New template: a second ReplicaSet, the old one scaled down once the new one is available.
        let d = apply(&c, deployment(8, "nginx:2"));
        assert_eq!(d.generation(), 2);
        c.tick();
        let mid = get(&c, &d);
        assert_eq!(int(&mid, "/status/observedGeneration"), 2);
        assert!(int(&mid, "/status/replicas") > int(&mid, "/status/updatedReplicas"));
        assert_eq!(replicasets(&c).len(), 2);
        c.tick_n(5);
        let after = get(&c, &d);
        assert!(rolled_out(&after), "{:?}", after.status());
        let rs = replicasets(&c);
        let replicas: Vec<i64> = rs.iter().map(|r| int(r, "/spec/replicas")).collect();
        assert!(replicas.contains(&0) && replicas.contains(&8), "{replicas:?}");

        // Scaling only bumps the generation; the ReplicaSet follows.
        let d = apply(&c, deployment(3, "nginx:2"));
        c.tick_n(2);
        assert!(rolled_out(&get(&c, &d)));
        assert_eq!(replicasets(&c).len(), 2);

        // Background deletion takes the ReplicaSets along.
        let bg = DeleteOptions::default().propagation(Propagation::Background);
        block_on(c.delete(&d.object_ref(), &bg)).unwrap();
        assert!(replicasets(&c).is_empty());
    }

    #[test]
    fn paused_and_failing_deployments() {
        let c = MemoryCluster::new();
        let mut v = deployment(2, "nginx:1");
        v["spec"]["paused"] = json!(true);
        let d = apply(&c, v);
        c.tick_n(3);
        let p = get(&c, &d);
        assert_eq!(int(&p, "/status/observedGeneration"), 1);
        assert_eq!(int(&p, "/status/updatedReplicas"), 0);
        assert_eq!(cond(&p, "Progressing").unwrap()["reason"], "DeploymentPaused");

        let c = MemoryCluster::new();
        let mut v = deployment(2, "nginx:1");
        v["spec"]["template"]["metadata"]["annotations"] = json!({FAIL_ANNOTATION: "true"});
        let d = apply(&c, v);
        c.tick_n(2);
        let f = get(&c, &d);
        assert_eq!(cond(&f, "Progressing").unwrap()["status"], "True");
        c.tick();
        let f = get(&c, &d);
        assert_eq!(int(&f, "/status/availableReplicas"), 0);
        let p = cond(&f, "Progressing").unwrap();
        assert_eq!(p["status"], "False");
        assert_eq!(p["reason"], "ProgressDeadlineExceeded");
        c.tick_n(10);
        assert_eq!(int(&get(&c, &d), "/status/availableReplicas"), 0);
    }

    fn job(annotations: Value) -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate", "namespace": "default", "annotations": annotations},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "m", "image": "busybox"}]}}},
        })
    }

    #[test]
    fn job_succeeds_after_two_ticks() {
        let c = MemoryCluster::new();
        let j = apply(&c, job(json!({})));
        c.tick();
        let running = get(&c, &j);
        assert_eq!(int(&running, "/status/active"), 1);
        assert!(running.pointer("/status/startTime").is_some());
        assert!(cond(&running, "Complete").is_none());
        c.tick();
        let done = get(&c, &j);
        assert_eq!(int(&done, "/status/succeeded"), 1);
        assert_eq!(cond(&done, "Complete").unwrap()["status"], "True");
        assert_eq!(cond(&done, "SuccessCriteriaMet").unwrap()["status"], "True");
        assert_eq!(
            done.pointer("/status/completionTime"),
            Some(&json!("2026-01-01T00:00:02Z"))
        );
        assert_eq!(
            done.pointer("/status/startTime"),
            Some(&json!("2026-01-01T00:00:01Z"))
        );
        let rv = done.resource_version().map(str::to_owned);
        c.tick_n(3);
        assert_eq!(get(&c, &j).resource_version().map(str::to_owned), rv);
    }

    #[test]
    fn job_fails_with_the_annotation_and_honours_duration() {
        let c = MemoryCluster::new();
        let j = apply(
            &c,
            job(json!({FAIL_ANNOTATION: "true", DURATION_ANNOTATION: "4"})),
        );
        c.tick_n(3);
        assert!(cond(&get(&c, &j), "Failed").is_none());
        c.tick();
        let failed = get(&c, &j);
        let f = cond(&failed, "Failed").unwrap();
        assert_eq!(f["status"], "True");
        assert_eq!(f["reason"], "BackoffLimitExceeded");
        assert_eq!(f["message"], "Job has reached the specified backoff limit");
        assert!(cond(&failed, "Complete").is_none());
        assert_eq!(int(&failed, "/status/failed"), 1);
    }

    #[test]
    fn pods_run_and_complete() {
        let c = MemoryCluster::new();
        let pod = |name: &str, restart: &str, fail: bool| {
            let ann = if fail {
                json!({FAIL_ANNOTATION: "true"})
            } else {
                json!({})
            };
            apply(
                &c,
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "default", "annotations": ann},
                    "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]},
                }),
            )
        };
        let server = pod("server", "Always", false);
        let task = pod("task", "Never", false);
        let broken = pod("broken", "OnFailure", true);
        let crashing = pod("crashing", "Always", true);
        assert_eq!(server.pointer("/status/phase"), Some(&json!("Pending")));
        c.tick();
        let s = get(&c, &server);
        assert_eq!(s.pointer("/status/phase"), Some(&json!("Running")));
        assert_eq!(cond(&s, "Ready").unwrap()["status"], "True");
        assert_eq!(s.pointer("/status/containerStatuses/0/ready"), Some(&json!(true)));
        assert_eq!(get(&c, &task).pointer("/status/phase"), Some(&json!("Running")));
        c.tick();
        assert_eq!(get(&c, &task).pointer("/status/phase"), Some(&json!("Succeeded")));
        assert_eq!(get(&c, &broken).pointer("/status/phase"), Some(&json!("Failed")));
        assert_eq!(get(&c, &server).pointer("/status/phase"), Some(&json!("Running")));
        let cr = get(&c, &crashing);
        assert_eq!(
            cr.pointer("/status/containerStatuses/0/state/waiting/reason"),
            Some(&json!("CrashLoopBackOff"))
        );
        let done_rv = get(&c, &task).resource_version().map(str::to_owned);
        c.tick_n(2);
        assert_eq!(get(&c, &task).resource_version().map(str::to_owned), done_rv);
    }

    #[test]
    fn statefulset_daemonset_replicaset_and_simple_kinds() {
        let c = MemoryCluster::new();
        let sts = apply(
            &c,
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db", "namespace": "default"},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "db"}}}},
            }),
        );
        let ds = apply(
            &c,
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "agent", "namespace": "default"},
                "spec": {"template": {"metadata": {"labels": {"app": "agent"}}}},
            }),
        );
        let rs = apply(
            &c,
            json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": "bare", "namespace": "default"}, "spec": {"replicas": 2},
            }),
        );
        let pvc = apply(
            &c,
            json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "default"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }),
        );
        let svc = apply(
            &c,
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "lb", "namespace": "default"}, "spec": {"type": "LoadBalancer"},
            }),
        );
        let ing = apply(
            &c,
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "default"}, "spec": {},
            }),
        );
        let ns = c
            .object(&ObjectRef::new("", "Namespace", None, "default"))
            .unwrap();
        assert_eq!(ns.pointer("/status/phase"), Some(&json!("Active")));

        c.tick();
        let s = get(&c, &sts);
        assert_eq!(int(&s, "/status/readyReplicas"), 1);
        assert_eq!(int(&s, "/status/observedGeneration"), 1);
        let d = get(&c, &ds);
        assert_eq!(int(&d, "/status/desiredNumberScheduled"), 1);
        assert_eq!(int(&d, "/status/numberReady"), 0);
        assert_eq!(int(&get(&c, &rs), "/status/readyReplicas"), 2);
        assert_eq!(get(&c, &pvc).pointer("/status/phase"), Some(&json!("Bound")));
        assert_eq!(
            get(&c, &pvc).pointer("/status/capacity/storage"),
            Some(&json!("1Gi"))
        );
        for o in [&svc, &ing] {
            assert_eq!(
                get(&c, o).pointer("/status/loadBalancer/ingress/0/ip"),
                Some(&json!("127.0.0.1"))
            );
        }
        c.tick();
        let d = get(&c, &ds);
        assert_eq!(int(&d, "/status/numberReady"), 1);
        assert_eq!(int(&d, "/status/updatedNumberScheduled"), 1);
        assert_eq!(int(&d, "/status/numberAvailable"), 1);
        c.tick();
        let s = get(&c, &sts);
        assert_eq!(int(&s, "/status/readyReplicas"), 3);
        assert_eq!(int(&s, "/status/updatedReplicas"), 3);
        assert_eq!(
            s.pointer("/status/currentRevision"),
            s.pointer("/status/updateRevision")
        );

        // A template change rolls one replica per tick with distinct revisions meanwhile.
        apply(
            &c,
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db", "namespace": "default"},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "db", "v": "2"}}}},
            }),
        );
        c.tick();
        let s = get(&c, &sts);
        assert_eq!(int(&s, "/status/updatedReplicas"), 1);
        assert_ne!(
            s.pointer("/status/currentRevision"),
            s.pointer("/status/updateRevision")
        );
        c.tick_n(2);
        let s = get(&c, &sts);
        assert_eq!(int(&s, "/status/observedGeneration"), 2);
        assert_eq!(
            s.pointer("/status/currentRevision"),
            s.pointer("/status/updateRevision")
        );
    }

    #[test]
    fn template_hash_ignores_key_order() {
        let a = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {}});
        let b = json!({"spec": {}, "metadata": {"labels": {"b": "2", "a": "1"}}});
        assert_eq!(template_hash(&a), template_hash(&b));
        assert_ne!(template_hash(&a), template_hash(&json!({})));
        assert_eq!(template_hash(&a).len(), 10);
    }
}
