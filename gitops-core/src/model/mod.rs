//! Argo CD's resource types (`argoproj.io/v1alpha1`): [`Application`], [`ApplicationSet`] and
//! [`AppProject`], with their status types.
//!
//! The types deserialize from the YAML users already have. Fields that Argo CD does not know are
//! dropped by the types (as the CRD's structural schema would prune them); [`crate::diagnostics`]
//! reads the raw documents and reports them.
//!
//! ```
//! use gitops_core::model::Application;
//! let app: Application = serde_yaml::from_str(r#"
//! apiVersion: argoproj.io/v1alpha1
//! kind: Application
//! metadata: {name: guestbook, namespace: argocd}
//! spec:
//!   project: default
//!   source: {repoURL: ./repo, path: guestbook}
//!   destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
//! "#).unwrap();
//! assert_eq!(app.sources()[0].normalized_path(), "guestbook");
//! assert_eq!(app.project(), "default");
//! ```

mod application;
mod appset;
mod meta;
mod project;
mod status;
mod validate;

pub use application::*;
pub use appset::*;
pub use meta::ObjectMeta;
pub use project::*;
pub use status::*;
pub use validate::*;

use crate::object::Object;

/// A typed resource could not be read from or written to an [`Object`].
#[derive(Debug, thiserror::Error)]
#[error("{object}: invalid {kind}: {source}")]
pub struct ConvertError {
    /// The object.
    pub object: crate::ObjectRef,
    /// The expected kind.
    pub kind: &'static str,
    /// The serde error (names the field).
    #[source]
    pub source: serde_json::Error,
}

macro_rules! object_conversions {
    ($t:ty, $kind:literal) => {
        impl $t {
            /// Reads the typed resource from a dynamic object.
            pub fn from_object(obj: &Object) -> Result<Self, ConvertError> {
                serde_json::from_value(obj.as_value().clone()).map_err(|source| ConvertError {
                    object: obj.object_ref(),
                    kind: $kind,
                    source,
                })
            }

            /// Writes the typed resource as a dynamic object.
            pub fn to_object(&self) -> Result<Object, ConvertError> {
                let v = serde_json::to_value(self).map_err(|source| ConvertError {
                    object: crate::ObjectRef::new(
                        ARGO_GROUP,
                        $kind,
                        self.metadata.namespace.as_deref(),
                        self.metadata.name.clone(),
                    ),
                    kind: $kind,
                    source,
                })?;
                Object::from_value(v).map_err(|e| ConvertError {
                    object: crate::ObjectRef::new(
                        ARGO_GROUP,
                        $kind,
                        self.metadata.namespace.as_deref(),
                        self.metadata.name.clone(),
                    ),
                    kind: $kind,
                    source: serde::de::Error::custom(e),
                })
            }

            /// The reference naming this resource.
            pub fn object_ref(&self) -> crate::ObjectRef {
                crate::ObjectRef::new(
                    ARGO_GROUP,
                    $kind,
                    self.metadata.namespace.as_deref(),
                    self.metadata.name.clone(),
                )
            }
        }
    };
}

object_conversions!(Application, "Application");
object_conversions!(ApplicationSet, "ApplicationSet");
object_conversions!(AppProject, "AppProject");

/// Whether an object is an Argo CD Application.
pub fn is_application(obj: &Object) -> bool {
    obj.group() == ARGO_GROUP && obj.kind() == "Application"
}
