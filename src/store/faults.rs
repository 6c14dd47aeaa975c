//! Fault queries: pages in any order under any mix of filters, counts, and the per-operator
//! summary, planned so that the indexes answer them over hundreds of thousands of faults.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use super::{collect_rows, count_to_sql, sql, Columns, Store, StoreError};
use crate::engine::records::{
    FaultEvidenceRow, FaultFilter, FaultOrder, FaultRow, OperatorFaultSummary,
};
use crate::protocol::{FaultEvidence, FaultType, IdlenessContext};

impl Store {
    /// One page of faults: those matching `filter`, in `order`, skipping `offset`.
    pub fn faults(
        &self,
        filter: &FaultFilter,
        order: FaultOrder,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<FaultRow>, StoreError> {
        let conn = self.conn()?;
        let (query, values) = self.fault_page_query(&conn, filter, order, offset, limit)?;
        collect_rows(
            &conn,
            "listing faults",
            "faults",
            &query,
            params_from_iter(values),
            fault_row,
        )
    }

    /// Faults matching `filter`, newest first, with their evidence and their window's facts.
    pub fn fault_evidence(
        &self,
        filter: &FaultFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<FaultEvidenceRow>, StoreError> {
        let conn = self.conn()?;
        let conditions = FaultConditions::new(&conn, filter, true, self.max_search_values)?;
        let mut values = conditions.values.clone();
        values.push(Value::Integer(count_to_sql(limit)));
        values.push(Value::Integer(count_to_sql(offset)));
        // The page is chosen on `faults` alone (its indexes), then joined to its results.
        let query = format!(
            "SELECT f.id, f.wallet, f.coordination_block, f.culprit, f.fault_type, f.leader,
                    f.recorded_at, f.proposed_action, f.evidence_message, f.evidence_context,
                    r.safe_block_hash, r.seed, r.leader_member_index, r.checklist,
                    r.members_connected
             FROM (SELECT * FROM faults {} ORDER BY {} LIMIT ? OFFSET ?) AS f
             JOIN results AS r
               ON r.wallet = f.wallet AND r.coordination_block = f.coordination_block
             ORDER BY f.coordination_block DESC, f.id DESC",
            conditions.where_clause(),
            order_by(FaultOrder::NewestFirst)
        );
        collect_rows(
            &conn,
            "listing fault evidence",
            "faults",
            &query,
            params_from_iter(values),
            |c| {
                let message: Option<Vec<u8>> = c.get("evidence_message")?;
                let context = match c.opt_text("evidence_context")? {
                    Some(text) => {
                        Some(serde_json::from_str::<IdlenessContext>(&text).map_err(|e| {
                            StoreError::Corrupt {
                                table: "faults",
                                column: "evidence_context",
                                value: text.clone(),
                                detail: e.to_string(),
                            }
                        })?)
                    }
                    None => None,
                };
                let evidence = match (message, context) {
                    (Some(m), _) => Some(FaultEvidence::Message(m)),
                    (None, Some(c)) => Some(FaultEvidence::Idleness(c)),
                    (None, None) => None,
                };
                let leader_member_index = c.int("leader_member_index")?;
                Ok(FaultEvidenceRow {
                    fault: fault_row(c)?,
                    safe_block_hash: c.parse("safe_block_hash")?,
                    seed: c.parse("seed")?,
                    leader_member_index: u8::try_from(leader_member_index).map_err(|_| {
                        StoreError::Corrupt {
                            table: "results",
                            column: "leader_member_index",
                            value: leader_member_index.to_string(),
                            detail: "not a member index".into(),
                        }
                    })?,
                    checklist: c.checklist("checklist")?,
                    members_connected: c.get("members_connected")?,
                    evidence,
                })
            },
        )
    }

    /// The SQL and positional values of one page of faults.
    pub(super) fn fault_page_query(
        &self,
        conn: &Connection,
        filter: &FaultFilter,
        order: FaultOrder,
        offset: u64,
        limit: u64,
    ) -> Result<(String, Vec<Value>), StoreError> {
        let block_order = matches!(order, FaultOrder::NewestFirst | FaultOrder::OldestFirst);
        let conditions = FaultConditions::new(conn, filter, block_order, self.max_search_values)?;
        let mut values = conditions.values.clone();
        values.push(Value::Integer(count_to_sql(limit)));
        values.push(Value::Integer(count_to_sql(offset)));
        let query = format!(
            "SELECT id, wallet, coordination_block, culprit, fault_type, leader, recorded_at,
                    proposed_action
             FROM faults {} ORDER BY {} LIMIT ? OFFSET ?",
            conditions.where_clause(),
            order_by(order)
        );
        Ok((query, values))
    }

    /// How many faults match `filter` (for "page 3 of 12").
    pub fn count_faults(&self, filter: &FaultFilter) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let conditions = FaultConditions::new(&conn, filter, true, self.max_search_values)?;
        let n: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM faults {}",
                conditions.where_clause()
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params_from_iter(conditions.values), |row| row.get(0))
            })
            .map_err(sql("counting faults"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Per culprit among the faults matching `filter`: counts per type, total, and the latest
    /// fault; most faults first (ties: latest fault first, then address).
    pub fn fault_summary(
        &self,
        filter: &FaultFilter,
    ) -> Result<Vec<OperatorFaultSummary>, StoreError> {
        let conn = self.conn()?;
        let conditions = FaultConditions::new(&conn, filter, true, self.max_search_values)?;
        // `g` counts per culprit in one walk of the culprit index; the subquery then finds
        // each culprit's latest matching fault (highest block, then highest id: the same
        // "latest" as FaultOrder::NewestFirst) with one index seek per culprit. The filter
        // appears twice, so its values are bound twice, in that order.
        let per_type: String = FaultType::ALL
            .iter()
            .zip(TYPE_COUNT_COLUMNS)
            .map(|(f, column)| format!(", sum(fault_type = '{}') AS {column}", f.name()))
            .collect();
        let query = format!(
            "WITH g AS (
                 SELECT culprit, count(*) AS total {per_type}
                 FROM faults {} GROUP BY culprit)
             SELECT g.*, l.fault_type AS last_fault, l.coordination_block AS last_block
             FROM g JOIN faults AS l ON l.id = (
                 SELECT id FROM faults WHERE culprit = g.culprit {}
                 ORDER BY coordination_block DESC, id DESC LIMIT 1)",
            conditions.where_clause(),
            conditions.and_clause(),
        );
        let values = conditions
            .values
            .iter()
            .chain(&conditions.values)
            .cloned()
            .collect::<Vec<_>>();
        let mut out = collect_rows(
            &conn,
            "summarising faults",
            "faults",
            &query,
            params_from_iter(values),
            |c| {
                let mut by_type = BTreeMap::new();
                for (f, column) in FaultType::ALL.into_iter().zip(TYPE_COUNT_COLUMNS) {
                    by_type.insert(f, c.count(column)?);
                }
                Ok(OperatorFaultSummary {
                    operator: c.parse("culprit")?,
                    total: c.count("total")?,
                    by_type,
                    last_coordination_block: c.block("last_block")?,
                    last_fault: c.parse("last_fault")?,
                })
            },
        )?;
        drop(conn);
        out.sort_by(|a, b| {
            b.total
                .cmp(&a.total)
                .then(b.last_coordination_block.cmp(&a.last_coordination_block))
                .then(a.operator.to_checksum().cmp(&b.operator.to_checksum()))
        });
        Ok(out)
    }
}

