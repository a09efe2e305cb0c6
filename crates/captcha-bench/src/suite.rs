//! The whole run: the five servers under the same load, then the latency and memory checks,
//! then the ALTCHA table (no layer, memory store, Redis store) and ALTCHA's own figures.

use std::time::Duration;

use crate::{
    BoxError,
    altcha::{self, StoreFill, VerifyRates},
    children::{self, Process, Redis},
    load::{self, Load, MakeRequest, Outcome},
    procfs::{self, Memory},
    requests,
    servers::Mode,
};

/// How much of everything to do.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) smoke: bool,
    /// Each server's load, warm-up included.
    pub(crate) load: Load,
    /// The load runs are cut into this many rounds, the servers taken in turn in each.
    pub(crate) rounds: u32,
    /// The run comparing a form token with a header token: one request at a time, so that
    /// latency is not queueing, the four kinds taken in turn for this long in all.
    pub(crate) latency_window: Duration,
    pub(crate) latency_warmup: Duration,
    pub(crate) form_size: usize,
    pub(crate) uploads: usize,
    pub(crate) upload_size: usize,
    pub(crate) in_flight: usize,
    /// Bursts of `in_flight` verifications per server; the median is reported.
    pub(crate) in_flight_repeats: usize,
    pub(crate) delay: Duration,
    /// Payloads verified by us and by altcha-lib, each once, after as many again of warm-up.
    pub(crate) verifications: usize,
    /// The memory store's capacity when filled and flooded.
    pub(crate) store_capacity: usize,
    /// A first guess of the requests/s a server takes, to size the first pool of payloads.
    pub(crate) rate_guess: f64,
}

impl Settings {
    pub(crate) fn full(duration: Duration, concurrency: usize) -> Settings {
        let warmup = (duration / 10).min(Duration::from_secs(1));
        Settings {
            smoke: false,
            load: Load {
                concurrency,
                duration,
                warmup,
            },
            rounds: 10,
            latency_window: duration.max(Duration::from_secs(2)),
            latency_warmup: warmup,
            form_size: 4 * 1024,
            uploads: 5,
            upload_size: 10 << 20,
            in_flight: 1000,
            in_flight_repeats: 5,
            delay: Duration::from_millis(500),
            verifications: 50_000,
            store_capacity: altcha::STORE_CAPACITY,
            rate_guess: 150_000.0,
        }
    }

    /// Every scenario, tiny: it proves the suite works, not how fast anything is.
    pub(crate) fn smoke(duration: Option<Duration>, concurrency: Option<usize>) -> Settings {
        let duration = duration.unwrap_or(Duration::from_millis(150));
        let load = Load {
            concurrency: concurrency.unwrap_or(4),
            duration,
            warmup: Duration::ZERO,
        };
        Settings {
            smoke: true,
            load,
            latency_window: duration,
            latency_warmup: Duration::ZERO,
            rounds: 1,
            uploads: 2,
            in_flight: 20,
            in_flight_repeats: 1,
            verifications: 200,
            store_capacity: 1000,
            rate_guess: 30_000.0,
            ..Settings::full(duration, load.concurrency)
        }
    }
}

/// A load run and the server's memory and CPU time around it.
#[derive(Debug, Default)]
pub(crate) struct Measured {
    pub(crate) outcome: Outcome,
    pub(crate) before: Memory,
    pub(crate) after: Memory,
    /// The server's CPU time over the counted requests.
    pub(crate) cpu: Duration,
    /// Requests/s of each load round, in round order (none outside the load table).
    pub(crate) round_rates: Vec<f64>,
    /// The emulator's CPU time while this server was driven (zero outside the load table).
    pub(crate) emulator_cpu: Duration,
    /// The load generator's own CPU time while this server was driven, and the CPU time the
    /// machine's cores spent idle meanwhile (both zero outside the load tables): a server
    /// whose rate falls with idle cores waits, one whose rate falls with none works.
    pub(crate) client_cpu: Duration,
    pub(crate) idle: Duration,
    /// The wall time the counted requests took.
    pub(crate) wall: Duration,
}

