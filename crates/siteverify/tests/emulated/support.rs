use std::{
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

use siteverify::{Provider, Verifier, VerifierConfig, VerifyError, VerifyOptions};
pub(crate) use siteverify_emulator::{Emulator, Fault, FaultKind, Provider as Emulated, TokenSpec};

pub(crate) fn emulated(provider: Provider) -> Emulated {
    provider
        .name()
        .parse()
        .expect("the emulator knows every provider")
}

pub(crate) async fn emulator() -> Emulator {
    Emulator::start().await.expect("emulator starts on port 0")
}

/// The provider's default emulator secret and the emulator's endpoint.
pub(crate) fn config(emulator: &Emulator, provider: Provider) -> VerifierConfig {
    let e = emulated(provider);
    base_config(provider, e.default_secret()).verify_url(emulator.verify_url(e))
}

/// A configuration with `secret` and what the provider cannot do without besides: reCAPTCHA
/// Enterprise names the site key in every assessment (the emulator's default one).
pub(crate) fn base_config(provider: Provider, secret: &str) -> VerifierConfig {
    let config = VerifierConfig::new(secret);
    match provider {
        Provider::RecaptchaEnterprise => config.site_key(emulated(provider).default_site_key()),
        _ => config,
    }
}

pub(crate) fn verifier(emulator: &Emulator, provider: Provider) -> Verifier {
    Verifier::new(provider, config(emulator, provider)).expect("valid configuration")
}

pub(crate) fn mint(emulator: &Emulator, spec: TokenSpec) -> String {
    emulator.mint(spec).expect("token minted")
}

pub(crate) fn spec(provider: Provider) -> TokenSpec {
    TokenSpec::new(emulated(provider))
}

pub(crate) async fn verify(
    verifier: &Verifier,
    token: &str,
) -> Result<siteverify::Verdict, VerifyError> {
    verifier.verify(token, &VerifyOptions::new()).await
}

pub(crate) async fn code(verifier: &Verifier, token: &str) -> &'static str {
    match verify(verifier, token).await {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// The code a spent or stale token gets from each provider.
pub(crate) fn spent_code(provider: Provider) -> &'static str {
    match provider {
        // Procaptcha and ByeBot do not tell an expired token from a bad one.
        Provider::Procaptcha | Provider::ByeBot => "invalid_token",
        _ => "expired_or_duplicate",
    }
}

pub(crate) const SHORT: Duration = Duration::from_millis(600);

/// Mints one token per raw provider code, answered with exactly that code, and checks the code
/// each becomes.
pub(crate) async fn assert_error_codes(provider: Provider, table: &[(&str, &str)]) {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, provider);
    for (raw, expected) in table {
        let token = mint(
            &emulator,
            spec(provider).fault(FaultKind::ErrorCodes {
                codes: vec![(*raw).to_owned()],
            }),
        );
        assert_eq!(code(&verifier, &token).await, *expected, "{provider} {raw}");
    }
}

/// Everything a tracing subscriber writes, for tests that read the logs.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    /// A subscriber that writes here, every level, no colours.
    pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish()
    }

    /// What was written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A client a verifier can send with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// Ours: hyper and rustls, the default.
    Ours,
    /// A reqwest client passed in (feature `reqwest`), with reqwest's defaults: it follows
    /// redirects.
    #[cfg(feature = "reqwest")]
    Reqwest,
}

impl Client {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ours => "direct",
            #[cfg(feature = "reqwest")]
            Self::Reqwest => "reqwest",
        }
    }

    /// `config` sent by this client.
    pub(crate) fn carry(self, config: VerifierConfig) -> VerifierConfig {
        match self {
            Self::Ours => config,
            #[cfg(feature = "reqwest")]
            Self::Reqwest => {
                config.http_client(reqwest::Client::builder().no_proxy().build().unwrap())
            }
        }
    }
}

/// Every client the transport tests run with: ours, and with the `reqwest` feature, one
/// passed in.
pub(crate) fn clients() -> Vec<Client> {
    vec![
        Client::Ours,
        #[cfg(feature = "reqwest")]
        Client::Reqwest,
    ]
}
