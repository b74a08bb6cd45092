//! Task 1 as the course grades it: login, cookies, guard modes, logout, static assets.

use crate::{send, start};
use backend::AuthMode;
use http_core::{Method, Status};

const FORM: &[(&str, &str)] = &[("Content-Type", "application/x-www-form-urlencoded")];

fn cookies(resp: &reactor::client::ClientResponse) -> Vec<String> {
    resp.headers
        .get_all("set-cookie")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

fn sid_of(resp: &reactor::client::ClientResponse) -> String {
    let cookies = cookies(resp);
    let sid = cookies
        .iter()
        .find(|c| c.starts_with("sid="))
        .expect("a sid cookie");
    sid["sid=".len()..].split(';').next().unwrap().to_owned()
}

#[test]
fn valid_login_sets_both_cookies_and_shows_index() {
    let server = start(AuthMode::Session);
    let resp = send(
        server.addr,
        Method::Post,
        "/login",
        FORM,
        b"username=admin&password=password",
    );
    assert_eq!(resp.status, Status::OK);
    assert!(
        String::from_utf8_lossy(&resp.body).contains("<title>Welcome · WeApRous</title>"),
        "the index page, not another"
    );
    let cookies = cookies(&resp);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("auth=true") && c.contains("Path=/")),
        "{cookies:?}"
    );
    let sid = cookies.iter().find(|c| c.starts_with("sid=")).unwrap();
    assert!(
        sid.contains("HttpOnly") && sid.contains("SameSite=Lax") && sid.contains("Path=/"),
        "{sid}"
    );
    let id = sid_of(&resp);
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn json_login_and_trailing_slash_work() {
    let server = start(AuthMode::Session);
    let headers = [("Content-Type", "application/json")];
    let resp = send(
        server.addr,
        Method::Post,
        "/login/",
        &headers,
        br#"{"username":"admin","password":"password"}"#,
    );
    assert_eq!(resp.status, Status::OK);
}

#[test]
fn invalid_login_gets_the_401_page() {
    let server = start(AuthMode::Session);
    for body in [
        &b"username=admin&password=nope"[..],
        b"username=root&password=password",
        b"",
    ] {
        let resp = send(server.addr, Method::Post, "/login", FORM, body);
        assert_eq!(resp.status, Status::UNAUTHORIZED);
        assert!(String::from_utf8_lossy(&resp.body).contains("<html"));
        assert!(cookies(&resp).is_empty());
    }
}

#[test]
fn session_mode_guards_the_index() {
    let server = start(AuthMode::Session);
    let addr = server.addr;
    assert_eq!(
        send(addr, Method::Get, "/", &[], b"").status,
        Status::UNAUTHORIZED
    );
    assert_eq!(
        send(addr, Method::Get, "/", &[("Cookie", "auth=false")], b"").status,
        Status::UNAUTHORIZED
    );
    assert_eq!(
        send(addr, Method::Get, "/", &[("Cookie", "auth=true")], b"").status,
        Status::UNAUTHORIZED
    );
    let login = send(
        addr,
        Method::Post,
        "/login",
        FORM,
        b"username=admin&password=password",
    );
    let cookie = format!("auth=true; sid={}", sid_of(&login));
    let page = send(addr, Method::Get, "/", &[("Cookie", &cookie)], b"");
    assert_eq!(page.status, Status::OK);
    assert_eq!(page.headers.get_str("cache-control"), Some("no-store"));
    assert_eq!(
        send(
            addr,
            Method::Get,
            "/index.html",
            &[("Cookie", &cookie)],
            b""
        )
        .status,
        Status::OK
    );
    let user = send(addr, Method::Get, "/user", &[("Cookie", &cookie)], b"");
    assert_eq!(user.status, Status::OK);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&user.body).unwrap()["user"],
        "admin"
    );
    assert_eq!(
        send(addr, Method::Get, "/user", &[], b"").status,
        Status::UNAUTHORIZED
    );
}

#[test]
fn flag_mode_accepts_the_course_cookie() {
    let server = start(AuthMode::Flag);
    let addr = server.addr;
    assert_eq!(
        send(addr, Method::Get, "/", &[("Cookie", "auth=true")], b"").status,
        Status::OK
    );
    assert_eq!(
        send(addr, Method::Get, "/", &[("Cookie", "auth=false")], b"").status,
        Status::UNAUTHORIZED
    );
    assert_eq!(
        send(addr, Method::Get, "/", &[], b"").status,
        Status::UNAUTHORIZED
    );
}

