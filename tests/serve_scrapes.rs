//! `serve` under concurrent scrapes (issue 10.7), with real processes: a
//! load test writes at full speed while 200 clients scrape `/metrics` at
//! once and 100 more ask `/health`; every one gets a 200. (Figures with
//! latencies: `multiagents bench --only scrapes`.)

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_multiagents");

/// Kills the child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn wait_for_a_run(db: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| {
                    c.query_row("SELECT count(*) FROM workflows", [], |r| r.get::<_, i64>(0))
                })
                .is_ok_and(|n| n > 100);
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "the load test never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_hundred_parallel_scrapes_during_a_load_test_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.db");
    let load = Reaped(
        Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args([
                "load-test",
                "--duration",
                "8s",
                "--rps",
                "3000",
                "--mix",
                "noop",
                "--time-scale",
                "0",
                "--concurrency",
                "500",
                "--format",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_a_run(&db);
    let mut serve = Reaped(
        Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(serve.0.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let scrapers: Vec<_> = (0..300)
        .map(|i| {
            std::thread::spawn(move || {
                let path = if i < 200 { "/metrics" } else { "/health" };
                (path, get(addr, path))
            })
        })
        .collect();
    let mut failures = Vec::new();
    for scraper in scrapers {
        let (path, (status, body)) = scraper.join().unwrap();
        if status != 200 {
            failures.push(format!(
                "{path}: {status} {}",
                body.lines().next().unwrap_or("")
            ));
        } else if path == "/metrics" {
            assert!(body.contains("# TYPE"), "{body}");
        } else {
            let _: serde_json::Value = serde_json::from_str(&body).unwrap();
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 300 requests failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // The load test was not disturbed.
    drop(serve);
    let mut load = load;
    let status = load.0.wait().unwrap();
    let mut stderr = String::new();
    load.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
}
