//! The simulation driver (quinn's `Pair` idea): the server's provisioning machine against the
//! emulator's sans-IO firmware, in memory. Every request goes through XML both ways, the clock
//! is virtual, randomness is seeded, the CA is an in-test amt-pki `EmbeddedCa`. Channel
//! admission is modelled as the emulator's network front does it: the provisioning channel
//! only while the device is in setup mode; the provisioned channel only with the installed
//! certificate and a password that matches the device's digest HA1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use amt_emulator::firmware::{Caller, Channel as FwChannel, Env, Firmware};
use amt_emulator::persona;
use amt_emulator::state::{DeviceConfig, DeviceState};
use amt_pki::{
    CaSettings, CertHash, EmbeddedCa, HashAlgorithm, LeafRequest, ProvisioningCert, RsaKey,
    SetupMarker, VerifiedCsr,
};
use amt_wsman::secret::SecretString;
use amt_wsman::{Fault, Request, Response, ResponseBody};
use amtd_core::provisioning::{
    random_bytes_needed, Action, Channel, Input, Outcome, Provisioning, Start, Transition,
};
use amtd_core::{DeviceRecord, Fqdn, ProvisioningProfile};
use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

pub const NOW: u64 = 1_750_000_000;
pub const UUID: &str = "4c4c4544-0033-3110-8052-b3c04f4b4d32";
pub const FQDN: &str = "amtdev01.amt.test";

pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// The console side's PKI, made once per test binary: one key serves as root, issuing CA and
/// provisioning leaf key (RSA key generation is slow).
pub struct Pki {
    pub ca: EmbeddedCa,
    pub prov: ProvisioningCert,
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut r = rng(1);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let key = RsaKey::generate(&mut r, 2048).expect("key");
        let (ca, _) = EmbeddedCa::create_with_keys(
            CaSettings::default(),
            key.clone(),
            key.clone(),
            &mut r,
            now,
        )
        .expect("CA");
        let leaf = ca
            .issue(
                &LeafRequest::Provisioning {
                    fqdn: "prov.amt.test",
                    marker: SetupMarker::Oid,
                },
                key.public_key_info().expect("spki"),
                &mut r,
                now,
            )
            .expect("provisioning certificate");
        let chain = vec![
            leaf.cert.clone(),
            ca.issuing().cert().clone(),
            ca.root().cert().clone(),
        ];
        let prov = ProvisioningCert::from_parts(chain, key, now).expect("provisioning cert");
        Pki {
            root_der: ca.root().cert().der().to_vec(),
            issuing_der: ca.issuing().cert().der().to_vec(),
            prov,
            ca,
        }
    })
}

/// How the network misbehaves for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The device applies the request, then the connection drops before the answer.
    EofAfterApply,
    /// The connection drops after the request was written; the device never got it.
    EofBeforeApply,
    /// No answer in time (the device never got it).
    Timeout,
    /// The connection is refused (nothing sent).
    Refused,
    /// The device answers with a SOAP fault.
    DeviceFault,
    /// The TLS handshake is refused: not retryable.
    TlsRefused,
}

/// Which request to break.
#[derive(Debug, Clone)]
pub enum FaultAt {
    /// The n-th network request (0-based, Send and Verify counted).
    Index(usize),
    /// The first request whose action ends with this (e.g. `/CommitChanges`).
    Action(&'static str),
}

pub struct Sim {
    pub fw: Firmware,
    pub rng: ChaCha20Rng,
    pub now: u64,
    /// Virtual seconds each request takes.
    pub latency: u64,
    pub fault: Option<(FaultAt, FaultKind)>,
    /// Actions of every request the firmware handled, in order.
    pub delivered: Vec<String>,
    /// Network requests the machine asked for.
    pub requests: usize,
    pub transitions: Vec<Transition>,
    pub revoked: Vec<amt_pki::Serial>,
    pub issued: Vec<amt_pki::Serial>,
    pub outcome: Option<Outcome>,
    pub admin_password: Option<SecretString>,
    /// (phase of the machine, last persisted phase) at each network request.
    pub send_phases: Vec<(amtd_core::Phase, Option<amtd_core::Phase>)>,
    pub steps: usize,
    /// The secrets persisted last (what a server's store would hold).
    pub secrets: Option<amtd_core::provisioning::DeviceSecrets>,
    /// Stop driving (a killed server) at this point.
    pub kill: Option<Kill>,
    /// Persisted transitions and delivered requests so far (for [`Kill`]).
    pub persists: usize,
}

/// Where a simulated server dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// Right after the n-th persisted transition (1-based).
    AfterPersist(usize),
    /// Right after the device handled the n-th delivered request (1-based), before the
    /// machine sees the answer.
    AfterApply(usize),
}

