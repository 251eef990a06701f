//! The API's route table: every route with its method, path, who may call it, and what it takes
//! and answers. It is the one source for the authorization check ([`super::auth`]: a route
//! missing from the table is refused, whatever the router has) and for the OpenAPI 3.0 document
//! served at `GET /api/v1/openapi.json` ([`openapi`]).
//!
//! Public routes (no credentials): the CRL distribution point (devices fetch it), the OpenAPI
//! document (it describes the API, it holds no data) and login.

use serde_json::{json, Map, Value};

/// What a caller may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read-only: every `GET` that shows the fleet, its history and the server's settings.
    Viewer,
    /// Viewer, plus acting on devices: power, boot, inventory refresh, tags (and SOL/IDE-R
    /// through the redirection trust file).
    Operator,
    /// Everything: profiles, PKI, System Defense policies, maintenance, password reveal,
    /// adoption, users and tokens.
    Administrator,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Administrator];

    /// The role's name (stored, and in the API).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Administrator => "administrator",
        }
    }

    /// The role a name stands for.
    #[must_use]
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// A caller with at least this role.
    AtLeast(Role),
}

/// One API route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path with `{param}` placeholders, as the router has it.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One line.
    pub summary: &'static str,
    /// The request body, in words (`None`: no body).
    pub request: Option<&'static str>,
    /// The answer, in words.
    pub response: &'static str,
}

const fn r(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    request: Option<&'static str>,
    response: &'static str,
) -> Route {
    Route {
        method,
        path,
        access,
        summary,
        request,
        response,
    }
}

const PUBLIC: Access = Access::Public;
const VIEWER: Access = Access::AtLeast(Role::Viewer);
const OPERATOR: Access = Access::AtLeast(Role::Operator);
const ADMIN: Access = Access::AtLeast(Role::Administrator);

const TARGETS: &str = "JSON: targets ({\"devices\": [uuid…]} or {\"tag\": …} or {\"all\": true}) \
                       and the operation's parameters";
const PROGRESS: &str = "JSON per-device results, or NDJSON progress lines with \
                        Accept: application/x-ndjson";

