//! Agencies and footage requests over the API, on SQLite and PostgreSQL: applying, the
//! operator's verification (checked against the agency's keys, logged with them), every
//! rule of a request refused with its field named and nothing stored or logged, the case
//! and rate limits, expiry, delivery by home cell, and legal demands.

mod common;

use porchlight_api as api;

use api::log::{Entry, Record};
use common::*;
use community::Point;
use crypto::keys::Keyring;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const LAT: f64 = 40.7411;
const LON: f64 = -73.9897;

async fn entries(s: &Server) -> Vec<Record> {
    let n = s.state.db.log_size().await.unwrap();
    s.state.db.log_entries(0, n).await.unwrap().iter().map(|e| Record::parse(&e.body).unwrap()).collect()
}

async fn set_home(c: &mut Client, hid: &str, p: Point) {
    let home = wire::SetHomeJson { home_cell: community::home_cell(p).to_string(), sealed_point: "00".repeat(32) };
    let _: wire::HomeJson = c.put(&format!("/api/households/{hid}/home"), &home).await.unwrap();
}

/// A signed-in agency account with keys, applied and verified; returns it with its keys.
async fn verified_agency(s: &Server, operator: &mut Client, email: &str, name: &str) -> (Client, Keyring, String) {
    let mut a = s.user(email).await;
    let keys = Keyring::generate(name, s.now()).unwrap();
    let app = json!({"name": name, "jurisdiction": "New York, NY", "website": "https://police.example.org", "phone": "+1 212-555-0100"});
    // Keys first: an application names the keys the operator will check.
    let (st, v) = a.call(Method::POST, "/api/agencies", Some(app.clone())).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("public_keys:"), "{v}");
    a.set_keys(&keys).await.unwrap();
    let applied = a.ok(Method::POST, "/api/agencies", Some(app.clone())).await;
    assert_eq!(applied["status"], "applied");
    let id = applied["id"].as_str().unwrap().to_owned();
    let fp = keys.public().identity.fingerprint();
    assert_eq!(applied["fingerprint"].as_str().unwrap(), fp);
    assert_eq!(
        a.call(Method::POST, "/api/agencies", Some(app)).await.0,
        StatusCode::CONFLICT,
        "one application per account"
    );
    // Not verified yet: no requests.
    let (st, _) = a.call(Method::GET, "/api/agency/requests", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let path = format!("/api/operator/agencies/{id}/verify");
    let (st, v) = operator
        .call(
            Method::POST,
            &path,
            Some(json!({"fingerprint": "AAAA-BBBB-CCCC-DDDD-EEEE", "statement": "called the number on its website"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a fingerprint the agency did not read out: {v}");
    assert!(v["message"].as_str().unwrap().starts_with("fingerprint:"), "{v}");
    let before = s.state.db.log_size().await.unwrap();
    let v = operator
        .ok(
            Method::POST,
            &path,
            Some(json!({"fingerprint": fp.to_lowercase(), "statement": "called the number on its website"})),
        )
        .await;
    assert_eq!(v["status"], "verified");
    assert_eq!(v["log_index"].as_i64().unwrap(), before);
    assert_eq!(
        operator.call(Method::POST, &path, Some(json!({"fingerprint": fp, "statement": "again, to be sure"}))).await.0,
        StatusCode::CONFLICT
    );
    (a, keys, id)
}

fn request(case: &str, now: i64) -> Value {
    json!({
        "case_number": case,
        "category": "burglary",
        "description": "A break-in at a ground floor flat; footage of the street may show who left.",
        "investigator": "Det. R. Alvarez, +1 212 555 0199",
        "area": {"shape": "circle", "lat": LAT, "lon": LON, "radius_m": 300.0},
        "window_from_ms": now - 5 * HOUR,
        "window_until_ms": now - 3 * HOUR,
        "expires_ms": now + 7 * DAY,
    })
}

async fn suite(s: &Server) {
    let mut operator = s.user(OPERATOR).await;
    // Two households in one home cell, one inside the area and one just outside it, and
    // a third far away.
    let centre = Point::new(LAT, LON).unwrap();
    let inside = centre.offset(0.0, 290.0).unwrap();
    let outside = centre.offset(0.0, 310.0).unwrap();
    let mut near_in = home(s, "in@example.org").await;
    let mut near_out = home(s, "out@example.org").await;
    let mut far = home(s, "far@example.org").await;
    set_home(&mut near_in.owner, &near_in.household, inside).await;
    set_home(&mut near_out.owner, &near_out.household, outside).await;
    set_home(&mut far.owner, &far.household, centre.offset(5_000.0, 0.0).unwrap()).await;

    // Applications: checked fields, and an account in a household cannot apply.
    let mut plain = s.user("plain@example.org").await;
    let k = Keyring::generate("plain", s.now()).unwrap();
    plain.set_keys(&k).await.unwrap();
    for (body, field) in [
        (
            json!({"name": "X", "jurisdiction": "NY", "website": "https://a.example", "phone": "+1 212 555 0100"}),
            "name",
        ),
        (
            json!({"name": "NYPD", "jurisdiction": "NY", "website": "http://a.example", "phone": "+1 212 555 0100"}),
            "website",
        ),
        (json!({"name": "NYPD", "jurisdiction": "NY", "website": "https://a.example", "phone": "call us"}), "phone"),
        (json!({"name": "NYPD", "jurisdiction": "NY", "website": "https://a.example"}), "body"),
    ] {
        let (st, v) = plain.call(Method::POST, "/api/agencies", Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().unwrap().starts_with(field), "{field}: {v}");
    }
    let app =
        json!({"name": "Precinct", "jurisdiction": "NY", "website": "https://a.example", "phone": "+1 212 555 0100"});
    let (st, v) = near_in.owner.call(Method::POST, "/api/agencies", Some(app)).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(s.state.db.log_size().await.unwrap(), 0, "nothing was logged");

    let (mut agency, agency_keys, agency_id) =
        verified_agency(s, &mut operator, "agency@example.org", "13th Precinct").await;
    let log = entries(s).await;
    assert_eq!(log.len(), 1);
    match &log[0].entry {
        Entry::AgencyVerified { agency_id: id, public_keys, fingerprint, statement, .. } => {
            assert_eq!(id, &agency_id);
            assert_eq!(public_keys, &crypto::keys::hex(&agency_keys.public().encode()));
            assert_eq!(fingerprint, &agency_keys.public().identity.fingerprint());
            assert!(statement.contains("website"));
        }
        e => panic!("{e:?}"),
    }
    impostors_cannot_take_an_agencys_keys(s, &agency.account_id, &agency_keys).await;

    // Its keys are public; changing the account's keys later changes nothing logged.
    let list = Client::anonymous(s).ok(Method::GET, "/api/agencies", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let other = Keyring::generate("swap", s.now()).unwrap();
    agency.set_keys(&other).await.unwrap();
    let list = Client::anonymous(s).ok(Method::GET, "/api/agencies", None).await;
    assert_eq!(list[0]["public_keys"].as_str().unwrap(), crypto::keys::hex(&agency_keys.public().encode()));
    // An agency's account cannot join or make a household.
    let (st, _) = agency.call(Method::POST, "/api/households", Some(json!({"name": "Mine"}))).await;
    assert_eq!(st, StatusCode::CONFLICT);

    // Every rule, refused with its field named; nothing stored, nothing logged.
    let now = s.now();
    let with = |k: &str, v: Value| {
        let mut r = request("24-0001", now);
        r[k] = v;
        r
    };
    let cases = [
        (with("case_number", json!("")), "case_number"),
        (with("category", json!("protest")), "category"),
        (with("category", json!("public_order")), "category"),
        (with("description", json!("too short")), "description"),
        (with("investigator", json!("")), "investigator"),
        (with("area", json!({"shape": "circle", "lat": LAT, "lon": LON, "radius_m": 100.0})), "area: expected 0.025"),
        (with("area", json!({"shape": "circle", "lat": LAT, "lon": LON, "radius_m": 700.0})), "area: expected 0.025"),
        (with("area", json!({"shape": "polygon", "points": [[LAT, LON], [LAT + 0.004, LON]]})), "area.points"),
        (with("area", json!({"shape": "square", "lat": LAT})), "area.shape: unknown variant `square`"),
        (with("window_from_ms", json!(now - 3 * HOUR - 10 * 60_000)), "window_from_ms"),
        (with("window_from_ms", json!(now - 16 * HOUR)), "window_from_ms"),
        (with("window_until_ms", json!(now + HOUR)), "window_until_ms"),
        (
            {
                let mut r = request("24-0001", now);
                r["window_until_ms"] = json!(now - 31 * DAY);
                r["window_from_ms"] = json!(now - 31 * DAY - HOUR);
                r
            },
            "window_until_ms",
        ),
        (with("expires_ms", json!(now - 1)), "expires_ms"),
        (with("expires_ms", json!(now + 15 * DAY)), "expires_ms"),
        (with("surprise", json!(1)), "surprise: unknown field `surprise`"),
    ];
    for (body, field) in cases {
        let before = s.snapshot().await;
        let (st, v) = agency.call(Method::POST, "/api/agency/requests", Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{field}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(field), "{field}: {v}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "{field}: refused, but changed");
    }
    assert_eq!(s.state.db.log_size().await.unwrap(), 1, "no refused request was logged");
    assert!(agency.ok(Method::GET, "/api/agency/requests", None).await.as_array().unwrap().is_empty());
    // Only a verified agency may ask.
    let (st, _) = near_in.owner.call(Method::POST, "/api/agency/requests", Some(request("x", now))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A request: logged with what the public needs and nothing about who is offered it.
    let r = agency.ok(Method::POST, "/api/agency/requests", Some(request("24-0001", now))).await;
    assert_eq!(r["households_offered"], 2, "both homes in the touching cells are counted: {r}");
    assert!((r["area_sq_mi"].as_f64().unwrap() - 0.1092).abs() < 0.001, "{r}");
    let rid = r["id"].as_str().unwrap().to_owned();
    let log = entries(s).await;
    match &log[1].entry {
        Entry::RequestMade { request_id, agency, category, households_offered, window_from_ms, expires_ms, .. } => {
            assert_eq!(
                (request_id, agency.as_str(), category.as_str(), *households_offered),
                (&rid, "13th Precinct", "burglary", 2)
            );
            assert_eq!((*window_from_ms, *expires_ms), (now - 5 * HOUR, now + 7 * DAY));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(log[1].time_ms, now);
    let text = s.state.db.log_entries(1, 2).await.unwrap()[0].body.clone();
    for private in ["24-0001", "Alvarez", "break-in", &near_in.household, &near_out.household] {
        assert!(!text.contains(private), "the log entry holds {private:?}: {text}");
    }

    // Delivery: both households of the touching cell get it from the server (their devices
    // check the exact point); the far one does not; only owners see requests.
    for h in [&mut near_in, &mut near_out] {
        let o = h.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", h.household), None).await;
        assert_eq!(o.as_array().unwrap().len(), 1, "{o}");
        assert_eq!(o[0]["id"], rid.as_str());
        assert_eq!(o[0]["agency_public_keys"].as_str().unwrap(), crypto::keys::hex(&agency_keys.public().encode()));
        assert_eq!(o[0]["agency_log_index"], 0);
        // What happened, where, when and who asks; never the case number or the
        // investigator's name and number.
        assert!(o[0]["description"].as_str().unwrap().contains("break-in"), "{o}");
        assert_eq!(o[0]["agency_phone"], "+1 212-555-0100");
        let text = o.to_string();
        for private in ["24-0001", "Alvarez", "case_number", "investigator"] {
            assert!(!text.contains(private), "a household is shown {private:?}: {text}");
        }
    }
    let area = community::area::Area::circle(LAT, LON, 300.0).unwrap();
    assert!(area.contains(inside) && !area.contains(outside), "the devices' exact test tells them apart");
    let o = far.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", far.household), None).await;
    assert!(o.as_array().unwrap().is_empty());
    let (st, _) =
        agency.call(Method::GET, &format!("/api/households/{}/footage-requests", near_in.household), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    respond_and_read(s, &mut agency, &agency_keys, &mut operator, &mut near_in, &mut far, &rid, now).await;

    // Two requests per case number; then the rate limits.
    agency.ok(Method::POST, "/api/agency/requests", Some(request("24-0001", now))).await;
    let (st, v) = agency.call(Method::POST, "/api/agency/requests", Some(request("24-0001", now))).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("case_number:"), "{v}");
    for i in 0..3 {
        agency.ok(Method::POST, "/api/agency/requests", Some(request(&format!("24-01{i}"), now))).await;
    }
    let (st, v) = agency.call(Method::POST, "/api/agency/requests", Some(request("24-0200", now))).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "five an hour: {v}");
    assert!(v["message"].as_str().unwrap().starts_with("requests:"), "{v}");
    s.advance(HOUR);
    // The far household moves into the area's cell: offered to three now; and back out.
    set_home(&mut far.owner, &far.household, inside).await;
    // The requests made before it moved in stay the old residents': a home that moves into
    // an area does not see them, so moving around cannot read other areas' requests.
    let o = far.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", far.household), None).await;
    assert!(o.as_array().unwrap().is_empty(), "requests made before the move: {o}");
    let r3 = agency.ok(Method::POST, "/api/agency/requests", Some(request("24-0200", s.now()))).await;
    assert_eq!(r3["households_offered"], 3, "{r3}");
    let o = far.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", far.household), None).await;
    assert_eq!(o.as_array().unwrap().len(), 1, "{o}");
    assert_eq!(o[0]["id"], r3["id"]);
    set_home(&mut far.owner, &far.household, centre.offset(5_000.0, 0.0).unwrap()).await;
    set_home(&mut far.owner, &far.household, centre.offset(5_000.0, 0.0).unwrap()).await;
    let cell = u64::from(community::home_cell(inside)) as i64;
    assert_eq!(s.state.db.households_in_cells(&[cell]).await.unwrap(), 2, "moving out and saving twice counts once");
    // Moving out, the household still has the request it was offered while inside.
    let o = far.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", far.household), None).await;
    assert_eq!(o.as_array().unwrap().len(), 1, "{o}");
    // Two moves in 30 days (the first setting is not one); a third is refused and changes
    // nothing.
    let before = s.snapshot().await;
    let (st, v) = far
        .owner
        .call(
            Method::PUT,
            &format!("/api/households/{}/home", far.household),
            Some(json!({"home_cell": community::home_cell(inside).to_string(), "sealed_point": "00".repeat(32)})),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("home_cell:"), "{v}");
    assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "a refused move changed something");
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("porchlight_home_moves_total 2\n"), "{metrics}");
    assert!(metrics.contains("porchlight_home_moves_refused_total 1\n"), "{metrics}");
    assert_eq!(agency.ok(Method::GET, "/api/agency/requests", None).await.as_array().unwrap().len(), 6);

    // Expiry: logged once, and the request leaves the households' lists.
    let size = s.state.db.log_size().await.unwrap();
    // The first five expire now; the sixth, made an hour later, not yet.
    s.advance(7 * DAY - HOUR / 2);
    let o =
        near_in.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", near_in.household), None).await;
    assert_eq!(o.as_array().unwrap().len(), 1, "only the sixth is still offered: {o}");
    assert_eq!(o[0]["id"], r3["id"]);
    let log = entries(s).await;
    let expired: Vec<&Record> = log.iter().filter(|r| matches!(r.entry, Entry::RequestExpired { .. })).collect();
    assert_eq!(expired.len(), 5, "the five requests made at the start expired");
    assert_eq!(log.len() as i64, size + 5);
    let mine = agency.ok(Method::GET, "/api/agency/requests", None).await;
    assert_eq!(mine.as_array().unwrap().iter().filter(|r| r["expired"] == true).count(), 5);
    assert_eq!(entries(s).await.len(), log.len(), "listing again logs nothing twice");

    // Official alerts: checked, shown to the feeds whose home cell the circle reaches.
    let now = s.now();
    for (body, field) in [
        (json!({"body": "short", "lat": LAT, "lon": LON, "radius_m": 800.0, "expires_ms": now + DAY}), "body"),
        (
            json!({"body": "Burglaries on the block; lock ground floor windows.", "lat": 95.0, "lon": LON, "radius_m": 800.0, "expires_ms": now + DAY}),
            "lat",
        ),
        (
            json!({"body": "Burglaries on the block; lock ground floor windows.", "lat": LAT, "lon": LON, "radius_m": 50.0, "expires_ms": now + DAY}),
            "radius_m",
        ),
        (
            json!({"body": "Burglaries on the block; lock ground floor windows.", "lat": LAT, "lon": LON, "radius_m": 800.0, "expires_ms": now + 8 * DAY}),
            "expires_ms",
        ),
    ] {
        let (st, v) = agency.call(Method::POST, "/api/agency/alerts", Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{field}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(field), "{field}: {v}");
    }
    let alert = json!({"body": "Burglaries on the block this week; lock ground floor windows.", "lat": LAT, "lon": LON, "radius_m": 800.0, "expires_ms": now + DAY});
    let a = agency.ok(Method::POST, "/api/agency/alerts", Some(alert.clone())).await;
    assert_eq!(a["agency"], "13th Precinct");
    for h in [&mut near_in, &mut near_out] {
        let got = h.owner.ok(Method::GET, &format!("/api/households/{}/alerts", h.household), None).await;
        assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
        assert_eq!(got[0]["body"], alert["body"]);
    }
    let got = far.owner.ok(Method::GET, &format!("/api/households/{}/alerts", far.household), None).await;
    assert!(got.as_array().unwrap().is_empty(), "5 km away: {got}");
    for _ in 1..10 {
        agency.ok(Method::POST, "/api/agency/alerts", Some(alert.clone())).await;
    }
    assert_eq!(
        agency.call(Method::POST, "/api/agency/alerts", Some(alert.clone())).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(agency.ok(Method::GET, "/api/agency/alerts", None).await.as_array().unwrap().len(), 10);
    assert_eq!(near_in.owner.call(Method::POST, "/api/agency/alerts", Some(alert)).await.0, StatusCode::FORBIDDEN);
    s.advance(DAY);
    let got = near_in.owner.ok(Method::GET, &format!("/api/households/{}/alerts", near_in.household), None).await;
    assert!(got.as_array().unwrap().is_empty(), "expired: {got}");

    // Times at the ends of the range are refused, not overflowed (found by schemathesis).
    let (st, v) = near_in
        .owner
        .call(
            Method::POST,
            &format!("/api/households/{}/clips/prepare", near_in.household),
            Some(json!({"request": "00", "prepare": {"start_ms": i64::MIN + 1, "end_ms": 301_894, "seal": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("prepare.end_ms: a posted clip is at most"), "{v}");

    // Legal demands: the operator records them; nobody else can.
    let demand = json!({"authority": "Supreme Court of New York", "reference": "SW-2026-114", "demanded": "all footage of 5th Ave", "produced": "ciphertext and object metadata only; the server cannot decrypt footage"});
    let (st, _) = agency.call(Method::POST, "/api/operator/legal-demands", Some(demand.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let v = operator.ok(Method::POST, "/api/operator/legal-demands", Some(demand)).await;
    let last = entries(s).await.pop().unwrap();
    assert_eq!(v["log_index"].as_i64().unwrap(), s.state.db.log_size().await.unwrap() - 1);
    assert!(matches!(last.entry, Entry::LegalDemand { ref reference, .. } if reference == "SW-2026-114"));

    // Rejecting: a reason, once; a rejected agency cannot ask.
    let mut b = s.user("fake@example.org").await;
    let bk = Keyring::generate("fake", s.now()).unwrap();
    b.set_keys(&bk).await.unwrap();
    let app = b.ok(Method::POST, "/api/agencies", Some(json!({"name": "Fake PD", "jurisdiction": "Nowhere", "website": "https://fake.example", "phone": "+1 555 0100"}))).await;
    let all = operator.ok(Method::GET, "/api/operator/agencies", None).await;
    assert_eq!(all[0]["status"], "applied", "applications first: {all}");
    let path = format!("/api/operator/agencies/{}/reject", app["id"].as_str().unwrap());
    let v = operator
        .ok(Method::POST, &path, Some(json!({"reason": "the number on its website is not a police switchboard"})))
        .await;
    assert_eq!(v["status"], "rejected");
    assert_eq!(operator.call(Method::POST, &path, Some(json!({"reason": "again"}))).await.0, StatusCode::CONFLICT);
    assert_eq!(
        b.call(Method::POST, "/api/agency/requests", Some(request("1", s.now()))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(Client::anonymous(s).ok(Method::GET, "/api/agencies", None).await.as_array().unwrap().len(), 1);
}

async fn download(c: &Client, object_id: &str) -> (StatusCode, Vec<u8>) {
    let r = c.request(Method::GET, &format!("/api/objects/{object_id}")).send().await.unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

/// The owner answers with a grant for the agency's logged key; every wrong grant is
/// refused; the agency reads exactly what was granted, and nothing else; each download is
/// in the chain of custody and the owner's access log; the export's proofs verify.
#[allow(clippy::too_many_arguments)]
async fn respond_and_read(
    s: &Server,
    agency: &mut Client,
    agency_keys: &Keyring,
    operator: &mut Client,
    near: &mut Home,
    far: &mut Home,
    rid: &str,
    now: i64,
) {
    use crypto::grant::Grant;
    use crypto::object::Header;
    let hid = near.household.clone();
    let inside = event(near, "porch", now - 4 * HOUR, now - 4 * HOUR + 20_000).await;
    let before = event(near, "porch", now - 6 * HOUR, now - 6 * HOUR + 20_000).await;
    let theirs = event(far, "gate", now - 4 * HOUR, now - 4 * HOUR + 20_000).await;
    let clip = inside.clip_object.as_deref().unwrap().to_owned();
    let (st, sealed) = download(&near.owner, &clip).await;
    assert_eq!(st, StatusCode::OK);
    let header = Header::parse(&sealed).unwrap();
    let purpose = format!("footage request {rid}");
    let agency_enc = agency_keys.public().encryption;
    let grant = |h: &Header, to: &crypto::keys::EncryptionPublic, purpose: &str, by: &Keyring| {
        crypto::keys::hex(&Grant::create(by, h, to, purpose, now).unwrap().encode())
    };
    let good = grant(&header, &agency_enc, &purpose, &near.owner_keys);
    let path = format!("/api/households/{hid}/footage-requests/{rid}/responses");
    let (_, before_sealed) = download(&near.owner, before.clip_object.as_deref().unwrap()).await;
    let before_grant = grant(&Header::parse(&before_sealed).unwrap(), &agency_enc, &purpose, &near.owner_keys);
    let stranger = Keyring::generate("stranger", now).unwrap();
    // Can open the clip (it holds the owner's encryption key) but is not the owner.
    let impostor = Keyring {
        label: "impostor".into(),
        created_ms: now,
        identity: crypto::keys::IdentitySecret::generate(),
        encryption: crypto::keys::EncryptionSecret::from_bytes(&near.owner_keys.encryption.to_bytes()).unwrap(),
        previous: Vec::new(),
    };
    let size = s.state.db.log_size().await.unwrap();
    for (body, want) in [
        (json!({"clips": []}), "clips: expected 1 to 20"),
        (
            json!({"clips": [{"object_id": clip, "grant": grant(&header, &agency_enc, "something else", &near.owner_keys)}]}),
            "clips[0].grant: its purpose",
        ),
        (
            json!({"clips": [{"object_id": clip, "grant": grant(&header, &stranger.public().encryption, &purpose, &near.owner_keys)}]}),
            "clips[0].grant: it is not for the agency",
        ),
        (
            json!({"clips": [{"object_id": clip, "grant": grant(&header, &agency_enc, &purpose, &impostor)}]}),
            "clips[0].grant: it is not signed by your",
        ),
        (json!({"clips": [{"object_id": clip, "grant": "00ff"}]}), "clips[0].grant:"),
        (
            json!({"clips": [{"object_id": before.clip_object, "grant": before_grant}]}),
            "clips[0].object_id: the clip is outside",
        ),
        (json!({"clips": [{"object_id": theirs.clip_object, "grant": good}]}), "clips[0].object_id: no clip"),
        (json!({"clips": [{"object_id": inside.meta_object, "grant": good}]}), "clips[0].object_id:"),
        (
            json!({"clips": [{"object_id": clip, "grant": good}, {"object_id": clip, "grant": good}]}),
            "clips[1].object_id:",
        ),
        (json!({"clips": [{"object_id": clip, "grant": good}], "contact": "\u{7}"}), "contact"),
    ] {
        let (st, v) = near.owner.call(Method::POST, &path, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{want}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(want), "{want}: {v}");
    }
    assert_eq!(s.state.db.log_size().await.unwrap(), size, "nothing refused was logged");
    // The far household is not offered the request.
    let far_path = format!("/api/households/{}/footage-requests/{rid}/responses", far.household);
    let (st, _) =
        far.owner.call(Method::POST, &far_path, Some(json!({"clips": [{"object_id": clip, "grant": good}]}))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Before any grant, the agency cannot read the clip.
    assert_eq!(download(agency, &clip).await.0, StatusCode::FORBIDDEN);

    let r = near.owner.ok(Method::POST, &path, Some(json!({"clips": [{"object_id": clip, "grant": good}]}))).await;
    assert_eq!(r["resident"], 1);
    let rec = Record::parse(&s.state.db.log_entries(size, size + 1).await.unwrap()[0].body).unwrap();
    assert_eq!(
        rec.entry,
        Entry::GrantMade { request_id: rid.to_owned(), agency_id: rec_agency(&rec), clips: 1, duration_ms: 20_000 }
    );
    let text = &s.state.db.log_entries(size, size + 1).await.unwrap()[0].body;
    assert!(!text.contains(&hid) && !text.contains(&clip), "the log entry says who: {text}");

    // The agency sees Resident 1 and opens the clip with its own key.
    let resp = agency.ok(Method::GET, &format!("/api/agency/requests/{rid}/responses"), None).await;
    assert_eq!(resp[0]["resident"], 1);
    assert!(resp[0]["contact"].is_null());
    assert_eq!(resp[0]["clips"][0]["object_id"], clip.as_str());
    let (st, got) = download(agency, &clip).await;
    assert_eq!(st, StatusCode::OK);
    let g = Grant::parse(&crypto::keys::unhex(resp[0]["clips"][0]["grant"].as_str().unwrap()).unwrap()).unwrap();
    let (h, plain) = g.open(agency_keys, &got).unwrap();
    assert_eq!(plain, vec![7u8; 300_000]);
    assert_eq!(h.meta.camera, "porch");
    // Nothing else of the household's: not the clip before the window, not the snapshot.
    assert_eq!(download(agency, before.clip_object.as_deref().unwrap()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(download(agency, inside.snapshot_object.as_deref().unwrap()).await.0, StatusCode::FORBIDDEN);
    // The operator has no path to footage either.
    assert_eq!(download(operator, &clip).await.0, StatusCode::FORBIDDEN);
    // The owner sees the agency's download in the access log.
    let log = near.owner.ok(Method::GET, &format!("/api/households/{hid}/access-log"), None).await;
    assert!(
        log.as_array().unwrap().iter().any(|l| l["object_id"] == clip.as_str() && l["email"] == "agency@example.org"),
        "{log}"
    );

    // A second answer, with a contact: Resident 2.
    let (_, s2) = download(&near.owner, theirs.clip_object.as_deref().unwrap()).await;
    assert!(s2.len() < 200, "another household's clip is not the owner's to download");
    let second = event(near, "drive", now - 4 * HOUR, now - 4 * HOUR + 5_000).await;
    let c2 = second.clip_object.as_deref().unwrap().to_owned();
    let (_, sealed2) = download(&near.owner, &c2).await;
    let g2 = grant(&Header::parse(&sealed2).unwrap(), &agency_enc, &purpose, &near.owner_keys);
    let r = near
        .owner
        .ok(
            Method::POST,
            &path,
            Some(json!({"clips": [{"object_id": c2, "grant": g2}], "contact": "flat 2, ring any time"})),
        )
        .await;
    assert_eq!(r["resident"], 2);

    // The export: recorded in the custody, and its proofs verify against its signed head.
    let e = agency.ok(Method::POST, &format!("/api/agency/requests/{rid}/exports"), None).await;
    let actions: Vec<&str> = e["custody"].as_array().unwrap().iter().map(|c| c["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["download", "export"]);
    let head = crypto::tlog::SignedTreeHead::parse(&crypto::keys::unhex(e["head"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(head.log_key, s.state.settings.log_key.0.public());
    let mut proved = vec![&e["request_entry"], &e["agency_entry"]];
    proved.extend(e["grant_entries"].as_array().unwrap().iter());
    assert_eq!(proved.len(), 4);
    for p in proved {
        let leaf = crypto::tlog::leaf_hash(p["body"].as_str().unwrap().as_bytes());
        let proof: Vec<crypto::tlog::Hash> = p["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| crypto::keys::unhex(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect();
        crypto::tlog::verify_inclusion(&leaf, p["index"].as_u64().unwrap(), head.head.size, &proof, &head.head.root)
            .unwrap();
    }
    assert_eq!(e["responses"][1]["contact"], "flat 2, ring any time");

    // A clip sealed without an event (as the agent seals a redacted answer) outlives the
    // sweep of objects no event names once it is granted; one never shared does not.
    use crypto::object::Kind;
    let t = now - 4 * HOUR;
    let shared = upload(near, Kind::Clip, "porch", t, t + 8_000, &[9u8; 50_000], 1 << 20).await;
    let unshared = upload(near, Kind::Clip, "porch", t, t + 8_000, &[8u8; 50_000], 1 << 20).await;
    let (_, sealed3) = download(&near.owner, &shared).await;
    let g3 = grant(&Header::parse(&sealed3).unwrap(), &agency_enc, &purpose, &near.owner_keys);
    let r = near.owner.ok(Method::POST, &path, Some(json!({"clips": [{"object_id": shared, "grant": g3}]}))).await;
    assert_eq!(r["resident"], 3);
    blob::retention_pass(&s.state.db, s.now() + 2 * DAY).await.unwrap();
    assert_eq!(download(agency, &shared).await.0, StatusCode::OK, "a granted clip was swept");
    assert!(s.state.db.object(&unshared).await.unwrap().is_none(), "an unshared sealed clip stays");
}

fn rec_agency(r: &Record) -> String {
    match &r.entry {
        Entry::GrantMade { agency_id, .. } => agency_id.clone(),
        e => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_and_requests_on_sqlite() {
    suite(&Server::start_local().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_and_requests_on_postgresql() {
    let Some(pg) = testkit::Postgres::start() else { return };
    let url = pg.fresh_database("agencies");
    let s = Server::start(&url, &blob::Location::Local(tempfile::tempdir().unwrap().keep()), None).await;
    suite(&s).await;
}

/// Someone uploads a verified agency's public bundle to become "the same" agency: without
/// the private key there is no proof of possession; a proof made for the agency's account
/// does not move to another; and even a holder of the private key cannot bind it to a
/// second account. Each refusal changes nothing.
async fn impostors_cannot_take_an_agencys_keys(s: &Server, agency_account: &str, agency_keys: &Keyring) {
    let mut impostor = s.user("impostor@example.org").await;
    let public = crypto::keys::hex(&agency_keys.public().encode());
    let own = Keyring::generate("impostor", s.now()).unwrap();
    let challenge =
        |c: &Value| -> [u8; 32] { crypto::keys::unhex(c["challenge"].as_str().unwrap()).unwrap().try_into().unwrap() };
    let c = impostor.ok(Method::GET, "/api/me/keys/challenge", None).await;
    // The agency's account's challenge, as if a proof for it had been captured.
    let theirs = crypto::keys::possession_challenge(agency_account, Some(&agency_keys.public().encode()));
    let attempts = [
        ("no proof", json!({"public_keys": public}), StatusCode::BAD_REQUEST, "body"),
        (
            "signed by the impostor's own key",
            json!({"public_keys": public, "proof": crypto::keys::hex(&crypto::keys::prove_possession(&own.identity, &challenge(&c)))}),
            StatusCode::BAD_REQUEST,
            "proof:",
        ),
        (
            "a proof made for the agency's account",
            json!({"public_keys": public, "proof": crypto::keys::hex(&crypto::keys::prove_possession(&agency_keys.identity, &theirs))}),
            StatusCode::BAD_REQUEST,
            "proof:",
        ),
        (
            "with the private key, from a second account",
            json!({"public_keys": public, "proof": crypto::keys::hex(&crypto::keys::prove_possession(&agency_keys.identity, &challenge(&c)))}),
            StatusCode::CONFLICT,
            "public_keys:",
        ),
    ];
    for (what, body, want, field) in attempts {
        let before = s.snapshot().await;
        let (st, v) = impostor.call(Method::PUT, "/api/me/keys", Some(body)).await;
        assert_eq!(st, want, "{what}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(field), "{what}: {v}");
        assert_eq!(
            before.changes(&s.snapshot().await),
            Vec::<String>::new(),
            "{what}: a refused upload changed something"
        );
    }
    let session = impostor.ok(Method::GET, "/api/session", None).await;
    assert_eq!(session["has_keys"], false);
}
