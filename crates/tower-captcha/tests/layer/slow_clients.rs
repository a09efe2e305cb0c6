//! Slow and early-closing clients, over raw TCP: a body that trickles is refused in bounded
//! time, and a refused body is drained so that a client that sends it whole before reading
//! reads the refusal instead of a reset.

use std::{
    io,
    time::{Duration, Instant},
};

use axum::{Router, routing::post};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, tcp::OwnedWriteHalf},
    task::JoinHandle,
};
use tower_captcha::CaptchaLayer;

use crate::support::*;

const FIELD: &str = "cf-turnstile-response";
/// The pace of a trickling client.
const STEP: Duration = Duration::from_millis(200);
/// The layer's read timeout in these tests.
const TIMEOUT: Duration = Duration::from_secs(1);
/// What "within the bound" means for a 1 s bound on a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(5);
const MIB: usize = 1024 * 1024;

/// Serves `layer` around the echo handler; returns the address.
async fn app(layer: CaptchaLayer) -> String {
    let url = serve(Router::new().route("/", post(echo).layer(layer))).await;
    url.trim_start_matches("http://").to_owned()
}

/// A request head; `length` is the content length, or chunked encoding when `None`.
fn head(addr: &str, content_type: &str, length: Option<usize>, extra: &str) -> String {
    let framing = match length {
        Some(length) => format!("content-length: {length}"),
        None => "transfer-encoding: chunked".to_owned(),
    };
    format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\n{framing}\r\n{extra}\r\n"
    )
}

/// Reads one response: its status and its body (framed by its content length, or up to the
/// end of the connection).
async fn read_response(reader: &mut (impl AsyncRead + Unpin)) -> io::Result<(u16, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end_of_head = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end_of_head]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not a response: {head}")))?;
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    let mut body = buffer.split_off(end_of_head);
    match length {
        Some(length) => {
            while body.len() < length {
                let n = reader.read(&mut chunk).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(length);
        }
        None => {
            reader.read_to_end(&mut body).await?;
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn contract(reason: &str) -> String {
    format!(r#"{{"error":"captcha_failed","reason":"{reason}"}}"#)
}

/// Writes `quick` at once, then `slow` one byte per [`STEP`]; stops at the first failed
/// write. Gives the write half back rather than dropping it: dropped, it would shut the
/// connection's write side, and hyper closes a connection whose client half-closed it.
fn trickle(
    mut writer: OwnedWriteHalf,
    quick: Vec<u8>,
    slow: Vec<u8>,
) -> JoinHandle<OwnedWriteHalf> {
    tokio::spawn(async move {
        if writer.write_all(&quick).await.is_err() {
            return writer;
        }
        for byte in slow {
            tokio::time::sleep(STEP).await;
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
        }
        writer
    })
}

/// Waits until the server closes the connection (an end of stream or a reset).
async fn closed(reader: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0u8; 4096];
    loop {
        match reader.read(&mut sink).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

// --- Point 7: the time spent reading a body for its token is bounded. ---

#[tokio::test]
async fn a_body_that_trickles_is_refused_with_408_within_the_bound() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator).body_read_timeout(TIMEOUT)).await;
    let token = turnstile_token(&emulator);
    for (content_type, body) in [
        (
            "application/json",
            format!(r#"{{"email":"ada@example.com","{FIELD}":"{token}"}}"#),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("email=ada%40example.com&{FIELD}={token}"),
        ),
    ] {
        let stream = TcpStream::connect(&addr).await.unwrap();
        let (mut reader, writer) = stream.into_split();
        let started = Instant::now();
        let quick = head(&addr, content_type, Some(body.len()), "").into_bytes();
        let _writer = trickle(writer, quick, body.into_bytes());
        let answer = tokio::time::timeout(2 * BOUND, read_response(&mut reader))
            .await
            .expect("an answer, not a hang");
        let elapsed = started.elapsed();
        assert_eq!(
            answer.unwrap(),
            (408, contract("body_timeout")),
            "{content_type}"
        );
        assert!(elapsed >= TIMEOUT, "{content_type}: {elapsed:?}");
        assert!(elapsed < BOUND, "{content_type}: {elapsed:?}");
    }
    assert!(emulator.requests().is_empty(), "no token was ever complete");
}

#[tokio::test]
async fn a_fast_request_is_unaffected_by_the_read_timeout() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator).body_read_timeout(TIMEOUT)).await;
    let url = format!("http://{addr}/");
    let token = turnstile_token(&emulator);
    let form = format!(
        "email=ada%40example.com&{FIELD}={token}&pad={}",
        "x".repeat(60_000)
    );
    let response = client()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-fingerprint"],
        fingerprint(form.as_bytes())
    );

    // Sent whole at once by a raw client, as a browser would.
    let token = turnstile_token(&emulator);
    let json = format!(r#"{{"{FIELD}":"{token}"}}"#);
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let request = head(&addr, "application/json", Some(json.len()), "") + &json;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, body) = read_response(&mut stream).await.unwrap();
    assert_eq!((status, body), (200, json));
}

