//! The body of a sealed object: chunked AES-256-GCM with a STREAM nonce.
//!
//! The plaintext is cut into chunks of [`CHUNK_BYTES`]; every chunk but the last is full, and
//! there is always exactly one last chunk (an empty body is one empty last chunk; a body of
//! exactly one chunk's length is one full last chunk). Chunk `i` is encrypted under the
//! object's content key with the 12-byte nonce `prefix (7) || i (u32, big-endian) || last
//! (0x01 for the last chunk, else 0x00)` and empty associated data, and stored as ciphertext
//! followed by its 16-byte tag. Because the position and the last-chunk flag are in the
//! nonce, a reordered, dropped, duplicated or truncated chunk fails authentication (Hoang,
//! Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
//! Misuse-Resistance", CRYPTO 2015). Fixed-size chunks let a player decrypt any byte range
//! by fetching only the chunks that cover it.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::prim::Gcm;
use crate::{Error, bail};

/// Plaintext bytes per chunk.
pub const CHUNK_BYTES: usize = 1 << 16;
/// Bytes of authentication tag after each chunk's ciphertext.
pub const TAG_BYTES: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const SEALED_CHUNK_BYTES: usize = CHUNK_BYTES + TAG_BYTES;
pub const NONCE_PREFIX_BYTES: usize = 7;
/// The largest body: the chunk counter is 32 bits.
pub const PLAINTEXT_BYTES_MAX: u64 = (u32::MAX as u64) * CHUNK_BYTES as u64;

/// A 256-bit content key: fresh and random for every object, never reused.
#[derive(Clone)]
pub struct ContentKey(Zeroizing<[u8; 32]>);

impl ContentKey {
    pub fn generate() -> ContentKey {
        ContentKey(Zeroizing::new(crate::random_array()))
    }

