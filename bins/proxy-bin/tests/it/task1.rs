//! Task 1 through the proxy: login, cookie, index, with backend-bin as the upstream.

use crate::{catch_all, get, send, site_at, start_proxy, text};
use http_core::Method;

#[test]
fn login_cookie_index_through_the_proxy() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../static");
    let site = site_at(root, "127.0.0.1:0");
    let proxy = start_proxy(&catch_all(&[site.addr], "round-robin"));
    let host = "localhost:8080";

    assert_eq!(get(proxy.addr, host, "/").status.code(), 401);
    let login = send(
        proxy.addr,
        host,
        Method::Post,
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=password",
    );
    assert_eq!(login.status.code(), 200);
    let cookies: Vec<String> = login
        .headers
        .get_all("set-cookie")
        .map(|v| {
            String::from_utf8_lossy(v)
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(cookies.iter().any(|c| c == "auth=true"), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("sid=")), "{cookies:?}");

    let index = send(
        proxy.addr,
        host,
        Method::Get,
        "/",
        &[("Cookie", &cookies.join("; "))],
        b"",
    );
    assert_eq!(index.status.code(), 200);
    assert!(text(&index).contains("<html"), "index page");
}