fn multipart_part(boundary: &str, name: &str, value: &str) -> String {
    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

#[tokio::test]
async fn a_multipart_body_that_trickles_before_its_token_times_out() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator).body_read_timeout(TIMEOUT)).await;
    let boundary = "slow-boundary";
    let token = turnstile_token(&emulator);
    let body = multipart_part(boundary, "email", "ada@example.com")
        + &multipart_part(boundary, FIELD, &token)
        + &format!("--{boundary}--\r\n");
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let mut quick = head(&addr, &content_type, Some(body.len()), "").into_bytes();
    // The first field's header at once; its value and everything after it trickle.
    let split = body.find("ada@").unwrap();
    quick.extend_from_slice(&body.as_bytes()[..split]);
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut reader, writer) = stream.into_split();
    let started = Instant::now();
    let _writer = trickle(writer, quick, body.as_bytes()[split..].to_vec());
    let answer = tokio::time::timeout(2 * BOUND, read_response(&mut reader))
        .await
        .expect("an answer, not a hang");
    let elapsed = started.elapsed();
    assert_eq!(answer.unwrap(), (408, contract("body_timeout")));
    assert!((TIMEOUT..BOUND).contains(&elapsed), "{elapsed:?}");
    assert!(emulator.requests().is_empty());
}

#[tokio::test]
async fn once_the_multipart_token_is_found_the_rest_streams_at_the_clients_pace() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator).body_read_timeout(TIMEOUT)).await;
    let boundary = "token-first";
    let token = turnstile_token(&emulator);
    // Three seconds of file after the token: three times the read timeout.
    let file = "0123456789abcde";
    let body = multipart_part(boundary, FIELD, &token)
        + &format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n{file}\r\n--{boundary}--\r\n"
        );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let mut quick = head(&addr, &content_type, Some(body.len()), "").into_bytes();
    let split = body.find(file).unwrap();
    quick.extend_from_slice(&body.as_bytes()[..split]);
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut reader, writer) = stream.into_split();
    let started = Instant::now();
    let _writer = trickle(writer, quick, body.as_bytes()[split..].to_vec());
    let answer = tokio::time::timeout(Duration::from_secs(60), read_response(&mut reader))
        .await
        .expect("an answer");
    let (status, echoed) = answer.unwrap();
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(echoed, body, "the handler got every byte");
    assert!(
        started.elapsed() >= STEP * file.len() as u32,
        "the handler read it at the client's pace"
    );
    assert_eq!(emulator.requests().len(), 1);
}

// --- Point 8: a refused body is drained, so that the client reads the refusal. ---

/// A JSON body of `len` bytes that holds no token.
fn padding_json(len: usize) -> Vec<u8> {
    let mut body = br#"{"pad":""#.to_vec();
    body.resize(len - 2, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

/// Writes `request` whole, as `http.client` does, and only then reads the answer.
async fn send_whole_then_read(addr: &str, request: &[u8]) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    read_response(&mut stream).await
}

#[tokio::test]
async fn a_client_that_sends_its_whole_body_before_reading_gets_the_413() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator)).await;
    let body = padding_json(4 * MIB);
    let mut request = head(&addr, "application/json", Some(body.len()), "").into_bytes();
    request.extend_from_slice(&body);
    let started = Instant::now();
    for attempt in 1..=20 {
        let answer = send_whole_then_read(&addr, &request).await;
        assert_eq!(
            answer.as_ref().map_err(io::Error::kind),
            Ok(&(413, contract("body_too_large"))),
            "attempt {attempt}"
        );
    }
    // Each refusal waits for nothing but the body: no drain runs to its time bound.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    // Read to its end, the body leaves the connection clean for the next request.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    assert_eq!(
        read_response(&mut stream).await.unwrap(),
        (413, contract("body_too_large"))
    );
    let next = head(&addr, "application/json", Some(2), "") + "{}";
    stream.write_all(next.as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut stream).await.unwrap(),
        (400, contract("missing_token"))
    );
}

#[tokio::test]
async fn every_refusal_with_an_unread_body_is_read_by_such_a_client() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator)).await;
    let big = padding_json(4 * MIB);
    let mut chunked = Vec::new();
    for piece in big.chunks(256 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let with = |head: String, body: &[u8]| [head.as_bytes(), body].concat();
    let cases = [
        (
            "413 past the limit, with no length declared",
            with(head(&addr, "application/json", None, ""), &chunked),
            (413, "body_too_large"),
        ),
        (
            "400 on a multipart body without a boundary",
            with(
                head(&addr, "multipart/form-data", Some(big.len()), ""),
                &big,
            ),
            (400, "malformed_body"),
        ),
        (
            "403 on a header token the provider refuses, before an upload",
            with(
                head(
                    &addr,
                    "application/octet-stream",
                    Some(big.len()),
                    &format!("{FIELD}: 0.forged\r\n"),
                ),
                &big,
            ),
            (403, "invalid_token"),
        ),
        (
            // Refused in the service's call, with no future: drained all the same.
            "400 on a header token that is not ASCII, before an upload",
            with(
                head(
                    &addr,
                    "application/octet-stream",
                    Some(big.len()),
                    &format!("{FIELD}: t\u{e9}l\u{e9}phone\r\n"),
                ),
                &big,
            ),
            (400, "malformed_token"),
        ),
    ];
    for (name, request, (status, reason)) in cases {
        for attempt in 1..=3 {
            let answer = send_whole_then_read(&addr, &request).await;
            assert_eq!(
                answer.as_ref().map_err(io::Error::kind),
                Ok(&(status, contract(reason))),
                "{name}, attempt {attempt}"
            );
        }
    }
}

