//! Presets: complete experiment settings as library values.
//!
//! A preset names a dataset, its principal factor, the seed count and every stage's budget
//! ([`PipelineConfig`]). `detaux run --preset NAME` starts from one and lets flags override any
//! value; a library user starts from [`Preset::named`] and edits the fields.
//!
//! Every departure from the reference implementation's defaults is a value here, not a code
//! change. The stage-1 values were chosen with the stage-1 probe on images the stage-1 model
//! did not train on (never with a stage-3 test accuracy); `docs/experiments.md` shows the
//! calibration runs.
//!
//! | preset | data | principal | stage 1 | stage 3 |
//! |---|---|---|---|---|
//! | `digits` | built-in `digits` at 16 × 16, stratified 80/20, all of the training split kept, 20 % of it for validation | digit label | see [`Preset::digits`] | 15 epochs, validation-selected epoch |
//! | `shapes3d` | `shapes3d-synth:24000` at 32 × 32, 3DShapes split, the whole training split, 20 % of it for validation | object hue | see [`Preset::shapes3d`] | 10 epochs, validation-selected epoch |

use super::PipelineConfig;
use crate::data::pairs::PairMode;
use crate::error::{Error, Result};
use crate::mtl::data::SplitConfig;
use crate::mtl::TrainConfig;
use crate::stage1::{LossConfig, Stage1Config};

/// A named experiment setting (see the module docs).
#[derive(Clone, Debug)]
pub struct Preset {
    /// Preset name.
    pub name: &'static str,
    /// Dataset SPEC (see [`crate::data::spec`]).
    pub dataset: &'static str,
    /// Principal factor; `None` = the dataset's own.
    pub principal: Option<&'static str>,
    /// Number of master seeds (`first_seed`, `first_seed + 1`, …).
    pub seeds: usize,
    /// First master seed.
    pub first_seed: u64,
    /// Every stage's settings.
    pub pipeline: PipelineConfig,
}

/// Names accepted by [`Preset::named`].
pub const PRESET_NAMES: [&str; 2] = ["digits", "shapes3d"];

impl Preset {
    /// `digits`: the built-in 1 797 real 8×8 digits, principal = digit, the paper's full-data
    /// setting: every image of the 80 % training split is kept and 20 % of them are held out
    /// for validation (epoch selection), so stage 1 and stage 3 train on 1 151 labelled images,
    /// 287 validate and 359 are tested.
    ///
    /// The models take 16 × 16 inputs (`image_size = 16`: the last two convs of the SimpleConv
    /// stack, and the same stack as the stage-3 trunk, `[64, 64]`): the source images are 8 × 8,
    /// so a larger side only upscales, at about 3× (32) or 7× (64) the convolutions' multiply-adds.
    /// Stage 1 departs from the reference defaults in its budget (10
    /// epochs × 9 600 pairs = 3 000 steps), `λ_dist = 30` and `λ_cons = 1` (with the
    /// reference's `λ_dist = 0.1, λ_cons = 100` s0 stays far from the digit at any budget that
    /// fits in minutes: the consistency term keeps every code tiny). Everything else is the
    /// reference's: the β schedules with the 25 % reconstruction-only warm-up, `intended` pairs
    /// with `p = 0.5`, the forced oracle, Adam at 5e-4, 32 pairs per batch. Stage 3 runs 15
    /// epochs (the validation-selected epoch is reported). `docs/experiments.md` shows the
    /// calibration: with 230 labelled images (a scarce 20 % subset) or 2 000 steps, s0 does not
    /// reach the verdict's 0.9; with 3 000 steps it does on every seed, at side 16 with more
    /// margin than at side 32.
    pub fn digits() -> Preset {
        let stage1 = Stage1Config {
            epochs: 10,
            pairs_per_epoch: Some(9600),
            losses: LossConfig { lambda_distance: 30.0, lambda_consistency: 1.0, ..LossConfig::default() },
            image_size: 16,
            ..Stage1Config::default()
        };
        // The stage-3 trunk is the stage-1 encoder's conv stack at side 16.
        let stage3 = TrainConfig { epochs: 15, widths: vec![64, 64], ..TrainConfig::default() };
        let mut pipeline = PipelineConfig::new(stage1, stage3);
        pipeline.split = SplitConfig { train_fraction: Some(1.0), val_fraction: Some(0.2), ..SplitConfig::default() };
        Preset { name: "digits", dataset: "digits", principal: None, seeds: 3, first_seed: 1234, pipeline }
    }

