//! The API's users, roles, tokens and sessions against a running `amtd serve`: every route the
//! OpenAPI document lists exists (and undocumented paths do not), the authorization matrix
//! generated from the document holds for anonymous, viewer, operator and administrator
//! callers, cookie sessions need their CSRF token for state changes and end at logout, failed
//! logins are rate-limited, and the first start creates the bootstrap administrator.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};
use support::Serve;

/// One HTTP answer.
struct Answer {
    status: u16,
    head: String,
    body: Value,
    raw_body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        let name = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&name))
            .map(|l| l[name.len()..].trim().to_owned())
    }
}

/// A raw HTTP/1.1 request with extra headers.
fn http(api: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let host = api.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}{content_type}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The head first; a server-sent event stream (GET /api/v1/events) never ends, so its body
    // is not read.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => panic!("no HTTP answer to {method} {path}"),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    if !head
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream")
    {
        let _ = s.read_to_end(&mut raw);
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let raw_body = raw[end + 4..].to_vec();
    let body = serde_json::from_slice(&raw_body).unwrap_or(Value::Null);
    Answer {
        status,
        head,
        body,
        raw_body,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `{param}` → a placeholder value of the right shape.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{uuid}" => "8086e000-0000-4000-8000-0000000000ff",
            "{file}" => "issuing.crl",
            "{serial}" => "0badc0de",
            s if s.starts_with('{') => "placeholder",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// (method, path, min role or None for public) from the served OpenAPI document.
fn documented(api: &str) -> Vec<(String, String, Option<String>)> {
    let doc = http(api, "GET", "/api/v1/openapi.json", &[], "");
    assert_eq!(doc.status, 200, "the OpenAPI document is public");
    assert_eq!(doc.body["openapi"], "3.0.3");
    let mut out = Vec::new();
    for (path, ops) in doc.body["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let role = op["x-amtd-min-role"].as_str().map(str::to_owned);
            if role.is_none() {
                assert_eq!(op["security"], json!([]), "{method} {path}");
            }
            out.push((method.to_ascii_uppercase(), path.clone(), role));
        }
    }
    assert!(out.len() > 40, "{} routes", out.len());
    out
}

fn admin_call(s: &Serve, method: &str, path: &str, body: Value) -> Answer {
    http(
        &s.api,
        method,
        path,
        &[("Authorization", &bearer(&s.token))],
        &body.to_string(),
    )
}

/// Creates a user with `role` and a token for it, through the API; returns the token.
fn user_with_token(s: &Serve, name: &str, role: &str) -> String {
    let made = admin_call(
        s,
        "POST",
        "/api/v1/users",
        json!({ "name": name, "role": role, "password": format!("{name}-password-123") }),
    );
    assert_eq!(made.status, 201, "{:?}", made.body);
    let tok = admin_call(
        s,
        "POST",
        "/api/v1/tokens",
        json!({ "name": format!("{name} token"), "user": name }),
    );
    assert_eq!(tok.status, 201, "{:?}", tok.body);
    tok.body["token"].as_str().unwrap().to_owned()
}

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "operator" => 2,
        "administrator" => 3,
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn every_documented_route_exists_and_the_role_matrix_holds() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), "", &[]);
    let routes = documented(&s.api);

    // Every documented (method, path) is routed: a route-less 404 has no JSON body, a 405 means
    // the method is not there. Placeholder parameters and empty bodies may give 400/404/422.
    for (method, path, _) in &routes {
        let a = http(
            &s.api,
            method,
            &concrete(path),
            &[("Authorization", &bearer(&s.token))],
            "",
        );
        assert_ne!(
            a.status, 405,
            "{method} {path} is documented but not routed"
        );
        assert!(
            !(a.status == 404 && a.body.get("error").is_none()),
            "{method} {path} is documented but not routed: {}",
            String::from_utf8_lossy(&a.raw_body)
        );
    }
    // Undocumented paths are not there.
    for path in [
        "/api/v1/nothing",
        "/api/v2/devices",
        "/index.html",
        "/api/v1/devices/x/y/z",
    ] {
        let a = http(
            &s.api,
            "GET",
            path,
            &[("Authorization", &bearer(&s.token))],
            "",
        );
        assert_eq!(a.status, 404, "GET {path}");
    }

    // The matrix: every route × {anonymous, viewer, operator, administrator}.
    let callers = [
        ("viewer", user_with_token(&s, "vera", "viewer")),
        ("operator", user_with_token(&s, "otto", "operator")),
        ("administrator", user_with_token(&s, "ada", "administrator")),
    ];
    let mut checked = 0;
    for (method, path, min) in &routes {
        let url = concrete(path);
        let anon = http(&s.api, method, &url, &[], "");
        match min {
            None => assert!(
                anon.status != 401 && anon.status != 403,
                "public {method} {path} answered {} anonymously",
                anon.status
            ),
            Some(_) => assert_eq!(
                anon.status, 401,
                "anonymous {method} {path}: {:?}",
                anon.body
            ),
        }
        for (role, token) in &callers {
            let a = http(
                &s.api,
                method,
                &url,
                &[("Authorization", &bearer(token))],
                "",
            );
            let allowed = min.as_deref().is_none_or(|m| rank(role) >= rank(m));
            if allowed {
                assert!(
                    a.status != 401 && a.status != 403,
                    "{role} {method} {path} is allowed but answered {}: {:?}",
                    a.status,
                    a.body
                );
            } else {
                assert_eq!(
                    a.status, 403,
                    "{role} {method} {path} (needs {min:?}): {:?}",
                    a.body
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * 3);

    // A revoked token and a disabled user's token are refused.
    let list = admin_call(&s, "GET", "/api/v1/tokens?user=vera", Value::Null);
    let id = list.body[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        admin_call(&s, "DELETE", &format!("/api/v1/tokens/{id}"), Value::Null).status,
        200
    );
    let a = http(
        &s.api,
        "GET",
        "/api/v1/devices",
        &[("Authorization", &bearer(&callers[0].1))],
        "",
    );
    assert_eq!(a.status, 401);
    assert_eq!(
        admin_call(&s, "POST", "/api/v1/users/otto/disable", Value::Null).status,
        200
    );
    let a = http(
        &s.api,
        "GET",
        "/api/v1/devices",
        &[("Authorization", &bearer(&callers[1].1))],
        "",
    );
    assert_eq!(a.status, 401);
    // The token list never shows token values.
    let all = admin_call(&s, "GET", "/api/v1/tokens", Value::Null);
    assert!(all
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("token").is_none()));
    assert!(!String::from_utf8_lossy(&all.raw_body).contains(&callers[2].1));
}

fn login(s: &Serve, user: &str, password: &str) -> Answer {
    http(
        &s.api,
        "POST",
        "/api/v1/login",
        &[],
        &json!({ "user": user, "password": password }).to_string(),
    )
}

#[test]
fn sessions_need_csrf_for_changes_end_at_logout_and_logins_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), "", &[]);

    // Bootstrap: admin with its first password in a 0600 file; api-token is its token.
    let pw_file = dir.path().join("amtd-data/initial-admin-password");
    let admin_pw = std::fs::read_to_string(&pw_file).unwrap().trim().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&pw_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let me = admin_call(&s, "GET", "/api/v1/me", Value::Null);
    assert_eq!(me.body, json!({ "user": "admin", "role": "administrator" }));
    let tokens = admin_call(&s, "GET", "/api/v1/tokens", Value::Null);
    assert_eq!(tokens.body[0]["name"], "bootstrap");
    assert_eq!(tokens.body[0]["user"], "admin");
    let a = login(&s, "admin", &admin_pw);
    assert_eq!(a.status, 200, "{:?}", a.body);

    // Passwords shorter than 12 characters are refused.
    let short = admin_call(
        &s,
        "POST",
        "/api/v1/users",
        json!({ "name": "webop", "role": "operator", "password": "too-short" }),
    );
    assert_eq!(short.status, 400);
    let made = admin_call(
        &s,
        "POST",
        "/api/v1/users",
        json!({ "name": "webop", "role": "operator", "password": "a long enough password" }),
    );
    assert_eq!(made.status, 201);
    assert!(!String::from_utf8_lossy(&made.raw_body).contains("argon2"));

    // Login: the cookie's attributes and the CSRF token.
    let a = login(&s, "webop", "a long enough password");
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["user"], "webop");
    assert_eq!(a.body["role"], "operator");
    let csrf = a.body["csrf_token"].as_str().unwrap().to_owned();
    let set_cookie = a.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP listener: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("amtd_session="));

    let me = http(&s.api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"], "webop");
    // The role holds with a session too.
    let users = http(&s.api, "GET", "/api/v1/users", &[("Cookie", &cookie)], "");
    assert_eq!(users.status, 403);

    // State changes with the cookie need the session's CSRF token.
    let tags = "/api/v1/devices/8086e000-0000-4000-8000-0000000000ff/tags";
    let body = json!(["lab"]).to_string();
    let no_csrf = http(&s.api, "PUT", tags, &[("Cookie", &cookie)], &body);
    assert_eq!(no_csrf.status, 403, "{:?}", no_csrf.body);
    let wrong = http(
        &s.api,
        "PUT",
        tags,
        &[("Cookie", &cookie), ("X-CSRF-Token", "0123456789abcdef")],
        &body,
    );
    assert_eq!(wrong.status, 403);
    let right = http(
        &s.api,
        "PUT",
        tags,
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        &body,
    );
    assert!(
        right.status != 401 && right.status != 403,
        "{} {:?}",
        right.status,
        right.body
    );

    // Logout (itself a state change) ends the session.
    let out = http(&s.api, "POST", "/api/v1/logout", &[("Cookie", &cookie)], "");
    assert_eq!(out.status, 403);
    let out = http(
        &s.api,
        "POST",
        "/api/v1/logout",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    );
    assert_eq!(out.status, 200);
    assert_eq!(out.body["logged_out"], true);
    let me = http(&s.api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!(me.status, 401);
    let forged = http(
        &s.api,
        "GET",
        "/api/v1/me",
        &[("Cookie", "amtd_session=00112233445566778899aabbccddeeff")],
        "",
    );
    assert_eq!(forged.status, 401);

    // Rate limiting: five failures, then 429 with Retry-After, even for the right password.
    for i in 0..5 {
        let a = login(&s, "webop", "wrong password!!");
        assert_eq!(a.status, 401, "failure {i}");
    }
    let limited = login(&s, "webop", "wrong password!!");
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let right = login(&s, "webop", "a long enough password");
    assert_eq!(
        right.status, 429,
        "the right password is refused while limited"
    );

    // Nothing the server printed holds a password.
    let log = s.log();
    assert!(!log.contains("wrong password!!") && !log.contains("a long enough password"));
    assert!(!log.contains(&admin_pw));
}

#[test]
fn cli_manages_users_and_tokens_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), "", &[]);
    let run = |args: &[&str]| {
        let out = support::amtd_env(dir.path(), args, &[("CAROL_PW", "carol's long password")]);
        assert!(out.status.success(), "{args:?}: {}", support::text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "user",
        "add",
        "carol",
        "--role",
        "viewer",
        "--password-env",
        "CAROL_PW",
    ]);
    let list: Value = serde_json::from_str(&run(&["user", "--json", "list"])).unwrap();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, [json!("admin"), json!("carol")]);
    assert_eq!(login(&s, "carol", "carol's long password").status, 200);

    let token = run(&["token", "create", "--name", "ci", "--user", "carol"])
        .trim()
        .to_owned();
    assert_eq!(token.len(), 64, "{token}");
    let get = |path: &str| {
        http(
            &s.api,
            "GET",
            path,
            &[("Authorization", &bearer(&token))],
            "",
        )
    };
    assert_eq!(get("/api/v1/devices").status, 200);
    assert_eq!(get("/api/v1/users").status, 403);
    let tokens: Value =
        serde_json::from_str(&run(&["token", "--json", "list", "--user", "carol"])).unwrap();
    let id = tokens[0]["id"].as_str().unwrap().to_owned();
    run(&["token", "revoke", &id]);
    assert_eq!(get("/api/v1/devices").status, 401);

    run(&["user", "passwd", "carol", "--password-env", "CAROL_PW"]);
    run(&["user", "disable", "carol"]);
    assert_eq!(login(&s, "carol", "carol's long password").status, 401);
    run(&["user", "enable", "carol"]);
    run(&["user", "delete", "carol"]);
    let out = support::amtd(dir.path(), &["user", "delete", "carol"]);
    assert!(!out.status.success());
    assert!(
        support::text(&out).contains("404"),
        "{}",
        support::text(&out)
    );
}