impl Measured {
    /// The server's CPU time per counted request: its own work, whatever else ran beside it.
    pub(crate) fn cpu_per_request(&self) -> Duration {
        self.cpu / self.requests_u32()
    }

    /// The emulator's CPU time per counted request: what verifying it cost the other side.
    pub(crate) fn emulator_cpu_per_request(&self) -> Duration {
        self.emulator_cpu / self.requests_u32()
    }

    /// The load generator's CPU time per counted request.
    pub(crate) fn client_cpu_per_request(&self) -> Duration {
        self.client_cpu / self.requests_u32()
    }

    /// Adds what the clocks counted from `before` to `after`: one round of this server.
    fn add(&mut self, before: &Clocks, after: &Clocks) {
        self.wall += after.at.duration_since(before.at);
        self.cpu += after.server.saturating_sub(before.server);
        self.emulator_cpu += after.side.saturating_sub(before.side);
        self.client_cpu += after.client.saturating_sub(before.client);
        self.idle += after.idle.saturating_sub(before.idle);
    }

    /// The share of the machine's CPU time that went unused while it was driven, 0 to 1.
    pub(crate) fn idle_share(&self) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        self.idle.as_secs_f64() / (self.wall.as_secs_f64() * cores).max(f64::EPSILON)
    }

    fn requests_u32(&self) -> u32 {
        u32::try_from(self.outcome.requests.max(1)).unwrap_or(u32::MAX)
    }

    /// The peak during the run over what was resident before it, in KiB.
    pub(crate) fn peak_growth_kib(&self) -> u64 {
        self.after.hwm_kib.saturating_sub(self.before.rss_kib)
    }
}

/// What a load round is measured by, read before and after it.
struct Clocks {
    at: std::time::Instant,
    server: Duration,
    side: Duration,
    client: Duration,
    idle: Duration,
}

impl Clocks {
    fn read(
        server: &Process,
        side_cpu: &dyn Fn() -> Result<Duration, BoxError>,
    ) -> Result<Clocks, BoxError> {
        Ok(Clocks {
            at: std::time::Instant::now(),
            server: server.cpu_time()?,
            side: side_cpu()?,
            client: procfs::cpu_time(std::process::id())?,
            idle: procfs::idle_time()?,
        })
    }
}

/// The median extra latency of a form token over a header token.
#[derive(Debug)]
pub(crate) struct FormCheck {
    pub(crate) plain_header: Outcome,
    pub(crate) plain_form: Outcome,
    pub(crate) layer_header: Outcome,
    pub(crate) layer_form: Outcome,
}

impl FormCheck {
    /// What the layer adds for the form over what it adds for the header, in µs: the cost of
    /// sending the body itself, paid with or without the layer, is taken out.
    pub(crate) fn extra_micros(&self) -> f64 {
        let p50 = |o: &Outcome| o.percentile(0.5).as_secs_f64() * 1e6;
        (p50(&self.layer_form) - p50(&self.layer_header))
            - (p50(&self.plain_form) - p50(&self.plain_header))
    }
}

/// Thousands of slow verifications at once, on the layer and on the hand-written handler, or
/// why they could not be run.
#[derive(Debug)]
pub(crate) enum InFlight {
    Ran {
        /// (c), one per burst.
        layer: Vec<Measured>,
        /// (d), one per burst, taken in turn with (c).
        baseline: Vec<Measured>,
    },
    Skipped(String),
}

