//! `porchlight keys …`, `pair`, `trust`, `decrypt`, `verify`: the key life-cycle and sealed
//! clips from the command line. The formats are in design/crypto-format.md.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use agent::layout::Layout;
use agent::sealing::{self, from_crypto};
use base::{Error, ErrorKind, ResultExt, bail};
use crypto::backup::{self, RecoveryCode};
use crypto::grant::Grant;
use crypto::keys::{Keyring, PublicKeys, hex};
use crypto::trust::{Member, Role, Roster, Rotation, Trust, qr_payload};

#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// Generate a user's keys (Ed25519 identity, P-256 encryption key) into a new file.
    New {
        /// The key file to create (mode 0600; never overwritten).
        #[arg(long)]
        keys: PathBuf,
        /// A name for these keys, shown to others (1 to 64 bytes).
        #[arg(long)]
        label: String,
    },
    /// Show the public side: fingerprint (the pairing code), key id and QR pairing payload.
    Show {
        #[arg(long)]
        keys: PathBuf,
        /// Also write the signed public-key bundle here (what an agent or household gets).
        #[arg(long)]
        public_out: Option<PathBuf>,
    },
    /// Encrypt the keys under a new recovery code (printed once) into a backup file.
    ExportBackup {
        #[arg(long)]
        keys: PathBuf,
        /// The backup file to write (safe to give to the server).
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Restore keys from a backup and its recovery code into a new key file.
    ImportBackup {
        /// The backup file.
        backup: PathBuf,
        /// The key file to create.
        #[arg(long)]
        keys: PathBuf,
        /// The recovery code; read from standard input when absent (keeps it out of the
        /// shell history).
        #[arg(long)]
        code: Option<String>,
    },
    /// Replace the keys with new ones, keeping the old encryption keys so old clips stay
    /// readable, and write the rotation statement that agents follow.
    Rotate {
        #[arg(long)]
        keys: PathBuf,
        /// Where to write the rotation statement (give it to each paired agent:
        /// `porchlight trust accept`).
        #[arg(long)]
        rotation_out: PathBuf,
    },
    /// Sign a household roster: the members new clips are encrypted to.
    Roster {
        /// The owner's key file.
        #[arg(long)]
        keys: PathBuf,
        /// Household id (32 hex digits); default: the one `pair` derives from the owner key.
        #[arg(long)]
        household: Option<String>,
        /// Must exceed the serial of the roster agents hold now.
        #[arg(long)]
        serial: u64,
        /// A member: PUBLIC_KEYS_FILE:ROLE[:FROM_MS:UNTIL_MS] with ROLE one of full,
        /// standard, limited, guest. The owner is always included.
        #[arg(long = "member")]
        members: Vec<String>,
        #[arg(long, short)]
        output: PathBuf,
    },
}

#[derive(clap::Subcommand)]
pub enum TrustCmd {
    /// Show the pinned owner, the current owner key and the roster.
    Show {
        #[command(flatten)]
        data: crate::DataArgs,
    },
    /// Accept a signed roster or rotation (checked against the pinned owner key).
    Accept {
        #[command(flatten)]
        data: crate::DataArgs,
        /// A roster (from `keys roster`) or rotation (from `keys rotate`) file.
        file: PathBuf,
    },
    /// Replace this agent's device key. Clips it sealed before keep verifying under the old
    /// key (it is in their headers); the rotation statement, signed by the old key, lets a
    /// verifier follow the change (`verify --device OLD --device-rotation FILE`).
    RotateDevice {
        #[command(flatten)]
        data: crate::DataArgs,
        /// Where to write the rotation statement.
        #[arg(long, short)]
        output: PathBuf,
    },
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Internal };
        Error::wrap(kind, format!("reading {}", path.display()), e)
    })
}

fn with_path(path: &Path) -> impl Fn(crypto::Error) -> Error + '_ {
    move |e| {
        let b = from_crypto(e);
        Error::new(b.kind(), format!("{}: {b}", path.display()))
    }
}

