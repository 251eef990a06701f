//! Real DHCP and DNS peers for integration tests, started inside network namespaces that the
//! test creates: BIND 9 (dynamic zones, TSIG), Kea (kea-dhcp4 + kea-dhcp-ddns), dnsmasq,
//! tcpdump, and an independent DHCP client (scapy). Nothing here touches the machine's real
//! interfaces: a [`NetnsPair`] is two fresh namespaces joined by a veth pair, and every peer
//! listens only inside the server namespace.
//!
//! Skipping: [`peers_available`] prints `SKIPPED: …` and returns false when the test is not run
//! as root or a peer is missing, unless `AMTD_REQUIRE_PEERS=1` (or `AMTD_NODE_DIR`, which
//! `./scripts/test` exports after `./scripts/install-peers`) is set: then it panics.
//!
//! Cleanup: every peer kills its own process on drop (SIGTERM, then SIGKILL after 3 s), and
//! dropping the [`NetnsPair`] kills, by PID, whatever still runs in its namespaces (e.g. Kea's
//! lease-file cleaner) and deletes both namespaces. Each peer has its own temporary directory.
//!
//! Peer quirks found while writing this (Debian 12: Kea 2.2.0, BIND 9.18, dnsmasq 2.90,
//! tcpdump 4.99, scapy 2.6.1):
//! - The veth pair is created with both ends directly inside the namespaces
//!   (`ip link add A netns X type veth peer name B netns Y`), so its names never exist in the
//!   root namespace and cannot clash with other test processes.
//! - `ip netns exec` execs the program (no fork), so the child's PID is the peer's PID.
//! - Kea wants `/run/kea` for its PID and lock files unless `KEA_PIDFILE_DIR` and
//!   `KEA_LOCKFILE_DIR` are set; `lease4-get` and friends exist only with the `lease_cmds` hook
//!   library loaded (`…/kea/hooks/libdhcp_lease_cmds.so`, shipped by kea-common). The control
//!   socket takes one command per connection (the reader stops once the JSON answer is whole).
//!   Kea sends T1/T2 (options 58/59) when renew-timer/rebind-timer are set, whatever the
//!   client asked for; dnsmasq always sends them.
//! - Kea: a client FQDN (option 81) without the E flag is read as ASCII, so wire-format names
//!   register wrongly: the scapy client sends flags S|E (0x05).
//! - named is given `session-keyfile` in its directory and `controls { }` so that it touches
//!   neither /run/named nor /etc/bind/rndc.key; its `*.jnl` journals survive restarts, hence a
//!   fresh directory per start. It is ready in well under a second.
//! - dnsmasq drops privileges to `nobody` unless `--user=root`, and then cannot write its lease
//!   file in a root-only temporary directory. It pings an address (about 3 s) before offering
//!   it unless `--no-ping`. With `--domain` it sends option 15 by itself: an empty
//!   `--dhcp-option=15` suppresses that. `--dhcp-option=3` (and `=6`) without a value suppress
//!   the router (DNS-server) option it otherwise fills in with its own address (checked for 3
//!   and 15 by peers_dhcp_dns). `--log-dhcp` prints the option-55 list over several
//!   `requested options:` lines (four names per line). Its option-81 answer carries RCODE1/2
//!   = 255 (`05 ff ff …`) where Kea's carries `05 00 00 …`. It registers a client's option-12
//!   name in its DNS only with `--domain` (PEERS.md).
//! - tcpdump drops privileges to the `tcpdump` user unless `-Z root` (and then cannot write into
//!   a root-only directory). It prints `listening on <if>` on stderr when the capture is live.
//!   Without `--immediate-mode`, libpcap (TPACKET_V3) hands packets over in blocks up to 1 s
//!   late, and a SIGTERM within that second loses them: the pcap came out empty (24 bytes).
//! - The device namespace has no address until one is added ([`NetnsPair::add_device_addr`]):
//!   DNS checks from the device side need the leased address configured first.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// Skipping, programs, helpers
// ---------------------------------------------------------------------------------------------

/// Whether a missing peer (or not being root) fails the test instead of skipping it:
/// `AMTD_REQUIRE_PEERS=1`, or `AMTD_NODE_DIR` set (as `./scripts/test` does, after
/// `./scripts/install-peers` has installed everything).
pub fn peers_required() -> bool {
    std::env::var("AMTD_REQUIRE_PEERS").is_ok_and(|v| v == "1")
        || std::env::var_os("AMTD_NODE_DIR").is_some()
}

/// Whether this process runs as root (effective UID 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A program on PATH, or in /usr/sbin or /sbin (where named, kea-* and dnsmasq live and which
/// a non-login PATH may lack).
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python of the test venv (`AMTD_PY_VENV` or tests/python/.venv), where
/// ./scripts/install-peers puts scapy.
pub fn venv_python() -> PathBuf {
    std::env::var_os("AMTD_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tests/python/.venv"))
        .join("bin/python")
}

/// A script of the test support directory (dhcp_client.py, dhcp_pcap.py).
pub fn support_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

