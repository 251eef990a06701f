//! `amtd serve` on PostgreSQL end to end (O2): a real PostgreSQL server started by this test
//! (initdb + pg_ctl in a temporary directory, 127.0.0.1 on a free port, password
//! authentication), `[store] url = "postgres://…"` with the password in `password_env`, one
//! emulated device provisioned through it, and the rows checked in the database with `psql`.
//! The same recipe as amtd-infra's store suite: run as the `postgres` user when the tests run as
//! root; skipped with a message when PostgreSQL is not installed, unless `AMTD_NODE_DIR` is set
//! (./scripts/test, the full suite), where it fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{amtd, amtd_env, text, Serve, FIRST_UUID};

const DB_PASSWORD: &str = "db-Test-Passw0rd";
const SUPPORT_PASSWORD: &str = "Supp0rt-Pg-Pass!";

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

fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("run a command");
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {t}");
    t
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL server for this test; stopped (and its directory removed) on drop, and by a
/// watchdog if the test process dies first.
struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    root: bool,
}

impl Pg {
    fn as_pg_user(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start(bin: PathBuf) -> Pg {
        let root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "amtd-serve-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, DB_PASSWORD).unwrap();
        if root {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&dir));
        }
        let mut pg = Pg {
            bin,
            dir,
            port: 0,
            root,
        };
        let data = pg.dir.join("data");
        let pg_ctl = if root {
            format!("runuser -u postgres -- {}", pg.bin.join("pg_ctl").display())
        } else {
            pg.bin.join("pg_ctl").display().to_string()
        };
        // The watchdog outlives this test process on purpose: it is never waited for.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args([
                "-c",
                &format!(
                    "while [ -d /proc/{pid} ]; do sleep 0.5; done; {pg_ctl} -D {data} -m \
                     immediate -w stop >/dev/null 2>&1; rm -rf {dir}",
                    pid = std::process::id(),
                    data = data.display(),
                    dir = pg.dir.display(),
                ),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        run(pg
            .as_pg_user("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "scram-sha-256", "-U", "postgres", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display())));
        let mut last = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let opts = format!("-k {} -h 127.0.0.1 -p {port}", pg.dir.display());
            let out = pg
                .as_pg_user("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(pg.dir.join("log"))
                .args(["-o", &opts, "-w", "-t", "60", "start"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            if out.status.success() {
                pg.port = port;
                return pg;
            }
            last = std::fs::read_to_string(pg.dir.join("log")).unwrap_or_default();
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// Runs SQL in `db` as the postgres user over TCP; the unaligned, tuples-only output.
    fn sql(&self, db: &str, query: &str) -> String {
        run(Command::new(self.bin.join("psql"))
            .env("PGPASSWORD", DB_PASSWORD)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                query,
            ]))
        .trim()
        .to_owned()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .as_pg_user("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postgres_or_skip() -> Option<Pg> {
    match pg_bin_dir() {
        Some(bin) => Some(Pg::start(bin)),
        None if std::env::var_os("AMTD_NODE_DIR").is_some() => panic!(
            "AMTD_NODE_DIR is set (full suite) but no PostgreSQL server is installed under \
             /usr/lib/postgresql (run ./scripts/install-peers)"
        ),
        None => {
            eprintln!(
                "SKIPPING serve on PostgreSQL: no /usr/lib/postgresql/*/bin/initdb (install the \
                 `postgresql` package, or run ./scripts/install-peers)"
            );
            None
        }
    }
}

fn assert_is_file_absent(p: &Path) {
    assert!(
        !p.exists(),
        "{} exists: the SQLite store was used",
        p.display()
    );
}

#[test]
fn serve_on_postgres_provisions_a_device_with_the_configured_profile() {
    let Some(pg) = postgres_or_skip() else {
        return;
    };
    pg.sql("postgres", "CREATE DATABASE amtd");
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "[store]\nurl = \"postgres://postgres@127.0.0.1:{}/amtd\"\n\
         password_env = \"AMTD_TEST_DB_PASSWORD\"\n\
         [[profile]]\nname = \"pg\"\nuser_consent = \"none\"\n\
         [profile.redirection]\nsol = true\nider = true\nkvm = false\n\
         [[profile.digest_user]]\nname = \"support\"\npassword_env = \"AMTD_TEST_SUPPORT_PW\"\n\
         realms = [\"redirection\", \"general-info\"]\n",
        pg.port
    );
    let serve = Serve::start(
        dir.path(),
        &store,
        &[
            ("AMTD_TEST_DB_PASSWORD", DB_PASSWORD),
            ("AMTD_TEST_SUPPORT_PW", SUPPORT_PASSWORD),
        ],
    );
    let (_sim, ip) = serve.start_device();
    let v = serve.wait_device_done(FIRST_UUID);
    assert_eq!(v["state"], "provisioned", "{v}\n{}", serve.log());
    let out = amtd(dir.path(), &["devices", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["uuid"], FIRST_UUID, "{list}");
    assert_eq!(list[0]["state"], "provisioned", "{list}");
    assert_eq!(list[0]["profile"], "pg", "{list}");

    // Everything is in PostgreSQL; no SQLite file was made.
    assert_is_file_absent(&dir.path().join("amtd-data/amtd.sqlite"));
    assert_eq!(
        pg.sql("amtd", "SELECT uuid || ' ' || state FROM devices"),
        format!("{FIRST_UUID} provisioned")
    );
    assert_eq!(
        pg.sql(
            "amtd",
            "SELECT count(*) FROM provisioning_runs WHERE outcome = 'provisioned'"
        ),
        "1"
    );
    let phases = pg.sql("amtd", "SELECT phase FROM transitions ORDER BY id");
    assert!(phases.ends_with("done"), "{phases}");
    assert!(phases.contains("adding-users"), "{phases}");
    assert!(pg.sql("amtd", "SELECT count(*) FROM hellos") != "0");
    // The device's admin password and the profile's digest password are sealed rows.
    let kinds = pg.sql(
        "amtd",
        "SELECT device_uuid || ':' || kind FROM secrets ORDER BY device_uuid, kind",
    );
    assert!(kinds.contains(&format!("{FIRST_UUID}:admin")), "{kinds}");
    assert!(kinds.contains("profile/pg/digest-user/support"), "{kinds}");
    let profile = pg.sql("amtd", "SELECT body FROM profiles WHERE name = 'pg'");
    assert!(profile.contains("\"source\":\"config\""), "{profile}");
    assert!(!profile.contains(SUPPORT_PASSWORD), "{profile}");
    let dump = pg.sql("amtd", "SELECT encode(ciphertext, 'escape') FROM secrets");
    assert!(!dump.contains(SUPPORT_PASSWORD));

    // The configured digest user was pushed: it logs in with the password from the server's
    // environment.
    let out = amtd_env(
        dir.path(),
        &[
            "wsman",
            "get",
            "--host",
            &ip,
            "--user",
            "support",
            "--password-env",
            "DEVICE_PW",
            "--tls",
            "--insecure",
            "--timeout",
            "20",
            "AMT_RedirectionService",
        ],
        &[("DEVICE_PW", SUPPORT_PASSWORD)],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("EnabledState: 32771"), "{}", text(&out));
}
