//! ALTCHA end to end: cross-checks with altcha-lib (the reference implementation, run on
//! Node), the memory store under floods and races, and the Redis store against a real
//! `redis-server` (feature `redis`), and the emulator's widget script solving our challenges.

mod at_once;
mod interop;
mod node;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_server;
mod stores;
mod support;
mod types;
mod widget;
