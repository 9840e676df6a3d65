//! Prints the SQL the API runs for one request as a pgbench script fragment, so that
//! `bench/run.sh` can give pgbench the very statement the API executes. Integer-looking bind
//! parameters stay parameters (`\set pN v` and `:pN::text`: with `pgbench -M prepared` they are
//! bound as text, as the executor binds them, so both sides plan the same way); other values
//! (pgbench variables are numbers only) are inlined as text literals (`'v'::text`).
//!
//!   cargo run --no-default-features --example plan_sql -- SCHEMA_JSON METHOD TARGET [BODY]
//!
//! SCHEMA_JSON is the output of `src/schema_cache/introspect.sql` for the served database.

use serendb_data_api::plan;
use serendb_data_api::SchemaCache;
use serendb_data_api::Settings;
use serendb_data_api::{parse_request, RawRequest};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: plan_sql SCHEMA_JSON METHOD TARGET [BODY]");
        std::process::exit(2);
    }
    let json = std::fs::read_to_string(&args[1]).expect("schema json");
    let schema = SchemaCache::from_json(&json).expect("schema cache");
    let body = args.get(4).cloned().unwrap_or_default();
    let raw = RawRequest {
        method: args[2].clone(),
        target: args[3].clone(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    };
    let settings = Settings::default();
    let req = parse_request(&raw, &settings).unwrap_or_else(|e| panic!("request: {e}"));
    let stmt = plan(&req, &schema, &settings).unwrap_or_else(|e| panic!("plan: {e}"));
    let mut sql = stmt.sql.clone();
    // Highest numbers first, so that $1 does not match the start of $10.
    for (i, p) in stmt.params.iter().enumerate().rev() {
        let n = i + 1;
        let replacement = match p {
            Some(v) if v.parse::<i64>().is_ok() => {
                println!("\\set p{n} {v}");
                format!(":p{n}::text")
            }
            Some(v) => format!("'{}'::text", v.replace('\'', "''")),
            None => "NULL::text".to_string(),
        };
        sql = sql.replace(&format!("${n}"), &replacement);
    }
    println!("{};", sql.replace('\n', " "));
}
