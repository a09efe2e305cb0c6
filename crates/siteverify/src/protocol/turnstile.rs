//! Cloudflare Turnstile: JSON `secret`, `response`, optional `remoteip`, and the
//! `idempotency_key` that makes a retry of the same token safe.

use serde_json::{Map, Value};

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
    let mut body = Map::new();
    body.insert("secret".into(), Value::from(call.secret.expose()));
    body.insert("response".into(), Value::from(call.token));
    if let Some(ip) = call.remote_ip {
        body.insert("remoteip".into(), Value::from(ip.to_string()));
    }
    if let Some(key) = call.idempotency_key {
        body.insert("idempotency_key".into(), Value::from(key));
    }
    WireBody::Json(Value::Object(body))
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    siteverify_answer::decode(Provider::Turnstile, call, answer)
}
