//! The implementor API: every pluggable engine is a trait here.
//!
//! | trait | what it does | in-memory implementation |
//! |---|---|---|
//! | [`ClusterBackend`] | stores and serves objects | `testing::MemoryCluster` |
//! | [`Renderer`] (+ [`SourceTree`], [`SourceResolver`]) | turns a source into objects | gitops-render |
//! | [`HealthCheck`] | judges a live object's health | [`health_fn`], gitops-health |
//! | [`Generator`] | produces ApplicationSet parameters | [`ListGenerator`], [`generator_fn`] |
//!
//! Async traits (`ClusterBackend`, `Generator`) are implemented with `async fn` and stored
//! type-erased through their `Dyn*` mirrors as `Shared*` handles. Pure traits (`Renderer`,
//! `HealthCheck`) are synchronous and object-safe. All return [`EngineError`], whose
//! [`ErrorKind`] tells the executor whether to retry.
//!
//! This module is less stable than the crate root: implementors should expect additions.

mod cluster;
mod error;
mod generator;
mod health;
mod render;

pub use cluster::{
    Applied, ApplyOptions, ApplyOutcome, BoxFuture, Capabilities, ClusterBackend, ClusterBackendExt,
    DeleteOptions, DeleteOutcome, DynClusterBackend, INSTANCE_LABEL, ListQuery, Propagation, Scope,
    SharedClusterBackend, TRACKING_ID_ANNOTATION, TrackingMethod, WatchEvent, tracked_app,
};
pub use error::{BoxError, EngineError, ErrorKind};
pub use generator::{
    DynGenerator, Generator, GeneratorContext, GeneratorFn, ListGenerator, Params, SharedGenerator,
    generator_fn,
};
pub use health::{Health, HealthChain, HealthCheck, HealthCode, HealthFn, SharedHealthCheck, health_fn};
pub use render::{
    AppContext, EntryKind, RenderInput, Renderer, ResolveContext, SharedRenderer, SharedSourceResolver,
    SharedSourceTree, SourceResolver, SourceTree, TreeEntry,
};

#[allow(dead_code)]
fn _assert_object_safe(
    _: &dyn DynClusterBackend,
    _: &dyn DynGenerator,
    _: &dyn HealthCheck,
    _: &dyn Renderer,
    _: &dyn SourceTree,
    _: &dyn SourceResolver,
) {
}
