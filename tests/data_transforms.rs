//! Resize (fast vs oracle, known values), channel conversion, model-input conversion, the
//! built-in digits, batch conversion, and salt-and-pepper noise.

use detaux::data::noise::SaltPepper;
use detaux::data::resize::{
    gray_to_rgb, resize, resize_area, resize_area_oracle, resize_bilinear, resize_bilinear_oracle, rgb_to_gray,
};
use detaux::data::{digits, shapes3d, Dataset, FactorSpec, LabelKind};
use detaux::par::ThreadPool;
use detaux::rng::SeedTree;
use ndarray::Array2;
use rand::Rng;

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SeedTree::new(seed).rng("bytes");
    (0..n).map(|_| rng.gen()).collect()
}

#[test]
fn bilinear_matches_the_oracle_on_a_size_sweep() {
    for (h, w, c, oh, ow) in [
        (8, 8, 1, 64, 64),
        (28, 28, 1, 64, 64),
        (32, 32, 3, 64, 64),
        (5, 7, 3, 3, 11),
        (1, 1, 1, 4, 4),
        (9, 4, 1, 9, 4),
    ] {
        let src = random_bytes(2 * h * w * c, (h * 100 + w) as u64);
        let fast = resize_bilinear(&src, 2, h, w, c, oh, ow);
        let slow = resize_bilinear_oracle(&src, 2, h, w, c, oh, ow);
        assert_eq!(fast, slow, "{h}x{w}x{c} -> {oh}x{ow}");
    }
    // Identity size is the identity; a constant image stays constant.
    let src = random_bytes(6 * 5 * 3, 1);
    assert_eq!(resize_bilinear(&src, 1, 6, 5, 3, 6, 5), src);
    assert!(resize_bilinear(&[77u8; 16], 1, 4, 4, 1, 13, 9).iter().all(|&v| v == 77));
}

#[test]
fn bilinear_known_values_half_pixel_centres() {
    // 1x2 -> 1x4, align_corners=False: sx = (j + 0.5)/2 - 0.5 = -0.25 (clamped 0), 0.25, 0.75, 1.25
    // weights give 0, 0.25·100, 0.75·100, 100 (the last clamps to the edge).
    assert_eq!(resize_bilinear(&[0, 100], 1, 1, 2, 1, 1, 4), vec![0, 25, 75, 100]);
    // 2x2 -> 3x3: s = (o + 0.5)·2/3 - 0.5 = -1/6 (clamped to 0), 0.5, 7/6 (i0 = i1 = 1, the edge),
    // so the rows are [0, 50, 100] and [200, 125, 50], and the middle row is their mean
    // [100, 87.5, 75]; 87.5 rounds half away from zero to 88.
    assert_eq!(resize_bilinear(&[0, 100, 200, 50], 1, 2, 2, 1, 3, 3), vec![0, 50, 100, 100, 88, 75, 200, 125, 50]);
}

#[test]
fn area_matches_the_oracle_on_a_size_sweep() {
    for (h, w, c, oh, ow) in [
        (64, 64, 3, 16, 16),
        (64, 64, 1, 32, 32),
        (28, 28, 1, 16, 16),
        (5, 7, 3, 2, 3),
        (9, 4, 1, 1, 1),
        (7, 7, 3, 7, 7),
    ] {
        let src = random_bytes(2 * h * w * c, (h * 100 + w) as u64);
        let fast = resize_area(&src, 2, h, w, c, oh, ow);
        assert_eq!(fast, resize_area_oracle(&src, 2, h, w, c, oh, ow), "{h}x{w}x{c} -> {oh}x{ow}");
    }
    assert!(resize_area(&[77u8; 64], 1, 8, 8, 1, 3, 3).iter().all(|&v| v == 77));
}

