//! The clients a verifier can send with: hyper directly (the default, straight or through the
//! environment's proxy) and, with the `reqwest` feature, a reqwest client passed in.
//! Whichever carries it, a verification must send the same request and fail the same way.

use std::process::Command;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use siteverify::{Outage, Provider, Verifier, VerifierConfig, VerifyError};

use crate::support::*;

/// A configuration sent by each client.
fn both(config: VerifierConfig) -> Vec<(&'static str, VerifierConfig)> {
    clients()
        .into_iter()
        .map(|client| (client.name(), client.carry(config.clone())))
        .collect()
}

#[tokio::test]
async fn both_clients_send_the_same_request() {
    let emulator = emulator().await;
    let mut sent = Vec::new();
    for (via, config) in both(config(&emulator, Provider::HCaptcha)) {
        emulator.clear_requests();
        let verifier = Verifier::hcaptcha(config).unwrap();
        let token = mint(&emulator, spec(Provider::HCaptcha));
        assert!(verify(&verifier, &token).await.is_ok(), "{via}");
        let [request] = <[_; 1]>::try_from(emulator.requests()).unwrap();
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-www-form-urlencoded"),
            "{via}"
        );
        assert_eq!(request.header("accept"), Some("application/json"), "{via}");
        assert_eq!(
            request.header("content-length"),
            Some(request.body.len().to_string().as_str()),
            "{via}"
        );
        assert_eq!(
            request.header("host"),
            Some(emulator.addr().to_string().as_str()),
            "{via}"
        );
        assert_eq!(request.field("response"), Some(token.as_str()), "{via}");
        sent.push(request);
    }
    // Our own client names itself; a passed-in one keeps its own name.
    let user_agent = concat!("siteverify/", env!("CARGO_PKG_VERSION"));
    assert_eq!(sent[0].header("user-agent"), Some(user_agent));
    for other in &sent[1..] {
        assert_eq!(other.header("user-agent"), None);
        assert_eq!(sent[0].path, other.path);
        assert_eq!(
            sent[0].fields.keys().collect::<Vec<_>>(),
            other.fields.keys().collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn both_clients_turn_each_failure_into_the_same_error() {
    let emulator = emulator().await;
    let cases = [
        (
            FaultKind::Status { code: 503 },
            VerifyError::ProviderUnavailable(Outage::Status(503)),
        ),
        (
            FaultKind::Status { code: 429 },
            VerifyError::ProviderUnavailable(Outage::RateLimited { retry_after: None }),
        ),
        (
            FaultKind::DropConnection,
            VerifyError::ProviderUnavailable(Outage::ConnectionLost),
        ),
        (
            FaultKind::Delay { ms: 3_000 },
            VerifyError::ProviderUnavailable(Outage::Timeout),
        ),
        (
            FaultKind::Trickle { interval_ms: 100 },
            VerifyError::ProviderError(siteverify::BadAnswer::Truncated),
        ),
    ];
    for (via, config) in both(config(&emulator, Provider::HCaptcha).timeout(SHORT)) {
        let verifier = Verifier::hcaptcha(config).unwrap();
        for (fault, expected) in &cases {
            let token = mint(&emulator, spec(Provider::HCaptcha).fault(fault.clone()));
            let got = verify(&verifier, &token).await;
            // The rate limiter's answer may carry a Retry-After; its kind is what matters.
            match (&got, expected) {
                (
                    Err(VerifyError::ProviderUnavailable(Outage::RateLimited { .. })),
                    VerifyError::ProviderUnavailable(Outage::RateLimited { .. }),
                ) => {}
                _ => assert_eq!(got.as_ref(), Err(expected), "{via} {fault:?}"),
            }
        }
        for fault in [FaultKind::MalformedJson, FaultKind::Oversized] {
            let token = mint(&emulator, spec(Provider::HCaptcha).fault(fault.clone()));
            let err = verify(&verifier, &token).await.unwrap_err();
            assert_eq!(err.code(), "provider_error", "{via} {fault:?}: {err:?}");
        }
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure_on_both_clients() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = VerifierConfig::new("s")
        .verify_url(format!("http://127.0.0.1:{port}/verify"))
        .timeout(SHORT);
    for (via, config) in both(config) {
        let verifier = Verifier::hcaptcha(config).unwrap();
        assert_eq!(
            verify(&verifier, "0xabc").await,
            Err(VerifyError::ProviderUnavailable(Outage::Connect)),
            "{via}"
        );
    }
}

/// An https endpoint gets TLS from both clients, with the endpoint's name for SNI: a listener
/// that reads the first record and hangs up sees a ClientHello, and the verification is a
/// connect failure (nothing of the request was sent), so it may be retried.
#[tokio::test]
async fn https_endpoints_get_tls_from_both_clients() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (hello, mut hellos) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            hello.send(first_record(stream).await).unwrap();
        }
    });
    let config = VerifierConfig::new("s")
        .verify_url(format!("https://localhost:{port}/verify"))
        .timeout(SHORT);
    for (via, config) in both(config) {
        let verifier = Verifier::hcaptcha(config).unwrap();
        assert_eq!(
            verify(&verifier, "0xabc").await,
            Err(VerifyError::ProviderUnavailable(Outage::Connect)),
            "{via}"
        );
        let record = hellos.recv().await.unwrap();
        assert_client_hello(&record, "localhost", via);
        // The retries of a connect failure, if any.
        while hellos.try_recv().is_ok() {}
    }
    server.abort();
}

