//! What only PostgreSQL has: nodes racing to migrate, a database newer than this build, a
//! server that cannot be reached, connections killed under the writer, and batches that
//! really are one transaction each. Skipped (with a line on stderr) without
//! `PIVOT_TEST_POSTGRES`.
#![allow(clippy::unwrap_used)]

use super::fixture::Fixture;
use super::{attempt, request};
use crate::store::{open, Database, StoreConfig, StoreError, PG_SCHEMA_VERSION};

async fn fixture(test: &str) -> Option<Fixture> {
    Fixture::postgres(&format!("store::tests::postgres::{test}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_once() {
    let Some(f) = fixture("nodes_starting_at_once_migrate_once").await else {
        return;
    };
    let configs: Vec<_> = (0..4).map(|i| f.config(&format!("n{i}"))).collect();
    let opened = futures::future::join_all(configs.iter().map(open)).await;
    assert!(opened.iter().all(Result::is_ok), "every node starts");
    let admin = f.pg_admin().await.unwrap();
    let rows = admin
        .query("SELECT version FROM pivot_schema_version", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(i64::from(rows[0].get::<_, i32>(0)), PG_SCHEMA_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_without_showing_the_password() {
    let Some(f) = fixture("a_newer_schema_is_refused_without_showing_the_password").await else {
        return;
    };
    drop(f.open("n").await);
    let admin = f.pg_admin().await.unwrap();
    admin
        .execute("UPDATE pivot_schema_version SET version = 99", &[])
        .await
        .unwrap();
    let err = open(&f.config("n")).await.err().unwrap();
    assert!(
        matches!(err, StoreError::PgTooNew { found: 99, .. }),
        "{err:?}"
    );
    let Database::Postgres(url) = f.config("n").database else {
        unreachable!()
    };
    let password = url::Url::parse(&url).unwrap().password().map(str::to_owned);
    let msg = err.to_string();
    assert!(msg.contains("newer"), "{msg}");
    if let Some(pw) = password {
        assert!(!msg.contains(&format!(":{pw}@")), "{msg}");
    }
}

#[tokio::test]
async fn an_unreachable_server_fails_the_start_naming_it() {
    // Port 1 on loopback: nothing listens there.
    let config = StoreConfig::postgres("postgres://pivot:hunter2@127.0.0.1:1/pivot");
    let err = open(&config).await.err().unwrap();
    assert!(matches!(err, StoreError::PgConnect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("pivot@127.0.0.1:1/pivot"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_connection_is_replaced_and_nothing_goes_uncounted() {
    let Some(f) = fixture("a_killed_writer_connection_is_replaced").await else {
        return;
    };
    let store = f.open("victim").await;
    for rec in attempt("before", "acc", 1) {
        store.sink.record(rec);
    }
    store.writer.flush().await.unwrap();
    let admin = f.pg_admin().await.unwrap();
    // What a PostgreSQL restart does to every session: terminate it.
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'pivot victim' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(!killed.is_empty());
    let mut sent = 3u64;
    // Each round is a real round trip through the writer; the first may land on the dead
    // connection (lost, counted), later ones on a new one.
    for i in 0..200 {
        store.sink.record(request(&format!("after-{i}"), "acc", 1));
        sent += 1;
        store.writer.flush().await.unwrap();
        if store.sink.written() >= 4 {
            break;
        }
    }
    let stats = store.sink.stats();
    assert_eq!(stats.written + stats.dropped_db_error, sent, "{stats:?}");
    assert!(stats.written >= 4, "{stats:?}");
    assert!(stats.dropped_db_error <= 1, "{stats:?}");
    assert!(store.sink.status().available());
    // The API's pooled connections were killed too: a read still succeeds.
    let mut read = store.reader.list_calls("acc", 10, None).await;
    if read.is_err() {
        read = store.reader.list_calls("acc", 10, None).await;
    }
    assert!(!read.unwrap().calls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_thousands_is_written_in_transactions_of_a_batch() {
    let Some(f) = fixture("a_queue_of_thousands_is_written_in_transactions_of_a_batch").await
    else {
        return;
    };
    let store = f.open("n").await;
    let release = store.writer.stall().await;
    for i in 0..1000 {
        for rec in attempt(&format!("c{i}"), "acc", 1) {
            store.sink.record(rec);
        }
    }
    drop(release);
    store.writer.flush().await.unwrap();
    assert_eq!(store.sink.written(), 3000);
    let admin = f.pg_admin().await.unwrap();
    let count = |sql: &'static str| {
        let admin = &admin;
        async move { admin.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let tx = count("SELECT COUNT(DISTINCT xmin::text) FROM debug_records").await;
    assert_eq!(tx, 6, "3000 records, 500 per batch");
    assert_eq!(count("SELECT COUNT(*) FROM debug_calls").await, 1000);
}

/// `PIVOT_TEST_POSTGRES=... cargo test --release --lib store::tests::postgres::throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput() {
    let Some(f) = fixture("throughput").await else {
        return;
    };
    let config = StoreConfig {
        queue_capacity: 200_000,
        ..f.config("bench")
    };
    super::measure_writer(&config).await;
}
