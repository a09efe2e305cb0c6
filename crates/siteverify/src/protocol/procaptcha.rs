//! Prosopo Procaptcha: JSON `secret`, `token`, optional `ip`. Only HTTP 200 with
//! `verified: true` is a pass.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Call, Codec, parse_json, read_score, refusal_of_status};
use crate::{
    Provider, Verdict, VerifyError,
    transport::{WireAnswer, WireBody},
};

pub(super) static CODEC: Codec = Codec {
    encode,
    decode,
    idempotent: false,
};

fn encode(call: &Call<'_>) -> WireBody {
    #[derive(Serialize)]
    struct Request<'a> {
        secret: &'a str,
        token: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ip: Option<IpAddr>,
    }
    WireBody::json(&Request {
        secret: call.secret.expose(),
        token: call.token,
        ip: call.remote_ip,
    })
}

#[derive(Deserialize)]
struct Answer {
    verified: bool,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<Value>,
}

/// Procaptcha's error bodies are not documented, so their `error.code` is kept when present
/// and otherwise the status stands in for it.
fn http_codes(answer: &WireAnswer) -> Vec<String> {
    let code = serde_json::from_slice::<ErrorAnswer>(&answer.body)
        .ok()
        .and_then(|a| a.error)
        .and_then(|e| e.code)
        .map(|c| match c {
            Value::String(s) => s,
            other => other.to_string(),
        });
    let mut codes = vec![format!("http-{}", answer.status)];
    codes.extend(code);
    codes
}

fn decode(_call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    match answer.status {
        200 => {}
        // A malformed request or a token naming an unknown site key. Our requests are well
        // formed by construction, so this is the token's doing.
        400 => {
            return Err(VerifyError::InvalidToken {
                provider_codes: http_codes(answer),
            });
        }
        401 | 403 => {
            return Err(VerifyError::ProviderMisconfigured {
                provider_codes: http_codes(answer),
            });
        }
        _ => return Err(refusal_of_status(answer)),
    }
    let parsed: Answer = parse_json(answer)?;
    if !parsed.verified {
        let provider_codes = parsed.status.into_iter().chain(parsed.reason).collect();
        return Err(VerifyError::InvalidToken { provider_codes });
    }
    let verdict = Verdict::new(Provider::Procaptcha);
    Ok(match parsed.score {
        Some(score) => verdict.with_score(read_score(score)?),
        None => verdict,
    })
}
