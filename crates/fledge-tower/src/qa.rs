//! The QA override: a header that sends a request to a chosen version, honoured
//! only when it carries the configured secret.

use std::fmt;
use std::sync::Arc;

use http::header::HeaderName;
use subtle::ConstantTimeEq;

use crate::error::ConfigError;

/// The default override header.
pub const DEFAULT_OVERRIDE_HEADER: &str = "x-fledge-override";

/// The shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// A header that forces a version for testers: `x-fledge-override: v2:<secret>`.
///
/// Without the right secret the header is ignored (and counted), so ordinary
/// users cannot opt themselves into a canary. The secret is compared in
/// constant time; only its length can leak, so use a long random one of fixed
/// length. Strip the header at the edge if the service is public.
///
/// ```
/// use fledge_tower::QaOverride;
///
/// let qa = QaOverride::new("3f9c0b7e1d2a4c6b8e0f1a2b3c4d5e6f")?;
/// assert_eq!(qa.check(b"v2:3f9c0b7e1d2a4c6b8e0f1a2b3c4d5e6f"), Some("v2"));
/// assert_eq!(qa.check(b"v2:guess"), None);
/// # Ok::<(), fledge_tower::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct QaOverride {
    header: HeaderName,
    secret: Arc<[u8]>,
}

impl QaOverride {
    /// An override on the `x-fledge-override` header with `secret` (at least
    /// [`MIN_SECRET_LEN`] bytes).
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::WeakSecret {
                min: MIN_SECRET_LEN,
            });
        }
        Ok(QaOverride {
            header: HeaderName::from_static(DEFAULT_OVERRIDE_HEADER),
            secret: Arc::from(secret),
        })
    }

    /// Reads the override from header `name` instead.
    pub fn header(mut self, name: &str) -> Result<Self, ConfigError> {
        self.header = crate::chosen::static_header_name(name)?;
        Ok(self)
    }

    /// The header name.
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// The version an override header value asks for, when its secret is
    /// right: `value` is `<version>:<secret>`.
    pub fn check<'v>(&self, value: &'v [u8]) -> Option<&'v str> {
        let colon = value.iter().position(|&b| b == b':')?;
        let (version, secret) = (&value[..colon], &value[colon + 1..]);
        if bool::from(secret.ct_eq(&self.secret)) {
            std::str::from_utf8(version).ok()
        } else {
            None
        }
    }
}

impl fmt::Debug for QaOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QaOverride")
            .field("header", &self.header)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_and_malformed_values_are_rejected() {
        assert!(QaOverride::new("short").is_err());
        let qa = QaOverride::new("0123456789abcdef").unwrap();
        assert_eq!(qa.check(b"v2:0123456789abcdef"), Some("v2"));
        assert_eq!(qa.check(b"v2:0123456789abcdeF"), None);
        assert_eq!(qa.check(b"v2"), None);
        assert_eq!(qa.check(b"v2:"), None);
        assert_eq!(qa.check(b":0123456789abcdef"), Some(""));
        assert!(format!("{qa:?}").contains("redacted"));
    }
}
