//! What both databases must do alike. Each test takes a [`Fixture`] and is run once per
//! database by `on_both!` in `mod.rs`. The writer is parked through its test hook where a
//! test needs a full queue, so nothing here waits on time.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use super::fixture::Fixture;
use super::{aged, attempt, request};
use crate::store::{
    DebugRecord, Entry, NewToken, StoreError, TimelineRecord, PAGE_SIZE_MAX, QUEUE_MAX_BYTES,
};

pub(super) async fn records_come_back_in_order_with_their_node(f: Fixture) {
    let store = f.open("node-a").await;
    for rec in attempt("call-1", "acc", 1) {
        store.sink.record(rec);
    }
    store.sink.record(request("call-1", "acc", 2));
    store.sink.record(DebugRecord::new(
        "call-1",
        "acc",
        2,
        Entry::Error {
            kind: "timeout".into(),
            message: "no response in 5000 ms".into(),
        },
    ));
    store.writer.flush().await.unwrap();
    assert_eq!(store.sink.written(), 5);
    assert!(store.sink.status().available());

    let recs = store.reader.call_records("acc", "call-1").await.unwrap();
    let json: Vec<_> = recs.iter().map(|r| r.to_json()).collect();
    assert_eq!(json[0]["method"], "GET");
    assert_eq!(json[0]["req_headers"]["User-Agent"], "pivot");
    assert!(json[1]["resp_body"].as_str().unwrap().contains("hangup"));
    assert_eq!(json[2]["resp_status_code"], "200");
    assert_eq!(json[2]["resp_headers"]["content-type"], "application/json");
    assert_eq!(json[3]["iteration"], 2);
    assert_eq!(json[4]["error_kind"], "timeout");
    assert!(json.iter().all(|r| r["node"] == "node-a"));
    assert!(recs.windows(2).all(|w| w[0].id < w[1].id));

    let page = store.reader.list_calls("acc", 10, None).await.unwrap();
    assert_eq!(page.calls.len(), 1);
    let call = &page.calls[0];
    assert_eq!(
        (
            call.iterations,
            call.status_code.as_deref(),
            call.node.as_str()
        ),
        (2, Some("200"), "node-a")
    );
    assert!(call.uri.as_deref().unwrap().ends_with("i=1"));
    assert_eq!(page.next_start_key, None);
    store.writer.shutdown().await;
}

pub(super) async fn one_account_never_reads_another_accounts_records(f: Fixture) {
    let store = f.open("n").await;
    store.sink.record(request("shared-id", "alice", 1));
    store.sink.record(request("bobs-call", "bob", 1));
    store.writer.flush().await.unwrap();
    let r = &store.reader;
    assert!(r
        .call_records("alice", "bobs-call")
        .await
        .unwrap()
        .is_empty());
    let alice = r.list_calls("alice", 100, None).await.unwrap();
    let ids: Vec<_> = alice.calls.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["shared-id"]);
    assert_eq!(r.call_records("bob", "shared-id").await.unwrap(), []);
}

pub(super) async fn paging_walks_every_call_once_newest_first(f: Fixture) {
    let store = f.open("n").await;
    let base = SystemTime::now() - Duration::from_secs(3600);
    for i in 0..25u64 {
        let mut rec = request(&format!("call-{i:02}"), "acc", 1);
        // Pairs of calls share a millisecond, so ties must be broken by call id.
        rec.created = base + Duration::from_millis(i / 2);
        store.sink.record(rec);
    }
    // Upper and lower case sort by byte, whatever the database's locale.
    for id in ["B-upper", "a-lower"] {
        let mut rec = request(id, "acc", 1);
        rec.created = base - Duration::from_secs(1);
        store.sink.record(rec);
    }
    store.writer.flush().await.unwrap();
    let mut seen = Vec::new();
    let mut key = None;
    let mut pages = 0;
    loop {
        let page = store.reader.list_calls("acc", 10, key).await.unwrap();
        pages += 1;
        seen.extend(page.calls.into_iter().map(|c| c.call_id));
        key = page.next_start_key;
        if key.is_none() {
            break;
        }
    }
    let mut expected: Vec<_> = (0..25).rev().map(|i| format!("call-{i:02}")).collect();
    expected.extend(["a-lower".to_owned(), "B-upper".to_owned()]);
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    assert!(matches!(
        store
            .reader
            .list_calls("acc", 10, Some("nonsense".into()))
            .await,
        Err(StoreError::BadStartKey)
    ));
    let all = store
        .reader
        .list_calls("acc", usize::MAX, None)
        .await
        .unwrap();
    assert_eq!(all.calls.len(), 27.min(PAGE_SIZE_MAX));
}

