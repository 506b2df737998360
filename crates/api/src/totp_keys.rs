//! TOTP secrets sealed at rest with keys the database does not hold.
//!
//! A TOTP secret is the second factor itself: whoever reads it from a stolen database can
//! make every code. So the database holds each secret only sealed, AES-256-GCM under a key
//! derived for the account from a server key kept outside the database (a file in the data
//! folder, or the environment), and bound to the account (a sealed secret moved to another
//! account's row does not open):
//!
//! ```text
//! key file:  "PLSK" 01 | n (u8, 1..=8) | n × (key id (8) | key (32)), the first the current one
//! sealed:    "PLTS" 01 | key id (8) | nonce prefix (7) | AES-256-GCM STREAM body (one chunk) of the secret
//! body key:  HMAC-SHA256(server key, "porchlight/totp-seal/v1" 00 || account id)
//! ```
//!
//! Rotation (`porchlight totp-key-rotate`) writes a file holding a new current key and the
//! old ones, re-seals every secret under the new key ([`reseal`]), then writes the file with
//! the new key alone; a crash in between leaves a file that opens every secret, and the
//! server's next start finishes the job. The same pass seals secrets stored before sealing
//! existed.

use base::{Error, err};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const FILE_MAGIC: &[u8; 4] = b"PLSK";
const SEALED_MAGIC: &[u8; 4] = b"PLTS";
const KEYS_MAX: usize = 8;
const ID_BYTES: usize = 8;
const PREFIX_BYTES: usize = 7;
const HEADER_BYTES: usize = 5 + ID_BYTES + PREFIX_BYTES;

#[derive(Clone)]
pub struct TotpKeys {
    /// The current key first.
    keys: Vec<([u8; ID_BYTES], Zeroizing<[u8; 32]>)>,
}

impl std::fmt::Debug for TotpKeys {
    /// Names the keys by id, never shows one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TotpKeys({:?})", self.ids())
    }
}

impl TotpKeys {
    pub fn generate() -> TotpKeys {
        TotpKeys { keys: vec![new_key()] }
    }

    /// A key file's bytes.
    pub fn parse(b: &[u8]) -> Result<TotpKeys, Error> {
        let bad = || err!(InvalidArgument, "TOTP key file: expected \"PLSK\" 01, 1 to {KEYS_MAX} keys of 40 bytes");
        if b.len() < 6 || &b[..4] != FILE_MAGIC || b[4] != 1 {
            return Err(bad());
        }
        let n = usize::from(b[5]);
        if !(1..=KEYS_MAX).contains(&n) || b.len() != 6 + n * (ID_BYTES + 32) {
            return Err(bad());
        }
        let keys = b[6..]
            .chunks_exact(ID_BYTES + 32)
            .map(|c| {
                (c[..ID_BYTES].try_into().expect("8 bytes"), Zeroizing::new(c[ID_BYTES..].try_into().expect("32")))
            })
            .collect();
        Ok(TotpKeys { keys })
    }

    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(FILE_MAGIC.to_vec());
        v.push(1);
        v.push(self.keys.len() as u8);
        for (id, k) in &self.keys {
            v.extend_from_slice(id);
            v.extend_from_slice(&k[..]);
        }
        v
    }

    /// A new current key ahead of these (the oldest dropped past the limit).
    pub fn rotated(&self) -> TotpKeys {
        let mut keys = vec![new_key()];
        keys.extend(self.keys.iter().take(KEYS_MAX - 1).cloned());
        TotpKeys { keys }
    }

    /// The current key alone.
    pub fn current_only(&self) -> TotpKeys {
        TotpKeys { keys: self.keys[..1].to_vec() }
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|(id, _)| crypto::keys::hex(id)).collect()
    }

    fn body_key(key: &[u8; 32], account_id: &str) -> crypto::stream::ContentKey {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"porchlight/totp-seal/v1\0");
        mac.update(account_id.as_bytes());
        crypto::stream::ContentKey::from_bytes(mac.finalize().into_bytes().into())
    }

    /// Seals `secret` for `account_id` under the current key.
    pub fn seal(&self, account_id: &str, secret: &[u8]) -> Result<Vec<u8>, Error> {
        let (id, key) = &self.keys[0];
        let mut prefix = [0u8; PREFIX_BYTES];
        crypto::random_bytes(&mut prefix);
        let (body, _, _) = crypto::stream::seal_body(&Self::body_key(key, account_id), prefix, secret)
            .map_err(|e| err!(Internal, "sealing a TOTP secret: {}", e.message()))?;
        let mut v = SEALED_MAGIC.to_vec();
        v.push(1);
        v.extend_from_slice(id);
        v.extend_from_slice(&prefix);
        v.extend_from_slice(&body);
        Ok(v)
    }

    /// Opens what [`TotpKeys::seal`] made for `account_id`, with whichever key it names.
    pub fn open(&self, account_id: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        if !is_sealed(sealed) {
            bail!(DataLoss, "account {account_id}: its TOTP secret is not sealed");
        }
        let id = &sealed[5..5 + ID_BYTES];
        let Some((_, key)) = self.keys.iter().find(|(k, _)| k == id) else {
            bail!(
                FailedPrecondition,
                "account {account_id}: its TOTP secret is sealed with key {}, which the server's TOTP key file lacks",
                crypto::keys::hex(id)
            );
        };
        let prefix: [u8; PREFIX_BYTES] = sealed[5 + ID_BYTES..HEADER_BYTES].try_into().expect("7 bytes");
        let body = &sealed[HEADER_BYTES..];
        let len = (body.len() as u64).saturating_sub(16);
        crypto::stream::open_body(&Self::body_key(key, account_id), prefix, len, None, body)
            .map(Zeroizing::new)
            .map_err(|_| err!(DataLoss, "account {account_id}: its sealed TOTP secret does not open"))
    }

    /// Whether `sealed` is sealed under the current key.
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        is_sealed(sealed) && sealed[5..5 + ID_BYTES] == self.keys[0].0
    }
}

