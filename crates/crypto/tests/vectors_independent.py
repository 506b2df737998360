#!/usr/bin/python3
"""Checks testdata/vectors.json with an implementation independent of the Rust crate.

Written from design/crypto-format.md and RFC 9180 alone, on Debian's python3-cryptography
(AES-GCM, HMAC, ECDH P-256, Ed25519): the same primitives WebCrypto offers, so this is a
model of what the browser has to do. Run by `cargo test -p porchlight-crypto --test
independent`, or directly: `/usr/bin/python3 tests/vectors_independent.py testdata/vectors.json`.
"""

import hashlib
import hmac
import json
import struct
import sys

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CHUNK = 65536
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def h(s):
    return bytes.fromhex(s)


def sha256(b):
    return hashlib.sha256(b).digest()


def base32(b):
    bits, acc, out = 0, 0, ""
    for x in b:
        acc = (acc << 8) | x
        bits += 8
        while bits >= 5:
            bits -= 5
            out += CROCKFORD[(acc >> bits) & 31]
    if bits:
        out += CROCKFORD[(acc << (5 - bits)) & 31]
    return out


def group(s):
    return "-".join(s[i:i + 4] for i in range(0, len(s), 4))


def fingerprint(identity_pub):
    return group(base32(sha256(b"porchlight/fingerprint/v1\0" + identity_pub)[:13])[:20])


def verify(pub, domain, msg, sig):
    ed25519.Ed25519PublicKey.from_public_bytes(pub).verify(sig, domain + b"\0" + msg)


# --- RFC 9180, DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, base mode ---

def extract(salt, ikm):
    return hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()


def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def labeled_extract(suite, salt, label, ikm):
    return extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite, prk, label, info, n):
    return expand(prk, struct.pack(">H", n) + b"HPKE-v1" + suite + label + info, n)


def hpke_open(sk_bytes, enc, info, aad, ct):
    kem_suite = b"KEM" + struct.pack(">H", 0x0010)
    suite = b"HPKE" + struct.pack(">HHH", 0x0010, 0x0001, 0x0002)
    sk = ec.derive_private_key(int.from_bytes(sk_bytes, "big"), ec.SECP256R1())
    pk_e = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), enc)
    dh = sk.exchange(ec.ECDH(), pk_e)
    pk_r = sk.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    prk = labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared = labeled_expand(kem_suite, prk, b"shared_secret", enc + pk_r, 32)
    ctx = (b"\0" + labeled_extract(suite, b"", b"psk_id_hash", b"")
           + labeled_extract(suite, b"", b"info_hash", info))
    secret = labeled_extract(suite, shared, b"secret", b"")
    key = labeled_expand(suite, secret, b"key", ctx, 32)
    nonce = labeled_expand(suite, secret, b"base_nonce", ctx, 12)
    return AESGCM(key).decrypt(nonce, ct, aad)


def p256_public(sk_bytes):
    sk = ec.derive_private_key(int.from_bytes(sk_bytes, "big"), ec.SECP256R1())
    return sk.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


# --- Porchlight structures ---

class Reader:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def take(self, n):
        assert self.pos + n <= len(self.b), "short input"
        s = self.b[self.pos:self.pos + n]
        self.pos += n
        return s

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def var(self):
        return self.take(self.u16())


def stream_nonce(prefix, i, last):
    return prefix + struct.pack(">I", i) + bytes([1 if last else 0])


