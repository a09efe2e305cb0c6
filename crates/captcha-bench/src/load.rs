//! The load generator: a fixed number of keep-alive HTTP/1.1 connections (hyper's client
//! connection, no pool in the way), each sending its next request as soon as the last one is
//! answered, for a fixed time.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::BoxError;

/// No request may take longer; a stuck server fails the run instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds each request anew (bodies are `Bytes`, so a clone costs a reference count).
pub(crate) type MakeRequest = Arc<dyn Fn() -> Request<Full<Bytes>> + Send + Sync>;

/// How hard and how long to drive a server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Load {
    pub(crate) concurrency: usize,
    /// Requests started in this time are counted.
    pub(crate) duration: Duration,
    /// Run before counting starts: connections open, caches and pools warm.
    pub(crate) warmup: Duration,
}

/// What a run measured.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Answered with 200 within the counted window.
    pub(crate) requests: u64,
    /// Anything but a 200, warm-up included.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// The counted window.
    pub(crate) window: Duration,
    /// Of the counted requests, sorted.
    pub(crate) latencies: Vec<Duration>,
}

impl Outcome {
    pub(crate) fn per_second(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64().max(f64::EPSILON)
    }

    /// The nearest-rank percentile, `q` in 0..=1.
    pub(crate) fn percentile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = (q * n as f64).ceil() as usize;
        self.latencies[rank.clamp(1, n) - 1]
    }

    /// Counts one untimed request.
    pub(crate) fn record(&mut self, result: Result<(), BoxError>) {
        match result {
            Ok(()) => self.requests += 1,
            Err(e) => self.error(e),
        }
    }

    fn error(&mut self, error: impl ToString) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| error.to_string());
    }

    /// Adds another run's figures; sort the latencies again before reading percentiles.
    pub(crate) fn merge(&mut self, other: Outcome) {
        self.window += other.window;
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
    }
}

/// Drives `addr` with `load`, all connections sending what `make` builds.
pub(crate) async fn run(addr: SocketAddr, load: Load, make: MakeRequest) -> Outcome {
    let counted_from = Instant::now() + load.warmup;
    let stop = counted_from + load.duration;
    let workers: Vec<_> = (0..load.concurrency.max(1))
        .map(|_| tokio::spawn(worker(addr, make.clone(), counted_from, stop)))
        .collect();
    let mut outcome = Outcome {
        window: load.duration,
        ..Outcome::default()
    };
    for worker in workers {
        match worker.await {
            Ok(done) => outcome.merge(done),
            Err(e) => outcome.error(format!("a load worker failed: {e}")),
        }
    }
    outcome.latencies.sort_unstable();
    outcome
}

/// One connection's closed loop; a failed connection is replaced.
async fn worker(
    addr: SocketAddr,
    make: MakeRequest,
    counted_from: Instant,
    stop: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut connection = None;
    while Instant::now() < stop {
        step(
            addr,
            &mut connection,
            &make,
            StatusCode::OK,
            counted_from,
            &mut outcome,
        )
        .await;
    }
    outcome
}

/// One request at a time to each target in turn, on one keep-alive connection per target,
/// for `window` after `warmup`; an outcome per target, in their order.
///
/// Taking the targets in turn request by request, not run after run, puts them all under the
/// same machine at the same moment: what else runs, the CPU's clock, the scheduler's mood
/// weigh on all alike, so a difference of a few microseconds between their medians means
/// something even where one run's median moves by more from one minute to the next.
pub(crate) async fn interleaved(
    targets: &[(SocketAddr, MakeRequest)],
    warmup: Duration,
    window: Duration,
) -> Vec<Outcome> {
    let expecting: Vec<_> = targets
        .iter()
        .map(|(addr, make)| (*addr, make.clone(), StatusCode::OK))
        .collect();
    interleaved_expecting(&expecting, warmup, window).await
}

