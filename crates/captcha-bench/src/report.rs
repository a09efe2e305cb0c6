//! The figures as Markdown (printed, and written to `BENCHMARKS.md`), the issue's targets
//! each marked met or missed, and one `scenario` line per load run for the smoke test.

use std::{fmt::Write as _, time::Duration};

use crate::{
    load::Outcome,
    procfs,
    servers::Mode,
    suite::{InFlight, Measured, Results, median_growth},
};

const MIB: f64 = 1024.0;

/// Every load run by name, for the smoke test and the exit status.
pub(crate) fn scenarios(results: &Results) -> Vec<(String, &Outcome)> {
    let mut all: Vec<(String, &Outcome)> = results
        .servers
        .iter()
        .map(|(mode, m)| (mode.name().to_owned(), &m.outcome))
        .collect();
    let form = &results.form;
    all.extend([
        ("form/plain-header".to_owned(), &form.plain_header),
        ("form/plain-form".to_owned(), &form.plain_form),
        ("form/layer-header".to_owned(), &form.layer_header),
        ("form/layer-form".to_owned(), &form.layer_form),
        ("upload/plain".to_owned(), &results.upload_plain.outcome),
        ("upload/layer".to_owned(), &results.upload_layer.outcome),
    ]);
    if let InFlight::Ran { layer, baseline } = &results.in_flight {
        all.extend(layer.iter().map(|m| ("in-flight".to_owned(), &m.outcome)));
        all.extend(
            baseline
                .iter()
                .map(|m| ("in-flight/hand-written".to_owned(), &m.outcome)),
        );
    }
    let altcha = &results.altcha;
    all.extend(
        altcha
            .servers
            .iter()
            .map(|(mode, m)| (format!("altcha/{}", mode.name()), &m.outcome)),
    );
    all.extend(
        results
            .sets
            .servers
            .iter()
            .map(|(mode, m)| (format!("sets/{}", mode.name()), &m.outcome)),
    );
    all.extend([
        (
            "sets/failover-plain".to_owned(),
            &results.sets.failover.plain,
        ),
        (
            "sets/failover-hinted".to_owned(),
            &results.sets.failover.hinted,
        ),
        ("altcha/verify-ours".to_owned(), &altcha.rates.ours),
        ("altcha/verify-altcha-lib".to_owned(), &altcha.rates.node),
        ("altcha/store-fill".to_owned(), &altcha.store_fill),
        ("altcha/store-flood".to_owned(), &altcha.store_flood),
    ]);
    all
}

/// `scenario NAME requests=N errors=N`, one line each, then the first error of any.
pub(crate) fn scenario_lines(results: &Results) -> String {
    let mut out = String::new();
    for (name, outcome) in scenarios(results) {
        let _ = writeln!(
            out,
            "scenario {name} requests={} errors={}",
            outcome.requests, outcome.errors
        );
        if let Some(error) = &outcome.first_error {
            let _ = writeln!(out, "  first error: {error}");
        }
    }
    out
}

/// One target of the issue: what it is, what was measured, whether it holds.
struct Target {
    what: String,
    measured: String,
    goal: &'static str,
    met: bool,
}

