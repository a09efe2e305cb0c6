//! reCAPTCHA Enterprise: the project in the path, the key in `X-Goog-Api-Key` (or `?key=`),
//! `tokenProperties.valid` as the verdict, Google API errors for the call's own failures.

use serde_json::json;
use siteverify_emulator::{ENTERPRISE_PROJECT, Provider, TokenSpec};

use crate::{Answer, client, mint, start};

const P: Provider = Provider::RecaptchaEnterprise;

async fn assess(url: &str, key: Option<&str>, body: serde_json::Value) -> Answer {
    let mut request = client().post(url).json(&body);
    if let Some(key) = key {
        request = request.header("x-goog-api-key", key);
    }
    Answer::read(request.send().await.expect("request")).await
}

#[tokio::test]
async fn answers_as_create_assessment_does() {
    let emu = start().await;
    let url = emu.verify_url(P);
    assert!(
        url.ends_with(&format!("/v1/projects/{ENTERPRISE_PROJECT}/assessments")),
        "{url}"
    );
    let key = P.default_secret();
    let site = P.default_site_key();
    let token = mint(
        &emu,
        TokenSpec::new(P)
            .hostname("example.com")
            .action("login")
            .score(0.3),
    );
    let event = json!({ "event": { "token": token, "siteKey": site, "expectedAction": "login" } });

    let ok = assess(&url, Some(key), event.clone()).await;
    assert_eq!(ok.status, 200);
    let body = ok.json();
    assert_eq!(body["tokenProperties"]["valid"], true);
    assert_eq!(body["tokenProperties"]["hostname"], "example.com");
    assert_eq!(body["tokenProperties"]["action"], "login");
    assert!(
        body["tokenProperties"]["createTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(body["riskAnalysis"]["score"], 0.3);
    assert_eq!(body["riskAnalysis"]["reasons"], json!(["AUTOMATION"]));
    assert!(
        body["name"]
            .as_str()
            .unwrap()
            .starts_with("projects/emulator-project/assessments/")
    );
    assert_eq!(body["event"].get("token"), None, "the token is not echoed");

    let again = assess(&url, Some(key), event.clone()).await;
    assert_eq!(
        (
            again.status,
            again.json()["tokenProperties"]["invalidReason"].clone()
        ),
        (200, json!("DUPE"))
    );

    let status = |a: &Answer| {
        (
            a.status,
            a.json()["error"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    assert_eq!(
        status(&assess(&url, None, event.clone()).await),
        (401, "UNAUTHENTICATED".to_owned())
    );
    assert_eq!(
        status(&assess(&url, Some("AIza-wrong"), event.clone()).await),
        (400, "INVALID_ARGUMENT".to_owned())
    );
    let elsewhere = url.replace(ENTERPRISE_PROJECT, "another-project");
    assert_eq!(
        status(&assess(&elsewhere, Some(key), event.clone()).await),
        (403, "PERMISSION_DENIED".to_owned())
    );
    let foreign = json!({ "event": { "token": "t", "siteKey": "not-ours" } });
    assert_eq!(
        status(&assess(&url, Some(key), foreign).await),
        (403, "PERMISSION_DENIED".to_owned())
    );
    let no_site = json!({ "event": { "token": "t" } });
    assert_eq!(
        status(&assess(&url, Some(key), no_site).await),
        (400, "INVALID_ARGUMENT".to_owned())
    );
    let no_token = assess(&url, Some(key), json!({ "event": { "siteKey": site } })).await;
    assert_eq!(
        no_token.json()["tokenProperties"]["invalidReason"],
        "MISSING"
    );
    // Google also takes the key as `?key=` (which no client of this workspace uses).
    let fresh = mint(&emu, TokenSpec::new(P));
    let by_query = assess(
        &format!("{url}?key={key}"),
        None,
        json!({ "event": { "token": fresh, "siteKey": site } }),
    )
    .await;
    assert_eq!(by_query.json()["tokenProperties"]["valid"], true);
    assert_eq!(
        emu.requests().last().unwrap().query.as_deref(),
        Some(format!("key={key}").as_str())
    );
}