pub fn run(cmd: KeysCmd) -> Result<(), Error> {
    match cmd {
        KeysCmd::New { keys, label } => {
            let k = Keyring::generate(&label, now_ms()).map_err(|e| base::err!(InvalidArgument, "--label: {e}"))?;
            sealing::create_secret_file(&keys, &k.encode())?;
            println!("created {} for {label:?}", keys.display());
            show(&k, None)?;
            println!(
                "next: back the keys up with `porchlight keys export-backup --keys {} -o backup.plb`",
                keys.display()
            );
            Ok(())
        }
        KeysCmd::Show { keys, public_out } => show(&sealing::read_keyring(&keys)?, public_out.as_deref()),
        KeysCmd::ExportBackup { keys, output } => {
            let k = sealing::read_keyring(&keys)?;
            let code = RecoveryCode::generate();
            sealing::create_secret_file(&output, &backup::seal(&k, &code))?;
            println!("wrote {} (encrypted; safe to store on the server)", output.display());
            println!("recovery code, shown once — write it down; it is the only way to open the backup:");
            println!("  {}", code.display().as_str());
            Ok(())
        }
        KeysCmd::ImportBackup { backup: path, keys, code } => {
            let typed = match code {
                Some(c) => c,
                None => {
                    eprint!("recovery code: ");
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .err_kind(ErrorKind::Internal, || "reading the code")?;
                    line
                }
            };
            let code = RecoveryCode::parse(&typed).map_err(from_crypto)?;
            let k = backup::open(&read(&path)?, &code).map_err(with_path(&path))?;
            sealing::create_secret_file(&keys, &k.encode())?;
            println!("restored keys {:?} into {}", k.label, keys.display());
            show(&k, None)
        }
        KeysCmd::Rotate { keys, rotation_out } => {
            let old = sealing::read_keyring(&keys)?;
            if old.previous.len() >= crypto::keys::PREVIOUS_KEYS_MAX {
                bail!(
                    FailedPrecondition,
                    "{}: already holds {} earlier keys, the most a keyring keeps; rotating again would make the oldest clips unreadable",
                    keys.display(),
                    old.previous.len()
                );
            }
            let mut new = Keyring::generate(&old.label, now_ms()).map_err(from_crypto)?;
            let rot = Rotation::create(&old, &new, new.created_ms);
            // Earlier encryption keys stay, newest first, so old clips remain readable.
            let Keyring { encryption, previous, .. } = old;
            new.previous = std::iter::once(encryption).chain(previous).collect();
            // The statement first: if the keys were replaced and this failed, agents could
            // never follow.
            sealing::create_secret_file(&rotation_out, &rot.encode())?;
            sealing::replace_file(&keys, &new.encode())?;
            println!("rotated {}; give {} to each paired agent", keys.display(), rotation_out.display());
            show(&new, None)
        }
        KeysCmd::Roster { keys, household, serial, members, output } => {
            let owner = sealing::read_keyring(&keys)?;
            let household = match household {
                Some(h) => parse_household(&h)?,
                None => crypto::trust::household_id_for(&owner.identity.public()),
            };
            let mut list = vec![Member { role: Role::Owner, from_ms: 0, until_ms: i64::MAX, keys: owner.public() }];
            for m in &members {
                list.push(parse_member(m)?);
            }
            let r = Roster::create(&owner, household, serial, now_ms(), list)
                .map_err(|e| base::err!(InvalidArgument, "{e}"))?;
            sealing::create_secret_file(&output, &r.encode())?;
            println!("wrote roster serial {serial} with {} members to {}", r.members.len(), output.display());
            Ok(())
        }
    }
}

fn parse_household(h: &str) -> Result<[u8; 16], Error> {
    let b: Option<Vec<u8>> =
        (h.len() == 32).then(|| (0..16).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()).collect()).flatten();
    match b {
        Some(b) => Ok(b.try_into().expect("16 bytes")),
        None => bail!(InvalidArgument, "--household: expected 32 hex digits, got {h:?}"),
    }
}

