//! `gitops health`: assesses the objects of a file with the health registry (configured scripts,
//! the built-in Rhai library, the built-in checks), as Argo CD would.
//!
//! * `--config <file>`: an `argocd-cm` ConfigMap (its `resource.customizations…` keys) or a
//!   native `gitops.rs/v1alpha1` `HealthConfig`, detected from the document's
//!   `apiVersion`/`kind` (see `gitops_health::config`).
//! * `--first`: only the objects of the file's first document.
//!
//! Text output is one line per object: `<object>  <STATUS>  <message>`, columns aligned, the
//! object named as everywhere else (`apps/Deployment prod/web`). An object without a result
//! (no check for its kind, or a script's empty result) shows `-` as its status. Newlines and
//! tabs inside messages are shown as `\n` and `\t`. With `-o json` the output is a list of
//! `{"object", "status", "message"}`, where `status` is `""` for objects without a result.
//!
//! The exit code is non-zero only when the file or the configuration cannot be loaded; a
//! `Degraded` or `Unknown` object is a normal answer. Configured scripts that do not compile are
//! reported on standard error (their kinds show `Unknown` with the compile error).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use gitops_core::engine::Health;
use gitops_core::load;
use gitops_health::config::HealthConfig;
use gitops_health::registry::HealthRegistry;

/// Arguments of `gitops health`.
#[derive(clap::Args, Debug)]
pub(crate) struct HealthArgs {
    /// YAML or JSON file with the live objects to assess.
    file: PathBuf,
    /// Health configuration: an argocd-cm ConfigMap or a gitops.rs/v1alpha1 HealthConfig.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Assess only the first document of the file.
    #[arg(long)]
    first: bool,
}

/// Runs `gitops health`; `json` selects JSON output.
///
/// # Errors
/// The message when the file or the configuration cannot be loaded.
pub(crate) fn run(args: &HealthArgs, json: bool) -> Result<ExitCode, String> {
    let registry = match &args.config {
        Some(path) => {
            let config = HealthConfig::load_file(path).map_err(|e| e.to_string())?;
            HealthRegistry::new().with_config(&config)
        }
        None => HealthRegistry::new(),
    };
    for problem in registry.problems() {
        eprintln!("warning: {problem}");
    }
    let mut loaded = load::load_file(&args.file).map_err(|e| e.to_string())?;
    if args.first {
        let first = loaded.first().map(|l| l.index);
        loaded.retain(|l| Some(l.index) == first);
    }
    let rows: Vec<(String, Option<Health>)> = loaded
        .iter()
        .map(|l| (l.object.object_ref().to_string(), registry.health(&l.object)))
        .collect();
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(object, health)| {
                json!({
                    "object": object,
                    "status": health.as_ref().map_or("", |h| h.status.as_str()),
                    "message": health.as_ref().map_or("", |h| h.message.as_str()),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&items).map_err(|e| e.to_string())?
        );
    } else {
        let width = rows.iter().map(|(o, _)| o.chars().count()).max().unwrap_or(0);
        let status_width = rows
            .iter()
            .map(|(_, h)| h.as_ref().map_or(1, |h| h.status.as_str().len()))
            .max()
            .unwrap_or(0);
        for (object, health) in &rows {
            let (status, message) = match health {
                Some(h) => (h.status.as_str(), escape(&h.message)),
                None => ("-", String::new()),
            };
            let line = format!("{object:<width$}  {status:<status_width$}  {message}");
            println!("{}", line.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Shows newlines and tabs of a message as `\n` and `\t`, so each object stays on one line.
fn escape(message: &str) -> String {
    message.replace('\n', "\\n").replace('\t', "\\t")
}
