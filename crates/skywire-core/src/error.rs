use thiserror::Error;

use crate::Code;

/// Every error the core can return. Each variant has a stable `code()` so the
/// binding can hand TypeScript something to switch on instead of a string.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A curve point that must not be an identity (see [`crate::identity::WeakKey`]).
    #[error("not a valid public key: {0}")]
    WeakPublicKey(crate::identity::WeakKey),
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(String),
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
}

impl CoreError {
    pub fn code(&self) -> Code {
        match self {
            CoreError::InvalidPublicKey(_) | CoreError::WeakPublicKey(_) => Code::InvalidPublicKey,
            CoreError::InvalidSecretKey(_) => Code::InvalidSecretKey,
            CoreError::InvalidSignature(_) => Code::InvalidSignature,
        }
    }
}

pub type Result<T> = std::result::Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use crate::Code;

    #[test]
    fn codes_are_distinct_and_shaped_like_errno() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.len() > 3 && s.starts_with('E') && s.bytes().all(|b| b.is_ascii_uppercase()), "{s}");
        }
    }
}
