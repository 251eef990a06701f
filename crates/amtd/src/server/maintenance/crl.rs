//! CRL push (M10): the serials relevant to a device, pushed with `ResetCRLList` + `AddCRL`
//! whenever the device holds anything else.
//!
//! The CRLs: the embedded CA's own (read from the CA store, signature-checked against its root
//! and issuing certificates), the configured `[maintenance] crl_urls`, and the distribution
//! points named by the CA certificates a device holds (other CAs an operator added), fetched
//! over HTTP once per pass. Which of them count for a device is decided from the device's own
//! certificate store: its trusted roots and the CA certificates that chain to them (amt-pki's
//! `cas_trusted_by_device`); a fetched CRL counts only when it verifies against one of those.
//! Whether to push is amtd-core's `maintenance::crl::plan`, comparing with the device's
//! `AMT_CRL` instances; after a push the device's lists are read back and compared again.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use amt_pki::crl::{cas_trusted_by_device, serials_for_device};
use amt_pki::{CaRole, Cert, Crl, VerifiedCrl};
use amt_wsman::classes::amt::{
    AddCrlInput, AddCrlOutput, AmtCrl, AmtPublicKeyCertificate, PtStatus, ResetCrlListInput,
    ResetCrlListOutput,
};
use amt_wsman::SelectorSet;
use amtd_core::maintenance::crl::{plan, CrlPlan};
use amtd_core::maintenance::Task;
use amtd_infra::client::WsmanClient;
use amtd_infra::device_tls::DeviceAccess;
use amtd_infra::pki_store::crl_fetch::fetch_crl;
use anyhow::{bail, Context as _};
use serde_json::json;

use super::{Ctx, Outcome, ServerCore};

/// How long one CRL download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The CRLs of one pass.
pub(super) struct Inputs {
    /// The embedded CA's CRLs, verified.
    own: Vec<VerifiedCrl>,
    /// The embedded CA's distribution points (never fetched: `own` has them).
    own_urls: Vec<String>,
    /// Fetched CRLs by URL (`None`: the fetch failed), configured ones and distribution points.
    fetched: tokio::sync::Mutex<HashMap<String, Option<Crl>>>,
    /// The `Url` given with `AddCRL` (the issuing CA's distribution point).
    url: Option<String>,
}

impl Inputs {
    /// Publishes fresh CRLs if they are due, reads them, and fetches `urls`.
    pub(super) async fn gather(core: &ServerCore, urls: &[String]) -> anyhow::Result<Self> {
        let (own, own_urls, url) = core
            .with_pki(|pki| -> anyhow::Result<_> {
                pki.refresh_crls_if_due(SystemTime::now())?;
                let mut own = Vec::new();
                for role in [CaRole::Root, CaRole::Issuing] {
                    let ca = pki.ca().authority(role).cert().clone();
                    own.push(pki.crl(role)?.verify(&ca)?);
                }
                let settings = pki.ca().settings();
                let own_urls = [CaRole::Root, CaRole::Issuing]
                    .into_iter()
                    .filter_map(|r| settings.crl_url(r))
                    .collect();
                Ok((own, own_urls, settings.crl_url(CaRole::Issuing)))
            })
            .context("the CA store lock is poisoned")??;
        let inputs = Inputs {
            own,
            own_urls,
            fetched: tokio::sync::Mutex::new(HashMap::new()),
            url,
        };
        for u in urls {
            inputs.fetch(u).await;
        }
        Ok(inputs)
    }

    async fn fetch(&self, url: &str) -> Option<Crl> {
        if self.own_urls.iter().any(|u| u == url) || !url.starts_with("http://") {
            return None;
        }
        let mut cache = self.fetched.lock().await;
        if let Some(c) = cache.get(url) {
            return c.clone();
        }
        let got = match fetch_crl(url, FETCH_TIMEOUT).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(%url, error = %e, "could not fetch a CRL");
                None
            }
        };
        cache.insert(url.to_owned(), got.clone());
        got
    }

    /// The verified CRLs that count for a device trusting `device_cas`.
    async fn for_device(&self, device_cas: &[Cert]) -> Vec<VerifiedCrl> {
        let mut out: Vec<VerifiedCrl> = self
            .own
            .iter()
            .filter(|v| device_cas.iter().any(|c| c.der() == v.ca().der()))
            .cloned()
            .collect();
        for ca in device_cas {
            for dp in ca.crl_distribution_points() {
                self.fetch(&dp).await;
            }
        }
        let fetched: Vec<Crl> = self
            .fetched
            .lock()
            .await
            .values()
            .flatten()
            .cloned()
            .collect();
        for crl in fetched {
            let issuer = crl.issuer();
            let verified = device_cas
                .iter()
                .filter(|c| c.subject() == issuer)
                .find_map(|c| crl.clone().verify(c).ok());
            if let Some(v) = verified {
                if !out.iter().any(|o| o.crl().der() == v.crl().der()) {
                    out.push(v);
                }
            }
        }
        out
    }
}

