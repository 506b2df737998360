//! Passwords (argon2id), TOTP (RFC 6238), and the random secrets behind sessions, tokens,
//! invitations and pairings. Only hashes of secrets are stored; the hashes are compared in
//! constant time.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base::{Error, ErrorKind};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Argon2id with 19 MiB, 2 passes, 1 lane: OWASP's minimum recommendation, about 30 ms here.
fn argon() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid params"))
}

pub const PASSWORD_CHARS_MIN: usize = 10;
pub const PASSWORD_BYTES_MAX: usize = 256;

pub fn check_password_rules(pw: &str) -> Result<(), Error> {
    if pw.chars().count() < PASSWORD_CHARS_MIN {
        bail!(InvalidArgument, "password: expected at least {PASSWORD_CHARS_MIN} characters");
    }
    if pw.len() > PASSWORD_BYTES_MAX {
        bail!(InvalidArgument, "password: expected at most {PASSWORD_BYTES_MAX} bytes");
    }
    Ok(())
}

pub fn hash_password(pw: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    crypto::random_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| base::err!(Internal, "salt: {e}"))?;
    Ok(argon().hash_password(pw.as_bytes(), &salt).map_err(|e| base::err!(Internal, "argon2: {e}"))?.to_string())
}

pub fn verify_password(pw: &str, phc: &str) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    argon().verify_password(pw.as_bytes(), &h).is_ok()
}

/// A random secret: `n` bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    crypto::random_bytes(&mut b);
    crypto::keys::hex(&b)
}

/// The stored form of a secret: its SHA-256 in hex. Secrets are 128+ random bits, so a
/// plain hash (no salt, no stretching) is enough.
pub fn secret_hash(secret: &str) -> String {
    crypto::keys::hex(&Sha256::digest(secret.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn hex_decode(field: &str, s: &str, max_bytes: usize) -> Result<Vec<u8>, Error> {
    if !s.len().is_multiple_of(2) || s.len() / 2 > max_bytes {
        bail!(InvalidArgument, "{field}: expected an even number of hex digits, at most {} bytes", max_bytes);
    }
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        bail!(InvalidArgument, "{field}: expected hex digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("{field}: expected hex digits")))
}

// ---- TOTP (RFC 6238 with HMAC-SHA1, 30 s steps, 6 digits: what every authenticator app does) ----

pub const TOTP_STEP_S: i64 = 30;
pub const TOTP_SECRET_BYTES: usize = 20;

pub fn totp_at(secret: &[u8], step: i64) -> u32 {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let d = mac.finalize().into_bytes();
    let off = (d[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([d[off] & 0x7f, d[off + 1], d[off + 2], d[off + 3]]);
    bin % 1_000_000
}

/// The step at which `code` is valid within one step of `now_ms` (clock drift), if any.
pub fn totp_match(secret: &[u8], code: &str, now_ms: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let want: u32 = code.parse().ok()?;
    let now = now_ms.div_euclid(1000 * TOTP_STEP_S);
    (now - 1..=now + 1).find(|&s| totp_at(secret, s) == want)
}

/// RFC 4648 base32 without padding, as authenticator apps expect in `otpauth://` URLs.
pub fn base32_rfc4648(b: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, String::new());
    for &x in b {
        acc = (acc << 8) | u32::from(x);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(A[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes RFC 4648 base32 (no padding); `None` on any other character.
pub fn base32_rfc4648_decode(s: &str) -> Option<Vec<u8>> {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        acc = (acc << 5) | A.iter().position(|&x| x == c)? as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

pub fn otpauth_url(email: &str, secret: &[u8]) -> String {
    let label: String = url::form_urlencoded::byte_serialize(format!("Porchlight:{email}").as_bytes()).collect();
    format!(
        "otpauth://totp/{label}?secret={}&issuer=Porchlight&algorithm=SHA1&digits=6&period=30",
        base32_rfc4648(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits there; 6 here are the low digits).
    #[test]
    fn totp_matches_rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, code8) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
        ] {
            assert_eq!(totp_at(secret, t / 30), code8 % 1_000_000, "t={t}");
            assert_eq!(totp_match(secret, &format!("{:06}", code8 % 1_000_000), t * 1000), Some(t / 30));
        }
        assert_eq!(totp_match(secret, "12345", 0), None);
        assert_eq!(totp_match(secret, "abcdef", 0), None);
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32_rfc4648(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_rfc4648(b"f"), "MY");
        assert_eq!(base32_rfc4648_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_rfc4648_decode("M1"), None);
    }

    proptest::proptest! {
        #[test]
        fn hex_round_trips(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(hex_decode("f", &crypto::keys::hex(&b), 64).unwrap(), b);
        }

        #[test]
        fn hex_decode_never_panics(s in "\\PC{0,80}") {
            let _ = hex_decode("f", &s, 64);
        }
    }
}
