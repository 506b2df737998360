//! The demo's seeded account: an owner with TOTP and keys, a household, and the demo agent
//! paired to it through the server, all made over the server's own API the way the web app
//! and `porchlight pair` do it. Runs once per data folder; later runs reuse what it made.

use std::path::Path;
use std::time::Duration;

use base::{Error, ErrorKind, ResultExt};
use wire::client::Client;

pub const EMAIL: &str = "owner@demo.porchlight";
pub const PASSWORD: &str = "porchlight demo owner";

/// A demo failure says which step of the set-up failed.
fn step(what: &'static str) -> impl Fn(Error) -> Error {
    move |e| Error::new(e.kind(), format!("demo set-up: {what}: {e}"))
}

/// Signs up `email` with TOTP enrolled; returns the session's client and the TOTP secret.
pub(crate) async fn account(url: &str, email: &str, password: &str) -> Result<(Client, String), Error> {
    let c = Client::new(url);
    let r = c.signup(email, password).await.map_err(step("signing up"))?;
    let secret =
        api::secrets::base32_rfc4648_decode(&r.totp_secret).ok_or_else(|| base::err!(Internal, "TOTP secret"))?;
    let code = format!("{:06}", api::secrets::totp_at(&secret, now_ms() / 30_000));
    c.totp_confirm(&code).await.map_err(step("enrolling TOTP"))?;
    Ok((c, r.totp_secret))
}

/// Uploads `keys`' public bundle and its backup, with the proof of possession the server
/// asks for.
pub(crate) async fn set_keys(c: &Client, keys: &crypto::keys::Keyring, backup: &str) -> Result<(), Error> {
    let ch = c.keys_challenge().await.map_err(step("the key challenge"))?;
    let challenge: [u8; 32] = crypto::keys::unhex(&ch.challenge)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| base::err!(Internal, "demo set-up: the server's key challenge is not 32 bytes"))?;
    let proof = crypto::keys::prove_possession(&keys.identity, &challenge);
    let k = wire::SetKeys {
        public_keys: crypto::keys::hex(&keys.public().encode()),
        proof: crypto::keys::hex(&proof),
        key_backup: Some(backup.to_owned()),
    };
    c.set_keys(&k).await.map_err(step("uploading keys"))?;
    Ok(())
}

fn now_ms() -> i64 {
    api::system_clock()()
}

/// Makes the demo account and pairs the agent in `data_dir`, unless done before.
/// What the demo does later with the seeded accounts: the agency's request about the demo's
/// own recording, once a window of it has ended (`request_recorded_window`).
pub struct Later {
    agency: Client,
}