fn scapy_available() -> bool {
    Command::new(venv_python())
        .args(["-c", "import scapy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this test can run: root, `ip`, and every program in `needs` (program names such
/// as "named", "kea-dhcp4", "dnsmasq", "tcpdump", "dig", "nsupdate", "tsig-keygen"; "scapy"
/// means the test venv's Python with scapy, "amtctrl" the venv's amtctrl). Prints `SKIPPED: <test>: …` and returns false
/// when something is missing; panics instead under [`peers_required`].
pub fn peers_available(test: &str, needs: &[&str]) -> bool {
    let mut missing = Vec::new();
    for n in std::iter::once(&"ip").chain(needs) {
        let ok = if *n == "scapy" {
            scapy_available()
        } else if *n == "amtctrl" {
            workspace().join("tests/python/.venv/bin/amtctrl").exists()
        } else {
            program(n).is_some()
        };
        if !ok {
            missing.push((*n).to_owned());
        }
    }
    let root = is_root();
    if root && missing.is_empty() {
        return true;
    }
    let mut why = Vec::new();
    if !root {
        why.push("not root (network namespaces need it)".to_owned());
    }
    if !missing.is_empty() {
        why.push(format!(
            "missing {} (run ./scripts/install-peers as root)",
            missing.join(", ")
        ));
    }
    let msg = format!("{test}: {}", why.join("; "));
    assert!(
        !peers_required(),
        "{msg} (AMTD_REQUIRE_PEERS/AMTD_NODE_DIR is set)"
    );
    eprintln!("SKIPPED: {msg}");
    false
}

/// `ip netns exec <ns> <program>`: a command that runs inside a namespace (the program is
/// resolved with [`program`] first, so sbin programs are found).
pub fn cmd_in(ns: &str, prog: &str) -> Command {
    let mut c = Command::new(program("ip").unwrap_or_else(|| "ip".into()));
    c.args(["netns", "exec", ns]);
    c.arg(program(prog).unwrap_or_else(|| prog.into()));
    c
}

fn run_ok(c: &mut Command) -> Output {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) -> Output {
    run_ok(Command::new(program("ip").unwrap_or_else(|| "ip".into())).args(args))
}

/// Polls `f` every 100 ms until it gives a value; after `timeout` panics with `what` and the
/// text `log()` returns (the peer's log).
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    log: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out after {timeout:?} waiting for {what}; log:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pid_alive(pid: u32) -> bool {
    // A zombie has exited; its parent reaps it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM to each PID, SIGKILL to those still alive after 3 s.
fn terminate(pids: &[u32]) {
    for &p in pids {
        signal(p, "-TERM");
    }
    let start = Instant::now();
    while pids.iter().any(|&p| pid_alive(p)) && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &p in pids {
        if pid_alive(p) {
            signal(p, "-KILL");
        }
    }
}

/// A peer process started by this module: its output goes to a log file; dropped, it is
/// stopped (SIGTERM, SIGKILL after 3 s) and reaped.
pub struct PeerProcess {
    child: Option<Child>,
    name: String,
    log: PathBuf,
}

impl PeerProcess {
    /// Runs `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> PeerProcess {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        PeerProcess {
            child: Some(child),
            name: name.to_owned(),
            log: log.to_owned(),
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                panic!("{} exited ({status}); log:\n{}", self.name, self.log());
            }
        }
    }

    /// Stops the process (SIGTERM, SIGKILL after 3 s) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(None) = c.try_wait() {
                terminate(&[c.id()]);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------

static PAIRS: AtomicU32 = AtomicU32::new(0);

/// Two network namespaces (server and device) joined by a veth pair; the server end has an
/// address, the device end none (DHCP clients get one). Dropped: kills every process still
/// inside either namespace (by PID) and deletes both.
pub struct NetnsPair {
    server_ns: String,
    device_ns: String,
    server_if: String,
    device_if: String,
    server_ip: Ipv4Addr,
    prefix: u8,
}

impl NetnsPair {
    /// A pair with the server end at `10.99.N.1/24`, N unique within this test process (each
    /// pair lives in its own namespaces anyway, so other processes' pairs cannot clash).
    pub fn new() -> NetnsPair {
        let n = PAIRS.fetch_add(1, Ordering::Relaxed);
        let third = ((std::process::id().wrapping_mul(37).wrapping_add(n)) % 254 + 1) as u8;
        NetnsPair::create(Ipv4Addr::new(10, 99, third, 1), 24, n)
    }

    /// A pair with the server end at `server_ip/prefix` (prefix 8, 16 or 24 for the reverse
    /// zone helpers).
    pub fn with_server_addr(server_ip: Ipv4Addr, prefix: u8) -> NetnsPair {
        NetnsPair::create(server_ip, prefix, PAIRS.fetch_add(1, Ordering::Relaxed))
    }

    fn create(server_ip: Ipv4Addr, prefix: u8, n: u32) -> NetnsPair {
        assert!((1..=30).contains(&prefix), "prefix /{prefix}");
        let pid = std::process::id();
        let pair = NetnsPair {
            server_ns: format!("amtsrv-{pid}-{n}"),
            device_ns: format!("amtdev-{pid}-{n}"),
            server_if: format!("vs{}n{n}", pid % 10_000),
            device_if: format!("vd{}n{n}", pid % 10_000),
            server_ip,
            prefix,
        };
        assert!(pair.server_if.len() <= 15, "{}", pair.server_if);
        // A namespace of ours with this name can only be left over from a dead process that
        // had the same PID.
        let existing = String::from_utf8_lossy(&ip(&["netns", "list"]).stdout).into_owned();
        for ns in [&pair.server_ns, &pair.device_ns] {
            if existing
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns.as_str()))
            {
                kill_all_in(ns);
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
        // `pair` exists already, so a panic in a later step still deletes what was made.
        ip(&["netns", "add", &pair.server_ns]);
        ip(&["netns", "add", &pair.device_ns]);
        ip(&[
            "link",
            "add",
            &pair.server_if,
            "netns",
            &pair.server_ns,
            "type",
            "veth",
            "peer",
            "name",
            &pair.device_if,
            "netns",
            &pair.device_ns,
        ]);
        let cidr = format!("{server_ip}/{prefix}");
        ip(&[
            "-n",
            &pair.server_ns,
            "addr",
            "add",
            &cidr,
            "dev",
            &pair.server_if,
        ]);
        for ns in [&pair.server_ns, &pair.device_ns] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["-n", &pair.server_ns, "link", "set", &pair.server_if, "up"]);
        ip(&["-n", &pair.device_ns, "link", "set", &pair.device_if, "up"]);
        pair
    }

    /// The server namespace's name.
    pub fn server_ns(&self) -> &str {
        &self.server_ns
    }

    /// The device namespace's name.
    pub fn device_ns(&self) -> &str {
        &self.device_ns
    }

    /// The server end of the veth pair (inside the server namespace).
    pub fn server_if(&self) -> &str {
        &self.server_if
    }

    /// The device end of the veth pair (inside the device namespace).
    pub fn device_if(&self) -> &str {
        &self.device_if
    }

    /// The server end's address.
    pub fn server_ip(&self) -> Ipv4Addr {
        self.server_ip
    }

    /// The subnet: (network address, prefix length).
    pub fn subnet(&self) -> (Ipv4Addr, u8) {
        let mask = u32::MAX << (32 - u32::from(self.prefix));
        (
            Ipv4Addr::from(u32::from(self.server_ip) & mask),
            self.prefix,
        )
    }

    /// The subnet as `a.b.c.d/p`.
    pub fn cidr(&self) -> String {
        let (net, p) = self.subnet();
        format!("{net}/{p}")
    }

    /// The netmask.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX << (32 - u32::from(self.prefix)))
    }

    /// The address `host` in the subnet (network address + `host`).
    pub fn host(&self, host: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet().0) + host)
    }

    /// The reverse zone of the subnet, e.g. `7.99.10.in-addr.arpa` for 10.99.7.0/24 (the
    /// prefix rounded down to whole octets).
    pub fn reverse_zone(&self) -> String {
        let octets = self.subnet().0.octets();
        let n = usize::from(self.prefix / 8).max(1);
        let mut labels: Vec<String> = octets[..n].iter().map(u8::to_string).collect();
        labels.reverse();
        format!("{}.in-addr.arpa", labels.join("."))
    }

    /// Gives the device end an address in the subnet (e.g. the one a DHCP client leased), so
    /// the device namespace can reach the server.
    pub fn add_device_addr(&self, addr: Ipv4Addr) {
        let cidr = format!("{addr}/{}", self.prefix);
        ip(&[
            "-n",
            &self.device_ns,
            "addr",
            "replace",
            &cidr,
            "dev",
            &self.device_if,
        ]);
    }

    /// Sets the device end's MAC address.
    pub fn set_device_mac(&self, mac: &str) {
        ip(&[
            "-n",
            &self.device_ns,
            "link",
            "set",
            &self.device_if,
            "address",
            mac,
        ]);
    }

    /// The device end's MAC address.
    pub fn device_mac(&self) -> String {
        let out = ip(&[
            "-n",
            &self.device_ns,
            "-br",
            "link",
            "show",
            &self.device_if,
        ]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_owned()
    }

    /// PIDs of the processes running inside either namespace.
    pub fn pids(&self) -> Vec<u32> {
        let mut v = ns_pids(&self.server_ns);
        v.extend(ns_pids(&self.device_ns));
        v
    }
}

