//! The ingress's route lookup (Host → revision) as the table grows: one Route per
//! Service, each answering its hosts (external and cluster-local), looked up by hosts
//! spread over the whole table, so that a large table is not measured on one hot entry.
//!
//! The parameter is the table's host count (10 to 10,000, rounded up to whole Routes).
//! Run with `cargo bench -p knserve-core --bench router_lookup`; `bench/thousand.py`
//! reads the estimates criterion writes and reports the cost at 10,000 hosts against
//! the cost at 10.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use knserve_core::{
    api::{ObjectMeta, RoutingConfig},
    config::FeaturesConfig,
    router::{RouteTable, RouteTraffic, Router, Target},
};
use rand::{SeedableRng, rngs::SmallRng, seq::SliceRandom};

/// Hosts looked up per iteration, drawn from the whole table.
const LOOKUPS: usize = 1024;

/// A table of `services` Routes, one revision each.
fn table(services: usize) -> RouteTable {
    let routes = (0..services).map(|i| {
        RouteTraffic::new(
            ObjectMeta::named(format!("svc-{i}"), "default"),
            vec![Target::new(format!("svc-{i}-00001"), 100)],
        )
    });
    let (table, errors) = RouteTable::build(
        &RoutingConfig::default(),
        &FeaturesConfig::default(),
        routes,
    );
    assert!(errors.is_empty(), "{errors:?}");
    table
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_lookup");
    group
        .sample_size(40)
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(LOOKUPS as u64));
    let mut rng = SmallRng::seed_from_u64(11);
    // Each Route answers a few hosts (its domain and its cluster-local names).
    let per_route = table(1).hosts().count();
    for wanted in [10_usize, 100, 1_000, 10_000] {
        let table = table(wanted.div_ceil(per_route));
        let mut all: Vec<String> = table.hosts().map(str::to_owned).collect();
        let hosts = all.len();
        all.shuffle(&mut rng);
        let probes: Vec<String> = all.iter().cycle().take(LOOKUPS).cloned().collect();
        group.bench_with_input(BenchmarkId::from_parameter(hosts), &hosts, |b, _| {
            b.iter(|| {
                for host in &probes {
                    let decision = table.route(black_box(host), None, &mut rng);
                    black_box(decision.is_ok());
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
