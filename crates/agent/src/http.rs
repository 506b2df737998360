//! The agent's HTTP endpoint for doorbell buttons and sensors on the home network, for
//! devices that speak HTTP rather than MQTT (a Shelly button, an ESPHome sensor, `curl`).
//!
//! ```text
//! GET  /api/v1/health                                   200 {"ok": true}
//! POST /api/v1/cameras/<camera>/doorbell                202: a press
//! POST /api/v1/cameras/<camera>/sensors/<name>?state=on 202: a sensor on (or off)
//! ```
//!
//! With a token configured, every request but the health check needs
//! `Authorization: Bearer <token>`. It is deliberately tiny: one request per connection, a
//! head of at most 8 KiB, bodies ignored (at most 64 KiB), five seconds to send it. Every
//! client mistake is a 4xx with a JSON `error` naming what was wrong; nothing a client sends
//! can make it panic or stop.

use std::collections::HashMap;
use std::time::Duration;

use base::shutdown::Receiver;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Sender;

use crate::inputs::Input;

const HEAD_MAX: usize = 8 << 10;
const BODY_MAX: usize = 64 << 10;

#[derive(Clone, Debug)]
pub struct HttpSpec {
    pub token: Option<String>,
    /// Camera name → has a doorbell.
    pub cameras: HashMap<String, bool>,
}

/// Connections handled at once; more are closed at once (a button presses, it does not
/// flood).
const CONNECTIONS_MAX: usize = 32;

/// Serves until shutdown.
pub async fn serve(spec: HttpSpec, listener: TcpListener, inputs: Sender<Input>, mut shutdown: Receiver) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.wait() => break,
        };
        match conn {
            Ok((stream, _)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    drop(stream);
                    continue;
                };
                let (spec, inputs) = (spec.clone(), inputs.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), handle(stream, &spec, &inputs)).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!("HTTP accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, spec: &HttpSpec, inputs: &Sender<Input>) {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > HEAD_MAX {
            return reply(&mut stream, 431, json!({"error": "request head larger than 8 KiB"})).await;
        }
        let mut chunk = [0u8; 2048];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let (status, body) = match route(&buf[..head_end], spec) {
        Ok((input, body)) => {
            if let Some(i) = input
                && inputs.try_send(i).is_err()
            {
                tracing::warn!("input dropped: the queue is full or closed");
            }
            (if body.get("ok").is_some() { 200 } else { 202 }, body)
        }
        Err((status, msg)) => (status, json!({ "error": msg })),
    };
    // Drain a (small) body so the client sees our answer rather than a reset.
    let want = content_length(&buf[..head_end]).unwrap_or(0).min(BODY_MAX);
    let mut have = buf.len() - head_end;
    let mut chunk = [0u8; 2048];
    while have < want {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => have += n,
        }
    }
    reply(&mut stream, status, body).await;
}

fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
    })
}

type Routed = Result<(Option<Input>, serde_json::Value), (u16, String)>;

