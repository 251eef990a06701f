//! The readiness report: checks grouped by team, rendered as one table per team with a `fix:`
//! line under every problem, or as one JSON document.
//!
//! Ids are stable (`dhcp.option15`, `pki.suffix.<certificate name>`): scripts and tests key on
//! them. A report is `ok` when no check failed; warnings never fail it.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// Who has to act on a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Team {
    /// The DHCP servers' owners.
    Dhcp,
    /// The DNS servers' owners.
    Dns,
    /// Whoever holds the provisioning certificates and the devices' trusted roots.
    Pki,
    /// Clocks: the DNS server's and the NTP servers'.
    Time,
    /// Active Directory.
    Ad,
}

impl Team {
    /// Every team, in report order.
    pub const ALL: [Team; 5] = [Team::Dhcp, Team::Dns, Team::Pki, Team::Time, Team::Ad];

    /// The id in JSON (`dhcp`, `dns`, `pki`, `time`, `ad`).
    pub fn id(self) -> &'static str {
        match self {
            Team::Dhcp => "dhcp",
            Team::Dns => "dns",
            Team::Pki => "pki",
            Team::Time => "time",
            Team::Ad => "ad",
        }
    }

    /// The heading in the human report.
    pub fn title(self) -> &'static str {
        match self {
            Team::Dhcp => "DHCP",
            Team::Dns => "DNS",
            Team::Pki => "PKI",
            Team::Time => "Time",
            Team::Ad => "Active Directory",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Works as devices need it.
    Pass,
    /// Works, but something will go wrong later or is unusual (does not block provisioning).
    Warn,
    /// Blocks provisioning.
    Fail,
    /// Not checked (missing input, or an earlier step failed).
    Skipped,
}

impl Status {
    /// The id in JSON.
    pub fn id(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }

    /// The mark in the human report.
    pub fn mark(self) -> char {
        match self {
            Status::Pass => '✓',
            Status::Warn => '⚠',
            Status::Fail => '✗',
            Status::Skipped => '–',
        }
    }
}

/// One check: what was looked at, what was seen, and for problems who changes what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable id (`dhcp.option15`).
    pub id: String,
    /// The team that owns it.
    pub team: Team,
    /// What is checked, in a few words.
    pub title: String,
    /// The outcome.
    pub status: Status,
    /// What was observed.
    pub detail: String,
    /// For fail and warn: which team changes what.
    pub fix: Option<String>,
}

impl Check {
    fn new(team: Team, id: &str, title: &str, status: Status, detail: String) -> Check {
        Check {
            id: id.to_owned(),
            team,
            title: title.to_owned(),
            status,
            detail,
            fix: None,
        }
    }

    /// A passed check.
    pub fn pass(team: Team, id: &str, title: &str, detail: impl Into<String>) -> Check {
        Check::new(team, id, title, Status::Pass, detail.into())
    }

    /// A failed check and its fix.
    pub fn fail(
        team: Team,
        id: &str,
        title: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            fix: Some(fix.into()),
            ..Check::new(team, id, title, Status::Fail, detail.into())
        }
    }

    /// A warning and its fix.
    pub fn warn(
        team: Team,
        id: &str,
        title: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            fix: Some(fix.into()),
            ..Check::new(team, id, title, Status::Warn, detail.into())
        }
    }

    /// A check that was not made, and why.
    pub fn skipped(team: Team, id: &str, title: &str, why: impl Into<String>) -> Check {
        Check::new(team, id, title, Status::Skipped, why.into())
    }

    /// The check as JSON (`fix` is `null` when there is none).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "team": self.team.id(),
            "title": self.title,
            "status": self.status.id(),
            "detail": self.detail,
            "fix": self.fix,
        })
    }
}

/// Every check of one run, in the order they were made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
    /// Lines printed above the tables (what was probed, with which inputs).
    pub context: Vec<String>,
}

impl Report {
    /// Adds a check.
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// Nothing blocks provisioning.
    pub fn ok(&self) -> bool {
        self.failures() == 0
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.count(Status::Fail)
    }

    /// How many checks warn.
    pub fn warnings(&self) -> usize {
        self.count(Status::Warn)
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The process exit code: 0 when nothing blocks provisioning, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.ok() {
            0
        } else {
            1
        }
    }

