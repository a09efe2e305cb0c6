//! Tower/Axum middleware that demands a solved CAPTCHA on chosen routes.
