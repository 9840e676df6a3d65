//! GET/HEAD on tables and views, and the read-body builder shared with the mutation and RPC
//! planners (`return=representation`, set-returning functions).
//!
//! Shape (like PostgREST): the root rows are a `SELECT` over the source whose select list holds
//! the requested columns and, per embed, the output of a `LEFT JOIN LATERAL` subquery:
//! to-one embeds give `row_to_json` of the child row (or NULL), to-many embeds give a
//! `json_agg` of the child rows. `!inner` and `rel=not.is.null` keep only parents whose lateral
//! found rows. Postgres builds the whole body (`json_agg`, CSV text).

use super::filter::{default_key, logic_sql, Scope};
use super::relationships::{self, Relationship};
use super::result_row::ResultRow;
use super::sql::{checked_cast_type, ident, qualified, Params};
use super::{Estimate, EstimateKind, Statement};
use crate::api_request::{ApiRequest, CountPref, MediaType};
use crate::error::ApiError;
use crate::parse::ast::{
    at_path, Aggregate, EmbedPath, Field, Filter, IsValue, JoinType, NullsOrder, Operation,
    OrderDirection, OrderTerm, QueryParams, SelectItem,
};
use crate::schema_cache::model::Table;
use crate::schema_cache::SchemaCache;
use crate::settings::Settings;

/// Which parts of the query string apply to the root rows of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RootOptions {
    /// apply the root filters and logic trees (`id=eq.1`, `or=(...)`): true for RPC rows,
    /// false for mutation results (the mutation already filtered them)
    pub filters: bool,
    /// `LIMIT`/`OFFSET` for the root rows: `(offset, limit)`
    pub page: Option<(i64, Option<i64>)>,
}

/// The rows a response body is built from, and how: the context of [`ReadBody::body_sql`] and
/// [`ReadBody::count_sql`] (mutation results and RPC results share the read builder).
#[derive(Debug, Clone, Copy)]
pub struct ReadBody<'a> {
    pub schema: &'a SchemaCache,
    /// the relation whose columns the rows of `source` have
    pub table: &'a Table,
    /// a FROM item with the rows (e.g. the CTE name `pgrst_source` holding
    /// `INSERT ... RETURNING *`, or `"public"."tasks"`), aliased to the table's name inside
    pub source: &'a str,
    pub query: &'a QueryParams,
    pub accept: MediaType,
    pub root: RootOptions,
    /// `db_aggregates_enabled` (PostgREST allows aggregates in RPC results, not in mutation
    /// results)
    pub aggregates_enabled: bool,
    /// `db_max_rows`, which also caps every embedded to-many resource
    pub max_rows: Option<i64>,
}

impl<'a> ReadBody<'a> {
    /// A body without aggregates or a row cap, root filters and paging off.
    pub fn new(
        schema: &'a SchemaCache,
        table: &'a Table,
        source: &'a str,
        query: &'a QueryParams,
        accept: MediaType,
    ) -> ReadBody<'a> {
        ReadBody {
            schema,
            table,
            source,
            query,
            accept,
            root: RootOptions::default(),
            aggregates_enabled: false,
            max_rows: None,
        }
    }

    /// `SELECT <page_total>, <body> FROM (...)`: a query yielding exactly one row with two
    /// columns, `page_total bigint` and `body text`, built from the rows of `source`.
    ///
    /// Applies `query.select` (columns, aliases, casts, JSON paths, embeds through foreign keys
    /// of `table`, spreads), embedded filters/order/limit (`rel.col=...`), the root `order`, and
    /// the root filters and paging as `root` says. `accept` picks the body: JSON array, single
    /// object, nulls-stripped variants, CSV; `TextPlain`/`OctetStream` give 406 PGRST107.
    /// Values go into `p` as bind parameters: use the same `Params` for the whole statement.
    pub fn body_sql(&self, p: &mut Params) -> Result<String, ApiError> {
        let mut b = Builder::new(p, self.schema, self.query, self.aggregates_enabled);
        b.max_rows = self.max_rows;
        let tree = b.tree(self.table)?;
        let rows = b.root_rows(&tree, self.source, self.root, false)?;
        body_sql(b.p, self.schema, &tree, &rows, self.accept)
    }

    /// `SELECT pg_catalog.count(*) FROM source WHERE <root filters>` (with the joins that
    /// inner embeds and embed null-filters need): the `total_result_set` for
    /// `Prefer: count=exact`.
    pub fn count_sql(&self, p: &mut Params) -> Result<String, ApiError> {
        let mut b = Builder::new(p, self.schema, self.query, true);
        let tree = b.tree(self.table)?;
        let rows = b.root_rows(
            &tree,
            self.source,
            RootOptions {
                filters: true,
                page: None,
            },
            true,
        )?;
        Ok(format!(
            "SELECT pg_catalog.count(*) FROM ({rows}) AS _pgrst_c"
        ))
    }
}

