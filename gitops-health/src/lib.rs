//! gitops-health
