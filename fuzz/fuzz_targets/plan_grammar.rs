//! The planner on requests that are mostly well formed: the fuzz bytes steer a generator of
//! PostgREST query strings, headers and bodies made of the schema cache's own table, column,
//! foreign key and function names, so the planner's deeper paths (embeds, hints, spreads,
//! aggregates, json paths, casts, upserts, RPC arguments) are reached far more often than by
//! mutating bytes. Nothing it builds may make the planner panic.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serendb_data_api::plan;
use serendb_data_api::SchemaCache;
use serendb_data_api::{parse_request, RawRequest};
use serendb_data_api_fuzz::settings;
use std::sync::OnceLock;

struct Names {
    cache: SchemaCache,
    tables: Vec<String>,
    columns: Vec<String>,
    hints: Vec<String>,
    functions: Vec<String>,
    args: Vec<String>,
}

static NAMES: OnceLock<Names> = OnceLock::new();

fn names() -> &'static Names {
    NAMES.get_or_init(|| {
        let cache = SchemaCache::from_json(include_str!(
            "../../src/schema_cache/testdata/conformance.json"
        ))
        .expect("testdata schema cache");
        let names = cache.names();
        let mut n = Names {
            tables: names.tables,
            columns: names.columns,
            hints: names.hints,
            functions: names.functions,
            args: names.args,
            cache,
        };
        // a name no table or function has, so the not-found paths are reached too
        for v in [
            &mut n.tables,
            &mut n.columns,
            &mut n.hints,
            &mut n.functions,
            &mut n.args,
        ] {
            v.push("nope".into());
        }
        n
    })
}

const OPS: &[&str] = &[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "like",
    "ilike",
    "match",
    "imatch",
    "in",
    "is",
    "isdistinct",
    "cs",
    "cd",
    "ov",
    "sl",
    "sr",
    "nxr",
    "nxl",
    "adj",
    "fts",
    "plfts",
    "phfts",
    "wfts",
    "fts(english)",
    "eq(any)",
    "like(all)",
    "gt(any)",
];
const VALUES: &[&str] = &[
    "1",
    "0",
    "-1",
    "2.5",
    "abc",
    "",
    "null",
    "true",
    "unknown",
    "(1,2,3)",
    "(\"a,b\",c)",
    "()",
    "{1,2}",
    "{}",
    "[1,10)",
    "(1,2]",
    "a*",
    "%25a%25",
    "\"q\"",
    "2024-01-01",
    "9223372036854775808",
    "{\"a\":1}",
    "[1,2]",
    "x y",
    "%E2%9C%93",
    "\\",
    "'",
];
const CASTS: &[&str] = &[
    "text", "int", "integer", "json", "jsonb", "numeric", "bad type",
];
const AGGS: &[&str] = &["sum", "avg", "max", "min", "count"];
const PREFER: &[&str] = &[
    "return=representation",
    "return=minimal",
    "return=headers-only",
    "count=exact",
    "count=planned",
    "count=estimated",
    "resolution=merge-duplicates",
    "resolution=ignore-duplicates",
    "missing=default",
    "handling=strict",
    "handling=lenient",
    "tx=rollback",
    "tx=commit",
    "max-affected=1",
    "max-affected=-1",
    "params=single-object",
    "timezone=UTC",
    "bogus",
];
const ACCEPT: &[&str] = &[
    "application/json",
    "application/vnd.pgrst.object+json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.array+json;nulls=stripped",
    "text/csv",
    "text/plain",
    "application/octet-stream",
    "*/*",
    "application/geo+json",
    "text/csv;q=0.5, application/json",
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "text/csv",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
    "application/vnd.pgrst.object+json",
    "application/xml",
];

fn pick<'a>(u: &mut Unstructured, v: &'a [String]) -> Result<&'a str> {
    Ok(u.choose(v)?.as_str())
}

/// `col`, `col->a->>0`, `col::text`
fn field(u: &mut Unstructured, n: &Names) -> Result<String> {
    let mut f = pick(u, &n.columns)?.to_string();
    for _ in 0..u.int_in_range(0..=2)? {
        f.push_str(if u.arbitrary()? { "->" } else { "->>" });
        f.push_str(if u.arbitrary()? { "a" } else { "0" });
    }
    Ok(f)
}

