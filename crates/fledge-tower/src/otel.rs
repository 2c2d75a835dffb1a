//! Request spans carrying OpenTelemetry's feature-flag attributes (feature
//! `otel`, off by default).
//!
//! With the feature on, every request the layer routes gets an INFO span
//! `fledge.request` (target `fledge_tower::request`), entered while the
//! chosen version's service is called and while its future is polled, with
//! the attributes of OpenTelemetry's feature-flag semantic conventions:
//!
//! | field | value |
//! |---|---|
//! | `feature_flag.key` | the rollout's name ([`Settings::flag_key`](crate::Settings::flag_key); `fledge::Canary` sets the plan's name) |
//! | `feature_flag.result.variant` | the version id (`v2`) |
//! | `feature_flag.provider.name` | `fledge` |
//! | `feature_flag.result.reason` | why ([`Reason`](crate::Reason): `sticky`, `override`, ...) |
//!
//! `tracing-opentelemetry` exports them as span attributes; spans of the
//! handler are its children. With the feature off the span is a zero-sized
//! value and entering it does nothing: no span is created and no branch is
//! taken.

use crate::chosen::Chosen;

/// The span a request carries (zero-sized without the feature).
#[cfg(feature = "otel")]
pub(crate) type Span = tracing::Span;

/// The span a request carries (zero-sized without the feature).
#[cfg(not(feature = "otel"))]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Span;

/// The span of a request routed to `chosen` under the flag `key`.
#[cfg(feature = "otel")]
#[inline]
pub(crate) fn request_span(key: &'static str, chosen: Chosen) -> Span {
    tracing::info_span!(
        target: "fledge_tower::request",
        "fledge.request",
        feature_flag.key = key,
        feature_flag.result.variant = chosen.id(),
        feature_flag.provider.name = "fledge",
        feature_flag.result.reason = chosen.reason().as_str(),
    )
}

/// The span of a request routed to `chosen` under the flag `key`.
#[cfg(not(feature = "otel"))]
#[inline(always)]
pub(crate) fn request_span(key: &'static str, chosen: Chosen) -> Span {
    let _ = (key, chosen);
    Span
}

/// While alive, `span` is entered.
#[cfg(feature = "otel")]
#[inline]
pub(crate) fn enter(span: &Span) -> tracing::span::Entered<'_> {
    span.enter()
}

/// While alive, `span` is entered (nothing without the feature).
#[cfg(not(feature = "otel"))]
#[inline(always)]
pub(crate) fn enter(span: &Span) -> Span {
    *span
}