/// The burst whose peak growth is the median of `runs`.
pub(crate) fn median_growth(runs: &[Measured]) -> Option<&Measured> {
    let mut sorted: Vec<&Measured> = runs.iter().collect();
    sorted.sort_by_key(|m| m.peak_growth_kib());
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

#[derive(Debug)]
pub(crate) struct Results {
    pub(crate) settings: Settings,
    pub(crate) servers: Vec<(Mode, Measured)>,
    pub(crate) form: FormCheck,
    pub(crate) upload_plain: Measured,
    pub(crate) upload_layer: Measured,
    pub(crate) in_flight: InFlight,
    pub(crate) altcha: Altcha,
    pub(crate) sets: crate::sets::Sets,
}

/// The ALTCHA figures.
#[derive(Debug)]
pub(crate) struct Altcha {
    /// (a), the memory store, the Redis store; `emulator_cpu` is Redis's CPU time.
    pub(crate) servers: Vec<(Mode, Measured)>,
    pub(crate) rates: VerifyRates,
    pub(crate) store: StoreFill,
    /// The store's fill and flood as outcomes, for the scenario lines.
    pub(crate) store_fill: Outcome,
    pub(crate) store_flood: Outcome,
}

impl Altcha {
    pub(crate) fn ratio(&self, x: Mode, y: Mode) -> Option<Ratio> {
        ratio_in(&self.servers, x, y)
    }
}

/// The throughput of `x`'s server over `y`'s, both of `servers`.
pub(crate) fn ratio_in(servers: &[(Mode, Measured)], x: Mode, y: Mode) -> Option<Ratio> {
    let find = |mode| {
        servers
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, measured)| measured)
    };
    Some(Ratio::of(find(x)?, find(y)?))
}

/// One server's throughput over another's.
#[derive(Debug, PartialEq)]
pub(crate) struct Ratio {
    /// The median of `rounds`: the figure the targets are checked against.
    pub(crate) median: f64,
    /// Round by round, in round order.
    pub(crate) rounds: Vec<f64>,
}

impl Ratio {
    /// Compares the servers round by round: in one round they ran seconds apart, under the
    /// same machine, and the median keeps a round that a hiccup hit on one side only from
    /// weighing on the result as it would on a ratio of totals.
    pub(crate) fn of(x: &Measured, y: &Measured) -> Ratio {
        let rounds: Vec<f64> = x
            .round_rates
            .iter()
            .zip(&y.round_rates)
            .map(|(x, y)| x / y.max(f64::EPSILON))
            .collect();
        let mut sorted = rounds.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Ratio { median, rounds }
    }
}

impl Results {
    /// The throughput of `x`'s server over `y`'s.
    pub(crate) fn ratio(&self, x: Mode, y: Mode) -> Option<Ratio> {
        ratio_in(&self.servers, x, y)
    }

    /// The load run of `mode`'s server.
    pub(crate) fn server(&self, mode: Mode) -> Option<&Measured> {
        self.servers
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, measured)| measured)
    }
}

pub(crate) async fn run(settings: Settings) -> Result<Results, BoxError> {
    let emulator = Process::emulator().await?;
    let servers = load_table(&emulator, &settings).await?;
    let mut kept = Vec::new();
    let mut measured = Vec::new();
    for (mode, server, m) in servers {
        measured.push((mode, m));
        match mode {
            Mode::Plain | Mode::LayerInstant => kept.push(server),
            _ => server.stop().await,
        }
    }

    eprintln!(
        "latency: {} B form token vs header token",
        settings.form_size
    );
    let [plain, layer] = <[Process; 2]>::try_from(kept).map_err(|_| "two servers kept")?;
    let form = form_check(&plain, &layer, &settings).await;
    plain.stop().await;
    layer.stop().await;

    eprintln!(
        "memory: {} uploads of {} B",
        settings.uploads, settings.upload_size
    );
    let upload_plain = upload_check(Mode::Plain, &emulator, &settings).await?;
    let upload_layer = upload_check(Mode::LayerInstant, &emulator, &settings).await?;

    eprintln!(
        "memory: {} verifications in flight, {} bursts each",
        settings.in_flight, settings.in_flight_repeats
    );
    let in_flight = in_flight_check(&emulator, &settings).await?;
    let altcha = altcha_check(&emulator, &settings).await?;
    emulator.stop().await;
    let sets = crate::sets::check(&settings).await?;
    Ok(Results {
        settings,
        servers: measured,
        form,
        upload_plain,
        upload_layer,
        in_flight,
        altcha,
        sets,
    })
}

