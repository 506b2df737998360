//! `porchlight verify-log URL`: audits a server's transparency log without trusting it
//! (design/transparency-log.md). It keeps, per server, the last signed head it accepted and
//! the right edge of that tree; each run fetches the new head, checks its signature and
//! that it extends the kept one (the server's consistency proof, and independently every
//! new entry hashed onto the kept edge), checks any entries asked for by inclusion proof,
//! and fails loudly, keeping both heads as evidence, when the history was rewritten.
//! `--peer-head` compares with a head another verifier kept: two heads of one log must be
//! consistent, or the server showed them different histories (a fork).

use std::path::{Path, PathBuf};

use api::log::{Entry, Record};
use base::{Error, ErrorKind, ResultExt, err};
use crypto::keys::{hex, unhex};
use crypto::tlog::{self, Frontier, Hash, SignedTreeHead};
use serde::{Deserialize, Serialize};

#[derive(clap::Args)]
pub struct VerifyLogArgs {
    /// The server's address, e.g. https://porchlight.example.org
    pub url: String,
    /// Where the last accepted head is kept (default: a file per server under
    /// $XDG_STATE_HOME or ~/.local/state/porchlight/verify-log/).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Also prove that entry N is in the log, and print it (repeatable).
    #[arg(long = "entry")]
    pub entries: Vec<u64>,
    /// Another verifier's signed head (hex, as `GET /api/log/head` gives it in `signed`):
    /// fail when it and ours are not one history.
    #[arg(long)]
    pub peer_head: Vec<String>,
    /// Print the signed head that was accepted (hex), for comparing with other verifiers.
    #[arg(long)]
    pub print_head: bool,
}

/// What is kept between runs.
#[derive(Serialize, Deserialize)]
struct Kept {
    url: String,
    log_key: String,
    /// The last accepted signed head, hex.
    head: String,
    /// The right edge of that tree (`tlog::Frontier`), hex.
    frontier: String,
}

const PAGE: u64 = 1000;

struct Server {
    api: wire::client::Client,
}

/// Whatever went wrong fetching, the log could not be read: not a verdict on the log.
fn unreadable(path: String) -> impl Fn(Error) -> Error {
    move |e| Error::new(ErrorKind::Unavailable, format!("GET {path}: {e}"))
}

impl Server {
    async fn head(&self) -> Result<SignedTreeHead, Error> {
        let v = self.api.log_head().await.map_err(unreadable("/api/log/head".into()))?;
        parse_head(&v.signed, "the server's head")
    }

    /// The head the server signed at `size`, if it signed one.
    async fn head_at(&self, size: u64) -> Result<Option<String>, Error> {
        let v = self.api.log_head_at(size).await.map_err(unreadable(format!("/api/log/heads/{size}")))?;
        Ok(v.map(|h| h.signed))
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, Error> {
        let path = format!("/api/log/proof/consistency?from={from}&to={to}");
        let v = self.api.log_consistency(from, to).await.map_err(unreadable(path.clone()))?;
        proof_hashes(&v, &path)
    }

    async fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
        let path = format!("/api/log/proof/inclusion?index={index}&size={size}");
        let v = self.api.log_inclusion(index, size).await.map_err(unreadable(path.clone()))?;
        proof_hashes(&v, &path)
    }

    async fn entries(&self, start: u64, end: u64) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut at = start;
        while at < end {
            let to = end.min(at + PAGE);
            let page = self
                .api
                .log_entries(at, to)
                .await
                .map_err(unreadable(format!("/api/log/entries?start={at}&end={to}")))?
                .entries;
            if page.len() as u64 != to - at {
                base::bail!(DataLoss, "entries {at}..{to}: the server sent {} of {}", page.len(), to - at);
            }
            for (i, e) in page.into_iter().enumerate() {
                if e.index != (at + i as u64) as i64 {
                    base::bail!(DataLoss, "entries {at}..{to}: entry {} came out of order", at + i as u64);
                }
                out.push(e.body);
            }
            at = to;
        }
        Ok(out)
    }
}

fn proof_hashes(p: &wire::ProofJson, path: &str) -> Result<Vec<Hash>, Error> {
    p.hashes.iter().map(|h| to_hash(h, path)).collect()
}

fn to_hash(s: &str, what: &str) -> Result<Hash, Error> {
    unhex(s).and_then(|b| b.try_into().ok()).ok_or_else(|| err!(DataLoss, "{what}: {s:?} is not a 32-byte hash in hex"))
}

fn parse_head(s: &str, what: &str) -> Result<SignedTreeHead, Error> {
    let b = unhex(s).ok_or_else(|| err!(InvalidArgument, "{what}: expected hex, got {s:?}"))?;
    SignedTreeHead::parse(&b).map_err(|e| err!(DataLoss, "{what}: {e}"))
}