impl Default for NetnsPair {
    fn default() -> Self {
        NetnsPair::new()
    }
}

fn ns_pids(ns: &str) -> Vec<u32> {
    Command::new(program("ip").unwrap_or_else(|| "ip".into()))
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn kill_all_in(ns: &str) {
    let pids: Vec<u32> = ns_pids(ns)
        .into_iter()
        .filter(|&p| p != std::process::id())
        .collect();
    terminate(&pids);
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.device_ns] {
            kill_all_in(ns);
        }
        for ns in [&self.server_ns, &self.device_ns] {
            let _ = Command::new(program("ip").unwrap_or_else(|| "ip".into()))
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// dig
// ---------------------------------------------------------------------------------------------

/// What `dig` got.
#[derive(Debug, Clone)]
pub struct DigAnswer {
    /// The response code (`NOERROR`, `NXDOMAIN`, `REFUSED`, …); empty when no answer came.
    pub status: String,
    /// Whether the AA flag was set.
    pub authoritative: bool,
    /// The answer section's records as (owner, type, rdata).
    pub records: Vec<(String, String, String)>,
    /// dig's whole output.
    pub raw: String,
}

impl DigAnswer {
    /// The rdata of the answer records of type `rtype`.
    pub fn answers(&self, rtype: &str) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.1.eq_ignore_ascii_case(rtype))
            .map(|r| r.2.clone())
            .collect()
    }
}

/// `dig @server -p port name rtype` inside `ns` (no recursion asked, 2 s, one try). For
/// `rtype` "PTR" and a `name` that is an IPv4 address, asks for its reverse name.
pub fn dig(ns: &str, server: Ipv4Addr, port: u16, name: &str, rtype: &str) -> DigAnswer {
    let mut c = cmd_in(ns, "dig");
    c.arg(format!("@{server}"))
        .args(["-p", &port.to_string()])
        .args(["+norecurse", "+time=2", "+tries=1"]);
    if rtype.eq_ignore_ascii_case("PTR") && name.parse::<Ipv4Addr>().is_ok() {
        c.args(["-x", name]);
    } else {
        c.args([name, rtype]);
    }
    let out = c.output().unwrap_or_else(|e| panic!("running dig: {e}"));
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = raw
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_default()
        .to_owned();
    let authoritative = raw
        .lines()
        .find(|l| l.starts_with(";; flags:"))
        .is_some_and(|l| {
            l.trim_start_matches(";; flags:")
                .split(';')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .any(|f| f == "aa")
        });
    let mut records = Vec::new();
    let mut in_answer = false;
    for line in raw.lines() {
        if line.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if line.trim().is_empty() || line.starts_with(";;") {
                break;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 {
                records.push((f[0].to_owned(), f[3].to_owned(), f[4..].join(" ")));
            }
        }
    }
    DigAnswer {
        status,
        authoritative,
        records,
        raw,
    }
}

// ---------------------------------------------------------------------------------------------
// BIND
// ---------------------------------------------------------------------------------------------

/// How to start [`Bind`].
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// The forward zone (default "amt.test").
    pub domain: String,
    /// Whether the forward zone has `ProvisionServer.<domain>. A <server ip>` (default true).
    pub provision_server: bool,
    /// Extra zone-file lines with absolute owner names (`"x.amt.test. A 10.99.7.5"`,
    /// `"5.7.99.10.in-addr.arpa. PTR x.amt.test."`): a line whose owner is inside the reverse
    /// zone goes there, every other line into the forward zone.
    pub records: Vec<String>,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            domain: "amt.test".to_owned(),
            provision_server: true,
            records: Vec::new(),
        }
    }
}

/// Where Kea's D2 sends its TSIG-signed updates ([`Bind::ddns_target`]).
#[derive(Debug, Clone)]
pub struct DdnsTarget {
    /// The DNS server.
    pub server: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// The forward zone (no trailing dot).
    pub forward_zone: String,
    /// The reverse zone (no trailing dot).
    pub reverse_zone: String,
    /// The TSIG key's name.
    pub key_name: String,
    /// The TSIG algorithm as BIND spells it (`hmac-sha256`).
    pub algorithm: String,
    /// The TSIG secret, base64.
    pub secret: String,
}

/// BIND 9 (`named -g`) in the server namespace on port 53 of the server address and of
/// 127.0.0.1, authoritative (recursion off) for a forward zone and the subnet's reverse zone,
/// both updatable with the TSIG key `ddns-key` (hmac-sha256) only.
pub struct Bind {
    proc: PeerProcess,
    dir: tempfile::TempDir,
    ns: String,
    addr: Ipv4Addr,
    domain: String,
    reverse_zone: String,
    secret: String,
}