async fn altcha_check(emulator: &Process, settings: &Settings) -> Result<Altcha, BoxError> {
    let measured = altcha_load(emulator, settings).await?;
    eprintln!(
        "altcha: {} verifications, ours and altcha-lib's",
        settings.verifications
    );
    let rates = altcha::verify_rates(settings.verifications, settings.verifications).await?;
    eprintln!(
        "altcha: a memory store of {} filled, then flooded",
        settings.store_capacity
    );
    let store = children::store_memory(settings.store_capacity).await?;
    let (store_fill, store_flood) = store.outcomes();
    Ok(Altcha {
        servers: measured,
        rates,
        store,
        store_fill,
        store_flood,
    })
}

/// `captcha-bench altcha-load`: the ALTCHA table alone, printed; for working on one figure
/// without the whole run.
pub(crate) async fn print_altcha_load(settings: Settings) -> Result<(), BoxError> {
    let emulator = Process::emulator().await?;
    let servers = altcha_load(&emulator, &settings).await?;
    emulator.stop().await;
    print!("{}", crate::report::altcha_load_table(&servers));
    Ok(())
}

/// The ALTCHA table alone: (a), the memory store and the Redis store under the same load,
/// each request a fresh solved payload.
pub(crate) async fn altcha_load(
    emulator: &Process,
    settings: &Settings,
) -> Result<Vec<(Mode, Measured)>, BoxError> {
    let redis = Redis::start().await?;
    let mut table = Vec::new();
    for mode in Mode::ALTCHA {
        table.push((
            mode,
            Process::server_with(mode, emulator, Some(&redis)).await?,
        ));
    }
    let pools = Pools::new(settings);
    let servers = load_rounds(
        table,
        settings,
        &|| redis.cpu_time(),
        &mut |_, duration, last| pools.next(duration, last),
    )
    .await?;
    let mut measured = Vec::new();
    for (mode, server, m) in servers {
        measured.push((mode, m));
        server.stop().await;
    }
    eprintln!(
        "altcha: redis-server peak RSS {} KiB",
        redis.memory().map_or(0, |m| m.hwm_kib)
    );
    redis.stop().await;
    Ok(measured)
}

/// Fresh solved payloads for the ALTCHA servers, a pool per load run, solved before it
/// starts (the servers idle meanwhile) and sized from the server's last rate: each payload
/// passes once.
struct Pools {
    guess: f64,
    concurrency: usize,
}

impl Pools {
    fn new(settings: &Settings) -> Pools {
        Pools {
            guess: settings.rate_guess,
            concurrency: settings.load.concurrency,
        }
    }

    /// A pool for the next run of a server of the ALTCHA table, the baseline's included: every
    /// server is sent the same kind of request (a fresh payload in the `altcha` header), so
    /// that what the ratios measure is what the layer does with it, not what building and
    /// sending a bigger request costs the load generator and the kernel.
    fn next(&self, duration: Duration, last_rate: Option<f64>) -> Result<MakeRequest, BoxError> {
        let rate = last_rate.unwrap_or(self.guess);
        // Twice the last rate: a round faster than the last must not run dry.
        let count = (2.0 * rate * duration.as_secs_f64()) as usize + 4 * self.concurrency;
        let payloads = tokio::task::block_in_place(|| altcha::solved(count))?;
        Ok(requests::altcha_pool(payloads))
    }
}

