//! Filter values: `[not.]op[(modifier)].value`, `in.(list)`, `is.null`, `fts(config).q`.

use super::ast::{FtsOp, IsValue, Operation, Quantifier, SimpleOp};
use super::lex::{
    ch, delimiter, fail, label, quoted_value, recoverable, sep_by1, with_alt, ws, Res,
};

/// How far a value reaches: the rest of the input (a query parameter), or up to the next
/// `,`/`)` of a logic tree, where values may be quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMode {
    Rest,
    Logic,
}

const OPERATOR: &str = "operator (eq, gt, ...)";
const ARRAY_LITERAL: &str = "an array literal ({a,b,...}) after (any)/(all)";

/// `[not.]operation`: (negated, operation).
pub fn op_expr(i: &str, mode: ValueMode) -> Res<'_, (bool, Operation)> {
    let (after_not, negated, not_err) = match recoverable(not_prefix(i))? {
        Ok((rest, ())) => (rest, true, None),
        Err(e) => (i, false, Some(e)),
    };
    let (rest, op) = with_alt(label(OPERATOR, |s| operation(s, mode))(after_not), not_err)?;
    Ok((rest, (negated, op)))
}

pub fn not_prefix(i: &str) -> Res<'_, ()> {
    match i.strip_prefix("not") {
        Some(rest) => {
            let (rest, _) = delimiter(rest)?;
            Ok((rest, ()))
        }
        None => fail(i, &["\"not\""]),
    }
}

fn simple_op(word: &str) -> Option<SimpleOp> {
    Some(match word {
        "neq" => SimpleOp::Neq,
        "cs" => SimpleOp::Cs,
        "cd" => SimpleOp::Cd,
        "ov" => SimpleOp::Ov,
        "sl" => SimpleOp::Sl,
        "sr" => SimpleOp::Sr,
        "nxr" => SimpleOp::Nxr,
        "nxl" => SimpleOp::Nxl,
        "adj" => SimpleOp::Adj,
        _ => return None,
    })
}

/// Operators that take `(any)`/`(all)`.
fn quant_op(word: &str) -> Option<SimpleOp> {
    Some(match word {
        "eq" => SimpleOp::Eq,
        "gt" => SimpleOp::Gt,
        "gte" => SimpleOp::Gte,
        "lt" => SimpleOp::Lt,
        "lte" => SimpleOp::Lte,
        "like" => SimpleOp::Like,
        "ilike" => SimpleOp::Ilike,
        "match" => SimpleOp::Match,
        "imatch" => SimpleOp::Imatch,
        _ => return None,
    })
}

fn fts_op(word: &str) -> Option<FtsOp> {
    Some(match word {
        "fts" => FtsOp::Fts,
        "plfts" => FtsOp::Plfts,
        "phfts" => FtsOp::Phfts,
        "wfts" => FtsOp::Wfts,
        _ => return None,
    })
}

fn operation(i: &str, mode: ValueMode) -> Res<'_, Operation> {
    let end = i
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(i.len());
    let (word, rest) = i.split_at(end);
    if word == "in" {
        let (rest, _) = delimiter(rest)?;
        let (rest, values) = list_value(rest)?;
        return Ok((rest, Operation::In(values)));
    }
    if word == "is" {
        let (rest, _) = delimiter(rest)?;
        let (rest, v) = is_value(rest)?;
        return Ok((rest, Operation::Is(v)));
    }
    if word == "isdistinct" {
        let (rest, _) = delimiter(rest)?;
        let (rest, value) = single_value(rest, mode)?;
        return Ok((
            rest,
            Operation::Simple {
                op: SimpleOp::IsDistinct,
                quantifier: None,
                value,
                values: vec![],
            },
        ));
    }
    if let Some(op) = fts_op(word) {
        let (rest, config) = match rest.strip_prefix('(') {
            Some(r) => {
                let cfg_end = r
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ' ' || c == '$'))
                    .unwrap_or(r.len());
                let cfg = r[..cfg_end].trim();
                if cfg.is_empty() {
                    return fail(&r[cfg_end..], &["letter or digit"]);
                }
                let (r, _) = ch(')')(&r[cfg_end..])?;
                (r, Some(cfg.to_string()))
            }
            None => (rest, None),
        };
        let (rest, _) = delimiter(rest)?;
        let (rest, value) = single_value(rest, mode)?;
        return Ok((rest, Operation::Fts { op, config, value }));
    }
    if let Some(op) = simple_op(word) {
        let (rest, _) = delimiter(rest)?;
        let (rest, value) = single_value(rest, mode)?;
        return Ok((
            rest,
            Operation::Simple {
                op,
                quantifier: None,
                value,
                values: vec![],
            },
        ));
    }
    if let Some(op) = quant_op(word) {
        let (rest, quantifier) = if let Some(r) = rest.strip_prefix("(any)") {
            (r, Some(Quantifier::Any))
        } else if let Some(r) = rest.strip_prefix("(all)") {
            (r, Some(Quantifier::All))
        } else {
            (rest, None)
        };
        let (value_start, _) = delimiter(rest)?;
        let (rest, value) = single_value(value_start, mode)?;
        let values = match quantifier {
            Some(_) => match array_elements(&value) {
                Some(v) => v,
                None => return fail(value_start, &[ARRAY_LITERAL]),
            },
            None => vec![],
        };
        return Ok((
            rest,
            Operation::Simple {
                op,
                quantifier,
                value,
                values,
            },
        ));
    }
    fail(i, &[OPERATOR])
}

