//! What the emulator remembers about each verify call, so tests can assert on what a client sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::provider::Provider;

/// One verify call as received, recorded before it is answered (so even a call whose fault
/// drops the connection shows up).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The provider whose endpoint was called.
    pub provider: Provider,
    /// The request path.
    pub path: String,
    /// The query string, if the URL had one (no verify call of this workspace sends one:
    /// tests assert that no secret rides in the URL).
    #[serde(default)]
    pub query: Option<String>,
    /// The `content-type` header, verbatim.
    pub content_type: Option<String>,
    /// Form fields, or the top-level members of a JSON object body (strings as-is, other
    /// values as their JSON text). Empty when the body could not be parsed.
    pub fields: BTreeMap<String, String>,
    /// The raw body. Over HTTP (`GET /requests`) it travels as a UTF-8 (lossy) string.
    #[serde(serialize_with = "body_as_text", deserialize_with = "body_from_text")]
    pub body: Vec<u8>,
    /// Every request header as received (repeated names grouped together), names in lowercase,
    /// values UTF-8 (lossy).
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of the first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a recorded field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

fn body_as_text<S: Serializer>(body: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(body))
}

fn body_from_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    String::deserialize(deserializer).map(String::into_bytes)
}
