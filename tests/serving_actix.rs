//! The actix-web middleware over real HTTP on loopback, two workers sharing
//! one rollout: requests are recorded per version, users are sticky, the
//! handler sees the chosen version, and injected errors roll back within one
//! tick.

#[path = "serving/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use fledge_actix::{CanaryMiddleware, Version};
use fledge_rollout::machine::PhaseName;
use http_body_util::Full;
use support::{HttpClient, client, plan};

async fn recommend(version: Version, fail: web::Data<Arc<AtomicBool>>) -> HttpResponse {
    if version.id() == "v2" && fail.load(Ordering::Relaxed) {
        return HttpResponse::InternalServerError().body("v2 failed");
    }
    HttpResponse::Ok().body(format!("ranked by {}", version.id()))
}

async fn ask(client: &HttpClient, addr: std::net::SocketAddr, user: &str) -> (u16, String, String) {
    let req = http::Request::post(format!("http://{addr}/api/v1/recommend"))
        .header("x-user-id", user)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let reply = fledge_tests::call(client, req).await;
    (reply.status.as_u16(), reply.version, reply.body)
}

#[test]
fn actix_middleware_routes_records_and_rolls_back() {
    actix_web::rt::System::new().block_on(async {
        let (controller, clock) = fledge_tests::controller(plan());
        let canary = CanaryMiddleware::new(controller.routing().clone());
        let fail = Arc::new(AtomicBool::new(false));
        let data = web::Data::new(fail.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(canary.clone())
                .route("/api/v1/recommend", web::post().to(recommend))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let addr = server.addrs()[0];
        let running = server.run();
        let handle = running.handle();
        actix_web::rt::spawn(running);
        let client = client();

        // Step 1 (5 %): sticky answers, the handler sees the version.
        let mut first = Vec::new();
        for i in 0..600 {
            let (status, version, body) = ask(&client, addr, &format!("user-{i}")).await;
            assert_eq!(status, 200);
            assert_eq!(body, format!("ranked by {version}"));
            first.push(version);
        }
        for (i, expected) in first.iter().enumerate().take(100) {
            let (_, version, _) = ask(&client, addr, &format!("user-{i}")).await;
            assert_eq!(&version, expected);
        }
        let on_v2 = first.iter().filter(|v| *v == "v2").count();
        assert!((10..70).contains(&on_v2), "{on_v2} of 600 on v2 at 5 %");
        let report = controller
            .tick(clock.advance(Duration::from_secs(10)))
            .expect("tick");
        assert_eq!(
            report.state.traffic.candidate.bps(),
            2_500,
            "{:?}",
            report.judgement
        );

        // v2 fails: the next tick rolls back.
        fail.store(true, Ordering::Relaxed);
        for i in 0..600 {
            ask(&client, addr, &format!("user-{i}")).await;
        }
        let report = controller
            .tick(clock.advance(Duration::from_secs(1)))
            .expect("tick");
        assert_eq!(
            report.state.phase.name(),
            PhaseName::RolledBack,
            "{:?}",
            report.judgement
        );
        for i in 0..200 {
            let (status, version, _) = ask(&client, addr, &format!("user-{i}")).await;
            assert_eq!((status, version.as_str()), (200, "v1"));
        }
        handle.stop(false).await;
    });
}
