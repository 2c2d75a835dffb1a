//! Notifications for fledge rollouts: a [`Webhook`] that posts chosen
//! rollout events (rolled back, promoted, paused, awaiting approval, ...)
//! as JSON to a URL — a Slack incoming webhook, a chat bridge, an incident
//! tool — from a background thread, so a slow or dead receiver never
//! delays a tick.
//!
//! ```
//! # mod receiver {
//! #     use std::io::{BufRead, BufReader, Read, Write};
//! #     // A tiny loopback receiver answering 200 to every post.
//! #     pub fn start() -> String {
//! #         let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! #         let url = format!("http://{}/hooks/fledge", listener.local_addr().unwrap());
//! #         std::thread::spawn(move || {
//! #             for stream in listener.incoming().flatten() {
//! #                 let mut reader = BufReader::new(stream);
//! #                 let mut length = 0;
//! #                 loop {
//! #                     let mut line = String::new();
//! #                     if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" { break; }
//! #                     if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
//! #                         length = v.trim().parse().unwrap_or(0);
//! #                     }
//! #                 }
//! #                 let mut body = vec![0; length];
//! #                 let _ = reader.read_exact(&mut body);
//! #                 let _ = reader.get_mut().write_all(
//! #                     b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
//! #             }
//! #         });
//! #         url
//! #     }
//! # }
//! # let url = receiver::start();
//! use std::time::Duration;
//! use fledge_notify::{EventKind, Webhook};
//! use fledge_rollout::{Controller, PlanBuilder};
//!
//! let plan = PlanBuilder::canary("predict-v2", "v1", "v2").build()?;
//! let controller = Controller::builder(plan).build()?;
//!
//! // One call: the kinds to post, a time-out per request, bounded retries.
//! let webhook = Webhook::builder(url)
//!     .on(&[EventKind::RolledBack, EventKind::Promoted, EventKind::Paused])
//!     .timeout(Duration::from_secs(2))
//!     .retries(3)
//!     .build()?
//!     .attach(&controller);
//!
//! // The rollback is applied at once; its notification is only queued here
//! // and posted by the webhook's thread.
//! controller.rollback("alice", Some("error budget burnt"))?;
//! assert!(webhook.flush(Duration::from_secs(10)));
//! assert_eq!(webhook.stats().sent, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The body of that post:
//!
//! ```json
//! {"text":"fledge: predict-v2 rolled back, candidate at 0% (was step 1) — rollback by alice: error budget burnt (by alice)",
//!  "rollout":"predict-v2","kind":"rolled_back","seq":1,"attempt":0,"step":0,"weight_bps":0,"percent":0.0,
//!  "phase":"rolled_back","reason":"rollback by alice: error budget burnt","by":"alice",
//!  "at":"2026-11-22T10:15:30.250Z","at_ms":1795342530250}
//! ```
//!
//! # The payload
#![doc = include_str!("docs/payload.md")]
//!
//! # Delivery
#![doc = include_str!("docs/delivery.md")]
//!
//! # Features
//!
//! - `rustls`: `https://` URLs (Slack's webhooks are https). Without it,
//!   only plain `http://` receivers (a bridge inside your network) are
//!   accepted, and no TLS stack is built.
//!
//! The minimum supported Rust version is the workspace's (see its
//! `rust-version`).

#![forbid(unsafe_code)]

mod error;
mod payload;
mod webhook;

pub use error::NotifyError;
/// Re-exported: the kinds of rollout events a webhook can post.
pub use fledge_rollout::machine::EventKind;
pub use payload::Payload;
pub use webhook::{DEFAULT_EVENTS, MAX_RETRIES, Stats, Webhook, WebhookBuilder};
