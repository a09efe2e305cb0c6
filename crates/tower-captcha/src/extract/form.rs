//! `application/x-www-form-urlencoded` bodies and query strings.

use super::Found;
use crate::{Rejection, TokenSource, TokenSources};

/// The first value of the first form-field source present in `body`.
pub(super) fn find(body: &[u8], sources: &TokenSources) -> Result<Found<'static>, Rejection> {
    let (names, at): (Vec<&str>, Vec<usize>) = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            TokenSource::FormField(name) => Some((name.as_str(), i)),
            _ => None,
        })
        .unzip();
    let mut found: Vec<Option<String>> = vec![None; names.len()];
    for (key, value) in form_urlencoded::parse(body) {
        let Some(index) = names.iter().position(|n| *n == key) else {
            continue;
        };
        if found[index].is_none() && !value.is_empty() {
            found[index] = Some(value.into_owned());
            // The first source outranks the others: nothing later can beat it.
            if index == 0 {
                break;
            }
        }
    }
    found
        .into_iter()
        .zip(at)
        .find_map(|(token, source)| {
            Some(Found {
                token: token?.into(),
                source,
            })
        })
        .ok_or(Rejection::MissingToken)
}

/// The first non-empty value of `name` in an urlencoded string.
pub(super) fn first(encoded: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(encoded)
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> TokenSources {
        TokenSources::new().form_field("a").form_field("b")
    }

    #[test]
    fn the_first_occurrence_of_the_first_source_wins() {
        assert_eq!(
            find(b"x=1&b=bee&a=one&a=two", &sources()).unwrap().token,
            "one"
        );
        assert_eq!(find(b"b=bee&b=second", &sources()).unwrap().token, "bee");
        assert_eq!(
            find(b"a=&b=bee", &sources()).unwrap().token,
            "bee",
            "empty counts as absent"
        );
        assert_eq!(
            find(b"b=bee", &sources()).unwrap().source,
            1,
            "the index of `b`"
        );
        assert_eq!(find(b"c=1", &sources()), Err(Rejection::MissingToken));
        assert_eq!(find(b"", &sources()), Err(Rejection::MissingToken));
    }

    #[test]
    fn values_are_percent_decoded() {
        assert_eq!(find(b"a=x%2By+z", &sources()).unwrap().token, "x+y z");
        assert_eq!(first(b"t=%41%42", "t").unwrap(), "AB");
    }

    #[test]
    fn invalid_utf8_is_replaced_so_the_token_check_refuses_it() {
        let token = find(b"a=%FF%FE", &sources()).unwrap().token;
        assert!(token.contains('\u{FFFD}'));
    }
}
