//! The transparency log's tree: RFC 6962/9162 reference values (the Certificate
//! Transparency test tree of eight entries), then properties over many tree sizes: every
//! proof the log makes verifies, and any change to a proof, an index, a size or a head
//! makes it fail. Signed tree heads: round trip, altered bytes, the wrong key.

use porchlight_crypto::keys::IdentitySecret;
use porchlight_crypto::tlog::*;
use proptest::prelude::*;

fn h(s: &str) -> Hash {
    let v: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
    v.try_into().unwrap()
}

const ENTRIES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// The tree heads of the first 0..=8 entries.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_leaves() -> Vec<Hash> {
    ENTRIES.iter().map(|e| leaf_hash(e)).collect()
}

#[test]
fn the_reference_tree_heads() {
    let leaves = reference_leaves();
    for (n, want) in ROOTS.iter().enumerate() {
        assert_eq!(root(&leaves[..n]), h(want), "size {n}");
    }
    assert_eq!(empty_root(), h(ROOTS[0]));
}

#[test]
fn the_reference_inclusion_proofs() {
    let leaves = reference_leaves();
    let root8 = h(ROOTS[8]);
    for (index, path) in [
        (
            0u64,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ] {
        let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
        let got = inclusion_proof(&leaves, index).unwrap();
        assert_eq!(got, want, "leaf {index}");
        verify_inclusion(&leaves[index as usize], index, 8, &got, &root8).unwrap();
    }
}

#[test]
fn edge_cases_are_refused_not_panicked_on() {
    let leaves = reference_leaves();
    let r = root(&leaves);
    assert!(inclusion_proof(&leaves, 8).is_err());
    assert!(verify_inclusion(&leaves[0], 8, 8, &[], &r).is_err());
    assert!(verify_inclusion(&leaves[0], 0, 0, &[], &r).is_err());
    assert!(verify_inclusion(&leaves[0], 0, u64::MAX, &[r; 66], &r).is_err());
    assert!(consistency_proof(&leaves, 9).is_err());
    // A tree that shrank, a different head for the same size, an empty proof where one is needed.
    assert!(verify_consistency(8, 7, &r, &r, &[]).is_err());
    assert!(verify_consistency(8, 8, &r, &h(ROOTS[7]), &[]).is_err());
    assert!(verify_consistency(3, 8, &h(ROOTS[3]), &r, &[]).is_err());
    verify_consistency(8, 8, &r, &r, &[]).unwrap();
    verify_consistency(0, 8, &empty_root(), &r, &[]).unwrap();
    // A single-leaf tree proves itself with an empty path.
    verify_inclusion(&leaves[0], 0, 1, &[], &leaves[0]).unwrap();
}

fn leaves(n: usize, salt: u8) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&[salt, (i >> 8) as u8, i as u8])).collect()
}

