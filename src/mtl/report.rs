//! The pipeline's stage-3 report: arms × seeds → `report.json`, `report.md`, `curves.png`.
//!
//! An *arm* is one way of training the same trunk for the principal task:
//! `stl` (principal head only), `detaux-mtl` (principal + discovered auxiliary labels),
//! `random-aux` (principal + uniform random labels with the same `k`,
//! [`super::data::random_labels`]) and `pixel-kmeans-aux` (principal + k-means labels of the raw
//! pixels, [`pixel_kmeans_control`], or [`pixel_kmeans_task`] from precomputed ids). [`run_arm`] trains one arm
//! for one seed; [`Report`] gathers the runs and writes:
//!
//! * `report.json`: `config`, `version`, `seeds`, `details` (free-form, e.g. chosen subspace
//!   and cluster statistics from stages 1–2), and per arm the principal-task test accuracy and
//!   macro-F1 as `{mean, std, values}` over seeds plus each run's selected epoch; wall times
//!   only under `"timing"` (per stage and per run) so that two runs' reports can be compared
//!   after dropping that key;
//! * `report.md`: the same as a table, the wall times, and links to the pictures;
//! * `curves.png`: per epoch, the principal-task training loss and test accuracy of each arm
//!   (mean over seeds), one colour per arm.
//!
//! `std` is the sample standard deviation (`n − 1` in the denominator; 0 for one seed).
//! Everything but the wall times is deterministic.

use super::eval::TaskMetrics;
use super::train::{train, MtlTrainer, Observer, Splits, Task, TrainConfig, TrainOutcome};
use super::weighting::WeightingSpec;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng::SeedTree;
use crate::viz::{canvas::palette, Canvas, Rgb};
use ndarray::Array2;

/// Arm names in report order.
pub const ARMS: [&str; 4] = ["stl", "detaux-mtl", "random-aux", "pixel-kmeans-aux"];

/// One trained arm at one seed.
#[derive(Clone, Debug)]
pub struct ArmRun {
    /// Arm name (e.g. `"stl"`).
    pub arm: String,
    /// Master seed of the run.
    pub seed: u64,
    /// The training outcome.
    pub outcome: TrainOutcome,
    /// Wall time, seconds (not deterministic).
    pub seconds: f64,
}

/// Trains arm `arm` at `seed`: the principal task alone if `aux` is `None`, else principal +
/// `aux`, with `weighting` (the STL arm always uses equal weighting of its single loss).
///
/// # Errors
/// Whatever [`train`] reports.
#[allow(clippy::too_many_arguments)]
pub fn run_arm(
    arm: &str,
    data: &Dataset,
    splits: &Splits,
    principal: &Task,
    aux: Option<&Task>,
    weighting: &WeightingSpec,
    cfg: &TrainConfig,
    seed: u64,
    observer: &mut dyn Observer<MtlTrainer>,
) -> Result<ArmRun> {
    let t0 = std::time::Instant::now();
    let mut tasks = vec![principal.clone()];
    let w = match aux {
        Some(a) => {
            tasks.push(a.clone());
            weighting.clone()
        }
        None => WeightingSpec::Equal,
    };
    let outcome = train(data, &tasks, splits, &w, cfg, &SeedTree::new(seed), observer)?;
    Ok(ArmRun { arm: arm.to_string(), seed, outcome, seconds: t0.elapsed().as_secs_f64() })
}

/// The auxiliary labellings of one seed for [`run_all_arms`].
#[derive(Clone, Debug)]
pub struct SeedTasks {
    /// Master seed of the seed's runs.
    pub seed: u64,
    /// The discovered auxiliary task (stage 2's cluster ids).
    pub discovered: Task,
    /// The pixel-k-means control (k-means on raw pixels, e.g. with the same `k`), if computed.
    pub pixel_kmeans: Option<Task>,
    /// Oracle controls: `(arm name, task)`, e.g. `("oracle-aux:scale", true scale labels)`.
    pub oracle: Vec<(String, Task)>,
}

