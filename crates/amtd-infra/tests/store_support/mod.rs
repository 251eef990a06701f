//! Test databases for the store suite: an SQLite file in a temporary directory, or a fresh
//! database on a real PostgreSQL server that this test binary starts itself (initdb + pg_ctl
//! on 127.0.0.1, a free port, a temporary directory; run as the `postgres` user when the tests
//! run as root). The server is shared by the tests of one binary; a watchdog process stops it
//! and removes its directory as soon as the test process exits, however it exits.
//!
//! Without PostgreSQL binaries the PostgreSQL variants are skipped with a message, unless
//! `AMTD_NODE_DIR` is set (./scripts/test sets it): then they fail.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use amtd_infra::store::{Kek, Store};
use sqlx::Connection;

/// One test's database.
pub struct TestDb {
    /// The URL the store opens.
    pub url: String,
    /// The KEK file the store was set up with.
    pub kek_path: PathBuf,
    /// Holds the KEK file (and the SQLite file).
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("amtd.db").display());
        Self::with_url(dir, url)
    }

    /// A fresh database on the shared PostgreSQL server, or `None` (skip) when PostgreSQL is
    /// not installed and the full suite was not asked for.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let server = match PG.get_or_init(PgServer::start) {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => panic!("cannot start PostgreSQL for the store tests: {e}"),
        };
        let db = format!(
            "t_{}_{:08x}",
            test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            rand::random::<u32>()
        );
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&server.url("postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        Some(Self::with_url(dir, server.url(&db)))
    }

    fn with_url(dir: tempfile::TempDir, url: String) -> TestDb {
        let kek_path = dir.path().join("kek");
        Kek::generate_file(&kek_path).unwrap();
        TestDb { url, kek_path, dir }
    }

    /// A new KEK file (a different key) in the test's directory.
    pub fn other_kek(&self) -> PathBuf {
        let p = self
            .dir
            .path()
            .join(format!("kek-{:08x}", rand::random::<u32>()));
        Kek::generate_file(&p).unwrap();
        p
    }

    /// Open the store with the test's KEK.
    pub async fn open(&self) -> Store {
        Store::open(&self.url, Kek::from_file(&self.kek_path).unwrap())
            .await
            .unwrap()
    }
}

static PG: OnceLock<Result<Option<PgServer>, String>> = OnceLock::new();

/// A PostgreSQL server started by this test process.
pub struct PgServer {
    port: u16,
}

fn pg_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed ({}): {text}", out.status))
    }
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0")
}

/// A command run as the `postgres` user when we are root (initdb refuses root).
fn as_pg_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl PgServer {
    fn start() -> Result<Option<PgServer>, String> {
        let Some(bin) = pg_bin_dir() else {
            if std::env::var_os("AMTD_NODE_DIR").is_some() {
                return Err(
                    "AMTD_NODE_DIR is set (full suite) but no PostgreSQL server is \
                            installed under /usr/lib/postgresql (run ./scripts/install-peers)"
                        .into(),
                );
            }
            eprintln!(
                "SKIPPING the PostgreSQL store tests: no /usr/lib/postgresql/*/bin/initdb \
                 (install the `postgresql` package, or run ./scripts/install-peers)"
            );
            return Ok(None);
        };
        let root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "amtd-store-pg-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let data = dir.join("data");
        if root {
            let uid = output(Command::new("id").args(["-u", "postgres"]))?;
            let gid = output(Command::new("id").args(["-g", "postgres"]))?;
            let uid: u32 = uid
                .trim()
                .parse()
                .map_err(|_| "uid of postgres".to_string())?;
            let gid: u32 = gid
                .trim()
                .parse()
                .map_err(|_| "gid of postgres".to_string())?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
        // The watchdog: stop the server and remove its directory when this process is gone.
        let stop = format!(
            "while [ -d /proc/{pid} ]; do sleep 0.5; done; {pgctl} -D {data} -m immediate -w stop \
             >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pgctl = if root {
                format!("runuser -u postgres -- {}", bin.join("pg_ctl").display())
            } else {
                bin.join("pg_ctl").display().to_string()
            },
            data = data.display(),
            dir = dir.display(),
        );
        Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("watchdog: {e}"))?;
        output(
            as_pg_user(&bin.join("initdb"), root)
                .args(["-D"])
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "--no-sync"]),
        )?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let opts = format!(
                "-k {} -h 127.0.0.1 -p {port} -c max_connections=300 -c fsync=on",
                dir.display()
            );
            match output(
                as_pg_user(&bin.join("pg_ctl"), root)
                    .arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(dir.join("log"))
                    .args(["-o", &opts, "-w", "-t", "60", "start"]),
            ) {
                Ok(_) => return Ok(Some(PgServer { port })),
                Err(e) => {
                    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                    last = format!("{e}\n{log}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last)
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}
