//! The demo's seeded account: an owner with TOTP and keys, a household, and the demo agent
//! paired to it through the server, all made over the server's own API the way the web app
//! and `porchlight pair` do it. Runs once per data folder; later runs reuse what it made.

use std::path::Path;
use std::time::Duration;

use base::{Error, ErrorKind, ResultExt, bail};
use serde_json::{Value, json};

pub const EMAIL: &str = "owner@demo.porchlight";
pub const PASSWORD: &str = "porchlight demo owner";

struct Client {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Client {
    async fn call(&mut self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let mut rb = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            rb = rb.header("cookie", c);
        }
        if let Some(c) = &self.csrf {
            rb = rb.header("x-csrf-token", c);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.map_err(|e| Error::wrap(ErrorKind::Unavailable, format!("{method} {path}"), e))?;
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = c.split(';').next().map(str::to_owned);
        }
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(Internal, "demo set-up: {method} {path}: {status} {}", v["message"]);
        }
        Ok(v)
    }

    /// Uploads `keys`' public bundle and its backup, with the proof of possession the
    /// server asks for.
    async fn set_keys(&mut self, keys: &crypto::keys::Keyring, backup: &str) -> Result<Value, Error> {
        let c = self.call(reqwest::Method::GET, "/api/me/keys/challenge", None).await?;
        let challenge: [u8; 32] = c["challenge"]
            .as_str()
            .and_then(crypto::keys::unhex)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| base::err!(Internal, "demo set-up: the server's key challenge is not 32 bytes"))?;
        let proof = crypto::keys::prove_possession(&keys.identity, &challenge);
        let public = crypto::keys::hex(&keys.public().encode());
        let body = json!({"public_keys": public, "key_backup": backup, "proof": crypto::keys::hex(&proof)});
        self.call(reqwest::Method::PUT, "/api/me/keys", Some(body)).await
    }
}

fn now_ms() -> i64 {
    api::system_clock()()
}

/// Makes the demo account and pairs the agent in `data_dir`, unless done before.
pub async fn seed(url: &str, data_dir: &Path) -> Result<(), Error> {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{url}/api/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let notes = data_dir.join("demo-account.txt");
    let layout = agent::layout::Layout::new(data_dir);
    if agent::uploader::load_link(&layout)?.is_some() {
        print_notes(&notes);
        return Ok(());
    }
    if agent::sealing::load_trust(&layout)?.is_some() {
        println!("Server: the demo agent was paired without a server before; it records but does not upload.");
        return Ok(());
    }
    std::fs::create_dir_all(data_dir).err_kind(ErrorKind::Internal, || format!("creating {}", data_dir.display()))?;
    let mut c = Client { http, base: url.to_owned(), cookie: None, csrf: None };
    let r = c.call(reqwest::Method::POST, "/api/signup", Some(json!({"email": EMAIL, "password": PASSWORD}))).await?;
    c.csrf = r["csrf"].as_str().map(str::to_owned);
    let totp_secret = r["totp_secret"].as_str().unwrap_or_default().to_owned();
    let secret =
        api::secrets::base32_rfc4648_decode(&totp_secret).ok_or_else(|| base::err!(Internal, "TOTP secret"))?;
    let code = format!("{:06}", api::secrets::totp_at(&secret, now_ms() / 30_000));
    c.call(reqwest::Method::POST, "/api/totp/confirm", Some(json!({"code": code}))).await?;
    let keys = crypto::keys::Keyring::generate("Demo owner", now_ms()).map_err(agent::sealing::from_crypto)?;
    let keys_path = data_dir.join("owner.keys");
    agent::sealing::create_secret_file(&keys_path, &keys.encode())?;
    // The web app restores the owner's keys in a browser from this backup and the code.
    let recovery = crypto::backup::RecoveryCode::generate();
    let backup = crypto::keys::hex(&crypto::backup::seal(&keys, &recovery));
    c.set_keys(&keys, &backup).await?;
    let h = c.call(reqwest::Method::POST, "/api/households", Some(json!({"name": "Demo home"}))).await?;
    let hid = h["id"].as_str().unwrap_or_default().to_owned();
    let t = c.call(reqwest::Method::POST, "/api/me/tokens", Some(json!({"label": "demo"}))).await?;
    let p = c.call(reqwest::Method::POST, &format!("/api/households/{hid}/pairings"), None).await?;
    let code = crypto::keys::pairing_code(&keys.public().identity);
    crate::keys::pair_server(data_dir, url, p["token"].as_str().unwrap_or_default(), &code, Some("demo agent")).await?;
    let token = t["token"].as_str().unwrap_or_default();
    seed_neighbourhood(&mut c, &keys, &hid).await?;
    let agency = seed_agency(&mut c, url).await?;
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
    Ok(())
}

