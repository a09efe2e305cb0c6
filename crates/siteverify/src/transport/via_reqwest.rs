//! The exchange over a reqwest client the user passed in (feature `reqwest`).

use reqwest::{
    Client, Url,
    header::{self, HeaderValue},
};

use tokio::time::Instant;

use super::{
    CappedBody, TransportFailure, WireAnswer, WireBody, answer_head, body_before, head_before,
    is_not_http, is_tls_refusal,
};

pub(super) async fn exchange(
    client: &Client,
    url: &Url,
    body: &WireBody,
    deadline: Instant,
) -> Result<WireAnswer, TransportFailure> {
    let mut request = client
        .post(url.clone())
        .header(header::ACCEPT, HeaderValue::from_static("application/json"))
        .header(header::CONTENT_TYPE, body.content_type.clone());
    for (name, value) in body.headers() {
        request = request.header(name.clone(), value.clone());
    }
    let send = request.body(body.bytes.clone()).send();
    let mut response = head_before(deadline, async { send.await.map_err(classify) }).await?;
    // An injected client may follow redirects (reqwest's default does): the answer then comes
    // from another URL, which is not the verify endpoint we were configured with.
    if !same_endpoint(response.url(), url) {
        return Err(TransportFailure::Redirected);
    }
    let (status, retry_after) = answer_head(response.status(), response.headers())?;
    let body = body_before(deadline, async {
        let mut collected = CappedBody::default();
        // After the head, whatever stops the body (a cut, an injected client's own timeout)
        // leaves an answer cut short.
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| TransportFailure::Truncated)?
        {
            collected.push(&chunk)?;
        }
        Ok(collected.0)
    })
    .await?;
    Ok(WireAnswer {
        status,
        body,
        retry_after,
    })
}

/// Whether an answer came from the URL we sent to. Credentials are left out: reqwest moves
/// them into an `Authorization` header and the answer's URL has none.
fn same_endpoint(answered: &Url, sent: &Url) -> bool {
    answered.scheme() == sent.scheme()
        && answered.host() == sent.host()
        && answered.port_or_known_default() == sent.port_or_known_default()
        && answered.path() == sent.path()
        && answered.query() == sent.query()
}

/// Maps a reqwest error to what it means for a retry. Only a connect error proves that no
/// byte of the request left this machine.
fn classify(error: reqwest::Error) -> TransportFailure {
    if error.is_builder() || error.is_redirect() {
        TransportFailure::Client
    } else if is_tls_refusal(&error) {
        TransportFailure::TlsRefused
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if error.is_timeout() {
        TransportFailure::Timeout
    } else if is_not_http(&error) {
        TransportFailure::NotHttp
    } else {
        TransportFailure::ConnectionLost
    }
}
