//! Splitting and decoding a raw query string the way PostgREST's HTTP library does.

use percent_encoding::percent_decode;

/// `a=1&b&c=%20+x` -> `[("a", Some("1")), ("b", None), ("c", Some("  x"))]`.
///
/// Pairs are separated by `&` or `;`; `+` is a space; malformed `%` escapes stay as they are;
/// invalid UTF-8 is replaced rather than rejected. A key without `=` has no value.
pub fn decode_pairs(query: &str) -> Vec<(String, Option<String>)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split(['&', ';'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), Some(decode(v))),
            None => (decode(pair), None),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let plus_as_space = s.replace('+', " ");
    percent_decode(plus_as_space.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, Option<String>)> {
        decode_pairs(q)
    }

    fn p(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_string(), v.map(str::to_string))
    }

    #[test]
    fn splits_and_decodes() {
        assert_eq!(pairs(""), vec![]);
        assert_eq!(
            pairs("a=1&b&c=&d=x=y"),
            vec![
                p("a", Some("1")),
                p("b", None),
                p("c", Some("")),
                p("d", Some("x=y"))
            ]
        );
        assert_eq!(
            pairs("?a=1;b=2&&"),
            vec![p("a", Some("1")), p("b", Some("2"))]
        );
        assert_eq!(
            pairs("select=id,%20name+x"),
            vec![p("select", Some("id, name x"))]
        );
        assert_eq!(pairs("a=%2B%26%3D"), vec![p("a", Some("+&="))]);
        assert_eq!(pairs("k%2Ey=S%C3%B8ren"), vec![p("k.y", Some("Søren"))]);
        assert_eq!(pairs("a=%zz%4"), vec![p("a", Some("%zz%4"))]);
        assert_eq!(pairs("a=%FF"), vec![p("a", Some("\u{FFFD}"))]);
    }
}
