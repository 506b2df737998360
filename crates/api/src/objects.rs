//! Sealed objects as stored: reading an object's header from its first chunks, and the
//! byte ranges of `GET` answers (objects and post media).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::Response;
use base::err;

use crate::state::AppState;

/// Reads and checks the signed header from the start of an object's chunks (it may span
/// several small chunks; it is never longer than `HEADER_BYTES_MAX`).
pub(crate) async fn read_header(st: &AppState, chunks: &[String]) -> Result<crypto::object::Header, base::Error> {
    Ok(read_header_bytes(st, chunks).await?.0)
}

/// [`read_header`], also returning the bytes of the chunks it read and how many it read.
pub(crate) async fn read_header_bytes(
    st: &AppState,
    chunks: &[String],
) -> Result<(crypto::object::Header, Vec<u8>, usize), base::Error> {
    let mut buf = Vec::new();
    let mut read = 0;
    let mut want = crypto::object::PREFIX_BYTES;
    for (i, c) in chunks.iter().enumerate() {
        if buf.len() >= want {
            break;
        }
        if st.db.chunk_size(c).await?.is_none() {
            bail!(FailedPrecondition, "chunks[{i}]: chunk {c} has not been uploaded");
        }
        buf.extend_from_slice(&st.blobs.get_chunk(c).await?);
        read = i + 1;
        if buf.len() >= crypto::object::PREFIX_BYTES {
            want = crypto::object::header_len_from_prefix(&buf[..crypto::object::PREFIX_BYTES])
                .map_err(|e| err!(InvalidArgument, "chunks: not a sealed object: {}", e.message()))?;
        }
    }
    let h = crypto::object::Header::parse(&buf).map_err(|e| {
        err!(InvalidArgument, "chunks: not a sealed object with a valid signed header: {}", e.message())
    })?;
    Ok((h, buf, read))
}

/// A single byte range of `total` bytes from a `Range` header: `bytes=START-`,
/// `bytes=START-END` or `bytes=-SUFFIX`. `Ok(None)` when it covers nothing (416).
pub(crate) fn byte_range(v: &str, total: u64) -> Result<Option<(u64, u64)>, base::Error> {
    let bad = || {
        err!(InvalidArgument, "Range: expected one range, bytes=START-, bytes=START-END or bytes=-LENGTH; got {v:?}")
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |x: &str| x.trim().parse::<u64>().map_err(|_| bad());
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => return Err(bad()),
        (true, false) => {
            let n = num(b)?.min(total);
            if n == 0 {
                return Ok(None);
            }
            (total - n, total - 1)
        }
        (false, true) => (num(a)?, total.saturating_sub(1)),
        (false, false) => {
            let (s, e) = (num(a)?, num(b)?);
            if e < s {
                return Err(bad());
            }
            (s, e.min(total.saturating_sub(1)))
        }
    };
    Ok((start < total).then_some((start, end)))
}

/// The one byte range a request asks for (`Ok(None)`: all of it), or the 416 reply for a
/// range outside `total` bytes.
pub(crate) fn requested_range(
    headers: &HeaderMap,
    total: u64,
) -> Result<Result<Option<(u64, u64)>, Response>, base::Error> {
    let Some(v) = headers.get(header::RANGE) else { return Ok(Ok(None)) };
    let v = v.to_str().map_err(|_| err!(InvalidArgument, "Range: not text"))?;
    Ok(match byte_range(v, total)? {
        Some(r) => Ok(Some(r)),
        None => {
            let e = err!(OutOfRange, "Range: {v:?} is outside the {total} bytes");
            let mut resp = crate::error::ApiError::from(e).into_response();
            let cr = HeaderValue::from_str(&format!("bytes */{total}")).expect("ascii");
            resp.headers_mut().insert(header::CONTENT_RANGE, cr);
            Err(resp)
        }
    })
}

/// Says the reply takes byte ranges, and for a range, which one (a 206).
pub(crate) fn mark_range(resp: &mut Response, range: Option<(u64, u64)>, total: u64) {
    resp.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some((first, last)) = range {
        let cr = format!("bytes {first}-{last}/{total}");
        resp.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&cr).expect("ascii"));
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::byte_range;

    proptest! {
        /// Whatever the header, a range that is served lies inside the object.
        #[test]
        fn a_served_range_is_inside_the_object(
            total in 0u64..1_000_000,
            a in proptest::option::of(0u64..2_000_000),
            b in proptest::option::of(0u64..2_000_000),
            junk in "[ -~]{0,12}",
        ) {
            let fmt = |x: Option<u64>| x.map(|v| v.to_string()).unwrap_or_default();
            for v in [format!("bytes={}-{}", fmt(a), fmt(b)), junk.clone(), format!("bytes={junk}")] {
                if let Ok(Some((s, e))) = byte_range(&v, total) {
                    prop_assert!(s <= e && e < total, "{v} of {total}: {s}-{e}");
                }
            }
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-", 10).unwrap(), Some((0, 9)));
        assert_eq!(byte_range("bytes=-3", 10).unwrap(), Some((7, 9)));
        assert_eq!(byte_range("bytes=-30", 10).unwrap(), Some((0, 9)));
        assert_eq!(byte_range("bytes=2-4", 10).unwrap(), Some((2, 4)));
        assert_eq!(byte_range("bytes=10-", 10).unwrap(), None);
        assert_eq!(byte_range("bytes=-0", 10).unwrap(), None);
        assert_eq!(byte_range("bytes=0-", 0).unwrap(), None);
        assert!(byte_range("bytes=4-2", 10).is_err());
    }
}
