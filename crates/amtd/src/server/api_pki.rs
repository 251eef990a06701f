//! The PKI and readiness part of the REST API (what the web console's certificate and
//! readiness pages show), merged into [`super::api::router`] behind the same auth layer.
//!
//! - `GET /api/v1/pki/cas`: the embedded CAs (issuing CA first, then the root): subject,
//!   issuer, serial, validity, SHA-256 fingerprint, key type and size, self-signed or not, and
//!   the CRL distribution point.
//! - `GET /api/v1/pki/certificates?q=&status=&limit=&after=`: the ledger of issued certificates,
//!   newest first, searched over subject, SAN DNS names, serial and device UUID, filtered by
//!   status (`valid`, `revoked`, `expired`, `pending`), one page of at most
//!   [`query::MAX_PAGE`] entries; `after` is the `next` cursor of the previous page.
//! - `GET /api/v1/pki/crls`: each CA's published CRL: number, thisUpdate, nextUpdate, entry
//!   count, distribution point, whether it is overdue.
//! - `GET /api/v1/trust/chain.pem` and `GET /api/v1/trust/mtls-bundle.pem`: trust files as
//!   attachments (public material only, see the handlers).
//! - `GET /api/v1/check`: the last readiness report (SPEC C1) the server ran;
//!   `POST /api/v1/check` (administrator, audited) runs `amtd check` from the server with the
//!   settings `amtd serve`/`amtd lab` handed over ([`ServerCore::set_check_inputs`]), bounded by
//!   [`CHECK_TIMEOUT`], one run at a time. The report is kept in memory only: a restarted
//!   server has none until the next run.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use amt_pki::{CaRole, Cert, CertState, LedgerEntry, RevocationReason, Serial};
use amtd_infra::pki_store::query::{self, CertQuery, CertStatus};
use amtd_infra::store::AuditResult;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{audit_refused, internal, unix, ApiError};
use super::auth::Caller;
use super::discovery::AuditLog;
use super::ServerCore;
use crate::check::report::{Report, Status, Team};
use crate::check::CheckInputs;

/// Longest a readiness run may take before it is abandoned (504). Each network step of the
/// check has its own, shorter timeout; this bounds the whole.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(180);

/// Certificates on one page when `limit` is not given.
const DEFAULT_PAGE: usize = 100;

/// The readiness check as the server runs it: its inputs, the last report (memory only) and
/// the one-run-at-a-time lock. Lives in [`ServerCore`].
#[derive(Default)]
pub struct Readiness {
    /// What `POST /api/v1/check` runs with; `Err` lists configuration problems.
    inputs: Mutex<Option<Result<CheckInputs, Vec<String>>>>,
    /// The last report, as served.
    last: Mutex<Option<Value>>,
    /// Held while a run is under way (by the task that runs it, not by the request).
    running: Arc<tokio::sync::Mutex<()>>,
}

impl ServerCore {
    /// Hands the server the readiness check's inputs (`amtd serve`: the configuration's
    /// `[check]` settings; `amtd lab`: its own DNS server and domain), or the problems that
    /// keep it from running.
    pub fn set_check_inputs(&self, inputs: Result<CheckInputs, Vec<String>>) {
        if let Err(problems) = &inputs {
            tracing::warn!(problems = %problems.join("; "), "the readiness check cannot run");
        }
        *self
            .readiness
            .inputs
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(inputs);
    }

    /// `amtd lab`'s readiness inputs: its own DNS server (`dns_server`) and `domain`, the hello
    /// listener's address, the lab root and the provisioning certificates this core offers.
    pub fn set_lab_check_inputs(
        &self,
        domain: &str,
        dns_server: SocketAddr,
        hello_ip: std::net::IpAddr,
        lab_root: amt_pki::CertHash,
    ) {
        let held = self
            .prov
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    if i == 0 {
                        "lab".to_owned()
                    } else {
                        format!("lab{i}")
                    },
                    p.clone(),
                )
            })
            .collect();
        self.set_check_inputs(Ok(crate::check_cmd::lab_inputs(
            domain, dns_server, hello_ip, lab_root, held,
        )));
    }
}