pub(super) async fn full_queue_drops_and_counts_without_blocking(f: Fixture) {
    let store = crate::store::open(&crate::store::StoreConfig {
        queue_capacity: 8,
        ..f.config("n")
    })
    .await
    .unwrap();
    let release = store.writer.stall().await;
    for i in 0..12 {
        // Returns at once although the writer is parked: the queue takes 8, drops 4.
        store.sink.record(request(&format!("c{i}"), "acc", 1));
    }
    assert_eq!(store.sink.stats().dropped_queue_full, 4);
    assert_eq!(store.sink.dropped(), 4);
    release.send(()).unwrap();
    store.writer.flush().await.unwrap();
    assert_eq!((store.sink.written(), store.sink.dropped()), (8, 4));
}

pub(super) async fn records_over_the_byte_budget_are_dropped(f: Fixture) {
    let store = f.open("n").await;
    let huge = DebugRecord::new(
        "c",
        "acc",
        1,
        Entry::ResponseBody {
            resp_body: "x".repeat(QUEUE_MAX_BYTES + 1),
        },
    );
    store.sink.record(huge);
    store.sink.record(request("c", "acc", 1));
    store.writer.flush().await.unwrap();
    assert_eq!((store.sink.written(), store.sink.dropped()), (1, 1));
}

pub(super) async fn shutdown_flushes_the_queue_and_later_records_are_counted(f: Fixture) {
    let store = f.open("n").await;
    let release = store.writer.stall().await;
    for i in 0..100 {
        store.sink.record(request(&format!("c{i}"), "acc", 1));
    }
    drop(release);
    store.writer.shutdown().await;
    assert_eq!(store.sink.written(), 100);
    store.sink.record(request("late", "acc", 1));
    assert_eq!(store.sink.dropped(), 1);
    let again = f.open("n").await;
    let page = again.reader.list_calls("acc", 1000, None).await.unwrap();
    assert_eq!(page.calls.len(), 100);
}

pub(super) async fn retention_deletes_only_expired_records_calls_and_tokens(f: Fixture) {
    let store = f.open("n").await;
    store.sink.record(aged("old", 40));
    store.sink.record(aged("mixed", 31));
    store.sink.record(aged("mixed", 29));
    store.sink.record(aged("new", 1));
    store.writer.flush().await.unwrap();
    let now = crate::store::unix_ms(SystemTime::now());
    let token = |hash: &str, expires_ms| NewToken {
        hash: hash.into(),
        account_id: "acc".into(),
        created_ms: now - 10_000,
        expires_ms,
        max_per_account: 10,
    };
    // Expired 5 s ago, but live when it was made (so `create` itself keeps it).
    let s = &store.sessions;
    s.create(token("live", now + 60_000)).await.unwrap();
    s.create(token("expired", now - 5_000)).await.unwrap();
    let before = now - 6_000;
    assert_eq!(
        s.account_of("expired", before).await.unwrap().as_deref(),
        Some("acc")
    );
    assert_eq!(store.writer.purge_expired().await.unwrap(), 2);
    let r = &store.reader;
    assert!(r.call_records("acc", "old").await.unwrap().is_empty());
    assert_eq!(r.call_records("acc", "mixed").await.unwrap().len(), 1);
    let page = r.list_calls("acc", 10, None).await.unwrap();
    let mut ids: Vec<_> = page.calls.into_iter().map(|c| c.call_id).collect();
    ids.sort();
    assert_eq!(ids, ["mixed", "new"]);
    assert_eq!(
        s.account_of("live", now).await.unwrap().as_deref(),
        Some("acc")
    );
    assert_eq!(
        s.account_of("expired", before).await.unwrap(),
        None,
        "purged"
    );

    let keep = crate::store::open(&crate::store::StoreConfig {
        retention_days: 0,
        ..f.config("n")
    })
    .await
    .unwrap();
    keep.sink.record(aged("ancient", 400));
    keep.writer.flush().await.unwrap();
    assert_eq!(keep.writer.purge_expired().await.unwrap(), 0);
    assert_eq!(r.call_records("acc", "ancient").await.unwrap().len(), 1);
}

