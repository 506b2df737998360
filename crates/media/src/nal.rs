//! Checks on length-prefixed NAL unit data (the MP4 sample format).

use base::{Error, bail};

/// Verifies that `data` is a sequence of `[u32 length][NAL unit]` records that exactly tiles
/// it, with no empty or truncated unit. Returns the number of NAL units.
pub fn check_length_prefixed(data: &[u8]) -> Result<usize, Error> {
    if data.is_empty() {
        bail!(DataLoss, "access unit is empty");
    }
    let mut pos = 0usize;
    let mut n = 0;
    while pos < data.len() {
        let Some(hdr) = data.get(pos..pos + 4) else {
            bail!(DataLoss, "NAL length prefix truncated at byte {pos} of {}", data.len());
        };
        let len = u32::from_be_bytes(hdr.try_into().expect("4 bytes")) as usize;
        if len == 0 {
            bail!(DataLoss, "empty NAL unit at byte {pos}");
        }
        let end = pos + 4 + len;
        if end > data.len() {
            bail!(DataLoss, "NAL unit at byte {pos} claims {len} bytes but only {} remain", data.len() - pos - 4);
        }
        if data[pos + 4] & 0x80 != 0 {
            bail!(DataLoss, "NAL unit at byte {pos} has its forbidden_zero_bit set");
        }
        pos = end;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(data: &[u8], expected: Result<usize, &str>) {
        match (check_length_prefixed(data), expected) {
            (Ok(n), Ok(m)) => assert_eq!(n, m),
            (Err(e), Err(want)) => assert!(e.msg().contains(want), "{e} lacks {want:?}"),
            (got, want) => panic!("{data:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn cases() {
        check(&[0, 0, 0, 2, 0x65, 0x88], Ok(1));
        check(&[0, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x41], Ok(2));
        check(&[], Err("empty"));
        check(&[0, 0, 0], Err("truncated"));
        check(&[0, 0, 0, 5, 0x65], Err("claims 5 bytes"));
        check(&[0, 0, 0, 0], Err("empty NAL"));
        check(&[0, 0, 0, 1, 0xe5], Err("forbidden_zero_bit"));
    }
}
