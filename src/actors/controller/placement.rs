//! Where the replicas of new partitions go: Kafka's rack-unaware assignment
//! (`AdminUtils.assignReplicasToBrokersRackUnaware`), as pure functions.
//!
//! Over the sorted broker list of `n` brokers, with a start index and a replica shift (both
//! drawn at random for a new topic):
//! - the first replica (the preferred leader) of partition `p` is broker `(p + start) % n`,
//!   so leadership goes round-robin and every broker leads equally often;
//! - the shift grows by one each time `p` passes a multiple of `n` (from `p = n` on), so the
//!   followers of a broker's partitions do not always sit on the same brokers;
//! - replica `j + 1` of the partition is broker `(first + 1 + (shift + j) % (n - 1)) % n`:
//!   never the first one, and distinct from each other while the replication factor is at
//!   most `n`.
//!
//! Partitions added later continue the numbering; their start index (and shift) is the
//! position of the topic's partition 0 leader in the broker list, as Kafka's
//! `AdminZkClient.addPartitions` has it.

use std::ops::Range;

use rand::Rng;

/// Why no assignment could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Kafka's INVALID_REPLICATION_FACTOR: not positive, or more than the brokers available.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// Kafka's INVALID_PARTITIONS: no partitions, or negative partition ids.
    #[error("{0}")]
    InvalidPartitions(String),
}

/// The replica lists of `partitions`, in order, over `brokers` (live, unfenced; sorted and
/// deduplicated here), with the given start index and replica shift (taken modulo the broker
/// count).
pub fn assign_replicas(
    brokers: &[i32],
    partitions: Range<i32>,
    replication_factor: usize,
    start_index: usize,
    shift: usize,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    let brokers = sorted_brokers(brokers);
    check(&brokers, &partitions, replication_factor)?;
    let n = brokers.len();
    let mut shift = shift % n;
    let mut assignment = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let p = partition as usize;
        if p > 0 && p.is_multiple_of(n) {
            shift += 1;
        }
        let first = (p + start_index) % n;
        let mut replicas = Vec::with_capacity(replication_factor);
        replicas.push(brokers[first]);
        for j in 0..replication_factor - 1 {
            replicas.push(brokers[replica_index(first, shift, j, n)]);
        }
        assignment.push(replicas);
    }
    Ok(assignment)
}

/// [`assign_replicas`] for a new topic: start index and shift drawn independently and
/// uniformly from the broker positions, as Kafka draws them.
pub fn assign_replicas_randomly(
    brokers: &[i32],
    partitions: Range<i32>,
    replication_factor: usize,
    rng: &mut impl Rng,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    let n = sorted_brokers(brokers).len().max(1);
    let start_index = rng.gen_range(0..n);
    let shift = rng.gen_range(0..n);
    assign_replicas(brokers, partitions, replication_factor, start_index, shift)
}

/// [`assign_replicas`] for partitions added to an existing topic (CreatePartitions): the
/// replication factor is partition 0's, and the start index and shift are the position of
/// the first broker whose id is at least partition 0's leader (0 if none is).
pub fn assign_new_partitions(
    brokers: &[i32],
    partition_zero_replicas: &[i32],
    partitions: Range<i32>,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    let start_index = start_index_for_new_partitions(brokers, partition_zero_replicas);
    assign_replicas(
        brokers,
        partitions,
        partition_zero_replicas.len(),
        start_index,
        start_index,
    )
}

/// Kafka's start index for added partitions: the position in the sorted broker list of the
/// first broker whose id is at least partition 0's first replica, or 0.
pub fn start_index_for_new_partitions(brokers: &[i32], partition_zero_replicas: &[i32]) -> usize {
    let brokers = sorted_brokers(brokers);
    partition_zero_replicas
        .first()
        .and_then(|&leader| brokers.iter().position(|&b| b >= leader))
        .unwrap_or(0)
}

/// Position of replica `j + 1` (Kafka's `replicaIndex`).
fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    (first + 1 + (shift + j) % (n - 1)) % n
}