fn targets(results: &Results) -> Vec<Target> {
    let ratio = |what: &str, x: Mode, y: Mode, goal, minimum: f64| {
        let value = results.ratio(x, y).map_or(0.0, |ratio| ratio.median);
        Target {
            what: format!("{what} throughput, median of the rounds"),
            measured: format!("{value:.2}"),
            goal,
            met: value >= minimum,
        }
    };
    let extra = results.form.extra_micros();
    let upload_excess = results.upload_layer.peak_growth_kib() as f64
        - results.upload_plain.peak_growth_kib() as f64;
    let settings = &results.settings;
    let mut all = vec![
        ratio(
            "b/a (layer, instant verifier / no layer)",
            Mode::LayerInstant,
            Mode::Plain,
            "≥ 0.95",
            0.95,
        ),
        ratio(
            "c/d (layer / hand-written, shared client)",
            Mode::LayerEmulator,
            Mode::SharedClient,
            "≥ 1.0",
            1.0,
        ),
        ratio(
            "c/e (layer / client per verification)",
            Mode::LayerEmulator,
            Mode::ClientPerRequest,
            "≥ 3",
            3.0,
        ),
        Target {
            what: format!(
                "median extra latency, {} B urlencoded token vs header",
                settings.form_size
            ),
            measured: format!("{extra:.1} µs"),
            goal: "≤ 5 µs",
            met: extra <= 5.0,
        },
        Target {
            what: format!(
                "peak RSS growth over the unguarded route, {} uploads of {:.0} MiB, token first",
                settings.uploads,
                settings.upload_size as f64 / (MIB * MIB)
            ),
            measured: format!("{:.2} MiB", upload_excess / MIB),
            goal: "< 2 MiB",
            met: upload_excess < 2.0 * MIB,
        },
    ];
    let what = format!(
        "{} verifications in flight, {} ms each: all complete, RSS growth",
        settings.in_flight,
        settings.delay.as_millis()
    );
    all.push(match &results.in_flight {
        InFlight::Ran { layer, baseline } => {
            let complete = layer.iter().chain(baseline).all(|m| {
                m.outcome.requests as usize == settings.in_flight
                    && m.outcome.errors == 0
                    && m.outcome.percentile(0.0) >= settings.delay
            });
            let growth = |runs: &[Measured]| {
                median_growth(runs).map_or(f64::NAN, |m| m.peak_growth_kib() as f64 / MIB)
            };
            let slowest = layer
                .iter()
                .map(|m| m.outcome.window)
                .max()
                .unwrap_or_default();
            let (ours, theirs) = (growth(layer), growth(baseline));
            Target {
                what: format!("{what} (median of {} bursts)", layer.len()),
                measured: format!(
                    "{}/{} each, slowest burst {:.2} s, {ours:.2} MiB (hand-written (d): {theirs:.2} MiB)",
                    settings.in_flight,
                    settings.in_flight,
                    slowest.as_secs_f64()
                ),
                goal: "all, < 30 MiB",
                met: complete && ours < 30.0,
            }
        }
        InFlight::Skipped(why) => Target {
            what,
            measured: format!("not run: {why}"),
            goal: "all, < 30 MiB",
            met: false,
        },
    });
    all.extend(altcha_targets(results));
    all.extend(set_targets(results));
    all
}

fn set_targets(results: &Results) -> Vec<Target> {
    let sets = &results.sets;
    let ratio = sets.ratio().map_or(0.0, |ratio| ratio.median);
    let failover = &sets.failover;
    let added = failover.added_p99_micros();
    vec![
        Target {
            what: "a set of three providers / one provider (in-process verifiers, token in a header) throughput, median of the rounds"
                .to_owned(),
            measured: format!("{ratio:.2}"),
            goal: "≥ 0.95",
            met: ratio >= 0.95,
        },
        Target {
            what: "failover, first member's breaker open: time added to a request answered with its fallback hint, p99"
                .to_owned(),
            measured: format!(
                "{added:.0} µs; {} calls to the dead provider",
                failover.dead_calls
            ),
            goal: "≤ 1 ms, no call to the dead provider",
            met: added <= 1000.0
                && failover.dead_calls == 0
                && failover.hint_given()
                && failover.hinted.requests > 0
                && failover.hinted.errors == 0,
        },
    ]
}

