//! A verify request's body, parsed once for both recording and verification.

use std::collections::BTreeMap;

use serde_json::Value;

/// How the body was encoded, judged by its content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Form,
    Json,
}

/// The fields of a parsed verify body. Form values are kept as JSON strings so every provider
/// reads both encodings through the same accessors.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    pub(crate) format: Format,
    pub(crate) fields: BTreeMap<String, Value>,
    /// The request's headers, names in lowercase (first value of each): where Friendly Captcha
    /// and reCAPTCHA Enterprise take their API key.
    pub(crate) headers: BTreeMap<String, String>,
    /// The request's path and query (reCAPTCHA Enterprise reads its project from the path,
    /// and takes an API key as `?key=`, as Google does).
    pub(crate) path: String,
    pub(crate) query: Option<String>,
}

/// A field that is present but not text (e.g. `"secret": 5`): the provider's `bad-request`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotText;

impl Input {
    /// Parses the body by its content type; `None` for an unknown type or an unparseable body.
    pub(crate) fn parse(content_type: Option<&str>, body: &[u8]) -> Option<Input> {
        let essence = content_type?
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
                let mut fields = BTreeMap::new();
                for (name, value) in pairs {
                    // The first occurrence wins, as in most form parsers.
                    fields.entry(name).or_insert(Value::String(value));
                }
                Some(Input {
                    format: Format::Form,
                    fields,
                    headers: BTreeMap::new(),
                    path: String::new(),
                    query: None,
                })
            }
            "application/json" => match serde_json::from_slice(body).ok()? {
                Value::Object(members) => Some(Input {
                    format: Format::Json,
                    fields: members.into_iter().collect(),
                    headers: BTreeMap::new(),
                    path: String::new(),
                    query: None,
                }),
                _ => None,
            },
            _ => None,
        }
    }

    /// Keeps the request's headers (the first value of each name).
    pub(crate) fn with_headers<'a>(
        mut self,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        for (name, value) in headers {
            self.headers
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| value.to_owned());
        }
        self
    }

    /// Keeps the request's path and query.
    pub(crate) fn with_url(mut self, path: &str, query: Option<&str>) -> Self {
        path.clone_into(&mut self.path);
        self.query = query.map(str::to_owned);
        self
    }

    /// A query parameter's value (the first); empty counts as absent.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v)
    }

    /// A header's value; empty counts as absent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A text field; empty and `null` count as absent.
    pub(crate) fn text(&self, name: &str) -> Result<Option<&str>, NotText> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(NotText),
        }
    }

    /// The fields as recorded: strings as-is, other values as their JSON text.
    pub(crate) fn recorded_fields(&self) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (name.clone(), text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_form_and_json_by_content_type() {
        let form = Input::parse(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"secret=s&response=a%2Bb&secret=ignored",
        );
        let form = form.map(|i| (i.format, i.recorded_fields()));
        let expected: BTreeMap<String, String> = [("response", "a+b"), ("secret", "s")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(form, Some((Format::Form, expected)));

        let json = Input::parse(Some("Application/JSON"), br#"{"token":"t","n":5}"#);
        let json = json.map(|i| i.recorded_fields());
        assert_eq!(json.and_then(|f| f.get("n").cloned()), Some("5".to_owned()));

        assert!(Input::parse(Some("application/json"), b"[1]").is_none());
        assert!(Input::parse(Some("application/json"), b"{").is_none());
        assert!(Input::parse(Some("text/plain"), b"secret=s").is_none());
        assert!(Input::parse(None, b"secret=s").is_none());
    }
}
