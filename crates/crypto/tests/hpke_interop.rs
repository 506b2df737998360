//! Our HPKE (built on AWS-LC) against the `hpke` crate, in both directions: a wrap made by
//! either opens with the other, for random keys and associated data.

use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use porchlight_crypto::keys::{ENC_BYTES, EncryptionPublic, EncryptionSecret, WRAP_INFO, WRAPPED_BYTES, WrappedKey};
use porchlight_crypto::stream::ContentKey;
use proptest::prelude::*;

type Kem = hpke::kem::DhP256HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn ours_opens_theirs_and_theirs_opens_ours(key in any::<[u8; 32]>(), aad in prop::collection::vec(any::<u8>(), 0..64)) {
        let ours = EncryptionSecret::generate();
        let ck = ContentKey::from_bytes(key);

        // The hpke crate wraps to our public key; we unwrap.
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&ours.public().to_bytes()).unwrap();
        let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem>(&OpModeS::Base, &pk, WRAP_INFO, &key, &aad).unwrap();
        let enc: [u8; ENC_BYTES] = enc.to_bytes().into();
        let w = WrappedKey { key_id: ours.public().key_id(), enc, ciphertext: <[u8; WRAPPED_BYTES]>::try_from(ct).unwrap() };
        let got = ours.unwrap(&w, &aad).unwrap();
        prop_assert_eq!(got.as_bytes(), &key);

        // We wrap to the hpke crate's key; it unwraps.
        let (sk, pk) = Kem::gen_keypair();
        let theirs = EncryptionPublic::from_bytes(&pk.to_bytes()).unwrap();
        let w = theirs.wrap(&ck, &aad);
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&w.enc).unwrap();
        let pt = hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, WRAP_INFO, &w.ciphertext, &aad).unwrap();
        prop_assert_eq!(pt.as_slice(), &key);
    }
}

#[test]
fn invalid_points_are_rejected() {
    let mut b = EncryptionSecret::generate().public().to_bytes();
    b[64] ^= 1;
    assert!(EncryptionPublic::from_bytes(&b).is_err());
    assert!(EncryptionPublic::from_bytes(&[4; 65]).is_err());
    assert!(EncryptionPublic::from_bytes(&[0; 33]).is_err());
}
