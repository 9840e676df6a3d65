//! Whether a request may be planned with a schema cache loaded before a catalog change: when
//! nothing the plan can read changed, the old cache gives exactly the plan the new one would, so
//! the request need not wait for a reload (PostgREST blocks every request during one).
//!
//! The argument, step by step:
//! - A request on a table or view is planned from the cache entries of the relations it names
//!   (target, embeds, hints, spreads: all strings of the parsed request) and of their
//!   neighbours: the relations at the other end of their foreign keys (one-to-many, many-to-one,
//!   and the junctions of many-to-many relationships, which have a foreign key to them) and the
//!   targets of their computed relationships. `deps` over-approximates that set: every relation
//!   of the old cache whose name occurs *anywhere* in one of the request's strings, and all
//!   their neighbours in the old cache.
//! - `relation_hashes.sql` hashes, per relation, every catalog row the introspection reads about
//!   it, including the constraints where it is either end (a new foreign key from a new table
//!   changes the hash of the table it references, so a new neighbour is seen); everything not
//!   tied to one relation (functions, so computed columns and relationships; types; enum labels;
//!   schemas; extensions) is in one `global` hash.
//! - The cache may serve the request when `global` and the hash of every relation in `deps` are
//!   what they were when the cache was loaded, and no relation exists now, in any schema, whose
//!   name occurs in the request's strings but which the old cache did not know (a new relation
//!   that could be an embed target or make one ambiguous).
//! - Views are never served this way: a view's entry (its inferred primary key, the foreign keys
//!   seen through it) depends on its base tables, which need not be among `deps`.
//! - A plan that fails with the old cache is never served from it (its error, e.g. a "did you
//!   mean" hint, may depend on any relation); RPC and the OpenAPI root read functions or every
//!   relation and always use a current cache.
//!
//! The check runs in the request's transaction, after the invalidations that made the cache
//! stale were received, so every DDL committed before the request started is seen (a request
//! still never misses a change it could observe). Its result stays true until the next
//! invalidation arrives, so it is remembered until then.

use super::SchemaCache;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The output of `relation_hashes.sql`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hashes {
    pub global: String,
    pub relations: HashMap<(String, String), String>,
}

#[derive(Deserialize)]
struct RawHashes {
    global: String,
    relations: Vec<(String, String, String)>,
}

impl Hashes {
    pub fn from_json(json: &str) -> Result<Hashes, serde_json::Error> {
        let raw: RawHashes = serde_json::from_str(json)?;
        Ok(Hashes {
            global: raw.global,
            relations: raw
                .relations
                .into_iter()
                .map(|(s, n, h)| ((s, n), h))
                .collect(),
        })
    }
}

/// Every string literal of a value's `Debug` text (`format!("{:?}", request)`), unescaped:
/// the names, aliases, hints and values the request carries.
pub fn debug_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // a char literal: skip it ('"' must not open a string)
            let mut prev = '\0';
            for c in chars.by_ref() {
                if c == '\'' && prev != '\\' {
                    break;
                }
                prev = if prev == '\\' { '\0' } else { c };
            }
            continue;
        }
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some('0') => s.push('\0'),
                    Some('u') => {
                        // \u{hex}
                        let hex: String = chars
                            .by_ref()
                            .skip_while(|c| *c == '{')
                            .take_while(|c| *c != '}')
                            .collect();
                        if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            s.push(c);
                        }
                    }
                    Some(other) => s.push(other),
                    None => {}
                },
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// The relations (schema, name) whose cache entries the plan of a request with these strings
/// can read, over-approximated (see the module comment); `None` when one of them is a view.
pub fn deps(sc: &SchemaCache, strings: &[String]) -> Option<Vec<(String, String)>> {
    let mut out: HashSet<(&str, &str)> = HashSet::new();
    let named: HashSet<(&str, &str)> = sc
        .tables
        .iter()
        .filter(|t| strings.iter().any(|s| s.contains(t.name.as_str())))
        .map(|t| (t.schema.as_str(), t.name.as_str()))
        .collect();
    out.extend(named.iter().copied());
    // relations referencing a named one: possible junctions of a many-to-many relationship
    let mut referencing: HashSet<(&str, &str)> = HashSet::new();
    for fk in &sc.foreign_keys {
        let a = (fk.schema.as_str(), fk.table.as_str());
        let b = (fk.ref_schema.as_str(), fk.ref_table.as_str());
        if named.contains(&a) || named.contains(&b) {
            out.insert(a);
            out.insert(b);
        }
        if named.contains(&b) {
            referencing.insert(a);
        }
    }
    // and the other ends of those junctions (read while looking for the embed's target)
    for fk in &sc.foreign_keys {
        if referencing.contains(&(fk.schema.as_str(), fk.table.as_str())) {
            out.insert((fk.ref_schema.as_str(), fk.ref_table.as_str()));
        }
    }
    for f in &sc.computed_relationships {
        let a = (f.schema.as_str(), f.table.as_str());
        if named.contains(&a) {
            out.insert((f.target_schema.as_str(), f.target_table.as_str()));
        }
    }
    if out.iter().any(|(s, n)| {
        sc.table(s, n)
            .is_none_or(|t| !matches!(t.kind.as_str(), "r" | "p" | "f"))
    }) {
        return None;
    }
    let mut out: Vec<(String, String)> = out
        .into_iter()
        .map(|(s, n)| (s.to_string(), n.to_string()))
        .collect();
    out.sort();
    Some(out)
}