fn parse_member(s: &str) -> Result<Member, Error> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = |why: &str| base::err!(InvalidArgument, "--member {s:?}: {why}");
    if parts.len() != 2 && parts.len() != 4 {
        return Err(bad("expected FILE:ROLE or FILE:ROLE:FROM_MS:UNTIL_MS"));
    }
    let path = Path::new(parts[0]);
    let keys = PublicKeys::parse(&read(path)?).map_err(with_path(path))?;
    let role = match parts[1] {
        "full" => Role::Full,
        "standard" => Role::Standard,
        "limited" => Role::Limited,
        "guest" => Role::Guest,
        _ => return Err(bad("role must be full, standard, limited or guest")),
    };
    let (from_ms, until_ms) = if parts.len() == 4 {
        let f = parts[2].parse::<i64>().map_err(|_| bad("FROM_MS is not an integer"))?;
        let u = parts[3].parse::<i64>().map_err(|_| bad("UNTIL_MS is not an integer"))?;
        if u <= f {
            return Err(bad("UNTIL_MS must be after FROM_MS"));
        }
        (f, u)
    } else if matches!(role, Role::Limited | Role::Guest) {
        return Err(bad("limited and guest members need FROM_MS:UNTIL_MS"));
    } else {
        (0, i64::MAX)
    };
    Ok(Member { role, from_ms, until_ms, keys })
}

fn show(k: &Keyring, public_out: Option<&Path>) -> Result<(), Error> {
    let pk = k.public();
    println!("label:           {}", pk.label);
    println!("pairing code:    {}   (the identity key's fingerprint)", pk.identity.fingerprint());
    println!("encryption key:  {}", hex(&pk.encryption.key_id()));
    if !k.previous.is_empty() {
        println!("earlier keys:    {} (kept so old clips stay readable)", k.previous.len());
    }
    println!("QR payload:      {}", qr_payload(&pk));
    if let Some(p) = public_out {
        sealing::replace_file(p, &pk.encode())?;
        println!("public keys written to {}", p.display());
    }
    Ok(())
}

fn ensure_unpaired(layout: &Layout) -> Result<(), Error> {
    if let Some(t) = sealing::load_trust(layout)? {
        bail!(
            FailedPrecondition,
            "this agent is already paired with owner {}; remove {} to pair again",
            t.pinned().fingerprint(),
            layout.trust().display()
        );
    }
    Ok(())
}

/// `porchlight pair`: pins the owner key on this agent.
pub fn pair(dir: &Path, owner: Option<&Path>, code: Option<&str>, qr: Option<&str>) -> Result<(), Error> {
    let layout = Layout::new(dir);
    let _lock = layout.lock()?;
    ensure_unpaired(&layout)?;
    let t = match (owner, code, qr) {
        (Some(o), Some(c), None) => {
            let b = read(o)?;
            let pk = PublicKeys::parse(&b).map_err(with_path(o))?;
            Trust::pair_with_code(crypto::trust::household_id_for(&pk.identity), &b, c).map_err(from_crypto)?
        }
        (None, None, Some(q)) => {
            // The household id derives from the owner key the payload carries.
            let owner = Trust::pair_with_qr([0; 16], q).map_err(|e| base::err!(InvalidArgument, "--qr: {e}"))?.pinned();
            Trust::pair_with_qr(crypto::trust::household_id_for(&owner), q).map_err(from_crypto)?
        }
        _ => bail!(InvalidArgument, "give --owner FILE with --code CODE, or --qr PAYLOAD"),
    };
    let device = sealing::device_keyring(&layout, now_ms())?;
    sealing::save_trust(&layout, &t)?;
    println!("paired with owner {} ({:?})", t.pinned().fingerprint(), t.owner().label);
    println!("this agent signs as device {}", device.identity.public().fingerprint());
    Ok(())
}