fn new_key() -> ([u8; ID_BYTES], Zeroizing<[u8; 32]>) {
    let mut id = [0u8; ID_BYTES];
    crypto::random_bytes(&mut id);
    let mut k = Zeroizing::new([0u8; 32]);
    crypto::random_bytes(&mut k[..]);
    (id, k)
}

/// Whether the stored bytes are a sealed secret (a plain one is 20 random bytes).
pub fn is_sealed(b: &[u8]) -> bool {
    b.len() >= HEADER_BYTES + 16 && &b[..4] == SEALED_MAGIC && b[4] == 1
}

/// Seals every TOTP secret under the current key: plain ones (stored before sealing
/// existed) and those sealed under an older key. Returns how many it rewrote.
pub async fn reseal(db: &db::server::Db, keys: &TotpKeys) -> Result<u64, Error> {
    let mut n = 0;
    for (account, stored) in db.totp_secrets().await? {
        if keys.is_current(&stored) {
            continue;
        }
        let plain = if is_sealed(&stored) { keys.open(&account, &stored)? } else { Zeroizing::new(stored.clone()) };
        let sealed = keys.seal(&account, &plain)?;
        if db.replace_totp_secret(&account, &stored, &sealed).await? {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_account_and_with_their_key() {
        let keys = TotpKeys::generate();
        let s = keys.seal("a1", b"twenty bytes secret!").unwrap();
        assert!(is_sealed(&s) && keys.is_current(&s));
        assert_eq!(&keys.open("a1", &s).unwrap()[..], b"twenty bytes secret!");
        assert!(keys.open("a2", &s).is_err(), "moved to another account");
        let other = TotpKeys::generate();
        assert!(other.open("a1", &s).unwrap_err().to_string().contains("lacks"));
        for i in 0..s.len() {
            let mut bad = s.clone();
            bad[i] ^= 1;
            assert!(keys.open("a1", &bad).is_err(), "byte {i} flipped");
        }
        // After a rotation the old secret still opens, and new ones use the new key.
        let rotated = keys.rotated();
        assert!(!rotated.is_current(&s));
        assert_eq!(&rotated.open("a1", &s).unwrap()[..], b"twenty bytes secret!");
        let file = TotpKeys::parse(&rotated.encode()).unwrap();
        assert_eq!(file.ids(), rotated.ids());
        assert!(file.current_only().open("a1", &s).is_err());
        for bad in [&b""[..], b"PLSK\x01\x00", b"PLSK\x02\x01", b"PLSK\x01\x01short"] {
            assert!(TotpKeys::parse(bad).is_err());
        }
        assert!(!format!("{keys:?}").contains(&crypto::keys::hex(&keys.keys[0].1[..])));
    }
}
