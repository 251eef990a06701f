//! `amtd user …` and `amtd token …`: the API's local users and API tokens, through the REST API
//! of a running server (administrator; see `server::api_users`).
//!
//! - `amtd user list`, `amtd user add NAME --role R [--password-env VAR]` (without
//!   `--password-env` the password is read from the first line of standard input),
//!   `amtd user passwd NAME [--password-env VAR]`, `amtd user role NAME ROLE`,
//!   `amtd user disable NAME`,
//!   `amtd user enable NAME`, `amtd user delete NAME`.
//! - `amtd token create --name N [--user U]` (prints the token once; the server keeps only its
//!   SHA-256), `amtd token list [--user U]`, `amtd token revoke ID`.
//!
//! Passwords are never printed; they stay in a [`SecretString`] until sent. Every change is
//! recorded in the server's audit log with the caller (the token's or session's user) as actor.

use std::io::BufRead as _;

use amt_wsman::secret::SecretString;
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{Api, ServerArgs};

/// `amtd user`.
#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// List users.
    List,
    /// Create a user (password: --password-env, else the first line of standard input).
    Add {
        /// Login name.
        name: String,
        /// viewer, operator or administrator.
        #[arg(long)]
        role: String,
        /// Environment variable holding the password (at least 12 characters).
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Set a user's password (ends its sessions).
    Passwd {
        /// Login name.
        name: String,
        /// Environment variable holding the password.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Change a user's role.
    Role {
        /// Login name.
        name: String,
        /// viewer, operator or administrator.
        role: String,
    },
    /// Disable a user (its tokens and sessions are refused).
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        name: String,
    },
    /// Delete a user with its tokens and sessions.
    Delete {
        /// Login name.
        name: String,
    },
}

/// `amtd token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create an API token and print it (shown once).
    Create {
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// The user it acts as (default: the caller).
        #[arg(long)]
        user: Option<String>,
    },
    /// List API tokens (never their values).
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke an API token.
    Revoke {
        /// The token's id (from `list`).
        id: String,
    },
}

/// The password from `$VAR`, or the first line of standard input.
fn read_password(env: Option<&str>) -> Result<SecretString> {
    let p = match env {
        Some(var) => std::env::var(var)
            .with_context(|| format!("--password-env {var}: the variable is not set"))?,
        None => {
            eprintln!("password (at least 12 characters), then Enter:");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if p.is_empty() {
        bail!("empty password");
    }
    Ok(SecretString::from(p))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print(json_out: bool, v: &Value, table: impl FnOnce(&Value)) -> Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        table(v);
    }
    Ok(())
}

/// Runs `amtd user …`.
pub fn user(args: UserArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let json_out = args.server.json;
    match args.command {
        UserCommand::List => {
            let v = api.call_with("GET", "/api/v1/users", None)?;
            print(json_out, &v, |v| {
                println!("{:<24} {:<14} disabled", "name", "role");
                for u in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<24} {:<14} {}",
                        text(&u["name"]),
                        text(&u["role"]),
                        text(&u["disabled"])
                    );
                }
            })
        }
        UserCommand::Add {
            name,
            role,
            password_env,
        } => {
            let password = read_password(password_env.as_deref())?;
            let body = json!({ "name": name, "role": role, "password": password.expose() });
            let v = api.call_with("POST", "/api/v1/users", Some(&body))?;
            print(json_out, &v, |v| {
                println!("created user {} ({})", text(&v["name"]), text(&v["role"]));
            })
        }
        UserCommand::Passwd { name, password_env } => {
            let password = read_password(password_env.as_deref())?;
            let body = json!({ "password": password.expose() });
            let v = api.call_with(
                "PUT",
                &format!("/api/v1/users/{name}/password"),
                Some(&body),
            )?;
            print(json_out, &v, |_| println!("password of {name} set"))
        }
        UserCommand::Role { name, role } => {
            let body = json!({ "role": role });
            let v = api.call_with("PUT", &format!("/api/v1/users/{name}/role"), Some(&body))?;
            print(json_out, &v, |v| {
                println!("{name} is now {}", text(&v["role"]));
            })
        }
        UserCommand::Disable { name } => {
            let v = api.call_with("POST", &format!("/api/v1/users/{name}/disable"), None)?;
            print(json_out, &v, |_| println!("{name} disabled"))
        }
        UserCommand::Enable { name } => {
            let v = api.call_with("POST", &format!("/api/v1/users/{name}/enable"), None)?;
            print(json_out, &v, |_| println!("{name} enabled"))
        }
        UserCommand::Delete { name } => {
            let v = api.call_with("DELETE", &format!("/api/v1/users/{name}"), None)?;
            print(json_out, &v, |_| println!("{name} deleted"))
        }
    }
}

/// Runs `amtd token …`.
pub fn token(args: TokenArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let json_out = args.server.json;
    match args.command {
        TokenCommand::Create { name, user } => {
            let mut body = json!({ "name": name });
            if let Some(u) = user {
                body["user"] = json!(u);
            }
            let v = api.call_with("POST", "/api/v1/tokens", Some(&body))?;
            print(json_out, &v, |v| {
                eprintln!(
                    "token {} for {} (shown once; the server keeps only its hash):",
                    text(&v["id"]),
                    text(&v["user"])
                );
                println!("{}", text(&v["token"]));
            })
        }
        TokenCommand::List { user } => {
            let path = match user {
                Some(u) => format!("/api/v1/tokens?user={u}"),
                None => "/api/v1/tokens".to_owned(),
            };
            let v = api.call_with("GET", &path, None)?;
            print(json_out, &v, |v| {
                println!(
                    "{:<18} {:<16} {:<24} {:<12} revoked",
                    "id", "user", "name", "last used"
                );
                for t in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<18} {:<16} {:<24} {:<12} {}",
                        text(&t["id"]),
                        text(&t["user"]),
                        text(&t["name"]),
                        text(&t["last_used_at"]),
                        text(&t["revoked"])
                    );
                }
            })
        }
        TokenCommand::Revoke { id } => {
            let v = api.call_with("DELETE", &format!("/api/v1/tokens/{id}"), None)?;
            print(json_out, &v, |_| println!("token {id} revoked"))
        }
    }
}