/// Pairs with an owner through a server: fetches the owner's keys with the single-use
/// token, checks them against the code read off the owner's device (so a server that
/// offered other keys is caught here), pins them, and registers this agent's device key
/// for a device credential (kept in `server.json`, mode 0600).
pub async fn pair_server(dir: &Path, server: &str, token: &str, code: &str, name: Option<&str>) -> Result<(), Error> {
    let layout = Layout::new(dir);
    let _lock = layout.lock()?;
    ensure_unpaired(&layout)?;
    let base_url = url::Url::parse(server).map_err(|e| base::err!(InvalidArgument, "--server: {e}"))?;
    if !matches!(base_url.scheme(), "http" | "https") {
        bail!(InvalidArgument, "--server: expected an http or https URL");
    }
    let server = server.trim_end_matches('/');
    let api = wire::client::Client::new(server);
    // The token is the caller's mistake when refused (400, 404, 409), the server's otherwise.
    let at = |e: Error| Error::new(e.kind(), format!("--token: {e}"));
    let offer = api.pairing_offer(token).await.map_err(at)?;
    let household = offer.household_id;
    let hh: [u8; 16] = api::secrets::hex_decode("household_id", &household, 16)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| base::err!(DataLoss, "the server sent a malformed household id"))?;
    let keys = api::secrets::hex_decode("owner_public_keys", &offer.owner_public_keys, 4096)
        .map_err(|e| base::err!(DataLoss, "the server sent malformed owner keys: {}", e.msg()))?;
    let t = Trust::pair_with_code(hh, &keys, code).map_err(from_crypto)?;
    let device = sealing::device_keyring(&layout, now_ms())?;
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let name = name.map(str::to_owned).unwrap_or(if host.is_empty() { "agent".to_owned() } else { host });
    let complete = wire::CompletePairing { name, identity: hex(&device.identity.public().to_bytes()) };
    let paired = api.complete_pairing(token, &complete).await.map_err(at)?;
    let link = agent::uploader::ServerLink {
        url: server.to_owned(),
        household_id: household,
        device_id: paired.device_id,
        token: paired.token,
    };
    sealing::save_trust(&layout, &t)?;
    agent::uploader::save_link(&layout, &link)?;
    println!("paired with owner {} ({:?}) through {server}", t.pinned().fingerprint(), t.owner().label);
    println!(
        "this agent signs as device {} (id {} on the server)",
        device.identity.public().fingerprint(),
        link.device_id
    );
    Ok(())
}

pub fn trust(cmd: TrustCmd) -> Result<(), Error> {
    match cmd {
        TrustCmd::Show { data } => {
            let layout = Layout::new(data.dir()?);
            let Some(t) = sealing::load_trust(&layout)? else {
                bail!(FailedPrecondition, "not paired: run `porchlight pair` first");
            };
            println!("household:      {}", hex(&t.household_id));
            println!("pinned owner:   {}", t.pinned().fingerprint());
            println!("current owner:  {} ({:?})", t.owner().identity.fingerprint(), t.owner().label);
            match t.roster() {
                Some(r) => {
                    println!("roster serial {}:", r.serial);
                    for m in &r.members {
                        println!("  {:?} {:?} {}..{}", m.keys.label, m.role, m.from_ms, m.until_ms);
                    }
                }
                None => println!("no roster: new clips are sealed for the owner only"),
            }
            Ok(())
        }
        TrustCmd::RotateDevice { data, output } => {
            let layout = Layout::new(data.dir()?);
            let _lock = layout.lock()?;
            let old = sealing::read_keyring(&layout.device_keys())?;
            let new = Keyring::generate("agent", now_ms()).map_err(from_crypto)?;
            let rot = Rotation::create(&old, &new, new.created_ms);
            // The statement first, so a crash cannot leave a new key nobody can link.
            sealing::create_secret_file(&output, &rot.encode())?;
            sealing::replace_file(&layout.device_keys(), &new.encode())?;
            println!(
                "device key rotated: {} -> {}; statement in {}",
                old.identity.public().fingerprint(),
                new.identity.public().fingerprint(),
                output.display()
            );
            Ok(())
        }
        TrustCmd::Accept { data, file } => {
            let layout = Layout::new(data.dir()?);
            let _lock = layout.lock()?;
            let Some(mut t) = sealing::load_trust(&layout)? else {
                bail!(FailedPrecondition, "not paired: run `porchlight pair` first");
            };
            let b = read(&file)?;
            match b.get(..4) {
                Some(b"PLRS") => {
                    let r = Roster::parse(&b).map_err(with_path(&file))?;
                    t.accept_roster(&r).map_err(with_path(&file))?;
                    println!("accepted roster serial {} ({} members)", r.serial, r.members.len());
                }
                Some(b"PLRT") => {
                    let r = Rotation::parse(&b).map_err(with_path(&file))?;
                    t.accept_rotation(&r).map_err(with_path(&file))?;
                    println!("owner key rotated to {}", r.new.identity.fingerprint());
                }
                _ => bail!(InvalidArgument, "{}: not a roster or rotation file", file.display()),
            }
            sealing::save_trust(&layout, &t)
        }
    }
}

