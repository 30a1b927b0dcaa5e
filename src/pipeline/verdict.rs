//! The stage-1 verdict: does subspace 0 isolate the principal factor, and what does the chosen
//! subspace carry?
//!
//! Input: a probe table `A: [K, F]` ([`crate::stage1::probe()`]: k-NN accuracy of subspace `k`'s
//! codes on factor `f`, held-out images), its chance levels `c_f`, the principal factor `p` and
//! the subspace `j` that stage 2 clustered.
//!
//! **Isolation.** Subspace 0 isolates the principal factor when
//!
//! * `A[0, p] ≥ τ` (default `τ = 0.9`): s0 predicts the principal factor, and
//! * for every other known factor `f ≠ p`: `max_{k ≥ 1} A[k, f] > A[0, f]`: some other subspace
//!   predicts `f` better than s0 does, so `f` is not concentrated in s0.
//!
//! With the principal as the only known factor (digits, MNIST) the second condition is empty:
//! the verdict then shows that s0 carries the principal, not that the other subspaces carry
//! anything in particular ([`Verdict::only_principal_known`]).
//!
//! **What the chosen subspace carries.** For each factor the normalised gain over chance
//! `g_f = (A[j, f] − c_f) / (1 − c_f)`; the factor with the largest gain is reported when
//! `g_f ≥ 0.2` (else "nothing known": the subspace is near chance on every known factor). The
//! principal factor is a candidate too: a chosen subspace that carries it would make the
//! auxiliary labels a noisy copy of the principal labels.
//!
//! Pure arithmetic on the table: deterministic.

use crate::error::{Error, Result};
use crate::stage1::ProbeTable;

/// Default probe accuracy of s0 on the principal factor required for isolation.
pub const ISOLATION_THRESHOLD: f64 = 0.9;

/// Smallest normalised gain over chance for a subspace to "carry" a factor.
pub const CARRY_MIN_GAIN: f64 = 0.2;

/// One non-principal factor: is it predicted better outside s0?
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct FactorCheck {
    /// Factor name.
    pub factor: String,
    /// `A[0, f]`.
    pub s0_accuracy: f64,
    /// The subspace `k ≥ 1` with the largest `A[k, f]` (lowest index on ties).
    pub best_other_subspace: usize,
    /// Its accuracy.
    pub best_other_accuracy: f64,
    /// `best_other_accuracy > s0_accuracy`.
    pub outside_s0: bool,
}

/// What the clustered subspace carries.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct Carried {
    /// The clustered subspace.
    pub subspace: usize,
    /// The factor with the largest normalised gain, if that gain is at least [`CARRY_MIN_GAIN`].
    pub factor: Option<String>,
    /// That factor's probe accuracy on the subspace (of the best factor even if below the gain).
    pub accuracy: f64,
    /// Its chance level.
    pub chance: f64,
    /// Its normalised gain `(accuracy − chance) / (1 − chance)`.
    pub gain: f64,
}

/// The verdict of one seed (see the module docs).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct Verdict {
    /// Principal factor name.
    pub principal: String,
    /// The threshold `τ`.
    pub threshold: f64,
    /// `A[0, p]`.
    pub s0_principal: f64,
    /// The best `k ≥ 1` on the principal factor, and its accuracy.
    pub best_other_principal: (usize, f64),
    /// Chance level of the principal factor.
    pub principal_chance: f64,
    /// Every non-principal known factor.
    pub factors: Vec<FactorCheck>,
    /// True if the principal is the only known factor.
    pub only_principal_known: bool,
    /// `A[0, p] ≥ τ` and every factor check passes.
    pub isolates: bool,
    /// The clustered subspace.
    pub carried: Carried,
}

fn argmax_from(values: impl Iterator<Item = f64>, offset: usize) -> (usize, f64) {
    let mut best = (offset, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (offset + i, v);
        }
    }
    best
}

