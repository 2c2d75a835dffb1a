//! Registry-driven rollouts against a real MLflow tracking server (started
//! once for this test binary on a free loopback port; see common::mlflow).
//! Never skipped: without `mlflow` the tests fail saying how to install it.

mod common;

use std::time::{Duration, Instant};

use common::{LIMIT, Proxy, Traffic, artifact, mlflow, watcher};
use fledge_registry::{
    MlflowSource, ModelSource, ModelVerdict, SourceError, WatchError, WatchPhase, tags,
};

fn source() -> MlflowSource {
    MlflowSource::new(&mlflow().url).unwrap()
}

/// Registers a new version of `model` whose artifact is a toy model of `kind`.
fn register(source: &MlflowSource, model: &str, kind: &str) -> String {
    source
        .log_model_version(model, "0", &[("model.json", &artifact(kind))])
        .unwrap()
        .version
}

fn setup(model: &str, challenger_kind: &str) -> (MlflowSource, String, String) {
    let s = source();
    let v1 = register(&s, model, "mean");
    let v2 = register(&s, model, challenger_kind);
    s.set_alias(model, "champion", &v1).unwrap();
    (s, v1, v2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_moves_champion_in_mlflow() {
    let t = Instant::now();
    let (s, v1, v2) = tokio::task::spawn_blocking(|| setup("promote", "last"))
        .await
        .unwrap();
    let w = watcher(s.clone(), "promote").await;
    let traffic = Traffic::start(&w);
    s.set_alias("promote", "challenger", &v2).unwrap();
    w.wait_for(LIMIT, |st| {
        st.champion.version == v2 && st.pending_writes == 0
    })
    .await
    .expect("promoted");

    let aliases = s.aliases("promote").unwrap();
    assert_eq!(aliases.get("champion"), Some(&v2));
    assert!(!aliases.contains_key("challenger"), "{aliases:?}");
    let mv = s.version("promote", &v2).unwrap();
    assert_eq!(mv.verdict(), Some(ModelVerdict::Promoted));
    assert_eq!(mv.tag(tags::PREVIOUS_CHAMPION), Some(v1.as_str()));
    assert!(
        mv.tag(&tags::step(1))
            .unwrap_or_default()
            .starts_with("pass: ")
    );
    assert!(mv.aliases.contains(&"champion".to_owned()));
    assert!(traffic.of(&format!("v{v2}")).0 > 0);
    traffic.stop().await;
    w.shutdown().await;
    eprintln!(
        "promotion: {:?} (server started in {:?})",
        t.elapsed(),
        mlflow().started_in
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_writes_tags_and_clears_challenger_in_mlflow() {
    let t = Instant::now();
    let (s, v1, v2) = tokio::task::spawn_blocking(|| setup("rollback", "broken"))
        .await
        .unwrap();
    let w = watcher(s.clone(), "rollback").await;
    let traffic = Traffic::start(&w);
    s.set_alias("rollback", "challenger", &v2).unwrap();
    w.wait_for(LIMIT, |st| {
        st.rejection(&v2).is_some() && st.pending_writes == 0
    })
    .await
    .expect("rolled back");

    let aliases = s.aliases("rollback").unwrap();
    assert_eq!(aliases.get("champion"), Some(&v1));
    assert!(!aliases.contains_key("challenger"), "{aliases:?}");
    let mv = s.version("rollback", &v2).unwrap();
    assert_eq!(mv.verdict(), Some(ModelVerdict::RolledBack));
    assert!(
        mv.tag(tags::REASON).unwrap_or_default().contains("error"),
        "{:?}",
        mv.tags
    );
    assert!(
        mv.tag(&tags::step(1))
            .unwrap_or_default()
            .starts_with("fail: ")
    );
    assert!(w.models().get(&format!("v{v2}")).is_none());
    traffic.stop().await;
    w.shutdown().await;
    eprintln!("rollback: {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_fails_to_load_never_takes_traffic_in_mlflow() {
    let t = Instant::now();
    let (s, _v1, v2) = tokio::task::spawn_blocking(|| setup("unloadable", "unloadable"))
        .await
        .unwrap();
    let w = watcher(s.clone(), "unloadable").await;
    let traffic = Traffic::start(&w);
    s.set_alias("unloadable", "challenger", &v2).unwrap();
    let st = w
        .wait_for(LIMIT, |st| {
            st.rejection(&v2).is_some() && st.pending_writes == 0
        })
        .await
        .expect("load failure recorded");
    assert_eq!(st.rejection(&v2).unwrap().verdict, ModelVerdict::LoadFailed);
    assert!(matches!(
        st.last_error.as_deref(),
        Some(WatchError::Load { .. })
    ));
    let mv = s.version("unloadable", &v2).unwrap();
    assert_eq!(mv.verdict(), Some(ModelVerdict::LoadFailed));
    assert!(
        mv.tag(tags::REASON)
            .unwrap_or_default()
            .contains("unloadable")
    );
    assert!(!s.aliases("unloadable").unwrap().contains_key("challenger"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(traffic.of(&format!("v{v2}")), (0, 0));
    assert!(traffic.total() > 0);
    traffic.stop().await;
    w.shutdown().await;
    eprintln!("load failure: {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_leaves_serving_untouched() {
    let t = Instant::now();
    let (_s, v1, v2) = tokio::task::spawn_blocking(|| setup("down", "last"))
        .await
        .unwrap();
    let proxy = Proxy::start(&mlflow().url).await;
    let through = MlflowSource::new(&proxy.url).unwrap();
    let w = watcher(through.clone(), "down").await;
    let traffic = Traffic::start(&w);
    w.wait_for(LIMIT, |st| st.polls >= 1).await.unwrap();

    proxy.cut();
    let st = w
        .wait_for(LIMIT, |st| st.consecutive_failures >= 2)
        .await
        .expect("failures counted");
    match st.last_error.as_deref() {
        Some(WatchError::Source(e @ SourceError::Unreachable { url, .. })) => {
            assert!(url.starts_with(&proxy.url), "{url}");
            assert!(e.to_string().contains("get registered model down"), "{e}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    traffic.reset();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, failed) = traffic.of(&format!("v{v1}"));
    assert!(ok > 0 && failed == 0, "{ok} ok, {failed} failed");

    // A challenger set while the registry is unreachable is picked up
    // when it answers again.
    source().set_alias("down", "challenger", &v2).unwrap();
    proxy.restore();
    w.wait_for(LIMIT, |st| {
        st.consecutive_failures == 0 && st.challenger.is_some()
    })
    .await
    .expect("recovers and sees the challenger");
    traffic.stop().await;
    w.shutdown().await;
    eprintln!("unreachable: {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_rollback_after_promotion_in_mlflow() {
    let t = Instant::now();
    let (s, v1, v2) = tokio::task::spawn_blocking(|| setup("oncall", "last"))
        .await
        .unwrap();
    let w = watcher(s.clone(), "oncall").await;
    let traffic = Traffic::start(&w);
    s.set_alias("oncall", "challenger", &v2).unwrap();
    w.wait_for(LIMIT, |st| {
        st.champion.version == v2 && st.pending_writes == 0
    })
    .await
    .expect("promoted");
    assert_eq!(w.status().phase, WatchPhase::Promoted);

    w.rollback("oncall", Some("complaints")).await.unwrap();
    assert_eq!(w.models().champion().id(), format!("v{v1}"));
    w.wait_for(LIMIT, |st| st.pending_writes == 0)
        .await
        .unwrap();
    assert_eq!(s.aliases("oncall").unwrap().get("champion"), Some(&v1));
    let mv = s.version("oncall", &v2).unwrap();
    assert_eq!(mv.verdict(), Some(ModelVerdict::RolledBack));
    assert!(
        mv.tag(tags::REASON)
            .unwrap_or_default()
            .contains("complaints")
    );
    traffic.stop().await;
    w.shutdown().await;
    eprintln!("operator rollback: {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_download_from_file_and_runs_uris_and_errors_are_typed() {
    tokio::task::spawn_blocking(|| {
        let s = source();
        let cache = tempfile::tempdir().unwrap();

        // mlflow-artifacts: (the proxy), a nested directory.
        s.create_registered_model("files").unwrap();
        let run = s.create_run("0").unwrap();
        s.upload_artifact(&run, "model/model.json", &artifact("mean"))
            .unwrap();
        s.upload_artifact(&run, "model/weights/w.bin", b"\x01\x02")
            .unwrap();
        let mv = s
            .create_model_version(
                "files",
                &format!("{}/model", run.artifact_uri),
                Some(&run.run_id),
            )
            .unwrap();
        let dir = s.download(&mv, cache.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.join("weights/w.bin")).unwrap(),
            b"\x01\x02"
        );
        assert_eq!(s.download(&mv, cache.path()).unwrap(), dir, "cached");

        // runs:/<run>/model resolves through runs/get.
        let by_run = s
            .create_model_version(
                "files",
                &format!("runs:/{}/model", run.run_id),
                Some(&run.run_id),
            )
            .unwrap();
        let dir = s.download(&by_run, cache.path()).unwrap();
        assert!(dir.join("model.json").is_file());

        // file:// (an experiment whose artifacts live on this machine).
        let root = mlflow().dir.join("file-root");
        let exp = s
            .create_experiment(
                "file-artifacts",
                Some(&format!("file://{}", root.display())),
            )
            .unwrap();
        let run = s.create_run(&exp).unwrap();
        assert!(
            run.artifact_uri.starts_with("file://"),
            "{}",
            run.artifact_uri
        );
        s.upload_artifact(&run, "model/model.json", &artifact("last"))
            .unwrap();
        let mv = s
            .create_model_version(
                "files",
                &format!("{}/model", run.artifact_uri),
                Some(&run.run_id),
            )
            .unwrap();
        let dir = s.download(&mv, cache.path()).unwrap();
        assert!(
            std::fs::read_to_string(dir.join("model.json"))
                .unwrap()
                .contains("last")
        );

        // Typed errors with MLflow's code and message.
        let e = s.version("files", "999").unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.error_code(), Some("RESOURCE_DOES_NOT_EXIST"));
        assert!(e.to_string().contains("files version 999"), "{e}");
        let e = s.aliases("no-such-model").unwrap_err();
        assert!(
            e.is_not_found() && e.to_string().contains("no-such-model"),
            "{e}"
        );
        assert_eq!(s.versions("files").unwrap().len(), 3);
        // Deleting an alias that is not there succeeds.
        s.delete_alias("files", "challenger").unwrap();
    })
    .await
    .unwrap();
}