/// Result columns of the per-type counts in `fault_summary`, in the order of `FaultType::ALL`.
const TYPE_COUNT_COLUMNS: [&str; FaultType::ALL.len()] =
    ["leader_idleness", "leader_mistake", "leader_impersonation"];

/// The ORDER BY of a fault order. Every order ends in the row id (see [`FaultOrder`]).
fn order_by(order: FaultOrder) -> &'static str {
    match order {
        FaultOrder::NewestFirst => "coordination_block DESC, id DESC",
        FaultOrder::OldestFirst => "coordination_block ASC, id ASC",
        FaultOrder::ByOperator => "culprit ASC, coordination_block DESC, id DESC",
        FaultOrder::ByType => "fault_type ASC, coordination_block DESC, id DESC",
        FaultOrder::ByWallet => "wallet ASC, coordination_block DESC, id DESC",
    }
}

/// The conditions of a fault filter, with their positional values.
struct FaultConditions {
    terms: Vec<String>,
    values: Vec<Value>,
}

/// Beyond this many matching values a search term falls back to a substring test per row,
/// to stay far below SQLite's limit on bound parameters.
pub(super) const MAX_SEARCH_VALUES: usize = 500;

/// Which values of one column a search matches.
enum SearchMatch {
    /// Every value: the column cannot narrow the search.
    All,
    /// These values (possibly none).
    Values(Vec<String>),
    /// Too many to list; test each row with `instr`.
    PerRow,
}

impl SearchMatch {
    fn of(candidates: Vec<String>, max: usize, matches: impl Fn(&str) -> bool) -> SearchMatch {
        let total = candidates.len();
        let hits: Vec<String> = candidates.into_iter().filter(|v| matches(v)).collect();
        if total > 0 && hits.len() == total {
            SearchMatch::All
        } else if hits.len() > max {
            SearchMatch::PerRow
        } else {
            SearchMatch::Values(hits)
        }
    }
}

/// The distinct values of an indexed fault column, found by one index seek per value (a skip
/// scan) instead of a walk over every fault.
fn distinct_fault_values(
    conn: &Connection,
    column: &'static str,
) -> Result<Vec<String>, StoreError> {
    let query = format!(
        "WITH RECURSIVE v(x) AS (
             SELECT min({column}) FROM faults
             UNION ALL
             SELECT (SELECT min({column}) FROM faults WHERE {column} > v.x)
             FROM v WHERE v.x IS NOT NULL)
         SELECT x FROM v WHERE x IS NOT NULL"
    );
    let mut stmt = conn
        .prepare_cached(&query)
        .map_err(sql("listing fault values for a search"))?;
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sql("listing fault values for a search"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(sql("listing fault values for a search"))
}

