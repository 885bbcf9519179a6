//! The page of examples/web in a real browser: headless Chromium with WebGPU (its SwiftShader when
//! the machine has no GPU) loads it, computes the shipped source model's logits for fixed token ids,
//! trains a transfer run for two epochs, tests it and predicts a sentence, then posts what it got to
//! this test's small HTTP server. The logits must equal the native build's within 1e-4. The page is
//! built first (examples/web/build.sh); without Chromium or WebGPU the test fails, never skips.
//! Chromium: $CHROMIUM, else `chromium` / `chromium-browser` / `google-chrome` on the PATH.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{assert_close, gpu};
use lstm_transfer::data::Dataset;
use lstm_transfer::tasks::classify::checkpoint;
use lstm_transfer::tasks::classify::train::predict_logits;

const WEB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/web");

/// Serves the files of `root`, and hands the body of `POST /result` to `results`.
fn serve(root: PathBuf, results: mpsc::Sender<String>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &root, &results);
        }
    });
    port
}

fn answer(mut stream: TcpStream, root: &Path, results: &mpsc::Sender<String>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split('?').next().unwrap_or("/").trim_start_matches('/');
    if method == "POST" && path == "result" {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let _ = results.send(String::from_utf8_lossy(&body).into_owned());
        return stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    }
    let file = root.join(if path.is_empty() { "index.html" } else { path });
    let body = if path.split('/').any(|p| p == "..") { None } else { std::fs::read(&file).ok() };
    let Some(body) = body else {
        return stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let mime = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(&body)
}

fn chromium() -> String {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return path;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()) {
            return name.into();
        }
    }
    panic!("no Chromium to run the browser test: install it (Debian: apt-get install chromium) or set $CHROMIUM");
}

/// Kills the browser when the test ends, passed or not.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_web_page_trains_on_webgpu_and_its_logits_equal_the_native_builds() {
    let build = Command::new("bash").arg(format!("{WEB}/build.sh")).status().expect("bash runs");
    assert!(build.success(), "examples/web/build.sh failed: the page could not be built");

    let (send, results) = mpsc::channel();
    let port = serve(PathBuf::from(WEB), send);
    let profile = std::env::temp_dir().join(format!("lstm-transfer-chromium-{}", std::process::id()));
    let browser = Browser(
        Command::new(chromium())
            .args(["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--no-first-run", "--disable-dev-shm-usage"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("http://127.0.0.1:{port}/index.html?test"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Chromium starts"),
    );
    let body = results.recv_timeout(Duration::from_secs(600)).expect("the page posted no result within 10 minutes");
    drop(browser);
    let _ = std::fs::remove_dir_all(&profile);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    eprintln!("browser adapter: {}; two epochs in {:.1} s", page["adapter"], page["train_seconds"]);
    assert!(page.get("error").is_none(), "the page failed: {}", page["error"]);
    assert_eq!(page["gpu_errors"].as_array().map(Vec::len), Some(0), "WebGPU reported errors: {}", page["gpu_errors"]);

    // The shipped checkpoint's logits for the same ids, natively.
    let ids: Vec<Vec<u32>> = serde_json::from_str(&std::fs::read_to_string(format!("{WEB}/test-ids.json")).unwrap()).unwrap();
    let ctx = gpu();
    let source = checkpoint::load(Path::new(&format!("{WEB}/source.safetensors")), None).unwrap();
    let mut model = source.classifier(ctx, 64, source.info.max_len).unwrap();
    let data = Dataset { labels: vec![0; ids.len()], ids, domains: None };
    let (native, _) = predict_logits(ctx, &mut model, &data, 64, source.info.max_len).unwrap();
    let browser: Vec<f32> =
        page["logits"].as_array().unwrap().iter().flat_map(|row| row.as_array().unwrap()).map(|v| v.as_f64().unwrap() as f32).collect();
    let native: Vec<f64> = native.iter().map(|&v| v as f64).collect();
    assert_close("browser logits vs native", &browser, &native, 1e-4, 0.0);

    // Two epochs of transfer trained in the page: finite losses, a test accuracy, a prediction.
    let epochs = page["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for e in epochs {
        let (loss, acc) = (e["train_loss"].as_f64().unwrap(), e["valid_accuracy"].as_f64().unwrap());
        assert!(loss.is_finite() && loss > 0.0 && (0.0..=1.0).contains(&acc), "epoch {e}");
    }
    assert_eq!(epochs[1]["done"], true);
    let test = page["test"]["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&test) && page["test"]["rows"].as_u64() > Some(0), "{}", page["test"]);
    assert!(["0", "1"].contains(&page["prediction"]["label"].as_str().unwrap()), "{}", page["prediction"]);
}