fn set_details(results: &Results) -> String {
    let sets = &results.sets;
    let s = &results.settings;
    let mut out = format!(
        "\n## Provider sets\n\nA route guarded by `CaptchaLayer::set` with three in-process members (Turnstile, hCaptcha, reCAPTCHA; \
         the token in the reCAPTCHA header, so finding it walks past the other two members' sources) against \
         (b), the same route with one in-process verifier. The same load as above ({} connections, {} rounds), \
         on its own table, taken in turn the same way.\n\n",
        s.load.concurrency, s.rounds
    );
    server_table(&mut out, "side service (none)", &sets.servers);
    if let Some(ratio) = sets.ratio() {
        let rounds: Vec<String> = ratio.rounds.iter().map(|r| format!("{r:.2}")).collect();
        let _ = writeln!(out, "\nset/one round by round: {}.", rounds.join(", "));
    }
    let f = &sets.failover;
    let p = |o: &Outcome, q| latency(o.percentile(q));
    let _ = writeln!(
        out,
        "Failover: a set whose first member (reCAPTCHA) points at an endpoint that hangs up on every connection, \
         its breaker opened by one call before counting, hCaptcha behind it; its reCAPTCHA tokens answered 503 with \
         the fallback hint, one request at a time, taken in turn with a route with no layer ({} requests each): \
         no layer p50 {} / p99 {}, hinted 503 p50 {} / p99 {}; {} connections reached the dead endpoint while counted; \
         the body: `{}`.",
        f.hinted.requests,
        p(&f.plain, 0.5),
        p(&f.plain, 0.99),
        p(&f.hinted, 0.5),
        p(&f.hinted, 0.99),
        f.dead_calls,
        f.body
    );
    out
}

fn altcha_targets(results: &Results) -> Vec<Target> {
    let altcha = &results.altcha;
    let ratio = |what: &str, x: Mode, y: Mode, goal, minimum: f64| {
        let value = altcha.ratio(x, y).map_or(0.0, |ratio| ratio.median);
        Target {
            what: format!("{what} throughput, median of the rounds"),
            measured: format!("{value:.2}"),
            goal,
            met: value >= minimum,
        }
    };
    let rates = &altcha.rates;
    let store = &altcha.store;
    let flood_growth = store.flood_growth_kib();
    vec![
        ratio(
            "ALTCHA, memory store / no layer",
            Mode::AltchaMemory,
            Mode::Plain,
            "≥ 0.90",
            0.90,
        ),
        ratio(
            &format!(
                "ALTCHA, Redis store / memory store, {} connections",
                results.settings.load.concurrency
            ),
            Mode::AltchaRedis,
            Mode::AltchaMemory,
            "≥ 0.5",
            0.5,
        ),
        Target {
            what: "ALTCHA verifications/s on one core, ours / altcha-lib 2.3.1 on Node (classic SHA-256)"
                .to_owned(),
            measured: format!(
                "{:.0} / {:.0} = {:.1}",
                rates.ours.per_second(),
                rates.node.per_second(),
                rates.ratio()
            ),
            goal: "≥ 3",
            met: rates.ratio() >= 3.0 && rates.ours.errors == 0 && rates.node.errors == 0,
        },
        Target {
            what: format!(
                "ALTCHA memory store of capacity {}: filled, then flooded with as many fresh challenges",
                store.capacity
            ),
            measured: format!(
                "{:.0} B per live challenge; flood: {}/{} refused as full, RSS {:+.2} MiB, {} held",
                store.bytes_per_entry(),
                store.full,
                store.capacity,
                flood_growth as f64 / MIB,
                store.len
            ),
            goal: "bounded: the flood all refused, RSS flat (< 1 MiB)",
            met: store.passed as usize == store.capacity
                && store.full as usize == store.capacity
                && store.len == store.capacity
                && flood_growth < 1024,
        },
    ]
}

/// A table of servers, a row each; `helper` names the other process whose CPU time is
/// charged per request (the emulator, Redis).
fn server_table(out: &mut String, helper: &str, servers: &[(Mode, Measured)]) {
    let _ = writeln!(
        out,
        "| server | requests/s | p50 | p99 | server CPU per request | {helper} CPU per request | load generator CPU per request | cores idle | peak RSS | RSS growth | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (mode, m) in servers {
        let o = &m.outcome;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {:.0} % | {} | {} | {} |",
            label(*mode),
            o.per_second(),
            latency(o.percentile(0.5)),
            latency(o.percentile(0.99)),
            cpu(m.cpu_per_request()),
            cpu(m.emulator_cpu_per_request()),
            cpu(m.client_cpu_per_request()),
            100.0 * m.idle_share(),
            mib(m.after.hwm_kib),
            mib(m.after.rss_kib.saturating_sub(m.before.rss_kib)),
            o.errors
        );
    }
}

