//! For tests of crates that talk to NATS (cargo feature `testing`): Debian's
//! `nats-server -js` on a free 127.0.0.1 port with its store in a temporary directory,
//! killed when dropped. `None` when the binary is not installed (scripts/test.sh
//! installs it), so such tests can say SKIPPED.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server -js`.
pub struct NatsServer {
    child: Child,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one on a free port.
    pub fn start() -> Option<NatsServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        NatsServer::start_in(tempfile::tempdir().ok()?, port)
    }

    /// Starts one on `port` with its JetStream store in `dir` (a restart over the same
    /// store: see [`NatsServer::kill`]), once it accepts connections.
    pub fn start_in(dir: tempfile::TempDir, port: u16) -> Option<NatsServer> {
        let bin = ["nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok())?;
        let child = Command::new(bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(NatsServer { child, port, dir })
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL) and hands back its store, for [`NatsServer::start_in`].
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