#[test]
fn basic_auth_is_accepted() {
    let server = start(AuthMode::Session);
    let good = [("Authorization", "Basic YWRtaW46cGFzc3dvcmQ=")];
    assert_eq!(
        send(server.addr, Method::Get, "/", &good, b"").status,
        Status::OK
    );
    let bad = [("Authorization", "Basic YWRtaW46eA==")];
    assert_eq!(
        send(server.addr, Method::Get, "/", &bad, b"").status,
        Status::UNAUTHORIZED
    );
}

#[test]
fn logout_ends_the_session_and_expires_cookies() {
    let server = start(AuthMode::Session);
    let addr = server.addr;
    let login = send(
        addr,
        Method::Post,
        "/login",
        FORM,
        b"username=admin&password=password",
    );
    let cookie = format!("auth=true; sid={}", sid_of(&login));
    let out = send(addr, Method::Post, "/logout", &[("Cookie", &cookie)], b"");
    assert_eq!(out.status, Status::OK);
    let expired = cookies(&out);
    for name in ["auth=", "sid="] {
        assert!(
            expired
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0") && c.contains("Path=/")),
            "{name} not expired: {expired:?}"
        );
    }
    assert_eq!(
        send(addr, Method::Get, "/", &[("Cookie", &cookie)], b"").status,
        Status::UNAUTHORIZED
    );
}

#[test]
fn login_page_and_assets_have_the_right_types() {
    let server = start(AuthMode::Session);
    let addr = server.addr;
    for (path, ty) in [
        ("/login", "text/html"),
        ("/login.html", "text/html"),
        ("/css/style.css", "text/css"),
        ("/images/logo.svg", "image/svg+xml"),
    ] {
        let resp = send(addr, Method::Get, path, &[], b"");
        assert_eq!(resp.status, Status::OK, "{path}");
        let got = resp.headers.get_str("content-type").unwrap_or_default();
        assert!(got.starts_with(ty), "{path}: {got}");
    }
    let css = send(addr, Method::Get, "/css/style.css", &[], b"");
    let etag = css.headers.get_str("etag").unwrap().to_owned();
    let again = send(
        addr,
        Method::Get,
        "/css/style.css",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(again.status, Status::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let lm = css.headers.get_str("last-modified").unwrap().to_owned();
    let since = send(
        addr,
        Method::Get,
        "/css/style.css",
        &[("If-Modified-Since", &lm)],
        b"",
    );
    assert_eq!(since.status, Status::NOT_MODIFIED);
    let head = send(addr, Method::Head, "/css/style.css", &[], b"");
    assert_eq!(head.status, Status::OK);
    assert!(head.body.is_empty());
    assert_eq!(
        head.headers.get_str("content-length"),
        css.headers.get_str("content-length")
    );
}

#[test]
fn echo_and_errors() {
    let server = start(AuthMode::Session);
    let addr = server.addr;
    let resp = send(
        addr,
        Method::Post,
        "/echo",
        &[("Content-Type", "application/json")],
        br#"{"a":[1,2]}"#,
    );
    assert_eq!(resp.status, Status::OK);
    assert_eq!(&resp.body[..], br#"{"received":{"a":[1,2]}}"#);
    let bad = send(addr, Method::Post, "/echo", &[], b"{nope");
    assert_eq!(bad.status, Status::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&bad.body).starts_with(r#"{"error":"invalid JSON: "#));
    let not_found = send(
        addr,
        Method::Get,
        "/no/such/page",
        &[("Accept", "text/html")],
        b"",
    );
    assert_eq!(not_found.status, Status::NOT_FOUND);
    assert!(String::from_utf8_lossy(&not_found.body).contains("<html"));
    let wrong = send(addr, Method::Delete, "/login", &[], b"");
    assert_eq!(wrong.status, Status::METHOD_NOT_ALLOWED);
    let allow = wrong.headers.get_str("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let options = send(addr, Method::Options, "/login", &[], b"");
    assert_eq!(options.status, Status::NO_CONTENT);
}
