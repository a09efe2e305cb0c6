//! End-to-end tests live in this package's test targets; see `demo.rs` and `browser.rs`.
//!
//! This library also compiles the workspace README's Rust snippets as doctests, so that they
//! cannot rot: here rather than in a published crate, whose package does not hold the README
//! of the workspace.

/// The README's Rust snippets.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
