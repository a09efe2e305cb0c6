//! The provider-set figures: a route guarded by a set of three in-process providers against
//! a route guarded by one, under the load of the main table; and what failover costs, with
//! the first member's breaker open, one request at a time against a route with no layer.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::StatusCode;
use tokio::net::TcpListener;
use tower_captcha::{
    CaptchaLayer, Member, Provider, ProviderSet, Verdict, Verifier, VerifierConfig,
};

use crate::{
    BoxError,
    children::Process,
    load::{self, Outcome},
    requests,
    servers::{Instant, Mode, TEST_SECRET},
    suite::{self, Measured, Ratio, Settings},
};

/// The site key the failover server names in its hint.
pub(crate) const FALLBACK_SITE_KEY: &str = "captcha-bench-fallback-site-key";

/// The set servers' layer. Three members, the token (in the reCAPTCHA header) the last
/// one's, so that finding it walks past the other two; or, for failover, reCAPTCHA first on
/// an endpoint that is down and hCaptcha behind it.
pub(crate) fn layer(mode: Mode, dead: Option<&str>) -> Result<CaptchaLayer<ProviderSet>, BoxError> {
    let instant = |provider: Provider| {
        Member::new(Instant(Verdict::new(provider).with_hostname("localhost")))
            .site_key(format!("captcha-bench-{}-site-key", provider.name()))
    };
    let set = match mode {
        Mode::SetThree => ProviderSet::failover([
            instant(Provider::Turnstile),
            instant(Provider::HCaptcha),
            instant(Provider::Recaptcha),
        ])?,
        Mode::SetFailover => {
            let url = dead.ok_or("the failover server needs --emulator URL (its dead endpoint)")?;
            // One failure opens the breaker, for longer than the run.
            let first = Verifier::recaptcha(
                VerifierConfig::new(TEST_SECRET)
                    .site_key("captcha-bench-recaptcha-site-key")
                    .verify_url(format!("{url}/siteverify"))
                    .circuit_breaker(1, Duration::from_secs(3600)),
            )?;
            ProviderSet::failover([
                Member::new(first),
                Member::new(Instant(
                    Verdict::new(Provider::HCaptcha).with_hostname("localhost"),
                ))
                .site_key(FALLBACK_SITE_KEY),
            ])?
        }
        other => return Err(format!("{} is not a set server", other.name()).into()),
    };
    Ok(CaptchaLayer::set(set))
}

/// The set figures.
#[derive(Debug)]
pub(crate) struct Sets {
    /// (b) and the set of three, under the main table's load.
    pub(crate) servers: Vec<(Mode, Measured)>,
    pub(crate) failover: Failover,
}

impl Sets {
    pub(crate) fn ratio(&self) -> Option<Ratio> {
        suite::ratio_in(&self.servers, Mode::SetThree, Mode::LayerInstant)
    }
}

/// Failover with the first member's breaker open, against no layer, one request at a time.
#[derive(Debug)]
pub(crate) struct Failover {
    /// The route with no layer, 200.
    pub(crate) plain: Outcome,
    /// The set's route, 503 with the hint.
    pub(crate) hinted: Outcome,
    /// The first answer's body, which must name the fallback.
    pub(crate) body: String,
    /// Connections the dead endpoint accepted while the requests were counted.
    pub(crate) dead_calls: usize,
}

impl Failover {
    /// What answering with the hint adds to a request, at the 99th percentile, in µs.
    pub(crate) fn added_p99_micros(&self) -> f64 {
        let p99 = |o: &Outcome| o.percentile(0.99).as_secs_f64() * 1e6;
        p99(&self.hinted) - p99(&self.plain)
    }

    /// Whether the body names the fallback and its site key.
    pub(crate) fn hint_given(&self) -> bool {
        serde_json::from_str::<serde_json::Value>(&self.body).is_ok_and(|body| {
            body["reason"] == "provider_unavailable"
                && body["fallback"]["provider"] == "hcaptcha"
                && body["fallback"]["site_key"] == FALLBACK_SITE_KEY
        })
    }
}

pub(crate) async fn check(settings: &Settings) -> Result<Sets, BoxError> {
    let mut table = Vec::new();
    for mode in Mode::SETS {
        table.push((mode, Process::server_at(mode, None).await?));
    }
    let measured = suite::load_rounds(table, settings, &|| Ok(Duration::ZERO), &mut |_, _, _| {
        Ok(requests::header_token())
    })
    .await?;
    let mut servers = Vec::new();
    for (mode, server, m) in measured {
        server.stop().await;
        servers.push((mode, m));
    }

    eprintln!("failover: the first member down, its breaker open");
    let dead = Dead::start().await?;
    let plain = Process::server_at(Mode::Plain, None).await?;
    let failover = Process::server_at(Mode::SetFailover, Some(&dead.url)).await?;
    // The first call finds the endpoint down and opens the breaker; it is answered with the
    // hint too.
    let body = load::send_expecting(
        failover.addr(),
        requests::header_token()(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await?;
    let calls_before = dead.calls();
    let targets = [
        (plain.addr(), requests::header_token(), StatusCode::OK),
        (
            failover.addr(),
            requests::header_token(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    let [plain_outcome, hinted] = <[Outcome; 2]>::try_from(
        load::interleaved_expecting(&targets, settings.latency_warmup, settings.latency_window)
            .await,
    )
    .unwrap_or_default();
    let dead_calls = dead.calls() - calls_before;
    plain.stop().await;
    failover.stop().await;
    Ok(Sets {
        servers,
        failover: Failover {
            plain: plain_outcome,
            hinted,
            body: String::from_utf8_lossy(&body).into_owned(),
            dead_calls,
        },
    })
}

/// A provider endpoint that is down: it hangs up on every connection before answering, and
/// counts them.
struct Dead {
    url: String,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Dead {
    async fn start() -> Result<Dead, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Ok(Dead { url, calls, task })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for Dead {
    fn drop(&mut self) {
        self.task.abort();
    }
}