#[test]
fn area_known_values() {
    // 4x4 -> 2x2: the mean of each 2x2 block; (1+2+5+6)/4 = 3.5 rounds half away from zero to 4.
    let src: Vec<u8> = (1..=16).collect();
    assert_eq!(resize_area(&src, 1, 4, 4, 1, 2, 2), vec![4, 6, 12, 14]);
    // 1x5 -> 1x2: windows [0, 3) and [2, 5) (floor(j·5/2) .. ceil((j+1)·5/2)) overlap at column 2.
    assert_eq!(resize_area(&[0, 30, 60, 90, 120], 1, 1, 5, 1, 1, 2), vec![30, 90]);
    // A one-pixel object in a 4x4 block keeps 1/16 of its value: its size survives as coverage,
    // where point sampling (bilinear reads pixels 1 and 2 of the block) sees all or nothing.
    let mut dot = vec![0u8; 16];
    dot[0] = 160;
    assert_eq!(resize_area(&dot, 1, 4, 4, 1, 1, 1), vec![10]);
    assert_eq!(resize_bilinear(&dot, 1, 4, 4, 1, 1, 1), vec![0]);
}

#[test]
fn resize_shrinks_by_area_and_enlarges_bilinearly() {
    let src = random_bytes(3 * 64 * 64 * 3, 5);
    assert_eq!(resize(&src, 3, 64, 64, 3, 16, 16), resize_area(&src, 3, 64, 64, 3, 16, 16));
    let small = random_bytes(3 * 8 * 8, 6);
    assert_eq!(resize(&small, 3, 8, 8, 1, 16, 16), resize_bilinear(&small, 3, 8, 8, 1, 16, 16));
    assert_eq!(resize(&small, 3, 8, 8, 1, 8, 8), small);
}

#[test]
fn channel_conversions() {
    assert_eq!(gray_to_rgb(&[1, 200]), vec![1, 1, 1, 200, 200, 200]);
    // ITU-R 601 luma with PIL rounding: (19595 R + 38470 G + 7471 B + 32768) >> 16.
    assert_eq!(rgb_to_gray(&[255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]), vec![255, 0, 76, 150, 29]);
    let g = random_bytes(100, 3);
    assert_eq!(rgb_to_gray(&gray_to_rgb(&g)), g);
}

#[test]
fn resize_is_identical_at_1_2_4_threads() {
    let src = random_bytes(40 * 28 * 28, 9);
    let run = |t| ThreadPool::new(t).unwrap().install(|| resize_bilinear(&src, 40, 28, 28, 1, 64, 64));
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
    let run = |t| ThreadPool::new(t).unwrap().install(|| resize_area(&src, 40, 28, 28, 1, 16, 16));
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
}

