//! Executing a sync operation as a resumable state machine.
//!
//! [`Syncer::step`] advances an operation by at most one (phase, wave), reading and writing only
//! the [`OperationState`] it is given (per-resource results with their task phases), so a fresh
//! engine handed a persisted state resumes where the last one stopped without re-running
//! finished hooks. [`Syncer::run`] drives steps to the end, waiting between them, persisting the
//! state through an [`OperationSink`] after every step, and retrying a failed operation as
//! `spec.syncPolicy.retry` says.
//!
//! One step, following Argo CD's gitops-engine (spec/sync.md §2.3):
//! 1. plan from the current comparison; on the first step dry-run every apply (nothing changes if
//!    one fails);
//! 2. refresh running tasks from their live objects: hooks complete through health, resources
//!    when healthy (or without a health check) **and** their status has observed the current
//!    generation; a hook whose object vanished fails;
//! 3. wait while a hook runs, or (in a multi-step plan) while any task runs;
//! 4. on a failed task: run SyncFail hooks, delete HookFailed hooks, fail;
//! 5. with nothing pending: delete HookSucceeded hooks, succeed;
//! 6. otherwise run the first pending (phase, wave): prunes first, then BeforeHookCreation
//!    deletions, then applies; reconcile child Applications created in that wave.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::engine::{
    ApplyOptions, ApplyOutcome, BoxFuture, ClusterBackend, DeleteOptions, EngineError, ErrorKind, HealthCode,
    Propagation,
};
use crate::health::{HOOK_FINALIZER, resource_health};
use crate::model::{
    Application, Operation, OperationInitiator, OperationPhase, OperationState, ResourceResult, ResultCode,
    RetryStrategy, SyncOperation, SyncOperationResult, SyncPhase, SyncStatusCode, is_application,
    parse_duration,
};
use crate::object::{GroupKind, Object, ObjectRef};

use super::plan::{self, DeletePolicy, SyncPlan, Task, TaskAction, delete_policies};
use super::{Change, ChildApps, Comparison, SyncError, SyncEvent, SyncOptions, SyncResult, Syncer};

/// Annotation on an Application approving pending prunes/deletions (an RFC 3339 time).
pub const DELETION_APPROVED_ANNOTATION: &str = "argocd.argoproj.io/deletion-approved";

/// What one [`Syncer::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepOutcome {
    /// Tasks ran; call `step` again at once.
    Progress,
    /// Nothing can advance until the cluster changes (a hook or resource is running, a deletion
    /// is pending); wait, then call `step` again.
    Waiting(String),
    /// The operation reached a final phase.
    Done,
}

/// Receives the operation state after every step (to persist it, e.g. in `status.operationState`).
pub trait OperationSink: Send + Sync {
    /// Stores the state; errors are reported by the sink itself and do not stop the sync.
    fn save<'a>(&'a self, state: &'a OperationState) -> BoxFuture<'a, ()>;
}

fn result_key(group: &str, kind: &str, ns: &str, name: &str, phase: Option<SyncPhase>) -> String {
    format!(
        "{group}/{kind}/{ns}/{name}:{}",
        phase.map(|p| p.as_str()).unwrap_or("")
    )
}

fn task_key(t: &Task) -> String {
    result_key(
        t.object.group(),
        t.object.kind(),
        t.object.namespace().unwrap_or(""),
        t.object.name(),
        Some(t.phase),
    )
}

fn res_key(r: &ResourceResult) -> String {
    result_key(&r.group, &r.kind, &r.namespace, &r.name, r.sync_phase)
}

/// The keys ([`res_key`]) of the resources the operation has already recorded a result for.
fn done_keys(state: &OperationState) -> BTreeSet<String> {
    state
        .sync_result
        .iter()
        .flat_map(|s| &s.resources)
        .map(res_key)
        .collect()
}

pub(super) fn kubectl_name(o: &ObjectRef) -> String {
    let kind = o.kind.to_lowercase();
    if o.group.is_empty() {
        format!("{kind}/{}", o.name)
    } else {
        format!("{kind}.{}/{}", o.group, o.name)
    }
}

fn new_result(t: &Task, status: ResultCode, message: String, phase: OperationPhase) -> ResourceResult {
    ResourceResult {
        group: t.object.group().to_owned(),
        version: t.object.version().to_owned(),
        kind: t.object.kind().to_owned(),
        namespace: t.object.namespace().unwrap_or("").to_owned(),
        name: t.object.name().to_owned(),
        status,
        message,
        hook_type: t.hook.then_some(t.phase),
        hook_phase: Some(phase),
        sync_phase: Some(t.phase),
        images: Vec::new(),
    }
}

/// The first-step marker kept in `operationState.message` until the dry run is done.
const DRY_RUN_PENDING: &str = "dry run pending";

impl Syncer {
    /// A new operation state for syncing `app` at `opts.revision`.
    pub fn new_operation(&self, app: &Application, opts: &SyncOptions) -> OperationState {
        OperationState {
            operation: Operation {
                sync: Some(SyncOperation {
                    revision: Some(opts.revision.clone()),
                    prune: self.prune_enabled(app, opts),
                    dry_run: opts.dry_run,
                    resources: opts.resources.clone(),
                    sync_options: app.sync_options().to_vec(),
                    auto_heal_attempts_count: opts.heal_attempt,
                    ..Default::default()
                }),
                initiated_by: Some(OperationInitiator {
                    username: (!opts.automated).then(|| "gitops".to_owned()),
                    automated: opts.automated,
                }),
                retry: opts.retry.clone(),
                ..Default::default()
            },
            phase: OperationPhase::Running,
            message: DRY_RUN_PENDING.to_owned(),
            sync_result: Some(SyncOperationResult {
                revision: opts.revision.clone(),
                source: app.spec.source.clone(),
                sources: app.spec.sources.clone(),
                ..Default::default()
            }),
            started_at: Some(self.now()),
            finished_at: None,
            retry_count: None,
        }
    }

