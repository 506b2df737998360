//! Bounds-checked big-endian reading and writing shared by every structure.
//!
//! Every read names the structure and field it was reading, so a parse error says which
//! field was short or out of range.

use crate::{Error, ErrorKind, bail};

pub(crate) struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, buf: &'a [u8]) -> Self {
        Reader { what, buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, field: &str, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() - self.pos < n {
            bail!(
                Malformed,
                "{} {field}: expected {n} bytes at offset {}, only {} remain",
                self.what,
                self.pos,
                self.buf.len() - self.pos
            );
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], Error> {
        Ok(self.take(field, N)?.try_into().expect("take returned N bytes"))
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8, Error> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &str) -> Result<i64, Error> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// A u16 length followed by that many bytes, the length within `min..=max`.
    pub(crate) fn var(&mut self, field: &str, min: usize, max: usize) -> Result<&'a [u8], Error> {
        let n = usize::from(self.u16(field)?);
        if n < min || n > max {
            bail!(Malformed, "{} {field}: length {n} outside {min}..={max}", self.what);
        }
        self.take(field, n)
    }

    /// A [`var`](Self::var) field holding UTF-8 text.
    pub(crate) fn text(&mut self, field: &str, min: usize, max: usize) -> Result<String, Error> {
        let b = self.var(field, min, max)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => bail!(Malformed, "{} {field}: not UTF-8", self.what),
        }
    }

    /// The 4-byte magic and 1-byte version every structure starts with.
    pub(crate) fn magic_version(&mut self, magic: &[u8; 4], version: u8) -> Result<(), Error> {
        let m: [u8; 4] = self.array("magic")?;
        if &m != magic {
            bail!(
                Malformed,
                "{}: expected magic {:?}, got {:?}",
                self.what,
                String::from_utf8_lossy(magic),
                String::from_utf8_lossy(&m)
            );
        }
        let v = self.u8("version")?;
        if v != version {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{} version: this build reads version {version}, got {v}", self.what),
            ));
        }
        Ok(())
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.pos != self.buf.len() {
            bail!(Malformed, "{}: {} unexpected trailing bytes", self.what, self.buf.len() - self.pos);
        }
        Ok(())
    }
}

pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_i64(&mut self, v: i64);
    /// Writes a u16 length and the bytes. Callers check the length bound first.
    fn put_var(&mut self, b: &[u8]);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_var(&mut self, b: &[u8]) {
        let n = u16::try_from(b.len()).expect("caller checked the length bound");
        self.put_u16(n);
        self.extend_from_slice(b);
    }
}

/// Checks a text field's length before it is written.
pub(crate) fn check_text(what: &str, field: &str, s: &str, min: usize, max: usize) -> Result<(), Error> {
    if s.len() < min || s.len() > max {
        bail!(InvalidArgument, "{what} {field}: expected {min}..={max} bytes of UTF-8, got {}", s.len());
    }
    Ok(())
}
