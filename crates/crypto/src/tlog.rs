//! The transparency log's core: Merkle tree hashing, inclusion and consistency proofs in
//! the manner of Certificate Transparency (RFC 9162, section 2.1), and signed tree heads.
//!
//! ```text
//! leaf hash:   SHA-256(00 || entry)            node hash: SHA-256(01 || left || right)
//! empty tree:  SHA-256("")
//! tree head:   "PLTH" 01 | size (u64) | root (32) | timestamp_ms (i64) | log key (32)
//!              | signature (64) by the log key over "porchlight/tree-head/v1" 00 || everything before it
//! ```
//!
//! The leaf and node prefixes keep a leaf from ever being passed off as an interior node (a
//! second-preimage attack on the tree). Proofs are verified by the RFC's algorithms, which
//! need only the proof, the indices and the roots, so a client that keeps the last head it
//! saw can check that a new head extends it and that an entry is in it, without trusting
//! the server. Computing proofs takes the leaf hashes; the server keeps them.
//!
//! This module does no I/O (design/transparency-log.md).

use sha2::{Digest, Sha256};

use crate::keys::{IdentityPublic, IdentitySecret, sign, verify};
use crate::wire::{Put, Reader};
use crate::{Error, bail};

pub type Hash = [u8; 32];

const HEAD_MAGIC: &[u8; 4] = b"PLTH";
const HEAD_DOMAIN: &[u8] = b"porchlight/tree-head/v1";
/// Bytes of an encoded signed tree head.
pub const HEAD_BYTES: usize = 4 + 1 + 8 + 32 + 8 + 32 + 64;
/// The longest proof a tree of 2^64 leaves needs (consistency proofs can be one longer).
pub const PROOF_HASHES_MAX: usize = 65;

pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// Where a tree's hashes come from: the hash of each complete subtree, node (level, index)
/// covering leaves `index × 2^level` up to `(index + 1) × 2^level`. Level 0 is the leaf
/// hashes. Every head and proof is built from O(log n) of them, whatever the tree's size.
pub trait Nodes {
    /// Leaves in the tree.
    fn size(&self) -> u64;
    /// A complete subtree's hash; the callers ask only for nodes inside `size()`.
    fn node(&self, level: u32, index: u64) -> Hash;
}

/// A slice of leaf hashes: each node computed from its leaves (for tests and small trees).
impl Nodes for [Hash] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn node(&self, level: u32, index: u64) -> Hash {
        fn sub(d: &[Hash]) -> Hash {
            if d.len() == 1 {
                return d[0];
            }
            let k = d.len() / 2;
            node_hash(&sub(&d[..k]), &sub(&d[k..]))
        }
        let w = 1usize << level;
        let a = index as usize * w;
        sub(&self[a..a + w])
    }
}

/// RFC 9162's MTH of leaves `a..b`: in the RFC's recursion every range of 2^j leaves
/// starts at a multiple of 2^j, so it is one stored node.
fn range_hash<N: Nodes + ?Sized>(t: &N, a: u64, b: u64) -> Hash {
    let n = b - a;
    if n == 0 {
        return empty_root();
    }
    if n.is_power_of_two() {
        debug_assert_eq!(a % n, 0);
        return t.node(n.trailing_zeros(), a >> n.trailing_zeros());
    }
    let k = split(n);
    node_hash(&range_hash(t, a, a + k), &range_hash(t, a + k, b))
}

/// The head of the tree's first `size` leaves.
pub fn root_at<N: Nodes + ?Sized>(t: &N, size: u64) -> Result<Hash, Error> {
    if size > t.size() {
        bail!(InvalidArgument, "tree head: {size} leaves is more than the log's {}", t.size());
    }
    Ok(range_hash(t, 0, size))
}

/// The tree head hash of `leaves` (leaf hashes), RFC 9162's MTH.
pub fn root(leaves: &[Hash]) -> Hash {
    range_hash(leaves, 0, leaves.len() as u64)
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162's PATH).
pub fn inclusion_proof_at<N: Nodes + ?Sized>(t: &N, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
    if size > t.size() || index >= size {
        bail!(
            InvalidArgument,
            "inclusion proof: leaf {index} is not in a tree of {size} leaves (the log has {})",
            t.size()
        );
    }
    // PATH(m, D[a..b]), iteratively from the top; the hashes are collected top down and
    // the proof lists them bottom up.
    let (mut a, mut b, mut m) = (0u64, size, index);
    let mut out = Vec::new();
    while b - a > 1 {
        let k = split(b - a);
        if m < k {
            out.push(range_hash(t, a + k, b));
            b = a + k;
        } else {
            out.push(range_hash(t, a, a + k));
            a += k;
            m -= k;
        }
    }
    out.reverse();
    Ok(out)
}

/// The audit path of leaf `index` in the tree of `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, Error> {
    inclusion_proof_at(leaves, index, leaves.len() as u64)
}