#[derive(Clone)]
struct PkiState {
    core: Arc<ServerCore>,
    audit: AuditLog,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn no_ca() -> ApiError {
    internal("the CA store is unavailable")
}

/// The PKI, trust-file and readiness routes, to merge into the API router.
pub fn router(core: Arc<ServerCore>, audit: AuditLog) -> Router {
    Router::new()
        .route("/api/v1/pki/cas", get(cas))
        .route("/api/v1/pki/certificates", get(certificates))
        .route("/api/v1/pki/crls", get(crls))
        .route("/api/v1/trust/chain.pem", get(chain_pem))
        .route("/api/v1/trust/mtls-bundle.pem", get(mtls_bundle_pem))
        .route("/api/v1/check", get(last_check).post(run_check))
        .with_state(PkiState { core, audit })
}

/// Both CAs, issuing CA first (the chain order).
const CHAIN: [CaRole; 2] = [CaRole::Issuing, CaRole::Root];

/// `AB:CD:…`, as `openssl x509 -fingerprint` prints it.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ca_json(role: CaRole, cert: &Cert, key_bits: usize, crl_url: Option<String>) -> Value {
    let hashes = cert.hashes();
    json!({
        "role": role.stem(),
        "subject": cert.subject(),
        "issuer": cert.issuer(),
        "serial": cert.serial().to_hex(),
        "not_before": unix(cert.not_before()),
        "not_after": unix(cert.not_after()),
        "sha256": hashes.sha256.to_hex(),
        "fingerprint_sha256": colon_hex(hashes.sha256.bytes()),
        "key_type": "RSA",
        "key_bits": key_bits,
        "self_signed": cert.is_self_signed(),
        "crl_url": crl_url,
    })
}

/// `GET /api/v1/pki/cas`.
async fn cas(State(s): State<PkiState>) -> Result<Json<Value>, ApiError> {
    let out = s
        .core
        .with_pki(|pki| {
            let ca = pki.ca();
            CHAIN
                .iter()
                .map(|&role| {
                    let auth = ca.authority(role);
                    ca_json(
                        role,
                        auth.cert(),
                        auth.key().bits(),
                        ca.settings().crl_url(role),
                    )
                })
                .collect::<Vec<_>>()
        })
        .ok_or_else(no_ca)?;
    Ok(Json(Value::Array(out)))
}

/// `GET /api/v1/pki/certificates` query. Unknown parameters are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertParams {
    q: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

fn cert_json(e: &LedgerEntry, status: CertStatus) -> Value {
    let (revoked_at, reason): (Option<u64>, Option<RevocationReason>) = match &e.state {
        CertState::Revoked { at, reason } => (Some(*at), Some(*reason)),
        _ => (None, None),
    };
    json!({
        "serial": e.serial.to_hex(),
        "subject": e.subject,
        "sans": e.sans,
        "purpose": e.purpose.to_string(),
        "issuer": e.issuer.stem(),
        "issued_at": e.issued_at,
        "not_before": e.not_before,
        "not_after": e.not_after,
        "status": status.as_str(),
        "state": e.state.name(),
        "revoked_at": revoked_at,
        "revocation_reason": reason.map(RevocationReason::as_str),
        "crl_reason_code": reason.map(RevocationReason::crl_code),
        "superseded_by": e.superseded_by.as_ref().map(Serial::to_hex),
        "device": e.device,
    })
}