impl Bind {
    /// Generates the key, writes named.conf and the zones, starts named and waits (20 s at
    /// most) until it answers the zone's SOA.
    pub fn start(net: &NetnsPair, opts: &BindOptions) -> Bind {
        let dir = tempfile::Builder::new()
            .prefix("amt-bind-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let key =
            run_ok(
                Command::new(program("tsig-keygen").unwrap_or_else(|| "tsig-keygen".into()))
                    .args(["-a", "hmac-sha256", "ddns-key"]),
            );
        let key_text = String::from_utf8_lossy(&key.stdout).into_owned();
        let secret = key_text
            .split("secret \"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no secret in tsig-keygen's output: {key_text}"))
            .to_owned();
        std::fs::write(d.join("ddns.key"), &key_text).unwrap();
        let addr = net.server_ip();
        let domain = opts.domain.trim_end_matches('.').to_owned();
        let reverse_zone = net.reverse_zone();
        let soa = format!(
            "$TTL 60\n@ IN SOA ns.{domain}. hostmaster.{domain}. 1 60 60 600 60\n\
             @ IN NS ns.{domain}.\n"
        );
        let mut fwd = format!("{soa}ns.{domain}. IN A {addr}\n");
        if opts.provision_server {
            writeln!(fwd, "ProvisionServer.{domain}. IN A {addr}").unwrap();
        }
        let mut rev = soa.clone();
        let rev_suffix = format!(".{reverse_zone}.");
        for r in &opts.records {
            let owner = r.split_whitespace().next().unwrap_or_default();
            if owner.to_ascii_lowercase().ends_with(&rev_suffix) {
                writeln!(rev, "{r}").unwrap();
            } else {
                writeln!(fwd, "{r}").unwrap();
            }
        }
        std::fs::write(d.join("fwd.zone"), fwd).unwrap();
        std::fs::write(d.join("rev.zone"), rev).unwrap();
        let dd = d.display();
        std::fs::write(
            d.join("named.conf"),
            format!(
                "include \"{dd}/ddns.key\";\n\
                 controls {{ }};\n\
                 options {{\n  directory \"{dd}\";\n  pid-file \"{dd}/named.pid\";\n  \
                 session-keyfile \"{dd}/session.key\";\n  \
                 listen-on port 53 {{ {addr}; 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  \
                 recursion no;\n  allow-query {{ any; }};\n  dnssec-validation no;\n  \
                 notify no;\n}};\n\
                 zone \"{domain}\" {{ type primary; file \"{dd}/fwd.zone\"; \
                 allow-update {{ key ddns-key; }}; }};\n\
                 zone \"{reverse_zone}\" {{ type primary; file \"{dd}/rev.zone\"; \
                 allow-update {{ key ddns-key; }}; }};\n"
            ),
        )
        .unwrap();
        let mut cmd = cmd_in(net.server_ns(), "named");
        cmd.args(["-g", "-u", "root", "-c"])
            .arg(d.join("named.conf"));
        let proc = PeerProcess::spawn("named", cmd, &d.join("named.log"));
        let mut bind = Bind {
            proc,
            dir,
            ns: net.server_ns().to_owned(),
            addr,
            domain,
            reverse_zone,
            secret,
        };
        let log = bind.dir.path().join("named.log");
        let logf = || std::fs::read_to_string(&log).unwrap_or_default();
        wait_until("named to answer", Duration::from_secs(20), logf, || {
            bind.proc.assert_running();
            let a = dig(&bind.ns, bind.addr, 53, &bind.domain, "SOA");
            (a.status == "NOERROR" && a.authoritative).then_some(())
        });
        bind
    }

    /// The TSIG key's name (`ddns-key`).
    pub fn key_name(&self) -> &str {
        "ddns-key"
    }

    /// The TSIG algorithm (`hmac-sha256`).
    pub fn algorithm(&self) -> &str {
        "hmac-sha256"
    }

    /// The TSIG secret, base64.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The key file (BIND `key` statement, as tsig-keygen wrote it; `nsupdate -k` reads it).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("ddns.key")
    }

    /// The address it listens on (port 53; also 127.0.0.1 inside the server namespace).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The forward zone (no trailing dot).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The reverse zone (no trailing dot).
    pub fn reverse_zone(&self) -> &str {
        &self.reverse_zone
    }

    /// Its directory (named.conf, zones, journals, named.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// named's log so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// What Kea's D2 needs to update both zones here.
    pub fn ddns_target(&self) -> DdnsTarget {
        DdnsTarget {
            server: self.addr,
            port: 53,
            forward_zone: self.domain.clone(),
            reverse_zone: self.reverse_zone.clone(),
            key_name: self.key_name().to_owned(),
            algorithm: self.algorithm().to_owned(),
            secret: self.secret.clone(),
        }
    }

    /// `dig` against this server from inside the server namespace.
    pub fn dig(&self, name: &str, rtype: &str) -> DigAnswer {
        dig(&self.ns, self.addr, 53, name, rtype)
    }

    /// Waits (up to `timeout`) until `name` has a `rtype` record; returns its rdata. Panics
    /// with named's log on timeout.
    pub fn wait_record(&self, name: &str, rtype: &str, timeout: Duration) -> Vec<String> {
        wait_until(
            &format!("{rtype} {name} in BIND"),
            timeout,
            || self.log(),
            || {
                let a = self.dig(name, rtype).answers(rtype);
                (!a.is_empty()).then_some(a)
            },
        )
    }

    /// Runs `nsupdate` inside `ns` against this server with `commands` (e.g. "update add
    /// x.amt.test. 60 A 10.99.7.9"; `server` and `send` are added), TSIG-signed with the key
    /// when `signed`.
    pub fn nsupdate(&self, ns: &str, commands: &str, signed: bool) -> Output {
        let mut c = cmd_in(ns, "nsupdate");
        if signed {
            c.arg("-k").arg(self.key_file());
        }
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap_or_else(|e| panic!("nsupdate: {e}"));
        let script = format!("server {} 53\n{}\nsend\n", self.addr, commands.trim_end());
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        wait_output(child, Duration::from_secs(20), "nsupdate")
    }
}