pub(super) fn status(value: Option<PtStatus>, call: &str) -> anyhow::Result<()> {
    match value {
        Some(PtStatus::Success) => Ok(()),
        Some(other) => bail!("{call} returned {other:?}"),
        None => bail!("{call} returned no ReturnValue"),
    }
}

/// The device's trusted roots and its other CA certificates.
async fn device_cas(client: &WsmanClient) -> anyhow::Result<Vec<Cert>> {
    let certs: Vec<AmtPublicKeyCertificate> = client.enumerate().await?;
    let mut roots = Vec::new();
    let mut others = Vec::new();
    for c in certs {
        let Ok(Some(der)) = c.certificate_der() else {
            continue;
        };
        let Ok(cert) = Cert::from_der(&der) else {
            continue;
        };
        if c.trusted_root_certificate == Some(true) {
            roots.push(cert);
        } else {
            others.push(cert);
        }
    }
    Ok(cas_trusted_by_device(&roots, &others))
}

async fn held(client: &WsmanClient) -> anyhow::Result<Vec<Vec<String>>> {
    let lists: Vec<AmtCrl> = client.enumerate().await?;
    Ok(lists.into_iter().map(|c| c.serial_numbers).collect())
}

/// Pushes the device's relevant serials when it holds anything else.
pub(super) async fn push(ctx: &Ctx, access: &DeviceAccess) -> anyhow::Result<(Outcome, String)> {
    let inputs = ctx.crl.as_ref().context("the pass gathered no CRLs")?;
    let client = access.client(ctx.transport)?;
    let result = push_with(ctx, inputs, access, &client).await;
    client.connection().close().await;
    result
}

async fn push_with(
    ctx: &Ctx,
    inputs: &Inputs,
    access: &DeviceAccess,
    client: &WsmanClient,
) -> anyhow::Result<(Outcome, String)> {
    const TASK: Task = Task::PushCrl;
    let cas = device_cas(client)
        .await
        .context("reading the device's certificates")?;
    let crls = inputs.for_device(&cas).await;
    let wanted = serials_for_device(&crls, &cas);
    let held_now = held(client).await.context("reading the device's AMT_CRL")?;
    let CrlPlan::Push { lists, dropped } = plan(&held_now, &wanted) else {
        return Ok((
            Outcome::Unchanged,
            format!(
                "up to date: the device holds the {} revoked serials relevant to it",
                wanted.len()
            ),
        ));
    };
    let payload = json!({
        "serials": wanted.len(),
        "lists": lists.len(),
        "dropped": dropped,
        "crls": crls.iter().map(|c| c.crl().issuer()).collect::<Vec<_>>(),
    });
    let op = ctx
        .start_op(access, TASK, "resetting-crl-list", payload.clone())
        .await?;
    let timeout = ctx.transport.request_timeout;
    let pushed = async {
        let out: ResetCrlListOutput = client
            .invoke(&ResetCrlListInput::default(), SelectorSet::new(), timeout)
            .await?;
        status(out.return_value, "ResetCRLList")?;
        ctx.step(&op, TASK, "adding-crl", &payload).await?;
        for list in &lists {
            let input = AddCrlInput {
                url: inputs.url.clone(),
                serial_numbers: list.clone(),
                ..Default::default()
            };
            let out: AddCrlOutput = client.invoke(&input, SelectorSet::new(), timeout).await?;
            status(out.return_value, "AddCRL")?;
        }
        ctx.core.maintenance_crash_point(TASK, "adding-crl", true);
        let back = held(client).await?;
        if plan(&back, &wanted) != CrlPlan::UpToDate {
            bail!("read back, the device's AMT_CRL does not hold the pushed serials");
        }
        anyhow::Ok(())
    }
    .await;
    match pushed {
        Ok(()) => {
            let mut detail = format!(
                "pushed {} revoked serials in {} list(s)",
                wanted.len() - dropped,
                lists.len()
            );
            if dropped > 0 {
                detail.push_str(&format!("; {dropped} left out (the device holds no more)"));
            }
            ctx.finish(&op, "pushed", Some(&detail)).await;
            Ok((Outcome::Done, detail))
        }
        Err(e) => {
            let reason = format!("{e:#}");
            ctx.finish(&op, "failed", Some(&reason)).await;
            Err(e)
        }
    }
}
