//! CSV export of exactly what a usage query selects: one row per group and day,
//! a header row, ISO dates, money in dollars with six decimals. Rows are streamed
//! from the database through a small bounded channel, so memory stays flat
//! whatever the period; if the database fails midway the download is cut off
//! with an error (the client sees an incomplete transfer), never ended as if it
//! were complete.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;

use super::report::{Labels, Row, rows_query};
use super::{GroupBy, UsageQuery};
use crate::error::ConsoleError;
use crate::tenant::{Permission, Store, TenantScope};

/// Bytes gathered before a chunk is handed to the connection.
const CHUNK_BYTES: usize = 32 * 1024;

/// Chunks in flight between the database reader and the connection.
const CHANNEL_CHUNKS: usize = 4;

/// The download's file name, e.g. `airlock-usage-acme-2026-03-01-2026-03-31-by-key.csv`.
pub fn file_name(scope: &TenantScope, query: &UsageQuery) -> String {
    format!(
        "airlock-usage-{}-{}-{}-by-{}.csv",
        scope.tenant().slug,
        query.from,
        query.to,
        query.group.as_str()
    )
}

/// The header row for a grouping.
pub fn header(group: GroupBy) -> String {
    let group_columns = match group {
        GroupBy::Day => "",
        GroupBy::Key => "key_id,key,",
        GroupBy::Member => "member_id,member,",
        GroupBy::Model => "model,",
        GroupBy::Provider => "provider,",
        GroupBy::Env => "env,",
    };
    format!(
        "date,{group_columns}requests,errors,input_tokens,output_tokens,images,unpriced_requests,cost_usd\n"
    )
}

/// Micro-dollars as dollars with six decimals: `1.250000`, `-0.000001`.
pub fn dollars6(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let magnitude = micros.unsigned_abs();
    format!(
        "{sign}{}.{:06}",
        magnitude / 1_000_000,
        magnitude % 1_000_000
    )
}

/// One CSV field: quoted when it holds a comma, quote or line break, and
/// defused when a spreadsheet would read it as a formula (`=`, `+`, `-`, `@`).
pub fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// One row as a CSV line.
pub fn line(group: GroupBy, row: &Row, labels: &Labels) -> String {
    let value = row.group.as_deref().unwrap_or("");
    let group_columns = match group {
        GroupBy::Day => String::new(),
        GroupBy::Key | GroupBy::Member => {
            format!("{},{},", field(value), field(&labels.label(group, value)))
        }
        GroupBy::Model | GroupBy::Provider | GroupBy::Env => format!("{},", field(value)),
    };
    let t = &row.totals;
    format!(
        "{},{group_columns}{},{},{},{},{},{},{}\n",
        row.day,
        t.requests,
        t.errors,
        t.input_tokens,
        t.output_tokens,
        t.images,
        t.unpriced_requests,
        dollars6(t.cost_micros)
    )
}

/// The CSV body of a query, streamed. Permission and labels are checked before
/// the first byte, so a refusal is an ordinary error response.
pub async fn csv(
    store: &Store,
    scope: &TenantScope,
    query: &UsageQuery,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + use<>, ConsoleError> {
    scope.require(Permission::ReadUsage)?;
    let labels = Labels::load(store.db(), scope, query.group).await?;
    let select = rows_query(scope, query);
    let group = query.group;
    let db: DatabaseConnection = store.db().clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    tokio::spawn(async move {
        let mut buffer = header(group);
        let mut rows = match select.into_model::<Row>().stream(&db).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "usage export: the query failed");
                let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                return;
            }
        };
        while let Some(row) = rows.next().await {
            match row {
                Ok(row) => buffer.push_str(&line(group, &row.grouped(group), &labels)),
                Err(e) => {
                    tracing::error!(error = %e, "usage export: reading rows failed");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            }
            if buffer.len() >= CHUNK_BYTES
                && tx
                    .send(Ok(Bytes::from(std::mem::take(&mut buffer))))
                    .await
                    .is_err()
            {
                // The client went away.
                return;
            }
        }
        if !buffer.is_empty() {
            let _ = tx.send(Ok(Bytes::from(buffer))).await;
        }
    });
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_six_decimals_and_fields_are_safe_in_a_spreadsheet() {
        assert_eq!(dollars6(1_250_000), "1.250000");
        assert_eq!(dollars6(8), "0.000008");
        assert_eq!(dollars6(-1), "-0.000001");
        assert_eq!(dollars6(i64::MIN), "-9223372036854.775808");
        assert_eq!(field("gpt-4o"), "gpt-4o");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-1+2"), "'-1+2");
    }

    #[test]
    fn every_line_has_as_many_fields_as_its_header() {
        let row = Row {
            day: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
            group: Some("x".into()),
            totals: Default::default(),
        };
        for group in GroupBy::ALL {
            let head = header(group);
            let body = line(group, &row, &Labels::default());
            assert_eq!(
                head.matches(',').count(),
                body.matches(',').count(),
                "{group:?}"
            );
        }
    }
}
