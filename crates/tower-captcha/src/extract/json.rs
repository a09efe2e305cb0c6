//! JSON bodies: the token is found by walking the configured path while the parser skips
//! everything else, so no tree of the whole document is built.

use std::{borrow::Cow, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use siteverify::MalformedToken;

use crate::{Rejection, TokenSource, TokenSources, sources::JsonPath};

/// What one path leads to.
#[derive(Debug, PartialEq)]
enum Found {
    Token(String),
    /// A value that is not a string (number, object, …): the client sent something else.
    NotString,
    /// Nothing at that path, or `null`.
    Absent,
    /// The document is not an object or array at the top, so no path can lead anywhere.
    NotContainer,
}

/// The first JSON source, in order, that holds a token.
pub(super) fn find(
    body: &[u8],
    sources: &TokenSources,
) -> Result<super::Found<'static>, Rejection> {
    for (index, source) in sources.iter().enumerate() {
        let TokenSource::Json(path) = source else {
            continue;
        };
        match seek(body, path)? {
            Found::Token(token) if !token.is_empty() => {
                return Ok(super::Found {
                    token: token.into(),
                    source: index,
                });
            }
            Found::Token(_) | Found::Absent => {}
            Found::NotString => {
                return Err(Rejection::MalformedToken(MalformedToken::NotAString));
            }
            Found::NotContainer => {
                return Err(Rejection::MalformedBody("the JSON body is not an object"));
            }
        }
    }
    Err(Rejection::MissingToken)
}

fn seek(body: &[u8], path: &JsonPath) -> Result<Found, Rejection> {
    let malformed = |_| Rejection::MalformedBody("the JSON body is not valid JSON");
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let found = Seek {
        path: path.segments(),
        top: true,
    }
    .deserialize(&mut deserializer)
    .map_err(malformed)?;
    // Trailing bytes after the document make it invalid JSON, whatever we found in it.
    deserializer.end().map_err(malformed)?;
    Ok(found)
}