/// Reads one TLS record (its 5-byte header gives its length), or what came before EOF.
/// `record` is a TLS handshake record whose first message is a ClientHello (type 1) naming
/// `host` (its SNI).
fn assert_client_hello(record: &[u8], host: &str, context: &str) {
    assert_eq!(record.get(..1), Some(&[0x16][..]), "{context}");
    assert_eq!(record.get(5), Some(&1), "{context}");
    assert!(
        record.windows(host.len()).any(|w| w == host.as_bytes()),
        "{context}: no SNI for {host}"
    );
}

async fn first_record(mut stream: tokio::net::TcpStream) -> Vec<u8> {
    let mut record = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let wanted = match record.get(3..5) {
            Some(len) => 5 + usize::from(u16::from_be_bytes([len[0], len[1]])),
            None => 5,
        };
        if record.len() >= wanted {
            return record;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return record,
            Ok(n) => record.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn credentials_in_the_verify_url_travel_as_basic_authentication() {
    let emulator = emulator().await;
    let url = emulator
        .verify_url(Emulated::HCaptcha)
        .replacen("http://", "http://gate:keeper@", 1);
    let verifier = Verifier::hcaptcha(
        VerifierConfig::new(Emulated::HCaptcha.default_secret()).verify_url(url),
    )
    .unwrap();
    let token = mint(&emulator, spec(Provider::HCaptcha));
    assert!(verify(&verifier, &token).await.is_ok());
    let [request] = <[_; 1]>::try_from(emulator.requests()).unwrap();
    // base64("gate:keeper")
    assert_eq!(
        request.header("authorization"),
        Some("Basic Z2F0ZTprZWVwZXI=")
    );
}

/// What a child process of this test binary verifies, through the proxy its environment
/// names: proxy variables are process-wide, so each proxy test runs itself again in a child
/// with only its own proxy variables set.
const CHILD_TOKEN: &str = "SITEVERIFY_TEST_PROXIED_TOKEN";
const CHILD_URL: &str = "SITEVERIFY_TEST_PROXIED_URL";
const CHILD_EXPECTS: &str = "SITEVERIFY_TEST_PROXIED_EXPECTS";

/// The proxy variables curl and reqwest read, every spelling.
const PROXY_VARIABLES: [&str; 9] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    // A CGI environment ignores HTTP_PROXY (httpoxy).
    "REQUEST_METHOD",
];

/// In the child: verifies and checks the outcome it was told to expect (`ok`, or an error
/// code and its first provider code), returning true.
async fn verified_in_child() -> bool {
    let Ok(token) = std::env::var(CHILD_TOKEN) else {
        return false;
    };
    let url = std::env::var(CHILD_URL).unwrap();
    let expected = std::env::var(CHILD_EXPECTS).unwrap();
    let verifier = Verifier::hcaptcha(
        VerifierConfig::new(Emulated::HCaptcha.default_secret())
            .verify_url(url)
            .timeout(SHORT),
    )
    .unwrap();
    let got = match verify(&verifier, &token).await {
        Ok(_) => "ok".to_owned(),
        Err(e) => match e.provider_codes().first() {
            Some(first) => format!("{} {first}", e.code()),
            None => e.code().to_owned(),
        },
    };
    assert_eq!(got, expected);
    true
}

/// Runs `test` in a child process whose only proxy variable is `proxy` and which verifies
/// `token` at `url`, expecting `expected` (`ok`, or an error code and its first provider code).
async fn verify_in_child(
    test: &str,
    proxy: (&str, String),
    url: String,
    token: &str,
    expected: &str,
) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        &format!("transports::{test}"),
        "--exact",
        "--test-threads=1",
    ]);
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command
        .env(proxy.0, proxy.1)
        .env(CHILD_TOKEN, token)
        .env(CHILD_URL, url)
        .env(CHILD_EXPECTS, expected);
    let status = tokio::task::spawn_blocking(move || command.status().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "the child's verification: {status}");
}

