//! `'sha256-…'` sources for the dashboard's `Content-Security-Policy`: the
//! page's one inline script and one inline style are allowed by their hash,
//! so the policy needs no `'unsafe-inline'`.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The CSP source allowing an inline element whose text is `text`.
pub(crate) fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value browsers compute for `alert('Hello, world.');` (the
    /// example of the CSP specification, section "hash-source").
    #[test]
    fn matches_the_specifications_example() {
        assert_eq!(
            hash_source("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
    }
}
