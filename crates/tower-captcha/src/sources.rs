use std::fmt;

use http::HeaderName;
use siteverify::Provider;

/// One place a token may be found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// A request header. Tried before any body source, and reads no body.
    Header(HeaderName),
    /// A query-string parameter. Off by default: tokens in URLs end up in access logs.
    QueryParam(String),
    /// A field of an `application/x-www-form-urlencoded` body.
    FormField(String),
    /// A field of a `multipart/form-data` body.
    MultipartField(String),
    /// A string in an `application/json` (or `*+json`) body, at this path.
    Json(JsonPath),
}

impl TokenSource {
    /// Whether both read the token from the same place: a JSON property and the pointer to
    /// it are one place.
    pub(crate) fn same_place(&self, other: &TokenSource) -> bool {
        match (self, other) {
            (TokenSource::Json(a), TokenSource::Json(b)) => a.segments() == b.segments(),
            _ => self == other,
        }
    }

    pub(crate) fn reads_body(&self) -> bool {
        matches!(
            self,
            TokenSource::FormField(_) | TokenSource::MultipartField(_) | TokenSource::Json(_)
        )
    }
}

/// Where in a JSON body the token is: a top-level property or a JSON pointer (RFC 6901).
#[derive(Clone, PartialEq, Eq)]
pub struct JsonPath {
    segments: Vec<String>,
    pointer: bool,
}

impl JsonPath {
    /// A top-level property.
    pub fn property(name: impl Into<String>) -> Self {
        Self {
            segments: vec![name.into()],
            pointer: false,
        }
    }

    /// A JSON pointer such as `/captcha/token` (`~1` stands for `/`, `~0` for `~`; array
    /// elements by index, as in `/tokens/0`).
    pub fn pointer(pointer: &str) -> Result<Self, InvalidSource> {
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err(InvalidSource(format!(
                "JSON pointer `{pointer}` must start with `/`"
            )));
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            if raw.contains('~') && !valid_escapes(raw) {
                return Err(InvalidSource(format!(
                    "JSON pointer `{pointer}` has a `~` that is not `~0` or `~1`"
                )));
            }
            segments.push(raw.replace("~1", "/").replace("~0", "~"));
        }
        Ok(Self {
            segments,
            pointer: true,
        })
    }

    pub(crate) fn segments(&self) -> &[String] {
        &self.segments
    }
}

fn valid_escapes(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'~' || matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

impl fmt::Debug for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer {
            let escaped: Vec<String> = self
                .segments
                .iter()
                .map(|s| s.replace('~', "~0").replace('/', "~1"))
                .collect();
            write!(f, "JsonPointer(/{})", escaped.join("/"))
        } else {
            write!(f, "JsonProperty({:?})", self.segments[0])
        }
    }
}

/// A token source could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid token source: {0}")]
pub struct InvalidSource(String);

/// The ordered list of places the layer looks for the token.
///
/// Header and query sources are tried first, in their order, and touch no body. Then, only if
/// the request's content type matches a configured body source, the body is read (up to the
/// layer's limit) and its sources are tried in their order. The first source that holds a
/// token wins; within one source, the first non-empty occurrence of a field wins. Multipart
/// is the exception to source order: the first configured field in the body wins, because
/// parsing stops as soon as a token field is complete rather than reading on in case a
/// higher-ranked one follows.
///
/// ```
/// use tower_captcha::TokenSources;
///
/// // An API that sends the token in a header or nested in its JSON.
/// let sources = TokenSources::new()
///     .header("x-captcha-token")?
///     .json_pointer("/captcha/token")?;
/// # Ok::<(), tower_captcha::InvalidSource>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenSources {
    list: Vec<TokenSource>,
}

impl TokenSources {
    /// No sources; add some with the other methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// The widget field `name` as a header, an urlencoded field, a multipart field and a
    /// top-level JSON property: where a token from a standard widget ends up.
    pub fn widget_field(name: &str) -> Result<Self, InvalidSource> {
        Ok(Self::new()
            .header(name)?
            .form_field(name)
            .multipart_field(name)
            .json_property(name))
    }

