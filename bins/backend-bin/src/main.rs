//! backend-bin: the Task 1 web server (login and cookie access control). Argument parsing and
//! wiring only; the app lives in the `backend` library.

use backend::{AuthMode, Config, DEFAULT_PORT};
use clap::Parser;
use daemon::{FileArgs, ListenArgs, init_logging};
use router::auth::Credentials;
use std::path::PathBuf;
use std::process::ExitCode;

/// Task 1 web server: login form, cookie access control, static site.
#[derive(Parser, Debug)]
#[command(version, about, mut_arg("port", |a| a.help(daemon::port_help(DEFAULT_PORT))))]
struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    files: FileArgs,
    /// Directory served as the site (login.html, index.html, 401.html, 404.html, css/, images/).
    #[arg(long, value_name = "DIR")]
    static_root: Option<PathBuf>,
    /// How `/` is guarded: `flag` (the course's rule) accepts `auth=true`; `session`, what to
    /// deploy, needs a real session.
    #[arg(long, value_enum, default_value_t = AuthMode::Flag)]
    auth_mode: AuthMode,
    /// A user allowed to log in, as NAME:PASSWORD (repeatable; default admin:password).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// A file of NAME:PASSWORD lines.
    #[arg(long, value_name = "FILE")]
    users_file: Option<PathBuf>,
    /// An origin allowed cross-origin requests (repeatable; default: same origin only).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Where sessions live: `memory` (this process) or `redis://HOST[:PORT][/DB]`, shared by
    /// every backend using it, so session mode works behind a round-robin proxy.
    #[arg(long, value_name = "STORE", default_value = "memory", value_parser = backend::redis_sessions::Store::parse)]
    sessions: backend::redis_sessions::Store,
}

fn credentials(args: &Args) -> Result<Credentials, String> {
    let mut creds = match &args.users_file {
        Some(path) => {
            Credentials::load(path).map_err(|e| format!("--users-file {}: {e}", path.display()))?
        }
        None => Credentials::new(),
    };
    for pair in &args.users {
        let (user, password) = Credentials::parse_pair(pair)
            .ok_or_else(|| format!("--user {pair:?}: expected NAME:PASSWORD"))?;
        creds.add(&user, &password);
    }
    if args.users.is_empty() && args.users_file.is_none() {
        creds.add("admin", "password");
    }
    Ok(creds)
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let credentials = match credentials(&args) {
        Ok(creds) => creds,
        Err(e) => return daemon::usage_error("backend-bin", e),
    };
    if let Some(root) = &args.static_root
        && !root.join("login.html").is_file()
    {
        eprintln!(
            "backend-bin: --static-root {}: no login.html there (the site's directory, like static/)",
            root.display()
        );
        return ExitCode::from(2);
    }
    let config = Config {
        static_root: args
            .static_root
            .clone()
            .unwrap_or_else(backend::default_static_root),
        credentials,
        auth_mode: args.auth_mode,
        cors_origins: args.cors_origins.clone(),
    };
    if let Some(warning) = args.auth_mode.warning() {
        log::warn!("{warning}");
    }
    let addr = args.listen.addr(DEFAULT_PORT);
    let context = format!("backend-bin: {addr}");
    daemon::exit(
        &context,
        backend::run(
            config,
            addr,
            args.sessions.clone().redis(),
            args.files.apply(args.listen.limits()),
        ),
    )
}
