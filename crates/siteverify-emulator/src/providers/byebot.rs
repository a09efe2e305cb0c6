//! ByeBot: JSON `api_key`, `token`; the verdict is the HTTP status (200 valid, 400 invalid
//! with an empty body).

use axum::http::StatusCode;
use serde_json::json;

use super::Endpoint;
use crate::clock::unix_secs;
use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::{Redeemed, Registry};

pub(super) struct ByeBot;

fn invalid() -> Reply {
    Reply::empty(StatusCode::BAD_REQUEST)
}

impl Endpoint for ByeBot {
    fn accepts(&self, format: Format) -> bool {
        format == Format::Json
    }

    fn token(&self, input: &Input) -> Option<String> {
        input.text("token").ok().flatten().map(str::to_owned)
    }

    fn bad_request(&self) -> Reply {
        invalid()
    }

    fn internal_error(&self) -> Reply {
        Reply::empty(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// ByeBot has no error codes: its only failure shape is 400 with no body.
    fn error_codes(&self, _codes: &[String]) -> Reply {
        invalid()
    }

    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply {
        let (Ok(api_key), Ok(token)) = (input.text("api_key"), input.text("token")) else {
            return invalid();
        };
        let Some(api_key) = api_key.filter(|k| registry.secret_known(Provider::ByeBot, k)) else {
            return Reply::empty(StatusCode::UNAUTHORIZED);
        };
        let Some(token) = token else {
            return invalid();
        };
        match registry.redeem(Provider::ByeBot, api_key, token, None) {
            Redeemed::Valid(minted) => Reply::ok(json!({
                "success": true,
                "sitekey": minted.site_key,
                "challenged_at": unix_secs(minted.challenged_at),
                "solve_time_ms": minted.solve_time_ms,
                "interactive_solved": minted.interactive,
            })),
            Redeemed::Unknown | Redeemed::WrongSite | Redeemed::Expired | Redeemed::AlreadyUsed => {
                invalid()
            }
        }
    }
}