/// GET/HEAD `/name`.
pub(crate) fn plan_read(
    req: &ApiRequest,
    name: &str,
    schema: &SchemaCache,
    settings: &Settings,
) -> Result<Statement, ApiError> {
    let table = schema
        .table(&req.schema, name)
        .ok_or_else(|| ApiError::table_not_found(&req.schema, name))?;
    let page = req.page(settings.max_rows);
    let mut p = Params::new();
    let mut b = Builder::new(&mut p, schema, &req.query, settings.aggregates_enabled);
    b.max_rows = settings.max_rows;
    let tree = b.tree(table)?;
    let source = qualified(&table.schema, &table.name);
    let rows = b.root_rows(
        &tree,
        &source,
        RootOptions {
            filters: true,
            page,
        },
        false,
    )?;
    let counted = match req.prefer.count {
        Some(_) => Some(b.root_rows(
            &tree,
            &source,
            RootOptions {
                filters: true,
                page: None,
            },
            true,
        )?),
        None => None,
    };
    // PostgREST: planned = the planner's estimate alone; estimated = an exact count limited to
    // db_max_rows + 1 rows, replaced by the estimate when larger (see [`Estimate`])
    let (total, estimate) = match (req.prefer.count, counted) {
        (Some(CountPref::Exact), Some(c)) => (
            format!("(SELECT pg_catalog.count(*) FROM ({c}) AS _pgrst_c)"),
            None,
        ),
        (Some(CountPref::Planned), Some(c)) => (
            "NULL::bigint".to_string(),
            Some(Estimate {
                sql: c,
                kind: EstimateKind::Planned,
            }),
        ),
        (Some(CountPref::Estimated), Some(c)) => {
            let limit = settings
                .max_rows
                .map(|m| format!(" LIMIT {}", m.saturating_add(1)))
                .unwrap_or_default();
            (
                format!("(SELECT pg_catalog.count(*) FROM ({c}{limit}) AS _pgrst_c)"),
                Some(Estimate {
                    sql: c,
                    kind: EstimateKind::Estimated {
                        max_rows: settings.max_rows,
                    },
                }),
            )
        }
        _ => ("NULL::bigint".to_string(), None),
    };
    // one aggregate over the rows, as PostgREST's: its plan's top node is the Aggregate
    // (clients' explain tests look for it)
    let body = body_expr(&mut p, schema, &tree, req.accept)?;
    let row = ResultRow {
        total: Some(&total),
        page_total: "pg_catalog.count(*)",
        body: Some(&body),
        ..ResultRow::default()
    };
    let sql = format!("{} FROM ({rows}) AS _postgrest_t", row.select());
    Ok(Statement {
        sql,
        params: p.values,
        read_only: true,
        estimate,
        resolution_ignored: false,
        explain: None,
    })
}

// ---- the read tree ----------------------------------------------------------------------

struct Node<'a> {
    table: &'a Table,
    /// unquoted SQL alias of this relation
    alias: String,
    path: EmbedPath,
    /// the select items that are not embeds, in order, each with its position
    items: Vec<(usize, &'a SelectItem)>,
    embeds: Vec<Embed<'a>>,
    /// no select at all (`rel()`): the embed is only there for filtering
    empty: bool,
}

struct Embed<'a> {
    pos: usize,
    /// output key (alias or name); also the embed path element
    key: String,
    rel: Relationship<'a>,
    inner: bool,
    spread: bool,
    node: Node<'a>,
    /// unquoted alias of the lateral subquery
    lateral: String,
}

impl Embed<'_> {
    fn to_one(&self) -> bool {
        self.rel.cardinality.is_to_one()
    }
    /// does the embed produce output (a key, or spread columns)?
    fn visible(&self) -> bool {
        !self.node.empty || self.node.embeds.iter().any(|e| e.visible())
    }
}

/// One output column of a node's select list.
struct OutCol {
    expr: String,
    key: String,
    aggregate: bool,
    /// a json value built by an embed (json has no equality: grouped as jsonb)
    json: bool,
}

struct Builder<'q, 'a> {
    p: &'q mut Params,
    schema: &'a SchemaCache,
    query: &'a QueryParams,
    aggregates_enabled: bool,
    /// `db_max_rows`: also caps every embedded to-many resource (as PostgREST)
    max_rows: Option<i64>,
    counter: usize,
    root_alias: String,
}

impl<'q, 'a> Builder<'q, 'a> {
    fn new(
        p: &'q mut Params,
        schema: &'a SchemaCache,
        query: &'a QueryParams,
        aggregates_enabled: bool,
    ) -> Builder<'q, 'a> {
        Builder {
            p,
            schema,
            query,
            aggregates_enabled,
            max_rows: None,
            counter: 0,
            root_alias: String::new(),
        }
    }

    /// Columns of `table` as `qual`, computed columns included.
    fn scope<'s>(&self, table: &'s Table, qual: &'s str) -> Scope<'s>
    where
        'a: 's,
    {
        Scope {
            table,
            qual,
            schema: Some(self.schema),
        }
    }

    fn tree(&mut self, table: &'a Table) -> Result<Node<'a>, ApiError> {
        self.root_alias = table.name.clone();
        let node = self.node(table, table.name.clone(), vec![], &self.query.select, false)?;
        self.check_paths(&node)?;
        Ok(node)
    }

    fn node(
        &mut self,
        table: &'a Table,
        alias: String,
        path: EmbedPath,
        select: &'a [SelectItem],
        is_embed: bool,
    ) -> Result<Node<'a>, ApiError> {
        static STAR: SelectItem = SelectItem::Star;
        let mut node = Node {
            table,
            alias,
            path,
            items: vec![],
            embeds: vec![],
            empty: is_embed && select.is_empty(),
        };
        if select.is_empty() && !is_embed {
            node.items.push((0, &STAR));
            return Ok(node);
        }
        for (pos, item) in select.iter().enumerate() {
            match item {
                SelectItem::Embed {
                    name,
                    alias,
                    hint,
                    join,
                    spread,
                    select,
                } => {
                    let rel = relationships::find(self.schema, table, name, hint.as_deref())?;
                    let key = alias.clone().unwrap_or_else(|| name.clone());
                    self.counter += 1;
                    let n = self.counter;
                    // the root is aliased by its bare name: a child must not shadow it
                    let mut child_alias = format!("{}_{n}", rel.target.name);
                    if child_alias == self.root_alias {
                        child_alias = format!("pgrst_{n}");
                    }
                    let mut child_path = node.path.clone();
                    child_path.push(key.clone());
                    let child = self.node(rel.target, child_alias, child_path, select, true)?;
                    node.embeds.push(Embed {
                        pos,
                        key,
                        rel,
                        inner: *join == Some(JoinType::Inner),
                        spread: *spread,
                        node: child,
                        lateral: format!("pgrst_lat_{n}"),
                    });
                }
                SelectItem::Field { aggregate, .. } => {
                    if aggregate.is_some() && !self.aggregates_enabled {
                        return Err(ApiError::aggregates_not_allowed());
                    }
                    node.items.push((pos, item));
                }
                SelectItem::Star => node.items.push((pos, item)),
            }
        }
        Ok(node)
    }

    /// Every embed path named by a filter, order, limit or offset must be an embed.
    fn check_paths(&self, root: &Node) -> Result<(), ApiError> {
        let q = self.query;
        let paths = q
            .filters
            .iter()
            .map(|(p, _)| p)
            .chain(q.logic.iter().map(|(p, _)| p))
            .chain(q.order.iter().map(|(p, _)| p))
            .chain(q.limit.iter().map(|(p, _)| p))
            .chain(q.offset.iter().map(|(p, _)| p));
        for path in paths {
            if find_node(root, path).is_none() {
                let name = path.last().cloned().unwrap_or_default();
                return Err(ApiError::not_embedded(&name));
            }
        }
        Ok(())
    }