impl SeedTasks {
    /// The seed's stage-3 arms in report order: `stl` (no auxiliary task), `detaux-mtl`,
    /// `random-aux` (uniform labels with the discovered task's `k`, stream `random_aux` of
    /// `SeedTree::new(seed).child("controls")`), `pixel-kmeans-aux` if given, then every oracle
    /// arm. Each `(name, auxiliary task)` is trained by [`run_arm`] on its own: the arms share
    /// no state, so they may run in any order or side by side.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if the random labels cannot be drawn (fewer than 2 classes).
    pub fn arms(&self, data: &Dataset) -> Result<Vec<(String, Option<Task>)>> {
        let random = super::data::random_labels(
            data.len(),
            self.discovered.classes,
            &SeedTree::new(self.seed).child("controls"),
        )?;
        let mut arms: Vec<(String, Option<Task>)> = vec![
            ("stl".into(), None),
            ("detaux-mtl".into(), Some(self.discovered.clone())),
            ("random-aux".into(), Some(random)),
        ];
        if let Some(p) = &self.pixel_kmeans {
            arms.push(("pixel-kmeans-aux".into(), Some(p.clone())));
        }
        for (name, task) in &self.oracle {
            arms.push((name.clone(), Some(task.clone())));
        }
        Ok(arms)
    }
}

/// Trains, for one seed, every arm of [`SeedTasks::arms`] in that order. `observer(arm, seed)`
/// gives each run's observer.
///
/// # Errors
/// Whatever [`SeedTasks::arms`] or [`run_arm`] reports.
#[allow(clippy::too_many_arguments)]
pub fn run_all_arms(
    data: &Dataset,
    splits: &Splits,
    principal: &Task,
    tasks: &SeedTasks,
    weighting: &WeightingSpec,
    cfg: &TrainConfig,
    observer: &mut dyn FnMut(&str, u64) -> Box<dyn Observer<MtlTrainer>>,
) -> Result<Vec<ArmRun>> {
    let seed = tasks.seed;
    let mut out = Vec::new();
    for (arm, aux) in tasks.arms(data)? {
        let mut obs = observer(&arm, seed);
        out.push(run_arm(&arm, data, splits, principal, aux.as_ref(), weighting, cfg, seed, obs.as_mut())?);
    }
    Ok(out)
}

/// The pixel-k-means control task from precomputed cluster ids (one per image, dataset order).
///
/// # Errors
/// [`Error::InvalidData`] for fewer than 2 clusters or a length other than `data.len()`.
pub fn pixel_kmeans_task(data: &Dataset, labels: Vec<usize>) -> Result<Task> {
    if labels.len() != data.len() {
        return Err(Error::InvalidData(format!("pixel k-means: {} labels for {} images", labels.len(), data.len())));
    }
    super::data::labels_task("pixel-kmeans-aux", labels)
}

/// Raw-pixel features `[len(indices), h·w·c]` in `[0, 1]` (channels-last order, as stored),
/// the input of the pixel-k-means control.
pub fn pixel_features(data: &Dataset, indices: &[usize]) -> Array2<f32> {
    let d = data.image_len();
    let mut out = Array2::<f32>::zeros((indices.len(), d));
    for (mut row, &i) in out.outer_iter_mut().zip(indices) {
        for (o, &v) in row.iter_mut().zip(data.image(i)) {
            *o = v as f32 * (1.0 / 255.0);
        }
    }
    out
}

/// The pixel-k-means control: k-means ([`crate::cluster::KMeans`], configured by the caller,
/// e.g. `KMeans::new(k).seed(s)`) fitted on the raw pixels of at most `max_fit` images drawn
/// without replacement from `fit_indices` (stream `CLUSTER` of `seeds.child("pixel_kmeans")`,
/// kept in ascending order), then every image of `data` is assigned to its nearest centre (in
/// chunks of 4096 images, so memory stays `O(max_fit · pixels)`). Pass the dataset at whatever
/// resolution should count as "raw" (labels are per index either way).
///
/// # Errors
/// [`Error::InvalidParam`] for `max_fit == 0` or empty `fit_indices`; k-means errors (e.g.
/// more clusters than fit images); [`Error::InvalidData`] if fewer than 2 clusters are used.
pub fn pixel_kmeans_control(
    data: &Dataset,
    fit_indices: &[usize],
    max_fit: usize,
    kmeans: &crate::cluster::KMeans,
    seeds: &SeedTree,
) -> Result<Task> {
    use rand::seq::SliceRandom;
    if max_fit == 0 || fit_indices.is_empty() {
        return Err(Error::param("pixel k-means", "needs max_fit >= 1 and at least one fit image"));
    }
    let mut fit: Vec<usize> = fit_indices.to_vec();
    if fit.len() > max_fit {
        let mut rng = seeds.child("pixel_kmeans").rng(crate::rng::streams::CLUSTER);
        fit = fit.choose_multiple(&mut rng, max_fit).copied().collect();
        fit.sort_unstable();
    }
    let model = kmeans.fit(pixel_features(data, &fit).view())?;
    let all: Vec<usize> = (0..data.len()).collect();
    let mut labels = Vec::with_capacity(data.len());
    for chunk in all.chunks(4096) {
        labels.extend(super::data::labels_from_i64(&model.predict(pixel_features(data, chunk).view())?)?);
    }
    pixel_kmeans_task(data, labels)
}