def open_body(key, prefix, plaintext_len, body):
    n = max(1, -(-plaintext_len // CHUNK))
    out = b""
    for i in range(n):
        start = i * (CHUNK + 16)
        size = (plaintext_len - i * CHUNK if i == n - 1 else CHUNK) + 16
        out += AESGCM(key).decrypt(stream_nonce(prefix, i, i == n - 1), body[start:start + size], b"")
    assert len(body) == plaintext_len + 16 * n, "body length"
    return out


def parse_object(sealed):
    r = Reader(sealed)
    assert r.take(4) == b"PLOB" and r.u8() == 1
    header_len = r.u32()
    o = {"kind": r.u8(), "object_id": r.take(16), "device": r.take(32), "camera": r.var().decode(),
         "start_ms": r.i64(), "end_ms": r.i64(), "plaintext_len": r.u64()}
    assert r.u8() == 16, "chunk_log2"
    o["nonce_prefix"] = r.take(7)
    o["digest"] = r.take(32)
    o["recipients"] = [(r.take(16), r.take(65), r.take(48)) for _ in range(r.u8())]
    signed = r.pos
    sig = r.take(64)
    assert r.pos == header_len, "header_len"
    verify(o["device"], b"porchlight/object/v1", sealed[:signed], sig)
    body = sealed[header_len:]
    assert sha256(body) == o["digest"], "body digest"
    o["body"] = body
    o["aad"] = o["object_id"] + o["digest"]
    return o


def check(v):
    for s in v["stream"]:
        key, prefix, n = h(s["key"]), h(s["nonce_prefix"]), s["plaintext_len"]
        pt = bytes(i % 251 for i in range(n))
        chunks = [pt[i:i + CHUNK] for i in range(0, n, CHUNK)] or [b""]
        sealed = b""
        for i, c in enumerate(chunks):
            nonce = stream_nonce(prefix, i, i == len(chunks) - 1)
            assert nonce.hex() == s["nonces"][i]
            ct = AESGCM(key).encrypt(nonce, c, b"")
            assert ct[-16:].hex() == s["tags"][i]
            sealed += ct
        assert len(sealed) == s["sealed_len"] and sha256(sealed).hex() == s["sealed_sha256"]
        if "sealed" in s:
            assert sealed.hex() == s["sealed"]
        assert open_body(key, prefix, n, sealed) == pt

    k = v["keys"]
    ident = ed25519.Ed25519PrivateKey.from_private_bytes(h(k["identity_seed"])).public_key()
    ident_pub = ident.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert ident_pub.hex() == k["identity_public"]
    assert fingerprint(ident_pub) == k["fingerprint"]
    enc_pub = p256_public(h(k["encryption_secret"]))
    assert enc_pub.hex() == k["encryption_public"]
    assert sha256(b"porchlight/key-id/v1\0" + enc_pub)[:16].hex() == k["key_id"]
    pk = h(k["public_keys"])
    r = Reader(pk)
    assert r.take(4) == b"PLPK" and r.u8() == 1
    assert r.take(32) == ident_pub and r.take(65) == enc_pub
    assert r.i64() == k["created_ms"] and r.var().decode() == k["label"]
    verify(ident_pub, b"porchlight/public-keys/v1", pk[:r.pos], r.take(64))

    for p in v["possession"]:
        cur = sha256(h(p["current"])) if p["current"] is not None else bytes(32)
        c = sha256(b"porchlight/key-possession-challenge/v1\0" + p["account_id"].encode() + b"\0" + cur)
        assert c.hex() == p["challenge"]
        verify(ident_pub, b"porchlight/key-possession/v1", c, h(p["proof"]))

    w = v["wrap"]
    assert p256_public(h(w["ephemeral_secret"])).hex() == w["enc"], "enc is the ephemeral's public key"
    got = hpke_open(h(w["recipient_secret"]), h(w["enc"]), w["info"].encode(), h(w["aad"]), h(w["ciphertext"]))
    assert got.hex() == w["content_key"]

    o = v["object"]
    sealed = h(o["sealed"])
    obj = parse_object(sealed)
    assert obj["device"].hex() == o["device_public"] and obj["camera"] == o["camera"]
    assert (obj["start_ms"], obj["end_ms"], obj["kind"]) == (o["start_ms"], o["end_ms"], o["kind"])
    assert obj["aad"].hex() == o["wrap_aad"]
    for secret in (k["encryption_secret"], o["bob_encryption_secret"]):
        kid = sha256(b"porchlight/key-id/v1\0" + p256_public(h(secret)))[:16]
        (_, enc, ct), = [x for x in obj["recipients"] if x[0] == kid]
        ck = hpke_open(h(secret), enc, b"porchlight/content-key/v1", obj["aad"], ct)
        assert ck.hex() == o["content_key"]
        pt = open_body(ck, obj["nonce_prefix"], obj["plaintext_len"], obj["body"])
        assert pt.decode() == o["plaintext"]
    assert sha256(sealed).hex() == v["sha256_of_object"]

    g = v["grant"]
    gb = h(g["grant"])
    r = Reader(gb)
    assert r.take(4) == b"PLGR" and r.u8() == 1
    assert r.take(16) == obj["object_id"] and r.take(32) == obj["digest"]
    granter = r.take(32)
    assert granter == ident_pub and r.i64() == g["granted_ms"] and r.var().decode() == g["purpose"]
    _kid, enc, ct = r.take(16), r.take(65), r.take(48)
    verify(granter, b"porchlight/grant/v1", gb[:r.pos], r.take(64))
    ck = hpke_open(h(g["agency_encryption_secret"]), enc, b"porchlight/content-key/v1", obj["aad"], ct)
    assert open_body(ck, obj["nonce_prefix"], obj["plaintext_len"], obj["body"]).decode() == o["plaintext"]

    b = v["backup"]
    assert group(base32(h(b["code_bytes"]))) == b["code"]
    blob = h(b["backup"])
    assert blob[:5] == b"PLBK\x01" and blob[5:21].hex() == b["salt"] and blob[21:33].hex() == b["nonce"]
    key = expand(extract(h(b["salt"]), h(b["code_bytes"])), b["info"].encode(), 32)
    assert AESGCM(key).decrypt(blob[21:33], blob[33:], blob[:33]).hex() == b["keyring"]


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        check(json.load(f))
    print("all vectors verified independently")
