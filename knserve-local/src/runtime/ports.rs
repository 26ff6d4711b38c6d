//! The loopback ports apps listen on (`PORT`).
//!
//! An app's port is chosen by the server and bound by the app a moment later. Choosing it
//! by binding port 0 and closing the socket, as is common, races with the server's own
//! binds: every instance's queue-proxy also binds port 0, and the kernel may hand the
//! port just released to that listener before the app binds it. The app then fails with
//! "Address already in use" on every restart, since its port stays taken for the
//! instance's life (seen with 100 Services cold-started at once, `bench/thousand.py`).
//!
//! So apps get ports from a range the kernel never gives to a port-0 bind: below the
//! ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999 by default), from
//! [`FIRST`] up. The allocator hands them out round-robin, so a port is not reused right
//! after its app exits, skips ports leased to a running instance and ports some other
//! program holds (a test bind), and takes the lease back when the instance is dropped.
//! Where the ephemeral range leaves no room below it, it falls back to a port-0 bind,
//! still skipping leased ports.

use std::{
    collections::BTreeSet,
    net::{Ipv4Addr, TcpListener},
    sync::{Mutex, PoisonError},
};

/// The lowest port handed to apps.
pub const FIRST: u16 = 20_000;

/// The kernel's ephemeral range where it cannot be read.
const DEFAULT_EPHEMERAL_LOW: u16 = 32_768;

/// `next` before the first lease: the round starts at a place of the range that
/// depends on the server's pid (see [`pick`]).
const UNSET: u16 = 0;

static LEASED: Mutex<Leases> = Mutex::new(Leases {
    ports: BTreeSet::new(),
    next: UNSET,
});

struct Leases {
    ports: BTreeSet<u16>,
    next: u16,
}

/// A port leased to one instance's app; given back when dropped.
#[derive(Debug)]
pub struct PortLease(u16);

impl PortLease {
    /// The port.
    pub fn port(&self) -> u16 {
        self.0
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        leases().ports.remove(&self.0);
    }
}

fn leases() -> std::sync::MutexGuard<'static, Leases> {
    // A set of numbers: no invariant a panicking holder could break.
    LEASED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The low end of the kernel's ephemeral port range.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_LOW)
}

/// Whether nothing listens on `port` on loopback now.
fn free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Leases a loopback port for an app (see the module docs).
pub fn lease() -> std::io::Result<PortLease> {
    let end = ephemeral_low();
    pick(&mut leases(), end).map(PortLease)
}

/// The next port for an app in `leases`, recorded there; `end` is the low end of the
/// ephemeral range.
///
/// Each server starts its round at a place of the range spread by its pid, not at
/// [`FIRST`]: two servers started together (tests run several at once) would otherwise
/// both find `FIRST` free in the same instant and give it to two apps, one of which then
/// fails with "Address already in use" on every restart.
fn pick(leases: &mut Leases, end: u16) -> std::io::Result<u16> {
    if end > FIRST {
        if !(FIRST..end).contains(&leases.next) {
            let span = u64::from(end - FIRST);
            let spread = u64::from(std::process::id()).wrapping_mul(2_654_435_761) % span;
            leases.next = FIRST + u16::try_from(spread).unwrap_or(0);
        }
        for _ in FIRST..end {
            let port = leases.next;
            leases.next = if port + 1 >= end { FIRST } else { port + 1 };
            if !leases.ports.contains(&port) && free(port) {
                leases.ports.insert(port);
                return Ok(port);
            }
        }
    }
    // No room below the ephemeral range (or all of it taken): let the kernel choose,
    // still never a port leased to another app.
    for _ in 0..64 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if leases.ports.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free loopback port for the app",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_distinct_below_the_ephemeral_range_and_come_back_when_dropped() {
        let end = ephemeral_low();
        let first: Vec<PortLease> = (0..50).map(|_| lease().unwrap()).collect();
        let ports: BTreeSet<u16> = first.iter().map(PortLease::port).collect();
        assert_eq!(ports.len(), 50, "no port leased twice: {ports:?}");
        if end > FIRST + 100 {
            assert!(
                ports.iter().all(|&p| (FIRST..end).contains(&p)),
                "below the ephemeral range {end}: {ports:?}"
            );
        }
        // A port-0 bind never lands on a leased port while its lease is held.
        for _ in 0..200 {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            assert!(!ports.contains(&listener.local_addr().unwrap().port()));
        }
        let port = first[0].port();
        drop(first);
        assert!(
            !leases().ports.contains(&port),
            "a dropped lease is given back"
        );
    }

    #[test]
    fn a_port_another_program_holds_is_skipped_and_a_full_range_falls_back_to_the_kernel() {
        // Some other program listens on the port the allocator would hand out next.
        let (held, _other) = (FIRST..FIRST + 1000)
            .find_map(|p| Some((p, TcpListener::bind((Ipv4Addr::LOCALHOST, p)).ok()?)))
            .expect("a free port near the start of the range");
        let mut own = Leases {
            ports: BTreeSet::new(),
            next: held,
        };
        let port = pick(&mut own, held + 10).unwrap();
        assert!(
            port > held && port < held + 10,
            "the held port {held} is skipped: {port}"
        );
        // With no room below the ephemeral range, a kernel-chosen port, never a leased one.
        let port = pick(&mut own, FIRST).unwrap();
        assert!(port >= FIRST, "{port}");
        assert!(own.ports.contains(&port) && own.ports.len() == 2);
    }
}
