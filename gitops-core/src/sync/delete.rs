//! Application deletion (spec/sync.md §8): non-cascading (resources stay) or cascading through
//! the `resources-finalizer.argocd.argoproj.io` finalizers — PreDelete hooks, then managed
//! resources wave by wave from the highest, then PostDelete hooks, then hook cleanup. CRDs,
//! objects with `Delete=false` and objects with `helm.sh/resource-policy: keep` are never deleted;
//! `Delete=confirm` waits for the Application's `argocd.argoproj.io/deletion-approved`. Child
//! Applications are deleted through their own finalizers, recursively.

use std::collections::BTreeSet;

use crate::engine::{
    BoxFuture, ClusterBackend, DeleteOptions, EngineError, HealthCode, ListQuery, Propagation,
};
use crate::health::resource_health;
use crate::model::{Application, RESOURCES_FINALIZER, is_application};
use crate::object::{Object, ObjectRef};

use super::controller::{AppController, AppNode, ControllerError};
use super::exec::{DELETION_APPROVED_ANNOTATION, resource_options};
use super::plan::{self, DeletePolicy, delete_policies, wave_of};
use super::{SyncOptions, TRACKING_ID_ANNOTATION};

/// What deleting one application did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeleteReport {
    /// Application name.
    pub app: String,
    /// Whether resources were deleted (cascade) or left in place.
    pub cascade: bool,
    /// Objects deleted, in order.
    pub deleted: Vec<ObjectRef>,
    /// Objects kept on purpose, with the reason.
    pub kept: Vec<(ObjectRef, String)>,
    /// Hooks that ran (PreDelete, then PostDelete).
    pub hooks: Vec<ObjectRef>,
    /// Reports of child applications deleted along the way.
    pub children: Vec<DeleteReport>,
}

/// How an Application's finalizers ask to delete its resources, if at all.
pub fn cascade_policy(app: &Application) -> Option<Propagation> {
    app.metadata.finalizers.iter().find_map(|f| match f.as_str() {
        RESOURCES_FINALIZER => Some(Propagation::Foreground),
        "resources-finalizer.argocd.argoproj.io/foreground" => Some(Propagation::Foreground),
        "resources-finalizer.argocd.argoproj.io/background" => Some(Propagation::Background),
        _ => None,
    })
}

fn delete_hook_phase(obj: &Object) -> Option<&'static str> {
    let argo = obj
        .annotation(plan::HOOK_ANNOTATION)
        .map(plan::csv)
        .unwrap_or_default();
    let helm = obj
        .annotation(plan::HELM_HOOK_ANNOTATION)
        .map(plan::csv)
        .unwrap_or_default();
    if argo.contains(&"PreDelete") || helm.contains(&"pre-delete") {
        Some("PreDelete")
    } else if argo.contains(&"PostDelete") || helm.contains(&"post-delete") {
        Some("PostDelete")
    } else {
        None
    }
}

impl AppController {
    /// Deletes the root application of `tree` as Argo CD's finalizers say: with a resources
    /// finalizer, cascade (see the module docs); without, remove only the Application object.
    pub async fn delete(&self, tree: &AppNode, opts: &SyncOptions) -> Result<DeleteReport, ControllerError> {
        self.delete_node(tree, opts).await
    }

