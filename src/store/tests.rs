//! Writer, retention and reader tests over a real file. The writer is stalled or broken
//! through its test-only `exec` hook, so nothing here waits on time.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use super::*;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new(dir.join("debug.db"))
}

fn request(call: &str, account: &str, iteration: u32) -> DebugRecord {
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
fn attempt(call: &str, account: &str, iteration: u32) -> [DebugRecord; 3] {
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

/// Parks the writer thread inside the hook until the returned sender is used or dropped.
fn stall(writer: &StoreWriter) -> mpsc::Sender<()> {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    writer.exec(move |_| {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    started_rx.recv().unwrap();
    release_tx
}

#[tokio::test]
async fn records_come_back_in_order_with_lowercased_response_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer, reader) = open(&config(dir.path())).unwrap();
    for rec in attempt("call-1", "acc", 1) {
        sink.record(rec);
    }
    sink.record(request("call-1", "acc", 2));
    sink.record(DebugRecord::new(
        "call-1",
        "acc",
        2,
        Entry::Error {
            kind: "timeout".into(),
            message: "no response in 5000 ms".into(),
        },
    ));
    writer.flush().unwrap();
    assert_eq!(sink.written(), 5);

    let recs = reader.call_records("acc", "call-1").await.unwrap();
    let kinds: Vec<_> = recs.iter().map(|r| r.to_json()).collect();
    assert_eq!(kinds[0]["method"], "GET");
    assert_eq!(kinds[0]["req_headers"]["User-Agent"], "pivot");
    assert!(kinds[1]["resp_body"].as_str().unwrap().contains("hangup"));
    assert_eq!(kinds[2]["resp_status_code"], "200");
    assert_eq!(kinds[2]["resp_headers"]["content-type"], "application/json");
    assert_eq!(kinds[3]["iteration"], 2);
    assert_eq!(kinds[4]["error_kind"], "timeout");
    assert!(recs.windows(2).all(|w| w[0].id < w[1].id));

    let page = reader.list_calls("acc", 10, None).await.unwrap();
    assert_eq!(page.calls.len(), 1);
    let call = &page.calls[0];
    assert_eq!(
        (call.iterations, call.status_code.as_deref()),
        (2, Some("200"))
    );
    assert!(call.uri.as_deref().unwrap().ends_with("i=1"));
    assert_eq!(page.next_start_key, None);
    writer.shutdown();
}

#[tokio::test]
async fn one_account_never_reads_another_accounts_records() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer, reader) = open(&config(dir.path())).unwrap();
    sink.record(request("shared-id", "alice", 1));
    sink.record(request("bobs-call", "bob", 1));
    writer.flush().unwrap();
    assert!(reader
        .call_records("alice", "bobs-call")
        .await
        .unwrap()
        .is_empty());
    let alice = reader.list_calls("alice", 100, None).await.unwrap();
    let ids: Vec<_> = alice.calls.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["shared-id"]);
    assert_eq!(reader.call_records("bob", "shared-id").await.unwrap(), []);
}

#[tokio::test]
async fn paging_walks_every_call_once_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer, reader) = open(&config(dir.path())).unwrap();
    let base = SystemTime::now() - Duration::from_secs(3600);
    for i in 0..25u64 {
        let mut rec = request(&format!("call-{i:02}"), "acc", 1);
        // Pairs of calls share a millisecond, so ties must be broken by call id.
        rec.created = base + Duration::from_millis(i / 2);
        sink.record(rec);
    }
    writer.flush().unwrap();
    let mut seen = Vec::new();
    let mut key = None;
    let mut pages = 0;
    loop {
        let page = reader.list_calls("acc", 10, key).await.unwrap();
        pages += 1;
        seen.extend(page.calls.into_iter().map(|c| c.call_id));
        key = page.next_start_key;
        if key.is_none() {
            break;
        }
    }
    let expected: Vec<_> = (0..25).rev().map(|i| format!("call-{i:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    assert!(matches!(
        reader.list_calls("acc", 10, Some("nonsense".into())).await,
        Err(StoreError::BadStartKey)
    ));
}

#[test]
fn full_queue_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        queue_capacity: 8,
        ..config(dir.path())
    };
    let (sink, writer, _reader) = open(&cfg).unwrap();
    let release = stall(&writer);
    for i in 0..12 {
        // Returns at once although the writer is parked: the queue takes 8, drops 4.
        sink.record(request(&format!("c{i}"), "acc", 1));
    }
    assert_eq!(sink.stats().dropped_queue_full, 4);
    assert_eq!(sink.dropped(), 4);
    release.send(()).unwrap();
    writer.flush().unwrap();
    assert_eq!(sink.written(), 8);
    assert_eq!(sink.dropped(), 4);
}

#[test]
fn records_over_the_byte_budget_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer, _reader) = open(&config(dir.path())).unwrap();
    let huge = DebugRecord::new(
        "c",
        "acc",
        1,
        Entry::ResponseBody {
            resp_body: "x".repeat(QUEUE_MAX_BYTES + 1),
        },
    );
    sink.record(huge);
    sink.record(request("c", "acc", 1));
    writer.flush().unwrap();
    assert_eq!((sink.written(), sink.dropped()), (1, 1));
}

