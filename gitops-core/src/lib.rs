//! # gitops-core
//!
//! The client-less heart of gitops-rs: the Kubernetes object model ([`Object`], [`ObjectRef`]),
//! Argo CD's resource types ([`model`]), the pluggable engine traits ([`engine`]), YAML loading
//! ([`load`]), diagnostics for real-world mistakes ([`diagnostics`]), sync planning and execution
//! ([`sync`]) and, behind the `test-util` feature, the simulated cluster ([`testing`]).
//!
//! This crate depends on no Kubernetes client, Git library, script engine or HTTP client.
//!
//! ## Example: sync an application onto the simulated cluster
//!
//! ```
//! # #[cfg(feature = "test-util")] {
//! use gitops_core::engine::{health_fn, ClusterBackend};
//! use gitops_core::load::load_objects;
//! use gitops_core::model::Application;
//! use gitops_core::sync::{SyncOptions, Syncer};
//! use gitops_core::testing::MemoryCluster;
//! use gitops_core::{ObjectRef, SyncStatusCode};
//!
//! let app: Application = serde_yaml::from_str(r#"
//! apiVersion: argoproj.io/v1alpha1
//! kind: Application
//! metadata: {name: demo, namespace: argocd}
//! spec:
//!   destination: {server: "https://kubernetes.default.svc", namespace: demo}
//!   syncPolicy: {syncOptions: [CreateNamespace=true]}
//! "#).unwrap();
//! let desired = load_objects(r#"
//! apiVersion: v1
//! kind: ConfigMap
//! metadata: {name: settings}
//! data: {greeting: hello}
//! "#, "inline.yaml").unwrap().into_iter().map(|l| l.object).collect();
//!
//! let cluster = MemoryCluster::new();
//! let syncer = Syncer::new(cluster.clone().into_shared(), std::sync::Arc::new(health_fn(|_| Ok(None))))
//!     .with_waiter(cluster.ticker());
//! let result = futures::executor::block_on(syncer.sync(&app, desired, &SyncOptions::default())).unwrap();
//! assert_eq!(result.comparison.sync_status, SyncStatusCode::Synced);
//! let cm = futures::executor::block_on(cluster.try_get(&ObjectRef::new("", "ConfigMap", Some("demo"), "settings")))
//!     .unwrap();
//! assert!(cm.is_some());
//! # }
//! ```

pub mod diagnostics;
pub mod diff;
pub mod engine;
pub mod health;
pub mod load;
pub mod model;
mod object;
pub mod patch;
pub mod selector;
pub mod sync;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod time;

pub use model::SyncStatusCode;
pub use object::{GroupKind, Object, ObjectError, ObjectRef, value_kind};
