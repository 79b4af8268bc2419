//! What every cluster command shares: the simulated cluster kept in a state file, the app
//! controller over it, and loading Application files into checked app trees.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::executor::block_on;
use gitops_core::diagnostics;
use gitops_core::engine::ResolveContext;
use gitops_core::load;
use gitops_core::model::{Application, is_application};
use gitops_core::sync::controller::{AppController, AppNode, ControllerError, error_chain};
use gitops_core::sync::{ProgressFn, SyncOptions, Syncer};
use gitops_core::testing::MemoryCluster;

/// The simulated cluster and a controller over it.
pub(crate) struct Session {
    pub(crate) cluster: MemoryCluster,
    pub(crate) controller: AppController,
    state: PathBuf,
}

impl Session {
    /// Loads the simulated cluster from `state` (a new one when the file does not exist).
    pub(crate) fn open(state: &Path, progress: Option<ProgressFn>) -> Result<Session, String> {
        let cluster = MemoryCluster::load_or_new(state).map_err(|e| error_chain(&e))?;
        let clock = cluster.clone();
        let mut syncer = Syncer::new(
            cluster.clone().into_shared(),
            Arc::new(gitops_health::registry::HealthRegistry::new()),
        )
        .with_waiter(cluster.ticker())
        .with_clock(Arc::new(move || clock.now()));
        if let Some(p) = progress {
            syncer = syncer.with_progress(p);
        }
        // Local directories as they are, Git repositories through gix, cached next to the state.
        let git_cache = state.parent().unwrap_or(Path::new(".")).join("git");
        let resolver: gitops_core::engine::SharedSourceResolver =
            Arc::new(gitops_render::DefaultResolver::new(git_cache));
        // Kustomize's remote git bases come through the same resolver.
        let renderer = gitops_render::SourceRenderer::new().with(Arc::new(
            gitops_render::kustomize::KustomizeRenderer::new().with_remote_resolver(resolver.clone()),
        ));
        let controller = AppController::new(syncer, resolver, Arc::new(renderer));
        Ok(Session {
            cluster,
            controller,
            state: state.to_path_buf(),
        })
    }

    /// Writes the simulated cluster back to its state file.
    pub(crate) fn save(&self) -> Result<(), String> {
        if let Some(dir) = self.state.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        self.cluster
            .save(&self.state)
            .map_err(|e| format!("cannot save {}: {e}", self.state.display()))
    }

    /// Loads the Applications of a file (printing its diagnostics on stderr) and renders and
    /// checks each app tree. Nothing in the cluster changes.
    pub(crate) fn load_trees(&self, app_path: &Path, opts: &SyncOptions) -> Result<Vec<AppNode>, String> {
        if let Ok(t) = load::read_text(app_path) {
            for d in diagnostics::check_file_text(&t, &app_path.display().to_string()) {
                eprintln!("{d}");
            }
        }
        let apps = load_applications(app_path)?;
        let base_dir = app_path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", app_path.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut trees = Vec::new();
        for app in apps {
            let name = app.metadata.name.clone();
            match block_on(
                self.controller
                    .load_tree(app, ResolveContext::with_base_dir(&base_dir), opts),
            ) {
                Ok(t) => trees.push(t),
                Err(ControllerError::InvalidTree(errs)) => {
                    return Err(format!(
                        "application {name}: nothing was applied; fix these problems first:\n  {}",
                        errs.0.join("\n  ")
                    ));
                }
                Err(e) => return Err(error_chain(&e)),
            }
        }
        Ok(trees)
    }
}

/// The Applications in a YAML file.
pub(crate) fn load_applications(path: &Path) -> Result<Vec<Application>, String> {
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