impl FaultConditions {
    /// `block_index: false` writes the block range as `+coordination_block`, which keeps
    /// SQLite from answering it with the block index. For the by-operator/type/wallet orders
    /// that is what keeps a deep page cheap: walking the order's index and checking the block
    /// (stored in that index) costs a few ms, where collecting a wide range through the block
    /// index and sorting it costs a full sort per page.
    /// `max_values` caps the `IN` lists of a search (see [`MAX_SEARCH_VALUES`]).
    fn new(
        conn: &Connection,
        filter: &FaultFilter,
        block_index: bool,
        max_values: usize,
    ) -> Result<FaultConditions, StoreError> {
        let mut terms: Vec<String> = Vec::new();
        let mut values = Vec::new();
        if let Some(wallet) = &filter.wallet {
            terms.push("wallet = ?".into());
            values.push(Value::Text(wallet.to_hex()));
        }
        if let Some(operator) = &filter.operator {
            terms.push("culprit = ?".into());
            values.push(Value::Text(operator.to_checksum()));
        }
        if let Some(fault) = filter.fault {
            terms.push("fault_type = ?".into());
            values.push(Value::Text(fault.name().to_string()));
        }
        let block = if block_index {
            "coordination_block"
        } else {
            "+coordination_block"
        };
        // Bounds are compared as stored (`b as i64`), which keeps the order only below 2^63:
        // a bound above i64::MAX would wrap to a negative one. No stored height gets there,
        // so a `from` above it matches nothing and a `to` above it bounds nothing.
        if let Some(from) = filter.from_block {
            match i64::try_from(from) {
                Ok(from) => {
                    terms.push(format!("{block} >= ?"));
                    values.push(Value::Integer(from));
                }
                Err(_) => terms.push("0".into()),
            }
        }
        if let Some(to) = filter.to_block.and_then(|to| i64::try_from(to).ok()) {
            terms.push(format!("{block} <= ?"));
            values.push(Value::Integer(to));
        }
        let needle = filter
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        if let Some(needle) = needle {
            // A substring test on every row is a full table scan per page. There are few
            // distinct wallets, operators and fault types, so the search is decided on those
            // here and becomes `IN` lists that the indexes answer.
            let wallets =
                SearchMatch::of(distinct_fault_values(conn, "wallet")?, max_values, |w| {
                    format!("0x{w}").contains(&needle)
                });
            let culprits =
                SearchMatch::of(distinct_fault_values(conn, "culprit")?, max_values, |c| {
                    c.to_lowercase().contains(&needle)
                });
            let types = SearchMatch::of(
                FaultType::ALL
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect(),
                max_values,
                |t| t.to_lowercase().contains(&needle),
            );
            let matches = [
                ("wallet", "'0x' || wallet", wallets),
                ("culprit", "lower(culprit)", culprits),
                ("fault_type", "lower(fault_type)", types),
            ];
            if !matches
                .iter()
                .any(|(_, _, m)| matches!(m, SearchMatch::All))
            {
                let mut alternatives = Vec::new();
                for (column, lowered, m) in matches {
                    match m {
                        SearchMatch::All => {}
                        SearchMatch::Values(list) if list.is_empty() => {}
                        SearchMatch::Values(list) => {
                            let marks = vec!["?"; list.len()].join(", ");
                            alternatives.push(format!("{column} IN ({marks})"));
                            values.extend(list.into_iter().map(Value::Text));
                        }
                        SearchMatch::PerRow => {
                            // instr, not LIKE, so '%' and '_' typed by the operator match
                            // themselves.
                            alternatives.push(format!("instr({lowered}, ?) > 0"));
                            values.push(Value::Text(needle.clone()));
                        }
                    }
                }
                terms.push(if alternatives.is_empty() {
                    "0".to_string()
                } else {
                    format!("({})", alternatives.join(" OR "))
                });
            }
        }
        Ok(FaultConditions { terms, values })
    }

    /// `WHERE a AND b`, or nothing.
    fn where_clause(&self) -> String {
        if self.terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.terms.join(" AND "))
        }
    }

    /// ` AND a AND b`, or nothing: for a query that has conditions of its own.
    fn and_clause(&self) -> String {
        self.terms.iter().map(|t| format!(" AND {t}")).collect()
    }
}

/// The columns every fault query selects.
fn fault_row(c: &Columns<'_, '_>) -> Result<FaultRow, StoreError> {
    Ok(FaultRow {
        id: c.int("id")?,
        wallet: c.parse("wallet")?,
        coordination_block: c.block("coordination_block")?,
        culprit: c.parse("culprit")?,
        fault: c.parse("fault_type")?,
        leader: c.parse("leader")?,
        recorded_at: c.int("recorded_at")?,
        proposed_action: c.opt_parse("proposed_action")?,
    })
}