#[test]
fn read_only_database_loses_records_counted_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer, _reader) = open(&config(dir.path())).unwrap();
    writer.exec(|conn| conn.execute_batch("PRAGMA query_only = 1").unwrap());
    for rec in attempt("c", "acc", 1) {
        sink.record(rec);
    }
    writer.flush().unwrap();
    assert_eq!(sink.stats().dropped_db_error, 3);
    assert_eq!(sink.written(), 0);
    writer.exec(|conn| conn.execute_batch("PRAGMA query_only = 0").unwrap());
    sink.record(request("c", "acc", 2));
    writer.flush().unwrap();
    assert_eq!((sink.written(), sink.dropped()), (1, 3));
}

#[test]
fn full_disk_loses_records_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer, _reader) = open(&config(dir.path())).unwrap();
    // Cap the file at its current size: the next insert finds the "disk" full.
    writer.exec(|conn| {
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .unwrap();
    });
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
    writer.flush().unwrap();
    assert!(sink.stats().dropped_db_error > 0, "{:?}", sink.stats());
    assert_eq!(sink.written() + sink.dropped(), 50);
}

#[tokio::test]
async fn deleted_database_under_a_running_writer_is_started_anew() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (sink, writer, reader) = open(&cfg).unwrap();
    sink.record(request("before", "acc", 1));
    writer.flush().unwrap();
    assert_eq!(reader.call_records("acc", "before").await.unwrap().len(), 1);
    std::fs::remove_file(&cfg.path).unwrap();
    for rec in attempt("after", "acc", 1) {
        sink.record(rec);
    }
    writer.flush().unwrap();
    assert_eq!((sink.written(), sink.dropped()), (4, 0));
    // The pooled read connection on the orphan is not reused; the old WAL did not leak in.
    assert_eq!(reader.call_records("acc", "after").await.unwrap().len(), 3);
    assert!(reader
        .call_records("acc", "before")
        .await
        .unwrap()
        .is_empty());
    writer.shutdown();
}

#[test]
fn database_replaced_by_a_foreign_file_loses_records_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (sink, writer, _reader) = open(&cfg).unwrap();
    std::fs::remove_file(&cfg.path).unwrap();
    std::fs::write(
        &cfg.path,
        "not a database at all, but somebody's notes\n".repeat(10),
    )
    .unwrap();
    for rec in attempt("c", "acc", 1) {
        sink.record(rec);
    }
    writer.flush().unwrap();
    sink.record(request("c", "acc", 2));
    writer.flush().unwrap();
    assert_eq!(sink.written(), 0);
    assert_eq!(sink.stats().dropped_db_error, 4);
    assert!(matches!(
        writer.purge_expired(),
        Err(StoreError::Unavailable)
    ));
    writer.shutdown();
    assert!(std::fs::read_to_string(&cfg.path)
        .unwrap()
        .starts_with("not a database"));
    let wal = dir.path().join("debug.db-wal");
    assert!(
        std::fs::metadata(wal).map_or(true, |m| m.len() == 0),
        "stale WAL left behind"
    );
}

#[test]
fn shutdown_flushes_the_queue_and_later_records_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (sink, writer, _reader) = open(&cfg).unwrap();
    let release = stall(&writer);
    for i in 0..100 {
        sink.record(request(&format!("c{i}"), "acc", 1));
    }
    drop(release);
    writer.shutdown();
    assert_eq!(sink.written(), 100);
    sink.record(request("late", "acc", 1));
    assert_eq!(sink.dropped(), 1);
    let conn = rusqlite::Connection::open(&cfg.path).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM debug_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100);
}

fn aged(call: &str, days: u64) -> DebugRecord {
    let mut rec = request(call, "acc", 1);
    rec.created = SystemTime::now() - Duration::from_secs(days * 86_400);
    rec
}

#[tokio::test]
async fn retention_deletes_only_expired_records_and_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer, reader) = open(&config(dir.path())).unwrap();
    sink.record(aged("old", 40));
    sink.record(aged("mixed", 31));
    sink.record(aged("mixed", 29));
    sink.record(aged("new", 1));
    writer.flush().unwrap();
    assert_eq!(writer.purge_expired().unwrap(), 2);
    assert!(reader.call_records("acc", "old").await.unwrap().is_empty());
    assert_eq!(reader.call_records("acc", "mixed").await.unwrap().len(), 1);
    let page = reader.list_calls("acc", 10, None).await.unwrap();
    let mut ids: Vec<_> = page.calls.into_iter().map(|c| c.call_id).collect();
    ids.sort();
    assert_eq!(ids, ["mixed", "new"]);
}

#[test]
fn retention_runs_at_start_and_zero_days_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let keep = StoreConfig {
        retention_days: 0,
        ..config(dir.path())
    };
    let (sink, writer, _reader) = open(&keep).unwrap();
    sink.record(aged("old", 400));
    writer.flush().unwrap();
    assert_eq!(writer.purge_expired().unwrap(), 0);
    writer.shutdown();

    let (_sink, writer, _reader) = open(&config(dir.path())).unwrap();
    // The start-up purge ran before the writer took this flush.
    writer.flush().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("debug.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM debug_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

/// `cargo test --release --lib store::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        queue_capacity: 200_000,
        ..config(dir.path())
    };
    let (sink, writer, _reader) = open(&cfg).unwrap();
    let n = 100_000u32;
    let release = stall(&writer);
    for i in 0..n / 3 {
        for rec in attempt(&format!("call-{i}"), "acc", 1) {
            sink.record(rec);
        }
    }
    let queued = sink.stats();
    let start = Instant::now();
    drop(release);
    writer.flush().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let written = sink.written();
    println!(
        "writer: {written} records in {secs:.3} s = {:.0} records/s (dropped {}, queued {:?})",
        written as f64 / secs,
        sink.dropped(),
        queued
    );
}
