//! Integration tests for the proxy crate: the shipped configs/proxy.conf and the course's sample.

use proxy::config::{HostPattern, Policy};
use proxy::{Config, Pools};

/// The course's sample, verbatim, tab included, with the blank lines and `#` comments a
/// student's copy has (on lines of their own and after a directive).
const COURSE_SAMPLE: &str = "# proxy.conf: which Host goes to which upstream
host \"192.168.56.103:8080\" {
    proxy_pass http://192.168.56.103:9000;
}

# app2 is shared out over two instances
host \"app2.local\" {
\tproxy_set_header Host $host;
    proxy_pass http://192.168.56.210:9002;   # first instance

    proxy_pass http://192.168.56.220:9002;
    dist_policy round-robin
}

";

fn authorities(conf: &Config, block: usize) -> Vec<String> {
    conf.hosts[block]
        .upstreams
        .iter()
        .map(|u| u.authority())
        .collect()
}

#[test]
fn course_sample_parses_verbatim() {
    for feature in ["\t", "\n\n", "\n# ", ";   # ", "dist_policy round-robin\n"] {
        assert!(
            COURSE_SAMPLE.contains(feature),
            "the sample has {feature:?}"
        );
    }
    let conf = proxy::parse(COURSE_SAMPLE, "proxy.conf").unwrap();
    assert_eq!(conf.hosts.len(), 2);
    assert_eq!(
        conf.hosts[0].host,
        HostPattern::Exact("192.168.56.103:8080".to_owned())
    );
    assert_eq!(authorities(&conf, 0), ["192.168.56.103:9000"]);
    let app2 = &conf.hosts[1];
    assert_eq!(app2.host, HostPattern::Exact("app2.local".to_owned()));
    assert_eq!(app2.policy, Policy::RoundRobin);
    assert_eq!(app2.headers.len(), 1);
    assert_eq!(app2.headers[0].name, "Host");
    assert_eq!(
        app2.headers[0].value.render("app2.local", "10.0.0.1"),
        "app2.local"
    );
    assert_eq!(
        authorities(&conf, 1),
        ["192.168.56.210:9002", "192.168.56.220:9002"]
    );
    assert_eq!(conf.route(Some("192.168.56.103:8080")), Some(0));
    assert_eq!(conf.route(Some("app2.local:8080")), Some(1));
    assert_eq!(conf.route(Some("other.local")), None);
}

fn shipped() -> Config {
    Config::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/proxy.conf"
    ))
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shipped_config_routes_every_demo_host() {
    let conf = shipped();
    for (host, upstreams) in [
        ("localhost:8080", &["127.0.0.1:9000", "127.0.0.1:9001"][..]),
        ("127.0.0.1:8080", &["127.0.0.1:9000", "127.0.0.1:9001"]),
        ("tracker.localhost:8080", &["127.0.0.1:8000"]),
        ("alice.localhost:8080", &["127.0.0.1:5001"]),
        ("bob.localhost:8080", &["127.0.0.1:5002"]),
        ("carol.localhost", &["127.0.0.1:5003"]),
    ] {
        let block = conf
            .route(Some(host))
            .unwrap_or_else(|| panic!("no block for {host}"));
        assert_eq!(authorities(&conf, block), upstreams, "{host}");
    }
    assert_eq!(conf.route(Some("dave.localhost:8080")), None);
}

#[test]
fn shipped_config_takes_turns_on_backend_bin() {
    let conf = shipped();
    let block = conf.route(Some("localhost:8080")).unwrap();
    assert_eq!(conf.hosts[block].policy, Policy::RoundRobin);
    let mut pools = Pools::new(&conf);
    let pool = pools.get_mut(block).unwrap();
    let ports: Vec<u16> = (0..4)
        .map(|_| {
            let i = pool.pick().unwrap();
            pool.backends()[i].upstream.port
        })
        .collect();
    assert_eq!(ports, [9000, 9001, 9000, 9001]);
}

#[test]
fn load_reports_position_with_the_path() {
    let dir = std::env::temp_dir().join(format!("proxy-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.conf");
    std::fs::write(&path, "host a {\n  proxy_pass http://a:99999;\n}\n").unwrap();
    let err = Config::load(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:14: bad port `99999` in upstream url `http://a:99999`",
            path.display()
        )
    );
}
