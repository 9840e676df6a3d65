//! Embedding: finding the relationship between two relations (foreign keys, foreign keys seen
//! through views, junction tables), with PostgREST's disambiguation rules and errors.

use crate::error::ApiError;
use crate::schema_cache::model::{ComputedRelationship, ForeignKey, Table};
use crate::schema_cache::SchemaCache;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    ManyToOne,
    OneToMany,
    OneToOne,
    ManyToMany,
}

impl Cardinality {
    pub fn is_to_one(self) -> bool {
        matches!(self, Cardinality::ManyToOne | Cardinality::OneToOne)
    }
    fn label(self) -> &'static str {
        match self {
            Cardinality::ManyToOne => "many-to-one",
            Cardinality::OneToMany => "one-to-many",
            Cardinality::OneToOne => "one-to-one",
            Cardinality::ManyToMany => "many-to-many",
        }
    }
}

/// A junction table and its two foreign keys (to the source and to the target).
#[derive(Debug, Clone)]
pub struct Junction<'a> {
    pub table: &'a Table,
    pub fk_source: &'a ForeignKey,
    pub fk_target: &'a ForeignKey,
}

impl Junction<'_> {
    /// (source column, junction column) pairs
    pub fn source_pairs(&self) -> Vec<(String, String)> {
        pairs(&self.fk_source.ref_columns, &self.fk_source.columns)
    }
    /// (junction column, target column) pairs
    pub fn target_pairs(&self) -> Vec<(String, String)> {
        pairs(&self.fk_target.columns, &self.fk_target.ref_columns)
    }
}

#[derive(Debug, Clone)]
pub struct Relationship<'a> {
    pub cardinality: Cardinality,
    pub source: &'a Table,
    pub target: &'a Table,
    /// the foreign key (for many-to-many: none, see `junction`)
    pub fk: Option<&'a ForeignKey>,
    /// (source column, target column) pairs of a direct relationship
    pub columns: Vec<(String, String)>,
    pub junction: Option<Junction<'a>>,
    /// a computed relationship: the function returning the target rows for a source row
    pub function: Option<&'a ComputedRelationship>,
}