/// Every server of the table under the same load. All run at once, but only one is driven
/// at a time; the load is cut into short rounds that visit the servers in turn, in a rotating
/// order, so that whatever else the machine does weighs on all of them alike instead of on
/// whichever ran while it happened.
async fn load_table(
    emulator: &Process,
    settings: &Settings,
) -> Result<Vec<(Mode, Process, Measured)>, BoxError> {
    let mut servers = Vec::new();
    for mode in Mode::ALL {
        servers.push((mode, Process::server(mode, emulator).await?));
    }
    load_rounds(
        servers,
        settings,
        &|| emulator.cpu_time(),
        &mut |_, _, _| Ok(requests::header_token()),
    )
    .await
}

/// What a load run sends to `mode`'s server for `duration` (warm-up or round), given the
/// server's rate in its last round (none before the first).
pub(crate) type Requests<'a> =
    dyn FnMut(Mode, Duration, Option<f64>) -> Result<MakeRequest, BoxError> + 'a;

/// Warms up `servers`, then drives them in rounds (see [`load_table`]); `side_cpu` is the
/// CPU time of the service behind them (the emulator, Redis), charged to whichever server
/// is driven.
pub(crate) async fn load_rounds(
    servers: Vec<(Mode, Process)>,
    settings: &Settings,
    side_cpu: &dyn Fn() -> Result<Duration, BoxError>,
    make: &mut Requests<'_>,
) -> Result<Vec<(Mode, Process, Measured)>, BoxError> {
    let mut table = Vec::new();
    for (mode, server) in servers {
        let before = server.memory()?;
        eprintln!("warm-up: {} ({:?})", mode.name(), settings.load.warmup);
        // Counts nothing: opens connections, fills pools and caches. Its errors still count.
        let warm_up = Load {
            duration: Duration::ZERO,
            ..settings.load
        };
        let requests = make(mode, settings.load.warmup, None)?;
        let outcome = load::run(server.addr(), warm_up, requests).await;
        let measured = Measured {
            outcome,
            before,
            after: before,
            ..Measured::default()
        };
        table.push((mode, server, measured));
    }
    let rounds = settings.rounds.max(1);
    let round = Load {
        duration: settings.load.duration / rounds,
        warmup: Duration::ZERO,
        ..settings.load
    };
    let servers = table.len();
    for number in 0..rounds as usize {
        eprintln!(
            "load: round {} of {rounds}, {:?} per server",
            number + 1,
            round.duration
        );
        // Each round starts one server further on: where a server runs in the order matters
        // (the first to use the emulator after a server that leaves it idle measured up to
        // 10 % slower), and over as many rounds as servers each takes every place once.
        for index in (0..servers).map(|i| (i + number) % servers) {
            let (mode, server, measured) = &mut table[index];
            let requests = make(*mode, round.duration, measured.round_rates.last().copied())?;
            let before = Clocks::read(server, side_cpu)?;
            let outcome = load::run(server.addr(), round, requests).await;
            measured.add(&before, &Clocks::read(server, side_cpu)?);
            measured.round_rates.push(outcome.per_second());
            measured.outcome.merge(outcome);
        }
    }
    for (_, server, measured) in &mut table {
        measured.after = server.memory()?;
        measured.outcome.latencies.sort_unstable();
    }
    Ok(table)
}

async fn measure<F: Future<Output = Outcome>>(
    server: &Process,
    drive: impl FnOnce() -> F,
) -> Result<Measured, BoxError> {
    let before = server.memory()?;
    let cpu_before = server.cpu_time()?;
    let outcome = drive().await;
    let after = server.memory()?;
    let cpu = server.cpu_time()?.saturating_sub(cpu_before);
    Ok(Measured {
        outcome,
        before,
        after,
        cpu,
        ..Measured::default()
    })
}

