//! Google reCAPTCHA v2 and v3: form-encoded `secret`, `response`, optional `remoteip`. The
//! secret goes in the body, never in the URL, where it would leak into logs.

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
    WireBody::Form(fields)
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    siteverify_answer::decode(Provider::Recaptcha, call, answer)
}
