//! The layer in front of real axum apps bound on port 0, verifying against the emulator.

mod support;

#[cfg(feature = "altcha")]
mod altcha;
mod at_once;
mod bad_input;
mod integrity;
mod outages;
mod outcomes;
mod providers;
#[cfg(feature = "altcha")]
mod sets;
mod skipping;
mod slow_clients;
mod sources;
