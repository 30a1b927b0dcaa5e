//! The pipeline's judgement parts on cases whose answer is known: the probe + verdict on latents
//! built to hold (or not) the principal factor in s0, the oracle-aux tasks, and the paired
//! differences against hand-computed values.

use detaux::data::spec::DatasetSpec;
use detaux::pipeline::stats::paired_difference;
use detaux::pipeline::verdict::verdict;
use detaux::pipeline::{oracle_tasks, OracleArms};
use detaux::rng::SeedTree;
use detaux::stage1::{probe, ProbeConfig};
use ndarray::{Array2, Array3};
use rand::Rng;

const K: usize = 4;
const D: usize = 3;
/// Cardinalities of the three known factors: principal, "colour", "size".
const CARDS: [usize; 3] = [5, 4, 3];

/// `n` images with three independent uniform factors, and codes `[n, K, D]` where subspace
/// `placement[f]` holds factor `f` exactly (its value on the first coordinate, the others 0) and
/// every other subspace is N(0, 1) noise.
fn latents(n: usize, placement: [usize; 3]) -> (Array3<f32>, Array2<u32>) {
    let mut rng = SeedTree::new(7).rng("latents");
    let factors = Array2::from_shape_fn((n, 3), |(_, f)| rng.gen_range(0..CARDS[f] as u32));
    let mut codes = Array3::<f32>::zeros((n, K, D));
    for i in 0..n {
        for k in 0..K {
            match placement.iter().position(|&p| p == k) {
                Some(f) => codes[[i, k, 0]] = factors[[i, f]] as f32,
                None => {
                    for j in 0..D {
                        codes[[i, k, j]] = rng.gen_range(-1.0f32..1.0);
                    }
                }
            }
        }
    }
    (codes, factors)
}

fn names() -> Vec<String> {
    ["label", "colour", "size"].iter().map(|s| s.to_string()).collect()
}

#[test]
fn verdict_holds_when_s0_carries_exactly_the_principal_and_names_the_chosen_factor() {
    let (codes, factors) = latents(600, [0, 2, 3]);
    let table = probe(codes.view(), factors.view(), &names(), ProbeConfig::default(), &SeedTree::new(1)).unwrap();
    assert_eq!(table.accuracy[[0, 0]], 1.0, "s0 holds the principal exactly:\n{}", table.to_text());
    let v = verdict(&table, 0, 2, 0.9).unwrap();
    assert!(v.isolates, "{}", v.isolation_line());
    assert!(v.isolation_line().starts_with("s0 isolates the principal 'label'"));
    assert!(!v.only_principal_known);
    for c in &v.factors {
        assert!(c.outside_s0, "{c:?}");
        assert_eq!(c.best_other_accuracy, 1.0);
    }
    assert_eq!(v.factors[0].best_other_subspace, 2, "colour lives in s2");
    assert_eq!(v.factors[1].best_other_subspace, 3, "size lives in s3");
    assert_eq!(v.carried.subspace, 2);
    assert_eq!(v.carried.factor.as_deref(), Some("colour"));
    assert_eq!(v.carried.accuracy, 1.0);
    // The noise subspace s1 carries nothing known.
    let v1 = verdict(&table, 0, 1, 0.9).unwrap();
    assert_eq!(v1.carried.factor, None, "{}", v1.carried_line());
}

#[test]
fn verdict_fails_when_the_principal_is_elsewhere_or_s0_also_carries_another_factor() {
    // The principal in s1, colour in s0: s0 does not predict the principal.
    let (codes, factors) = latents(600, [1, 0, 3]);
    let table = probe(codes.view(), factors.view(), &names(), ProbeConfig::default(), &SeedTree::new(1)).unwrap();
    let v = verdict(&table, 0, 1, 0.9).unwrap();
    assert!(!v.isolates);
    assert!(v.s0_principal < 0.5, "{}", table.to_text());
    assert_eq!(v.best_other_principal, (1, 1.0));
    assert!(v.isolation_line().contains("does NOT isolate"), "{}", v.isolation_line());
    assert_eq!(v.carried.factor.as_deref(), Some("label"), "s1 carries the principal itself");
    assert!(v.carried_line().contains("proxy of the principal"));

    // s0 predicts the principal, but colour only in s0 (s0 = label + 5 · colour on two
    // coordinates): the second condition fails.
    let (mut codes, factors) = latents(600, [0, 3, 3]);
    for i in 0..600 {
        codes[[i, 0, 1]] = factors[[i, 1]] as f32 * 5.0;
        codes[[i, 3, 0]] = factors[[i, 2]] as f32;
    }
    let table = probe(codes.view(), factors.view(), &names(), ProbeConfig::default(), &SeedTree::new(1)).unwrap();
    let v = verdict(&table, 0, 3, 0.9).unwrap();
    assert!(v.s0_principal >= 0.9, "{}", table.to_text());
    assert!(!v.isolates);
    let colour = v.factors.iter().find(|c| c.factor == "colour").unwrap();
    assert!(!colour.outside_s0, "{colour:?}");
    assert!(v.isolation_line().contains("also predicts 'colour'"), "{}", v.isolation_line());
}

