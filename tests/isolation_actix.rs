//! The actix-web middleware's isolation, over real HTTP on loopback with two
//! workers: the candidate's bulkhead sends overflow to stable (counted
//! against the candidate), its timeout answers 504, and a panic in its
//! handler is answered with a 500 and counted while the worker keeps
//! serving. (Fallback to stable is not available with actix-web.)

#[path = "isolation/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use fledge_actix::{CanaryMiddleware, Settings, Version};
use fledge_tower::isolation::Isolation;
use http::{Method, StatusCode};
use support::{client, controller, flood, plan, recorded, send, users};
use tokio::sync::Semaphore;

async fn work(version: Version, gate: web::Data<Arc<Semaphore>>) -> HttpResponse {
    if version.id() == "v2" {
        if let Ok(permit) = gate.acquire().await {
            permit.forget();
        }
    }
    HttpResponse::Ok().body(format!("{}/{}", version.id(), version.reason()))
}

async fn crash(version: Version) -> HttpResponse {
    if version.id() == "v2" {
        panic!("v2 crashed");
    }
    HttpResponse::Ok().body("v1")
}

fn start(
    canary: CanaryMiddleware,
    gate: Arc<Semaphore>,
) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
    let data = web::Data::new(gate);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(canary.clone())
            .route("/work", web::get().to(work))
            .route("/crash", web::get().to(crash))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    (addr, handle)
}

#[test]
fn actix_bulkhead_sends_overflow_to_stable() {
    actix_web::rt::System::new().block_on(async {
        let (controller, _clock) = controller(plan("[limits.v2]\nconcurrency = 2\n"));
        let routing = controller.routing().clone();
        let settings = Settings::new().isolation(Isolation::from_plan(&controller.plan()));
        let canary = CanaryMiddleware::with_settings(routing.clone(), settings).expect("isolation");
        let isolation = canary.isolation_handle();
        let gate = Arc::new(Semaphore::new(0));
        let (addr, server) = start(canary, gate.clone());
        let client = client();

        let mut rx = flood(&client, addr, users(&routing, true, 20));
        for _ in 0..18 {
            let reply = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("overflow answered at once")
                .expect("reply");
            assert_eq!(
                (reply.status, reply.version.as_str(), reply.body.as_str()),
                (StatusCode::OK, "v1", "v1/overflow")
            );
        }
        assert_eq!(isolation.in_flight("v2"), 2);
        gate.add_permits(20);
        let mut held = 0;
        while let Some(reply) = rx.recv().await {
            assert_eq!(
                (reply.status, reply.version.as_str()),
                (StatusCode::OK, "v2")
            );
            held += 1;
        }
        assert_eq!(held, 2);
        let stats = isolation.stats("v2").expect("v2");
        assert_eq!((stats.admitted, stats.overflowed), (2, 18));
        assert_eq!(recorded(&controller, 0), (20, 18));
        assert_eq!(recorded(&controller, 1), (18, 0));
        server.stop(true).await;
    });
}

#[test]
fn actix_timeout_and_panic_are_contained_and_counted() {
    actix_web::rt::System::new().block_on(async {
        let (controller, _clock) = controller(plan("[limits.v2]\ntimeout = \"50ms\"\n"));
        let routing = controller.routing().clone();
        let settings = Settings::new().isolation(Isolation::from_plan(&controller.plan()));
        let canary = CanaryMiddleware::with_settings(routing.clone(), settings).expect("isolation");
        let isolation = canary.isolation_handle();
        // Never opened: v2's /work waits until its timeout.
        let (addr, server) = start(canary, Arc::new(Semaphore::new(0)));
        let client = client();
        let v2_user = users(&routing, true, 1).remove(0);
        let v1_user = users(&routing, false, 1).remove(0);

        let reply = send(&client, addr, Method::GET, "/work", &v2_user, "").await;
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);

        // Panics on both workers' connections: each answered with a 500.
        for _ in 0..4 {
            let reply = send(&client, addr, Method::GET, "/crash", &v2_user, "").await;
            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        }
        // The workers keep serving stable.
        for _ in 0..10 {
            let reply = send(&client, addr, Method::GET, "/crash", &v1_user, "").await;
            assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "v1"));
        }

        let stats = isolation.stats("v2").expect("v2");
        assert_eq!((stats.timeouts, stats.panics), (1, 4));
        assert_eq!(recorded(&controller, 0), (5, 5));
        assert_eq!(recorded(&controller, 1), (10, 0));
        server.stop(true).await;
    });
}
