//! Intel's WS-Management message library as a peer: running the scripts in tests/node, reading
//! what they print, and building the same requests with our console-side builders.
//!
//! Shared by tests/conformance_node.rs (`#[path]`-included) and benches/throughput.rs. The
//! operations and their argument values are defined once, in tests/node/ops.js; [`our_builder`]
//! maps each operation name to the typed struct and builder call that produces the same request.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use amt_wsman::classes::cim::{self, PowerState};
use amt_wsman::classes::ips::{self, AdminPassEncryptionType, SigningAlgorithm};
use amt_wsman::classes::{amt, MethodInput, WsmanClass};
use amt_wsman::value::{EndpointReference, SelectorSet};
use amt_wsman::Request;
use serde_json::Value as Json;

/// One request Intel's library built, as tests/node/gen-requests.js prints it.
#[derive(Debug, Clone)]
pub struct NodeOp {
    /// `Class.Method` as named in the library (`HostBasedSetupService.AdminSetup`).
    pub name: String,
    /// The wire class name (`IPS_HostBasedSetupService`).
    pub class: String,
    /// The `wsa:Action` the library wrote.
    pub action: String,
    /// The `wsa:MessageID` the library wrote.
    pub message_id: u64,
    /// The request XML, exactly as the library returned it.
    pub xml: String,
    /// The argument values passed to the library, by the names ops.js gives them.
    pub args: Json,
}

impl NodeOp {
    fn arg(&self, key: &str) -> Result<&Json, String> {
        self.args
            .get(key)
            .ok_or_else(|| format!("{}: no argument {key:?} in ops.js", self.name))
    }

    /// A string argument.
    pub fn str(&self, key: &str) -> Result<String, String> {
        self.arg(key)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: argument {key:?} is not a string", self.name))
    }

    /// An unsigned integer argument.
    pub fn uint(&self, key: &str) -> Result<u64, String> {
        self.arg(key)?
            .as_u64()
            .ok_or_else(|| format!("{}: argument {key:?} is not an unsigned integer", self.name))
    }

    /// A boolean argument.
    pub fn bool(&self, key: &str) -> Result<bool, String> {
        self.arg(key)?
            .as_bool()
            .ok_or_else(|| format!("{}: argument {key:?} is not a boolean", self.name))
    }

    /// An array of unsigned integers.
    pub fn uints(&self, key: &str) -> Result<Vec<u64>, String> {
        self.arg(key)?
            .as_array()
            .and_then(|a| a.iter().map(Json::as_u64).collect())
            .ok_or_else(|| {
                format!(
                    "{}: argument {key:?} is not an array of integers",
                    self.name
                )
            })
    }

    /// A narrower unsigned integer argument.
    pub fn int<T: TryFrom<u64>>(&self, key: &str) -> Result<T, String> {
        let v = self.uint(key)?;
        T::try_from(v).map_err(|_| format!("{}: argument {key:?} = {v} is out of range", self.name))
    }
}

/// Reads the JSON array gen-requests.js prints.
pub fn parse_ops(json: &str) -> Result<Vec<NodeOp>, String> {
    let v: Json = serde_json::from_str(json).map_err(|e| format!("gen-requests.js output: {e}"))?;
    let arr = v
        .as_array()
        .ok_or("gen-requests.js output is not an array")?;
    arr.iter()
        .map(|o| {
            let s = |k: &str| {
                o.get(k)
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("gen-requests.js entry without string {k:?}: {o}"))
            };
            let name = s("name")?;
            Ok(NodeOp {
                class: s("class")?,
                action: s("action")?,
                message_id: s("message_id")?
                    .parse()
                    .map_err(|_| format!("{name}: message_id is not a decimal counter"))?,
                xml: s("xml")?,
                args: o.get("args").cloned().unwrap_or(Json::Null),
                name,
            })
        })
        .collect()
}

/// Where the Node peer lives and whether it must be there.
#[derive(Debug, Clone)]
pub struct NodePeer {
    /// The npm project (tests/node).
    pub dir: PathBuf,
    /// True when `AMTD_NODE_DIR` named it: then a missing peer is an error, not a skip.
    pub required: bool,
}

impl NodePeer {
    /// `AMTD_NODE_DIR` (set by ./scripts/test), else `<workspace>/tests/node`.
    pub fn locate() -> Self {
        match std::env::var_os("AMTD_NODE_DIR") {
            Some(d) => NodePeer {
                dir: PathBuf::from(d),
                required: true,
            },
            None => NodePeer {
                dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node"),
                required: false,
            },
        }
    }

