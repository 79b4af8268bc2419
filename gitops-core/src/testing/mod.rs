//! In-memory implementations of the engine traits for tests, examples and the CLI.
