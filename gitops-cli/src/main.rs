//! `gitops`: render, validate and sync Argo CD applications, by default against the simulated
//! cluster whose state is kept in a file under the working directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use futures::executor::block_on;
use serde_json::json;

use gitops_core::diagnostics::{self, Severity};
use gitops_core::engine::{HealthCode, ResolveContext};
use gitops_core::load;
use gitops_core::model::{Application, OperationPhase, is_application};
use gitops_core::sync::controller::{
    AppController, AppNode, AppReport, ControllerError, ReconcileOptions, error_chain,
};
use gitops_core::sync::{SyncEvent, Syncer};
use gitops_core::testing::MemoryCluster;
use gitops_core::{Object, SyncStatusCode};

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
    /// Human-readable text.
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
    },
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
        } => cmd_sync(cli.output, app, state, *force, (*prune).then_some(true), *dry_run),
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

fn print_diagnostics(diags: &[diagnostics::Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

fn load_applications(path: &Path) -> Result<Vec<Application>, String> {
    let loaded = load::load_file(path).map_err(|e| e.to_string())?;
    let mut apps = Vec::new();
    for l in loaded {
        if is_application(&l.object) {
            apps.push(
                Application::from_object(&l.object)
                    .map_err(|e| format!("{}:{}: {}", path.display(), l.line, error_chain(&e)))?,
            );
        }
    }
    if apps.is_empty() {
        return Err(format!(
            "{}: no argoproj.io/Application in this file",
            path.display()
        ));
    }
    Ok(apps)
}

fn cmd_sync(
    output: Output,
    app_path: &Path,
    state: &Path,
    force: bool,
    prune: Option<bool>,
    dry_run: bool,
) -> Result<ExitCode, String> {
    let text = output == Output::Text;
    if let Ok(t) = load::read_text(app_path) {
        let diags = diagnostics::check_file_text(&t, &app_path.display().to_string());
        print_diagnostics(&diags);
    }
    let apps = load_applications(app_path)?;
    let base_dir = app_path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", app_path.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();

    let cluster = MemoryCluster::load_or_new(state).map_err(|e| error_chain(&e))?;
    if text {
        println!("simulated cluster state: {}", state.display());
    }
    let progress: Arc<dyn Fn(&SyncEvent) + Send + Sync> = Arc::new(move |e: &SyncEvent| {
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
            SyncEvent::TaskDone { app, result } if result.message.ends_with("unchanged") => {
                let _ = app;
            }
            SyncEvent::TaskDone { app, result } => {
                println!("    [{app}] {:?}: {}", result.status, result.message);
            }
            SyncEvent::Waiting { app, reason } => println!("    [{app}] waiting for {reason}"),
            _ => {}
        }
    });
    let clock_cluster = cluster.clone();
    let syncer = Syncer::new(
        cluster.clone().into_shared(),
        Arc::new(gitops_health::BuiltinHealth),
    )
    .with_waiter(cluster.ticker())
    .with_progress(progress)
    .with_clock(Arc::new(move || clock_cluster.now()));
    let controller = AppController::new(
        syncer,
        Arc::new(gitops_render::LocalResolver::default()),
        Arc::new(gitops_render::SourceRenderer::new()),
    );
    let mut opts = ReconcileOptions::default();
    opts.force = force;
    opts.sync.prune = prune;
    opts.sync.dry_run = dry_run;

    let mut all_reports: Vec<AppReport> = Vec::new();
    for app in apps {
        let name = app.metadata.name.clone();
        let tree =
            match block_on(controller.load_tree(app, ResolveContext::with_base_dir(&base_dir), &opts.sync)) {
                Ok(t) => t,
                Err(ControllerError::InvalidTree(errs)) => {
                    return Err(format!(
                        "application {name}: nothing was applied; fix these problems first:\n  {}",
                        errs.0.join("\n  ")
                    ));
                }
                Err(e) => return Err(error_chain(&e)),
            };
        if text {
            println!("application tree:");
            print_tree(&tree);
            println!("syncing:");
        }
        let reports = block_on(controller.reconcile(&tree, &opts)).map_err(|e| error_chain(&e))?;
        all_reports.extend(reports);
    }
    if !dry_run {
        if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        cluster
            .save(state)
            .map_err(|e| format!("cannot save {}: {e}", state.display()))?;
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