/// Whether `now` (the hashes of `deps` and of every relation whose name occurs in one of
/// `strings`, read in the request's transaction) shows nothing changed since `then` (the hashes
/// the cache was loaded with).
pub fn unchanged(
    then: &Hashes,
    strings: &[String],
    deps: &[(String, String)],
    now: &Hashes,
) -> bool {
    if now.global != then.global {
        return false;
    }
    // Every relation found now is as it was (a new one has no old hash).
    if now
        .relations
        .iter()
        .any(|(k, h)| then.relations.get(k) != Some(h))
    {
        return false;
    }
    // Every relation that should have been found still exists (not dropped or renamed).
    let named_then = then
        .relations
        .keys()
        .filter(|(_, n)| strings.iter().any(|s| s.contains(n.as_str())));
    deps.iter()
        .chain(named_then)
        .all(|k| now.relations.contains_key(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_cache::model::{ComputedRelationship, ForeignKey, Table};

    fn table(name: &str, kind: &str) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    fn fk(from: &str, to: &str) -> ForeignKey {
        ForeignKey {
            name: format!("{from}_{to}_fkey"),
            schema: "public".into(),
            table: from.into(),
            columns: vec!["x".into()],
            ref_schema: "public".into(),
            ref_table: to.into(),
            ref_columns: vec!["id".into()],
        }
    }

    fn cache() -> SchemaCache {
        let mut sc = SchemaCache::default();
        sc.tables = ["posts", "users", "tags", "posts_tags", "orders", "stats"]
            .iter()
            .map(|n| table(n, "r"))
            .chain([table("posts_view", "v")])
            .collect();
        sc.foreign_keys = vec![
            fk("posts", "users"),
            fk("posts_tags", "posts"),
            fk("posts_tags", "tags"),
            fk("orders", "users"),
        ];
        sc.computed_relationships = vec![ComputedRelationship {
            schema: "public".into(),
            table: "orders".into(),
            function: "order_stats".into(),
            target_schema: "public".into(),
            target_table: "stats".into(),
            to_one: true,
        }];
        sc.build_index();
        sc
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn names(d: Option<Vec<(String, String)>>) -> Option<Vec<String>> {
        d.map(|d| d.into_iter().map(|(_, n)| n).collect())
    }

    #[test]
    fn debug_strings_are_unescaped() {
        let weird = [
            "plain",
            "with \"quotes\"",
            "back\\slash",
            "tab\tnew\nline",
            "é\u{301}",
        ];
        let text = format!("{:?}", (weird, 'x', '"', "end", Some(3)));
        assert_eq!(
            debug_strings(&text),
            weird
                .iter()
                .map(|w| w.to_string())
                .chain(["end".to_string()])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn deps_are_the_named_relations_and_their_neighbours() {
        let sc = cache();
        // posts: its foreign key's target, the junction of its many-to-many and its other end
        assert_eq!(
            names(deps(&sc, &s(&["posts"]))),
            Some(s(&["posts", "posts_tags", "tags", "users"]))
        );
        // users is referenced by posts and orders
        assert_eq!(
            names(deps(&sc, &s(&["users", "eq.5"]))),
            Some(s(&["orders", "posts", "users"]))
        );
        // a computed relationship's target
        assert_eq!(
            names(deps(&sc, &s(&["orders"]))),
            Some(s(&["orders", "stats", "users"]))
        );
        // names found inside any string (a value, an alias, a hint)
        assert_eq!(
            names(deps(&sc, &s(&["x!tags_fk"]))),
            Some(s(&["posts", "posts_tags", "tags"]))
        );
        // a view among them: never
        assert_eq!(deps(&sc, &s(&["posts_view"])), None);
        assert_eq!(names(deps(&sc, &s(&["nothing"]))), Some(vec![]));
    }

    fn hashes(global: &str, rels: &[(&str, &str)]) -> Hashes {
        Hashes {
            global: global.into(),
            relations: rels
                .iter()
                .map(|(n, h)| (("public".to_string(), n.to_string()), h.to_string()))
                .collect(),
        }
    }

    #[test]
    fn unchanged_needs_every_hash_as_it_was() {
        let then = hashes("g", &[("posts", "1"), ("users", "2"), ("other", "3")]);
        let strings = s(&["posts"]);
        let deps = vec![
            ("public".to_string(), "posts".to_string()),
            ("public".to_string(), "users".to_string()),
        ];
        let now = hashes("g", &[("posts", "1"), ("users", "2")]);
        assert!(unchanged(&then, &strings, &deps, &now));
        // a changed dependency
        let now2 = hashes("g", &[("posts", "1"), ("users", "9")]);
        assert!(!unchanged(&then, &strings, &deps, &now2));
        // a changed function, type, enum...
        let now3 = hashes("h", &[("posts", "1"), ("users", "2")]);
        assert!(!unchanged(&then, &strings, &deps, &now3));
        // a dropped (or renamed) dependency
        let now4 = hashes("g", &[("posts", "1")]);
        assert!(!unchanged(&then, &strings, &deps, &now4));
        // a new relation whose name occurs in the request (e.g. posts_v2 in another schema)
        let mut now5 = now.clone();
        now5.relations
            .insert(("api".into(), "posts".into()), "7".into());
        assert!(!unchanged(&then, &strings, &deps, &now5));
        // a named relation of another schema that is gone
        let then6 = {
            let mut t = then.clone();
            t.relations
                .insert(("api".into(), "posts".into()), "7".into());
            t
        };
        assert!(!unchanged(&then6, &strings, &deps, &now));
    }

    #[test]
    fn hashes_parse() {
        let h = Hashes::from_json(
            r#"{"global": "3/4", "relations": [["public", "a", "1/2"], ["api", "b", "5/6"]]}"#,
        )
        .unwrap();
        assert_eq!(h.global, "3/4");
        assert_eq!(h.relations[&("api".to_string(), "b".to_string())], "5/6");
    }
}