/// Waits for a child with piped output, killing it after `timeout`.
fn wait_output(mut child: Child, timeout: Duration, what: &str) -> Output {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().unwrap(),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{what} did not finish within {timeout:?}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kea
// ---------------------------------------------------------------------------------------------

/// How to start [`Kea`].
#[derive(Debug, Clone)]
pub struct KeaOptions {
    /// Option 15: `Some(domain)` (default "amt.test"; a wrong domain is just another value) or
    /// `None` (not sent).
    pub domain_name: Option<String>,
    /// Option 6: `None` means the server's address (the default); `Some(vec![])` omits it.
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    /// Option 3 (default none).
    pub routers: Vec<Ipv4Addr>,
    /// The pool (default .100 – .150 of the subnet).
    pub pool: Option<(Ipv4Addr, Ipv4Addr)>,
    /// valid-lifetime in seconds (default 3600).
    pub valid_lifetime: u32,
    /// renew-timer (T1) in seconds; None leaves it to Kea.
    pub renew_timer: Option<u32>,
    /// rebind-timer (T2) in seconds; None leaves it to Kea.
    pub rebind_timer: Option<u32>,
    /// DDNS through kea-dhcp-ddns to this DNS server (default none: no D2, updates off).
    pub ddns: Option<DdnsTarget>,
    /// ddns-qualifying-suffix (default: the DDNS forward zone, with a trailing dot).
    pub ddns_qualifying_suffix: Option<String>,
    /// More top-level `Dhcp4` settings, which override the generated ones (e.g.
    /// `"ddns-replace-client-name"`, `"reservations"`).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for KeaOptions {
    fn default() -> Self {
        KeaOptions {
            domain_name: Some("amt.test".to_owned()),
            dns_servers: None,
            routers: Vec::new(),
            pool: None,
            valid_lifetime: 3600,
            renew_timer: None,
            rebind_timer: None,
            ddns: None,
            ddns_qualifying_suffix: None,
            extra: serde_json::Map::new(),
        }
    }
}

fn kea_lease_cmds_hook() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/lib/kea/hooks/libdhcp_lease_cmds.so")];
    if let Ok(rd) = std::fs::read_dir("/usr/lib") {
        for e in rd.flatten() {
            candidates.push(e.path().join("kea/hooks/libdhcp_lease_cmds.so"));
        }
    }
    candidates.into_iter().find(|p| p.is_file())
}

fn ip_list(v: &[Ipv4Addr]) -> String {
    v.iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// kea-dhcp4 (raw socket on the server end of the veth, memfile leases, a unix control
/// socket, the lease_cmds hook) and, with DDNS, kea-dhcp-ddns (127.0.0.1:53001 in the server
/// namespace), both in the server namespace.
pub struct Kea {
    dhcp4: PeerProcess,
    d2: Option<PeerProcess>,
    dir: tempfile::TempDir,
}

impl Kea {
    /// Writes the configs, starts D2 (when DDNS is on) and kea-dhcp4, and waits (20 s at most
    /// each) until D2 logs that it started and kea-dhcp4's control socket answers.
    pub fn start(net: &NetnsPair, opts: &KeaOptions) -> Kea {
        use serde_json::json;
        let dir = tempfile::Builder::new()
            .prefix("amt-kea-")
            .tempdir()
            .unwrap();
        let d = dir.path().to_owned();
        let env_dirs = |c: &mut Command| {
            c.env("KEA_PIDFILE_DIR", &d).env("KEA_LOCKFILE_DIR", &d);
        };
        let d2 = opts.ddns.as_ref().map(|t| {
            let server = json!([{ "ip-address": t.server.to_string(), "port": t.port }]);
            let conf = json!({ "DhcpDdns": {
                "ip-address": "127.0.0.1", "port": 53001,
                "tsig-keys": [{ "name": t.key_name, "algorithm": t.algorithm.to_ascii_uppercase(),
                                "secret": t.secret }],
                "forward-ddns": { "ddns-domains": [{ "name": format!("{}.", t.forward_zone),
                                  "key-name": t.key_name, "dns-servers": server }] },
                "reverse-ddns": { "ddns-domains": [{ "name": format!("{}.", t.reverse_zone),
                                  "key-name": t.key_name, "dns-servers": server }] },
                "loggers": [{ "name": "kea-dhcp-ddns", "severity": "DEBUG", "debuglevel": 40,
                              "output_options": [{ "output": "stdout" }] }]
            }});
            std::fs::write(
                d.join("kea-dhcp-ddns.conf"),
                serde_json::to_vec_pretty(&conf).unwrap(),
            )
            .unwrap();
            let mut cmd = cmd_in(net.server_ns(), "kea-dhcp-ddns");
            env_dirs(&mut cmd);
            cmd.arg("-c").arg(d.join("kea-dhcp-ddns.conf"));
            let log = d.join("kea-dhcp-ddns.log");
            let mut p = PeerProcess::spawn("kea-dhcp-ddns", cmd, &log);
            wait_until(
                "kea-dhcp-ddns to start",
                Duration::from_secs(20),
                || std::fs::read_to_string(&log).unwrap_or_default(),
                || {
                    p.assert_running();
                    p.log().contains("DHCP_DDNS_STARTED").then_some(())
                },
            );
            p
        });

        let (pool_lo, pool_hi) = opts.pool.unwrap_or((net.host(100), net.host(150)));
        let mut option_data = Vec::new();
        if let Some(dom) = &opts.domain_name {
            option_data.push(json!({ "name": "domain-name", "data": dom }));
        }
        let dns = opts
            .dns_servers
            .clone()
            .unwrap_or_else(|| vec![net.server_ip()]);
        if !dns.is_empty() {
            option_data.push(json!({ "name": "domain-name-servers", "data": ip_list(&dns) }));
        }
        if !opts.routers.is_empty() {
            option_data.push(json!({ "name": "routers", "data": ip_list(&opts.routers) }));
        }
        let mut hooks = Vec::new();
        if let Some(h) = kea_lease_cmds_hook() {
            hooks.push(json!({ "library": h }));
        }
        let mut dhcp4 = json!({
            "interfaces-config": { "interfaces": [net.server_if()], "dhcp-socket-type": "raw" },
            "control-socket": { "socket-type": "unix", "socket-name": d.join("kea4.sock") },
            "hooks-libraries": hooks,
            "lease-database": { "type": "memfile", "persist": true,
                                "name": d.join("leases4.csv"), "lfc-interval": 0 },
            "valid-lifetime": opts.valid_lifetime,
            "option-data": option_data,
            "subnet4": [{ "id": 1, "subnet": net.cidr(),
                          "pools": [{ "pool": format!("{pool_lo} - {pool_hi}") }] }],
            "loggers": [{ "name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 40,
                          "output_options": [{ "output": "stdout" }] }]
        });
        let m = dhcp4.as_object_mut().unwrap();
        if let Some(t) = opts.renew_timer {
            m.insert("renew-timer".into(), json!(t));
        }
        if let Some(t) = opts.rebind_timer {
            m.insert("rebind-timer".into(), json!(t));
        }
        match &opts.ddns {
            Some(t) => {
                let suffix = opts
                    .ddns_qualifying_suffix
                    .clone()
                    .unwrap_or_else(|| format!("{}.", t.forward_zone));
                m.insert(
                    "dhcp-ddns".into(),
                    json!({ "enable-updates": true, "server-ip": "127.0.0.1",
                            "server-port": 53001 }),
                );
                m.insert("ddns-send-updates".into(), json!(true));
                m.insert("ddns-override-client-update".into(), json!(true));
                m.insert("ddns-replace-client-name".into(), json!("never"));
                m.insert("ddns-qualifying-suffix".into(), json!(suffix));
            }
            None => {
                m.insert("dhcp-ddns".into(), json!({ "enable-updates": false }));
                m.insert("ddns-send-updates".into(), json!(false));
                if let Some(s) = &opts.ddns_qualifying_suffix {
                    m.insert("ddns-qualifying-suffix".into(), json!(s));
                }
            }
        }
        for (k, v) in &opts.extra {
            m.insert(k.clone(), v.clone());
        }
        let conf = json!({ "Dhcp4": dhcp4 });
        std::fs::write(
            d.join("kea-dhcp4.conf"),
            serde_json::to_vec_pretty(&conf).unwrap(),
        )
        .unwrap();
        let mut cmd = cmd_in(net.server_ns(), "kea-dhcp4");
        env_dirs(&mut cmd);
        cmd.arg("-c").arg(d.join("kea-dhcp4.conf"));
        let dhcp4 = PeerProcess::spawn("kea-dhcp4", cmd, &d.join("kea-dhcp4.log"));
        let mut kea = Kea { dhcp4, d2, dir };
        let logf = {
            let log = kea.dir.path().join("kea-dhcp4.log");
            move || std::fs::read_to_string(&log).unwrap_or_default()
        };
        wait_until(
            "kea-dhcp4's control socket",
            Duration::from_secs(20),
            logf,
            || {
                kea.dhcp4.assert_running();
                kea.try_command(&json!({ "command": "list-commands" }))
                    .ok()
                    .filter(|r| r["result"] == 0)
            },
        );
        kea
    }

    /// The memfile lease CSV.
    pub fn lease_file(&self) -> PathBuf {
        self.dir.path().join("leases4.csv")
    }

    /// The unix control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.dir.path().join("kea4.sock")
    }

    /// Its directory (configs, logs, leases, PID files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// kea-dhcp4's log so far.
    pub fn log(&self) -> String {
        self.dhcp4.log()
    }

    /// kea-dhcp-ddns's log so far (empty without DDNS).
    pub fn d2_log(&self) -> String {
        self.d2.as_ref().map(PeerProcess::log).unwrap_or_default()
    }

    /// Sends one command over the control socket; its JSON answer (Kea answers a single
    /// command with an object).
    pub fn try_command(&self, cmd: &serde_json::Value) -> Result<serde_json::Value, String> {
        let mut s = UnixStream::connect(self.control_socket()).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        s.write_all(cmd.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            // Kea closes the connection after its answer; stop early once the JSON is whole.
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if serde_json::from_slice::<serde_json::Value>(&buf).is_ok() {
                        break;
                    }
                }
                Err(e) => return Err(format!("{e} after {} bytes", buf.len())),
            }
        }
        serde_json::from_slice(&buf).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&buf)))
    }

    /// [`Kea::try_command`], panicking on failure.
    pub fn command(&self, cmd: &serde_json::Value) -> serde_json::Value {
        self.try_command(cmd)
            .unwrap_or_else(|e| panic!("Kea command {cmd}: {e}\nlog:\n{}", self.log()))
    }

    /// `lease4-get` by address: the lease's `arguments` object, or None when Kea has none.
    pub fn lease4_get(&self, addr: Ipv4Addr) -> Option<serde_json::Value> {
        let r = self.command(&serde_json::json!({
            "command": "lease4-get", "arguments": { "ip-address": addr.to_string() }
        }));
        (r["result"] == 0).then(|| r["arguments"].clone())
    }

    /// The lease CSV's rows (header first) split at commas.
    pub fn lease_rows(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.lease_file())
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// dnsmasq
// ---------------------------------------------------------------------------------------------

