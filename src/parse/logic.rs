//! Logic trees: `or=(a.eq.1,and(b.gt.2,c.not.is.null))`, `not.and=(...)`.

use super::ast::{Filter, LogicOp, LogicTree};
use super::field::field;
use super::filter::{not_prefix, op_expr, ValueMode};
use super::lex::{ch, delimiter, fail, label, nest, recoverable, sep_by1, with_alt, ws, Res};
use nom::branch::alt;
use nom::Parser;

const NEGATION: &str = "negation operator (not)";
const LOGIC_OP: &str = "logic operator (and, or)";

/// One node: a filter `field.op.value` or a group `[not.]and(...)`. As an extension of
/// PostgREST's grammar, `not.field.op.value` is accepted too (the same as `field.not.op.value`).
pub fn logic_tree(i: &str) -> Res<'_, LogicTree> {
    alt((filter_stmt, logic_expr, negated_filter)).parse(i)
}

fn filter_stmt(i: &str) -> Res<'_, LogicTree> {
    let (i, field) = field(i)?;
    let (i, _) = delimiter(i)?;
    let (i, (negated, operation)) = op_expr(i, ValueMode::Logic)?;
    Ok((
        i,
        LogicTree::Filter(Filter {
            field,
            negated,
            operation,
        }),
    ))
}

fn negated_filter(i: &str) -> Res<'_, LogicTree> {
    let (i, _) = label(NEGATION, not_prefix)(i)?;
    let (i, tree) = filter_stmt(i)?;
    let tree = match tree {
        LogicTree::Filter(f) if !f.negated => LogicTree::Filter(Filter { negated: true, ..f }),
        other => LogicTree::Expr {
            negated: true,
            op: LogicOp::And,
            children: vec![other],
        },
    };
    Ok((i, tree))
}

fn logic_op(i: &str) -> Res<'_, LogicOp> {
    if let Some(rest) = i.strip_prefix("and") {
        Ok((rest, LogicOp::And))
    } else if let Some(rest) = i.strip_prefix("or") {
        Ok((rest, LogicOp::Or))
    } else {
        fail(i, &[LOGIC_OP])
    }
}

fn lexeme_ch<'a>(c: char) -> impl Fn(&'a str) -> Res<'a, char> {
    move |i: &'a str| {
        let (i, _) = ws(i)?;
        let (i, c) = ch(c)(i)?;
        let (i, _) = ws(i)?;
        Ok((i, c))
    }
}

