//! SQLite's own cases over a real file: the database turned read-only, full, deleted or
//! replaced under a running writer, retention at start. The behaviour both databases share
//! is tested in `store/tests/`. The writer is broken through its test-only `exec` hook, so
//! nothing here waits on time.
#![allow(clippy::unwrap_used)]

use rusqlite::Connection;
use std::path::Path;

use super::SqliteBackend;
use crate::store::tests::{aged, attempt, request};
use crate::store::{open, DebugRecord, Entry, Store, StoreConfig, StoreError};

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new(dir.join("debug.db"))
}

fn path(cfg: &StoreConfig) -> std::path::PathBuf {
    match &cfg.database {
        crate::store::Database::Sqlite(p) => p.clone(),
        crate::store::Database::Postgres(_) => unreachable!(),
    }
}

/// Runs `f` on the writer's own connection, after what is queued.
async fn on_writer(store: &Store, f: impl FnOnce(&Connection) + Send + 'static) {
    store
        .writer
        .exec(move |backend| {
            let backend = backend.downcast_mut::<SqliteBackend>().unwrap();
            f(backend.conn().unwrap());
        })
        .await;
}

#[tokio::test]
async fn read_only_database_loses_records_counted_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&config(dir.path())).await.unwrap();
    let (sink, writer) = (&store.sink, &store.writer);
    on_writer(&store, |conn| {
        conn.execute_batch("PRAGMA query_only = 1").unwrap()
    })
    .await;
    for rec in attempt("c", "acc", 1) {
        sink.record(rec);
    }
    writer.flush().await.unwrap();
    assert_eq!(sink.stats().dropped_db_error, 3);
    assert_eq!(sink.written(), 0);
    assert!(!sink.status().available(), "/health says degraded");
    on_writer(&store, |conn| {
        conn.execute_batch("PRAGMA query_only = 0").unwrap()
    })
    .await;
    sink.record(request("c", "acc", 2));
    writer.flush().await.unwrap();
    assert_eq!((sink.written(), sink.dropped()), (1, 3));
    assert!(sink.status().available());
}

#[tokio::test]
async fn full_disk_loses_records_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&config(dir.path())).await.unwrap();
    let (sink, writer) = (&store.sink, &store.writer);
    // Cap the file at its current size: the next insert finds the "disk" full.
    on_writer(&store, |conn| {
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .unwrap();
    })
    .await;
    for i in 0..50 {
        sink.record(DebugRecord::new(
            "c",
            "acc",
            i,
            Entry::ResponseBody {
                resp_body: "y".repeat(8192),
            },
        ));
    }
    writer.flush().await.unwrap();
    assert!(sink.stats().dropped_db_error > 0, "{:?}", sink.stats());
    assert_eq!(sink.written() + sink.dropped(), 50);
}

#[tokio::test]
async fn deleted_database_under_a_running_writer_is_started_anew() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = open(&cfg).await.unwrap();
    let (sink, writer, reader) = (&store.sink, &store.writer, &store.reader);
    sink.record(request("before", "acc", 1));
    writer.flush().await.unwrap();
    assert_eq!(reader.call_records("acc", "before").await.unwrap().len(), 1);
    std::fs::remove_file(path(&cfg)).unwrap();
    for rec in attempt("after", "acc", 1) {
        sink.record(rec);
    }
    writer.flush().await.unwrap();
    assert_eq!((sink.written(), sink.dropped()), (4, 0));
    // The pooled read connection on the orphan is not reused; the old WAL did not leak in.
    assert_eq!(reader.call_records("acc", "after").await.unwrap().len(), 3);
    assert!(reader
        .call_records("acc", "before")
        .await
        .unwrap()
        .is_empty());
    store.writer.shutdown().await;
}

#[tokio::test]
async fn database_replaced_by_a_foreign_file_loses_records_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = open(&cfg).await.unwrap();
    let (sink, writer) = (&store.sink, &store.writer);
    std::fs::remove_file(path(&cfg)).unwrap();
    std::fs::write(
        path(&cfg),
        "not a database at all, but somebody's notes\n".repeat(10),
    )
    .unwrap();
    for rec in attempt("c", "acc", 1) {
        sink.record(rec);
    }
    writer.flush().await.unwrap();
    sink.record(request("c", "acc", 2));
    writer.flush().await.unwrap();
    assert_eq!(sink.written(), 0);
    assert_eq!(sink.stats().dropped_db_error, 4);
    assert!(matches!(
        writer.purge_expired().await,
        Err(StoreError::Unavailable)
    ));
    store.writer.shutdown().await;
    assert!(std::fs::read_to_string(path(&cfg))
        .unwrap()
        .starts_with("not a database"));
    let wal = dir.path().join("debug.db-wal");
    assert!(
        std::fs::metadata(wal).map_or(true, |m| m.len() == 0),
        "stale WAL left behind"
    );
}

#[tokio::test]
async fn retention_runs_at_start_and_zero_days_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let keep = StoreConfig {
        retention_days: 0,
        ..config(dir.path())
    };
    let store = open(&keep).await.unwrap();
    store.sink.record(aged("old", 400));
    store.writer.flush().await.unwrap();
    assert_eq!(store.writer.purge_expired().await.unwrap(), 0);
    store.writer.shutdown().await;

    let store = open(&config(dir.path())).await.unwrap();
    // The start-up purge ran before the writer took this flush.
    store.writer.flush().await.unwrap();
    let conn = Connection::open(dir.path().join("debug.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM debug_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

/// `cargo test --release --lib store::sqlite::tests::throughput -- --ignored --nocapture`
/// (and the same with `PIVOT_TEST_POSTGRES` set for `store::tests::postgres` ... see
/// docs/performance.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        queue_capacity: 200_000,
        ..config(dir.path())
    };
    crate::store::tests::measure_writer(&cfg).await;
}
