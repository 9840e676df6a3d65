//! `select=`: columns, casts, aggregates and (nested, spread, hinted) embeds.

use super::ast::{Aggregate, Field, JoinType, SelectItem};
use super::field::{field, field_name, type_name};
use super::lex::{ch, fail, lit, nest, recoverable, sep_by1, with_alt, ws, PErr, Res};
use nom::Err;

/// The whole `select` value; empty input is an empty list.
pub fn select_param(i: &str) -> Res<'_, Vec<SelectItem>> {
    if i.is_empty() {
        return Ok((i, vec![]));
    }
    let (rest, (items, _)) = select_list(i)?;
    Ok((rest, items))
}

fn select_list(i: &str) -> Res<'_, (Vec<SelectItem>, PErr<'_>)> {
    sep_by1(select_item, comma)(i)
}

fn comma(i: &str) -> Res<'_, char> {
    let (i, _) = ws(i)?;
    let (i, c) = ch(',')(i)?;
    let (i, _) = ws(i)?;
    Ok((i, c))
}

fn select_item(i: &str) -> Res<'_, SelectItem> {
    match recoverable(embed_head(i))? {
        Ok((rest, head)) => embed_body(rest, head),
        Err(e_head) => with_alt(field_select(i), Some(e_head)),
    }
}

struct EmbedHead {
    name: String,
    alias: Option<String>,
    hint: Option<String>,
    join: Option<JoinType>,
    spread: bool,
}

/// `alias:name!hint!inner` or `...name!hint` up to (not including) the `(`.
fn embed_head(i: &str) -> Res<'_, EmbedHead> {
    let (i, _) = ws(i)?;
    let (i, spread) = match i.strip_prefix("...") {
        Some(rest) => (rest, true),
        None => (i, false),
    };
    let (i, alias) = if spread { (i, None) } else { alias(i)? };
    let (i, name) = field_name(i)?;
    if name == "count" && !spread {
        // `count()` is the aggregate, not an embed
        return fail(i, &[]);
    }
    let (i, (hint, join)) = embed_params(i)?;
    if !i.starts_with('(') {
        return fail(i, &["\"(\""]);
    }
    Ok((
        i,
        EmbedHead {
            name,
            alias,
            hint,
            join,
            spread,
        },
    ))
}

fn embed_body<'a>(i: &'a str, head: EmbedHead) -> Res<'a, SelectItem> {
    let _level = nest(i)?;
    let (i, _) = ch('(')(i)?;
    let (i, select) = if i.starts_with(')') {
        (i, vec![])
    } else {
        let (i, (items, sep_err)) = select_list(i)?;
        let (i, _) = with_alt(ch(')')(i), Some(sep_err))?;
        return end_embed(i, head, items);
    };
    let (i, _) = ch(')')(i)?;
    end_embed(i, head, select)
}

fn end_embed(i: &str, head: EmbedHead, select: Vec<SelectItem>) -> Res<'_, SelectItem> {
    let (i, _) = ws(i)?;
    Ok((
        i,
        SelectItem::Embed {
            name: head.name,
            alias: head.alias,
            hint: head.hint,
            join: head.join,
            spread: head.spread,
            select,
        },
    ))
}

/// Up to two `!x`: a join type (`inner`, `left`) or a hint. The first of each kind counts.
fn embed_params(i: &str) -> Res<'_, (Option<String>, Option<JoinType>)> {
    let mut hint = None;
    let mut join = None;
    let mut i = i;
    for _ in 0..2 {
        let Some(rest) = i.strip_prefix('!') else {
            break;
        };
        let (rest, param) = embed_param(rest)?;
        match param {
            EmbedParam::Join(j) => join = join.or(Some(j)),
            EmbedParam::Hint(h) => hint = hint.or(Some(h)),
        }
        i = rest;
    }
    Ok((i, (hint, join)))
}

enum EmbedParam {
    Join(JoinType),
    Hint(String),
}