fn default_state(url: &str) -> Result<PathBuf, Error> {
    let dir = match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(
            std::env::var_os("HOME").ok_or_else(|| err!(InvalidArgument, "--state: no HOME to keep it in"))?,
        )
        .join(".local/state"),
    };
    let name: String =
        url.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    Ok(dir.join("porchlight/verify-log").join(format!("{name}.json")))
}

fn load(path: &Path) -> Result<Option<(Kept, SignedTreeHead, Frontier)>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::wrap(ErrorKind::Internal, format!("reading {}", path.display()), e)),
    };
    let bad = |why: String| err!(InvalidArgument, "{}: {why}", path.display());
    let k: Kept = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let head = parse_head(&k.head, &path.display().to_string())?;
    let frontier = unhex(&k.frontier)
        .and_then(|b| Frontier::parse(&b).ok())
        .ok_or_else(|| bad("frontier: not a tree edge".into()))?;
    if frontier.size() != head.head.size || frontier.root() != head.head.root {
        return Err(bad("the kept tree edge does not match the kept head".into()));
    }
    Ok(Some((k, head, frontier)))
}

fn save(path: &Path, k: &Kept) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).err_kind(ErrorKind::Internal, || format!("creating {}", dir.display()))?;
    }
    // Synced: the verifier's memory of the log is what lets it catch a rewritten history.
    let json = serde_json::to_string_pretty(k).expect("serializes");
    agent::layout::write_atomic(path, json.as_bytes(), agent::layout::Durability::Synced)
}

/// Keeps both heads next to the state file and returns the loud error.
fn conflict(state: &Path, old: &SignedTreeHead, new: &SignedTreeHead, why: String) -> Error {
    let evidence = state.with_extension(format!("conflict-{}.json", new.head.timestamp_ms));
    let doc = serde_json::json!({
        "why": why,
        "kept_head": hex(&old.encode()),
        "new_head": hex(&new.encode()),
    });
    let kept = std::fs::write(&evidence, serde_json::to_string_pretty(&doc).expect("serializes"));
    let where_ = match kept {
        Ok(()) => format!("both signed heads are in {}", evidence.display()),
        Err(e) => format!("(could not keep the evidence in {}: {e})", evidence.display()),
    };
    err!(DataLoss, "THE LOG'S HISTORY WAS REWRITTEN: {why}; {where_}")
}

pub fn run(a: VerifyLogArgs) -> Result<(), Error> {
    crate::runtime()?.block_on(verify(a))
}

