//! The typed form of a PostgREST query string. Produced by `parse`, consumed by `plan`.

/// A path of embedded resources, e.g. `books.reviews` in `books.reviews.rating=gte.5`.
/// Empty for the root resource. Each element is an embed's alias if it has one, else its name.
pub type EmbedPath = Vec<String>;

/// The entries of a per-embed list (`filters`, `logic`, `order`, `limit`, ...) that belong to
/// the resource at `path` (`&[]`: the root).
pub fn at_path<'l, T>(
    list: &'l [(EmbedPath, T)],
    path: &'l [String],
) -> impl Iterator<Item = &'l T> {
    list.iter().filter(move |(p, _)| p == path).map(|(_, t)| t)
}

/// `->key`, `->"quoted.key"` or `->0` / `->-1` (an integer, possibly negative: an array index;
/// integers too large for `i64` are kept as keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    Key(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOp {
    /// `->`
    Arrow(JsonKey),
    /// `->>`
    DoubleArrow(JsonKey),
}

/// A column, optionally followed by a JSON path: `data->a->>b`. Names are unquoted
/// (`"my col"` -> `my col`) and trimmed of surrounding spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub json_path: Vec<JsonOp>,
}

impl Field {
    pub fn col(name: &str) -> Field {
        Field {
            name: name.to_string(),
            json_path: vec![],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
    Max,
    Min,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    Inner,
    Left,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`
    Star,
    /// `alias:col->path::cast` or `alias:col.sum()::cast`; also a bare `count()`
    /// (then `field.name` is empty and `aggregate` is `Count`).
    /// Casts are type names as written (identifier chars, spaces, trailing `[]`s), unvalidated.
    /// `aggregate_cast` is only set when there is an aggregate.
    Field {
        field: Field,
        alias: Option<String>,
        cast: Option<String>,
        aggregate: Option<Aggregate>,
        /// cast applied to the aggregate's result: `col.sum()::int`
        aggregate_cast: Option<String>,
    },
    /// `alias:name!hint!inner(select...)` or `...name(select...)` (spread; never an alias).
    /// `name()` gives an empty `select` (no columns of the embed, e.g. for `!inner` filtering).
    /// `!inner`/`!left` and a hint may come in either order; of two hints the first counts.
    Embed {
        name: String,
        alias: Option<String>,
        /// `!fk_name`, `!column` or `!junction_table`
        hint: Option<String>,
        join: Option<JoinType>,
        spread: bool,
        select: Vec<SelectItem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    /// `cs` contains `@>`
    Cs,
    /// `cd` contained in `<@`
    Cd,
    /// `ov` overlap `&&`
    Ov,
    /// `sl` strictly left `<<`
    Sl,
    /// `sr` strictly right `>>`
    Sr,
    /// `nxr` does not extend to the right `&<`
    Nxr,
    /// `nxl` does not extend to the left `&>`
    Nxl,
    /// `adj` adjacent `-|-`
    Adj,
    IsDistinct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOp {
    /// `fts` to_tsquery
    Fts,
    /// `plfts` plainto_tsquery
    Plfts,
    /// `phfts` phraseto_tsquery
    Phfts,
    /// `wfts` websearch_to_tsquery
    Wfts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `op.value` or `op(any).{a,b}`: with a quantifier the value is a list of values.
    ///
    /// `value` is the raw operand (percent-decoded; inside a logic tree, unquoted when it was
    /// double-quoted). For `like`/`ilike` (also quantified) it still has PostgREST's `*`
    /// wildcards: the planner replaces `*` by `%`, as PostgREST does in SQL generation.
    /// With a quantifier, `value` is the Postgres array literal as sent (`{a,"b,c"}`): binding
    /// it as `$n::type[]` reproduces PostgREST exactly, errors included; `values` holds its
    /// elements unquoted for convenience (a value that is not a one-dimensional array literal
    /// is refused with PGRST100). Without a quantifier `values` is empty.
    /// `quantifier` is only ever set for eq, gt, gte, lt, lte, like, ilike, match, imatch.
    Simple {
        op: SimpleOp,
        quantifier: Option<Quantifier>,
        value: String,
        /// the values of `op(any).{a,b}` / `op(all).{a,b}`
        values: Vec<String>,
    },
    /// `in.(a,b,"c,d")`: values unquoted (backslash escapes resolved inside quotes); unquoted
    /// values keep inner and trailing spaces as PostgREST does. `in.()` is the empty list
    /// (matches nothing; `not.in.()` everything); `in.( ,3)` gives `["", "3"]`.
    In(Vec<String>),
    Is(IsValue),
    Fts {
        op: FtsOp,
        config: Option<String>,
        value: String,
    },
}

/// `field=not.op.value`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicOp {
    And,
    Or,
}

/// `or=(a.eq.1,and(b.gt.2,c.lt.3))`, `not.and=(...)`.
///
/// A top-level `or=`/`and=` parameter is always an `Expr`. Inside a tree, besides PostgREST's
/// `col.not.op.val`, the parser also accepts `not.col.op.val` (a negated `Filter`; when the
/// filter was already negated, an `Expr { negated: true, op: And, children: [filter] }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Expr {
        negated: bool,
        op: LogicOp,
        children: Vec<LogicTree>,
    },
    Filter(Filter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderDirection {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullsOrder {
    First,
    Last,
}

/// One term of `order=`: `col->a.desc.nullslast` or `rel(col).asc` (a to-one embed's column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// `Some("rel")` for `rel(col)`.
    pub relation: Option<String>,
    pub field: Field,
    pub direction: Option<OrderDirection>,
    pub nulls: Option<NullsOrder>,
}

/// Everything the query string says, with the embed path each part applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// `select=`; empty when absent (means `*`). An empty `select=` also gives an empty list
    /// with `has_select` set: PostgREST answers all columns for it at the root.
    /// Only the first `select` parameter counts.
    pub select: Vec<SelectItem>,
    /// Was `select` given at all?
    pub has_select: bool,
    /// `col=op.val` and `rel.col=op.val`, in query-string order. Filters on an embed itself
    /// (`books=is.null`, `books=not.is.null`) come with an empty path and `field.name` =
    /// the embed's name or alias: the planner tells them apart from columns.
    pub filters: Vec<(EmbedPath, Filter)>,
    /// `or=(...)`, `and=(...)`, `not.or=(...)`, `rel.or=(...)`
    pub logic: Vec<(EmbedPath, LogicTree)>,
    /// `order=` and `rel.order=`
    pub order: Vec<(EmbedPath, Vec<OrderTerm>)>,
    /// `limit=` and `rel.limit=`: non-negative (a negative limit is refused by the parser with
    /// PostgREST's 416 PGRST103); one entry per path, the last parameter wins.
    pub limit: Vec<(EmbedPath, i64)>,
    /// `offset=` and `rel.offset=`: non-negative (a negative offset is a no-op, 0, as in
    /// PostgREST); one entry per path, the last parameter wins.
    pub offset: Vec<(EmbedPath, i64)>,
    /// `columns=` (POST/RPC body columns)
    pub columns: Option<Vec<String>>,
    /// `on_conflict=`
    pub on_conflict: Option<Vec<String>>,
    /// Parameters that are neither reserved words nor parsable as filters, in order: RPC GET
    /// arguments (`/rpc/fn?a=1&b=2`). Unparsed values, percent-decoded.
    /// With `parse_query(_, is_rpc = true)` every non-reserved parameter lands here (repeated
    /// keys repeated, e.g. variadic `?v=1&v=2`), none in `filters`: the planner turns those that
    /// are not arguments into filters with `parse::parse_filter`. Parameters without `=` are
    /// dropped, as in PostgREST.
    pub rpc_args: Vec<(String, String)>,
    /// The whole query string in PostgREST's canonical form (`qsCanonical`: parameters sorted
    /// by name), for the `Content-Location` of reads.
    pub canonical: String,
}

/// Select items as tests write them by hand: a plain column, an embed with no alias, hint,
/// join type or spread.
#[cfg(test)]
pub(crate) mod build {
    use super::{Field, SelectItem};

    pub fn col(name: &str) -> SelectItem {
        SelectItem::Field {
            field: Field::col(name),
            alias: None,
            cast: None,
            aggregate: None,
            aggregate_cast: None,
        }
    }

    pub fn embed(name: &str, select: Vec<SelectItem>) -> SelectItem {
        SelectItem::Embed {
            name: name.into(),
            alias: None,
            hint: None,
            join: None,
            spread: false,
            select,
        }
    }
}
