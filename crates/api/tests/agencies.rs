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
    let cell = community::home_cell(p);
    c.ok(
        Method::PUT,
        &format!("/api/households/{hid}/home"),
        Some(json!({"home_cell": cell.to_string(), "sealed_point": "00".repeat(32)})),
    )
    .await;
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
    a.ok(Method::PUT, "/api/me/keys", Some(json!({"public_keys": crypto::keys::hex(&keys.public().encode())}))).await;
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
    plain.ok(Method::PUT, "/api/me/keys", Some(json!({"public_keys": crypto::keys::hex(&k.public().encode())}))).await;
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
    // Its keys are public; changing the account's keys later changes nothing logged.
    let list = Client::anonymous(s).ok(Method::GET, "/api/agencies", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let other = Keyring::generate("swap", s.now()).unwrap();
    agency
        .ok(Method::PUT, "/api/me/keys", Some(json!({"public_keys": crypto::keys::hex(&other.public().encode())})))
        .await;
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
        (with("area", json!({"shape": "square", "lat": LAT})), "body"),
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
        (with("surprise", json!(1)), "body"),
    ];
    for (body, field) in cases {
        let (st, v) = agency.call(Method::POST, "/api/agency/requests", Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{field}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(field), "{field}: {v}");
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
        assert_eq!(o[0]["case_number"], "24-0001");
    }
    let area = community::area::Area::circle(LAT, LON, 300.0).unwrap();
    assert!(area.contains(inside) && !area.contains(outside), "the devices' exact test tells them apart");
    let o = far.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", far.household), None).await;
    assert!(o.as_array().unwrap().is_empty());
    let (st, _) =
        agency.call(Method::GET, &format!("/api/households/{}/footage-requests", near_in.household), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

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
    agency.ok(Method::POST, "/api/agency/requests", Some(request("24-0200", s.now()))).await;
    assert_eq!(agency.ok(Method::GET, "/api/agency/requests", None).await.as_array().unwrap().len(), 6);

    // Expiry: logged once, and the request leaves the households' lists.
    let size = s.state.db.log_size().await.unwrap();
    // The first five expire now; the sixth, made an hour later, not yet.
    s.advance(7 * DAY - HOUR / 2);
    let o =
        near_in.owner.ok(Method::GET, &format!("/api/households/{}/footage-requests", near_in.household), None).await;
    assert_eq!(o.as_array().unwrap().len(), 1, "only the sixth is still offered: {o}");
    assert_eq!(o[0]["case_number"], "24-0200");
    let log = entries(s).await;
    let expired: Vec<&Record> = log.iter().filter(|r| matches!(r.entry, Entry::RequestExpired { .. })).collect();
    assert_eq!(expired.len(), 5, "the five requests made at the start expired");
    assert_eq!(log.len() as i64, size + 5);
    let mine = agency.ok(Method::GET, "/api/agency/requests", None).await;
    assert_eq!(mine.as_array().unwrap().iter().filter(|r| r["expired"] == true).count(), 5);
    assert_eq!(entries(s).await.len(), log.len(), "listing again logs nothing twice");

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
    b.ok(Method::PUT, "/api/me/keys", Some(json!({"public_keys": crypto::keys::hex(&bk.public().encode())}))).await;
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