    // ---- SQL --------------------------------------------------------------------------

    /// The root rows: `SELECT <cols> FROM source AS "t" <laterals> WHERE ... ORDER BY ...
    /// LIMIT/OFFSET`. With `count_only`, only what filters rows (no output, no order).
    fn root_rows(
        &mut self,
        node: &Node<'a>,
        source: &str,
        root: RootOptions,
        count_only: bool,
    ) -> Result<String, ApiError> {
        let from = format!("{source} AS {}", ident(&node.alias));
        let parts = self.node_parts(node, root.filters, count_only, false)?;
        let mut sql = parts.select_from(&from, &[], count_only);
        if !count_only {
            if let Some((offset, limit)) = root.page {
                if let Some(l) = limit {
                    sql.push_str(&format!(" LIMIT {l}"));
                }
                if offset > 0 {
                    sql.push_str(&format!(" OFFSET {offset}"));
                }
            }
        }
        Ok(sql)
    }

    /// Select list, laterals, conditions and order of one node. With `hoist` (a to-one spread)
    /// the node's aggregates are left to the parent: it selects their plain arguments.
    fn node_parts(
        &mut self,
        node: &Node<'a>,
        apply_filters: bool,
        count_only: bool,
        hoist: bool,
    ) -> Result<Parts, ApiError> {
        let q = ident(&node.alias);
        let mut parts = Parts::default();

        // order terms first: related orders add hidden columns to to-one laterals
        let mut hidden: Vec<Vec<(String, Field)>> = vec![vec![]; node.embeds.len()];
        // related orders must be grouped too when the node aggregates
        let mut related_order: Vec<String> = vec![];
        if !count_only {
            for term in at_path(&self.query.order, &node.path).flatten() {
                let expr = match &term.relation {
                    None => self.scope(node.table, &q).field(self.p, &term.field).0,
                    Some(rel) => {
                        let (i, e) = node
                            .embeds
                            .iter()
                            .enumerate()
                            .find(|(_, e)| &e.key == rel)
                            .ok_or_else(|| ApiError::not_embedded(rel))?;
                        if !e.to_one() {
                            return Err(ApiError::related_order_not_to_one(&node.table.name, rel));
                        }
                        let name = format!("pgrst_o_{}", hidden[i].len() + 1);
                        hidden[i].push((name.clone(), term.field.clone()));
                        let expr = format!("{}.{}", ident(&e.lateral), ident(&name));
                        related_order.push(expr.clone());
                        expr
                    }
                };
                parts.order.push(order_sql(expr, term));
            }
        }

        // own columns and embeds, in select order
        let mut out: Vec<(usize, Vec<OutCol>)> = vec![];
        if !count_only {
            for (pos, item) in &node.items {
                out.push((*pos, vec![self.item_sql(node, &q, item, hoist)?]));
            }
        }

        // filters
        let mut null_filters: Vec<(usize, bool)> = vec![];
        if apply_filters {
            let scope = self.scope(node.table, &q);
            // one filter, top-level or inside a logic tree: an embed null test or a column test
            let mut filter_cond = |p: &mut Params, f: &Filter| match embed_null_filter(node, f) {
                Some((i, is_null)) => Ok(exists_cond(&node.embeds[i].lateral, is_null)),
                None => scope.filter(p, f),
            };
            for f in at_path(&self.query.filters, &node.path) {
                null_filters.extend(embed_null_filter(node, f));
                parts.conds.push(filter_cond(self.p, f)?);
            }
            for t in at_path(&self.query.logic, &node.path) {
                parts.conds.push(logic_sql(self.p, t, &mut filter_cond)?);
            }
        }

        for (i, e) in node.embeds.iter().enumerate() {
            let filtering = e.inner || null_filters.iter().any(|(j, _)| *j == i);
            if count_only && !filtering {
                continue;
            }
            let lateral = self.lateral_sql(node, e, &hidden[i], count_only)?;
            parts.joins.push(format!(
                "LEFT JOIN LATERAL ({lateral}) AS {} ON TRUE",
                ident(&e.lateral)
            ));
            if e.inner {
                parts.conds.push(exists_cond(&e.lateral, false));
            }
            if !count_only && e.visible() {
                out.push((e.pos, self.embed_out_cols(e)?));
            }
        }

        out.sort_by_key(|(pos, _)| *pos);
        parts.cols = out.into_iter().flat_map(|(_, c)| c).collect();
        if parts.cols.iter().any(|c| c.aggregate) {
            for c in parts.cols.iter_mut().filter(|c| c.json) {
                c.expr = format!("({})::jsonb", c.expr);
            }
            parts.group_by = parts
                .cols
                .iter()
                .filter(|c| !c.aggregate)
                .map(|c| c.expr.clone())
                .collect();
            parts.group_by.extend(related_order);
        }
        Ok(parts)
    }

    fn item_sql(
        &mut self,
        node: &Node<'a>,
        q: &str,
        item: &SelectItem,
        hoist: bool,
    ) -> Result<OutCol, ApiError> {
        match item {
            SelectItem::Star => Ok(OutCol {
                expr: format!("{q}.*"),
                key: String::new(),
                aggregate: false,
                json: false,
            }),
            SelectItem::Field {
                field,
                alias,
                cast,
                aggregate,
                aggregate_cast,
            } => {
                let mut expr = if field.name.is_empty() {
                    String::new()
                } else {
                    self.scope(node.table, q).field(self.p, field).0
                };
                if let Some(c) = cast {
                    expr = format!("CAST({expr} AS {})", checked_cast_type(c)?);
                }
                let mut key = alias.clone().unwrap_or_else(|| default_key(field));
                if hoist && aggregate.is_some() {
                    // the parent applies the aggregate (see `hoisted_aggregates`)
                    return Ok(OutCol {
                        expr: if expr.is_empty() {
                            "TRUE".to_string()
                        } else {
                            expr
                        },
                        key: hoisted_key(field, alias.as_deref(), *aggregate),
                        aggregate: false,
                        json: false,
                    });
                }
                if let Some(agg) = aggregate {
                    let (f, name) = match agg {
                        Aggregate::Count => ("count", "count"),
                        Aggregate::Sum => ("sum", "sum"),
                        Aggregate::Avg => ("avg", "avg"),
                        Aggregate::Max => ("max", "max"),
                        Aggregate::Min => ("min", "min"),
                    };
                    let arg = if expr.is_empty() {
                        "*".to_string()
                    } else {
                        expr
                    };
                    expr = format!("pg_catalog.{f}({arg})");
                    if let Some(c) = aggregate_cast {
                        expr = format!("CAST({expr} AS {})", checked_cast_type(c)?);
                    }
                    if alias.is_none() {
                        key = name.to_string();
                    }
                }
                Ok(OutCol {
                    expr,
                    key,
                    aggregate: aggregate.is_some(),
                    json: false,
                })
            }
            SelectItem::Embed { .. } => Err(ApiError::internal("embed in item list")),
        }
    }