/// How a drive ended.
pub enum Driven {
    /// The run ended.
    Finished(Provisioning),
    /// The server died.
    Killed,
}

pub fn device_config(trust_root: bool) -> DeviceConfig {
    DeviceConfig {
        uuid: UUID.into(),
        hostname: "amtdev01".into(),
        domain: "amt.test".into(),
        mac: "00:16:3e:00:00:01".into(),
        persona: "amt16".into(),
        provisioning_server: None,
        extra_root_hashes: if trust_root {
            vec![CertHash::of_der(HashAlgorithm::Sha256, &pki().root_der).to_hex()]
        } else {
            vec![]
        },
    }
}

pub fn record(fqdn: &str) -> DeviceRecord {
    DeviceRecord {
        id: UUID.parse().expect("uuid"),
        fqdn: Fqdn::new(fqdn).expect("fqdn"),
        address: "127.0.0.1".into(),
        root_hashes: vec![CertHash::of_der(HashAlgorithm::Sha256, &pki().root_der)],
        admin_credentials_set: false,
    }
}

impl Sim {
    pub fn new() -> Sim {
        let state = DeviceState::new(device_config(true), [0x5A; 16]);
        Sim {
            fw: Firmware::new(state, persona::by_name("amt16").expect("persona")),
            rng: rng(3),
            now: NOW,
            latency: 1,
            fault: None,
            delivered: Vec::new(),
            requests: 0,
            transitions: Vec::new(),
            revoked: Vec::new(),
            issued: Vec::new(),
            outcome: None,
            admin_password: None,
            send_phases: Vec::new(),
            steps: 0,
            secrets: None,
            kill: None,
            persists: 0,
        }
    }

    /// Runs a whole provisioning; returns the final machine.
    pub fn run(&mut self, profile: ProvisioningProfile, fqdn: &str) -> Provisioning {
        match self.start(profile, fqdn) {
            Driven::Finished(m) => m,
            Driven::Killed => panic!("killed without a kill point"),
        }
    }

    /// Starts a provisioning and drives it until it ends or [`Sim::kill`] strikes.
    pub fn start(&mut self, profile: ProvisioningProfile, fqdn: &str) -> Driven {
        let mut random = vec![0u8; random_bytes_needed()];
        self.rng.fill_bytes(&mut random);
        let candidates = [pki().prov.clone()];
        let (m, actions) = Provisioning::begin(Start {
            device: record(fqdn),
            profile,
            candidates: &candidates,
            now: self.now,
            random: &random,
        });
        self.drive(m, actions)
    }

    /// Drives a machine until it ends or [`Sim::kill`] strikes.
    pub fn drive(&mut self, mut m: Provisioning, mut actions: Vec<Action>) -> Driven {
        loop {
            self.steps += 1;
            assert!(self.steps < 2000, "the machine does not converge");
            let phase = m.phase();
            let mut input = None;
            let mut persisted = None;
            for a in actions {
                match a {
                    Action::Persist(t) => {
                        if let Some(s) = &t.secrets {
                            self.admin_password = Some(s.admin_password.clone());
                            self.secrets = Some(s.clone());
                        }
                        persisted = Some(t.to);
                        self.transitions.push(*t);
                        self.persists += 1;
                        if self.kill == Some(Kill::AfterPersist(self.persists)) {
                            return Driven::Killed;
                        }
                    }
                    Action::Send {
                        request, channel, ..
                    } => {
                        assert!(input.is_none(), "two network actions in one step");
                        self.send_phases.push((phase, persisted));
                        input = Some(self.send(&request, &channel, false));
                        if self.killed_after_apply() {
                            return Driven::Killed;
                        }
                    }
                    Action::Verify {
                        request,
                        server_cert_der,
                        username,
                        password,
                        ..
                    } => {
                        assert!(input.is_none(), "two network actions in one step");
                        self.send_phases.push((phase, persisted));
                        let ch = Channel::ProvisionedTls {
                            username,
                            password,
                            server_cert_der,
                        };
                        input = Some(self.send(&request, &ch, true));
                        if self.killed_after_apply() {
                            return Driven::Killed;
                        }
                    }
                    Action::SignCsr {
                        csr_der,
                        fqdn,
                        uuid,
                    } => {
                        let csr = VerifiedCsr::from_der(&csr_der).expect("CSR verifies");
                        let uuid = uuid.to_string();
                        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(self.now);
                        let issued = pki()
                            .ca
                            .issue_from_csr(
                                &LeafRequest::Device {
                                    fqdn: fqdn.as_str(),
                                    uuid: &uuid,
                                },
                                &csr,
                                &mut self.rng,
                                t,
                            )
                            .expect("device certificate");
                        self.issued.push(issued.cert.serial());
                        input = Some(Input::Signed {
                            cert_der: issued.cert.der().to_vec(),
                            serial: issued.cert.serial(),
                        });
                    }
                    Action::RevokeCertificate { serial, .. } => self.revoked.push(serial),
                    Action::Finish(o) => self.outcome = Some(*o),
                }
            }
            if m.is_finished() {
                assert!(input.is_none());
                return Driven::Finished(m);
            }
            let Some(input) = input else {
                panic!("the machine is waiting for nothing in {}", m.phase());
            };
            self.now += self.latency;
            let (m2, a2) = m.step(Input::Now(self.now));
            m = m2;
            if m.is_finished() {
                actions = a2;
                continue;
            }
            assert!(a2.is_empty());
            let (m3, a3) = m.step(input);
            m = m3;
            actions = a3;
        }
    }

