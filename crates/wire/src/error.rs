//! The body of every failed request.

use serde::{Deserialize, Serialize};

/// What every failed request returns: a stable code and a message naming the field or value
/// at fault.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

/// The kind of failure, one per HTTP status the API uses (the names of `base::ErrorKind`).
/// `unknown` is what a client reads for a code newer than itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    DataLoss,
    Unavailable,
    ResourceExhausted,
    OutOfRange,
    Cancelled,
    Internal,
    #[serde(other)]
    Unknown,
}

impl From<base::ErrorKind> for ErrorCode {
    fn from(k: base::ErrorKind) -> ErrorCode {
        use base::ErrorKind as K;
        match k {
            K::InvalidArgument => ErrorCode::InvalidArgument,
            K::NotFound => ErrorCode::NotFound,
            K::FailedPrecondition => ErrorCode::FailedPrecondition,
            K::Unauthenticated => ErrorCode::Unauthenticated,
            K::PermissionDenied => ErrorCode::PermissionDenied,
            K::DataLoss => ErrorCode::DataLoss,
            K::Unavailable => ErrorCode::Unavailable,
            K::ResourceExhausted => ErrorCode::ResourceExhausted,
            K::OutOfRange => ErrorCode::OutOfRange,
            K::Cancelled => ErrorCode::Cancelled,
            _ => ErrorCode::Internal,
        }
    }
}

impl From<ErrorCode> for base::ErrorKind {
    fn from(c: ErrorCode) -> base::ErrorKind {
        use base::ErrorKind as K;
        match c {
            ErrorCode::InvalidArgument => K::InvalidArgument,
            ErrorCode::NotFound => K::NotFound,
            ErrorCode::FailedPrecondition => K::FailedPrecondition,
            ErrorCode::Unauthenticated => K::Unauthenticated,
            ErrorCode::PermissionDenied => K::PermissionDenied,
            ErrorCode::DataLoss => K::DataLoss,
            ErrorCode::Unavailable => K::Unavailable,
            ErrorCode::ResourceExhausted => K::ResourceExhausted,
            ErrorCode::OutOfRange => K::OutOfRange,
            ErrorCode::Cancelled => K::Cancelled,
            ErrorCode::Internal | ErrorCode::Unknown => K::Internal,
        }
    }
}