    /// The stable JSON document: `{"ok": bool, "checks": [{id, team, title, status, detail,
    /// fix}…]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "ok": self.ok(),
            "checks": self.checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        })
    }

    /// The summary line ("2 problems block provisioning, 1 warning").
    pub fn summary(&self) -> String {
        let f = self.failures();
        let w = self.warnings();
        let warnings = match w {
            0 => String::new(),
            1 => ", 1 warning".to_owned(),
            n => format!(", {n} warnings"),
        };
        match f {
            0 => format!("Nothing blocks provisioning{warnings}."),
            1 => format!("1 problem blocks provisioning{warnings}."),
            n => format!("{n} problems block provisioning{warnings}."),
        }
    }

    /// The human report: context lines, one table per team (a team whose checks were all
    /// skipped for the same reason is one line), then the summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.context {
            let _ = writeln!(out, "{line}");
        }
        for team in Team::ALL {
            let checks: Vec<&Check> = self.checks.iter().filter(|c| c.team == team).collect();
            if checks.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "{}", team.title());
            let all_skipped_alike = checks
                .iter()
                .all(|c| c.status == Status::Skipped && c.detail == checks[0].detail);
            if checks.len() > 1 && all_skipped_alike {
                let _ = writeln!(
                    out,
                    "  {} skipped: {}",
                    Status::Skipped.mark(),
                    checks[0].detail
                );
                continue;
            }
            let id_w = checks.iter().map(|c| width(&c.id)).max().unwrap_or(0);
            let title_w = checks.iter().map(|c| width(&c.title)).max().unwrap_or(0);
            for c in checks {
                let line = format!(
                    "  {} {}  {}  {}",
                    c.status.mark(),
                    pad(&c.id, id_w),
                    pad(&c.title, title_w),
                    c.detail
                );
                let _ = writeln!(out, "{}", line.trim_end());
                if let Some(fix) = c.fix.as_ref().filter(|_| c.status != Status::Pass) {
                    let _ = writeln!(out, "      fix: {fix}");
                }
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    let mut out = s.to_owned();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::default();
        r.context.push("expected domain: amt.test".into());
        r.push(Check::pass(
            Team::Dhcp,
            "dhcp.offer",
            "a lease is offered",
            "10.99.7.50 from 10.99.7.1",
        ));
        r.push(Check::fail(
            Team::Dhcp,
            "dhcp.option15",
            "option 15 (domain name)",
            "missing from the OFFER",
            "DHCP team: add option 15 (domain-name) = amt.test to the scope serving 10.99.7.0/24",
        ));
        r.push(Check::warn(
            Team::Pki,
            "pki.expiry.prov",
            "validity",
            "expires in 12 days",
            "PKI team: renew it",
        ));
        r.push(Check::skipped(
            Team::Ad,
            "ad.integration",
            "AD integration",
            "AD integration not configured",
        ));
        r
    }

    #[test]
    fn report_with_a_failure_is_not_ok_and_exits_1() {
        let r = sample();
        assert!(!r.ok());
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.summary(), "1 problem blocks provisioning, 1 warning.");
    }

    #[test]
    fn warnings_alone_do_not_fail_the_report() {
        let mut r = sample();
        r.checks.retain(|c| c.status != Status::Fail);
        assert!(r.ok());
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.summary(), "Nothing blocks provisioning, 1 warning.");
    }

    #[test]
    fn summary_counts_problems_in_plural() {
        let mut r = sample();
        r.push(Check::fail(Team::Dns, "dns.x", "x", "d", "f"));
        assert_eq!(r.summary(), "2 problems block provisioning, 1 warning.");
    }

    #[test]
    fn human_report_has_one_table_per_team_with_marks_and_fix_lines() {
        let text = sample().render();
        let expected = "expected domain: amt.test\n\
            \n\
            DHCP\n  \
              ✓ dhcp.offer     a lease is offered       10.99.7.50 from 10.99.7.1\n  \
              ✗ dhcp.option15  option 15 (domain name)  missing from the OFFER\n      \
                fix: DHCP team: add option 15 (domain-name) = amt.test to the scope serving 10.99.7.0/24\n\
            \n\
            PKI\n  \
              ⚠ pki.expiry.prov  validity  expires in 12 days\n      \
                fix: PKI team: renew it\n\
            \n\
            Active Directory\n  \
              – ad.integration  AD integration  AD integration not configured\n\
            \n\
            1 problem blocks provisioning, 1 warning.\n";
        assert_eq!(text, expected, "{text}");
    }

    #[test]
    fn a_team_skipped_as_a_whole_is_one_line() {
        let mut r = Report::default();
        for id in ["dhcp.offer", "dhcp.option15", "dhcp.ack"] {
            r.push(Check::skipped(Team::Dhcp, id, id, "no --interface given"));
        }
        let text = r.render();
        assert!(
            text.starts_with("DHCP\n  – skipped: no --interface given\n"),
            "{text}"
        );
        assert!(!text.contains("dhcp.ack"), "{text}");
    }

    #[test]
    fn json_document_has_the_stable_shape() {
        let v = sample().to_json();
        assert_eq!(v["ok"], false);
        let checks = v["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 4);
        for c in checks {
            let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["detail", "fix", "id", "status", "team", "title"]);
        }
        assert_eq!(
            checks[1],
            json!({
                "id": "dhcp.option15",
                "team": "dhcp",
                "title": "option 15 (domain name)",
                "status": "fail",
                "detail": "missing from the OFFER",
                "fix": "DHCP team: add option 15 (domain-name) = amt.test to the scope serving 10.99.7.0/24",
            })
        );
        assert_eq!(checks[0]["fix"], Value::Null);
        assert_eq!(checks[2]["status"], "warn");
        assert_eq!(checks[3]["status"], "skipped");
        assert_eq!(checks[3]["team"], "ad");
    }
}