/// The proof that the tree of the first `new_size` leaves extends its first `old_size`
/// (RFC 9162's PROOF). Empty when `old_size` is 0 or `new_size`.
pub fn consistency_proof_at<N: Nodes + ?Sized>(t: &N, old_size: u64, new_size: u64) -> Result<Vec<Hash>, Error> {
    if new_size > t.size() || old_size > new_size {
        bail!(InvalidArgument, "consistency proof: from {old_size} to {new_size} leaves (the log has {})", t.size());
    }
    let mut out = Vec::new();
    if old_size == 0 || old_size == new_size {
        return Ok(out);
    }
    // SUBPROOF(m, D[a..b], whole), iteratively from the top, as for PATH.
    let (mut a, mut b, mut m, mut whole) = (0u64, new_size, old_size, true);
    while m != b - a {
        let k = split(b - a);
        if m <= k {
            out.push(range_hash(t, a + k, b));
            b = a + k;
        } else {
            out.push(range_hash(t, a, a + k));
            a += k;
            m -= k;
            whole = false;
        }
    }
    if !whole {
        out.push(range_hash(t, a, b));
    }
    out.reverse();
    Ok(out)
}

/// The proof that the tree of `leaves` extends its first `old_size` leaves.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, Error> {
    consistency_proof_at(leaves, old_size, leaves.len() as u64)
}

/// A log's tree kept in memory: every complete subtree's hash, level by level, so that an
/// append costs one hash per subtree it completes (two on average) and a head or proof
/// O(log² n) lookups. About 64 bytes per entry.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Appends a leaf hash; returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let index = self.levels[0].len() as u64 - 1;
        let mut level = 0;
        // Each completed pair makes the node above it.
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let up = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(up);
            level += 1;
        }
        index
    }

    pub fn root(&self) -> Hash {
        range_hash(self, 0, self.size())
    }
}

impl Nodes for MemoryTree {
    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    fn node(&self, level: u32, index: u64) -> Hash {
        self.levels[level as usize][index as usize]
    }
}

/// The nodes a head or proof reads, found by running it over a tree of placeholder
/// hashes: which nodes the algorithms visit depends only on the sizes, never on the hashes,
/// so a stored log can fetch exactly these in one query and then run the real thing.
pub struct NodesNeeded {
    size: u64,
    seen: std::cell::RefCell<Vec<(u32, u64)>>,
}

impl NodesNeeded {
    pub fn new(size: u64) -> NodesNeeded {
        NodesNeeded { size, seen: std::cell::RefCell::new(Vec::new()) }
    }

    /// The nodes asked for so far, sorted, without repeats.
    pub fn into_nodes(self) -> Vec<(u32, u64)> {
        let mut v = self.seen.into_inner();
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl Nodes for NodesNeeded {
    fn size(&self) -> u64 {
        self.size
    }

    fn node(&self, level: u32, index: u64) -> Hash {
        self.seen.borrow_mut().push((level, index));
        [0; 32]
    }
}

/// The right edge of a tree: the hash of each complete subtree in the binary decomposition
/// of its size, largest first (at most 64). Enough to append leaves and compute every later
/// head, without the leaves before: what an auditor keeps to check, entry by entry, that a
/// new head covers exactly the old entries and the new ones it downloaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)`, levels strictly decreasing.
    subtrees: Vec<(u32, Hash)>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0u32;
        let mut h = leaf;
        while let Some(&(l, left)) = self.subtrees.last() {
            if l != level {
                break;
            }
            self.subtrees.pop();
            h = node_hash(&left, &h);
            level += 1;
        }
        self.subtrees.push((level, h));
        self.size += 1;
    }

    /// RFC 9162's head: the subtrees folded from the smallest, each joined under the one
    /// left of it.
    pub fn root(&self) -> Hash {
        let mut it = self.subtrees.iter().rev();
        let Some(&(_, mut h)) = it.next() else { return empty_root() };
        for (_, left) in it {
            h = node_hash(left, &h);
        }
        h
    }

    /// `size (u64) | n (u8) | n × hash (32)`; the levels follow from the size.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(9 + 32 * self.subtrees.len());
        v.put_u64(self.size);
        v.put_u8(self.subtrees.len() as u8);
        for (_, h) in &self.subtrees {
            v.extend_from_slice(h);
        }
        v
    }

    pub fn parse(b: &[u8]) -> Result<Frontier, Error> {
        let mut r = Reader::new("frontier", b);
        let size = r.u64("size")?;
        let n = r.u8("subtree count")?;
        if u32::from(n) != size.count_ones() {
            bail!(Malformed, "frontier: {n} subtrees for a tree of {size} leaves (expected {})", size.count_ones());
        }
        let levels = (0..64u32).rev().filter(|l| size >> l & 1 == 1);
        let mut subtrees = Vec::with_capacity(n as usize);
        for level in levels {
            subtrees.push((level, r.array("subtree hash")?));
        }
        r.finish()?;
        Ok(Frontier { size, subtrees })
    }
}

