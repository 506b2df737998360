//! Porchlight's end-to-end encryption core.
//!
//! Owns: the byte format of every encrypted or signed structure (sealed objects, grants,
//! public-key bundles, rosters, rotations, key backups, household settings), the algorithms behind them, and the
//! rules for which keys an agent may encrypt to. Deliberately does not own: files, sockets,
//! clocks or randomness policy beyond "ask the OS" (callers pass times in; every function is
//! pure apart from drawing random bytes), nor where keys are stored. The format with test
//! vectors is `design/crypto-format.md`; who can see what is `design/threat-model.md`.
//!
//! Algorithms: clip bodies are chunked AES-256-GCM with a STREAM nonce ([`stream`]); content
//! keys are wrapped with HPKE base mode, DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 /
//! AES-256-GCM ([`keys::EncryptionPublic::wrap`]); identities and devices sign with Ed25519.
//! AES-GCM and P-256 come from AWS-LC, HPKE is ours on top (see `prim` for why).

pub mod backup;
pub mod evidence;
pub mod grant;
pub mod home;
pub mod keys;
pub mod live;
pub mod object;
mod prim;
pub mod settings;
pub mod stream;
pub mod talk;
pub mod tlog;
pub mod trust;
mod wire;

use std::fmt;

/// What went wrong, coarsely; the message says precisely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes do not parse as the structure (bad magic, short, trailing bytes, a field
    /// out of range).
    Malformed,
    /// A version or algorithm this build does not know.
    Unsupported,
    /// An authentication tag or signature did not verify: the data was altered, truncated,
    /// reordered, or the wrong key was used.
    Authentication,
    /// The object is not encrypted to any key the caller holds.
    NotRecipient,
    /// A key or statement does not chain to the trusted (pinned) owner key.
    Untrusted,
    /// A statement older than one already accepted (a replay or rollback).
    Stale,
    /// The caller passed an argument outside its documented range.
    InvalidArgument,
}

/// An opaque error with a kind and a message naming the field or value at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    msg: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, msg: impl Into<String>) -> Error {
        Error { kind, msg: msg.into() }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

macro_rules! bail {
    ($kind:ident, $($arg:tt)+) => {
        return Err($crate::Error::new($crate::ErrorKind::$kind, format!($($arg)+)))
    };
}
pub(crate) use bail;

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
///
/// If the OS has no randomness to give, which on Linux means the process cannot do any
/// cryptography safely; continuing would be worse.
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random number generator failed");
}

pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    random_bytes(&mut b);
    b
}