fn latency(d: Duration) -> String {
    match d.as_micros() {
        us if us < 1000 => format!("{us} µs"),
        _ => format!("{:.2} ms", d.as_secs_f64() * 1e3),
    }
}

/// CPU time per request, to a tenth of a µs: (c) and (d) differ by about one.
fn cpu(d: Duration) -> String {
    match d.as_micros() {
        us if us < 1000 => format!("{:.1} µs", d.as_secs_f64() * 1e6),
        _ => latency(d),
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / MIB)
}

fn label(mode: Mode) -> &'static str {
    match mode {
        Mode::Plain => "(a) no layer",
        Mode::LayerInstant => "(b) layer, in-process instant verifier",
        Mode::LayerEmulator => "(c) layer, emulator over loopback",
        Mode::SharedClient => "(d) hand-written, one shared reqwest::Client",
        Mode::ClientPerRequest => "(e) hand-written, a reqwest::Client per verification",
        Mode::AltchaMemory => "ALTCHA, memory store",
        Mode::AltchaRedis => "ALTCHA, Redis store (`SET NX PX`)",
        Mode::SetThree => "a set of three in-process providers, the last one's token",
        Mode::SetFailover => "a set, its first member down (breaker open)",
    }
}

/// Where the generated figures end in `BENCHMARKS.md` and the analysis written by hand begins.
pub(crate) const ANALYSIS_MARKER: &str =
    "<!-- Analysis: written by hand, kept by every run of captcha-bench. -->";

/// `report` followed by the hand-written analysis of `previous` (the file being replaced), if
/// it has one.
pub(crate) fn with_analysis(report: &str, previous: &str) -> String {
    match previous.find(ANALYSIS_MARKER) {
        Some(at) => format!("{report}\n{}", &previous[at..]),
        None => report.to_owned(),
    }
}

/// The whole report as Markdown.
pub(crate) fn markdown(results: &Results) -> String {
    let s = &results.settings;
    let mut out = String::from("# Benchmarks\n\n");
    if s.smoke {
        out.push_str(
            "> **Smoke run**: tiny load, figures meaningless; it only proves the suite runs.\n\n",
        );
    }
    out.push_str(
        "Written by `cargo run --release -p captcha-bench`; do not edit by hand.\n\n## Machine\n\n",
    );
    for (what, value) in machine() {
        let _ = writeln!(out, "- {what}: {value}");
    }
    let _ = writeln!(
        out,
        "\n## Load\n\nOne in-process hyper client, {} keep-alive connections, {} s per server after {} s of warm-up, \
         in {} rounds that take the servers in turn, each round starting one server further on (a ratio below is the median of its rounds' ratios); token in a header; every server a child process, its peak \
         memory from `/proc/<pid>/status` (`VmHWM`), its CPU time (user and system, all threads) from \
         `/proc/<pid>/stat`. The load generator, the server and the emulator share the machine's cores, so \
         requests/s moves with whatever else runs; the server's CPU time per request is its own work.\n",
        s.load.concurrency,
        s.load.duration.as_secs_f64(),
        s.load.warmup.as_secs_f64(),
        s.rounds
    );
    server_table(&mut out, "emulator", &results.servers);
    out.push_str("\n## Targets\n\n| target | measured | goal | |\n|---|---:|---|---|\n");
    for t in targets(results) {
        let status = if t.met { "met" } else { "**missed**" };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {status} |",
            t.what, t.measured, t.goal
        );
    }
    out.push_str(&details(results));
    out.push_str(&altcha_details(results));
    out.push_str(&set_details(results));
    out.push_str(
        "\n## How to reproduce\n\n```sh\ncargo run --release -p captcha-bench                 # writes BENCHMARKS.md\n\
         cargo run --release -p captcha-bench -- --duration 20 --concurrency 64\n\
         cargo run --release -p captcha-bench -- --smoke      # a second or two, writes nothing\n\
         cargo run --release -p captcha-bench -- altcha-load  # the ALTCHA table alone, printed, nothing written\n\
         cargo bench -p tower-captcha --bench layer           # the layer's own work, ALTCHA's included (criterion)\n\
         cargo bench -p siteverify                            # policy checks, answer parsing, ALTCHA verification\n```\n\n\
         Run it on an otherwise idle machine: the load generator, the server and the emulator share its cores. \
         The in-flight check needs an open-file limit of at least 2,256 (`ulimit -n 4096`); \
         the ALTCHA figures need `redis-server` and Node with npm (altcha-lib is installed by `npm ci` in `crates/siteverify/tests/node`). \
         Where a target is missed, the cause found by profiling belongs in the issue note.\n",
    );
    out
}

