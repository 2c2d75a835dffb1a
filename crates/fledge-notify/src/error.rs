//! [`NotifyError`]: why a notifier could not be built.

/// Why a [`Webhook`](crate::Webhook) could not be built. Delivery failures
/// are not errors of the caller's: they are retried, counted in
/// [`Stats`](crate::Stats) and logged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The URL is not an absolute `http://` or `https://` URL with a host.
    #[error(
        "invalid webhook URL {url:?}: {reason}; write an absolute address like \"https://hooks.slack.com/services/T000/B000/XXXX\" or \"http://alerts.internal:8080/fledge\""
    )]
    BadUrl {
        /// The URL as given (webhook URLs may hold a secret: do not log
        /// this error's text where the URL should not appear).
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `https://` URL without the `rustls` feature.
    #[error(
        "the webhook URL uses https, but fledge-notify was built without TLS: enable its `rustls` feature (or use an http:// receiver inside your network)"
    )]
    NoTls,
    /// A header name or value that HTTP does not allow.
    #[error("invalid HTTP header {name:?}: {reason}")]
    BadHeader {
        /// The header's name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// [`on`](crate::WebhookBuilder::on) was given no event kinds: the
    /// webhook would never post.
    #[error(
        "the webhook is set to post on no event kind: pass at least one to `on`, e.g. EventKind::RolledBack"
    )]
    NoEvents,
    /// The delivery thread could not be started.
    #[error("cannot start the webhook's delivery thread: {0}")]
    Spawn(#[source] std::io::Error),
}
