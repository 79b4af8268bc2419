//! gitops-render