    /// The defaults for `provider`: its widget field name everywhere (see
    /// [`widget_field`](Self::widget_field)). For an unknown provider, every known widget
    /// field name.
    pub fn for_provider(provider: Option<Provider>) -> Self {
        let names: Vec<&'static str> = match provider {
            Some(p) => vec![p.widget_field()],
            None => {
                // reCAPTCHA and reCAPTCHA Enterprise share their field: each name once.
                let mut names: Vec<&'static str> = Vec::new();
                for p in Provider::ALL {
                    if !names.contains(&p.widget_field()) {
                        names.push(p.widget_field());
                    }
                }
                names
            }
        };
        let mut sources = Self::new();
        for name in &names {
            sources
                .list
                .push(TokenSource::Header(HeaderName::from_static(name)));
        }
        for name in &names {
            sources = sources
                .form_field(*name)
                .multipart_field(*name)
                .json_property(*name);
        }
        sources
    }

    /// Adds a header.
    pub fn header(mut self, name: &str) -> Result<Self, InvalidSource> {
        let name = HeaderName::try_from(name)
            .map_err(|_| InvalidSource(format!("`{name}` is not a valid header name")))?;
        self.list.push(TokenSource::Header(name));
        Ok(self)
    }

    /// Adds a query-string parameter.
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.list.push(TokenSource::QueryParam(name.into()));
        self
    }

    /// Adds an urlencoded form field.
    pub fn form_field(mut self, name: impl Into<String>) -> Self {
        self.list.push(TokenSource::FormField(name.into()));
        self
    }

    /// Adds a multipart field.
    pub fn multipart_field(mut self, name: impl Into<String>) -> Self {
        self.list.push(TokenSource::MultipartField(name.into()));
        self
    }

    /// Adds a top-level JSON property.
    pub fn json_property(mut self, name: impl Into<String>) -> Self {
        self.list.push(TokenSource::Json(JsonPath::property(name)));
        self
    }

    /// Adds a JSON pointer such as `/captcha/token`.
    pub fn json_pointer(mut self, pointer: &str) -> Result<Self, InvalidSource> {
        self.list
            .push(TokenSource::Json(JsonPath::pointer(pointer)?));
        Ok(self)
    }

    /// The sources, in order.
    pub fn iter(&self) -> impl Iterator<Item = &TokenSource> {
        self.list.iter()
    }

    /// Adds any source at the end.
    pub(crate) fn with(mut self, source: TokenSource) -> Self {
        self.list.push(source);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_unescape_and_validate() {
        let path = JsonPath::pointer("/a~1b/c~0d/0").unwrap();
        assert_eq!(path.segments(), ["a/b", "c~d", "0"]);
        assert_eq!(format!("{path:?}"), "JsonPointer(/a~1b/c~0d/0)");
        assert!(JsonPath::pointer("captcha").is_err());
        assert!(JsonPath::pointer("/a~2").is_err());
        assert!(JsonPath::pointer("/a~").is_err());
        assert_eq!(JsonPath::pointer("/").unwrap().segments(), [""]);
    }

    #[test]
    fn provider_defaults_cover_every_place_a_widget_writes() {
        let sources = TokenSources::for_provider(Some(Provider::Turnstile));
        let expected = TokenSources::widget_field("cf-turnstile-response").unwrap();
        assert_eq!(sources, expected);
        let any = TokenSources::for_provider(None);
        let mut fields: Vec<_> = Provider::ALL.iter().map(|p| p.widget_field()).collect();
        fields.sort_unstable();
        fields.dedup();
        assert_eq!(
            any.iter()
                .filter(|s| matches!(s, TokenSource::Header(_)))
                .count(),
            fields.len()
        );
        assert_eq!(any.iter().count(), 4 * fields.len());
    }

    #[test]
    fn bad_header_names_are_refused() {
        assert!(TokenSources::new().header("bad header").is_err());
    }
}
