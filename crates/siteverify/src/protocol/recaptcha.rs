//! Google reCAPTCHA v2 and v3: form-encoded `secret`, `response`, optional `remoteip`. The
//! secret goes in the body, never in the URL, where it would leak into logs.

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
    secret_response_form(call, None)
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    siteverify_answer::decode(Provider::Recaptcha, call, answer)
}
