//! `gitops`: render, validate and sync Argo CD applications, by default against the simulated
//! cluster whose state is kept in a file under the working directory.

mod health_cmd;
mod plan_cmd;
mod render_cmd;
mod session;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use futures::executor::block_on;
use serde_json::json;

use gitops_core::diagnostics::{self, Severity};
use gitops_core::engine::HealthCode;
use gitops_core::load;
use gitops_core::model::{OperationPhase, SyncOperationResource, is_application};
use gitops_core::sync::SyncEvent;
use gitops_core::sync::controller::{AppNode, AppReport, ReconcileOptions, error_chain};
use gitops_core::{Object, SyncStatusCode};

use session::Session;

/// gitops-rs: Argo CD's GitOps engine as a command-line tool.
#[derive(Debug, Parser)]
#[command(name = "gitops", version, about)]
struct Cli {
    /// Output format.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Human-readable text (YAML for `render`).
    #[value(alias = "yaml")]
    Text,
    /// One JSON document on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sync an Application (and its child Applications) to the simulated cluster.
    Sync {
        /// Application YAML file.
        app: PathBuf,
        /// File holding the simulated cluster's state.
        #[arg(long, default_value = ".gitops/cluster.json")]
        state: PathBuf,
        /// Sync even apps that are in sync.
        #[arg(long)]
        force: bool,
        /// Prune objects no longer in Git (default: the app's automated.prune).
        #[arg(long)]
        prune: bool,
        /// Plan and dry-run only; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Selective sync: only this resource, as `group/Kind/name`, `Kind/name` (core group) or
        /// `group/Kind/namespace/name`. Repeatable. Hooks do not run in a selective sync.
        #[arg(long = "resource", value_name = "GROUP/KIND/NAME")]
        resources: Vec<String>,
    },
    /// Print the phases, waves and tasks a sync of the Application would run.
    Plan {
        /// Application YAML file.
        app: PathBuf,
        /// File holding the simulated cluster's state.
        #[arg(long, default_value = ".gitops/cluster.json")]
        state: PathBuf,
        /// Drawing format (with `-o json` the tasks are printed as JSON instead).
        #[arg(long, value_enum, default_value_t = plan_cmd::PlanFormat::Text)]
        format: plan_cmd::PlanFormat,
        /// Plan prune tasks as enabled.
        #[arg(long)]
        prune: bool,
    },
    /// Print a unified diff of live vs desired for the Application's out-of-sync objects
    /// (exit code 1 when there are differences).
    Diff {
        /// Application YAML file.
        app: PathBuf,
        /// File holding the simulated cluster's state.
        #[arg(long, default_value = ".gitops/cluster.json")]
        state: PathBuf,
    },
    /// Delete an Application: with a resources finalizer (or `--cascade`) its resources too.
    Delete {
        /// Application YAML file.
        app: PathBuf,
        /// File holding the simulated cluster's state.
        #[arg(long, default_value = ".gitops/cluster.json")]
        state: PathBuf,
        /// Delete the resources even if the Application has no resources finalizer.
        #[arg(long)]
        cascade: bool,
    },
    /// Render a directory or an Application's sources and print the objects (YAML, or JSON with -o json).
    Render(render_cmd::RenderArgs),
    /// Assess the health of the objects in a file (scripts from argocd-cm or a HealthConfig, the
    /// built-in Rhai library, the built-in checks).
    Health(health_cmd::HealthArgs),
    /// Load every YAML/JSON file under a directory and print errors and diagnostics.
    Validate {
        /// Directory (or file) to check.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Sync {
            app,
            state,
            force,
            prune,
            dry_run,
            resources,
        } => cmd_sync(
            cli.output,
            app,
            state,
            *force,
            (*prune).then_some(true),
            *dry_run,
            resources,
        ),
        Command::Plan {
            app,
            state,
            format,
            prune,
        } => plan_cmd::plan(state, app, *format, cli.output == Output::Json, *prune),
        Command::Diff { app, state } => plan_cmd::diff_cmd(state, app, cli.output == Output::Json),
        Command::Delete { app, state, cascade } => cmd_delete(cli.output, app, state, *cascade),
        Command::Health(args) => health_cmd::run(args, cli.output == Output::Json),
        Command::Render(args) => render_cmd::run(args, cli.output == Output::Json),
        Command::Validate { path } => cmd_validate(cli.output, path),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            if cli.output == Output::Json {
                println!("{}", json!({"ok": false, "error": msg}));
            } else {
                eprintln!("error: {msg}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Parses `group/Kind/name`, `Kind/name` or `group/Kind/namespace/name`.
fn parse_resource(s: &str) -> Result<SyncOperationResource, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let (group, kind, namespace, name) = match parts.as_slice() {
        [kind, name] => ("", *kind, None, *name),
        [group, kind, name] => (*group, *kind, None, *name),
        [group, kind, ns, name] => (*group, *kind, Some(*ns), *name),
        _ => {
            return Err(format!(
                "--resource {s:?}: expected group/Kind/name, Kind/name or group/Kind/namespace/name"
            ));
        }
    };
    if kind.is_empty() || name.is_empty() {
        return Err(format!("--resource {s:?}: kind and name must not be empty"));
    }
    Ok(SyncOperationResource {
        group: group.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
    })
}

fn cmd_sync(
    output: Output,
    app_path: &Path,
    state: &Path,
    force: bool,
    prune: Option<bool>,
    dry_run: bool,
    resources: &[String],
) -> Result<ExitCode, String> {
    let text = output == Output::Text;
    let resources = resources
        .iter()
        .map(|r| parse_resource(r))
        .collect::<Result<Vec<_>, _>>()?;
    let progress: gitops_core::sync::ProgressFn = Arc::new(move |e: &SyncEvent| {
        if !text {
            return;
        }
        match e {
            SyncEvent::WaveStarted {
                app,
                phase,
                wave,
                tasks,
            } => {
                println!("  [{app}] {phase} wave {wave}: {} task(s)", tasks.len());
                for t in tasks {
                    println!("      {t}");
                }
            }
            SyncEvent::TaskDone { result, .. } if result.message.ends_with("unchanged") => {}
            SyncEvent::TaskDone { app, result } => {
                println!("    [{app}] {:?}: {}", result.status, result.message);
            }
            SyncEvent::Waiting { app, reason } => println!("    [{app}] waiting for {reason}"),
            _ => {}
        }
    });
    let session = Session::open(state, Some(progress))?;
    if text {
        println!("simulated cluster state: {}", state.display());
    }
    let mut opts = ReconcileOptions::default();
    opts.force = force || !resources.is_empty();
    opts.sync.prune = prune;
    opts.sync.dry_run = dry_run;
    opts.sync.resources = resources;
    let trees = session.load_trees(app_path, &opts.sync)?;
    let mut all_reports: Vec<AppReport> = Vec::new();
    for tree in trees {
        if text {
            println!("application tree:");
            print_tree(&tree);
            println!("syncing:");
        }
        let reports = block_on(session.controller.reconcile(&tree, &opts)).map_err(|e| error_chain(&e))?;
        all_reports.extend(reports);
    }
    if !dry_run {
        session.save()?;
    }
    let ok = all_reports.iter().all(|r| {
        r.operation != Some(OperationPhase::Failed)
            && r.sync_status == SyncStatusCode::Synced
            && !matches!(
                r.health.status,
                HealthCode::Degraded | HealthCode::Missing | HealthCode::Unknown
            )
    }) || dry_run;
    if text {
        print_summary(&all_reports, dry_run);
    } else {
        let apps: Vec<_> = all_reports
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "namespace": r.namespace,
                    "sync": r.sync_status.as_str(),
                    "health": r.health.status.as_str(),
                    "healthMessage": r.health.message,
                    "operation": r.operation.map(|o| o.as_str()),
                    "message": r.message,
                    "drift": r.drift.iter().map(|(o, d)| json!({"object": o.to_string(), "fields": d.iter().map(|f| f.to_string()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
                    "changed": r.changes.iter().map(|c| json!({"object": c.object.to_string(), "action": c.action})).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": ok, "state": state.display().to_string(), "dryRun": dry_run, "apps": apps})
            )
            .map_err(|e| e.to_string())?
        );
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_tree(tree: &AppNode) {
    for (depth, node) in tree.walk() {
        let src = node
            .app
            .sources()
            .first()
            .map(|s| format!("{} {}", s.repo_url, s.normalized_path()))
            .unwrap_or_default();
        let dest = node.app.spec.destination.namespace();
        let objects = node
            .objects
            .iter()
            .filter(|o: &&Object| !is_application(o))
            .count();
        println!(
            "  {}{} (source: {src}; destination namespace: {}; {objects} object(s), {} child app(s))",
            "  ".repeat(depth),
            node.app.metadata.name,
            if dest.is_empty() { "-" } else { dest },
            node.children.len()
        );
    }
}

fn print_summary(reports: &[AppReport], dry_run: bool) {
    let changed: usize = reports.iter().map(|r| r.changes.len()).sum();
    for r in reports.iter().filter(|r| !r.drift.is_empty()) {
        println!("drift in {}:", r.name);
        for (o, diffs) in &r.drift {
            for d in diffs {
                println!("  {o}: {d}");
            }
        }
    }
    println!();
    println!(
        "{:<24} {:<10} {:<12} {:<10} {:>7}  MESSAGE",
        "APP", "SYNC", "HEALTH", "OPERATION", "CHANGES"
    );
    for r in reports {
        let name = format!("{}{}", "  ".repeat(r.depth), r.name);
        let op = r.operation.map(|o| o.as_str()).unwrap_or("-");
        let msg = if r.operation == Some(OperationPhase::Failed) {
            r.message.as_str()
        } else {
            r.health.message.as_str()
        };
        println!(
            "{:<24} {:<10} {:<12} {:<10} {:>7}  {}",
            name,
            r.sync_status.as_str(),
            r.health.status.as_str(),
            op,
            r.changes.len(),
            msg
        );
    }
    println!();
    if dry_run {
        println!("dry run: nothing was changed");
    } else if changed == 0 {
        println!("no changes: every application was already in sync");
    } else {
        println!("{changed} change(s) applied");
    }
}

fn cmd_delete(output: Output, app_path: &Path, state: &Path, cascade: bool) -> Result<ExitCode, String> {
    let session = Session::open(state, None)?;
    let opts = gitops_core::sync::SyncOptions::default();
    let mut reports = Vec::new();
    for mut tree in session.load_trees(app_path, &opts)? {
        if cascade && gitops_core::sync::delete::cascade_policy(&tree.app).is_none() {
            tree.app
                .metadata
                .finalizers
                .push(gitops_core::model::RESOURCES_FINALIZER.to_owned());
        }
        reports.push(block_on(session.controller.delete(&tree, &opts)).map_err(|e| error_chain(&e))?);
    }
    session.save()?;
    if output == Output::Json {
        let items: Vec<_> = reports
            .iter()
            .map(|r| {
                json!({
                    "app": r.app,
                    "cascade": r.cascade,
                    "deleted": r.deleted.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
                    "kept": r.kept.iter().map(|(o, why)| json!({"object": o.to_string(), "reason": why})).collect::<Vec<_>>(),
                    "hooks": r.hooks.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
                    "children": r.children.iter().map(|c| c.app.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"ok": true, "apps": items})).map_err(|e| e.to_string())?
        );
    } else {
        for r in &reports {
            if r.cascade {
                println!("application {} deleted with its resources:", r.app);
                for o in &r.deleted {
                    println!("  deleted {o}");
                }
                for (o, why) in &r.kept {
                    println!("  kept    {o} ({why})");
                }
            } else {
                println!(
                    "application {} deleted; its resources were left in place (no resources finalizer)",
                    r.app
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

fn cmd_validate(output: Output, path: &Path) -> Result<ExitCode, String> {
    let mut files = Vec::new();
    collect_files(path, &mut files).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut all = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        match load::read_text(f) {
            Ok(text) => all.extend(diagnostics::check_file_text(&text, &name)),
            Err(e) => all.push(diagnostics::Diagnostic {
                severity: Severity::Error,
                file: name,
                line: None,
                document: None,
                object: None,
                path: String::new(),
                message: e.kind.to_string(),
                suggestion: None,
            }),
        }
    }
    let errors = all.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = all.len() - errors;
    if output == Output::Json {
        let items: Vec<_> = all
            .iter()
            .map(|d| {
                json!({
                    "severity": d.severity.to_string(),
                    "file": d.file,
                    "line": d.line,
                    "document": d.document,
                    "object": d.object.as_ref().map(|o| o.to_string()),
                    "path": d.path,
                    "message": d.message,
                    "suggestion": d.suggestion,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"ok": errors == 0, "files": files.len(), "errors": errors, "warnings": warnings, "diagnostics": items}))
                .map_err(|e| e.to_string())?
        );
    } else {
        for d in &all {
            println!("{d}");
        }
        println!(
            "{} file(s) checked: {errors} error(s), {warnings} warning(s)",
            files.len()
        );
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