/// Opens a sealed clip and checks its header's signature; the file is left at the body.
fn open_clip(clip: &Path) -> Result<(std::fs::File, crypto::object::Header), Error> {
    let mut f = std::fs::File::open(clip)
        .map_err(|e| Error::wrap(ErrorKind::NotFound, format!("opening {}", clip.display()), e))?;
    let h = sealing::read_header(&mut f, clip)?;
    Ok((f, h))
}

/// Prefixes an error with the clip it is about.
fn in_clip(clip: &Path) -> impl Fn(Error) -> Error + '_ {
    move |e| Error::new(e.kind(), format!("{}: {e}", clip.display()))
}

/// The device a reader trusts to have signed a clip: a fingerprint and the rotations that
/// lead on from it (`--device`, `--device-rotation`).
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub device: Option<&'a str>,
    pub rotations: &'a [PathBuf],
}

impl Signer<'_> {
    /// Refuses a clip not signed by the named device or one of its rotations; says so when
    /// no device was named.
    fn check(&self, h: &crypto::object::Header) -> Result<(), Error> {
        let Some(want) = self.device else {
            eprintln!(
                "WARNING: signed by device {}, which you did not name with --device: anyone who can seal for \
                 your key (another recipient of your household's clips, say) could have made this clip. \
                 Compare the fingerprint with your agent's (`porchlight keys show`) or pass --device.",
                h.device.fingerprint()
            );
            return Ok(());
        };
        let norm = |s: &str| s.replace(['-', ' '], "").to_uppercase();
        // The accepted device keys: the one named, then each rotation that the previous key
        // signed, in the order given.
        let mut chain = vec![norm(want)];
        for r in self.rotations {
            let rot = Rotation::parse(&read(r)?).map_err(with_path(r))?;
            if norm(&rot.old.fingerprint()) != *chain.last().expect("non-empty") {
                bail!(
                    Unauthenticated,
                    "--device-rotation {}: signed by {}, which is not the previous device key",
                    r.display(),
                    rot.old.fingerprint()
                );
            }
            chain.push(norm(&rot.new.identity.fingerprint()));
        }
        if !chain.contains(&norm(&h.device.fingerprint())) {
            bail!(
                Unauthenticated,
                "--device: the clip is signed by {}, not {want} or its rotations",
                h.device.fingerprint()
            );
        }
        Ok(())
    }
}