/// Mean and sample standard deviation (`n − 1`; 0 for `n ≤ 1`).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

/// Principal-task summary of one arm over seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmSummary {
    /// Arm name.
    pub arm: String,
    /// Seeds, in run order.
    pub seeds: Vec<u64>,
    /// Test accuracy per seed.
    pub accuracy: Vec<f64>,
    /// Test macro-F1 per seed.
    pub macro_f1: Vec<f64>,
    /// Test accuracy per seed at the last epoch (equal to `accuracy` without a validation split).
    pub accuracy_last: Vec<f64>,
}

impl ArmSummary {
    /// `(mean, std)` of the accuracy.
    pub fn accuracy_stats(&self) -> (f64, f64) {
        mean_std(&self.accuracy)
    }
    /// `(mean, std)` of the macro-F1.
    pub fn f1_stats(&self) -> (f64, f64) {
        mean_std(&self.macro_f1)
    }
    /// `(mean, std)` of the last-epoch accuracy.
    pub fn last_stats(&self) -> (f64, f64) {
        mean_std(&self.accuracy_last)
    }
}

/// Everything the report shows.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Run configuration (free-form JSON object; needs `io` to be serialised).
    #[cfg(feature = "io")]
    pub config: serde_json::Value,
    /// Stage-1/2 details (chosen subspace, cluster statistics, …), free-form JSON.
    #[cfg(feature = "io")]
    pub details: serde_json::Value,
    /// Every arm × seed run.
    pub runs: Vec<ArmRun>,
    /// Wall time per stage, `(name, seconds)`, in pipeline order.
    pub stage_seconds: Vec<(String, f64)>,
    /// Extra pictures to link from `report.md`: `(title, file name in the report dir)`.
    pub figures: Vec<(String, String)>,
    /// Extra `report.md` sections placed before the wall times: `(title, markdown body)`.
    pub sections: Vec<(String, String)>,
}

impl Report {
    /// Per-arm summaries, arms in [`ARMS`] order first, then any others in first-run order.
    pub fn summaries(&self) -> Vec<ArmSummary> {
        let mut names: Vec<String> =
            ARMS.iter().filter(|a| self.runs.iter().any(|r| r.arm == **a)).map(|a| a.to_string()).collect();
        for r in &self.runs {
            if !names.contains(&r.arm) {
                names.push(r.arm.clone());
            }
        }
        names
            .into_iter()
            .map(|arm| {
                let runs: Vec<&ArmRun> = self.runs.iter().filter(|r| r.arm == arm).collect();
                let p: Vec<TaskMetrics> = runs.iter().map(|r| r.outcome.principal_test()).collect();
                ArmSummary {
                    arm,
                    seeds: runs.iter().map(|r| r.seed).collect(),
                    accuracy: p.iter().map(|m| m.accuracy).collect(),
                    macro_f1: p.iter().map(|m| m.macro_f1).collect(),
                    accuracy_last: runs
                        .iter()
                        .map(|r| r.outcome.epochs.last().map_or(f64::NAN, |e| e.test[0].accuracy))
                        .collect(),
                }
            })
            .collect()
    }

    /// The markdown table of [`Report::summaries`].
    pub fn table_md(&self) -> String {
        let mut s = String::from(
            "| arm | principal test accuracy (mean ± std) | principal test macro-F1 (mean ± std) | accuracy at the last epoch | seeds |\n|---|---|---|---|---|\n",
        );
        for a in self.summaries() {
            let ((am, asd), (fm, fsd), (lm, lsd)) = (a.accuracy_stats(), a.f1_stats(), a.last_stats());
            s.push_str(&format!(
                "| {} | {am:.4} ± {asd:.4} | {fm:.4} ± {fsd:.4} | {lm:.4} ± {lsd:.4} | {} |\n",
                a.arm,
                a.seeds.len()
            ));
        }
        s
    }

    /// A one-screen plain-text summary.
    pub fn summary_text(&self) -> String {
        let mut s = format!("{:<18} {:>22} {:>22} {:>6}\n", "arm", "test accuracy", "test macro-F1", "seeds");
        for a in self.summaries() {
            let ((am, asd), (fm, fsd)) = (a.accuracy_stats(), a.f1_stats());
            s.push_str(&format!(
                "{:<18} {:>22} {:>22} {:>6}\n",
                a.arm,
                format!("{am:.4} ± {asd:.4}"),
                format!("{fm:.4} ± {fsd:.4}"),
                a.seeds.len()
            ));
        }
        s
    }

