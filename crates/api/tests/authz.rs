//! The authorization matrix: every endpoint against every kind of caller, from one table.
//! The table's endpoints must be exactly the OpenAPI document's, so a new endpoint without
//! a row fails this test.

mod common;

use porchlight_api as api;

use std::collections::BTreeSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    Anonymous,
    /// Password given, second factor not yet.
    Pending,
    Owner,
    Full,
    Standard,
    Limited,
    Guest,
    GuestExpired,
    /// The owner of another household.
    Stranger,
    /// The household's paired agent.
    Device,
    /// An account that runs the server (moderates posts), in no household.
    Operator,
    /// A verified agency's account.
    Agency,
}

use Who::*;

const EVERYONE: &[Who] =
    &[Anonymous, Pending, Owner, Full, Standard, Limited, Guest, GuestExpired, Stranger, Device, Operator, Agency];
const ACCOUNTS: &[Who] = &[Owner, Full, Standard, Limited, Guest, GuestExpired, Stranger, Operator, Agency];
const VIEWERS: &[Who] = &[Owner, Full, Standard, Limited, Guest];
const MEMBER_LISTERS: &[Who] = &[Owner, Full, Standard];
const SETTINGS: &[Who] = &[Owner, Full];
const RESIDENTS: &[Who] = &[Owner, Full, Standard];
const OWNER: &[Who] = &[Owner];
const TALKERS: &[Who] = &[Owner, Full, Standard, Guest];
const DEVICE: &[Who] = &[Device];

