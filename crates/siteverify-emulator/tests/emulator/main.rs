//! Integration tests: real HTTP over loopback against an emulator on a free port.

mod byebot;
mod faults;
mod friendlycaptcha;
mod hcaptcha;
mod http_api;
mod procaptcha;
mod recaptcha;
mod recaptcha_enterprise;
mod turnstile;
mod widget;

use serde_json::Value;
use siteverify_emulator::{Emulator, Provider, TokenSpec};

/// One HTTP answer, read completely.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.expect("body").to_vec();
        Answer {
            status,
            content_type,
            body,
        }
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error-codes` of a siteverify-style answer.
    pub(crate) fn codes(&self) -> Vec<String> {
        let json = self.json();
        json["error-codes"]
            .as_array()
            .map(|codes| {
                codes
                    .iter()
                    .map(|c| c.as_str().expect("string code").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

pub(crate) async fn start() -> Emulator {
    Emulator::start().await.expect("emulator starts")
}

pub(crate) fn mint(emulator: &Emulator, spec: TokenSpec) -> String {
    emulator.mint(spec).expect("mint")
}

pub(crate) async fn post_form(url: &str, fields: &[(&str, &str)]) -> Answer {
    let response = client()
        .post(url)
        .form(fields)
        .send()
        .await
        .expect("request");
    Answer::read(response).await
}

pub(crate) async fn post_json(url: &str, body: &Value) -> Answer {
    let response = client().post(url).json(body).send().await.expect("request");
    Answer::read(response).await
}

/// A JSON POST with the API key in `X-API-Key` (Friendly Captcha).
pub(crate) async fn post_json_keyed(url: &str, api_key: &str, body: &Value) -> Answer {
    let response = client()
        .post(url)
        .header("x-api-key", api_key)
        .json(body)
        .send()
        .await
        .expect("request");
    Answer::read(response).await
}

pub(crate) async fn post_raw(url: &str, content_type: &str, body: &'static [u8]) -> Answer {
    let response = client()
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    Answer::read(response).await
}

/// A verify call with the provider's usual field names and encoding.
pub(crate) async fn verify(
    emulator: &Emulator,
    provider: Provider,
    secret: &str,
    token: &str,
) -> Answer {
    let url = emulator.verify_url(provider);
    match provider {
        Provider::HCaptcha | Provider::Recaptcha => {
            post_form(&url, &[("secret", secret), ("response", token)]).await
        }
        Provider::Turnstile => {
            post_json(
                &url,
                &serde_json::json!({ "secret": secret, "response": token }),
            )
            .await
        }
        Provider::Procaptcha => {
            post_json(
                &url,
                &serde_json::json!({ "secret": secret, "token": token }),
            )
            .await
        }
        Provider::ByeBot => {
            post_json(
                &url,
                &serde_json::json!({ "api_key": secret, "token": token }),
            )
            .await
        }
        Provider::FriendlyCaptcha => {
            post_json_keyed(&url, secret, &serde_json::json!({ "response": token })).await
        }
        Provider::RecaptchaEnterprise => {
            let response = client()
                .post(&url)
                .header("x-goog-api-key", secret)
                .json(&serde_json::json!({ "event": {
                    "token": token,
                    "siteKey": provider.default_site_key(),
                } }))
                .send()
                .await
                .expect("request");
            Answer::read(response).await
        }
    }
}

/// A verify call with the provider's default secret.
pub(crate) async fn verify_default(emulator: &Emulator, provider: Provider, token: &str) -> Answer {
    verify(emulator, provider, provider.default_secret(), token).await
}

/// Asserts `YYYY-MM-DDTHH:MM:SS[.f{digits}]Z`.
pub(crate) fn assert_timestamp(ts: &str, digits: usize) {
    let bytes = ts.as_bytes();
    let expected_len = 20 + if digits > 0 { digits + 1 } else { 0 };
    assert_eq!(bytes.len(), expected_len, "timestamp {ts:?}");
    for (i, b) in bytes.iter().enumerate() {
        let ok = match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 if digits > 0 => *b == b'.',
            _ if i == bytes.len() - 1 => *b == b'Z',
            _ => b.is_ascii_digit(),
        };
        assert!(ok, "timestamp {ts:?}, byte {i}");
    }
}

pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}
