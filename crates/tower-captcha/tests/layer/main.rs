//! The layer in front of real axum apps bound on port 0, verifying against the emulator.

mod support;

mod altcha;
mod bad_input;
mod integrity;
mod outages;
mod outcomes;
mod providers;
mod skipping;
mod slow_clients;
mod sources;
