//! Files around the crypto core: key files, the agent's pinned trust, and sealing or
//! opening objects as files too large to hold in memory.
//!
//! The crypto crate does no I/O; this module is where its structures meet the disk. Key
//! files are created with mode 0600 and never overwritten; state files are replaced
//! atomically (write a temporary file, fsync, rename, fsync the folder), so a crash leaves
//! either the old or the new version.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base::{Error, ErrorKind, ResultExt, bail};
use crypto::keys::{IdentityPublic, Keyring};
use crypto::object::{self, Header, Meta, ObjectSealer};
use crypto::stream::{self, CHUNK_BYTES};
use crypto::trust::Trust;
use sha2::{Digest, Sha256};

use crate::layout::{Layout, sync_dir};

/// Maps a crypto error onto the service error kinds.
pub fn from_crypto(e: crypto::Error) -> Error {
    use crypto::ErrorKind as C;
    let kind = match e.kind() {
        C::Malformed | C::Unsupported | C::InvalidArgument => ErrorKind::InvalidArgument,
        C::Authentication => ErrorKind::DataLoss,
        C::NotRecipient | C::Untrusted => ErrorKind::Unauthenticated,
        C::Stale => ErrorKind::FailedPrecondition,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, e.to_string())
}

/// Writes a new secret file (mode 0600); refuses to replace an existing one, since that
/// would destroy keys.
pub fn create_secret_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut f = File::options().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::new(
                ErrorKind::FailedPrecondition,
                format!("{} already exists; not overwriting keys", path.display()),
            )
        } else {
            Error::wrap(ErrorKind::Internal, format!("creating {}", path.display()), e)
        }
    })?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .err_kind(ErrorKind::Internal, || format!("writing {}", path.display()))?;
    sync_dir(parent(path))
}

/// Replaces `path` atomically with `bytes`, synced (`layout::write_atomic`).
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    crate::layout::write_atomic(path, bytes, crate::layout::Durability::Synced)
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

pub fn read_keyring(path: &Path) -> Result<Keyring, Error> {
    let b = std::fs::read(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Internal };
        Error::wrap(kind, format!("reading keys from {}", path.display()), e)
    })?;
    let b = zeroize::Zeroizing::new(b);
    Keyring::parse(&b).map_err(|e| base::err!(InvalidArgument, "{}: {e}", path.display()))
}

/// The agent's device keys, created on first use.
pub fn device_keyring(layout: &Layout, now_ms: i64) -> Result<Keyring, Error> {
    let p = layout.device_keys();
    if p.exists() {
        return read_keyring(&p);
    }
    std::fs::create_dir_all(&layout.root)
        .err_kind(ErrorKind::Internal, || format!("creating {}", layout.root.display()))?;
    let k = Keyring::generate("agent", now_ms).map_err(from_crypto)?;
    create_secret_file(&p, &k.encode())?;
    Ok(k)
}