/// [`interleaved`], each target's answers counted when they have its status (a refusal
/// that is the point of the measurement, say) rather than 200.
pub(crate) async fn interleaved_expecting(
    targets: &[(SocketAddr, MakeRequest, StatusCode)],
    warmup: Duration,
    window: Duration,
) -> Vec<Outcome> {
    let counted_from = Instant::now() + warmup;
    let stop = counted_from + window;
    let mut connections: Vec<_> = targets.iter().map(|_| None).collect();
    let mut outcomes: Vec<Outcome> = targets
        .iter()
        .map(|_| Outcome {
            window,
            ..Outcome::default()
        })
        .collect();
    while Instant::now() < stop {
        for ((addr, make, expected), (connection, outcome)) in targets
            .iter()
            .zip(connections.iter_mut().zip(outcomes.iter_mut()))
        {
            step(*addr, connection, make, *expected, counted_from, outcome).await;
        }
    }
    for outcome in &mut outcomes {
        outcome.latencies.sort_unstable();
    }
    outcomes
}

/// Sends one request on `connection`, opening it first if there is none, and counts the
/// answer in `outcome` (with its latency when sent after `counted_from`). A failed connection
/// is dropped, to be opened anew by the next step.
async fn step(
    addr: SocketAddr,
    connection: &mut Option<SendRequest<Full<Bytes>>>,
    make: &MakeRequest,
    expected: StatusCode,
    counted_from: Instant,
    outcome: &mut Outcome,
) {
    let sender = match connection {
        Some(sender) => sender,
        None => match connect(addr).await {
            Ok(sender) => connection.insert(sender),
            Err(e) => {
                outcome.error(format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                return;
            }
        },
    };
    let began = Instant::now();
    match exchange(sender, make()).await {
        Ok((status, _)) if status == expected && began >= counted_from => {
            outcome.requests += 1;
            outcome.latencies.push(began.elapsed());
        }
        Ok((status, _)) if status == expected => {}
        Ok((status, _)) => outcome.error(format!("status {status}")),
        Err(e) => {
            outcome.error(e);
            *connection = None;
        }
    }
}

/// Sends each request on a connection of its own, all at once: every one of them is in
/// flight together. The window is the time until the last answer.
pub(crate) async fn burst(addr: SocketAddr, requests: Vec<Request<Full<Bytes>>>) -> Outcome {
    let began = Instant::now();
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await?;
                let sent = Instant::now();
                let (status, _) = exchange(&mut sender, request).await?;
                Ok::<_, BoxError>((status, sent.elapsed()))
            })
        })
        .collect();
    let mut outcome = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(Ok((StatusCode::OK, latency))) => {
                outcome.requests += 1;
                outcome.latencies.push(latency);
            }
            Ok(Ok((status, _))) => outcome.error(format!("status {status}")),
            Ok(Err(e)) => outcome.error(e),
            Err(e) => outcome.error(e),
        }
    }
    outcome.window = began.elapsed();
    outcome.latencies.sort_unstable();
    outcome
}

/// Sends one request on a fresh connection and returns the body of its 200 answer.
pub(crate) async fn send(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<Bytes, BoxError> {
    send_expecting(addr, request, StatusCode::OK).await
}

/// [`send`], for an answer of status `expected`.
pub(crate) async fn send_expecting(
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
    expected: StatusCode,
) -> Result<Bytes, BoxError> {
    let mut sender = connect(addr).await?;
    match exchange(&mut sender, request).await? {
        (status, body) if status == expected => Ok(body),
        (status, _) => Err(format!("status {status}, not {expected}").into()),
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Its errors surface on the sender.
        connection.await.ok();
    });
    Ok(sender)
}

/// One request and its whole answer.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BoxError> {
    let exchange = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, BoxError>((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer in time")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let outcome = Outcome {
            latencies: (1..=100).map(Duration::from_micros).collect(),
            ..Outcome::default()
        };
        assert_eq!(outcome.percentile(0.5), Duration::from_micros(50));
        assert_eq!(outcome.percentile(0.99), Duration::from_micros(99));
        assert_eq!(outcome.percentile(0.0), Duration::from_micros(1));
        assert_eq!(Outcome::default().percentile(0.5), Duration::ZERO);
    }
}
