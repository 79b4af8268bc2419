//! `gitops plan` and `gitops diff`: what a sync would do, without doing it.

use std::path::Path;
use std::process::ExitCode;

use clap::ValueEnum;
use futures::executor::block_on;
use serde_json::json;

use gitops_core::SyncStatusCode;
use gitops_core::diff::{DiffOptions, diff, unified};
use gitops_core::sync::SyncOptions;
use gitops_core::sync::controller::{AppNode, error_chain};
use gitops_core::sync::plan::TaskAction;

use crate::session::Session;

/// How `gitops plan` draws the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlanFormat {
    /// Phases, waves and tasks as text.
    Text,
    /// A Graphviz digraph.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

fn root(session: &Session, app: &Path, opts: &SyncOptions) -> Result<AppNode, String> {
    session
        .load_trees(app, opts)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no application", app.display()))
}

/// Prints the plan of the first Application in `app` against the simulated cluster.
pub(crate) fn plan(
    state: &Path,
    app: &Path,
    format: PlanFormat,
    json_out: bool,
    prune: bool,
) -> Result<ExitCode, String> {
    let session = Session::open(state, None)?;
    let opts = SyncOptions::default().prune(prune);
    let node = root(&session, app, &opts)?;
    let syncer = session.controller.syncer();
    let opts = opts.revision(node.revision.clone());
    let prepared =
        block_on(syncer.prepare(&node.app, node.objects.clone(), &opts)).map_err(|e| error_chain(&e))?;
    let cmp = block_on(syncer.compare(&node.app, prepared, &opts)).map_err(|e| error_chain(&e))?;
    let state_op = syncer.new_operation(&node.app, &opts);
    let plan = block_on(syncer.build_plan(&node.app, &cmp, &state_op, &opts)).map_err(|e| error_chain(&e))?;
    if json_out {
        let tasks: Vec<_> = plan
            .tasks()
            .map(|t| {
                json!({
                    "phase": t.phase.as_str(),
                    "wave": t.wave,
                    "group": t.object.group(),
                    "kind": t.object.kind(),
                    "namespace": t.object.namespace(),
                    "name": t.object.name(),
                    "action": match t.action { TaskAction::Apply if t.hook => "hook", TaskAction::Apply => "apply", TaskAction::Prune => "prune" },
                    "status": cmp.status_of(&t.object_ref()).map(|s| s.as_str()),
                })
            })
            .collect();
        let deps: Vec<_> = plan
            .dependencies()
            .iter()
            .map(|(a, b, why)| json!({"before": a, "after": b, "why": format!("{why:?}")}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"app": node.app.metadata.name, "revision": node.revision, "tasks": tasks, "dependencies": deps}))
                .map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    match format {
        PlanFormat::Dot => print!("{}", plan.to_dot()),
        PlanFormat::Mermaid => print!("{}", plan.to_mermaid()),
        PlanFormat::Text => {
            println!(
                "plan for application {} at revision {} ({} tasks):",
                node.app.metadata.name,
                node.revision,
                plan.len()
            );
            let mut phase = None;
            for w in &plan.waves {
                if phase != Some(w.phase) {
                    println!("{}", w.phase);
                    phase = Some(w.phase);
                }
                println!("  wave {}", w.wave);
                for t in &w.tasks {
                    let status = match cmp.status_of(&t.object_ref()) {
                        Some(SyncStatusCode::Synced) => " (in sync)",
                        Some(SyncStatusCode::OutOfSync) if t.action == TaskAction::Apply => " (out of sync)",
                        _ => "",
                    };
                    let verb = match t.action {
                        TaskAction::Apply if t.hook => "hook ",
                        TaskAction::Apply => "apply",
                        TaskAction::Prune => "prune",
                    };
                    println!("    {verb} {}{status}", t.object.object_ref());
                }
            }
            if plan.is_empty() {
                println!("  (nothing to do)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a unified diff of live vs desired for every out-of-sync object of the first Application
/// in `app`. Exits 1 when there are differences (as `argocd app diff` does), 0 when none.
pub(crate) fn diff_cmd(state: &Path, app: &Path, json_out: bool) -> Result<ExitCode, String> {
    let session = Session::open(state, None)?;
    let opts = SyncOptions::default();
    let node = root(&session, app, &opts)?;
    let syncer = session.controller.syncer();
    let prepared =
        block_on(syncer.prepare(&node.app, node.objects.clone(), &opts)).map_err(|e| error_chain(&e))?;
    let cmp = block_on(syncer.compare(&node.app, prepared, &opts)).map_err(|e| error_chain(&e))?;
    let dopts = DiffOptions::default().with_ignore_differences(&node.app.spec.ignore_differences);
    let mut out = Vec::new();
    for d in &cmp.desired {
        let r = d.object_ref();
        if d.name().is_empty() || cmp.status_of(&r) != Some(SyncStatusCode::OutOfSync) {
            continue;
        }
        let live = cmp.live.get(&r);
        let rd = diff(Some(d), live, &dopts).map_err(|e| format!("{r}: {}", error_chain(&e)))?;
        out.push((
            r.clone(),
            unified(&rd, &r, 3),
            rd.changes.iter().map(|c| c.path.clone()).collect::<Vec<_>>(),
        ));
    }
    for l in &cmp.to_prune {
        let r = l.object_ref();
        let rd = diff(None, Some(l), &dopts).map_err(|e| format!("{r}: {}", error_chain(&e)))?;
        out.push((
            r.clone(),
            unified(&rd, &r, 3),
            vec!["(requires pruning)".to_owned()],
        ));
    }
    if json_out {
        let items: Vec<_> = out
            .iter()
            .map(|(r, u, paths)| json!({"object": r.to_string(), "fields": paths, "diff": u}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"app": node.app.metadata.name, "inSync": out.is_empty(), "objects": items})
            )
            .map_err(|e| e.to_string())?
        );
    } else if out.is_empty() {
        println!("application {} is in sync", node.app.metadata.name);
    } else {
        for (_, u, _) in &out {
            print!("{u}");
            if !u.ends_with('\n') {
                println!();
            }
        }
    }
    Ok(if out.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