pub fn load_trust(layout: &Layout) -> Result<Option<Trust>, Error> {
    let p = layout.trust();
    match std::fs::read(&p) {
        Ok(b) => Trust::parse(&b).map(Some).map_err(|e| base::err!(DataLoss, "{}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::wrap(ErrorKind::Internal, format!("reading {}", p.display()), e)),
    }
}

pub fn save_trust(layout: &Layout, t: &Trust) -> Result<(), Error> {
    replace_file(&layout.trust(), &t.encode())
}

/// A `Write` that seals what is written into a sealed-object file of known plaintext
/// length: room for the header is left at the start, chunks follow as they fill, and
/// [`finish`](Self::finish) writes the signed header into the room.
pub struct SealWriter {
    sealer: ObjectSealer,
    out: File,
    total: u64,
    taken: u64,
    buf: Vec<u8>,
    sealed: Vec<u8>,
}

impl SealWriter {
    pub fn new(
        out: File,
        meta: Meta,
        recipients: &[crypto::keys::EncryptionPublic],
        total: u64,
    ) -> Result<Self, Error> {
        let sealer = ObjectSealer::new(meta, recipients).map_err(from_crypto)?;
        let mut w =
            SealWriter { sealer, out, total, taken: 0, buf: Vec::with_capacity(CHUNK_BYTES), sealed: Vec::new() };
        let room = vec![0u8; w.sealer.header_len()];
        w.out.write_all(&room).err_kind(ErrorKind::Internal, || "reserving the header")?;
        Ok(w)
    }

    fn seal_full_chunk(&mut self) -> std::io::Result<()> {
        self.sealed.clear();
        self.sealer
            .seal_chunk(&self.buf, false, &mut self.sealed)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.out.write_all(&self.sealed)?;
        self.buf.clear();
        Ok(())
    }

    /// Seals the last chunk, writes the header, and syncs. Returns the whole file's length.
    pub fn finish(mut self, device: &Keyring) -> Result<u64, Error> {
        if self.taken != self.total {
            bail!(Internal, "sealing: {} of {} announced bytes were written", self.taken, self.total);
        }
        self.sealed.clear();
        self.sealer.seal_chunk(&self.buf, true, &mut self.sealed).map_err(from_crypto)?;
        self.out.write_all(&self.sealed).err_kind(ErrorKind::Internal, || "writing the last chunk")?;
        let header = self.sealer.finish(&device.identity).map_err(from_crypto)?;
        self.out.seek(SeekFrom::Start(0)).err_kind(ErrorKind::Internal, || "seeking to the header")?;
        self.out.write_all(&header).err_kind(ErrorKind::Internal, || "writing the header")?;
        self.out.sync_all().err_kind(ErrorKind::Internal, || "syncing the sealed file")?;
        Ok(header.len() as u64 + stream::sealed_len(self.total))
    }
}

impl Write for SealWriter {
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<usize> {
        let n = data.len();
        if self.taken + n as u64 > self.total {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "more bytes than announced"));
        }
        while !data.is_empty() {
            // A full buffer is sealed as an inner chunk only once more data follows it; the
            // last chunk waits for `finish`.
            if self.buf.len() == CHUNK_BYTES {
                self.seal_full_chunk()?;
            }
            let k = (CHUNK_BYTES - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..k]);
            data = &data[k..];
        }
        self.taken += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads and checks the header of a sealed file (signature only; the body is checked as it
/// is read).
pub fn read_header(f: &mut File, path: &Path) -> Result<Header, Error> {
    let mut prefix = [0u8; object::PREFIX_BYTES];
    f.read_exact(&mut prefix)
        .map_err(|_| base::err!(InvalidArgument, "{}: too short to be a sealed object", path.display()))?;
    let len =
        object::header_len_from_prefix(&prefix).map_err(|e| base::err!(InvalidArgument, "{}: {e}", path.display()))?;
    let mut h = prefix.to_vec();
    h.resize(len, 0);
    f.read_exact(&mut h[object::PREFIX_BYTES..])
        .map_err(|_| base::err!(InvalidArgument, "{}: ends inside its header", path.display()))?;
    Header::parse(&h).map_err(|e| {
        let e = from_crypto(e);
        Error::new(e.kind(), format!("{}: {e}", path.display()))
    })
}

/// Streams the body of `f` (positioned after the header), checking its length and digest;
/// when `opener` is given, every chunk is also decrypted into `out`. The caller must
/// discard `out` on error.
pub fn stream_body(
    f: &mut File,
    h: &Header,
    opener: Option<&stream::Opener>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let mut digest = Sha256::new();
    let n = stream::chunk_count(h.plaintext_len);
    let mut buf = vec![0u8; stream::SEALED_CHUNK_BYTES];
    let mut plain = Vec::with_capacity(CHUNK_BYTES);
    for i in 0..n {
        let r = stream::sealed_range(h.plaintext_len, i).map_err(from_crypto)?;
        let len = (r.end - r.start) as usize;
        f.read_exact(&mut buf[..len])
            .map_err(|_| base::err!(DataLoss, "body ends inside chunk {i} of {n}: the file is truncated"))?;
        digest.update(&buf[..len]);
        if let Some(o) = opener {
            plain.clear();
            o.open_chunk_into(i, &buf[..len], &mut plain).map_err(from_crypto)?;
            out.write_all(&plain).err_kind(ErrorKind::Internal, || "writing plaintext")?;
        }
    }
    let mut extra = [0u8; 1];
    if f.read(&mut extra).err_kind(ErrorKind::Internal, || "reading past the body")? != 0 {
        bail!(DataLoss, "unexpected bytes after the body: the file was altered");
    }
    let d: [u8; 32] = digest.finalize().into();
    if d != h.body_digest {
        bail!(DataLoss, "body digest does not match the signed header: the file was altered");
    }
    Ok(())
}

/// Who a sealed file says made it, for `verify`'s report.
pub fn describe(h: &Header) -> String {
    let who = |k: &IdentityPublic| k.fingerprint();
    format!(
        "{} of camera {:?}, {} to {} (ms since 1970), {} bytes of plaintext, signed by device {}, sealed for {} recipient(s): {}",
        h.meta.kind.as_str(),
        h.meta.camera,
        h.meta.start_ms,
        h.meta.end_ms,
        h.plaintext_len,
        who(&h.device),
        h.recipients.len(),
        h.recipients.iter().map(|r| crypto::keys::hex(&r.key_id)).collect::<Vec<_>>().join(", ")
    )
}