    fn delete_node<'a>(
        &'a self,
        node: &'a AppNode,
        opts: &'a SyncOptions,
    ) -> BoxFuture<'a, Result<DeleteReport, ControllerError>> {
        Box::pin(async move {
            let app = &node.app;
            let backend = self.syncer().backend();
            let mut report = DeleteReport {
                app: app.metadata.name.clone(),
                ..Default::default()
            };
            let Some(propagation) = cascade_policy(app) else {
                // Non-cascading: the Application goes, its resources stay (with tracking metadata).
                self.remove_app_object(node).await?;
                return Ok(report);
            };
            report.cascade = true;
            // Deletion hooks are left out of syncs, so place them here.
            let mut delete_hooks: Vec<Object> = Vec::new();
            for o in node.objects.iter().filter(|o| delete_hook_phase(o).is_some()) {
                let mut h = o.clone();
                h.remove_annotation(super::SOURCE_FILE_ANNOTATION);
                if h.namespace().is_none()
                    && backend.scope(&h.group_kind()).await? != Some(crate::engine::Scope::Cluster)
                {
                    h.set_namespace(app.spec.destination.namespace.as_deref());
                }
                delete_hooks.push(h);
            }
            // 1. PreDelete hooks.
            let pre: Vec<&Object> = delete_hooks
                .iter()
                .filter(|o| delete_hook_phase(o) == Some("PreDelete"))
                .collect();
            self.run_delete_hooks(app, &pre, opts, &mut report).await?;

            // 2. Managed resources, highest wave first, each wave gone before the next.
            let instance = app.instance_name(&opts.control_namespace);
            let mut steps = 0u32;
            let query = ListQuery::all().tracked_by(instance.clone(), opts.tracking);
            loop {
                let live = self.syncer().retry_call(|| backend.list(&query)).await?;
                let mut candidates: Vec<Object> = Vec::new();
                let mut terminating = false;
                for o in live {
                    let r = o.object_ref();
                    if r == app.object_ref() || !o.owner_uids().is_empty() {
                        continue;
                    }
                    if o.annotation(TRACKING_ID_ANNOTATION)
                        .is_some_and(|id| id != super::tracking_id(&instance, &o))
                    {
                        continue; // a copied tracking annotation
                    }
                    if delete_hook_phase(&o).is_some() {
                        continue;
                    }
                    if let Some(reason) = keep_reason(app, &o) {
                        if !report.kept.iter().any(|(k, _)| *k == r) {
                            report.kept.push((r, reason));
                        }
                        continue;
                    }
                    terminating |= o.deletion_timestamp().is_some();
                    candidates.push(o);
                }
                if candidates.is_empty() {
                    break;
                }
                if steps >= opts.max_wait_steps {
                    return Err(ControllerError::Cluster(EngineError::timeout(format!(
                        "timed out deleting the resources of application {}",
                        app.metadata.name
                    ))));
                }
                steps += 1;
                if terminating {
                    self.syncer().waiter.wait().await;
                    continue;
                }
                let needs_confirm = candidates.iter().any(|o| {
                    let ro = resource_options(o);
                    ro.contains(&"Delete=confirm")
                        || ro.contains(&"Prune=confirm")
                        || (ro.iter().all(|x| !x.starts_with("Delete="))
                            && app.has_sync_option("Delete", "confirm"))
                });
                if needs_confirm
                    && !app
                        .metadata
                        .annotations
                        .contains_key(DELETION_APPROVED_ANNOTATION)
                {
                    return Err(ControllerError::Cluster(EngineError::forbidden(format!(
                        "deleting application {} waits for confirmation: set annotation {DELETION_APPROVED_ANNOTATION}",
                        app.metadata.name
                    ))));
                }
                let top = candidates.iter().map(wave_of).max().unwrap_or(0);
                for o in candidates.iter().filter(|o| wave_of(o) == top) {
                    let r = o.object_ref();
                    if is_application(o)
                        && let Some(child) = node.children.iter().find(|c| c.app.object_ref() == r)
                    {
                        report.children.push(self.delete_node(child, opts).await?);
                        report.deleted.push(r);
                        continue;
                    }
                    let del = DeleteOptions::default().propagation(propagation);
                    match self.syncer().retry_call(|| backend.delete(&r, &del)).await {
                        Ok(_) => report.deleted.push(r),
                        Err(e) if e.kind() == crate::engine::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }

            // 3. PostDelete hooks.
            let post: Vec<&Object> = delete_hooks
                .iter()
                .filter(|o| delete_hook_phase(o) == Some("PostDelete"))
                .collect();
            self.run_delete_hooks(app, &post, opts, &mut report).await?;
            // 4. Clean up the hook objects (they all succeeded): without a policy always, else
            //    only with HookSucceeded.
            for h in pre.iter().chain(post.iter()) {
                let explicit = h.annotation(plan::HOOK_DELETE_POLICY_ANNOTATION).is_some()
                    || h.annotation(plan::HELM_HOOK_DELETE_POLICY_ANNOTATION).is_some();
                if explicit && !delete_policies(h).contains(&DeletePolicy::HookSucceeded) {
                    continue;
                }
                let r = h.object_ref();
                let del = DeleteOptions::default();
                let _ = self.syncer().retry_call(|| backend.delete(&r, &del)).await;
            }
            self.remove_app_object(node).await?;
            Ok(report)
        })
    }

    async fn run_delete_hooks(
        &self,
        app: &Application,
        hooks: &[&Object],
        opts: &SyncOptions,
        report: &mut DeleteReport,
    ) -> Result<(), ControllerError> {
        let backend = self.syncer().backend();
        for h in hooks {
            let r = h.object_ref();
            let ao = crate::engine::ApplyOptions::default();
            self.syncer().retry_call(|| backend.apply(h, &ao)).await?;
            report.hooks.push(r);
        }
        let mut steps = 0;
        loop {
            let mut pending = BTreeSet::new();
            for h in hooks {
                let r = h.object_ref();
                let live = self.syncer().retry_call(|| backend.try_get(&r)).await?;
                let Some(live) = live else { continue };
                match resource_health(self.syncer().health_check().as_ref(), &live).map(|x| x.status) {
                    None | Some(HealthCode::Healthy) => {}
                    Some(HealthCode::Degraded) => {
                        // A failed hook is deleted so that the deletion can be retried.
                        let del = DeleteOptions::default();
                        let _ = self.syncer().retry_call(|| backend.delete(&r, &del)).await;
                        return Err(ControllerError::Cluster(EngineError::other(format!(
                            "deletion of application {} failed: hook {r} failed",
                            app.metadata.name
                        ))));
                    }
                    Some(_) => {
                        pending.insert(r);
                    }
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if steps >= opts.max_wait_steps {
                return Err(ControllerError::Cluster(EngineError::timeout(format!(
                    "timed out waiting for deletion hooks of application {}",
                    app.metadata.name
                ))));
            }
            steps += 1;
            self.syncer().waiter.wait().await;
        }
    }

    async fn remove_app_object(&self, node: &AppNode) -> Result<(), ControllerError> {
        let backend = self.syncer().backend();
        let r = node.app.object_ref();
        let Some(mut live) = self.syncer().retry_call(|| backend.try_get(&r)).await? else {
            return Ok(());
        };
        // Drop our finalizers, then delete (or let a pending deletion complete).
        if let Some(m) = live
            .as_map_mut()
            .get_mut("metadata")
            .and_then(|m| m.as_object_mut())
        {
            if let Some(f) = m.get_mut("finalizers").and_then(|f| f.as_array_mut()) {
                f.retain(|x| {
                    !x.as_str().is_some_and(|s| {
                        s.starts_with("resources-finalizer.argocd.argoproj.io")
                            || s.starts_with("pre-delete-finalizer.argocd.argoproj.io")
                            || s.starts_with("post-delete-finalizer.argocd.argoproj.io")
                    })
                });
            }
            m.remove("resourceVersion");
        }
        let ao = crate::engine::ApplyOptions::default();
        self.syncer().retry_call(|| backend.apply(&live, &ao)).await?;
        let del = DeleteOptions::default().propagation(Propagation::Background);
        match self.syncer().retry_call(|| backend.delete(&r, &del)).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == crate::engine::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Why cascading deletion leaves an object in place, if it does.
fn keep_reason(app: &Application, o: &Object) -> Option<String> {
    if o.group() == "apiextensions.k8s.io" && o.kind() == "CustomResourceDefinition" {
        return Some("CustomResourceDefinitions are never deleted by cascade".to_owned());
    }
    let ro = resource_options(o);
    let delete_opt = ro
        .iter()
        .find_map(|x| x.strip_prefix("Delete="))
        .or_else(|| app.sync_options().iter().find_map(|x| x.strip_prefix("Delete=")));
    if delete_opt == Some("false") {
        return Some("Delete=false".to_owned());
    }
    if o.annotation("helm.sh/resource-policy") == Some("keep") {
        return Some("helm.sh/resource-policy: keep".to_owned());
    }
    None
}