/// `GET /api/v1/pki/certificates`: `{"certificates": [...], "total", "limit", "next"}`; 400
/// for an unknown parameter, a `limit` outside 1–500, an unknown `status`, a `q` longer than
/// 256 characters or an `after` that is no serial of the ledger.
async fn certificates(
    State(s): State<PkiState>,
    params: Result<Query<CertParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| {
        bad(format!(
            "bad query ({}); the parameters are q, status, limit and after",
            e.body_text()
        ))
    })?;
    let limit = match p.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=query::MAX_PAGE).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "limit must be a whole number from 1 to {}, not {l:?}",
                    query::MAX_PAGE
                ))
            })?,
    };
    let status = match p.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(st) => Some(CertStatus::parse(st).ok_or_else(|| {
            bad(format!(
                "status must be one of valid, revoked, expired, pending, not {st:?}"
            ))
        })?),
    };
    if let Some(q) = &p.q {
        if q.chars().count() > query::MAX_QUERY_LEN {
            return Err(bad(format!(
                "q must have at most {} characters",
                query::MAX_QUERY_LEN
            )));
        }
    }
    let after = match p.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(
            Serial::from_hex(a)
                .map_err(|e| bad(format!("after must be a certificate serial (hex): {e}")))?,
        ),
    };
    let q = CertQuery {
        text: p.q.as_deref(),
        status,
        limit,
        after: after.as_ref(),
    };
    let page = s
        .core
        .with_pki(|pki| {
            pki.search_certificates(&q, SystemTime::now()).map(|page| {
                json!({
                    "certificates": page
                        .entries
                        .iter()
                        .map(|(e, st)| cert_json(e, *st))
                        .collect::<Vec<_>>(),
                    "total": page.total,
                    "limit": limit,
                    "next": page.next.as_ref().map(Serial::to_hex),
                })
            })
        })
        .ok_or_else(no_ca)?
        .map_err(|e| {
            bad(format!(
                "{e} (after must be the next cursor of an earlier page)"
            ))
        })?;
    Ok(Json(page))
}

/// `GET /api/v1/pki/crls`: per CA (issuing first), the CRL as published at the distribution
/// point. `overdue`: its nextUpdate has passed (relying parties then refuse it; the server
/// re-publishes at half the validity, so this means publication stopped).
async fn crls(State(s): State<PkiState>) -> Result<Json<Value>, ApiError> {
    let now = SystemTime::now();
    let out = s
        .core
        .with_pki(|pki| {
            CHAIN
                .iter()
                .map(|&role| {
                    let mut v = json!({
                        "role": role.stem(),
                        "path": format!("/crl/{}.crl", role.stem()),
                        "url": pki.ca().settings().crl_url(role),
                    });
                    match pki.crl(role) {
                        Ok(crl) => {
                            let next = crl.next_update();
                            v["issuer"] = json!(crl.issuer());
                            v["crl_number"] = json!(crl.number());
                            v["this_update"] = json!(unix(crl.this_update()));
                            v["next_update"] = json!(next.map(unix));
                            v["entries"] = json!(crl.entries().len());
                            v["overdue"] = json!(next.is_none_or(|n| n < now));
                        }
                        Err(e) => {
                            v["error"] = json!(e.to_string());
                            v["overdue"] = json!(true);
                        }
                    }
                    v
                })
                .collect::<Vec<_>>()
        })
        .ok_or_else(no_ca)?;
    Ok(Json(Value::Array(out)))
}