/// (method, OpenAPI path, who is allowed). Everyone else must get 401 or 403.
const MATRIX: &[(&str, &str, &[Who])] = &[
    ("GET", "/api/health", EVERYONE),
    ("GET", "/metrics", &[]),
    ("POST", "/api/signup", EVERYONE),
    ("POST", "/api/login", EVERYONE),
    ("POST", "/api/totp/confirm", &[Pending]),
    ("POST", "/api/login/totp", &[Pending]),
    ("GET", "/api/session", ACCOUNTS),
    ("PUT", "/api/me/keys", ACCOUNTS),
    ("GET", "/api/me/keys/challenge", ACCOUNTS),
    ("GET", "/api/me/keys/backup", ACCOUNTS),
    ("GET", "/api/me/tokens", ACCOUNTS),
    ("POST", "/api/me/tokens", ACCOUNTS),
    ("DELETE", "/api/me/tokens/{token_id}", ACCOUNTS),
    ("GET", "/api/me/security-events", ACCOUNTS),
    ("POST", "/api/passkeys/register/start", ACCOUNTS),
    ("POST", "/api/passkeys/register/finish", ACCOUNTS),
    ("GET", "/api/me/passkeys", ACCOUNTS),
    ("DELETE", "/api/me/passkeys/{passkey_id}", ACCOUNTS),
    ("POST", "/api/login/passkey/start", &[Pending]),
    ("POST", "/api/login/passkey/finish", &[Pending]),
    ("POST", "/api/households", ACCOUNTS),
    ("GET", "/api/households/{household_id}", VIEWERS),
    ("PATCH", "/api/households/{household_id}", SETTINGS),
    ("GET", "/api/households/{household_id}/members", MEMBER_LISTERS),
    ("DELETE", "/api/households/{household_id}/members/{account_id}", OWNER),
    ("POST", "/api/households/{household_id}/invitations", OWNER),
    ("POST", "/api/invitations/accept", ACCOUNTS),
    ("POST", "/api/households/{household_id}/pairings", OWNER),
    ("GET", "/api/pair/{token}", EVERYONE),
    ("POST", "/api/pair/{token}", EVERYONE),
    ("GET", "/api/households/{household_id}/devices", SETTINGS),
    ("GET", "/api/push/key", EVERYONE),
    ("GET", "/api/households/{household_id}/push", VIEWERS),
    ("PUT", "/api/households/{household_id}/push", VIEWERS),
    ("DELETE", "/api/households/{household_id}/push/{subscription_id}", VIEWERS),
    ("DELETE", "/api/households/{household_id}/devices/{device_id}", OWNER),
    ("GET", "/api/households/{household_id}/access-log", OWNER),
    ("PUT", "/api/households/{household_id}/cameras/{camera}/retention", SETTINGS),
    ("GET", "/api/device", DEVICE),
    ("PUT", "/api/device/status", DEVICE),
    ("GET", "/api/device/roster", DEVICE),
    ("PUT", "/api/households/{household_id}/roster", OWNER),
    ("GET", "/api/households/{household_id}/roster", OWNER),
    ("PUT", "/api/households/{household_id}/settings", OWNER),
    ("GET", "/api/households/{household_id}/settings", VIEWERS),
    ("GET", "/api/device/settings", DEVICE),
    ("PUT", "/api/households/{household_id}/home", SETTINGS),
    ("GET", "/api/households/{household_id}/home", VIEWERS),
    ("POST", "/api/households/{household_id}/posts", RESIDENTS),
    ("GET", "/api/households/{household_id}/feed", RESIDENTS),
    ("GET", "/api/households/{household_id}/feed/live", RESIDENTS),
    ("PUT", "/api/posts/{post_id}", ACCOUNTS),
    ("DELETE", "/api/posts/{post_id}", ACCOUNTS),
    ("GET", "/api/households/{household_id}/posts/{post_id}/comments", RESIDENTS),
    ("POST", "/api/households/{household_id}/posts/{post_id}/comments", RESIDENTS),
    ("DELETE", "/api/comments/{comment_id}", ACCOUNTS),
    ("POST", "/api/households/{household_id}/posts/{post_id}/report", RESIDENTS),
    ("POST", "/api/households/{household_id}/posts/{post_id}/contact", RESIDENTS),
    ("GET", "/api/relay", ACCOUNTS),
    ("GET", "/api/relay/{thread_id}", ACCOUNTS),
    ("POST", "/api/relay/{thread_id}", ACCOUNTS),
    ("GET", "/api/neighbourhood/rules", ACCOUNTS),
    ("POST", "/api/neighbourhood/rules", ACCOUNTS),
    ("GET", "/api/moderation/reports", &[Operator]),
    ("POST", "/api/moderation/posts/{post_id}", &[Operator]),
    ("GET", "/api/moderation/media/{media_id}", &[Operator]),
    ("POST", "/api/households/{household_id}/post-media", RESIDENTS),
    ("GET", "/api/households/{household_id}/post-media/{media_id}", RESIDENTS),
    ("POST", "/api/households/{household_id}/clips/prepare", RESIDENTS),
    ("PUT", "/api/device/prepared/{session_id}", DEVICE),
    ("PUT", "/api/device/keys", DEVICE),
    ("GET", "/api/device/wait", DEVICE),
    ("POST", "/api/households/{household_id}/live", VIEWERS),
    ("POST", "/api/households/{household_id}/history", VIEWERS),
    ("POST", "/api/households/{household_id}/still", VIEWERS),
    ("GET", "/api/live/{session_id}", ACCOUNTS),
    ("POST", "/api/device/live/{session_id}", DEVICE),
    ("POST", "/api/households/{household_id}/talk", TALKERS),
    ("GET", "/api/households/{household_id}/talk", VIEWERS),
    ("POST", "/api/talk/{session_id}", ACCOUNTS),
    ("DELETE", "/api/talk/{session_id}", ACCOUNTS),
    ("GET", "/api/device/talk/{session_id}", DEVICE),
    ("POST", "/api/device/talk/{session_id}/state", DEVICE),
    ("GET", "/api/households/{household_id}/cameras", VIEWERS),
    ("POST", "/api/chunks/missing", DEVICE),
    ("PUT", "/api/chunks/{hash}", DEVICE),
    ("POST", "/api/objects", DEVICE),
    ("POST", "/api/events", DEVICE),
    ("GET", "/api/households/{household_id}/events", VIEWERS),
    ("GET", "/api/objects/{object_id}", VIEWERS),
    ("DELETE", "/api/events/{event_id}", SETTINGS),
    ("GET", "/api/households/{household_id}/events/live", VIEWERS),
    ("GET", "/api/log/head", EVERYONE),
    ("GET", "/api/log/heads/{size}", EVERYONE),
    ("GET", "/api/log/entries", EVERYONE),
    ("GET", "/api/log/proof/inclusion", EVERYONE),
    ("GET", "/api/log/proof/consistency", EVERYONE),
    ("POST", "/api/agencies", ACCOUNTS),
    ("GET", "/api/agencies", EVERYONE),
    ("GET", "/api/agency", ACCOUNTS),
    ("GET", "/api/operator/agencies", &[Operator]),
    ("POST", "/api/operator/agencies/{agency_id}/verify", &[Operator]),
    ("POST", "/api/operator/agencies/{agency_id}/reject", &[Operator]),
    ("POST", "/api/operator/legal-demands", &[Operator]),
    ("POST", "/api/agency/requests", &[Agency]),
    ("GET", "/api/agency/requests", &[Agency]),
    ("GET", "/api/households/{household_id}/footage-requests", OWNER),
    ("POST", "/api/households/{household_id}/footage-requests/{request_id}/responses", OWNER),
    ("GET", "/api/agency/requests/{request_id}/responses", &[Agency]),
    ("POST", "/api/agency/alerts", &[Agency]),
    ("GET", "/api/agency/alerts", &[Agency]),
    ("GET", "/api/households/{household_id}/alerts", RESIDENTS),
    ("POST", "/api/agency/requests/{request_id}/exports", &[Agency]),
    (
        "POST",
        "/api/logout",
        &[Pending, Owner, Full, Standard, Limited, Guest, GuestExpired, Stranger, Operator, Agency],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_against_every_caller() {
    let s = Server::start_local().await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    // Footage from before anyone was invited: guests must not see it.
    let early = event(&home, "porch", s.now() - 3_600_000, s.now() - 3_590_000).await;

    let invite = |role: &'static str, until: Option<i64>| {
        let mut owner = home.owner.clone();
        let hid = hid.clone();
        async move {
            let mut body = json!({"role": role});
            if let Some(u) = until {
                body["window_until_ms"] = json!(u);
            }
            let r = owner.ok(Method::POST, &format!("/api/households/{hid}/invitations"), Some(body)).await;
            r["token"].as_str().unwrap().to_owned()
        }
    };
    let mut members = std::collections::HashMap::new();
    for (who, role, until) in [
        (Full, "full", None),
        (Standard, "standard", None),
        (Limited, "limited", None),
        (Guest, "guest", Some(s.now() + 86_400_000)),
        (GuestExpired, "guest", Some(s.now() + 600_000)),
    ] {
        let token = invite(role, until).await;
        let mut c = s.user(&format!("{role}-{:?}@example.org", who).to_lowercase()).await;
        c.ok(Method::POST, "/api/invitations/accept", Some(json!({"token": token}))).await;
        members.insert(who, c);
    }
    let victim_token = invite("standard", None).await;
    let mut victim = s.user("victim@example.org").await;
    victim.ok(Method::POST, "/api/invitations/accept", Some(json!({"token": victim_token}))).await;
    let stranger = home_of_stranger(&s).await;
    let mut operator = s.user(OPERATOR).await;
    let agency = verified_agency(&s, &mut operator).await;
    let (_spare_device, spare_device_id, _) = pair(&s, &mut home.owner, &hid, "spare").await;

    // 20 minutes on: the short guest's access has ended; the long one's has not.
    s.advance(1_200_000);
    let late = event(&home, "porch", s.now(), s.now() + 10_000).await;
    let late_clip = late.clip_object.as_deref().unwrap().to_owned();

    // Check the guest window directly: the early event is invisible to guests.
    let g = members.get_mut(&Guest).unwrap();
    let tl = g.ok(Method::GET, &format!("/api/households/{hid}/events"), None).await;
    let ids: Vec<&str> = tl.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![late.id.as_str()], "a guest sees only events since the invitation");
    let (st, _) = g.call(Method::GET, &format!("/api/objects/{}", early.clip_object.as_deref().unwrap()), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a guest cannot download footage from before the invitation");

    // Signs in with a password only: a fresh half-signed-in session for each request.
    let pending_user = s.user("pending@example.org").await;
    // A new TOTP step: the one used to enrol cannot be replayed.
    s.advance(30_000);
    let pending = || async {
        let mut c = Client::anonymous(&s);
        let r = c
            .call(
                Method::POST,
                "/api/login",
                Some(json!({"email": "pending@example.org", "password": "a long password"})),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        c.set_csrf(r.1["csrf"].as_str().map(str::to_owned));
        c
    };

    // The table covers exactly the documented endpoints.
    let doc: Value = s.http.get(format!("{}/api/openapi.json", s.base)).send().await.unwrap().json().await.unwrap();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            documented.insert((m.to_uppercase(), path.clone()));
        }
    }
    let tabled: BTreeSet<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(MATRIX.len(), tabled.len(), "a row appears twice");
    assert_eq!(documented, tabled, "the matrix must have one row per documented endpoint");

    let chunk = b"chunk bytes for the matrix".to_vec();
    let chunk_hash = blob::chunk_hash(&chunk);
    let client_of = async |who: Who| -> Client {
        match who {
            Anonymous => Client::anonymous(&s),
            Pending => pending().await,
            Owner => home.owner.clone(),
            Stranger => stranger.clone(),
            Device => home.device.clone(),
            Operator => operator.clone(),
            Agency => agency.clone(),
            w => members[&w].clone(),
        }
    };
    let mut failures = Vec::new();
    for &(method, path, allowed) in MATRIX {
        // Denied callers first: an allowed destructive call must not turn a later denial
        // into a 404.
        let mut order: Vec<Who> = EVERYONE.to_vec();
        order.sort_by_key(|w| allowed.contains(w));
        for who in order {
            let mut c = client_of(who).await;
            let concrete = path
                .replace("{household_id}", &hid)
                .replace("{account_id}", &victim.account_id)
                .replace("{device_id}", &spare_device_id)
                .replace("{camera}", "porch")
                .replace("{token_id}", &"0".repeat(32))
                .replace("{post_id}", &"0".repeat(32))
                .replace("{comment_id}", &"0".repeat(32))
                .replace("{thread_id}", &"0".repeat(32))
                .replace("{passkey_id}", &"0".repeat(32))
                .replace("{media_id}", &"0".repeat(32))
                .replace("{session_id}", &"0".repeat(32))
                .replace("{token}", &"0".repeat(32))
                .replace("{hash}", &chunk_hash)
                .replace("{size}", "0")
                .replace("{agency_id}", &"0".repeat(32))
                .replace("{request_id}", &"0".repeat(32))
                .replace("{subscription_id}", &"0".repeat(32))
                .replace("{object_id}", &late_clip)
                .replace("{event_id}", late.id.as_str())
                .replace("/api/device/wait", "/api/device/wait?wait_ms=0");
            let concrete = if path.ends_with("/post-media") { format!("{concrete}?kind=photo") } else { concrete };
            let mut body = body_for(method, path, &chunk_hash);
            if path == "/api/login/totp" {
                // A right code, so that only the caller decides the outcome.
                body = Some(
                    json!({"code": format!("{:06}", api::secrets::totp_at(&pending_user.totp, s.now() / 30_000))}),
                );
            }
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let want_allowed = allowed.contains(&who);
            let before = if want_allowed { None } else { Some(s.snapshot().await) };
            let status = if path == "/api/chunks/{hash}" {
                c.request(m, &concrete).body(chunk.clone()).send().await.unwrap().status()
            } else if method == "GET" && path.ends_with("/live") {
                // Only the status line: the stream stays open.
                c.request(m, &concrete).send().await.unwrap().status()
            } else {
                c.call(m, &concrete, body).await.0
            };
            let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
            if status.is_server_error() || denied == want_allowed {
                failures.push(format!(
                    "{method} {path} as {who:?}: {status} (expected {})",
                    if want_allowed { "allowed" } else { "denied" }
                ));
            }
            // A refusal changes nothing: not a row, not a blob.
            if let Some(before) = before {
                let changes = before.changes(&s.snapshot().await);
                if !changes.is_empty() {
                    failures.push(format!(
                        "{method} {path} as {who:?} was refused ({status}) but changed:\n  {}",
                        changes.join("\n  ")
                    ));
                }
            }
        }
    }

    // Another household's owner, naming their own household and this household's things
    // (the device, a member, an event's objects): refused, and nothing changes. This is how
    // one household cut off another's agent while being told 404.
    // A new stranger: the matrix signed the first one out.
    let stranger = common::home(&s, "stranger-two@example.org").await.owner;
    let stranger_hid = stranger_home_id(&stranger).await;
    let victim_ids = [
        ("{device_id}", home.device_id.clone()),
        ("{account_id}", victim.account_id.clone()),
        ("{media_id}", late_clip.clone()),
        ("{post_id}", late.id.clone()),
        ("{request_id}", late.id.clone()),
    ];
    for &(method, path, _) in MATRIX {
        if !path.contains("{household_id}") || !victim_ids.iter().any(|(k, _)| path.contains(k)) {
            continue;
        }
        let mut concrete = path.replace("{household_id}", &stranger_hid);
        for (k, v) in &victim_ids {
            concrete = concrete.replace(k, v);
        }
        let before = s.snapshot().await;
        let mut c = stranger.clone();
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = c.call(m, &concrete, body_for(method, path, &chunk_hash)).await;
        if status.is_success() || status.is_server_error() {
            failures.push(format!("{method} {concrete} (another household's ids) as Stranger: {status} {body}"));
        }
        let changes = before.changes(&s.snapshot().await);
        if !changes.is_empty() {
            failures.push(format!("{method} {concrete} as Stranger ({status}) changed:\n  {}", changes.join("\n  ")));
        }
    }
    // The victim's agent still works.
    let mut device = home.device.clone();
    let (st, _) = device.call(Method::GET, "/api/device", None).await;
    assert_eq!(st, StatusCode::OK, "the household's agent was cut off by another household");
    assert!(failures.is_empty(), "authorization matrix mismatches:\n{}", failures.join("\n"));
}