    /// The columns an embed adds to its parent's select list.
    fn embed_out_cols(&self, e: &Embed<'a>) -> Result<Vec<OutCol>, ApiError> {
        let lat = ident(&e.lateral);
        if e.spread {
            let hoisted = if e.to_one() {
                hoisted_aggregates(&e.node)
            } else {
                vec![]
            };
            output_keys(&e.node)
                .into_iter()
                .map(|k| {
                    let col = format!("{lat}.{}", ident(&k));
                    if let Some((_, f, cast)) = hoisted.iter().find(|(hk, _, _)| *hk == k) {
                        let mut expr = format!("pg_catalog.{f}({col})");
                        if let Some(c) = cast {
                            expr = format!("CAST({expr} AS {})", checked_cast_type(c)?);
                        }
                        return Ok(OutCol {
                            expr,
                            key: k,
                            aggregate: true,
                            json: false,
                        });
                    }
                    Ok(OutCol {
                        expr: if e.to_one() {
                            col
                        } else {
                            format!("coalesce({col}, '[]')")
                        },
                        key: k,
                        aggregate: false,
                        json: !e.to_one(),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        } else {
            let expr = if e.to_one() {
                format!("{lat}.\"body\"")
            } else {
                format!("coalesce({lat}.\"body\", '[]')")
            };
            Ok(vec![OutCol {
                expr,
                key: e.key.clone(),
                aggregate: false,
                json: true,
            }])
        }
    }

    /// The lateral subquery of one embed. It always has a boolean column `pgrst_e` (did it find
    /// rows: NULL/true for to-one, false/true for to-many), plus `body` (embed), or the spread
    /// columns, plus hidden `pgrst_o_n` columns for related orders.
    fn lateral_sql(
        &mut self,
        parent: &Node<'a>,
        e: &Embed<'a>,
        hidden: &[(String, Field)],
        count_only: bool,
    ) -> Result<String, ApiError> {
        let child = &e.node;
        let cq = ident(&child.alias);
        let pq = ident(&parent.alias);
        let target = qualified(&child.table.schema, &child.table.name);
        let mut from = format!("{target} AS {cq}");
        let mut join_conds: Vec<String> = vec![];
        if let Some(f) = e.rel.function {
            from = format!("{}({pq}) AS {cq}", qualified(&f.schema, &f.function));
        }
        match &e.rel.junction {
            None if e.rel.function.is_some() => {}
            None => {
                for (s, t) in &e.rel.columns {
                    join_conds.push(format!("{cq}.{} = {pq}.{}", ident(t), ident(s)));
                }
            }
            Some(j) => {
                let jq = ident(&format!("{}_j", child.alias));
                let on: Vec<String> = j
                    .target_pairs()
                    .iter()
                    .map(|(jc, tc)| format!("{jq}.{} = {cq}.{}", ident(jc), ident(tc)))
                    .collect();
                from.push_str(&format!(
                    " JOIN {} AS {jq} ON {}",
                    qualified(&j.table.schema, &j.table.name),
                    on.join(" AND ")
                ));
                for (sc, jc) in j.source_pairs() {
                    join_conds.push(format!("{jq}.{} = {pq}.{}", ident(&jc), ident(&sc)));
                }
            }
        }
        let needs_output = !count_only && e.visible();
        let parts = self.node_parts(child, true, !needs_output, e.spread && e.to_one())?;
        if e.to_one() {
            let mut cols: Vec<String> = vec!["TRUE AS \"pgrst_e\"".to_string()];
            if needs_output {
                if e.spread {
                    for c in &parts.cols {
                        // `*` (no key) names its columns itself: `"t".* AS ""` is a syntax error
                        if c.key.is_empty() {
                            cols.push(c.expr.clone());
                        } else {
                            cols.push(format!("{} AS {}", c.expr, ident(&c.key)));
                        }
                    }
                } else {
                    cols.push(format!(
                        "(SELECT pg_catalog.row_to_json(_pgrst_r) FROM (SELECT {}) AS _pgrst_r) AS \"body\"",
                        parts.select_list()
                    ));
                }
            }
            for (name, field) in hidden {
                let (expr, _) = self.scope(child.table, &cq).field(self.p, field);
                cols.push(format!("{expr} AS {}", ident(name)));
            }
            let mut sql = format!("SELECT {} FROM {from}", cols.join(", "));
            for j in &parts.joins {
                sql.push(' ');
                sql.push_str(j);
            }
            let conds: Vec<String> = join_conds.into_iter().chain(parts.conds.clone()).collect();
            if !conds.is_empty() {
                sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
            }
            if !parts.group_by.is_empty() {
                sql.push_str(&format!(" GROUP BY {}", parts.group_by.join(", ")));
            }
            Ok(sql)
        } else {
            let mut inner = parts.select_from(&from, &join_conds, !needs_output);
            let limit = at_path(&self.query.limit, &child.path).next().copied();
            let offset = at_path(&self.query.offset, &child.path).next().copied();
            let limit = match (limit, self.max_rows) {
                (Some(l), Some(m)) => Some(l.min(m)),
                (l, m) => l.or(m),
            };
            if let Some(l) = limit {
                inner.push_str(&format!(" LIMIT {l}"));
            }
            if let Some(o) = offset.filter(|o| *o > 0) {
                inner.push_str(&format!(" OFFSET {o}"));
            }
            let mut cols = vec!["pg_catalog.count(*) > 0 AS \"pgrst_e\"".to_string()];
            if needs_output {
                if e.spread {
                    for k in output_keys(child) {
                        cols.push(format!(
                            "pg_catalog.json_agg(_pgrst_r.{}) AS {}",
                            ident(&k),
                            ident(&k)
                        ));
                    }
                } else {
                    cols.push("pg_catalog.json_agg(_pgrst_r) AS \"body\"".to_string());
                }
            }
            Ok(format!(
                "SELECT {} FROM ({inner}) AS _pgrst_r",
                cols.join(", ")
            ))
        }
    }
}

#[derive(Default)]
struct Parts {
    cols: Vec<OutCol>,
    joins: Vec<String>,
    conds: Vec<String>,
    group_by: Vec<String>,
    order: Vec<String>,
}

impl Parts {
    fn select_list(&self) -> String {
        self.cols
            .iter()
            .map(|c| {
                if c.key.is_empty() {
                    c.expr.clone()
                } else {
                    format!("{} AS {}", c.expr, ident(&c.key))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn select_from(&self, from: &str, extra_conds: &[String], count_only: bool) -> String {
        let list = if count_only {
            "1".to_string()
        } else {
            self.select_list()
        };
        let mut sql = format!("SELECT {list} FROM {from}");
        for j in &self.joins {
            sql.push(' ');
            sql.push_str(j);
        }
        let conds: Vec<&String> = extra_conds.iter().chain(self.conds.iter()).collect();
        if !conds.is_empty() {
            let c: Vec<&str> = conds.iter().map(|s| s.as_str()).collect();
            sql.push_str(&format!(" WHERE {}", c.join(" AND ")));
        }
        if !self.group_by.is_empty() && !count_only {
            sql.push_str(&format!(" GROUP BY {}", self.group_by.join(", ")));
        }
        if !self.order.is_empty() && !count_only {
            sql.push_str(&format!(" ORDER BY {}", self.order.join(", ")));
        }
        sql
    }
}

fn aggregate_name(a: Aggregate) -> &'static str {
    match a {
        Aggregate::Count => "count",
        Aggregate::Sum => "sum",
        Aggregate::Avg => "avg",
        Aggregate::Max => "max",
        Aggregate::Min => "min",
    }
}

/// The output key of a select field: its alias, else the aggregate's name, else the column's.
fn hoisted_key(field: &Field, alias: Option<&str>, aggregate: Option<Aggregate>) -> String {
    match (alias, aggregate) {
        (Some(a), _) => a.to_string(),
        (None, Some(agg)) => aggregate_name(agg).to_string(),
        (None, None) => default_key(field),
    }
}

/// The aggregates of a to-one spread, applied by the parent over the spread's plain values (as
/// PostgREST hoists them): (output key, function, cast of the result).
fn hoisted_aggregates(node: &Node) -> Vec<(String, &'static str, Option<String>)> {
    node.items
        .iter()
        .filter_map(|(_, item)| match item {
            SelectItem::Field {
                field,
                alias,
                aggregate: Some(agg),
                aggregate_cast,
                ..
            } => Some((
                hoisted_key(field, alias.as_deref(), Some(*agg)),
                aggregate_name(*agg),
                aggregate_cast.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// `expr ASC|DESC NULLS FIRST|LAST`, as the term asks.
pub(super) fn order_sql(expr: String, term: &OrderTerm) -> String {
    let mut s = expr;
    match term.direction {
        Some(OrderDirection::Asc) => s.push_str(" ASC"),
        Some(OrderDirection::Desc) => s.push_str(" DESC"),
        None => {}
    }
    match term.nulls {
        Some(NullsOrder::First) => s.push_str(" NULLS FIRST"),
        Some(NullsOrder::Last) => s.push_str(" NULLS LAST"),
        None => {}
    }
    s
}

fn exists_cond(lateral: &str, is_null: bool) -> String {
    if is_null {
        format!("{}.\"pgrst_e\" IS NOT TRUE", ident(lateral))
    } else {
        format!("{}.\"pgrst_e\" IS TRUE", ident(lateral))
    }
}

/// `rel=is.null` / `rel=not.is.null` on an embed of this node: (embed index, is null).
fn embed_null_filter(node: &Node, f: &Filter) -> Option<(usize, bool)> {
    if !f.field.json_path.is_empty() {
        return None;
    }
    let i = node.embeds.iter().position(|e| e.key == f.field.name)?;
    let is_null = match (&f.operation, f.negated) {
        (Operation::Is(IsValue::Null), false) | (Operation::Is(IsValue::NotNull), true) => true,
        (Operation::Is(IsValue::Null), true) | (Operation::Is(IsValue::NotNull), false) => false,
        _ => return None,
    };
    Some((i, is_null))
}

fn find_node<'n, 'a>(node: &'n Node<'a>, path: &[String]) -> Option<&'n Node<'a>> {
    match path.split_first() {
        None => Some(node),
        Some((first, rest)) => node
            .embeds
            .iter()
            .find(|e| &e.key == first)
            .and_then(|e| find_node(&e.node, rest)),
    }
}

/// The output keys of a node, in order (`*` expands to the table's columns).
fn output_keys(node: &Node) -> Vec<String> {
    let mut keyed: Vec<(usize, Vec<String>)> = vec![];
    for (pos, item) in &node.items {
        let keys = match item {
            SelectItem::Star => node.table.columns.iter().map(|c| c.name.clone()).collect(),
            SelectItem::Field {
                field,
                alias,
                aggregate,
                ..
            } => vec![alias.clone().unwrap_or_else(|| match aggregate {
                Some(a) => format!("{a:?}").to_lowercase(),
                None => default_key(field),
            })],
            SelectItem::Embed { .. } => vec![],
        };
        keyed.push((*pos, keys));
    }
    for e in &node.embeds {
        if !e.visible() {
            continue;
        }
        let keys = if e.spread {
            output_keys(&e.node)
        } else {
            vec![e.key.clone()]
        };
        keyed.push((e.pos, keys));
    }
    keyed.sort_by_key(|(p, _)| *p);
    keyed.into_iter().flat_map(|(_, k)| k).collect()
}

/// `SELECT count(*) AS page_total, <body> AS body FROM (rows) _postgrest_t`.
/// The JSON body aggregated from the rows' `value`s: an array, or for a singular body the
/// first value (`null` without rows); `strip_nulls` drops null-valued object keys.
pub(super) fn json_body(value: &str, singular: bool, strip_nulls: bool) -> String {
    let agg = format!("pg_catalog.json_agg({value})");
    let (json, empty) = if singular {
        (format!("{agg}->0"), "null")
    } else {
        (agg, "[]")
    };
    let json = if strip_nulls {
        format!("pg_catalog.json_strip_nulls({json})")
    } else {
        json
    };
    format!("coalesce({json}, '{empty}')::text")
}

fn body_sql(
    p: &mut Params,
    schema: &SchemaCache,
    tree: &Node,
    rows: &str,
    accept: MediaType,
) -> Result<String, ApiError> {
    let body = body_expr(p, schema, tree, accept)?;
    Ok(format!(
        "SELECT pg_catalog.count(*) AS page_total, {body} AS body FROM ({rows}) AS _postgrest_t"
    ))
}

/// The body as an aggregate over the rows, aliased `_postgrest_t`, in the `accept` media type.
fn body_expr(
    p: &mut Params,
    schema: &SchemaCache,
    tree: &Node,
    accept: MediaType,
) -> Result<String, ApiError> {
    Ok(match accept {
        // PostgREST's FeatureCollection: each row a Feature, its geometry column the geometry
        // and the other columns the properties (PostGIS picks the first geometry column, and
        // raises 22023 "geometry column is missing" without one)
        MediaType::GeoJson => {
            let Some(postgis) = &schema.postgis_schema else {
                return Err(ApiError::media_type_error(&[accept.mime()]));
            };
            format!(
                "pg_catalog.json_build_object('type', 'FeatureCollection', 'features', \
                 coalesce(pg_catalog.json_agg({}.st_asgeojson(_postgrest_t)::json), '[]'))::text",
                ident(postgis)
            )
        }
        MediaType::Json
        | MediaType::SingleObject
        | MediaType::ArrayStripped
        | MediaType::SingleObjectStripped => {
            json_body("_postgrest_t", accept.is_singular(), accept.strips_nulls())
        }
        MediaType::Csv => {
            let header = p.cast(&output_keys(tree).join(","), "text");
            // like PostgREST, the header comes with the first row: no rows, no header
            format!(
                "CASE WHEN pg_catalog.count(*) = 0 THEN '' ELSE {header} END || pg_catalog.chr(10) || coalesce(pg_catalog.string_agg(\
                 pg_catalog.substr(_postgrest_t::text, 2, pg_catalog.length(_postgrest_t::text) - 2), \
                 pg_catalog.chr(10)), '')"
            )
        }
        MediaType::TextPlain | MediaType::OctetStream => {
            let name = if accept == MediaType::TextPlain {
                "text/plain"
            } else {
                "application/octet-stream"
            };
            return Err(ApiError::media_type_error(&[name]));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_request::{CountPref, Method, Resource};
    use crate::parse::ast::build::{col, embed};
    use crate::parse::ast::{JsonKey, JsonOp, SimpleOp};
    use crate::plan::mutate::tests::cache;

    fn req(name: &str, query: QueryParams) -> ApiRequest {
        ApiRequest {
            method: Method::Get,
            resource: Resource::Relation(name.into()),
            schema: "public".into(),
            query,
            ..ApiRequest::default()
        }
    }

    fn eq(name: &str, v: &str) -> Filter {
        Filter {
            field: Field::col(name),
            negated: false,
            operation: Operation::Simple {
                op: SimpleOp::Eq,
                quantifier: None,
                value: v.into(),
                values: vec![],
            },
        }
    }

    fn select(items: Vec<SelectItem>) -> QueryParams {
        QueryParams {
            has_select: true,
            select: items,
            ..QueryParams::default()
        }
    }

    fn plan_of(r: &ApiRequest) -> Result<Statement, ApiError> {
        let Resource::Relation(n) = &r.resource else {
            unreachable!()
        };
        plan_read(r, n, &cache(), &Settings::default())
    }

    #[test]
    fn plain_select_with_filter() {
        let mut q = select(vec![col("id"), col("title")]);
        q.filters.push((vec![], eq("id", "1")));
        let st = plan_of(&req("books", q)).unwrap();
        assert!(st.read_only);
        assert!(st.sql.contains(
            "SELECT \"books\".\"id\" AS \"id\", \"books\".\"title\" AS \"title\" FROM \"public\".\"books\" AS \"books\" WHERE \"books\".\"id\" = $1::integer"
        ));
        assert!(st
            .sql
            .starts_with("SELECT NULL::bigint AS total_result_set"));
        assert_eq!(st.params, vec![Some("1".to_string())]);
    }

    #[test]
    fn unknown_table_is_404() {
        let e = plan_of(&req("nope", QueryParams::default())).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (404, "PGRST205"));
    }

    #[test]
    fn to_one_and_to_many_embeds_are_laterals() {
        let q = select(vec![
            col("id"),
            embed("authors", vec![col("name")]),
            embed("reviews", vec![col("rating")]),
        ]);
        let sql = plan_of(&req("books", q)).unwrap().sql;
        assert!(sql.contains("LEFT JOIN LATERAL (SELECT TRUE AS \"pgrst_e\", (SELECT pg_catalog.row_to_json(_pgrst_r) FROM (SELECT \"authors_1\".\"name\" AS \"name\") AS _pgrst_r) AS \"body\" FROM \"public\".\"authors\" AS \"authors_1\" WHERE \"authors_1\".\"id\" = \"books\".\"author_id\") AS \"pgrst_lat_1\" ON TRUE"));
        assert!(sql.contains("pg_catalog.json_agg(_pgrst_r) AS \"body\" FROM (SELECT \"reviews_2\".\"rating\" AS \"rating\" FROM \"public\".\"reviews\" AS \"reviews_2\" WHERE \"reviews_2\".\"book_id\" = \"books\".\"id\")"));
        assert!(sql.contains("coalesce(\"pgrst_lat_2\".\"body\", '[]') AS \"reviews\""));
    }

    #[test]
    fn many_to_many_joins_the_junction() {
        let q = select(vec![col("id"), embed("genres", vec![col("name")])]);
        let sql = plan_of(&req("books", q)).unwrap().sql;
        assert!(sql.contains("FROM \"public\".\"genres\" AS \"genres_1\" JOIN \"public\".\"book_genres\" AS \"genres_1_j\" ON \"genres_1_j\".\"genre_id\" = \"genres_1\".\"id\" WHERE \"genres_1_j\".\"book_id\" = \"books\".\"id\""));
    }

    #[test]
    fn inner_and_null_filters_on_embeds() {
        let mut q = select(vec![
            col("id"),
            SelectItem::Embed {
                name: "publishers".into(),
                alias: None,
                hint: None,
                join: Some(JoinType::Inner),
                spread: false,
                select: vec![col("name")],
            },
            embed("reviews", vec![]),
        ]);
        q.filters.push((
            vec![],
            Filter {
                field: Field::col("reviews"),
                negated: false,
                operation: Operation::Is(IsValue::Null),
            },
        ));
        let sql = plan_of(&req("books", q)).unwrap().sql;
        assert!(sql.contains(
            "WHERE \"pgrst_lat_2\".\"pgrst_e\" IS NOT TRUE AND \"pgrst_lat_1\".\"pgrst_e\" IS TRUE"
        ));
        // the empty embed gives no output column
        assert!(!sql.contains("AS \"reviews\""));
    }

    #[test]
    fn ambiguous_embed_is_300() {
        let q = select(vec![
            SelectItem::Star,
            embed("members", vec![SelectItem::Star]),
        ]);
        let e = plan_of(&req("loans", q)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (300, "PGRST201"));
        let q = select(vec![embed("nothing_here", vec![])]);
        let e = plan_of(&req("loans", q)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST200"));
    }

    #[test]
    fn embedded_filter_order_limit() {
        let mut q = select(vec![col("id"), embed("books", vec![col("id")])]);
        q.filters
            .push((vec!["books".into()], eq("format", "ebook")));
        q.order.push((
            vec!["books".into()],
            vec![OrderTerm {
                relation: None,
                field: Field::col("id"),
                direction: Some(OrderDirection::Desc),
                nulls: Some(NullsOrder::Last),
            }],
        ));
        q.limit.push((vec!["books".into()], 2));
        let st = plan_of(&req("authors", q)).unwrap();
        assert!(st.sql.contains("WHERE \"books_1\".\"author_id\" = \"authors\".\"id\" AND \"books_1\".\"format\" = $1::public.book_format ORDER BY \"books_1\".\"id\" DESC NULLS LAST LIMIT 2"));
        let mut q = select(vec![col("id")]);
        q.filters.push((vec!["books".into()], eq("id", "1")));
        let e = plan_of(&req("authors", q)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST108"));
    }

    #[test]
    fn related_order_needs_a_to_one_embed() {
        let term = |rel: &str| OrderTerm {
            relation: Some(rel.into()),
            field: Field::col("name"),
            direction: None,
            nulls: None,
        };
        let mut q = select(vec![col("id"), embed("authors", vec![col("name")])]);
        q.order.push((vec![], vec![term("authors")]));
        let sql = plan_of(&req("books", q)).unwrap().sql;
        assert!(sql.contains("\"authors_1\".\"name\" AS \"pgrst_o_1\""));
        assert!(sql.contains("ORDER BY \"pgrst_lat_1\".\"pgrst_o_1\""));
        let mut q = select(vec![col("id"), embed("books", vec![col("id")])]);
        q.order.push((vec![], vec![term("books")]));
        let e = plan_of(&req("authors", q)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST118"));
    }

    #[test]
    fn paging_range_and_max_rows() {
        let mut q = select(vec![col("id")]);
        q.limit.push((vec![], 3));
        q.offset.push((vec![], 2));
        let mut r = req("items", q);
        let st = plan_of(&r).unwrap();
        assert!(st.sql.contains("LIMIT 3 OFFSET 2"));
        r.range = Some((0, Some(3)));
        assert!(plan_of(&r).unwrap().sql.contains("LIMIT 2 OFFSET 2"));
        let settings = Settings {
            max_rows: Some(1),
            ..Settings::default()
        };
        let st = plan_read(&r, "items", &cache(), &settings).unwrap();
        assert!(st.sql.contains("LIMIT 1 OFFSET 2"));
        // max_rows caps embedded to-many resources too
        let q = select(vec![col("id"), embed("books", vec![col("id")])]);
        let st = plan_read(&req("authors", q), "authors", &cache(), &settings).unwrap();
        assert!(st
            .sql
            .contains("\"books_1\".\"author_id\" = \"authors\".\"id\" LIMIT 1)"));
    }

    #[test]
    fn aggregates_of_a_to_one_spread_are_applied_by_the_parent() {
        let spread = SelectItem::Embed {
            name: "books".into(),
            alias: None,
            hint: None,
            join: None,
            spread: true,
            select: vec![
                col("format"),
                SelectItem::Field {
                    field: Field::col("pages"),
                    alias: None,
                    cast: None,
                    aggregate: Some(Aggregate::Max),
                    aggregate_cast: Some("text".into()),
                },
            ],
        };
        let q = select(vec![spread]);
        let settings = Settings {
            aggregates_enabled: true,
            ..Settings::default()
        };
        let sql = plan_read(&req("reviews", q), "reviews", &cache(), &settings)
            .unwrap()
            .sql;
        assert!(sql.contains("SELECT TRUE AS \"pgrst_e\", \"books_1\".\"format\" AS \"format\", \"books_1\".\"pages\" AS \"max\" FROM"));
        assert!(sql.contains("CAST(pg_catalog.max(\"pgrst_lat_1\".\"max\") AS text) AS \"max\""));
        assert!(sql.contains("GROUP BY \"pgrst_lat_1\".\"format\""));
    }

    #[test]
    fn a_star_in_a_to_one_spread_next_to_an_aggregate_selects_the_columns() {
        // postgrest-js: `users?select=username,messages(channels(count(),...channel_details(*)))`
        let spread = SelectItem::Embed {
            name: "books".into(),
            alias: None,
            hint: None,
            join: None,
            spread: true,
            select: vec![SelectItem::Star],
        };
        let count = SelectItem::Field {
            field: Field::col(""),
            alias: None,
            cast: None,
            aggregate: Some(Aggregate::Count),
            aggregate_cast: None,
        };
        let q = select(vec![count, spread]);
        let settings = Settings {
            aggregates_enabled: true,
            ..Settings::default()
        };
        let sql = plan_read(&req("reviews", q), "reviews", &cache(), &settings)
            .unwrap()
            .sql;
        assert!(sql.contains("SELECT TRUE AS \"pgrst_e\", \"books_1\".* FROM"));
        assert!(!sql.contains(" AS \"\""));
        assert!(sql.contains("GROUP BY \"pgrst_lat_1\".\"id\", \"pgrst_lat_1\".\"title\""));
    }

    #[test]
    fn geojson_needs_postgis() {
        let mut r = req("items", QueryParams::default());
        r.accept = MediaType::GeoJson;
        let e = plan_of(&r).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST107"));
        assert_eq!(
            e.message,
            "None of these media types are available: application/geo+json"
        );
        let mut sc = cache();
        sc.postgis_schema = Some("ext".into());
        let st = plan_read(&r, "items", &sc, &Settings::default()).unwrap();
        assert!(st.sql.contains("pg_catalog.json_build_object('type', 'FeatureCollection', 'features', coalesce(pg_catalog.json_agg(\"ext\".st_asgeojson(_postgrest_t)::json), '[]'))::text"));
    }

    #[test]
    fn count_and_media_types() {
        let mut r = req("items", QueryParams::default());
        r.prefer.count = Some(CountPref::Exact);
        let sql = plan_of(&r).unwrap().sql;
        assert!(sql.starts_with("SELECT (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM \"public\".\"items\" AS \"items\") AS _pgrst_c) AS total_result_set"));
        r.accept = MediaType::SingleObject;
        assert!(plan_of(&r)
            .unwrap()
            .sql
            .contains("coalesce(pg_catalog.json_agg(_postgrest_t)->0, 'null')::text"));
        r.accept = MediaType::Csv;
        let st = plan_of(&r).unwrap();
        assert!(st.sql.contains("pg_catalog.string_agg("));
        assert_eq!(st.params, vec![Some("id".to_string())]);
        r.accept = MediaType::TextPlain;
        assert_eq!(plan_of(&r).unwrap_err().code, "PGRST107");
    }

    #[test]
    fn planned_and_estimated_counts_carry_the_rows_to_explain() {
        let mut r = req("items", QueryParams::default());
        r.prefer.count = Some(CountPref::Planned);
        let st = plan_of(&r).unwrap();
        assert!(st
            .sql
            .starts_with("SELECT NULL::bigint AS total_result_set"));
        let est = st.estimate.unwrap();
        assert_eq!(est.sql, "SELECT 1 FROM \"public\".\"items\" AS \"items\"");
        assert_eq!(est.kind, EstimateKind::Planned);
        r.prefer.count = Some(CountPref::Estimated);
        let st = plan_of(&r).unwrap();
        assert_eq!(
            st.estimate.unwrap().kind,
            EstimateKind::Estimated { max_rows: None }
        );
        assert!(st.sql.starts_with("SELECT (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM \"public\".\"items\" AS \"items\") AS _pgrst_c)"));
        r.prefer.count = Some(CountPref::Exact);
        assert_eq!(plan_of(&r).unwrap().estimate, None);
    }

    #[test]
    fn json_paths_casts_and_aggregates() {
        let q = select(vec![SelectItem::Field {
            field: Field {
                name: "metadata".into(),
                json_path: vec![
                    JsonOp::Arrow(JsonKey::Key("series".into())),
                    JsonOp::DoubleArrow(JsonKey::Key("position".into())),
                ],
            },
            alias: None,
            cast: Some("integer".into()),
            aggregate: None,
            aggregate_cast: None,
        }]);
        let st = plan_of(&req("books", q)).unwrap();
        assert!(st.sql.contains(
            "CAST((\"books\".\"metadata\"->$1::text->>$2::text) AS integer) AS \"position\""
        ));
        let agg = select(vec![
            col("author_id"),
            SelectItem::Field {
                field: Field::col(""),
                alias: None,
                cast: None,
                aggregate: Some(Aggregate::Count),
                aggregate_cast: None,
            },
        ]);
        let e = plan_of(&req("books", agg.clone())).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST123"));
        let settings = Settings {
            aggregates_enabled: true,
            ..Settings::default()
        };
        let st = plan_read(&req("books", agg), "books", &cache(), &settings).unwrap();
        assert!(st.sql.contains("pg_catalog.count(*) AS \"count\" FROM \"public\".\"books\" AS \"books\" GROUP BY \"books\".\"author_id\""));
        let bad = select(vec![SelectItem::Field {
            field: Field::col("id"),
            alias: None,
            cast: Some("int) from x; --".into()),
            aggregate: None,
            aggregate_cast: None,
        }]);
        assert_eq!(plan_of(&req("books", bad)).unwrap_err().status, 400);
    }

    #[test]
    fn shared_builder_over_a_cte() {
        let sc = cache();
        let table = sc.table("public", "tasks").unwrap();
        let mut p = Params::new();
        let q = select(vec![col("id"), embed("projects", vec![col("name")])]);
        let sql = ReadBody::new(&sc, table, "pgrst_source", &q, MediaType::Json)
            .body_sql(&mut p)
            .unwrap();
        assert!(sql.starts_with("SELECT pg_catalog.count(*) AS page_total, coalesce(pg_catalog.json_agg(_postgrest_t), '[]')::text AS body FROM (SELECT \"tasks\".\"id\" AS \"id\""));
        assert!(sql.contains("FROM pgrst_source AS \"tasks\" LEFT JOIN LATERAL"));
        let mut q = select(vec![]);
        q.filters.push((vec![], eq("id", "1")));
        let count = ReadBody::new(&sc, table, "pgrst_source", &q, MediaType::Json)
            .count_sql(&mut p)
            .unwrap();
        assert_eq!(count, "SELECT pg_catalog.count(*) FROM (SELECT 1 FROM pgrst_source AS \"tasks\" WHERE \"tasks\".\"id\" = $1::integer) AS _pgrst_c");
    }
}
