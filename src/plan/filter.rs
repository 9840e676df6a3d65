//! Filters and logic trees -> SQL boolean expressions over one relation's columns.
//!
//! Values are bind parameters cast to the column's type (`"id" = $1::integer`), so Postgres
//! reports bad values itself (22P02). An unknown column is referenced anyway (quoted), so
//! Postgres raises 42703 as it does for PostgREST.

use super::sql::{array_literal, ident, qualified, Params};
use crate::error::ApiError;
use crate::parse::ast::{
    Field, Filter, FtsOp, IsValue, JsonKey, JsonOp, LogicOp, LogicTree, Operation, Quantifier,
    SimpleOp,
};
use crate::schema_cache::model::Table;
use crate::schema_cache::SchemaCache;

/// The relation that fields and filters are written against.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub table: &'a Table,
    /// the relation's alias in the statement, already quoted
    pub qual: &'a str,
    /// with it, a name that is no column may be a computed column (`full_name(people)` used as
    /// `select=full_name`); without it, it is referenced as a column anyway
    pub schema: Option<&'a SchemaCache>,
}

impl Scope<'_> {
    /// A column reference (with its JSON path) as SQL, plus the SQL type of its value when
    /// known.
    pub fn field(&self, p: &mut Params, field: &Field) -> (String, Option<String>) {
        field_sql(p, self, field)
    }

    /// One filter as a boolean SQL expression.
    pub fn filter(&self, p: &mut Params, f: &Filter) -> Result<String, ApiError> {
        filter_sql(p, self, f)
    }

    /// A logic tree of filters as a boolean SQL expression.
    pub fn logic(&self, p: &mut Params, tree: &LogicTree) -> Result<String, ApiError> {
        logic_sql(p, tree, &mut |p, f| self.filter(p, f))
    }
}

fn field_sql(p: &mut Params, scope: &Scope, field: &Field) -> (String, Option<String>) {
    let Scope {
        table,
        qual,
        schema,
    } = *scope;
    let computed = || schema.and_then(|s| s.computed_column(table, &field.name));
    let (base, data_type) = match table.column(&field.name) {
        Some(c) => (
            format!("{qual}.{}", ident(&field.name)),
            Some(c.data_type.as_str()),
        ),
        None => match computed() {
            Some(f) => (
                format!("{}({qual})", qualified(&f.schema, &f.name)),
                Some(f.data_type.as_str()),
            ),
            // unknown: referenced anyway so that Postgres raises 42703
            None => (format!("{qual}.{}", ident(&field.name)), None),
        },
    };
    if field.json_path.is_empty() {
        return (base, data_type.map(String::from));
    }
    let col_type = data_type.unwrap_or("jsonb");
    let (mut expr, json_type) = match col_type {
        "json" => (base, "json"),
        "jsonb" => (base, "jsonb"),
        // composite and array columns: PostgREST goes through to_jsonb
        _ => (format!("pg_catalog.to_jsonb({base})"), "jsonb"),
    };
    let mut last_text = false;
    for op in &field.json_path {
        let (arrow, key) = match op {
            JsonOp::Arrow(k) => ("->", k),
            JsonOp::DoubleArrow(k) => ("->>", k),
        };
        last_text = matches!(op, JsonOp::DoubleArrow(_));
        let key_sql = match key {
            JsonKey::Key(k) => p.cast(k, "text"),
            JsonKey::Index(i) => p.cast(&i.to_string(), "integer"),
        };
        // Appended in place: re-formatting the whole expression per step is quadratic in the
        // path length.
        expr.push_str(arrow);
        expr.push_str(&key_sql);
    }
    let ty = if last_text { "text" } else { json_type };
    (format!("({expr})"), Some(ty.to_string()))
}

