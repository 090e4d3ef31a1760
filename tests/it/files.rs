//! Files on the FreeSWITCH host (docs/security.md, "Files and time"): a web app's `play`
//! names files under the media roots only, never another call's recording; recordings are
//! deleted once uploaded, and leftovers are cleaned up.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::harness::Pivot;
use crate::support::fake_fs::{FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};
use crate::trust::wait_for;

async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

fn play_then_say(id: &str) -> Reply {
    let flow = serde_json::json!({
        "module": "play", "data": {"id": id},
        "children": {"_": {"module": "say", "data": {"text": "played"}}}
    });
    Reply::json(&flow.to_string())
}

fn failure(t: &Transcript) -> String {
    t.vars_set
        .iter()
        .find(|(k, _)| k == "pivot_failure")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_web_app_cannot_play_files_outside_the_media_roots() {
    let web = WebApp::start().await;
    let pivot = Pivot::start().await;
    let other_call = uuid::Uuid::new_v4();
    for (path, refused) in [
        // Another call's recording (the recordings directory is /tmp here).
        (format!("/tmp/{other_call}.mp3"), "recordings directory"),
        ("/etc/passwd".to_string(), "not under a media directory"),
        ("/sounds/../etc/passwd".to_string(), "`..` segments"),
        (
            "tone_stream://path=/etc/passwd".to_string(),
            "not under a media directory",
        ),
    ] {
        web.script("/voice", [play_then_say(&path)]);
        let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
        let t = run(&pivot, call).await;
        t.assert_no_protocol_errors();
        assert!(t.app_names().is_empty(), "{path}: nothing played\n{t}");
        let f = failure(&t);
        assert!(
            f.starts_with("invalid_flow: invalid Piston JSON: data.id: "),
            "{path}: {f}"
        );
        assert!(f.contains(refused), "{path}: {f}");
    }
    // A file under a root plays.
    web.script("/voice", [play_then_say("/sounds/welcome.wav")]);
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let t = run(&pivot, call).await;
    assert_eq!(
        t.app_calls(),
        [
            ("playback", "/sounds/welcome.wav"),
            ("speak", "flite|slt|played")
        ]
    );
    pivot.stop().await;
}

#[tokio::test]
async fn the_operators_own_documents_may_play_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let doc = serde_json::json!({
        "name": "moh", "numbers": ["3004"],
        "flow": {"module": "play", "data": {"id": "/usr/share/freeswitch/sounds/music.wav"}}
    });
    std::fs::write(dir.path().join("moh.json"), doc.to_string()).unwrap();
    let config = pivot::config::Config {
        callflows: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let router = pivot::app::load_router(&config).unwrap();
    let pivot = Pivot::start_with(|_| {}, router).await;
    let t = run(&pivot, FakeCall::new().destination("3004")).await;
    assert_eq!(
        t.app_calls(),
        [("playback", "/usr/share/freeswitch/sounds/music.wav")]
    );
    pivot.stop().await;
}

fn voicemail(upload: &str) -> Reply {
    let flow = serde_json::json!({
        "module": "record_caller",
        "data": {"url": upload, "format": "mp3", "time_limit": 60, "beep": false}
    });
    Reply::json(&flow.to_string())
}

#[tokio::test]
async fn an_uploaded_recording_is_deleted_and_a_failed_upload_kept() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().to_str().unwrap().to_string();
    let web = WebApp::start().await;
    let rec_dir = recordings.clone();
    let pivot = Pivot::start_with(
        move |c| c.media.recordings_dir = rec_dir,
        pivot::route::Router::empty(),
    )
    .await;
    // Uploaded (FreeSWITCH's http_put got a 201): the file is gone.
    web.script("/voice", [voicemail(&web.url("/rec"))]);
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let t = run(&pivot, call).await;
    assert_eq!(web.uploads().len(), 1, "{t}");
    let uploaded = format!("{recordings}/{}.mp3", t.uuid);
    assert!(!std::path::Path::new(&uploaded).exists(), "{uploaded}\n{t}");
    assert_eq!(
        pivot.engine.stats.recordings_deleted.load(Ordering::SeqCst),
        1
    );
    // The web app refused it: the file stays (for the cleanup, or for someone to retry).
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    web.script(
        &format!("/bad/{}.mp3", call.uuid),
        [Reply::status(500), Reply::status(500)],
    );
    web.script("/voice", [voicemail(&web.url("/bad"))]);
    let t = run(&pivot, call).await;
    let kept = format!("{recordings}/{}.mp3", t.uuid);
    assert!(std::path::Path::new(&kept).exists(), "{kept}\n{t}");
    assert_eq!(
        pivot.engine.stats.recordings_deleted.load(Ordering::SeqCst),
        1
    );
    pivot.stop().await;
}

#[tokio::test]
async fn leftover_recordings_are_cleaned_up_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str, age: Duration| {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        path
    };
    let day = Duration::from_secs(86_400);
    let id = || uuid::Uuid::new_v4().to_string();
    let old = at(&format!("{}.wav", id()), 2 * day);
    let old_second = at(&format!("{}-2.wav", id()), 2 * day);
    let recent = at(&format!("{}.mp3", id()), day / 2);
    let not_ours = at("greeting.wav", 2 * day);
    let rec_dir = dir.path().to_str().unwrap().to_string();
    let pivot = Pivot::start_with(
        move |c| c.media.recordings_dir = rec_dir,
        pivot::route::Router::empty(),
    )
    .await;
    let cleaned = &pivot.engine.stats.recordings_cleaned;
    wait_for("the first cleanup", || cleaned.load(Ordering::SeqCst) == 2).await;
    assert!(!old.exists() && !old_second.exists());
    assert!(recent.exists(), "younger than recordings_max_age_secs");
    assert!(not_ours.exists(), "only pivot's own file names are touched");
    pivot.stop().await;
}