/// RFC 9162's step for a node on the tree's right edge (`f == s` with `f` even): it has
/// no sibling at the levels until `f` becomes odd (or 0), so those levels are skipped.
fn climb_right_edge(f: &mut u64, s: &mut u64) {
    while *f & 1 == 0 && *f != 0 {
        *f >>= 1;
        *s >>= 1;
    }
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves whose head is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), Error> {
    if index >= size {
        bail!(InvalidArgument, "inclusion proof: leaf {index} is not in a tree of {size} leaves");
    }
    if proof.len() > PROOF_HASHES_MAX {
        bail!(InvalidArgument, "inclusion proof: {} hashes is longer than any tree needs", proof.len());
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            bail!(Authentication, "inclusion proof: longer than the path to leaf {index} of {size}");
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            climb_right_edge(&mut f, &mut s);
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || r != *root {
        bail!(Authentication, "inclusion proof: leaf {index} of {size} does not lead to the tree head");
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with head `new_root` extends the tree of
/// `old_size` leaves with head `old_root`: nothing in the old tree was changed or removed.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), Error> {
    if old_size > new_size {
        bail!(Authentication, "consistency proof: the tree shrank from {old_size} to {new_size} leaves");
    }
    if proof.len() > PROOF_HASHES_MAX {
        bail!(InvalidArgument, "consistency proof: {} hashes is longer than any tree needs", proof.len());
    }
    if old_size == new_size {
        if !proof.is_empty() || old_root != new_root {
            bail!(Authentication, "consistency proof: two different heads for the same {old_size} leaves");
        }
        return Ok(());
    }
    if old_size == 0 {
        // Every tree extends the empty one.
        if !proof.is_empty() || *old_root != empty_root() {
            bail!(Authentication, "consistency proof: the empty tree's head is wrong");
        }
        return Ok(());
    }
    if proof.is_empty() {
        bail!(Authentication, "consistency proof: empty, but {old_size} to {new_size} leaves needs one");
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            bail!(Authentication, "consistency proof: longer than {old_size} to {new_size} leaves needs");
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            climb_right_edge(&mut f, &mut s);
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || fr != *old_root || sr != *new_root {
        bail!(Authentication, "consistency proof: the tree of {new_size} leaves does not extend the one of {old_size}");
    }
    Ok(())
}

/// What a log commits to at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    pub timestamp_ms: i64,
}

/// A tree head signed by the log's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTreeHead {
    pub head: TreeHead,
    pub log_key: IdentityPublic,
    signature: [u8; 64],
}

impl SignedTreeHead {
    pub fn sign(key: &IdentitySecret, head: TreeHead) -> SignedTreeHead {
        let mut h = SignedTreeHead { head, log_key: key.public(), signature: [0; 64] };
        h.signature = sign(&key.0, HEAD_DOMAIN, &h.signed_part());
        h
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEAD_BYTES);
        v.extend_from_slice(HEAD_MAGIC);
        v.put_u8(1);
        v.put_u64(self.head.size);
        v.extend_from_slice(&self.head.root);
        v.put_i64(self.head.timestamp_ms);
        v.extend_from_slice(&self.log_key.to_bytes());
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses a head and checks its signature under the key it names; whether that key is
    /// the log's is the caller's question ([`SignedTreeHead::verify`]).
    pub fn parse(b: &[u8]) -> Result<SignedTreeHead, Error> {
        let mut r = Reader::new("tree head", b);
        r.magic_version(HEAD_MAGIC, 1)?;
        let size = r.u64("size")?;
        let root: Hash = r.array("root")?;
        let timestamp_ms = r.i64("timestamp")?;
        let log_key = IdentityPublic::from_bytes(&r.array("log key")?)?;
        let signature: [u8; 64] = r.array("signature")?;
        r.finish()?;
        let h = SignedTreeHead { head: TreeHead { size, root, timestamp_ms }, log_key, signature };
        verify(&h.log_key, HEAD_DOMAIN, &h.signed_part(), &h.signature, "tree head")?;
        Ok(h)
    }

    /// Parses a head and checks that `log_key` signed it.
    pub fn verify(b: &[u8], log_key: &IdentityPublic) -> Result<SignedTreeHead, Error> {
        let h = SignedTreeHead::parse(b)?;
        if h.log_key != *log_key {
            bail!(
                Authentication,
                "tree head: signed by {}, not by the log's key {}",
                h.log_key.fingerprint(),
                log_key.fingerprint()
            );
        }
        Ok(h)
    }
}
