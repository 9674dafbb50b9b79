//! A real `redis-server` of a test's own, on a free loopback port, that the
//! test can stop and start again on the same port. Never the shared 6379.
//!
//! Without `redis-server` the tests that need one print loudly that they
//! were skipped — unless `MULTIAGENTS_REQUIRE_REDIS` is set (`.ci/run` sets
//! it), where a missing server fails them: CI never skips them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` (stopped when dropped).
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    password: Option<String>,
    /// TLS only: the certificate authority that signed its certificate.
    pub ca_cert: Option<PathBuf>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn redis_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

/// A free loopback port (bound and released; the server takes it next).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl RedisServer {
    /// Starts one, or `None` (said on stderr) when `redis-server` is not
    /// installed and `MULTIAGENTS_REQUIRE_REDIS` is not set.
    pub fn start(test: &str) -> Option<RedisServer> {
        Self::start_with(test, None)
    }

    /// [`RedisServer::start`] requiring `password` (`requirepass`).
    pub fn start_with(test: &str, password: Option<&str>) -> Option<RedisServer> {
        if redis_server().is_none() {
            assert!(
                std::env::var_os("MULTIAGENTS_REQUIRE_REDIS").is_none(),
                "redis-server is not installed and MULTIAGENTS_REQUIRE_REDIS is set: {test} cannot be skipped"
            );
            eprintln!(
                "\n*** SKIPPED {test}: redis-server is not installed (apt-get install redis-server; CI installs it) ***\n"
            );
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            password: password.map(str::to_string),
            ca_cert: None,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.launch();
        Some(server)
    }

    /// A server that speaks only TLS, its certificate signed by a private
    /// authority made here with `openssl` (`ca_cert` names it).
    pub fn start_tls(test: &str, password: &str) -> Option<RedisServer> {
        let mut server = Self::start_with(test, Some(password))?;
        server.stop();
        let dir = server.dir.path().to_path_buf();
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run openssl (CI installs it)");
            assert!(status.success(), "openssl {args:?}");
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=multiagents-test-ca",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("write ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ]);
        server.ca_cert = Some(dir.join("ca.crt"));
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        if self.ca_cert.is_some() {
            let dir = self.dir.path();
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(dir.join("server.crt"))
                .arg("--tls-key-file")
                .arg(dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("ca.crt"))
                .args(["--tls-auth-clients", "no"]);
        }
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            if self.ca_cert.is_some() {
                // TLS: a plain PING cannot tell; wait for the port instead.
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it answers PING (with the password when it has one).
    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let request = match &self.password {
            Some(p) => format!("AUTH {p}\r\nPING\r\n"),
            None => "PING\r\n".to_string(),
        };
        if s.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        let mut got = String::new();
        let deadline = Instant::now() + Duration::from_secs(1);
        while !got.contains("PONG") && Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        got.contains("PONG")
    }

    /// `redis[s]://[:password@]127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_cert.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(p) => format!("{scheme}://:{p}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// Kills it (its data is gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