async fn stranger_home_id(stranger: &Client) -> String {
    let r: wire::SessionReply = stranger.get("/api/session").await.unwrap();
    r.households[0].household_id.clone()
}

/// An agency account with keys, applied and verified by the operator.
async fn verified_agency(s: &Server, operator: &mut Client) -> Client {
    let a = s.user("agency-matrix@example.org").await;
    let keys = crypto::keys::Keyring::generate("agency", s.now()).unwrap();
    a.set_keys(&keys).await.unwrap();
    let app = wire::AgencyApplication {
        name: "Matrix PD".into(),
        jurisdiction: "NY".into(),
        website: "https://pd.example".into(),
        phone: "+1 212 555 0100".into(),
    };
    let applied: wire::AgencyJson = a.post("/api/agencies", &app).await.unwrap();
    let verify = wire::VerifyAgency {
        fingerprint: keys.public().identity.fingerprint(),
        statement: "called the switchboard".into(),
    };
    let _: wire::AgencyJson =
        operator.post(&format!("/api/operator/agencies/{}/verify", applied.id), &verify).await.unwrap();
    a
}

fn body_for(method: &str, path: &str, chunk_hash: &str) -> Option<Value> {
    Some(match (method, path) {
        ("POST", "/api/signup") => {
            json!({"email": format!("new{}@example.org", rand_suffix()), "password": "another long one"})
        }
        ("POST", "/api/login") => json!({"email": "pending@example.org", "password": "a long password"}),
        ("POST", "/api/totp/confirm") | ("POST", "/api/login/totp") => json!({"code": "000000"}),
        ("PUT", "/api/me/keys") => json!({"public_keys": "00", "proof": "00"}),
        ("POST", "/api/me/tokens") => json!({"label": "script"}),
        ("POST", "/api/passkeys/register/start") => json!({"name": "laptop"}),
        ("POST", "/api/passkeys/register/finish") | ("POST", "/api/login/passkey/finish") => json!({"credential": {}}),
        ("POST", "/api/households") => json!({"name": "Another"}),
        ("PUT", "/api/households/{household_id}/push") => json!({
            "endpoint": "https://push.example.net/w/matrix",
            "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"
        }),
        ("PATCH", _) => json!({"retention_days": 30}),
        ("PUT", p) if p.ends_with("/retention") => json!({"retention_days": 365}),
        ("POST", p) if p.ends_with("/invitations") => json!({"role": "standard"}),
        ("POST", "/api/invitations/accept") => json!({"token": "0".repeat(32)}),
        ("POST", "/api/pair/{token}") => json!({"name": "x", "identity": "00".repeat(32)}),
        ("POST", "/api/chunks/missing") => json!({"chunks": [chunk_hash]}),
        ("PUT", p) if p.ends_with("/roster") => json!({"roster": "00"}),
        ("PUT", p) if p.ends_with("/settings") => json!({"settings": "00"}),
        ("PUT", p) if p.ends_with("/home") => json!({"home_cell": "00", "sealed_point": "00"}),
        ("POST", p) if p.ends_with("/posts") => json!({"category": "general", "body": "hello"}),
        ("PUT", "/api/posts/{post_id}") => json!({"category": "general", "body": "hello"}),
        ("POST", p) if p.ends_with("/comments") || p.ends_with("/contact") || p.starts_with("/api/relay/") => {
            json!({"body": "hello"})
        }
        ("POST", p) if p.ends_with("/report") => json!({"reason": "spam"}),
        ("POST", "/api/neighbourhood/rules") => json!({"hash": "00"}),
        ("POST", "/api/moderation/posts/{post_id}") => json!({"action": "keep"}),
        ("POST", "/api/agencies") => {
            json!({"name": "A", "jurisdiction": "NY", "website": "https://a.example", "phone": "+1 212 555 0100"})
        }
        ("POST", "/api/operator/agencies/{agency_id}/verify") => {
            json!({"fingerprint": "AAAA", "statement": "called the switchboard"})
        }
        ("POST", "/api/households/{household_id}/footage-requests/{request_id}/responses") => json!({"clips": []}),
        ("POST", "/api/agency/alerts") => {
            json!({"body": "x", "lat": 0.0, "lon": 0.0, "radius_m": 500.0, "expires_ms": 0})
        }
        ("POST", "/api/operator/agencies/{agency_id}/reject") => json!({"reason": "not an agency"}),
        ("POST", "/api/operator/legal-demands") => {
            json!({"authority": "A court", "reference": "1", "demanded": "records", "produced": "metadata"})
        }
        // Well formed, and refused for its too-short description by the one caller allowed.
        ("POST", "/api/agency/requests") => json!({
            "case_number": "1", "category": "theft", "description": "short", "investigator": "Det. X, 555 0100",
            "area": {"shape": "circle", "lat": 40.7, "lon": -74.0, "radius_m": 300.0},
            "window_from_ms": 0, "window_until_ms": 1, "expires_ms": 2,
        }),
        ("PUT", "/api/device/keys") => json!({"public_keys": "00"}),
        ("POST", p) if p.ends_with("/live") || p.ends_with("/still") || p.ends_with("/talk") => {
            json!({"request": "00"})
        }
        ("POST", "/api/device/talk/{session_id}/state") => json!({"stage": "ended"}),
        ("POST", p) if p.ends_with("/history") => {
            // The runs only: a moment outside a guest's window is refused by the role (403).
            json!({"request": "00", "history": {"from_ms": 0, "until_ms": 1000}})
        }
        ("POST", p) if p.ends_with("/clips/prepare") => {
            json!({"request": "00", "prepare": {"start_ms": 0, "end_ms": 1000}})
        }
        ("PUT", "/api/device/prepared/{session_id}") => json!({"sha256": "0".repeat(64)}),
        ("PUT", "/api/device/status") => json!({"cameras": [{"camera": "porch", "state": "streaming", "since_ms": 0}]}),
        ("POST", "/api/objects") => json!({"chunks": [chunk_hash]}),
        ("POST", "/api/events") => json!({"id": "0".repeat(32), "meta_object": "0".repeat(32)}),
        _ => return None,
    })
}

