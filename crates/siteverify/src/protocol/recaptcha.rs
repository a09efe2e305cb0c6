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
    let remote_ip = call.remote_ip.map(|ip| ip.to_string());
    WireBody::form(
        [("secret", call.secret.expose()), ("response", call.token)]
            .into_iter()
            .chain(remote_ip.as_deref().map(|ip| ("remoteip", ip))),
    )
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    siteverify_answer::decode(Provider::Recaptcha, call, answer)
}
