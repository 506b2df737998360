//! Camera status: agents report what each camera is doing; members see it with whether
//! the report is recent; bad reports change nothing and name the field; other households
//! and revoked agents' reports are not shown.

mod common;

use porchlight_api as api;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_report_cameras_and_members_see_them() {
    let s = Server::start_local().await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    let mut other = common::home(&s, "other@example.org").await;
    let path = format!("/api/households/{hid}/cameras");
    assert_eq!(home.owner.ok(Method::GET, &path, None).await, json!([]));

    let since = s.now() - 60_000;
    let report = json!({"cameras": [
        {"camera": "porch", "state": "streaming", "since_ms": since},
        {"camera": "yard", "state": "retrying", "since_ms": since + 1},
    ]});
    home.device.ok(Method::PUT, "/api/device/status", Some(report.clone())).await;
    other
        .device
        .ok(
            Method::PUT,
            "/api/device/status",
            Some(json!({"cameras": [{"camera": "theirs", "state": "streaming", "since_ms": since}]})),
        )
        .await;
    let got = home.owner.ok(Method::GET, &path, None).await;
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0]["camera"].as_str(), got[0]["state"].as_str()), (Some("porch"), Some("streaming")));
    assert_eq!(got[0]["since_ms"], since);
    assert_eq!(got[0]["device_id"], home.device_id.as_str());
    assert_eq!(got[0]["online"], true);
    assert_eq!(got[1]["state"], "retrying");

    // Bad reports: 400 naming the field, and the last good report stays.
    for (body, field) in [
        (json!({"cameras": [{"camera": "porch", "state": "dancing", "since_ms": since}]}), "cameras[0].state"),
        (json!({"cameras": [{"camera": "", "state": "streaming", "since_ms": since}]}), "cameras[0].camera"),
        (json!({"cameras": [{"camera": "porch", "state": "streaming", "since_ms": -1}]}), "cameras[0].since_ms"),
        (json!({"cameras": [{"camera": "porch", "state": "streaming"}]}), "since_ms"),
        (
            json!({"cameras": (0..65).map(|i| json!({"camera": format!("c{i}"), "state": "streaming", "since_ms": 0})).collect::<Vec<_>>()}),
            "cameras",
        ),
    ] {
        let (st, e) = home.device.call(Method::PUT, "/api/device/status", Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(field), "{field}: {e}");
    }
    assert_eq!(home.owner.ok(Method::GET, &path, None).await.as_array().unwrap().len(), 2);

    // Silence for more than three reporting intervals: offline, with the last report's time.
    s.advance(3 * api::STATUS_EVERY_MS + 1);
    let got = home.owner.ok(Method::GET, &path, None).await;
    assert_eq!(got[0]["online"], false);
    assert_eq!(got[0]["reported_ms"], s.now() - 3 * api::STATUS_EVERY_MS - 1);

    // A revoked agent's report is not shown.
    home.owner.ok(Method::DELETE, &format!("/api/households/{hid}/devices/{}", home.device_id), None).await;
    assert_eq!(home.owner.ok(Method::GET, &path, None).await, json!([]));
}