    fn prune_enabled(&self, app: &Application, opts: &SyncOptions) -> bool {
        opts.prune.unwrap_or_else(|| {
            app.spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.automated.as_ref())
                .and_then(|a| a.prune)
                == Some(true)
        })
    }

    fn propagation(app: &Application) -> Propagation {
        app.sync_options()
            .iter()
            .find_map(|o| o.strip_prefix("PrunePropagationPolicy="))
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "background" => Propagation::Background,
                "orphan" => Propagation::Orphan,
                _ => Propagation::Foreground,
            })
            .unwrap_or_default()
    }

    /// Builds the plan of an operation from a comparison: CreateNamespace, deterministic hook
    /// names, selective sync.
    pub async fn build_plan(
        &self,
        app: &Application,
        cmp: &Comparison,
        state: &OperationState,
        opts: &SyncOptions,
    ) -> Result<SyncPlan, SyncError> {
        // Selective sync: only the named resources, and no hooks (Argo CD's rule).
        let selected = |o: &Object| {
            opts.resources.is_empty()
                || (!matches!(plan::hook_role(o), plan::HookRole::Hook(_))
                    && opts.resources.iter().any(|r| {
                        r.group == o.group()
                            && r.kind == o.kind()
                            && r.name == o.name()
                            && r.namespace.as_deref().is_none_or(|ns| Some(ns) == o.namespace())
                    }))
        };
        let mut desired: Vec<Object> = cmp.desired.iter().filter(|o| selected(o)).cloned().collect();
        let to_prune: Vec<Object> = cmp.to_prune.iter().filter(|o| selected(o)).cloned().collect();
        let dest_ns = app.spec.destination.namespace().to_owned();
        if app.has_sync_option("CreateNamespace", "true")
            && !dest_ns.is_empty()
            && !desired
                .iter()
                .any(|o| o.group().is_empty() && o.kind() == "Namespace" && o.name() == dest_ns)
        {
            let ns_ref = ObjectRef::new("", "Namespace", None, dest_ns.clone());
            let existing = self.retry_call(|| self.backend.try_get(&ns_ref)).await?;
            let mut ns = existing.unwrap_or_else(|| Object::new("v1", "Namespace", None, &dest_ns));
            if let Some(m) = app
                .spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.managed_namespace_metadata.as_ref())
            {
                for (k, v) in &m.labels {
                    ns.set_label(k, v);
                }
                for (k, v) in &m.annotations {
                    ns.set_annotation(k, v);
                }
            }
            let managed = app
                .spec
                .sync_policy
                .as_ref()
                .is_some_and(|p| p.managed_namespace_metadata.is_some());
            // Not tracked, so never pruned (as in Argo CD). Created when missing; with
            // managedNamespaceMetadata also kept in line when it exists.
            if ns.uid().is_none() || managed {
                let clean = Object::from_value(serde_json::json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {
                        "name": dest_ns,
                        "labels": ns.as_value().pointer("/metadata/labels").cloned().unwrap_or(serde_json::Value::Null),
                        "annotations": ns.as_value().pointer("/metadata/annotations").cloned().unwrap_or(serde_json::Value::Null),
                    }
                }))
                .map_err(|e| SyncError::InvalidObject { object: ns_ref.clone(), message: e.to_string() })?;
                desired.insert(0, clean);
            }
        }
        let prune_last = app.has_sync_option("PruneLast", "true");
        let mut plan = plan::plan_owned(desired, to_prune, prune_last);
        let started_unix = state
            .started_at
            .as_deref()
            .and_then(crate::time::parse_rfc3339)
            .unwrap_or(0);
        let rev = &opts.revision;
        let rev_part = if rev.len() >= 8 { &rev[..7] } else { rev.as_str() };
        for w in &mut plan.waves {
            for t in &mut w.tasks {
                if t.hook && t.object.name().is_empty() {
                    let prefix = t.object.generate_name().unwrap_or("hook-").to_owned();
                    let n = format!(
                        "{prefix}{}",
                        format!("{rev_part}-{}-{started_unix}", t.phase).to_lowercase()
                    );
                    t.object.set_name(&n);
                }
            }
        }
        Ok(plan)
    }

    /// Retries a backend call on retryable errors (up to 5 attempts, waiting one step between).
    pub(super) async fn retry_call<'a, T, F, Fut>(&'a self, mut f: F) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, EngineError>> + 'a,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Err(e) if e.is_retryable() && attempt < 5 => {
                    attempt += 1;
                    self.waiter.wait().await;
                }
                other => return other,
            }
        }
    }

    /// Advances an operation by at most one (phase, wave). See the module docs.
    pub async fn step(
        &self,
        app: &Application,
        cmp: &Comparison,
        state: &mut OperationState,
        opts: &SyncOptions,
        children: Option<&dyn ChildApps>,
        changes: &mut Vec<Change>,
    ) -> Result<StepOutcome, SyncError> {
        if state.phase.is_completed() {
            return Ok(StepOutcome::Done);
        }
        let name = app.metadata.name.clone();
        let plan = self.build_plan(app, cmp, state, opts).await?;
        let propagation = Self::propagation(app);
        let prune_enabled = self.prune_enabled(app, opts);

        if state.message == DRY_RUN_PENDING {
            if app.has_sync_option("FailOnSharedResource", "true") && !cmp.shared.is_empty() {
                let names: Vec<String> = cmp
                    .shared
                    .iter()
                    .map(|(o, other)| format!("{o} (tracked by {other})"))
                    .collect();
                return Ok(self.fail(state, format!("Shared resource found: {}", names.join(", "))));
            }
            let failures = self.dry_run_plan(app, &plan).await;
            if !failures.is_empty() {
                let mut msgs = Vec::new();
                let results = &mut state.sync_result.get_or_insert_with(Default::default).resources;
                for (t, e) in &failures {
                    msgs.push(format!("{}: {e}", t.object.object_ref()));
                    results.push(new_result(
                        t,
                        ResultCode::SyncFailed,
                        e.to_string(),
                        OperationPhase::Failed,
                    ));
                }
                return Ok(self.fail(
                    state,
                    format!(
                        "one or more objects failed to apply (dry run): {}",
                        msgs.join("; ")
                    ),
                ));
            }
            if opts.dry_run {
                let results = &mut state.sync_result.get_or_insert_with(Default::default).resources;
                for t in plan.tasks().filter(|t| t.phase != SyncPhase::SyncFail) {
                    let (code, msg) = match t.action {
                        TaskAction::Apply => (
                            ResultCode::Synced,
                            format!("{} configured (dry run)", kubectl_name(&t.object_ref())),
                        ),
                        TaskAction::Prune if prune_enabled => {
                            (ResultCode::Pruned, "pruned (dry run)".to_owned())
                        }
                        TaskAction::Prune => {
                            (ResultCode::PruneSkipped, "ignored (requires pruning)".to_owned())
                        }
                    };
                    results.push(new_result(t, code, msg, OperationPhase::Succeeded));
                }
                state.phase = OperationPhase::Succeeded;
                state.message = "successfully synced (dry run)".to_owned();
                state.finished_at = Some(self.now());
                return Ok(StepOutcome::Done);
            }
            state.message = "syncing".to_owned();
        }

        // Refresh running tasks from the cluster.
        let mut running: Vec<String> = Vec::new();
        let mut hook_running = false;
        for t in plan.tasks() {
            let key = task_key(t);
            let Some(idx) = state
                .sync_result
                .as_ref()
                .and_then(|s| s.resources.iter().position(|r| res_key(r) == key))
            else {
                continue;
            };
            let is_running = state
                .sync_result
                .as_ref()
                .and_then(|s| s.resources.get(idx))
                .is_some_and(|r| r.hook_phase == Some(OperationPhase::Running));
            if !is_running {
                continue;
            }
            let (phase, message) = self.task_phase(t).await;
            if t.hook && phase != OperationPhase::Running {
                self.remove_hook_finalizer(&t.object_ref()).await;
            }
            if let Some(r) = state.sync_result.as_mut().and_then(|s| s.resources.get_mut(idx)) {
                r.hook_phase = Some(phase);
                if phase == OperationPhase::Failed {
                    r.status = if t.hook { r.status } else { ResultCode::SyncFailed };
                    r.message = message.clone();
                } else if phase == OperationPhase::Succeeded && t.hook && !message.is_empty() {
                    r.message = message.clone();
                }
            }
            if phase == OperationPhase::Running {
                hook_running |= t.hook;
                running.push(if message.is_empty() {
                    t.object.object_ref().to_string()
                } else {
                    format!("{} ({message})", t.object.object_ref())
                });
            }
        }
        if hook_running || (plan.is_multi_step() && !running.is_empty()) {
            return Ok(StepOutcome::Waiting(running.join(", ")));
        }
        // Pruned objects must be gone before we move past them.
        let mut deleting = Vec::new();
        for r in state
            .sync_result
            .iter()
            .flat_map(|s| &s.resources)
            .filter(|r| r.status == ResultCode::Pruned)
        {
            let oref = ObjectRef::new(&r.group, &r.kind, Some(&r.namespace), &r.name);
            if let Ok(Some(live)) = self.retry_call(|| self.backend.try_get(&oref)).await
                && live.deletion_timestamp().is_some()
            {
                deleting.push(oref.to_string());
            }
        }
        if !deleting.is_empty() {
            return Ok(StepOutcome::Waiting(format!(
                "deletion of {}",
                deleting.join(", ")
            )));
        }

        let failed: Vec<String> = state
            .sync_result
            .iter()
            .flat_map(|s| &s.resources)
            .filter(|r| {
                r.hook_phase == Some(OperationPhase::Failed) && r.sync_phase != Some(SyncPhase::SyncFail)
            })
            .map(|r| {
                let o = ObjectRef::new(&r.group, &r.kind, Some(&r.namespace), &r.name);
                if r.message.is_empty() {
                    o.to_string()
                } else {
                    format!("{o}: {}", r.message)
                }
            })
            .collect();
        if !failed.is_empty() {
            return self
                .sync_fail_path(app, &plan, state, failed, propagation, changes)
                .await;
        }

        let apply_out_of_sync_only = app.has_sync_option("ApplyOutOfSyncOnly", "true");
        let done = done_keys(state);
        let pending: Vec<&Task> = plan
            .tasks()
            .filter(|t| t.phase != SyncPhase::SyncFail && !done.contains(&task_key(t)))
            .filter(|t| {
                !(apply_out_of_sync_only
                    && t.action == TaskAction::Apply
                    && !t.hook
                    && cmp.status_of(&t.object_ref()) == Some(SyncStatusCode::Synced))
            })
            .collect();
        let Some(first) = pending.first() else {
            self.delete_hooks(&plan, state, DeletePolicy::HookSucceeded, propagation, changes)
                .await;
            state.phase = OperationPhase::Succeeded;
            state.message = "successfully synced (all tasks run)".to_owned();
            state.finished_at = Some(self.now());
            return Ok(StepOutcome::Done);
        };
        let (phase, wave) = (first.phase, first.wave);
        let batch: Vec<&Task> = pending
            .iter()
            .copied()
            .filter(|t| t.phase == phase && t.wave == wave)
            .collect();
        self.emit(SyncEvent::WaveStarted {
            app: name.clone(),
            phase,
            wave,
            tasks: batch.iter().map(|t| t.to_string()).collect(),
        });

        // Prunes first; Prune=confirm waits for the Application's deletion-approved annotation.
        let needs_confirm: Vec<&&Task> = batch
            .iter()
            .filter(|t| {
                t.action == TaskAction::Prune && prune_enabled && requires_confirmation(app, &t.object)
            })
            .collect();
        if !needs_confirm.is_empty() && !deletion_approved(app, state.started_at.as_deref()) {
            let names: Vec<String> = needs_confirm
                .iter()
                .map(|t| t.object.object_ref().to_string())
                .collect();
            return Ok(StepOutcome::Waiting(format!(
                "pruning confirmation of {}",
                names.join(", ")
            )));
        }
        let mut batch_failed = false;
        let mut applied_apps: Vec<Object> = Vec::new();
        for t in batch.iter().filter(|t| t.action == TaskAction::Prune) {
            let r = self.prune_task(app, t, prune_enabled, propagation, changes).await;
            batch_failed |= r.status == ResultCode::SyncFailed;
            self.record(&name, state, r);
        }
        // BeforeHookCreation: delete hooks left from an earlier sync, and wait until they are gone.
        let mut waiting_deletion = Vec::new();
        let del_opts = DeleteOptions::default().propagation(propagation);
        for t in batch.iter().filter(|t| t.hook && t.action == TaskAction::Apply) {
            if !delete_policies(&t.object).contains(&DeletePolicy::BeforeHookCreation) {
                continue;
            }
            let r = t.object_ref();
            if let Ok(Some(_)) = self.retry_call(|| self.backend.try_get(&r)).await {
                self.remove_hook_finalizer(&r).await;
                match self.retry_call(|| self.backend.delete(&r, &del_opts)).await {
                    Ok(_) => changes.push(Change {
                        object: r.clone(),
                        action: "hook deleted".into(),
                        diff: Vec::new(),
                    }),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => {
                        let res =
                            new_result(t, ResultCode::SyncFailed, e.to_string(), OperationPhase::Failed);
                        state
                            .sync_result
                            .get_or_insert_with(Default::default)
                            .resources
                            .push(res);
                        return Ok(StepOutcome::Progress);
                    }
                }
                if let Ok(Some(_)) = self.retry_call(|| self.backend.try_get(&r)).await {
                    waiting_deletion.push(r.to_string());
                }
            }
        }
        if !waiting_deletion.is_empty() {
            return Ok(StepOutcome::Waiting(format!(
                "deletion of {}",
                waiting_deletion.join(", ")
            )));
        }
        for t in batch.iter().filter(|t| t.action == TaskAction::Apply) {
            let (r, live) = self.apply_task(app, t, cmp, changes).await;
            if let (ResultCode::Synced, Some(live)) = (r.status, &live)
                && is_application(live)
                && !t.hook
            {
                applied_apps.push(live.clone());
            }
            batch_failed |= r.status == ResultCode::SyncFailed;
            self.record(&name, state, r);
        }
        if !batch_failed && let Some(ch) = children {
            for child in &applied_apps {
                if child.object_ref() == app.object_ref() {
                    continue; // an app that manages itself
                }
                let outcome = ch.reconcile_child(child).await;
                let key = result_key(
                    child.group(),
                    child.kind(),
                    child.namespace().unwrap_or(""),
                    child.name(),
                    Some(phase),
                );
                if let Some(r) = state
                    .sync_result
                    .as_mut()
                    .and_then(|s| s.resources.iter_mut().find(|r| res_key(r) == key))
                {
                    match outcome {
                        Ok(()) => r.hook_phase = Some(OperationPhase::Succeeded),
                        Err(e) => {
                            r.status = ResultCode::SyncFailed;
                            r.hook_phase = Some(OperationPhase::Failed);
                            r.message = format!("child application failed: {e}");
                            batch_failed = true;
                        }
                    }
                }
            }
        }
        if batch_failed {
            return Ok(StepOutcome::Progress);
        }
        let remaining = pending.len() - batch.len();
        if remaining == 0 && !batch.iter().any(|t| t.hook) {
            // Nothing left and no hooks in the last batch: the operation ends right after the apply
            // (Argo CD's rule; the last wave is not waited on — final health is awaited separately).
            self.delete_hooks(&plan, state, DeletePolicy::HookSucceeded, propagation, changes)
                .await;
            state.phase = OperationPhase::Succeeded;
            state.message = "successfully synced (all tasks run)".to_owned();
            state.finished_at = Some(self.now());
            return Ok(StepOutcome::Done);
        }
        if remaining > 0 && !opts.wave_delay.is_zero() {
            self.waiter.wait_for(opts.wave_delay).await;
        }
        Ok(StepOutcome::Progress)
    }

    /// Reports a task result and stores it in the operation state.
    fn record(&self, app: &str, state: &mut OperationState, r: ResourceResult) {
        self.emit(SyncEvent::TaskDone {
            app: app.to_owned(),
            result: r.clone(),
        });
        state
            .sync_result
            .get_or_insert_with(Default::default)
            .resources
            .push(r);
    }

    /// Removes the hook finalizer from a live hook, if it has one.
    async fn remove_hook_finalizer(&self, r: &ObjectRef) {
        let Ok(Some(live)) = self.retry_call(|| self.backend.try_get(r)).await else {
            return;
        };
        if !live.finalizers().contains(&HOOK_FINALIZER) {
            return;
        }
        let stripped = remove_finalizer(&live, HOOK_FINALIZER);
        let ao = ApplyOptions::default().field_manager("argocd-controller");
        let _ = self.retry_call(|| self.backend.apply(&stripped, &ao)).await;
    }

    /// Terminates a running operation (Argo CD's `Terminate`): running hooks lose their
    /// finalizer and are deleted, completed hooks lose their finalizer, and the operation ends
    /// `Failed` with "Operation terminated".
    pub async fn terminate(
        &self,
        app: &Application,
        cmp: &Comparison,
        state: &mut OperationState,
        opts: &SyncOptions,
    ) -> Result<(), SyncError> {
        if state.phase.is_completed() {
            return Ok(());
        }
        let plan = self.build_plan(app, cmp, state, opts).await?;
        let del_opts = DeleteOptions::default().propagation(Self::propagation(app));
        for t in plan.tasks().filter(|t| t.hook) {
            let key = task_key(t);
            let Some(r) = state
                .sync_result
                .as_mut()
                .and_then(|s| s.resources.iter_mut().find(|r| res_key(r) == key))
            else {
                continue;
            };
            let oref = t.object_ref();
            self.remove_hook_finalizer(&oref).await;
            let failed_hook = r.hook_phase == Some(OperationPhase::Failed)
                && delete_policies(&t.object).contains(&DeletePolicy::HookFailed);
            if r.hook_phase == Some(OperationPhase::Running) || failed_hook {
                let _ = self.retry_call(|| self.backend.delete(&oref, &del_opts)).await;
                if r.hook_phase == Some(OperationPhase::Running) {
                    r.hook_phase = Some(OperationPhase::Failed);
                    r.message = "Terminated".to_owned();
                }
            }
        }
        self.fail(state, "Operation terminated".to_owned());
        Ok(())
    }

    fn fail(&self, state: &mut OperationState, message: String) -> StepOutcome {
        state.phase = OperationPhase::Failed;
        state.message = message;
        state.finished_at = Some(self.now());
        StepOutcome::Done
    }

    async fn sync_fail_path(
        &self,
        app: &Application,
        plan: &SyncPlan,
        state: &mut OperationState,
        failed: Vec<String>,
        propagation: Propagation,
        changes: &mut Vec<Change>,
    ) -> Result<StepOutcome, SyncError> {
        let done = done_keys(state);
        let not_started: Vec<&Task> = plan
            .tasks()
            .filter(|t| t.phase == SyncPhase::SyncFail && !done.contains(&task_key(t)))
            .collect();
        if !not_started.is_empty() {
            for t in not_started {
                let (r, _) = self.apply_task(app, t, &Comparison::default(), changes).await;
                self.record(&app.metadata.name, state, r);
            }
            return Ok(StepOutcome::Progress);
        }
        let syncfail_running = state.sync_result.iter().flat_map(|s| &s.resources).any(|r| {
            r.sync_phase == Some(SyncPhase::SyncFail) && r.hook_phase == Some(OperationPhase::Running)
        });
        if syncfail_running {
            return Ok(StepOutcome::Waiting("SyncFail hooks".to_owned()));
        }
        self.delete_hooks(plan, state, DeletePolicy::HookFailed, propagation, changes)
            .await;
        let mut message = format!("one or more objects failed to sync: {}", failed.join("; "));
        let syncfail_failed: Vec<String> = state
            .sync_result
            .iter()
            .flat_map(|s| &s.resources)
            .filter(|r| {
                r.sync_phase == Some(SyncPhase::SyncFail) && r.hook_phase == Some(OperationPhase::Failed)
            })
            .map(|r| format!("{}/{}", r.kind, r.name))
            .collect();
        if !syncfail_failed.is_empty() {
            message.push_str(&format!(
                "; SyncFail hooks failed: {}",
                syncfail_failed.join(", ")
            ));
        }
        Ok(self.fail(state, message))
    }

    /// The phase of a started task from its live object (spec/sync.md §1.6 and §2.3 step 3).
    async fn task_phase(&self, t: &Task) -> (OperationPhase, String) {
        let r = t.object_ref();
        let live = match self.retry_call(|| self.backend.try_get(&r)).await {
            Ok(l) => l,
            Err(e) => return (OperationPhase::Running, format!("cluster: {e}")),
        };
        let Some(live) = live else {
            return if t.hook {
                (
                    OperationPhase::Failed,
                    format!("{r} is missing, it might have been deleted"),
                )
            } else {
                (OperationPhase::Running, "missing".to_owned())
            };
        };
        // Fresh status: a controller must have observed the current generation.
        if !t.hook
            && let Some(observed) = live
                .pointer("/status/observedGeneration")
                .and_then(|v| v.as_i64())
            && observed < live.generation()
        {
            return (OperationPhase::Running, "status not yet observed".to_owned());
        }
        match resource_health(self.health.as_ref(), &live) {
            None => (
                OperationPhase::Succeeded,
                if t.hook {
                    format!("{} created", r.name)
                } else {
                    String::new()
                },
            ),
            Some(h) => match h.status {
                HealthCode::Healthy => (OperationPhase::Succeeded, h.message),
                HealthCode::Degraded => (OperationPhase::Failed, h.message),
                HealthCode::Unknown if t.hook => (OperationPhase::Failed, h.message),
                HealthCode::Missing if t.hook => (OperationPhase::Succeeded, format!("{} created", r.name)),
                _ => (
                    OperationPhase::Running,
                    if h.message.is_empty() {
                        h.status.to_string()
                    } else {
                        format!("{}: {}", h.status, h.message)
                    },
                ),
            },
        }
    }

    async fn dry_run_plan(&self, app: &Application, plan: &SyncPlan) -> Vec<(Task, EngineError)> {
        let mut created_ns = BTreeSet::new();
        let mut created_kinds = BTreeSet::new();
        for t in plan.tasks().filter(|t| t.action == TaskAction::Apply) {
            if t.object.group().is_empty() && t.object.kind() == "Namespace" {
                created_ns.insert(t.object.name().to_owned());
            }
            if t.object.kind() == "CustomResourceDefinition" {
                let g = t
                    .object
                    .pointer("/spec/group")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                let k = t
                    .object
                    .pointer("/spec/names/kind")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                created_kinds.insert(GroupKind::new(g, k));
            }
        }
        let skip_missing_app = app.has_sync_option("SkipDryRunOnMissingResource", "true");
        let mut failures = Vec::new();
        let dry = ApplyOptions::default().dry_run(true);
        for t in plan.tasks().filter(|t| t.action == TaskAction::Apply) {
            // SkipDryRunOnMissingResource happens automatically when the CRD is part of the sync.
            if created_kinds.contains(&t.object.group_kind()) {
                continue;
            }
            let skip_missing =
                skip_missing_app || resource_options(&t.object).contains(&"SkipDryRunOnMissingResource=true");
            if let Err(e) = self.retry_call(|| self.backend.apply(&t.object, &dry)).await {
                let ns_pending = e.kind() == ErrorKind::NotFound
                    && t.object.namespace().is_some_and(|ns| created_ns.contains(ns));
                let kind_missing = e.kind() == ErrorKind::NotFound && skip_missing;
                if !ns_pending && !kind_missing {
                    failures.push((t.clone(), e));
                }
            }
        }
        failures
    }

    async fn prune_task(
        &self,
        app: &Application,
        t: &Task,
        prune_enabled: bool,
        propagation: Propagation,
        changes: &mut Vec<Change>,
    ) -> ResourceResult {
        if prune_option(app, &t.object) == Some("false") {
            return new_result(
                t,
                ResultCode::PruneSkipped,
                "ignored (no prune)".into(),
                OperationPhase::Succeeded,
            );
        }
        if !prune_enabled {
            return new_result(
                t,
                ResultCode::PruneSkipped,
                "ignored (requires pruning)".into(),
                OperationPhase::Succeeded,
            );
        }
        let r = t.object.object_ref();
        let del_opts = DeleteOptions::default().propagation(propagation);
        match self.retry_call(|| self.backend.delete(&r, &del_opts)).await {
            Ok(_) => {
                changes.push(Change {
                    object: r,
                    action: "pruned".into(),
                    diff: Vec::new(),
                });
                new_result(t, ResultCode::Pruned, "pruned".into(), OperationPhase::Succeeded)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                new_result(t, ResultCode::Pruned, "pruned".into(), OperationPhase::Succeeded)
            }
            Err(e) => new_result(t, ResultCode::SyncFailed, e.to_string(), OperationPhase::Failed),
        }
    }

    async fn apply_task(
        &self,
        app: &Application,
        t: &Task,
        cmp: &Comparison,
        changes: &mut Vec<Change>,
    ) -> (ResourceResult, Option<Object>) {
        let r = t.object.object_ref();
        // RespectIgnoreDifferences: fields ignored by a jsonPointers rule keep their live values.
        let respected;
        let target = match cmp.live.get(&r) {
            Some(live) if app.has_sync_option("RespectIgnoreDifferences", "true") => {
                respected = respect_ignored(app, &t.object, live);
                &respected
            }
            _ => &t.object,
        };
        let sync_opts = resource_options(&t.object);
        let live_opts: Vec<String> = cmp
            .live
            .get(&r)
            .and_then(|l| l.annotation(plan::SYNC_OPTIONS_ANNOTATION))
            .map(|v| plan::csv(v).into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        let has = |o: &str| sync_opts.contains(&o) || live_opts.iter().any(|l| l == o);
        let opts = ApplyOptions::default()
            .replace(has("Replace=true"))
            .force(has("Force=true"))
            .server_side(has("ServerSideApply=true") && !sync_opts.contains(&"ServerSideApply=false"))
            .field_manager("argocd-controller");
        // Hooks carry Argo CD's hook finalizer until the engine has seen them complete, so a hook
        // deleted by someone else stays visible (and "Pending deletion" is not reported for it).
        let with_finalizer;
        let target = if t.hook {
            with_finalizer = add_finalizer(target, HOOK_FINALIZER);
            &with_finalizer
        } else {
            target
        };
        match self.retry_call(|| self.backend.apply(target, &opts)).await {
            Ok(applied) => {
                let msg = format!("{} {}", kubectl_name(&r), applied.outcome.as_str());
                if applied.outcome != ApplyOutcome::Unchanged {
                    changes.push(Change {
                        object: r.clone(),
                        action: if t.hook {
                            format!("hook {}", applied.outcome.as_str())
                        } else {
                            applied.outcome.as_str().to_owned()
                        },
                        diff: cmp
                            .diffs
                            .iter()
                            .find(|(o, _)| *o == r)
                            .map(|(_, d)| d.clone())
                            .unwrap_or_default(),
                    });
                }
                (
                    new_result(t, ResultCode::Synced, msg, OperationPhase::Running),
                    Some(applied.object),
                )
            }
            Err(e) => (
                new_result(t, ResultCode::SyncFailed, e.to_string(), OperationPhase::Failed),
                None,
            ),
        }
    }

    async fn delete_hooks(
        &self,
        plan: &SyncPlan,
        state: &OperationState,
        policy: DeletePolicy,
        propagation: Propagation,
        changes: &mut Vec<Change>,
    ) {
        let started: BTreeSet<String> = state
            .sync_result
            .iter()
            .flat_map(|s| &s.resources)
            .filter(|r| r.hook_type.is_some() && r.status == ResultCode::Synced)
            .map(res_key)
            .collect();
        let mut done = BTreeSet::new();
        let del_opts = DeleteOptions::default().propagation(propagation);
        for t in plan.tasks().filter(|t| t.hook && started.contains(&task_key(t))) {
            let r = t.object.object_ref();
            if !delete_policies(&t.object).contains(&policy) || !done.insert(r.clone()) {
                continue;
            }
            self.remove_hook_finalizer(&r).await;
            if self
                .retry_call(|| self.backend.delete(&r, &del_opts))
                .await
                .is_ok()
            {
                changes.push(Change {
                    object: r,
                    action: "hook deleted".into(),
                    diff: Vec::new(),
                });
            }
        }
    }

    /// Runs an operation to its end: steps, waits while the cluster catches up, persists the
    /// state through `sink` after each step, and retries a failed operation per `opts.retry`.
    /// `state` may be a fresh [`new_operation`](Self::new_operation) or one persisted by an
    /// earlier engine (resume).
    pub async fn run(
        &self,
        app: &Application,
        desired: Vec<Object>,
        mut state: OperationState,
        opts: &SyncOptions,
        children: Option<&dyn ChildApps>,
        sink: Option<&dyn OperationSink>,
    ) -> Result<SyncResult, SyncError> {
        let mut changes = Vec::new();
        let mut waits = 0u32;
        let mut cmp = self.compare(app, desired.clone(), opts).await?;
        loop {
            let outcome = self
                .step(app, &cmp, &mut state, opts, children, &mut changes)
                .await?;
            if let Some(s) = sink {
                s.save(&state).await;
            }
            match outcome {
                StepOutcome::Progress => waits = 0,
                StepOutcome::Waiting(reason) => {
                    if waits == 0 {
                        self.emit(SyncEvent::Waiting {
                            app: app.metadata.name.clone(),
                            reason: reason.clone(),
                        });
                    }
                    if waits >= opts.max_wait_steps {
                        self.fail(
                            &mut state,
                            format!("timed out after {waits} steps waiting for {reason}"),
                        );
                    } else {
                        waits += 1;
                        self.waiter.wait().await;
                    }
                }
                StepOutcome::Done => {}
            }
            if state.phase.is_completed() {
                if state.phase != OperationPhase::Succeeded && self.retry_allowed(&state, opts) {
                    let n = state.retry_count.unwrap_or(0);
                    let wait = retry_delay(opts.retry.as_ref(), n);
                    self.emit(SyncEvent::Waiting {
                        app: app.metadata.name.clone(),
                        reason: format!("retry #{} in {}s after: {}", n + 1, wait.as_secs(), state.message),
                    });
                    self.waiter.wait_for(wait).await;
                    state.retry_count = Some(n + 1);
                    state.phase = OperationPhase::Running;
                    state.message = DRY_RUN_PENDING.to_owned();
                    state.finished_at = None;
                    if let Some(sr) = state.sync_result.as_mut() {
                        sr.resources.clear();
                    }
                    waits = 0;
                } else {
                    break;
                }
            }
            cmp = self.compare(app, desired.clone(), opts).await?;
        }
        if let Some(n) = state.retry_count.filter(|n| *n > 0) {
            state.message.push_str(&format!(" (retried {n} times)"));
            if let Some(s) = sink {
                s.save(&state).await;
            }
        }
        self.finish(app, desired, opts, state, changes).await
    }

    fn retry_allowed(&self, state: &OperationState, opts: &SyncOptions) -> bool {
        match &opts.retry {
            None => false,
            Some(r) => r.limit < 0 || state.retry_count.unwrap_or(0) < r.limit,
        }
    }

    async fn finish(
        &self,
        app: &Application,
        desired: Vec<Object>,
        opts: &SyncOptions,
        state: OperationState,
        changes: Vec<Change>,
    ) -> Result<SyncResult, SyncError> {
        let mut cmp = self.compare(app, desired, opts).await?;
        let mut health = self.app_health(app, &cmp);
        if state.phase == OperationPhase::Succeeded && opts.wait_for_health && !opts.dry_run {
            let mut steps = 0;
            while health.status == HealthCode::Progressing && steps < opts.max_wait_steps {
                if steps == 0 {
                    self.emit(SyncEvent::Waiting {
                        app: app.metadata.name.clone(),
                        reason: format!("health: {}", health.message),
                    });
                }
                self.waiter.wait().await;
                steps += 1;
                cmp = self.compare(app, cmp.desired, opts).await?;
                health = self.app_health(app, &cmp);
            }
        }
        let results = state
            .sync_result
            .as_ref()
            .map(|s| s.resources.clone())
            .unwrap_or_default();
        Ok(SyncResult {
            phase: state.phase,
            message: state.message.clone(),
            results,
            changes,
            comparison: cmp,
            health,
            operation_state: state,
        })
    }
}

