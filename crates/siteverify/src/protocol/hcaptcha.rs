//! hCaptcha: form-encoded `secret`, `response`, optional `remoteip` and `sitekey`.

use super::{Call, Codec, secret_response_form, siteverify_answer};
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
    // hCaptcha refuses a token solved for another site key when we name the one we expect.
    secret_response_form(call, call.site_key.map(|key| ("sitekey", key)))
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    let mut verdict = siteverify_answer::decode(Provider::HCaptcha, call, answer)?;
    verdict.site_key = call.site_key.map(str::to_owned);
    Ok(verdict)
}
