//! The canary router: one service per version, the chosen one called per
//! request.

mod service;

pub use service::VersionRouter;