/// The wait before retry `n` (0-based): `min(maxDuration, duration × factor^n)`, defaults 5s, 2, 3m.
pub fn retry_delay(retry: Option<&RetryStrategy>, n: i64) -> Duration {
    let b = retry.and_then(|r| r.backoff.as_ref());
    let base = b
        .and_then(|b| b.duration.as_deref())
        .and_then(|d| parse_duration(d).ok())
        .unwrap_or(Duration::from_secs(5));
    let factor = b.and_then(|b| b.factor).unwrap_or(2).max(1) as u32;
    let max = b
        .and_then(|b| b.max_duration.as_deref())
        .and_then(|d| parse_duration(d).ok())
        .unwrap_or(Duration::from_secs(180));
    let mult = factor.checked_pow(n.clamp(0, 30) as u32).unwrap_or(u32::MAX);
    let d = base.checked_mul(mult).unwrap_or(Duration::MAX);
    if max.is_zero() { d } else { d.min(max) }
}

/// The target with the live values at the JSON pointers that `ignoreDifferences` rules of the app
/// name for it (Argo CD's `RespectIgnoreDifferences=true`; jq expressions are not applied here).
fn respect_ignored(app: &Application, target: &Object, live: &Object) -> Object {
    let mut v = target.as_value().clone();
    for rule in &app.spec.ignore_differences {
        let rule = crate::diff::IgnoreRule::from(rule);
        if !rule.matches(target.group(), target.kind(), target.namespace(), target.name()) {
            continue;
        }
        for ptr in &rule.json_pointers {
            if ptr.is_empty()
                || ptr == "/status"
                || ptr.starts_with("/metadata/name")
                || ptr.starts_with("/kind")
            {
                continue;
            }
            match live.as_value().pointer(ptr) {
                Some(lv) => set_pointer(&mut v, ptr, lv.clone()),
                None => {
                    let _ = crate::patch::json_patch::remove_paths(&mut v, &[ptr.as_str()]);
                }
            }
        }
    }
    Object::from_value(v).unwrap_or_else(|_| target.clone())
}

