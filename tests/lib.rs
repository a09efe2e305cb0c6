//! End-to-end tests live in this package's test targets; see `demo.rs` and `browser.rs`.
//!
//! This library also compiles the workspace README's Rust snippets as doctests, so that they
//! cannot rot: here rather than in a published crate, whose package does not hold the README
//! of the workspace.

/// The README's Rust snippets.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// What the README and the configuration's reference say of ALTCHA's numbers is what the
/// verifier does: both were once left at an older default.
#[cfg(test)]
mod documented_numbers {
    use siteverify::altcha::{DEFAULT_MAX_NUMBER, MAX_V2_COST};

    const README: &str = include_str!("../README.md");
    const REFERENCE: &str = include_str!("../crates/tower-captcha/src/config.rs");

    #[test]
    fn the_stated_defaults_and_bounds_are_the_verifier_s() {
        for (name, text) in [("README.md", README), ("config.rs", REFERENCE)] {
            let max_number = text
                .lines()
                .find(|line| line.contains("ALTCHA_MAX_NUMBER` |"))
                .unwrap_or_else(|| panic!("{name} documents ALTCHA_MAX_NUMBER"));
            assert!(
                max_number.contains(&format!("default {DEFAULT_MAX_NUMBER}")),
                "{name}: {max_number}"
            );
            let cost = text
                .lines()
                .find(|line| line.contains("ALTCHA_V2_COST` |"))
                .unwrap_or_else(|| panic!("{name} documents ALTCHA_V2_COST"));
            assert!(cost.contains(&format!("1–{MAX_V2_COST}")), "{name}: {cost}");
        }
    }
}
