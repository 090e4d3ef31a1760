//! The store's behaviour, the same for both databases: every test in `suite.rs` runs once
//! on a SQLite file and once on PostgreSQL (`PIVOT_TEST_POSTGRES`). `postgres.rs` holds
//! what only PostgreSQL has (migrations racing, connections killed under the writer);
//! SQLite's own cases (the file deleted, read-only, full) are in `sqlite/tests.rs`.

pub(crate) mod fixture;
mod postgres;
mod suite;

use std::time::{Duration, SystemTime};

use super::{DebugRecord, Entry};

/// Runs each named test of `suite` on both databases.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::suite::$name(super::fixture::Fixture::sqlite()).await
                }
            )*
        }
        mod postgres_suite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!("store::tests::postgres_suite::", stringify!($name));
                    if let Some(f) = super::fixture::Fixture::postgres(test).await {
                        super::suite::$name(f).await
                    }
                }
            )*
        }
    };
}

on_both!(
    records_come_back_in_order_with_their_node,
    one_account_never_reads_another_accounts_records,
    paging_walks_every_call_once_newest_first,
    full_queue_drops_and_counts_without_blocking,
    records_over_the_byte_budget_are_dropped,
    shutdown_flushes_the_queue_and_later_records_are_counted,
    retention_deletes_only_expired_records_calls_and_tokens,
    hostile_text_is_stored_as_text,
    two_nodes_on_one_database_read_each_others_calls,
    sessions_survive_a_restart_and_are_capped_per_account,
    timelines_are_kept_per_account_counted_and_expire,
);

pub(crate) fn request(call: &str, account: &str, iteration: u32) -> DebugRecord {
    DebugRecord::new(
        call,
        account,
        iteration,
        Entry::Request {
            method: "GET".into(),
            uri: format!("http://app.test/voice?Call-ID={call}&i={iteration}"),
            req_headers: vec![("User-Agent".into(), "pivot".into())],
            req_body: String::new(),
        },
    )
}

/// The three records of one successful attempt, in the contract's order.
pub(crate) fn attempt(call: &str, account: &str, iteration: u32) -> [DebugRecord; 3] {
    [
        request(call, account, iteration),
        DebugRecord::new(
            call,
            account,
            iteration,
            Entry::ResponseBody {
                resp_body: format!("{{\"module\":\"hangup\",\"i\":{iteration}}}"),
            },
        ),
        DebugRecord::new(
            call,
            account,
            iteration,
            Entry::ResponseHead {
                status_code: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
            },
        ),
    ]
}

pub(crate) fn aged(call: &str, days: u64) -> DebugRecord {
    let mut rec = request(call, "acc", 1);
    rec.created = SystemTime::now() - Duration::from_secs(days * 86_400);
    rec
}

/// The writer alone: queues 99 999 records (a third of them response bodies) while it is
/// parked, then times how long it takes to commit them. Prints records per second.
pub(crate) async fn measure_writer(config: &super::StoreConfig) {
    let store = super::open(config).await.expect("open the store");
    let calls = 33_333u32;
    let release = store.writer.stall().await;
    for i in 0..calls {
        for rec in attempt(&format!("call-{i}"), "acc", 1) {
            store.sink.record(rec);
        }
    }
    let queued = store.sink.stats();
    let start = std::time::Instant::now();
    drop(release);
    store.writer.flush().await.expect("flush");
    let secs = start.elapsed().as_secs_f64();
    let written = store.sink.written();
    store.writer.shutdown().await;
    let bytes = stored_bytes(&config.database).await;
    println!(
        "writer ({:?}): {written} records in {secs:.3} s = {:.0} records/s (dropped {}, queued {:?}); {:.0} bytes stored per record",
        config.database,
        written as f64 / secs,
        store.sink.dropped(),
        queued,
        bytes as f64 / written.max(1) as f64,
    );
}

/// What the debug log takes on disk: the SQLite file and its WAL, or PostgreSQL's tables
/// with their indexes.
async fn stored_bytes(database: &super::Database) -> u64 {
    match database {
        super::Database::Sqlite(path) => {
            let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
            size(path) + size(&path.with_extension("db-wal"))
        }
        super::Database::Postgres(url) => {
            let client = fixture::connect(url).await;
            let row = client
                .query_one(
                    "SELECT pg_total_relation_size('debug_records') + pg_total_relation_size('debug_calls')",
                    &[],
                )
                .await
                .expect("table sizes");
            u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)
        }
    }
}