/// How to start [`Dnsmasq`].
#[derive(Debug, Clone)]
pub struct DnsmasqOptions {
    /// The DHCP range (default .100 – .150 of the subnet).
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// The lease time as dnsmasq spells it (default "1h").
    pub lease_time: String,
    /// Option 15: `Some(domain)` (default "amt.test") or `None` (suppressed).
    pub domain_name: Option<String>,
    /// Option 6: `None` leaves dnsmasq's default (itself when it serves DNS); `Some(vec![])`
    /// suppresses it.
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    /// Option 3: `None` leaves dnsmasq's default (itself); `Some(vec![])` suppresses it.
    pub routers: Option<Vec<Ipv4Addr>>,
    /// The DNS port: 0 disables DNS (default 53: DNS on the server address).
    pub dns_port: u16,
    /// `--domain`: the domain DHCP-registered names get in DNS (default "amt.test").
    pub domain: Option<String>,
    /// `--host-record` entries: (name, address), e.g. ("ProvisionServer.amt.test", server).
    pub host_records: Vec<(String, Ipv4Addr)>,
    /// Whether dnsmasq pings an address before offering it (default false: `--no-ping`,
    /// which saves about 3 s per DISCOVER).
    pub ping_check: bool,
    /// More command-line arguments.
    pub extra_args: Vec<String>,
}

impl Default for DnsmasqOptions {
    fn default() -> Self {
        DnsmasqOptions {
            range: None,
            lease_time: "1h".to_owned(),
            domain_name: Some("amt.test".to_owned()),
            dns_servers: None,
            routers: None,
            dns_port: 53,
            domain: Some("amt.test".to_owned()),
            host_records: Vec::new(),
            ping_check: false,
            extra_args: Vec::new(),
        }
    }
}

/// dnsmasq in the server namespace, bound to the server end of the veth, DHCP with
/// `--log-dhcp` (its log shows the option-55 list each client asked for), optionally DNS.
pub struct Dnsmasq {
    proc: PeerProcess,
    dir: tempfile::TempDir,
    ns: String,
    addr: Ipv4Addr,
    dns_port: u16,
}

