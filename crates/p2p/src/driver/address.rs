//! The address other peers reach this one by: the peer id and the address the tracker lists.
//!
//! A peer bound to one address is reached there. A peer bound to every address (`--host
//! 0.0.0.0`) is reached at whatever source address the tracker sees, so it asks the kernel which
//! local address routes to the tracker (a connected UDP socket sends nothing) and names itself
//! after that; it leaves `ip` out of its registration, so the tracker lists the source address it
//! saw, and the tracker's `observed_ip` answer tells the peer when the two disagree (a NAT in
//! between: then `--advertise` is the way). `--advertise HOST[:PORT]` overrides both.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// An address given by the user for others to reach this peer by (`--advertise HOST[:PORT]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertise {
    /// The address; never unspecified.
    pub ip: IpAddr,
    /// The port, when it differs from the bound one (a forwarded port).
    pub port: Option<u16>,
}

/// Where others reach this peer, and how the tracker should learn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Public {
    /// The address in our peer id and our registration.
    pub addr: SocketAddr,
    /// How it was chosen.
    pub source: Source,
}

/// How the public address was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--advertise`: sent to the tracker as is.
    Advertised,
    /// The bound address (not a wildcard): sent to the tracker as is.
    Bound,
    /// A wildcard bind: the local address of the route to the tracker (or loopback without a
    /// tracker). `ip` is left out of the registration, so the tracker lists what it sees.
    Route,
}

impl Public {
    /// The `ip` field of our registration: `None` lets the tracker take our source address.
    pub fn registered_ip(&self) -> Option<IpAddr> {
        (self.source != Source::Route).then_some(self.addr.ip())
    }
}

/// Chooses the public address of a peer bound at `bound`.
pub fn choose(
    bound: SocketAddr,
    advertise: Option<Advertise>,
    tracker: Option<SocketAddr>,
) -> Public {
    if let Some(adv) = advertise {
        let addr = SocketAddr::new(adv.ip, adv.port.unwrap_or(bound.port()));
        return Public {
            addr,
            source: Source::Advertised,
        };
    }
    if !bound.ip().is_unspecified() {
        return Public {
            addr: bound,
            source: Source::Bound,
        };
    }
    let loopback = match bound.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    let ip = match tracker.map(route_to) {
        Some(Ok(ip)) => ip,
        Some(Err(e)) => {
            log::warn!(
                "no route to the tracker ({e}); naming ourselves {loopback}, pass --advertise"
            );
            loopback
        }
        None => loopback,
    };
    Public {
        addr: SocketAddr::new(ip, bound.port()),
        source: Source::Route,
    }
}

/// The local address the kernel would send from to reach `to`: the source address `to` sees,
/// unless a NAT sits between. Connecting a UDP socket only consults the routing table.
fn route_to(to: SocketAddr) -> std::io::Result<IpAddr> {
    let any: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(to)?;
    let ip = socket.local_addr()?.ip().to_canonical();
    if ip.is_unspecified() {
        return Err(std::io::Error::other("the kernel chose no source address"));
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        bound: &str,
        advertise: Option<Advertise>,
        tracker: Option<&str>,
        expected: (&str, Source),
    ) {
        let got = choose(
            bound.parse().unwrap(),
            advertise,
            tracker.map(|t| t.parse().unwrap()),
        );
        assert_eq!((got.addr.to_string().as_str(), got.source), expected);
    }

    #[test]
    fn public_addresses() {
        let adv = |ip: &str, port| Advertise {
            ip: ip.parse().unwrap(),
            port,
        };
        check(
            "0.0.0.0:5001",
            Some(adv("192.0.2.7", None)),
            None,
            ("192.0.2.7:5001", Source::Advertised),
        );
        check(
            "0.0.0.0:5001",
            Some(adv("192.0.2.7", Some(80))),
            None,
            ("192.0.2.7:80", Source::Advertised),
        );
        check("127.0.0.2:9", None, None, ("127.0.0.2:9", Source::Bound));
        check("0.0.0.0:9", None, None, ("127.0.0.1:9", Source::Route));
        // A loopback tracker is reached from loopback.
        check(
            "0.0.0.0:9",
            None,
            Some("127.0.0.1:8000"),
            ("127.0.0.1:9", Source::Route),
        );
        check("[::]:9", None, None, ("[::1]:9", Source::Route));
    }

    #[test]
    fn only_a_route_address_is_left_to_the_tracker() {
        let public = choose("0.0.0.0:9".parse().unwrap(), None, None);
        assert_eq!(public.registered_ip(), None);
        let public = choose("127.0.0.1:9".parse().unwrap(), None, None);
        assert_eq!(public.registered_ip(), Some("127.0.0.1".parse().unwrap()));
    }
}