/// `porchlight decrypt`: verifies and decrypts a sealed clip. No unverified plaintext is
/// released: to a file, the plaintext goes to a new private file beside the output that is
/// renamed into place only once every chunk and the digest have checked out (and removed on
/// any failure); to standard output, the whole body is verified first and then decrypted
/// (the clip is read twice), unless `unverified_stream` asks for one pass.
pub fn decrypt(
    clip: &Path,
    keys: &Path,
    grant: Option<&Path>,
    output: &Path,
    signer: Signer<'_>,
    unverified_stream: bool,
) -> Result<(), Error> {
    let k = sealing::read_keyring(keys)?;
    let (mut f, h) = open_clip(clip)?;
    signer.check(&h).map_err(in_clip(clip))?;
    let key = match grant {
        Some(g) => Grant::parse(&read(g)?).and_then(|gr| gr.content_key(&k, &h)).map_err(with_path(g))?,
        None => h.content_key(&k).map_err(from_crypto)?,
    };
    let opener = h.opener(&key).map_err(from_crypto)?;
    if output == Path::new("-") {
        if !unverified_stream {
            use std::io::{Seek, SeekFrom};
            sealing::stream_body(&mut f, &h, None, &mut std::io::sink()).map_err(in_clip(clip))?;
            f.seek(SeekFrom::Start(h.len as u64)).err_kind(ErrorKind::Internal, || "rewinding the clip")?;
        }
        sealing::stream_body(&mut f, &h, Some(&opener), &mut std::io::stdout().lock()).map_err(in_clip(clip))?;
    } else {
        let (tmp, out) = new_partial(output)?;
        let r = (|| {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
            sealing::stream_body(&mut f, &h, Some(&opener), &mut w)?;
            let out = w.into_inner().map_err(|e| Error::wrap(ErrorKind::Internal, "writing output", e.into_error()))?;
            out.sync_all().err_kind(ErrorKind::Internal, || "writing output")?;
            std::fs::rename(&tmp, output).err_kind(ErrorKind::Internal, || format!("renaming to {}", output.display()))
        })();
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(in_clip(clip)(e));
        }
    }
    eprintln!("decrypted {} bytes; {}", h.plaintext_len, sealing::describe(&h));
    Ok(())
}

/// A new file for plaintext beside `output`: created exclusively (a file or symbolic link
/// already there is never opened, let alone followed), readable by this user only, with a
/// random name so that nobody can plant one in advance.
fn new_partial(output: &Path) -> Result<(PathBuf, std::fs::File), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut rnd = [0u8; 8];
    crypto::random_bytes(&mut rnd);
    let tmp = dir.join(format!(".{name}.{}.partial", hex(&rnd)));
    let f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .err_kind(ErrorKind::Internal, || format!("creating {}", tmp.display()))?;
    Ok((tmp, f))
}

/// `porchlight share`: a grant for one more recipient, made from a clip this keyring opens.
pub fn share(clip: &Path, keys: &Path, to: &Path, purpose: &str, output: &Path) -> Result<(), Error> {
    let k = sealing::read_keyring(keys)?;
    let recipient = PublicKeys::parse(&read(to)?).map_err(with_path(to))?;
    let (mut f, h) = open_clip(clip)?;
    // Share only what verifies: the body must match the signed header.
    sealing::stream_body(&mut f, &h, None, &mut std::io::sink()).map_err(in_clip(clip))?;
    let g = Grant::create(&k, &h, &recipient.encryption, purpose, now_ms()).map_err(|e| {
        let b = from_crypto(e);
        Error::new(b.kind(), format!("--purpose or --keys: {b}"))
    })?;
    sealing::create_secret_file(output, &g.encode())?;
    println!("wrote {}: {} can now open {}", output.display(), recipient.label, clip.display());
    Ok(())
}

/// `porchlight verify`: checks the device signature and the body, and says who signed what.
pub fn verify(clip: &Path, grant: Option<&Path>, device: Option<&str>, rotations: &[PathBuf]) -> Result<(), Error> {
    let (mut f, h) = open_clip(clip)?;
    sealing::stream_body(&mut f, &h, None, &mut std::io::sink()).map_err(in_clip(clip))?;
    println!("OK: {}", sealing::describe(&h));
    if let Some(want) = device {
        Signer { device: Some(want), rotations }.check(&h)?;
        println!(
            "device {} is {want}{}",
            h.device.fingerprint(),
            if rotations.is_empty() { "" } else { " or a rotation of it" }
        );
    }
    if let Some(g) = grant {
        let gr = Grant::parse(&read(g)?).map_err(with_path(g))?;
        if !gr.is_for(&h) {
            bail!(Unauthenticated, "{}: the grant is for another clip", g.display());
        }
        println!(
            "grant: shared by {} at {} ms for key {} ({:?})",
            gr.granter.fingerprint(),
            gr.granted_ms,
            hex(&gr.wrapped.key_id),
            gr.purpose
        );
    }
    Ok(())
}
