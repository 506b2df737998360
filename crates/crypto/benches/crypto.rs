//! Clip encryption and decryption throughput per core (64 KiB chunks, as stored), and
//! content-key wrapping for 1 and 10 recipients. Compare the throughput with
//! `openssl speed -evp aes-256-gcm -bytes 65536` (`make bench` runs both).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use porchlight_crypto::keys::{IdentitySecret, Keyring};
use porchlight_crypto::object::{self, Kind, Meta};
use porchlight_crypto::stream::{self, CHUNK_BYTES, ContentKey, Opener, Sealer};

fn body(c: &mut Criterion) {
    let key = ContentKey::generate();
    let chunk = vec![0x5au8; CHUNK_BYTES];
    let mut g = c.benchmark_group("body");
    g.throughput(Throughput::Bytes(CHUNK_BYTES as u64));
    g.bench_function("seal 64 KiB chunk", |b| {
        let mut s = Sealer::new(&key, [1; 7]);
        let mut out = Vec::with_capacity(stream::SEALED_CHUNK_BYTES);
        b.iter(|| {
            out.clear();
            s.seal_chunk(&chunk, false, &mut out).unwrap();
        })
    });
    let mut s = Sealer::new(&key, [1; 7]);
    let mut sealed = Vec::new();
    s.seal_chunk(&chunk, false, &mut sealed).unwrap();
    let o = Opener::new(&key, [1; 7], 2 * CHUNK_BYTES as u64).unwrap();
    g.bench_function("open 64 KiB chunk", |b| {
        let mut out = Vec::with_capacity(CHUNK_BYTES);
        b.iter(|| {
            out.clear();
            o.open_chunk_into(0, &sealed, &mut out).unwrap();
        })
    });
    g.finish();

    // A whole 16 MiB clip through the object API (header, digest, wraps, signature).
    let clip = vec![0x33u8; 16 << 20];
    let device = IdentitySecret::generate();
    let owner = Keyring::generate("owner", 0).unwrap();
    let meta = Meta { kind: Kind::Clip, camera: "front".into(), start_ms: 0, end_ms: 30_000 };
    let mut g = c.benchmark_group("object");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(clip.len() as u64));
    g.bench_function("seal 16 MiB clip", |b| {
        b.iter(|| object::seal(&device, meta.clone(), &[owner.encryption.public()], &clip).unwrap())
    });
    let sealed = object::seal(&device, meta.clone(), &[owner.encryption.public()], &clip).unwrap();
    g.bench_function("open 16 MiB clip", |b| b.iter(|| object::open(&owner, &sealed).unwrap()));
    g.finish();
}

fn wrap(c: &mut Criterion) {
    let key = ContentKey::generate();
    let recipients: Vec<_> =
        (0..10).map(|i| Keyring::generate(&format!("r{i}"), 0).unwrap().encryption.public()).collect();
    let aad = [7u8; 48];
    let mut g = c.benchmark_group("wrap");
    for n in [1usize, 10] {
        g.bench_with_input(BenchmarkId::new("content key for recipients", n), &n, |b, &n| {
            b.iter(|| recipients[..n].iter().map(|r| r.wrap(&key, &aad)).collect::<Vec<_>>())
        });
    }
    let k = Keyring::generate("me", 0).unwrap();
    let w = k.encryption.public().wrap(&key, &aad);
    g.bench_function("unwrap one", |b| b.iter(|| k.encryption.unwrap(&w, &aad).unwrap()));
    g.finish();
}

criterion_group!(benches, body, wrap);
criterion_main!(benches);