fn select_list(u: &mut Unstructured, n: &Names, depth: u32) -> Result<String> {
    let mut items = vec![];
    for _ in 0..u.int_in_range(1..=4)? {
        let item = match u.int_in_range(0..=7)? {
            0 => "*".to_string(),
            1 if depth < 3 => {
                let mut e = String::new();
                if u.arbitrary()? {
                    e.push_str("alias:");
                }
                if u.ratio(1, 4)? {
                    e.push_str("...");
                }
                e.push_str(pick(u, &n.tables)?);
                if u.ratio(1, 3)? {
                    e.push('!');
                    e.push_str(pick(u, &n.hints)?);
                }
                if u.ratio(1, 3)? {
                    e.push_str(*u.choose(&["!inner", "!left"])?);
                }
                format!("{e}({})", select_list(u, n, depth + 1)?)
            }
            2 => format!("{}.{}()", field(u, n)?, u.choose(AGGS)?),
            3 => "count()".to_string(),
            4 => format!("{}::{}", field(u, n)?, u.choose(CASTS)?),
            5 => format!("a:{}", field(u, n)?),
            _ => field(u, n)?,
        };
        items.push(item);
    }
    Ok(items.join(","))
}

fn embed_prefix(u: &mut Unstructured, n: &Names) -> Result<String> {
    let mut p = String::new();
    for _ in 0..u.int_in_range(0..=2)? {
        p.push_str(pick(u, &n.tables)?);
        p.push('.');
    }
    Ok(p)
}

fn op_value(u: &mut Unstructured) -> Result<String> {
    let not = if u.ratio(1, 5)? { "not." } else { "" };
    Ok(format!("{not}{}.{}", u.choose(OPS)?, u.choose(VALUES)?))
}

fn logic(u: &mut Unstructured, n: &Names, depth: u32) -> Result<String> {
    let mut terms = vec![];
    for _ in 0..u.int_in_range(1..=3)? {
        if depth < 2 && u.ratio(1, 4)? {
            let op = u.choose(&["or", "and", "not.or", "not.and"])?;
            terms.push(format!("{op}({})", logic(u, n, depth + 1)?));
        } else {
            terms.push(format!("{}.{}", field(u, n)?, op_value(u)?));
        }
    }
    Ok(terms.join(","))
}

fn order(u: &mut Unstructured, n: &Names) -> Result<String> {
    let mut terms = vec![];
    for _ in 0..u.int_in_range(1..=2)? {
        let mut t = if u.ratio(1, 4)? {
            format!("{}({})", pick(u, &n.tables)?, pick(u, &n.columns)?)
        } else {
            field(u, n)?
        };
        if u.arbitrary()? {
            t.push_str(u.choose(&[".asc", ".desc"])?);
        }
        if u.arbitrary()? {
            t.push_str(u.choose(&[".nullsfirst", ".nullslast"])?);
        }
        terms.push(t);
    }
    Ok(terms.join(","))
}

fn number(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=4)? {
        0 => "0".into(),
        1 => "-1".into(),
        2 => "9223372036854775807".into(),
        3 => "x".into(),
        _ => u.int_in_range(0..=20u8)?.to_string(),
    })
}

fn query(u: &mut Unstructured, n: &Names, rpc: bool) -> Result<String> {
    let mut params = vec![];
    for _ in 0..u.int_in_range(0..=6)? {
        let p = match u.int_in_range(0..=9)? {
            0 | 1 => format!("select={}", select_list(u, n, 0)?),
            2 | 3 => format!("{}{}={}", embed_prefix(u, n)?, field(u, n)?, op_value(u)?),
            4 => format!(
                "{}{}=({})",
                embed_prefix(u, n)?,
                u.choose(&["or", "and", "not.or", "not.and"])?,
                logic(u, n, 0)?
            ),
            5 => format!("{}order={}", embed_prefix(u, n)?, order(u, n)?),
            6 => format!(
                "{}{}={}",
                embed_prefix(u, n)?,
                u.choose(&["limit", "offset"])?,
                number(u)?
            ),
            7 => format!(
                "{}={}",
                u.choose(&["columns", "on_conflict"])?,
                (0..u.int_in_range(1..=3)?)
                    .map(|_| pick(u, &n.columns).map(str::to_string))
                    .collect::<Result<Vec<_>>>()?
                    .join(",")
            ),
            _ if rpc => format!("{}={}", pick(u, &n.args)?, u.choose(VALUES)?),
            _ => format!("{}={}", field(u, n)?, op_value(u)?),
        };
        params.push(p);
    }
    Ok(params.join("&"))
}

