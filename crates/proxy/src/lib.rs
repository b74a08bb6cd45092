//! Reverse proxy for WeApRous: the course's proxy.conf, host routing, balancing, health, and
//! forwarding on the reactor.
//!
//! The core is pure: no sockets, no threads, no clock reads (time comes in as `now`). The
//! forwarder ([`server`], built on `reactor`) loads a [`Config`], asks [`Config::route`] which
//! block serves a request's `Host`, and keeps one [`Pool`] per block in [`Pools`] to pick an
//! upstream, count requests in flight, track connect failures and schedule probes.
//!
//! - [`config`]: the parsed file, header templates, host routing and [`ConfigError`];
//! - [`balance`]: the [`Select`] trait and the round-robin, least-conn and random policies;
//! - [`health`]: per-upstream health with consecutive-failure hysteresis;
//! - [`pool`]: backends, policy and health per block, and the `/__proxy/status` view;
//! - [`upstream_pool`]: idle keep-alive upstream connections kept for reuse;
//! - [`forward`]: the client, upstream, tunnel and probe protocols (header rewriting and the
//!   status page's loopback-only rule are pure);
//! - [`server`]: the wiring on an event loop: [`serve_on`], [`spawn`], [`run`].
//!
//! ```
//! let conf = proxy::parse(r#"
//! host "app2.local" {
//!     proxy_set_header Host $host;
//!     proxy_pass http://192.168.56.210:9002;
//!     proxy_pass http://192.168.56.220:9002;
//!     dist_policy round-robin
//! }
//! "#, "proxy.conf")?;
//! let mut pools = proxy::Pools::new(&conf);
//! let block = conf.route(Some("app2.local:8080")).expect("a block");
//! let pool = pools.get_mut(block).expect("one pool per block");
//! let first = pool.pick().expect("an upstream is up");
//! assert_eq!(pool.backends()[first].upstream.authority(), "192.168.56.210:9002");
//! # Ok::<(), proxy::ConfigError>(())
//! ```

pub mod balance;
pub mod config;
pub mod forward;
pub mod health;
mod lexer;
mod parse;
pub mod pool;
pub mod server;
pub mod sticky;
pub mod upstream_pool;

pub use balance::{Backend, Select};
pub use config::{Config, ConfigError, HostBlock, Policy, Upstream};
pub use parse::parse;
pub use pool::{Pool, Pools, Status};
pub use reactor::Running;
pub use server::{ProxyError, run, serve_on, spawn};
