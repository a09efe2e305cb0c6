//! siteverify against the local emulator of every provider, over real HTTP on loopback.

mod support;

mod answers;
mod byebot;
mod faults;
mod frc_sdk;
mod friendlycaptcha;
mod hcaptcha;
mod policy;
mod procaptcha;
mod providers;
mod recaptcha;
mod recaptcha_enterprise;
mod redaction;
mod resilience;
mod transports;
mod turnstile;
