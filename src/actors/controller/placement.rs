//! TEMP (replaced by the replstore branch at merge).
#![allow(unused)]
pub fn assign_replicas_randomly(
    brokers: &[i32],
    partitions: std::ops::Range<i32>,
    rf: usize,
) -> Result<Vec<Vec<i32>>, String> {
    assign_more_replicas(brokers, brokers[0], partitions, rf)
}
pub fn assign_more_replicas(
    brokers: &[i32],
    start: i32,
    partitions: std::ops::Range<i32>,
    rf: usize,
) -> Result<Vec<Vec<i32>>, String> {
    let n = brokers.len();
    if rf > n { return Err("too few brokers".into()); }
    let s = brokers.iter().position(|b| *b == start).unwrap_or(0);
    Ok(partitions.map(|p| (0..rf).map(|j| brokers[(s + p as usize + j) % n]).collect()).collect())
}