    /// `report.md` text.
    pub fn markdown(&self) -> String {
        let mut s = String::from("# Detaux report\n\n## Principal task, test split\n\n");
        s.push_str(&self.table_md());
        s.push_str("\nMean ± sample standard deviation over seeds, at each run's reported epoch (the last epoch, or the best validation epoch when a validation split was used; never chosen on test).\n\n");
        s.push_str("### Per seed\n\n| arm | seed | accuracy | macro-F1 | reported epoch |\n|---|---|---|---|---|\n");
        for r in &self.runs {
            let p = r.outcome.principal_test();
            s.push_str(&format!(
                "| {} | {} | {:.4} | {:.4} | {} |\n",
                r.arm,
                r.seed,
                p.accuracy,
                p.macro_f1,
                r.outcome.selected_epoch + 1
            ));
        }
        for (title, body) in &self.sections {
            s.push_str(&format!("\n## {title}\n\n{body}"));
        }
        if !self.stage_seconds.is_empty() {
            s.push_str("\n## Wall time\n\n| stage | seconds |\n|---|---|\n");
            for (n, t) in &self.stage_seconds {
                s.push_str(&format!("| {n} | {t:.1} |\n"));
            }
        }
        s.push_str("\n## Pictures\n\n- Training curves (principal-task training loss and test accuracy per epoch, mean over seeds): ![curves](curves.png)\n");
        for (title, file) in &self.figures {
            s.push_str(&format!("- {title}: ![{title}]({file})\n"));
        }
        s
    }

    /// Per arm, per epoch, the mean over seeds of `f(epoch record)`.
    fn curve(&self, arm: &str, f: impl Fn(&super::train::MtlEpoch) -> f64) -> Vec<f64> {
        let runs: Vec<&ArmRun> = self.runs.iter().filter(|r| r.arm == arm).collect();
        let e = runs.iter().map(|r| r.outcome.epochs.len()).min().unwrap_or(0);
        (0..e).map(|k| runs.iter().map(|r| f(&r.outcome.epochs[k])).sum::<f64>() / runs.len() as f64).collect()
    }

