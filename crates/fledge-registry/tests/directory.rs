//! Registry-driven rollouts against the directory source.

mod common;

use std::time::Duration;

use common::{LIMIT, Traffic, artifact, watcher, watcher_with};
use fledge_registry::{
    DirSource, ModelSource, ModelVerdict, SourceError, WatchError, WatchPhase, tags,
};

fn registry() -> (tempfile::TempDir, DirSource) {
    let root = tempfile::tempdir().unwrap();
    let source = DirSource::new(root.path());
    (root, source)
}

fn add(source: &DirSource, model: &str, version: &str, kind: &str) {
    let dir = source.create_version(model, version).unwrap();
    std::fs::write(dir.join("model.json"), artifact(kind)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_moves_the_champion_alias_and_tags_each_step() {
    let (_root, source) = registry();
    add(&source, "fc", "1", "mean");
    add(&source, "fc", "2", "last");
    source.set_alias("fc", "champion", "1").unwrap();
    let w = watcher(source.clone(), "fc").await;
    let traffic = Traffic::start(&w);

    source.set_alias("fc", "challenger", "2").unwrap();
    w.wait_for(LIMIT, |s| {
        s.champion.version == "2" && s.pending_writes == 0
    })
    .await
    .expect("version 2 is promoted");

    let aliases = source.aliases("fc").unwrap();
    assert_eq!(aliases.get("champion").map(String::as_str), Some("2"));
    assert!(!aliases.contains_key("challenger"), "{aliases:?}");
    let v2 = source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::Promoted));
    assert_eq!(v2.tag(tags::PREVIOUS_CHAMPION), Some("1"));
    assert_eq!(v2.tag(tags::ROLLOUT), Some("fc-v2"));
    for step in [1, 2] {
        let summary = v2.tag(&tags::step(step)).unwrap_or_default();
        assert!(summary.starts_with("pass: "), "step {step}: {summary:?}");
    }
    assert!(traffic.of("v2").0 > 0, "v2 served during the canary");
    assert_eq!(w.models().champion().id(), "v2");
    // The previous champion stays loaded for the grace period.
    assert!(w.models().get("v1").is_some());
    assert_eq!(w.status().phase, WatchPhase::Promoted);
    traffic.stop().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_tags_the_version_and_clears_the_challenger() {
    let (_root, source) = registry();
    add(&source, "fc", "1", "mean");
    add(&source, "fc", "2", "broken");
    source.set_alias("fc", "champion", "1").unwrap();
    let w = watcher(source.clone(), "fc").await;
    let traffic = Traffic::start(&w);

    source.set_alias("fc", "challenger", "2").unwrap();
    let status = w
        .wait_for(LIMIT, |s| {
            s.rejection("2").is_some() && s.pending_writes == 0
        })
        .await
        .expect("version 2 is rolled back");
    assert_eq!(status.champion.version, "1");
    assert_eq!(
        status.rejection("2").unwrap().verdict,
        ModelVerdict::RolledBack
    );

    let aliases = source.aliases("fc").unwrap();
    assert_eq!(aliases.get("champion").map(String::as_str), Some("1"));
    assert!(!aliases.contains_key("challenger"), "{aliases:?}");
    let v2 = source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::RolledBack));
    let reason = v2.tag(tags::REASON).unwrap_or_default();
    assert!(
        reason.contains("error_rate") || reason.contains("errors"),
        "{reason}"
    );
    let step1 = v2.tag(&tags::step(1)).unwrap_or_default();
    assert!(step1.starts_with("fail: "), "{step1}");
    assert!(w.models().get("v2").is_none(), "unloaded");

    // Not retried: marking it challenger again changes nothing.
    source.set_alias("fc", "challenger", "2").unwrap();
    let polls = w.status().polls;
    w.wait_for(LIMIT, |s| s.polls >= polls + 5).await.unwrap();
    let s = w.status();
    assert_eq!(s.phase, WatchPhase::Serving);
    assert!(s.challenger.is_none());
    traffic.stop().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_fails_to_load_never_takes_traffic() {
    let (_root, source) = registry();
    add(&source, "fc", "1", "mean");
    add(&source, "fc", "2", "unloadable");
    source.set_alias("fc", "champion", "1").unwrap();
    let w = watcher(source.clone(), "fc").await;
    let traffic = Traffic::start(&w);

    source.set_alias("fc", "challenger", "2").unwrap();
    let status = w
        .wait_for(LIMIT, |s| {
            s.rejection("2").is_some() && s.pending_writes == 0
        })
        .await
        .expect("the load failure is recorded");
    assert_eq!(
        status.rejection("2").unwrap().verdict,
        ModelVerdict::LoadFailed
    );
    match status.last_error.as_deref() {
        Some(WatchError::Load {
            version, reason, ..
        }) => {
            assert_eq!(version, "2");
            assert!(reason.contains("unloadable"), "{reason}");
        }
        other => panic!("expected a load error, got {other:?}"),
    }
    let v2 = source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::LoadFailed));
    assert!(
        v2.tag(tags::REASON)
            .unwrap_or_default()
            .contains("unloadable")
    );
    assert!(!source.aliases("fc").unwrap().contains_key("challenger"));

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(traffic.total() > 0);
    assert_eq!(traffic.of("v2"), (0, 0), "v2 never served");
    traffic.stop().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_is_gone_leaves_serving_untouched() {
    let (root, source) = registry();
    add(&source, "fc", "1", "mean");
    source.set_alias("fc", "champion", "1").unwrap();
    let w = watcher(source.clone(), "fc").await;
    let traffic = Traffic::start(&w);
    w.wait_for(LIMIT, |s| s.polls >= 1).await.unwrap();

    // The registry disappears (an unmounted share, a deleted directory).
    let moved = root.path().join("fc-away");
    std::fs::rename(root.path().join("fc"), &moved).unwrap();
    let status = w
        .wait_for(LIMIT, |s| s.consecutive_failures >= 2)
        .await
        .expect("failures are counted");
    match status.last_error.as_deref() {
        Some(WatchError::Source(e @ SourceError::NotFound { .. })) => {
            assert!(e.to_string().contains("fc"), "{e}");
        }
        other => panic!("expected a typed source error, got {other:?}"),
    }
    traffic.reset();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, failed) = traffic.of("v1");
    assert!(
        ok > 0 && failed == 0,
        "serving goes on: {ok} ok, {failed} failed"
    );

    std::fs::rename(&moved, root.path().join("fc")).unwrap();
    let s = w
        .wait_for(LIMIT, |s| {
            s.consecutive_failures == 0 && s.last_error.is_none()
        })
        .await
        .expect("recovers");
    assert_eq!(s.champion.version, "1");
    traffic.stop().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_rollback_after_promotion_moves_the_pointer_back() {
    let (_root, source) = registry();
    add(&source, "fc", "1", "mean");
    add(&source, "fc", "2", "last");
    source.set_alias("fc", "champion", "1").unwrap();
    let w = watcher(source.clone(), "fc").await;
    let traffic = Traffic::start(&w);
    source.set_alias("fc", "challenger", "2").unwrap();
    w.wait_for(LIMIT, |s| {
        s.champion.version == "2" && s.pending_writes == 0
    })
    .await
    .expect("promoted");

    w.rollback("oncall", Some("bad after all")).await.unwrap();
    // In memory at once: no load, one swap.
    assert_eq!(w.models().champion().id(), "v1");
    assert!(w.models().get("v2").is_none());
    let s = w.wait_for(LIMIT, |s| s.pending_writes == 0).await.unwrap();
    assert_eq!(s.champion.version, "1");
    assert_eq!(s.phase, WatchPhase::Serving);
    assert_eq!(
        source
            .aliases("fc")
            .unwrap()
            .get("champion")
            .map(String::as_str),
        Some("1")
    );
    let v2 = source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::RolledBack));
    let reason = v2.tag(tags::REASON).unwrap_or_default();
    assert!(
        reason.contains("bad after all") && reason.contains("after promotion"),
        "{reason}"
    );

    traffic.reset();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(traffic.of("v2"), (0, 0));
    assert!(traffic.of("v1").0 > 0);
    // Nothing to roll back any more.
    assert!(matches!(
        w.rollback("oncall", None).await,
        Err(WatchError::NothingToDo { .. })
    ));
    traffic.stop().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_followers_follow_the_registry() {
    let (_root, source) = registry();
    add(&source, "fc", "1", "mean");
    add(&source, "fc", "2", "last");
    source.set_alias("fc", "champion", "1").unwrap();
    let follower = watcher_with(source.clone(), "fc", |b| b.leader(|| false)).await;

    // Alone, the follower loads the challenger but neither canaries it nor
    // writes anything.
    source.set_alias("fc", "challenger", "2").unwrap();
    follower
        .wait_for(LIMIT, |s| s.phase == WatchPhase::Staged)
        .await
        .expect("the follower loads the challenger");
    let polls = follower.status().polls;
    follower
        .wait_for(LIMIT, |s| s.polls >= polls + 5)
        .await
        .unwrap();
    assert_eq!(follower.status().phase, WatchPhase::Staged);
    assert!(!follower.status().leader);
    let v2 = source.version("fc", "2").unwrap();
    assert!(
        v2.tags.is_empty(),
        "a follower writes no tags: {:?}",
        v2.tags
    );
    assert_eq!(
        source
            .aliases("fc")
            .unwrap()
            .get("champion")
            .map(String::as_str),
        Some("1")
    );

    // The leader canaries and promotes; the follower switches when the
    // registry's champion moves.
    let leader = watcher(source.clone(), "fc").await;
    let traffic = Traffic::start(&leader);
    leader
        .wait_for(LIMIT, |s| {
            s.champion.version == "2" && s.pending_writes == 0
        })
        .await
        .expect("the leader promotes");
    follower
        .wait_for(LIMIT, |s| s.champion.version == "2")
        .await
        .expect("the follower follows the registry");
    assert_eq!(follower.models().champion().id(), "v2");
    traffic.stop().await;
    leader.shutdown().await;
    follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_fails_without_a_champion() {
    let (_root, source) = registry();
    add(&source, "fc", "1", "mean");
    let err = fledge_registry::Watcher::<common::Toy>::builder(source, "fc", common::plan())
        .loader(common::load)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, WatchError::NoChampion { .. }), "{err}");
    assert!(err.to_string().contains("@champion"), "{err}");
}