fn rand_suffix() -> String {
    api::secrets::random_hex(4)
}

async fn home_of_stranger(s: &Server) -> Client {
    let h = home(s, "stranger@example.org").await;
    h.owner
}

/// The document says where each parameter goes (a query parameter documented as a path
/// parameter is one schemathesis never varies), and every operation lists the error
/// statuses any request can meet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_places_every_parameter() {
    let s = Server::start_local().await;
    let doc: Value = s.http.get(format!("{}/api/openapi.json", s.base)).send().await.unwrap().json().await.unwrap();
    let mut problems = Vec::new();
    let mut operation_ids = BTreeSet::new();
    let mut queries = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let in_path: BTreeSet<String> =
            path.split('{').skip(1).map(|p| p.split('}').next().unwrap().to_owned()).collect();
        for (method, op) in ops.as_object().unwrap() {
            // Operation ids name the web app's generated types: two alike would merge them.
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            if !operation_ids.insert(id.clone()) {
                problems.push(format!("{method} {path}: operation id {id:?} is used twice"));
            }
            let mut declared = BTreeSet::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap().to_owned();
                match p["in"].as_str().unwrap() {
                    "path" if !in_path.contains(&name) => {
                        problems.push(format!("{method} {path}: {name} is not in the path"));
                    }
                    "path" => {
                        declared.insert(name);
                    }
                    "query" => queries += 1,
                    _ => {}
                }
            }
            if declared != in_path {
                problems.push(format!("{method} {path}: path parameters {declared:?}, the path has {in_path:?}"));
            }
            for code in ["400", "401", "403", "404", "429"] {
                if op["responses"][code].is_null() {
                    problems.push(format!("{method} {path}: no {code} documented"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(queries >= 20, "only {queries} query parameters documented");
}

/// Every permission of the role table gates some endpoint in the matrix: for each, a row
/// admits exactly the household roles `auth::allows` gives it. A permission the matrix
/// never exercises (or a role table that drifted from the rows) fails here.
#[test]
fn every_permission_of_the_role_table_is_in_the_matrix() {
    use api::auth::{Permission, allows};
    use db::server::Role;
    let who = |r: Role| match r {
        Role::Owner => Owner,
        Role::Full => Full,
        Role::Standard => Standard,
        Role::Limited => Limited,
        Role::Guest => Guest,
    };
    let members = [Owner, Full, Standard, Limited, Guest];
    for p in Permission::ALL {
        let want: BTreeSet<_> = Role::ALL.into_iter().filter(|r| allows(*r, p)).map(|r| who(r) as u8).collect();
        let rows: Vec<_> = MATRIX
            .iter()
            .filter(|(_, _, allowed)| {
                let got: BTreeSet<_> = allowed.iter().filter(|w| members.contains(w)).map(|w| *w as u8).collect();
                got == want
            })
            .map(|(m, path, _)| format!("{m} {path}"))
            .collect();
        assert!(!rows.is_empty(), "{p:?}: no endpoint in the matrix admits exactly {want:?}");
    }
}