/// Walks down `path`; at its end, reads the leaf.
struct Seek<'p> {
    path: &'p [String],
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        if self.path.is_empty() {
            deserializer.deserialize_any(Leaf)
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let (head, rest) = (&self.path[0], &self.path[1..]);
        let mut found = Found::Absent;
        while let Some(Key(key)) = map.next_key()? {
            // The first occurrence of a repeated key wins, as for forms and multipart.
            // An empty value counts as absent, as in forms, so that a later one can still win.
            let open = matches!(&found, Found::Absent)
                || matches!(&found, Found::Token(t) if t.is_empty());
            if key == head.as_str() && open {
                found = map.next_value_seed(Seek {
                    path: rest,
                    top: false,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let (head, rest) = (&self.path[0], &self.path[1..]);
        // RFC 6901 array indexes: "0", or digits without a leading zero (no "+1", no "01").
        let canonical = head == "0"
            || (!head.starts_with('0')
                && !head.is_empty()
                && head.bytes().all(|b| b.is_ascii_digit()));
        let wanted: Option<usize> = canonical.then(|| head.parse().ok()).flatten();
        let mut found = Found::Absent;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(Seek {
                    path: rest,
                    top: false,
                })? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            index += 1;
        }
        // A top-level array only makes sense to a pointer that indexes into it.
        if self.top && wanted.is_none() {
            return Ok(Found::NotContainer);
        }
        Ok(found)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        Ok(self.scalar())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found, E> {
        Ok(self.scalar())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found, E> {
        Ok(self.scalar())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
        Ok(self.scalar())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Found, E> {
        Ok(self.scalar())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(self.scalar())
    }
}

impl Seek<'_> {
    /// A scalar where the path wanted to go deeper.
    fn scalar(&self) -> Found {
        if self.top {
            Found::NotContainer
        } else {
            Found::Absent
        }
    }
}

/// The value at the end of the path.
struct Leaf;

impl<'de> Visitor<'de> for Leaf {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a token string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Found, E> {
        Ok(Found::Token(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Found, E> {
        Ok(Found::Token(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(Found::Absent)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        Ok(Found::NotString)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found, E> {
        Ok(Found::NotString)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found, E> {
        Ok(Found::NotString)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
        Ok(Found::NotString)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Found::NotString)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::NotString)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property(name: &str) -> TokenSources {
        TokenSources::new().json_property(name)
    }

    fn code(body: &str, sources: &TokenSources) -> String {
        match find(body.as_bytes(), sources) {
            Ok(found) => format!("token:{}", found.token),
            Err(e) => e.code().to_owned(),
        }
    }

    #[test]
    fn top_level_properties() {
        let s = property("t");
        assert_eq!(
            code(r#"{"a":[1,{"t":"nested"}],"t":"tok","z":null}"#, &s),
            "token:tok"
        );
        assert_eq!(code(r#"{"t":"first","t":"second"}"#, &s), "token:first");
        assert_eq!(code(r#"{"t":"","t":"second"}"#, &s), "token:second");
        assert_eq!(code(r#"{"t":null,"t":"second"}"#, &s), "token:second");
        assert_eq!(code(r#"{"t":"esc\"aped"}"#, &s), "token:esc\"aped");
        assert_eq!(code(r#"{"\u0074":"escaped-key"}"#, &s), "token:escaped-key");
        assert_eq!(code(r#"{"other":"x"}"#, &s), "missing_token");
        assert_eq!(code(r#"{"t":null}"#, &s), "missing_token");
        assert_eq!(code(r#"{"t":""}"#, &s), "missing_token");
    }

    #[test]
    fn wrong_types_and_shapes() {
        let s = property("t");
        assert_eq!(code(r#"{"t":42}"#, &s), "malformed_token");
        assert_eq!(code(r#"{"t":{"token":"x"}}"#, &s), "malformed_token");
        assert_eq!(code(r#"{"t":["x"]}"#, &s), "malformed_token");
        assert_eq!(code(r#"{"t":true}"#, &s), "malformed_token");
        assert_eq!(code(r#"["t","x"]"#, &s), "malformed_body");
        assert_eq!(code(r#""just a string""#, &s), "malformed_body");
        assert_eq!(code("12", &s), "malformed_body");
        assert_eq!(code("null", &s), "malformed_body");
    }

    #[test]
    fn invalid_json_is_a_malformed_body() {
        let s = property("t");
        for body in [
            r#"{"t":"x""#,
            r#"{"t":"x"} trailing"#,
            "",
            "{t:1}",
            r#"{"t":"x",}"#,
        ] {
            assert_eq!(code(body, &s), "malformed_body", "{body}");
        }
        // Invalid JSON after the token is still invalid JSON.
        assert_eq!(code(r#"{"t":"x","u":}"#, &s), "malformed_body");
    }

    #[test]
    fn pointers_go_through_objects_and_arrays() {
        let s = TokenSources::new().json_pointer("/captcha/token").unwrap();
        assert_eq!(code(r#"{"captcha":{"token":"deep"}}"#, &s), "token:deep");
        assert_eq!(code(r#"{"captcha":"flat"}"#, &s), "missing_token");
        let s = TokenSources::new().json_pointer("/1/t").unwrap();
        assert_eq!(code(r#"[{"t":"a"},{"t":"b"}]"#, &s), "token:b");
        for bad in ["/01/t", "/+1/t"] {
            let s = TokenSources::new().json_pointer(bad).unwrap();
            assert_eq!(
                code(r#"[{"t":"a"},{"t":"b"}]"#, &s),
                "malformed_body",
                "{bad}"
            );
        }
        assert_eq!(code(r#"[{"t":"a"}]"#, &s), "missing_token");
    }

    #[test]
    fn sources_are_tried_in_order() {
        let s = TokenSources::new()
            .json_pointer("/c/t")
            .unwrap()
            .json_property("t");
        assert_eq!(code(r#"{"t":"top","c":{"t":"deep"}}"#, &s), "token:deep");
        assert_eq!(code(r#"{"t":"top"}"#, &s), "token:top");
    }
}