/// Computes the verdict (see the module docs).
///
/// # Errors
/// [`Error::InvalidParam`] if the table has fewer than 2 subspaces, `principal` or `chosen` is
/// out of range, or `threshold` is not in `(0, 1]`.
pub fn verdict(table: &ProbeTable, principal: usize, chosen: usize, threshold: f64) -> Result<Verdict> {
    let (k, f) = table.accuracy.dim();
    if k < 2 {
        return Err(Error::param("probe table", format!("needs at least 2 subspaces, got {k}")));
    }
    if principal >= f || table.factors.len() != f || table.chance.len() != f {
        return Err(Error::param("principal", format!("factor {principal} of a table with {f} factors")));
    }
    if chosen >= k {
        return Err(Error::param("subspace", format!("subspace {chosen} of a table with {k} subspaces")));
    }
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(Error::param("threshold", format!("must be in (0, 1], got {threshold}")));
    }
    let a = &table.accuracy;
    let best_other = |col: usize| argmax_from((1..k).map(|kk| a[[kk, col]]), 1);
    let factors: Vec<FactorCheck> = (0..f)
        .filter(|&j| j != principal)
        .map(|j| {
            let (kk, acc) = best_other(j);
            FactorCheck {
                factor: table.factors[j].clone(),
                s0_accuracy: a[[0, j]],
                best_other_subspace: kk,
                best_other_accuracy: acc,
                outside_s0: acc > a[[0, j]],
            }
        })
        .collect();
    let s0_principal = a[[0, principal]];
    let isolates = s0_principal >= threshold && factors.iter().all(|c| c.outside_s0);
    let gain = |j: usize| {
        let c = table.chance[j];
        if c >= 1.0 {
            0.0
        } else {
            (a[[chosen, j]] - c) / (1.0 - c)
        }
    };
    let (best_f, best_gain) = argmax_from((0..f).map(gain), 0);
    let carried = Carried {
        subspace: chosen,
        factor: (best_gain >= CARRY_MIN_GAIN).then(|| table.factors[best_f].clone()),
        accuracy: a[[chosen, best_f]],
        chance: table.chance[best_f],
        gain: best_gain,
    };
    Ok(Verdict {
        principal: table.factors[principal].clone(),
        threshold,
        s0_principal,
        best_other_principal: best_other(principal),
        principal_chance: table.chance[principal],
        only_principal_known: factors.is_empty(),
        factors,
        isolates,
        carried,
    })
}

impl Verdict {
    /// The one-line verdict on isolation.
    pub fn isolation_line(&self) -> String {
        let p = &self.principal;
        let (ko, vo) = self.best_other_principal;
        if self.s0_principal < self.threshold {
            return format!(
                "s0 does NOT isolate the principal '{p}': its probe accuracy is {:.3} < {:.2} (best other subspace s{ko}: {vo:.3}, chance {:.3})",
                self.s0_principal, self.threshold, self.principal_chance
            );
        }
        if let Some(c) = self.factors.iter().find(|c| !c.outside_s0) {
            return format!(
                "s0 does NOT isolate the principal '{p}' ({:.3}): it also predicts '{}' at {:.3}, no other subspace better (best s{}: {:.3})",
                self.s0_principal, c.factor, c.s0_accuracy, c.best_other_subspace, c.best_other_accuracy
            );
        }
        let tail = if self.only_principal_known {
            "; the principal is the only known factor, so this cannot show what the other subspaces carry"
        } else {
            "; every other known factor is predicted better by another subspace"
        };
        format!(
            "s0 isolates the principal '{p}': probe accuracy {:.3} >= {:.2} (best other subspace s{ko}: {vo:.3}, chance {:.3}){tail}",
            self.s0_principal, self.threshold, self.principal_chance
        )
    }

    /// The one-line statement of what the clustered subspace carries.
    pub fn carried_line(&self) -> String {
        let c = &self.carried;
        match &c.factor {
            Some(f) if *f == self.principal => format!(
                "the chosen subspace s{} carries the principal '{f}' itself (probe {:.3}, chance {:.3}): the auxiliary labels are a proxy of the principal labels",
                c.subspace, c.accuracy, c.chance
            ),
            Some(f) => format!(
                "the chosen subspace s{} carries '{f}' most (probe {:.3}, chance {:.3}, gain over chance {:.2})",
                c.subspace, c.accuracy, c.chance, c.gain
            ),
            None => format!(
                "the chosen subspace s{} is near chance on every known factor (largest gain over chance {:.2})",
                c.subspace, c.gain
            ),
        }
    }
}
