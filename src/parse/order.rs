//! `order=col.desc.nullslast,data->>x,rel(col).asc`

use super::ast::{NullsOrder, OrderDirection, OrderTerm};
use super::field::{field, field_name};
use super::lex::{ch, delimiter, eoi, recoverable, sep_by1, with_alt, ws, PErr, Res};
use nom::Err;

pub fn order_param(i: &str) -> Res<'_, Vec<OrderTerm>> {
    let (i, (terms, _)) = sep_by1(order_term, ch(','))(i)?;
    Ok((i, terms))
}

fn order_term(i: &str) -> Res<'_, OrderTerm> {
    let (i, _) = ws(i)?;
    match recoverable(relation_term(i))? {
        Ok(ok) => Ok(ok),
        Err(e_rel) => with_alt(plain_term(i), Some(e_rel)),
    }
}

fn plain_term(i: &str) -> Res<'_, OrderTerm> {
    let (i, field) = field(i)?;
    modifiers(i, None, field)
}

fn relation_term(i: &str) -> Res<'_, OrderTerm> {
    let (i, relation) = field_name(i)?;
    let (i, _) = ch('(')(i)?;
    let (i, field) = field(i)?;
    let (i, _) = ch(')')(i)?;
    modifiers(i, Some(relation), field)
}

/// `.asc|.desc`, then `.nullsfirst|.nullslast`, both optional, then `,` or the end.
fn modifiers(i: &str, relation: Option<String>, field: super::ast::Field) -> Res<'_, OrderTerm> {
    let (i, direction, dir_err) = match recoverable(direction(i))? {
        Ok((rest, d)) => (rest, Some(d), None),
        Err(e) => (i, None, Some(e)),
    };
    let (i, nulls, nulls_err) = match recoverable(nulls(i))? {
        Ok((rest, n)) => (rest, Some(n), None),
        Err(e) => (i, None, Some(e)),
    };
    let skipped = match (dir_err, nulls_err) {
        (Some(a), Some(b)) => Some(a.merge(b)),
        (a, b) => a.or(b),
    };
    let (i, _) = ws(i)?;
    let (i, _) = with_alt(term_end(i), skipped)?;
    Ok((
        i,
        OrderTerm {
            relation,
            field,
            direction,
            nulls,
        },
    ))
}

fn term_end(i: &str) -> Res<'_, ()> {
    if i.starts_with(',') {
        Ok((i, ()))
    } else {
        eoi(i).map_err(|e| {
            e.map(|mut e: PErr| {
                e.expected.insert(0, "\",\"".to_string());
                e
            })
        })
    }
}

fn keyword<'a, T: Copy>(i: &'a str, words: &[(&'static str, T)]) -> Res<'a, T> {
    let (rest, _) = delimiter(i)?;
    for (word, v) in words {
        if let Some(r) = rest.strip_prefix(word) {
            return Ok((r, *v));
        }
    }
    let expected: Vec<String> = words.iter().map(|(w, _)| format!("{w:?}")).collect();
    Err(Err::Error(PErr {
        rest,
        expected,
        quote_char: false,
    }))
}

fn direction(i: &str) -> Res<'_, OrderDirection> {
    keyword(
        i,
        &[("asc", OrderDirection::Asc), ("desc", OrderDirection::Desc)],
    )
}

fn nulls(i: &str) -> Res<'_, NullsOrder> {
    keyword(
        i,
        &[
            ("nullsfirst", NullsOrder::First),
            ("nullslast", NullsOrder::Last),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ast::{Field, JsonKey, JsonOp};

    fn order(s: &str) -> Vec<OrderTerm> {
        match order_param(s).and_then(|(rest, t)| eoi(rest).map(|_| t)) {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    fn term(col: &str, d: Option<OrderDirection>, n: Option<NullsOrder>) -> OrderTerm {
        OrderTerm {
            relation: None,
            field: Field::col(col),
            direction: d,
            nulls: n,
        }
    }

    #[test]
    fn terms() {
        use NullsOrder::*;
        use OrderDirection::*;
        assert_eq!(order("id"), vec![term("id", None, None)]);
        assert_eq!(
            order("priority.desc,id.asc"),
            vec![
                term("priority", Some(Desc), None),
                term("id", Some(Asc), None)
            ]
        );
        assert_eq!(
            order("a.desc.nullsfirst"),
            vec![term("a", Some(Desc), Some(First))]
        );
        assert_eq!(order("a.nullslast"), vec![term("a", None, Some(Last))]);
        assert_eq!(
            order("a.asc, b"),
            vec![term("a", Some(Asc), None), term("b", None, None)]
        );
        assert_eq!(
            order("dims->height_cm.desc.nullslast,tags->0,data->>x"),
            vec![
                OrderTerm {
                    relation: None,
                    field: Field {
                        name: "dims".into(),
                        json_path: vec![JsonOp::Arrow(JsonKey::Key("height_cm".into()))]
                    },
                    direction: Some(Desc),
                    nulls: Some(Last)
                },
                OrderTerm {
                    relation: None,
                    field: Field {
                        name: "tags".into(),
                        json_path: vec![JsonOp::Arrow(JsonKey::Index(0))]
                    },
                    direction: None,
                    nulls: None
                },
                OrderTerm {
                    relation: None,
                    field: Field {
                        name: "data".into(),
                        json_path: vec![JsonOp::DoubleArrow(JsonKey::Key("x".into()))]
                    },
                    direction: None,
                    nulls: None
                },
            ]
        );
        assert_eq!(
            order("writer(country).asc,id.desc"),
            vec![
                OrderTerm {
                    relation: Some("writer".into()),
                    field: Field::col("country"),
                    direction: Some(Asc),
                    nulls: None
                },
                term("id", Some(Desc), None)
            ]
        );
        assert_eq!(
            order("clients(json_col->key).desc.nullsfirst"),
            vec![OrderTerm {
                relation: Some("clients".into()),
                field: Field {
                    name: "json_col".into(),
                    json_path: vec![JsonOp::Arrow(JsonKey::Key("key".into()))]
                },
                direction: Some(Desc),
                nulls: Some(First)
            }]
        );
    }

    fn err(s: &str) -> (String, String) {
        let e = match order_param(s).and_then(|(rest, t)| eoi(rest).map(|_| t)) {
            Err(Err::Error(e)) => e,
            other => panic!("{s}: {other:?}"),
        };
        let api = e.to_api_error(s, "order", s);
        (api.message, api.details.unwrap_or_default())
    }

    #[test]
    fn errors_like_postgrest() {
        assert_eq!(
            err("id.asc.nullslasttt"),
            (
                "\"failed to parse order (id.asc.nullslasttt)\" (line 1, column 17)".to_string(),
                "unexpected 't' expecting \",\" or end of input".to_string()
            )
        );
        assert_eq!(
            err("id.smth34").1,
            "unexpected \"s\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
        );
        assert!(err("id.smth34").0.ends_with("(line 1, column 4)"));
        assert_eq!(
            err("id.asc.smth34").1,
            "unexpected \"s\" expecting \"nullsfirst\" or \"nullslast\""
        );
        assert!(err("id.descc").0.ends_with("(line 1, column 8)"));
        for bad in [
            "name.sideways",
            "clients(name,id)",
            "",
            "id,",
            ",id",
            "id.",
            "id.asc.",
            "a.nullsfirst.asc",
        ] {
            assert!(
                order_param(bad).and_then(|(rest, _)| eoi(rest)).is_err(),
                "{bad}"
            );
        }
    }
}
