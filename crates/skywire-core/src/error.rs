use thiserror::Error;

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
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidPublicKey(_) | CoreError::WeakPublicKey(_) => "EINVALIDPK",
            CoreError::InvalidSecretKey(_) => "EINVALIDSK",
            CoreError::InvalidSignature(_) => "EINVALIDSIG",
        }
    }
}

pub type Result<T> = std::result::Result<T, CoreError>;
