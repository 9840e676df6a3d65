//! Names, JSON paths and the `a.b.col->x` paths of filter keys.

use super::ast::{EmbedPath, Field, JsonKey, JsonOp};
use super::lex::{ch, fail, label, quoted_value, recoverable, sep_by1, ws, PErr, Res};
use nom::Err;

pub const FIELD_NAME: &str = "field name (* or [a..z0..9_$])";
const JSON_KEY: &str = "any non reserved character different from: .,>()";

/// Identifier chars as PostgREST accepts them; spaces included (then trimmed).
fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == ' ' || c == '$'
}

fn take_while1<'a>(i: &'a str, pred: impl Fn(char) -> bool, expected: &str) -> Res<'a, &'a str> {
    let end = i.find(|c: char| !pred(c)).unwrap_or(i.len());
    if end == 0 {
        fail(i, &[expected])
    } else {
        Ok((&i[end..], &i[..end]))
    }
}

/// A `-` that is not the start of `->`.
fn dash(i: &str) -> Res<'_, ()> {
    match i.strip_prefix('-') {
        Some(rest) if !rest.starts_with('>') => Ok((rest, ())),
        _ => fail(i, &["\"-\""]),
    }
}

/// `part(-part)*`, e.g. `first-name`, keeping the dashes.
fn sep_by_dash<'a>(
    part: impl Fn(&'a str) -> Res<'a, &'a str>,
) -> impl Fn(&'a str) -> Res<'a, String> {
    move |i: &'a str| {
        let (rest, (parts, _)) = sep_by1(|s| part(s).map(|(r, p)| (r, p.trim())), dash)(i)?;
        Ok((rest, parts.join("-")))
    }
}

fn identifier(i: &str) -> Res<'_, &str> {
    take_while1(i, is_ident_char, "letter or digit")
}

/// A column, relation or alias name: `"quoted"` or `name` (letters, digits, `_ $`, spaces
/// trimmed, inner dashes).
pub fn field_name(i: &str) -> Res<'_, String> {
    label(FIELD_NAME, |i| {
        if i.starts_with('"') {
            quoted_value(i)
        } else {
            sep_by_dash(identifier)(i)
        }
    })(i)
}

/// A cast's type name: identifier chars, optionally followed by `[]` (any number).
pub fn type_name(i: &str) -> Res<'_, String> {
    let (mut rest, name) = take_while1(i, is_ident_char, "letter or digit")?;
    let mut out = name.trim().to_string();
    if out.is_empty() {
        return fail(i, &["letter or digit"]);
    }
    while let Some(r) = rest.strip_prefix("[]") {
        out.push_str("[]");
        rest = r;
    }
    Ok((rest, out))
}

fn json_key_part(i: &str) -> Res<'_, &str> {
    take_while1(i, |c| !"(-:.,>)".contains(c), JSON_KEY)
}

fn json_key(i: &str) -> Res<'_, JsonKey> {
    let (rest, k) = label(JSON_KEY, |i| {
        if i.starts_with('"') {
            quoted_value(i)
        } else {
            sep_by_dash(json_key_part)(i)
        }
    })(i)?;
    Ok((rest, JsonKey::Key(k)))
}

/// `-?digits` followed by something that can end a JSON operand.
fn json_index(i: &str) -> Res<'_, JsonKey> {
    let (after_sign, negative) = match i.strip_prefix('-') {
        Some(r) => (r, true),
        None => (i, false),
    };
    let digits_end = after_sign
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after_sign.len());
    if digits_end == 0 {
        return if negative {
            fail(after_sign, &["digit"])
        } else {
            fail(i, &["\"-\"", "digit"])
        };
    }
    let rest = &after_sign[digits_end..];
    let ends = ["->", "::", ".", ",", ")"];
    if !(rest.is_empty() || ends.iter().any(|e| rest.starts_with(e))) {
        let mut e = PErr::at(
            rest,
            &[
                "digit",
                "\"->\"",
                "\"::\"",
                "\".\"",
                "\",\"",
                "\")\"",
                "end of input",
            ],
        );
        e.quote_char = true;
        return Err(Err::Error(e));
    }
    let text = &i[..i.len() - rest.len()];
    match text.parse::<i64>() {
        Ok(n) => Ok((rest, JsonKey::Index(n))),
        // Too large for an index: read it as a key instead.
        Err(_) => fail(i, &["digit"]),
    }
}