fn details(results: &Results) -> String {
    let f = &results.form;
    let p50 = |o: &Outcome| latency(o.percentile(0.5));
    let mut out = format!(
        "\nMedians, one request at a time, the four kinds taken in turn request by request ({} requests each): no layer {} (header) / {} (form), layer {} (header) / {} (form).\n",
        f.layer_form.requests,
        p50(&f.plain_header),
        p50(&f.plain_form),
        p50(&f.layer_header),
        p50(&f.layer_form)
    );
    let growth = |m: &Measured| mib(m.peak_growth_kib());
    let _ = writeln!(
        out,
        "Uploads: peak RSS grew by {} without the layer and {} with it.",
        growth(&results.upload_plain),
        growth(&results.upload_layer)
    );
    for (name, x, y) in [
        ("b/a", Mode::LayerInstant, Mode::Plain),
        ("c/d", Mode::LayerEmulator, Mode::SharedClient),
        ("c/e", Mode::LayerEmulator, Mode::ClientPerRequest),
    ] {
        if let Some(ratio) = results.ratio(x, y) {
            let rounds: Vec<String> = ratio.rounds.iter().map(|r| format!("{r:.2}")).collect();
            let _ = writeln!(out, "{name} round by round: {}.", rounds.join(", "));
        }
    }
    let cpu_of = |mode: Mode| results.server(mode).map(Measured::cpu_per_request);
    if let (Some(c), Some(d)) = (cpu_of(Mode::LayerEmulator), cpu_of(Mode::SharedClient)) {
        let _ = writeln!(
            out,
            "Server CPU time per verified request: layer (c) {}, hand-written (d) {}: d/c = {:.2} \
             (above 1: the layer does the same verification with less work).",
            cpu(c),
            cpu(d),
            d.as_secs_f64() / c.as_secs_f64().max(f64::EPSILON)
        );
    }
    if let InFlight::Ran { layer, baseline } = &results.in_flight {
        let growths = |runs: &[Measured]| {
            runs.iter()
                .map(|m| mib(m.peak_growth_kib()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "In flight, peak RSS growth of each burst: layer (c) {}; hand-written (d) {}.",
            growths(layer),
            growths(baseline)
        );
        if let Some(m) = median_growth(layer) {
            let _ = writeln!(
                out,
                "In flight, the median burst of (c): latency min {} / p50 {} / max {}; RSS {} before, peak {}.",
                latency(m.outcome.percentile(0.0)),
                latency(m.outcome.percentile(0.5)),
                latency(m.outcome.percentile(1.0)),
                mib(m.before.rss_kib),
                mib(m.after.hwm_kib)
            );
        }
    }
    out
}

/// The ALTCHA load table and its ratios round by round.
pub(crate) fn altcha_load_table(servers: &[(Mode, Measured)]) -> String {
    let mut out = String::new();
    server_table(&mut out, "Redis", servers);
    out.push('\n');
    for (name, x, y) in [
        ("memory/no layer", Mode::AltchaMemory, Mode::Plain),
        ("Redis/memory", Mode::AltchaRedis, Mode::AltchaMemory),
    ] {
        if let Some(ratio) = crate::suite::ratio_in(servers, x, y) {
            let rounds: Vec<String> = ratio.rounds.iter().map(|r| format!("{r:.2}")).collect();
            let _ = writeln!(
                out,
                "{name}: {:.2}, round by round: {}.",
                ratio.median,
                rounds.join(", ")
            );
        }
    }
    out
}

fn altcha_details(results: &Results) -> String {
    let altcha = &results.altcha;
    let s = &results.settings;
    let mut out = format!(
        "\n## ALTCHA\n\nThe self-hosted provider, `CaptchaLayer::altcha`, the payload in the `altcha` header. The same load as above \
         ({} connections, {} rounds), on its own table with its own no-layer baseline, taken in turn the same way. \
         Each payload passes once, so before each run of an ALTCHA server the load generator solves a fresh pool \
         (classic SHA-256 challenges, `max_number` {}, signed with the server's key; sized from the server's last round), \
         while every server idles. The Redis store talks to a `redis-server` started for the run on a free port \
         (`--save '' --appendonly no`), on the same cores; its CPU time is charged to whichever server is driven.\n\n",
        s.load.concurrency,
        s.rounds,
        crate::altcha::MAX_NUMBER
    );
    out.push_str(&altcha_load_table(&altcha.servers));
    let r = &altcha.rates;
    let _ = writeln!(
        out,
        "Verification rate, one payload at a time, the same {n} pre-solved payloads each verified once by each side after {n} others of warm-up: \
         ours (`AltchaVerifier::verify` on a current-thread runtime, the memory store's spend included) {:.0}/s, \
         altcha-lib 2.3.1's `verifySolution` (`altcha-lib/v1`, expiry checked, no replay store) on Node {} {:.0}/s, \
         using {:.2} cores of CPU time over its wall time: {:.1}×.",
        r.ours.per_second(),
        r.node_version,
        r.node.per_second(),
        r.node_cores,
        r.ratio(),
        n = r.ours.requests,
    );
    let st = &altcha.store;
    let _ = writeln!(
        out,
        "Memory store (a child process of its own, `captcha-bench store-memory`): with every payload solved beforehand, RSS {} empty, \
         {} with {} live challenges ({:.0} B each: 16 bytes of id and expiry in a table, its spare slots), \
         {} after {} more fresh ones, of which {} were refused as full (503 `provider_unavailable`) and {} otherwise; \
         {} challenges held at the end.",
        mib(st.empty_kib),
        mib(st.filled_kib),
        st.passed,
        st.bytes_per_entry(),
        mib(st.flooded_kib),
        st.capacity,
        st.full,
        st.not_full,
        st.len
    );
    out
}

fn machine() -> Vec<(&'static str, String)> {
    let unknown = || "unknown".to_owned();
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(unknown)
    };
    vec![
        (
            "CPUs (nproc)",
            std::thread::available_parallelism().map_or_else(|_| unknown(), |n| n.to_string()),
        ),
        (
            "CPU",
            procfs::info_field("/proc/cpuinfo", "model name").unwrap_or_else(unknown),
        ),
        ("memory", memory_total().unwrap_or_else(unknown)),
        ("kernel", command("uname", &["-sr"])),
        ("rustc", command("rustc", &["--version"])),
        ("date", command("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
    ]
}

fn memory_total() -> Option<String> {
    let total = procfs::info_field("/proc/meminfo", "MemTotal")?;
    let kib: f64 = total.trim_end_matches("kB").trim().parse().ok()?;
    Some(format!("{:.1} GiB", kib / (MIB * MIB)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_keeps_the_analysis_and_replaces_the_figures() {
        let previous = format!("# Benchmarks\nold figures\n\n{ANALYSIS_MARKER}\n## Why\nbecause\n");
        let merged = with_analysis("# Benchmarks\nnew figures\n", &previous);
        assert_eq!(
            merged,
            format!("# Benchmarks\nnew figures\n\n{ANALYSIS_MARKER}\n## Why\nbecause\n")
        );
        assert_eq!(with_analysis("# new\n", "# no analysis\n"), "# new\n");
    }
}