pub(super) async fn hostile_text_is_stored_as_text(f: Fixture) {
    let store = f.open("n").await;
    let body = "nul:\0 quote:' dq:\" backslash:\\ emoji:🎉 sql:'); DROP TABLE debug_records; --";
    let call = "x' OR '1'='1";
    store.sink.record(request(call, "acc", 1));
    store.sink.record(DebugRecord::new(
        call,
        "acc",
        1,
        Entry::ResponseBody {
            resp_body: body.into(),
        },
    ));
    store.sink.record(DebugRecord::new(
        call,
        "acc",
        1,
        Entry::Error {
            kind: "json".into(),
            message: "bad byte \0 at 3".into(),
        },
    ));
    store.writer.flush().await.unwrap();
    assert_eq!((store.sink.written(), store.sink.dropped()), (3, 0));
    let recs = store.reader.call_records("acc", call).await.unwrap();
    let Entry::ResponseBody { resp_body } = &recs[1].entry else {
        panic!("{recs:?}")
    };
    // PostgreSQL text cannot hold NUL: it becomes U+FFFD there, SQLite keeps it.
    let expected = if f.is_postgres() {
        body.replace('\0', "\u{FFFD}")
    } else {
        body.to_owned()
    };
    assert_eq!(resp_body, &expected);
    assert!(store
        .reader
        .call_records("acc", "a\0b")
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn two_nodes_on_one_database_read_each_others_calls(f: Fixture) {
    let a = f.open("node-a").await;
    let b = f.open("node-b").await;
    for rec in attempt("from-a", "acc", 1) {
        a.sink.record(rec);
    }
    for rec in attempt("from-b", "acc", 1) {
        b.sink.record(rec);
    }
    a.writer.flush().await.unwrap();
    b.writer.flush().await.unwrap();
    for reader in [&a.reader, &b.reader] {
        let page = reader.list_calls("acc", 10, None).await.unwrap();
        let mut nodes: Vec<_> = page
            .calls
            .iter()
            .map(|c| (c.call_id.as_str(), c.node.as_str()))
            .collect();
        nodes.sort();
        assert_eq!(nodes, [("from-a", "node-a"), ("from-b", "node-b")]);
        let recs = reader.call_records("acc", "from-a").await.unwrap();
        assert_eq!(recs.len(), 3);
        assert!(recs.iter().all(|r| r.node == "node-a"));
    }
}

pub(super) async fn sessions_survive_a_restart_and_are_capped_per_account(f: Fixture) {
    let now = crate::store::unix_ms(SystemTime::now());
    let token = |hash: &str, account: &str| NewToken {
        hash: hash.into(),
        account_id: account.into(),
        created_ms: now,
        expires_ms: now + 60_000,
        max_per_account: 3,
    };
    let first = f.open("n").await;
    first
        .sessions
        .create(token("other", "quiet"))
        .await
        .unwrap();
    let mut evicted = 0;
    for i in 0..5 {
        evicted += first
            .sessions
            .create(token(&format!("t{i}"), "noisy"))
            .await
            .unwrap();
    }
    assert_eq!(evicted, 2);
    first.writer.shutdown().await;

    let second = f.open("n").await;
    let s = &second.sessions;
    let live = |h: &'static str| async move { s.account_of(h, now).await.unwrap() };
    assert_eq!(live("t0").await, None, "the account's oldest went first");
    assert_eq!(live("t1").await, None);
    for h in ["t2", "t3", "t4"] {
        assert_eq!(live(h).await.as_deref(), Some("noisy"), "{h}");
    }
    assert_eq!(
        live("other").await.as_deref(),
        Some("quiet"),
        "never another account's"
    );
    assert!(s.revoke("t3").await.unwrap());
    assert_eq!(live("t3").await, None);
    assert!(!s.revoke("t3").await.unwrap());
    assert_eq!(
        s.account_of("t4", now + 60_000).await.unwrap(),
        None,
        "expired"
    );
}

fn timeline(call: &str, account: &str, age_days: u64, steps: &str) -> TimelineRecord {
    TimelineRecord {
        call_id: call.into(),
        account_id: account.into(),
        created: SystemTime::now() - Duration::from_secs(age_days * 86_400),
        entries: 1,
        json: format!(r#"[{{"t_ms":0,"step":"{steps}"}}]"#),
    }
}

pub(super) async fn timelines_are_kept_per_account_counted_and_expire(f: Fixture) {
    let store = f.open("node-t").await;
    store.sink.timeline(timeline("c1", "alice", 0, "answer"));
    store.sink.timeline(timeline("c1", "bob", 0, "exit"));
    store.sink.timeline(timeline("old", "alice", 40, "exit"));
    // A NUL from a web app's text must not cost the timeline (PostgreSQL text has none).
    store.sink.timeline(timeline("nul", "alice", 0, "a\0b"));
    store.sink.record(request("c1", "alice", 1));
    store.writer.flush().await.unwrap();
    let stats = store.sink.stats();
    assert_eq!((stats.timelines_written, stats.timelines_dropped), (4, 0));
    assert_eq!(stats.written, 1, "records are counted apart");
    let r = &store.reader;
    let alice = r.call_timeline("alice", "c1").await.unwrap().unwrap();
    assert_eq!(alice.node, "node-t");
    let json = alice.to_json();
    assert_eq!(json["entries"][0]["step"], "answer");
    assert_eq!(json["call_id"], "c1");
    let bob = r.call_timeline("bob", "c1").await.unwrap().unwrap();
    assert_eq!(bob.to_json()["entries"][0]["step"], "exit");
    assert_eq!(r.call_timeline("carol", "c1").await.unwrap(), None);
    assert!(r.call_timeline("alice", "nul").await.unwrap().is_some());
    store.writer.purge_expired().await.unwrap();
    assert_eq!(r.call_timeline("alice", "old").await.unwrap(), None);
    assert!(r.call_timeline("alice", "c1").await.unwrap().is_some());
    store.writer.shutdown().await;
}