fn pem_attachment(filename: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/v1/trust/chain.pem`: the embedded CA chain in the order the device expects — the
/// issuing CA first, then its signing CA, the self-signed root last.
///
/// Source of the order: AMT takes a chain one certificate at a time with
/// `IPS_HostBasedSetupService.AddNextCertInChain`, leaf first and root last
/// (`../shared/AMT-PROTOCOLS.md` §2, host-based setup step 3), and SPEC M8 asks for trust files
/// "issuing CA, then its signing CA, then the root". A CA chain has no leaf, so it starts with
/// the CA that signs the leaves. This is `amt_pki::trust::redirection_trust_pem`, which orders
/// by signature (not by file names), as `PkiStore::trust_pem` gives it.
async fn chain_pem(State(s): State<PkiState>) -> Result<Response, ApiError> {
    let pem = s
        .core
        .with_pki(|pki| pki.trust_pem())
        .ok_or_else(no_ca)?
        .map_err(internal)?;
    Ok(pem_attachment("amtd-ca-chain.pem", pem))
}

/// `GET /api/v1/trust/mtls-bundle.pem`: what a device must trust to accept mutual-TLS consoles
/// whose client certificates the embedded CA issues (M9): the issuing CA and the root (the
/// root is what `AddTrustedRootCertificate` installs) in chain order, preceded by explanatory
/// text (RFC 7468 §2 allows it outside the encapsulation boundaries) naming the CRL
/// distribution points whose serials the console pushes with AddCRL (M10).
///
/// Public material only, so a viewer may download it: no private key is in it. A console
/// certificate with its key is issued by `POST /api/v1/console-certificates` (administrator,
/// audited) and never kept by the server.
async fn mtls_bundle_pem(State(s): State<PkiState>) -> Result<Response, ApiError> {
    let text =
        s.core
            .with_pki(
                |pki| -> Result<String, amtd_infra::pki_store::PkiStoreError> {
                    let ca = pki.ca();
                    let chain = pki.trust_pem()?;
                    let mut out = String::from(
                        "amtd mutual-TLS trust bundle: public certificates only, no private key.\n\
                 Install the last certificate (the root CA) on each device as a trusted root\n\
                 (AMT_PublicKeyManagementService.AddTrustedRootCertificate); console client\n\
                 certificates are issued by the first (the issuing CA).\n",
                    );
                    for role in CHAIN {
                        let url = ca.settings().crl_url(role).unwrap_or_else(|| {
                            format!("/crl/{}.crl (on this server)", role.stem())
                        });
                        out.push_str(&format!(
                            "CRL of the {} CA ({}): {url}\n",
                            role.stem(),
                            ca.authority(role).cert().subject()
                        ));
                    }
                    out.push_str(&chain);
                    Ok(out)
                },
            )
            .ok_or_else(no_ca)?
            .map_err(internal)?;
    Ok(pem_attachment("amtd-mtls-trust.pem", text))
}

/// A team's status in the grouped report: the worst of its checks (fail, warn, pass), or
/// `skipped` when every one was skipped.
fn team_status(checks: &[&crate::check::report::Check]) -> Status {
    [Status::Fail, Status::Warn, Status::Pass]
        .into_iter()
        .find(|s| checks.iter().any(|c| c.status == *s))
        .unwrap_or(Status::Skipped)
}

/// The stored and served document of one run.
fn report_json(report: &Report, ran_at: SystemTime, took: Duration, actor: &str) -> Value {
    let teams: Vec<Value> = Team::ALL
        .into_iter()
        .filter_map(|team| {
            let checks: Vec<&crate::check::report::Check> =
                report.checks.iter().filter(|c| c.team == team).collect();
            (!checks.is_empty()).then(|| {
                json!({
                    "team": team.id(),
                    "title": team.title(),
                    "status": team_status(&checks).id(),
                    "checks": checks.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    json!({
        "ran_at": unix(ran_at),
        "duration_ms": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        "ran_by": actor,
        "ok": report.ok(),
        "summary": report.summary(),
        "counts": {
            "pass": count(Status::Pass),
            "warn": count(Status::Warn),
            "fail": count(Status::Fail),
            "skipped": count(Status::Skipped),
        },
        "context": report.context,
        "teams": teams,
        "report": report.to_json(),
    })
}

/// `GET /api/v1/check`: the last report, 404 when none has run since the server started.
async fn last_check(State(s): State<PkiState>) -> Result<Json<Value>, ApiError> {
    let last = s
        .core
        .readiness
        .last
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    last.map(Json).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "no readiness check has run since the server started (POST /api/v1/check runs one)"
                .into(),
        )
    })
}

/// `POST /api/v1/check`: runs the readiness check now and answers with its report (also kept
/// for `GET`). 409 while another run is under way, 503 when the server has no (valid) check
/// settings, 504 after [`CHECK_TIMEOUT`]. Audited as `readiness-check`.
async fn run_check(
    State(s): State<PkiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let inputs = s
        .core
        .readiness
        .inputs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let inputs = match inputs {
        Some(Ok(i)) => i,
        Some(Err(problems)) => {
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the readiness check cannot run with this server's settings: {}",
                    problems.join("; ")
                ),
            ))
        }
        None => {
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "this server was started without readiness check settings".into(),
            ))
        }
    };
    let Ok(running) = s.core.readiness.running.clone().try_lock_owned() else {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "a readiness check is already running; GET /api/v1/check shows the last report".into(),
        ));
    };
    // The run and its audit records live in their own task: a client that disconnects drops
    // this request's future, but the check still finishes (or times out) and its outcome is
    // still recorded after the `started` record.
    let task = tokio::spawn(async move {
        let _running = running;
        check_audited(&s, &inputs, &caller.name, peer).await
    });
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "the readiness check task failed");
        Err(internal("the readiness check failed unexpectedly"))
    })
}

/// Runs the readiness check between its `started` and outcome audit records and keeps the
/// report for `GET /api/v1/check`.
async fn check_audited(
    s: &PkiState,
    inputs: &CheckInputs,
    caller: &str,
    peer: SocketAddr,
) -> Result<Json<Value>, ApiError> {
    s.audit
        .record(
            caller,
            "readiness-check",
            None,
            AuditResult::Started,
            json!({}),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let ran_at = SystemTime::now();
    let begun = Instant::now();
    let report = tokio::time::timeout(CHECK_TIMEOUT, crate::check::run(inputs)).await;
    let took = begun.elapsed();
    let Ok(report) = report else {
        let why = format!(
            "the readiness check did not finish within {} s",
            CHECK_TIMEOUT.as_secs()
        );
        s.audit
            .outcome(
                caller,
                "readiness-check",
                None,
                AuditResult::Failed(why.clone()),
                json!({}),
                Some(peer),
            )
            .await;
        return Err(ApiError(StatusCode::GATEWAY_TIMEOUT, why));
    };
    let doc = report_json(&report, ran_at, took, caller);
    *s.core
        .readiness
        .last
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(doc.clone());
    s.audit
        .outcome(
            caller,
            "readiness-check",
            None,
            AuditResult::Ok,
            json!({
                "ok": report.ok(),
                "failures": report.failures(),
                "warnings": report.warnings(),
            }),
            Some(peer),
        )
        .await;
    tracing::info!(ok = report.ok(), failures = report.failures(), peer = %peer,
        "readiness check run (audited)");
    Ok(Json(doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::Check;
    use std::time::UNIX_EPOCH;

    #[test]
    fn grouped_report_has_team_status_detail_and_fix_per_check() {
        let mut r = Report::default();
        r.push(Check::pass(Team::Dns, "dns.a", "a", "fine"));
        r.push(Check::fail(
            Team::Dns,
            "dns.b",
            "b",
            "broken",
            "DNS team: fix b",
        ));
        r.push(Check::skipped(
            Team::Dhcp,
            "dhcp.offer",
            "offer",
            "no interface",
        ));
        r.push(Check::warn(
            Team::Pki,
            "pki.x",
            "x",
            "soon",
            "PKI team: renew",
        ));
        let v = report_json(&r, UNIX_EPOCH, Duration::from_millis(5), "ada");
        assert_eq!(v["ok"], false);
        assert_eq!(v["ran_by"], "ada");
        assert_eq!(v["counts"]["fail"], 1);
        let teams: Vec<(&str, &str)> = v["teams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["team"].as_str().unwrap(), t["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            teams,
            [("dhcp", "skipped"), ("dns", "fail"), ("pki", "warn")]
        );
        let b = &v["teams"][1]["checks"][1];
        assert_eq!(b["fix"], "DNS team: fix b");
        assert_eq!(b["detail"], "broken");
        assert_eq!(v["report"], r.to_json());
    }

    #[test]
    fn fingerprints_print_like_openssl() {
        assert_eq!(colon_hex(&[0xab, 0x01, 0xff]), "AB:01:FF");
    }
}
