//! The operator dashboard in headless Chromium (Debian's `chromium`, installed by `make test`),
//! driven over the DevTools protocol with the WebSocket client the live-events tests use: the
//! browser opens `/dashboard` (the login form), logs in through the form with an operator token,
//! follows the redirect to the page, and the test checks what the page shows, that no script
//! from a stored label runs and the session cookie is out of scripts' reach (HttpOnly), then
//! saves screenshots under `target/screenshots/` and prints the page's load time.
//!
//! Without Chromium the test is skipped with a message, unless `CI` is set: then it fails.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

use crate::dashboard::{operator_token, seed, APPROVAL, BROKEN_TOOL, OWNER};
use crate::support::serving_stack;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The workspace root (screenshots go to its `target/`).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The browser: `SWITCHYARD_CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("SWITCHYARD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

/// Headless Chromium with a fresh profile and the DevTools endpoint on an ephemeral port;
/// killed on drop.
struct Browser {
    _child: tokio::process::Child,
    _profile: TempDir,
    devtools: String,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    async fn start(binary: &PathBuf) -> Self {
        let profile = std::env::temp_dir().join(format!(
            "switchyard-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1280,1400",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let devtools = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read chromium's stderr") {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("chromium exited before its DevTools endpoint was up");
        })
        .await
        .expect("chromium's DevTools endpoint within 30 s");
        // Keep draining stderr so chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            _profile: TempDir(profile),
            devtools,
        }
    }
}

/// A DevTools protocol session on one page (flat sessions over the browser's socket).
struct Page {
    socket: Socket,
    session: String,
    next_id: u64,
    events: Vec<Value>,
}

impl Page {
    async fn open(browser: &Browser) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(browser.devtools.as_str())
            .await
            .expect("connect to DevTools");
        let mut page = Self {
            socket,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
        };
        let target = page
            .browser_call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = page
            .browser_call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        page.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        page.call("Page.enable", json!({})).await;
        page
    }

    async fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send to DevTools");
        loop {
            let incoming = self.read().await;
            if incoming["id"] == json!(id) {
                if let Some(error) = incoming.get("error") {
                    panic!("{method} failed: {error}");
                }
                return incoming["result"].clone();
            }
            self.events.push(incoming);
        }
    }

    async fn read(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("DevTools answered within 30 s")
                .expect("DevTools socket open")
                .expect("DevTools message");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("DevTools JSON");
            }
        }
    }

    async fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None).await
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session)).await
    }

    /// Waits for this page's `Page.loadEventFired`.
    async fn loaded(&mut self) {
        let session = json!(self.session);
        let matches = |e: &Value| e["method"] == "Page.loadEventFired" && e["sessionId"] == session;
        if let Some(i) = self.events.iter().position(matches) {
            self.events.remove(i);
            return;
        }
        loop {
            let event = self.read().await;
            if matches(&event) {
                return;
            }
        }
    }

    async fn navigate(&mut self, url: &str) {
        self.events.clear();
        self.call("Page.navigate", json!({"url": url})).await;
        self.loaded().await;
    }

    /// The value of a JavaScript expression in the page.
    async fn eval(&mut self, expression: &str) -> Value {
        let out = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        assert!(out.get("exceptionDetails").is_none(), "{expression}: {out}");
        out["result"]["value"].clone()
    }

    async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = root().join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("target/screenshots");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

#[tokio::test]
async fn chromium_logs_in_and_sees_the_seeded_stack() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is missing: `make test` installs Debian's chromium"
        );
        eprintln!("SKIPPED: chromium is not installed (`make test` installs it)");
        return;
    };
    let (stack, base) = serving_stack().await;
    seed(&stack).await;
    let token = operator_token(&stack).await;
    let browser = Browser::start(&binary).await;
    let mut page = Page::open(&browser).await;

    // Without a session: the login form.
    page.navigate(&format!("{base}/dashboard")).await;
    let form = page
        .eval("!!document.querySelector('form[action=\"/dashboard/login\"] input[name=token]')")
        .await;
    assert_eq!(form, json!(true), "the login form");
    let login_shot = page.screenshot("dashboard-login.png").await;

    // Log in through the form: POST, 303, GET /dashboard with the session cookie.
    page.events.clear();
    let submit = format!(
        "document.getElementById('token').value = {}; document.querySelector('form').submit(); true",
        json!(token)
    );
    page.eval(&submit).await;
    page.loaded().await;
    assert_eq!(page.eval("location.pathname").await, json!("/dashboard"));
    let text = page.eval("document.body.innerText").await;
    let text = text.as_str().expect("page text");
    for expected in [
        "Instances",
        "<script>alert('x')</script> Acme support",
        OWNER,
        "gmail:INBOX",
        "Dead-letter queues",
        BROKEN_TOOL,
        "provider 503",
        APPROVAL,
        "$0.0123",
        "provider_error",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not on the page:\n{text}"
        );
    }
    // The label was shown as text: no element came from it, and no script runs on the page.
    assert_eq!(page.eval("document.scripts.length").await, json!(0));
    // The session cookie is HttpOnly: the browser sends it, scripts cannot read it.
    assert_eq!(page.eval("document.cookie").await, json!(""));
    assert_eq!(
        page.eval("document.querySelectorAll('section').length")
            .await,
        json!(8)
    );

    // Load time of the page itself, on a reload with the session (reported, not asserted).
    page.navigate(&format!("{base}/dashboard")).await;
    let timing = page
        .eval("(() => { const n = performance.getEntriesByType('navigation')[0]; return [n.responseStart - n.requestStart, n.loadEventEnd - n.startTime]; })()")
        .await;
    let shot = page.screenshot("dashboard.png").await;
    eprintln!(
        "dashboard load on the local stack: server {:.0} ms, page loaded {:.0} ms (target < 200 ms); screenshots {} and {}",
        timing[0].as_f64().unwrap_or_default(),
        timing[1].as_f64().unwrap_or_default(),
        shot.display(),
        login_shot.display()
    );
    assert_eq!(page.eval("location.pathname").await, json!("/dashboard"));
}
