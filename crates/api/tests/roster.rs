//! The roster relay: the owner's device uploads a roster it signed; the server checks the
//! signer is the household's owner key, the household and a rising serial, and hands it to
//! the household's agents. Members' public keys reach the owner through the member list.

mod common;

use common::*;
use crypto::keys::{Keyring, hex};
use crypto::trust::{Member, Role, Roster};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn roster(signer: &Keyring, household: &str, serial: u64, members: &[&Keyring]) -> String {
    let hh: [u8; 16] = crypto::keys::unhex(household).unwrap().try_into().unwrap();
    let list = members
        .iter()
        .map(|k| Member { role: Role::Standard, from_ms: 0, until_ms: i64::MAX, keys: k.public() })
        .collect();
    hex(&Roster::create(signer, hh, serial, 1, list).unwrap().encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_signs_the_roster_and_agents_fetch_it() {
    let s = Server::start_local().await;
    let mut mine = home(&s, "owner@example.org").await;
    let hid = mine.household.clone();
    let mut other = common::home(&s, "other@example.org").await;
    let path = format!("/api/households/{hid}/roster");
    let (st, _) = mine.device.call(Method::GET, "/api/device/roster", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // A member's keys reach the owner through the member list.
    let mut member = s.user("member@example.org").await;
    let member_keys = Keyring::generate("member", s.now()).unwrap();
    member.set_keys(&member_keys).await.unwrap();
    let inv = mine
        .owner
        .ok(Method::POST, &format!("/api/households/{hid}/invitations"), Some(json!({"role": "standard"})))
        .await;
    member.ok(Method::POST, "/api/invitations/accept", Some(json!({"token": inv["token"]}))).await;
    let list = mine.owner.ok(Method::GET, &format!("/api/households/{hid}/members"), None).await;
    let listed = list.as_array().unwrap().iter().find(|m| m["email"] == "member@example.org").unwrap();
    assert_eq!(listed["public_keys"], hex(&member_keys.public().encode()));

    // Refused, naming the field, and nothing stored.
    let stranger = Keyring::generate("stranger", 0).unwrap();
    let good = roster(&mine.owner_keys, &hid, 1, &[&mine.owner_keys, &member_keys]);
    let mut flipped = crypto::keys::unhex(&good).unwrap();
    let n = flipped.len();
    flipped[n - 1] ^= 1;
    for (body, words) in [
        (json!({"roster": "zz"}), "roster"),
        (json!({"roster": hex(&flipped)}), "roster: not a signed roster"),
        (json!({"roster": roster(&stranger, &hid, 1, &[&stranger])}), "not by the owner's key"),
        (json!({"roster": roster(&mine.owner_keys, &other.household, 1, &[&mine.owner_keys])}), "names household"),
        (json!({"roster": roster(&mine.owner_keys, &hid, u64::MAX, &[&mine.owner_keys])}), "serial"),
    ] {
        let (st, e) = mine.owner.call(Method::PUT, &path, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
    }
    let (st, _) = mine.owner.call(Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Stored, then only a higher serial replaces it.
    let r = mine.owner.ok(Method::PUT, &path, Some(json!({"roster": good}))).await;
    assert_eq!(r["serial"], 1);
    let (st, e) = mine.owner.call(Method::PUT, &path, Some(json!({"roster": good}))).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().contains("not newer"), "{e}");
    let fetched = mine.device.ok(Method::GET, "/api/device/roster", None).await;
    assert_eq!((fetched["serial"].as_i64(), fetched["roster"].as_str()), (Some(1), Some(good.as_str())));
    let parsed = Roster::parse(&crypto::keys::unhex(fetched["roster"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(parsed.members.len(), 2);
    // An agent waiting with serial 1 is woken by serial 2 at once, not at the end of its
    // 25 s wait (a removed member would get new footage until then).
    let mut waiting = mine.device.clone();
    let waiter =
        tokio::spawn(async move { waiting.ok(Method::GET, "/api/device/wait?roster=1&wait_ms=25000", None).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let newer = roster(&mine.owner_keys, &hid, 2, &[&mine.owner_keys]);
    mine.owner.ok(Method::PUT, &path, Some(json!({"roster": newer}))).await;
    let woke = tokio::time::timeout(std::time::Duration::from_secs(15), waiter)
        .await
        .expect("the waiting agent was not woken by the new roster")
        .unwrap();
    assert_eq!(woke["roster"], 2);
    assert_eq!(mine.owner.ok(Method::GET, &path, None).await["serial"], 2);
    // Another household's agent gets its own household's roster (none).
    let (st, _) = other.device.call(Method::GET, "/api/device/roster", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
