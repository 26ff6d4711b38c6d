//! Tests against a real kube-apiserver (being written).

fn main() {}