/// The output key PostgREST gives a field without alias: the column name, or the last key of
/// its JSON path.
pub fn default_key(field: &Field) -> String {
    field
        .json_path
        .iter()
        .rev()
        .find_map(|op| match op {
            JsonOp::Arrow(JsonKey::Key(k)) | JsonOp::DoubleArrow(JsonKey::Key(k)) => {
                Some(k.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| field.name.clone())
}

fn simple_operator(op: SimpleOp) -> &'static str {
    match op {
        SimpleOp::Eq => "=",
        SimpleOp::Neq => "<>",
        SimpleOp::Gt => ">",
        SimpleOp::Gte => ">=",
        SimpleOp::Lt => "<",
        SimpleOp::Lte => "<=",
        SimpleOp::Like => "LIKE",
        SimpleOp::Ilike => "ILIKE",
        SimpleOp::Match => "~",
        SimpleOp::Imatch => "~*",
        SimpleOp::Cs => "@>",
        SimpleOp::Cd => "<@",
        SimpleOp::Ov => "&&",
        SimpleOp::Sl => "<<",
        SimpleOp::Sr => ">>",
        SimpleOp::Nxr => "&<",
        SimpleOp::Nxl => "&>",
        SimpleOp::Adj => "-|-",
        SimpleOp::IsDistinct => "IS DISTINCT FROM",
    }
}

fn is_pattern(op: SimpleOp) -> bool {
    matches!(
        op,
        SimpleOp::Like | SimpleOp::Ilike | SimpleOp::Match | SimpleOp::Imatch
    )
}

fn cast_to(p: &mut Params, value: &str, ty: Option<&str>) -> String {
    match ty {
        Some(t) => p.cast(value, t),
        None => p.push(value),
    }
}

fn filter_sql(p: &mut Params, scope: &Scope, f: &Filter) -> Result<String, ApiError> {
    let (expr, ty) = field_sql(p, scope, &f.field);
    let ty = ty.as_deref();
    let cond = match &f.operation {
        Operation::Simple {
            op,
            quantifier,
            value,
            values,
        } => {
            let sql_op = simple_operator(*op);
            let pattern = is_pattern(*op);
            let fix = |v: &str| {
                if matches!(op, SimpleOp::Like | SimpleOp::Ilike) {
                    v.replace('*', "%")
                } else {
                    v.to_string()
                }
            };
            let elem_ty = if pattern { Some("text") } else { ty };
            match quantifier {
                None => {
                    let v = cast_to(p, &fix(value), elem_ty);
                    format!("{expr} {sql_op} {v}")
                }
                Some(q) => {
                    let vals: Vec<String> = values.iter().map(|v| fix(v)).collect();
                    let arr_ty = elem_ty.map(|t| format!("{t}[]"));
                    let v = cast_to(p, &array_literal(&vals), arr_ty.as_deref());
                    let qw = match q {
                        Quantifier::Any => "ANY",
                        Quantifier::All => "ALL",
                    };
                    format!("{expr} {sql_op} {qw}({v})")
                }
            }
        }
        Operation::In(values) => {
            let arr_ty = ty.map(|t| format!("{t}[]"));
            let v = cast_to(p, &array_literal(values), arr_ty.as_deref());
            format!("{expr} = ANY({v})")
        }
        Operation::Is(v) => {
            let w = match v {
                IsValue::Null => "NULL",
                IsValue::NotNull => "NOT NULL",
                IsValue::True => "TRUE",
                IsValue::False => "FALSE",
                IsValue::Unknown => "UNKNOWN",
            };
            format!("{expr} IS {w}")
        }
        Operation::Fts { op, config, value } => {
            let func = match op {
                FtsOp::Fts => "to_tsquery",
                FtsOp::Plfts => "plainto_tsquery",
                FtsOp::Phfts => "phraseto_tsquery",
                FtsOp::Wfts => "websearch_to_tsquery",
            };
            let cfg = config.as_ref().map(|c| p.cast(c, "regconfig"));
            let val = p.cast(value, "text");
            let query = match &cfg {
                Some(c) => format!("pg_catalog.{func}({c}, {val})"),
                None => format!("pg_catalog.{func}({val})"),
            };
            let doc = if ty == Some("tsvector") {
                expr
            } else {
                match &cfg {
                    Some(c) => format!("pg_catalog.to_tsvector({c}, {expr})"),
                    None => format!("pg_catalog.to_tsvector({expr})"),
                }
            };
            format!("{doc} @@ {query}")
        }
    };
    Ok(if f.negated {
        format!("NOT ({cond})")
    } else {
        cond
    })
}

/// A logic tree; `leaf` turns each filter into SQL (so callers can resolve embed null filters;
/// [`Scope::logic`] for plain filters).
pub fn logic_sql(
    p: &mut Params,
    tree: &LogicTree,
    leaf: &mut dyn FnMut(&mut Params, &Filter) -> Result<String, ApiError>,
) -> Result<String, ApiError> {
    match tree {
        LogicTree::Filter(f) => leaf(p, f),
        LogicTree::Expr {
            negated,
            op,
            children,
        } => {
            let joiner = match op {
                LogicOp::And => " AND ",
                LogicOp::Or => " OR ",
            };
            let parts = children
                .iter()
                .map(|c| logic_sql(p, c, leaf))
                .collect::<Result<Vec<_>, _>>()?;
            let inner = if parts.is_empty() {
                match op {
                    LogicOp::And => "TRUE".to_string(),
                    LogicOp::Or => "FALSE".to_string(),
                }
            } else {
                format!("({})", parts.join(joiner))
            };
            Ok(if *negated {
                format!("NOT {inner}")
            } else {
                inner
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::mutate::tests::cache;
    use crate::schema_cache::model::ComputedColumn;

    #[test]
    fn computed_columns_apply_the_function_to_the_row() {
        let mut sc = cache();
        sc.computed_columns.push(ComputedColumn {
            schema: "public".into(),
            table: "authors".into(),
            name: "display_name".into(),
            data_type: "text".into(),
        });
        let t = sc.table("public", "authors").unwrap();
        let mut p = Params::new();
        let mut scope = Scope {
            table: t,
            qual: "\"a\"",
            schema: Some(&sc),
        };
        let (e, ty) = scope.field(&mut p, &Field::col("display_name"));
        assert_eq!(e, "\"public\".\"display_name\"(\"a\")");
        assert_eq!(ty.as_deref(), Some("text"));
        scope.schema = None;
        let (e, ty) = scope.field(&mut p, &Field::col("display_name"));
        assert_eq!(e, "\"a\".\"display_name\"");
        assert_eq!(ty, None);
    }

    fn books() -> Table {
        let sc = cache();
        sc.table("public", "books").unwrap().clone()
    }

    /// `books` as `"b"`
    fn b(t: &Table) -> Scope<'_> {
        Scope {
            table: t,
            qual: "\"b\"",
            schema: None,
        }
    }

    fn simple(op: SimpleOp, v: &str) -> Operation {
        Operation::Simple {
            op,
            quantifier: None,
            value: v.into(),
            values: vec![],
        }
    }

    fn filt(name: &str, operation: Operation) -> Filter {
        Filter {
            field: Field::col(name),
            negated: false,
            operation,
        }
    }

    #[test]
    fn simple_filters_cast_to_the_column_type() {
        let t = books();
        let mut p = Params::new();
        let s = b(&t)
            .filter(&mut p, &filt("id", simple(SimpleOp::Eq, "5")))
            .unwrap();
        assert_eq!(s, "\"b\".\"id\" = $1::integer");
        let s = b(&t)
            .filter(&mut p, &filt("format", simple(SimpleOp::Neq, "ebook")))
            .unwrap();
        assert_eq!(s, "\"b\".\"format\" <> $2::public.book_format");
        let s = b(&t)
            .filter(&mut p, &filt("title", simple(SimpleOp::Like, "*Led*")))
            .unwrap();
        assert_eq!(s, "\"b\".\"title\" LIKE $3::text");
        assert_eq!(p.values[2].as_deref(), Some("%Led%"));
    }

    #[test]
    fn in_is_fts_and_negation() {
        let t = books();
        let mut p = Params::new();
        let mut f = filt("id", Operation::In(vec!["1".into(), "2".into()]));
        f.negated = true;
        let s = b(&t).filter(&mut p, &f).unwrap();
        assert_eq!(s, "NOT (\"b\".\"id\" = ANY($1::integer[]))");
        assert_eq!(p.values[0].as_deref(), Some("{\"1\",\"2\"}"));
        let s = b(&t)
            .filter(&mut p, &filt("in_stock", Operation::Is(IsValue::True)))
            .unwrap();
        assert_eq!(s, "\"b\".\"in_stock\" IS TRUE");
        let fts = Operation::Fts {
            op: FtsOp::Plfts,
            config: Some("english".into()),
            value: "a b".into(),
        };
        let s = b(&t).filter(&mut p, &filt("summary", fts)).unwrap();
        assert_eq!(
            s,
            "pg_catalog.to_tsvector($2::regconfig, \"b\".\"summary\") @@ pg_catalog.plainto_tsquery($2::regconfig, $3::text)"
        );
    }

    #[test]
    fn json_paths() {
        let t = books();
        let mut p = Params::new();
        let field = Field {
            name: "metadata".into(),
            json_path: vec![
                JsonOp::Arrow(JsonKey::Key("series".into())),
                JsonOp::DoubleArrow(JsonKey::Key("name".into())),
            ],
        };
        let (e, ty) = b(&t).field(&mut p, &field);
        assert_eq!(e, "(\"b\".\"metadata\"->$1::text->>$2::text)");
        assert_eq!(ty.as_deref(), Some("text"));
        assert_eq!(default_key(&field), "name");
        let tags = Field {
            name: "tags".into(),
            json_path: vec![JsonOp::Arrow(JsonKey::Index(0))],
        };
        let (e, ty) = b(&t).field(&mut p, &tags);
        assert_eq!(e, "(pg_catalog.to_jsonb(\"b\".\"tags\")->$3::integer)");
        assert_eq!(ty.as_deref(), Some("jsonb"));
        assert_eq!(default_key(&tags), "tags");
    }

    #[test]
    fn logic_trees() {
        let t = books();
        let mut p = Params::new();
        let tree = LogicTree::Expr {
            negated: true,
            op: LogicOp::Or,
            children: vec![
                LogicTree::Filter(filt("id", simple(SimpleOp::Lt, "2"))),
                LogicTree::Filter(filt("id", simple(SimpleOp::Gt, "8"))),
            ],
        };
        let s = b(&t).logic(&mut p, &tree).unwrap();
        assert_eq!(
            s,
            "NOT (\"b\".\"id\" < $1::integer OR \"b\".\"id\" > $2::integer)"
        );
    }
}
