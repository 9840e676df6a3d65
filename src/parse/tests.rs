//! `parse_query` as a whole: parameter routing, embed paths, error codes, the query strings of
//! the conformance suite, and a never-panics fuzz run.

use super::ast::*;
use super::{parse_filter, parse_query};

fn ok(q: &str) -> QueryParams {
    match parse_query(q, false) {
        Ok(p) => p,
        Err(e) => panic!("{q}: {e:?}"),
    }
}

fn err(q: &str) -> crate::error::ApiError {
    match parse_query(q, false) {
        Ok(p) => panic!("{q} should fail, got {p:?}"),
        Err(e) => e,
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn eq(col: &str, v: &str) -> Filter {
    Filter {
        field: Field::col(col),
        negated: false,
        operation: Operation::Simple {
            op: SimpleOp::Eq,
            quantifier: None,
            value: s(v),
            values: vec![],
        },
    }
}

#[test]
fn absent_and_empty_select() {
    let p = ok("");
    assert_eq!(p, QueryParams::default());
    let p = ok("select=");
    assert!(p.has_select);
    assert!(p.select.is_empty());
    let p = ok("select=id&select=name");
    assert_eq!(p.select.len(), 1, "the first select counts");
    let p = ok("select&select=id");
    assert!(
        !p.has_select,
        "a select without value is ignored, like PostgREST's lookup"
    );
}

#[test]
fn routes_parameters() {
    let p = ok(
        "select=id,books(id)&id=eq.1&books.id=gt.2&order=id.desc&books.order=id\
                &limit=5&offset=10&books.limit=1&books.offset=2&or=(id.eq.1,id.eq.2)\
                &books.and=(id.eq.3)&not.or=(id.eq.4)&books.not.and=(id.eq.5)\
                &books.reviews.rating=gte.5&columns=a,b&on_conflict=a",
    );
    assert!(p.has_select);
    assert_eq!(
        p.filters,
        vec![
            (vec![], eq("id", "1")),
            (
                vec![s("books")],
                Filter {
                    field: Field::col("id"),
                    negated: false,
                    operation: Operation::Simple {
                        op: SimpleOp::Gt,
                        quantifier: None,
                        value: s("2"),
                        values: vec![]
                    }
                }
            ),
            (
                vec![s("books"), s("reviews")],
                Filter {
                    field: Field::col("rating"),
                    negated: false,
                    operation: Operation::Simple {
                        op: SimpleOp::Gte,
                        quantifier: None,
                        value: s("5"),
                        values: vec![]
                    }
                }
            ),
        ]
    );
    assert_eq!(p.order.len(), 2);
    assert_eq!(p.order[0].0, Vec::<String>::new());
    assert_eq!(p.order[0].1[0].direction, Some(OrderDirection::Desc));
    assert_eq!(p.order[1].0, vec![s("books")]);
    assert_eq!(p.limit, vec![(vec![], 5), (vec![s("books")], 1)]);
    assert_eq!(p.offset, vec![(vec![], 10), (vec![s("books")], 2)]);
    let logic: Vec<(EmbedPath, bool, LogicOp)> = p
        .logic
        .iter()
        .map(|(path, t)| match t {
            LogicTree::Expr { negated, op, .. } => (path.clone(), *negated, *op),
            LogicTree::Filter(_) => panic!("top-level logic is a group"),
        })
        .collect();
    assert_eq!(
        logic,
        vec![
            (vec![], false, LogicOp::Or),
            (vec![s("books")], false, LogicOp::And),
            (vec![], true, LogicOp::Or),
            (vec![s("books")], true, LogicOp::And),
        ]
    );
    assert_eq!(p.columns, Some(vec![s("a"), s("b")]));
    assert_eq!(p.on_conflict, Some(vec![s("a")]));
    assert!(p.rpc_args.is_empty());
}

#[test]
fn decodes_before_parsing() {
    let p = ok("name=eq.S%C3%B8ren%20%C3%85lund&title=like.a+b*&x=eq.a%2Bb");
    assert_eq!(
        p.filters,
        vec![
            (vec![], eq("name", "Søren Ålund")),
            (vec![], {
                let mut f = eq("title", "a b*");
                f.operation = Operation::Simple {
                    op: SimpleOp::Like,
                    quantifier: None,
                    value: s("a b*"),
                    values: vec![],
                };
                f
            }),
            (vec![], eq("x", "a+b"))
        ]
    );
    let p = ok("or=(title.in.(%22Paper%20Moons%22,%22Winter%20Orchard%22),id.eq.1)");
    let LogicTree::Expr { children, .. } = &p.logic[0].1 else {
        panic!()
    };
    assert_eq!(
        children[0],
        LogicTree::Filter(Filter {
            field: Field::col("title"),
            negated: false,
            operation: Operation::In(vec![s("Paper Moons"), s("Winter Orchard")])
        })
    );
}

#[test]
fn json_path_filter_keys() {
    let p = ok("books.metadata->series->>name=eq.Ledger&metadata->awards->>-1=eq.x");
    assert_eq!(
        p.filters[0],
        (
            vec![s("books")],
            Filter {
                field: Field {
                    name: s("metadata"),
                    json_path: vec![
                        JsonOp::Arrow(JsonKey::Key(s("series"))),
                        JsonOp::DoubleArrow(JsonKey::Key(s("name")))
                    ]
                },
                ..eq("", "Ledger")
            }
        )
    );
    assert_eq!(
        p.filters[1].1.field.json_path,
        vec![
            JsonOp::Arrow(JsonKey::Key(s("awards"))),
            JsonOp::DoubleArrow(JsonKey::Index(-1))
        ]
    );
}

#[test]
fn rpc_arguments_stay_unparsed() {
    let p = parse_query(
        "a=1&b=eq.2&select=x&order=x&limit=1&words=ready&words=go&c.d=x&flag",
        true,
    )
    .unwrap();
    assert_eq!(
        p.rpc_args,
        vec![
            (s("a"), s("1")),
            (s("b"), s("eq.2")),
            (s("words"), s("ready")),
            (s("words"), s("go")),
            (s("c.d"), s("x"))
        ]
    );
    assert!(p.filters.is_empty());
    assert!(p.has_select);
    assert_eq!(p.limit, vec![(vec![], 1)]);
    // the same query on a table (or a POST to a function) is a filter error
    assert_eq!(err("a=1").code, "PGRST100");
}

#[test]
fn parse_filter_for_the_planner() {
    assert_eq!(parse_filter("id", "eq.1").unwrap(), (vec![], eq("id", "1")));
    assert_eq!(parse_filter("a.b", "not.is.null").unwrap().0, vec![s("a")]);
    let e = parse_filter("id", "1").unwrap_err();
    assert_eq!(e.code, "PGRST100");
    assert_eq!(
        e.message,
        "\"failed to parse filter (1)\" (line 1, column 1)"
    );
    assert!(parse_filter("", "eq.1").is_err());
    assert!(parse_filter("a.", "eq.1").is_err());
}

#[test]
fn limits_and_offsets() {
    assert_eq!(ok("limit=0").limit, vec![(vec![], 0)]);
    assert_eq!(
        ok("limit=1&limit=2").limit,
        vec![(vec![], 2)],
        "the last one counts"
    );
    assert_eq!(ok("offset=%203%20").offset, vec![(vec![], 3)]);
    let e = err("limit=-1");
    assert_eq!((e.status, e.code.as_str()), (416, "PGRST103"));
    assert_eq!(e.message, "Requested range not satisfiable");
    assert_eq!(
        e.details.as_deref(),
        Some("Limit should be greater than or equal to zero.")
    );
    // a negative offset is a no-op (PostgREST's RangeSpec)
    assert_eq!(ok("offset=-4").offset, vec![(vec![], 0)]);
    for bad in [
        "limit=abc",
        "limit=",
        "limit=1.5",
        "offset=--1",
        "offset=x",
        "limit=99999999999999999999",
    ] {
        let e = err(bad);
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST100"), "{bad}");
    }
}

#[test]
fn columns_and_on_conflict() {
    assert_eq!(
        ok("columns=id,%20name,%22a,b%22").columns,
        Some(vec![s("id"), s("name"), s("a,b")])
    );
    let e = err("columns=");
    assert_eq!(
        e.message,
        "\"failed to parse columns parameter ()\" (line 1, column 1)"
    );
    assert_eq!(
        e.details.as_deref(),
        Some("unexpected end of input expecting field name (* or [a..z0..9_$])")
    );
    assert!(parse_query("on_conflict=a,", false).is_err());
    assert!(parse_query("on_conflict=", false).is_err());
    assert_eq!(
        ok("on_conflict=a,b").on_conflict,
        Some(vec![s("a"), s("b")])
    );
}

#[test]
fn error_messages_like_postgrest() {
    let e = err("id=0");
    assert_eq!(e.status, 400);
    assert_eq!(e.code, "PGRST100");
    assert_eq!(
        e.message,
        "\"failed to parse filter (0)\" (line 1, column 1)"
    );
    assert_eq!(
        e.details.as_deref(),
        Some("unexpected \"0\" expecting \"not\" or operator (eq, gt, ...)")
    );
    assert!(e.hint.is_none());

    let e = err("or=()");
    assert_eq!(
        e.message,
        "\"failed to parse logic tree (())\" (line 1, column 4)"
    );
    assert_eq!(
        e.details.as_deref(),
        Some("unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)")
    );

    let e = err("order=id.asc.nullslasttt");
    assert_eq!(
        e.message,
        "\"failed to parse order (id.asc.nullslasttt)\" (line 1, column 17)"
    );
    assert_eq!(
        e.details.as_deref(),
        Some("unexpected 't' expecting \",\" or end of input")
    );

    let e = err("select=data->>--34");
    assert_eq!(
        e.message,
        "\"failed to parse select parameter (data->>--34)\" (line 1, column 9)"
    );
    assert_eq!(
        e.details.as_deref(),
        Some("unexpected \"-\" expecting digit")
    );

    let e = err("select=data-%3E(!@%23$%25%5E%26*_d-%3E%3E!@%23$%25%5E%26*_e::integer");
    assert_eq!(
        e.message,
        "\"failed to parse select parameter (data->(!@#$%^&*_d->>!@#$%^&*_e::integer)\" (line 1, column 7)"
    );
    assert_eq!(
        e.details.as_deref(),
        Some("unexpected \"(\" expecting \"-\", digit or any non reserved character different from: .,>()")
    );

    let e = err("not.or=(a.eq.1");
    assert!(
        e.message
            .starts_with("\"failed to parse logic tree ((a.eq.1)\""),
        "{}",
        e.message
    );
    let e = err("a..b=eq.1");
    assert!(
        e.message
            .starts_with("\"failed to parse tree path (a..b)\""),
        "{}",
        e.message
    );
}

#[test]
fn input_after_a_complete_parameter_is_ignored_like_postgrest() {
    // all from PostgREST's own spec
    assert_eq!(ok("select=name,projects(count)'").select.len(), 2);
    assert_eq!(ok("and=(id.eq.1,id.neq.2))").logic.len(), 1);
    assert_eq!(
        ok("select=name,...processes(process:name,...process_costs(cost)))")
            .select
            .len(),
        2
    );
    assert_eq!(
        ok("id=is.nullx").filters[0].1.operation,
        Operation::Is(IsValue::Null)
    );
    assert_eq!(
        ok("id=in.(1)x").filters[0].1.operation,
        Operation::In(vec![s("1")])
    );
    assert_eq!(ok("columns=a,b)").columns, Some(vec![s("a"), s("b")]));
    // but not for order, nor when the grammar itself is broken
    for q in [
        "order=id.desc)",
        "order=id)",
        "and=id.eq.1",
        "select=id'",
        "or=(a.eq.1",
    ] {
        assert_eq!(err(q).code, "PGRST100", "{q}");
    }
}

/// Every query string of the conformance suite (`cases/*.yaml`, `path:` lines), with the
/// error the parser must give (the others must parse). `true` = an RPC GET.
const CONFORMANCE: &[(bool, &str, Option<&str>)] = &[
    (false, "select=userId,content,published", None),
    (false, "content=eq.suite-post-1&select=userId,content", None),
    (false, "select=id,userId&order=id", None),
    (false, "content=eq.suite-post-1", None),
    (false, "id=eq.1", None),
    (false, "published=is.false&select=id,userId", None),
    (false, "id=eq.2", None),
    (false, "content=eq.suite-post-1%20edited", None),
    (false, "select=id,owner_id,title&order=id", None),
    (false, "select=id&order=id", None),
    (false, "select=owner_id,title,shared", None),
    (false, "id=eq.1&select=id,title,shared", None),
    (false, "order=id", None),
    (false, "select=id,name&order=id", None),
    (false, "select=id&id=lte.2&order=id", None),
    (false, "select=id&order=id&limit=5", None),
    (false, "select=id&order=id&limit=5&offset=10", None),
    (false, "select=id&id=gt.10&order=id", None),
    (false, "select=id&id=gt.10&order=id&limit=2", None),
    (false, "id=eq.0", None),
    (false, "offset=100", None),
    (false, "id=gt.100&offset=1", None),
    (false, "select=id,books!inner(id)&books.format=eq.ebook&books.order=id&order=id", None),
    (false, "select=id,reviews()&reviews=is.null&order=id", None),
    (false, "select=id,books(id)&books.order=id&books.limit=1&order=id", None),
    (false, "select=id&order=id&limit=3", None),
    (false, "select=id,name,country,birth_year,active&order=id", None),
    (false, "select=id,format,tags&id=lte.5&order=id", None),
    (false, "select=id,metadata&id=in.(2,9)&order=id", None),
    (false, "select=book:title,year:published_year&id=lte.3&order=id", None),
    (false, "select=id,name&order=id&limit=2", None),
    (false, "select=title,writer:authors(name,country)&order=id", None),
    (false, "select=id,publishers(name)&order=id", None),
    (false, "select=authors(name)&order=id", None),
    (false, "select=*,books(*)&books.order=id&order=id", None),
    (false, "select=name,books(title,reviews(reviewer,rating))&books.order=id&books.reviews.order=id&order=id", None),
    (false, "select=id,authors(name),reviews(rating)&reviews.order=id&id=in.(1,9)&order=id", None),
    (false, "select=id,genres(name)&genres.order=name&order=id", None),
    (false, "select=name,books!book_genres(id)&books.order=id&order=id", None),
    (false, "select=id,book_genres(primary_genre,genres(name))&book_genres.order=genre_id&id=in.(1,4,8)&order=id", None),
    (false, "select=id,authors(name),publishers(name),genres(name),reviews(rating)&genres.order=id&reviews.order=id&id=in.(1,5,6)&order=id", None),
    (false, "select=title,authors(name)&order=id", None),
    (false, "select=name,book_catalog(title)&book_catalog.order=id&order=id", None),
    (false, "select=id,reviews(rating)&reviews.order=id&order=id", None),
    (false, "select=id,publishers!inner(name)&order=id", None),
    (false, "select=id,publishers!left(name)&order=id", None),
    (false, "select=title,authors!inner(name)&authors.country=eq.Taiwan&order=id", None),
    (false, "select=id,authors(name)&authors.country=eq.Taiwan&order=id", None),
    (false, "select=name,books!inner(title)&books.published_year=gte.2015&books.order=id&order=id", None),
    (false, "select=name,books!inner(id)&books.id=eq.4&order=id", None),
    (false, "select=id,books!inner(id)&books.order=id&order=id", None),
    (false, "select=title,authors!books_author_id_fkey(name)&order=id", None),
    (false, "select=title,authors!author_id(name)&order=id", None),
    (false, "select=title,author_id(name)&order=id", None),
    (false, "select=author_id,author:author_id(name)&id=in.(1,3,5)&order=id", None),
    (false, "select=id,books_publisher_id_fkey(name)&order=id", None),
    (false, "select=*,members(*)", None),
    (false, "select=id,members!borrower_id(name)&order=id", None),
    (false, "select=id,lender_id(name),borrower_id(name)&order=id", None),
    (false, "select=name,lent:loans!lender(id),borrowed:loans!borrower(id)&lent.order=id&borrowed.order=id&order=id", None),
    (false, "select=name,manager:manager_id(name,title)&order=id", None),
    (false, "select=id,librarians(id)&librarians.order=id&order=id", None),
    (false, "select=name,reports:librarians!manager_id(name,reports:librarians!manager_id(name))&reports.order=id&reports.reports.order=id&id=eq.1", None),
    (false, "select=id,manager_id(name,manager_id(name))&id=in.(4,6)&order=id", None),
    (false, "select=id,...publishers(publisher:name,city)&order=id", None),
    (false, "select=id,...books(book:title,...authors(author:name))&order=id", None),
    (false, "select=id,book:books(title,...authors(author:name))&order=id", None),
    (false, "select=name,...books(titles:title,years:published_year)&books.order=id&order=id", None),
    (false, "select=id,books!inner()&books.format=eq.ebook&order=id", None),
    (false, "select=id,books(id)&books.order=id&books.limit=1&books.offset=1&order=id", None),
    (false, "select=id,books(id,reviews(id))&order=id&limit=2&books.order=id&books.limit=2&books.reviews.order=id&books.reviews.limit=1", None),
    (false, "select=id,books(id,reviews(id,rating))&books.reviews.rating=gte.5&books.order=id&books.reviews.order=id&order=id", None),
    (false, "select=id,recent:books(title)&recent.published_year=gte.2015&recent.order=id&order=id", None),
    (false, "select=id,old:books(id),new:books(id)&old.published_year=lt.2000&new.published_year=gte.2000&old.order=id&new.order=id&order=id", None),
    (false, "select=id,reviews(rating)&reviews=not.is.null&reviews.order=id&order=id", None),
    (false, "select=id,publishers(name)&publishers=not.is.null&order=id", None),
    (false, "select=id,publishers()&publishers=is.null&order=id", None),
    (true, "code=P0001", None),
    (true, "code=23505", None),
    (true, "code=42501", None),
    (true, "code=42883", None),
    (true, "code=42P01", None),
    (true, "code=25006", None),
    (true, "code=40001", None),
    (true, "code=08006", None),
    (true, "code=53300", None),
    (true, "code=53400", None),
    (true, "code=28000", None),
    (true, "code=42P17", None),
    (true, "code=22012", None),
    (false, "id=eq.abc", None),
    (false, "select=id,nickname", None),
    (false, "id=equals.1", Some("PGRST100")),
    (false, "order=name.sideways", Some("PGRST100")),
    (false, "select=id&publisher_id=neq.1&order=id", None),
    (false, "select=id&price=gt.20&order=id", None),
    (false, "select=id&price=gte.19.50&order=id", None),
    (false, "select=id&published_year=lte.1989&order=id", None),
    (false, "select=id&id=not.eq.5&order=id", None),
    (false, "select=id&id=not.lt.14&order=id", None),
    (false, "select=id&id=not.gt.2&order=id", None),
    (false, "select=id&title=eq.%E6%9D%B1%E4%BA%AC%E3%81%AE%E5%B0%8F%E3%81%95%E3%81%AA%E6%9C%AC%E5%B1%8B&order=id", None),
    (false, "select=id&format=eq.ebook&order=id", None),
    (false, "select=id&format=in.(ebook,audiobook)&order=id", None),
    (false, "select=id&added_at=gte.2023-10-01&order=id", None),
    (false, "select=id&price=lt.15&order=id", None),
    (false, "select=id&title=like.*Ledger*&order=id", None),
    (false, "select=id&title=like.Ledger%25&order=id", None),
    (false, "select=id&title=ilike.*ledger*&order=id", None),
    (false, "select=id&title=not.ilike.*E*&order=id", None),
    (false, "select=id&name=like.*%C3%85*&order=id", None),
    (false, "select=id&title=imatch.%5Ethe&order=id", None),
    (false, "select=id&title=not.match.s$&order=id", None),
    (false, "select=id&id=not.in.(2,4,6,7,8,9,10,11,12,13,14,15)&order=id", None),
    (false, "select=id&title=in.(%22Salt,%20Smoke%20(and%20Mirrors)%22,%22Winter%20Orchard%22)&order=id", None),
    (false, "select=id&title=in.(Paper%20Moons,%22Salt,%20Smoke%20(and%20Mirrors)%22)&order=id", None),
    (false, "select=id&title=in.(%22Backslash%20%5C%5C%20Blues%22)&order=id", None),
    (false, "select=id&title=in.(Backslash%20%5C%20Blues)&order=id", None),
    (false, "select=id&name=in.(%22Zo%C3%AB%20O%27Hara%22,%C3%89mile%20Durand)&order=id", None),
    (false, "select=id&id=in.()&order=id", None),
    (false, "select=id&id=not.in.()&order=id", None),
    (false, "select=id&published_year=is.null&order=id", None),
    (false, "select=id&price=not.is.not_null&order=id", None),
    (false, "select=id&in_stock=is.false&order=id", None),
    (false, "select=id&in_stock=is.NULL&order=id", None),
    (false, "select=id&in_stock=is.TrUe&order=id", None),
    (false, "select=id&in_stock=not.is.false&order=id", None),
    (false, "select=id&in_stock=not.isdistinct.true&order=id", None),
    (false, "select=id&body_tsv=fts.ledger&order=id", None),
    (false, "select=id&body_tsv=fts.storm%26tide&order=id", None),
    (false, "select=id&body_tsv=fts.mirror%7Cmap&order=id", None),
    (false, "select=id&body_tsv=fts(french).jardins&order=id", None),
    (false, "select=id&body_tsv=fts(german).Winter&order=id", None),
    (false, "select=id&body_tsv=plfts.mirrors%20remember&order=id", None),
    (false, "select=id&body_tsv=phfts.passing%20ships&order=id", None),
    (false, "select=id&body_tsv=phfts.ships%20passing&order=id", None),
    (false, "select=id&body_tsv=wfts.map%20or%20storm&order=id", None),
    (false, "select=id&body_tsv=wfts.every%20-keeper&order=id", None),
    (false, "select=id&body_tsv=not.fts.ledger&order=id", None),
    (false, "select=id&body_tsv=not.phfts(english).passing%20ships&order=id", None),
    (false, "select=id&summary=fts.keeper&order=id", None),
    (false, "select=id&body=fts(french).jardins&order=id", None),
    (false, "select=id&tags=cs.%7Bmystery,sequel%7D&order=id", None),
    (false, "select=id&tags=cd.%7Bmystery,coastal,sequel,poetry%7D&order=id", None),
    (false, "select=id&tags=eq.%7Bessays%7D&order=id", None),
    (false, "select=id&metadata=cs.%7B%22translated%22:true%7D&order=id", None),
    (false, "select=id&age_range=eq.%5B13,18)&order=id", None),
    (false, "select=id&age_range=cs.%5B5,8%5D&order=id", None),
    (false, "select=id&age_range=ov.%5B10,14)&order=id", None),
    (false, "select=id&age_range=sl.%5B12,13)&order=id", None),
    (false, "select=id&age_range=adj.%5B12,13)&order=id", None),
    (false, "select=id&during=ov.%5B2024-03-05%2017:00,2024-03-08)&order=id", None),
    (false, "select=id&age_range=not.ov.%5B10,14)&order=id", None),
    (false, "select=id&id=eq(any).%7B1,3,5%7D&order=id", None),
    (false, "select=id&id=not.eq(any).%7B1,2%7D&order=id", None),
    (false, "select=id&published_year=lt(any).%7B1980,1990%7D&order=id", None),
    (false, "select=id&title=match(any).%7B%5EPaper,Orchard$%7D&order=id", None),
    (false, "country=eq.France", None),
    (false, "in_stock=is.nil", Some("PGRST100")),
    (false, "id=in.(%20,3,4)", None),
    (false, "select=id,metadata->series&order=id", None),
    (false, "select=id,series_name:metadata->series->>name&order=id", None),
    (false, "select=id,metadata->series->>position::integer&order=id", None),
    (false, "select=id,score:metadata->>rating::numeric&order=id", None),
    (false, "select=id,metadata->awards->0&order=id", None),
    (false, "select=id,dims->>width_cm&order=id", None),
    (false, "select=id,tags->>1&order=id", None),
    (false, "select=id&metadata->series->>name=eq.Ledger&order=id", None),
    (false, "select=id&metadata->>translated=eq.false&order=id", None),
    (false, "select=id&metadata->series->>name=not.eq.Ledger&order=id", None),
    (false, "select=id&metadata->first_edition=eq.true&order=id", None),
    (false, "select=id&metadata->awards=eq.%5B%5D&order=id", None),
    (false, "select=id&metadata->awards=cs.%5B%22Amber%20Quill%22%5D&order=id", None),
    (false, "select=id&metadata->series=is.null&order=id", None),
    (false, "select=id&metadata->series->>name=like.L*&order=id", None),
    (false, "select=id&metadata->awards->>0=eq.Amber%20Quill&order=id", None),
    (false, "select=id&metadata->awards->>-1=eq.Amber%20Quill&order=id", None),
    (false, "select=id&dims->height_cm=gt.21&order=id", None),
    (false, "select=id&tags->>0=eq.fantasy&order=id", None),
    (false, "select=id&tags->0=eq.%22mystery%22&order=id", None),
    (false, "select=id,books(id)&books.metadata->series->>name=eq.Ledger&books.order=id&order=id", None),
    (false, "select=metadata->>--1", Some("PGRST100")),
    (false, "select=id&or=(published_year.lt.1990,published_year.gt.2020)&order=id", None),
    (false, "select=id&not.or=(published_year.lt.1990,published_year.gt.2020)&order=id", None),
    (false, "select=id&and=(price.gte.10,price.lte.20)&order=id", None),
    (false, "select=id&or=(format.eq.ebook,format.eq.audiobook)&in_stock=is.true&order=id", None),
    (false, "select=id&and=(id.gte.3,id.lte.9)&or=(id.eq.3,id.eq.9,id.eq.10)&order=id", None),
    (false, "select=id&or=(and(format.eq.paperback,price.lt.15),and(format.eq.hardcover,in_stock.is.true))&order=id", None),
    (false, "select=id&and=(id.gte.2,not.or(id.eq.3,id.eq.4))&order=id", None),
    (false, "select=id&or=(and(id.gt.10,not.or(id.eq.12,id.eq.13)),id.eq.1)&order=id", None),
    (false, "select=id&or=(id.eq.1)", None),
    (false, "or=()", Some("PGRST100")),
    (false, "select=id&or=(title.like.%22*,%20Smoke*%22,id.eq.7)&order=id", None),
    (false, "select=id&or=(id.in.(1,2),id.in.(11,12))&order=id", None),
    (false, "select=id&or=(title.in.(%22Paper%20Moons%22,%22Winter%20Orchard%22),id.eq.1)&order=id", None),
    (false, "select=id&or=(publisher_id.is.null,in_stock.is.false)&order=id", None),
    (false, "select=id&or=(title.like.*Ledger*,title.ilike.*moon*)&order=id", None),
    (false, "select=id&or=(body_tsv.fts.ledger,body_tsv.fts(french).jardins)&order=id", None),
    (false, "select=id&or=(age_range.adj.%22%5B12,13)%22,age_range.cs.%22%5B20,30%5D%22)&order=id", None),
    (false, "select=id&or=(metadata->>rating.gte.4.7,metadata->series->>position.eq.2)&order=id", None),
    (false, "select=id&and=(id.gte.2,in_stock.isdistinct.true)&order=id", None),
    (false, "select=id,picks:books!inner(id)&picks.and=(price.gte.15,price.lt.22)&picks.order=id&order=id", None),
    (false, "id=lte.3&order=id.asc", None),
    (false, "select=id,name&order=name", None),
    (false, "select=id,birth_year&order=birth_year.nullsfirst,id", None),
    (false, "select=id,birth_year&order=birth_year.desc,id", None),
    (false, "select=id,birth_year&order=birth_year.desc.nullslast,id", None),
    (false, "select=id,format,price&order=format.asc,price.desc", None),
    (false, "select=title&order=price.desc.nullslast,id", None),
    (false, "select=id&order=metadata->rating.desc.nullslast,id", None),
    (false, "select=id&order=metadata->series->>name.nullsfirst,id", None),
    (false, "select=id&order=dims->height_cm.desc.nullslast,id", None),
    (false, "select=id&order=tags->0,id.desc", None),
    (false, "select=id,authors(name)&order=authors(name).desc,id", None),
    (false, "select=id,writer:authors(country)&order=writer(country).asc,id.desc", None),
    (false, "select=id,books(id,publishers(name))&books.order=publishers(name).desc.nullslast,id&id=in.(1,4)&order=id", None),
    (false, "select=id,books(id)&order=books(id)", None),
    (false, "select=id,authors(name)&order=publishers(name)", None),
    (false, "select=id,books(title,reviews(rating))&books.order=title.desc&books.reviews.order=rating.asc,id&order=id", None),
    (false, "order=id.asc.nullslasttt", Some("PGRST100")),
    (false, "select=id&order=id&offset=20", None),
    (false, "select=id&limit=-1", Some("PGRST103")),
    (false, "id=gt.100", None),
    (false, "id=eq.5", None),
    (false, "select=id&order=id.asc&limit=3", None),
    (false, "select=id,books(id)&books.order=id&order=id", None),
    (false, "select=id&order=id&limit=2&offset=9", None),
    (false, "id=eq.3", None),
    (true, "p_status=planned&select=id,title&order=id", None),
    (true, "p_status=planned", None),
    (true, "a=2&b=3", None),
    (true, "a=3&b=4", None),
    (true, "a=1&c=2", None),
    (true, "a=1&b=2&smthelse=blabla", None),
    (false, "a=1", Some("PGRST100")),
    (true, "done=is.false&priority=lte.3&select=id,title&order=id", None),
    (true, "select=id,priority&order=priority.desc,id.asc&limit=3&offset=1", None),
    (true, "select=id&order=id&limit=2", None),
    (false, "select=id,title&done=is.false&order=id", None),
    (true, "p_project=4&select=title,project:projects(name)&order=id", None),
    (true, "order=project_id", None),
    (true, "p_id=2", None),
    (true, "p_id=1", None),
    (true, "select=id&order=id&limit=1&offset=1", None),
    (true, "ids=%7B2,4%7D&select=id&order=id", None),
    (true, "words=ready&words=go", None),
    (true, "name=Ada", None),
    (true, "side=3", None),
    (true, "v=1", None),
    (true, "name=x-trace-id", None),
    (false, "select=id,title", None),
    (false, "select=&order=id", None),
    (false, "select=name&order=id", None),
    (false, "select=id,name,country&order=id", None),
    (false, "select=id,%20name&order=id", None),
    (false, "select=author:name,born:birth_year&order=id", None),
    (false, "select=id,price::integer&order=id", None),
    (false, "select=id,in_stock::text&order=id", None),
    (false, "select=id::no_such_type", None),
    (false, "select=id,no_such_column", None),
    (false, "id=5", Some("PGRST100")),
    (false, "select=id,authors(name", Some("PGRST100")),
    (false, "select=id,title,published_year&order=id", None),
    (false, "select=id,metadata&order=id", None),
    (false, "select=id,name&name=eq.S%C3%B8ren%20%C3%85lund", None),
    (false, "select=id&order=id.asc&limit=3&offset=2", None),
    (false, "id=gt.0&id=lt.0", None),
    (false, "author_id=eq.1&select=id", None),
    (false, "id=eq.4&select=name,books(title,publishers(name))&books.order=id", None),
    (false, "book_id=eq.1&copy_no=eq.2", None),
    (false, "id=eq.4&select=id,loaned_on,...books(title),lender:members!lender(name)", None),
    (false, "select=id,name", None),
    (false, "select=title,priority,project:projects(name)", None),
    (false, "select=id,tasks(title)", None),
    (false, "select=id", None),
    (false, "select=slug", None),
    (false, "columns=id,name", None),
    (false, "columns=id,nickname", None),
    (false, "select=name,color,qty,made_on", None),
    (false, "columns=name,color", None),
    (false, "columns=name,color,qty&select=name,color,qty,made_on", None),
    (false, "select=name,qty,total", None),
    (false, "select=slug,uses", None),
    (false, "project_id=eq.1&done=is.false", None),
    (false, "id=eq.4", None),
    (false, "id=eq.5&select=id,title,project:projects(name)", None),
    (false, "id=eq.1&select=name,tasks(title)&tasks.order=id.asc", None),
    (false, "id=eq.999", None),
    (false, "project_id=eq.4", None),
    (false, "id=eq.2&columns=name", None),
    (false, "id=eq.1&columns=name,color&select=id,name,color", None),
    (false, "project_id=eq.2", None),
    (false, "project_id=eq.1", None),
    (false, "id=eq.8", None),
    (false, "id=eq.7", None),
    (false, "id=eq.6&select=id,title,project:projects(id,name)", None),
    (false, "slug=in.(rest,http)", None),
    (false, "slug=eq.sql", None),
];

#[test]
fn conformance_query_strings() {
    for (is_rpc, q, expected) in CONFORMANCE {
        match (parse_query(q, *is_rpc), expected) {
            (Ok(_), None) => {}
            (Err(e), Some(code)) => assert_eq!(e.code, *code, "{q}"),
            (Ok(p), Some(code)) => panic!("{q}: expected {code}, parsed {p:?}"),
            (Err(e), None) => panic!("{q}: {e:?}"),
        }
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[u8] = b"(),.:!*\"\\->%&=;{}[]+'_ aZ09\t$@#^~?/|eqnotinisfts";

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 => bytes.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => bytes[at] = ALPHABET[rng.below(ALPHABET.len())],
            3 => {
                let end = (at + rng.below(8)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, chunk);
            }
            _ => bytes.insert(at, rng.next() as u8),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn never_panics_on_mutated_queries() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let extra = [
        "select=a:b!c!inner(d::text[],e->f->>0,g.sum()::int,count()),...h!left(*)",
        "or=(a.eq.1,and(b.gt.2,not.c.is.null),d.in.(\"x,y\",z),e.eq(any).{1,2},f.fts(english).q)",
        "books.not.or=(a.like.\"*,*\",b.cs.{x})&books.order=rel(c->d).desc.nullsfirst",
        "columns=\"a b\",c&on_conflict=c&limit=1&offset=2&x.y->z=not.isdistinct.1",
    ];
    let seeds: Vec<&str> = CONFORMANCE
        .iter()
        .map(|(_, q, _)| *q)
        .chain(extra)
        .collect();
    for _ in 0..40_000 {
        let seed = seeds[rng.below(seeds.len())];
        let q = mutate(&mut rng, seed);
        let _ = parse_query(&q, false);
        let _ = parse_query(&q, true);
        if let Some((k, v)) = q.split_once('=') {
            let _ = parse_filter(k, v);
        }
    }
}

#[test]
fn never_panics_on_random_strings() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..20_000 {
        let len = rng.below(40);
        let q: String = (0..len)
            .map(|_| {
                if rng.below(4) == 0 {
                    char::from_u32(rng.below(0x3000) as u32).unwrap_or('x')
                } else {
                    ALPHABET[rng.below(ALPHABET.len())] as char
                }
            })
            .collect();
        for prefix in ["", "select=", "order=", "or=", "a=", "columns=", "limit="] {
            let full = format!("{prefix}{q}");
            let _ = parse_query(&full, false);
            let _ = parse_query(&full, true);
        }
        let _ = parse_filter(&q, &q);
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let q = format!("select={}x{}", "a(".repeat(20_000), ")".repeat(20_000));
    assert_eq!(err(&q).code, "PGRST100");
    let q = format!("or=({}a.eq.1{})", "or(".repeat(20_000), ")".repeat(20_000));
    assert_eq!(err(&q).code, "PGRST100");
    // the deepest accepted nesting fits in a small stack, in debug builds too
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let d = super::lex::MAX_NESTING;
            let q = format!("select={}x{}", "a(".repeat(d), ")".repeat(d));
            assert!(parse_query(&q, false).is_ok());
            let q = format!("or=({}a.eq.1{})", "or(".repeat(d - 1), ")".repeat(d - 1));
            assert!(parse_query(&q, false).is_ok(), "{q}");
            let q = format!("or=({}a.eq.1{})", "or(".repeat(d), ")".repeat(d));
            assert!(parse_query(&q, false).is_err());
            let q = format!("select={}x{}", "a(".repeat(d + 1), ")".repeat(d + 1));
            assert!(parse_query(&q, false).is_err());
            let q = format!(
                "or=(a.in.(\"{}\"),b.eq.{})",
                "(".repeat(1000),
                "(".repeat(1000)
            );
            assert!(
                parse_query(&q, false).is_ok(),
                "parens in values do not count"
            );
            // a quote in a raw value must not hide the nesting that follows
            let q = format!(
                "or=(a.eq.x\"y,{}a.eq.1{})",
                "or(".repeat(20_000),
                ")".repeat(20_000)
            );
            assert!(parse_query(&q, false).is_err());
        })
        .unwrap();
    handle.join().unwrap();
}
