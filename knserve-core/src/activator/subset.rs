//! Activator subsetting (spec §3.5): each activator takes a slice of the instances.

/// The positions (into the instances sorted by `ip:port` string) this activator uses.
///
/// `activator` is this activator's position among the revision's activators (sorted by
/// IP string), or `None` if it is not (or no longer) among them. With
/// `container_concurrency` 0, without a position, or with a single instance or a single
/// activator, it uses every instance. With more activators than instances it takes the
/// single instance `index mod instances` (several activators then share it, each
/// assuming the full CC — Knative's over-admission, kept for compatibility). Otherwise it
/// takes the slice `[index × s, index × s + s)` with `s = instances / activators`, and
/// activator `i < instances mod activators` also takes remnant `i` from the tail.
pub fn assign_slice(
    instances: usize,
    activator: Option<usize>,
    activators: usize,
    container_concurrency: u32,
) -> Vec<usize> {
    let all = || (0..instances).collect();
    let Some(index) = activator else { return all() };
    if container_concurrency == 0 || instances <= 1 || activators <= 1 || index >= activators {
        return all();
    }
    if activators > instances {
        return vec![index % instances];
    }
    let size = instances / activators;
    let remnants = instances % activators;
    let mut slice: Vec<usize> = (index * size..index * size + size).collect();
    if index < remnants {
        slice.push(instances - remnants + index);
    }
    slice
}

#[cfg(test)]
mod tests {
    use super::assign_slice;

    #[test]
    fn twenty_instances_over_three_activators_share_the_remnants() {
        let slices: Vec<Vec<usize>> = (0..3).map(|i| assign_slice(20, Some(i), 3, 10)).collect();
        assert_eq!(slices[0], [0, 1, 2, 3, 4, 5, 18]);
        assert_eq!(slices[1], [6, 7, 8, 9, 10, 11, 19]);
        assert_eq!(slices[2], [12, 13, 14, 15, 16, 17]);
        let capacity: Vec<usize> = slices.iter().map(|s| s.len() * 10).collect();
        assert_eq!(capacity, [70, 70, 60], "capacity at CC 10");
    }

    #[test]
    fn every_instance_is_assigned_exactly_once_when_activators_are_fewer() {
        for instances in 2..40 {
            for activators in 2..=instances {
                let mut seen: Vec<usize> = (0..activators)
                    .flat_map(|i| assign_slice(instances, Some(i), activators, 1))
                    .collect();
                seen.sort_unstable();
                assert_eq!(
                    seen,
                    (0..instances).collect::<Vec<_>>(),
                    "{instances} over {activators}"
                );
            }
        }
    }

    #[test]
    fn the_slice_is_everything_when_subsetting_does_not_apply() {
        assert_eq!(
            assign_slice(4, Some(1), 2, 0),
            [0, 1, 2, 3],
            "CC 0 uses all"
        );
        assert_eq!(
            assign_slice(4, None, 2, 10),
            [0, 1, 2, 3],
            "not in the subset uses all"
        );
        assert_eq!(
            assign_slice(4, Some(0), 1, 10),
            [0, 1, 2, 3],
            "one activator uses all"
        );
        assert_eq!(
            assign_slice(1, Some(3), 5, 10),
            [0],
            "one instance is shared"
        );
        assert_eq!(
            assign_slice(3, Some(4), 5, 10),
            [1],
            "more activators than instances: index mod instances"
        );
    }
}
