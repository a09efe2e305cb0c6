//! hCaptcha: form-encoded `secret`, `response`, optional `remoteip` and `sitekey`.

use super::{Call, Codec, siteverify_answer};
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
    let mut fields = vec![
        ("secret", call.secret.expose().to_owned()),
        ("response", call.token.to_owned()),
    ];
    if let Some(ip) = call.remote_ip {
        fields.push(("remoteip", ip.to_string()));
    }
    // hCaptcha refuses a token solved for another site key when we name the one we expect.
    if let Some(site_key) = call.site_key {
        fields.push(("sitekey", site_key.to_owned()));
    }
    WireBody::Form(fields)
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    let mut verdict = siteverify_answer::decode(Provider::HCaptcha, call, answer)?;
    verdict.site_key = call.site_key.map(str::to_owned);
    Ok(verdict)
}
