//! Cloudflare Turnstile: JSON `secret`, `response`, optional `remoteip`, and the
//! `idempotency_key` that makes a retry of the same token safe.

use std::net::IpAddr;

use serde::Serialize;

use super::{Call, Codec, siteverify_answer};
use crate::{
    Provider, Verdict, VerifyError,
    transport::{WireAnswer, WireBody},
};

pub(super) static CODEC: Codec = Codec {
    encode,
    decode,
    idempotent: true,
};

fn encode(call: &Call<'_>) -> WireBody {
    #[derive(Serialize)]
    struct Request<'a> {
        secret: &'a str,
        response: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        remoteip: Option<IpAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<&'a str>,
    }
    WireBody::json(&Request {
        secret: call.secret.expose(),
        response: call.token,
        remoteip: call.remote_ip,
        idempotency_key: call.idempotency_key,
    })
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    siteverify_answer::decode(Provider::Turnstile, call, answer)
}