/// base64("ops:s3cret")
const PROXY_CREDENTIALS: &str = "Basic b3BzOnMzY3JldA==";

/// A plain http endpoint behind `HTTP_PROXY`: the request itself goes to the proxy, in
/// absolute form, with the proxy's credentials. The emulator stands in for the proxy (it
/// answers absolute-form requests); the verify URL's host does not exist, so only a request
/// sent through the proxy can be answered.
#[tokio::test]
async fn an_http_endpoint_the_environment_proxies_is_sent_to_the_proxy() {
    if verified_in_child().await {
        return;
    }
    let emulator = emulator().await;
    let token = mint(&emulator, spec(Provider::HCaptcha));
    let proxy = format!("http://ops:s3cret@{}", emulator.addr());
    let url = format!("http://captcha.invalid{}", Emulated::HCaptcha.verify_path());
    verify_in_child(
        "an_http_endpoint_the_environment_proxies_is_sent_to_the_proxy",
        ("HTTP_PROXY", proxy),
        url,
        &token,
        "ok",
    )
    .await;
    let [request] = <[_; 1]>::try_from(emulator.requests()).unwrap();
    assert_eq!(request.header("host"), Some("captcha.invalid"));
    assert_eq!(
        request.header("proxy-authorization"),
        Some(PROXY_CREDENTIALS)
    );
}

/// An https endpoint behind `HTTPS_PROXY`: a `CONNECT` tunnel carrying the proxy's
/// credentials, and the endpoint's own TLS inside it (its name in the ClientHello), so the
/// proxy sees neither the secret nor the token.
#[tokio::test]
async fn an_https_endpoint_is_tunnelled_through_the_proxy_with_tls_inside() {
    if verified_in_child().await {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://ops:s3cret@{}", listener.local_addr().unwrap());
    let seen = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let head = request_head(&mut stream).await;
        stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        (head, first_record(stream).await)
    });
    verify_in_child(
        "an_https_endpoint_is_tunnelled_through_the_proxy_with_tls_inside",
        ("HTTPS_PROXY", proxy),
        "https://captcha.invalid/siteverify".to_owned(),
        "0xabc",
        "provider_unavailable",
    )
    .await;
    let (head, record) = seen.await.unwrap();
    assert!(
        head.starts_with("CONNECT captcha.invalid:443 HTTP/1.1\r\n"),
        "{head}"
    );
    let user_agent = concat!(
        "\r\nUser-Agent: siteverify/",
        env!("CARGO_PKG_VERSION"),
        "\r\n"
    );
    assert!(head.contains(user_agent), "{head}");
    let credentials = format!("proxy-authorization: {PROXY_CREDENTIALS}\r\n");
    assert!(
        head.to_ascii_lowercase()
            .contains(&credentials.to_ascii_lowercase()),
        "{head}"
    );
    assert_client_hello(&record, "captcha.invalid", "through the tunnel");
}