impl Dnsmasq {
    /// Starts dnsmasq and waits (20 s at most) until it logs that DHCP is up (and, with DNS,
    /// until it answers a query).
    pub fn start(net: &NetnsPair, opts: &DnsmasqOptions) -> Dnsmasq {
        let dir = tempfile::Builder::new()
            .prefix("amt-dnsmasq-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let (lo, hi) = opts.range.unwrap_or((net.host(100), net.host(150)));
        let mut cmd = cmd_in(net.server_ns(), "dnsmasq");
        cmd.args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--log-dhcp",
            "--log-facility=-",
            "--user=root",
            "--group=root",
        ])
        .arg(format!("--interface={}", net.server_if()))
        .arg(format!("--port={}", opts.dns_port))
        .arg(format!("--pid-file={}", d.join("dnsmasq.pid").display()))
        .arg(format!(
            "--dhcp-leasefile={}",
            d.join("dnsmasq.leases").display()
        ))
        .arg(format!(
            "--dhcp-range={lo},{hi},{},{}",
            net.netmask(),
            opts.lease_time
        ));
        if !opts.ping_check {
            cmd.arg("--no-ping");
        }
        if let Some(dom) = &opts.domain {
            cmd.arg(format!("--domain={dom}"));
        }
        match &opts.domain_name {
            Some(dom) => cmd.arg(format!("--dhcp-option=15,{dom}")),
            None => cmd.arg("--dhcp-option=15"),
        };
        if let Some(v) = &opts.dns_servers {
            match v.is_empty() {
                true => cmd.arg("--dhcp-option=6"),
                false => cmd.arg(format!("--dhcp-option=6,{}", ip_list(v).replace(' ', ""))),
            };
        }
        if let Some(v) = &opts.routers {
            match v.is_empty() {
                true => cmd.arg("--dhcp-option=3"),
                false => cmd.arg(format!("--dhcp-option=3,{}", ip_list(v).replace(' ', ""))),
            };
        }
        for (name, addr) in &opts.host_records {
            cmd.arg(format!("--host-record={name},{addr}"));
        }
        cmd.args(&opts.extra_args);
        let proc = PeerProcess::spawn("dnsmasq", cmd, &d.join("dnsmasq.log"));
        let mut dm = Dnsmasq {
            proc,
            dir,
            ns: net.server_ns().to_owned(),
            addr: net.server_ip(),
            dns_port: opts.dns_port,
        };
        let log = dm.dir.path().join("dnsmasq.log");
        let logf = || std::fs::read_to_string(&log).unwrap_or_default();
        wait_until("dnsmasq to start", Duration::from_secs(20), logf, || {
            dm.proc.assert_running();
            let up = dm.proc.log().contains("DHCP, sockets bound exclusively")
                || dm.proc.log().contains("DHCP, IP range");
            let dns_ok = dm.dns_port == 0 || {
                let a = dig(&dm.ns, dm.addr, dm.dns_port, "localhost.invalid", "A");
                !a.status.is_empty()
            };
            (up && dns_ok).then_some(())
        });
        dm
    }

    /// The DNS server (address, port); port 0 when DNS is off.
    pub fn dns(&self) -> (Ipv4Addr, u16) {
        (self.addr, self.dns_port)
    }

    /// `dig` against its DNS from inside the server namespace.
    pub fn dig(&self, name: &str, rtype: &str) -> DigAnswer {
        dig(&self.ns, self.addr, self.dns_port, name, rtype)
    }

    /// Its lease file.
    pub fn lease_file(&self) -> PathBuf {
        self.dir.path().join("dnsmasq.leases")
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Its log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log().lines().map(str::to_owned).collect()
    }

    /// The option-55 lists it logged for transaction `xid`, one per message (DISCOVER,
    /// REQUEST, …), each in the client's order.
    pub fn requested_options(&self, xid: u32) -> Vec<Vec<u8>> {
        let marker = format!(" {xid} requested options: ");
        let mut lists: Vec<Vec<u8>> = Vec::new();
        let mut in_group = false;
        for line in self.log_lines() {
            match line.split_once(&marker) {
                Some((_, rest)) => {
                    if !in_group {
                        lists.push(Vec::new());
                        in_group = true;
                    }
                    let cur = lists.last_mut().unwrap();
                    cur.extend(
                        rest.split(',')
                            .filter_map(|o| o.trim().split(':').next()?.trim().parse::<u8>().ok()),
                    );
                }
                None => in_group = false,
            }
        }
        lists
    }
}

// ---------------------------------------------------------------------------------------------
// tcpdump + decoding
// ---------------------------------------------------------------------------------------------

/// One DHCP option as captured.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DhcpOption {
    /// The option code.
    pub code: u8,
    /// Its data, hex.
    pub hex: String,
}

impl DhcpOption {
    /// Its data.
    pub fn bytes(&self) -> Vec<u8> {
        hex::decode(&self.hex).unwrap()
    }
}

/// One DHCP packet decoded from a capture by dhcp_pcap.py.
#[derive(Debug, Clone, Deserialize)]
pub struct CapturedDhcp {
    /// Capture time (seconds since the epoch).
    pub time: f64,
    /// Source `ip:port`.
    pub src: String,
    /// Destination `ip:port`.
    pub dst: String,
    /// BOOTP op: 1 request, 2 reply.
    pub op: u8,
    /// "client" (op 1) or "server" (op 2).
    pub direction: String,
    /// Transaction ID.
    pub xid: u32,
    /// BOOTP flags (0x8000 broadcast).
    pub flags: u16,
    /// ciaddr.
    pub ciaddr: String,
    /// yiaddr.
    pub yiaddr: String,
    /// siaddr.
    pub siaddr: String,
    /// giaddr.
    pub giaddr: String,
    /// Client hardware address `aa:bb:…`.
    pub chaddr: String,
    /// Option 53 (1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK, 6 NAK, 7 RELEASE, …).
    pub message_type: Option<u8>,
    /// Every option but pad and end, in wire order.
    pub options: Vec<DhcpOption>,
}

impl CapturedDhcp {
    /// The data of option `code` (the first one), if present.
    pub fn option(&self, code: u8) -> Option<Vec<u8>> {
        self.options
            .iter()
            .find(|o| o.code == code)
            .map(DhcpOption::bytes)
    }

