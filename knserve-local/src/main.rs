//! The `knserve` binary: `knserve serve` runs the server; every other subcommand is a
//! client of its admin API.

fn main() {
    println!("knserve");
}