async fn form_check(plain: &Process, layer: &Process, settings: &Settings) -> FormCheck {
    let form = requests::form_token(settings.form_size);
    let targets = [
        (plain.addr(), requests::header_token()),
        (plain.addr(), form.clone()),
        (layer.addr(), requests::header_token()),
        (layer.addr(), form),
    ];
    let [plain_header, plain_form, layer_header, layer_form] = <[Outcome; 4]>::try_from(
        load::interleaved(&targets, settings.latency_warmup, settings.latency_window).await,
    )
    .unwrap_or_default();
    FormCheck {
        plain_header,
        plain_form,
        layer_header,
        layer_form,
    }
}

/// Uploads one after the other to a fresh server, warmed with a small one.
async fn upload_check(
    mode: Mode,
    emulator: &Process,
    settings: &Settings,
) -> Result<Measured, BoxError> {
    let server = Process::server(mode, emulator).await?;
    load::send(server.addr(), requests::upload(1024)()).await?;
    let upload = requests::upload(settings.upload_size);
    let measured = measure(&server, || async {
        let mut outcome = Outcome::default();
        for _ in 0..settings.uploads {
            outcome.record(load::send(server.addr(), upload()).await.map(|_| ()));
        }
        outcome
    })
    .await;
    server.stop().await;
    measured
}

/// Bursts of verifications that each take `delay` at the emulator, all sent at once to a
/// fresh layer-emulator server, then to a fresh hand-written one (the baseline), in turn.
async fn in_flight_check(emulator: &Process, settings: &Settings) -> Result<InFlight, BoxError> {
    // Each request holds a socket in the load generator, two in the server and one in the
    // emulator; children inherit our limit.
    let needed = 2 * settings.in_flight as u64 + 256;
    if let Some(limit) = procfs::open_file_limit().filter(|&limit| limit < needed) {
        return Ok(InFlight::Skipped(format!(
            "the open-file limit is {limit}, {needed} are needed: run `ulimit -n {needed}` first"
        )));
    }
    let (mut layer, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..settings.in_flight_repeats.max(1) {
        layer.push(burst(Mode::LayerEmulator, emulator, settings).await?);
        baseline.push(burst(Mode::SharedClient, emulator, settings).await?);
    }
    Ok(InFlight::Ran { layer, baseline })
}

async fn burst(mode: Mode, emulator: &Process, settings: &Settings) -> Result<Measured, BoxError> {
    // Tokens are single use: each burst mints its own.
    let mut tokens = Vec::with_capacity(settings.in_flight);
    for _ in 0..settings.in_flight {
        let answer = load::send(
            emulator.addr(),
            requests::mint_delayed(settings.delay.as_millis() as u64),
        )
        .await?;
        let answer: serde_json::Value = serde_json::from_slice(&answer)?;
        let token = answer["token"]
            .as_str()
            .ok_or("the emulator minted no token")?;
        tokens.push(token.to_owned());
    }
    let server = Process::server(mode, emulator).await?;
    // Warms the verifier's connection pool; the test secret answers this one at once.
    load::send(server.addr(), requests::header_token()()).await?;
    let burst = tokens
        .iter()
        .map(|token| requests::header_token_of(token)())
        .collect();
    let measured = measure(&server, || load::burst(server.addr(), burst)).await;
    server.stop().await;
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(round_rates: &[f64]) -> Measured {
        Measured {
            round_rates: round_rates.to_vec(),
            ..Measured::default()
        }
    }

    #[test]
    fn ratios_are_the_median_of_the_rounds() {
        // The third round's hiccup on y would make the ratio of totals 1.18.
        let odd = Ratio::of(&rates(&[90.0, 99.0, 100.0]), &rates(&[100.0, 100.0, 50.0]));
        assert_eq!(odd.rounds, [0.9, 0.99, 2.0]);
        assert_eq!(odd.median, 0.99);
        let even = Ratio::of(&rates(&[1.0, 2.0, 3.0, 4.0]), &rates(&[1.0; 4]));
        assert_eq!(even.median, 2.5);
        assert_eq!(Ratio::of(&rates(&[]), &rates(&[])).median, 0.0);
    }
}