/// Sets the value at a JSON pointer, creating intermediate mappings.
fn set_pointer(v: &mut serde_json::Value, ptr: &str, value: serde_json::Value) {
    let Ok(parts) = crate::patch::json_patch::parse_pointer(ptr) else {
        return;
    };
    let mut cur = v;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match cur {
            serde_json::Value::Object(m) => {
                if last {
                    m.insert(part.clone(), value);
                    return;
                }
                cur = m
                    .entry(part.clone())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
            }
            serde_json::Value::Array(a) => {
                let Some(item) = part.parse::<usize>().ok().and_then(|i| a.get_mut(i)) else {
                    return;
                };
                if last {
                    *item = value;
                    return;
                }
                cur = item;
            }
            _ => return,
        }
    }
}

fn add_finalizer(obj: &Object, finalizer: &str) -> Object {
    let mut o = obj.clone();
    if let Some(meta) = o.as_map_mut().get_mut("metadata").and_then(|m| m.as_object_mut()) {
        let list = meta
            .entry("finalizers")
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(a) = list.as_array_mut()
            && !a.iter().any(|f| f.as_str() == Some(finalizer))
        {
            a.push(finalizer.into());
        }
    }
    o
}

fn remove_finalizer(obj: &Object, finalizer: &str) -> Object {
    let mut o = obj.clone();
    if let Some(meta) = o.as_map_mut().get_mut("metadata").and_then(|m| m.as_object_mut()) {
        if let Some(a) = meta.get_mut("finalizers").and_then(|f| f.as_array_mut()) {
            a.retain(|f| f.as_str() != Some(finalizer));
        }
        meta.remove("resourceVersion");
    }
    o
}

/// The resource-level sync options of an object (`argocd.argoproj.io/sync-options`).
pub fn resource_options(obj: &Object) -> Vec<&str> {
    obj.annotation(plan::SYNC_OPTIONS_ANNOTATION)
        .map(plan::csv)
        .unwrap_or_default()
}

/// The `Prune=` option of an object: its annotation, else the app's sync option.
fn prune_option<'a>(app: &'a Application, obj: &'a Object) -> Option<&'a str> {
    resource_options(obj)
        .into_iter()
        .find_map(|o| o.strip_prefix("Prune="))
        .or_else(|| app.sync_options().iter().find_map(|o| o.strip_prefix("Prune=")))
}

fn requires_confirmation(app: &Application, obj: &Object) -> bool {
    prune_option(app, obj) == Some("confirm")
}

fn deletion_approved(app: &Application, started_at: Option<&str>) -> bool {
    let approved = app
        .metadata
        .annotations
        .get(DELETION_APPROVED_ANNOTATION)
        .and_then(|t| crate::time::parse_rfc3339(t));
    let started = started_at.and_then(crate::time::parse_rfc3339).unwrap_or(0);
    approved.is_some_and(|a| a >= started)
}
