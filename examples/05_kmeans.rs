//! Lesson 5: k-means on Gaussian blobs.
//!
//! Stage 2 of Detaux clusters the codes of one latent subspace (`docs/method.md` §8). This
//! lesson runs the same k-means on data whose answer is known: 6 000 points in 10 dimensions
//! drawn around 6 centres. It prints, for one k-means++ start, the inertia
//! `J = Σ_i ‖x_i − C_ℓ(i)‖²` at every Lloyd iteration (it never increases), then the best of
//! 10 restarts, and how well the labels match the true blobs by the adjusted Rand index
//! (1 = identical partitions, about 0 = chance). Last, `k` is chosen without knowing it, by the
//! silhouette score, as `detaux run` does by default.
//!
//! ```sh
//! cargo run --release --example 05_kmeans
//! ```
//! Next: `06_stage1`, where the codes to cluster come from.

use detaux::cluster::metrics::{adjusted_rand_index, choose_k_by_silhouette};
use detaux::cluster::{Init, KMeans};
use detaux::rng::SeedTree;
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Normal};

fn main() -> detaux::Result<()> {
    // 1. Blobs: k centres uniform in [-10, 10]^d, points with standard deviation 2.5 around them.
    let (n, d, k) = (6000, 10, 6);
    let seeds = SeedTree::new(5);
    let mut rng = seeds.rng("blobs");
    let centres: Vec<f32> = (0..k * d).map(|_| rng.gen_range(-10.0..10.0)).collect();
    let normal = Normal::new(0.0f32, 2.5).expect("valid std");
    let truth: Vec<i64> = (0..n).map(|i| (i % k) as i64).collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| centres[(i % k) * d + j] + normal.sample(&mut rng));
    println!("1. {n} points in {d} dimensions around {k} centres");

    // 2. One run from a k-means++ start, no tolerance: Lloyd until the labels stop changing.
    let one = KMeans::new(k).n_init(1).tol(0.0).init(Init::KMeansPlusPlus).seed(1).fit(x.view())?;
    println!("2. one k-means++ start: {} Lloyd iterations, converged: {}", one.n_iter, one.converged);
    for (t, j) in one.inertia_history.iter().enumerate() {
        println!("   iteration {t:>2}: inertia {j:>12.1}");
    }
    assert!(one.inertia_history.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-6)), "inertia must not rise");

    // 3. A bad start: k random points (not k-means++), to see why restarts matter.
    let random = KMeans::new(k).n_init(1).init(Init::Random).seed(7).fit(x.view())?;
    println!(
        "3. one random start: inertia {:.1} after {} iterations, ARI {:.3}",
        random.inertia,
        random.n_iter,
        adjusted_rand_index(&random.labels, &truth)?
    );

    // 4. Best of 10 k-means++ restarts (scikit-learn's default), scored against the truth.
    let best = KMeans::new(k).n_init(10).seed(1).fit(x.view())?;
    let ari = adjusted_rand_index(&best.labels, &truth)?;
    println!(
        "4. best of 10 restarts (run {}): inertia {:.1}, {} iterations, ARI vs the true blobs {ari:.3}",
        best.best_run, best.inertia, best.n_iter
    );
    let sizes: Vec<usize> = (0..k as i64).map(|c| best.labels.iter().filter(|&&l| l == c).count()).collect();
    println!("   cluster sizes {sizes:?}");

    // 5. k unknown: try 2..=10 and keep the best silhouette (on a seeded sample of 2 000 points).
    let choice = choose_k_by_silhouette(x.view(), &KMeans::new(2).n_init(3).seed(1), 2, 10, 2000, &seeds)?;
    println!("5. silhouette per k:");
    for (kk, s) in &choice.scores {
        println!("   k = {kk:>2}: {s:.3}{}", if *kk == choice.k { "   ← chosen" } else { "" });
    }
    println!("   the true number of blobs is {k}.");
    Ok(())
}