impl Relationship<'_> {
    fn is_self(&self) -> bool {
        same(self.source, self.target)
    }
    fn constraint(&self) -> Option<&str> {
        self.fk.map(|f| f.name.as_str())
    }
    fn single_col(&self) -> Option<&str> {
        match self.columns.as_slice() {
            [(c, _)] if self.junction.is_none() => Some(c),
            _ => None,
        }
    }
    fn single_ref_col(&self) -> Option<&str> {
        match self.columns.as_slice() {
            [(_, c)] if self.junction.is_none() => Some(c),
            _ => None,
        }
    }
    fn describe(&self) -> serde_json::Value {
        let relationship = match &self.junction {
            Some(j) => format!(
                "{} using {}({}) and {}({})",
                j.table.name,
                j.fk_source.name,
                j.fk_source.columns.join(", "),
                j.fk_target.name,
                j.fk_target.columns.join(", ")
            ),
            None => format!(
                "{} using {}({}) and {}({})",
                self.constraint().unwrap_or_default(),
                self.source.name,
                self.columns
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.target.name,
                self.columns
                    .iter()
                    .map(|(_, b)| b.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        json!({
            "cardinality": self.cardinality.label(),
            "embedding": format!("{} with {}", self.source.name, self.target.name),
            "relationship": relationship,
        })
    }
    fn hint_name(&self) -> String {
        match &self.junction {
            Some(j) => j.table.name.clone(),
            None => self.constraint().unwrap_or_default().to_string(),
        }
    }
}

fn same(a: &Table, b: &Table) -> bool {
    a.schema == b.schema && a.name == b.name
}

fn pairs(a: &[String], b: &[String]) -> Vec<(String, String)> {
    a.iter().cloned().zip(b.iter().cloned()).collect()
}

/// Are these columns the primary key or a unique key of the table (so the side is "one")?
fn is_unique(table: &Table, cols: &[String]) -> bool {
    let eq = |key: &Vec<String>| {
        !key.is_empty() && key.len() == cols.len() && key.iter().all(|k| cols.contains(k))
    };
    eq(&table.pk) || table.uniques.iter().any(eq)
}

/// Are all these columns part of one key (primary or unique) of the table?
fn within_one_key(table: &Table, cols: &[&String]) -> bool {
    let covers = |key: &Vec<String>| !key.is_empty() && cols.iter().all(|c| key.contains(c));
    covers(&table.pk) || table.uniques.iter().any(covers)
}

/// Every relationship from `source` to relations of the same schema.
pub fn relationships_from<'a>(schema: &'a SchemaCache, source: &'a Table) -> Vec<Relationship<'a>> {
    let mut out = Vec::new();
    let in_schema = |s: &str, n: &str| {
        if s == source.schema {
            schema.table(s, n)
        } else {
            None
        }
    };
    for fk in &schema.foreign_keys {
        if fk.schema == source.schema && fk.table == source.name {
            if let Some(target) = in_schema(&fk.ref_schema, &fk.ref_table) {
                let card = if is_unique(source, &fk.columns) {
                    Cardinality::OneToOne
                } else {
                    Cardinality::ManyToOne
                };
                out.push(Relationship {
                    cardinality: card,
                    source,
                    target,
                    fk: Some(fk),
                    columns: pairs(&fk.columns, &fk.ref_columns),
                    junction: None,
                    function: None,
                });
            }
        }
        if fk.ref_schema == source.schema && fk.ref_table == source.name {
            if let Some(target) = in_schema(&fk.schema, &fk.table) {
                let card = if is_unique(target, &fk.columns) {
                    Cardinality::OneToOne
                } else {
                    Cardinality::OneToMany
                };
                out.push(Relationship {
                    cardinality: card,
                    source,
                    target,
                    fk: Some(fk),
                    columns: pairs(&fk.ref_columns, &fk.columns),
                    junction: None,
                    function: None,
                });
            }
        }
    }
    // many-to-many: a junction with a foreign key to the source and another to the target, both
    // inside one of its keys
    for fk_source in &schema.foreign_keys {
        if fk_source.ref_schema != source.schema || fk_source.ref_table != source.name {
            continue;
        }
        let Some(junction) = in_schema(&fk_source.schema, &fk_source.table) else {
            continue;
        };
        for fk_target in &schema.foreign_keys {
            if std::ptr::eq(fk_target, fk_source)
                || fk_target.schema != fk_source.schema
                || fk_target.table != fk_source.table
                || (fk_target.name == fk_source.name && fk_target.columns == fk_source.columns)
            {
                continue;
            }
            let Some(target) = in_schema(&fk_target.ref_schema, &fk_target.ref_table) else {
                continue;
            };
            let cols: Vec<&String> = fk_source
                .columns
                .iter()
                .chain(fk_target.columns.iter())
                .collect();
            if !within_one_key(junction, &cols) {
                continue;
            }
            out.push(Relationship {
                cardinality: Cardinality::ManyToMany,
                source,
                target,
                fk: None,
                columns: vec![],
                junction: Some(Junction {
                    table: junction,
                    fk_source,
                    fk_target,
                }),
                function: None,
            });
        }
    }
    for f in &schema.computed_relationships {
        if f.schema != source.schema || f.table != source.name {
            continue;
        }
        if let Some(target) = schema.table(&f.target_schema, &f.target_table) {
            out.push(Relationship {
                cardinality: if f.to_one {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                },
                source,
                target,
                fk: None,
                columns: vec![],
                junction: None,
                function: Some(f),
            });
        }
    }
    out
}

/// Finds the relationship `source?select=target!hint(...)` names (PostgREST's rules: by table
/// or view name, by foreign key constraint name, by foreign key column; a hint may be a
/// constraint, a column of either side or a junction table).
pub fn find<'a>(
    schema: &'a SchemaCache,
    source: &'a Table,
    target: &str,
    hint: Option<&str>,
) -> Result<Relationship<'a>, ApiError> {
    let all = relationships_from(schema, source);
    // a computed relationship is embedded by its function's name and wins over foreign keys
    if let Some(r) = all
        .iter()
        .find(|r| r.function.is_some_and(|f| f.function == target))
    {
        return Ok(r.clone());
    }
    let mut found: Vec<Relationship<'a>> = all
        .into_iter()
        .filter(|r| r.function.is_none())
        .filter(|r| {
            let by_name = r.target.name == target;
            let card = r.cardinality;
            if r.is_self() {
                match hint {
                    None => {
                        (by_name && card == Cardinality::OneToMany)
                            || (r.single_col() == Some(target) && card == Cardinality::ManyToOne)
                    }
                    Some(h) => {
                        by_name && card == Cardinality::OneToMany && r.single_ref_col() == Some(h)
                    }
                }
            } else {
                let to_view = r.target.is_view();
                match hint {
                    None => {
                        by_name
                            || (r.constraint() == Some(target) && !to_view)
                            || (r.single_col() == Some(target) && !to_view)
                    }
                    Some(h) => {
                        by_name
                            && (r.constraint() == Some(h)
                                || r.single_col() == Some(h)
                                || r.single_ref_col() == Some(h)
                                || r.junction.as_ref().is_some_and(|j| j.table.name == h))
                    }
                }
            }
        })
        .collect();
    match found.len() {
        0 => Err(ApiError::no_relationship(
            &source.name,
            target,
            hint,
            &source.schema,
        )),
        1 => Ok(found.remove(0)),
        _ => Err(ambiguous(&source.name, target, &found)),
    }
}

