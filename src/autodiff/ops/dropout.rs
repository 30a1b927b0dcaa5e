//! Inverted dropout (`torch.nn.functional.dropout` in training mode).
//!
//! Each element is kept with probability `1 − p` and scaled by `1/(1 − p)`, or zeroed:
//! `y = x ⊙ mask / (1 − p)`, `mask ~ Bernoulli(1 − p)`; gradient `g ⊙ mask / (1 − p)`.
//! The mask is drawn from the caller's generator in element order (C order), so the same
//! stream gives the same mask at any thread count.

use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use crate::rng::Rng;
use rand::Rng as _;

impl<'t, T: Element> Var<'t, T> {
    /// Dropout with drop probability `p ∈ [0, 1)`, mask drawn from `rng`. `p = 0` is the identity.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `p` is not in `[0, 1)`.
    pub fn dropout(self, p: f64, rng: &mut Rng) -> Result<Var<'t, T>> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::param("dropout p", format!("must be in [0, 1), got {p}")));
        }
        if p == 0.0 {
            return Ok(self);
        }
        let xv = self.try_value()?;
        let scale = T::from_f64(1.0 / (1.0 - p));
        let mask = xv.map(|_| if rng.gen::<f64>() >= p { scale } else { T::ZERO });
        let out = &*xv * &mask;
        Ok(self.tape.push_op(out, &[self], move |g, _| vec![Some(g * &mask)]))
    }
}