fn embed_param(i: &str) -> Res<'_, EmbedParam> {
    for (word, join) in [("inner", JoinType::Inner), ("left", JoinType::Left)] {
        if let Some(rest) = i.strip_prefix(word) {
            // a hint may start with the word: `!inner_table`
            if rest.is_empty() || rest.starts_with(['!', '(']) {
                return Ok((rest, EmbedParam::Join(join)));
            }
        }
    }
    let (rest, h) = field_name(i)?;
    Ok((rest, EmbedParam::Hint(h)))
}

/// `alias:` (a single colon; `::` is a cast). Optional, backtracks.
fn alias(i: &str) -> Res<'_, Option<String>> {
    if let Ok((rest, name)) = field_name(i) {
        if let Some(rest) = rest.strip_prefix(':') {
            if !rest.starts_with(':') {
                return Ok((rest, Some(name)));
            }
        }
    }
    Ok((i, None))
}

/// What may follow a select item.
fn item_end(i: &str) -> Res<'_, ()> {
    if i.is_empty() || i.starts_with([')', ',']) {
        Ok((i, ()))
    } else {
        let mut e = PErr::at(i, &["\")\"", "\",\"", "end of input"]);
        e.quote_char = true;
        Err(Err::Error(e))
    }
}

fn cast(i: &str) -> Res<'_, Option<String>> {
    match i.strip_prefix("::") {
        Some(rest) => {
            let (rest, t) = type_name(rest)?;
            Ok((rest, Some(t)))
        }
        None => Ok((i, None)),
    }
}

fn field_select(i: &str) -> Res<'_, SelectItem> {
    let (i, _) = ws(i)?;
    let star = (|| {
        let (rest, _) = ch('*')(i)?;
        let (rest, _) = ws(rest)?;
        let (rest, _) = item_end(rest)?;
        Ok((rest, SelectItem::Star))
    })();
    let e_star = match recoverable(star)? {
        Ok(ok) => return Ok(ok),
        Err(e) => e,
    };
    let (i, alias) = alias(i)?;
    let count = (|| {
        let (rest, _) = lit("count()")(i)?;
        let (rest, aggregate_cast) = cast(rest)?;
        let (rest, _) = ws(rest)?;
        let (rest, _) = item_end(rest)?;
        Ok((
            rest,
            SelectItem::Field {
                field: Field::col(""),
                alias: alias.clone(),
                cast: None,
                aggregate: Some(Aggregate::Count),
                aggregate_cast,
            },
        ))
    })();
    let e_count = match recoverable(count)? {
        Ok(ok) => return Ok(ok),
        Err(e) => e,
    };
    let plain = (|| {
        let (rest, field) = field(i)?;
        let (rest, cast) = cast(rest)?;
        let (rest, aggregate) = aggregate(rest);
        let (rest, aggregate_cast) = cast_after(rest, aggregate.is_some())?;
        let (rest, _) = ws(rest)?;
        let (rest, _) = item_end(rest)?;
        Ok((
            rest,
            SelectItem::Field {
                field,
                alias,
                cast,
                aggregate,
                aggregate_cast,
            },
        ))
    })();
    with_alt(plain, Some(e_star.merge(e_count)))
}

fn cast_after(i: &str, has_aggregate: bool) -> Res<'_, Option<String>> {
    if has_aggregate {
        cast(i)
    } else {
        Ok((i, None))
    }
}