    /// The option codes in wire order.
    pub fn option_codes(&self) -> Vec<u8> {
        self.options.iter().map(|o| o.code).collect()
    }
}

/// Decodes the DHCP packets in a pcap file with dhcp_pcap.py (scapy), in capture order.
pub fn decode_pcap(pcap: &Path) -> Vec<CapturedDhcp> {
    let out = run_ok(
        Command::new(venv_python())
            .arg(support_script("dhcp_pcap.py"))
            .arg(pcap),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// tcpdump capturing DHCP (UDP 67/68) on one interface inside one namespace.
pub struct Sniffer {
    proc: PeerProcess,
    dir: tempfile::TempDir,
}

impl Sniffer {
    /// Starts tcpdump on `iface` in `ns` and waits (10 s at most) until the capture is live.
    pub fn start(ns: &str, iface: &str) -> Sniffer {
        let dir = tempfile::Builder::new()
            .prefix("amt-tcpdump-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let mut cmd = cmd_in(ns, "tcpdump");
        cmd.args([
            "-i",
            iface,
            "--immediate-mode",
            "-U",
            "-n",
            "-Z",
            "root",
            "-w",
        ])
        .arg(d.join("dhcp.pcap"))
        .args(["udp port 67 or udp port 68"]);
        let proc = PeerProcess::spawn("tcpdump", cmd, &d.join("tcpdump.log"));
        let mut s = Sniffer { proc, dir };
        let log = s.dir.path().join("tcpdump.log");
        let logf = || std::fs::read_to_string(&log).unwrap_or_default();
        wait_until("tcpdump to listen", Duration::from_secs(10), logf, || {
            s.proc.assert_running();
            s.proc.log().contains("listening on").then_some(())
        });
        s
    }

    /// Captures on the device end of `net`, inside the device namespace.
    pub fn on_device(net: &NetnsPair) -> Sniffer {
        Sniffer::start(net.device_ns(), net.device_if())
    }

    /// The pcap file (complete only after [`Sniffer::stop`]).
    pub fn pcap(&self) -> PathBuf {
        self.dir.path().join("dhcp.pcap")
    }

    /// Stops the capture (tcpdump flushes on SIGTERM); returns the pcap file, which lives
    /// as long as the sniffer.
    pub fn stop(&mut self) -> PathBuf {
        // Let a packet that is still on its way reach the capture.
        if self.proc.child.is_some() {
            std::thread::sleep(Duration::from_millis(200));
        }
        self.proc.stop();
        self.pcap()
    }

    /// Stops the capture and decodes it.
    pub fn packets(&mut self) -> Vec<CapturedDhcp> {
        let p = self.stop();
        decode_pcap(&p)
    }

    /// tcpdump's log.
    pub fn log(&self) -> String {
        self.proc.log()
    }
}

// ---------------------------------------------------------------------------------------------
// scapy DHCP client
// ---------------------------------------------------------------------------------------------

/// One DISCOVER/OFFER/REQUEST/ACK by dhcp_client.py (scapy), an independent DHCP client.
#[derive(Debug, Clone)]
pub struct ScapyClient {
    /// The interface (inside the namespace given to [`ScapyClient::run`]).
    pub iface: String,
    /// Client MAC (Ethernet source and chaddr); None = the interface's.
    pub mac: Option<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 81's name (sent in wire format).
    pub fqdn: Option<String>,
    /// Option 81's flags (default 0x05: S|E).
    pub fqdn_flags: u8,
    /// Option 55 in DISCOVER, byte for byte.
    pub params: Vec<u8>,
    /// Option 55 in REQUEST (default: the same as `params`).
    pub request_params: Option<Vec<u8>>,
    /// Transaction ID.
    pub xid: u32,
    /// Seconds to wait for the OFFER and for the ACK.
    pub timeout_secs: f64,
}

/// What the scapy client got.
#[derive(Debug, Clone, Deserialize)]
pub struct ScapyLease {
    /// The leased address.
    pub yiaddr: Ipv4Addr,
    /// The server identifier (option 54).
    pub server_id: Option<Ipv4Addr>,
    /// Transaction ID.
    pub xid: u32,
    /// Client MAC used.
    pub mac: String,
    /// The OFFER's options in wire order.
    pub offer: Vec<DhcpOption>,
    /// The ACK's options in wire order.
    pub ack: Vec<DhcpOption>,
}

impl ScapyLease {
    /// Option `code` of the ACK.
    pub fn ack_option(&self, code: u8) -> Option<Vec<u8>> {
        self.ack
            .iter()
            .find(|o| o.code == code)
            .map(DhcpOption::bytes)
    }
}

impl ScapyClient {
    /// A client on `iface` asking for 1,3,6,12,15,28,42,51,54,58,59,81, no names.
    pub fn new(iface: &str) -> ScapyClient {
        ScapyClient {
            iface: iface.to_owned(),
            mac: None,
            hostname: None,
            fqdn: None,
            fqdn_flags: 0x05,
            params: vec![1, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59, 81],
            request_params: None,
            xid: 0x1234_abcd,
            timeout_secs: 5.0,
        }
    }

    /// Runs the exchange inside `ns` (30 s at most); Err with the script's output when it got
    /// no OFFER, no ACK or a NAK.
    pub fn run(&self, ns: &str) -> Result<ScapyLease, String> {
        let list = |v: &[u8]| v.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        let mut c = Command::new(program("ip").unwrap_or_else(|| "ip".into()));
        c.args(["netns", "exec", ns])
            .arg(venv_python())
            .arg(support_script("dhcp_client.py"))
            .args(["--iface", &self.iface])
            .args(["--fqdn-flags", &self.fqdn_flags.to_string()])
            .args(["--params", &list(&self.params)])
            .args(["--xid", &self.xid.to_string()])
            .args(["--timeout", &self.timeout_secs.to_string()]);
        if let Some(m) = &self.mac {
            c.args(["--mac", m]);
        }
        if let Some(h) = &self.hostname {
            c.args(["--hostname", h]);
        }
        if let Some(f) = &self.fqdn {
            c.args(["--fqdn", f]);
        }
        if let Some(p) = &self.request_params {
            c.args(["--request-params", &list(p)]);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = c
            .spawn()
            .map_err(|e| format!("starting dhcp_client.py: {e}"))?;
        let out = wait_output(child, Duration::from_secs(30), "dhcp_client.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "dhcp_client.py failed ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).map_err(|e| format!("{e}: {stdout}"))
    }
}