async fn verify(a: VerifyLogArgs) -> Result<(), Error> {
    let base = a.url.trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        base::bail!(InvalidArgument, "url: expected http:// or https://, got {:?}", a.url);
    }
    let state = match &a.state {
        Some(p) => p.clone(),
        None => default_state(&base)?,
    };
    let server = Server { api: wire::client::Client::new(&base) };
    let new = server.head().await?;
    let kept = load(&state)?;

    // The key heads must be signed by: the kept one, followed through any logged change.
    let mut trusted: Option<[u8; 32]> = match &kept {
        Some((k, _, _)) => Some(to_hash(&k.log_key, "the kept log key")?),
        None => None,
    };
    let (mut frontier, from) = match &kept {
        Some((_, old, f)) => {
            if new.head.size < old.head.size {
                let why = format!("the log shrank from {} to {} entries", old.head.size, new.head.size);
                return Err(conflict(&state, old, &new, why));
            }
            let proof = server.consistency(old.head.size, new.head.size).await?;
            if let Err(e) =
                tlog::verify_consistency(old.head.size, new.head.size, &old.head.root, &new.head.root, &proof)
            {
                return Err(conflict(&state, old, &new, e.to_string()));
            }
            (f.clone(), old.head.size)
        }
        None => (Frontier::new(), 0),
    };
    let fail = |why: String| match &kept {
        Some((_, old, _)) => conflict(&state, old, &new, why),
        None => err!(DataLoss, "THE LOG DOES NOT MATCH ITS HEAD: {why}"),
    };

    // Every new entry: it parses, and hashed onto the kept edge they give the new head. A
    // key change counts only if the head that first holds it is signed by the key it
    // replaces (the one trusted so far).
    let bodies = server.entries(from, new.head.size).await?;
    let mut unreadable = Vec::new();
    let mut changes = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let index = from + i as u64;
        frontier.push(tlog::leaf_hash(b.as_bytes()));
        match Record::parse(b) {
            Err(e) => unreadable.push(format!("entry {index}: {e}")),
            Ok(Record { entry: Entry::OperatorKeyChange { old_key, new_key, .. }, .. }) => {
                let old_key = to_hash(&old_key, &format!("entry {index}: old_key"))?;
                let new_key = to_hash(&new_key, &format!("entry {index}: new_key"))?;
                if trusted.is_some_and(|t| t != old_key) {
                    return Err(fail(format!("entry {index} changes the log key from a key that is not the log's")));
                }
                let signed = server.head_at(index + 1).await?;
                let old_pub = crypto::keys::IdentityPublic::from_bytes(&old_key)
                    .map_err(|e| err!(DataLoss, "entry {index}: old_key: {e}"))?;
                let attested = signed
                    .as_deref()
                    .and_then(unhex)
                    .and_then(|b| SignedTreeHead::verify(&b, &old_pub).ok())
                    .is_some_and(|h| h.head.size == index + 1 && h.head.root == frontier.root());
                if !attested {
                    return Err(fail(format!(
                        "the key change in entry {index} is not attested by a head signed by the old key"
                    )));
                }
                trusted = Some(new_key);
                changes.push(format!("entry {index}: the log key changed to {}", hex(&new_key)));
            }
            Ok(_) => {}
        }
    }
    if let Some(t) = trusted
        && new.log_key.to_bytes() != t
    {
        return Err(fail(format!(
            "the head is signed by {}, not by the log's key {} (and no logged key change leads to it)",
            new.log_key.fingerprint(),
            hex(&t)
        )));
    }
    if frontier.root() != new.head.root {
        return Err(fail(format!(
            "entries {from}..{} as served do not hash to the signed head of {} entries",
            new.head.size, new.head.size
        )));
    }
    for c in &changes {
        println!("{c} (attested by the old key)");
    }

    for &i in &a.entries {
        let body = server.entries(i, i + 1).await.map_err(|e| err!(InvalidArgument, "--entry {i}: {e}"))?;
        let proof = server.inclusion(i, new.head.size).await?;
        tlog::verify_inclusion(&tlog::leaf_hash(body[0].as_bytes()), i, new.head.size, &proof, &new.head.root)
            .map_err(|e| err!(DataLoss, "ENTRY {i} IS NOT IN THE SIGNED LOG: {e}"))?;
        println!("entry {i} (proved in the tree of {} entries): {}", new.head.size, body[0]);
    }

    for (n, p) in a.peer_head.iter().enumerate() {
        let peer = parse_head(p, &format!("--peer-head {}", n + 1))?;
        check_peer(&server, &new, &peer).await?;
        println!("peer head {} ({} entries) and ours are one history", n + 1, peer.head.size);
    }

    save(
        &state,
        &Kept {
            url: base.clone(),
            log_key: hex(&new.log_key.to_bytes()),
            head: hex(&new.encode()),
            frontier: hex(&frontier.encode()),
        },
    )?;
    println!(
        "log {} at {base}: {} entries, head {}; {} new entries checked{}",
        new.log_key.fingerprint(),
        new.head.size,
        hex(&new.head.root),
        new.head.size - from,
        if kept.is_some() { format!(", consistent with the {from} seen before") } else { String::new() }
    );
    if !unreadable.is_empty() {
        base::bail!(DataLoss, "entries this build cannot read:\n{}", unreadable.join("\n"));
    }
    if a.print_head {
        println!("{}", hex(&new.encode()));
    }
    Ok(())
}

/// Two heads of one log: the same key, and the smaller one's tree is the start of the
/// larger's (a consistency proof from the server, which cannot make one across a fork).
async fn check_peer(server: &Server, ours: &SignedTreeHead, peer: &SignedTreeHead) -> Result<(), Error> {
    let fork = |why: String| {
        err!(
            DataLoss,
            "FORK: the server showed another verifier a different history: {why} (peer head {}, ours {})",
            hex(&peer.encode()),
            hex(&ours.encode())
        )
    };
    if peer.log_key != ours.log_key {
        return Err(fork(format!("the peer's head is signed by {}", peer.log_key.fingerprint())));
    }
    let (small, big) = if peer.head.size <= ours.head.size { (peer, ours) } else { (ours, peer) };
    if small.head.size == big.head.size {
        return if small.head.root == big.head.root {
            Ok(())
        } else {
            Err(fork("two heads of one size differ".into()))
        };
    }
    let proof = server.consistency(small.head.size, big.head.size).await;
    // A proof up to a size the server no longer admits to is a fork as well.
    let proof = proof.map_err(|e| fork(e.to_string()))?;
    // The server's proof ends at its own current tree; for a peer head beyond ours that
    // the server has not reached, it refuses (above).
    tlog::verify_consistency(small.head.size, big.head.size, &small.head.root, &big.head.root, &proof)
        .map_err(|e| fork(e.to_string()))
}
