//! Health probing: a socketless agent that, on a timer, dials each upstream the pools say is due
//! (down, and not probed for an interval) and reports the outcome back to its pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http_core::write::write_request_head;
use http_core::{Headers, Method, Version};
use reactor::client::ResponseReader;
use reactor::{CloseReason, Cx, Protocol};

use super::Shared;

/// How often the agent looks for due probes; the interval between probes of one upstream is the
/// pool's (2 s).
pub const PROBE_TICK: Duration = Duration::from_millis(250);
/// How long one probe may take before it counts as a failure.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The agent that starts probes.
pub(crate) struct HealthAgent {
    shared: Arc<Shared>,
}

impl HealthAgent {
    pub fn new(shared: Arc<Shared>) -> HealthAgent {
        HealthAgent { shared }
    }
}

impl Protocol for HealthAgent {
    type Message = std::convert::Infallible;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_timeout(PROBE_TICK);
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        let due: Vec<(usize, usize)> = {
            let mut state = self.shared.lock();
            state
                .pools
                .iter_mut()
                .enumerate()
                .flat_map(|(block, pool)| {
                    pool.probes_due(now)
                        .into_iter()
                        .map(move |backend| (block, backend))
                })
                .collect()
        };
        for (block, backend) in due {
            let addr = self.shared.addrs[block][backend];
            let probe = Probe {
                shared: self.shared.clone(),
                block,
                backend,
                reader: ResponseReader::default(),
                reported: false,
            };
            cx.connect(addr, probe);
        }
        cx.set_timeout(PROBE_TICK);
    }
}

/// One probe: a TCP connect, then a `GET` of the block's `health_check` path when it has one.
struct Probe {
    shared: Arc<Shared>,
    block: usize,
    backend: usize,
    reader: ResponseReader,
    reported: bool,
}

impl Probe {
    fn report(&mut self, healthy: bool) {
        if self.reported {
            return;
        }
        self.reported = true;
        let mut state = self.shared.lock();
        if let Some(pool) = state.pools.get_mut(self.block) {
            if healthy {
                pool.record_connect_success(self.backend);
            } else {
                pool.record_connect_failure(self.backend, Instant::now());
            }
        }
    }

    fn answered(&mut self, cx: &mut Cx<'_>, status: Option<u16>) {
        // Any answer but a server error means the upstream is serving again.
        self.report(status.is_some_and(|code| code < 500));
        cx.close();
    }
}

impl Protocol for Probe {
    type Message = std::convert::Infallible;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        let block = &self.shared.config.hosts[self.block];
        let Some(path) = block.health_check.clone() else {
            return self.answered(cx, Some(200));
        };
        let mut headers = Headers::new();
        headers.append("Host", block.upstreams[self.backend].authority());
        headers.append("Connection", "close");
        let mut wire = BytesMut::new();
        write_request_head(&Method::Get, &path, Version::Http11, &headers, &mut wire);
        cx.output().unsplit(wire);
        cx.set_timeout(PROBE_TIMEOUT);
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        match self.reader.feed(cx.input(), &Method::Get) {
            Ok(Some(response)) => self.answered(cx, Some(response.status.code())),
            Ok(None) => {}
            Err(_) => self.answered(cx, None),
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        let status = self.reader.finish_on_eof().ok().map(|r| r.status.code());
        self.answered(cx, status);
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        self.report(false);
        cx.abort();
    }

    fn on_close(&mut self, _reason: CloseReason) {
        self.report(false);
    }
}