/// Parses a request head and decides; pure, so it is tested directly.
pub fn route(head: &[u8], spec: &HttpSpec) -> Routed {
    let text = std::str::from_utf8(head).map_err(|_| (400, "request head is not UTF-8".to_owned()))?;
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err((400, format!("malformed request line {request:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err((505, format!("HTTP version {version:?} not supported; use HTTP/1.1")));
    }
    let mut auth = None;
    for l in lines.filter(|l| !l.is_empty()) {
        let Some((k, v)) = l.split_once(':') else {
            return Err((400, format!("malformed header line {l:?}")));
        };
        if k.trim().eq_ignore_ascii_case("authorization") {
            auth = Some(v.trim().to_owned());
        }
        if k.trim().eq_ignore_ascii_case("content-length") && v.trim().parse::<usize>().is_ok_and(|n| n > BODY_MAX) {
            return Err((413, "request body larger than 64 KiB".into()));
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segs == ["api", "v1", "health"] {
        return if method == "GET" { Ok((None, json!({"ok": true}))) } else { Err((405, "use GET".into())) };
    }
    if let Some(token) = &spec.token {
        let given = auth.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return Err((401, "missing or wrong token: send Authorization: Bearer <token>".into()));
        }
    }
    let camera_of = |name: &str| -> Result<bool, (u16, String)> {
        spec.cameras.get(name).copied().ok_or_else(|| (404, format!("no camera {name:?}")))
    };
    match segs.as_slice() {
        ["api", "v1", "cameras", cam, "doorbell"] => {
            if method != "POST" {
                return Err((405, "use POST".into()));
            }
            if !camera_of(cam)? {
                return Err((404, format!("camera {cam:?} has no doorbell (set doorbell = true in its config)")));
            }
            Ok((Some(Input::Doorbell { camera: (*cam).into() }), json!({"accepted": "doorbell", "camera": cam})))
        }
        ["api", "v1", "cameras", cam, "sensors", name] => {
            if method != "POST" {
                return Err((405, "use POST".into()));
            }
            camera_of(cam)?;
            if !crate::mqtt::valid_name(name) {
                return Err((400, format!("sensor name {name:?}: expected 1–32 letters, digits, - or _")));
            }
            let state = query.split('&').find_map(|kv| kv.strip_prefix("state=")).unwrap_or("on");
            let on = match state {
                "on" => true,
                "off" => false,
                _ => return Err((400, format!("state {state:?}: expected on or off"))),
            };
            Ok((
                Some(Input::Sensor { camera: (*cam).into(), name: (*name).into(), on }),
                json!({"accepted": "sensor", "camera": cam, "sensor": name, "on": on}),
            ))
        }
        _ => Err((404, format!("no such endpoint: {method} {path}"))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn reply(stream: &mut TcpStream, status: u16, body: serde_json::Value) {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let body = body.to_string();
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(token: Option<&str>) -> HttpSpec {
        HttpSpec {
            token: token.map(str::to_owned),
            cameras: HashMap::from([("front".to_owned(), true), ("back".to_owned(), false)]),
        }
    }

    fn req(line: &str, headers: &str) -> Vec<u8> {
        format!("{line}\r\n{headers}\r\n").into_bytes()
    }

    #[test]
    fn routes() {
        let s = spec(None);
        let r = route(&req("POST /api/v1/cameras/front/doorbell HTTP/1.1", "Host: x\r\n"), &s).unwrap();
        assert_eq!(r.0, Some(Input::Doorbell { camera: "front".into() }));
        let r = route(&req("POST /api/v1/cameras/back/sensors/gate?state=off HTTP/1.1", ""), &s).unwrap();
        assert_eq!(r.0, Some(Input::Sensor { camera: "back".into(), name: "gate".into(), on: false }));
        assert_eq!(route(&req("GET /api/v1/health HTTP/1.1", ""), &s).unwrap().0, None);
        let code = |line: &str| route(&req(line, ""), &s).unwrap_err().0;
        assert_eq!(code("POST /api/v1/cameras/back/doorbell HTTP/1.1"), 404, "no doorbell");
        assert_eq!(code("POST /api/v1/cameras/side/doorbell HTTP/1.1"), 404, "no camera");
        assert_eq!(code("GET /api/v1/cameras/front/doorbell HTTP/1.1"), 405);
        assert_eq!(code("POST /api/v1/cameras/front/sensors/a%20b HTTP/1.1"), 400);
        assert_eq!(code("POST /api/v1/cameras/front/sensors/gate?state=maybe HTTP/1.1"), 400);
        assert_eq!(code("POST /nothing HTTP/1.1"), 404);
        assert_eq!(code("garbage"), 400);
        assert_eq!(code("POST / HTTP/2"), 505);
        assert_eq!(route(b"\xff\xfe\r\n\r\n", &s).unwrap_err().0, 400);
        let big = route(&req("POST /api/v1/cameras/front/doorbell HTTP/1.1", "Content-Length: 999999\r\n"), &s);
        assert_eq!(big.unwrap_err().0, 413);
    }

    #[test]
    fn token() {
        let s = spec(Some("sesame"));
        let line = "POST /api/v1/cameras/front/doorbell HTTP/1.1";
        assert_eq!(route(&req(line, ""), &s).unwrap_err().0, 401);
        assert_eq!(route(&req(line, "Authorization: Bearer nope\r\n"), &s).unwrap_err().0, 401);
        assert!(route(&req(line, "authorization: Bearer sesame\r\n"), &s).is_ok());
        assert!(route(&req("GET /api/v1/health HTTP/1.1", ""), &s).is_ok(), "health needs no token");
    }
}