/// `.sum()` etc.; absent (without consuming) when anything else follows.
fn aggregate(i: &str) -> (&str, Option<Aggregate>) {
    const AGGS: [(&str, Aggregate); 5] = [
        (".sum()", Aggregate::Sum),
        (".avg()", Aggregate::Avg),
        (".count()", Aggregate::Count),
        (".max()", Aggregate::Max),
        (".min()", Aggregate::Min),
    ];
    for (text, agg) in AGGS {
        if let Some(rest) = i.strip_prefix(text) {
            return (rest, Some(agg));
        }
    }
    (i, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ast::build::{col, embed};
    use crate::parse::ast::{JsonKey, JsonOp};

    fn sel(s: &str) -> Vec<SelectItem> {
        match select_param(s) {
            Ok((_, v)) => v,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    #[test]
    fn columns_star_and_whitespace() {
        assert_eq!(sel(""), vec![]);
        assert_eq!(sel("*"), vec![SelectItem::Star]);
        assert_eq!(sel("id, name"), vec![col("id"), col("name")]);
        assert_eq!(sel(" id ,\tname "), vec![col("id"), col("name")]);
        assert_eq!(sel("\"my col\",x"), vec![col("my col"), col("x")]);
        assert_eq!(sel("first-name"), vec![col("first-name")]);
    }

    #[test]
    fn aliases_casts_json() {
        assert_eq!(
            sel("author:name,price::integer,t::text[]"),
            vec![
                SelectItem::Field {
                    field: Field::col("name"),
                    alias: Some("author".into()),
                    cast: None,
                    aggregate: None,
                    aggregate_cast: None
                },
                SelectItem::Field {
                    field: Field::col("price"),
                    alias: None,
                    cast: Some("integer".into()),
                    aggregate: None,
                    aggregate_cast: None
                },
                SelectItem::Field {
                    field: Field::col("t"),
                    alias: None,
                    cast: Some("text[]".into()),
                    aggregate: None,
                    aggregate_cast: None
                },
            ]
        );
        assert_eq!(
            sel("score:metadata->>rating::numeric"),
            vec![SelectItem::Field {
                field: Field {
                    name: "metadata".into(),
                    json_path: vec![JsonOp::DoubleArrow(JsonKey::Key("rating".into()))]
                },
                alias: Some("score".into()),
                cast: Some("numeric".into()),
                aggregate: None,
                aggregate_cast: None
            }]
        );
        assert_eq!(
            sel("id,metadata->awards->0"),
            vec![
                col("id"),
                SelectItem::Field {
                    field: Field {
                        name: "metadata".into(),
                        json_path: vec![
                            JsonOp::Arrow(JsonKey::Key("awards".into())),
                            JsonOp::Arrow(JsonKey::Index(0))
                        ]
                    },
                    alias: None,
                    cast: None,
                    aggregate: None,
                    aggregate_cast: None
                }
            ]
        );
    }

    #[test]
    fn aggregates() {
        assert_eq!(
            sel("count()"),
            vec![SelectItem::Field {
                field: Field::col(""),
                alias: None,
                cast: None,
                aggregate: Some(Aggregate::Count),
                aggregate_cast: None
            }]
        );
        assert_eq!(
            sel("n:count()::int"),
            vec![SelectItem::Field {
                field: Field::col(""),
                alias: Some("n".into()),
                cast: None,
                aggregate: Some(Aggregate::Count),
                aggregate_cast: Some("int".into())
            }]
        );
        for (s, a) in [
            ("amount.sum()", Aggregate::Sum),
            ("amount.avg()", Aggregate::Avg),
            ("amount.min()", Aggregate::Min),
            ("amount.max()", Aggregate::Max),
            ("amount.count()", Aggregate::Count),
        ] {
            assert_eq!(
                sel(s),
                vec![SelectItem::Field {
                    field: Field::col("amount"),
                    alias: None,
                    cast: None,
                    aggregate: Some(a),
                    aggregate_cast: None
                }]
            );
        }
        assert_eq!(
            sel("total:amount::numeric.sum()::int"),
            vec![SelectItem::Field {
                field: Field::col("amount"),
                alias: Some("total".into()),
                cast: Some("numeric".into()),
                aggregate: Some(Aggregate::Sum),
                aggregate_cast: Some("int".into())
            }]
        );
        assert!(select_param("amount.median()").is_err());
        assert!(select_param("count(id)").is_err());
    }

    #[test]
    fn embeds() {
        assert_eq!(
            sel("*,books(*)"),
            vec![SelectItem::Star, embed("books", vec![SelectItem::Star])]
        );
        assert_eq!(
            sel("id,publishers()"),
            vec![col("id"), embed("publishers", vec![])]
        );
        assert_eq!(
            sel("name,books(title,reviews(reviewer,rating))"),
            vec![
                col("name"),
                embed(
                    "books",
                    vec![
                        col("title"),
                        embed("reviews", vec![col("reviewer"), col("rating")])
                    ]
                )
            ]
        );
        assert_eq!(
            sel("lender:members!lender(name)"),
            vec![SelectItem::Embed {
                name: "members".into(),
                alias: Some("lender".into()),
                hint: Some("lender".into()),
                join: None,
                spread: false,
                select: vec![col("name")]
            }]
        );
        assert_eq!(
            sel("books!inner(id),p:publishers!left(name),x!fk!inner(a),y!inner!fk(a)"),
            vec![
                SelectItem::Embed {
                    name: "books".into(),
                    alias: None,
                    hint: None,
                    join: Some(JoinType::Inner),
                    spread: false,
                    select: vec![col("id")]
                },
                SelectItem::Embed {
                    name: "publishers".into(),
                    alias: Some("p".into()),
                    hint: None,
                    join: Some(JoinType::Left),
                    spread: false,
                    select: vec![col("name")]
                },
                SelectItem::Embed {
                    name: "x".into(),
                    alias: None,
                    hint: Some("fk".into()),
                    join: Some(JoinType::Inner),
                    spread: false,
                    select: vec![col("a")]
                },
                SelectItem::Embed {
                    name: "y".into(),
                    alias: None,
                    hint: Some("fk".into()),
                    join: Some(JoinType::Inner),
                    spread: false,
                    select: vec![col("a")]
                },
            ]
        );
        assert_eq!(
            sel("b!inner_table(a)"),
            vec![SelectItem::Embed {
                name: "b".into(),
                alias: None,
                hint: Some("inner_table".into()),
                join: None,
                spread: false,
                select: vec![col("a")]
            }]
        );
        assert_eq!(
            sel("id,...books(book:title,...authors!inner(author:name))"),
            vec![
                col("id"),
                SelectItem::Embed {
                    name: "books".into(),
                    alias: None,
                    hint: None,
                    join: None,
                    spread: true,
                    select: vec![
                        SelectItem::Field {
                            field: Field::col("title"),
                            alias: Some("book".into()),
                            cast: None,
                            aggregate: None,
                            aggregate_cast: None
                        },
                        SelectItem::Embed {
                            name: "authors".into(),
                            alias: None,
                            hint: None,
                            join: Some(JoinType::Inner),
                            spread: true,
                            select: vec![SelectItem::Field {
                                field: Field::col("name"),
                                alias: Some("author".into()),
                                cast: None,
                                aggregate: None,
                                aggregate_cast: None
                            }]
                        }
                    ]
                }
            ]
        );
        assert_eq!(
            sel(" books ( id , name ) , x"),
            vec![embed("books", vec![col("id"), col("name")]), col("x")]
        );
        assert_eq!(
            sel("a(b(c(d(e))))"),
            vec![embed(
                "a",
                vec![embed(
                    "b",
                    vec![embed("c", vec![embed("d", vec![col("e")])])]
                )]
            )]
        );
    }

    #[test]
    fn malformed() {
        for s in [
            "id,authors(name",
            "id,",
            ",id",
            "id,,name",
            " ",
            "name!hint",
            "*!hint",
            "name::",
            "id,clients(name[])x",
            "data->>-78xy",
            "rel->jsonpath(*)",
            "alias:...rel(*)",
            "a:b:c",
            "(id)",
        ] {
            assert!(select_param(s).is_err(), "{s} should fail");
        }
    }

    #[test]
    fn stops_after_a_complete_list_like_postgrest() {
        assert_eq!(select_param("id)"), Ok((")", vec![col("id")])));
        assert_eq!(
            select_param("name,projects(count)'"),
            Ok((
                "'",
                vec![col("name"), embed("projects", vec![col("count")])]
            ))
        );
    }

    #[test]
    fn error_position_like_postgrest() {
        let whole = "data->(!@#$%^&*_d->>!@#$%^&*_e::integer";
        let Err(Err::Error(e)) = select_param(whole) else {
            panic!()
        };
        let api = e.to_api_error(whole, "select parameter", whole);
        assert!(
            api.message.ends_with("(line 1, column 7)"),
            "{}",
            api.message
        );
        assert_eq!(
            api.details.as_deref(),
            Some("unexpected \"(\" expecting \"-\", digit or any non reserved character different from: .,>()")
        );
    }
}
