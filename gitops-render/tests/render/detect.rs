use gitops_core::engine::{ErrorKind, ResolveContext};
use gitops_core::model::{
    ApplicationSource, SourceDirectory, SourceHelm, SourceKustomize, SourcePlugin, SourceType,
};
use gitops_render::{
    Detection, DirectoryRenderer, LocalResolver, SourceRenderer, detect_source_type, render_source,
};

use crate::{app, dir_source, fixture_tree, fixtures, names, render_with};

fn detect(source: &ApplicationSource, path: &str) -> Result<Detection, gitops_core::engine::EngineError> {
    detect_source_type(source, &fixture_tree(), path)
}

#[test]
fn detection_by_files() {
    let none = ApplicationSource::default();
    assert_eq!(
        detect(&none, "kustomize-app").unwrap(),
        Detection::File(SourceType::Kustomize, "kustomization.yaml".into())
    );
    assert_eq!(
        detect(&none, "helm-app").unwrap(),
        Detection::File(SourceType::Helm, "Chart.yaml".into())
    );
    assert_eq!(
        detect(&none, "both").unwrap().source_type(),
        SourceType::Kustomize
    );
    assert_eq!(detect(&none, "plain").unwrap(), Detection::Default);
    // Only files directly in the path count.
    assert_eq!(detect(&none, "").unwrap(), Detection::Default);
}

#[test]
fn explicit_type_wins() {
    let dir = dir_source(Some(SourceDirectory::default()));
    assert_eq!(
        detect(&dir, "kustomize-app").unwrap(),
        Detection::Explicit(SourceType::Directory)
    );
    let helm = ApplicationSource {
        helm: Some(SourceHelm::default()),
        ..Default::default()
    };
    assert_eq!(
        detect(&helm, "kustomize-app").unwrap().source_type(),
        SourceType::Helm
    );
}

#[test]
fn multiple_explicit_types_is_invalid() {
    let both = ApplicationSource {
        kustomize: Some(SourceKustomize::default()),
        plugin: Some(SourcePlugin::default()),
        ..Default::default()
    };
    let e = detect(&both, "plain").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.to_string(),
        "multiple application sources defined: Kustomize,Plugin"
    );
    let all = ApplicationSource {
        helm: Some(SourceHelm::default()),
        directory: Some(SourceDirectory::default()),
        ..both
    };
    assert_eq!(
        detect(&all, "plain").unwrap_err().to_string(),
        "multiple application sources defined: Helm,Kustomize,Directory,Plugin"
    );
    let tree = fixture_tree();
    let e = render_with(&SourceRenderer::new(), &tree, "plain", &all).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
}

#[test]
fn detected_types_render_with_their_engines() {
    let tree = fixture_tree();
    // Kustomize is native: a kustomization directly in the path is built.
    let objs = render_with(
        &SourceRenderer::new(),
        &tree,
        "kustomize-app",
        &ApplicationSource::default(),
    )
    .unwrap();
    assert!(!objs.is_empty());
    // Helm needs a helm binary; without one the error says what to install.
    if gitops_render::helm::HelmRenderer::from_env()
        .find_binary()
        .is_err()
    {
        let e = render_with(
            &SourceRenderer::new(),
            &tree,
            "helm-app",
            &ApplicationSource::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("helm"), "{e}");
    }
    // An explicit plugin source with no plugin configured says so.
    let plugin = ApplicationSource {
        plugin: Some(SourcePlugin::default()),
        ..Default::default()
    };
    let e = render_with(&SourceRenderer::new(), &tree, "plain", &plugin).unwrap_err();
    assert!(e.to_string().contains("plugin"), "{e}");
}

#[test]
fn source_renderer_renders_directories_and_registers() {
    let tree = fixture_tree();
    let objects = render_with(
        &SourceRenderer::new(),
        &tree,
        "plain",
        &ApplicationSource::default(),
    )
    .unwrap();
    assert_eq!(
        names(&objects),
        ["web", "multi-1", "multi-2", "list-1", "list-2", "json-1"]
    );

    let empty = SourceRenderer::empty();
    let e = render_with(&empty, &tree, "plain", &ApplicationSource::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let again = empty.with(std::sync::Arc::new(DirectoryRenderer::new()));
    assert_eq!(again.renderers().len(), 1);
    let again = again.with(std::sync::Arc::new(DirectoryRenderer::new()));
    assert_eq!(again.renderers().len(), 1, "same name replaces");
}

#[test]
fn render_source_end_to_end() {
    let ctx = ResolveContext::with_base_dir(fixtures());
    let source = ApplicationSource {
        repo_url: ".".into(),
        path: Some("plain".into()),
        directory: Some(SourceDirectory {
            recurse: true,
            include: Some("sub/*".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let r = render_source(
        &LocalResolver::new(),
        &SourceRenderer::new(),
        &app(),
        &source,
        &ctx,
    )
    .unwrap();
    assert_eq!(r.revision, "local");
    assert_eq!(r.source_type, "Directory");
    assert_eq!(names(&r.objects), ["deeper-f", "sub-e"]);

    let r = render_source(
        &LocalResolver::new(),
        &DirectoryRenderer::new(),
        &app(),
        &source,
        &ctx,
    )
    .unwrap();
    assert_eq!(r.source_type, "Directory");

    let kust = ApplicationSource {
        repo_url: ".".into(),
        path: Some("kustomize-app".into()),
        ..Default::default()
    };
    let r = render_source(&LocalResolver::new(), &SourceRenderer::new(), &app(), &kust, &ctx).unwrap();
    assert_eq!(r.source_type, "Kustomize");

    let remote = ApplicationSource {
        repo_url: "https://github.com/argoproj/argocd-example-apps".into(),
        path: Some("guestbook".into()),
        ..Default::default()
    };
    let e = render_source(
        &LocalResolver::new(),
        &SourceRenderer::new(),
        &app(),
        &remote,
        &ctx,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}