pub const AGENCY_EMAIL: &str = "police@demo.porchlight";
pub const AGENCY_PASSWORD: &str = "porchlight demo agency";

/// A demo agency: its account (with keys and a recovery code, for the portal in a browser),
/// verified by the demo owner (the demo's operator) by its fingerprint, and one request
/// around the demo home, all published in the transparency log. Returns the notes' lines.
async fn seed_agency(operator: &mut Client, url: &str) -> Result<String, Error> {
    let mut a = Client { http: operator.http.clone(), base: url.to_owned(), cookie: None, csrf: None };
    let r = a
        .call(reqwest::Method::POST, "/api/signup", Some(json!({"email": AGENCY_EMAIL, "password": AGENCY_PASSWORD})))
        .await?;
    a.csrf = r["csrf"].as_str().map(str::to_owned);
    let totp_secret = r["totp_secret"].as_str().unwrap_or_default().to_owned();
    let secret =
        api::secrets::base32_rfc4648_decode(&totp_secret).ok_or_else(|| base::err!(Internal, "TOTP secret"))?;
    let code = format!("{:06}", api::secrets::totp_at(&secret, now_ms() / 30_000));
    a.call(reqwest::Method::POST, "/api/totp/confirm", Some(json!({"code": code}))).await?;
    let keys = crypto::keys::Keyring::generate("Demo police", now_ms()).map_err(agent::sealing::from_crypto)?;
    let recovery = crypto::backup::RecoveryCode::generate();
    let backup = crypto::keys::hex(&crypto::backup::seal(&keys, &recovery));
    a.set_keys(&keys, &backup).await?;
    let g = a
        .call(
            reqwest::Method::POST,
            "/api/agencies",
            Some(json!({"name": "Demo Constabulary", "jurisdiction": "Cambridge (demo)",
                "website": "https://police.demo.porchlight", "phone": "+44 1223 555 0100"})),
        )
        .await?;
    let id = g["id"].as_str().unwrap_or_default();
    operator
        .call(
            reqwest::Method::POST,
            &format!("/api/operator/agencies/{id}/verify"),
            Some(json!({"fingerprint": keys.public().identity.fingerprint(),
                "statement": "Demo: the fingerprint was read out on a (simulated) call to the switchboard"})),
        )
        .await?;
    let now = now_ms();
    let (lat, lon) = DEMO_HOME;
    a.call(
        reqwest::Method::POST,
        "/api/agency/requests",
        Some(json!({
            "case_number": "DEMO-0001", "category": "vehicle_theft",
            "description": "A car was taken from a driveway in the demo street; footage of the road may help.",
            "investigator": "DC Demo, +44 1223 555 0199",
            "area": {"shape": "circle", "lat": lat, "lon": lon, "radius_m": 300.0},
            "window_from_ms": now - 2 * 3_600_000, "window_until_ms": now - 3_600_000,
            "expires_ms": now + 7 * 86_400_000,
        })),
    )
    .await?;
    Ok(format!(
        "Agency: {AGENCY_EMAIL} / {AGENCY_PASSWORD:?}, TOTP secret {totp_secret}, recovery code {} (verified, with one \
         request; it asks about the hour before the demo started, so the owner's Requests page shows it only for \
         a request the agency makes about a time the demo cameras recorded)\n",
        recovery.display().as_str()
    ))
}