    /// Why the peer cannot run (`node` missing, `npm ci` not run), or `None` when it can.
    pub fn missing(&self) -> Option<String> {
        let node = Command::new("node").arg("--version").output();
        if !matches!(&node, Ok(o) if o.status.success()) {
            return Some("`node` is not on PATH".into());
        }
        let lib = self
            .dir
            .join("node_modules/@device-management-toolkit/wsman-messages");
        if !lib.is_dir() || !self.dir.join("node_modules/xml2js").is_dir() {
            return Some(format!(
                "{} has no node_modules (npm ci not run)",
                self.dir.display()
            ));
        }
        None
    }

    /// Runs `node <script> <args…>` in the npm project and returns its stdout.
    pub fn run(&self, script: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("cannot start node: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "node {script} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout).map_err(|_| format!("node {script}: stdout is not UTF-8"))
    }
}

/// Our console-side builder for one operation: message ID in, request out. The typed input is
/// made once, from the argument values Node used; calling the builder only does what a console
/// does per request (typed value → envelope).
pub type Builder = Box<dyn Fn(u64) -> Request>;

fn ok(f: impl Fn(u64) -> Request + 'static) -> Result<Builder, String> {
    Ok(Box::new(f))
}

/// The `ManagedElement` Intel's libraries send with power requests: the host computer system.
/// Note its `Address` is the WS-Addressing namespace URI, not the anonymous role (the same in
/// go-wsman-messages; AMT-PROTOCOLS.md §3.4(c)).
pub fn intel_managed_system() -> EndpointReference {
    EndpointReference {
        address: "http://schemas.xmlsoap.org/ws/2004/08/addressing".into(),
        ..cim::managed_system()
    }
}

/// Our builder for `op`, with the argument values Node used; `Err` names what is missing.
pub fn our_builder(op: &NodeOp) -> Result<Builder, String> {
    let none = SelectorSet::new;
    match op.name.as_str() {
        "GeneralSettings.Get" => ok(move |id| amt::AmtGeneralSettings::get(id, none())),
        "PowerManagementService.Get" => {
            ok(move |id| cim::CimPowerManagementService::get(id, none()))
        }
        "HostBasedSetupService.Get" => ok(move |id| ips::IpsHostBasedSetupService::get(id, none())),
        "PowerManagementService.RequestPowerStateChange" => {
            let input = cim::RequestPowerStateChangeInput {
                power_state: Some(power_state(op)?),
                managed_element: Some(intel_managed_system()),
                ..Default::default()
            };
            ok(move |id| input.request(id, none()))
        }
        "HostBasedSetupService.Setup" => {
            let input = ips::SetupInput {
                net_admin_pass_encryption_type: Some(pass_encryption(op)?),
                network_admin_password: Some(op.str("adminPassword")?),
                ..Default::default()
            };
            ok(move |id| input.request(id, none()))
        }
        "HostBasedSetupService.AdminSetup" => {
            let input = ips::AdminSetupInput {
                net_admin_pass_encryption_type: Some(pass_encryption(op)?),
                network_admin_password: Some(op.str("adminPassword")?),
                mc_nonce: Some(op.str("mcNonce")?),
                signing_algorithm: Some(signing_algorithm(op)?),
                digital_signature: Some(op.str("digitalSignature")?),
                ..Default::default()
            };
            ok(move |id| input.request(id, none()))
        }
        other => Err(format!("no typed builder for {other} yet")),
    }
}

/// `powerState` as a [`PowerState`].
pub fn power_state(op: &NodeOp) -> Result<PowerState, String> {
    PowerState::try_from(op.int::<u16>("powerState")?).map_err(|e| e.to_string())
}

/// `adminPassEncryptionType` as an [`AdminPassEncryptionType`].
pub fn pass_encryption(op: &NodeOp) -> Result<AdminPassEncryptionType, String> {
    AdminPassEncryptionType::try_from(op.int::<u32>("adminPassEncryptionType")?)
        .map_err(|e| e.to_string())
}

/// `signingAlgorithm` as a [`SigningAlgorithm`].
pub fn signing_algorithm(op: &NodeOp) -> Result<SigningAlgorithm, String> {
    SigningAlgorithm::try_from(op.int::<u32>("signingAlgorithm")?).map_err(|e| e.to_string())
}