/// `[not.](and|or)(tree,tree,...)`
pub fn logic_expr(i: &str) -> Res<'_, LogicTree> {
    let (i, negated, not_err) = match recoverable(label(NEGATION, not_prefix)(i))? {
        Ok((rest, ())) => (rest, true, None),
        Err(e) => (i, false, Some(e)),
    };
    let (i, op) = with_alt(logic_op(i), not_err)?;
    let _level = nest(i)?;
    let (i, _) = lexeme_ch('(')(i)?;
    let (i, (children, sep_err)) = sep_by1(logic_tree, lexeme_ch(','))(i)?;
    let (i, _) = with_alt(lexeme_ch(')')(i), Some(sep_err))?;
    Ok((
        i,
        LogicTree::Expr {
            negated,
            op,
            children,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ast::{Field, IsValue, JsonKey, JsonOp, Operation, Quantifier, SimpleOp};
    use crate::parse::lex::eoi;

    fn tree(s: &str) -> LogicTree {
        match logic_expr(s).and_then(|(rest, t)| eoi(rest).map(|_| t)) {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    fn eq(col: &str, v: &str) -> LogicTree {
        simple(col, SimpleOp::Eq, v)
    }

    fn simple(col: &str, op: SimpleOp, v: &str) -> LogicTree {
        LogicTree::Filter(Filter {
            field: Field::col(col),
            negated: false,
            operation: Operation::Simple {
                op,
                quantifier: None,
                value: v.into(),
                values: vec![],
            },
        })
    }

    fn expr(negated: bool, op: LogicOp, children: Vec<LogicTree>) -> LogicTree {
        LogicTree::Expr {
            negated,
            op,
            children,
        }
    }

    #[test]
    fn flat_and_nested() {
        assert_eq!(
            tree("or(a.eq.1,b.gt.2)"),
            expr(
                false,
                LogicOp::Or,
                vec![eq("a", "1"), simple("b", SimpleOp::Gt, "2")]
            )
        );
        assert_eq!(
            tree("and(id.eq.1)"),
            expr(false, LogicOp::And, vec![eq("id", "1")])
        );
        assert_eq!(
            // values keep their spaces, as in PostgREST
            tree("not.or(a.eq.1, b.eq.2 )"),
            expr(true, LogicOp::Or, vec![eq("a", "1"), eq("b", "2 ")])
        );
        assert_eq!(
            tree("or(a.eq.1,and(b.gt.2,not.or(c.eq.3,d.eq.4)),not.and(e.eq.5))"),
            expr(
                false,
                LogicOp::Or,
                vec![
                    eq("a", "1"),
                    expr(
                        false,
                        LogicOp::And,
                        vec![
                            simple("b", SimpleOp::Gt, "2"),
                            expr(true, LogicOp::Or, vec![eq("c", "3"), eq("d", "4")])
                        ]
                    ),
                    expr(true, LogicOp::And, vec![eq("e", "5")])
                ]
            )
        );
    }

    #[test]
    fn negations() {
        let is_null = |negated| {
            LogicTree::Filter(Filter {
                field: Field::col("c"),
                negated,
                operation: Operation::Is(IsValue::Null),
            })
        };
        assert_eq!(
            tree("and(c.not.is.null)"),
            expr(false, LogicOp::And, vec![is_null(true)])
        );
        assert_eq!(
            tree("and(not.c.is.null)"),
            expr(false, LogicOp::And, vec![is_null(true)])
        );
        assert_eq!(
            tree("and(not.c.not.is.null)"),
            expr(
                false,
                LogicOp::And,
                vec![expr(true, LogicOp::And, vec![is_null(true)])]
            )
        );
        // a column named like a keyword
        assert_eq!(
            tree("or(not.eq.1,or.eq.2)"),
            expr(false, LogicOp::Or, vec![eq("not", "1"), eq("or", "2")])
        );
    }

    #[test]
    fn values_in_trees() {
        assert_eq!(
            tree("or(title.eq.\"a,b\",title.like.\"*, Smoke*\",x.eq.\"(c)\")"),
            expr(
                false,
                LogicOp::Or,
                vec![
                    eq("title", "a,b"),
                    simple("title", SimpleOp::Like, "*, Smoke*"),
                    eq("x", "(c)"),
                ]
            )
        );
        assert_eq!(
            tree("or(metadata->>rating.gte.4.7,tags->0.eq.x)"),
            expr(
                false,
                LogicOp::Or,
                vec![
                    LogicTree::Filter(Filter {
                        field: Field {
                            name: "metadata".into(),
                            json_path: vec![JsonOp::DoubleArrow(JsonKey::Key("rating".into()))]
                        },
                        negated: false,
                        operation: Operation::Simple {
                            op: SimpleOp::Gte,
                            quantifier: None,
                            value: "4.7".into(),
                            values: vec![]
                        }
                    }),
                    LogicTree::Filter(Filter {
                        field: Field {
                            name: "tags".into(),
                            json_path: vec![JsonOp::Arrow(JsonKey::Index(0))]
                        },
                        negated: false,
                        operation: Operation::Simple {
                            op: SimpleOp::Eq,
                            quantifier: None,
                            value: "x".into(),
                            values: vec![]
                        }
                    })
                ]
            )
        );
        assert_eq!(
            tree("or(id.in.(1,2),title.in.(\"a,b\",c),id.eq(any).{3,4},tags.cs.{a,b})"),
            expr(
                false,
                LogicOp::Or,
                vec![
                    LogicTree::Filter(Filter {
                        field: Field::col("id"),
                        negated: false,
                        operation: Operation::In(vec!["1".into(), "2".into()])
                    }),
                    LogicTree::Filter(Filter {
                        field: Field::col("title"),
                        negated: false,
                        operation: Operation::In(vec!["a,b".into(), "c".into()])
                    }),
                    LogicTree::Filter(Filter {
                        field: Field::col("id"),
                        negated: false,
                        operation: Operation::Simple {
                            op: SimpleOp::Eq,
                            quantifier: Some(Quantifier::Any),
                            value: "{3,4}".into(),
                            values: vec!["3".into(), "4".into()]
                        }
                    }),
                    simple("tags", SimpleOp::Cs, "{a,b}"),
                ]
            )
        );
        assert_eq!(
            tree("or(body.fts(french).jardins,body.plfts.a b)"),
            expr(
                false,
                LogicOp::Or,
                vec![
                    LogicTree::Filter(Filter {
                        field: Field::col("body"),
                        negated: false,
                        operation: Operation::Fts {
                            op: crate::parse::ast::FtsOp::Fts,
                            config: Some("french".into()),
                            value: "jardins".into()
                        }
                    }),
                    LogicTree::Filter(Filter {
                        field: Field::col("body"),
                        negated: false,
                        operation: Operation::Fts {
                            op: crate::parse::ast::FtsOp::Plfts,
                            config: None,
                            value: "a b".into()
                        }
                    }),
                ]
            )
        );
        assert_eq!(
            tree("or(a.eq.,b.eq.)"),
            expr(false, LogicOp::Or, vec![eq("a", ""), eq("b", "")])
        );
    }

    #[test]
    fn malformed() {
        for s in [
            "or()",
            "or(id.in.1,2,id.eq.3)",
            "or)(",
            "and(ord(id.eq.1,id.eq.1),id.eq.2)",
            "or(id.eq.1,not.xor(id.eq.2,id.eq.3))",
            "or(a.eq.1",
            "or(a.eq.1,)",
            "or(a.eq.1))",
            "or(a.equals.1)",
            "or(a)",
            "or(a.is.nil)",
            "xor(a.eq.1)",
            "or",
        ] {
            let r = logic_expr(s).and_then(|(rest, _)| eoi(rest));
            assert!(r.is_err(), "{s} should fail");
        }
    }

    #[test]
    fn empty_tree_error_like_postgrest() {
        let Err(nom::Err::Error(e)) = logic_expr("or()") else {
            panic!()
        };
        let api = e.to_api_error("or()", "logic tree", "()");
        assert_eq!(
            api.message,
            "\"failed to parse logic tree (())\" (line 1, column 4)"
        );
        assert_eq!(
            api.details.as_deref(),
            Some("unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)")
        );
    }
}