/// Seeds the demo's accounts on first run; `Some` then, with what is to follow.
pub async fn seed(url: &str, data_dir: &Path) -> Result<Option<Later>, Error> {
    let probe = Client::new(url);
    for _ in 0..100 {
        if probe.get::<wire::Ok>("/api/health").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let notes = data_dir.join("demo-account.txt");
    let layout = agent::layout::Layout::new(data_dir);
    if agent::uploader::load_link(&layout)?.is_some() {
        print_notes(&notes);
        return Ok(None);
    }
    if agent::sealing::load_trust(&layout)?.is_some() {
        println!("Server: the demo agent was paired without a server before; it records but does not upload.");
        return Ok(None);
    }
    std::fs::create_dir_all(data_dir).err_kind(ErrorKind::Internal, || format!("creating {}", data_dir.display()))?;
    let (c, totp_secret) = account(url, EMAIL, PASSWORD).await?;
    let keys = crypto::keys::Keyring::generate("Demo owner", now_ms()).map_err(agent::sealing::from_crypto)?;
    let keys_path = data_dir.join("owner.keys");
    agent::sealing::create_secret_file(&keys_path, &keys.encode())?;
    // The web app restores the owner's keys in a browser from this backup and the code.
    let recovery = crypto::backup::RecoveryCode::generate();
    let backup = crypto::keys::hex(&crypto::backup::seal(&keys, &recovery));
    set_keys(&c, &keys, &backup).await?;
    let h: wire::HouseholdJson = c
        .post("/api/households", &wire::NewHousehold { name: "Demo home".into() })
        .await
        .map_err(step("making the household"))?;
    let hid = h.id;
    let t: wire::TokenReply =
        c.post("/api/me/tokens", &wire::NewToken { label: "demo".into() }).await.map_err(step("making a token"))?;
    let p: wire::PairingReply = c
        .send(c.request(reqwest::Method::POST, &format!("/api/households/{hid}/pairings")))
        .await
        .map_err(step("offering a pairing"))?;
    let code = crypto::keys::pairing_code(&keys.public().identity);
    crate::keys::pair_server(data_dir, url, &p.token, &code, Some("demo agent")).await?;
    let token = t.token;
    seed_neighbourhood(&c, url, &keys, &hid).await?;
    let (agency, agency_client) = seed_agency(&c, url).await?;
    // Browsers must use the host name the server's passkey origin names (localhost).
    let web = url.replace("127.0.0.1", "localhost");
    let text = format!(
        "Web app: {web} (sign in, then give the recovery code to open the footage in the browser)\n\
         Seeded owner: {EMAIL} / {PASSWORD:?}, TOTP secret {totp_secret} (add it to an authenticator app)\n\
         Recovery code: {} (restores the owner's keys in a browser)\n\
         Neighbourhood: the demo home has {NEIGHBOURS} seeded neighbours and 3 of their posts; the owner also moderates (Moderation)\n\
         {agency}\
         Transparency log: {web}/#/transparency (public); audit it with: porchlight verify-log {url}\n\
         Owner keys: {} (decrypt what the server holds: porchlight decrypt CLIP --keys {})\n\
         The household's events on the server (ciphertext and times only):\n  \
         curl -H 'Authorization: Bearer {token}' {url}/api/households/{hid}/events\n",
        recovery.display().as_str(),
        keys_path.display(),
        keys_path.display(),
    );
    agent::sealing::replace_file(&notes, text.as_bytes())?;
    print_notes(&notes);
    Ok(Some(Later { agency: agency_client }))
}

/// The shortest window an agency may ask about (the server's rule).
const WINDOW_MIN: Duration = Duration::from_secs(15 * 60);

impl Later {
    /// Waits until the demo has recorded for the shortest window an agency may ask about,
    /// then has the demo agency ask about exactly that stretch around the demo home: the
    /// owner's Requests page offers it, with the demo's own events to answer from.
    pub async fn request_recorded_window(self, started_ms: i64) {
        let until = started_ms + WINDOW_MIN.as_millis() as i64 + 30_000;
        let wait = Duration::from_millis(u64::try_from(until + 5_000 - now_ms()).unwrap_or(0));
        tokio::time::sleep(wait).await;
        let (lat, lon) = DEMO_HOME;
        let request = wire::NewFootageRequest {
            case_number: "DEMO-0002".into(),
            category: wire::Offence::Burglary,
            description:
                "A house on the demo street was broken into while the demo ran; the street cameras may show who passed."
                    .into(),
            investigator: "DC Demo, +44 1223 555 0199".into(),
            area: wire::Area::Circle { lat, lon, radius_m: 300.0 },
            window_from_ms: until - WINDOW_MIN.as_millis() as i64,
            window_until_ms: until,
            expires_ms: now_ms() + 7 * 86_400_000,
        };
        match self.agency.post::<_, wire::FootageRequestJson>("/api/agency/requests", &request).await {
            Ok(_) => println!(
                "Demo: the demo agency asked about the demo's first 15 minutes of recording; the owner's Requests page shows it."
            ),
            Err(e) => tracing::warn!("the demo agency's request about the demo's recording: {e}"),
        }
    }
}

pub const AGENCY_EMAIL: &str = "police@demo.porchlight";
pub const AGENCY_PASSWORD: &str = "porchlight demo agency";

/// A demo agency: its account (with keys and a recovery code, for the portal in a browser),
/// verified by the demo owner (the demo's operator) by its fingerprint, and one request
/// around the demo home, all published in the transparency log. Returns the notes' lines
/// and the agency's session (it asks about the demo's recording later).
async fn seed_agency(operator: &Client, url: &str) -> Result<(String, Client), Error> {
    let (a, totp_secret) = account(url, AGENCY_EMAIL, AGENCY_PASSWORD).await?;
    let keys = crypto::keys::Keyring::generate("Demo police", now_ms()).map_err(agent::sealing::from_crypto)?;
    let recovery = crypto::backup::RecoveryCode::generate();
    let backup = crypto::keys::hex(&crypto::backup::seal(&keys, &recovery));
    set_keys(&a, &keys, &backup).await?;
    let application = wire::AgencyApplication {
        name: "Demo Constabulary".into(),
        jurisdiction: "Cambridge (demo)".into(),
        website: "https://police.demo.porchlight".into(),
        phone: "+44 1223 555 0100".into(),
    };
    let g: wire::AgencyJson = a.post("/api/agencies", &application).await.map_err(step("applying as an agency"))?;
    let verify = wire::VerifyAgency {
        fingerprint: keys.public().identity.fingerprint(),
        statement: "Demo: the fingerprint was read out on a (simulated) call to the switchboard".into(),
    };
    let _: wire::AgencyJson = operator
        .post(&format!("/api/operator/agencies/{}/verify", g.id), &verify)
        .await
        .map_err(step("verifying the agency"))?;
    let now = now_ms();
    let (lat, lon) = DEMO_HOME;
    let request = wire::NewFootageRequest {
        case_number: "DEMO-0001".into(),
        category: wire::Offence::VehicleTheft,
        description: "A car was taken from a driveway in the demo street; footage of the road may help.".into(),
        investigator: "DC Demo, +44 1223 555 0199".into(),
        area: wire::Area::Circle { lat, lon, radius_m: 300.0 },
        window_from_ms: now - 2 * 3_600_000,
        window_until_ms: now - 3_600_000,
        expires_ms: now + 7 * 86_400_000,
    };
    let _: wire::FootageRequestJson =
        a.post("/api/agency/requests", &request).await.map_err(step("making a footage request"))?;
    let notes = format!(
        "Agency: {AGENCY_EMAIL} / {AGENCY_PASSWORD:?}, TOTP secret {totp_secret}, recovery code {} (verified, with one \
         request about the hour before the demo started; about 16 minutes after the first start it asks about the \
         demo's first 15 minutes of recording, which the owner's Requests page then offers)\n",
        recovery.display().as_str()
    );
    Ok((notes, a))
}

/// Where the demo household lives (the exact point, sealed for the owner).
const DEMO_HOME: (f64, f64) = (52.2053, 0.1218);
/// Seeded neighbours in the demo home's cell: enough for posts to show that cell.
const NEIGHBOURS: u32 = 24;

/// The demo's neighbourhood: the owner's home, 24 neighbouring households of a second
/// account around it (their points sealed for that account's keys, which are then
/// dropped: nobody opens them), and a few of their posts.
async fn seed_neighbourhood(owner: &Client, url: &str, keys: &crypto::keys::Keyring, hid: &str) -> Result<(), Error> {
    let home = |lat: f64, lon: f64| -> Result<String, Error> {
        Ok(community::home_cell(community::Point::new(lat, lon)?).to_string())
    };
    let (lat, lon) = DEMO_HOME;
    let sealed = crypto::keys::hex(&crypto::home::seal(&keys.encryption.public(), hid, lat, lon));
    let set_home = |c: &Client, hid: &str, home_cell: String, sealed_point: String| {
        let (c, path) = (c.clone(), format!("/api/households/{hid}/home"));
        async move {
            let _: wire::HomeJson =
                c.put(&path, &wire::SetHomeJson { home_cell, sealed_point }).await.map_err(step("setting a home"))?;
            Ok::<(), Error>(())
        }
    };
    set_home(owner, hid, home(lat, lon)?, sealed).await?;
    let (n, _) = account(url, "neighbours@demo.porchlight", "porchlight demo neighbours").await?;
    let theirs = crypto::keys::Keyring::generate("Demo neighbours", now_ms()).map_err(agent::sealing::from_crypto)?;
    let cell = community::home_cell(community::Point::new(lat, lon)?);
    let centre = h3o::LatLng::from(cell);
    let mut households = Vec::new();
    for i in 0..NEIGHBOURS {
        let h: wire::HouseholdJson = n
            .post("/api/households", &wire::NewHousehold { name: format!("Neighbour {i}") })
            .await
            .map_err(step("making a neighbour's household"))?;
        let nid = h.id;
        // Within 150 m of the cell's centre: inside the cell, whose edges are about 460 m.
        let a = f64::from(i) * 2.4;
        let p = community::Point::new(centre.lat(), centre.lng())?.offset(150.0 * a.sin(), 150.0 * a.cos())?;
        let sealed = crypto::keys::hex(&crypto::home::seal(&theirs.encryption.public(), &nid, p.lat(), p.lon()));
        set_home(&n, &nid, home(p.lat(), p.lon())?, sealed).await?;
        households.push(nid);
    }
    let rules: wire::RulesJson = n.get("/api/neighbourhood/rules").await.map_err(step("reading the rules"))?;
    let _: wire::RulesJson = n
        .post("/api/neighbourhood/rules", &wire::AcceptRulesJson { hash: rules.hash })
        .await
        .map_err(step("accepting the rules"))?;
    for (i, (category, body)) in [
        (wire::PostCategory::LostPet, "Our grey cat Miso has not come home since Tuesday. She has a blue collar."),
        (
            wire::PostCategory::UnusualActivity,
            "Someone was trying car door handles on the corner around 2 am. Lock your cars.",
        ),
        (wire::PostCategory::Safety, "The street light by the footpath is out again; reported to the council."),
    ]
    .into_iter()
    .enumerate()
    {
        let post = wire::NewPostJson { category, body: body.into(), media: Vec::new() };
        let _: wire::PostJson =
            n.post(&format!("/api/households/{}/posts", households[i]), &post).await.map_err(step("posting"))?;
    }
    Ok(())
}

fn print_notes(notes: &Path) {
    if let Ok(t) = std::fs::read_to_string(notes) {
        print!("{t}");
    }
}
