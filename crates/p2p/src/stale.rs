//! The page a wrong or stale `/?token=` link lands on: what happened and how to get a fresh
//! link, instead of a JSON error in a browser tab. Tokens are random per run unless
//! `--token`/`WEAPROUS_TOKEN` fixes one, so an old bookmark or a link from an earlier
//! `cargo xtask demo` stops working after every restart.

use http_core::{Response, Status};

use crate::api::html_escape;
use crate::driver::Node;

/// The 401 HTML page for a link whose token is not this run's; `users` says whether the
/// username/password sign-in is open (`--user`).
pub fn page(node: &Node, users: bool) -> Response {
    let name = html_escape(node.name());
    let port = node.addr().port();
    let sign_in = if users {
        "<li>or <a href=\"/\">sign in</a> with the username and password the peer was started \
         with (<code>--user NAME:PASSWORD</code>).</li>"
    } else {
        ""
    };
    let body = format!(
        "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>This link has expired · {name}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1f2937; }}
h1 {{ font-size: 1.4rem; }}
code {{ background: #f3f4f6; padding: 0.1rem 0.3rem; border-radius: 4px; }}
li {{ margin: 0.4rem 0; }}
</style>
</head>
<body>
<main>
<h1 id=\"stale-title\">This link has expired</h1>
<p>The token in this address is not the one peer <strong>{name}</strong> (port {port}) is using
now. A peer picks a new random token every time it starts, so links from an earlier run stop
working.</p>
<p>To get a fresh link:</p>
<ul>
<li>look at the terminal where the peer runs: its first line reads
<code>peer … — open http://…/?token=…</code>;</li>
<li>with <code>cargo xtask demo</code>, the links are in <code>target/demo/urls.txt</code>
(and on the demo's screen);</li>
<li>to keep one link across restarts, start the peer with <code>WEAPROUS_TOKEN=…</code> in
its environment;</li>
{sign_in}
</ul>
<p><a href=\"/\">Go to the sign-in page</a></p>
</main>
</body>
</html>
"
    );
    Response::with_body(Status::UNAUTHORIZED, "text/html; charset=utf-8", body)
        .header("Cache-Control", "no-store")
}