#[cfg(feature = "io")]
#[test]
fn builtin_digits_load_and_become_model_input() {
    let d = digits::load().unwrap();
    assert_eq!((d.len(), d.height(), d.width(), d.channels()), (1797, 8, 8, 1));
    assert_eq!(d.value_counts(0), vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert_eq!(d.kind(), LabelKind::Classes);
    assert_eq!(d.value_range(), (0, 255));
    // First row of the file: 0,0,5,13,9,1,0,0 -> round(v·255/16).
    assert_eq!(&d.image(0)[..8], &[0, 0, 80, 207, 143, 16, 0, 0]);
    let first = d.image(0).to_vec();
    let m = d.to_model_input(64, 3).unwrap();
    assert_eq!((m.len(), m.height(), m.width(), m.channels()), (1797, 64, 64, 3));
    let want = gray_to_rgb(&resize_bilinear(&first, 1, 8, 8, 1, 64, 64));
    assert_eq!(m.image(0), &want[..]);
    let x = m.batch_nchw(&[0, 1796]);
    assert_eq!(x.shape(), &[2, 3, 64, 64]);
    assert_eq!(x[[0, 2, 30, 20]], want[(30 * 64 + 20) * 3 + 2] as f32 / 255.0);
}

#[cfg(not(feature = "io"))]
#[test]
fn builtin_digits_need_the_io_feature() {
    let e = digits::load().unwrap_err().to_string();
    assert!(e.contains("gzip") && e.contains("`io` feature"), "{e}");
}

#[test]
fn model_input_rgb_to_gray_and_memory() {
    let idx = shapes3d::grid().random_subset(30, &mut SeedTree::new(1).rng("t")).unwrap();
    let d = shapes3d::generate("t", &idx).unwrap();
    let raw = d.len() * d.image_len();
    assert!(d.heap_bytes() as f64 <= 1.15 * raw as f64, "{} bytes for {raw} raw", d.heap_bytes());
    let rgb = d.images().to_vec();
    let same = d.to_model_input(64, 3).unwrap();
    assert_eq!(same.images(), &rgb[..], "already 64x64x3: unchanged");
    let g = same.to_model_input(32, 1).unwrap();
    assert_eq!((g.height(), g.width(), g.channels()), (32, 32, 1));
    assert_eq!(g.images(), &resize_area(&rgb_to_gray(&rgb), 30, 64, 64, 1, 32, 32)[..], "shrunk by area");
    assert_eq!(g.principal_spec().name, "object_hue", "principal kept");
    assert!(g.clone().to_model_input(0, 1).is_err());
    assert!(g.to_model_input(64, 2).unwrap_err().to_string().contains("channels"));
}

#[test]
fn dataset_constructor_rejects_inconsistent_data() {
    let f = |n: usize, v: u32| Array2::from_elem((n, 1), v);
    let spec = || vec![FactorSpec::new("label", 3)];
    let mk =
        |images: Vec<u8>, factors, specs, c| Dataset::new("t", images, 2, 2, c, factors, specs, LabelKind::Classes);
    assert!(mk(vec![], f(0, 0), spec(), 1).unwrap_err().to_string().contains("zero images"));
    assert!(mk(vec![0; 7], f(2, 0), spec(), 1).unwrap_err().to_string().contains("7 image bytes"));
    assert!(mk(vec![0; 8], f(2, 3), spec(), 1).unwrap_err().to_string().contains("outside 0..3"));
    assert!(mk(vec![0; 8], f(2, 0), vec![], 1).unwrap_err().to_string().contains("no factors"));
    assert!(mk(vec![0; 16], f(2, 0), spec(), 2).unwrap_err().to_string().contains("channels"));
    let two = vec![FactorSpec::new("a", 2), FactorSpec::new("a", 2)];
    assert!(mk(vec![0; 8], Array2::zeros((2, 2)), two, 1).unwrap_err().to_string().contains("twice"));
    let d = mk(vec![0; 8], f(2, 1), spec(), 1).unwrap();
    assert!(d.select(&[]).is_err());
    assert!(d.select(&[2]).unwrap_err().to_string().contains("index 2"));
    assert_eq!(d.select(&[1, 1, 0]).unwrap().len(), 3);
}

#[test]
fn salt_and_pepper_rates_values_and_determinism() {
    let idx = shapes3d::grid().random_subset(16, &mut SeedTree::new(1).rng("t")).unwrap();
    let d = shapes3d::generate("t", &idx).unwrap();
    let clean = d.batch_nchw(&(0..16).collect::<Vec<_>>());
    let node = SeedTree::new(7).child_indexed("epoch", 0).child_indexed("batch", 3);
    let noisy = |t: usize| {
        ThreadPool::new(t).unwrap().install(|| {
            let mut x = clean.clone();
            SaltPepper::default().apply(&mut x, &node).unwrap();
            x
        })
    };
    let x = noisy(1);
    assert_eq!(x, noisy(2));
    assert_eq!(x, noisy(4));
    let total = x.len() as f64;
    let dark = x.iter().zip(&clean).filter(|(a, c)| **a == 0.02 && **c != 0.02).count() as f64 / total;
    let bright = x.iter().zip(&clean).filter(|(a, c)| **a == 0.98 && **c != 0.98).count() as f64 / total;
    let kept = x.iter().zip(&clean).filter(|(a, c)| a == c).count() as f64 / total;
    assert!((dark - 0.08).abs() < 0.005, "dark rate {dark}");
    assert!((bright - 0.08).abs() < 0.005, "bright rate {bright}");
    assert!((kept - 0.84).abs() < 0.01, "kept {kept}");
    // Channels are independent: specks are coloured (some pixels change in one channel only).
    let one_channel = (0..16)
        .flat_map(|b| (0..64).flat_map(move |y| (0..64).map(move |xx| (b, y, xx))))
        .filter(|&(b, y, xx)| (0..3).filter(|&c| x[[b, c, y, xx]] != clean[[b, c, y, xx]]).count() == 1)
        .count();
    assert!(one_channel > 1000);
    // Another node gives other noise; a bad threshold is an error naming it.
    let mut y = clean.clone();
    SaltPepper::default().apply(&mut y, &SeedTree::new(8)).unwrap();
    assert_ne!(x, y);
    let e = SaltPepper { threshold: 0.7, ..SaltPepper::default() }.apply(&mut y, &node).unwrap_err();
    assert!(e.to_string().contains("noise_threshold"), "{e}");
}
