//! The transparency log's tree at 10 million entries (issue 8's goals: at least 10,000
//! appends per second, under 1 ms per inclusion or consistency proof):
//!   cargo bench -p porchlight-crypto --bench tlog
//! Appending is timed on its own (the leaf hash, and the node hashes each append
//! completes); proofs are made and verified at random positions of the full tree.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use porchlight_crypto::tlog::{
    MemoryTree, consistency_proof_at, inclusion_proof_at, leaf_hash, root_at, verify_consistency, verify_inclusion,
};

const ENTRIES: u64 = 10_000_000;

fn tree(c: &mut Criterion) {
    let mut g = c.benchmark_group("tlog");
    g.throughput(Throughput::Elements(1));
    g.bench_function("append (leaf hash and completed nodes)", |b| {
        let mut t = MemoryTree::new();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            t.push(leaf_hash(&i.to_le_bytes()))
        })
    });

    let started = std::time::Instant::now();
    let mut t = MemoryTree::new();
    for i in 0..ENTRIES {
        t.push(leaf_hash(&i.to_le_bytes()));
    }
    eprintln!("tlog: built a tree of {ENTRIES} entries in {:.2} s", started.elapsed().as_secs_f64());
    let head = t.root();
    // A fixed walk over the tree (xorshift), so that runs are comparable.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    g.bench_function("inclusion proof at 10M, made and verified", |b| {
        b.iter(|| {
            let i = next() % ENTRIES;
            let p = inclusion_proof_at(&t, i, ENTRIES).unwrap();
            verify_inclusion(&leaf_hash(&i.to_le_bytes()), i, ENTRIES, &p, &head).unwrap();
        })
    });
    let mut y = 0x2545_f491_4f6c_dd1du64;
    g.bench_function("consistency proof to 10M, made and verified", |b| {
        b.iter(|| {
            y ^= y << 13;
            y ^= y >> 7;
            y ^= y << 17;
            let m = 1 + y % (ENTRIES - 1);
            let old = root_at(&t, m).unwrap();
            let p = consistency_proof_at(&t, m, ENTRIES).unwrap();
            verify_consistency(m, ENTRIES, &old, &head, &p).unwrap();
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = tree
}
criterion_main!(benches);