/// Every API route.
pub const ROUTES: &[Route] = &[
    // Authentication.
    r(
        "POST",
        "/api/v1/login",
        PUBLIC,
        "Log in: sets the amtd_session cookie",
        Some("JSON {\"user\", \"password\"}"),
        "JSON {\"user\", \"role\", \"csrf_token\", \"expires\"}; 401 wrong credentials; 429 with \
       Retry-After when rate-limited",
    ),
    r(
        "POST",
        "/api/v1/logout",
        VIEWER,
        "End the cookie's session",
        None,
        "JSON {\"logged_out\": bool}; clears the cookie",
    ),
    r(
        "GET",
        "/api/v1/me",
        VIEWER,
        "Who the credentials belong to",
        None,
        "JSON {\"user\", \"role\", \"via\": \"token\"|\"session\"}",
    ),
    r(
        "GET",
        "/api/v1/openapi.json",
        PUBLIC,
        "This document",
        None,
        "OpenAPI 3.0 JSON",
    ),
    // The web console (the page and its assets; every call it makes is an API route below).
    r(
        "GET",
        "/",
        PUBLIC,
        "The web console (HTML page)",
        None,
        "text/html",
    ),
    r(
        "GET",
        "/assets/{file}",
        PUBLIC,
        "The web console's scripts, styles and bundled xterm.js",
        None,
        "JavaScript, CSS or text; 404 for an unknown file",
    ),
    r(
        "GET",
        "/api/v1/events",
        VIEWER,
        "The fleet as a live stream (server-sent events)",
        None,
        "text/event-stream: one `snapshot` event (every device row), then `device` (a changed \
       row) and `removed` ({\"uuid\"}) events; 503 when too many streams are open",
    ),
    r(
        "GET",
        "/api/v1/audit",
        ADMIN,
        "The server's audit log (hash-chained), in chain order",
        None,
        "JSON {\"records\": [{\"seq\", \"at_ms\", \"at\", \"actor\", \"action\", \"device\", \
       \"result\", \"detail\", \"peer\", \"prev_hash\", \"hash\"}], \"next_after\"}; query device, \
       after (seq), limit (1…1000, default 100)",
    ),
    // Users and tokens.
    r(
        "GET",
        "/api/v1/users",
        ADMIN,
        "List users",
        None,
        "JSON [{\"name\", \"role\", \"disabled\", \"created_at\", \"updated_at\"}]",
    ),
    r(
        "POST",
        "/api/v1/users",
        ADMIN,
        "Create a user",
        Some("JSON {\"name\", \"role\", \"password\"} (password: at least 12 characters)"),
        "201 JSON user; 409 when the name is taken",
    ),
    r(
        "DELETE",
        "/api/v1/users/{name}",
        ADMIN,
        "Delete a user, its tokens and sessions",
        None,
        "JSON {\"deleted\"}; 404; 409 for yourself",
    ),
    r(
        "PUT",
        "/api/v1/users/{name}/password",
        ADMIN,
        "Set a user's password (ends its sessions)",
        Some("JSON {\"password\"}"),
        "JSON user",
    ),
    r(
        "PUT",
        "/api/v1/users/{name}/role",
        ADMIN,
        "Change a user's role",
        Some("JSON {\"role\"} (viewer, operator or administrator)"),
        "JSON user; 404; 409 for yourself",
    ),
    r(
        "POST",
        "/api/v1/users/{name}/disable",
        ADMIN,
        "Disable a user (its tokens and sessions are refused)",
        None,
        "JSON user; 409 for yourself",
    ),
    r(
        "POST",
        "/api/v1/users/{name}/enable",
        ADMIN,
        "Enable a user",
        None,
        "JSON user",
    ),
    r(
        "GET",
        "/api/v1/tokens",
        ADMIN,
        "List API tokens (never their values)",
        None,
        "JSON [{\"id\", \"user\", \"name\", \"created_at\", \"last_used_at\", \"revoked\"}]",
    ),
    r(
        "POST",
        "/api/v1/tokens",
        ADMIN,
        "Create an API token (its value is shown once)",
        Some("JSON {\"name\", \"user\"?} (user defaults to the caller)"),
        "201 JSON {\"id\", \"token\", \"user\", \"name\"}",
    ),
    r(
        "DELETE",
        "/api/v1/tokens/{id}",
        ADMIN,
        "Revoke an API token",
        None,
        "JSON {\"revoked\"}; 404",
    ),
    // Devices and hellos.
    r(
        "GET",
        "/api/v1/devices",
        VIEWER,
        "List devices",
        None,
        "JSON [device]",
    ),
    r(
        "GET",
        "/api/v1/devices/{uuid}",
        VIEWER,
        "A device with its runs and timeline",
        None,
        "JSON device",
    ),
    r(
        "POST",
        "/api/v1/devices/{uuid}/reveal-password",
        ADMIN,
        "Reveal a device's admin password (audited)",
        None,
        "JSON {\"uuid\", \"admin_password\"}",
    ),
    r(
        "GET",
        "/api/v1/hellos",
        VIEWER,
        "Recorded hellos (?device=&limit=)",
        None,
        "JSON [hello]",
    ),
    // Profiles and PKI.
    r(
        "GET",
        "/api/v1/profiles",
        VIEWER,
        "List management profiles",
        None,
        "JSON [profile]",
    ),
    r(
        "GET",
        "/api/v1/profiles/{name}",
        VIEWER,
        "A profile (no passwords)",
        None,
        "JSON profile",
    ),
    r(
        "PUT",
        "/api/v1/profiles/{name}",
        ADMIN,
        "Create or replace a profile (audited)",
        Some("JSON profile document"),
        "201/200 JSON profile; 400 with every problem",
    ),
    r(
        "DELETE",
        "/api/v1/profiles/{name}",
        ADMIN,
        "Delete a profile (audited)",
        None,
        "JSON {\"deleted\", \"existed\"}; 409 for the active profile",
    ),
    r(
        "GET",
        "/api/v1/trust/redirection.pem",
        VIEWER,
        "PEM trust file for redirection clients (issuing CA, then root)",
        None,
        "PEM",
    ),
    r(
        "POST",
        "/api/v1/console-certificates",
        ADMIN,
        "Issue a mutual-TLS console certificate (audited)",
        Some("JSON {\"common_name\", \"password\"}"),
        "JSON {\"files\": [{\"name\", \"base64\"}]}",
    ),
    r(
        "GET",
        "/crl/{file}",
        PUBLIC,
        "CRL distribution point (issuing.crl, root.crl)",
        None,
        "DER CRL",
    ),
    r(
        "GET",
        "/api/v1/pki/cas",
        VIEWER,
        "The embedded CAs (issuing CA first, then the root)",
        None,
        "JSON [{\"role\", \"subject\", \"issuer\", \"serial\", \"not_before\", \"not_after\", \
         \"sha256\", \"fingerprint_sha256\", \"key_type\", \"key_bits\", \"self_signed\", \
         \"crl_url\"}]",
    ),
    r(
        "GET",
        "/api/v1/pki/certificates",
        VIEWER,
        "Issued certificates, newest first (?q=&status=valid|revoked|expired|pending&limit=1..500\
         &after=<next>)",
        None,
        "JSON {\"certificates\": [{\"serial\", \"subject\", \"sans\", \"purpose\", \"issuer\", \
         \"issued_at\", \"not_before\", \"not_after\", \"status\", \"state\", \"revoked_at\", \
         \"revocation_reason\", \"crl_reason_code\", \"superseded_by\", \"device\"}], \"total\", \
         \"limit\", \"next\"}; 400 for a bad parameter",
    ),
    r(
        "GET",
        "/api/v1/pki/crls",
        VIEWER,
        "The published CRLs (issuing CA first)",
        None,
        "JSON [{\"role\", \"path\", \"url\", \"issuer\", \"crl_number\", \"this_update\", \
         \"next_update\", \"entries\", \"overdue\"}]",
    ),
    r(
        "GET",
        "/api/v1/trust/chain.pem",
        VIEWER,
        "The CA chain in the order devices take it: issuing CA first, root last (attachment)",
        None,
        "application/x-pem-file",
    ),
    r(
        "GET",
        "/api/v1/trust/mtls-bundle.pem",
        VIEWER,
        "What devices trust for mutual-TLS consoles: CA certificates and CRL URLs, no key \
         (attachment)",
        None,
        "application/x-pem-file",
    ),
    // Readiness (C1).
    r(
        "GET",
        "/api/v1/check",
        VIEWER,
        "The last readiness report the server ran (kept in memory)",
        None,
        "JSON report {\"ran_at\", \"duration_ms\", \"ran_by\", \"ok\", \"summary\", \"counts\", \
         \"context\", \"teams\": [{\"team\", \"title\", \"status\", \"checks\"}], \"report\"}; \
         404 before the first run",
    ),
    r(
        "POST",
        "/api/v1/check",
        ADMIN,
        "Run the readiness check (amtd check) from the server now (audited)",
        None,
        "JSON report (as GET); 409 while one runs; 503 without check settings; 504 after 180 s",
    ),
    // System Defense.
    r(
        "GET",
        "/api/v1/defense-policies",
        VIEWER,
        "List System Defense policies",
        None,
        "JSON [policy]",
    ),
    r(
        "GET",
        "/api/v1/defense-policies/{name}",
        VIEWER,
        "A System Defense policy",
        None,
        "JSON policy with ETag",
    ),
    r(
        "PUT",
        "/api/v1/defense-policies/{name}",
        ADMIN,
        "Create or replace a policy",
        Some("JSON policy (If-Match for updates)"),
        "201/200 JSON policy",
    ),
    r(
        "DELETE",
        "/api/v1/defense-policies/{name}",
        ADMIN,
        "Delete a policy",
        None,
        "JSON",
    ),
    r(
        "POST",
        "/api/v1/defense-policies/{name}/apply",
        ADMIN,
        "Apply a policy to devices",
        Some(TARGETS),
        PROGRESS,
    ),
    r(
        "POST",
        "/api/v1/defense-policies/{name}/remove",
        ADMIN,
        "Remove a policy from devices",
        Some(TARGETS),
        PROGRESS,
    ),
    r(
        "GET",
        "/api/v1/devices/{uuid}/defense",
        VIEWER,
        "A device's System Defense state read back vs intent",
        None,
        "JSON",
    ),
    // Console.
    r(
        "GET",
        "/api/v1/devices/{uuid}/power",
        VIEWER,
        "A device's power state",
        None,
        "JSON",
    ),
    r(
        "POST",
        "/api/v1/power",
        OPERATOR,
        "Power action on devices",
        Some(TARGETS),
        PROGRESS,
    ),
    r(
        "POST",
        "/api/v1/boot",
        OPERATOR,
        "Boot options on devices",
        Some(TARGETS),
        PROGRESS,
    ),
    r(
        "POST",
        "/api/v1/inventory/refresh",
        OPERATOR,
        "Read devices' hardware inventory",
        Some(TARGETS),
        PROGRESS,
    ),
    r(
        "GET",
        "/api/v1/devices/{uuid}/inventory",
        VIEWER,
        "A device's stored inventory and the difference to the previous one",
        None,
        "JSON",
    ),
    r(
        "GET",
        "/api/v1/devices/{uuid}/events",
        VIEWER,
        "A device's event log",
        None,
        "JSON",
    ),
    r(
        "GET",
        "/api/v1/devices/{uuid}/audit-log",
        VIEWER,
        "A device's AMT audit log",
        None,
        "JSON",
    ),
    r(
        "GET",
        "/api/v1/devices/{uuid}/sol",
        OPERATOR,
        "Serial-over-LAN terminal: a WebSocket relayed to the device (audited)",
        None,
        "WebSocket upgrade only (an Origin header, when sent, must name this server's \
         host:port). 101, then text frames {\"type\": \"status\", \"state\": \
         \"connecting\" | \"connected\" | \"closed\", \"reason\"} and binary frames = the \
         host's serial output; the client's binary or text frames are keystrokes. 403 \
         cross-origin; 404 unknown device; 426 not a WebSocket upgrade",
    ),
    r(
        "GET",
        "/api/v1/devices/{uuid}/tags",
        VIEWER,
        "A device's tags",
        None,
        "JSON [tag]",
    ),
    r(
        "PUT",
        "/api/v1/devices/{uuid}/tags",
        OPERATOR,
        "Replace a device's tags",
        Some("JSON [tag]"),
        "JSON [tag]",
    ),
    r(
        "POST",
        "/api/v1/devices/{uuid}/adopt",
        ADMIN,
        "Adopt an already provisioned device (stores its password and access)",
        Some("JSON adoption"),
        "JSON",
    ),
    // Maintenance.
    r(
        "POST",
        "/api/v1/maintenance/run",
        ADMIN,
        "One maintenance pass now",
        Some("JSON {\"tasks\"?, \"devices\"?, \"as_of\"?}"),
        "JSON report",
    ),
    r(
        "GET",
        "/api/v1/maintenance",
        VIEWER,
        "Recorded maintenance operations",
        None,
        "JSON [operation]",
    ),
    r(
        "GET",
        "/api/v1/maintenance/devices/{uuid}",
        VIEWER,
        "A device's admin password versions (never values) and operations",
        None,
        "JSON",
    ),
    r(
        "POST",
        "/api/v1/certificates/{serial}/revoke",
        ADMIN,
        "Revoke a certificate, publish the CRLs and push them",
        Some("JSON {\"reason\"}"),
        "JSON",
    ),
    r(
        "GET",
        "/api/v1/console-certificate",
        ADMIN,
        "The server's console certificate (issued now if there is none: a PKI change)",
        None,
        "JSON",
    ),
];