#[tokio::test]
async fn pythons_http_client_reads_the_413() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator)).await;
    let (host, port) = addr.split_once(':').unwrap();
    let script = format!(
        r#"
import http.client
for _ in range(20):
    c = http.client.HTTPConnection("{host}", {port}, timeout=30)
    c.request("POST", "/", body=b'{{"pad":"' + b"x" * (4 << 20) + b'"}}',
              headers={{"content-type": "application/json"}})
    r = c.getresponse()
    print(r.status, r.read().decode())
    c.close()
"#
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .output()
    })
    .await
    .unwrap();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!("python3 is not installed: skipped");
            return;
        }
        Err(e) => panic!("python3 did not run: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = format!("413 {}", contract("body_too_large"));
    assert_eq!(
        stdout.lines().filter(|l| *l == expected).count(),
        20,
        "{stdout}"
    );
}

/// Sends a 100 MiB body as fast as the server takes it while reading the answer; returns
/// the answer and how much of the body the connection took before it was closed.
async fn flood(addr: &str, head: String, chunked: bool) -> (io::Result<(u16, String)>, usize) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let piece = vec![b'x'; 64 * 1024];
        let mut frame = Vec::new();
        if chunked {
            frame.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        }
        frame.extend_from_slice(&piece);
        if chunked {
            frame.extend_from_slice(b"\r\n");
        }
        if writer.write_all(head.as_bytes()).await.is_err() {
            return 0;
        }
        let mut written = 0;
        while written < 100 * MIB {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
            written += piece.len();
        }
        written
    });
    let answer = read_response(&mut reader).await;
    let written = tokio::time::timeout(Duration::from_secs(60), writing)
        .await
        .expect("the writes end")
        .unwrap();
    (answer, written)
}

#[tokio::test]
async fn the_drain_stops_at_its_byte_bound() {
    let emulator = emulator().await;
    // No time bound to speak of: only the byte bound can stop this drain.
    let addr = app(turnstile(&emulator).refusal_drain(MIB, Duration::from_secs(600))).await;
    let (answer, written) = flood(&addr, head(&addr, "application/json", None, ""), true).await;
    assert_eq!(answer.unwrap(), (413, contract("body_too_large")));
    assert!(written < 50 * MIB, "the server read {written} bytes of it");
}

#[tokio::test]
async fn a_body_declared_over_the_drain_bound_is_not_read() {
    let emulator = emulator().await;
    // A byte bound the flood would pass if it were drained: it must not be read at all.
    let bound = 60 * MIB;
    let addr = app(turnstile(&emulator).refusal_drain(bound, Duration::from_secs(600))).await;
    let head = head(&addr, "application/json", Some(100 * MIB), "");
    let (answer, written) = flood(&addr, head, false).await;
    assert_eq!(answer.unwrap(), (413, contract("body_too_large")));
    assert!(written < 50 * MIB, "the server read {written} bytes of it");
}

#[tokio::test]
async fn the_drain_stops_at_its_time_bound() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator).refusal_drain(8 * MIB, TIMEOUT)).await;
    // Over the 64 KiB body limit, within the drain's byte bound, and never finished.
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut reader, writer) = stream.into_split();
    let mut quick = head(&addr, "application/json", Some(MIB), "").into_bytes();
    quick.extend_from_slice(&padding_json(MIB)[..1024]);
    let _writer = trickle(writer, quick, vec![b'x'; 1000]);
    assert_eq!(
        read_response(&mut reader).await.unwrap(),
        (413, contract("body_too_large"))
    );
    let started = Instant::now();
    tokio::time::timeout(2 * BOUND, closed(&mut reader))
        .await
        .expect("the server gives up on the body");
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_client_waiting_for_100_continue_is_refused_without_being_asked_for_its_body() {
    let emulator = emulator().await;
    let addr = app(turnstile(&emulator).refusal_drain(8 * MIB, Duration::from_secs(600))).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let request = head(
        &addr,
        "application/json",
        Some(4 * MIB),
        "expect: 100-continue\r\n",
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The final answer first (no `100 Continue`), and then the connection closes: no drain
    // waits for a body the client will not send.
    let answer = tokio::time::timeout(BOUND, read_response(&mut stream))
        .await
        .expect("an answer");
    assert_eq!(answer.unwrap(), (413, contract("body_too_large")));
    tokio::time::timeout(BOUND, closed(&mut stream))
        .await
        .expect("the connection closes");
}