fn json_operand(i: &str) -> Res<'_, JsonKey> {
    match recoverable(json_index(i))? {
        Ok(ok) => Ok(ok),
        Err(e_idx) => match recoverable(json_key(i))? {
            Ok(ok) => Ok(ok),
            Err(e_key) => Err(Err::Error(e_idx.merge(e_key))),
        },
    }
}

/// Longest JSON path (`->` and `->>` steps). Postgres nests one expression per step and runs
/// out of stack (54001) somewhere past a few thousand; real documents are far shallower.
pub const MAX_JSON_PATH: usize = 100;
const JSON_PATH_LIMIT: &str = "at most 100 JSON path steps (-> or ->>)";

/// `->a->>0`, possibly empty.
pub fn json_path(i: &str) -> Res<'_, Vec<JsonOp>> {
    let mut ops = vec![];
    let mut i = i;
    loop {
        if ops.len() >= MAX_JSON_PATH && i.starts_with("->") {
            return Err(Err::Failure(PErr::at(i, &[JSON_PATH_LIMIT])));
        }
        if let Some(rest) = i.strip_prefix("->>") {
            let (rest, k) = json_operand(rest)?;
            ops.push(JsonOp::DoubleArrow(k));
            i = rest;
        } else if let Some(rest) = i.strip_prefix("->") {
            let (rest, k) = json_operand(rest)?;
            ops.push(JsonOp::Arrow(k));
            i = rest;
        } else {
            return Ok((i, ops));
        }
    }
}

/// `name->path`, with surrounding whitespace.
pub fn field(i: &str) -> Res<'_, Field> {
    let (i, _) = ws(i)?;
    let (i, name) = field_name(i)?;
    let (i, json_path) = json_path(i)?;
    let (i, _) = ws(i)?;
    Ok((i, Field { name, json_path }))
}