/// Where the demo household lives (the exact point, sealed for the owner).
const DEMO_HOME: (f64, f64) = (52.2053, 0.1218);
/// Seeded neighbours in the demo home's cell: enough for posts to show that cell.
const NEIGHBOURS: u32 = 24;

/// The demo's neighbourhood: the owner's home, 24 neighbouring households of a second
/// account around it (their points sealed for that account's keys, which are then
/// dropped: nobody opens them), and a few of their posts.
async fn seed_neighbourhood(owner: &mut Client, keys: &crypto::keys::Keyring, hid: &str) -> Result<(), Error> {
    let home = |lat: f64, lon: f64| -> Result<String, Error> {
        Ok(community::home_cell(community::Point::new(lat, lon)?).to_string())
    };
    let (lat, lon) = DEMO_HOME;
    let sealed = crypto::keys::hex(&crypto::home::seal(&keys.encryption.public(), hid, lat, lon));
    owner
        .call(
            reqwest::Method::PUT,
            &format!("/api/households/{hid}/home"),
            Some(json!({"home_cell": home(lat, lon)?, "sealed_point": sealed})),
        )
        .await?;
    let mut n = Client { http: owner.http.clone(), base: owner.base.clone(), cookie: None, csrf: None };
    let r = n
        .call(
            reqwest::Method::POST,
            "/api/signup",
            Some(json!({"email": "neighbours@demo.porchlight", "password": "porchlight demo neighbours"})),
        )
        .await?;
    n.csrf = r["csrf"].as_str().map(str::to_owned);
    let secret = api::secrets::base32_rfc4648_decode(r["totp_secret"].as_str().unwrap_or_default())
        .ok_or_else(|| base::err!(Internal, "TOTP secret"))?;
    let code = format!("{:06}", api::secrets::totp_at(&secret, now_ms() / 30_000));
    n.call(reqwest::Method::POST, "/api/totp/confirm", Some(json!({"code": code}))).await?;
    let theirs = crypto::keys::Keyring::generate("Demo neighbours", now_ms()).map_err(agent::sealing::from_crypto)?;
    let cell = community::home_cell(community::Point::new(lat, lon)?);
    let centre = h3o::LatLng::from(cell);
    let mut households = Vec::new();
    for i in 0..NEIGHBOURS {
        let h =
            n.call(reqwest::Method::POST, "/api/households", Some(json!({"name": format!("Neighbour {i}")}))).await?;
        let nid = h["id"].as_str().unwrap_or_default().to_owned();
        // Within 150 m of the cell's centre: inside the cell, whose edges are about 460 m.
        let a = f64::from(i) * 2.4;
        let p = community::Point::new(centre.lat(), centre.lng())?.offset(150.0 * a.sin(), 150.0 * a.cos())?;
        let sealed = crypto::keys::hex(&crypto::home::seal(&theirs.encryption.public(), &nid, p.lat(), p.lon()));
        n.call(
            reqwest::Method::PUT,
            &format!("/api/households/{nid}/home"),
            Some(json!({"home_cell": home(p.lat(), p.lon())?, "sealed_point": sealed})),
        )
        .await?;
        households.push(nid);
    }
    let rules = n.call(reqwest::Method::GET, "/api/neighbourhood/rules", None).await?;
    n.call(reqwest::Method::POST, "/api/neighbourhood/rules", Some(json!({"hash": rules["hash"]}))).await?;
    for (i, (category, body)) in [
        ("lost_pet", "Our grey cat Miso has not come home since Tuesday. She has a blue collar."),
        ("unusual_activity", "Someone was trying car door handles on the corner around 2 am. Lock your cars."),
        ("safety", "The street light by the footpath is out again; reported to the council."),
    ]
    .into_iter()
    .enumerate()
    {
        n.call(
            reqwest::Method::POST,
            &format!("/api/households/{}/posts", households[i]),
            Some(json!({"category": category, "body": body})),
        )
        .await?;
    }
    Ok(())
}

fn print_notes(notes: &Path) {
    if let Ok(t) = std::fs::read_to_string(notes) {
        print!("{t}");
    }
}
