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

/// PostgREST's canonical query string: the decoded pairs stably sorted by name, a missing value
/// as empty, and (as its URL library renders a list of pairs) the values of a repeated name
/// joined with `,` under that name once; names and values percent-encoded except ASCII
/// alphanumerics and `-_.~`. `title=eq.x&id=eq.1` -> `id=eq.1&title=eq.x`.
pub fn canonical(query: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    const UNRESERVED: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let mut pairs = decode_pairs(query);
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(String, Vec<String>)> = vec![];
    for (k, v) in pairs {
        let v = utf8_percent_encode(v.as_deref().unwrap_or(""), UNRESERVED).to_string();
        match out.last_mut() {
            Some((last, values)) if *last == k => values.push(v),
            _ => out.push((k, vec![v])),
        }
    }
    out.iter()
        .map(|(k, values)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, UNRESERVED),
                values.join(",")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
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

    #[test]
    fn canonical_sorts_merges_and_encodes() {
        assert_eq!(canonical(""), "");
        assert_eq!(canonical("title=eq.x&id=eq.1"), "id=eq.1&title=eq.x");
        assert_eq!(canonical("a=1&c=3&b=2&d"), "a=1&b=2&c=3&d=");
        assert_eq!(canonical("id=gt.1&a=x&id=lt.5"), "a=x&id=gt.1,lt.5");
        assert_eq!(
            canonical("select=id,name&name=in.(a b,S%C3%B8)"),
            "name=in.%28a%20b%2CS%C3%B8%29&select=id%2Cname"
        );
        assert_eq!(canonical("k%2Ey~=a+b"), "k.y~=a%20b");
    }
}