/// A proxy that refuses the tunnel for a reason of ours (our credentials, 407; its rules,
/// 403; a proxy that does not tunnel, 405) is a setting to fix, `provider_misconfigured`,
/// which fail-open never covers; one that cannot reach the provider (502, 503) or is busy
/// (429) is an outage like any connect failure.
#[tokio::test]
async fn a_proxy_refusing_the_tunnel_is_misconfigured_unless_it_cannot_reach_the_provider() {
    if verified_in_child().await {
        return;
    }
    for (status, expected) in [
        (407, "provider_misconfigured proxy-auth"),
        (403, "provider_misconfigured proxy-http-403"),
        (405, "provider_misconfigured proxy-http-405"),
        (502, "provider_unavailable"),
        (503, "provider_unavailable"),
        (429, "provider_unavailable"),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("http://ops:wrong@{}", listener.local_addr().unwrap());
        let refusing = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                request_head(&mut stream).await;
                let refusal = format!("HTTP/1.1 {status} No\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(refusal.as_bytes()).await.unwrap();
            }
        });
        verify_in_child(
            "a_proxy_refusing_the_tunnel_is_misconfigured_unless_it_cannot_reach_the_provider",
            ("HTTPS_PROXY", proxy),
            "https://captcha.invalid/siteverify".to_owned(),
            "0xabc",
            expected,
        )
        .await;
        refusing.abort();
    }
}

/// `ALL_PROXY=socks5h://…`: the SOCKS 5 handshake with the proxy's user and password, the
/// endpoint's name resolved by the proxy (`h`), its port spelled out (80 for http), and the
/// verification passes through it.
#[tokio::test]
async fn a_socks5h_proxy_carries_the_verification_and_resolves_the_name() {
    if verified_in_child().await {
        return;
    }
    let (handshake, request) = through_socks(
        "a_socks5h_proxy_carries_the_verification_and_resolves_the_name",
        "socks5h",
        "captcha.invalid",
        Socks5Answer::Pass,
        "ok",
    )
    .await;
    assert_eq!(
        handshake,
        Socks5Handshake {
            user: "ops".into(),
            password: "s3cret".into(),
            host: "captcha.invalid".into(),
            port: 80,
        }
    );
    let request = request.unwrap();
    assert_eq!(request.header("host"), Some("captcha.invalid"));
    // Tunnelled, not forwarded: no proxy header reaches the endpoint.
    assert_eq!(request.header("proxy-authorization"), None);
}

/// `socks5://` (no `h`): we resolve the name ourselves, asynchronously, and hand the proxy an
/// address; the Host header still names the endpoint.
#[tokio::test]
async fn a_socks5_proxy_is_handed_the_address_we_resolved() {
    if verified_in_child().await {
        return;
    }
    let (handshake, request) = through_socks(
        "a_socks5_proxy_is_handed_the_address_we_resolved",
        "socks5",
        "localhost",
        Socks5Answer::Pass,
        "ok",
    )
    .await;
    assert!(
        ["127.0.0.1", "::1"].contains(&handshake.host.as_str()),
        "{handshake:?}"
    );
    assert_eq!(handshake.port, 80);
    assert_eq!(request.unwrap().header("host"), Some("localhost"));
}

/// A SOCKS proxy refusing the credentials, or its rules refusing the connection, is a
/// setting to fix, like a 407: `provider_misconfigured`, never an outage to fail open on.
#[tokio::test]
async fn a_socks_proxy_refusing_credentials_or_the_connection_is_misconfigured() {
    if verified_in_child().await {
        return;
    }
    for (answer, expected) in [
        (
            Socks5Answer::RefuseCredentials,
            "provider_misconfigured proxy-auth",
        ),
        (
            Socks5Answer::NotAllowed,
            "provider_misconfigured proxy-denied",
        ),
        // "host unreachable": the proxy cannot reach the provider.
        (Socks5Answer::Unreachable, "provider_unavailable"),
    ] {
        let (_, request) = through_socks(
            "a_socks_proxy_refusing_credentials_or_the_connection_is_misconfigured",
            "socks5h",
            "captcha.invalid",
            answer,
            expected,
        )
        .await;
        assert!(request.is_none(), "{answer:?}");
    }
}

