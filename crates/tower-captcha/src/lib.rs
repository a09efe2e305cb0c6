//! Tower/Axum middleware that demands a solved CAPTCHA on chosen routes.

pub mod client_ip;
mod config;

pub use client_ip::{ClientIp, ClientIpSource};
pub use config::{CaptchaConfig, EnvError};
