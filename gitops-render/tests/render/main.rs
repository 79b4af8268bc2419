//! Integration tests for gitops-render: local trees, the resolver, the directory renderer and
//! source-type detection.

mod detect;
mod directory;
mod props;
mod resolve;
mod support;
mod tree;

use std::path::{Path, PathBuf};

use gitops_core::Object;
use gitops_core::engine::{AppContext, EngineError, RenderInput, Renderer};
use gitops_core::model::{ApplicationSource, SourceDirectory};
use gitops_render::FsTree;

/// The fixture repository.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
}

fn fixture_tree() -> FsTree {
    FsTree::open(fixtures(), "local").expect("fixture repository opens")
}

fn app() -> AppContext {
    AppContext::new("demo", "argocd", "default", "demo")
}

fn dir_source(directory: Option<SourceDirectory>) -> ApplicationSource {
    ApplicationSource {
        repo_url: "./".into(),
        directory,
        ..Default::default()
    }
}

fn render_with(
    renderer: &dyn Renderer,
    tree: &FsTree,
    path: &str,
    source: &ApplicationSource,
) -> Result<Vec<Object>, EngineError> {
    let app = app();
    renderer.render(&RenderInput::new(&app, source, tree, path))
}

fn names(objects: &[Object]) -> Vec<&str> {
    objects.iter().map(|o| o.name()).collect()
}

/// Writes `files` (path, content) under a fresh temporary directory.
fn temp_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, content) in files {
        let p = dir.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create directory");
        }
        std::fs::write(p, content).expect("write file");
    }
    dir
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}
mod git;
mod helm;
mod kustomize;
mod plugin;