    pub fn from_bytes(b: [u8; 32]) -> ContentKey {
        ContentKey(Zeroizing::new(b))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Gcm {
        Gcm::new(&self.0)
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

/// The nonce of chunk `index`.
pub fn nonce(prefix: &[u8; NONCE_PREFIX_BYTES], index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Number of chunks a body of `plaintext_len` bytes has (at least one).
pub fn chunk_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(CHUNK_BYTES as u64).max(1)
}

/// Ciphertext length of a body of `plaintext_len` bytes.
pub fn sealed_len(plaintext_len: u64) -> u64 {
    plaintext_len + chunk_count(plaintext_len) * TAG_BYTES as u64
}

/// Byte range of chunk `index` within the sealed body of a `plaintext_len`-byte plaintext.
pub fn sealed_range(plaintext_len: u64, index: u64) -> Result<std::ops::Range<u64>, Error> {
    let n = chunk_count(plaintext_len);
    if index >= n {
        bail!(InvalidArgument, "chunk {index}: the body has {n} chunks");
    }
    let start = index * SEALED_CHUNK_BYTES as u64;
    let plain = if index + 1 == n { plaintext_len - index * CHUNK_BYTES as u64 } else { CHUNK_BYTES as u64 };
    Ok(start..start + plain + TAG_BYTES as u64)
}

/// Encrypts a body chunk by chunk: the cipher alone, enforcing the chunk rules (sizes,
/// order, exactly one last chunk). [`Sealer`] adds the digest the device signs.
pub struct ChunkSealer {
    cipher: Gcm,
    prefix: [u8; NONCE_PREFIX_BYTES],
    next: u64,
    plaintext_len: u64,
    finished: bool,
}

impl ChunkSealer {
    pub fn new(key: &ContentKey, prefix: [u8; NONCE_PREFIX_BYTES]) -> ChunkSealer {
        ChunkSealer { cipher: key.cipher(), prefix, next: 0, plaintext_len: 0, finished: false }
    }

    /// Appends the sealed form of the next chunk to `out`. Every chunk but the last must be
    /// exactly [`CHUNK_BYTES`] long; the last may be 0..=CHUNK_BYTES (and may be empty only
    /// when it is the only chunk).
    pub fn seal_chunk(&mut self, chunk: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            bail!(InvalidArgument, "chunk {}: the last chunk was already sealed", self.next);
        }
        if chunk.len() > CHUNK_BYTES || (!last && chunk.len() != CHUNK_BYTES) {
            bail!(
                InvalidArgument,
                "chunk {}: expected {} bytes{}, got {}",
                self.next,
                CHUNK_BYTES,
                if last { " or fewer" } else { "" },
                chunk.len()
            );
        }
        if last && chunk.is_empty() && self.next > 0 {
            bail!(InvalidArgument, "chunk {}: only a body's sole chunk may be empty", self.next);
        }
        let Ok(index) = u32::try_from(self.next) else {
            bail!(InvalidArgument, "body too long: at most {PLAINTEXT_BYTES_MAX} bytes");
        };
        let start = out.len();
        out.resize(start + chunk.len(), 0);
        let n = nonce(&self.prefix, index, last);
        let tag = self.cipher.seal_into(n, &[], chunk, &mut out[start..]);
        out.extend_from_slice(&tag);
        self.next += 1;
        self.plaintext_len += chunk.len() as u64;
        self.finished = last;
        Ok(())
    }
}

/// Encrypts a body chunk by chunk, hashing the ciphertext as it goes (the digest is what
/// the device signs).
pub struct Sealer {
    chunks: ChunkSealer,
    digest: Sha256,
}

impl Sealer {
    pub fn new(key: &ContentKey, prefix: [u8; NONCE_PREFIX_BYTES]) -> Sealer {
        Sealer { chunks: ChunkSealer::new(key, prefix), digest: Sha256::new() }
    }

    /// See [`ChunkSealer::seal_chunk`]; the sealed chunk also goes into the digest.
    pub fn seal_chunk(&mut self, chunk: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        self.chunks.seal_chunk(chunk, last, out)?;
        self.digest.update(&out[start..]);
        Ok(())
    }

    /// The plaintext length and SHA-256 of the whole ciphertext body.
    pub fn finish(self) -> Result<(u64, [u8; 32]), Error> {
        if !self.chunks.finished {
            bail!(InvalidArgument, "body not finished: the last chunk was never sealed");
        }
        Ok((self.chunks.plaintext_len, self.digest.finalize().into()))
    }
}

/// Seals a whole body in memory: returns the ciphertext, the plaintext length and the
/// ciphertext digest.
pub fn seal_body(
    key: &ContentKey,
    prefix: [u8; NONCE_PREFIX_BYTES],
    plaintext: &[u8],
) -> Result<(Vec<u8>, u64, [u8; 32]), Error> {
    if plaintext.len() as u64 > PLAINTEXT_BYTES_MAX {
        bail!(InvalidArgument, "body too long: {} bytes, at most {PLAINTEXT_BYTES_MAX}", plaintext.len());
    }
    let mut s = Sealer::new(key, prefix);
    let mut out = Vec::with_capacity(sealed_len(plaintext.len() as u64) as usize);
    let n = chunk_count(plaintext.len() as u64) as usize;
    for (i, c) in plaintext.chunks(CHUNK_BYTES).enumerate() {
        s.seal_chunk(c, i + 1 == n, &mut out)?;
    }
    if plaintext.is_empty() {
        s.seal_chunk(&[], true, &mut out)?;
    }
    let (len, digest) = s.finish()?;
    Ok((out, len, digest))
}

/// Opens the chunks of a body whose plaintext length is known (from the signed header), in
/// any order: what a player seeking into a clip needs.
pub struct Opener {
    cipher: Gcm,
    prefix: [u8; NONCE_PREFIX_BYTES],
    plaintext_len: u64,
}

impl Opener {
    pub fn new(key: &ContentKey, prefix: [u8; NONCE_PREFIX_BYTES], plaintext_len: u64) -> Result<Opener, Error> {
        if plaintext_len > PLAINTEXT_BYTES_MAX {
            bail!(Malformed, "plaintext length {plaintext_len}: at most {PLAINTEXT_BYTES_MAX}");
        }
        Ok(Opener { cipher: key.cipher(), prefix, plaintext_len })
    }

    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.plaintext_len)
    }

