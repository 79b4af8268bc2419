//! [`Generator`]: ApplicationSet generators produce parameter sets for a template.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::cluster::BoxFuture;
use super::error::EngineError;

/// One set of template parameters (`{{name}}` → value).
pub type Params = Map<String, Value>;

/// What a generator gets besides its own spec.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct GeneratorContext {
    /// Name of the ApplicationSet being reconciled.
    pub appset_name: String,
    /// Namespace of the ApplicationSet.
    pub appset_namespace: String,
    /// Parameters from an enclosing generator (matrix), if any.
    pub parent: Option<Params>,
}

/// Produces parameter sets from a generator's spec (the value under its key, e.g. `list:`).
///
/// # Behavior
/// - Returns every parameter set, in a stable order.
/// - An invalid spec is [`ErrorKind::Invalid`](super::ErrorKind::Invalid); an unreachable
///   source (SCM, cluster API) is `Unavailable`, which the caller may retry.
pub trait Generator: Send + Sync + 'static {
    /// The generator key this handles, e.g. `list`.
    fn key(&self) -> &str;
    /// Generates parameter sets.
    fn generate(
        &self,
        ctx: &GeneratorContext,
        spec: &Value,
    ) -> impl Future<Output = Result<Vec<Params>, EngineError>> + Send;
}

/// The object-safe mirror of [`Generator`].
pub trait DynGenerator: Send + Sync + 'static {
    /// See [`Generator::key`].
    fn key_dyn(&self) -> &str;
    /// See [`Generator::generate`].
    fn generate_dyn<'a>(
        &'a self,
        ctx: &'a GeneratorContext,
        spec: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<Params>, EngineError>>;
}

impl<T: Generator> DynGenerator for T {
    fn key_dyn(&self) -> &str {
        self.key()
    }
    fn generate_dyn<'a>(
        &'a self,
        ctx: &'a GeneratorContext,
        spec: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<Params>, EngineError>> {
        Box::pin(self.generate(ctx, spec))
    }
}

/// A shared, type-erased generator.
pub type SharedGenerator = Arc<dyn DynGenerator>;

impl Generator for SharedGenerator {
    fn key(&self) -> &str {
        (**self).key_dyn()
    }
    async fn generate(&self, ctx: &GeneratorContext, spec: &Value) -> Result<Vec<Params>, EngineError> {
        (**self).generate_dyn(ctx, spec).await
    }
}

/// A generator from a closure (see [`generator_fn`]).
pub struct GeneratorFn<F> {
    key: String,
    f: F,
}

impl<F> fmt::Debug for GeneratorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratorFn").field("key", &self.key).finish()
    }
}

impl<F, Fut> Generator for GeneratorFn<F>
where
    F: Fn(GeneratorContext, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Params>, EngineError>> + Send,
{
    fn key(&self) -> &str {
        &self.key
    }
    fn generate(
        &self,
        ctx: &GeneratorContext,
        spec: &Value,
    ) -> impl Future<Output = Result<Vec<Params>, EngineError>> + Send {
        (self.f)(ctx.clone(), spec.clone())
    }
}

/// Makes a [`Generator`] for key `key` from an async closure.
///
/// ```
/// use gitops_core::engine::{generator_fn, Generator, GeneratorContext, Params};
/// let envs = generator_fn("envs", |_ctx, _spec| async {
///     Ok(["dev", "prod"].iter().map(|e| {
///         let mut p = Params::new();
///         p.insert("env".into(), (*e).into());
///         p
///     }).collect())
/// });
/// let out = futures::executor::block_on(envs.generate(&GeneratorContext::default(), &serde_json::Value::Null)).unwrap();
/// assert_eq!(out.len(), 2);
/// ```
pub fn generator_fn<F, Fut>(key: impl Into<String>, f: F) -> GeneratorFn<F>
where
    F: Fn(GeneratorContext, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Params>, EngineError>> + Send,
{
    GeneratorFn { key: key.into(), f }
}

/// The `list` generator: each element of `elements` is one parameter set.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListGenerator;

impl Generator for ListGenerator {
    fn key(&self) -> &str {
        "list"
    }
    fn generate(
        &self,
        _ctx: &GeneratorContext,
        spec: &Value,
    ) -> impl Future<Output = Result<Vec<Params>, EngineError>> + Send {
        let result = match spec.get("elements") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m.clone()),
                    _ => Err(EngineError::invalid(format!(
                        "list generator: elements[{i}] is not a mapping"
                    ))),
                })
                .collect(),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(EngineError::invalid("list generator: `elements` must be a list")),
        };
        async move { result }
    }
}
