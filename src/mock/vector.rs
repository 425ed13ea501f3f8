//! A real, small vector search: each tenant's items are unit vectors in an
//! in-memory matrix, a user's embedding is derived from (tenant, user,
//! model version), and top-k is an exact dot-product scan (what a flat
//! FAISS index does).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const DIM: usize = 32;

pub struct Matrix {
    rows: usize,
    data: Vec<f32>,
}

fn normalise(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
}

fn seed_of(parts: &[&str], n: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ n;
    for p in parts {
        for b in p.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        h = h.rotate_left(7);
    }
    h
}

impl Matrix {
    /// `rows` random unit vectors, the same for the same seed.
    pub fn random(rows: usize, tenant: &str, version: u32) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of(&[tenant, "items"], version as u64));
        let mut data = vec![0f32; rows * DIM];
        for row in data.chunks_mut(DIM) {
            row.iter_mut()
                .for_each(|x| *x = rng.random_range(-1.0..1.0));
            normalise(row);
        }
        Matrix { rows, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The k rows with the highest dot product with `q`, best first.
    pub fn top_k(&self, q: &[f32; DIM], k: usize) -> Vec<(usize, f32)> {
        #[derive(PartialEq)]
        struct Hit(f32, usize);
        impl Eq for Hit {}
        impl PartialOrd for Hit {
            fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Hit {
            // Reversed: the heap's top is the worst of the best k.
            fn cmp(&self, o: &Self) -> Ordering {
                o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
            }
        }
        let k = k.min(self.rows);
        let mut heap = BinaryHeap::with_capacity(k + 1);
        for (i, row) in self.data.chunks_exact(DIM).enumerate() {
            let score = dot(row, q);
            if heap.len() < k {
                heap.push(Hit(score, i));
            } else if heap.peek().is_some_and(|w| score > w.0) {
                heap.pop();
                heap.push(Hit(score, i));
            }
        }
        let mut out: Vec<(usize, f32)> = heap.into_iter().map(|h| (h.1, h.0)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

/// The dot product of a row with `q`, summed in eight independent lanes so
/// that it compiles to SIMD (a plain `sum()` must add in order, one after
/// another, and was most of the mock's cold-path CPU).
fn dot(row: &[f32], q: &[f32; DIM]) -> f32 {
    let Ok(row) = <&[f32; DIM]>::try_from(row) else {
        return f32::NEG_INFINITY;
    };
    let mut lanes = [0f32; 8];
    for c in 0..DIM / 8 {
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane += row[c * 8 + i] * q[c * 8 + i];
        }
    }
    lanes.iter().sum()
}

/// A user's embedding under a tenant's model version.
pub fn embed(tenant: &str, user: &str, version: u32) -> [f32; DIM] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_of(&[tenant, user], version as u64));
    let mut v = [0f32; DIM];
    v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
    normalise(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_exact_and_sorted() {
        let m = Matrix::random(500, "tenant_001", 1);
        let q = embed("tenant_001", "user_7", 1);
        let top = m.top_k(&q, 10);
        assert_eq!(top.len(), 10);
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        // Brute force agrees.
        let mut all: Vec<(usize, f32)> = m
            .data
            .chunks_exact(DIM)
            .enumerate()
            .map(|(i, r)| (i, dot(r, &q)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        // The lanes only reorder the additions.
        let plain: f32 = m.data[..DIM].iter().zip(&q).map(|(a, b)| a * b).sum();
        assert!((dot(&m.data[..DIM], &q) - plain).abs() < 1e-5);
        assert_eq!(
            top.iter().map(|x| x.0).collect::<Vec<_>>(),
            all[..10].iter().map(|x| x.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn embeddings_are_stable_per_version() {
        assert_eq!(embed("t", "u", 1), embed("t", "u", 1));
        assert_ne!(embed("t", "u", 1), embed("t", "u", 2));
    }
}
