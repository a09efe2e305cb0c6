//! ByeBot: JSON `api_key`, `token`. The HTTP status is the verdict: 200 valid, 400 invalid,
//! expired or used (with no body).

use serde::{Deserialize, Serialize};

use super::{Call, Codec, parse_json, refusal_of_status};
use crate::{
    Provider, Verdict, VerifyError, timestamp,
    transport::{WireAnswer, WireBody},
};

pub(super) static CODEC: Codec = Codec {
    encode,
    decode,
    idempotent: false,
};

fn encode(call: &Call<'_>) -> WireBody {
    // ByeBot documents no client-IP field, so none is sent.
    #[derive(Serialize)]
    struct Request<'a> {
        api_key: &'a str,
        token: &'a str,
    }
    WireBody::json(&Request {
        api_key: call.secret.expose(),
        token: call.token,
    })
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
    #[serde(default)]
    sitekey: Option<String>,
    #[serde(default)]
    challenged_at: Option<i64>,
    #[serde(default)]
    interactive_solved: Option<bool>,
}

fn decode(_call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    match answer.status {
        200 => {}
        400 => {
            return Err(VerifyError::InvalidToken {
                provider_codes: vec!["http-400".to_owned()],
            });
        }
        401 | 403 => {
            return Err(VerifyError::ProviderMisconfigured {
                provider_codes: vec![format!("http-{}", answer.status)],
            });
        }
        _ => return Err(refusal_of_status(answer)),
    }
    let parsed: Answer = parse_json(answer)?;
    if !parsed.success {
        return Err(VerifyError::InvalidToken {
            provider_codes: Vec::new(),
        });
    }
    let mut verdict = Verdict::new(Provider::ByeBot);
    verdict.site_key = parsed.sitekey.filter(|k| !k.is_empty());
    verdict.challenge_ts = parsed.challenged_at.and_then(timestamp::from_unix_seconds);
    verdict.interactive = parsed.interactive_solved;
    Ok(verdict)
}