    fn killed_after_apply(&self) -> bool {
        self.kill == Some(Kill::AfterApply(self.delivered.len()))
    }

    fn fault_for(&mut self, req: &Request) -> Option<FaultKind> {
        let index = self.requests;
        self.requests += 1;
        let hit = match &self.fault {
            Some((FaultAt::Index(i), _)) => *i == index,
            Some((FaultAt::Action(a), _)) => req.action().ends_with(a),
            None => false,
        };
        if hit {
            self.fault.take().map(|(_, k)| k)
        } else {
            None
        }
    }

    fn send(&mut self, req: &Request, channel: &Channel, verify: bool) -> Input {
        let fault = self.fault_for(req);
        let refused = |reason: &str| {
            if verify {
                Input::VerifyFailed {
                    reason: reason.into(),
                }
            } else {
                Input::TransportFailed {
                    after_send: false,
                    retryable: false,
                }
            }
        };
        let caller = match channel {
            Channel::ProvisioningTls { .. } => {
                if !self.fw.in_setup() {
                    return refused("setup-mode TLS is closed");
                }
                Caller {
                    user: "admin".into(),
                    channel: FwChannel::TlsProvisioning {
                        cn: "prov.amt.test".into(),
                    },
                }
            }
            Channel::ProvisionedTls {
                username,
                password,
                server_cert_der,
            } => {
                let presented = self.fw.tls_identity().map(|(chain, _)| chain[0].clone());
                if self.fw.in_setup() || presented.as_ref() != Some(server_cert_der) {
                    return refused("the device presents another certificate");
                }
                let want = amt_wsman::digest::ha1(
                    username,
                    &self.fw.state.digest_realm,
                    password.expose(),
                );
                if self.fw.ha1_for(username) != Some(want) {
                    return refused("digest authentication failed");
                }
                Caller {
                    user: username.clone(),
                    channel: FwChannel::Tls,
                }
            }
        };
        match fault {
            Some(FaultKind::EofBeforeApply) => {
                return Input::TransportFailed {
                    after_send: true,
                    retryable: true,
                }
            }
            Some(FaultKind::Timeout) => return Input::Timeout,
            Some(FaultKind::Refused) => {
                return Input::TransportFailed {
                    after_send: false,
                    retryable: true,
                }
            }
            Some(FaultKind::TlsRefused) => return refused("TLS handshake refused"),
            Some(FaultKind::DeviceFault) => {
                let body = ResponseBody::Fault(Fault::access_denied());
                let resp = Response::to_request(req, body, 1);
                return Input::Response(Box::new(
                    Response::parse(resp.to_xml().as_bytes()).expect("xml"),
                ));
            }
            Some(FaultKind::EofAfterApply) | None => {}
        }
        let parsed = Request::parse(req.to_xml().as_bytes()).expect("request XML");
        self.delivered.push(parsed.action().into_owned());
        let rng = &mut self.rng;
        let mut fill = |b: &mut [u8]| rng.fill_bytes(b);
        let mut env = Env {
            now: self.now,
            random: &mut fill,
        };
        let resp = self.fw.handle(&parsed, &caller, &mut env);
        let resp = Response::parse(resp.to_xml().as_bytes()).expect("response XML");
        if fault == Some(FaultKind::EofAfterApply) {
            return Input::TransportFailed {
                after_send: true,
                retryable: true,
            };
        }
        Input::Response(Box::new(resp))
    }

    /// How many times the device handled an action ending with `suffix`.
    pub fn delivered_count(&self, suffix: &str) -> usize {
        self.delivered
            .iter()
            .filter(|a| a.ends_with(suffix))
            .count()
    }

    pub fn phases(&self) -> Vec<String> {
        self.transitions
            .iter()
            .map(|t| t.to.name().to_owned())
            .collect()
    }
}