/// What the table says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The route.
    Found(&'static Route),
    /// The path is in the table, not with this method.
    WrongMethod,
    /// The path is not in the table.
    Unknown,
}

/// The route for `method` on the router's matched `path` (`HEAD` counts as `GET`).
#[must_use]
pub fn find(method: &str, path: &str) -> Lookup {
    let method = if method == "HEAD" { "GET" } else { method };
    let mut path_known = false;
    for route in ROUTES {
        if route.path == path {
            if route.method == method {
                return Lookup::Found(route);
            }
            path_known = true;
        }
    }
    if path_known {
        Lookup::WrongMethod
    } else {
        Lookup::Unknown
    }
}

/// The OpenAPI 3.0 document, from [`ROUTES`].
#[must_use]
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true,
                        "schema": { "type": "string" } })
            })
            .collect();
        let mut op = json!({
            "summary": route.summary,
            "operationId": format!("{} {}", route.method, route.path),
            "responses": {
                "200": { "description": route.response },
            },
        });
        match route.access {
            Access::Public => op["security"] = json!([]),
            Access::AtLeast(role) => {
                op["x-amtd-min-role"] = json!(role.as_str());
                op["responses"]["401"] = json!({ "description": "no or invalid credentials" });
                op["responses"]["403"] = json!({
                    "description": format!("the caller's role is below {role}, or a cookie \
                                            request without the session's X-CSRF-Token"),
                });
            }
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(body) = route.request {
            op["requestBody"] = json!({
                "description": body,
                "content": { "application/json": { "schema": { "type": "object" } } },
            });
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "amtd API",
            "version": "1",
            "description": "Intel AMT provisioning and management server. Authenticate with \
                            `Authorization: Bearer <API token>` or the `amtd_session` cookie \
                            from POST /api/v1/login (state-changing requests then need the \
                            X-CSRF-Token header). Each operation's x-amtd-min-role names the \
                            least role allowed: viewer < operator < administrator.",
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": "amtd_session" },
            },
        },
        "security": [ { "bearer": [] }, { "session": [] } ],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths registered with `.route("…")` in the API's source files.
    fn registered_paths() -> std::collections::BTreeSet<String> {
        let sources = [
            include_str!("api.rs"),
            include_str!("api_console.rs"),
            include_str!("api_defense.rs"),
            include_str!("api_maintenance.rs"),
            include_str!("api_pki.rs"),
            include_str!("api_sol.rs"),
            include_str!("api_users.rs"),
            include_str!("api_audit.rs"),
            include_str!("api_events.rs"),
            include_str!("web.rs"),
        ];
        let mut out = std::collections::BTreeSet::new();
        for src in sources {
            // `.route(` possibly followed by a line break, then the path literal.
            for piece in src.split(".route(").skip(1) {
                let piece = piece.trim_start();
                if let Some(rest) = piece.strip_prefix('"') {
                    if let Some(end) = rest.find('"') {
                        out.insert(rest[..end].to_owned());
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_registered_route_is_in_the_table_and_back() {
        let registered = registered_paths();
        let table: std::collections::BTreeSet<String> =
            ROUTES.iter().map(|r| r.path.to_owned()).collect();
        assert!(registered.len() > 30, "{registered:?}");
        assert_eq!(registered, table);
    }

    #[test]
    fn table_has_no_duplicate_routes() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn openapi_lists_every_route_with_its_role() {
        let doc = openapi();
        assert_eq!(doc["openapi"], "3.0.3");
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {}", r.method, r.path);
            match r.access {
                Access::Public => assert_eq!(op["security"], json!([])),
                Access::AtLeast(role) => assert_eq!(op["x-amtd-min-role"], role.as_str()),
            }
        }
        let ops: usize = doc["paths"]
            .as_object()
            .unwrap_or(&Map::new())
            .values()
            .map(|p| p.as_object().map_or(0, Map::len))
            .sum();
        assert_eq!(ops, ROUTES.len());
    }

    #[test]
    fn lookup_follows_the_table() {
        assert!(matches!(find("GET", "/api/v1/devices"), Lookup::Found(_)));
        assert!(matches!(find("HEAD", "/api/v1/devices"), Lookup::Found(_)));
        assert_eq!(find("DELETE", "/api/v1/devices"), Lookup::WrongMethod);
        assert_eq!(find("GET", "/api/v1/nothing"), Lookup::Unknown);
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Administrator);
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
    }
}