/// 300 PGRST201, with PostgREST's `details` array of candidates.
fn ambiguous(source: &str, target: &str, rels: &[Relationship]) -> ApiError {
    let options: Vec<String> = rels
        .iter()
        .map(|r| format!("'{target}!{}'", r.hint_name()))
        .collect();
    let details = rels.iter().map(|r| r.describe()).collect();
    ApiError::ambiguous_relationship(source, target, details, &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::mutate::tests::cache;

    fn find_in<'a>(
        sc: &'a SchemaCache,
        src: &str,
        target: &str,
        hint: Option<&str>,
    ) -> Result<Relationship<'a>, ApiError> {
        find(sc, sc.table("public", src).unwrap(), target, hint)
    }

    #[test]
    fn many_to_one_and_one_to_many() {
        let sc = cache();
        let r = find_in(&sc, "books", "authors", None).unwrap();
        assert_eq!(r.cardinality, Cardinality::ManyToOne);
        assert_eq!(r.columns, vec![("author_id".into(), "id".into())]);
        let r = find_in(&sc, "authors", "books", None).unwrap();
        assert_eq!(r.cardinality, Cardinality::OneToMany);
        assert_eq!(r.columns, vec![("id".into(), "author_id".into())]);
    }

    #[test]
    fn many_to_many_through_junction() {
        let sc = cache();
        let r = find_in(&sc, "books", "genres", None).unwrap();
        assert_eq!(r.cardinality, Cardinality::ManyToMany);
        assert_eq!(r.junction.as_ref().unwrap().table.name, "book_genres");
        let r = find_in(&sc, "genres", "books", Some("book_genres")).unwrap();
        assert_eq!(r.cardinality, Cardinality::ManyToMany);
    }

    #[test]
    fn by_column_constraint_and_views() {
        let sc = cache();
        let r = find_in(&sc, "books", "author_id", None).unwrap();
        assert_eq!(r.target.name, "authors");
        let r = find_in(&sc, "books", "books_publisher_id_fkey", None).unwrap();
        assert_eq!(r.target.name, "publishers");
        let r = find_in(&sc, "book_catalog", "authors", None).unwrap();
        assert_eq!(r.columns, vec![("author_id".into(), "id".into())]);
        let r = find_in(&sc, "authors", "book_catalog", None).unwrap();
        assert_eq!(r.cardinality, Cardinality::OneToMany);
        let r = find_in(&sc, "book_catalog", "reviews", None).unwrap();
        assert_eq!(r.columns, vec![("id".into(), "book_id".into())]);
    }

    #[test]
    fn self_references() {
        let sc = cache();
        let r = find_in(&sc, "librarians", "librarians", None).unwrap();
        assert_eq!(r.cardinality, Cardinality::OneToMany);
        let r = find_in(&sc, "librarians", "manager_id", None).unwrap();
        assert_eq!(r.cardinality, Cardinality::ManyToOne);
        let r = find_in(&sc, "librarians", "librarians", Some("manager_id")).unwrap();
        assert_eq!(r.cardinality, Cardinality::OneToMany);
    }

    #[test]
    fn computed_relationships_by_function_name() {
        let mut sc = cache();
        sc.computed_relationships.push(ComputedRelationship {
            schema: "public".into(),
            table: "authors".into(),
            function: "recent_books".into(),
            target_schema: "public".into(),
            target_table: "books".into(),
            to_one: false,
        });
        let r = find_in(&sc, "authors", "recent_books", None).unwrap();
        assert_eq!(r.cardinality, Cardinality::OneToMany);
        assert_eq!(r.target.name, "books");
        assert!(r.function.is_some());
        // the table name still finds the foreign key
        assert!(find_in(&sc, "authors", "books", None)
            .unwrap()
            .function
            .is_none());
    }

    #[test]
    fn ambiguity_and_missing() {
        let sc = cache();
        let e = find_in(&sc, "loans", "members", None).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (300, "PGRST201"));
        let body: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(body["details"].as_array().unwrap().len(), 2);
        assert_eq!(body["details"][0]["cardinality"], "many-to-one");
        assert!(body["hint"]
            .as_str()
            .unwrap()
            .contains("'members!borrower'"));
        let r = find_in(&sc, "loans", "members", Some("lender")).unwrap();
        assert_eq!(r.columns, vec![("lender_id".into(), "id".into())]);
        let e = find_in(&sc, "books", "nope", None).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST200"));
    }
}