    /// Byte range of chunk `index` within the ciphertext body.
    pub fn sealed_range(&self, index: u64) -> Result<std::ops::Range<u64>, Error> {
        sealed_range(self.plaintext_len, index)
    }

    /// Decrypts chunk `index` into a new buffer.
    pub fn open_chunk(&self, index: u64, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.open_chunk_into(index, sealed, &mut out)?;
        Ok(out)
    }

    /// Appends the plaintext of chunk `index` to `out`; on failure `out` is unchanged.
    pub fn open_chunk_into(&self, index: u64, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let r = self.sealed_range(index)?;
        let want = (r.end - r.start) as usize;
        if sealed.len() != want {
            bail!(
                Authentication,
                "chunk {index}: expected {want} sealed bytes, got {} (truncated or padded)",
                sealed.len()
            );
        }
        let last = index + 1 == self.chunk_count();
        let n = nonce(&self.prefix, index as u32, last);
        let (ct, tag) = sealed.split_at(want - TAG_BYTES);
        let start = out.len();
        out.resize(start + ct.len(), 0);
        let tag: [u8; TAG_BYTES] = tag.try_into().expect("split at the tag");
        if !self.cipher.open_into(n, &[], ct, &tag, &mut out[start..]) {
            out.truncate(start);
            bail!(Authentication, "chunk {index}: authentication failed (altered, reordered or wrong key)");
        }
        Ok(())
    }
}

/// Opens a whole body held in memory, checking its length and, when given, its digest.
pub fn open_body(
    key: &ContentKey,
    prefix: [u8; NONCE_PREFIX_BYTES],
    plaintext_len: u64,
    digest: Option<&[u8; 32]>,
    sealed: &[u8],
) -> Result<Vec<u8>, Error> {
    let o = Opener::new(key, prefix, plaintext_len)?;
    if sealed.len() as u64 != sealed_len(plaintext_len) {
        bail!(
            Authentication,
            "body: expected {} sealed bytes for {plaintext_len} bytes of plaintext, got {} (truncated or padded)",
            sealed_len(plaintext_len),
            sealed.len()
        );
    }
    if let Some(d) = digest {
        let got: [u8; 32] = Sha256::digest(sealed).into();
        if &got != d {
            bail!(Authentication, "body: ciphertext digest does not match the signed header");
        }
    }
    let mut out = Vec::with_capacity(plaintext_len as usize);
    for i in 0..o.chunk_count() {
        let r = o.sealed_range(i)?;
        o.open_chunk_into(i, &sealed[r.start as usize..r.end as usize], &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_BYTES as u64), 1);
        assert_eq!(chunk_count(CHUNK_BYTES as u64 + 1), 2);
        assert_eq!(sealed_len(0), 16);
        assert_eq!(sealed_len(CHUNK_BYTES as u64 + 1), CHUNK_BYTES as u64 + 1 + 32);
    }

    #[test]
    fn sealer_rejects_misuse() {
        let k = ContentKey::generate();
        let mut s = Sealer::new(&k, [0; 7]);
        let mut out = Vec::new();
        assert_eq!(s.seal_chunk(&[1; 10], false, &mut out).unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
        s.seal_chunk(&[1; CHUNK_BYTES], false, &mut out).unwrap();
        assert!(s.seal_chunk(&[], true, &mut out).is_err());
        s.seal_chunk(&[2; 3], true, &mut out).unwrap();
        assert!(s.seal_chunk(&[2; 3], true, &mut out).is_err());
    }
}