    /// `shapes3d`: procedural 3DShapes (`shapes3d-synth:24000`), principal = object hue, the
    /// 3DShapes split (test = unseen floor/wall hue combinations), the paper's full-data
    /// setting: every image of the training split kept (17 891), 20 % of them held out for
    /// validation, so stages 1 and 3 train on 14 313 images.
    ///
    /// Stage 1 uses the recipe that isolates object hue in the long standalone runs:
    /// `minimal` pairs (the principal changes with `p = 0.5`, otherwise exactly one other
    /// factor changes) and `λ_cons = 1`, 10 epochs × 48 000 pairs = 15 000 steps, at a 32 × 32
    /// input (`image_size = 32`; the stage-3 trunk is the same conv stack, `[32, 64, 64]`),
    /// and 6 stage-3 epochs. `docs/experiments.md` shows the calibration: with half of the
    /// training split s0 stays below 0.9 on object hue; at 16 × 16 s0 reaches 1.000 on object
    /// hue on every seed but also carries the object's scale better than any other subspace (a
    /// stronger distance term, λ_dist = 3, moves that leak to shape), so the verdict fails; at
    /// 32 × 32 the other subspaces encode the object's geometry and the verdict holds. The
    /// budget fits an hour on two cores (47 minutes for the three seeds): probes of a
    /// 30 000-step run's epoch-end checkpoints showed the verdict holding from the fifth
    /// epoch on, and with the whole training split every arm reaches 0.999–1.000 by its fourth
    /// or fifth epoch, so six stage-3 epochs lose nothing measurable. Every non-principal
    /// factor gets an oracle-aux arm.
    pub fn shapes3d() -> Preset {
        let stage1 = Stage1Config {
            epochs: 10,
            pairs_per_epoch: Some(48_000),
            pair_mode: PairMode::Minimal { p: 0.5 },
            losses: LossConfig { lambda_consistency: 1.0, ..LossConfig::default() },
            image_size: 32,
            ..Stage1Config::default()
        };
        // The stage-3 trunk is the stage-1 encoder's conv stack at side 32.
        let stage3 = TrainConfig { epochs: 6, widths: vec![32, 64, 64], ..TrainConfig::default() };
        let mut pipeline = PipelineConfig::new(stage1, stage3);
        pipeline.split = SplitConfig { train_fraction: Some(1.0), val_fraction: Some(0.2), ..SplitConfig::default() };
        Preset {
            name: "shapes3d",
            dataset: "shapes3d-synth:24000",
            principal: Some("object_hue"),
            seeds: 3,
            first_seed: 1234,
            pipeline,
        }
    }

    /// The preset called `name`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] (named `--preset`) for an unknown name.
    pub fn named(name: &str) -> Result<Preset> {
        match name {
            "digits" => Ok(Preset::digits()),
            "shapes3d" => Ok(Preset::shapes3d()),
            _ => Err(Error::param("--preset", format!("unknown preset '{name}' (known: {})", PRESET_NAMES.join(", ")))),
        }
    }

    /// The preset a dataset SPEC starts from: `shapes3d` for `shapes3d…` SPECs, else `digits`.
    pub fn for_dataset(spec: &str) -> Preset {
        if spec.starts_with("shapes3d") {
            Preset::shapes3d()
        } else {
            Preset::digits()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_stage3_uses_the_encoder_conv_stack() {
        for name in PRESET_NAMES {
            let p = Preset::named(name).unwrap();
            p.pipeline.validate().unwrap();
            let side = p.pipeline.stage1.image_size;
            assert_eq!(p.pipeline.stage3.widths, crate::models::trunk_widths(side).unwrap(), "{name}");
        }
        // with_image_size keeps the two in step.
        let p = Preset::shapes3d().pipeline.with_image_size(16).unwrap();
        assert_eq!((p.stage1.image_size, p.stage3.widths.clone()), (16, vec![64, 64]));
        assert!(Preset::digits().pipeline.with_image_size(48).is_err());
    }
}