/// `null`, `not_null`, `true`, `false`, `unknown`, any case.
fn is_value(i: &str) -> Res<'_, IsValue> {
    for (word, v) in [
        ("null", IsValue::Null),
        ("not_null", IsValue::NotNull),
        ("true", IsValue::True),
        ("false", IsValue::False),
        ("unknown", IsValue::Unknown),
    ] {
        if let Some(prefix) = i.get(..word.len()) {
            if prefix.eq_ignore_ascii_case(word) {
                return Ok((&i[word.len()..], v));
            }
        }
    }
    fail(i, &["isVal: (null, not_null, true, false, unknown)"])
}

/// The operand of an operator. In a logic tree: `"quoted"` (when a `,` or `)` follows), a
/// `{array,literal}` kept whole, or anything up to the next `,`/`)`.
pub fn single_value(i: &str, mode: ValueMode) -> Res<'_, String> {
    match mode {
        ValueMode::Rest => Ok(("", i.to_string())),
        ValueMode::Logic => {
            if let Ok((rest, v)) = quoted_value(i) {
                if rest.is_empty() || rest.starts_with([',', ')']) {
                    return Ok((rest, v));
                }
            }
            if let Some(inner) = i.strip_prefix('{') {
                if let Some(pos) = inner.find(['{', '}']) {
                    if inner.as_bytes()[pos] == b'}' {
                        let end = pos + 2;
                        return Ok((&i[end..], i[..end].to_string()));
                    }
                }
            }
            let end = i.find([',', ')']).unwrap_or(i.len());
            Ok((&i[end..], i[..end].to_string()))
        }
    }
}

/// `(a,"b,c", d)`: the elements, unquoted; `()` is the empty list.
fn list_value(i: &str) -> Res<'_, Vec<String>> {
    let (i, _) = ws(i)?;
    let (i, _) = ch('(')(i)?;
    let (i, _) = ws(i)?;
    let (i, (items, sep_err)) = sep_by1(list_element, ch(','))(i)?;
    let (i, _) = ws(i)?;
    let (i, _) = with_alt(ch(')')(i), Some(sep_err))?;
    let (i, _) = ws(i)?;
    let values = match items.as_slice() {
        [(false, v)] if v.is_empty() => vec![],
        _ => items.into_iter().map(|(_, v)| v).collect(),
    };
    Ok((i, values))
}

/// (was quoted, value)
fn list_element(i: &str) -> Res<'_, (bool, String)> {
    if let Ok((rest, v)) = quoted_value(i) {
        if rest.is_empty() || rest.starts_with([',', ')']) {
            return Ok((rest, (true, v)));
        }
    }
    let end = i.find([',', ')']).unwrap_or(i.len());
    Ok((&i[end..], (false, i[..end].to_string())))
}