fn sorted_brokers(brokers: &[i32]) -> Vec<i32> {
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

fn check(
    brokers: &[i32],
    partitions: &Range<i32>,
    replication_factor: usize,
) -> Result<(), PlacementError> {
    if partitions.is_empty() || partitions.start < 0 {
        return Err(PlacementError::InvalidPartitions(format!(
            "cannot assign partitions {partitions:?}"
        )));
    }
    if replication_factor == 0 {
        return Err(PlacementError::InvalidReplicationFactor(
            "replication factor must be larger than 0".into(),
        ));
    }
    if replication_factor > brokers.len() {
        return Err(PlacementError::InvalidReplicationFactor(format!(
            "replication factor: {replication_factor} larger than available brokers: {}",
            brokers.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    #[test]
    fn matches_kafkas_documented_example() {
        // AdminUtils' javadoc: 5 brokers, 10 partitions, 3 replicas, start 0, shift 0.
        let assignment = assign_replicas(&[0, 1, 2, 3, 4], 0..10, 3, 0, 0).unwrap();
        let expected: Vec<Vec<i32>> = vec![
            vec![0, 1, 2],
            vec![1, 2, 3],
            vec![2, 3, 4],
            vec![3, 4, 0],
            vec![4, 0, 1],
            vec![0, 2, 3],
            vec![1, 3, 4],
            vec![2, 4, 0],
            vec![3, 0, 1],
            vec![4, 1, 2],
        ];
        assert_eq!(assignment, expected);
    }

    #[test]
    fn start_and_shift_rotate_the_assignment() {
        let assignment = assign_replicas(&[0, 1, 2, 3, 4], 0..6, 2, 3, 1).unwrap();
        // First replicas from broker 3; second replica at first + 1 + (1 + 0) % 4 = first + 2,
        // then first + 3 once partition 5 bumps the shift.
        let expected: Vec<Vec<i32>> = vec![
            vec![3, 0],
            vec![4, 1],
            vec![0, 2],
            vec![1, 3],
            vec![2, 4],
            vec![3, 1],
        ];
        assert_eq!(assignment, expected);
    }

    #[test]
    fn broker_ids_are_positions_in_the_sorted_list() {
        let assignment = assign_replicas(&[103, 101, 102, 101], 0..3, 2, 0, 0).unwrap();
        assert_eq!(
            assignment,
            vec![vec![101, 102], vec![102, 103], vec![103, 101]]
        );
    }

    #[test]
    fn every_broker_leads_equally_often_and_no_set_repeats_a_broker() {
        let mut rng = StdRng::seed_from_u64(7);
        for n in 1..=7usize {
            let brokers: Vec<i32> = (0..n as i32).map(|b| b * 10).collect();
            for rf in 1..=n {
                for _ in 0..5 {
                    let partitions = (n * 4) as i32;
                    let assignment =
                        assign_replicas_randomly(&brokers, 0..partitions, rf, &mut rng).unwrap();
                    assert_eq!(assignment.len(), partitions as usize);
                    let mut leads: BTreeMap<i32, usize> = BTreeMap::new();
                    let mut replicas_per_broker: BTreeMap<i32, usize> = BTreeMap::new();
                    for replicas in &assignment {
                        assert_eq!(replicas.len(), rf);
                        let mut distinct = replicas.clone();
                        distinct.sort_unstable();
                        distinct.dedup();
                        assert_eq!(distinct.len(), rf, "{replicas:?}");
                        *leads.entry(replicas[0]).or_default() += 1;
                        for b in replicas {
                            *replicas_per_broker.entry(*b).or_default() += 1;
                        }
                    }
                    assert_eq!(leads.len(), n);
                    assert!(leads.values().all(|&c| c == 4), "{leads:?}");
                    // Replicas spread evenly too: every broker holds 4 * rf of them.
                    assert!(replicas_per_broker.values().all(|&c| c == 4 * rf));
                }
            }
        }
    }

    #[test]
    fn the_shift_moves_followers_after_each_round() {
        // Without the shift partition 5 would repeat partition 0's replica set.
        let assignment = assign_replicas(&[0, 1, 2, 3, 4], 0..10, 3, 0, 0).unwrap();
        assert_eq!(assignment[0][0], assignment[5][0]);
        assert_ne!(assignment[0], assignment[5]);
    }

    #[test]
    fn added_partitions_continue_the_numbering() {
        let brokers = [0, 1, 2, 3, 4];
        // A topic created with start = shift = 2, then grown from 5 to 12 partitions, is
        // placed as if created with 12.
        let whole = assign_replicas(&brokers, 0..12, 3, 2, 2).unwrap();
        let grown = assign_new_partitions(&brokers, &whole[0], 5..12).unwrap();
        assert_eq!(grown, whole[5..]);
        assert_eq!(start_index_for_new_partitions(&brokers, &whole[0]), 2);
        // Partition 0's leader is gone: the next broker id up, or the first broker.
        assert_eq!(start_index_for_new_partitions(&[0, 1, 3, 4], &[2, 3]), 2);
        assert_eq!(start_index_for_new_partitions(&[0, 1], &[7]), 0);
        assert_eq!(start_index_for_new_partitions(&[0, 1], &[]), 0);
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(matches!(
            assign_replicas(&[0, 1], 0..3, 3, 0, 0),
            Err(PlacementError::InvalidReplicationFactor(_))
        ));
        assert!(matches!(
            assign_replicas(&[0, 1], 0..3, 0, 0, 0),
            Err(PlacementError::InvalidReplicationFactor(_))
        ));
        assert!(matches!(
            assign_replicas(&[], 0..3, 1, 0, 0),
            Err(PlacementError::InvalidReplicationFactor(_))
        ));
        assert!(matches!(
            assign_replicas(&[0, 1], 3..3, 1, 0, 0),
            Err(PlacementError::InvalidPartitions(_))
        ));
        assert!(matches!(
            assign_replicas(&[0, 1], -1..3, 1, 0, 0),
            Err(PlacementError::InvalidPartitions(_))
        ));
        let mut rng = StdRng::seed_from_u64(1);
        assert!(assign_replicas_randomly(&[], 0..1, 1, &mut rng).is_err());
    }
}
