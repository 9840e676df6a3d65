//! The schema cache as plain data (serde), so the planner can be tested without Postgres.

use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Column {
    pub name: String,
    /// `format_type(atttypid, NULL)` for pg_catalog types (`integer`, `text[]`), else
    /// `schema.name` (`public.book_format`, `public.book_format[]`): no typmod, and usable in a
    /// cast (`$1::<data_type>`) whatever the search_path.
    pub data_type: String,
    /// `integer`, `text`, `jsonb`, `ARRAY`, `USER-DEFINED`...: the type's category name as
    /// information_schema.columns.data_type reports it.
    #[serde(default)]
    pub nominal_type: String,
    pub nullable: bool,
    /// The default expression, if any.
    #[serde(default)]
    pub default: Option<String>,
    /// Stored generated or identity ALWAYS column (cannot be written).
    #[serde(default)]
    pub generated: bool,
    pub position: i32,
    /// `COMMENT ON COLUMN` (the OpenAPI description)
    #[serde(default)]
    pub description: Option<String>,
    /// `character(n)` / `character varying(n)`: n
    #[serde(default)]
    pub max_length: Option<i32>,
    /// an enum type's labels, in order
    #[serde(default)]
    pub r#enum: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// `r` table, `v` view, `m` materialized view, `f` foreign table, `p` partitioned table
    pub kind: String,
    #[serde(default)]
    pub insertable: bool,
    #[serde(default)]
    pub updatable: bool,
    #[serde(default)]
    pub deletable: bool,
    pub columns: Vec<Column>,
    /// Primary key column names, in key order (for views: inferred from the base table).
    #[serde(default)]
    pub pk: Vec<String>,
    /// Unique constraints (each a column list), primary key excluded.
    #[serde(default)]
    pub uniques: Vec<Vec<String>>,
    /// `COMMENT ON TABLE/VIEW` (the OpenAPI description)
    #[serde(default)]
    pub description: Option<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn is_view(&self) -> bool {
        self.kind == "v" || self.kind == "m"
    }
}

/// A foreign key, or a foreign key seen through views (`table` and/or `ref_table` is a view
/// whose columns map to the constrained columns of the base tables).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ForeignKey {
    /// constraint name
    pub name: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FunctionArg {
    /// empty for an unnamed argument
    pub name: String,
    pub data_type: String,
    pub has_default: bool,
    #[serde(default)]
    pub variadic: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub oid: u32,
    /// IN / INOUT / VARIADIC arguments, in order.
    pub args: Vec<FunctionArg>,
    /// OUT / INOUT / TABLE columns, in order (the result columns of `RETURNS TABLE (...)`).
    #[serde(default)]
    pub out_args: Vec<FunctionArg>,
    /// `format_type` of the return type.
    pub return_type: String,
    pub returns_set: bool,
    /// `Some((schema, name))` when the return type is the row type of a table or view.
    #[serde(default)]
    pub return_table: Option<(String, String)>,
    /// composite (row type, RETURNS TABLE, OUT params) results are objects
    pub returns_composite: bool,
    /// `i` immutable, `s` stable, `v` volatile
    pub volatility: String,
    /// `COMMENT ON FUNCTION` (the OpenAPI description)
    #[serde(default)]
    pub description: Option<String>,
}

/// A function of a relation's schema taking the relation's row as its only argument
/// (`full_name(people)`): usable like a column (`select=full_name`, filters, order).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ComputedColumn {
    pub schema: String,
    pub table: String,
    /// the function's name (also the column's)
    pub name: String,
    /// `format_type` of the result
    pub data_type: String,
}

/// A function taking a relation's row and returning rows of a relation (`books_of(authors)
/// RETURNS SETOF books`): an embeddable relationship named after the function.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ComputedRelationship {
    pub schema: String,
    pub table: String,
    pub function: String,
    pub target_schema: String,
    pub target_table: String,
    /// not set-returning, or `ROWS 1`
    pub to_one: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SchemaCache {
    pub(crate) tables: Vec<Table>,
    #[serde(default)]
    pub(crate) foreign_keys: Vec<ForeignKey>,
    #[serde(default)]
    pub(crate) functions: Vec<Function>,
    #[serde(default)]
    pub(crate) computed_columns: Vec<ComputedColumn>,
    #[serde(default)]
    pub(crate) computed_relationships: Vec<ComputedRelationship>,
    /// The schema of the `postgis` extension, when installed (`application/geo+json` calls its
    /// `ST_AsGeoJSON(record)`, schema-qualified: it need not be on the search_path).
    #[serde(default)]
    pub(crate) postgis_schema: Option<String>,
    #[serde(skip)]
    index: HashMap<(String, String), usize>,
}