/// The elements of a one-dimensional Postgres array literal `{a,"b,c",NULL}`, unquoted and
/// unescaped; `None` when the text is not such a literal.
pub fn array_elements(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(vec![]);
    }
    let mut out = vec![];
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => item.push(chars.next()?),
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '}' || c == '"' {
                    return None;
                }
                if c == '\\' {
                    chars.next();
                    item.push(chars.next()?);
                    continue;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim_end().to_string();
            if item.is_empty() {
                return None;
            }
        }
        out.push(item);
        match chars.next() {
            None => return Some(out),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::lex::eoi;

    fn op(s: &str) -> (bool, Operation) {
        let r = op_expr(s, ValueMode::Rest).and_then(|(rest, v)| eoi(rest).map(|_| v));
        match r {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    fn simple(op: SimpleOp, value: &str) -> Operation {
        Operation::Simple {
            op,
            quantifier: None,
            value: value.into(),
            values: vec![],
        }
    }

    #[test]
    fn simple_operators() {
        for (word, o) in [
            ("eq", SimpleOp::Eq),
            ("neq", SimpleOp::Neq),
            ("gt", SimpleOp::Gt),
            ("gte", SimpleOp::Gte),
            ("lt", SimpleOp::Lt),
            ("lte", SimpleOp::Lte),
            ("like", SimpleOp::Like),
            ("ilike", SimpleOp::Ilike),
            ("match", SimpleOp::Match),
            ("imatch", SimpleOp::Imatch),
            ("cs", SimpleOp::Cs),
            ("cd", SimpleOp::Cd),
            ("ov", SimpleOp::Ov),
            ("sl", SimpleOp::Sl),
            ("sr", SimpleOp::Sr),
            ("nxr", SimpleOp::Nxr),
            ("nxl", SimpleOp::Nxl),
            ("adj", SimpleOp::Adj),
            ("isdistinct", SimpleOp::IsDistinct),
        ] {
            assert_eq!(op(&format!("{word}.a.b,c)")), (false, simple(o, "a.b,c)")));
            assert_eq!(op(&format!("not.{word}.x")), (true, simple(o, "x")));
        }
        assert_eq!(op("eq."), (false, simple(SimpleOp::Eq, "")));
        assert_eq!(
            op("like.*Ledger*"),
            (false, simple(SimpleOp::Like, "*Ledger*"))
        );
        assert_eq!(
            op("eq.\"quoted\""),
            (false, simple(SimpleOp::Eq, "\"quoted\""))
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            op("eq(any).{1,3,5}"),
            (
                false,
                Operation::Simple {
                    op: SimpleOp::Eq,
                    quantifier: Some(Quantifier::Any),
                    value: "{1,3,5}".into(),
                    values: vec!["1".into(), "3".into(), "5".into()]
                }
            )
        );
        assert_eq!(
            op("not.like(all).{a*,\"b,*\"}"),
            (
                true,
                Operation::Simple {
                    op: SimpleOp::Like,
                    quantifier: Some(Quantifier::All),
                    value: "{a*,\"b,*\"}".into(),
                    values: vec!["a*".into(), "b,*".into()]
                }
            )
        );
        assert!(op_expr("neq(any).{1}", ValueMode::Rest).is_err());
        assert!(op_expr("eq(some).{1}", ValueMode::Rest).is_err());
        assert!(op_expr("eq().1", ValueMode::Rest).is_err());
        assert!(op_expr("eq(any).1,2", ValueMode::Rest).is_err());
        assert!(op_expr("eq(all).{1,,2}", ValueMode::Rest).is_err());
        assert_eq!(
            op("gt(all).{}"),
            (
                false,
                Operation::Simple {
                    op: SimpleOp::Gt,
                    quantifier: Some(Quantifier::All),
                    value: "{}".into(),
                    values: vec![]
                }
            )
        );
    }

    #[test]
    fn in_lists() {
        assert_eq!(
            op("in.(1,2,3)"),
            (
                false,
                Operation::In(vec!["1".into(), "2".into(), "3".into()])
            )
        );
        assert_eq!(op("in.()"), (false, Operation::In(vec![])));
        assert_eq!(op("in.(\"\")"), (false, Operation::In(vec!["".into()])));
        assert_eq!(
            op("in.( ,3,4)"),
            (
                false,
                Operation::In(vec!["".into(), "3".into(), "4".into()])
            )
        );
        assert_eq!(
            op("not.in.(Paper Moons,\"Salt, Smoke (and Mirrors)\",\"a\\\\b\\\"c\")"),
            (
                true,
                Operation::In(vec![
                    "Paper Moons".into(),
                    "Salt, Smoke (and Mirrors)".into(),
                    "a\\b\"c".into()
                ])
            )
        );
        assert_eq!(
            op("in.(Backslash \\ Blues)"),
            (false, Operation::In(vec!["Backslash \\ Blues".into()]))
        );
        assert_eq!(
            op("in.(\"a\"b,c)"),
            (false, Operation::In(vec!["\"a\"b".into(), "c".into()]))
        );
        for bad in ["in.1,2", "in.(1,2", "in.(1,2)x", "in.", "in(any).(1)"] {
            let r = op_expr(bad, ValueMode::Rest).and_then(|(rest, _)| eoi(rest));
            assert!(r.is_err(), "{bad}");
        }
    }

    #[test]
    fn is_values() {
        assert_eq!(op("is.null"), (false, Operation::Is(IsValue::Null)));
        assert_eq!(op("is.NULL"), (false, Operation::Is(IsValue::Null)));
        assert_eq!(
            op("not.is.not_null"),
            (true, Operation::Is(IsValue::NotNull))
        );
        assert_eq!(op("is.TrUe"), (false, Operation::Is(IsValue::True)));
        assert_eq!(op("is.false"), (false, Operation::Is(IsValue::False)));
        assert_eq!(op("is.unknown"), (false, Operation::Is(IsValue::Unknown)));
        for bad in ["is.nil", "is.nullx", "is.", "is"] {
            let r = op_expr(bad, ValueMode::Rest).and_then(|(rest, _)| eoi(rest));
            assert!(r.is_err(), "{bad}");
        }
    }

    #[test]
    fn full_text_search() {
        assert_eq!(
            op("fts(english).cat & dog"),
            (
                false,
                Operation::Fts {
                    op: FtsOp::Fts,
                    config: Some("english".into()),
                    value: "cat & dog".into()
                }
            )
        );
        assert_eq!(
            op("not.phfts(english).passing ships"),
            (
                true,
                Operation::Fts {
                    op: FtsOp::Phfts,
                    config: Some("english".into()),
                    value: "passing ships".into()
                }
            )
        );
        assert_eq!(
            op("plfts.a b"),
            (
                false,
                Operation::Fts {
                    op: FtsOp::Plfts,
                    config: None,
                    value: "a b".into()
                }
            )
        );
        assert_eq!(
            op("wfts.a or b"),
            (
                false,
                Operation::Fts {
                    op: FtsOp::Wfts,
                    config: None,
                    value: "a or b".into()
                }
            )
        );
        assert!(op_expr("fts().x", ValueMode::Rest).is_err());
        assert!(op_expr("fts(english.x", ValueMode::Rest).is_err());
    }

    #[test]
    fn unknown_operator_error_like_postgrest() {
        let Err(nom::Err::Error(e)) = op_expr("0", ValueMode::Rest) else {
            panic!()
        };
        let api = e.to_api_error("0", "filter", "0");
        assert_eq!(
            api.message,
            "\"failed to parse filter (0)\" (line 1, column 1)"
        );
        assert_eq!(
            api.details.as_deref(),
            Some("unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)")
        );
        for bad in [
            "equals.1",
            "noop.0",
            "eq",
            "eq1",
            "not.",
            "not.not.eq.1",
            "EQ.1",
            "",
        ] {
            assert!(op_expr(bad, ValueMode::Rest).is_err(), "{bad}");
        }
    }

    #[test]
    fn logic_values() {
        let v = |s| single_value(s, ValueMode::Logic).unwrap();
        assert_eq!(v("\"a,b\",x"), (",x", "a,b".to_string()));
        assert_eq!(v("\"a\"b,x"), (",x", "\"a\"b".to_string()));
        assert_eq!(v("{1,2},x"), (",x", "{1,2}".to_string()));
        assert_eq!(v("{1,{2}},x"), (",{2}},x", "{1".to_string()));
        assert_eq!(v("4.7)"), (")", "4.7".to_string()));
        assert_eq!(v(""), ("", "".to_string()));
    }

    #[test]
    fn array_literals() {
        assert_eq!(array_elements("{}"), Some(vec![]));
        assert_eq!(
            array_elements("{a, b ,\"c,d\"}"),
            Some(vec!["a".into(), "b".into(), "c,d".into()])
        );
        assert_eq!(array_elements("{\"a\\\"b\"}"), Some(vec!["a\"b".into()]));
        assert_eq!(array_elements("1,2"), None);
        assert_eq!(array_elements("{1,,2}"), None);
        assert_eq!(array_elements("{{1}}"), None);
        assert_eq!(array_elements("{\"a}"), None);
        assert_eq!(array_elements("{\"a\"x}"), None);
    }
}
