//! The request path shared by [`CanaryService`](crate::CanaryService) and
//! [`VersionRouter`](crate::VersionRouter): decide, admit through the
//! bulkhead, arm the timeout, call (containing panics), plan the fallback
//! ([`call`]); wait for the response head, name the version, classify and
//! record, retry once on stable ([`future`]); record outcomes known only at
//! the end of the body ([`body`]).

mod body;
mod call;
mod future;

pub use body::ResponseBody;
pub(crate) use call::{FallbackFuture, call_direct, call_with_fallback};
pub use future::ResponseFuture;