fn json_value(u: &mut Unstructured, depth: u32) -> Result<String> {
    Ok(match u.int_in_range(0..=6)? {
        0 => "null".into(),
        1 => u.int_in_range(-3..=3i32)?.to_string(),
        2 => "\"s\"".into(),
        3 => "true".into(),
        4 if depth < 2 => format!("[{}]", json_value(u, depth + 1)?),
        5 if depth < 2 => format!("{{\"a\":{}}}", json_value(u, depth + 1)?),
        _ => "1.5".into(),
    })
}

fn json_object(u: &mut Unstructured, keys: &[String]) -> Result<String> {
    let mut fields = vec![];
    for _ in 0..u.int_in_range(0..=4)? {
        fields.push(format!("\"{}\":{}", pick(u, keys)?, json_value(u, 0)?));
    }
    Ok(format!("{{{}}}", fields.join(",")))
}

fn body(u: &mut Unstructured, n: &Names, rpc: bool) -> Result<Vec<u8>> {
    let keys = if rpc { &n.args } else { &n.columns };
    Ok(match u.int_in_range(0..=5)? {
        0 => vec![],
        1 | 2 => json_object(u, keys)?.into_bytes(),
        3 => {
            let objs = (0..u.int_in_range(0..=3)?)
                .map(|_| json_object(u, keys))
                .collect::<Result<Vec<_>>>()?;
            format!("[{}]", objs.join(",")).into_bytes()
        }
        4 => format!("{},{}\n1,2\n", pick(u, keys)?, pick(u, keys)?).into_bytes(),
        _ => {
            let len = u.int_in_range(0..=16)?;
            u.bytes(len)?.to_vec()
        }
    })
}

fn request(u: &mut Unstructured, n: &Names) -> Result<RawRequest> {
    let method = *u.choose(&["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"])?;
    let rpc = u.ratio(1, 4)?;
    let path = if rpc {
        format!("/rpc/{}", pick(u, &n.functions)?)
    } else if u.ratio(1, 30)? {
        "/".to_string()
    } else {
        format!("/{}", pick(u, &n.tables)?)
    };
    let query = query(u, n, rpc)?;
    let mut headers = vec![];
    for _ in 0..u.int_in_range(0..=3)? {
        let h = match u.int_in_range(0..=5)? {
            0 => ("prefer", u.choose(PREFER)?.to_string()),
            1 => ("accept", u.choose(ACCEPT)?.to_string()),
            2 => ("content-type", u.choose(CONTENT_TYPES)?.to_string()),
            3 => ("range", format!("{}-{}", number(u)?, number(u)?)),
            4 => (
                "accept-profile",
                u.choose(&["public", "v2", "nope"])?.to_string(),
            ),
            _ => (
                "content-profile",
                u.choose(&["public", "v2", "nope"])?.to_string(),
            ),
        };
        headers.push((h.0.to_string(), h.1));
    }
    Ok(RawRequest {
        method: method.into(),
        target: format!("{path}?{query}"),
        headers,
        body: body(u, n, rpc)?,
    })
}

fuzz_target!(|data: &[u8]| {
    let n = names();
    let mut u = Unstructured::new(data);
    let Ok(raw) = request(&mut u, n) else {
        return;
    };
    let mut s = settings();
    let aggregates: bool = u.arbitrary().unwrap_or(false);
    s.set("db_aggregates_enabled", if aggregates { "on" } else { "off" })
        .expect("a boolean");
    if u.arbitrary().unwrap_or(false) {
        let max_rows: u8 = u.int_in_range(0..=3).unwrap_or(1);
        s.set("db_max_rows", &max_rows.to_string()).expect("a row count");
    }
    if let Ok(req) = parse_request(&raw, &s) {
        let _ = plan(&req, &n.cache, &s);
    }
});
