//! Loss-term schedules (docs/method.md §4).
//!
//! With `e` the 0-based epoch and `E > 0` the number of epochs:
//! - `β1 = min(exp((25/E)·(e − 0.4E)), 1)` weights distance and sparsity,
//! - `β2 = min(exp((25/E)·(e − 0.5E)), 1)` weights consistency,
//! - `β3 = 1 − β1` weights the distribution regulariser;
//! - every term except reconstruction is off until `e > 0.25·E` (warm-up), and consistency is
//!   computed only once `β2 > 0.01` (and `λ_cons > 0`).
//!
//! The schedules depend only on `E`, so an epoch may subsample pairs without changing their
//! shape.
//!
//! ```
//! use detaux::stage1::Betas;
//! let b = Betas::at(15, 40)?;
//! assert!((b.beta1 - 0.535).abs() < 1e-3 && b.warm);
//! assert!(!Betas::at(10, 40)?.warm);
//! # Ok::<(), detaux::Error>(())
//! ```

use crate::error::{Error, Result};

/// The loss weights of one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Betas {
    /// Weight of distance and sparsity.
    pub beta1: f64,
    /// Weight of consistency.
    pub beta2: f64,
    /// Weight of the distribution regulariser.
    pub beta3: f64,
    /// `e > 0.25·E`: terms other than reconstruction are active.
    pub warm: bool,
}

impl Betas {
    /// The schedule at 0-based `epoch` of `epochs`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `epochs == 0` (the reference's default −1 breaks the
    /// schedule; detaux refuses it).
    pub fn at(epoch: usize, epochs: usize) -> Result<Betas> {
        if epochs == 0 {
            return Err(Error::param("epochs", "must be >= 1 (the beta schedules divide by it), got 0"));
        }
        let (e, big_e) = (epoch as f64, epochs as f64);
        let beta1 = ((25.0 / big_e) * (e - 0.4 * big_e)).exp().min(1.0);
        let beta2 = ((25.0 / big_e) * (e - 0.5 * big_e)).exp().min(1.0);
        Ok(Betas { beta1, beta2, beta3: 1.0 - beta1, warm: e > 0.25 * big_e })
    }

    /// Every term on with weight 1 (for tests, parity checks and benchmarks).
    pub fn all_on() -> Betas {
        Betas { beta1: 1.0, beta2: 1.0, beta3: 1.0, warm: true }
    }

    /// Whether the consistency term is computed: warm, `β2 > 0.01` and `λ_cons > 0`.
    pub fn consistency_active(&self, lambda_consistency: f64) -> bool {
        self.warm && self.beta2 > 1e-2 && lambda_consistency > 0.0
    }
}