    /// The training-curve picture: two panels (principal training loss; principal test accuracy).
    pub fn curves_canvas(&self) -> Canvas {
        let arms: Vec<String> = self.summaries().into_iter().map(|a| a.arm).collect();
        let loss: Vec<(String, Rgb, Vec<f64>)> =
            arms.iter().enumerate().map(|(i, a)| (a.clone(), palette(i), self.curve(a, |r| r.train[0].loss))).collect();
        let acc: Vec<(String, Rgb, Vec<f64>)> = arms
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), palette(i), self.curve(a, |r| r.test[0].accuracy)))
            .collect();
        let (pw, ph) = (520usize, 360usize);
        let mut c = Canvas::new(2 * pw, ph + 40, [255, 255, 255]);
        line_chart(&mut c, 0, 0, pw, ph, "principal train loss", &loss);
        line_chart(&mut c, pw as isize, 0, pw, ph, "principal test accuracy", &acc);
        // Legend.
        let mut x = 20isize;
        for (name, col, _) in &loss {
            c.fill_rect(x, ph as isize + 14, 14, 8, *col);
            c.text(x + 18, ph as isize + 12, name, 2, [0, 0, 0]);
            x += 18 + Canvas::text_width(name, 2) as isize + 24;
        }
        c
    }

    /// The JSON document of `report.json`.
    #[cfg(feature = "io")]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut arms = serde_json::Map::new();
        for a in self.summaries() {
            let ((am, asd), (fm, fsd), (lm, lsd)) = (a.accuracy_stats(), a.f1_stats(), a.last_stats());
            let runs: Vec<serde_json::Value> = self
                .runs
                .iter()
                .filter(|r| r.arm == a.arm)
                .map(|r| {
                    json!({
                        "seed": r.seed,
                        "weighting": r.outcome.weighting,
                        "tasks": r.outcome.task_names.iter().zip(&r.outcome.task_classes)
                            .map(|(n, k)| json!({"name": n, "classes": k})).collect::<Vec<_>>(),
                        "selected_epoch": r.outcome.selected_epoch,
                        "selection": r.outcome.selection,
                        "principal_test": {"accuracy": r.outcome.principal_test().accuracy,
                                           "macro_f1": r.outcome.principal_test().macro_f1},
                        "curve": r.outcome.epochs.iter().map(|e| json!({
                            "epoch": e.epoch, "train_loss": e.train[0].loss, "test_accuracy": e.test[0].accuracy
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            arms.insert(
                a.arm.clone(),
                json!({
                    "principal_test_accuracy": {"mean": am, "std": asd, "values": a.accuracy},
                    "principal_test_macro_f1": {"mean": fm, "std": fsd, "values": a.macro_f1},
                    "principal_test_accuracy_last_epoch": {"mean": lm, "std": lsd, "values": a.accuracy_last},
                    "runs": runs,
                }),
            );
        }
        let mut seeds: Vec<u64> = self.runs.iter().map(|r| r.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "config": self.config,
            "details": self.details,
            "seeds": seeds,
            "arms": arms,
            "figures": std::iter::once(json!({"title": "training curves", "file": "curves.png"}))
                .chain(self.figures.iter().map(|(t, f)| json!({"title": t, "file": f}))).collect::<Vec<_>>(),
            "timing": {
                "stages": self.stage_seconds.iter().map(|(n, t)| json!({"stage": n, "seconds": t})).collect::<Vec<_>>(),
                "runs": self.runs.iter().map(|r| json!({"arm": r.arm, "seed": r.seed, "seconds": r.seconds})).collect::<Vec<_>>(),
            },
        })
    }

    /// Writes `report.json`, `report.md` and `curves.png` into `dir` (created if missing),
    /// each atomically.
    ///
    /// # Errors
    /// [`Error::InvalidData`] if there are no runs; [`Error::Io`] on write failures.
    #[cfg(feature = "io")]
    pub fn write(&self, dir: &std::path::Path) -> Result<()> {
        if self.runs.is_empty() {
            return Err(Error::InvalidData("report: no runs to report".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| Error::InvalidData(format!("report json: {e}")))?;
        crate::io::write_atomic(&dir.join("report.json"), text.as_bytes())?;
        crate::io::write_atomic(&dir.join("report.md"), self.markdown().as_bytes())?;
        self.curves_canvas().save_png(&dir.join("curves.png"))
    }
}

/// Draws a line chart of `series` (name, colour, y per epoch) in the box `(x0, y0, w, h)`:
/// axes, min/max y labels, epoch ticks, a title. Non-finite values are skipped.
pub fn line_chart(
    c: &mut Canvas,
    x0: isize,
    y0: isize,
    w: usize,
    h: usize,
    title: &str,
    series: &[(String, Rgb, Vec<f64>)],
) {
    let black = [0, 0, 0];
    let grey = [200, 200, 200];
    let (left, right, top, bottom) = (70isize, 16isize, 30isize, 36isize);
    let (px0, py0) = (x0 + left, y0 + top);
    let (pw, ph) = (w as isize - left - right, h as isize - top - bottom);
    c.text(x0 + left, y0 + 8, title, 2, black);
    let vals: Vec<f64> = series.iter().flat_map(|s| s.2.iter().copied()).filter(|v| v.is_finite()).collect();
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0);
    c.line(px0, py0 + ph, px0 + pw, py0 + ph, black);
    c.line(px0, py0, px0, py0 + ph, black);
    if vals.is_empty() || n == 0 {
        return;
    }
    let (mut lo, mut hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let pad = 0.05 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    for (k, v) in [(0.0, lo), (0.5, 0.5 * (lo + hi)), (1.0, hi)] {
        let y = py0 + ph - (k * ph as f64) as isize;
        c.line(px0 + 1, y, px0 + pw, y, grey);
        c.text(x0 + 4, y - 7, &format!("{v:.3}"), 2, black);
    }
    let xs = |e: usize| px0 + if n > 1 { (e as f64 / (n - 1) as f64 * pw as f64) as isize } else { pw / 2 };
    let ys = |v: f64| py0 + ph - ((v - lo) / (hi - lo) * ph as f64) as isize;
    let step = n.div_ceil(10).max(1);
    for e in (0..n).step_by(step) {
        c.line(xs(e), py0 + ph, xs(e), py0 + ph + 4, black);
        c.text(xs(e) - 5, py0 + ph + 8, &format!("{}", e + 1), 2, black);
    }
    c.text(px0 + pw - Canvas::text_width("epoch", 2) as isize, py0 + ph + 22, "epoch", 2, black);
    for (_, col, v) in series {
        let pts: Vec<(isize, isize)> =
            v.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(e, &y)| (xs(e), ys(y))).collect();
        for p in pts.windows(2) {
            c.line(p[0].0, p[0].1, p[1].0, p[1].1, *col);
            c.line(p[0].0, p[0].1 + 1, p[1].0, p[1].1 + 1, *col);
        }
        for &(x, y) in &pts {
            c.disc(x, y, 3, *col);
        }
    }
}