#[test]
fn verdict_with_the_principal_as_the_only_factor_says_what_it_cannot_show() {
    let (codes, factors) = latents(400, [0, 9, 9]);
    let only = factors.slice(ndarray::s![.., 0..1]).to_owned();
    let table = probe(codes.view(), only.view(), &names()[..1], ProbeConfig::default(), &SeedTree::new(2)).unwrap();
    let v = verdict(&table, 0, 1, 0.9).unwrap();
    assert!(v.isolates && v.only_principal_known);
    assert!(v.isolation_line().contains("cannot show"), "{}", v.isolation_line());
    assert!(verdict(&table, 1, 1, 0.9).is_err(), "principal out of range");
    assert!(verdict(&table, 0, K, 0.9).is_err(), "subspace out of range");
    assert!(verdict(&table, 0, 1, 0.0).is_err(), "threshold out of range");
}

#[test]
fn oracle_tasks_carry_exactly_the_dataset_factor_labels() {
    let mut data = "shapes3d-synth:300".parse::<DatasetSpec>().unwrap().load(&SeedTree::new(3)).unwrap();
    data.set_principal("object_hue").unwrap();
    let tasks = oracle_tasks(&data, &OracleArms::AllOther).unwrap();
    let names: Vec<&str> = tasks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "oracle-aux:floor_hue",
            "oracle-aux:wall_hue",
            "oracle-aux:scale",
            "oracle-aux:shape",
            "oracle-aux:orientation"
        ]
    );
    for (name, task) in &tasks {
        let f = data.factor_index(name.trim_start_matches("oracle-aux:")).unwrap();
        assert_eq!(task.labels, data.labels(f), "{name}");
        assert_eq!(task.classes, data.factor_specs()[f].cardinality, "{name}");
    }
    let two = oracle_tasks(&data, &OracleArms::Factors(vec!["scale".into(), "shape".into()])).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].1.labels, data.labels(data.factor_index("scale").unwrap()));
    assert!(oracle_tasks(&data, &OracleArms::None).unwrap().is_empty());
    for bad in [vec!["object_hue".to_string()], vec!["nope".into()], vec!["scale".into(), "scale".into()]] {
        let e = oracle_tasks(&data, &OracleArms::Factors(bad.clone())).unwrap_err().to_string();
        assert!(e.contains("--oracle-aux"), "{bad:?}: {e}");
    }
}

#[test]
fn paired_differences_match_a_hand_computed_case() {
    // Seeds 1..=4; the arm lists its seeds in another order and has one extra seed.
    let stl = [(1, 0.80), (2, 0.70), (3, 0.90), (4, 0.60)];
    let arm = [(3, 0.95), (1, 0.82), (5, 0.99), (2, 0.69), (4, 0.64)];
    let p = paired_difference(&arm, &stl).unwrap();
    // d = (0.05, 0.02, −0.01, 0.04) in the arm's order (seeds 3, 1, 2, 4).
    assert_eq!(p.seeds, vec![3, 1, 2, 4]);
    let d = [0.95 - 0.90, 0.82 - 0.80, 0.69 - 0.70, 0.64 - 0.60];
    assert_eq!(p.values, d.to_vec());
    let mean = 0.025;
    // Σ(d − mean)² = 0.025² + 0.005² + 0.035² + 0.015² = 0.0021; /3 = 0.0007.
    let std = 0.0007f64.sqrt();
    assert!((p.mean - mean).abs() < 1e-12, "{}", p.mean);
    assert!((p.std - std).abs() < 1e-12, "{}", p.std);
    assert!((p.se - std / 2.0).abs() < 1e-12, "{}", p.se);
    assert_eq!((p.improved, p.n), (3, 4));

    let one = paired_difference(&[(9, 0.5)], &[(9, 0.25)]).unwrap();
    assert_eq!((one.mean, one.std, one.se, one.improved), (0.25, 0.0, 0.0, 1));
    assert!(paired_difference(&[(1, 0.5)], &[(2, 0.5)]).is_err(), "no shared seed");
    assert!(paired_difference(&[(1, 0.5), (1, 0.6)], &[(1, 0.5)]).is_err(), "duplicate seed");
}
