//! Writing usage: a batch of usage records and the `usage_daily` rollups they add
//! to, in one transaction, so the rollups always equal an aggregate of the records
//! (a batch is written whole or not at all). [`rebuild_from`] recomputes the
//! rollups from the records (`airlock usage rollup --from DATE`).
//!
//! A rollup row is one tenant's UTC day for one grouping: environment, key, the
//! key's owner, provider and model in `usage_daily`; environment, key and owner in
//! `usage_daily_keys`; environment, provider and model in `usage_daily_models`
//! (see [`Grain`]). All three are written in the same transaction from the same
//! groups, so they always add up to the same totals. Records without a tenant (a
//! key that was not valid) are not rolled up: nobody is billed for them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, FromQueryResult, IntoActiveModel, QueryFilter, QuerySelect, QueryTrait, Statement,
    TransactionTrait,
};
use uuid::Uuid;

use crate::entities::usage_daily::Grain;
use crate::entities::{relay_key, usage_daily, usage_record};

/// Rollup rows per upsert statement (18 columns each: well under SQLite's limit
/// of bound parameters).
const UPSERT_CHUNK: usize = 500;

/// One grouping's totals, before it is added to the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Totals {
    requests: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    images: i64,
    cost_micros: i64,
    unpriced_requests: i64,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.images += other.images;
        self.cost_micros = self.cost_micros.saturating_add(other.cost_micros);
        self.unpriced_requests += other.unpriced_requests;
    }

    fn add_record(&mut self, record: &usage_record::Model) {
        self.requests += 1;
        self.errors += i64::from(record.status_code >= 400);
        self.input_tokens = self.input_tokens.saturating_add(record.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(record.output_tokens);
        self.images += i64::from(record.input_images);
        self.cost_micros = self.cost_micros.saturating_add(record.cost_micros);
        self.unpriced_requests += i64::from(!record.priced);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Grouping {
    tenant_id: Uuid,
    day: NaiveDate,
    dims: String,
    env: String,
    key_id: Option<Uuid>,
    member_id: Option<Uuid>,
    provider: String,
    model: String,
}

impl Grouping {
    /// The same grouping with only what `grain` keeps.
    fn coarsened(&self, grain: Grain) -> Grouping {
        let mut coarse = self.clone();
        match grain {
            Grain::Full => {}
            Grain::Keys => {
                coarse.provider.clear();
                coarse.model.clear();
            }
            Grain::Models => {
                coarse.key_id = None;
                coarse.member_id = None;
            }
        }
        coarse.dims = usage_daily::dims_digest(
            &coarse.env,
            coarse.key_id,
            coarse.member_id,
            &coarse.provider,
            &coarse.model,
        );
        coarse
    }

    fn new(
        tenant_id: Uuid,
        day: NaiveDate,
        env: String,
        key_id: Option<Uuid>,
        member_id: Option<Uuid>,
        provider: String,
        model: String,
    ) -> Self {
        Grouping {
            dims: usage_daily::dims_digest(&env, key_id, member_id, &provider, &model),
            tenant_id,
            day,
            env,
            key_id,
            member_id,
            provider,
            model,
        }
    }
}

/// Writes usage records and adds them to the rollups, in one transaction.
pub async fn write_usage_batch(
    db: &DatabaseConnection,
    records: &[usage_record::Model],
) -> Result<(), DbErr> {
    if records.is_empty() {
        return Ok(());
    }
    let txn = db.begin().await?;
    for chunk in insert_chunks(records) {
        usage_record::Entity::insert_many(
            chunk
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    add_to_rollups(&txn, records).await?;
    txn.commit().await
}

/// The largest INSERT of usage records (rows × 30 columns stays far below
/// SQLite's and PostgreSQL's limits on bound values).
const MAX_INSERT_ROWS: usize = 256;

/// `records` in INSERTs of 256, 128, 64 … 1 rows. The database driver keeps
/// each distinct statement prepared (per connection, up to its cache size), and
/// an INSERT of n rows is a statement of its own for every n: batches of every
/// size from 1 to 500 filled the cache with large statements, which held the
/// relay's memory growing with the requests it had served (~800 bytes each,
/// measured with `e2e/bench/relay.sh`). Nine shapes keep it small and fixed.
fn insert_chunks<T>(records: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = records;
    let mut size = MAX_INSERT_ROWS;
    while !rest.is_empty() {
        while size > rest.len() {
            size /= 2;
        }
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Adds records to the rollups (the caller holds the transaction that inserts them).
pub async fn add_to_rollups(
    db: &impl ConnectionTrait,
    records: &[usage_record::Model],
) -> Result<(), DbErr> {
    let owners = key_owners(db, records).await?;
    // A BTreeMap: rows are upserted in one order by every writer, so two relays
    // writing the same rows wait for each other instead of deadlocking.
    let mut groups: BTreeMap<Grouping, Totals> = BTreeMap::new();
    for record in records {
        let Some(tenant_id) = record.tenant_id else {
            continue;
        };
        let grouping = Grouping::new(
            tenant_id,
            record.created_at.date_naive(),
            record
                .env
                .as_ref()
                .map(|e| e.0.to_string())
                .unwrap_or_default(),
            record.key_id,
            record
                .key_id
                .and_then(|k| owners.get(&k).copied().flatten()),
            record.provider.clone().unwrap_or_default(),
            record.model.clone().unwrap_or_default(),
        );
        groups.entry(grouping).or_default().add_record(record);
    }
    upsert_every_grain(db, groups).await
}

/// Upserts the groups into `usage_daily`, then their sums into the coarser grains.
async fn upsert_every_grain(
    db: &impl ConnectionTrait,
    groups: BTreeMap<Grouping, Totals>,
) -> Result<(), DbErr> {
    for grain in Grain::ALL {
        let mut coarse: BTreeMap<Grouping, Totals> = BTreeMap::new();
        for (grouping, totals) in &groups {
            coarse
                .entry(grouping.coarsened(grain))
                .or_default()
                .add(totals);
        }
        upsert(db, grain, coarse.into_iter().collect()).await?;
    }
    Ok(())
}

async fn key_owners(
    db: &impl ConnectionTrait,
    records: &[usage_record::Model],
) -> Result<HashMap<Uuid, Option<Uuid>>, DbErr> {
    let mut ids: Vec<Uuid> = records.iter().filter_map(|r| r.key_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Option<Uuid>)> = relay_key::Entity::find()
        .select_only()
        .column(relay_key::Column::Id)
        .column(relay_key::Column::OwnerUserId)
        .filter(relay_key::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// `INSERT … ON CONFLICT (tenant_id, day, dims) DO UPDATE SET n = n + excluded.n`
/// into the grain's table (they all have `usage_daily`'s shape).
async fn upsert(
    db: &impl ConnectionTrait,
    grain: Grain,
    groups: Vec<(Grouping, Totals)>,
) -> Result<(), DbErr> {
    use usage_daily::Column as C;
    let table = grain.table();
    let now = Utc::now();
    for chunk in groups.chunks(UPSERT_CHUNK) {
        let rows = chunk.iter().map(|(g, t)| usage_daily::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(g.tenant_id),
            day: Set(g.day),
            dims: Set(g.dims.clone()),
            env: Set(g.env.clone()),
            key_id: Set(g.key_id),
            member_id: Set(g.member_id),
            provider: Set(g.provider.clone()),
            model: Set(g.model.clone()),
            requests: Set(t.requests),
            errors: Set(t.errors),
            input_tokens: Set(t.input_tokens),
            output_tokens: Set(t.output_tokens),
            images: Set(t.images),
            cost_micros: Set(t.cost_micros),
            unpriced_requests: Set(t.unpriced_requests),
            updated_at: Set(now),
        });
        let mut on_conflict = OnConflict::columns([C::TenantId, C::Day, C::Dims]);
        for column in [
            "requests",
            "errors",
            "input_tokens",
            "output_tokens",
            "images",
            "cost_micros",
            "unpriced_requests",
        ] {
            on_conflict.value(
                Alias::new(column),
                Expr::cust(format!("{table}.{column} + excluded.{column}")),
            );
        }
        on_conflict.value(C::UpdatedAt, Expr::cust("excluded.updated_at"));
        let mut insert = usage_daily::Entity::insert_many(rows).on_conflict(on_conflict);
        QueryTrait::query(&mut insert).into_table(Alias::new(table));
        insert.exec_without_returning(db).await?;
    }
    Ok(())
}

#[derive(Debug, FromQueryResult)]
struct AggregateRow {
    tenant_id: Uuid,
    env: Option<String>,
    key_id: Option<Uuid>,
    member_id: Option<Uuid>,
    provider: Option<String>,
    model: Option<String>,
    requests: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    images: i64,
    cost_micros: i64,
    unpriced_requests: i64,
}

/// What a rebuild did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub days: u64,
    pub rows: u64,
}

/// Recomputes the rollups of every UTC day from `from` to today from the usage
/// records: per day, in its own transaction, the day's rollups are deleted and
/// written again. On PostgreSQL the table is locked against writers for the
/// moment of that day (they wait, then add on top of the rebuilt day); SQLite's
/// single writer gives the same. Safe while the relay serves traffic.
pub async fn rebuild_from(
    db: &DatabaseConnection,
    from: NaiveDate,
) -> Result<RebuildReport, DbErr> {
    let today = Utc::now().date_naive();
    let mut report = RebuildReport::default();
    let mut day = from;
    while day <= today {
        report.rows += rebuild_day(db, day).await?;
        report.days += 1;
        day = day + Days::new(1);
    }
    Ok(report)
}

async fn rebuild_day(db: &DatabaseConnection, day: NaiveDate) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    if backend == DatabaseBackend::Postgres {
        // Every grain, in the writers' order.
        txn.execute_unprepared(
            "LOCK TABLE usage_daily, usage_daily_keys, usage_daily_models \
             IN SHARE ROW EXCLUSIVE MODE",
        )
        .await?;
    }
    for grain in Grain::ALL {
        txn.execute(
            Query::delete()
                .from_table(Alias::new(grain.table()))
                .and_where(Expr::col(Alias::new("day")).eq(day)),
        )
        .await?;
    }
    let start = day.and_time(NaiveTime::MIN).and_utc();
    let end = start + chrono::Duration::days(1);
    let rows = AggregateRow::find_by_statement(aggregate_statement(backend, start, end))
        .all(&txn)
        .await?;
    let count = rows.len() as u64;
    // NULL and "" group apart in SQL but are one grouping here: add, never replace.
    let mut groups: BTreeMap<Grouping, Totals> = BTreeMap::new();
    for (grouping, totals) in rows.into_iter().map(|r| {
        (
            Grouping::new(
                r.tenant_id,
                day,
                r.env.unwrap_or_default(),
                r.key_id,
                r.member_id,
                r.provider.unwrap_or_default(),
                r.model.unwrap_or_default(),
            ),
            Totals {
                requests: r.requests,
                errors: r.errors,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                images: r.images,
                cost_micros: r.cost_micros,
                unpriced_requests: r.unpriced_requests,
            },
        )
    }) {
        groups.entry(grouping).or_default().add(&totals);
    }
    upsert_every_grain(&txn, groups).await?;
    txn.commit().await?;
    Ok(count)
}

/// The aggregate of one day's records, grouped as the rollups are. The sums are
/// cast back to BIGINT: PostgreSQL sums a bigint as numeric.
fn aggregate_statement(
    backend: DatabaseBackend,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Statement {
    let (a, b) = match backend {
        DatabaseBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let sum = |expr: &str| format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)");
    let sql = format!(
        "SELECT r.tenant_id AS tenant_id, r.env AS env, r.key_id AS key_id, \
         k.owner_user_id AS member_id, r.provider AS provider, r.model AS model, \
         CAST(COUNT(*) AS BIGINT) AS requests, {errors} AS errors, \
         {input} AS input_tokens, {output} AS output_tokens, {images} AS images, \
         {cost} AS cost_micros, {unpriced} AS unpriced_requests \
         FROM usage_records r LEFT JOIN relay_keys k ON k.id = r.key_id \
         WHERE r.tenant_id IS NOT NULL AND r.created_at >= {a} AND r.created_at < {b} \
         GROUP BY r.tenant_id, r.env, r.key_id, k.owner_user_id, r.provider, r.model",
        errors = sum("CASE WHEN r.status_code >= 400 THEN 1 ELSE 0 END"),
        input = sum("r.input_tokens"),
        output = sum("r.output_tokens"),
        images = sum("r.input_images"),
        cost = sum("r.cost_micros"),
        unpriced = sum("CASE WHEN r.priced THEN 0 ELSE 1 END"),
    );
    Statement::from_sql_and_values(backend, sql, [start.into(), end.into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_come_in_nine_sizes_and_keep_every_record_in_order() {
        let mut sizes = std::collections::BTreeSet::new();
        for n in 0..2000usize {
            let records: Vec<usize> = (0..n).collect();
            let chunks = insert_chunks(&records);
            assert_eq!(chunks.concat(), records);
            sizes.extend(chunks.iter().map(|c| c.len()));
        }
        assert_eq!(
            sizes.into_iter().collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 64, 128, 256]
        );
    }
}
