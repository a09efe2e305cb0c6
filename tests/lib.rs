//! End-to-end tests live in this package's test targets; see `demo.rs` and `browser.rs`.
