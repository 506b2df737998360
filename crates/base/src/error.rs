//! The one error type of Porchlight's service crates.
//!
//! An [`Error`] carries a coarse [`ErrorKind`] (what a caller may react to), a message that
//! names the offending field or value, and an optional source. Exactly one function in the
//! API crate will map kinds to HTTP statuses; the CLI maps them to exit codes.

use std::fmt;

/// What kind of failure this is, coarse enough for a caller to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller supplied something malformed or out of bounds.
    InvalidArgument,
    /// A named thing does not exist.
    NotFound,
    /// The operation conflicts with current state (a lock is held, a name is taken).
    FailedPrecondition,
    /// Credentials were rejected.
    Unauthenticated,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// Data on disk or from a peer is not what the format promises.
    DataLoss,
    /// A peer or resource is temporarily unreachable; retrying may succeed.
    Unavailable,
    /// A bound was hit (queue, size, rate).
    ResourceExhausted,
    /// A requested position or range lies outside the data (a byte range past the end).
    OutOfRange,
    /// The operation was cancelled, usually by shutdown.
    Cancelled,
    /// A bug or an unexpected environment failure.
    Internal,
}

impl ErrorKind {
    /// A short lowercase name, stable for logs and status files.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::DataLoss => "data_loss",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::ResourceExhausted => "resource_exhausted",
            ErrorKind::OutOfRange => "out_of_range",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with a kind, a message and an optional cause.
pub struct Error {
    kind: ErrorKind,
    msg: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error { kind, msg: msg.into(), source: None }
    }

    /// Wraps `source` with a message saying what was being done.
    pub fn wrap(
        kind: ErrorKind,
        msg: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error { kind, msg: msg.into(), source: Some(Box::new(source)) }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn msg(&self) -> &str {
        &self.msg
    }

    /// The message followed by each cause, joined by `: `.
    pub fn chain(&self) -> String {
        let mut out = self.msg.clone();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = self.source.as_deref().map(|e| e as _);
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.chain(), self.kind)
    }
}

impl std::error::Error for Error {}

/// Shorthand constructors: `bail!(InvalidArgument, "field {x} ...")` returns early.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)+) => {
        return Err($crate::Error::new($crate::ErrorKind::$kind, format!($($arg)+)))
    };
}

/// Builds an error without returning: `err!(NotFound, "camera {name:?}")`.
#[macro_export]
macro_rules! err {
    ($kind:ident, $($arg:tt)+) => {
        $crate::Error::new($crate::ErrorKind::$kind, format!($($arg)+))
    };
}

/// Adds context to foreign errors: `file.sync_data().err_kind(Internal, || "fsync ...")`.
pub trait ResultExt<T> {
    fn err_kind<M: Into<String>>(self, kind: ErrorKind, msg: impl FnOnce() -> M) -> Result<T, Error>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> ResultExt<T> for Result<T, E> {
    fn err_kind<M: Into<String>>(self, kind: ErrorKind, msg: impl FnOnce() -> M) -> Result<T, Error> {
        self.map_err(|e| Error::wrap(kind, msg(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Error::wrap(ErrorKind::NotFound, "opening segment 7", io);
        assert_eq!(e.to_string(), "opening segment 7: no such file");
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