/// One verification, in a child, through a SOCKS 5 relay of `scheme` to the emulator at
/// `host` (which the relay sends to the emulator whatever it is): what the relay was told,
/// and the request the emulator saw, if any.
async fn through_socks(
    test: &str,
    scheme: &str,
    host: &str,
    answer: Socks5Answer,
    expected: &str,
) -> (
    Socks5Handshake,
    Option<siteverify_emulator::RecordedRequest>,
) {
    let emulator = emulator().await;
    let token = mint(&emulator, spec(Provider::HCaptcha));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("{scheme}://ops:s3cret@{}", listener.local_addr().unwrap());
    let upstream = emulator.addr();
    let seen = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        socks5_relay(stream, upstream, answer).await
    });
    let url = format!("http://{host}{}", Emulated::HCaptcha.verify_path());
    verify_in_child(test, ("ALL_PROXY", proxy), url, &token, expected).await;
    let handshake = seen.await.unwrap();
    (handshake, emulator.requests().into_iter().next())
}

/// An HTTP request head, up to its blank line.
async fn request_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.unwrap();
        head.push(byte);
    }
    String::from_utf8(head).unwrap()
}

#[derive(Debug, PartialEq, Eq)]
struct Socks5Handshake {
    user: String,
    password: String,
    host: String,
    port: u16,
}

/// How the test's SOCKS 5 proxy answers.
#[derive(Debug, Clone, Copy)]
enum Socks5Answer {
    Pass,
    RefuseCredentials,
    NotAllowed,
    Unreachable,
}

/// A SOCKS 5 proxy of one connection (RFC 1928, user and password by RFC 1929) that sends
/// whatever destination it is asked for to `upstream` (unless `answer` refuses), relays until
/// either side closes, and returns what the client said.
async fn socks5_relay(
    mut stream: TcpStream,
    upstream: std::net::SocketAddr,
    answer: Socks5Answer,
) -> Socks5Handshake {
    async fn field(stream: &mut TcpStream) -> String {
        let len = stream.read_u8().await.unwrap();
        let mut bytes = vec![0; usize::from(len)];
        stream.read_exact(&mut bytes).await.unwrap();
        String::from_utf8(bytes).unwrap()
    }
    let [version, methods] = [
        stream.read_u8().await.unwrap(),
        stream.read_u8().await.unwrap(),
    ];
    assert_eq!(version, 5);
    let mut offered = vec![0; usize::from(methods)];
    stream.read_exact(&mut offered).await.unwrap();
    assert!(
        offered.contains(&2),
        "user and password not offered: {offered:?}"
    );
    stream.write_all(&[5, 2]).await.unwrap();
    assert_eq!(stream.read_u8().await.unwrap(), 1);
    let user = field(&mut stream).await;
    let password = field(&mut stream).await;
    let mut handshake = Socks5Handshake {
        user,
        password,
        host: String::new(),
        port: 0,
    };
    if let Socks5Answer::RefuseCredentials = answer {
        stream.write_all(&[1, 1]).await.unwrap();
        return handshake;
    }
    stream.write_all(&[1, 0]).await.unwrap();
    let mut request = [0; 4];
    stream.read_exact(&mut request).await.unwrap();
    assert_eq!(request[..3], [5, 1, 0], "CONNECT");
    handshake.host = match request[3] {
        1 => std::net::Ipv4Addr::from(stream.read_u32().await.unwrap()).to_string(),
        3 => field(&mut stream).await,
        4 => std::net::Ipv6Addr::from(stream.read_u128().await.unwrap()).to_string(),
        other => panic!("address type {other}"),
    };
    handshake.port = stream.read_u16().await.unwrap();
    let reply = match answer {
        Socks5Answer::NotAllowed => 2,
        Socks5Answer::Unreachable => 4,
        _ => 0,
    };
    stream
        .write_all(&[5, reply, 0, 1, 127, 0, 0, 1, 0, 0])
        .await
        .unwrap();
    if reply == 0 {
        let mut endpoint = TcpStream::connect(upstream).await.unwrap();
        tokio::io::copy_bidirectional(&mut stream, &mut endpoint)
            .await
            .ok();
    }
    handshake
}