/// A filter key: `books.reviews.rating`, `data->a->>b` -> (embed path, field).
pub fn tree_path(i: &str) -> Res<'_, (EmbedPath, Field)> {
    let (i, (mut names, _)) = sep_by1(field_name, ch('.'))(i)?;
    let (i, json_path) = json_path(i)?;
    let name = names.pop().unwrap_or_default();
    Ok((i, (names, Field { name, json_path })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> JsonKey {
        JsonKey::Key(s.to_string())
    }

    #[test]
    fn field_names() {
        assert_eq!(field_name("identifier"), Ok(("", "identifier".into())));
        assert_eq!(
            field_name(" with spaces ,"),
            Ok((",", "with spaces".into()))
        );
        assert_eq!(
            field_name("with-dashes->x"),
            Ok(("->x", "with-dashes".into()))
        );
        assert_eq!(field_name("$_123"), Ok(("", "$_123".into())));
        assert_eq!(field_name("\":\""), Ok(("", ":".into())));
        assert_eq!(field_name("\" sp \""), Ok(("", " sp ".into())));
        assert_eq!(field_name("Zoë"), Ok(("", "Zoë".into())));
        let e = field_name(":").unwrap_err();
        assert!(
            matches!(e, Err::Error(PErr { ref expected, .. }) if expected == &vec![FIELD_NAME.to_string()])
        );
    }

    #[test]
    fn json_paths() {
        assert_eq!(
            json_path("->a->>b"),
            Ok((
                "",
                vec![JsonOp::Arrow(key("a")), JsonOp::DoubleArrow(key("b"))]
            ))
        );
        assert_eq!(
            json_path("->0->>-1.desc"),
            Ok((
                ".desc",
                vec![
                    JsonOp::Arrow(JsonKey::Index(0)),
                    JsonOp::DoubleArrow(JsonKey::Index(-1))
                ]
            ))
        );
        assert_eq!(json_path("->0x"), Ok(("", vec![JsonOp::Arrow(key("0x"))])));
        assert_eq!(
            json_path("->!@#$%^&*_a::int"),
            Ok(("::int", vec![JsonOp::Arrow(key("!@#$%^&*_a"))]))
        );
        assert_eq!(
            json_path("->\"a.b\""),
            Ok(("", vec![JsonOp::Arrow(key("a.b"))]))
        );
        assert_eq!(
            json_path("->my-key->>x"),
            Ok((
                "",
                vec![JsonOp::Arrow(key("my-key")), JsonOp::DoubleArrow(key("x"))]
            ))
        );
        assert_eq!(
            json_path("->99999999999999999999"),
            Ok(("", vec![JsonOp::Arrow(key("99999999999999999999"))]))
        );
        assert_eq!(json_path(",x"), Ok((",x", vec![])));
    }

    #[test]
    fn bad_json_paths() {
        let whole = "data->>--34";
        let e = match json_path(&whole[4..]) {
            Err(Err::Error(e)) => e,
            other => panic!("{other:?}"),
        };
        let api = e.to_api_error(whole, "select parameter", whole);
        assert_eq!(
            api.message,
            "\"failed to parse select parameter (data->>--34)\" (line 1, column 9)"
        );
        assert_eq!(
            api.details.as_deref(),
            Some("unexpected \"-\" expecting digit")
        );

        let whole = "data->(x";
        let e = match json_path(&whole[4..]) {
            Err(Err::Error(e)) => e,
            other => panic!("{other:?}"),
        };
        let api = e.to_api_error(whole, "select parameter", whole);
        assert!(api.message.ends_with("(line 1, column 7)"));
        assert_eq!(
            api.details.as_deref(),
            Some("unexpected \"(\" expecting \"-\", digit or any non reserved character different from: .,>()")
        );
        assert!(json_path("->>-78xy").is_err());
        assert!(json_path("->").is_err());
    }

    #[test]
    fn json_paths_have_a_depth_limit() {
        assert!(JSON_PATH_LIMIT.contains(&MAX_JSON_PATH.to_string()));
        let at_limit = "->a".repeat(MAX_JSON_PATH);
        assert_eq!(
            json_path(&at_limit).map(|(_, ops)| ops.len()),
            Ok(MAX_JSON_PATH)
        );
        let whole = format!("data{at_limit}->>b");
        let e = match json_path(&whole[4..]) {
            Err(Err::Failure(e)) => e,
            other => panic!("{other:?}"),
        };
        let api = e.to_api_error(&whole, "select parameter", &whole);
        assert_eq!(api.code, "PGRST100");
        assert!(api.details.unwrap().contains(JSON_PATH_LIMIT));
    }

    #[test]
    fn tree_paths() {
        assert_eq!(tree_path("id"), Ok(("", (vec![], Field::col("id")))));
        assert_eq!(
            tree_path("a.b.col->x"),
            Ok((
                "",
                (
                    vec!["a".into(), "b".into()],
                    Field {
                        name: "col".into(),
                        json_path: vec![JsonOp::Arrow(key("x"))]
                    }
                )
            ))
        );
        assert!(tree_path("a.").is_err());
        assert!(tree_path("").is_err());
    }

    #[test]
    fn type_names() {
        assert_eq!(type_name("text[],"), Ok((",", "text[]".into())));
        assert_eq!(
            type_name("double precision)"),
            Ok((")", "double precision".into()))
        );
        assert!(type_name(" ").is_err());
        assert!(type_name("").is_err());
    }
}