proptest! {
    #[test]
    fn inclusion_proofs_verify_and_nothing_else_does(n in 1usize..300, pick in any::<u64>(), flip in any::<u16>()) {
        let d = leaves(n, 7);
        let r = root(&d);
        let i = pick % n as u64;
        let proof = inclusion_proof(&d, i).unwrap();
        prop_assert!(proof.len() <= 9);
        verify_inclusion(&d[i as usize], i, n as u64, &proof, &r).unwrap();
        // Another leaf, another position, another size, another head: all fail.
        let other = (i + 1) % n as u64;
        if other != i {
            prop_assert!(verify_inclusion(&d[other as usize], i, n as u64, &proof, &r).is_err());
            prop_assert!(verify_inclusion(&d[i as usize], other, n as u64, &proof, &r).is_err());
        }
        // (A head names its size and root together, signed: the proof need not tell sizes
        // apart on its own. It must fail against the real next tree's head.)
        let mut grown = d.clone();
        grown.push(leaf_hash(b"next"));
        prop_assert!(verify_inclusion(&d[i as usize], i, n as u64 + 1, &proof, &root(&grown)).is_err());
        prop_assert!(verify_inclusion(&d[i as usize], i, n as u64, &proof, &leaf_hash(b"x")).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let k = flip as usize % (bad.len() * 32);
            bad[k / 32][k % 32] ^= 1 << (flip % 8);
            prop_assert!(verify_inclusion(&d[i as usize], i, n as u64, &bad, &r).is_err());
            prop_assert!(verify_inclusion(&d[i as usize], i, n as u64, &proof[1..], &r).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_a_rewritten_history_does_not(
        n in 1usize..300, pick in any::<u64>(), change in any::<u64>(), flip in any::<u16>(),
    ) {
        let d = leaves(n, 9);
        let m = pick % (n as u64 + 1);
        let (old_root, new_root) = (root(&d[..m as usize]), root(&d));
        let proof = consistency_proof(&d, m).unwrap();
        prop_assert!(proof.len() <= 10);
        verify_consistency(m, n as u64, &old_root, &new_root, &proof).unwrap();
        if m > 0 && (m as usize) < n {
            // One old entry changed: the new tree does not extend the old one.
            let mut rewritten = d.clone();
            let j = (change % m) as usize;
            rewritten[j] = leaf_hash(b"rewritten");
            let forged = consistency_proof(&rewritten, m).unwrap();
            prop_assert!(verify_consistency(m, n as u64, &old_root, &root(&rewritten), &forged).is_err());
            // An altered, shortened or stretched proof fails, as do the wrong sizes.
            let mut bad = proof.clone();
            let k = flip as usize % (bad.len() * 32);
            bad[k / 32][k % 32] ^= 1 << (flip % 8);
            prop_assert!(verify_consistency(m, n as u64, &old_root, &new_root, &bad).is_err());
            prop_assert!(verify_consistency(m, n as u64, &old_root, &new_root, &proof[..proof.len() - 1]).is_err());
            let mut longer = proof.clone();
            longer.push(new_root);
            prop_assert!(verify_consistency(m, n as u64, &old_root, &new_root, &longer).is_err());
            let mut grown = d.clone();
            grown.push(leaf_hash(b"next"));
            prop_assert!(verify_consistency(m, n as u64 + 1, &old_root, &root(&grown), &proof).is_err());
        }
    }
}

#[test]
fn signed_tree_heads() {
    let key = IdentitySecret::generate();
    let other = IdentitySecret::generate();
    let head = TreeHead { size: 8, root: h(ROOTS[8]), timestamp_ms: 1_795_000_000_000 };
    let sth = SignedTreeHead::sign(&key, head);
    let bytes = sth.encode();
    assert_eq!(bytes.len(), HEAD_BYTES);
    assert_eq!(SignedTreeHead::verify(&bytes, &key.public()).unwrap().head, head);
    let e = SignedTreeHead::verify(&bytes, &other.public()).unwrap_err();
    assert!(e.to_string().contains("not by the log's key"), "{e}");
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(SignedTreeHead::verify(&bad, &key.public()).is_err(), "byte {i} flipped");
    }
    assert!(SignedTreeHead::parse(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(SignedTreeHead::parse(&longer).is_err());
}

proptest! {
    /// The log's own tree (complete subtrees kept as it grows) gives the same heads and
    /// proofs as computing them from the leaves, at every earlier size.
    #[test]
    fn the_memory_tree_agrees_with_the_leaves(n in 1usize..200, pick in any::<u64>()) {
        let d = leaves(n, 3);
        let mut t = MemoryTree::new();
        for (i, l) in d.iter().enumerate() {
            prop_assert_eq!(t.push(*l), i as u64);
        }
        prop_assert_eq!(t.root(), root(&d));
        let size = 1 + pick % n as u64;
        let part = &d[..size as usize];
        prop_assert_eq!(root_at(&t, size).unwrap(), root(part));
        let i = (pick >> 16) % size;
        prop_assert_eq!(inclusion_proof_at(&t, i, size).unwrap(), inclusion_proof(part, i).unwrap());
        let m = (pick >> 32) % (size + 1);
        prop_assert_eq!(consistency_proof_at(&t, m, size).unwrap(), consistency_proof(part, m).unwrap());
        prop_assert!(root_at(&t, n as u64 + 1).is_err());
        prop_assert!(inclusion_proof_at(&t, 0, n as u64 + 1).is_err());
        prop_assert!(consistency_proof_at(&t, 2, 1).is_err());
    }
}

proptest! {
    /// An auditor's frontier gives the head of every size as it grows, survives encoding,
    /// and a frontier whose subtree count does not match its size is refused.
    #[test]
    fn the_frontier_gives_every_head(n in 0usize..300, cut in any::<u64>()) {
        let d = leaves(n, 5);
        let mut f = Frontier::new();
        prop_assert_eq!(f.root(), empty_root());
        for (i, l) in d.iter().enumerate() {
            f.push(*l);
            prop_assert_eq!(f.size(), i as u64 + 1);
            prop_assert_eq!(f.root(), root(&d[..=i]));
        }
        let b = f.encode();
        prop_assert_eq!(Frontier::parse(&b).unwrap(), f.clone());
        let mut bad = b.clone();
        bad[7] ^= 1; // the size's lowest bit: the count no longer matches
        prop_assert!(Frontier::parse(&bad).is_err());
        let cut = (cut as usize) % (b.len() + 1);
        if cut < b.len() {
            prop_assert!(Frontier::parse(&b[..cut]).is_err());
        }
    }

    /// The nodes a proof needs, fetched alone, give the same proof as the whole tree.
    #[test]
    fn the_nodes_needed_are_enough(n in 1usize..300, pick in any::<u64>()) {
        let d = leaves(n, 6);
        let mut t = MemoryTree::new();
        d.iter().for_each(|l| { t.push(*l); });
        let size = 1 + pick % n as u64;
        let i = (pick >> 16) % size;
        let m = (pick >> 32) % (size + 1);
        let need = NodesNeeded::new(t.size());
        let _ = root_at(&need, size);
        let _ = inclusion_proof_at(&need, i, size);
        let _ = consistency_proof_at(&need, m, size);
        let nodes: std::collections::HashMap<(u32, u64), Hash> =
            need.into_nodes().into_iter().map(|(l, x)| ((l, x), t.node(l, x))).collect();
        prop_assert!(nodes.len() <= 3 * 2 * 64);
        struct Fetched(u64, std::collections::HashMap<(u32, u64), Hash>);
        impl Nodes for Fetched {
            fn size(&self) -> u64 { self.0 }
            fn node(&self, level: u32, index: u64) -> Hash { self.1[&(level, index)] }
        }
        let got = Fetched(t.size(), nodes);
        prop_assert_eq!(root_at(&got, size).unwrap(), root(&d[..size as usize]));
        prop_assert_eq!(inclusion_proof_at(&got, i, size).unwrap(), inclusion_proof_at(&t, i, size).unwrap());
        prop_assert_eq!(consistency_proof_at(&got, m, size).unwrap(), consistency_proof_at(&t, m, size).unwrap());
    }
}