/// The names a request may use, by kind, each sorted and without duplicates (for request
/// generators such as the `plan_grammar` fuzz target).
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub tables: Vec<String>,
    pub columns: Vec<String>,
    /// embedding hints: foreign key names and their column lists (`a,b`)
    pub hints: Vec<String>,
    pub functions: Vec<String>,
    pub args: Vec<String>,
}

impl SchemaCache {
    /// Every table, column, hint, function and argument name of the cache.
    pub fn names(&self) -> Names {
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v.dedup();
            v
        };
        Names {
            tables: sorted(self.tables.iter().map(|t| t.name.clone()).collect()),
            columns: sorted(
                self.tables
                    .iter()
                    .flat_map(|t| t.columns.iter().map(|c| c.name.clone()))
                    .collect(),
            ),
            hints: sorted(
                self.foreign_keys
                    .iter()
                    .flat_map(|f| [f.name.clone(), f.columns.join(",")])
                    .collect(),
            ),
            functions: sorted(self.functions.iter().map(|f| f.name.clone()).collect()),
            args: sorted(
                self.functions
                    .iter()
                    .flat_map(|f| f.args.iter().map(|a| a.name.clone()))
                    .collect(),
            ),
        }
    }

    /// Parses the introspection query's JSON output and indexes it.
    pub fn from_json(json: &str) -> Result<SchemaCache, serde_json::Error> {
        let mut sc: SchemaCache = serde_json::from_str(json)?;
        sc.build_index();
        Ok(sc)
    }

    pub(crate) fn build_index(&mut self) {
        self.index = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.schema.clone(), t.name.clone()), i))
            .collect();
    }

    pub(crate) fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.index
            .get(&(schema.to_string(), name.to_string()))
            .map(|&i| &self.tables[i])
    }

    pub(crate) fn computed_column(&self, table: &Table, name: &str) -> Option<&ComputedColumn> {
        self.computed_columns
            .iter()
            .find(|c| c.schema == table.schema && c.table == table.name && c.name == name)
    }

    pub(crate) fn functions_named<'a>(
        &'a self,
        schema: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Function> + 'a {
        self.functions
            .iter()
            .filter(move |f| f.schema == schema && f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("testdata/conformance.json");

    #[test]
    fn deserializes_the_introspection_output() {
        let sc = SchemaCache::from_json(SAMPLE).expect("valid schema cache json");
        let books = sc.table("public", "books").expect("books");
        assert_eq!(books.kind, "r");
        assert_eq!(books.pk, vec!["id"]);
        assert_eq!(books.uniques, vec![vec!["isbn".to_string()]]);
        let format = books.column("format").expect("format column");
        assert_eq!(format.data_type, "public.book_format");
        assert_eq!(
            books.column("tags").map(|c| c.data_type.as_str()),
            Some("text[]")
        );
        assert!(sc.table("v2", "projects").is_some());
        let view = sc.table("public", "book_catalog").expect("view");
        assert!(view.is_view());
        assert_eq!(
            view.pk,
            vec!["id"],
            "view keys are inferred from the base table"
        );
    }

    #[test]
    fn foreign_keys_include_view_relationships() {
        let sc = SchemaCache::from_json(SAMPLE).unwrap();
        let through_view = sc.foreign_keys.iter().any(|fk| {
            fk.table == "book_catalog"
                && fk.ref_table == "authors"
                && fk.name == "books_author_id_fkey"
                && fk.columns == vec!["author_id"]
        });
        assert!(through_view);
        let to_view = sc
            .foreign_keys
            .iter()
            .any(|fk| fk.table == "reviews" && fk.ref_table == "book_catalog");
        assert!(to_view);
    }

    #[test]
    fn functions_have_args_and_return_shapes() {
        let sc = SchemaCache::from_json(SAMPLE).unwrap();
        let greet = sc.functions_named("public", "greet").next().unwrap();
        assert!(greet.args.iter().all(|a| a.has_default));
        let words = sc.functions_named("public", "join_words").next().unwrap();
        assert!(words.args[0].variadic);
        assert_eq!(words.args[0].data_type, "text[]");
        let tasks = sc.functions_named("public", "all_tasks").next().unwrap();
        assert!(tasks.returns_set && tasks.returns_composite);
        assert_eq!(
            tasks.return_table,
            Some(("public".to_string(), "tasks".to_string()))
        );
        let stats = sc
            .functions_named("public", "project_stats")
            .next()
            .unwrap();
        assert!(stats.returns_composite);
        assert_eq!(stats.out_args.len(), 3);
        assert_eq!(sc.functions_named("public", "area").count(), 2);
    }
}
